//! Evaluation laps as DeepRacer runs them: the first lap starts at the start line, and each next
//! one either there again or, in a race ([`EvalOptions::continuous`]), flying on from the line.
//! Leaving the track (reversing, stopping) puts the car back on the centre line where it left
//! and adds the off-track penalty; hitting an obstacle or a bot car does the same with the
//! collision penalty; a lap ends at 100 % progress. The model acts greedily through the `policy`
//! crate, exactly as a worker or the car would run it.

use std::sync::Arc;

use glam::Vec2;
use paddock_policy::{ModelMetadata, Policy};
use paddock_sim::sensors::Camera;
use paddock_sim::{builtin_reward, lap_limits, CarPose, Env, EnvConfig, EpisodeStatus, ObsBuffer, Sensor, Start, TrackScene};
use paddock_tracks::{RacingLine, Track};
use paddock_vehicle::action::{Action, ActionSpace};
use serde::{Deserialize, Serialize};

use crate::EvalError;

/// How to evaluate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalOptions {
    pub laps: usize,
    /// Laps follow each other without stopping, as in a race (on a loop); otherwise each lap
    /// starts again from a standstill on the start line.
    pub continuous: bool,
    /// Seconds added to a lap for each time the car is put back after leaving the track.
    pub off_track_penalty_s: f64,
    /// Seconds added to a lap for each collision with an obstacle or a bot car.
    pub collision_penalty_s: f64,
    /// A lap with more resets than this is abandoned.
    pub max_resets_per_lap: usize,
    /// A lap that takes longer (simulated seconds) is abandoned.
    pub max_lap_time_s: f64,
    /// Keep every `n`th camera frame for a GIF (0: none).
    pub camera_every: usize,
    pub seed: u64,
    /// The environment to drive in (a run's `[env]`: its car, obstacles, bot cars); the model
    /// sets the observation and action space. `None`: the default car on an empty track.
    pub env: Option<EnvConfig>,
    /// Obstacles are drawn again for every lap (from the seed) instead of standing where they
    /// stood in the first.
    pub redraw_obstacles_each_lap: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            laps: 3,
            continuous: false,
            off_track_penalty_s: 2.0,
            collision_penalty_s: 5.0,
            max_resets_per_lap: 10,
            max_lap_time_s: 120.0,
            camera_every: 0,
            seed: 0,
            env: None,
            redraw_obstacles_each_lap: false,
        }
    }
}

/// One evaluation lap.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LapResult {
    pub lap: usize,
    pub completed: bool,
    /// Driving time plus penalties, seconds.
    pub time_s: f64,
    pub driving_time_s: f64,
    pub off_tracks: usize,
    #[serde(default)]
    pub collisions: usize,
    /// Percent of the lap covered.
    pub progress: f64,
    /// The car at every control step of the lap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<TracePoint>,
}

impl LapResult {
    /// Where the car drove, metres.
    pub fn path(&self) -> Vec<Vec2> {
        self.trace.iter().map(|p| Vec2::new(p.x, p.y)).collect()
    }
}

/// The car after one control step, for pictures and replays.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TracePoint {
    /// Seconds since the lap began (driving time, penalties not included).
    pub t: f32,
    /// Position, metres.
    pub x: f32,
    pub y: f32,
    /// Heading, radians counter-clockwise from +x.
    pub yaw: f32,
    /// Forward speed, m/s.
    pub speed: f32,
    /// Percent of the lap covered.
    pub progress: f32,
    /// This step ended with the car put back on the track: "off_track" or "collision".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<Reset>,
}

/// Why the car was put back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reset {
    OffTrack,
    Collision,
}

/// All laps, with the yardstick.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub track: String,
    pub laps: Vec<LapResult>,
    pub completed_laps: usize,
    /// Completed laps without leaving the track, in a row from the first.
    pub clean_laps_in_a_row: usize,
    pub best_lap_s: Option<f64>,
    /// The track's minimum lap time for this car (racing line, friction-limited).
    pub min_lap_time_s: f64,
    /// Best lap over the minimum lap time (1.0 would be perfect).
    pub best_lap_ratio: Option<f64>,
    #[serde(skip)]
    pub frames: Vec<Vec<u8>>,
    #[serde(skip)]
    pub frame_size: (u32, u32),
}

