//! Paddock's portable trained model and its pure-Rust inference engine.
//!
//! A model is one `.safetensors` file: the network's weights (f32) plus, in the safetensors
//! header's metadata under [`METADATA_KEY`], a JSON [`ModelMetadata`]: the architecture, the
//! observation it expects and how to preprocess it, the action space, and how it was trained.
//! One file means the weights and their description can never be separated or mismatched.
//!
//! - [`network`]: the architectures (DeepRacer's three camera CNNs and an MLP) as one list of
//!   layers that both this crate and the trainer (tch) build from, with the tensor names and shapes.
//! - [`model`]: the metadata, loading with full validation, and atomic saving.
//! - [`inference`]: [`Policy`], the forward pass on ndarray, batched (workers) or one frame (the car).
//! - [`camera`]: a camera's frames (VGA colour, YUYV...) to the 160x120 grayscale observation.
//! - [`deepracer`]: DeepRacer's `model_metadata.json`, written and read.
//! - [`distribution`]: turning the network's outputs into actions: greedy, or sampled with the
//!   log-probability the trainer needs.
//! - [`onnx`]: a model as ONNX (opset 13), preprocessing included, for runtimes outside Paddock.
//!
//! No libtorch here: workers, evaluation and the car all run this crate.

pub mod camera;
pub mod deepracer;
pub mod distribution;
pub mod inference;
pub mod model;
pub mod network;
pub mod onnx;

pub use distribution::{ActionSample, Head};
pub use inference::{Observations, Policy};
pub use model::{ModelMetadata, ObservationSpec, Preprocessing, Sensor, TrainingInfo, FORMAT, FORMAT_VERSION, METADATA_KEY};
pub use network::{Layer, Network};

/// What can go wrong loading or running a model; every message says what was expected.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read model {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is not a valid safetensors file (truncated or corrupt?): {message}")]
    Corrupt { path: String, message: String },
    #[error("{path} is not a Paddock model: {message}")]
    NotAModel { path: String, message: String },
    #[error("{path} is a Paddock model format version {found}; this build reads version {expected}")]
    Version { path: String, found: u32, expected: u32 },
    #[error("model metadata is invalid: {0}")]
    Metadata(String),
    #[error("model weights do not match the architecture: {0}")]
    Weights(String),
    #[error("observation does not fit the model: {0}")]
    Observation(String),
}
