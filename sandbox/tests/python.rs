//! DeepRacer reward functions in Python (`examples/rewards/*.py`), run unchanged through pyo3,
//! against the same logic in Rust on the same simulated drive; and hostile reward functions,
//! run in sandboxed workers, each stopped with a message that names the file and the step.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use paddock_sandbox::python::PythonRewardFile;
use paddock_sandbox::CgroupLimits;
use paddock_sandbox::{Endpoint, GrpcWorkers, Mode, PythonSource, RolloutRequest, WorkerSpec, Workers};
use paddock_sim::reward::follow_centre_line;
use paddock_sim::{Action, Env, EnvConfig, RewardFunction, RewardParams, Sensor, SimError, Start, TrackScene};
use paddock_tracks::Track;
use rand::{Rng, SeedableRng};

fn example(name: &str) -> (String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rewards").join(name);
    (path.display().to_string(), std::fs::read_to_string(&path).unwrap())
}

type RustLogic = fn(&RewardParams) -> f32;

struct Rust(RustLogic);

impl RewardFunction for Rust {
    fn reward(&mut self, p: &RewardParams) -> Result<f32, SimError> {
        Ok((self.0)(p))
    }
}

fn inside_borders(p: &RewardParams) -> f32 {
    if p.all_wheels_on_track && 0.5 * p.track_width - p.distance_from_center >= 0.05 {
        1.0
    } else {
        1e-3
    }
}

fn no_zig_zag(p: &RewardParams) -> f32 {
    follow_centre_line(p) * if p.steering_angle.abs() > 15.0 { 0.8 } else { 1.0 }
}

fn waypoint_heading(p: &RewardParams) -> f32 {
    let (next, prev) = (p.waypoints[p.closest_waypoints[1]], p.waypoints[p.closest_waypoints[0]]);
    let direction = ((next.1 - prev.1) as f64).atan2((next.0 - prev.0) as f64).to_degrees();
    let mut diff = (direction - p.heading as f64).abs();
    if diff > 180.0 {
        diff = 360.0 - diff;
    }
    if diff > 10.0 {
        0.5
    } else {
        1.0
    }
}

fn speed(p: &RewardParams) -> f32 {
    if p.is_offtrack || !p.all_wheels_on_track {
        return 1e-3;
    }
    let mut r = (p.speed as f64 / 4.0).powi(2);
    if p.steps > 0 && p.progress as f64 / p.steps as f64 > 0.5 {
        r += 0.5;
    }
    r as f32
}

/// Drives two identical envs with the same random actions, one rewarded by Python and one by
/// Rust, and returns both reward sequences.
fn drive(python: Box<dyn RewardFunction>, rust: Box<dyn RewardFunction>) -> (Vec<f32>, Vec<f32>) {
    let config = Arc::new(EnvConfig { observation: Sensor::State, ..Default::default() });
    let scene = Arc::new(TrackScene::new(Track::resolve("circuit").unwrap()));
    let mut a = Env::new(config.clone(), scene.clone(), python, 3).unwrap();
    let mut b = Env::new(config.clone(), scene, rust, 3).unwrap();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(9);
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    for episode in 0..6u64 {
        let start = Start::At { progress: 15.0 * episode as f64, lateral_m: 0.0, heading_offset_rad: 0.0 };
        a.reset(episode, start);
        b.reset(episode, start);
        for _ in 0..80 {
            let action = Action::Discrete(rng.random_range(0..config.action_space.len()));
            let (x, y) = (a.step(action).unwrap(), b.step(action).unwrap());
            ra.push(x.reward);
            rb.push(y.reward);
            if x.status.is_done() {
                break;
            }
        }
    }
    (ra, rb)
}

#[test]
fn deepracer_reward_functions_in_python_give_the_rewards_the_same_logic_gives_in_rust() {
    let cases: [(&str, RustLogic); 5] = [
        ("follow_centre_line.py", follow_centre_line),
        ("stay_inside_borders.py", inside_borders),
        ("prevent_zig_zag.py", no_zig_zag),
        ("waypoint_heading.py", waypoint_heading),
        ("speed.py", speed),
    ];
    for (name, rust) in cases {
        let (file, code) = example(name);
        let loaded = PythonRewardFile::load(&file, &code, Duration::from_secs(1)).unwrap();
        let (py, rs) = drive(loaded.instance(), Box::new(Rust(rust)));
        assert!(py.len() > 200, "{name}: {} steps", py.len());
        for (i, (p, r)) in py.iter().zip(&rs).enumerate() {
            assert!((p - r).abs() < 1e-5, "{name}, step {i}: Python {p}, Rust {r}");
        }
        let distinct: std::collections::BTreeSet<u32> = py.iter().map(|v| v.to_bits()).collect();
        assert!(distinct.len() > 1, "{name}: the drive should meet more than one reward");
    }
}

fn hostile(name: &str, body: &str) -> PythonSource {
    PythonSource { file: format!("/home/student/{name}.py"), code: format!("def reward_function(params):\n{body}\n"), deadline_ms: 300 }
}

fn limited_worker(source: PythonSource, cgroup: Option<CgroupLimits>) -> Result<GrpcWorkers, String> {
    let spec = WorkerSpec {
        env: EnvConfig { observation: Sensor::Lidar, ..Default::default() },
        track_json: Track::resolve("oval").unwrap().to_json_string(),
        reward_function: source.file.clone(),
        reward_python: Some(source),
        envs: 2,
        seed: 1,
    };
    let endpoint = Endpoint::Process { binary: PathBuf::from(env!("CARGO_BIN_EXE_paddock-worker")), sandbox: true, env: Vec::new(), cgroup };
    GrpcWorkers::new(&spec, vec![endpoint], None, Duration::from_secs(20)).map_err(|e| e.to_string())
}

