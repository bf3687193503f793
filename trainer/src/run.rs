//! The training loop and its run folder.
//!
//! ```text
//! RUN/config.toml        the resolved config (every default written out)
//! RUN/metrics.jsonl      one JSON object per iteration
//! RUN/simtrace.csv       DeepRacer's simtrace columns, one row per env step, + iteration, worker
//! RUN/checkpoints/N/     model.safetensors, trainer.safetensors, state.json; written as a
//!                        temporary folder and renamed, so a kill -9 leaves the last whole one
//! RUN/model.safetensors  the trained policy (the `policy` crate's format)
//! RUN/reward_function.py a Python reward's code as the run started; a resumed run reads this copy
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use paddock_policy::model::{self, ModelMetadata, ObservationSpec, Preprocessing, Sensor, Tensors, TrainingInfo};
use paddock_policy::{Head, Policy};
use paddock_sandbox::{Endpoint, GrpcWorkers, LocalWorkers, Mode, Rollout, RolloutRequest, WorkerSpec, Workers};
use paddock_sandbox::microvm::{Accel, Guest, MicroVmOptions};
use paddock_sim::{EpisodeStatus, ObservationKind};
use paddock_tracks::Track;
use serde::{Deserialize, Serialize};

use crate::config::{Algorithm, RunConfig, WorkerBackend, WorkerConfig};
use crate::eval::{evaluate, EvalOptions, EvalReport};
use crate::ppo::Ppo;
use crate::sac::Sac;
use crate::TrainError;

/// How to run `train`.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The run folder.
    pub out: PathBuf,
    /// Continue the run in `out` from its latest checkpoint (its own config.toml applies).
    pub resume: bool,
    /// Start from this model's weights (DeepRacer's "clone").
    pub from: Option<PathBuf>,
    /// Draw a progress bar (or, off a terminal, print a line per iteration).
    pub progress: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    pub run_dir: PathBuf,
    pub model: PathBuf,
    pub iterations: u64,
    pub env_steps: u64,
    pub episodes: u64,
    pub wall_time_s: f64,
    pub best_lap_s: Option<f64>,
    pub completion_rate: f64,
    pub stopped_because: String,
}

/// Counters that survive a resume.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RunState {
    iteration: u64,
    env_steps: u64,
    episodes: u64,
    laps: u64,
    wall_time_s: f64,
    best_lap_s: Option<f64>,
    /// Set once a stop condition that ends the run for good (the lap check) has fired.
    #[serde(default)]
    finished: Option<String>,
}

impl RunState {
    /// Records the run's progress in a model's training info.
    fn stamp(&self, info: &mut TrainingInfo) {
        info.iterations = self.iteration;
        info.env_steps = self.env_steps;
        info.episodes = self.episodes;
        info.wall_time_s = self.wall_time_s;
    }
}

enum Learner {
    Ppo(Box<Ppo>),
    Sac(Box<Sac>),
}

impl Learner {
    fn export(&self) -> Tensors {
        match self {
            Learner::Ppo(p) => p.export(),
            Learner::Sac(s) => s.export(),
        }
    }
    fn import(&mut self, t: &Tensors) -> Result<(), TrainError> {
        match self {
            Learner::Ppo(p) => p.import(t),
            Learner::Sac(s) => s.import(t),
        }
    }
    fn export_state(&self) -> Tensors {
        match self {
            Learner::Ppo(_) => Tensors::new(),
            Learner::Sac(s) => s.export_state(),
        }
    }
    fn import_state(&mut self, t: &Tensors) -> Result<(), TrainError> {
        match self {
            Learner::Ppo(_) => Ok(()),
            Learner::Sac(s) => s.import_state(t),
        }
    }
    /// Fresh random streams for a resumed run, so it does not replay the first run's.
    fn reseed(&mut self, seed: u64) {
        tch::manual_seed(seed as i64);
        if let Learner::Sac(s) = self {
            s.reseed(seed);
        }
    }
    fn update(&mut self, rollouts: &[Rollout]) -> Result<serde_json::Value, TrainError> {
        Ok(match self {
            Learner::Ppo(p) => serde_json::to_value(p.update(rollouts)?),
            Learner::Sac(s) => serde_json::to_value(s.update(rollouts)?),
        }
        .expect("stats serialise"))
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.display().to_string(), source }
}

