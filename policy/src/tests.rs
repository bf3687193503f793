use rand::SeedableRng;

use super::*;
use crate::distribution::Head;
use crate::model::{random_tensors, ObservationSpec, Preprocessing, Sensor, FORMAT_VERSION};
use crate::network::{layer_shapes, Network};
use paddock_vehicle::action::ActionSpace;

fn camera_meta(network: Network, channels: usize) -> ModelMetadata {
    let sensor = if channels == 2 { Sensor::Stereo } else { Sensor::Camera };
    ModelMetadata::new(
        network,
        Head::Categorical,
        ObservationSpec { sensor, shape: vec![channels, 120, 160], preprocessing: Preprocessing::IMAGE },
        ActionSpace::deepracer_default_discrete(),
    )
}

fn lidar_meta(head: Head, space: ActionSpace) -> ModelMetadata {
    ModelMetadata::new(
        Network::Mlp { hidden: vec![32, 16] },
        head,
        ObservationSpec { sensor: Sensor::Lidar, shape: vec![64], preprocessing: Preprocessing::LIDAR },
        space,
    )
}

/// A direct, loop-by-loop forward pass written independently of the im2col path.
fn reference_forward(meta: &ModelMetadata, t: &Tensors, input: &[f32]) -> Vec<f32> {
    let shape = &meta.observation.shape;
    let (mut c, mut h, mut w) = (shape[0], shape.get(1).copied().unwrap_or(1), shape.get(2).copied().unwrap_or(1));
    let mut x: Vec<f32> = input.iter().map(|&v| meta.observation.preprocessing.apply(v)).collect();
    for (i, layer) in meta.network.layers().into_iter().enumerate() {
        let g = |p: &str| &t[&format!("torso.{i}.{p}")].1;
        match layer {
            Layer::Conv { out, kernel: k, stride: s } => {
                let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1);
                let (wt, b) = (g("weight"), g("bias"));
                let mut y = vec![0.0; out * oh * ow];
                for o in 0..out {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut acc = b[o];
                            for ci in 0..c {
                                for ky in 0..k {
                                    for kx in 0..k {
                                        acc += wt[((o * c + ci) * k + ky) * k + kx] * x[(ci * h + oy * s + ky) * w + ox * s + kx];
                                    }
                                }
                            }
                            y[(o * oh + oy) * ow + ox] = acc;
                        }
                    }
                }
                (x, c, h, w) = (y, out, oh, ow);
            }
            Layer::BatchNorm => {
                let (gm, bt, mu, var) = (g("weight"), g("bias"), g("running_mean"), g("running_var"));
                for ch in 0..c {
                    for v in &mut x[ch * h * w..(ch + 1) * h * w] {
                        *v = (*v - mu[ch]) / (var[ch] + BATCH_NORM_EPS).sqrt() * gm[ch] + bt[ch];
                    }
                }
            }
            Layer::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
            Layer::Tanh => x.iter_mut().for_each(|v| *v = v.tanh()),
            Layer::Flatten => {}
            Layer::Dense { out } => {
                let (wt, b) = (g("weight"), g("bias"));
                let n = x.len();
                x = (0..out).map(|o| b[o] + (0..n).map(|j| wt[o * n + j] * x[j]).sum::<f32>()).collect();
            }
        }
    }
    let (pw, pb) = (&t["pi.weight"], &t["pi.bias"].1);
    let n = x.len();
    (0..pw.0[0]).map(|o| pb[o] + (0..n).map(|j| pw.1[o * n + j] * x[j]).sum::<f32>()).collect()
}

fn assert_close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "output {i}: {x} vs reference {y}");
    }
}