fn model() -> Arc<Vec<u8>> {
    use paddock_policy::model::{random_tensors, to_bytes, ObservationSpec, Preprocessing, Sensor};
    use paddock_policy::{Head, ModelMetadata, Network};
    let meta = ModelMetadata::new(
        Network::Mlp { hidden: vec![16] },
        Head::Categorical,
        ObservationSpec { sensor: Sensor::Lidar, shape: vec![64], preprocessing: Preprocessing::LIDAR },
        EnvConfig::default().action_space,
    );
    Arc::new(to_bytes(&meta, &random_tensors(&meta, &mut rand_pcg::Pcg64::seed_from_u64(1)).unwrap()).unwrap())
}

/// Runs one rollout with the hostile function; returns the error the trainer sees.
fn run_hostile(source: PythonSource) -> String {
    run_limited(source, None)
}

fn run_limited(source: PythonSource, cgroup: Option<CgroupLimits>) -> String {
    let mut workers = match limited_worker(source, cgroup) {
        Ok(w) => w,
        Err(e) => return e,
    };
    workers.publish(1, model()).unwrap();
    let request = RolloutRequest { policy_version: 1, min_episodes: 1, max_steps: 30, mode: Mode::Sample, trace: false };
    match workers.collect(&request) {
        Ok(_) => format!("no error; incidents {:?}", workers.take_incidents()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn hostile_reward_functions_are_stopped_with_the_file_and_the_step() {
    let cases = [
        ("loop", "    while True:\n        pass", "took longer than 300 ms"),
        ("shadow", "    return float(len(open('/etc/shadow').read()))", "PermissionError"),
        ("home", "    import os\n    return float(len(os.listdir('/root')) + len(os.listdir('/home')) + 1) if len(os.listdir('/root')) + len(os.listdir('/home')) > 0 else None", "got NoneType"),
        ("write", "    open('/etc/paddock-was-here', 'w').write('x')\n    return 1.0", "Error"),
        ("socket", "    import socket\n    socket.create_connection(('127.0.0.1', 22), timeout=1)\n    return 1.0", "PermissionError"),
        ("fork", "    import os\n    while True:\n        os.fork()", "PermissionError"),
        ("memory", "    x = bytearray(10 * 1024 ** 3)\n    return 1.0", "MemoryError"),
        ("nan", "    return float('nan')", "returned NaN"),
        ("huge", "    return 1e300", "not a finite 32-bit number"),
        ("swallow", "    try:\n        while True:\n            pass\n    except Exception:\n        return 1.0", "took longer than 300 ms"),
        ("string", "    return 'fast'", "got str"),
        ("nothing", "    pass", "got NoneType"),
        ("sleep", "    import time\n    time.sleep(60)\n    return 1.0", "could not be stopped"),
    ];
    for (name, body, says) in cases {
        let e = run_hostile(hostile(name, body));
        assert!(e.contains(&format!("/home/student/{name}.py")) && e.contains("step"), "{name}: the message names the file and the step: {e}");
        assert!(e.contains(says), "{name}: expected '{says}' in: {e}");
    }
    assert!(!Path::new("/etc/paddock-was-here").exists());
    // A file that doesn't define reward_function is refused at setup.
    let e = run_hostile(PythonSource { file: "/home/student/empty.py".into(), code: "x = 1\n".into(), deadline_ms: 300 });
    assert!(e.contains("defines no reward_function"), "{e}");
    let e = run_hostile(PythonSource { file: "/home/student/syntax.py".into(), code: "def reward_function(params)\n  return 1\n".into(), deadline_ms: 300 });
    assert!(e.contains("SyntaxError") && e.contains("syntax.py"), "{e}");
}

#[test]
fn cgroup_limits_stop_memory_and_thread_hogs_that_rlimits_let_through() {
    // 600 MB is well inside the sandbox's 4 GB address-space rlimit; the cgroup's 256 MB stops it.
    let hog = PythonSource { deadline_ms: 10_000, ..hostile("hog", "    x = b'x' * (600 << 20)\n    return float(len(x))") };
    let limits = CgroupLimits { memory_bytes: Some(256 << 20), cpu_cores: Some(1.0), pids: Some(64) };
    let e = run_limited(hog, Some(limits));
    assert!(e.contains("killed for going over its 256 MB memory limit (cgroup)"), "{e}");
    // Threads are tasks too: a thread bomb meets the pids limit and Python says so.
    let bomb = hostile(
        "threads",
        "    import threading, time\n    for _ in range(1000):\n        threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n    return 1.0",
    );
    let e = run_limited(bomb, Some(limits));
    assert!(e.contains("/home/student/threads.py") && e.contains("can't start new thread"), "{e}");
    // Without the cgroup the same 600 MB goes through.
    let e = run_limited(
        PythonSource {
            deadline_ms: 10_000,
            ..hostile("hog", "    import builtins\n    if not hasattr(builtins, 'hog'):\n        builtins.hog = b'x' * (600 << 20)\n    return 1.0")
        },
        None,
    );
    assert!(e.starts_with("no error"), "{e}");
}
