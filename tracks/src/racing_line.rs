//! The physical limit of a lap. (API contract; bodies being implemented.)
use crate::{DVec2, Track, TrackError};

/// What the car can do, for the minimum-lap-time yardstick. SI units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LapLimits {
    /// Top speed, m/s.
    pub top_speed: f64,
    /// Largest lateral (cornering) acceleration the tyres hold, m/s^2.
    pub max_lateral_accel: f64,
    /// Largest forward acceleration, m/s^2.
    pub max_accel: f64,
    /// Largest braking deceleration, m/s^2 (positive).
    pub max_brake: f64,
    /// How far the line's centre must stay inside each border, metres (half the car's width
    /// plus a safety margin).
    pub border_margin: f64,
}

/// A minimum-curvature racing line with its speed profile and lap time.
#[derive(Debug, Clone)]
pub struct RacingLine {
    /// Points of the line, metres, evenly spaced along the track (closed: last joins first).
    pub points: Vec<DVec2>,
    /// Arc length along the line at each point, metres.
    pub s: Vec<f64>,
    /// Signed curvature at each point, 1/metres.
    pub curvature: Vec<f64>,
    /// Speed at each point from the forward-backward profile, m/s.
    pub speed: Vec<f64>,
    /// Length of the line, metres.
    pub length: f64,
    /// Minimum lap time (or time to the end of an open track), seconds.
    pub lap_time: f64,
}

impl RacingLine {
    pub fn compute(track: &Track, limits: &LapLimits) -> Result<RacingLine, TrackError> {
        let _ = (track, limits);
        todo!()
    }
}
