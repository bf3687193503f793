//! `--record DIR`: what the car saw and did, for the notebooks and for replays.
//!
//! `DIR/frames/NNNNNN.png` is each frame's observation (what the model saw, 160x120 grayscale
//! for DeepRacer's camera); `DIR/commands.csv` has one row per frame; `DIR/car.json` says which
//! model and limits drove. Rows are flushed as they are written, so a crash loses at most one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::config::CarConfig;
use crate::drive::Command;
use crate::CarError;

pub const COMMANDS_HEADER: &str = "frame,time_s,steering_deg,speed_mps,steering_us,throttle_us,latency_ms,overrun";

pub struct Recorder {
    dir: PathBuf,
    frames: PathBuf,
    csv: BufWriter<File>,
    size: (usize, usize),
}

impl Recorder {
    pub fn create(dir: &Path, config: &CarConfig, obs_size: (usize, usize)) -> Result<Recorder, CarError> {
        let fail = |e: std::io::Error| CarError::Record { path: dir.display().to_string(), message: e.to_string() };
        let frames = dir.join("frames");
        std::fs::create_dir_all(&frames).map_err(fail)?;
        if std::fs::read_dir(&frames).map_err(fail)?.next().is_some() {
            return Err(CarError::Record { path: dir.display().to_string(), message: "already holds a recording; choose a new folder".into() });
        }
        let about = serde_json::json!({
            "model": config.model, "calibration": config.calibration, "camera": config.camera.source,
            "speed_cap_mps": config.speed_cap_mps, "max_steering_deg": config.max_steering_deg,
            "paddock_version": env!("CARGO_PKG_VERSION"),
        });
        std::fs::write(dir.join("car.json"), serde_json::to_string_pretty(&about).expect("plain JSON")).map_err(fail)?;
        let mut csv = BufWriter::new(File::create(dir.join("commands.csv")).map_err(fail)?);
        writeln!(csv, "{COMMANDS_HEADER}").map_err(fail)?;
        Ok(Recorder { dir: dir.to_path_buf(), frames, csv, size: obs_size })
    }

    pub fn record(&mut self, frame: u64, time_s: f64, c: &Command, latency_ms: f64, overrun: bool, observation: &[u8]) -> Result<(), CarError> {
        let fail = |m: String| CarError::Record { path: self.dir.display().to_string(), message: m };
        let image =
            image::GrayImage::from_raw(self.size.0 as u32, self.size.1 as u32, observation.to_vec()).ok_or_else(|| fail("observation size changed".into()))?;
        image.save(self.frames.join(format!("{frame:06}.png"))).map_err(|e| fail(e.to_string()))?;
        writeln!(self.csv, "{frame},{time_s:.4},{:.3},{:.3},{},{},{latency_ms:.3},{overrun}", c.steering_deg, c.speed_mps, c.steering_us, c.throttle_us)
            .and_then(|_| self.csv.flush())
            .map_err(|e| fail(e.to_string()))
    }

    pub fn finish(mut self) -> Result<(), CarError> {
        self.csv.flush().map_err(|e| CarError::Record { path: self.dir.display().to_string(), message: e.to_string() })
    }
}
