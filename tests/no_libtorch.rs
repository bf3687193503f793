//! Every command that doesn't train runs without libtorch: `paddock` links no part of it, and
//! a copy of the binary in a folder without `paddock-train` tracks, simulates, evaluates,
//! exports and serves workers, and says clearly what training needs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use paddock_policy::model::{random_tensors, save, ObservationSpec, Preprocessing, Sensor};
use paddock_policy::{Head, ModelMetadata, Network};
use rand::SeedableRng;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("paddock-nolibtorch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `paddock` alone in a folder, run with no library path and no LIBTORCH.
fn run(binary: &Path, args: &[&str]) -> Output {
    Command::new(binary)
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("LIBTORCH")
        .env_remove("PADDOCK_TRAIN_BIN")
        .env_remove("PADDOCK_GUI_BIN")
        .output()
        .expect("run paddock")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn paddock_links_no_libtorch() {
    let o = Command::new("ldd").arg(env!("CARGO_BIN_EXE_paddock")).output().expect("ldd");
    let libs = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && libs.contains("libc.so"), "ldd: {libs}");
    for lib in ["torch", "c10", "libgomp"] {
        assert!(!libs.contains(lib), "paddock needs {lib}:\n{libs}");
    }
}

#[test]
fn the_crates_for_evaluation_races_and_the_gui_depend_on_no_tch() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for package in ["paddock", "paddock-eval", "paddock-run", "paddock-sandbox", "paddock-car", "paddock-race", "paddock-gui"] {
        let o = Command::new(&cargo)
            .args(["tree", "--offline", "--edges", "normal,build", "--prefix", "none", "-p", package])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo tree");
        let tree = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "cargo tree -p {package}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(tree.lines().any(|l| l.starts_with("paddock-policy")), "{package}'s tree looks wrong:\n{tree}");
        assert!(!tree.lines().any(|l| l.starts_with("tch") || l.starts_with("torch-sys")), "{package} depends on tch:\n{tree}");
    }
}

#[test]
fn every_command_but_training_runs_without_the_trainer() {
    let dir = temp_dir("commands");
    let binary = dir.join("paddock");
    std::fs::copy(env!("CARGO_BIN_EXE_paddock"), &binary).expect("copy paddock");

    let o = run(&binary, &["tracks", "list"]);
    assert!(o.status.success() && text(&o).contains("circuit"), "{}", text(&o));
    let o = run(&binary, &["tracks", "info", "oval", "--json"]);
    assert!(o.status.success() && text(&o).contains("min_lap_time_s"), "{}", text(&o));
    let frame = dir.join("frame.png");
    let o = run(&binary, &["sim", "render", "--track", "oval", "--out", frame.to_str().expect("utf8")]);
    assert!(o.status.success() && frame.is_file(), "{}", text(&o));
    let o = run(&binary, &["bench", "sim", "--observations", "lidar", "--envs", "2", "--seconds", "0.2", "--json"]);
    assert!(o.status.success() && text(&o).contains("steps_per_s"), "{}", text(&o));

    // A lidar model to evaluate and export.
    let meta = ModelMetadata::new(
        Network::Mlp { hidden: vec![16] },
        Head::Categorical,
        ObservationSpec { sensor: Sensor::Lidar, shape: vec![64], preprocessing: Preprocessing::LIDAR },
        paddock_vehicle::action::ActionSpace::deepracer_default_discrete(),
    );
    let model = dir.join("model.safetensors");
    save(&model, &meta, &random_tensors(&meta, &mut rand_pcg::Pcg64::seed_from_u64(3)).expect("tensors")).expect("save");
    let model = model.to_str().expect("utf8");
    let o = run(&binary, &["eval", model, "--track", "oval", "--laps", "1", "--max-resets", "1", "--json"]);
    assert!(o.status.success() && text(&o).contains("min_lap_time_s"), "{}", text(&o));
    let exported = dir.join("exported");
    let o = run(&binary, &["export", model, "--out", exported.to_str().expect("utf8"), "--format", "onnx"]);
    assert!(o.status.success() && exported.join("model.onnx").is_file(), "{}", text(&o));

    // A worker that starts serves until stopped; one that can't load a library exits at once.
    let mut worker = Command::new(&binary)
        .args(["worker", "serve", "--listen", "127.0.0.1:0", "--insecure"])
        .env_remove("LD_LIBRARY_PATH")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the worker");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        assert!(worker.try_wait().expect("wait").is_none(), "paddock worker serve exited: {}", text(&worker.wait_with_output().expect("output")));
        std::thread::sleep(Duration::from_millis(100));
    }
    worker.kill().ok();
    worker.wait().ok();

    // Training says what it needs instead of failing to load a library.
    let o = run(&binary, &["train", "--config", "examples/lidar-circuit.toml"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("paddock-train") && text(&o).contains("libtorch"), "{}", text(&o));
    // So does the desktop simulator, which is its own binary.
    let o = run(&binary, &["gui", "drive", "--track", "oval"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("paddock-gui") && text(&o).contains("setup-gui"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}
