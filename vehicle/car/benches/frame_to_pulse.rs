//! The car's bar: one 640x480 YUYV camera frame in, steering and throttle pulses out, with
//! DeepRacer's default shallow CNN on one core, written to sysfs-shaped PWM files.
//!
//! `cargo bench -p paddock-car --bench frame_to_pulse`

use criterion::{criterion_group, criterion_main, Criterion};
use paddock_car::config::{CameraConfig, FrameFormat};
use paddock_car::output::{Output, SysfsPwm};
use paddock_car::Pipeline;
use paddock_policy::camera::{frame_to_observation, PixelFormat};
use paddock_policy::model::{random_tensors, ObservationSpec, Preprocessing, Sensor};
use paddock_policy::{Head, ModelMetadata, Network, Policy};
use paddock_vehicle::action::ActionSpace;
use paddock_vehicle::calibration::{Calibration, Channel};
use rand::{Rng, SeedableRng};

fn bench(c: &mut Criterion) {
    let meta = ModelMetadata::new(
        Network::Shallow,
        Head::Categorical,
        ObservationSpec { sensor: Sensor::Camera, shape: vec![1, 120, 160], preprocessing: Preprocessing::IMAGE },
        ActionSpace::deepracer_default_discrete(),
    );
    let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
    let policy = Policy::new(meta.clone(), &random_tensors(&meta, &mut rng).unwrap()).unwrap();
    let camera = CameraConfig { source: "pipe:-".into(), width: 640, height: 480, format: FrameFormat::Yuyv, fps: 15.0 };
    let calibration = Calibration {
        steering: Channel { min_us: 1100, mid_us: 1480, max_us: 1900, polarity: -1 },
        throttle: Channel { min_us: 1300, mid_us: 1500, max_us: 1720, polarity: 1 },
        max_speed_mps: 4.0,
    };
    let mut pipeline = Pipeline::new(policy, &camera, calibration, 30.0, 4.0).unwrap();
    let frame: Vec<u8> = (0..640 * 480 * 2).map(|_| rng.random()).collect();

    let chip = std::env::temp_dir().join(format!("paddock-bench-pwm-{}", std::process::id()));
    for n in 0..2 {
        std::fs::create_dir_all(chip.join(format!("pwm{n}"))).unwrap();
        for f in ["period", "duty_cycle", "enable"] {
            std::fs::write(chip.join(format!("pwm{n}/{f}")), "0\n").unwrap();
        }
    }
    let mut pwm = SysfsPwm::open(&chip, 1, 0, 20_000_000).unwrap();

    c.bench_function("frame to pulse: vga yuyv, shallow cnn, sysfs pwm", |b| {
        b.iter(|| {
            let command = pipeline.command(&frame).unwrap();
            pwm.write(command.pulses()).unwrap();
        })
    });
    c.bench_function("frame to command (no output)", |b| b.iter(|| pipeline.command(&frame).unwrap()));
    let mut obs = vec![0u8; 160 * 120];
    c.bench_function("vga yuyv to 160x120 observation", |b| {
        b.iter(|| frame_to_observation(&frame, (640, 480), PixelFormat::Yuyv, (160, 120), &mut obs).unwrap())
    });
    let command = pipeline.command(&frame).unwrap();
    c.bench_function("sysfs pwm write (two channels)", |b| b.iter(|| pwm.write(command.pulses()).unwrap()));
    std::fs::remove_dir_all(&chip).unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
