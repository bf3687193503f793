//! End-to-end tests of the `paddock` command: run the real binary, read what it prints and writes.

use std::path::PathBuf;
use std::process::{Command, Output};

fn paddock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paddock")).args(args).output().expect("run paddock")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn shared_tracks() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tracks");
    assert!(dir.is_dir(), "the DeepRacer test tracks are expected in {}", dir.display());
    dir
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("paddock-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn tracks_list_names_the_bundled_tracks() {
    let o = paddock(&["tracks", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for name in ["oval", "circuit", "technical", "random:SEED"] {
        assert!(out.contains(name), "{name} missing from:\n{out}");
    }
}

#[test]
fn tracks_info_gives_a_plausible_minimum_lap_time() {
    let o = paddock(&["tracks", "info", "circuit", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let length = info["length_m"].as_f64().expect("length");
    let lap = info["min_lap_time_s"].as_f64().expect("lap time");
    assert!((17.0..=25.0).contains(&length), "circuit is {length} m");
    // No lap beats driving the racing line at top speed all the way; corners cost time.
    let line = info["racing_line_length_m"].as_f64().expect("line length");
    assert!(lap > line / 4.0 * 1.05, "lap {lap} s on a {line} m line");
    assert!(lap < length / 1.0, "lap {lap} s is slower than 1 m/s");
}

#[test]
fn unknown_track_is_a_clear_error_listing_the_known_ones() {
    let o = paddock(&["tracks", "info", "monza"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("monza") && err.contains("circuit"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn importing_a_deepracer_route_writes_a_track_paddock_reads_back() {
    let dir = temp_dir("import");
    let out = dir.join("reinvent.json");
    let npy = shared_tracks().join("reinvent_base.npy");
    let o = paddock(&["tracks", "import", npy.to_str().expect("utf8"), "--out", out.to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = paddock(&["tracks", "info", out.to_str().expect("utf8"), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let length = info["length_m"].as_f64().expect("length");
    assert!((length - 17.7).abs() / 17.7 < 0.01, "re:Invent 2018 is about 17.7 m, got {length}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn importing_a_broken_file_says_what_is_wrong() {
    let dir = temp_dir("broken");
    let bad = dir.join("broken.npy");
    std::fs::write(&bad, b"\x93NUMPY this is not a route").expect("write");
    let o = paddock(&["tracks", "import", bad.to_str().expect("utf8")]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("broken.npy"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn sim_render_writes_the_cameras_frame_and_a_lidar_plot() {
    let dir = temp_dir("render");
    let frame = dir.join("frame.png");
    let o = paddock(&["sim", "render", "--track", "circuit", "--progress", "10", "--out", frame.to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let img = image::open(&frame).expect("png").to_luma8();
    assert_eq!((img.width(), img.height()), (160, 120));
    let lidar = dir.join("lidar.png");
    let o = paddock(&["sim", "render", "--track", "oval", "--sensor", "lidar", "--out", lidar.to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(image::open(&lidar).is_ok());
    let o = paddock(&["sim", "render", "--track", "oval", "--progress", "150", "--out", frame.to_str().expect("utf8")]);
    assert!(!o.status.success() && stderr(&o).contains("--progress 150"), "{}", stderr(&o));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_baseline_driver_laps_the_circuit_slower_than_the_minimum() {
    let o = paddock(&["sim", "drive", "--track", "circuit", "--speed", "2", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(r["status"], "lap_complete");
    let ratio = r["ratio_to_min"].as_f64().expect("ratio");
    assert!(ratio > 1.0 && ratio < 3.0, "lap at 2 m/s is {ratio} x the minimum");
}

#[test]
fn bench_sim_reports_steps_per_second_as_json() {
    let o = paddock(&["bench", "sim", "--seconds", "0.2", "--envs", "4", "--observations", "lidar,state", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let kinds = r.as_array().expect("one object per observation kind");
    assert_eq!(kinds.len(), 2);
    for k in kinds {
        assert!(k["steps_per_s"].as_f64().expect("steps_per_s") > 100.0, "{k}");
    }
}
