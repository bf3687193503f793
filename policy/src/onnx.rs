//! A model as ONNX, for runtimes outside Paddock (onnxruntime, TensorRT, OpenVINO, tract...).
//!
//! [`to_onnx`] writes one self-contained ONNX model (opset [`ONNX_OPSET`], IR version
//! [`ONNX_IR_VERSION`]) that computes exactly what [`Policy::forward`](crate::Policy::forward)
//! and [`Policy::forward_with_value`](crate::Policy::forward_with_value) compute, preprocessing
//! included, so a consumer feeds it raw sensor values:
//!
//! | name | kind | type | shape | when |
//! | --- | --- | --- | --- | --- |
//! | `observation` | input | uint8 pixels (camera, stereo) or float (lidar metres, state) | `[batch, c, h, w]` or `[batch, n]` | always |
//! | `pi` | output | float | `[batch, outputs]` | always: logits, means, or means then log std devs (see [`Head`]) |
//! | `value` | output | float | `[batch, 1]` | the model has a value head (`v.*`) |
//! | `probabilities` | output | float | `[batch, actions]` | [`Head::Categorical`]: softmax of `pi` |
//! | `log_std` | output | float | `[2]` | [`Head::Gaussian`]: the state-independent `pi_log_std` |
//!
//! `value` keeps the value layer's natural `[batch, 1]` (as PyTorch's critics do) rather than
//! [`Policy::forward_with_value`](crate::Policy::forward_with_value)'s `[batch]`: no reshape in
//! the graph. A [`Head::SquashedGaussian`]'s `pi` is `[mean_steer, mean_speed, log_std_steer,
//! log_std_speed]` with the log std devs not yet clamped to [`LOG_STD_MIN`](crate::distribution::LOG_STD_MIN)..
//! [`LOG_STD_MAX`](crate::distribution::LOG_STD_MAX); its greedy action is `tanh` of the means.
//! Continuous actions are normalised, -1..1 per dimension, as in [`crate::distribution`].
//!
//! The graph: `Cast` to float (images), `Min` with `clip_max` (when set), `Mul` by `scale`, then
//! the torso layer by layer (`Conv` unpadded, `BatchNormalization` in inference mode, `Relu`,
//! `Tanh`, `Flatten` axis 1, `Gemm` with `transB` for dense layers), then `Gemm` heads. Weights
//! are initializers named as in the safetensors file (`torso.{i}.weight`, `pi.bias`...), raw
//! little-endian f32. The model's [`ModelMetadata`] JSON, the same as the safetensors header's,
//! is in `metadata_props` under [`METADATA_KEY`].
//!
//! The protobuf messages are a hand-written subset of `onnx/onnx.proto` (field numbers checked
//! against it) encoded with prost; no protoc, no generated code.

use crate::distribution::{Head, LOG_STD_MAX, LOG_STD_MIN};
use crate::model::{ModelMetadata, Sensor, Tensors, METADATA_KEY};
use crate::network::{Layer, BATCH_NORM_EPS};
use crate::PolicyError;
use prost::Message;

/// The ONNX operator set the graph uses (the default `ai.onnx` domain).
pub const ONNX_OPSET: i64 = 13;
/// The ONNX IR version written: 7, the one that came with opset 13 (ONNX 1.8).
pub const ONNX_IR_VERSION: i64 = 7;
/// `producer_name` of every exported model.
pub const PRODUCER: &str = "paddock";

/// Graph input: raw observations.
pub const INPUT: &str = "observation";
/// Graph output: the policy head's outputs, as [`Policy::forward`](crate::Policy::forward).
pub const OUTPUT_PI: &str = "pi";
/// Graph output, models with a value head only: state values, `[batch, 1]`.
pub const OUTPUT_VALUE: &str = "value";
/// Graph output, categorical heads only: action probabilities, `[batch, actions]`.
pub const OUTPUT_PROBABILITIES: &str = "probabilities";
/// Graph output, Gaussian heads only: log standard deviations, `[2]`.
pub const OUTPUT_LOG_STD: &str = "log_std";

