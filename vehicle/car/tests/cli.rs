//! `paddock-car` as a process: frames in through a pipe or folder, pulses out on a sysfs-shaped
//! PWM folder, and the safety behaviour (watchdog, overrun, signals, bad input) seen from outside.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use paddock_car::config::CameraConfig;
use paddock_car::Pipeline;
use paddock_policy::model::{random_tensors, save, ObservationSpec, Preprocessing, Sensor};
use paddock_policy::{Head, ModelMetadata, Network, Policy};
use paddock_vehicle::action::ActionSpace;
use paddock_vehicle::calibration::{Calibration, Pulses};
use rand::{Rng, SeedableRng};

const CALIBRATION: &str = r#"{ "steering": { "min_us": 1100, "mid_us": 1480, "max_us": 1900, "polarity": -1 },
  "throttle": { "min_us": 1300, "mid_us": 1500, "max_us": 1720, "polarity": 1 }, "max_speed_mps": 4.0 }"#;
const NEUTRAL: Pulses = Pulses { steering_us: 1480, throttle_us: 1500 };
const FRAME_LEN: usize = 640 * 480 * 2;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("paddock-car-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn save_model(path: &Path, sensor: Sensor) {
    let (network, shape, pre) = match sensor {
        Sensor::Lidar => (Network::Mlp { hidden: vec![16] }, vec![64], Preprocessing::LIDAR),
        _ => (Network::Shallow, vec![1, 120, 160], Preprocessing::IMAGE),
    };
    let meta = ModelMetadata::new(network, Head::Categorical, ObservationSpec { sensor, shape, preprocessing: pre }, ActionSpace::deepracer_default_discrete());
    let mut tensors = random_tensors(&meta, &mut rand_pcg::Pcg64::seed_from_u64(7)).unwrap();
    // Fan-in initialisation leaves the outputs close to the bias; make the scene matter.
    tensors.get_mut("pi.weight").unwrap().1.iter_mut().for_each(|w| *w *= 300.0);
    save(path, &meta, &tensors).unwrap();
}

/// A car folder: model, calibration, a PWM chip with channels 0 and 1, and `car.toml`.
fn car_folder(name: &str, extra: &str) -> PathBuf {
    let dir = temp_dir(name);
    save_model(&dir.join("model.safetensors"), Sensor::Camera);
    std::fs::write(dir.join("calibration.json"), CALIBRATION).unwrap();
    for n in 0..2 {
        let ch = dir.join(format!("pwmchip0/pwm{n}"));
        std::fs::create_dir_all(&ch).unwrap();
        for f in ["period", "duty_cycle", "enable"] {
            std::fs::write(ch.join(f), "0\n").unwrap();
        }
    }
    std::fs::write(dir.join("pwmchip0/export"), "").unwrap();
    let config = format!(
        "model = \"model.safetensors\"\ncalibration = \"calibration.json\"\nspeed_cap_mps = 1.0\n{extra}\n\
         [camera]\nsource = \"pipe:-\"\n[output]\nkind = \"sysfs_pwm\"\nchip = {:?}\n",
        dir.join("pwmchip0")
    );
    std::fs::write(dir.join("car.toml"), config).unwrap();
    dir
}

fn pulses(dir: &Path) -> Pulses {
    let read = |n: u32| {
        let text = std::fs::read_to_string(dir.join(format!("pwmchip0/pwm{n}/duty_cycle"))).unwrap();
        (text.trim().parse::<u64>().unwrap() / 1000) as u32
    };
    Pulses { steering_us: read(1), throttle_us: read(0) }
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_paddock-car"))
        .args(["run", "--config", dir.join("car.toml").to_str().unwrap()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn run(dir: &Path, args: &[&str]) -> Output {
    spawn(dir, args).wait_with_output().unwrap()
}

/// YUYV frames with stripes of random widths and brightness, so the model sees different scenes.
fn frames(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let (period, slope, base) = (rng.random_range(8..160usize), rng.random_range(0..4usize), rng.random::<u8>());
            let mut f = vec![128u8; FRAME_LEN];
            for (i, px) in f.chunks_exact_mut(2).enumerate() {
                let (x, y) = (i % 640, i / 640);
                px[0] = if (x + slope * y) / period % 2 == 0 { base } else { 255 - base };
            }
            f
        })
        .collect()
}

#[test]
fn frames_through_a_pipe_become_the_pulses_the_model_and_calibration_give() {
    let dir = car_folder("pipe", "");
    let mut car = spawn(&dir, &["--log"]);
    let (mut stdin, mut stdout) = (car.stdin.take().unwrap(), BufReader::new(car.stdout.take().unwrap()));
    // The same model, camera and calibration in this process: what the car must output.
    let camera = CameraConfig { source: "pipe:-".into(), width: 640, height: 480, format: Default::default(), fps: 15.0 };
    let calibration = Calibration::from_json_str(CALIBRATION, "cal").unwrap();
    let mut expected = Pipeline::new(Policy::load(&dir.join("model.safetensors")).unwrap(), &camera, calibration, 30.0, 1.0).unwrap();
    let mut distinct = std::collections::HashSet::new();
    for frame in frames(8, 1) {
        stdin.write_all(&frame).unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let logged: serde_json::Value = serde_json::from_str(&line).unwrap();
        let want = expected.command(&frame).unwrap();
        let got = pulses(&dir);
        assert_eq!(got, want.pulses(), "frame {}: {line}", logged["frame"]);
        assert_eq!(logged["command"]["steering_us"], want.steering_us);
        assert!(want.speed_mps <= 1.0 && got.throttle_us > NEUTRAL.throttle_us && got.throttle_us <= 1555, "speed capped at 1 m/s: {got:?}");
        distinct.insert(got.steering_us);
    }
    assert!(distinct.len() > 1, "random frames should steer differently: {distinct:?}");
    drop(stdin);
    let out = car.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(pulses(&dir), NEUTRAL, "neutral on exit");
    assert_eq!(std::fs::read_to_string(dir.join("pwmchip0/pwm0/period")).unwrap(), "20000000\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_watchdog_stops_the_motor_when_frames_stop_and_sigterm_leaves_neutral() {
    let dir = car_folder("watchdog", "[safety]\nframe_timeout_ms = 200");
    let mut car = spawn(&dir, &["--log"]);
    let (mut stdin, mut stdout) = (car.stdin.take().unwrap(), BufReader::new(car.stdout.take().unwrap()));
    stdin.write_all(&frames(1, 2)[0]).unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let driving = pulses(&dir);
    assert!(driving.throttle_us > NEUTRAL.throttle_us, "{driving:?}");
    std::thread::sleep(Duration::from_millis(700));
    let stopped = pulses(&dir);
    assert_eq!(stopped, Pulses { throttle_us: NEUTRAL.throttle_us, ..driving }, "no frames for 700 ms: motor stopped, steering held");
    assert!(car.try_wait().unwrap().is_none(), "the car waits for frames");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(car.id() as i32, libc::SIGTERM) };
    let out = car.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(128 + libc::SIGTERM), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("watchdog") && stderr.contains("signal"), "{stderr}");
    assert_eq!(pulses(&dir), NEUTRAL);
    drop(stdin);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_inference_overrun_stops_the_motor_for_that_frame() {
    let dir = car_folder("overrun", "[safety]\ninference_budget_ms = 0.0001");
    let mut car = spawn(&dir, &["--log"]);
    let (mut stdin, mut stdout) = (car.stdin.take().unwrap(), BufReader::new(car.stdout.take().unwrap()));
    for frame in frames(3, 3) {
        stdin.write_all(&frame).unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.contains("\"overrun\":true"), "{line}");
        assert_eq!(pulses(&dir).throttle_us, NEUTRAL.throttle_us);
    }
    drop(stdin);
    let out = car.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("over the 0.0001 ms budget"));
}

