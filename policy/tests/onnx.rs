//! The ONNX export, run in a real ONNX runtime (tract), against `Policy::forward`.

use paddock_policy::distribution::Head;
use paddock_policy::model::{self, random_tensors, ModelMetadata, ObservationSpec, Preprocessing, Sensor, Tensors};
use paddock_policy::onnx::{self, to_onnx};
use paddock_policy::{Network, Observations, Policy, PolicyError};
use paddock_vehicle::action::ActionSpace;
use prost::Message;
use rand::{Rng, SeedableRng};
use tract_onnx::pb;
use tract_onnx::prelude::*;

/// Outputs must match to this, absolute for values under 1, relative above.
const TOLERANCE: f32 = 1e-4;
/// Scales the torso's random weights (see `weights`).
const WEIGHT_GAIN: f32 = 2.5;

fn meta(network: Network, sensor: Sensor, shape: &[usize], preprocessing: Preprocessing, head: Head) -> ModelMetadata {
    let space = if head == Head::Categorical { ActionSpace::deepracer_default_discrete() } else { ActionSpace::deepracer_default_continuous() };
    ModelMetadata::new(network, head, ObservationSpec { sensor, shape: shape.to_vec(), preprocessing }, space)
}

fn camera(network: Network, channels: usize, head: Head) -> ModelMetadata {
    let sensor = if channels == 2 { Sensor::Stereo } else { Sensor::Camera };
    meta(network, sensor, &[channels, 120, 160], Preprocessing::IMAGE, head)
}

fn lidar(head: Head) -> ModelMetadata {
    meta(Network::Mlp { hidden: vec![64, 32] }, Sensor::Lidar, &[64], Preprocessing::LIDAR, head)
}

/// Every architecture, sensor and head, with and without a value head.
fn cases() -> Vec<(&'static str, ModelMetadata, bool)> {
    vec![
        ("shallow camera categorical", camera(Network::Shallow, 1, Head::Categorical), true),
        ("deep camera squashed gaussian", camera(Network::Deep, 1, Head::SquashedGaussian), true),
        ("deep_deep camera categorical (batch norm)", camera(Network::DeepDeep, 1, Head::Categorical), true),
        ("shallow stereo gaussian", camera(Network::Shallow, 2, Head::Gaussian), true),
        ("mlp lidar categorical (clip_max)", lidar(Head::Categorical), true),
        ("mlp lidar gaussian, no value head", lidar(Head::Gaussian), false),
        ("mlp state squashed gaussian", meta(Network::Mlp { hidden: vec![16] }, Sensor::State, &[9], Preprocessing::IDENTITY, Head::SquashedGaussian), true),
        (
            "bare linear state policy (no torso)",
            meta(Network::Mlp { hidden: vec![] }, Sensor::State, &[9], Preprocessing { scale: 0.5, clip_max: Some(3.0) }, Head::Categorical),
            false,
        ),
    ]
}

/// Random weights, scaled up from PyTorch's initialisation (under which a deep ReLU torso
/// shrinks its input to almost nothing, hiding errors in early layers), with batch-norm
/// statistics and scales well away from 0 and 1, so that a graph that ignored them (or used
/// training-mode statistics) would be wrong.
fn weights(meta: &ModelMetadata, value_head: bool, rng: &mut impl Rng) -> Tensors {
    let mut t = random_tensors(meta, rng).unwrap();
    for (name, (_, values)) in t.iter_mut() {
        if name.ends_with("running_mean") {
            values.iter_mut().for_each(|v| *v = rng.random_range(-0.5..0.5));
        } else if name.ends_with("running_var") {
            values.iter_mut().for_each(|v| *v = rng.random_range(0.02..3.0));
        } else if is_batch_norm(meta, name) {
            values.iter_mut().for_each(|v| *v = rng.random_range(0.5..2.0) * if name.ends_with("weight") { 1.0 } else { 0.2 });
        } else if name.starts_with("torso.") && name.ends_with("weight") {
            values.iter_mut().for_each(|v| *v *= WEIGHT_GAIN);
        }
    }
    if !value_head {
        t.remove("v.weight");
        t.remove("v.bias");
    }
    t
}

fn is_batch_norm(meta: &ModelMetadata, name: &str) -> bool {
    let i: usize = name.split('.').nth(1).and_then(|i| i.parse().ok()).unwrap_or(usize::MAX);
    meta.network.layers().get(i) == Some(&paddock_policy::Layer::BatchNorm)
}

