//! `VecEnv::step` must not allocate: a training loop steps it millions of times.
//! This test binary counts every heap allocation made on any thread.
//!
//! rapier3d 0.36's island solver allocates a few small temporaries inside every physics step;
//! that is rapier's, measured here on a bare physics world. Everything Paddock adds on top
//! (sensors, params, rewards, the batch and its buffers) must add nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use paddock_sim::action::Action;
use paddock_sim::driver::PurePursuit;
use paddock_sim::physics::{CarPhysics, DEFAULT_PHYSICS_HZ};
use paddock_sim::reward::ProgressPerStep;
use paddock_sim::Sensor;
use paddock_sim::{ActionSpace, EnvConfig, TrackScene, VecEnv};
use paddock_tracks::Track;

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations made by one rapier physics step of the bare car.
fn allocations_per_physics_step() -> usize {
    let spec = paddock_vehicle::CarSpec::deepracer();
    let mut car = CarPhysics::new(&spec, DEFAULT_PHYSICS_HZ, 0.0, 0.0, 0.0, &[]);
    for _ in 0..30 {
        car.step(0.1, 1.0);
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 0..60 {
        car.step((i as f32 * 0.1).sin() * 0.4, 1.5);
    }
    let per_step = (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / 60.0;
    let per_step = per_step.ceil() as usize;
    assert!(per_step <= 16, "rapier allocates {per_step} times a step: has it changed?");
    per_step
}

#[test]
fn stepping_a_vec_env_allocates_nothing_beyond_rapiers_own() {
    let rapier = allocations_per_physics_step();
    let substeps = (DEFAULT_PHYSICS_HZ / 15) as usize;
    let scene = Arc::new(TrackScene::new(Track::resolve("circuit").expect("bundled")));
    for kind in [Sensor::Lidar, Sensor::Camera, Sensor::State] {
        let config = EnvConfig {
            observation: kind,
            action_space: ActionSpace::full_continuous(&paddock_vehicle::CarSpec::deepracer()),
            max_steps: 100_000,
            ..EnvConfig::default()
        };
        let mut v = VecEnv::new(config, scene.clone(), 4, 3, || Box::new(ProgressPerStep::default())).expect("vec env");
        let driver = PurePursuit::default();
        let mut actions = vec![Action::Discrete(0); v.len()];
        let step = |v: &mut VecEnv, actions: &mut Vec<Action>| {
            for (a, e) in actions.iter_mut().zip(v.envs()) {
                *a = driver.act(e);
            }
            v.step(actions).expect("step");
            assert!(v.last_steps().iter().all(|s| !s.done), "the driver stays on track");
        };
        for _ in 0..30 {
            step(&mut v, &mut actions);
        }
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for _ in 0..30 {
            step(&mut v, &mut actions);
        }
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        let rapiers = 30 * v.len() * substeps * rapier;
        assert!(allocations <= rapiers, "{kind:?}: {allocations} allocations in 30 steps of 4 envs, rapier's own account for {rapiers}");
    }
}