#[test]
fn a_folder_replay_in_dry_run_records_frames_and_commands() {
    let dir = car_folder("record", "");
    let frames_dir = dir.join("frames");
    std::fs::create_dir_all(&frames_dir).unwrap();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(4);
    for i in 0..3 {
        let img = image::RgbImage::from_fn(640, 480, |_, _| image::Rgb([rng.random(), rng.random(), rng.random()]));
        img.save(frames_dir.join(format!("{i:03}.png"))).unwrap();
    }
    std::fs::write(
        dir.join("car.toml"),
        std::fs::read_to_string(dir.join("car.toml")).unwrap().replace("source = \"pipe:-\"", "source = \"folder:frames\"\nformat = \"rgb\"\nfps = 0"),
    )
    .unwrap();
    let rec = dir.join("rec");
    let out = run(&dir, &["--dry-run", "--record", rec.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("dry run: steering"), "{stderr}");
    assert_eq!(pulses(&dir), Pulses { steering_us: 0, throttle_us: 0 }, "a dry run leaves the PWM chip alone");
    let csv = std::fs::read_to_string(rec.join("commands.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], paddock_car::record::COMMANDS_HEADER);
    assert_eq!(rows.len(), 4, "{csv}");
    let obs = image::open(rec.join("frames/000002.png")).unwrap();
    assert_eq!((obs.width(), obs.height()), (160, 120));
    // A second recording into the same folder is refused rather than mixed in.
    let out = run(&dir, &["--dry-run", "--record", rec.to_str().unwrap()]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("already holds a recording"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_is_refused_and_the_motor_stays_at_neutral() {
    let dir = car_folder("bad", "");
    let config = std::fs::read_to_string(dir.join("car.toml")).unwrap();
    let model = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("truncated.safetensors"), &model[..model.len() / 2]).unwrap();
    save_model(&dir.join("lidar.safetensors"), Sensor::Lidar);
    let cases: [(&str, &[&str], &str); 4] = [
        ("corrupt model", &["--model", "truncated.safetensors"], "truncated"),
        ("lidar model", &["--model", "lidar.safetensors"], "trained on Lidar observations"),
        ("missing camera", &["--camera", "/dev/video-paddock-none"], "no such device"),
        ("not a camera", &["--camera", "/dev/null"], "/dev/null"),
    ];
    for (what, args, message) in cases {
        std::fs::write(dir.join("pwmchip0/pwm0/duty_cycle"), "0\n").unwrap();
        let args: Vec<String> = args.iter().map(|a| if a.ends_with(".safetensors") { dir.join(a).display().to_string() } else { a.to_string() }).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&dir, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: {stderr}");
        assert!(stderr.contains(message), "{what}: {stderr}");
        assert_eq!(pulses(&dir), NEUTRAL, "{what}: the motor must be at neutral");
    }
    // A wrong calibration: neutral is unknown, so nothing is written at all.
    std::fs::write(dir.join("pwmchip0/pwm0/duty_cycle"), "0\n").unwrap();
    std::fs::write(dir.join("calibration.json"), CALIBRATION.replace("1480", "1000")).unwrap();
    let out = run(&dir, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("calibration.json") && stderr.contains("min < mid < max"), "{stderr}");
    assert_eq!(pulses(&dir).throttle_us, 0, "untouched");
    std::fs::write(dir.join("calibration.json"), CALIBRATION).unwrap();
    // A PWM chip that does not exist.
    std::fs::write(dir.join("car.toml"), config.replace("pwmchip0", "pwmchip9")).unwrap();
    let out = run(&dir, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("pwmchip9") && stderr.contains("no such PWM chip"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