/// A batch of raw observations: pixels, or values spread past the lidar's 4 m clip.
enum Batch {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

fn observations(meta: &ModelMetadata, n: usize, rng: &mut impl Rng) -> Batch {
    let len: usize = meta.observation.shape.iter().product();
    if meta.observation.sensor.is_image() {
        Batch::U8((0..n * len).map(|_| rng.random()).collect())
    } else {
        Batch::F32((0..n * len).map(|_| rng.random_range(-1.0..12.0)).collect())
    }
}

/// Named outputs of an ONNX model run by tract on `batch`, in the graph's output order.
fn run_onnx(bytes: &[u8], meta: &ModelMetadata, batch: &Batch, n: usize) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let names: Vec<String> = pb::ModelProto::decode(bytes).unwrap().graph.unwrap().output.into_iter().map(|o| o.name).collect();
    let model = tract_onnx::onnx().model_for_read(&mut &bytes[..]).unwrap().into_optimized().unwrap().into_runnable().unwrap();
    let mut shape = vec![n];
    shape.extend(&meta.observation.shape);
    let input = match batch {
        Batch::U8(v) => Tensor::from_shape(&shape, v).unwrap(),
        Batch::F32(v) => Tensor::from_shape(&shape, v).unwrap(),
    };
    let outputs = model.run(tvec!(input.into_tvalue())).unwrap();
    assert_eq!(outputs.len(), names.len());
    names
        .into_iter()
        .zip(outputs)
        .map(|(name, t)| {
            let view = t.to_plain_array_view::<f32>().unwrap();
            (name, view.shape().to_vec(), view.iter().copied().collect())
        })
        .collect()
}

/// Largest difference, absolute below 1 and relative above.
fn error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(g, w)| (g - w).abs() / w.abs().max(1.0)).fold(0.0, f32::max)
}

fn softmax_rows(x: &[f32], cols: usize) -> Vec<f32> {
    x.chunks(cols)
        .flat_map(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let total: f32 = row.iter().map(|v| (v - max).exp()).sum();
            row.iter().map(move |v| (v - max).exp() / total)
        })
        .collect()
}

/// Runs `exported` (ONNX bytes) and `policy` on the same `n` observations; checks the outputs'
/// names and shapes and returns the largest error over all of them.
fn compare(exported: &[u8], policy: &Policy, n: usize, rng: &mut impl Rng) -> f32 {
    let meta = policy.metadata();
    let batch = observations(meta, n, rng);
    let obs = match &batch {
        Batch::U8(v) => Observations::U8(v),
        Batch::F32(v) => Observations::F32(v),
    };
    let (pi, value) = policy.forward_with_value(obs).unwrap();
    assert_eq!(pi, policy.forward(obs).unwrap());
    let outputs_len = pi.ncols();
    let pi = pi.as_standard_layout().iter().copied().collect::<Vec<f32>>();

    let mut want: Vec<(&str, Vec<usize>, Vec<f32>)> = vec![(onnx::OUTPUT_PI, vec![n, outputs_len], pi.clone())];
    if let Some(v) = value {
        want.push((onnx::OUTPUT_VALUE, vec![n, 1], v.to_vec()));
    }
    match meta.head {
        Head::Categorical => want.push((onnx::OUTPUT_PROBABILITIES, vec![n, outputs_len], softmax_rows(&pi, outputs_len))),
        Head::Gaussian => want.push((onnx::OUTPUT_LOG_STD, vec![2], policy.log_std().to_vec())),
        Head::SquashedGaussian => {}
    }

    let got = run_onnx(exported, meta, &batch, n);
    let names = |o: &[(String, Vec<usize>, Vec<f32>)]| o.iter().map(|(n, s, _)| (n.clone(), s.clone())).collect::<Vec<_>>();
    let want_names: Vec<(String, Vec<usize>)> = want.iter().map(|(n, s, _)| (n.to_string(), s.clone())).collect();
    assert_eq!(names(&got), want_names, "output names and shapes");
    got.iter().zip(&want).map(|((_, _, g), (_, _, w))| error(g, w)).fold(0.0, f32::max)
}

