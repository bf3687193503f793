//! `paddock-car`: the program that drives a real 1/18-scale car with a trained model.
//!
//! Camera frames come in ([`camera`]: a V4L2 device, or a folder or pipe of frames for tests and
//! replays), become the simulator's 160x120 grayscale observation through the same function the
//! simulator's users share (`paddock_policy::camera`), go through the model (`paddock_policy`,
//! no libtorch), and leave as steering and throttle pulse widths ([`drive::Pipeline`], through
//! the car's calibration) on an [`output`]: Linux sysfs PWM, a PCA9685 board over I2C, or a
//! dry run that logs them.
//!
//! Safety is the [`drive`] loop's first job: neutral pulses before anything else, a watchdog
//! that stops the motor when frames stop or inference overruns its budget, a speed cap, and
//! neutral again on exit, on errors and on SIGINT/SIGTERM.

pub mod calibrate;
pub mod camera;
pub mod config;
pub mod drive;
pub mod output;
pub mod record;

pub use config::CarConfig;
pub use drive::{Command, Pipeline};

/// What can stop the car from starting or keep it from driving; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum CarError {
    #[error("config {path}: {message}")]
    Config { path: String, message: String },
    #[error(transparent)]
    Calibration(#[from] paddock_vehicle::calibration::CalibrationError),
    #[error("model: {0}")]
    Model(#[from] paddock_policy::PolicyError),
    #[error("the model does not fit this car: {0}")]
    Mismatch(String),
    #[error("camera {source_name}: {message}")]
    Camera { source_name: String, message: String },
    #[error("output {target}: {message}")]
    Output { target: String, message: String },
    #[error("recording to {path}: {message}")]
    Record { path: String, message: String },
}
