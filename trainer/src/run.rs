//! The training loop, top to bottom: [`train`] prepares a [`Run`] (everything that can fail on
//! bad input fails there, before any work), then runs [`Run::iteration`] until a `[stop]`
//! limit is reached. The run folder's layout lives in `paddock_run`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use paddock_eval::{evaluate, EvalOptions};
use paddock_policy::model::{self, ModelMetadata, ObservationSpec, Preprocessing, TrainingInfo};
use paddock_policy::{Head, Policy};
use paddock_run::config::Algorithm;
use paddock_run::{resolve_model_path, IterationMetrics, LapCheck, RunConfig, RunFolder, RunLogs, RunState};
use paddock_sandbox::{start_workers, Mode, Rollout, RolloutRequest, WorkerSpec, Workers};
use paddock_sim::EpisodeStatus;
use paddock_tracks::Track;
use serde::Serialize;

use crate::learner::Learner;
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

/// The model metadata a config trains.
pub fn model_metadata(config: &RunConfig, track: &Track) -> ModelMetadata {
    let env = &config.env;
    let sensor = env.observation;
    let head = Head::for_space(&env.action_space, config.algorithm == Algorithm::Sac);
    let observation = ObservationSpec { sensor, shape: sensor.shape(&env.car), preprocessing: Preprocessing::for_sensor(sensor) };
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

/// Trains as `config` says, in `options.out`.
pub fn train(config: RunConfig, options: &TrainOptions) -> Result<TrainSummary, TrainError> {
    let mut run = Run::prepare(config, options)?;
    let stopped_because = loop {
        // Checked before each iteration, so a resumed run that had already stopped stays stopped.
        if let Some(reason) = run.state.finished.clone().or_else(|| run.config.stop.reached(&run.state)) {
            break reason;
        }
        run.iteration()?;
    };
    run.finish(stopped_because)
}

/// A run in progress.
struct Run {
    folder: RunFolder,
    config: RunConfig,
    track: Track,
    meta: ModelMetadata,
    learner: Learner,
    workers: Box<dyn Workers>,
    logs: RunLogs,
    state: RunState,
    progress: Option<Progress>,
    /// When this session started, and the run's training time before it.
    started: Instant,
    wall_before: f64,
    /// The latest iteration's share of episodes that completed a lap.
    completion_rate: f64,
}

impl Run {
    fn prepare(config: RunConfig, options: &TrainOptions) -> Result<Run, TrainError> {
        let folder = RunFolder::new(&options.out);
        let config = if options.resume {
            folder.read_config()?
        } else {
            config.validate()?;
            folder.check_free()?;
            config
        };
        let mut track = Track::resolve(&config.track)?;
        if config.reverse {
            track = track.reversed();
        }
        let meta = model_metadata(&config, &track);
        let from = options.from.as_deref().map(|path| load_clone_source(path, &meta)).transpose()?;

        let reward_python = folder.prepare(&config, options.resume)?;
        let mut learner = Learner::new(config.algorithm, &meta, &config.hyperparameters, config.seed)?;
        if let Some(tensors) = &from {
            learner.import(tensors)?;
        }
        let mut state = RunState::default();
        if options.resume {
            if let Some(checkpoint) = folder.latest_checkpoint()? {
                learner.import(&model::load(&checkpoint.model)?.1)?;
                learner.import_state(&model::tensors_from_bytes(&checkpoint.trainer_bytes, &checkpoint.trainer_file.display().to_string())?)?;
                state = checkpoint.state;
                learner.reseed(paddock_sim::vec_env::split_seed(config.seed, state.iteration));
            }
            folder.truncate_logs(state.iteration)?;
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
        let workers = start_workers(&config.workers, &spec)?;
        if options.progress {
            let isolation = workers.isolation();
            let mut kinds: Vec<&String> = isolation.iter().collect();
            kinds.dedup();
            for kind in kinds {
                eprintln!("workers: {} x {kind}", isolation.iter().filter(|i| *i == kind).count());
            }
        }
        let logs = folder.open_logs()?;
        let wall_before = state.wall_time_s;
        Ok(Run {
            folder,
            config,
            track,
            meta,
            learner,
            workers,
            logs,
            state,
            progress: options.progress.then(Progress::new),
            started: Instant::now(),
            wall_before,
            completion_rate: 0.0,
        })
    }

    /// Publish the policy, collect, check laps, update, log, checkpoint.
    fn iteration(&mut self) -> Result<(), TrainError> {
        let iteration = self.state.iteration + 1;
        let (h, stop) = (&self.config.hyperparameters, &self.config.stop);
        self.state.stamp(&mut self.meta.training);
        let model_bytes = Arc::new(model::to_bytes(&self.meta, &self.learner.export())?);
        let t0 = Instant::now();
        self.workers.publish(iteration, model_bytes.clone())?;
        let rollouts = self.workers.collect(&RolloutRequest {
            policy_version: iteration,
            min_episodes: h.num_episodes_between_training.div_ceil(self.config.workers.count),
            max_steps: h.max_steps_per_iteration,
            mode: Mode::Sample,
            trace: true,
        })?;
        let rollout_s = t0.elapsed().as_secs_f64();
        let incidents = self.workers.take_incidents();
        for incident in &incidents {
            eprintln!("iteration {iteration}: {incident}");
        }
        let episodes = EpisodeStats::of(&rollouts);
        self.completion_rate = episodes.completion_rate;
        if let Some(b) = episodes.best_lap_s {
            self.state.best_lap_s = Some(self.state.best_lap_s.map_or(b, |x| x.min(b)));
        }
        self.state.iteration = iteration;
        self.state.env_steps += episodes.steps;
        self.state.episodes += episodes.count;
        self.state.laps += episodes.laps;
        self.state.wall_time_s = self.wall_before + self.started.elapsed().as_secs_f64();

        // Once training episodes lap often enough, a greedy check of the policy that drove
        // them; if it passes, that policy is the result and is not updated again.
        let mut lap_check = None;
        if stop.completion_rate.is_some_and(|target| episodes.completion_rate >= target) {
            let policy = Policy::from_bytes(&model_bytes, "current policy")?;
            let options = EvalOptions { laps: stop.eval_laps, env: Some(self.config.env.clone()), ..Default::default() };
            let report = evaluate(&policy, self.track.clone(), &self.config.track, &options)?;
            lap_check =
                Some(LapCheck { clean_laps_in_a_row: report.clean_laps_in_a_row, completed_laps: report.completed_laps, best_lap_s: report.best_lap_s });
        }
        let passed = lap_check.as_ref().is_some_and(|c| c.clean_laps_in_a_row >= stop.eval_laps);
        let t1 = Instant::now();
        let train = if passed { None } else { Some(self.learner.update(&rollouts)?) };
        let update_s = t1.elapsed().as_secs_f64();

        self.logs.simtrace.write(&rollouts, iteration, self.track.length())?;
        let record = IterationMetrics {
            iteration,
            wall_time_s: self.state.wall_time_s,
            env_steps: self.state.env_steps,
            episodes: self.state.episodes,
            iteration_steps: episodes.steps,
            iteration_episodes: episodes.count,
            steps_per_s: episodes.steps as f64 / (rollout_s + update_s).max(1e-9),
            rollout_s,
            update_s,
            mean_reward: episodes.mean_reward,
            mean_progress: episodes.mean_progress,
            completion_rate: episodes.completion_rate,
            best_lap_s: self.state.best_lap_s,
            iteration_best_lap_s: episodes.best_lap_s,
            train,
            worker_incidents: incidents,
            eval: lap_check,
        };
        self.logs.metrics.write(&record)?;

        self.state.stamp(&mut self.meta.training);
        if passed {
            self.state.finished = Some(format!("a greedy evaluation drove {} clean laps in a row", stop.eval_laps));
        }
        let trained = model::to_bytes(&self.meta, &self.learner.export())?;
        let learner_state = model::tensors_to_bytes(&self.learner.export_state())?;
        self.folder.save_checkpoint(&self.state, &trained, &learner_state)?;
        if let Some(progress) = &self.progress {
            progress.show(&record);
        }
        Ok(())
    }

    /// Writes the trained model and says how the run went.
    fn finish(self, stopped_because: String) -> Result<TrainSummary, TrainError> {
        if let Some(progress) = self.progress {
            progress.bar.finish_and_clear();
        }
        let model_path = self.folder.model_path();
        paddock_run::write_atomic(&model_path, &model::to_bytes(&self.meta, &self.learner.export())?)?;
        Ok(TrainSummary {
            run_dir: self.folder.dir().to_path_buf(),
            model: model_path,
            iterations: self.state.iteration,
            env_steps: self.state.env_steps,
            episodes: self.state.episodes,
            wall_time_s: self.state.wall_time_s,
            best_lap_s: self.state.best_lap_s,
            completion_rate: self.completion_rate,
            stopped_because,
        })
    }
}

/// The weights of a model to start from (DeepRacer's clone), which must be trained with the
/// same network, sensor and action space as `meta`.
fn load_clone_source(path: &std::path::Path, meta: &ModelMetadata) -> Result<model::Tensors, TrainError> {
    let path = resolve_model_path(path);
    let (m, tensors) = model::load(&path)?;
    if m.network != meta.network || m.observation != meta.observation || m.action_space != meta.action_space || m.head != meta.head {
        return Err(TrainError::Model(format!(
            "{} was trained with another network, sensor or action space than this config; a clone must keep them",
            path.display()
        )));
    }
    Ok(tensors)
}

/// What an iteration's rollouts add up to.
struct EpisodeStats {
    steps: u64,
    count: u64,
    laps: u64,
    completion_rate: f64,
    mean_reward: f64,
    mean_progress: f64,
    best_lap_s: Option<f64>,
}

impl EpisodeStats {
    fn of(rollouts: &[Rollout]) -> EpisodeStats {
        let episodes: Vec<_> = rollouts.iter().flat_map(|r| r.episodes.iter()).map(|e| &e.summary).collect();
        let laps: Vec<f64> = episodes.iter().filter(|e| e.status == EpisodeStatus::LapComplete).map(|e| e.time_s as f64).collect();
        let n = episodes.len().max(1) as f64;
        EpisodeStats {
            steps: rollouts.iter().map(|r| (r.steps * r.envs) as u64).sum(),
            count: episodes.len() as u64,
            laps: laps.len() as u64,
            completion_rate: laps.len() as f64 / n,
            mean_reward: episodes.iter().map(|e| e.total_reward as f64).sum::<f64>() / n,
            mean_progress: episodes.iter().map(|e| e.progress as f64).sum::<f64>() / n,
            best_lap_s: laps.iter().copied().reduce(f64::min),
        }
    }
}

/// A spinner on a terminal, a line per iteration elsewhere.
struct Progress {
    bar: ProgressBar,
    on_terminal: bool,
}

impl Progress {
    fn new() -> Progress {
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("template"));
        bar.enable_steady_tick(std::time::Duration::from_millis(250));
        Progress { bar, on_terminal: std::io::stderr().is_terminal() }
    }

    fn show(&self, m: &IterationMetrics) {
        let message = format!(
            "iter {} | {:.0} steps/s | reward {:.1} | progress {:.0}% | laps {:.0}% | best lap {}",
            m.iteration,
            m.steps_per_s,
            m.mean_reward,
            m.mean_progress,
            m.completion_rate * 100.0,
            m.best_lap_s.map_or("-".to_string(), |b| format!("{b:.2} s")),
        );
        if self.on_terminal {
            self.bar.set_message(message);
            self.bar.tick();
        } else {
            eprintln!("{message}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::ppo::Ppo;

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
        child_config.stop = paddock_run::config::StopConfig { iterations: Some(1), wall_time_minutes: None, ..Default::default() };
        let child_dir = temp_dir("child");
        let options = TrainOptions { out: child_dir.clone(), resume: false, from: Some(parent_dir.clone()), progress: false };
        train(child_config.clone(), &options).unwrap();
        let first = fs::read_to_string(child_dir.join("metrics.jsonl")).unwrap();
        let first: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
        assert!(first["completion_rate"].as_f64().unwrap() >= 0.3, "the clone forgot how to drive: {first}");

        // A clone must keep the network, sensor and action space.
        let mut other = child_config;
        other.env.action_space = paddock_sim::ActionSpace::deepracer_default_continuous();
        let err =
            train(other, &TrainOptions { out: temp_dir("other"), resume: false, from: Some(parent_dir.clone()), progress: false }).unwrap_err().to_string();
        assert!(err.contains("clone"), "{err}");
        fs::remove_dir_all(&parent_dir).ok();
        fs::remove_dir_all(&child_dir).ok();
    }
}
