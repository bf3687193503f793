//! The model file: safetensors weights with a JSON description in the header's metadata.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use paddock_vehicle::action::ActionSpace;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::distribution::Head;
use crate::network::{feature_len, torso_tensors, Network};
use crate::PolicyError;

/// `format` of every Paddock model.
pub const FORMAT: &str = "paddock-policy";
/// The version this build writes and reads. Bump it when a file's meaning changes.
pub const FORMAT_VERSION: u32 = 1;
/// Key of the JSON metadata in the safetensors header.
pub const METADATA_KEY: &str = "paddock";

/// Everything needed to run a model, besides its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMetadata {
    pub format: String,
    pub format_version: u32,
    pub network: Network,
    pub head: Head,
    pub observation: ObservationSpec,
    /// In DeepRacer's `model_metadata.json` form (degrees, m/s).
    pub action_space: ActionSpace,
    #[serde(default)]
    pub training: TrainingInfo,
}

/// The sensor a model was trained on: the car's, one type for the simulator and the car.
pub use paddock_vehicle::sensor::Sensor;

/// What the model sees and how raw sensor values become network inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationSpec {
    pub sensor: Sensor,
    /// `[channels, height, width]` for images, `[len]` for vectors.
    pub shape: Vec<usize>,
    pub preprocessing: Preprocessing,
}

/// `input = min(raw, clip_max) * scale`, per value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocessing {
    pub scale: f32,
    #[serde(default)]
    pub clip_max: Option<f32>,
}

impl Preprocessing {
    /// Pixels 0..255 to 0..1.
    pub const IMAGE: Preprocessing = Preprocessing { scale: 1.0 / 255.0, clip_max: None };
    /// Lidar ranges clipped at 4 m (where the track's borders matter) and scaled to 0..1.
    pub const LIDAR: Preprocessing = Preprocessing { scale: 0.25, clip_max: Some(4.0) };
    /// Already normalised.
    pub const IDENTITY: Preprocessing = Preprocessing { scale: 1.0, clip_max: None };

    /// What a model trained on `sensor` applies by default.
    pub fn for_sensor(sensor: Sensor) -> Preprocessing {
        match sensor {
            Sensor::Camera | Sensor::Stereo => Preprocessing::IMAGE,
            Sensor::Lidar => Preprocessing::LIDAR,
            Sensor::State => Preprocessing::IDENTITY,
        }
    }

    #[inline]
    pub fn apply(&self, raw: f32) -> f32 {
        match self.clip_max {
            Some(m) => raw.min(m) * self.scale,
            None => raw * self.scale,
        }
    }
}

/// How and where a model was trained; informative, not needed to run it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingInfo {
    /// `clipped_ppo` or `sac`, DeepRacer's names.
    pub algorithm: String,
    pub track: String,
    pub reward_function: String,
    pub iterations: u64,
    pub env_steps: u64,
    pub episodes: u64,
    pub wall_time_s: f64,
    pub seed: u64,
    pub paddock_version: String,
}

impl ModelMetadata {
    pub fn new(network: Network, head: Head, observation: ObservationSpec, action_space: ActionSpace) -> Self {
        ModelMetadata { format: FORMAT.into(), format_version: FORMAT_VERSION, network, head, observation, action_space, training: TrainingInfo::default() }
    }

