//! The physical limit of a lap: a minimum-curvature racing line and its speed profile.
//!
//! The line follows the minimum-curvature formulation of Heilmeier et al. (2019, "Minimum
//! curvature trajectory planning and control for an autonomous race car", Vehicle System
//! Dynamics): the centre line is resampled evenly, each point may move along its normal by an
//! offset alpha_i within the track (less a margin), and the sum of squared second differences of
//! the moved points, a discrete curvature measure, is minimised. That is a convex quadratic
//! programme with box constraints and a (cyclic) pentadiagonal Hessian, solved exactly by
//! projected Newton ([`crate::qp`]). The speed profile is the usual forward-backward pass under
//! a friction circle.
use crate::geometry::menger_curvature;
use crate::qp::{solve_box_qp, Penta};
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

/// Spacing of the resampled centre line, metres. 10 cm resolves the tightest turns we allow
/// (radius ~0.5 m: about 30 points per half turn) and keeps a 60 m track at 600 variables.
pub const RACING_LINE_SPACING: f64 = 0.1;

/// Diagnostics of the racing-line optimisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveReport {
    /// Projected Newton iterations used.
    pub iterations: usize,
    /// Largest violation of the optimality (KKT) conditions, relative to the largest linear term.
    pub kkt_residual: f64,
}

impl RacingLine {
    /// The minimum-curvature line within the borders (less `border_margin`) and its lap time.
    pub fn compute(track: &Track, limits: &LapLimits) -> Result<RacingLine, TrackError> {
        Self::compute_with_report(track, limits).map(|(line, _)| line)
    }

    /// [`RacingLine::compute`], also reporting how the optimisation converged.
    pub fn compute_with_report(track: &Track, limits: &LapLimits) -> Result<(RacingLine, SolveReport), TrackError> {
        check_limits(track, limits)?;
        let (centre, normals, bound) = resample(track, limits)?;
        let closed = track.is_closed();
        let n = centre.len();
        // Second difference k joins points (k-1, k, k+1); D_k = e_k + sum_j c_j alpha_j n_j.
        let mut h = Penta::zeros(n, closed);
        let mut f = vec![0.0; n];
        let rows: Vec<usize> = if closed { (0..n).collect() } else { (1..n - 1).collect() };
        for k in rows {
            let idx = [(k + n - 1) % n, k, (k + 1) % n];
            let coef = [1.0, -2.0, 1.0];
            let e = centre[idx[0]] - 2.0 * centre[idx[1]] + centre[idx[2]];
            let v = [normals[idx[0]] * coef[0], normals[idx[1]] * coef[1], normals[idx[2]] * coef[2]];
            for a in 0..3 {
                f[idx[a]] += v[a].dot(e);
                for b in a..3 {
                    h.add(idx[a], idx[b], v[a].dot(v[b]));
                }
            }
        }
        // A whisper of regularisation keeps straight open tracks (where moving the line
        // sideways linearly costs nothing) positive definite.
        let diag_scale = (0..n).map(|i| h.get(i, i)).sum::<f64>() / n as f64;
        for i in 0..n {
            h.add(i, i, 1e-9 * diag_scale);
        }
        let lo: Vec<f64> = bound.iter().map(|b| -b).collect();
        let sol = solve_box_qp(&h, &f, &lo, &bound);
        let fscale = f.iter().fold(0.0f64, |a, v| a.max(v.abs())).max(1e-300);
        let points: Vec<DVec2> = (0..n).map(|i| centre[i] + normals[i] * sol.x[i]).collect();
        let line = RacingLine::from_path(track.name(), points, closed, limits)?;
        Ok((line, SolveReport { iterations: sol.iterations, kkt_residual: sol.kkt_residual / fscale }))
    }

    /// The speed profile and lap time along the centre line itself (resampled like the racing
    /// line), for comparison.
    pub fn along_centre(track: &Track, limits: &LapLimits) -> Result<RacingLine, TrackError> {
        check_limits(track, limits)?;
        let (centre, _, _) = resample(track, &LapLimits { border_margin: 0.0, ..*limits })?;
        RacingLine::from_path(track.name(), centre, track.is_closed(), limits)
    }

