//! The driving loop: frame in, model, pulses out, with the safety net around it.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use paddock_policy::camera::frame_to_observation;
use paddock_policy::{Observations, Policy, Sensor};
use paddock_vehicle::action::ActionSpace;
use paddock_vehicle::calibration::{Calibration, Pulses};
use serde::Serialize;

use crate::config::{CameraConfig, CarConfig};
use crate::output::Output;
use crate::record::Recorder;
use crate::{camera, output, CarError};

/// What the car is told for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Command {
    /// Degrees, positive left.
    pub steering_deg: f32,
    /// m/s, after the speed cap.
    pub speed_mps: f32,
    pub steering_us: u32,
    pub throttle_us: u32,
}

impl Command {
    pub fn pulses(&self) -> Pulses {
        Pulses { steering_us: self.steering_us, throttle_us: self.throttle_us }
    }
}

/// Frame to command: preprocessing, the model, action mapping and calibration. No I/O.
pub struct Pipeline {
    policy: Policy,
    camera: CameraConfig,
    obs_size: (usize, usize),
    obs: Vec<u8>,
    calibration: Calibration,
    max_steering_deg: f32,
    speed_cap_mps: f32,
}

impl Pipeline {
    /// Checks that the model fits the camera and the car, and refuses it otherwise.
    pub fn new(policy: Policy, camera: &CameraConfig, calibration: Calibration, max_steering_deg: f32, speed_cap_mps: f32) -> Result<Pipeline, CarError> {
        let meta = policy.metadata();
        let spec = &meta.observation;
        let mismatch = |m: String| Err(CarError::Mismatch(m));
        if spec.sensor != Sensor::Camera {
            return mismatch(format!("it was trained on {:?} observations; this car has one front camera (train with observation = \"camera\")", spec.sensor));
        }
        let [1, h, w] = spec.shape[..] else {
            return mismatch(format!("it takes images of shape {:?}; a front camera gives [1, height, width]", spec.shape));
        };
        if (camera.width as usize) < w || (camera.height as usize) < h {
            return mismatch(format!("it takes {w}x{h} images; the configured {}x{} camera is smaller", camera.width, camera.height));
        }
        let widest = match &meta.action_space {
            ActionSpace::Discrete(list) => list.iter().map(|a| a.steering_angle.abs()).fold(0.0, f32::max),
            ActionSpace::Continuous { steering_angle, .. } => steering_angle.low.abs().max(steering_angle.high.abs()),
        };
        if widest > max_steering_deg + 1e-3 {
            return mismatch(format!("it steers up to {widest} degrees; this car's max_steering_deg is {max_steering_deg}"));
        }
        Ok(Pipeline { policy, camera: camera.clone(), obs_size: (w, h), obs: vec![0; w * h], calibration, max_steering_deg, speed_cap_mps })
    }

    /// The command for one camera frame.
    pub fn command(&mut self, frame: &[u8]) -> Result<Command, CarError> {
        let size = (self.camera.width as usize, self.camera.height as usize);
        frame_to_observation(frame, size, self.camera.format.pixel_format(), self.obs_size, &mut self.obs)?;
        let meta = self.policy.metadata();
        let action = self.policy.act_greedy(Observations::U8(&self.obs))?;
        let chosen = meta.action_space.resolve(action).map_err(|e| CarError::Mismatch(e.to_string()))?;
        let pulses = self.calibration.pulses(chosen.steering_angle, self.max_steering_deg, chosen.speed, self.speed_cap_mps);
        Ok(Command {
            steering_deg: chosen.steering_angle.clamp(-self.max_steering_deg, self.max_steering_deg),
            speed_mps: chosen.speed.clamp(0.0, self.speed_cap_mps.min(self.calibration.max_speed_mps)),
            steering_us: pulses.steering_us,
            throttle_us: pulses.throttle_us,
        })
    }