    /// Checks that the parts fit together: network and sensor, head and action space.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let bad = |m: String| Err(PolicyError::Metadata(m));
        if self.format != FORMAT {
            return bad(format!("format is '{}', expected '{FORMAT}'", self.format));
        }
        if self.format_version != FORMAT_VERSION {
            return bad(format!("format version {} (this build reads {FORMAT_VERSION})", self.format_version));
        }
        if self.observation.sensor.is_image() != self.network.is_convolutional() {
            return bad(format!("a {:?} network cannot take {:?} observations", self.network, self.observation.sensor));
        }
        feature_len(&self.network, &self.observation.shape)?;
        if !self.head.fits(&self.action_space) {
            return bad(format!(
                "a {:?} head does not fit a {} action space",
                self.head,
                if self.action_space.is_discrete() { "discrete" } else { "continuous" }
            ));
        }
        if self.action_space.is_empty() {
            return bad("the action space is empty".into());
        }
        let p = self.observation.preprocessing;
        if !p.scale.is_finite() || p.scale <= 0.0 || p.clip_max.is_some_and(|m| !m.is_finite()) {
            return bad(format!("preprocessing {p:?} is not finite and positive"));
        }
        Ok(())
    }

    /// Names and shapes of the tensors a model must have (`v.*`, the value head, may be absent).
    pub fn expected_tensors(&self) -> Result<Vec<(String, Vec<usize>)>, PolicyError> {
        let mut t = torso_tensors(&self.network, &self.observation.shape)?;
        let features = feature_len(&self.network, &self.observation.shape)?;
        let outputs = self.head.outputs(&self.action_space);
        t.push(("pi.weight".into(), vec![outputs, features]));
        t.push(("pi.bias".into(), vec![outputs]));
        if self.head == Head::Gaussian {
            t.push(("pi_log_std".into(), vec![2]));
        }
        Ok(t)
    }

    /// The optional value head's tensors.
    pub fn value_tensors(&self) -> Result<Vec<(String, Vec<usize>)>, PolicyError> {
        let features = feature_len(&self.network, &self.observation.shape)?;
        Ok(vec![("v.weight".into(), vec![1, features]), ("v.bias".into(), vec![1])])
    }
}

/// Named f32 tensors: shape and values (row-major).
pub type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Serialises a model to bytes after checking the tensors against the metadata.
pub fn to_bytes(meta: &ModelMetadata, tensors: &Tensors) -> Result<Vec<u8>, PolicyError> {
    meta.validate()?;
    check_tensors(meta, tensors.iter().map(|(n, (s, v))| (n.as_str(), s.as_slice(), v.len())))?;
    let json = serde_json::to_string(meta).map_err(|e| PolicyError::Metadata(e.to_string()))?;
    serialize(tensors, Some(HashMap::from([(METADATA_KEY.to_string(), json)])))
}

/// Plain named tensors as safetensors bytes (no model metadata): for trainer checkpoints.
pub fn tensors_to_bytes(tensors: &Tensors) -> Result<Vec<u8>, PolicyError> {
    serialize(tensors, None)
}

/// Plain named f32 tensors from safetensors bytes.
pub fn tensors_from_bytes(bytes: &[u8], origin: &str) -> Result<Tensors, PolicyError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| PolicyError::Corrupt { path: origin.into(), message: e.to_string() })?;
    let mut tensors = Tensors::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(PolicyError::Weights(format!("tensor {name} is {:?}, expected F32", view.dtype())));
        }
        let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(PolicyError::Weights(format!("tensor {name} holds a non-finite value at index {i}")));
        }
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok(tensors)
}

