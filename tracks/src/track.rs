//! The track model and its lap queries.
use crate::geometry::{closest_on_segment, wrap_angle};
use crate::grid::Grid;
use crate::{DVec2, TrackError};

mod construct;
use construct::{dedupe, validate, Geometry};

/// A race track: a centre line with a width at each waypoint.
///
/// Waypoints are stored as given by the source (DeepRacer reward functions index them), except
/// that exact consecutive duplicates are dropped; for a closed track the last waypoint is *not*
/// a repeat of the first: the loop closes from the last waypoint back to waypoint 0.
#[derive(Debug, Clone)]
pub struct Track {
    name: String,
    description: String,
    closed: bool,
    allow_crossings: bool,
    waypoints: Vec<DVec2>,
    widths: Vec<f64>,
    /// The centre-line points exactly as the source gave them, repeats included, and the
    /// source row of each kept waypoint: DeepRacer's reward params index the source rows.
    source_waypoints: Vec<DVec2>,
    source_index: Vec<usize>,
    left: Vec<DVec2>,
    right: Vec<DVec2>,
    /// Unit track direction at each waypoint: the average of the adjacent segments' directions.
    tangents: Vec<DVec2>,
    /// Unit direction and length of each segment (segment i runs from waypoint i to i + 1).
    seg_dir: Vec<DVec2>,
    seg_len: Vec<f64>,
    /// Arc length at each waypoint.
    s: Vec<f64>,
    length: f64,
    bounds: (DVec2, DVec2),
    max_half_width: f64,
    grid: Grid,
    crossings: usize,
    /// Driven against the source's waypoint order (DeepRacer's clockwise training).
    reversed: bool,
    /// Half window of the heading finite difference behind `curvature_at`, metres.
    curvature_h: f64,
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

/// Segments searched each side of a hint before widening.
const HINT_WINDOW: usize = 8;

impl Track {
    /// Names of the bundled tracks (in `tracks/data/`), without `random:SEED`.
    pub fn builtin_names() -> &'static [&'static str] {
        crate::designs::BUILTIN_NAMES
    }
    /// A bundled track by name, or a procedural one for `random:SEED`.
    pub fn builtin(name: &str) -> Result<Track, TrackError> {
        if let Some(seed) = name.strip_prefix("random:") {
            return match seed.trim().parse::<u64>() {
                Ok(seed) => crate::generate::random_track(seed),
                Err(_) => Err(unknown_track(name)),
            };
        }
        match crate::designs::builtin_json(name) {
            Some(json) => Track::from_json_str(json),
            None => Err(unknown_track(name)),
        }
    }
    /// A bundled name, `random:SEED`, or a path to a `.json` (ours) or `.npy` (DeepRacer) file.
    pub fn resolve(name_or_path: &str) -> Result<Track, TrackError> {
        if name_or_path.starts_with("random:") || Track::builtin_names().contains(&name_or_path) {
            return Track::builtin(name_or_path);
        }
        let path = std::path::Path::new(name_or_path);
        match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()) {
            Some(e) if e == "json" => Track::from_json_file(path),
            Some(e) if e == "npy" => Track::from_npy_file(path),
            _ => Err(unknown_track(name_or_path)),
        }
    }
    /// Builds and validates a track from centre-line waypoints and widths (metres).
    ///
    /// Exact consecutive duplicate points are dropped first (with a closed track's repeat of
    /// waypoint 0 at the end). Rejects fewer than 3 waypoints (2 when open), non-finite values,
    /// widths <= 0, a centre line that doubles back, and one that crosses itself
    /// (see [`Track::new_allowing_crossings`]).
    pub fn new(name: &str, waypoints: Vec<DVec2>, widths: Vec<f64>, closed: bool) -> Result<Track, TrackError> {
        Track::build(name, waypoints, widths, closed, false)
    }
    /// Like [`Track::new`] but accepts a centre line that crosses itself (a figure-eight such as
    /// DeepRacer's Bowtie); [`Track::crossings`] counts the crossings.
    pub fn new_allowing_crossings(name: &str, waypoints: Vec<DVec2>, widths: Vec<f64>, closed: bool) -> Result<Track, TrackError> {
        Track::build(name, waypoints, widths, closed, true)
    }
    /// The same track driven the other way round, as DeepRacer's clockwise training does:
    /// waypoints in reverse order, so progress, left and right follow the new direction, and
    /// [`Track::is_reversed`] says so (the reward params' `is_reversed`).
    pub fn reversed(&self) -> Track {
        // A loop keeps its start line: waypoint 0 stays first, the rest run backwards.
        let n = self.waypoints.len();
        let order: Vec<usize> = if self.closed { (0..n).map(|j| (n - j) % n).collect() } else { (0..n).rev().collect() };
        let waypoints: Vec<DVec2> = order.iter().map(|&i| self.waypoints[i]).collect();
        let widths: Vec<f64> = order.iter().map(|&i| self.widths[i]).collect();
        // The geometry was valid one way round, so it is valid the other.
        let mut t = Track::build(&self.name, waypoints, widths, self.closed, true).expect("a valid track reversed is a valid track");
        let rows = self.source_waypoints.len();
        t.source_waypoints = self.source_waypoints.iter().rev().copied().collect();
        t.source_index = order.iter().map(|&i| rows - 1 - self.source_index[i]).collect();
        t.allow_crossings = self.allow_crossings;
        t.description = self.description.clone();
        t.reversed = !self.reversed;
        t
    }
    /// Whether this track is driven against its source's waypoint order.
    pub fn is_reversed(&self) -> bool {
        self.reversed
    }
    /// Sets the free-text description (kept in our JSON format).
    pub fn with_description(mut self, description: &str) -> Track {
        self.description = description.to_string();
        self
    }
    /// Parses our JSON track format (see the crate docs).
    pub fn from_json_str(json: &str) -> Result<Track, TrackError> {
        crate::io::parse_json(json, std::path::Path::new("<inline JSON>"))
    }
    /// Reads a file in our JSON track format.
    pub fn from_json_file(path: &std::path::Path) -> Result<Track, TrackError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrackError::Io { path: path.to_path_buf(), source })?;
        crate::io::parse_json(&text, path)
    }
    /// Serialises to our JSON track format.
    pub fn to_json_string(&self) -> String {
        crate::io::to_json(self)
    }
    /// Imports a DeepRacer route file (N x 6 float64: centre, inner, outer).
    pub fn from_npy_file(path: &std::path::Path) -> Result<Track, TrackError> {
        crate::io::read_npy(path)
    }
    /// The same from the file's bytes (an upload), naming the track `name`.
    pub fn from_npy_bytes(bytes: &[u8], name: &str) -> Result<Track, TrackError> {
        crate::io::parse_npy(bytes, name, std::path::Path::new(&format!("{name}.npy")))
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn description(&self) -> &str {
        &self.description
    }
    pub fn is_closed(&self) -> bool {
        self.closed
    }
    /// Whether this track was built accepting a self-crossing centre line.
    pub fn allows_crossings(&self) -> bool {
        self.allow_crossings
    }
    /// Centre-line waypoints, metres.
    pub fn waypoints(&self) -> &[DVec2] {
        &self.waypoints
    }
    /// The centre-line points exactly as the source gave them: every row of a DeepRacer file,
    /// repeats and the closing row included. This is DeepRacer's `params["waypoints"]`, so
    /// reward functions that index it by hand see the same points as on DeepRacer.
    pub fn source_waypoints(&self) -> &[DVec2] {
        &self.source_waypoints
    }
    /// The row of [`Track::source_waypoints`] that waypoint `i` came from.
    pub fn source_index(&self, i: usize) -> usize {
        self.source_index[i % self.source_index.len()]
    }
    /// Track width at each waypoint, metres.
    pub fn widths(&self) -> &[f64] {
        &self.widths
    }
    /// Smallest track width, metres.
    pub fn min_width(&self) -> f64 {
        self.widths.iter().copied().fold(f64::INFINITY, f64::min)
    }
    /// Mean track width over the lap (weighted by segment length), metres.
    pub fn mean_width(&self) -> f64 {
        let total: f64 = (0..self.segment_count()).map(|i| 0.5 * (self.widths[i] + self.widths[self.next(i)]) * self.seg_len[i]).sum();
        total / self.length
    }
    /// Left border points (one per waypoint), metres.
    pub fn left_border(&self) -> &[DVec2] {
        &self.left
    }
    /// Right border points (one per waypoint), metres.
    pub fn right_border(&self) -> &[DVec2] {
        &self.right
    }
    /// Length of the centre line (the lap, for a closed track), metres.
    pub fn length(&self) -> f64 {
        self.length
    }
    /// Arc length from waypoint 0 to each waypoint, metres.
    pub fn waypoint_s(&self) -> &[f64] {
        &self.s
    }
    /// Number of centre-line segments (waypoints for a closed track, one fewer when open).
    pub fn segment_count(&self) -> usize {
        self.seg_len.len()
    }
    /// Axis-aligned bounds of the track including its borders: (min, max), metres.
    pub fn bounds(&self) -> (DVec2, DVec2) {
        self.bounds
    }
    /// Number of places where the centre line crosses itself (0 for ordinary tracks).
    pub fn crossings(&self) -> usize {
        self.crossings
    }
    /// Projects a point onto the track. `hint` is the segment of a previous projection of a
    /// nearby point (a moving car): the search then stays local, which is fast and picks the
    /// right branch where a track crosses itself. Without a hint the global nearest is taken.
    pub fn project(&self, p: DVec2, hint: Option<usize>) -> Projection {
        let (seg, t) = match hint.filter(|&h| h < self.segment_count()) {
            Some(h) => {
                let (seg, t, d2) = self.nearest_near(p, h);
                // Far from the hinted stretch (a reset, a teleport): fall back to the global search.
                let far = 2.0 * self.max_half_width + 0.5;
                if d2 > far * far {
                    let (seg, t, _) = self.nearest_global(p);
                    (seg, t)
                } else {
                    (seg, t)
                }
            }
            None => {
                let (seg, t, _) = self.nearest_global(p);
                (seg, t)
            }
        };
        self.projection_on(p, seg, t)
    }
    /// Whether a point lies on the track surface (within the borders of any nearby segment).
    pub fn is_on_track(&self, p: DVec2) -> bool {
        self.grid.segments_at(p).iter().any(|&k| {
            let i = k as usize;
            let (t, d2) = closest_on_segment(self.waypoints[i], self.waypoints[self.next(i)], p);
            let hw = 0.5 * (self.widths[i] + (self.widths[self.next(i)] - self.widths[i]) * t);
            d2 <= hw * hw
        })
    }
    /// Position and heading (radians) of the centre line at arc length `s` metres (wraps on a
    /// closed track, clamps on an open one).
    pub fn pose_at(&self, s: f64) -> (DVec2, f64) {
        let (i, t) = self.locate(s);
        let pos = self.waypoints[i].lerp(self.waypoints[self.next(i)], t);
        (pos, self.direction_at(i, t).to_angle())
    }
    /// Track width at arc length `s` metres (wraps or clamps like [`Track::pose_at`]).
    pub fn width_at(&self, s: f64) -> f64 {
        let (i, t) = self.locate(s);
        self.widths[i] + (self.widths[self.next(i)] - self.widths[i]) * t
    }
    /// Signed curvature of the centre line at arc length `s`, 1/metres (positive turning left).
    ///
    /// A central difference of the heading over a short window (about the waypoint spacing,
    /// 2 to 25 cm each side), which smooths the polyline's corners into a usable curvature.
    pub fn curvature_at(&self, s: f64) -> f64 {
        let s = if s.is_finite() { s } else { 0.0 };
        let h = self.curvature_h;
        let (a, b) = if self.closed {
            (s - h, s + h)
        } else {
            let s = s.clamp(0.0, self.length);
            ((s - h).max(0.0), (s + h).min(self.length))
        };
        if b - a <= 0.0 {
            return 0.0;
        }
        let (_, ha) = self.pose_at(a);
        let (_, hb) = self.pose_at(b);
        wrap_angle(hb - ha) / (b - a)
    }
    /// Smallest turning radius of the centre line (from [`Track::curvature_at`] sampled at
    /// waypoints and segment midpoints), metres; infinite for a straight track.
    pub fn min_turn_radius(&self) -> f64 {
        let mut kmax: f64 = 0.0;
        for i in 0..self.segment_count() {
            kmax = kmax.max(self.curvature_at(self.s[i]).abs());
            kmax = kmax.max(self.curvature_at(self.s[i] + 0.5 * self.seg_len[i]).abs());
        }
        1.0 / kmax
    }

    // ---- construction ----

    /// Validates, cleans, then builds the geometry; each step's message names the track.
    fn build(name: &str, waypoints: Vec<DVec2>, widths: Vec<f64>, closed: bool, allow_crossings: bool) -> Result<Track, TrackError> {
        let invalid = |message: String| TrackError::Invalid { name: name.to_string(), message };
        validate(&waypoints, &widths).map_err(invalid)?;
        let cleaned = dedupe(&waypoints, widths, closed).map_err(invalid)?;
        let g = Geometry::compute(&cleaned.waypoints, &cleaned.widths, closed, allow_crossings).map_err(invalid)?;
        Ok(Track {
            name: name.to_string(),
            description: String::new(),
            closed,
            allow_crossings,
            waypoints: cleaned.waypoints,
            widths: cleaned.widths,
            source_waypoints: waypoints,
            source_index: cleaned.source_index,
            left: g.left,
            right: g.right,
            tangents: g.tangents,
            seg_dir: g.seg_dir,
            seg_len: g.seg_len,
            s: g.s,
            length: g.length,
            bounds: g.bounds,
            max_half_width: g.max_half_width,
            grid: g.grid,
            crossings: g.crossings,
            reversed: false,
            curvature_h: g.curvature_h,
        })
    }

    // ---- query internals ----

    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.waypoints.len() {
            0
        } else {
            i + 1
        }
    }

    fn seg_dist2(&self, i: usize, p: DVec2) -> (f64, f64) {
        closest_on_segment(self.waypoints[i], self.waypoints[self.next(i)], p)
    }

    /// Segment and position for arc length `s` (wrapped or clamped).
    fn locate(&self, s: f64) -> (usize, f64) {
        let s = if !s.is_finite() {
            0.0
        } else if self.closed {
            s.rem_euclid(self.length)
        } else {
            s.clamp(0.0, self.length)
        };
        let m = self.segment_count();
        let i = self.s[..m].partition_point(|&x| x <= s).saturating_sub(1).min(m - 1);
        let t = ((s - self.s[i]) / self.seg_len[i]).clamp(0.0, 1.0);
        (i, t)
    }

    /// Track direction inside segment `i`: blends the waypoint tangents, so headings turn
    /// smoothly instead of jumping at waypoints.
    fn direction_at(&self, i: usize, t: f64) -> DVec2 {
        let d = self.tangents[i].lerp(self.tangents[self.next(i)], t);
        let len = d.length();
        if len > 1e-12 {
            d / len
        } else {
            self.seg_dir[i]
        }
    }

    fn nearest_global(&self, p: DVec2) -> (usize, f64, f64) {
        match self.grid.nearest(p, |k| self.seg_dist2(k, p).1) {
            Some((k, d2)) => (k, self.seg_dist2(k, p).0, d2),
            None => (0, 0.0, f64::INFINITY),
        }
    }

    fn nearest_near(&self, p: DVec2, hint: usize) -> (usize, f64, f64) {
        let m = self.segment_count();
        let eval = |off: isize| -> Option<(usize, f64, f64)> {
            let k = hint as isize + off;
            let k = if self.closed {
                k.rem_euclid(m as isize) as usize
            } else if k < 0 || k >= m as isize {
                return None;
            } else {
                k as usize
            };
            let (t, d2) = self.seg_dist2(k, p);
            Some((k, t, d2))
        };
        let half = (m / 2) as isize;
        let w = HINT_WINDOW as isize;
        let (mut lo, mut hi) = (-w.min(half), w.min(half));
        let mut best: Option<(isize, (usize, f64, f64))> = None;
        for off in lo..=hi {
            if let Some(r) = eval(off) {
                if best.is_none_or(|(_, b)| r.2 < b.2) {
                    best = Some((off, r));
                }
            }
        }
        // Widen while the best lies on the window's edge: the car has moved on further.
        while let Some((off, _)) = best {
            let grow_lo = off == lo && lo > -half && eval(lo - 1).is_some();
            let grow_hi = off == hi && hi < half && eval(hi + 1).is_some();
            if !grow_lo && !grow_hi {
                break;
            }
            let range = if grow_lo {
                let r = (lo - w).max(-half)..=lo - 1;
                lo = *r.start();
                r
            } else {
                let r = hi + 1..=(hi + w).min(half);
                hi = *r.end();
                r
            };
            for off in range {
                if let Some(r) = eval(off) {
                    if best.is_none_or(|(_, b)| r.2 < b.2) {
                        best = Some((off, r));
                    }
                }
            }
        }
        best.map(|(_, r)| r).unwrap_or((hint, 0.0, f64::INFINITY))
    }

    fn projection_on(&self, p: DVec2, i: usize, t: f64) -> Projection {
        let j = self.next(i);
        let q = self.waypoints[i].lerp(self.waypoints[j], t);
        let mut s = self.s[i] + t * self.seg_len[i];
        if self.closed && s >= self.length {
            s -= self.length;
        }
        let dir = self.direction_at(i, t);
        let d = p - q;
        // Inside a segment the offset is perpendicular to it; at a waypoint (the outside of a
        // corner, or past an open end) take the side from the track direction there.
        let side = if t > 0.0 && t < 1.0 { self.seg_dir[i].perp_dot(d) } else { dir.perp_dot(d) };
        let lateral = if side < 0.0 { -d.length() } else { d.length() };
        Projection {
            segment: i,
            t,
            s,
            progress: 100.0 * s / self.length,
            lateral,
            heading: dir.to_angle(),
            half_width: 0.5 * (self.widths[i] + (self.widths[j] - self.widths[i]) * t),
            prev_waypoint: i,
            next_waypoint: j,
        }
    }
}

fn unknown_track(name: &str) -> TrackError {
    TrackError::UnknownTrack { name: name.to_string(), known: Track::builtin_names().join(", ") }
}

#[cfg(test)]
mod tests;