#[test]
fn every_network_matches_a_direct_loop_implementation() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    let cases = [
        camera_meta(Network::Shallow, 1),
        camera_meta(Network::Deep, 1),
        camera_meta(Network::DeepDeep, 1),
        camera_meta(Network::Shallow, 2),
        lidar_meta(Head::Categorical, ActionSpace::deepracer_default_discrete()),
    ];
    for meta in cases {
        let tensors = random_tensors(&meta, &mut rng).unwrap();
        let policy = Policy::new(meta.clone(), &tensors).unwrap();
        let len = policy.input_len();
        if meta.observation.sensor.is_image() {
            let frames: Vec<u8> = (0..3 * len).map(|_| rand::Rng::random(&mut rng)).collect();
            let out = policy.forward(Observations::U8(&frames)).unwrap();
            assert_eq!(out.nrows(), 3);
            for n in 0..3 {
                let input: Vec<f32> = frames[n * len..(n + 1) * len].iter().map(|&v| v as f32).collect();
                assert_close(out.row(n).as_slice().unwrap(), &reference_forward(&meta, &tensors, &input), 1e-4);
            }
        } else {
            let scans: Vec<f32> = (0..2 * len).map(|_| rand::Rng::random_range(&mut rng, 0.15..12.0)).collect();
            let out = policy.forward(Observations::F32(&scans)).unwrap();
            for n in 0..2 {
                assert_close(out.row(n).as_slice().unwrap(), &reference_forward(&meta, &tensors, &scans[n * len..(n + 1) * len]), 1e-4);
            }
        }
    }
}

#[test]
fn a_model_survives_a_round_trip_through_its_file() {
    let dir = std::env::temp_dir().join(format!("paddock-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    let mut rng = rand_pcg::Pcg64::seed_from_u64(8);
    let meta = lidar_meta(Head::Gaussian, ActionSpace::deepracer_default_continuous());
    let tensors = random_tensors(&meta, &mut rng).unwrap();
    model::save(&path, &meta, &tensors).unwrap();
    let loaded = Policy::load(&path).unwrap();
    assert_eq!(loaded.metadata(), &meta);
    let original = Policy::new(meta, &tensors).unwrap();
    let scan = vec![1.0f32; 64];
    assert_eq!(loaded.forward(Observations::F32(&scan)).unwrap(), original.forward(Observations::F32(&scan)).unwrap());
    let (_, value) = loaded.forward_with_value(Observations::F32(&scan)).unwrap();
    assert!(value.is_some(), "the value head travels with the model");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn broken_files_are_refused_with_a_message_that_says_why() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(9);
    let meta = lidar_meta(Head::Categorical, ActionSpace::deepracer_default_discrete());
    let tensors = random_tensors(&meta, &mut rng).unwrap();
    let bytes = model::to_bytes(&meta, &tensors).unwrap();

    let truncated = Policy::from_bytes(&bytes[..bytes.len() - 10], "cut.safetensors").err().unwrap().to_string();
    assert!(truncated.contains("cut.safetensors") && truncated.contains("truncated"), "{truncated}");

    let missing = Policy::load(std::path::Path::new("/nonexistent/model.safetensors")).err().unwrap().to_string();
    assert!(missing.contains("/nonexistent/model.safetensors"), "{missing}");

    let mut newer = meta.clone();
    newer.format_version = FORMAT_VERSION + 1;
    let json = serde_json::to_string(&newer).unwrap();
    let forged = replace_metadata(&tensors, json);
    let version = Policy::from_bytes(&forged, "new.safetensors").err().unwrap().to_string();
    assert!(version.contains("version 2") && version.contains("reads version 1"), "{version}");

    // The weights of a different architecture.
    let mut other = meta.clone();
    other.network = Network::Mlp { hidden: vec![32, 8] };
    let mismatched = replace_metadata(&tensors, serde_json::to_string(&other).unwrap());
    let shape = Policy::from_bytes(&mismatched, "m.safetensors").err().unwrap().to_string();
    assert!(shape.contains("has shape [10, 16], expected [10, 8]"), "{shape}");

    let mut fewer = tensors.clone();
    fewer.remove("pi.bias");
    let err = model::to_bytes(&meta, &fewer).err().unwrap().to_string();
    assert!(err.contains("pi.bias"), "{err}");

    let mut nan = tensors.clone();
    nan.get_mut("pi.bias").unwrap().1[0] = f32::NAN;
    let poisoned = replace_metadata(&nan, serde_json::to_string(&meta).unwrap());
    assert!(Policy::from_bytes(&poisoned, "nan").err().unwrap().to_string().contains("non-finite"));

    let mut wrong_head = meta.clone();
    wrong_head.head = Head::Gaussian;
    assert!(wrong_head.validate().err().unwrap().to_string().contains("discrete"));
}

/// Writes a file by hand, bypassing the checks `to_bytes` makes, as a foreign tool might.
fn replace_metadata(tensors: &Tensors, json: String) -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView};
    let data: Vec<(String, Vec<u8>, Vec<usize>)> =
        tensors.iter().map(|(n, (s, v))| (n.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect(), s.clone())).collect();
    let views: Vec<(&str, TensorView)> = data.iter().map(|(n, b, s)| (n.as_str(), TensorView::new(Dtype::F32, s.clone(), b).unwrap())).collect();
    safetensors::serialize(views, Some([(model::METADATA_KEY.to_string(), json)].into())).unwrap()
}