/// The model as ONNX bytes (a serialised `ModelProto`). Checks the metadata and that the
/// tensors are the ones it describes, with their shapes, first.
pub fn to_onnx(meta: &ModelMetadata, tensors: &Tensors) -> Result<Vec<u8>, PolicyError> {
    meta.validate()?;
    let has_value = check_tensors(meta, tensors)?;
    let json = serde_json::to_string(meta).map_err(|e| PolicyError::Metadata(e.to_string()))?;
    let spec = &meta.observation;
    let image = spec.sensor.is_image();
    let outputs = meta.head.outputs(&meta.action_space);
    let mut g = Graph::default();

    // Preprocessing: min(raw, clip_max) * scale, in f32.
    let mut x = INPUT.to_string();
    if image {
        x = g.node("Cast", "preprocessing.cast", &[&x], vec![attr_int("to", FLOAT.into())]);
    }
    if let Some(max) = spec.preprocessing.clip_max {
        g.constant("preprocessing.clip_max", &[], &[max]);
        x = g.node("Min", "preprocessing.clipped", &[&x, "preprocessing.clip_max"], vec![]);
    }
    g.constant("preprocessing.scale", &[], &[spec.preprocessing.scale]);
    x = g.node("Mul", "preprocessing.scaled", &[&x, "preprocessing.scale"], vec![]);

    // The torso: each layer's output is named `torso.{i}`, its weights `torso.{i}.*`.
    for (i, layer) in meta.network.layers().into_iter().enumerate() {
        let name = format!("torso.{i}");
        let t = |p: &str| format!("{name}.{p}");
        let (op, inputs, attrs) = match layer {
            Layer::Conv { kernel, stride, .. } => {
                let (k, s) = (kernel as i64, stride as i64);
                let attrs = vec![attr_ints("kernel_shape", &[k, k]), attr_ints("strides", &[s, s]), attr_ints("pads", &[0; 4])];
                ("Conv", vec![x.clone(), t("weight"), t("bias")], attrs)
            }
            Layer::BatchNorm => {
                let inputs = vec![x.clone(), t("weight"), t("bias"), t("running_mean"), t("running_var")];
                ("BatchNormalization", inputs, vec![attr_float("epsilon", BATCH_NORM_EPS)])
            }
            Layer::Relu => ("Relu", vec![x.clone()], vec![]),
            Layer::Tanh => ("Tanh", vec![x.clone()], vec![]),
            Layer::Flatten => ("Flatten", vec![x.clone()], vec![attr_int("axis", 1)]),
            Layer::Dense { .. } => ("Gemm", vec![x.clone(), t("weight"), t("bias")], vec![attr_int("transB", 1)]),
        };
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        x = g.node(op, &name, &inputs, attrs);
    }

    // Heads, from the features.
    let batch = || Dim::Param("batch".into());
    let mut outs = Vec::new();
    g.named_node("Gemm", "pi", &[&x, "pi.weight", "pi.bias"], OUTPUT_PI, vec![attr_int("transB", 1)]);
    outs.push(value_info(OUTPUT_PI, FLOAT, vec![batch(), Dim::Value(outputs as i64)], "policy head outputs, as Policy::forward"));
    if has_value {
        g.named_node("Gemm", "v", &[&x, "v.weight", "v.bias"], OUTPUT_VALUE, vec![attr_int("transB", 1)]);
        outs.push(value_info(OUTPUT_VALUE, FLOAT, vec![batch(), Dim::Value(1)], "state value"));
    }
    match meta.head {
        Head::Categorical => {
            g.named_node("Softmax", "probabilities", &[OUTPUT_PI], OUTPUT_PROBABILITIES, vec![attr_int("axis", 1)]);
            outs.push(value_info(OUTPUT_PROBABILITIES, FLOAT, vec![batch(), Dim::Value(outputs as i64)], "softmax of the logits"));
        }
        Head::Gaussian => {
            g.named_node("Identity", "log_std", &["pi_log_std"], OUTPUT_LOG_STD, vec![]);
            outs.push(value_info(OUTPUT_LOG_STD, FLOAT, vec![Dim::Value(2)], "state-independent log standard deviations"));
        }
        Head::SquashedGaussian => {}
    }

    // Weights: the ones the metadata names (checked above), `v.*` when the value head is there.
    let mut names = meta.expected_tensors()?;
    if has_value {
        names.extend(meta.value_tensors()?);
    }
    for (name, _) in names {
        let (shape, values) = &tensors[&name];
        g.constant(&name, shape, values);
    }

    let mut input_shape = vec![batch()];
    input_shape.extend(spec.shape.iter().map(|&d| Dim::Value(d as i64)));
    let input_doc = if image { "raw pixels 0..255, [batch, channels, height, width]" } else { "raw values (lidar: metres), [batch, len]" };
    let graph = proto::GraphProto {
        node: g.nodes,
        name: "paddock_policy".into(),
        initializer: g.initializers,
        input: vec![value_info(INPUT, if image { UINT8 } else { FLOAT }, input_shape, input_doc)],
        output: outs,
    };
    let model = proto::ModelProto {
        ir_version: Some(ONNX_IR_VERSION),
        opset_import: vec![proto::OperatorSetIdProto { domain: String::new(), version: Some(ONNX_OPSET) }],
        producer_name: PRODUCER.into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: doc_string(meta, has_value),
        graph: Some(graph),
        metadata_props: vec![proto::StringStringEntryProto { key: METADATA_KEY.into(), value: json }],
    };
    Ok(model.encode_to_vec())
}

