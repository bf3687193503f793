//! `run.toml`: what to train, how, and when to stop. Every key has a default; unknown keys and
//! out-of-range values are errors before any work starts.
//!
//! ```toml
//! track = "circuit"               # a bundled name, random:SEED, or a .json/.npy file
//! reward_function = "progress"    # a built-in reward (progress, follow_centre_line) or a .py file
//! seed = 1
//! algorithm = "clipped_ppo"       # or "sac" (continuous action spaces)
//!
//! [env]                           # paddock_sim::EnvConfig: observation, action_space, max_steps...
//! observation = "lidar"
//!
//! [network]                       # default: shallow for cameras, mlp [256, 256] otherwise
//! type = "mlp"
//! hidden = [256, 256]
//!
//! [hyperparameters]               # DeepRacer's names and defaults, plus PPO/SAC details
//! batch_size = 64
//!
//! [workers]
//! backend = "local"               # or "process" (sandboxed children), "microvm", "remote"
//! count = 2
//! envs_per_worker = 8
//!
//! [stop]
//! wall_time_minutes = 5.0
//! ```

use std::path::Path;

use paddock_policy::Network;
use paddock_sim::{EnvConfig, Sensor};
use serde::{Deserialize, Serialize};

pub use paddock_sandbox::{Accel, LimitsConfig, MicroVmConfig, WorkerBackend, WorkerConfig};

use crate::RunError;

/// A training run's full configuration; the run folder keeps the resolved copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    pub track: String,
    /// Drive the track clockwise (DeepRacer's "reverse" direction).
    pub reverse: bool,
    pub reward_function: String,
    /// A Python reward function call that takes longer is stopped, milliseconds.
    pub reward_deadline_ms: u64,
    pub seed: u64,
    pub algorithm: Algorithm,
    pub env: EnvConfig,
    /// A DeepRacer `model_metadata.json` whose action space replaces `[env] action_space`
    /// (relative to the config file). The resolved config holds the action space itself.
    pub action_space_from: Option<std::path::PathBuf>,
    /// The network body; `None` picks the sensor's default.
    pub network: Option<Network>,
    pub hyperparameters: Hyperparameters,
    pub workers: WorkerConfig,
    pub stop: StopConfig,
}

/// DeepRacer's two algorithms, by its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    ClippedPpo,
    Sac,
}

impl Algorithm {
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::ClippedPpo => "clipped_ppo",
            Algorithm::Sac => "sac",
        }
    }
}

/// Value loss of PPO, DeepRacer's `loss_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossType {
    Huber,
    MeanSquaredError,
}

/// Hyperparameters under DeepRacer's names (first block, with its defaults) and the details
/// of PPO and SAC it fixes internally (second block).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hyperparameters {
    /// Minibatch size for gradient steps.
    pub batch_size: usize,
    /// Passes over each iteration's experience (PPO).
    pub num_epochs: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Entropy bonus weight (PPO).
    pub beta_entropy: f64,
    /// Discount factor gamma.
    pub discount_factor: f64,
    pub loss_type: LossType,
    /// Episodes of experience per training iteration.
    pub num_episodes_between_training: usize,
    /// SAC's entropy temperature (its starting value when `sac_auto_alpha`).
    pub sac_alpha: f64,

    /// GAE lambda (PPO).
    pub gae_lambda: f64,
    /// Clip range of the probability ratio (PPO).
    pub clip_epsilon: f64,
    /// Weight of the value loss (PPO).
    pub value_coefficient: f64,
    /// Gradient norm clipping.
    pub max_grad_norm: f64,
    /// Stop an update's epochs early once the mean approximate KL divergence of an epoch from
    /// the rollout policy passes this (PPO); guards long runs against one destructive update.
    pub target_kl: Option<f64>,
    /// Tune SAC's temperature towards an entropy of -action_dim.
    pub sac_auto_alpha: bool,
    /// Target network averaging rate (SAC).
    pub sac_tau: f64,
    /// Replay buffer capacity, transitions (SAC).
    pub sac_buffer_size: usize,
    /// Gradient steps per collected transition (SAC).
    pub sac_updates_per_step: f64,
    /// Transitions collected before SAC starts learning.
    pub sac_learning_starts: usize,
    /// Per-env step limit of one iteration's collection, so an iteration ends even when no
    /// episode does.
    pub max_steps_per_iteration: usize,
}