#[test]
fn observations_of_the_wrong_kind_or_length_are_refused() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(10);
    let meta = camera_meta(Network::Shallow, 1);
    let policy = Policy::new(meta.clone(), &random_tensors(&meta, &mut rng).unwrap()).unwrap();
    assert!(policy.forward(Observations::U8(&[0u8; 100])).is_err());
    assert!(policy.forward(Observations::F32(&vec![0.0; 19200])).is_err());
    assert_eq!(layer_shapes(&meta.network, &meta.observation.shape).unwrap().len(), 7);
    let action = policy.act_greedy(Observations::U8(&vec![128u8; 19200])).unwrap();
    assert!(matches!(action, Action::Discrete(i) if i < meta.action_space.len()));
}

mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::model::{from_bytes, to_bytes};

    fn valid() -> Vec<u8> {
        let meta = lidar_meta(Head::Categorical, ActionSpace::deepracer_default_discrete());
        let tensors = random_tensors(&meta, &mut rand_pcg::Pcg64::seed_from_u64(3)).unwrap();
        to_bytes(&meta, &tensors).unwrap()
    }

    /// The length of the safetensors header (JSON) after its 8-byte size.
    fn header_len(bytes: &[u8]) -> usize {
        u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Bytes changed anywhere, or the file cut short: a policy or a clear error, no panic.
        #[test]
        fn mutated_model_files_load_or_are_refused(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6), cut in prop::option::of(any::<usize>())) {
            let mut bytes = valid();
            for (at, b) in edits {
                let i = at % bytes.len();
                bytes[i] = b;
            }
            if let Some(n) = cut {
                bytes.truncate(n % (bytes.len() + 1));
            }
            match Policy::from_bytes(&bytes, "fuzz") {
                Ok(p) => prop_assert!(p.input_len() > 0),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        /// Edits inside the JSON header, where the metadata (shapes, sizes, the architecture) lives:
        /// printable characters, so the header stays text and reaches the metadata's parser.
        #[test]
        fn mutated_metadata_loads_or_is_refused(edits in prop::collection::vec((any::<usize>(), 32u8..127), 1..6)) {
            let mut bytes = valid();
            let n = header_len(&bytes);
            for (at, b) in edits {
                bytes[8 + at % n] = b;
            }
            if let Err(e) = from_bytes(&bytes, "fuzz") {
                prop_assert!(!e.to_string().is_empty());
            } else if let Err(e) = Policy::from_bytes(&bytes, "fuzz") {
                prop_assert!(!e.to_string().is_empty());
            }
        }

        /// A header that claims a huge size or garbage is refused without allocating it.
        #[test]
        fn lying_header_sizes_are_refused(size in any::<u64>(), rest in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut bytes = size.to_le_bytes().to_vec();
            bytes.extend(rest);
            prop_assert!(Policy::from_bytes(&bytes, "fuzz").is_err());
        }
    }
}
