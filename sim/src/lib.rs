//! Paddock's simulator: a 1/18-scale car on a race track.
//!
//! - [`physics`]: the rapier3d world: a dynamic chassis on ray-cast wheels over a flat ground,
//!   with obstacles and other cars as colliders. The track plane (x, y) of the track files is
//!   rapier's x-y plane and z points up, so no axis mapping is needed anywhere.
//! - [`sensors`]: the front camera (160x120 grayscale), stereo pair and lidar, rendered on the CPU
//!   from a [`TrackScene`] prepared once per track.
//! - [`params`]: DeepRacer's reward-function `params`, and [`reward`]: the reward trait with
//!   built-in functions.
//! - [`env`]: [`Env`] (one car, one episode at a time) and [`vec_env`]: [`VecEnv`] (many,
//!   stepped in parallel into preallocated buffers).

/// The action spaces live with the car's spec; re-exported here for the simulator's users.
pub mod action {
    pub use paddock_vehicle::action::*;
}
pub mod driver;
pub mod env;
pub mod objects;
pub mod params;
pub mod physics;
pub mod pose;
pub mod reward;
pub mod scene;
pub mod sensors;
pub mod topdown;
pub mod vec_env;

pub use action::{Action, ActionSpace};
pub use env::Env;
pub use env::{EnvConfig, EpisodeStatus, Start};
pub use objects::Obstacle;
pub use paddock_vehicle::sensor::{ObsBuffer, ObsMut, Observations, Sensor};
pub use params::RewardParams;
pub use pose::CarPose;
pub use reward::{builtin_reward, RewardFunction};
pub use scene::TrackScene;
pub use vec_env::{EnvStep, StepTrace, VecEnv};

use paddock_tracks::{LapLimits, TrackError};
use paddock_vehicle::CarSpec;

/// The car's limits for the minimum-lap-time yardstick: its top speed and tyre grip, and a
/// border margin of half its width (the car's centre may come that close to a border line).
pub fn lap_limits(car: &CarSpec) -> LapLimits {
    LapLimits {
        top_speed: car.max_speed_mps as f64,
        max_lateral_accel: car.max_lateral_accel_mps2() as f64,
        max_accel: car.max_accel_mps2 as f64,
        max_brake: car.max_brake_mps2 as f64,
        border_margin: car.width_m as f64 / 2.0,
    }
}

/// What can go wrong in the simulator; every message names the offending value.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Track(#[from] TrackError),
    #[error(transparent)]
    ActionSpace(#[from] paddock_vehicle::action::ActionError),
    #[error("invalid action: {0}")]
    Action(String),
    #[error("unknown reward function '{name}' (built-in: {known})")]
    UnknownReward { name: String, known: String },
    #[error("invalid environment config: {0}")]
    Config(String),
    #[error("reward function {0}")]
    Reward(String),
    #[error("the episode is over ({0}); reset before stepping again")]
    EpisodeOver(&'static str),
}
