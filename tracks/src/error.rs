use std::path::PathBuf;

/// Everything that can be wrong with a track or a track file.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("unknown track '{name}' (bundled tracks: {known}; or random:SEED, or a .json/.npy file path)")]
    UnknownTrack { name: String, known: String },
    #[error("cannot read track file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("track file {path} is not valid JSON for a track: {message}")]
    Json { path: PathBuf, message: String },
    #[error("track file {path} is not a usable DeepRacer .npy route: {message}")]
    Npy { path: PathBuf, message: String },
    #[error("track '{name}' is invalid: {message}")]
    Invalid { name: String, message: String },
}
