//! Inference speed of the policy crate: one frame (the car) and a batch (a worker's envs).
//!
//! `cargo bench -p paddock-policy --bench inference`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use paddock_policy::model::{random_tensors, ModelMetadata, ObservationSpec, Preprocessing, Sensor};
use paddock_policy::{Head, Network, Observations, Policy};
use paddock_vehicle::action::ActionSpace;
use rand::SeedableRng;

fn policy(network: Network, sensor: Sensor, shape: Vec<usize>) -> Policy {
    let preprocessing = if sensor.is_image() { Preprocessing::IMAGE } else { Preprocessing::LIDAR };
    let meta = ModelMetadata::new(network, Head::Categorical, ObservationSpec { sensor, shape, preprocessing }, ActionSpace::deepracer_default_discrete());
    let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
    let tensors = random_tensors(&meta, &mut rng).expect("random weights");
    Policy::new(meta, &tensors).expect("policy")
}

fn bench(c: &mut Criterion) {
    let frame = vec![128u8; 160 * 120];
    for (name, network) in [("shallow", Network::Shallow), ("deep", Network::Deep), ("deep_deep", Network::DeepDeep)] {
        let p = policy(network, Sensor::Camera, vec![1, 120, 160]);
        c.bench_function(&format!("camera {name} cnn, 1 frame"), |b| b.iter(|| p.act_greedy(Observations::U8(&frame)).unwrap()));
    }
    let shallow = policy(Network::Shallow, Sensor::Camera, vec![1, 120, 160]);
    let batch = vec![128u8; 16 * 160 * 120];
    let mut g = c.benchmark_group("batch of 16");
    g.throughput(Throughput::Elements(16));
    g.bench_function("camera shallow cnn", |b| b.iter(|| shallow.forward(Observations::U8(&batch)).unwrap()));
    let lidar = policy(Network::Mlp { hidden: vec![256, 256] }, Sensor::Lidar, vec![64]);
    let scans = vec![2.0f32; 16 * 64];
    g.bench_function("lidar mlp 256x256", |b| b.iter(|| lidar.forward(Observations::F32(&scans)).unwrap()));
    g.finish();
    let scan = vec![2.0f32; 64];
    c.bench_function("lidar mlp 256x256, 1 scan", |b| b.iter(|| lidar.act_greedy(Observations::F32(&scan)).unwrap()));
}

criterion_group!(benches, bench);
criterion_main!(benches);