impl Default for Hyperparameters {
    fn default() -> Self {
        Hyperparameters {
            batch_size: 64,
            num_epochs: 10,
            lr: 3e-4,
            beta_entropy: 0.01,
            discount_factor: 0.999,
            loss_type: LossType::Huber,
            num_episodes_between_training: 20,
            sac_alpha: 0.2,
            gae_lambda: 0.95,
            clip_epsilon: 0.2,
            value_coefficient: 0.5,
            max_grad_norm: 0.5,
            target_kl: None,
            sac_auto_alpha: true,
            sac_tau: 0.005,
            sac_buffer_size: 100_000,
            sac_updates_per_step: 0.25,
            sac_learning_starts: 2_000,
            max_steps_per_iteration: 600,
        }
    }
}

/// When training ends: whichever comes first. Absent limits don't apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StopConfig {
    pub wall_time_minutes: Option<f64>,
    pub episodes: Option<u64>,
    pub iterations: Option<u64>,
    /// Stop once an iteration's training episodes complete laps at this rate (0-1) and a
    /// greedy evaluation then drives `eval_laps` laps in a row without leaving the track.
    pub completion_rate: Option<f64>,
    pub eval_laps: usize,
}

impl StopConfig {
    /// The limit a run with `state` has reached, if any.
    pub fn reached(&self, state: &crate::RunState) -> Option<String> {
        if let Some(m) = self.wall_time_minutes {
            if state.wall_time_s >= m * 60.0 {
                return Some(format!("wall time reached {m} minutes"));
            }
        }
        if self.iterations.is_some_and(|n| state.iteration >= n) {
            return Some(format!("{} iterations done", state.iteration));
        }
        if self.episodes.is_some_and(|n| state.episodes >= n) {
            return Some(format!("{} episodes done", state.episodes));
        }
        None
    }
}

impl Default for StopConfig {
    fn default() -> Self {
        StopConfig { wall_time_minutes: Some(10.0), episodes: None, iterations: None, completion_rate: None, eval_laps: 3 }
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            track: "circuit".into(),
            reverse: false,
            reward_function: "progress".into(),
            reward_deadline_ms: 1000,
            seed: 0,
            algorithm: Algorithm::ClippedPpo,
            env: EnvConfig::default(),
            action_space_from: None,
            network: None,
            hyperparameters: Hyperparameters::default(),
            workers: WorkerConfig::default(),
            stop: StopConfig::default(),
        }
    }
}

