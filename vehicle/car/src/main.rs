//! `paddock-car`: drive a real car with a trained model. See the crate docs and `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use paddock_car::drive::{self, RunOptions};
use paddock_car::{calibrate, CarConfig};

#[derive(Parser)]
#[command(name = "paddock-car", version, about = "Camera frames in, the trained model, steering and throttle pulses out.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drive: read frames, run the model, write pulses, until the frames end or Ctrl-C.
    Run {
        /// The car's config file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Use this model instead of the config's.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Use this camera source instead of the config's (`/dev/video0`, `folder:DIR`, `pipe:-`).
        #[arg(long)]
        camera: Option<String>,
        /// Log the pulses instead of driving the configured output.
        #[arg(long)]
        dry_run: bool,
        /// Lower the config's speed cap, m/s.
        #[arg(long)]
        speed_cap: Option<f32>,
        /// Save each observation and command in this folder.
        #[arg(long)]
        record: Option<PathBuf>,
        /// Print one JSON line per frame on stdout.
        #[arg(long)]
        log: bool,
        /// Stop after this many frames.
        #[arg(long)]
        max_frames: Option<u64>,
    },
    /// Find the servo's and the motor's pulses interactively and write the calibration file.
    Calibrate {
        #[arg(long, short)]
        config: PathBuf,
        /// Where to write it (default: the config's `calibration`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("paddock-car: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Run { config, model, camera, dry_run, speed_cap, record, log, max_frames } => {
            let mut car = CarConfig::load(&config)?;
            if let Some(m) = model {
                car.model = m;
            }
            if let Some(c) = camera {
                car.camera.source = c;
            }
            if dry_run {
                car.output = paddock_car::config::OutputConfig::DryRun;
            }
            if let Some(cap) = speed_cap {
                anyhow::ensure!(cap.is_finite() && cap >= 0.0, "--speed-cap must be 0 or more m/s, got {cap}");
                car.speed_cap_mps = car.speed_cap_mps.min(cap);
            }
            let summary = drive::run(&car, &RunOptions { record, log, max_frames })?;
            eprintln!(
                "paddock-car: {} frames, latency mean {:.2} ms, max {:.2} ms, {} overruns, {} watchdog stops; motor at neutral",
                summary.frames, summary.mean_latency_ms, summary.max_latency_ms, summary.overruns, summary.watchdog_stops
            );
            Ok(match summary.signal {
                Some(s) => ExitCode::from(128 + s as u8),
                None => ExitCode::SUCCESS,
            })
        }
        Command::Calibrate { config, out } => {
            let car = CarConfig::load(&config)?;
            let path = out.unwrap_or_else(|| car.calibration.clone());
            let stdin = std::io::stdin();
            calibrate::session(&car, &path, stdin.lock(), std::io::stdout()).with_context(|| format!("calibrating into {}", path.display()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