    /// The observation the model saw last (160x120 grayscale for DeepRacer's camera).
    pub fn observation(&self) -> (&[u8], (usize, usize)) {
        (&self.obs, self.obs_size)
    }
}

/// How to run besides the config.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Save observations and commands here.
    pub record: Option<PathBuf>,
    /// Print one JSON line per frame on stdout.
    pub log: bool,
    /// Stop after this many frames.
    pub max_frames: Option<u64>,
}

/// How a drive went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub frames: u64,
    /// Frames whose command came later than the inference budget (motor stopped for them).
    pub overruns: u64,
    /// Times the watchdog stopped the motor because frames stopped coming.
    pub watchdog_stops: u64,
    /// Frame in to pulses out, milliseconds.
    pub mean_latency_ms: f64,
    pub max_latency_ms: f64,
    /// The signal that ended the drive, if one did.
    pub signal: Option<i32>,
}

/// The output and what was last written to it, shared by the loop, the watchdog and the
/// signal handler. Dropping it writes neutral, so every way out of [`run`] stops the car.
struct Actuators {
    output: Box<dyn Output>,
    neutral: Pulses,
    last: Pulses,
    last_frame: Instant,
    /// Set by a signal: nothing but neutral is written any more.
    stopped: Option<i32>,
    watchdog_stops: u64,
}

impl Actuators {
    fn write(&mut self, pulses: Pulses) -> Result<(), CarError> {
        self.output.write(pulses)?;
        self.last = pulses;
        Ok(())
    }

    fn neutral(&mut self) {
        let neutral = self.neutral;
        if let Err(e) = self.write(neutral) {
            eprintln!("paddock-car: could not write neutral: {e}");
        }
    }
}

struct Shared(Arc<Mutex<Actuators>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Actuators> {
        // A panic elsewhere must not keep the car from stopping.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.lock().neutral();
    }
}

/// Drives until the frames end, `max_frames`, an error or a signal; the motor is at neutral
/// before the model is even loaded, and again on every way out.
pub fn run(config: &CarConfig, options: &RunOptions) -> Result<RunSummary, CarError> {
    // The calibration says what neutral is: without it, nothing may be written at all.
    let path = config.calibration.display().to_string();
    let text = std::fs::read_to_string(&config.calibration)
        .map_err(|e| paddock_vehicle::calibration::CalibrationError::File { path: path.clone(), message: e.to_string() })?;
    let calibration = Calibration::from_json_str(&text, &path)?;
    let neutral = calibration.neutral();
    let mut out = output::open(&config.output)?;
    out.write(neutral)?;
    eprintln!("paddock-car: output {}: neutral (steering {} us, throttle {} us)", out.describe(), neutral.steering_us, neutral.throttle_us);
    let shared = Shared(Arc::new(Mutex::new(Actuators { output: out, neutral, last: neutral, last_frame: Instant::now(), stopped: None, watchdog_stops: 0 })));
    let done = Arc::new(AtomicBool::new(false));
    let _watchdog = spawn_watchdog(shared.0.clone(), done.clone(), Duration::from_millis(config.safety.frame_timeout_ms));
    let signals = spawn_signal_handler(shared.0.clone())?;
    let result = drive(config, options, &shared, calibration);
    done.store(true, Ordering::Relaxed);
    signals.close();
    let mut summary = result?;
    let a = shared.lock();
    summary.watchdog_stops = a.watchdog_stops;
    summary.signal = a.stopped;
    Ok(summary)
}

