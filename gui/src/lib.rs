//! Paddock's desktop simulator: drive the car by hand, watch a model drive it, on any track.
//!
//! Window-free logic first, each tested without a display:
//! - [`session`]: the car on the track, judged lap by lap as evaluation judges it, at 15 Hz.
//! - [`controls`]: keys and gamepad to steering and throttle.
//! - [`chase`]: the chase camera's motion.
//! - [`geometry`]: the road, its border lines and dashed centre line as triangles.
//! - [`load`]: tracks, models and run folders, with errors that say what to fix.
//! - [`inset`]: what the model sees, as a picture.
//!
//! Then the bevy app ([`app`]) with one plugin per concern: [`sim`], [`world`], [`view`],
//! [`hud`], [`script`].

pub mod chase;
pub mod controls;
pub mod geometry;
pub mod inset;
pub mod load;
pub mod session;

pub mod app;
pub mod hud;
pub mod script;
pub mod sim;
pub mod view;
pub mod world;
