//! What the command line names, opened: tracks, models and run folders, with errors that say
//! what to fix (shown in the window, never a panic).

use std::path::{Path, PathBuf};

use paddock_policy::Policy;
use paddock_run::{RunConfig, RunFolder};
use paddock_sim::EnvConfig;
use paddock_tracks::Track;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("track '{name}': {source}")]
    Track { name: String, source: paddock_tracks::TrackError },
    /// The policy crate's message names the file.
    #[error("model: {source}")]
    Model { path: String, source: paddock_policy::PolicyError },
    #[error("run folder {path}: {message}")]
    Run { path: String, message: String },
}

/// A track by bundled name, `random:SEED`, or `.json`/`.npy` path, clockwise when `reverse`.
pub fn track(name: &str, reverse: bool) -> Result<Track, LoadError> {
    let t = Track::resolve(name).map_err(|source| LoadError::Track { name: name.to_string(), source })?;
    Ok(if reverse { t.reversed() } else { t })
}

/// A model to watch, with the track and environment to watch it in.
pub struct Watched {
    pub policy: Policy,
    /// Where the model was read.
    pub model_path: PathBuf,
    pub track_name: String,
    pub track: Track,
    pub env: EnvConfig,
}

/// A model file, or a run folder (its final model, else its newest checkpoint, on the run's
/// track and in its `[env]`). `track` overrides the run's track (a model file alone needs one;
/// `circuit` otherwise).
pub fn watched(path: &Path, track_override: Option<&str>, reverse: bool) -> Result<Watched, LoadError> {
    let (model_path, config) = if path.is_dir() {
        let run = RunFolder::new(path);
        let config = run.read_config().map_err(|e| LoadError::Run { path: path.display().to_string(), message: e.to_string() })?;
        let model = if run.model_path().is_file() {
            run.model_path()
        } else {
            run.newest_checkpoint_model().map(|(_, p)| p).ok_or_else(|| LoadError::Run {
                path: path.display().to_string(),
                message: "has no model.safetensors and no checkpoint yet (has training saved its first one?)".into(),
            })?
        };
        (model, Some(config))
    } else if path.exists() {
        (path.to_path_buf(), None)
    } else {
        return Err(LoadError::Run { path: path.display().to_string(), message: "does not exist".into() });
    };
    let policy = Policy::load(&model_path).map_err(|source| LoadError::Model { path: model_path.display().to_string(), source })?;
    let (track_name, run_reverse, env) = match config {
        Some(RunConfig { track, reverse, env, .. }) => (track, reverse, env),
        None => ("circuit".to_string(), false, EnvConfig::default()),
    };
    let track_name = track_override.map(str::to_string).unwrap_or(track_name);
    let track = track(&track_name, reverse || (track_override.is_none() && run_reverse))?;
    Ok(Watched { policy, model_path, track_name, track, env })
}