/// Checks the tensors against the metadata; returns whether the value head is there.
fn check_tensors(meta: &ModelMetadata, tensors: &Tensors) -> Result<bool, PolicyError> {
    let check = |name: &str, want: &[usize]| -> Result<(), PolicyError> {
        let (shape, values) = tensors.get(name).ok_or_else(|| PolicyError::Weights(format!("missing tensor '{name}'")))?;
        if shape != want || values.len() != want.iter().product::<usize>() {
            return Err(PolicyError::Weights(format!("tensor '{name}' has shape {shape:?} ({} values), expected {want:?}", values.len())));
        }
        Ok(())
    };
    for (name, shape) in meta.expected_tensors()? {
        check(&name, &shape)?;
    }
    let value = meta.value_tensors()?;
    let has_value = value.iter().any(|(n, _)| tensors.contains_key(n));
    if has_value {
        for (name, shape) in &value {
            check(name, shape)?;
        }
    }
    Ok(has_value)
}

/// What [`to_onnx`] writes as the model's `doc_string`: the input and outputs, their types and
/// shapes, in words.
pub fn describe(meta: &ModelMetadata, tensors: &Tensors) -> String {
    doc_string(meta, tensors.contains_key("v.weight"))
}

fn doc_string(meta: &ModelMetadata, has_value: bool) -> String {
    let spec = &meta.observation;
    let p = spec.preprocessing;
    let (kind, units) = match spec.sensor {
        Sensor::Camera | Sensor::Stereo => ("uint8", "pixels 0..255"),
        Sensor::Lidar => ("float", "ranges in metres"),
        Sensor::State => ("float", "the simulator's state vector"),
    };
    let shape: Vec<String> = spec.shape.iter().map(|d| d.to_string()).collect();
    let applies = match p.clip_max {
        Some(max) => format!("min(x, {max}) * {}", p.scale),
        None => format!("x * {}", p.scale),
    };
    let outputs = meta.head.outputs(&meta.action_space);
    let mut doc = format!(
        "Paddock policy ({:?} network, {:?} head) for {:?} observations.\n\
         Input '{INPUT}': {kind} [batch, {}], raw {units}; the graph applies {applies} itself.\n\
         Output '{OUTPUT_PI}': float [batch, {outputs}], ",
        meta.network,
        meta.head,
        spec.sensor,
        shape.join(", "),
    );
    let value = if has_value { format!("\nOutput '{OUTPUT_VALUE}': float [batch, 1], the state value.") } else { String::new() };
    doc += &match meta.head {
        Head::Categorical => format!(
            "logits, one per action of the action space (in metadata_props '{METADATA_KEY}').{value}\n\
             Output '{OUTPUT_PROBABILITIES}': float [batch, {outputs}], the softmax of the logits."
        ),
        Head::Gaussian => format!(
            "means of the normalised (-1..1) steering and speed.{value}\n\
             Output '{OUTPUT_LOG_STD}': float [2], the state-independent log standard deviations of steering and speed."
        ),
        Head::SquashedGaussian => format!(
            "means, then log standard deviations (clamp to {LOG_STD_MIN}..{LOG_STD_MAX}), of steering and speed \
             before tanh; the greedy action is tanh(mean), normalised -1..1.{value}"
        ),
    };
    doc
}

