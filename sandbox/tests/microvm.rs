//! Workers in microVMs: a Linux guest per worker under QEMU (TCG here), the worker protocol on a
//! virtio-serial port. Needs `scripts/setup-microvm.sh` (the test command runs it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_policy::model::{random_tensors, to_bytes, ObservationSpec, Preprocessing, Sensor};
use paddock_policy::{Head, ModelMetadata, Network};
use paddock_sandbox::microvm::{Guest, MicroVmOptions};
use paddock_sandbox::{Endpoint, GrpcWorkers, LocalWorkers, Mode, RolloutRequest, WorkerSpec, Workers};
use paddock_sim::{EnvConfig, ObservationKind};
use paddock_tracks::Track;
use rand::SeedableRng;

fn guest() -> Arc<Guest> {
    let opts = MicroVmOptions::new(PathBuf::from(env!("CARGO_BIN_EXE_paddock-worker")));
    let start = Instant::now();
    let guest = Guest::prepare(&opts).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("prepared {} in {:.2} s", guest.describe(), start.elapsed().as_secs_f64());
    Arc::new(guest)
}

fn spec() -> WorkerSpec {
    let env = EnvConfig { observation: ObservationKind::Lidar, ..Default::default() };
    WorkerSpec { env, track_json: Track::resolve("oval").unwrap().to_json_string(), reward_function: "progress".into(), reward_python: None, envs: 4, seed: 11 }
}

fn model(spec: &WorkerSpec) -> Arc<Vec<u8>> {
    let meta = ModelMetadata::new(
        Network::Mlp { hidden: vec![32] },
        Head::Categorical,
        ObservationSpec { sensor: Sensor::Lidar, shape: vec![64], preprocessing: Preprocessing::LIDAR },
        spec.env.action_space.clone(),
    );
    let tensors = random_tensors(&meta, &mut rand_pcg::Pcg64::seed_from_u64(5)).unwrap();
    Arc::new(to_bytes(&meta, &tensors).unwrap())
}

#[test]
fn microvm_workers_return_exactly_the_local_rollouts() {
    let guest = guest();
    let spec = spec();
    let model = model(&spec);
    let request = RolloutRequest { policy_version: 1, min_episodes: 2, max_steps: 60, mode: Mode::Sample, trace: true };
    let mut local = LocalWorkers::new(&spec, 2).unwrap();
    local.publish(1, model.clone()).unwrap();
    let want = local.collect(&request).unwrap();
    let start = Instant::now();
    let endpoints = (0..2).map(|_| Endpoint::MicroVm { guest: guest.clone() }).collect();
    let mut vms = GrpcWorkers::new(&spec, endpoints, None, Duration::from_secs(120)).unwrap();
    eprintln!("two VMs serving in {:.2} s: {:?}", start.elapsed().as_secs_f64(), vms.isolation);
    assert!(vms.isolation.iter().all(|i| i.starts_with("microVM guest (Linux") && i.contains("QEMU microvm")), "{:?}", vms.isolation);
    vms.publish(1, model).unwrap();
    let got = vms.collect(&request).unwrap();
    assert_eq!(got.len(), 2);
    for (a, b) in want.iter().zip(&got) {
        assert_eq!(a.actions, b.actions, "worker {}", a.worker);
        assert_eq!(a.rewards, b.rewards, "worker {}", a.worker);
        assert_eq!(format!("{:?}{:?}", a.obs, a.episodes), format!("{:?}{:?}", b.obs, b.episodes), "worker {}", a.worker);
    }
}
