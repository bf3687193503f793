//! Race tracks: geometry, files and lap queries.
//!
//! A [`Track`] is a centre line of waypoints with a width at each waypoint, closed into a loop
//! (or open, like DeepRacer's straight track). Coordinates are metres in the track plane (x, y),
//! as in DeepRacer's route files; headings are radians, counter-clockwise from +x.
//!
//! Sources of tracks: the bundled designs in `tracks/data/*.json` ([`Track::builtin`]),
//! the procedural generator (`random:SEED`), our JSON format ([`Track::from_json_str`]) and
//! DeepRacer `.npy` route files ([`Track::from_npy_file`]). [`Track::resolve`] takes any of these.
//!
//! [`RacingLine`] is the physical limit of a lap: a minimum-curvature line within the borders and
//! a forward-backward speed profile, giving the minimum lap time for a car's limits.

pub use glam::DVec2;

mod error;
pub use error::TrackError;
mod racing_line;
mod track;
pub use racing_line::{LapLimits, RacingLine};
pub use track::{Projection, Track};
