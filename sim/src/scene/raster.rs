//! Rasterising the track surface onto a regular grid, shared by the camera's ground texture and
//! the top-down map. Each centre-line segment spans a quad between the border points of its two
//! waypoints; consecutive quads share an edge, so together they tile the track exactly. A texel
//! inside a quad gets track coordinates by inverting the quad's bilinear map.

use paddock_tracks::{DVec2, Track};

/// The parts of a track the rasteriser needs, copied out once.
#[derive(Debug, Clone)]
pub(crate) struct TrackGeom {
    pub centre: Vec<DVec2>,
    pub left: Vec<DVec2>,
    pub right: Vec<DVec2>,
    /// Arc length at each waypoint; `length` closes the loop.
    pub s: Vec<f64>,
    pub length: f64,
    pub closed: bool,
}

impl TrackGeom {
    pub fn from_track(track: &Track) -> TrackGeom {
        TrackGeom {
            centre: track.waypoints().to_vec(),
            left: track.left_border().to_vec(),
            right: track.right_border().to_vec(),
            s: track.waypoint_s().to_vec(),
            length: track.length(),
            closed: track.is_closed(),
        }
    }

    /// Number of centre-line segments (quads).
    pub fn segments(&self) -> usize {
        let n = self.centre.len().min(self.left.len()).min(self.right.len()).min(self.s.len());
        if n < 2 {
            0
        } else if self.closed {
            n
        } else {
            n - 1
        }
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.centre.len() {
            0
        } else {
            i + 1
        }
    }

    /// Arc length at the start and end of segment `i`.
    fn s_range(&self, i: usize) -> (f64, f64) {
        let j = self.next(i);
        let s1 = if j == 0 { self.length } else { self.s[j] };
        (self.s[i], s1)
    }
}

/// Where a texel lies on the track.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrackCoord {
    /// Arc length along the centre line, metres.
    pub s: f64,
    /// Signed offset from the centre, metres, positive to the left.
    pub lateral: f64,
    /// Distances to the left and right borders measured across the quad, metres.
    pub to_left: f64,
    pub to_right: f64,
    /// Local track width, metres.
    pub width: f64,
}

/// A grid of square texels: texel (ix, iy) covers `origin + [ix, ix+1) x [iy, iy+1) * size`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GridSpec {
    pub origin: DVec2,
    pub size: f64,
    pub nx: usize,
    pub ny: usize,
}

/// Calls `paint(ix, iy, coord)` for every texel whose centre lies on the track or within
/// `dilate_m` outside a border (there `to_left` or `to_right` is negative), so the painter can
/// antialias the edges. Texels where quads overlap (a crossing, or the dilated fringe near a
/// waypoint) are visited once per quad, the later segment last.
pub(crate) fn rasterize_track(geom: &TrackGeom, grid: GridSpec, dilate_m: f64, mut paint: impl FnMut(usize, usize, TrackCoord)) {
    let dilate_m = if dilate_m.is_finite() { dilate_m.max(0.0) } else { 0.0 };
    for i in 0..geom.segments() {
        let j = geom.next(i);
        // Quad corners: a = right_i, b = right_j, c = left_j, d = left_i; t runs along the
        // segment, u across it (0 on the right border, 1 on the left).
        let (a, b, c, d) = (geom.right[i], geom.right[j], geom.left[j], geom.left[i]);
        let (s0, s1) = geom.s_range(i);
        let lo = a.min(b).min(c).min(d) - dilate_m;
        let hi = a.max(b).max(c).max(d) + dilate_m;
        let Some((x0, x1, y0, y1)) = texel_range(grid, lo, hi) else { continue };
        let inv = InverseBilinear::new(a, b, c, d);
        for iy in y0..=y1 {
            let py = grid.origin.y + (iy as f64 + 0.5) * grid.size;
            for ix in x0..=x1 {
                let p = DVec2::new(grid.origin.x + (ix as f64 + 0.5) * grid.size, py);
                let Some((t, u)) = inv.solve(p) else { continue };
                let right = a.lerp(b, t);
                let left = d.lerp(c, t);
                let width = right.distance(left);
                let (to_left, to_right) = ((1.0 - u) * width, u * width);
                if to_left < -dilate_m || to_right < -dilate_m {
                    continue;
                }
                paint(ix, iy, TrackCoord { s: s0 + (s1 - s0) * t, lateral: (u - 0.5) * width, to_left, to_right, width });
            }
        }
    }
}