    /// Speed profile and lap time along any path of points (closed: the last joins the first).
    /// `name` only labels errors.
    pub fn from_path(name: &str, points: Vec<DVec2>, closed: bool, limits: &LapLimits) -> Result<RacingLine, TrackError> {
        let invalid = |message: String| TrackError::Invalid { name: name.to_string(), message };
        check_limit_values(limits).map_err(invalid)?;
        let n = points.len();
        if n < if closed { 3 } else { 2 } {
            return Err(invalid(format!("a path needs at least 3 points (2 when open), got {n}")));
        }
        if let Some(i) = points.iter().position(|p| !p.is_finite()) {
            return Err(invalid(format!("path point {i} is not finite")));
        }
        let segs = if closed { n } else { n - 1 };
        let ds: Vec<f64> = (0..segs).map(|i| points[i].distance(points[(i + 1) % n])).collect();
        if let Some(i) = ds.iter().position(|&d| d <= 0.0) {
            return Err(invalid(format!("path points {i} and {} coincide", (i + 1) % n)));
        }
        let mut s = Vec::with_capacity(n);
        let mut acc = 0.0;
        s.push(0.0);
        for d in &ds[..n - 1] {
            acc += d;
            s.push(acc);
        }
        let length = if closed { acc + ds[n - 1] } else { acc };
        let mut curvature: Vec<f64> = (0..n)
            .map(|i| {
                if closed {
                    menger_curvature(points[(i + n - 1) % n], points[i], points[(i + 1) % n])
                } else if i == 0 || i == n - 1 {
                    0.0
                } else {
                    menger_curvature(points[i - 1], points[i], points[i + 1])
                }
            })
            .collect();
        if !closed && n >= 3 {
            curvature[0] = curvature[1];
            curvature[n - 1] = curvature[n - 2];
        }
        let speed = speed_profile(&ds, &curvature, closed, limits);
        let lap_time = (0..segs).map(|i| ds[i] / (0.5 * (speed[i] + speed[(i + 1) % n]))).sum();
        Ok(RacingLine { points, s, curvature, speed, length, lap_time })
    }

    /// Total absolute turning along the line, radians (integral of |curvature| ds).
    pub fn total_turning(&self) -> f64 {
        let n = self.points.len();
        (0..n).map(|i| self.curvature[i].abs() * segment_share(&self.s, self.length, i)).sum()
    }
}

/// Arc length represented by point i (half of each adjacent segment).
fn segment_share(s: &[f64], length: f64, i: usize) -> f64 {
    let n = s.len();
    let next = if i + 1 < n { s[i + 1] } else { length };
    let prev = if i > 0 { s[i - 1] } else { s[0] - (length - s[n - 1]) };
    0.5 * (next - prev)
}

fn check_limit_values(l: &LapLimits) -> Result<(), String> {
    let positive = [("top_speed", l.top_speed), ("max_lateral_accel", l.max_lateral_accel), ("max_accel", l.max_accel), ("max_brake", l.max_brake)];
    for (what, v) in positive {
        if !(v.is_finite() && v > 0.0) {
            return Err(format!("lap limit {what} must be a finite number > 0, got {v}"));
        }
    }
    if !(l.border_margin.is_finite() && l.border_margin >= 0.0) {
        return Err(format!("lap limit border_margin must be a finite number >= 0, got {}", l.border_margin));
    }
    Ok(())
}

fn check_limits(track: &Track, limits: &LapLimits) -> Result<(), TrackError> {
    check_limit_values(limits).map_err(|message| TrackError::Invalid { name: track.name().to_string(), message })
}

/// Evenly spaced centre points, their unit normals (left) and the allowed offset each side.
type Resampled = (Vec<DVec2>, Vec<DVec2>, Vec<f64>);

fn resample(track: &Track, limits: &LapLimits) -> Result<Resampled, TrackError> {
    let len = track.length();
    let intervals = ((len / RACING_LINE_SPACING).round() as usize).max(8);
    let count = if track.is_closed() { intervals } else { intervals + 1 };
    let mut centre = Vec::with_capacity(count);
    let mut normals = Vec::with_capacity(count);
    let mut bound = Vec::with_capacity(count);
    for i in 0..count {
        let s = len * i as f64 / intervals as f64;
        let (p, heading) = track.pose_at(s);
        let b = 0.5 * track.width_at(s) - limits.border_margin;
        if b < 0.0 {
            return Err(TrackError::Invalid {
                name: track.name().to_string(),
                message: format!(
                    "the track is {:.3} m wide at {s:.2} m along the lap, narrower than twice the border margin {}",
                    track.width_at(s),
                    limits.border_margin
                ),
            });
        }
        centre.push(p);
        normals.push(DVec2::from_angle(heading).perp());
        bound.push(b);
    }
    Ok((centre, normals, bound))
}

