//! `paddock eval`: evaluation laps of a model or run folder, as DeepRacer's evaluation drives them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use paddock_eval::{evaluate, evaluate_driver, write_camera_gif, write_top_down_png, EvalError, EvalOptions, EvalReport};
use paddock_policy::Policy;
use paddock_run::{resolve_model_path, RunConfig};
use paddock_vehicle::CarSpec;

use crate::car_loop::CarLoop;

#[derive(Args)]
pub struct EvalArgs {
    /// A model file, or a run folder (its model and, by default, its track).
    model: PathBuf,
    /// Track to drive (default: the run's own track when MODEL is a run folder).
    #[arg(long)]
    track: Option<String>,
    /// Drive the track clockwise.
    #[arg(long)]
    reverse: bool,
    #[arg(long, default_value_t = 3)]
    laps: usize,
    /// Seconds added per reset after leaving the track.
    #[arg(long, default_value_t = 2.0)]
    off_track_penalty: f64,
    /// Resets after which a lap is abandoned.
    #[arg(long, default_value_t = 10)]
    max_resets: usize,
    /// Top-down picture of the driven laps over the racing line.
    #[arg(long)]
    png: Option<PathBuf>,
    /// Animated GIF of the car's camera (every second frame).
    #[arg(long)]
    gif: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Drive through this `paddock-car` binary instead: it gets the camera frames the simulator
    /// renders and its PWM output steers the simulated car.
    #[arg(long, value_name = "PADDOCK_CAR")]
    through_car: Option<PathBuf>,
}

pub fn eval_cmd(args: &EvalArgs) -> Result<()> {
    let model_path = resolve_model_path(&args.model);
    let policy = Policy::load(&model_path)?;
    // A run folder brings its own track and environment (car, obstacles, bot cars).
    let run_config = if args.model.is_dir() { Some(RunConfig::from_toml_file(&args.model.join("config.toml"))?) } else { None };
    let (track_name, reverse) = match (&args.track, &run_config) {
        (Some(t), _) => (t.clone(), args.reverse),
        (None, Some(config)) => (config.track.clone(), config.reverse || args.reverse),
        (None, None) => bail!("give --track: {} is a model file, not a run folder", args.model.display()),
    };
    let track = crate::load_directed(&track_name, reverse)?;
    let every = if args.gif.is_some() { 2 } else { 0 };
    let options = EvalOptions {
        laps: args.laps,
        off_track_penalty_s: args.off_track_penalty,
        max_resets_per_lap: args.max_resets,
        camera_every: every,
        env: run_config.map(|c| c.env),
        ..Default::default()
    };
    let report = match &args.through_car {
        None => evaluate(&policy, track.clone(), &track_name, &options),
        Some(binary) => {
            let car = options.env.as_ref().map(|e| e.car.clone()).unwrap_or_else(CarSpec::deepracer);
            let mut car_loop = CarLoop::start(binary, &model_path, policy.metadata(), &car)?;
            let mut failure = None;
            let report = evaluate_driver(policy.metadata(), CarLoop::action_space(&car), track.clone(), &track_name, &options, |env| {
                car_loop.act(env).map_err(|e| {
                    let message = format!("{e:#}");
                    failure = Some(e);
                    EvalError::Driver(message)
                })
            });
            if let Some(e) = failure {
                return Err(e.context("driving through paddock-car"));
            }
            let latencies = std::mem::take(&mut car_loop.latencies_ms);
            car_loop.finish()?;
            if !args.json {
                let mean = latencies.iter().sum::<f64>() / latencies.len().max(1) as f64;
                let max = latencies.iter().cloned().fold(0.0, f64::max);
                println!("Through {}: {} frames, frame in to pulse out {mean:.2} ms mean, {max:.2} ms max", binary.display(), latencies.len());
            }
            report
        }
    }
    .with_context(|| format!("evaluating {}", model_path.display()))?;
    if let Some(png) = &args.png {
        write_top_down_png(&report, &track, png)?;
    }
    if let Some(gif) = &args.gif {
        write_camera_gif(&report, every, gif)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&model_path, &report);
    }
    Ok(())
}

fn print_report(model: &Path, r: &EvalReport) {
    println!("Evaluation of {} on {}", model.display(), r.track);
    for lap in &r.laps {
        if lap.completed {
            println!("  lap {}: {:.2} s ({} off-track)", lap.lap, lap.time_s, lap.off_tracks);
        } else {
            println!("  lap {}: not completed, {:.0}% of the lap ({} off-track)", lap.lap, lap.progress, lap.off_tracks);
        }
    }
    match (r.best_lap_s, r.best_lap_ratio) {
        (Some(best), Some(ratio)) => println!(
            "best lap {best:.2} s = {ratio:.2} x the minimum lap time ({:.2} s); {} of {} laps completed",
            r.min_lap_time_s,
            r.completed_laps,
            r.laps.len()
        ),
        _ => println!("no lap completed (minimum lap time {:.2} s)", r.min_lap_time_s),
    }
}