#[test]
fn every_network_and_head_matches_policy_forward_in_tract() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
    for (label, meta, value_head) in cases() {
        let tensors = weights(&meta, value_head, &mut rng);
        let policy = Policy::new(meta.clone(), &tensors).unwrap();
        let bytes = to_onnx(&meta, &tensors).unwrap();
        for n in [2, 3] {
            let err = compare(&bytes, &policy, n, &mut rng);
            assert!(err <= TOLERANCE, "{label}, batch {n}: the ONNX outputs differ from Policy::forward by {err}");
        }
        // The torso matters: observations in a batch give clearly different outputs, so the
        // comparison above would see a torso that was wrong.
        let batch = observations(&meta, 2, &mut rng);
        let out = match &batch {
            Batch::U8(v) => policy.forward(Observations::U8(v)),
            Batch::F32(v) => policy.forward(Observations::F32(v)),
        }
        .unwrap();
        let spread = error(out.row(0).as_slice().unwrap(), out.row(1).as_slice().unwrap());
        assert!(spread > 100.0 * TOLERANCE, "{label}: two observations give outputs only {spread} apart");
    }
}

#[test]
fn a_wrong_weight_statistic_or_preprocessing_is_caught() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(12);
    // (case, what to break in the exported copy only)
    type Break = fn(&mut ModelMetadata, &mut Tensors);
    let breaks: [(ModelMetadata, &str, Break); 5] = [
        (camera(Network::Shallow, 1, Head::Categorical), "first convolution's weight", |_, t| t.get_mut("torso.0.weight").unwrap().1[5] += 0.05),
        (camera(Network::DeepDeep, 1, Head::Categorical), "a running variance", |_, t| t.get_mut("torso.4.running_var").unwrap().1[3] *= 1.5),
        (camera(Network::Deep, 1, Head::SquashedGaussian), "a dense weight", |_, t| t.get_mut("torso.9.weight").unwrap().1[7] += 0.05),
        (lidar(Head::Categorical), "the lidar's clip", |m, _| m.observation.preprocessing.clip_max = None),
        (lidar(Head::Gaussian), "the value head", |_, t| t.get_mut("v.bias").unwrap().1[0] += 0.01),
    ];
    for (meta, what, break_it) in breaks {
        let tensors = weights(&meta, true, &mut rng);
        let policy = Policy::new(meta.clone(), &tensors).unwrap();
        assert!(compare(&to_onnx(&meta, &tensors).unwrap(), &policy, 2, &mut rng) <= TOLERANCE, "{what}: the intact export matches");
        let (mut bad_meta, mut bad_tensors) = (meta.clone(), tensors.clone());
        break_it(&mut bad_meta, &mut bad_tensors);
        let err = compare(&to_onnx(&bad_meta, &bad_tensors).unwrap(), &policy, 2, &mut rng);
        assert!(err > TOLERANCE, "a broken {what} would pass every_network_and_head_matches_policy_forward_in_tract (error {err})");
    }
}

