//! The three steps of `Track::build`: validate the input, clean it, compute the geometry.
//! Each returns the bare error message; `build` adds the track's name.
use crate::geometry::segment_intersection;
use crate::grid::Grid;
use crate::DVec2;

/// One width per waypoint, finite points, finite positive widths.
pub(super) fn validate(waypoints: &[DVec2], widths: &[f64]) -> Result<(), String> {
    if waypoints.len() != widths.len() {
        return Err(format!("{} waypoints but {} widths; there must be one width per waypoint", waypoints.len(), widths.len()));
    }
    for (i, (p, w)) in waypoints.iter().zip(widths).enumerate() {
        if !p.is_finite() {
            return Err(format!("waypoint {i} is not a finite point: ({}, {})", p.x, p.y));
        }
        if !w.is_finite() || *w <= 0.0 {
            return Err(format!("width at waypoint {i} is {w}; widths must be finite and > 0"));
        }
    }
    Ok(())
}

/// The waypoints the geometry is built on, and where each came from in the source.
pub(super) struct Cleaned {
    pub(super) waypoints: Vec<DVec2>,
    pub(super) widths: Vec<f64>,
    pub(super) source_index: Vec<usize>,
}

/// Drops exact repeats (zero-length segments have no direction) and a closed track's repeat of
/// waypoint 0 at the end, then checks enough distinct points are left.
pub(super) fn dedupe(waypoints: &[DVec2], widths: Vec<f64>, closed: bool) -> Result<Cleaned, String> {
    let mut wp: Vec<DVec2> = Vec::with_capacity(waypoints.len());
    let mut wd: Vec<f64> = Vec::with_capacity(widths.len());
    let mut source_index: Vec<usize> = Vec::with_capacity(waypoints.len());
    for (i, (p, w)) in waypoints.iter().zip(widths).enumerate() {
        if wp.last() != Some(p) {
            wp.push(*p);
            wd.push(w);
            source_index.push(i);
        }
    }
    while closed && wp.len() > 1 && wp.last() == wp.first() {
        wp.pop();
        wd.pop();
        source_index.pop();
    }
    let min = if closed { 3 } else { 2 };
    if wp.len() < min {
        return Err(format!("{} track needs at least {min} distinct waypoints, got {}", if closed { "a closed" } else { "an open" }, wp.len()));
    }
    Ok(Cleaned { waypoints: wp, widths: wd, source_index })
}

/// Everything `Track` derives from its cleaned waypoints (see the fields of the same names).
pub(super) struct Geometry {
    pub(super) left: Vec<DVec2>,
    pub(super) right: Vec<DVec2>,
    pub(super) tangents: Vec<DVec2>,
    pub(super) seg_dir: Vec<DVec2>,
    pub(super) seg_len: Vec<f64>,
    pub(super) s: Vec<f64>,
    pub(super) length: f64,
    pub(super) bounds: (DVec2, DVec2),
    pub(super) max_half_width: f64,
    pub(super) grid: Grid,
    pub(super) crossings: usize,
    pub(super) curvature_h: f64,
}

