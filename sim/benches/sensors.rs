//! Sensor throughput on the bundled `circuit`: one camera frame, one stereo pair, one lidar scan.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use glam::Vec2;
use paddock_sim::sensors::{Camera, Lidar, StereoCamera};
use paddock_sim::{CarPose, Obstacle, TrackScene};
use paddock_tracks::{DVec2, Track};
use paddock_vehicle::CarSpec;

/// Poses spread around the lap, a little off the centre line and heading, so the bench sees
/// straights, bends and views across the infield.
fn poses(track: &Track, n: usize) -> Vec<CarPose> {
    (0..n)
        .map(|k| {
            let (p, h) = track.pose_at(track.length() * k as f64 / n as f64);
            let q = p + DVec2::from_angle(h).perp() * (((k % 5) as f64 - 2.0) * 0.1);
            CarPose::flat(q.x as f32, q.y as f32, h as f32 + ((k % 3) as f32 - 1.0) * 0.15)
        })
        .collect()
}

fn sensors(c: &mut Criterion) {
    let track = match Track::resolve("circuit") {
        Ok(t) => t,
        Err(e) => panic!("the circuit track should be bundled: {e}"),
    };
    let poses = poses(&track, 64);
    let scene = TrackScene::new(track);
    let car = CarSpec::deepracer();
    let objects = [Obstacle::deepracer_box(Vec2::new(3.0, 0.1), 0.2), Obstacle::deepracer_box(Vec2::new(6.0, -0.2), 0.0)];

    let camera = Camera::new(&car.camera, 0.0);
    let mut frame = vec![0u8; camera.width() * camera.height()];
    let mut k = 0;
    c.bench_function("camera_160x120", |b| {
        b.iter(|| {
            k = (k + 1) % poses.len();
            camera.render(&scene, &poses[k], &objects, &mut frame);
            black_box(&frame);
        })
    });

    c.bench_function("camera_no_obstacles", |b| {
        b.iter(|| {
            k = (k + 1) % poses.len();
            camera.render(&scene, &poses[k], &[], &mut frame);
            black_box(&frame);
        })
    });

    let stereo = StereoCamera::new(&car);
    let mut pair = vec![0u8; 2 * stereo.width() * stereo.height()];
    c.bench_function("stereo_2x160x120", |b| {
        b.iter(|| {
            k = (k + 1) % poses.len();
            stereo.render(&scene, &poses[k], &objects, &mut pair);
            black_box(&pair);
        })
    });

    let lidar = Lidar::new(&car.lidar);
    let mut ranges = vec![0.0f32; lidar.rays()];
    c.bench_function("lidar_64_rays", |b| {
        b.iter(|| {
            k = (k + 1) % poses.len();
            lidar.scan(&scene, &poses[k], &objects, &mut ranges);
            black_box(&ranges);
        })
    });

    c.bench_function("scene_build_circuit", |b| {
        b.iter(|| black_box(TrackScene::new(scene.track().clone())));
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = sensors
}
criterion_main!(benches);