#[test]
fn the_file_declares_opset_metadata_inputs_and_weights() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(13);
    let meta = camera(Network::DeepDeep, 2, Head::Categorical);
    let tensors = weights(&meta, true, &mut rng);
    let bytes = to_onnx(&meta, &tensors).unwrap();
    // Decoded with tract's onnx.proto bindings, generated independently of ours.
    let m = pb::ModelProto::decode(&bytes[..]).unwrap();
    assert_eq!(m.ir_version, onnx::ONNX_IR_VERSION);
    assert_eq!(m.opset_import.len(), 1);
    assert_eq!((m.opset_import[0].domain.as_str(), m.opset_import[0].version), ("", onnx::ONNX_OPSET));
    assert_eq!(onnx::ONNX_OPSET, 13);
    assert_eq!(m.producer_name, "paddock");
    for word in ["observation", "uint8", "[batch, 2, 120, 160]", "'pi'", "'probabilities'", "'value'"] {
        assert!(m.doc_string.contains(word), "doc_string lacks {word}:\n{}", m.doc_string);
    }

    // The metadata JSON is the safetensors header's, byte for byte.
    assert_eq!(m.metadata_props.len(), 1);
    assert_eq!(m.metadata_props[0].key, model::METADATA_KEY);
    let st = model::to_bytes(&meta, &tensors).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&st).unwrap();
    assert_eq!(&m.metadata_props[0].value, &header.metadata().as_ref().unwrap()[model::METADATA_KEY]);
    assert_eq!(serde_json::from_str::<ModelMetadata>(&m.metadata_props[0].value).unwrap(), meta);

    let g = m.graph.unwrap();
    let dims = |v: &pb::ValueInfoProto| -> (i32, Vec<String>) {
        let Some(pb::type_proto::Value::TensorType(t)) = v.r#type.as_ref().unwrap().value.as_ref() else { panic!("{} is not a tensor", v.name) };
        let dims = t.shape.as_ref().unwrap().dim.iter().map(|d| match d.value.as_ref().unwrap() {
            pb::tensor_shape_proto::dimension::Value::DimValue(v) => v.to_string(),
            pb::tensor_shape_proto::dimension::Value::DimParam(p) => p.clone(),
        });
        (t.elem_type, dims.collect())
    };
    assert_eq!(g.input.len(), 1);
    assert_eq!(g.input[0].name, onnx::INPUT);
    assert_eq!(dims(&g.input[0]), (pb::tensor_proto::DataType::Uint8 as i32, vec!["batch".into(), "2".into(), "120".into(), "160".into()]));
    let outputs: Vec<_> = g.output.iter().map(|o| (o.name.as_str(), dims(o))).collect();
    let float = pb::tensor_proto::DataType::Float as i32;
    let actions = meta.action_space.len().to_string();
    assert_eq!(
        outputs,
        vec![
            ("pi", (float, vec!["batch".to_string(), actions.clone()])),
            ("value", (float, vec!["batch".to_string(), "1".to_string()])),
            ("probabilities", (float, vec!["batch".to_string(), actions])),
        ]
    );

    // Every weight, as raw little-endian f32 with its shape, and nothing else but the two
    // preprocessing scalars.
    for (name, (shape, values)) in &tensors {
        let init = g.initializer.iter().find(|i| &i.name == name).unwrap_or_else(|| panic!("no initializer {name}"));
        assert_eq!(init.data_type, float);
        assert_eq!(init.dims, shape.iter().map(|&d| d as i64).collect::<Vec<_>>(), "{name}");
        let raw: Vec<f32> = init.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!(&raw, values, "{name}");
    }
    assert_eq!(g.initializer.len(), tensors.len() + 1, "the weights and the scale (no clip for images)");

    // The layer attributes a runtime needs.
    let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(&ops[..5], ["Cast", "Mul", "Conv", "BatchNormalization", "Relu"]);
    assert_eq!(ops.iter().filter(|&&o| o == "Gemm").count(), 4, "two dense layers, pi and v");
    let conv = &g.node[2];
    let attr = |name: &str| conv.attribute.iter().find(|a| a.name == name).unwrap().ints.clone();
    assert_eq!((attr("kernel_shape"), attr("strides"), attr("pads")), (vec![8, 8], vec![4, 4], vec![0; 4]));
    let bn = g.node[3].attribute.iter().find(|a| a.name == "epsilon").unwrap();
    assert_eq!(bn.f, paddock_policy::network::BATCH_NORM_EPS);
    assert_eq!(bn.r#type, pb::attribute_proto::AttributeType::Float as i32);
}

#[test]
fn models_that_do_not_fit_their_metadata_are_refused() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(14);
    let meta = lidar(Head::Categorical);
    let tensors = weights(&meta, true, &mut rng);

    let mut missing = tensors.clone();
    missing.remove("pi.bias");
    let err = to_onnx(&meta, &missing).unwrap_err();
    assert!(matches!(err, PolicyError::Weights(_)) && err.to_string().contains("pi.bias"), "{err}");

    let mut reshaped = tensors.clone();
    reshaped.get_mut("torso.0.weight").unwrap().0 = vec![32, 64];
    let err = to_onnx(&meta, &reshaped).unwrap_err().to_string();
    assert!(err.contains("torso.0.weight") && err.contains("expected [64, 64]"), "{err}");

    let mut half_value = tensors.clone();
    half_value.remove("v.bias");
    assert!(to_onnx(&meta, &half_value).unwrap_err().to_string().contains("v.bias"));

    let mut wrong_head = meta.clone();
    wrong_head.head = Head::Gaussian;
    assert!(matches!(to_onnx(&wrong_head, &tensors), Err(PolicyError::Metadata(_))));
}
