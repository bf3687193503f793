//! Worker start-up per backend: from nothing to a worker that has answered Hello and built its
//! environment (one lidar env on the oval), then shut down.
//!
//! `cargo bench -p paddock-sandbox --bench startup`

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use paddock_sandbox::{Endpoint, GrpcWorkers, LocalWorkers, WorkerSpec};
use paddock_sim::{EnvConfig, ObservationKind};
use paddock_tracks::Track;

fn bench(c: &mut Criterion) {
    let spec = WorkerSpec {
        env: EnvConfig { observation: ObservationKind::Lidar, ..Default::default() },
        track_json: Track::resolve("oval").unwrap().to_json_string(),
        reward_function: "progress".into(),
        reward_python: None,
        envs: 1,
        seed: 1,
    };
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_paddock-worker"));
    let mut g = c.benchmark_group("worker start-up");
    g.sample_size(20);
    g.bench_function("local (thread)", |b| b.iter(|| LocalWorkers::new(&spec, 1).unwrap()));
    for sandbox in [false, true] {
        let name = if sandbox { "process, sandboxed" } else { "process, no sandbox" };
        g.bench_function(name, |b| {
            b.iter(|| {
                let endpoint = Endpoint::Process { binary: binary.clone(), sandbox, env: Vec::new() };
                GrpcWorkers::new(&spec, vec![endpoint], None, Duration::from_secs(10)).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