impl Geometry {
    /// Rejects a centre line that doubles back, and one that crosses itself unless
    /// `allow_crossings`.
    pub(super) fn compute(wp: &[DVec2], wd: &[f64], closed: bool, allow_crossings: bool) -> Result<Geometry, String> {
        let n = wp.len();
        let m = if closed { n } else { n - 1 };
        let seg_vec: Vec<DVec2> = (0..m).map(|i| wp[(i + 1) % n] - wp[i]).collect();
        let seg_len: Vec<f64> = seg_vec.iter().map(|v| v.length()).collect();
        let seg_dir: Vec<DVec2> = seg_vec.iter().zip(&seg_len).map(|(v, l)| *v / *l).collect();
        let mut tangents = Vec::with_capacity(n);
        for i in 0..n {
            let before = if closed { Some(seg_dir[(i + m - 1) % m]) } else { i.checked_sub(1).map(|k| seg_dir[k]) };
            let after = if i < m { Some(seg_dir[i]) } else { None };
            let t = match (before, after) {
                (Some(a), Some(b)) => {
                    let sum = a + b;
                    if sum.length() < 1e-9 {
                        return Err(format!("the centre line doubles back on itself at waypoint {i} ({}, {})", wp[i].x, wp[i].y));
                    }
                    sum.normalize()
                }
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => DVec2::X,
            };
            tangents.push(t);
        }
        let mut s = Vec::with_capacity(n);
        let mut acc = 0.0;
        s.push(0.0);
        for len in &seg_len[..n - 1] {
            acc += len;
            s.push(acc);
        }
        let length = if closed { acc + seg_len[n - 1] } else { acc };
        let left: Vec<DVec2> = (0..n).map(|i| wp[i] + tangents[i].perp() * (0.5 * wd[i])).collect();
        let right: Vec<DVec2> = (0..n).map(|i| wp[i] - tangents[i].perp() * (0.5 * wd[i])).collect();
        let mut lo = DVec2::splat(f64::INFINITY);
        let mut hi = DVec2::splat(f64::NEG_INFINITY);
        for p in wp.iter().chain(&left).chain(&right) {
            lo = lo.min(*p);
            hi = hi.max(*p);
        }
        let max_half_width = wd.iter().copied().fold(0.0, f64::max) * 0.5;
        let segs: Vec<(DVec2, DVec2, f64)> = (0..m).map(|i| (wp[i], wp[(i + 1) % n], 0.5 * wd[i].max(wd[(i + 1) % n]) + 1e-9)).collect();
        let mean_seg = length / m as f64;
        let grid = Grid::build(&segs, mean_seg.max(max_half_width));
        let curvature_h = mean_seg.clamp(0.02, 0.25);
        let crossings = find_crossings(wp, m, closed, &grid);
        if !crossings.is_empty() && !allow_crossings {
            let list: Vec<String> = crossings
                .iter()
                .take(5)
                .map(|&(a, b, p)| {
                    format!("segment {a} (waypoints {a}-{}) crosses segment {b} (waypoints {b}-{}) at ({:.3}, {:.3})", (a + 1) % n, (b + 1) % n, p.x, p.y)
                })
                .collect();
            let more = if crossings.len() > 5 { format!(" and {} more", crossings.len() - 5) } else { String::new() };
            return Err(format!("the centre line crosses itself: {}{more} (allow crossings for figure-eight tracks)", list.join("; ")));
        }
        Ok(Geometry { left, right, tangents, seg_dir, seg_len, s, length, bounds: (lo, hi), max_half_width, grid, crossings: crossings.len(), curvature_h })
    }
}

/// Crossings between non-adjacent segments of the `m` segments (segment i runs from waypoint i
/// to i + 1, wrapping): (segment, segment, point), one per place.
fn find_crossings(wp: &[DVec2], m: usize, closed: bool, grid: &Grid) -> Vec<(usize, usize, DVec2)> {
    let n = wp.len();
    let adjacent = |i: usize, j: usize| {
        let d = i.abs_diff(j);
        d <= 1 || (closed && d == m - 1)
    };
    let mut found: Vec<(usize, usize, DVec2)> = Vec::new();
    let mut candidates: Vec<u32> = Vec::new();
    for i in 0..m {
        let (a, b) = (wp[i], wp[(i + 1) % n]);
        candidates.clear();
        grid.for_each_in_box(a.min(b), a.max(b), |k| candidates.push(k));
        candidates.sort_unstable();
        candidates.dedup();
        for &j in &candidates {
            let j = j as usize;
            if j <= i || adjacent(i, j) {
                continue;
            }
            if let Some(p) = segment_intersection(a, b, wp[j], wp[(j + 1) % n]) {
                // A crossing through a waypoint shows up in several segment pairs.
                if !found.iter().any(|&(_, _, q)| q.distance(p) < 1e-6) {
                    found.push((i, j, p));
                }
            }
        }
    }
    found
}
