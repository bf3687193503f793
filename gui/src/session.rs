//! The simulator loop behind the Drive and Watch modes, without a window: one car on one track,
//! judged lap by lap exactly as an evaluation judges it (the `eval` crate's [`LapRunner`]),
//! driven by hand or by a model, one 15 Hz control step at a time.

use paddock_eval::{EvalError, EvalOptions, LapResult, LapRunner, LapStep};
use paddock_policy::{Head, Policy};
use paddock_sim::{CarPose, EnvConfig, ObsBuffer, Sensor};
use paddock_tracks::{DVec2, RacingLine, Track};
use paddock_vehicle::action::{Action, ActionSpace, DiscreteAction};

/// What a person asks of the car: the keyboard or a gamepad, already smoothed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HumanInput {
    /// -1 (full right) to 1 (full left).
    pub steer: f32,
    /// 0 (the car's slowest) to 1 (its top speed).
    pub throttle: f32,
}

/// Who drives.
pub enum Pilot {
    Human,
    /// A model through the `policy` crate, greedily, as the car runs it.
    Model {
        policy: Box<Policy>,
        obs: ObsBuffer,
    },
}

/// What the pilot chose at the latest step.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Degrees (positive left) and m/s.
    pub action: DiscreteAction,
    /// A discrete model's probability of each action of its space.
    pub probabilities: Vec<f32>,
    /// Index of the chosen action in a discrete space.
    pub chosen: Option<usize>,
}

impl Default for Decision {
    fn default() -> Self {
        Decision { action: DiscreteAction { steering_angle: 0.0, speed: 0.0 }, probabilities: Vec::new(), chosen: None }
    }
}

/// A car on a track, lap after lap.
pub struct Session {
    runner: LapRunner,
    pilot: Pilot,
    space: ActionSpace,
    /// The pose before and after the latest step: viewers draw the car in between.
    previous: CarPose,
    current: CarPose,
    last: LapStep,
    decision: Decision,
    steps: u64,
}

/// Laps without end: a viewer drives on until it is closed. Resets cost what they cost in a
/// race; a lap never gets too long to finish by hand.
pub fn endless_laps(env: EnvConfig) -> EvalOptions {
    EvalOptions { laps: usize::MAX, continuous: true, max_resets_per_lap: usize::MAX, max_lap_time_s: 3600.0, env: Some(env), ..EvalOptions::default() }
}

impl Session {
    /// A car driven by hand with the full continuous range of `env`'s car.
    pub fn drive(track: Track, track_name: &str, env: EnvConfig) -> Result<Session, EvalError> {
        let space = ActionSpace::full_continuous(&env.car);
        Session::new(track, track_name, Sensor::State, space, env, Pilot::Human)
    }

    /// A car driven by `policy`, in `env` (its obstacles and bots) with the model's sensor.
    pub fn watch(track: Track, track_name: &str, env: EnvConfig, policy: Policy) -> Result<Session, EvalError> {
        let meta = policy.metadata().clone();
        paddock_eval::model_fits(&meta, &env)?;
        let obs = ObsBuffer::zeros(meta.observation.sensor, policy.input_len());
        let pilot = Pilot::Model { policy: Box::new(policy), obs };
        Session::new(track, track_name, meta.observation.sensor, meta.action_space, env, pilot)
    }

    fn new(track: Track, track_name: &str, sensor: Sensor, space: ActionSpace, env: EnvConfig, pilot: Pilot) -> Result<Session, EvalError> {
        let runner = LapRunner::new(sensor, space.clone(), track, track_name, &endless_laps(env))?;
        let pose = runner.env().pose();
        Ok(Session { runner, pilot, space, previous: pose, current: pose, last: LapStep::default(), decision: Decision::default(), steps: 0 })
    }