/// Writes a file atomically: temporary file, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

/// The model metadata a config trains.
pub fn model_metadata(config: &RunConfig, track: &Track) -> ModelMetadata {
    let env = &config.env;
    let (sensor, preprocessing) = match env.observation {
        ObservationKind::Camera => (Sensor::Camera, Preprocessing::IMAGE),
        ObservationKind::Stereo => (Sensor::Stereo, Preprocessing::IMAGE),
        ObservationKind::Lidar => (Sensor::Lidar, Preprocessing::LIDAR),
        ObservationKind::State => (Sensor::State, Preprocessing::IDENTITY),
    };
    let head = Head::for_space(&env.action_space, config.algorithm == Algorithm::Sac);
    let observation = ObservationSpec { sensor, shape: env.observation.shape(&env.car), preprocessing };
    let mut meta = ModelMetadata::new(config.network(), head, observation, env.action_space.clone());
    meta.training = TrainingInfo {
        algorithm: config.algorithm.name().into(),
        track: track.description().to_string(),
        reward_function: config.reward_function.clone(),
        seed: config.seed,
        paddock_version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    };
    meta
}

/// The run folder's model file, or the file itself.
pub fn resolve_model_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("model.safetensors")
    } else {
        path.to_path_buf()
    }
}

const SIMTRACE_HEADER: &str = "episode,steps,x,y,heading,steering_angle,speed,action,reward,done,all_wheels_on_track,progress,closest_waypoint,track_len,tstamp,episode_status,pause_duration,iteration,worker";

