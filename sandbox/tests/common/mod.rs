//! What the worker tests share: a small lidar spec and a random model for it.

use std::sync::Arc;

use paddock_policy::model::{random_tensors, to_bytes, ObservationSpec, Preprocessing, Sensor};
use paddock_policy::{Head, ModelMetadata, Network};
use paddock_sandbox::WorkerSpec;
use paddock_sim::EnvConfig;
use paddock_tracks::Track;
use rand::SeedableRng;

/// Four lidar envs on the oval, the progress reward.
pub fn spec() -> WorkerSpec {
    let env = EnvConfig { observation: Sensor::Lidar, ..Default::default() };
    WorkerSpec { env, track_json: Track::resolve("oval").unwrap().to_json_string(), reward_function: "progress".into(), reward_python: None, envs: 4, seed: 11 }
}

/// A random MLP policy for [`spec`]'s observations and actions.
pub fn model(spec: &WorkerSpec) -> Arc<Vec<u8>> {
    let meta = ModelMetadata::new(
        Network::Mlp { hidden: vec![32] },
        Head::Categorical,
        ObservationSpec { sensor: Sensor::Lidar, shape: vec![64], preprocessing: Preprocessing::LIDAR },
        spec.env.action_space.clone(),
    );
    let tensors = random_tensors(&meta, &mut rand_pcg::Pcg64::seed_from_u64(5)).unwrap();
    Arc::new(to_bytes(&meta, &tensors).unwrap())
}
