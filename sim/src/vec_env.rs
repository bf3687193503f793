//! Many environments stepped at once on rayon's threads, into buffers allocated once.

use std::sync::Arc;

use rayon::prelude::*;

use crate::action::Action;
use crate::env::{EnvConfig, EpisodeStatus, EpisodeSummary, Start};
use crate::reward::RewardFunction;
use crate::{Env, SimError, TrackScene};
use crate::{ObsBuffer, ObsMut};

/// What one env produced in the latest step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnvStep {
    pub reward: f32,
    /// The episode ended with this step; the env has already started the next one, and its
    /// observation slot holds the new episode's first observation.
    pub done: bool,
    pub status: EpisodeStatus,
    /// Totals of the episode that ended, when `done`.
    pub finished: Option<EpisodeSummary>,
    /// Where the car was after this step (before any reset): one row of a simtrace.
    pub trace: StepTrace,
}

/// The car's state after a step, as DeepRacer's simtrace logs it.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct StepTrace {
    /// Position, metres.
    pub x: f32,
    pub y: f32,
    /// Heading, degrees.
    pub heading_deg: f32,
    /// Steering angle, degrees (positive left).
    pub steering_deg: f32,
    /// Speed, m/s.
    pub speed: f32,
    /// Percent of the lap done this episode.
    pub progress: f32,
    pub all_wheels_on_track: bool,
    /// Index of the next waypoint (the track file's rows).
    pub closest_waypoint: usize,
    /// Simulated seconds since the episode began.
    pub time_s: f32,
}

impl StepTrace {
    fn of(env: &Env) -> StepTrace {
        let p = env.params();
        StepTrace {
            x: p.x,
            y: p.y,
            heading_deg: p.heading,
            steering_deg: p.steering_angle,
            speed: p.speed,
            progress: p.progress,
            all_wheels_on_track: p.all_wheels_on_track,
            closest_waypoint: p.closest_waypoints[1],
            time_s: p.steps as f32 / crate::env::CONTROL_HZ,
        }
    }
}

/// A batch of envs on one track. Env `i` is seeded from `seed` and `i`, so results do not
/// depend on how many threads run them.
pub struct VecEnv {
    envs: Vec<Env>,
    obs: ObsBuffer,
    obs_len: usize,
    steps: Vec<EnvStep>,
    seeds: Vec<u64>,
}

impl VecEnv {
    /// `n` envs; `reward` makes each env its own reward function.
    pub fn new(config: EnvConfig, scene: Arc<TrackScene>, n: usize, seed: u64, reward: impl Fn() -> Box<dyn RewardFunction>) -> Result<VecEnv, SimError> {
        if n == 0 {
            return Err(SimError::Config("a VecEnv needs at least one env".into()));
        }
        let config = Arc::new(config);
        let obs_len = config.observation.len(&config.car);
        let mut envs = Vec::with_capacity(n);
        let mut seeds = Vec::with_capacity(n);
        for i in 0..n {
            let env_seed = split_seed(seed, i as u64);
            let mut env = Env::new(config.clone(), scene.clone(), reward(), env_seed)?;
            env.set_start_offset(i as f64 / n as f64);
            envs.push(env);
            seeds.push(env_seed);
        }
        let obs = ObsBuffer::zeros(config.observation, n * obs_len);
        let steps = vec![EnvStep { reward: 0.0, done: false, status: EpisodeStatus::InProgress, finished: None, trace: StepTrace::default() }; n];
        let mut v = VecEnv { envs, obs, obs_len, steps, seeds };
        v.reset()?;
        Ok(v)
    }

    pub fn len(&self) -> usize {
        self.envs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }
    /// Values in one env's observation.
    pub fn obs_len(&self) -> usize {
        self.obs_len
    }
    pub fn envs(&self) -> &[Env] {
        &self.envs
    }

    /// Starts a new episode in every env (each at its next round-robin start).
    pub fn reset(&mut self) -> Result<(), SimError> {
        for (env, seed) in self.envs.iter_mut().zip(self.seeds.iter_mut()) {
            *seed = split_seed(*seed, 1);
            env.reset(*seed, Start::Next);
        }
        let obs_len = self.obs_len;
        match &mut self.obs {
            ObsBuffer::U8(buf) => self.envs.par_iter_mut().zip(buf.par_chunks_mut(obs_len)).try_for_each(|(env, out)| env.observe(ObsMut::U8(out))),
            ObsBuffer::F32(buf) => self.envs.par_iter_mut().zip(buf.par_chunks_mut(obs_len)).try_for_each(|(env, out)| env.observe(ObsMut::F32(out))),
        }
    }

    /// Steps every env with its action, then writes the new observations. Envs whose episode
    /// ended start the next one at once. Invalid actions are refused before any env moves.
    pub fn step(&mut self, actions: &[Action]) -> Result<(), SimError> {
        if actions.len() != self.envs.len() {
            return Err(SimError::Action(format!("{} actions for {} envs", actions.len(), self.envs.len())));
        }
        for (i, (env, a)) in self.envs.iter().zip(actions).enumerate() {
            env.config().action_space.resolve(*a).map_err(|e| SimError::Action(format!("env {i}: {e}")))?;
        }
        let obs_len = self.obs_len;
        let work = self.envs.par_iter_mut().zip(self.seeds.par_iter_mut()).zip(self.steps.par_iter_mut()).zip(actions.par_iter());
        match &mut self.obs {
            ObsBuffer::U8(buf) => work.zip(buf.par_chunks_mut(obs_len)).try_for_each(|((((env, seed), out), a), obs)| {
                *out = step_one(env, seed, *a)?;
                env.observe(ObsMut::U8(obs))
            }),
            ObsBuffer::F32(buf) => work.zip(buf.par_chunks_mut(obs_len)).try_for_each(|((((env, seed), out), a), obs)| {
                *out = step_one(env, seed, *a)?;
                env.observe(ObsMut::F32(obs))
            }),
        }
    }

    /// Observations from the latest step (or reset).
    pub fn observations(&self) -> &ObsBuffer {
        &self.obs
    }
    /// What each env produced in the latest step.
    pub fn last_steps(&self) -> &[EnvStep] {
        &self.steps
    }
}

fn step_one(env: &mut Env, seed: &mut u64, action: Action) -> Result<EnvStep, SimError> {
    let r = env.step(action)?;
    let done = r.status.is_done();
    let finished = done.then(|| env.summary());
    let trace = StepTrace::of(env);
    if done {
        *seed = split_seed(*seed, 1);
        env.reset(*seed, Start::Next);
    }
    Ok(EnvStep { reward: r.reward, done, status: r.status, finished, trace })
}

/// A well-mixed seed for stream `i` of `seed` (SplitMix64's finaliser).
pub fn split_seed(seed: u64, i: u64) -> u64 {
    let mut z = seed ^ i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