/// Trains as `config` says, in `options.out`.
pub fn train(config: RunConfig, options: &TrainOptions) -> Result<TrainSummary, TrainError> {
    let dir = options.out.clone();
    let run_err = |message: String| TrainError::RunDir { path: dir.display().to_string(), message };
    let config_path = dir.join("config.toml");
    let config = if options.resume {
        if !config_path.exists() {
            return Err(run_err("has no config.toml to resume from".into()));
        }
        RunConfig::from_toml_file(&config_path)?
    } else {
        config.validate()?;
        if config_path.exists() {
            return Err(run_err("already holds a run; pass --resume to continue it, or choose another --out".into()));
        }
        config
    };
    // Everything that can fail on bad input fails here, before any work.
    let mut track = Track::resolve(&config.track)?;
    if config.reverse {
        track = track.reversed();
    }
    let mut meta = model_metadata(&config, &track);
    let from = match &options.from {
        Some(path) => {
            let path = resolve_model_path(path);
            let (m, tensors) = model::load(&path)?;
            if m.network != meta.network || m.observation != meta.observation || m.action_space != meta.action_space || m.head != meta.head {
                return Err(TrainError::Model(format!(
                    "{} was trained with another network, sensor or action space than this config; a clone must keep them",
                    path.display()
                )));
            }
            Some(tensors)
        }
        None => None,
    };
    fs::create_dir_all(dir.join("checkpoints")).map_err(io_err(&dir))?;
    let reward_copy = dir.join("reward_function.py");
    let reward_python = if options.resume && reward_copy.is_file() && config.reward_function.ends_with(".py") {
        // Edits to (or the loss of) the file since the run started don't change its reward.
        let code = fs::read_to_string(&reward_copy).map_err(io_err(&reward_copy))?;
        Some(paddock_sandbox::PythonSource { file: config.reward_function.clone(), code, deadline_ms: config.reward_deadline_ms })
    } else {
        config.reward_python()?
    };
    if !options.resume {
        if let Some(source) = &reward_python {
            write_atomic(&reward_copy, source.code.as_bytes())?;
        }
        write_atomic(&config_path, config.to_toml_string().as_bytes())?;
    }

    let device = crate::device();
    tch::manual_seed(config.seed as i64);
    let h = config.hyperparameters.clone();
    let mut learner = match config.algorithm {
        Algorithm::ClippedPpo => Learner::Ppo(Box::new(Ppo::new(meta.clone(), h.clone(), device)?)),
        Algorithm::Sac => Learner::Sac(Box::new(Sac::new(meta.clone(), h.clone(), device, config.seed)?)),
    };
    if let Some(tensors) = &from {
        learner.import(tensors)?;
    }
    let mut state = RunState::default();
    if options.resume {
        if let Some(checkpoint) = latest_checkpoint(&dir)? {
            let (_, tensors) = model::load(&checkpoint.join("model.safetensors"))?;
            learner.import(&tensors)?;
            let trainer_file = checkpoint.join("trainer.safetensors");
            let bytes = fs::read(&trainer_file).map_err(io_err(&trainer_file))?;
            learner.import_state(&model::tensors_from_bytes(&bytes, &trainer_file.display().to_string())?)?;
            let state_file = checkpoint.join("state.json");
            let text = fs::read_to_string(&state_file).map_err(io_err(&state_file))?;
            state = serde_json::from_str(&text).map_err(|e| run_err(format!("{}: {e}", state_file.display())))?;
            learner.reseed(paddock_sim::vec_env::split_seed(config.seed, state.iteration));
        }
        truncate_logs(&dir, state.iteration)?;
    }

    let spec = WorkerSpec {
        env: config.env.clone(),
        track_json: track.to_json_string(),
        reward_function: config.reward_function.clone(),
        reward_python,
        envs: config.workers.envs_per_worker,
        // A resumed run continues with fresh episodes rather than replaying old ones.
        seed: paddock_sim::vec_env::split_seed(config.seed, state.iteration),
    };
    let mut workers = start_workers(&config.workers, &spec)?;
    if options.progress {
        let isolation = workers.isolation();
        let mut kinds: Vec<&String> = isolation.iter().collect();
        kinds.dedup();
        for kind in kinds {
            eprintln!("workers: {} x {kind}", isolation.iter().filter(|i| *i == kind).count());
        }
    }

    let metrics_path = dir.join("metrics.jsonl");
    let mut metrics = BufWriter::new(OpenOptions::new().create(true).append(true).open(&metrics_path).map_err(io_err(&metrics_path))?);
    let simtrace_path = dir.join("simtrace.csv");
    let new_trace = fs::metadata(&simtrace_path).map(|m| m.len() == 0).unwrap_or(true);
    let mut simtrace = BufWriter::new(OpenOptions::new().create(true).append(true).open(&simtrace_path).map_err(io_err(&simtrace_path))?);
    if new_trace {
        writeln!(simtrace, "{SIMTRACE_HEADER}").map_err(io_err(&simtrace_path))?;
    }

    let bar = options.progress.then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("template"));
        bar.enable_steady_tick(std::time::Duration::from_millis(250));
        bar
    });
    let on_terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let wall_before = state.wall_time_s;
    let stop = &config.stop;
    let per_worker_episodes = h.num_episodes_between_training.div_ceil(config.workers.count);
    let track_len = track.length();
    let mut completion_rate = 0.0;
    let stopped_because;
    loop {
        // Checked before each iteration, so a resumed run that had already stopped stays stopped.
        if let Some(reason) = state.finished.clone().or_else(|| limit_reached(&state, stop)) {
            stopped_because = reason;
            break;
        }
        let iteration = state.iteration + 1;
        state.stamp(&mut meta.training);
        let model_bytes = Arc::new(model::to_bytes(&meta, &learner.export())?);
        let t0 = Instant::now();
        workers.publish(iteration, model_bytes.clone())?;
        let rollouts = workers.collect(&RolloutRequest {
            policy_version: iteration,
            min_episodes: per_worker_episodes,
            max_steps: h.max_steps_per_iteration,
            mode: Mode::Sample,
            trace: true,
        })?;
        let rollout_s = t0.elapsed().as_secs_f64();
        let incidents = workers.take_incidents();
        for incident in &incidents {
            eprintln!("iteration {iteration}: {incident}");
        }

        let steps: usize = rollouts.iter().map(|r| r.steps * r.envs).sum();
        let episodes: Vec<_> = rollouts.iter().flat_map(|r| r.episodes.iter()).collect();
        let laps: Vec<f64> = episodes
            .iter()
            .filter(|e| e.summary.status == EpisodeStatus::LapComplete)
            .map(|e| e.summary.time_s as f64)
            .collect();
        let n_eps = episodes.len().max(1) as f64;
        completion_rate = laps.len() as f64 / n_eps;
        let mean_reward = episodes.iter().map(|e| e.summary.total_reward as f64).sum::<f64>() / n_eps;
        let mean_progress = episodes.iter().map(|e| e.summary.progress as f64).sum::<f64>() / n_eps;
        let iteration_best = laps.iter().copied().reduce(f64::min);
        if let Some(b) = iteration_best {
            state.best_lap_s = Some(state.best_lap_s.map_or(b, |x| x.min(b)));
        }
        state.iteration = iteration;
        state.env_steps += steps as u64;
        state.episodes += episodes.len() as u64;
        state.laps += laps.len() as u64;
        state.wall_time_s = wall_before + started.elapsed().as_secs_f64();

        // Once training episodes lap often enough, a greedy check of the policy that drove
        // them; if it passes, that policy is the result and is not updated again.
        let mut eval: Option<EvalReport> = None;
        if let Some(target) = stop.completion_rate {
            if completion_rate >= target {
                let policy = Policy::from_bytes(&model_bytes, "current policy")?;
                eval = Some(evaluate(&policy, track.clone(), &config.track, &EvalOptions { laps: stop.eval_laps, env: Some(config.env.clone()), ..Default::default() })?);
            }
        }
        let passed = eval.as_ref().is_some_and(|e| e.clean_laps_in_a_row >= stop.eval_laps);
        let t1 = Instant::now();
        let stats = if passed { serde_json::Value::Null } else { learner.update(&rollouts)? };
        let update_s = t1.elapsed().as_secs_f64();
        for r in &rollouts {
            write_simtrace(&mut simtrace, r, iteration, track_len).map_err(io_err(&simtrace_path))?;
        }
        simtrace.flush().map_err(io_err(&simtrace_path))?;

        let steps_per_s = steps as f64 / (rollout_s + update_s).max(1e-9);
        let line = serde_json::json!({
            "iteration": iteration,
            "wall_time_s": state.wall_time_s,
            "env_steps": state.env_steps,
            "episodes": state.episodes,
            "iteration_steps": steps,
            "iteration_episodes": episodes.len(),
            "steps_per_s": steps_per_s,
            "rollout_s": rollout_s,
            "update_s": update_s,
            "mean_reward": mean_reward,
            "mean_progress": mean_progress,
            "completion_rate": completion_rate,
            "best_lap_s": state.best_lap_s,
            "iteration_best_lap_s": iteration_best,
            "train": stats,
            "worker_incidents": incidents,
            "eval": eval.as_ref().map(|e| serde_json::json!({
                "clean_laps_in_a_row": e.clean_laps_in_a_row, "completed_laps": e.completed_laps, "best_lap_s": e.best_lap_s,
            })),
        });
        writeln!(metrics, "{line}").map_err(io_err(&metrics_path))?;
        metrics.flush().map_err(io_err(&metrics_path))?;

        state.stamp(&mut meta.training);
        if passed {
            state.finished = Some(format!("a greedy evaluation drove {} clean laps in a row", stop.eval_laps));
        }
        let trained = model::to_bytes(&meta, &learner.export())?;
        save_checkpoint(&dir, &state, &trained, &learner.export_state())?;

        let message = format!(
            "iter {iteration} | {steps_per_s:.0} steps/s | reward {mean_reward:.1} | progress {mean_progress:.0}% | laps {:.0}% | best lap {}",
            completion_rate * 100.0,
            state.best_lap_s.map_or("-".to_string(), |b| format!("{b:.2} s")),
        );
        if let Some(bar) = &bar {
            if on_terminal {
                bar.set_message(message);
                bar.tick();
            } else {
                eprintln!("{message}");
            }
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let model_path = dir.join("model.safetensors");
    write_atomic(&model_path, &model::to_bytes(&meta, &learner.export())?)?;
    Ok(TrainSummary {
        run_dir: dir.clone(),
        model: model_path,
        iterations: state.iteration,
        env_steps: state.env_steps,
        episodes: state.episodes,
        wall_time_s: state.wall_time_s,
        best_lap_s: state.best_lap_s,
        completion_rate,
        stopped_because,
    })
}

/// A limit of `[stop]` the run has reached, if any.
fn limit_reached(state: &RunState, stop: &crate::config::StopConfig) -> Option<String> {
    if let Some(m) = stop.wall_time_minutes {
        if state.wall_time_s >= m * 60.0 {
            return Some(format!("wall time reached {m} minutes"));
        }
    }
    if stop.iterations.is_some_and(|n| state.iteration >= n) {
        return Some(format!("{} iterations done", state.iteration));
    }
    if stop.episodes.is_some_and(|n| state.episodes >= n) {
        return Some(format!("{} episodes done", state.episodes));
    }
    None
}

fn write_simtrace(out: &mut impl Write, r: &Rollout, iteration: u64, track_len: f64) -> std::io::Result<()> {
    for row in &r.trace {
        let s = &row.state;
        writeln!(
            out,
            "{},{},{:.4},{:.4},{:.2},{:.2},{:.3},{},{:.4},{},{},{:.3},{},{:.3},{:.3},{},0,{},{}",
            row.episode,
            row.step,
            s.x,
            s.y,
            s.heading_deg,
            row.command[0],
            row.command[1],
            if row.action_index >= 0 { row.action_index.to_string() } else { format!("\"[{:.2}, {:.2}]\"", row.command[0], row.command[1]) },
            row.reward,
            row.done,
            s.all_wheels_on_track,
            s.progress,
            s.closest_waypoint,
            track_len,
            s.time_s,
            row.status.as_str(),
            iteration,
            r.worker,
        )?;
    }
    Ok(())
}

fn checkpoint_name(iteration: u64) -> String {
    format!("{iteration:06}")
}

fn save_checkpoint(dir: &Path, state: &RunState, model_bytes: &[u8], trainer: &Tensors) -> Result<(), TrainError> {
    let root = dir.join("checkpoints");
    let tmp = root.join(format!(".tmp-{}", checkpoint_name(state.iteration)));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let write = |name: &str, bytes: &[u8]| {
        let p = tmp.join(name);
        let mut f = File::create(&p).map_err(io_err(&p))?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io_err(&p))
    };
    write("model.safetensors", model_bytes)?;
    write("trainer.safetensors", &model::tensors_to_bytes(trainer)?)?;
    write("state.json", serde_json::to_string_pretty(state).expect("state serialises").as_bytes())?;
    let final_dir = root.join(checkpoint_name(state.iteration));
    let _ = fs::remove_dir_all(&final_dir);
    fs::rename(&tmp, &final_dir).map_err(io_err(&final_dir))?;
    // Keep the two newest.
    let mut done = checkpoints(dir)?;
    done.sort();
    for (_, old) in done.iter().rev().skip(2) {
        let _ = fs::remove_dir_all(old);
    }
    Ok(())
}

