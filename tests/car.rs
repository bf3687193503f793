//! The car binary in the simulator's loop: a camera model trained here drives `paddock-car`,
//! which gets rendered 640x480 frames and writes pulses to a sysfs-shaped PWM folder that steer
//! the simulated car. It must drive the laps `paddock eval` drives, in about the same time.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn paddock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paddock")).args(args).output().expect("run paddock")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `paddock-car` from the same build; `cargo test --workspace` builds it (its own tests need it),
/// and a lone `cargo test --test car` builds it here.
fn car_binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_paddock")).with_file_name("paddock-car");
    if !bin.exists() {
        let status = Command::new(env!("CARGO")).args(["build", "-p", "paddock-car"]).status().expect("run cargo");
        assert!(status.success(), "building paddock-car failed");
    }
    assert!(bin.exists(), "no paddock-car at {}", bin.display());
    bin
}

fn laps(report: &serde_json::Value) -> Vec<(bool, f64, u64)> {
    report["laps"]
        .as_array()
        .expect("laps")
        .iter()
        .map(|l| (l["completed"].as_bool().unwrap(), l["time_s"].as_f64().unwrap(), l["off_tracks"].as_u64().unwrap()))
        .collect()
}

#[test]
fn a_camera_model_drives_the_same_laps_through_paddock_car() {
    let dir = std::env::temp_dir().join(format!("paddock-car-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/camera-circuit.toml")).unwrap();
    let config = example.replace("track = \"circuit\"", "track = \"oval\"").replace("wall_time_minutes = 60.0", "wall_time_minutes = 15.0");
    std::fs::write(dir.join("camera-oval.toml"), config).unwrap();
    let run = dir.join("run");
    let o = paddock(&["train", "--config", dir.join("camera-oval.toml").to_str().unwrap(), "--out", run.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("clean laps in a row"), "the camera run must pass its lap check: {}", text(&o));

    let o = paddock(&["eval", run.to_str().unwrap(), "--laps", "2", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let sim: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let car = car_binary();
    let o = paddock(&["eval", run.to_str().unwrap(), "--laps", "2", "--json", "--through-car", car.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let through_car: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();

    let (a, b) = (laps(&sim), laps(&through_car));
    assert!(a.iter().all(|l| l.0), "paddock eval: {a:?}");
    assert!(b.iter().all(|l| l.0 && l.2 == 0), "through paddock-car every lap is completed cleanly: {b:?}");
    for ((_, ta, _), (_, tb, _)) in a.iter().zip(&b) {
        // The car sees the frame through the real camera's resolution and its own preprocessing,
        // and its commands through whole-microsecond pulses: close, not identical.
        assert!((ta - tb).abs() / ta < 0.1, "lap times {ta:.2} s (sim) and {tb:.2} s (through the car)");
    }
    // The text report names the binary and its latency.
    let o = paddock(&["eval", run.to_str().unwrap(), "--laps", "1", "--through-car", car.to_str().unwrap()]);
    assert!(text(&o).contains("frame in to pulse out"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}
