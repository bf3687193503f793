//! A training run's folder, readable without libtorch: the trainer writes it; `paddock eval`,
//! `paddock export`, the desktop simulator and the notebooks read it.
//!
//! ```text
//! RUN/config.toml        the resolved config (every default written out)        [config]
//! RUN/metrics.jsonl      one IterationMetrics per iteration                       [metrics]
//! RUN/simtrace.csv       DeepRacer's simtrace columns, one row per env step, + iteration, worker
//! RUN/checkpoints/N/     model.safetensors, trainer.safetensors, state.json; written as a
//!                        temporary folder and renamed, so a kill -9 leaves the last whole one
//! RUN/model.safetensors  the trained policy (the `policy` crate's format)
//! RUN/reward_function.py a Python reward's code as the run started; a resumed run reads this copy
//! ```

pub mod config;
pub mod folder;
pub mod metrics;
pub mod simtrace;

use std::io::Write;
use std::path::Path;

pub use config::RunConfig;
pub use folder::{resolve_model_path, Checkpoint, RunFolder, RunLogs, RunState};
pub use metrics::{read_metrics, IterationMetrics, LapCheck, PpoStats, SacStats, UpdateStats};

/// What can go wrong with a run's config or folder; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("config: {0}")]
    Config(String),
    #[error("run folder {path}: {message}")]
    Folder { path: String, message: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Policy(#[from] paddock_policy::PolicyError),
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io { path: path.display().to_string(), source }
}

/// Writes a file whole or not at all: a temporary file beside it, synced, renamed over it, the
/// folder synced (the `atomic-write-file` crate).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    let mut file = atomic_write_file::AtomicWriteFile::open(path).map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.commit().map_err(io_err(path))
}
