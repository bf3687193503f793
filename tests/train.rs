//! End-to-end tests of `paddock train` and `paddock eval`: real training runs on the real
//! simulator, real processes killed with SIGKILL, real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn paddock(args: &[&str]) -> Output {
    ensure_trainer();
    Command::new(env!("CARGO_BIN_EXE_paddock")).args(args).output().expect("run paddock")
}

/// `paddock train` hands over to `paddock-train` beside it: `cargo test --workspace` builds it
/// (the trainer's own tests need it), a lone `cargo test --test train` builds it here.
fn ensure_trainer() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let bin = Path::new(env!("CARGO_BIN_EXE_paddock")).with_file_name("paddock-train");
        if !bin.exists() {
            let status = Command::new(env!("CARGO")).args(["build", "-p", "paddock-trainer", "--bin", "paddock-train"]).status().expect("run cargo");
            assert!(status.success(), "building paddock-train failed");
        }
    });
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("paddock-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A small lidar PPO run on the oval: five discrete actions, the progress reward.
fn lidar_oval_config(dir: &Path, stop: &str) -> PathBuf {
    let config = format!(
        r#"
track = "oval"
reward_function = "progress"
seed = 3
[env]
observation = "lidar"
start_jitter_m = 0.05
[[env.action_space]]
steering_angle = -30.0
speed = 1.5
[[env.action_space]]
steering_angle = -15.0
speed = 2.0
[[env.action_space]]
steering_angle = 0.0
speed = 2.5
[[env.action_space]]
steering_angle = 15.0
speed = 2.0
[[env.action_space]]
steering_angle = 30.0
speed = 1.5
[hyperparameters]
batch_size = 256
num_epochs = 4
discount_factor = 0.99
num_episodes_between_training = 16
[stop]
{stop}
"#
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, config).expect("write config");
    path
}

fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .expect("metrics.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each metrics line is JSON"))
        .collect()
}

