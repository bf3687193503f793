//! Evaluation as DeepRacer runs it, with the `policy` crate (no libtorch): what the trainer's
//! lap check, `paddock eval`, the race server and the desktop simulator share.
//!
//! - [`laps`]: evaluation laps ([`evaluate`] for a model, [`evaluate_driver`] for any driver,
//!   [`LapRunner`] one step at a time)
//!   and their report.
//! - [`pictures`]: the driven laps from above (PNG) and the camera's view (GIF).
//! - [`worker`]: evaluations of untrusted models in a sandboxed `paddock-worker` process.

pub mod laps;
pub mod pictures;
pub mod worker;

pub use laps::{evaluate, evaluate_driver, model_fits, EvalOptions, EvalReport, LapResult, LapRunner, LapStep, Reset, TracePoint};
pub use pictures::{write_camera_gif, write_top_down_png};
pub use worker::{EvalJob, WorkerEval, WorkerEvalError};

/// What can go wrong in an evaluation; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The model's sensor or shape does not match the simulated car.
    #[error("the model does not fit the car: {0}")]
    ModelDoesNotFit(String),
    /// The driver (the car binary, a user's code) could not give an action.
    #[error("driver: {0}")]
    Driver(String),
    #[error("no camera frames were recorded (evaluate with camera_every > 0)")]
    NoFrames,
    #[error(transparent)]
    Policy(#[from] paddock_policy::PolicyError),
    #[error(transparent)]
    Sim(#[from] paddock_sim::SimError),
    #[error(transparent)]
    Track(#[from] paddock_tracks::TrackError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}