fn serialize(tensors: &Tensors, info: Option<HashMap<String, String>>) -> Result<Vec<u8>, PolicyError> {
    let bytes: Vec<(&String, Vec<u8>, &Vec<usize>)> =
        tensors.iter().map(|(name, (shape, values))| (name, values.iter().flat_map(|v| v.to_le_bytes()).collect(), shape)).collect();
    let views = bytes
        .iter()
        .map(|(name, data, shape)| TensorView::new(Dtype::F32, shape.to_vec(), data).map(|v| (name.as_str(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PolicyError::Weights(e.to_string()))?;
    safetensors::serialize(views, info).map_err(|e| PolicyError::Weights(e.to_string()))
}

/// Writes a model whole or not at all (`atomic-write-file`: a temporary file beside `path`,
/// synced, renamed over it, the folder synced).
pub fn save(path: &Path, meta: &ModelMetadata, tensors: &Tensors) -> Result<(), PolicyError> {
    use std::io::Write;
    let bytes = to_bytes(meta, tensors)?;
    let io = |source| PolicyError::Io { path: path.display().to_string(), source };
    let mut file = atomic_write_file::AtomicWriteFile::open(path).map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.commit().map_err(io)
}

/// Reads and checks a model's bytes; `origin` names it in errors.
pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<(ModelMetadata, Tensors), PolicyError> {
    let corrupt = |e: safetensors::SafeTensorError| PolicyError::Corrupt { path: origin.into(), message: e.to_string() };
    let not_model = |m: String| PolicyError::NotAModel { path: origin.into(), message: m };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(corrupt)?;
    let json = header.metadata().as_ref().and_then(|m| m.get(METADATA_KEY)).ok_or_else(|| not_model(format!("its header has no '{METADATA_KEY}' metadata")))?;
    // Read the version first so that a newer file says so rather than failing on a new field.
    let probe: serde_json::Value = serde_json::from_str(json).map_err(|e| not_model(format!("metadata is not JSON: {e}")))?;
    if probe.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(not_model(format!("metadata 'format' is not '{FORMAT}'")));
    }
    let found = probe.get("format_version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
    if found != FORMAT_VERSION {
        return Err(PolicyError::Version { path: origin.into(), found, expected: FORMAT_VERSION });
    }
    let meta: ModelMetadata = serde_json::from_value(probe).map_err(|e| PolicyError::Metadata(format!("{origin}: {e}")))?;
    meta.validate()?;
    let tensors = tensors_from_bytes(bytes, origin)?;
    check_tensors(&meta, tensors.iter().map(|(n, (s, v))| (n.as_str(), s.as_slice(), v.len())))?;
    Ok((meta, tensors))
}

/// Reads and checks a model file.
pub fn load(path: &Path) -> Result<(ModelMetadata, Tensors), PolicyError> {
    let bytes = std::fs::read(path).map_err(|source| PolicyError::Io { path: path.display().to_string(), source })?;
    from_bytes(&bytes, &path.display().to_string())
}

/// Random weights for a model (uniform, scaled by fan-in as PyTorch initialises layers): for
/// tests, benchmarks and a first policy before any training.
pub fn random_tensors<R: rand::Rng>(meta: &ModelMetadata, rng: &mut R) -> Result<Tensors, PolicyError> {
    let mut tensors = Tensors::new();
    let mut specs = meta.expected_tensors()?;
    specs.extend(meta.value_tensors()?);
    for (name, shape) in specs {
        let len: usize = shape.iter().product();
        let values = if name.ends_with("running_var") {
            (0..len).map(|_| rng.random_range(0.5..1.5)).collect()
        } else if name == "pi_log_std" {
            vec![-0.5; len]
        } else {
            let fan_in: usize = if shape.len() > 1 { shape[1..].iter().product() } else { 16 };
            let bound = 1.0 / (fan_in as f32).sqrt();
            (0..len).map(|_| rng.random_range(-bound..bound)).collect()
        };
        tensors.insert(name, (shape, values));
    }
    Ok(tensors)
}

fn check_tensors<'a>(meta: &ModelMetadata, present: impl Iterator<Item = (&'a str, &'a [usize], usize)>) -> Result<(), PolicyError> {
    let expected = meta.expected_tensors()?;
    let optional = meta.value_tensors()?;
    let mut seen = std::collections::HashSet::new();
    for (name, shape, len) in present {
        let want = expected.iter().chain(&optional).find(|(n, _)| n == name);
        let Some((_, want)) = want else {
            return Err(PolicyError::Weights(format!("unexpected tensor '{name}' for a {:?} network", meta.network)));
        };
        if shape != want.as_slice() || len != want.iter().product::<usize>() {
            return Err(PolicyError::Weights(format!("tensor '{name}' has shape {shape:?}, expected {want:?}")));
        }
        seen.insert(name.to_string());
    }
    let missing: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).filter(|n| !seen.contains(*n)).collect();
    if !missing.is_empty() {
        return Err(PolicyError::Weights(format!("missing tensors {missing:?} for a {:?} network", meta.network)));
    }
    Ok(())
}
