//! The worker's job: step a `VecEnv` with a policy, recording everything the trainer and the
//! logs need.

use std::sync::Arc;

use paddock_policy::{ActionSample, Policy};
use paddock_sim::env::EpisodeSummary;
use paddock_sim::{builtin_reward, EnvConfig, ObsBuffer, StepTrace, TrackScene, VecEnv};
use paddock_tracks::Track;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use crate::WorkerError;

mod check;

pub(crate) use check::Expect;

/// Everything a worker needs to build its environments, sent once when it starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSpec {
    pub env: EnvConfig,
    /// The track in Paddock's JSON format (so remote workers need no files).
    pub track_json: String,
    /// A built-in reward function's name, or the file name of `reward_python`.
    pub reward_function: String,
    /// A DeepRacer-style Python reward function (its source), run in the worker.
    #[serde(default)]
    pub reward_python: Option<PythonSource>,
    /// Environments per worker.
    pub envs: usize,
    /// Base seed; worker `i` seeds its envs from `split_seed(seed, i)`.
    pub seed: u64,
}

/// A Python reward file's source and its limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PythonSource {
    /// Its name in messages and tracebacks.
    pub file: String,
    pub code: String,
    /// A call that takes longer is stopped (`TimeoutError` raised in it), milliseconds.
    pub deadline_ms: u64,
}

/// How actions are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Sampled from the policy's distribution (training).
    Sample,
    /// The most likely action (evaluation).
    Greedy,
}

/// One round of experience.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolloutRequest {
    /// The version the worker must hold; a mismatch is an error, never silently mixed data.
    pub policy_version: u64,
    /// Step until this many episodes have ended in this worker...
    pub min_episodes: usize,
    /// ...or each env has taken this many steps.
    pub max_steps: usize,
    pub mode: Mode,
    /// Record a simtrace row per step.
    pub trace: bool,
}

/// An episode that ended during a rollout.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct EpisodeRecord {
    pub env: usize,
    /// This worker's running count of episodes (DeepRacer's simtrace `episode`).
    pub episode: u64,
    pub summary: EpisodeSummary,
}

/// One simtrace row.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TraceRow {
    pub env: u32,
    pub episode: u64,
    pub step: u32,
    pub state: StepTrace,
    /// The discrete action's index, or -1.
    pub action_index: i32,
    /// The commanded steering (degrees) and speed (m/s).
    pub command: [f32; 2],
    pub reward: f32,
    pub done: bool,
    pub status: paddock_sim::EpisodeStatus,
}

/// `steps` steps of `envs` envs: step `t` of env `e` is at index `t * envs + e`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rollout {
    pub worker: usize,
    pub policy_version: u64,
    pub envs: usize,
    pub steps: usize,
    pub obs: ObsBuffer,
    /// The observation after the last step, for bootstrapping values.
    pub last_obs: ObsBuffer,
    /// Raw actions in the policy's units (see `paddock_policy::ActionSample`).
    pub actions: Vec<[f32; 2]>,
    pub log_probs: Vec<f32>,
    pub rewards: Vec<f32>,
    /// The episode ended with this step (the next observation starts a new one).
    pub dones: Vec<bool>,
    /// It ended on the step limit (`time_up`), not by anything the car did: learners should
    /// bootstrap rather than treat the state as terminal.
    #[serde(default)]
    pub truncated: Vec<bool>,
    pub episodes: Vec<EpisodeRecord>,
    pub trace: Vec<TraceRow>,
}

/// One worker's envs and policy.
pub struct RolloutWorker {
    id: usize,
    envs: VecEnv,
    policy: Option<(u64, Arc<Policy>)>,
    rng: Pcg64Mcg,
    episode_ids: Vec<u64>,
    episode_steps: Vec<u32>,
    next_episode: u64,
}

impl RolloutWorker {
    pub fn new(id: usize, spec: &WorkerSpec) -> Result<RolloutWorker, WorkerError> {
        let setup = |message: String| WorkerError::Setup { worker: id, message };
        let track = Track::from_json_str(&spec.track_json).map_err(|e| setup(e.to_string()))?;
        let scene = Arc::new(TrackScene::new(track));
        let seed = paddock_sim::vec_env::split_seed(spec.seed, id as u64);
        let envs = match &spec.reward_python {
            Some(source) => {
                let file = crate::python::PythonRewardFile::load(&source.file, &source.code, std::time::Duration::from_millis(source.deadline_ms.max(1)))
                    .map_err(|e| setup(format!("reward function {e}")))?;
                VecEnv::new(spec.env.clone(), scene, spec.envs, seed, move || file.instance())
            }
            None => {
                builtin_reward(&spec.reward_function).map_err(|e| setup(e.to_string()))?;
                let name = spec.reward_function.clone();
                VecEnv::new(spec.env.clone(), scene, spec.envs, seed, move || builtin_reward(&name).expect("checked above"))
            }
        }
        .map_err(|e| setup(e.to_string()))?;
        let n = envs.len();
        Ok(RolloutWorker {
            id,
            envs,
            policy: None,
            rng: Pcg64Mcg::seed_from_u64(paddock_sim::vec_env::split_seed(seed, 0xac7)),
            episode_ids: (0..n as u64).collect(),
            episode_steps: vec![0; n],
            next_episode: n as u64,
        })
    }