fn checkpoints(dir: &Path) -> Result<Vec<(u64, PathBuf)>, TrainError> {
    let root = dir.join("checkpoints");
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(&root) else { return Ok(out) };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if let Ok(i) = name.parse::<u64>() {
            if entry.path().join("state.json").exists() {
                out.push((i, entry.path()));
            }
        }
    }
    Ok(out)
}

/// The newest complete checkpoint.
fn latest_checkpoint(dir: &Path) -> Result<Option<PathBuf>, TrainError> {
    Ok(checkpoints(dir)?.into_iter().max_by_key(|(i, _)| *i).map(|(_, p)| p))
}

/// Drops log lines of iterations after the checkpoint (the iteration in flight when the run
/// died) and any half-written last line.
fn truncate_logs(dir: &Path, iteration: u64) -> Result<(), TrainError> {
    let keep = |path: &Path, is_header: &dyn Fn(&str) -> bool, iteration_of: &dyn Fn(&str) -> Option<u64>| -> Result<(), TrainError> {
        let Ok(file) = File::open(path) else { return Ok(()) };
        let mut text = String::new();
        BufReader::new(file).read_to_string(&mut text).map_err(io_err(path))?;
        // A line without its newline was cut off mid-write.
        let whole = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        let mut kept = String::new();
        for line in whole.lines() {
            if is_header(line) || iteration_of(line).is_some_and(|i| i <= iteration) {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        write_atomic(path, kept.as_bytes())
    };
    keep(&dir.join("metrics.jsonl"), &|_| false, &|l| {
        serde_json::from_str::<serde_json::Value>(l).ok().and_then(|v| v.get("iteration").and_then(|i| i.as_u64()))
    })?;
    let columns = SIMTRACE_HEADER.split(',').count();
    keep(&dir.join("simtrace.csv"), &|l| l == SIMTRACE_HEADER, &|l| {
        // The action column of continuous spaces holds a quoted "[a, b]": count from the end.
        let fields: Vec<&str> = l.rsplitn(3, ',').collect();
        let whole = l.matches(',').count() + 1 >= columns;
        if whole && fields.len() == 3 { fields[1].parse().ok() } else { None }
    })?;
    Ok(())
}

/// The configured worker backend, started and set up.
pub fn start_workers(config: &WorkerConfig, spec: &WorkerSpec) -> Result<Box<dyn Workers>, TrainError> {
    let deadline = std::time::Duration::from_secs_f64(config.deadline_s);
    if config.backend == WorkerBackend::Local && spec.reward_python.is_some() {
        eprintln!("warning: the Python reward function runs unsandboxed in this process; use [workers] backend = \"process\" for untrusted code");
    }
    Ok(match config.backend {
        WorkerBackend::Local => Box::new(LocalWorkers::new(spec, config.count)?),
        WorkerBackend::Process => {
            let binary = match &config.binary {
                Some(b) => b.clone(),
                None => worker_binary()?,
            };
            let limits = config.limits.cgroup();
            let wanted = limits.memory_bytes.is_some() || limits.cpu_cores.is_some() || limits.pids.is_some();
            let cgroup = if config.sandbox && wanted {
                // A trial group first: where none can be made, say so once and go on with rlimits.
                match paddock_sandbox::cgroup::Cgroup::create(&format!("paddock-trial-{}", std::process::id()), &limits) {
                    Ok(_) => Some(limits),
                    Err(e) => {
                        eprintln!("warning: no cgroup limits for the workers ({e}); they run with rlimits only");
                        None
                    }
                }
            } else {
                None
            };
            let endpoints = (0..config.count).map(|_| Endpoint::Process { binary: binary.clone(), sandbox: config.sandbox, env: Vec::new(), cgroup }).collect();
            Box::new(GrpcWorkers::new(spec, endpoints, None, deadline)?)
        }
        WorkerBackend::MicroVm => {
            let vm = &config.microvm;
            let options = MicroVmOptions {
                dir: vm.dir.clone().unwrap_or_else(paddock_sandbox::microvm::default_dir),
                worker_binary: match &config.binary {
                    Some(b) => b.clone(),
                    None => worker_binary()?,
                },
                memory_mb: vm.memory_mb,
                cpus: vm.cpus,
                accel: match vm.accel.as_str() {
                    "kvm" => Accel::Kvm,
                    "tcg" => Accel::Tcg,
                    _ => Accel::Auto,
                },
                snapshot: vm.snapshot,
            };
            let guest = Arc::new(Guest::prepare(&options).map_err(|e| TrainError::Workers(format!("microVM guest: {e}")))?);
            let endpoints = (0..config.count).map(|_| Endpoint::MicroVm { guest: guest.clone() }).collect();
            Box::new(GrpcWorkers::new(spec, endpoints, None, deadline)?)
        }
        WorkerBackend::Remote => {
            let token = std::env::var(&config.token_env).ok();
            let tls = config.tls_ca.as_ref().map(|ca| paddock_sandbox::grpc::ClientTls { ca: ca.clone(), domain: config.tls_domain.clone() });
            let endpoints = config.remote.iter().map(|addr| Endpoint::Remote { addr: addr.clone(), tls: tls.clone() }).collect();
            Box::new(GrpcWorkers::new(spec, endpoints, token.as_deref(), deadline)?)
        }
    })
}

/// `paddock-worker` beside the running program (or one folder up, for test binaries), or
/// `PADDOCK_WORKER_BIN`.
pub fn worker_binary() -> Result<PathBuf, TrainError> {
    if let Some(b) = std::env::var_os("PADDOCK_WORKER_BIN") {
        return Ok(PathBuf::from(b));
    }
    let exe = std::env::current_exe().map_err(|e| TrainError::Workers(format!("cannot locate this program: {e}")))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    [dir.join("paddock-worker"), dir.join("../paddock-worker")]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| TrainError::Workers(format!(
            "no paddock-worker beside {} (build it: cargo build --release -p paddock-sandbox; or set workers.binary)",
            exe.display()
        )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("paddock-run-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    const LIDAR_OVAL: &str = r#"
        track = "oval"
        seed = 5
        [env]
        observation = "lidar"
        start_jitter_m = 0.05
        [hyperparameters]
        batch_size = 256
        discount_factor = 0.99
    "#;

    #[test]
    fn a_resumed_run_keeps_the_python_reward_it_started_with() {
        let dir = temp_dir("python-copy");
        fs::create_dir_all(&dir).unwrap();
        let reward = dir.join("reward.py");
        let code = "def reward_function(params):\n    return 1.0\n";
        fs::write(&reward, code).unwrap();
        let mut config = RunConfig::from_toml_str(&format!("{LIDAR_OVAL}\n[stop]\niterations = 1\n")).unwrap();
        config.reward_function = reward.display().to_string();
        let run = dir.join("run");
        let options = TrainOptions { out: run.clone(), resume: false, from: None, progress: false };
        train(config.clone(), &options).unwrap();
        assert_eq!(fs::read_to_string(run.join("reward_function.py")).unwrap(), code);
        // The student breaks the file between sessions; the resumed run trains on its own copy.
        fs::write(&reward, "def reward_function(params):\n    return 'fast'\n").unwrap();
        let saved = fs::read_to_string(run.join("config.toml")).unwrap().replace("iterations = 1", "iterations = 2");
        fs::write(run.join("config.toml"), saved).unwrap();
        let summary = train(config, &TrainOptions { resume: true, ..options }).unwrap();
        assert_eq!(summary.iterations, 2);
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn sac_learns_to_lap_with_a_continuous_action_space() {
        let config = RunConfig::from_toml_str(
            r#"
            track = "oval"
            seed = 5
            algorithm = "sac"
            [env]
            observation = "lidar"
            start_jitter_m = 0.05
            [env.action_space]
            steering_angle = { low = -30.0, high = 30.0 }
            speed = { low = 1.0, high = 2.5 }
            [hyperparameters]
            batch_size = 256
            discount_factor = 0.99
            num_episodes_between_training = 8
            sac_learning_starts = 1000
            max_steps_per_iteration = 100
            [stop]
            wall_time_minutes = 8.0
            completion_rate = 0.5
            "#,
        )
        .unwrap();
        let dir = temp_dir("sac");
        let summary = train(config, &TrainOptions { out: dir.clone(), resume: false, from: None, progress: false }).unwrap();
        assert!(summary.stopped_because.contains("clean laps"), "SAC did not learn to lap: {summary:?}");
        let policy = Policy::load(&summary.model).unwrap();
        assert_eq!(policy.metadata().head, Head::SquashedGaussian);
        assert_eq!(policy.metadata().training.algorithm, "sac");
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn ppo_learns_to_lap_with_a_continuous_action_space() {
        let config = RunConfig::from_toml_str(&format!(
            "{LIDAR_OVAL}\nnum_epochs = 4\nnum_episodes_between_training = 16\n\
             [env.action_space]\nsteering_angle = {{ low = -30.0, high = 30.0 }}\nspeed = {{ low = 1.0, high = 2.5 }}\n\
             [stop]\ncompletion_rate = 0.6\nwall_time_minutes = 8.0\n"
        ))
        .unwrap();
        let dir = temp_dir("ppo-continuous");
        let summary = train(config, &TrainOptions { out: dir.clone(), resume: false, from: None, progress: false }).unwrap();
        assert!(summary.stopped_because.contains("clean laps"), "continuous PPO did not learn to lap: {summary:?}");
        assert_eq!(Policy::load(&summary.model).unwrap().metadata().head, Head::Gaussian);
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_cloned_model_starts_where_its_parent_stopped() {
        let parent_config = RunConfig::from_toml_str(&format!("{LIDAR_OVAL}\n[stop]\ncompletion_rate = 0.6\nwall_time_minutes = 8.0\n")).unwrap();
        let parent_dir = temp_dir("parent");
        let parent = train(parent_config.clone(), &TrainOptions { out: parent_dir.clone(), resume: false, from: None, progress: false }).unwrap();
        assert!(parent.stopped_because.contains("clean laps"), "{parent:?}");

        // The trained model gives the same outputs through the policy crate as through tch.
        let (meta, tensors) = model::load(&parent.model).unwrap();
        let policy = Policy::new(meta.clone(), &tensors).unwrap();
        let mut ppo = Ppo::new(meta, parent_config.hyperparameters.clone(), tch::Device::Cpu).unwrap();
        ppo.import(&tensors).unwrap();
        let scans: Vec<f32> = (0..16 * 64).map(|i| 0.2 + (i % 37) as f32 * 0.1).collect();
        let (ours, our_values) = policy.forward_with_value(paddock_policy::Observations::F32(&scans)).unwrap();
        let (theirs, their_values) = ppo.forward_raw(&tch::Tensor::from_slice(&scans).view([16, 64]));
        for (a, b) in ours.iter().chain(our_values.unwrap().iter()).zip(theirs.iter().chain(&their_values)) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "trained model: policy crate {a} vs tch {b}");
        }

        let mut child_config = parent_config.clone();
        child_config.seed = 99;
        child_config.stop = crate::config::StopConfig { iterations: Some(1), wall_time_minutes: None, ..Default::default() };
        let child_dir = temp_dir("child");
        let options = TrainOptions { out: child_dir.clone(), resume: false, from: Some(parent_dir.clone()), progress: false };
        train(child_config.clone(), &options).unwrap();
        let first = fs::read_to_string(child_dir.join("metrics.jsonl")).unwrap();
        let first: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
        assert!(first["completion_rate"].as_f64().unwrap() >= 0.3, "the clone forgot how to drive: {first}");

        // A clone must keep the network, sensor and action space.
        let mut other = child_config;
        other.env.action_space = paddock_sim::ActionSpace::deepracer_default_continuous();
        let err = train(other, &TrainOptions { out: temp_dir("other"), resume: false, from: Some(parent_dir.clone()), progress: false })
            .unwrap_err()
            .to_string();
        assert!(err.contains("clone"), "{err}");
        fs::remove_dir_all(&parent_dir).ok();
        fs::remove_dir_all(&child_dir).ok();
    }
}

