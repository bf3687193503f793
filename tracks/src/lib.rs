//! Race tracks: geometry, files and lap queries.
//!
//! A [`Track`] is a centre line of waypoints with a width at each waypoint, closed into a loop
//! (or open, like DeepRacer's straight track). Coordinates are metres in the track plane (x, y),
//! as in DeepRacer's route files; headings are radians, counter-clockwise from +x. The borders
//! lie half a width either side of the centre line, along the normal of the averaged direction
//! of the two segments meeting at each waypoint.
//!
//! Sources of tracks: the bundled designs in `tracks/data/*.json` ([`Track::builtin`]),
//! the procedural generator (`random:SEED`), our JSON format ([`Track::from_json_str`]) and
//! DeepRacer `.npy` route files ([`Track::from_npy_file`]). [`Track::resolve`] takes any of these.
//!
//! [`RacingLine`] is the physical limit of a lap: a minimum-curvature line within the borders and
//! a forward-backward speed profile, giving the minimum lap time for a car's limits.
//!
//! # The JSON track format
//!
//! ```json
//! {
//!   "format": "paddock-track",
//!   "version": 1,
//!   "name": "triangle",
//!   "description": "A tiny example.",
//!   "closed": true,
//!   "allow_crossings": false,
//!   "waypoints": [
//!     [0.0, 0.0, 1.0],
//!     [4.0, 0.0, 1.0],
//!     [2.0, 3.0, 1.2]
//!   ]
//! }
//! ```
//!
//! - `format` must be `"paddock-track"` and `version` must be `1`; other versions are refused
//!   with a message naming the version.
//! - `waypoints`: one `[x, y, width]` per centre-line point, metres, in driving order.
//!   Bundled tracks run counter-clockwise. A closed track does not repeat its first point at the
//!   end (a repeat is dropped, as are exact consecutive duplicates).
//! - `closed`: whether the last waypoint joins the first.
//! - `description` (default `""`) and `allow_crossings` (default `false`: a centre line that
//!   crosses itself is an error; `true` accepts figure-eights) may be left out.
//! - Any other field is an error, so typos do not pass silently.
//!
//! ```
//! use paddock_tracks::Track;
//! let json = r#"{"format": "paddock-track", "version": 1, "name": "triangle", "closed": true,
//!                "waypoints": [[0, 0, 1.0], [4, 0, 1.0], [2, 3, 1.2]]}"#;
//! let track = Track::from_json_str(json)?;
//! assert_eq!(track.waypoints().len(), 3);
//! assert!(track.is_on_track(paddock_tracks::DVec2::new(2.0, 0.3)));
//! assert_eq!(Track::from_json_str(&track.to_json_string())?.widths(), track.widths());
//! # Ok::<(), paddock_tracks::TrackError>(())
//! ```
//!
//! # DeepRacer route files
//!
//! `.npy` files of float64, N rows of `center_x, center_y, inner_x, inner_y, outer_x, outer_y`.
//! The width at a waypoint is the distance from its inner to its outer point; the route is a loop
//! when its first and last rows coincide (within 1 mm). Repeated rows (the closing row, and
//! exact duplicates some files have mid-lap) are left out of the geometry but kept in
//! [`Track::source_waypoints`], which is what DeepRacer's reward `params["waypoints"]` lists, so
//! hand-written waypoint indices in a student's reward function mean the same points here. The
//! track is named after the file stem; crossings are allowed (a figure-eight is a valid
//! DeepRacer layout, though none of the shipped files crosses itself, the Bowtie included).

pub use glam::DVec2;

mod designs;
mod error;
pub use error::TrackError;
mod generate;
mod geometry;
mod grid;
mod io;
mod qp;
mod racing_line;
mod track;
pub use racing_line::{LapLimits, RacingLine, SolveReport, RACING_LINE_SPACING};
pub use track::{Projection, Track};