// TensorProto.DataType values.
const FLOAT: i32 = 1;
const UINT8: i32 = 2;

enum Dim {
    Value(i64),
    Param(String),
}

fn value_info(name: &str, elem_type: i32, dims: Vec<Dim>, doc: &str) -> proto::ValueInfoProto {
    use proto::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = dims
        .into_iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Value(v) => Value::DimValue(v),
                Dim::Param(p) => Value::DimParam(p),
            }),
        })
        .collect();
    let tensor = proto::type_proto::Tensor { elem_type: Some(elem_type), shape: Some(proto::TensorShapeProto { dim }) };
    proto::ValueInfoProto { name: name.into(), r#type: Some(proto::TypeProto { tensor_type: Some(tensor) }), doc_string: doc.into() }
}

fn attr_int(name: &str, i: i64) -> proto::AttributeProto {
    proto::AttributeProto { name: name.into(), r#type: Some(proto::attribute_type::INT), i: Some(i), ..Default::default() }
}

fn attr_ints(name: &str, ints: &[i64]) -> proto::AttributeProto {
    proto::AttributeProto { name: name.into(), r#type: Some(proto::attribute_type::INTS), ints: ints.to_vec(), ..Default::default() }
}

fn attr_float(name: &str, f: f32) -> proto::AttributeProto {
    proto::AttributeProto { name: name.into(), r#type: Some(proto::attribute_type::FLOAT), f: Some(f), ..Default::default() }
}

#[derive(Default)]
struct Graph {
    nodes: Vec<proto::NodeProto>,
    initializers: Vec<proto::TensorProto>,
}

impl Graph {
    /// Adds a node whose one output is named after the node; returns that name.
    fn node(&mut self, op: &str, name: &str, inputs: &[&str], attrs: Vec<proto::AttributeProto>) -> String {
        self.named_node(op, name, inputs, name, attrs);
        name.to_string()
    }

    fn named_node(&mut self, op: &str, name: &str, inputs: &[&str], output: &str, attribute: Vec<proto::AttributeProto>) {
        self.nodes.push(proto::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            name: name.into(),
            op_type: op.into(),
            attribute,
        });
    }

    /// An f32 initializer, row-major, as raw little-endian bytes.
    fn constant(&mut self, name: &str, shape: &[usize], values: &[f32]) {
        self.initializers.push(proto::TensorProto {
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: Some(FLOAT),
            name: name.into(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
    }
}

/// The subset of `onnx.proto` (proto2, package `onnx`) that a feed-forward model needs. Tags
/// are the file's field numbers; fields left out are ones this exporter never sets. Scalars
/// whose zero is meaningful are `Option` (proto2 presence: the ONNX checker asks `has_i()`);
/// repeated scalars are unpacked, as proto2 declares them.
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelProto {
        #[prost(int64, optional, tag = "1")]
        pub ir_version: Option<i64>,
        #[prost(message, repeated, tag = "8")]
        pub opset_import: Vec<OperatorSetIdProto>,
        #[prost(string, tag = "2")]
        pub producer_name: String,
        #[prost(string, tag = "3")]
        pub producer_version: String,
        #[prost(string, tag = "6")]
        pub doc_string: String,
        #[prost(message, optional, tag = "7")]
        pub graph: Option<GraphProto>,
        #[prost(message, repeated, tag = "14")]
        pub metadata_props: Vec<StringStringEntryProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OperatorSetIdProto {
        /// Empty: the default `ai.onnx` domain.
        #[prost(string, tag = "1")]
        pub domain: String,
        #[prost(int64, optional, tag = "2")]
        pub version: Option<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StringStringEntryProto {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<NodeProto>,
        #[prost(string, tag = "2")]
        pub name: String,
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<TensorProto>,
        #[prost(message, repeated, tag = "11")]
        pub input: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "12")]
        pub output: Vec<ValueInfoProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NodeProto {
        #[prost(string, repeated, tag = "1")]
        pub input: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub output: Vec<String>,
        #[prost(string, tag = "3")]
        pub name: String,
        #[prost(string, tag = "4")]
        pub op_type: String,
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<AttributeProto>,
    }

    /// `AttributeProto.AttributeType` values.
    pub mod attribute_type {
        pub const FLOAT: i32 = 1;
        pub const INT: i32 = 2;
        pub const INTS: i32 = 7;
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttributeProto {
        #[prost(string, tag = "1")]
        pub name: String,
        /// An `attribute_type` value.
        #[prost(int32, optional, tag = "20")]
        pub r#type: Option<i32>,
        #[prost(float, optional, tag = "2")]
        pub f: Option<f32>,
        #[prost(int64, optional, tag = "3")]
        pub i: Option<i64>,
        #[prost(int64, repeated, packed = "false", tag = "8")]
        pub ints: Vec<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorProto {
        #[prost(int64, repeated, packed = "false", tag = "1")]
        pub dims: Vec<i64>,
        /// A `TensorProto.DataType` value.
        #[prost(int32, optional, tag = "2")]
        pub data_type: Option<i32>,
        #[prost(string, tag = "8")]
        pub name: String,
        /// Fixed-width little-endian values, row-major.
        #[prost(bytes = "vec", tag = "9")]
        pub raw_data: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueInfoProto {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub r#type: Option<TypeProto>,
        #[prost(string, tag = "3")]
        pub doc_string: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeProto {
        /// Field 1 of the `value` oneof; the only member this exporter writes.
        #[prost(message, optional, tag = "1")]
        pub tensor_type: Option<type_proto::Tensor>,
    }

    pub mod type_proto {
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Tensor {
            /// A `TensorProto.DataType` value.
            #[prost(int32, optional, tag = "1")]
            pub elem_type: Option<i32>,
            #[prost(message, optional, tag = "2")]
            pub shape: Option<super::TensorShapeProto>,
        }
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShapeProto {
        #[prost(message, repeated, tag = "1")]
        pub dim: Vec<tensor_shape_proto::Dimension>,
    }

    pub mod tensor_shape_proto {
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Dimension {
            #[prost(oneof = "dimension::Value", tags = "1, 2")]
            pub value: Option<dimension::Value>,
        }

        pub mod dimension {
            #[derive(Clone, PartialEq, prost::Oneof)]
            pub enum Value {
                #[prost(int64, tag = "1")]
                DimValue(i64),
                /// A symbolic dimension, e.g. `batch`.
                #[prost(string, tag = "2")]
                DimParam(String),
            }
        }
    }
}
