//! The 3D scene's shapes from the track's geometry, as plain triangle lists (no bevy): the road,
//! its white border lines, the dashed centre line, painted as the simulator's camera sees them
//! (the same widths, dash lengths and phase, from `paddock_sim::scene::marking`).
//!
//! Coordinates are the track frame: x, y on the ground, z up, metres.

use paddock_sim::scene::marking::{BORDER_WIDTH, CENTRE_WIDTH, DASH, GAP};
use paddock_tracks::{DVec2, Track};

/// Heights of the painted layers above the floor, metres: enough apart not to flicker.
pub const ROAD_Z: f32 = 0.002;
pub const LINE_Z: f32 = 0.004;

/// A triangle list with one upward normal per vertex.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Shape {
    pub positions: Vec<[f32; 3]>,
    pub indices: Vec<u32>,
}

impl Shape {
    /// Adds the strip between two polylines of equal length (a quad per pair of points),
    /// wound counter-clockwise seen from above.
    fn strip(&mut self, a: &[DVec2], b: &[DVec2], z: f32, closed: bool) {
        let n = a.len().min(b.len());
        if n < 2 {
            return;
        }
        let base = self.positions.len() as u32;
        for i in 0..n {
            self.positions.push([a[i].x as f32, a[i].y as f32, z]);
            self.positions.push([b[i].x as f32, b[i].y as f32, z]);
        }
        let quads = if closed { n } else { n - 1 };
        for i in 0..quads {
            let (j, k) = (i as u32, ((i + 1) % n) as u32);
            let (a0, b0, a1, b1) = (base + 2 * j, base + 2 * j + 1, base + 2 * k, base + 2 * k + 1);
            self.push_quad(a0, b0, b1, a1);
        }
    }

    /// Two triangles over four corners, whichever way round they were given: both face up.
    fn push_quad(&mut self, p0: u32, p1: u32, p2: u32, p3: u32) {
        let at = |i: u32| {
            let p = self.positions[i as usize];
            (p[0] as f64, p[1] as f64)
        };
        let (a, b, c) = (at(p0), at(p1), at(p2));
        let ccw = (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0) >= 0.0;
        if ccw {
            self.indices.extend([p0, p1, p2, p0, p2, p3]);
        } else {
            self.indices.extend([p0, p2, p1, p0, p3, p2]);
        }
    }

    pub fn triangles(&self) -> usize {
        self.indices.len() / 3
    }
}

/// Points `width_m` from each border towards the centre line (the inner edge of a border line).
fn inset(border: &[DVec2], centre: &[DVec2], width_m: f64) -> Vec<DVec2> {
    border.iter().zip(centre).map(|(b, c)| *b + (*c - *b).normalize_or_zero() * width_m).collect()
}

/// The track surface between its borders.
pub fn road(track: &Track) -> Shape {
    let mut shape = Shape::default();
    shape.strip(track.left_border(), track.right_border(), ROAD_Z, track.is_closed());
    shape
}

/// The white lines just inside each border.
pub fn border_lines(track: &Track) -> Shape {
    let mut shape = Shape::default();
    let centre = track.waypoints();
    for border in [track.left_border(), track.right_border()] {
        shape.strip(border, &inset(border, centre, BORDER_WIDTH), LINE_Z, track.is_closed());
    }
    shape
}

/// The dashed centre line: dashes of `DASH` metres every `DASH + GAP` from waypoint 0, each
/// following the bends.
pub fn centre_dashes(track: &Track) -> Shape {
    let mut shape = Shape::default();
    let period = DASH + GAP;
    let dashes = (track.length() / period).floor() as usize;
    let half = CENTRE_WIDTH / 2.0;
    for k in 0..dashes {
        let s0 = k as f64 * period;
        let pieces = 3;
        let (mut left, mut right) = (Vec::new(), Vec::new());
        for i in 0..=pieces {
            let (c, heading) = track.pose_at(s0 + DASH * i as f64 / pieces as f64);
            let normal = DVec2::new(-heading.sin(), heading.cos());
            left.push(c + normal * half);
            right.push(c - normal * half);
        }
        shape.strip(&left, &right, LINE_Z, false);
    }
    shape
}

/// A polyline of the track plane lifted just above the paint, for overlays.
pub fn lifted(points: &[DVec2], z: f32) -> Vec<[f32; 3]> {
    points.iter().map(|p| [p.x as f32, p.y as f32, z]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(shape: &Shape) -> f64 {
        shape
            .indices
            .chunks(3)
            .map(|t| {
                let p = |i: u32| shape.positions[i as usize];
                let (a, b, c) = (p(t[0]), p(t[1]), p(t[2]));
                let cross = (b[0] - a[0]) as f64 * (c[1] - a[1]) as f64 - (b[1] - a[1]) as f64 * (c[0] - a[0]) as f64;
                assert!(cross >= -1e-9, "every triangle faces up: {t:?}");
                cross / 2.0
            })
            .sum()
    }

    #[test]
    fn the_road_covers_the_track_and_the_paint_is_as_wide_as_the_simulators() {
        for name in ["circuit", "oval"] {
            let track = Track::builtin(name).unwrap();
            let (len, width) = (track.length(), track.mean_width());
            let road = area(&road(&track));
            assert!((road / (len * width) - 1.0).abs() < 0.05, "{name}: road {road} m2 vs {len} m x {width} m");
            let borders = area(&border_lines(&track));
            assert!((borders / (2.0 * len * BORDER_WIDTH) - 1.0).abs() < 0.1, "{name}: borders {borders} m2");
            let dashes = area(&centre_dashes(&track));
            let want = len * DASH / (DASH + GAP) * CENTRE_WIDTH;
            assert!((dashes / want - 1.0).abs() < 0.05, "{name}: dashes {dashes} m2 vs {want}");
        }
    }

    #[test]
    fn an_open_track_is_not_closed_into_a_loop() {
        let track = Track::new("straight", vec![DVec2::new(0.0, 0.0), DVec2::new(5.0, 0.0)], vec![1.0, 1.0], false).unwrap();
        let road = road(&track);
        assert!((area(&road) - 5.0).abs() < 1e-6, "{}", area(&road));
    }
}