/// Forward-backward speed profile under a friction circle: the longitudinal acceleration
/// available shrinks as cornering uses up the lateral grip.
fn speed_profile(ds: &[f64], curvature: &[f64], closed: bool, l: &LapLimits) -> Vec<f64> {
    let n = curvature.len();
    let mut v: Vec<f64> = curvature.iter().map(|k| if k.abs() > 0.0 { (l.max_lateral_accel / k.abs()).sqrt().min(l.top_speed) } else { l.top_speed }).collect();
    let grip_left = |v: f64, k: f64| {
        let used = v * v * k.abs() / l.max_lateral_accel;
        (1.0 - used * used).max(0.0).sqrt()
    };
    // A closed lap starts at the slowest corner, where the speed is known to be its cap.
    let start = if closed {
        (0..n).min_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap_or(0)
    } else {
        v[0] = 0.0; // an open track starts from rest
        0
    };
    let steps = if closed { n } else { n - 1 };
    for step in 0..steps {
        let i = (start + step) % n;
        let j = (i + 1) % n;
        let a = l.max_accel * grip_left(v[i], curvature[i]);
        v[j] = v[j].min((v[i] * v[i] + 2.0 * a * ds[i]).sqrt());
    }
    let end = if closed { start } else { n - 1 };
    for step in 0..steps {
        let j = (end + n - step) % n;
        let i = (j + n - 1) % n;
        let b = l.max_brake * grip_left(v[j], curvature[j]);
        v[i] = v[i].min((v[j] * v[j] + 2.0 * b * ds[i]).sqrt());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;

    const LIMITS: LapLimits = LapLimits { top_speed: 4.0, max_lateral_accel: 6.0, max_accel: 3.0, max_brake: 4.0, border_margin: 0.12 };

    fn circle(r: f64, width: f64) -> Track {
        let n = 300;
        let wp = (0..n).map(|i| DVec2::from_angle(TAU * i as f64 / n as f64) * r).collect();
        Track::new("circle", wp, vec![width; n], true).unwrap()
    }

    #[test]
    fn circle_lap_time_matches_the_closed_form() {
        for (r, top_speed) in [(3.0, 10.0), (3.0, 3.0), (1.0, 10.0), (8.0, 4.0)] {
            let limits = LapLimits { top_speed, ..LIMITS };
            let t = circle(r, 1.07);
            let (line, report) = RacingLine::compute_with_report(&t, &limits).unwrap();
            assert!(report.kkt_residual < 1e-9, "{report:?}");
            let radii: Vec<f64> = line.points.iter().map(|p| p.length()).collect();
            let r_line = radii.iter().sum::<f64>() / radii.len() as f64;
            assert!(radii.iter().all(|x| (x - r_line).abs() < 1e-3), "the line on a circle is a circle");
            assert!(r_line >= r - (0.535 - 0.12) - 1e-3 && r_line <= r + 0.535 - 0.12 + 1e-3);
            let v = top_speed.min((limits.max_lateral_accel * r_line).sqrt());
            let expected = TAU * r_line / v;
            assert!((line.lap_time - expected).abs() < 0.01 * expected, "r={r}: {} vs {expected}", line.lap_time);
        }
    }

    fn check_profile(line: &RacingLine, limits: &LapLimits, closed: bool) {
        let n = line.points.len();
        let segs = if closed { n } else { n - 1 };
        for i in 0..segs {
            let j = (i + 1) % n;
            let ds = line.points[i].distance(line.points[j]);
            let a = (line.speed[j].powi(2) - line.speed[i].powi(2)) / (2.0 * ds);
            assert!(a <= limits.max_accel + 1e-9 && a >= -limits.max_brake - 1e-9, "point {i}: accel {a}");
            let v_cap = (limits.max_lateral_accel / line.curvature[i].abs()).sqrt().min(limits.top_speed);
            assert!(line.speed[i] <= v_cap + 1e-9);
        }
    }

    #[test]
    fn racing_line_beats_the_centre_line_on_the_bundled_tracks() {
        for name in Track::builtin_names() {
            let t = Track::builtin(name).unwrap();
            let (line, report) = RacingLine::compute_with_report(&t, &LIMITS).unwrap();
            let centre = RacingLine::along_centre(&t, &LIMITS).unwrap();
            assert!(report.kkt_residual < 1e-9, "{name}: {report:?}");
            assert!(report.iterations < 50, "{name}: {report:?}");
            assert!(line.length < centre.length || line.total_turning() < centre.total_turning(), "{name}");
            assert!(line.lap_time < centre.lap_time, "{name}: {} vs {}", line.lap_time, centre.lap_time);
            let mut hint = None;
            for p in &line.points {
                let pr = t.project(*p, hint);
                assert!(pr.distance_from_centre() <= pr.half_width - LIMITS.border_margin + 1e-6, "{name}: {pr:?}");
                hint = Some(pr.segment);
            }
            check_profile(&line, &LIMITS, true);
            assert_eq!(line.s.len(), line.points.len());
            assert!((line.s.last().unwrap() + line.points[0].distance(*line.points.last().unwrap()) - line.length).abs() < 1e-9);
            let spacing = t.length() / line.points.len() as f64;
            assert!((spacing - RACING_LINE_SPACING).abs() < 0.01);
            eprintln!(
                "{name}: length {:.2} m, width {:.2} m, line {:.2} m, lap {:.3} s (centre line {:.3} s), {} Newton iterations",
                t.length(),
                t.mean_width(),
                line.length,
                line.lap_time,
                centre.lap_time,
                report.iterations
            );
        }
    }

    #[test]
    fn open_track_starts_from_rest() {
        let wp = (0..30).map(|i| DVec2::new(i as f64 * 0.2, 0.0)).collect();
        let t = Track::new("straight", wp, vec![0.6; 30], false).unwrap();
        let line = RacingLine::compute(&t, &LIMITS).unwrap();
        assert_eq!(line.speed[0], 0.0);
        assert_eq!(line.points.len(), 59);
        check_profile(&line, &LIMITS, false);
        // 5.8 m from rest at 3 m/s^2 reaches 4 m/s after 2.67 m: 1.333 s + 3.13 m / 4 m/s.
        let expected = 4.0 / 3.0 + (5.8 - 16.0 / 6.0) / 4.0;
        assert!((line.lap_time - expected).abs() < 0.01, "{}", line.lap_time);
        for p in &line.points {
            assert!(p.y.abs() < 1e-6);
        }
    }

    #[test]
    fn bad_limits_and_narrow_tracks_are_errors() {
        let t = Track::builtin("oval").unwrap();
        let e = RacingLine::compute(&t, &LapLimits { max_brake: -1.0, ..LIMITS }).unwrap_err().to_string();
        assert!(e.contains("max_brake must be a finite number > 0, got -1"), "{e}");
        let e = RacingLine::compute(&t, &LapLimits { border_margin: f64::NAN, ..LIMITS }).unwrap_err().to_string();
        assert!(e.contains("border_margin"), "{e}");
        let e = RacingLine::compute(&t, &LapLimits { border_margin: 0.6, ..LIMITS }).unwrap_err().to_string();
        assert!(e.contains("narrower than twice the border margin"), "{e}");
        let e = RacingLine::from_path("p", vec![DVec2::ZERO, DVec2::ZERO, DVec2::X], true, &LIMITS).unwrap_err();
        assert!(e.to_string().contains("coincide"), "{e}");
    }

    #[test]
    fn deepracer_routes_get_a_racing_line() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/tracks");
        for stem in ["reinvent_base", "reInvent2019_track", "Bowtie_track", "Straight_track", "2022_april_pro", "Monaco", "Austin", "Tokyo_Training_track"] {
            let t =
                Track::from_npy_file(std::path::Path::new(&format!("{dir}/{stem}.npy"))).unwrap_or_else(|e| panic!("{e} (the tests need ../shared/tracks)"));
            let (line, report) = RacingLine::compute_with_report(&t, &LIMITS).unwrap();
            let centre = RacingLine::along_centre(&t, &LIMITS).unwrap();
            assert!(report.kkt_residual < 1e-9, "{stem}: {report:?}");
            assert!(line.lap_time <= centre.lap_time + 1e-9, "{stem}");
            check_profile(&line, &LIMITS, t.is_closed());
            eprintln!(
                "{stem}: {:.1} m, lap {:.2} s (centre line {:.2} s), {} Newton iterations",
                t.length(),
                line.lap_time,
                centre.lap_time,
                report.iterations
            );
        }
    }
}