    /// One control step: the pilot (or `input`, when a person drives) picks the action.
    pub fn step(&mut self, input: HumanInput) -> Result<LapStep, EvalError> {
        let action = match &mut self.pilot {
            Pilot::Human => {
                let (steer, speed) = match &self.space {
                    ActionSpace::Continuous { steering_angle, speed } => (steering_angle, speed),
                    ActionSpace::Discrete(_) => return Err(EvalError::Driver("driving by hand needs a continuous action space".into())),
                };
                let s = input.steer.clamp(-1.0, 1.0);
                let steering_angle = if s >= 0.0 { s * steer.high } else { -s * steer.low };
                let speed_mps = speed.low + input.throttle.clamp(0.0, 1.0) * (speed.high - speed.low);
                self.decision = Decision { action: DiscreteAction { steering_angle, speed: speed_mps }, ..Decision::default() };
                Action::Continuous { steering_angle, speed: speed_mps }
            }
            Pilot::Model { policy, obs } => {
                self.runner.env().observe(obs.view_mut())?;
                let outputs = policy.forward(obs.view())?;
                let row = outputs.row(0);
                let out = row.as_slice().ok_or_else(|| EvalError::Driver("the model's output is not contiguous".into()))?;
                let meta = policy.metadata();
                let action = meta.head.to_action(&meta.action_space, meta.head.greedy(out));
                let resolved = self.space.resolve(action).map_err(|e| EvalError::Driver(e.to_string()))?;
                let (probabilities, chosen) = match (meta.head, action) {
                    (Head::Categorical, Action::Discrete(i)) => (softmax(out), Some(i)),
                    _ => (Vec::new(), None),
                };
                self.decision = Decision { action: resolved, probabilities, chosen };
                action
            }
        };
        let step = self.runner.step(action)?;
        self.previous = if step.teleported { self.runner.env().pose() } else { self.current };
        self.current = self.runner.env().pose();
        self.last = step;
        self.steps += 1;
        Ok(step)
    }

    /// The car drawn `fraction` (0..=1) of the way from the latest step's start to its end.
    pub fn pose_between(&self, fraction: f32) -> CarPose {
        let t = fraction.clamp(0.0, 1.0);
        CarPose { position: self.previous.position.lerp(self.current.position, t), rotation: self.previous.rotation.slerp(self.current.rotation, t) }
    }

    pub fn runner(&self) -> &LapRunner {
        &self.runner
    }

    pub fn track(&self) -> &Track {
        self.runner.env().scene().track()
    }

    pub fn racing_line(&self) -> &RacingLine {
        self.runner.racing_line()
    }

    /// The model's sensor, or `None` when a person drives.
    pub fn model_sensor(&self) -> Option<Sensor> {
        match &self.pilot {
            Pilot::Model { policy, .. } => Some(policy.metadata().observation.sensor),
            Pilot::Human => None,
        }
    }

    /// What the model saw at the latest step (empty when a person drives).
    pub fn observation(&self) -> Option<&ObsBuffer> {
        match &self.pilot {
            Pilot::Model { obs, .. } => Some(obs),
            Pilot::Human => None,
        }
    }

    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    pub fn last_step(&self) -> LapStep {
        self.last
    }

    /// Control steps so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The fastest completed lap so far, with its penalties.
    pub fn best_lap(&self) -> Option<&LapResult> {
        self.runner.laps().iter().filter(|l| l.completed).min_by(|a, b| a.time_s.total_cmp(&b.time_s))
    }

    /// The running lap's time with the penalties it has collected so far, seconds.
    pub fn lap_time_s(&self) -> f64 {
        let lap = self.runner.current();
        let options = self.runner.options();
        lap.driving_time_s + lap.off_tracks as f64 * options.off_track_penalty_s + lap.collisions as f64 * options.collision_penalty_s
    }

    /// Where the racing line is, for the overlay (metres, the track plane).
    pub fn racing_points(&self) -> &[DVec2] {
        &self.runner.racing_line().points
    }
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}
