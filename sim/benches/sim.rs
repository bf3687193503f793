//! Physics and environment step costs on one core.
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use paddock_sim::action::Action;
use paddock_sim::driver::PurePursuit;
use paddock_sim::env::Start;
use paddock_sim::physics::{CarPhysics, DEFAULT_PHYSICS_HZ};
use paddock_sim::reward::ProgressPerStep;
use paddock_sim::Sensor;
use paddock_sim::{ActionSpace, Env, EnvConfig, TrackScene};
use paddock_tracks::Track;
use paddock_vehicle::CarSpec;

fn physics(c: &mut Criterion) {
    let spec = CarSpec::deepracer();
    let mut car = CarPhysics::new(&spec, DEFAULT_PHYSICS_HZ, 0.0, 0.0, 0.0, &[]);
    car.advance(0.0, 1.0, 1.0);
    let mut i = 0u32;
    c.bench_function("physics_step_60hz", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            car.step(((i % 200) as f32 * 0.03).sin() * 0.4, 1.5);
        })
    });
    c.bench_function("physics_world_build", |b| b.iter(|| CarPhysics::new(&spec, DEFAULT_PHYSICS_HZ, 0.0, 0.0, 0.0, &[])));
}

fn env_step(c: &mut Criterion) {
    let scene = Arc::new(TrackScene::new(Track::resolve("circuit").expect("bundled")));
    for kind in [Sensor::State, Sensor::Lidar, Sensor::Camera] {
        let config =
            EnvConfig { observation: kind, action_space: ActionSpace::full_continuous(&paddock_vehicle::CarSpec::deepracer()), ..EnvConfig::default() };
        let mut env = Env::new(Arc::new(config), scene.clone(), Box::new(ProgressPerStep::default()), 1).expect("env");
        let mut u8_buf = vec![0u8; 160 * 120];
        let mut f32_buf = vec![0f32; kind.len(&env.config().car)];
        let driver = PurePursuit::default();
        c.bench_function(&format!("env_step_and_observe_{kind:?}").to_lowercase(), |b| {
            b.iter(|| {
                let action: Action = driver.act(&env);
                let r = env.step(action).expect("step");
                if r.status.is_done() {
                    env.reset(1, Start::Next);
                }
                let out = if kind.is_image() { paddock_sim::env::ObsMut::U8(&mut u8_buf) } else { paddock_sim::env::ObsMut::F32(&mut f32_buf) };
                env.observe(out).expect("observe");
            })
        });
    }
}

criterion_group!(benches, physics, env_step);
criterion_main!(benches);