/// Inclusive texel index range covering the box lo..hi, or None if it misses the grid.
pub(crate) fn texel_range(grid: GridSpec, lo: DVec2, hi: DVec2) -> Option<(usize, usize, usize, usize)> {
    let qlo = (lo - grid.origin) / grid.size;
    let qhi = (hi - grid.origin) / grid.size;
    if !(qhi.x >= 0.0 && qhi.y >= 0.0 && qlo.x < grid.nx as f64 && qlo.y < grid.ny as f64) {
        return None;
    }
    // `as` saturates, so huge or NaN coordinates cannot overflow.
    let x0 = qlo.x.floor().max(0.0) as usize;
    let y0 = qlo.y.floor().max(0.0) as usize;
    let x1 = (qhi.x.floor().max(0.0) as usize).min(grid.nx - 1);
    let y1 = (qhi.y.floor().max(0.0) as usize).min(grid.ny - 1);
    Some((x0, x1, y0, y1))
}

/// Inverse of the bilinear map p(t, u) = a + (b-a) t + (d-a) u + (a-b+c-d) t u.
struct InverseBilinear {
    a: DVec2,
    e: DVec2,
    f: DVec2,
    g: DVec2,
    k2: f64,
    scale: f64,
}

impl InverseBilinear {
    fn new(a: DVec2, b: DVec2, c: DVec2, d: DVec2) -> InverseBilinear {
        let e = b - a;
        let f = d - a;
        let g = a - b + c - d;
        let scale = e.length_squared().max(f.length_squared()).max(1e-18);
        InverseBilinear { a, e, f, g, k2: -e.perp_dot(g), scale }
    }

    /// (t, u) for a point of the quad's strip: t in [0, 1] and u within a loose range around
    /// [0, 1] (the caller trims u); None elsewhere.
    fn solve(&self, p: DVec2) -> Option<(f64, f64)> {
        const EPS: f64 = 1e-9;
        let h = p - self.a;
        // u = (h - e t) / (f + g t); crossing both sides with (f + g t) gives a quadratic in t.
        let k1 = h.perp_dot(self.g) - self.e.perp_dot(self.f);
        let k0 = h.perp_dot(self.f);
        let try_t = |t: f64| -> Option<(f64, f64)> {
            if !(-EPS..=1.0 + EPS).contains(&t) {
                return None;
            }
            let across = self.f + self.g * t;
            let l2 = across.length_squared();
            if l2 <= 0.0 {
                return None;
            }
            let u = (h - self.e * t).dot(across) / l2;
            if (-0.5..=1.5).contains(&u) {
                Some((t.clamp(0.0, 1.0), u))
            } else {
                None
            }
        };
        if self.k2.abs() < 1e-12 * self.scale {
            // A parallelogram (or nearly): the quadratic is linear.
            if k1.abs() < 1e-300 {
                return None;
            }
            return try_t(-k0 / k1);
        }
        let disc = k1 * k1 - 4.0 * self.k2 * k0;
        if disc < 0.0 {
            return None;
        }
        let r = disc.sqrt();
        // Numerically stable pair of roots.
        let q = -0.5 * (k1 + k1.signum() * r);
        let t1 = q / self.k2;
        let t2 = if q != 0.0 { k0 / q } else { t1 };
        try_t(t1).or_else(|| try_t(t2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_bilinear_recovers_parameters() {
        let (a, b, c, d) = (DVec2::new(0.0, 0.0), DVec2::new(2.0, 0.3), DVec2::new(1.7, 1.5), DVec2::new(-0.2, 1.0));
        let inv = InverseBilinear::new(a, b, c, d);
        for &(t, u) in &[(0.1, 0.2), (0.5, 0.5), (0.9, 0.95), (0.0, 1.0)] {
            let p = a + (b - a) * t + (d - a) * u + (a - b + c - d) * t * u;
            let (t2, u2) = inv.solve(p).expect("inside");
            assert!((t - t2).abs() < 1e-9 && (u - u2).abs() < 1e-9, "{t} {u} -> {t2} {u2}");
        }
        assert!(inv.solve(DVec2::new(3.0, 3.0)).is_none());
        assert!(inv.solve(DVec2::new(1.0, -1.5)).is_none());
        assert!(inv.solve(DVec2::new(1.0, -0.1)).is_some_and(|(_, u)| u < 0.0), "fringe below the quad");
        // A rectangle exercises the linear branch.
        let inv = InverseBilinear::new(DVec2::ZERO, DVec2::new(1.0, 0.0), DVec2::new(1.0, 2.0), DVec2::new(0.0, 2.0));
        let (t, u) = inv.solve(DVec2::new(0.25, 1.5)).expect("inside");
        assert!((t - 0.25).abs() < 1e-12 && (u - 0.75).abs() < 1e-12);
    }
}
