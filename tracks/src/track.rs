//! The track model and its lap queries. (API contract; bodies being implemented.)
use crate::{DVec2, TrackError};

/// A race track: a centre line with a width at each waypoint.
///
/// Waypoints are stored as given by the source file (DeepRacer reward functions index them);
/// for a closed track the last waypoint is *not* a repeat of the first: the loop closes from the
/// last waypoint back to waypoint 0.
#[derive(Debug, Clone)]
pub struct Track {
    // private fields: name, description, closed, waypoints, widths, left/right borders,
    // cumulative arc length, spatial index for projection, crossing count...
}

/// Where a point lies relative to the track, as DeepRacer's reward params describe it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// Centre-line segment the point projects onto: from waypoint `segment` to the next.
    pub segment: usize,
    /// Position along that segment, 0..=1.
    pub t: f64,
    /// Arc length from waypoint 0 to the projected point, metres (0..length).
    pub s: f64,
    /// `s` as a percentage of the lap, 0..100.
    pub progress: f64,
    /// Signed distance from the centre line, metres; positive left of centre (looking along the
    /// track's direction).
    pub lateral: f64,
    /// Track direction at the projected point, radians CCW from +x.
    pub heading: f64,
    /// Half the track width at the projected point, metres.
    pub half_width: f64,
    /// DeepRacer's `closest_waypoints`: the waypoint behind and the waypoint ahead.
    pub prev_waypoint: usize,
    pub next_waypoint: usize,
}

impl Projection {
    /// Distance from the centre line, metres (DeepRacer's `distance_from_center`).
    pub fn distance_from_centre(&self) -> f64 {
        self.lateral.abs()
    }
    /// DeepRacer's `is_left_of_center`.
    pub fn is_left_of_centre(&self) -> bool {
        self.lateral > 0.0
    }
}

impl Track {
    /// Names of the bundled tracks (in `tracks/data/`), without `random:SEED`.
    pub fn builtin_names() -> &'static [&'static str] {
        todo!()
    }
    /// A bundled track by name, or a procedural one for `random:SEED`.
    pub fn builtin(name: &str) -> Result<Track, TrackError> {
        todo!("{name}")
    }
    /// A bundled name, `random:SEED`, or a path to a `.json` (ours) or `.npy` (DeepRacer) file.
    pub fn resolve(name_or_path: &str) -> Result<Track, TrackError> {
        todo!("{name_or_path}")
    }
    /// Builds and validates a track from centre-line waypoints and widths (metres).
    pub fn new(name: &str, waypoints: Vec<DVec2>, widths: Vec<f64>, closed: bool) -> Result<Track, TrackError> {
        let _ = (name, waypoints, widths, closed);
        todo!()
    }
    /// Parses our JSON track format.
    pub fn from_json_str(json: &str) -> Result<Track, TrackError> {
        todo!("{json}")
    }
    /// Serialises to our JSON track format.
    pub fn to_json_string(&self) -> String {
        todo!()
    }
    /// Imports a DeepRacer route file (N x 6 float64: centre, inner, outer).
    pub fn from_npy_file(path: &std::path::Path) -> Result<Track, TrackError> {
        todo!("{path:?}")
    }

    pub fn name(&self) -> &str {
        todo!()
    }
    pub fn is_closed(&self) -> bool {
        todo!()
    }
    /// Centre-line waypoints, metres.
    pub fn waypoints(&self) -> &[DVec2] {
        todo!()
    }
    /// Track width at each waypoint, metres.
    pub fn widths(&self) -> &[f64] {
        todo!()
    }
    /// Left border points (one per waypoint), metres.
    pub fn left_border(&self) -> &[DVec2] {
        todo!()
    }
    /// Right border points (one per waypoint), metres.
    pub fn right_border(&self) -> &[DVec2] {
        todo!()
    }
    /// Length of the centre line (the lap, for a closed track), metres.
    pub fn length(&self) -> f64 {
        todo!()
    }
    /// Arc length from waypoint 0 to each waypoint, metres.
    pub fn waypoint_s(&self) -> &[f64] {
        todo!()
    }
    /// Axis-aligned bounds of the track including its borders: (min, max), metres.
    pub fn bounds(&self) -> (DVec2, DVec2) {
        todo!()
    }
    /// Number of places where the centre line crosses itself (0 for ordinary tracks).
    pub fn crossings(&self) -> usize {
        todo!()
    }
    /// Projects a point onto the track. `hint` is the segment of a previous projection of a
    /// nearby point (a moving car): the search then stays local, which is fast and picks the
    /// right branch where a track crosses itself. Without a hint the global nearest is taken.
    pub fn project(&self, p: DVec2, hint: Option<usize>) -> Projection {
        todo!("{p}{hint:?}")
    }
    /// Whether a point lies on the track surface (within the borders of any nearby segment).
    pub fn is_on_track(&self, p: DVec2) -> bool {
        todo!("{p}")
    }
    /// Position and heading (radians) of the centre line at arc length `s` metres (wraps on a
    /// closed track, clamps on an open one).
    pub fn pose_at(&self, s: f64) -> (DVec2, f64) {
        todo!("{s}")
    }
    /// Signed curvature of the centre line at arc length `s`, 1/metres (positive turning left).
    pub fn curvature_at(&self, s: f64) -> f64 {
        todo!("{s}")
    }
}