#[test]
fn training_on_the_oval_learns_to_lap_and_eval_confirms_it() {
    let dir = temp_dir("learn");
    let config = lidar_oval_config(&dir, "wall_time_minutes = 10.0\ncompletion_rate = 0.6\neval_laps = 3");
    let run = dir.join("run");
    let o = paddock(&["train", "--config", config.to_str().unwrap(), "--out", run.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("clean laps in a row"), "training should stop on its lap check:\n{}", text(&o));
    for file in ["config.toml", "metrics.jsonl", "simtrace.csv", "model.safetensors"] {
        assert!(run.join(file).is_file(), "{file} missing from the run folder");
    }
    let m = metrics(&run);
    let first = &m[0];
    let last = m.last().unwrap();
    assert!(last["mean_progress"].as_f64().unwrap() > 2.0 * first["mean_progress"].as_f64().unwrap(), "progress did not grow: {first} -> {last}");
    // The workers' log-probabilities (policy crate) and the trainer's (tch) agree.
    for line in &m[..m.len() - 1] {
        assert!(line["train"]["logp_mismatch"].as_f64().unwrap() < 1e-4, "{line}");
    }
    let trace = std::fs::read_to_string(run.join("simtrace.csv")).unwrap();
    assert!(trace.starts_with("episode,steps,x,y,heading,steering_angle,speed,action,reward,done,all_wheels_on_track,progress"));
    assert!(trace.contains("lap_complete"));

    let png = dir.join("eval.png");
    let o = paddock(&["eval", run.to_str().unwrap(), "--laps", "3", "--json", "--png", png.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("eval --json prints JSON");
    assert_eq!(report["completed_laps"], 3, "{report}");
    let ratio = report["best_lap_ratio"].as_f64().unwrap();
    assert!(ratio > 1.0 && ratio < 3.0, "best lap / minimum lap time = {ratio}");
    assert!(png.metadata().unwrap().len() > 1000);

    // Human-readable form, on a model file with an explicit track.
    let o = paddock(&["eval", run.join("model.safetensors").to_str().unwrap(), "--track", "oval", "--laps", "1"]);
    assert!(text(&o).contains("lap 1:") && text(&o).contains("x the minimum lap time"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sandboxed_process_workers_learn_to_lap_through_a_worker_crash() {
    let dir = temp_dir("process");
    let config = lidar_oval_config(&dir, "wall_time_minutes = 10.0\ncompletion_rate = 0.6\neval_laps = 3\n[workers]\nbackend = \"process\"");
    let run = dir.join("run");
    // The worker binary from the same build (cargo test --workspace builds it for its own tests).
    let worker = Path::new(env!("CARGO_BIN_EXE_paddock")).with_file_name("paddock-worker");
    if !worker.exists() {
        assert!(Command::new(env!("CARGO")).args(["build", "-p", "paddock-sandbox"]).status().unwrap().success());
    }
    // Worker 1 aborts on its third rollout (the children inherit this variable).
    ensure_trainer();
    let o = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["train", "--config", config.to_str().unwrap(), "--out", run.to_str().unwrap(), "--quiet"])
        .env("PADDOCK_WORKER_FAULT", "crash:1:3")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("clean laps in a row"), "{}", text(&o));
    assert!(text(&o).contains("its rollout is asked again"), "the crash is reported: {}", text(&o));
    let m = metrics(&run);
    let incidents: Vec<&serde_json::Value> = m.iter().filter(|l| !l["worker_incidents"].as_array().unwrap().is_empty()).collect();
    assert!(!incidents.is_empty() && incidents[0]["iteration"] == 3, "{incidents:?}");
    // No rollout counted twice or lost: the counters add up iteration by iteration.
    for pair in m.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!(b["env_steps"].as_u64().unwrap(), a["env_steps"].as_u64().unwrap() + b["iteration_steps"].as_u64().unwrap());
        assert_eq!(b["episodes"].as_u64().unwrap(), a["episodes"].as_u64().unwrap() + b["iteration_episodes"].as_u64().unwrap());
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Network namespaces `paddock-h{pid}-{i}` joined to this one by veth pairs (10.211.i.0/24),
/// removed (with whatever runs in them) when dropped.
struct Hosts {
    names: Vec<String>,
    workers: Vec<std::process::Child>,
}

impl Hosts {
    fn ip(args: &str) {
        let out = Command::new("ip").args(args.split(' ')).output().expect("run ip (iproute2)");
        assert!(out.status.success(), "ip {args}: {} (this test needs root for network namespaces)", String::from_utf8_lossy(&out.stderr));
    }

    fn start(n: usize, worker: &Path, token: &str) -> Hosts {
        let mut hosts = Hosts { names: Vec::new(), workers: Vec::new() };
        for i in 0..n {
            let ns = format!("paddock-h{}-{i}", std::process::id() % 10_000);
            let (host_if, ns_if) = (format!("ph{}a{i}", std::process::id() % 10_000), format!("ph{}b{i}", std::process::id() % 10_000));
            Hosts::ip(&format!("netns add {ns}"));
            hosts.names.push(ns.clone());
            Hosts::ip(&format!("link add {host_if} type veth peer name {ns_if}"));
            Hosts::ip(&format!("link set {ns_if} netns {ns}"));
            Hosts::ip(&format!("addr add 10.211.{i}.1/24 dev {host_if}"));
            Hosts::ip(&format!("link set {host_if} up"));
            Hosts::ip(&format!("netns exec {ns} ip addr add 10.211.{i}.2/24 dev {ns_if}"));
            Hosts::ip(&format!("netns exec {ns} ip link set {ns_if} up"));
            let child = Command::new("ip")
                .args(["netns", "exec", &ns, worker.to_str().unwrap(), "serve", "--listen", &format!("10.211.{i}.2:50051")])
                .env("PADDOCK_WORKER_TOKEN", token)
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            hosts.workers.push(child);
        }
        hosts
    }

    /// Pulls host `i`'s cable: its link goes down, its connections hang.
    fn cut(&self, i: usize) {
        Hosts::ip(&format!("link set ph{}a{i} down", std::process::id() % 10_000));
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        for (i, ns) in self.names.iter().enumerate() {
            let _ = Command::new("ip").args(["link", "del", &format!("ph{}a{i}", std::process::id() % 10_000)]).output();
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

#[test]
fn training_on_three_remote_hosts_finishes_when_one_is_cut_off() {
    let dir = temp_dir("hosts");
    let worker = Path::new(env!("CARGO_BIN_EXE_paddock")).with_file_name("paddock-worker");
    if !worker.exists() {
        assert!(Command::new(env!("CARGO")).args(["build", "-p", "paddock-sandbox"]).status().unwrap().success());
    }
    let hosts = Hosts::start(3, &worker, "class-of-2026");
    let remote = "[workers]\nbackend = \"remote\"\ncount = 3\ndeadline_s = 3.0\nremote = [\"10.211.0.2:50051\", \"10.211.1.2:50051\", \"10.211.2.2:50051\"]";
    let config = lidar_oval_config(&dir, &format!("iterations = 8\n{remote}"));
    let run = dir.join("run");
    // The workers take a moment to listen.
    std::thread::sleep(Duration::from_millis(500));
    ensure_trainer();
    let mut child = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["train", "--config", config.to_str().unwrap(), "--out", run.to_str().unwrap(), "--quiet"])
        .env("PADDOCK_WORKER_TOKEN", "class-of-2026")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::read_to_string(run.join("metrics.jsonl")).map(|t| t.lines().count()).unwrap_or(0) < 2 {
        assert!(started.elapsed() < Duration::from_secs(120), "training never got going");
        assert!(child.try_wait().unwrap().is_none(), "training ended early: {}", text(&child.wait_with_output().unwrap()));
        std::thread::sleep(Duration::from_millis(20));
    }
    hosts.cut(2);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let m = metrics(&run);
    assert_eq!(m.iter().map(|l| l["iteration"].as_u64().unwrap()).collect::<Vec<_>>(), (1..=8).collect::<Vec<u64>>());
    let said: Vec<String> = m.iter().flat_map(|l| l["worker_incidents"].as_array().unwrap().iter().map(|i| i.as_str().unwrap().to_string())).collect();
    assert!(said.iter().any(|i| i.starts_with("worker 2:")), "{said:?}");
    assert!(said.iter().any(|i| i.contains("did its rollout")), "a healthy host did the cut one's share: {said:?}");
    // Every step of every iteration's rollouts is in the simtrace exactly once.
    let trace = std::fs::read_to_string(run.join("simtrace.csv")).unwrap();
    for line in &m {
        let it = line["iteration"].as_u64().unwrap().to_string();
        let rows = trace.lines().skip(1).filter(|l| l.rsplit(',').nth(1) == Some(it.as_str())).count() as u64;
        assert_eq!(rows, line["iteration_steps"].as_u64().unwrap(), "iteration {it}");
    }
    drop(hosts);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_deepracer_python_reward_function_trains_a_policy_in_sandboxed_workers() {
    let dir = temp_dir("python");
    let reward = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rewards/follow_centre_line.py");
    let config = lidar_oval_config(&dir, "wall_time_minutes = 10.0\ncompletion_rate = 0.6\neval_laps = 3\n[workers]\nbackend = \"process\"");
    let with_python = std::fs::read_to_string(&config).unwrap().replace("reward_function = \"progress\"", &format!("reward_function = {reward:?}"));
    std::fs::write(&config, with_python).unwrap();
    let run = dir.join("run");
    let o = paddock(&["train", "--config", config.to_str().unwrap(), "--out", run.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("clean laps in a row"), "{}", text(&o));
    assert!(std::fs::read_to_string(run.join("config.toml")).unwrap().contains("follow_centre_line.py"));
    // A reward file that isn't there is refused before any work.
    let missing = std::fs::read_to_string(&config).unwrap().replace(reward, "/nonexistent/reward.py");
    std::fs::write(&config, missing).unwrap();
    let o = paddock(&["train", "--config", config.to_str().unwrap(), "--out", dir.join("run2").to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("/nonexistent/reward.py"), "{}", text(&o));
    assert!(!dir.join("run2").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_run_killed_with_sigkill_resumes_from_its_last_checkpoint() {
    let dir = temp_dir("resume");
    let config = lidar_oval_config(&dir, "iterations = 12");
    let run = dir.join("run");
    ensure_trainer();
    let mut child = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["train", "--config", config.to_str().unwrap(), "--out", run.to_str().unwrap(), "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start training");
    let started = Instant::now();
    // Kill it mid-run, once a few iterations are logged.
    loop {
        let done = std::fs::read_to_string(run.join("metrics.jsonl")).map(|t| t.lines().count()).unwrap_or(0);
        if done >= 4 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "training never got going");
        assert!(child.try_wait().unwrap().is_none(), "training ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let before = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap().lines().count();
    // What a kill in the middle of a write leaves: half lines, without their newline.
    use std::io::Write;
    let append = |file: &str, text: &str| std::fs::OpenOptions::new().append(true).open(run.join(file)).unwrap().write_all(text.as_bytes()).unwrap();
    append("metrics.jsonl", r#"{"iteration": 2, "env_st"#);
    append("simtrace.csv", "7,3,0.1234,0.5,12.0,-30.00,1.500,\"[0.10, 1");

    let o = paddock(&["train", "--resume", run.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    let m = metrics(&run);
    let iterations: Vec<u64> = m.iter().map(|l| l["iteration"].as_u64().unwrap()).collect();
    assert_eq!(iterations, (1..=12).collect::<Vec<u64>>(), "every iteration logged once, in order");
    // Steps and episodes count on from the checkpoint, without a gap or a double count.
    for pair in m.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!(b["env_steps"].as_u64().unwrap(), a["env_steps"].as_u64().unwrap() + b["iteration_steps"].as_u64().unwrap());
        assert_eq!(b["episodes"].as_u64().unwrap(), a["episodes"].as_u64().unwrap() + b["iteration_episodes"].as_u64().unwrap());
    }
    // Only the iteration in flight may be lost: at most one line beyond the checkpoint.
    assert!(before >= 4);
    let trace = std::fs::read_to_string(run.join("simtrace.csv")).unwrap();
    let header = trace.lines().next().unwrap();
    assert_eq!(trace.lines().filter(|l| *l == header).count(), 1, "one header after resuming");
    let last_iteration: Vec<u64> = trace.lines().skip(1).map(|l| l.rsplit(',').nth(1).unwrap().parse().unwrap()).collect();
    assert!(last_iteration.windows(2).all(|w| w[0] <= w[1]), "simtrace rows stay in iteration order");
    assert_eq!(*last_iteration.last().unwrap(), 12);

    // Resuming a finished run trains no further.
    let o = paddock(&["train", "--resume", run.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(metrics(&run).len(), 12, "a finished run stays finished");

    // A finished run's folder is not trained over by accident.
    let o = paddock(&["train", "--config", config.to_str().unwrap(), "--out", run.to_str().unwrap()]);
    assert!(!o.status.success() && text(&o).contains("--resume"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_is_refused_before_any_work() {
    let dir = temp_dir("bad");
    let run = dir.join("run");
    let cases = [
        ("[hyperparameters]\nlearning_rate = 0.1\n", "learning_rate"),
        ("[hyperparameters]\nbatch_size = 1\n", "batch_size"),
        ("track = \"/nonexistent/track.json\"\n", "/nonexistent/track.json"),
        ("[env]\nobservation = \"sonar\"\n", "sonar"),
    ];
    for (config, named) in cases {
        let path = dir.join("bad.toml");
        std::fs::write(&path, config).unwrap();
        let o = paddock(&["train", "--config", path.to_str().unwrap(), "--out", run.to_str().unwrap()]);
        assert!(!o.status.success(), "accepted:\n{config}");
        assert!(text(&o).contains(named), "the error should name '{named}':\n{}", text(&o));
        assert!(!run.exists(), "no run folder is made for a bad config");
    }
    // A model file from another format version.
    let model = dir.join("future.safetensors");
    let header = r#"{"__metadata__":{"paddock":"{\"format\":\"paddock-policy\",\"format_version\":99}"}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    std::fs::write(&model, bytes).unwrap();
    let o = paddock(&["eval", model.to_str().unwrap(), "--track", "oval"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("version 99") && text(&o).contains("reads version 1"), "{}", text(&o));
    // A truncated one.
    std::fs::write(&model, [1u8, 2, 3]).unwrap();
    let o = paddock(&["eval", model.to_str().unwrap(), "--track", "oval"]);
    assert!(!o.status.success() && text(&o).contains("future.safetensors"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn export_writes_both_layouts_and_configs_take_deepracer_action_spaces() {
    let dir = temp_dir("export");
    // A DeepRacer model_metadata.json, as the console writes it (with index keys).
    std::fs::write(
        dir.join("model_metadata.json"),
        r#"{"action_space": [{"steering_angle": -20, "speed": 1.0, "index": 0},
            {"steering_angle": 0, "speed": 2.0, "index": 1}, {"steering_angle": 20, "speed": 1.0, "index": 2}],
            "sensor": ["FRONT_FACING_CAMERA"], "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
            "training_algorithm": "clipped_ppo", "action_space_type": "discrete", "version": "5"}"#,
    )
    .unwrap();
    let config = dir.join("camera.toml");
    std::fs::write(
        &config,
        "track = \"oval\"\naction_space_from = \"model_metadata.json\"\n[env]\nobservation = \"camera\"\n\
         [hyperparameters]\nbatch_size = 32\nnum_epochs = 1\nnum_episodes_between_training = 1\nmax_steps_per_iteration = 16\n\
         [workers]\ncount = 1\nenvs_per_worker = 2\n[stop]\niterations = 1\n",
    )
    .unwrap();
    let run = dir.join("run");
    let o = paddock(&["train", "--config", config.to_str().unwrap(), "--out", run.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    let resolved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert_eq!(resolved.matches("[[env.action_space]]").count(), 3, "the imported action space is written out:\n{resolved}");
    assert!(!resolved.contains("action_space_from"));

    let out = dir.join("deepracer");
    let o = paddock(&["export", run.to_str().unwrap(), "--out", out.to_str().unwrap(), "--format", "deepracer"]);
    assert!(o.status.success(), "{}", text(&o));
    let md: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("model_metadata.json")).unwrap()).unwrap();
    assert_eq!(md["neural_network"], "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW");
    assert_eq!(md["sensor"][0], "FRONT_FACING_CAMERA");
    assert_eq!(md["action_space"][1]["speed"], 2.0);
    assert_eq!(md["action_space"][2]["index"], 2);
    assert_eq!(std::fs::read(out.join("model.safetensors")).unwrap(), std::fs::read(run.join("model.safetensors")).unwrap());

    let portable = dir.join("portable");
    let o = paddock(&["export", run.to_str().unwrap(), "--out", portable.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(portable.join("model.json")).unwrap()).unwrap();
    assert_eq!(meta["format"], "paddock-policy");
    assert_eq!(meta["network"]["type"], "shallow");

    // ONNX (the graph itself is checked against the policy in paddock-policy's tests).
    let onnx_dir = dir.join("onnx");
    let o = paddock(&["export", run.to_str().unwrap(), "--out", onnx_dir.to_str().unwrap(), "--format", "onnx"]);
    assert!(o.status.success() && text(&o).contains("ONNX opset 13"), "{}", text(&o));
    let onnx = std::fs::read(onnx_dir.join("model.onnx")).unwrap();
    assert_eq!(onnx[..2], [0x08, 7], "a ModelProto starts with ir_version 7");
    assert!(onnx.windows(7).any(|w| w == b"paddock"));
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(onnx_dir.join("model.json")).unwrap()).unwrap();
    assert_eq!(meta["network"]["type"], "shallow");
    assert!(!onnx_dir.join("model.safetensors").exists() && !onnx_dir.join("model.tmp").exists());

    // A corrupt model is refused and nothing is written.
    let broken = dir.join("broken.safetensors");
    std::fs::write(&broken, b"not a model").unwrap();
    let nowhere = dir.join("nowhere");
    let o = paddock(&["export", broken.to_str().unwrap(), "--out", nowhere.to_str().unwrap(), "--format", "deepracer"]);
    assert!(!o.status.success() && text(&o).contains("broken.safetensors"), "{}", text(&o));
    assert!(!nowhere.exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn training_in_microvm_workers_learns_to_lap() {
    let dir = temp_dir("microvm");
    let config = lidar_oval_config(&dir, "wall_time_minutes = 10.0\ncompletion_rate = 0.6\neval_laps = 3\n[workers]\nbackend = \"microvm\"");
    let run = dir.join("run");
    let o = paddock(&["train", "--config", config.to_str().unwrap(), "--out", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("workers: 2 x microVM guest (Linux"), "{}", text(&o));
    assert!(text(&o).contains("clean laps in a row"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}
