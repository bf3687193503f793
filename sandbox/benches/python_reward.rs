//! One reward call: DeepRacer's `follow_centre_line` in Python (params dict built, function
//! called, answer checked) against the built-in Rust one, on one thread.
//!
//! `cargo bench -p paddock-sandbox --bench python_reward`

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use paddock_sandbox::python::PythonRewardFile;
use paddock_sim::{builtin_reward, Action, Env, EnvConfig, Sensor, Start, TrackScene};
use paddock_tracks::Track;

fn bench(c: &mut Criterion) {
    let config = Arc::new(EnvConfig { observation: Sensor::State, ..Default::default() });
    let scene = Arc::new(TrackScene::new(Track::resolve("circuit").unwrap()));
    let mut env = Env::new(config, scene, builtin_reward("progress").unwrap(), 1).unwrap();
    env.reset(1, Start::At { progress: 10.0, lateral_m: 0.05, heading_offset_rad: 0.0 });
    env.step(Action::Discrete(0)).unwrap();
    let params = env.params().clone();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rewards/follow_centre_line.py");
    let file = PythonRewardFile::load(&path.display().to_string(), &std::fs::read_to_string(&path).unwrap(), Duration::from_secs(1)).unwrap();
    let mut python = file.instance();
    let mut rust = builtin_reward("follow_centre_line").unwrap();
    c.bench_function("reward call: follow_centre_line, Python", |b| b.iter(|| python.reward(&params).unwrap()));
    c.bench_function("reward call: follow_centre_line, Rust", |b| b.iter(|| rust.reward(&params).unwrap()));
}

criterion_group!(benches, bench);
criterion_main!(benches);
