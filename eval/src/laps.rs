//! Evaluation laps as DeepRacer runs them: each lap starts at the start line; leaving the
//! track (or crashing, reversing, stopping) puts the car back on the centre line where it left
//! and adds a time penalty; a lap ends at 100 % progress. The model acts greedily through the
//! `policy` crate, exactly as a worker or the car would run it.

use std::sync::Arc;

use glam::Vec2;
use paddock_policy::{ModelMetadata, Policy};
use paddock_sim::sensors::Camera;
use paddock_sim::{builtin_reward, lap_limits, Env, EnvConfig, EpisodeStatus, ObsBuffer, Start, TrackScene};
use paddock_tracks::{RacingLine, Track};
use paddock_vehicle::action::{Action, ActionSpace};
use serde::Serialize;

use crate::EvalError;

/// How to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub laps: usize,
    /// Seconds added to a lap for each time the car is put back on the track.
    pub off_track_penalty_s: f64,
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
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { laps: 3, off_track_penalty_s: 2.0, max_resets_per_lap: 10, max_lap_time_s: 120.0, camera_every: 0, seed: 0, env: None }
    }
}

/// One evaluation lap.
#[derive(Debug, Clone, Serialize)]
pub struct LapResult {
    pub lap: usize,
    pub completed: bool,
    /// Driving time plus penalties, seconds.
    pub time_s: f64,
    pub driving_time_s: f64,
    pub off_tracks: usize,
    /// Percent of the lap covered.
    pub progress: f64,
    #[serde(skip)]
    pub path: Vec<Vec2>,
}

/// All laps, with the yardstick.
#[derive(Debug, Clone, Serialize)]
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
    // Laps start on the centre line, as DeepRacer's evaluation does; the lap check here ends them.
    let config =
        EnvConfig { observation: meta.observation.sensor, action_space, max_steps: u32::MAX, start_jitter_m: 0.0, ..options.env.clone().unwrap_or_default() };
    let want = config.observation.shape(&config.car);
    if want != meta.observation.shape {
        return Err(EvalError::ModelDoesNotFit(format!(
            "the model takes {:?} observations of shape {:?}; the simulated car's sensor gives {want:?}",
            meta.observation.sensor, meta.observation.shape
        )));
    }
    let car = config.car.clone();
    let name = track_name.to_string();
    // On a loop, progress counts from the latest reset; on an open track it is absolute.
    let closed = track.is_closed();
    let min_lap_time_s = RacingLine::compute(&track, &lap_limits(&car))?.lap_time;
    let scene = Arc::new(TrackScene::new(track));
    let mut env = Env::new(Arc::new(config), scene.clone(), builtin_reward("progress")?, options.seed)?;
    let camera = Camera::new(&car.camera, 0.0);
    let frame_size = (car.camera.width_px, car.camera.height_px);
    let mut frame = vec![0u8; (frame_size.0 * frame_size.1) as usize];
    let mut frames = Vec::new();
    let dt = 1.0 / paddock_sim::env::CONTROL_HZ as f64;
    let mut laps = Vec::new();
    let mut step_count = 0usize;
    for lap in 0..options.laps {
        let mut covered = 0.0f64;
        let mut result = LapResult { lap: lap + 1, completed: false, time_s: 0.0, driving_time_s: 0.0, off_tracks: 0, progress: 0.0, path: Vec::new() };
        env.reset(options.seed.wrapping_add(lap as u64), Start::At { progress: 0.0, lateral_m: 0.0, heading_offset_rad: 0.0 });
        loop {
            let step = env.step(act(&env)?)?;
            result.driving_time_s += dt;
            step_count += 1;
            let pose = env.pose();
            result.path.push(Vec2::new(pose.position.x, pose.position.y));
            if options.camera_every > 0 && step_count % options.camera_every == 0 && frames.len() < 2000 {
                camera.render(&scene, &pose, env.obstacles(), &mut frame);
                frames.push(frame.clone());
            }
            let progress = if closed { covered + env.params().progress as f64 } else { env.params().progress as f64 };
            result.progress = progress.min(100.0);
            if progress >= 100.0 || step.status == EpisodeStatus::LapComplete {
                result.completed = true;
                result.progress = 100.0;
                break;
            }
            if result.driving_time_s > options.max_lap_time_s {
                break;
            }
            if step.status.is_done() {
                result.off_tracks += 1;
                if result.off_tracks > options.max_resets_per_lap {
                    break;
                }
                // Back on the centre line where it left, facing along the track.
                covered = progress.max(covered);
                env.reset(options.seed.wrapping_add(step_count as u64), Start::At { progress: covered, lateral_m: 0.0, heading_offset_rad: 0.0 });
            }
        }
        result.time_s = result.driving_time_s + result.off_tracks as f64 * options.off_track_penalty_s;
        laps.push(result);
    }
    let completed: Vec<&LapResult> = laps.iter().filter(|l| l.completed).collect();
    let best_lap_s = completed.iter().map(|l| l.time_s).reduce(f64::min);
    Ok(EvalReport {
        track: name,
        completed_laps: completed.len(),
        clean_laps_in_a_row: laps.iter().take_while(|l| l.completed && l.off_tracks == 0).count(),
        best_lap_ratio: best_lap_s.map(|b| b / min_lap_time_s),
        best_lap_s,
        min_lap_time_s,
        laps,
        frames,
        frame_size,
    })
}