fn drive(config: &CarConfig, options: &RunOptions, shared: &Shared, calibration: Calibration) -> Result<RunSummary, CarError> {
    let policy = Policy::load(&config.model)?;
    let mut pipeline = Pipeline::new(policy, &config.camera, calibration, config.max_steering_deg, config.speed_cap_mps)?;
    let mut recorder = match &options.record {
        Some(dir) => Some(Recorder::create(dir, config, pipeline.observation().1)?),
        None => None,
    };
    let mut source = camera::open(&config.camera)?;
    eprintln!("paddock-car: camera {}, model {}, speed cap {} m/s", source.describe(), config.model.display(), config.speed_cap_mps);
    let budget = Duration::from_secs_f64(config.safety.inference_budget_ms / 1000.0);
    let start = Instant::now();
    let mut summary = RunSummary::default();
    let mut total_latency = 0.0;
    let mut frame = Vec::new();
    let stdout = std::io::stdout();
    while options.max_frames.is_none_or(|m| summary.frames < m) {
        if !source.next_frame(&mut frame)? {
            break;
        }
        let frame_in = Instant::now();
        shared.lock().last_frame = frame_in;
        let command = pipeline.command(&frame)?;
        let overrun = frame_in.elapsed() > budget;
        let latency;
        {
            let mut a = shared.lock();
            if a.stopped.is_some() {
                break;
            }
            let pulses = if overrun { Pulses { throttle_us: a.neutral.throttle_us, ..command.pulses() } } else { command.pulses() };
            a.write(pulses)?;
            latency = frame_in.elapsed().as_secs_f64() * 1000.0;
        }
        if overrun {
            summary.overruns += 1;
            eprintln!("paddock-car: frame {} took {latency:.1} ms, over the {} ms budget: motor stopped", summary.frames, config.safety.inference_budget_ms);
        }
        total_latency += latency;
        summary.max_latency_ms = summary.max_latency_ms.max(latency);
        let t_s = start.elapsed().as_secs_f64();
        if let Some(r) = recorder.as_mut() {
            r.record(summary.frames, t_s, &command, latency, overrun, pipeline.observation().0)?;
        }
        if options.log {
            let line = serde_json::json!({"frame": summary.frames, "t_s": t_s, "command": command, "latency_ms": latency, "overrun": overrun});
            let mut lock = stdout.lock();
            // The reader may be gone (a closed pipe); driving goes on.
            let _ = writeln!(lock, "{line}").and_then(|_| lock.flush());
        }
        summary.frames += 1;
    }
    summary.mean_latency_ms = if summary.frames > 0 { total_latency / summary.frames as f64 } else { 0.0 };
    if let Some(r) = recorder {
        r.finish()?;
    }
    Ok(summary)
}

fn spawn_watchdog(shared: Arc<Mutex<Actuators>>, done: Arc<AtomicBool>, timeout: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let tick = (timeout / 5).clamp(Duration::from_millis(1), Duration::from_millis(20));
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(tick);
            let mut a = shared.lock().unwrap_or_else(|p| p.into_inner());
            let late = a.last_frame.elapsed();
            if a.stopped.is_none() && a.last.throttle_us != a.neutral.throttle_us && late > timeout {
                let pulses = Pulses { throttle_us: a.neutral.throttle_us, ..a.last };
                match a.write(pulses) {
                    Ok(()) => eprintln!("paddock-car: watchdog: no frame for {} ms: motor stopped", late.as_millis()),
                    Err(e) => eprintln!("paddock-car: watchdog could not stop the motor: {e}"),
                }
                a.watchdog_stops += 1;
            }
        }
    })
}

/// On SIGINT or SIGTERM: neutral at once, then give the loop a moment to finish its recording
/// and exit; if it is blocked waiting for a frame, exit anyway.
fn spawn_signal_handler(shared: Arc<Mutex<Actuators>>) -> Result<signal_hook::iterator::Handle, CarError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(|e| CarError::Output { target: "signal handler".into(), message: e.to_string() })?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            {
                let mut a = shared.lock().unwrap_or_else(|p| p.into_inner());
                a.neutral();
                a.stopped = Some(signal);
            }
            eprintln!("paddock-car: signal {signal}: neutral, stopping");
            std::thread::sleep(Duration::from_millis(500));
            std::process::exit(128 + signal);
        }
    });
    Ok(handle)
}