/// Drives `options.laps` evaluation laps of `track` (called `track_name` in the report) with `policy`.
pub fn evaluate(policy: &Policy, track: Track, track_name: &str, options: &EvalOptions) -> Result<EvalReport, EvalError> {
    let meta = policy.metadata();
    let mut obs = ObsBuffer::zeros(meta.observation.sensor, policy.input_len());
    evaluate_driver(meta, meta.action_space.clone(), track, track_name, options, |env| {
        env.observe(obs.view_mut())?;
        Ok(policy.act_greedy(obs.view())?)
    })
}

/// The same laps with any driver: `act` sees the environment (the car's pose, its sensors)
/// and returns an action in `action_space`. The car binary drives the simulator this way,
/// through rendered frames and the pulses it writes (`paddock eval --through-car`).
pub fn evaluate_driver(
    meta: &ModelMetadata,
    action_space: ActionSpace,
    track: Track,
    track_name: &str,
    options: &EvalOptions,
    mut act: impl FnMut(&Env) -> Result<Action, EvalError>,
) -> Result<EvalReport, EvalError> {
    model_fits(meta, &eval_env(meta.observation.sensor, action_space.clone(), options))?;
    let mut laps = LapRunner::new(meta.observation.sensor, action_space, track, track_name, options)?;
    let car = laps.env().config().car.clone();
    let camera = Camera::new(&car.camera, 0.0);
    let frame_size = (car.camera.width_px, car.camera.height_px);
    let mut frame = vec![0u8; (frame_size.0 * frame_size.1) as usize];
    let mut frames = Vec::new();
    let mut step_count = 0usize;
    while !laps.is_finished() {
        let action = act(laps.env())?;
        laps.step(action)?;
        step_count += 1;
        if options.camera_every > 0 && step_count % options.camera_every == 0 && frames.len() < 2000 {
            // Where the step ended, before any reset moved the car back onto the track.
            let env = laps.env();
            camera.render(env.scene(), &laps.step_pose(), env.obstacles(), &mut frame);
            frames.push(frame.clone());
        }
    }
    let mut report = laps.into_report();
    report.frames = frames;
    report.frame_size = frame_size;
    Ok(report)
}

/// The environment evaluation laps run in.
fn eval_env(observation: Sensor, action_space: ActionSpace, options: &EvalOptions) -> EnvConfig {
    // Laps start on the centre line, as DeepRacer's evaluation does; the lap check ends them.
    EnvConfig { observation, action_space, max_steps: u32::MAX, start_jitter_m: 0.0, ..options.env.clone().unwrap_or_default() }
}

/// Checks that a model's observation is what the simulated car's sensor gives.
pub fn model_fits(meta: &ModelMetadata, env: &EnvConfig) -> Result<(), EvalError> {
    let want = meta.observation.sensor.shape(&env.car);
    if want != meta.observation.shape {
        return Err(EvalError::ModelDoesNotFit(format!(
            "the model takes {:?} observations of shape {:?}; the simulated car's sensor gives {want:?}",
            meta.observation.sensor, meta.observation.shape
        )));
    }
    Ok(())
}

/// What one control step of [`LapRunner::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LapStep {
    /// The car left the track or hit something and was put back on the centre line.
    pub reset: Option<Reset>,
    /// A lap ended with this step (completed or abandoned): its number, from 1.
    pub lap_ended: Option<usize>,
    /// The car was moved to the start line for the next lap (a standing start), or back onto
    /// the track: viewers jump instead of gliding there.
    pub teleported: bool,
}

/// Evaluation laps one control step at a time: [`evaluate_driver`] loops over it, and the
/// desktop simulator steps it at 15 Hz, so a lap driven by hand is judged as an evaluation is.
pub struct LapRunner {
    env: Env,
    options: EvalOptions,
    track_name: String,
    /// On a loop, progress counts from the latest reset; on an open track it is absolute.
    closed: bool,
    /// The track's racing line for this car; its lap time is the minimum lap time.
    racing_line: RacingLine,
    dt: f64,
    laps: Vec<LapResult>,
    current: LapResult,
    /// Progress of the current lap (percent) before its latest reset.
    covered: f64,
    lap_seed: u64,
    /// The car where the latest step ended, before a reset or a new lap moved it.
    step_pose: CarPose,
}