    /// Values in one observation.
    pub fn obs_len(&self) -> usize {
        self.envs.obs_len()
    }

    /// Loads a published model, refusing one that does not fit these envs.
    pub fn set_policy(&mut self, version: u64, model: &[u8]) -> Result<(), WorkerError> {
        let refuse = |message: String| WorkerError::Model { worker: self.id, version, message };
        let policy = Policy::from_bytes(model, &format!("policy version {version}")).map_err(|e| refuse(e.to_string()))?;
        let config = self.envs.envs()[0].config();
        let meta = policy.metadata();
        if meta.observation.shape != config.observation.shape(&config.car) || meta.observation.sensor.is_image() != config.observation.is_image() {
            return Err(refuse(format!(
                "it takes {:?} {:?} observations; the envs give {:?} {:?}",
                meta.observation.sensor,
                meta.observation.shape,
                config.observation,
                config.observation.shape(&config.car)
            )));
        }
        if meta.action_space != config.action_space {
            return Err(refuse("its action space differs from the envs' action space".into()));
        }
        self.policy = Some((version, Arc::new(policy)));
        Ok(())
    }

    /// Steps until the request is met and returns what happened.
    pub fn run(&mut self, request: &RolloutRequest) -> Result<Rollout, WorkerError> {
        let id = self.id;
        let (version, policy) = self.policy.clone().ok_or(WorkerError::NoPolicy { worker: id })?;
        if version != request.policy_version {
            return Err(WorkerError::StaleVersion { worker: id, asked: request.policy_version, held: version });
        }
        let n = self.envs.len();
        let obs_len = self.envs.obs_len();
        let head = policy.metadata().head;
        let space = policy.metadata().action_space.clone();
        let max_steps = request.max_steps.max(1);
        let mut out = Rollout {
            worker: id,
            policy_version: version,
            envs: n,
            steps: 0,
            obs: self.envs.observations().empty_like(64 * n * obs_len),
            last_obs: self.envs.observations().empty_like(n * obs_len),
            actions: Vec::new(),
            log_probs: Vec::new(),
            rewards: Vec::new(),
            dones: Vec::new(),
            truncated: Vec::new(),
            episodes: Vec::new(),
            trace: Vec::new(),
        };
        let mut samples: Vec<ActionSample> = Vec::with_capacity(n);
        let mut actions = Vec::with_capacity(n);
        while out.episodes.len() < request.min_episodes.max(1) && out.steps < max_steps {
            let observations = self.envs.observations();
            let batch = observations.view();
            match request.mode {
                Mode::Sample => policy.act_sampled(batch, &mut self.rng, &mut samples),
                Mode::Greedy => policy.act_greedy_batch(batch).map(|raw| {
                    samples.clear();
                    samples.extend(raw.into_iter().map(|raw| ActionSample { raw, log_prob: 0.0 }));
                }),
            }
            .map_err(|e| WorkerError::Run { worker: id, message: e.to_string() })?;
            out.obs.extend_from(batch);
            actions.clear();
            actions.extend(samples.iter().map(|s| head.to_action(&space, s.raw)));
            self.envs.step(&actions).map_err(|e| match e {
                paddock_sim::SimError::Reward(message) => WorkerError::Reward { worker: id, message },
                e => WorkerError::Run { worker: id, message: e.to_string() },
            })?;
            for (e, (step, sample)) in self.envs.last_steps().iter().zip(&samples).enumerate() {
                out.actions.push(sample.raw);
                out.log_probs.push(sample.log_prob);
                out.rewards.push(step.reward);
                out.dones.push(step.done);
                out.truncated.push(step.status == paddock_sim::EpisodeStatus::TimeUp);
                self.episode_steps[e] += 1;
                if request.trace {
                    let (action_index, command) = match actions[e] {
                        paddock_sim::Action::Discrete(i) => {
                            let a = space.resolve(actions[e]).map(|a| [a.steering_angle, a.speed]);
                            (i as i32, a.unwrap_or([0.0, 0.0]))
                        }
                        paddock_sim::Action::Continuous { steering_angle, speed } => (-1, [steering_angle, speed]),
                    };
                    out.trace.push(TraceRow {
                        env: e as u32,
                        episode: self.episode_ids[e],
                        step: self.episode_steps[e],
                        state: step.trace,
                        action_index,
                        command,
                        reward: step.reward,
                        done: step.done,
                        status: step.status,
                    });
                }
                if let Some(summary) = step.finished {
                    out.episodes.push(EpisodeRecord { env: e, episode: self.episode_ids[e], summary });
                    self.episode_ids[e] = self.next_episode;
                    self.next_episode += 1;
                    self.episode_steps[e] = 0;
                }
            }
            out.steps += 1;
        }
        out.last_obs.extend_from(self.envs.observations().view());
        Ok(out)
    }
}
