//! The run folder: where each file lives, starting and resuming, checkpoints, logs cut back to
//! the last checkpoint.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use paddock_policy::model::TrainingInfo;
use paddock_sandbox::PythonSource;
use serde::{Deserialize, Serialize};

use crate::metrics::MetricsWriter;
use crate::simtrace::{SimtraceWriter, SIMTRACE_HEADER};
use crate::{io_err, write_atomic, RunConfig, RunError};

/// Counters that survive a resume (`checkpoints/N/state.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub iteration: u64,
    pub env_steps: u64,
    pub episodes: u64,
    pub laps: u64,
    pub wall_time_s: f64,
    pub best_lap_s: Option<f64>,
    /// Set once a stop condition that ends the run for good (the lap check) has fired.
    #[serde(default)]
    pub finished: Option<String>,
}

impl RunState {
    /// Records the run's progress in a model's training info.
    pub fn stamp(&self, info: &mut TrainingInfo) {
        info.iterations = self.iteration;
        info.env_steps = self.env_steps;
        info.episodes = self.episodes;
        info.wall_time_s = self.wall_time_s;
    }
}

/// A checkpoint to resume from.
pub struct Checkpoint {
    pub state: RunState,
    /// The policy, in the `policy` crate's model format.
    pub model: PathBuf,
    /// The learner's own state (optimiser, SAC's critics), safetensors, and where it was read.
    pub trainer_bytes: Vec<u8>,
    pub trainer_file: PathBuf,
}

/// The logs a run appends to.
pub struct RunLogs {
    pub metrics: MetricsWriter,
    pub simtrace: SimtraceWriter,
}

/// A run's folder.
#[derive(Debug, Clone)]
pub struct RunFolder {
    dir: PathBuf,
}