impl LapRunner {
    /// Ready to drive lap 1 from a standstill on the start line, with `sensor` on the car of
    /// `options.env` (the default car without one).
    pub fn new(sensor: Sensor, action_space: ActionSpace, track: Track, track_name: &str, options: &EvalOptions) -> Result<LapRunner, EvalError> {
        let config = eval_env(sensor, action_space, options);
        let closed = track.is_closed();
        let racing_line = RacingLine::compute(&track, &lap_limits(&config.car))?;
        let scene = Arc::new(TrackScene::new(track));
        let env = Env::new(Arc::new(config), scene, builtin_reward("progress")?, options.seed)?;
        let mut runner = LapRunner {
            env,
            options: options.clone(),
            track_name: track_name.to_string(),
            closed,
            racing_line,
            dt: 1.0 / paddock_sim::env::CONTROL_HZ as f64,
            laps: Vec::new(),
            current: LapResult::new(1),
            covered: 0.0,
            lap_seed: options.seed,
            step_pose: CarPose::flat(0.0, 0.0, 0.0),
        };
        if options.laps > 0 {
            runner.begin_lap(false);
        }
        runner.step_pose = runner.env.pose();
        Ok(runner)
    }

    /// The simulated car and track, as the driver sees them.
    pub fn env(&self) -> &Env {
        &self.env
    }

    pub fn options(&self) -> &EvalOptions {
        &self.options
    }

    /// The laps that have ended, in order.
    pub fn laps(&self) -> &[LapResult] {
        &self.laps
    }

    /// The lap being driven (its trace so far).
    pub fn current(&self) -> &LapResult {
        &self.current
    }

    /// The car where the latest step ended (before a reset put it back or a new lap moved it).
    pub fn step_pose(&self) -> CarPose {
        self.step_pose
    }

    /// The track's minimum lap time for this car, seconds (racing line, friction-limited).
    pub fn min_lap_time_s(&self) -> f64 {
        self.racing_line.lap_time
    }

    /// The track's racing line for this car (the minimum lap time's line and speeds).
    pub fn racing_line(&self) -> &RacingLine {
        &self.racing_line
    }

    /// All `options.laps` laps have ended.
    pub fn is_finished(&self) -> bool {
        self.laps.len() >= self.options.laps
    }

    /// One control step (1/15 s) with `action`: judges the lap, puts the car back after it
    /// leaves the track, and starts the next lap when one ends.
    pub fn step(&mut self, action: Action) -> Result<LapStep, EvalError> {
        if self.is_finished() {
            return Err(EvalError::Driver(format!("all {} laps are driven", self.options.laps)));
        }
        let status = self.env.step(action)?.status;
        let result = &mut self.current;
        result.driving_time_s += self.dt;
        let pose = self.env.pose();
        self.step_pose = pose;
        let progress = if self.closed { self.covered + self.env.params().progress as f64 } else { self.env.params().progress as f64 };
        result.progress = progress.min(100.0);
        let reset = match status {
            EpisodeStatus::InProgress | EpisodeStatus::LapComplete => None,
            EpisodeStatus::Crashed => Some(Reset::Collision),
            _ => Some(Reset::OffTrack),
        };
        result.trace.push(TracePoint {
            t: result.driving_time_s as f32,
            x: pose.position.x,
            y: pose.position.y,
            yaw: pose.yaw(),
            speed: self.env.params().speed,
            progress: result.progress as f32,
            reset,
        });
        let mut out = LapStep { reset, ..LapStep::default() };
        let mut ended = false;
        if progress >= 100.0 || status == EpisodeStatus::LapComplete {
            result.completed = true;
            result.progress = 100.0;
            ended = true;
        } else if result.driving_time_s > self.options.max_lap_time_s {
            ended = true;
        } else if let Some(why) = reset {
            match why {
                Reset::Collision => result.collisions += 1,
                Reset::OffTrack => result.off_tracks += 1,
            }
            if result.off_tracks + result.collisions > self.options.max_resets_per_lap {
                ended = true;
            } else {
                // Back on the centre line where it left, facing along the track; the lap's seed
                // keeps the obstacles where they were.
                self.covered = progress.max(self.covered);
                self.env.reset(self.lap_seed, Start::At { progress: self.covered, lateral_m: 0.0, heading_offset_rad: 0.0 });
                out.teleported = true;
            }
        }
        if ended {
            out.lap_ended = Some(self.current.lap);
            let options = &self.options;
            let mut lap = std::mem::replace(&mut self.current, LapResult::new(self.laps.len() + 2));
            lap.time_s = lap.driving_time_s + lap.off_tracks as f64 * options.off_track_penalty_s + lap.collisions as f64 * options.collision_penalty_s;
            self.laps.push(lap);
            if !self.is_finished() {
                out.teleported = !self.begin_lap(true);
            }
        }
        Ok(out)
    }

