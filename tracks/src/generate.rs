//! Tracks from design control points, and procedural `random:SEED` tracks.
use rand::{Rng, SeedableRng};

use crate::geometry::{closed_length, closed_spline_dense, resample_closed, signed_area2};
use crate::{DVec2, Track, TrackError};

impl Track {
    /// A closed track through `control` points (metres, in driving order) along a smooth
    /// centripetal Catmull-Rom spline, sampled every `spacing` metres (about; the lap is divided
    /// evenly), `width` metres wide. Waypoint 0 is the first control point. Coordinates are
    /// rounded to 0.1 mm, so the track reads back identically from JSON.
    pub fn from_control_points(name: &str, control: &[DVec2], width: f64, spacing: f64) -> Result<Track, TrackError> {
        let invalid = |message: String| TrackError::Invalid { name: name.to_string(), message };
        if let Some(i) = control.iter().position(|p| !p.is_finite()) {
            return Err(invalid(format!("control point {i} is not finite")));
        }
        if !(spacing.is_finite() && spacing > 0.0) {
            return Err(invalid(format!("waypoint spacing must be > 0, got {spacing}")));
        }
        let mut pts: Vec<DVec2> = Vec::with_capacity(control.len());
        for p in control {
            if pts.last() != Some(p) {
                pts.push(*p);
            }
        }
        while pts.len() > 1 && pts.last() == pts.first() {
            pts.pop();
        }
        if pts.len() < 3 {
            return Err(invalid(format!("a spline loop needs at least 3 distinct control points, got {}", pts.len())));
        }
        let dense = closed_spline_dense(&pts);
        let count = ((closed_length(&dense) / spacing).round() as usize).max(3);
        let round = |x: f64| (x * 1e4).round() / 1e4;
        let waypoints: Vec<DVec2> = resample_closed(&dense, count).into_iter().map(|p| DVec2::new(round(p.x), round(p.y))).collect();
        let widths = vec![width; waypoints.len()];
        Track::new(name, waypoints, widths, true)
    }
}

/// Target waypoint spacing of generated tracks, metres (DeepRacer's are 5 to 30 cm).
const SPACING: f64 = 0.15;

/// Checks that a generated track is drivable: its turns are not too tight, and no other part
/// of the track comes within a track width plus `margin` of any point. Returns what is wrong.
pub(crate) fn layout_problem(track: &Track, min_radius: f64, margin: f64) -> Option<String> {
    let r = track.min_turn_radius();
    if r < min_radius {
        return Some(format!("tightest turn radius {r:.3} m is below {min_radius} m"));
    }
    let wp = track.waypoints();
    let s = track.waypoint_s();
    let len = track.length();
    let n = wp.len();
    for i in 0..n {
        for j in i + 1..n {
            let clear = 0.5 * (track.widths()[i] + track.widths()[j]) + margin;
            // Points this far apart along the lap are different parts of the track.
            let along = (s[j] - s[i]).min(len - (s[j] - s[i]));
            if along > 3.0 * clear && wp[i].distance_squared(wp[j]) < clear * clear {
                return Some(format!("waypoints {i} and {j} are {:.3} m apart, closer than {clear:.3} m", wp[i].distance(wp[j])));
            }
        }
    }
    None
}