impl RunConfig {
    /// Reads and checks a TOML config.
    pub fn from_toml_file(path: &Path) -> Result<RunConfig, RunError> {
        let text = std::fs::read_to_string(path).map_err(|e| RunError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text, Some(path)).map_err(|e| match e {
            RunError::Config(m) => RunError::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Reads and checks a TOML config held in memory (`action_space_from` needs a file: use
    /// [`RunConfig::from_toml_file`]).
    pub fn from_toml_str(text: &str) -> Result<RunConfig, RunError> {
        Self::parse(text, None)
    }

    /// Parses, resolves `action_space_from` against the config file's folder, and validates.
    fn parse(text: &str, file: Option<&Path>) -> Result<RunConfig, RunError> {
        let mut config: RunConfig = toml::from_str(text).map_err(|e| RunError::Config(e.to_string()))?;
        if let Some(metadata) = config.action_space_from.take() {
            let Some(file) = file else {
                return Err(RunError::Config("action_space_from is relative to a config file; read the config from its file".into()));
            };
            let metadata = file.parent().unwrap_or(Path::new(".")).join(metadata);
            let text =
                std::fs::read_to_string(&metadata).map_err(|e| RunError::Config(format!("action_space_from: cannot read {}: {e}", metadata.display())))?;
            config.env.action_space = paddock_policy::deepracer::action_space_from_model_metadata(&text, &metadata.display().to_string())
                .map_err(|e| RunError::Config(format!("action_space_from: {e}")))?;
        }
        if config.reward_function.ends_with(".py") {
            // A Python file: made absolute, so the run folder's copy of the config still finds it.
            let path = Path::new(&config.reward_function);
            let path = match file {
                Some(f) if path.is_relative() => f.parent().unwrap_or(Path::new(".")).join(path),
                _ => path.to_path_buf(),
            };
            let path = std::fs::canonicalize(&path).map_err(|e| RunError::Config(format!("reward_function: cannot read {}: {e}", path.display())))?;
            config.reward_function = path.display().to_string();
        }
        if let Some(ca) = config.workers.tls_ca.take() {
            let ca = match file {
                Some(f) if ca.is_relative() => f.parent().unwrap_or(Path::new(".")).join(ca),
                _ => ca,
            };
            let ca = std::fs::canonicalize(&ca).map_err(|e| RunError::Config(format!("workers.tls_ca: cannot read {}: {e}", ca.display())))?;
            config.workers.tls_ca = Some(ca);
        }
        config.validate()?;
        Ok(config)
    }

    /// The Python reward function's source, when `reward_function` names a `.py` file.
    pub fn reward_python(&self) -> Result<Option<paddock_sandbox::PythonSource>, RunError> {
        if !self.reward_function.ends_with(".py") {
            return Ok(None);
        }
        let code = std::fs::read_to_string(&self.reward_function)
            .map_err(|e| RunError::Config(format!("reward_function: cannot read {}: {e}", self.reward_function)))?;
        Ok(Some(paddock_sandbox::PythonSource { file: self.reward_function.clone(), code, deadline_ms: self.reward_deadline_ms }))
    }

    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).expect("configs serialise")
    }

    /// The network to build: the configured one, or the sensor's default.
    pub fn network(&self) -> Network {
        self.network.clone().unwrap_or(match self.env.observation {
            Sensor::Camera | Sensor::Stereo => Network::Shallow,
            Sensor::Lidar | Sensor::State => Network::Mlp { hidden: vec![256, 256] },
        })
    }

    /// Checks every value; the message names the key.
    pub fn validate(&self) -> Result<(), RunError> {
        let bad = |m: String| Err(RunError::Config(m));
        self.env.validate().map_err(|e| RunError::Config(format!("[env]: {e}")))?;
        if !self.reward_function.ends_with(".py") {
            paddock_sim::builtin_reward(&self.reward_function)
                .map_err(|e| RunError::Config(format!("reward_function: {e} (or a DeepRacer reward_function in a .py file)")))?;
        }
        if self.reward_deadline_ms == 0 || self.reward_deadline_ms > 60_000 {
            return bad(format!("reward_deadline_ms = {} is outside 1..=60000", self.reward_deadline_ms));
        }
        let h = &self.hyperparameters;
        let in_range = |name: &str, v: f64, lo: f64, hi: f64| -> Result<(), RunError> {
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(RunError::Config(format!("hyperparameters.{name} = {v} is outside {lo}..={hi}")))
            }
        };
        in_range("batch_size", h.batch_size as f64, 2.0, 65_536.0)?;
        in_range("num_epochs", h.num_epochs as f64, 1.0, 100.0)?;
        in_range("lr", h.lr, 1e-8, 1e-1)?;
        in_range("beta_entropy", h.beta_entropy, 0.0, 1.0)?;
        in_range("discount_factor", h.discount_factor, 0.0, 1.0)?;
        in_range("num_episodes_between_training", h.num_episodes_between_training as f64, 1.0, 10_000.0)?;
        in_range("sac_alpha", h.sac_alpha, 1e-6, 10.0)?;
        in_range("gae_lambda", h.gae_lambda, 0.0, 1.0)?;
        in_range("clip_epsilon", h.clip_epsilon, 0.01, 1.0)?;
        in_range("value_coefficient", h.value_coefficient, 0.0, 10.0)?;
        in_range("max_grad_norm", h.max_grad_norm, 1e-3, 1e3)?;
        in_range("sac_tau", h.sac_tau, 1e-5, 1.0)?;
        if let Some(kl) = h.target_kl {
            in_range("target_kl", kl, 1e-5, 10.0)?;
        }
        in_range("sac_buffer_size", h.sac_buffer_size as f64, 1_000.0, 10_000_000.0)?;
        in_range("sac_updates_per_step", h.sac_updates_per_step, 0.01, 16.0)?;
        in_range("max_steps_per_iteration", h.max_steps_per_iteration as f64, 16.0, 100_000.0)?;
        self.workers.validate().map_err(RunError::Config)?;
        if self.algorithm == Algorithm::Sac && self.env.action_space.is_discrete() {
            return bad("algorithm = \"sac\" needs a continuous action space (DeepRacer's rule too)".into());
        }
        let network = self.network();
        let obs_shape = self.env.observation.shape(&self.env.car);
        paddock_policy::network::layer_shapes(&network, &obs_shape)
            .map_err(|e| RunError::Config(format!("network {network:?} does not fit the {:?} observation: {e}", self.env.observation)))?;
        let s = &self.stop;
        if s.wall_time_minutes.is_none() && s.episodes.is_none() && s.iterations.is_none() && s.completion_rate.is_none() {
            return bad("[stop] sets no limit; give wall_time_minutes, episodes, iterations or completion_rate".into());
        }
        if let Some(m) = s.wall_time_minutes {
            in_range("stop.wall_time_minutes", m, 0.0, 100_000.0)?;
        }
        if let Some(c) = s.completion_rate {
            in_range("stop.completion_rate", c, 0.0, 1.0)?;
        }
        in_range("stop.eval_laps", s.eval_laps as f64, 1.0, 100.0)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_config_is_deepracers_defaults() {
        let c = RunConfig::from_toml_str("").unwrap();
        assert_eq!(c.hyperparameters.batch_size, 64);
        assert_eq!(c.hyperparameters.num_epochs, 10);
        assert_eq!(c.hyperparameters.discount_factor, 0.999);
        assert_eq!(c.hyperparameters.num_episodes_between_training, 20);
        assert_eq!(c.network(), Network::Shallow, "camera by default, with DeepRacer's default network");
        let back = RunConfig::from_toml_str(&c.to_toml_string()).unwrap();
        assert_eq!(back, c, "the resolved config reads back unchanged");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = RunConfig::from_toml_str("[hyperparameters]\nlearning_rate = 0.1").unwrap_err().to_string();
        assert!(e.contains("learning_rate"), "{e}");
        let e = RunConfig::from_toml_str("[hyperparameters]\ndiscount_factor = 1.5").unwrap_err().to_string();
        assert!(e.contains("discount_factor = 1.5"), "{e}");
        let e = RunConfig::from_toml_str("reward_function = \"fast\"").unwrap_err().to_string();
        assert!(e.contains("fast") && e.contains("progress"), "{e}");
        let e = RunConfig::from_toml_str("algorithm = \"sac\"").unwrap_err().to_string();
        assert!(e.contains("continuous"), "{e}");
        let e = RunConfig::from_toml_str("[env]\nobservation = \"lidar\"\n[network]\ntype = \"shallow\"").unwrap_err().to_string();
        assert!(e.contains("Lidar") || e.contains("vectors"), "{e}");
        let e = RunConfig::from_toml_str("[env]\nmax_steps = 0").unwrap_err().to_string();
        assert!(e.contains("max_steps"), "{e}");
    }

    #[test]
    fn a_deepracer_action_space_reads_from_toml() {
        let c = RunConfig::from_toml_str(
            "algorithm = \"sac\"\n[env.action_space]\nsteering_angle = { low = -30.0, high = 30.0 }\nspeed = { low = 0.5, high = 2.0 }\n",
        )
        .unwrap();
        assert!(!c.env.action_space.is_discrete());
    }
}