    /// Starts the next lap: flying on from the line after a completed lap of a race, else from
    /// a standstill on the start line (an abandoned lap leaves nothing to fly on from). Returns
    /// whether it flew on.
    fn begin_lap(&mut self, after_a_lap: bool) -> bool {
        let n = self.laps.len() as u64;
        self.lap_seed = if self.options.redraw_obstacles_each_lap { self.options.seed.wrapping_add(n) } else { self.options.seed };
        self.covered = 0.0;
        let flying = after_a_lap && self.options.continuous && self.env.continue_lap();
        if !flying {
            self.env.reset(self.lap_seed, Start::At { progress: 0.0, lateral_m: 0.0, heading_offset_rad: 0.0 });
        }
        flying
    }

    /// The report of the laps that have ended.
    pub fn into_report(self) -> EvalReport {
        let completed: Vec<&LapResult> = self.laps.iter().filter(|l| l.completed).collect();
        let best_lap_s = completed.iter().map(|l| l.time_s).reduce(f64::min);
        EvalReport {
            track: self.track_name,
            completed_laps: completed.len(),
            clean_laps_in_a_row: self.laps.iter().take_while(|l| l.completed && l.off_tracks == 0 && l.collisions == 0).count(),
            best_lap_ratio: best_lap_s.map(|b| b / self.racing_line.lap_time),
            best_lap_s,
            min_lap_time_s: self.racing_line.lap_time,
            laps: self.laps,
            frames: Vec::new(),
            frame_size: (0, 0),
        }
    }
}

