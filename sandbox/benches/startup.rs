//! Worker start-up per backend: from nothing to a worker that has answered Hello and built its
//! environment (one lidar env on the oval), then shut down. For microVMs also the VM alone: from
//! nothing to a guest that answered Hello, restored from the snapshot and booted from scratch.
//!
//! `cargo bench -p paddock-sandbox --bench startup`

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use paddock_sandbox::grpc::connect_unix;
use paddock_sandbox::microvm::{Guest, MicroVmOptions};
use paddock_sandbox::proto::{pb, PROTOCOL_VERSION};
use paddock_sandbox::{Endpoint, GrpcWorkers, LocalWorkers, WorkerSpec};
use paddock_sim::{EnvConfig, Sensor};
use paddock_tracks::Track;

fn bench(c: &mut Criterion) {
    let spec = WorkerSpec {
        env: EnvConfig { observation: Sensor::Lidar, ..Default::default() },
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
                let endpoint = Endpoint::Process { binary: binary.clone(), sandbox, env: Vec::new(), cgroup: None };
                GrpcWorkers::new(&spec, vec![endpoint], None, Duration::from_secs(10)).unwrap()
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("microvm start-up");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let hello = |guest: &Guest| {
        let mut vm = guest.launch().unwrap();
        let channel = connect_unix(&rt, vm.take_stream().unwrap()).unwrap();
        let mut client = pb::worker_client::WorkerClient::new(channel);
        rt.block_on(client.hello(pb::HelloRequest { protocol_version: PROTOCOL_VERSION })).unwrap();
        vm
    };
    let restored = std::sync::Arc::new(Guest::prepare(&MicroVmOptions::new(binary.clone())).unwrap());
    g.bench_function("from snapshot, to Hello", |b| b.iter_with_large_drop(|| hello(&restored)));
    g.bench_function("from snapshot, to Hello and one env built", |b| {
        b.iter_with_large_drop(|| GrpcWorkers::new(&spec, vec![Endpoint::MicroVm { guest: restored.clone() }], None, Duration::from_secs(60)).unwrap())
    });
    let booted = Guest::prepare(&MicroVmOptions { snapshot: false, ..MicroVmOptions::new(binary.clone()) }).unwrap();
    g.bench_function("booted from scratch, to Hello", |b| b.iter_with_large_drop(|| hello(&booted)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