impl RunFolder {
    pub fn new(dir: &Path) -> RunFolder {
        RunFolder { dir: dir.to_path_buf() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The resolved config, every default written out.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.dir.join("metrics.jsonl")
    }
    pub fn simtrace_path(&self) -> PathBuf {
        self.dir.join("simtrace.csv")
    }
    /// The trained policy (written when the run ends).
    pub fn model_path(&self) -> PathBuf {
        self.dir.join("model.safetensors")
    }
    /// A Python reward's code as the run started; a resumed run reads this copy.
    pub fn reward_copy_path(&self) -> PathBuf {
        self.dir.join("reward_function.py")
    }
    fn checkpoints_dir(&self) -> PathBuf {
        self.dir.join("checkpoints")
    }

    fn error(&self, message: impl Into<String>) -> RunError {
        RunError::Folder { path: self.dir.display().to_string(), message: message.into() }
    }

    /// The config of the run this folder holds.
    pub fn read_config(&self) -> Result<RunConfig, RunError> {
        if !self.config_path().exists() {
            return Err(self.error("has no config.toml to resume from"));
        }
        RunConfig::from_toml_file(&self.config_path())
    }

    /// Refuses a folder that already holds a run.
    pub fn check_free(&self) -> Result<(), RunError> {
        if self.config_path().exists() {
            return Err(self.error("already holds a run; pass --resume to continue it, or choose another --out"));
        }
        Ok(())
    }

    /// Makes the folder ready for `config` and returns the Python reward to train on. A new run
    /// writes the resolved config and a copy of the Python reward; a resumed one reads its copy,
    /// so edits to (or the loss of) the original since the run started don't change its reward.
    pub fn prepare(&self, config: &RunConfig, resume: bool) -> Result<Option<PythonSource>, RunError> {
        let checkpoints = self.checkpoints_dir();
        fs::create_dir_all(&checkpoints).map_err(io_err(&checkpoints))?;
        let copy = self.reward_copy_path();
        let reward = if resume && copy.is_file() && config.reward_function.ends_with(".py") {
            let code = fs::read_to_string(&copy).map_err(io_err(&copy))?;
            Some(PythonSource { file: config.reward_function.clone(), code, deadline_ms: config.reward_deadline_ms })
        } else {
            config.reward_python()?
        };
        if !resume {
            if let Some(source) = &reward {
                write_atomic(&copy, source.code.as_bytes())?;
            }
            write_atomic(&self.config_path(), config.to_toml_string().as_bytes())?;
        }
        Ok(reward)
    }

    /// The newest complete checkpoint, read.
    pub fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, RunError> {
        let Some((_, dir)) = self.checkpoints()?.into_iter().max_by_key(|(i, _)| *i) else { return Ok(None) };
        let trainer_file = dir.join("trainer.safetensors");
        let trainer_bytes = fs::read(&trainer_file).map_err(io_err(&trainer_file))?;
        let state_file = dir.join("state.json");
        let text = fs::read_to_string(&state_file).map_err(io_err(&state_file))?;
        let state = serde_json::from_str(&text).map_err(|e| self.error(format!("{}: {e}", state_file.display())))?;
        Ok(Some(Checkpoint { state, model: dir.join("model.safetensors"), trainer_bytes, trainer_file }))
    }

    /// Writes `checkpoints/N/` whole (a temporary folder, synced, then renamed, so a kill -9
    /// leaves the last whole one) and keeps the two newest.
    pub fn save_checkpoint(&self, state: &RunState, model: &[u8], trainer: &[u8]) -> Result<(), RunError> {
        let root = self.checkpoints_dir();
        let name = format!("{:06}", state.iteration);
        let tmp = root.join(format!(".tmp-{name}"));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        let state_json = serde_json::to_string_pretty(state).map_err(|e| self.error(e.to_string()))?;
        // The folder is renamed into place whole, so its files need only be synced, not renamed.
        for (file, bytes) in [("model.safetensors", model), ("trainer.safetensors", trainer), ("state.json", state_json.as_bytes())] {
            let path = tmp.join(file);
            fs::File::create(&path).and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all())).map_err(io_err(&path))?;
        }
        let final_dir = root.join(name);
        let _ = fs::remove_dir_all(&final_dir);
        fs::rename(&tmp, &final_dir).map_err(io_err(&final_dir))?;
        fs::File::open(&root).and_then(|d| d.sync_all()).map_err(io_err(&root))?;
        let mut done = self.checkpoints()?;
        done.sort();
        for (_, old) in done.iter().rev().skip(2) {
            let _ = fs::remove_dir_all(old);
        }
        Ok(())
    }

    /// The policy of the newest complete checkpoint and its iteration: what a viewer of a run
    /// still training drives.
    pub fn newest_checkpoint_model(&self) -> Option<(u64, PathBuf)> {
        let (i, dir) = self.checkpoints().ok()?.into_iter().max_by_key(|(i, _)| *i)?;
        Some((i, dir.join("model.safetensors")))
    }

    fn checkpoints(&self) -> Result<Vec<(u64, PathBuf)>, RunError> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(self.checkpoints_dir()) else { return Ok(out) };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Ok(i) = name.parse::<u64>() {
                if entry.path().join("state.json").exists() {
                    out.push((i, entry.path()));
                }
            }
        }
        Ok(out)
    }

    /// Drops log lines of iterations after `iteration` (the one in flight when the run died)
    /// and any half-written last line.
    pub fn truncate_logs(&self, iteration: u64) -> Result<(), RunError> {
        keep_lines(&self.metrics_path(), &|_| false, &|l| crate::metrics::iteration_of(l).is_some_and(|i| i <= iteration))?;
        keep_lines(&self.simtrace_path(), &|l| l == SIMTRACE_HEADER, &|l| crate::simtrace::iteration_of(l).is_some_and(|i| i <= iteration))
    }

    /// The metrics and simtrace, opened for appending.
    pub fn open_logs(&self) -> Result<RunLogs, RunError> {
        Ok(RunLogs { metrics: MetricsWriter::append(&self.metrics_path())?, simtrace: SimtraceWriter::append(&self.simtrace_path())? })
    }
}

/// Rewrites `path` with the whole lines that are a header or that `keep` accepts.
fn keep_lines(path: &Path, is_header: &dyn Fn(&str) -> bool, keep: &dyn Fn(&str) -> bool) -> Result<(), RunError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(path)(e)),
    };
    // A line without its newline was cut off mid-write.
    let whole = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    let mut kept = String::new();
    for line in whole.lines().filter(|l| is_header(l) || keep(l)) {
        kept.push_str(line);
        kept.push('\n');
    }
    write_atomic(path, kept.as_bytes())
}

/// The model file of a run folder (or checkpoint folder), or the file itself.
pub fn resolve_model_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("model.safetensors")
    } else {
        path.to_path_buf()
    }
}