impl LapResult {
    fn new(lap: usize) -> LapResult {
        LapResult { lap, completed: false, time_s: 0.0, driving_time_s: 0.0, off_tracks: 0, collisions: 0, progress: 0.0, trace: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use paddock_policy::model::{ObservationSpec, Preprocessing, Sensor};
    use paddock_policy::{Head, Network};
    use paddock_sim::driver::PurePursuit;

    use super::*;

    /// What a state-sensor model with full continuous actions would declare.
    fn state_model() -> (ModelMetadata, ActionSpace) {
        let space = ActionSpace::full_continuous(&paddock_vehicle::CarSpec::deepracer());
        let sensor = Sensor::State;
        let shape = vec![sensor.len(&paddock_vehicle::CarSpec::deepracer())];
        let observation = ObservationSpec { sensor, shape, preprocessing: Preprocessing::for_sensor(sensor) };
        (ModelMetadata::new(Network::Mlp { hidden: vec![8] }, Head::Gaussian, observation, space.clone()), space)
    }

    /// A driver that needs no model: pure pursuit, at `speed` m/s, on the state sensor.
    fn drive(track: &str, options: &EvalOptions, driver: PurePursuit) -> EvalReport {
        let (meta, space) = state_model();
        let track = Track::resolve(track).unwrap();
        evaluate_driver(&meta, space, track, "t", options, |env| Ok(driver.act(env))).unwrap()
    }

    #[test]
    fn continuous_laps_fly_on_from_the_line_and_are_quicker_than_standing_starts() {
        let careful = PurePursuit { speed: 1.5, ..PurePursuit::default() };
        let standing = drive("circuit", &EvalOptions { laps: 2, ..Default::default() }, careful);
        let flying = drive("circuit", &EvalOptions { laps: 2, continuous: true, ..Default::default() }, careful);
        assert_eq!(standing.completed_laps, 2);
        assert_eq!(flying.completed_laps, 2);
        // The first laps are the same lap; the second flies on at speed.
        assert!((standing.laps[0].time_s - flying.laps[0].time_s).abs() < 1e-9);
        assert!(flying.laps[1].time_s < standing.laps[1].time_s - 0.1, "{:?} vs {:?}", flying.laps[1].time_s, standing.laps[1].time_s);
        let first = flying.laps[1].trace.first().unwrap();
        assert!(first.speed > 1.0, "the second lap starts at speed: {first:?}");
        assert!(flying.laps.iter().all(|l| l.off_tracks == 0 && l.collisions == 0 && l.trace.len() > 100));
    }

    #[test]
    fn laps_stepped_one_at_a_time_are_the_laps_of_an_evaluation() {
        // The desktop simulator steps a LapRunner; what it shows must be what `paddock eval` says.
        let reckless = PurePursuit { speed: 3.5, lookahead_m: 0.3, lookahead_per_mps: 0.0, ..PurePursuit::default() };
        let options = EvalOptions { laps: 3, continuous: true, max_resets_per_lap: 50, ..Default::default() };
        let report = drive("circuit", &options, reckless);
        let (_, space) = state_model();
        let mut runner = LapRunner::new(Sensor::State, space, Track::resolve("circuit").unwrap(), "t", &options).unwrap();
        let (mut resets, mut ended) = (0, Vec::new());
        while !runner.is_finished() {
            let step = runner.step(reckless.act(runner.env())).unwrap();
            resets += step.reset.is_some() as usize;
            ended.extend(step.lap_ended);
        }
        assert!(runner.step(reckless.act(runner.env())).is_err(), "stepping after the last lap is refused");
        assert_eq!(ended, vec![1, 2, 3]);
        let stepped = runner.into_report();
        assert!(resets > 0, "the reckless driver leaves the track: {:?}", stepped.laps);
        assert_eq!(resets, stepped.laps.iter().map(|l| l.off_tracks + l.collisions).sum::<usize>());
        assert_eq!(serde_json::to_string(&stepped).unwrap(), serde_json::to_string(&report).unwrap());
    }

    #[test]
    fn leaving_the_track_adds_the_penalty_to_the_lap_and_marks_the_trace() {
        // Too fast for the circuit's bends: it leaves the track and is put back.
        let reckless = PurePursuit { speed: 4.0, lookahead_m: 0.2, lookahead_per_mps: 0.0, ..PurePursuit::default() };
        let options = EvalOptions { laps: 1, off_track_penalty_s: 3.0, max_resets_per_lap: 50, ..Default::default() };
        let report = drive("circuit", &options, reckless);
        let lap = &report.laps[0];
        assert!(lap.off_tracks > 0, "{lap:?}");
        assert!((lap.time_s - lap.driving_time_s - 3.0 * lap.off_tracks as f64).abs() < 1e-9);
        let marked = lap.trace.iter().filter(|p| p.reset == Some(Reset::OffTrack)).count();
        assert_eq!(marked, lap.off_tracks);
    }

    #[test]
    fn hitting_an_obstacle_counts_a_collision_with_its_own_penalty() {
        // Centre-line driving meets boxes placed half-way across a lane only when they stand
        // close to the centre: drive in the lane where boxes stand, left and right.
        let env = EnvConfig { obstacles: 6, ..Default::default() };
        let options = EvalOptions { laps: 1, collision_penalty_s: 5.0, off_track_penalty_s: 1.0, env: Some(env), max_resets_per_lap: 50, ..Default::default() };
        let mut found = None;
        for lane_m in [0.17, -0.17] {
            let report = drive("circuit", &options, PurePursuit { speed: 1.0, lane_m, ..PurePursuit::default() });
            if report.laps[0].collisions > 0 {
                found = Some(report);
                break;
            }
        }
        let report = found.expect("a car driving in a lane of boxes hits one");
        let lap = &report.laps[0];
        let penalties = lap.off_tracks as f64 * 1.0 + lap.collisions as f64 * 5.0;
        assert!((lap.time_s - lap.driving_time_s - penalties).abs() < 1e-9, "{lap:?}");
        assert_eq!(lap.trace.iter().filter(|p| p.reset == Some(Reset::Collision)).count(), lap.collisions);
    }
}