/// Mixes the seed with the attempt number (SplitMix64 finaliser) so retries are independent.
fn derived_seed(seed: u64, attempt: u64) -> u64 {
    let mut z = seed ^ attempt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One candidate loop: control points around a circle at jittered angles and random radii,
/// counter-clockwise, scaled to a random lap length.
fn candidate(name: &str, rng: &mut rand_pcg::Pcg64) -> Result<Track, TrackError> {
    let k: usize = rng.random_range(7..=12);
    let phase = rng.random_range(0.0..std::f64::consts::TAU);
    let mut control = Vec::with_capacity(k);
    for i in 0..k {
        let angle = phase + (i as f64 + rng.random_range(-0.3..0.3)) * std::f64::consts::TAU / k as f64;
        let radius = rng.random_range(0.45..1.0);
        control.push(DVec2::from_angle(angle) * radius);
    }
    // A little inside 18-35 m, so resampling never lands a hair outside.
    let target = rng.random_range(18.2..34.8);
    let width = (rng.random_range(0.76..=1.07f64) * 100.0).round() / 100.0;
    let scale = target / closed_length(&closed_spline_dense(&control));
    let control: Vec<DVec2> = control.into_iter().map(|p| p * scale).collect();
    let track = Track::from_control_points(name, &control, width, SPACING)?;
    debug_assert!(signed_area2(track.waypoints()) > 0.0);
    Ok(track)
}

/// The procedural track `random:SEED`: the first candidate derived from the seed that is a
/// valid, drivable loop. Same seed, same track.
pub(crate) fn random_track(seed: u64) -> Result<Track, TrackError> {
    let name = format!("random:{seed}");
    const ATTEMPTS: u64 = 500;
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(derived_seed(seed, attempt));
        match candidate(&name, &mut rng) {
            Ok(track) => match layout_problem(&track, 0.6, 0.25) {
                None => {
                    let desc = format!("Procedural loop from seed {seed} (candidate {attempt}): {:.1} m, {:.2} m wide.", track.length(), track.min_width());
                    return Ok(track.with_description(&desc));
                }
                Some(problem) => last = problem,
            },
            Err(e) => last = e.to_string(),
        }
    }
    Err(TrackError::Invalid { name, message: format!("no valid loop in {ATTEMPTS} candidates (last problem: {last})") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tracks_are_valid_and_reproducible() {
        let mut attempts_total = 0usize;
        for seed in 0..200u64 {
            let t = Track::builtin(&format!("random:{seed}")).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert_eq!(t.crossings(), 0);
            assert!(t.is_closed());
            assert!((18.0..=35.0).contains(&t.length()), "seed {seed}: length {}", t.length());
            assert!((0.76..=1.07).contains(&t.min_width()), "seed {seed}");
            assert!(t.min_turn_radius() >= 0.5, "seed {seed}");
            assert!(layout_problem(&t, 0.5, 0.2).is_none(), "seed {seed}");
            assert!(signed_area2(t.waypoints()) > 0.0, "seed {seed}: not counter-clockwise");
            let spacing = t.length() / t.waypoints().len() as f64;
            assert!((0.05..0.25).contains(&spacing), "seed {seed}: spacing {spacing}");
            if let Some(c) = t.description().split("candidate ").nth(1) {
                attempts_total += c.split(')').next().and_then(|x| x.parse::<usize>().ok()).unwrap_or(0) + 1;
            }
        }
        eprintln!("random tracks: {:.1} candidates per valid track", attempts_total as f64 / 200.0);
        let a = Track::builtin("random:42").unwrap();
        let b = Track::resolve("random:42").unwrap();
        assert_eq!(a.waypoints(), b.waypoints());
        assert_eq!(a.widths(), b.widths());
        let c = Track::builtin("random:43").unwrap();
        assert_ne!(a.waypoints(), c.waypoints());
    }

    #[test]
    fn control_point_errors() {
        let p = DVec2::new;
        let e = Track::from_control_points("x", &[p(0., 0.), p(1., 0.)], 1.0, 0.1).unwrap_err();
        assert!(e.to_string().contains("at least 3"), "{e}");
        let e = Track::from_control_points("x", &[p(0., 0.), p(f64::NAN, 0.), p(0., 1.)], 1.0, 0.1).unwrap_err();
        assert!(e.to_string().contains("control point 1"), "{e}");
        // A figure-eight of control points crosses itself.
        let eight = [p(0., 0.), p(2., 1.), p(4., 0.), p(2., -1.), p(0., 0.5), p(-2., 1.), p(-4., 0.), p(-2., -1.)];
        let e = Track::from_control_points("x", &eight, 0.5, 0.1).unwrap_err();
        assert!(e.to_string().contains("crosses itself"), "{e}");
    }
}
