//! The track model and its lap queries.
use crate::geometry::{closest_on_segment, segment_intersection, wrap_angle};
use crate::grid::Grid;
use crate::{DVec2, TrackError};

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
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
        {
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
    pub fn new(
        name: &str,
        waypoints: Vec<DVec2>,
        widths: Vec<f64>,
        closed: bool,
    ) -> Result<Track, TrackError> {
        Track::build(name, waypoints, widths, closed, false)
    }
    /// Like [`Track::new`] but accepts a centre line that crosses itself (a figure-eight such as
    /// DeepRacer's Bowtie); [`Track::crossings`] counts the crossings.
    pub fn new_allowing_crossings(
        name: &str,
        waypoints: Vec<DVec2>,
        widths: Vec<f64>,
        closed: bool,
    ) -> Result<Track, TrackError> {
        Track::build(name, waypoints, widths, closed, true)
    }
    /// The same track driven the other way round, as DeepRacer's clockwise training does:
    /// waypoints in reverse order, so progress, left and right follow the new direction, and
    /// [`Track::is_reversed`] says so (the reward params' `is_reversed`).
    pub fn reversed(&self) -> Track {
        // A loop keeps its start line: waypoint 0 stays first, the rest run backwards.
        let n = self.waypoints.len();
        let order: Vec<usize> = if self.closed {
            (0..n).map(|j| (n - j) % n).collect()
        } else {
            (0..n).rev().collect()
        };
        let waypoints: Vec<DVec2> = order.iter().map(|&i| self.waypoints[i]).collect();
        let widths: Vec<f64> = order.iter().map(|&i| self.widths[i]).collect();
        // The geometry was valid one way round, so it is valid the other.
        let mut t = Track::build(&self.name, waypoints, widths, self.closed, true)
            .expect("a valid track reversed is a valid track");
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
        let text = std::fs::read_to_string(path).map_err(|source| TrackError::Io {
            path: path.to_path_buf(),
            source,
        })?;
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
        let total: f64 = (0..self.segment_count())
            .map(|i| 0.5 * (self.widths[i] + self.widths[self.next(i)]) * self.seg_len[i])
            .sum();
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

    fn build(
        name: &str,
        waypoints: Vec<DVec2>,
        widths: Vec<f64>,
        closed: bool,
        allow_crossings: bool,
    ) -> Result<Track, TrackError> {
        let invalid = |message: String| TrackError::Invalid {
            name: name.to_string(),
            message,
        };
        if waypoints.len() != widths.len() {
            return Err(invalid(format!(
                "{} waypoints but {} widths; there must be one width per waypoint",
                waypoints.len(),
                widths.len()
            )));
        }
        for (i, (p, w)) in waypoints.iter().zip(&widths).enumerate() {
            if !p.is_finite() {
                return Err(invalid(format!(
                    "waypoint {i} is not a finite point: ({}, {})",
                    p.x, p.y
                )));
            }
            if !w.is_finite() || *w <= 0.0 {
                return Err(invalid(format!(
                    "width at waypoint {i} is {w}; widths must be finite and > 0"
                )));
            }
        }
        // Drop exact repeats: zero-length segments have no direction.
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
        let source_waypoints = waypoints;
        let min = if closed { 3 } else { 2 };
        if wp.len() < min {
            return Err(invalid(format!(
                "{} track needs at least {min} distinct waypoints, got {}",
                if closed { "a closed" } else { "an open" },
                wp.len()
            )));
        }
        let n = wp.len();
        let m = if closed { n } else { n - 1 };
        let seg_vec: Vec<DVec2> = (0..m).map(|i| wp[(i + 1) % n] - wp[i]).collect();
        let seg_len: Vec<f64> = seg_vec.iter().map(|v| v.length()).collect();
        let seg_dir: Vec<DVec2> = seg_vec.iter().zip(&seg_len).map(|(v, l)| *v / *l).collect();
        let mut tangents = Vec::with_capacity(n);
        for i in 0..n {
            let before = if closed {
                Some(seg_dir[(i + m - 1) % m])
            } else {
                i.checked_sub(1).map(|k| seg_dir[k])
            };
            let after = if i < m { Some(seg_dir[i]) } else { None };
            let t = match (before, after) {
                (Some(a), Some(b)) => {
                    let sum = a + b;
                    if sum.length() < 1e-9 {
                        return Err(invalid(format!(
                            "the centre line doubles back on itself at waypoint {i} ({}, {})",
                            wp[i].x, wp[i].y
                        )));
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
        let left: Vec<DVec2> = (0..n)
            .map(|i| wp[i] + tangents[i].perp() * (0.5 * wd[i]))
            .collect();
        let right: Vec<DVec2> = (0..n)
            .map(|i| wp[i] - tangents[i].perp() * (0.5 * wd[i]))
            .collect();
        let mut lo = DVec2::splat(f64::INFINITY);
        let mut hi = DVec2::splat(f64::NEG_INFINITY);
        for p in wp.iter().chain(&left).chain(&right) {
            lo = lo.min(*p);
            hi = hi.max(*p);
        }
        let max_half_width = wd.iter().copied().fold(0.0, f64::max) * 0.5;
        let segs: Vec<(DVec2, DVec2, f64)> = (0..m)
            .map(|i| {
                (
                    wp[i],
                    wp[(i + 1) % n],
                    0.5 * wd[i].max(wd[(i + 1) % n]) + 1e-9,
                )
            })
            .collect();
        let mean_seg = length / m as f64;
        let grid = Grid::build(&segs, mean_seg.max(max_half_width));
        let curvature_h = mean_seg.clamp(0.02, 0.25);
        let mut track = Track {
            name: name.to_string(),
            description: String::new(),
            closed,
            allow_crossings,
            waypoints: wp,
            widths: wd,
            source_waypoints,
            source_index,
            left,
            right,
            tangents,
            seg_dir,
            seg_len,
            s,
            length,
            bounds: (lo, hi),
            max_half_width,
            grid,
            crossings: 0,
            reversed: false,
            curvature_h,
        };
        let crossings = track.find_crossings();
        if !crossings.is_empty() && !allow_crossings {
            let list: Vec<String> = crossings
                .iter()
                .take(5)
                .map(|&(a, b, p)| {
                    format!(
                        "segment {a} (waypoints {a}-{}) crosses segment {b} (waypoints {b}-{}) at ({:.3}, {:.3})",
                        track.next(a),
                        track.next(b),
                        p.x,
                        p.y
                    )
                })
                .collect();
            let more = if crossings.len() > 5 {
                format!(" and {} more", crossings.len() - 5)
            } else {
                String::new()
            };
            return Err(invalid(format!(
                "the centre line crosses itself: {}{more} (allow crossings for figure-eight tracks)",
                list.join("; ")
            )));
        }
        track.crossings = crossings.len();
        Ok(track)
    }

    /// Crossings between non-adjacent segments: (segment, segment, point), one per place.
    fn find_crossings(&self) -> Vec<(usize, usize, DVec2)> {
        let m = self.segment_count();
        let mut found: Vec<(usize, usize, DVec2)> = Vec::new();
        let mut candidates: Vec<u32> = Vec::new();
        for i in 0..m {
            let (a, b) = (self.waypoints[i], self.waypoints[self.next(i)]);
            candidates.clear();
            self.grid
                .for_each_in_box(a.min(b), a.max(b), |k| candidates.push(k));
            candidates.sort_unstable();
            candidates.dedup();
            for &j in &candidates {
                let j = j as usize;
                if j <= i || self.adjacent(i, j) {
                    continue;
                }
                if let Some(p) =
                    segment_intersection(a, b, self.waypoints[j], self.waypoints[self.next(j)])
                {
                    // A crossing through a waypoint shows up in several segment pairs.
                    if !found.iter().any(|&(_, _, q)| q.distance(p) < 1e-6) {
                        found.push((i, j, p));
                    }
                }
            }
        }
        found
    }

    fn adjacent(&self, i: usize, j: usize) -> bool {
        let m = self.segment_count();
        let d = i.abs_diff(j);
        d <= 1 || (self.closed && d == m - 1)
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
        let i = self.s[..m]
            .partition_point(|&x| x <= s)
            .saturating_sub(1)
            .min(m - 1);
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
        let side = if t > 0.0 && t < 1.0 {
            self.seg_dir[i].perp_dot(d)
        } else {
            dir.perp_dot(d)
        };
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
    TrackError::UnknownTrack {
        name: name.to_string(),
        known: Track::builtin_names().join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::{PI, TAU};

    fn circle(r: f64, n: usize, width: f64) -> Track {
        let wp: Vec<DVec2> = (0..n)
            .map(|i| DVec2::from_angle(TAU * i as f64 / n as f64) * r)
            .collect();
        Track::new("circle", wp, vec![width; n], true).unwrap()
    }

    #[test]
    fn projection_on_a_circle() {
        let r = 3.0;
        let n = 400;
        let t = circle(r, n, 1.0);
        // The polygon's length is a hair short of the circle's.
        assert!((t.length() - TAU * r).abs() < 1e-3);
        for k in 0..50 {
            let angle = 0.1 + TAU * k as f64 / 50.0 * 0.999;
            for radial in [2.6, 3.0, 3.3, 5.0] {
                let p = DVec2::from_angle(angle) * radial;
                let pr = t.project(p, None);
                // Left of a counter-clockwise loop is inside: lateral = R - r.
                assert!(
                    (pr.lateral - (r - radial)).abs() < 2e-3,
                    "{angle} {radial}: {}",
                    pr.lateral
                );
                assert_eq!(pr.is_left_of_centre(), radial < r);
                // Off the centre line, a chord's foot point shifts by up to (radial/R - 1) * half a segment.
                assert!(
                    (pr.progress - 100.0 * angle / TAU).abs() < 0.1,
                    "{} vs {}",
                    pr.progress,
                    angle
                );
                // Tangent of the circle at the projected point.
                let heading = wrap_angle(TAU * pr.s / t.length() + PI / 2.0);
                assert!(wrap_angle(pr.heading - heading).abs() < 1e-3);
                assert!((pr.half_width - 0.5).abs() < 1e-12);
                assert_eq!(pr.next_waypoint, (pr.prev_waypoint + 1) % n);
                assert_eq!(t.is_on_track(p), (radial - r).abs() <= 0.5);
                let hinted = t.project(p, Some((pr.segment + 5) % n));
                assert_eq!(hinted.segment, pr.segment);
                assert!((hinted.s - pr.s).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn hinted_and_global_projection_agree_along_a_lap() {
        let t = Track::builtin("technical").unwrap();
        let mut hint = None;
        let mut s = 0.0;
        while s < t.length() {
            let (c, h) = t.pose_at(s);
            let p = c + DVec2::from_angle(h).perp() * (0.4 * (s * 1.3).sin());
            let global = t.project(p, None);
            let local = t.project(p, hint);
            assert_eq!(global.segment, local.segment, "s={s}");
            assert!((global.s - local.s).abs() < 1e-9);
            assert!(
                (global.s - s).abs() < 0.05 || (global.s - s).abs() > t.length() - 0.05,
                "s={s}: {}",
                global.s
            );
            hint = Some(local.segment);
            s += 0.07;
        }
        // A hint far from the point (a reset) still finds the right place.
        let p = t.waypoints()[100];
        assert_eq!(t.project(p, Some(0)).s, t.waypoint_s()[100]);
        // An out-of-range hint is ignored rather than trusted.
        assert_eq!(t.project(p, Some(1_000_000)).s, t.waypoint_s()[100]);
    }

    #[test]
    fn grid_search_matches_brute_force() {
        let t = Track::builtin("random:7").unwrap();
        let (lo, hi) = t.bounds();
        let mut state = 12345u64;
        let mut rnd = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..3000 {
            // Points inside the bounds and well outside them.
            let p = lo - (hi - lo) * 0.5 + (hi - lo) * 2.0 * DVec2::new(rnd(), rnd());
            let best = (0..t.segment_count())
                .map(|i| t.seg_dist2(i, p).1)
                .fold(f64::INFINITY, f64::min);
            let pr = t.project(p, None);
            assert!(
                (pr.lateral.abs() - best.sqrt()).abs() < 1e-9,
                "{p}: {} vs {}",
                pr.lateral,
                best.sqrt()
            );
            let on = (0..t.segment_count()).any(|i| {
                let (s, d2) = t.seg_dist2(i, p);
                let hw = 0.5 * (t.widths[i] + (t.widths[t.next(i)] - t.widths[i]) * s);
                d2 <= hw * hw
            });
            assert_eq!(t.is_on_track(p), on, "{p}");
        }
    }

    #[test]
    fn queries_far_away_and_nan_do_not_panic() {
        let t = Track::builtin("oval").unwrap();
        let far = t.project(DVec2::new(1e6, -3e5), None);
        assert!(far.lateral.abs() > 1e5);
        assert!(!t.is_on_track(DVec2::new(1e6, 0.0)));
        let _ = t.project(DVec2::NAN, None);
        let _ = t.project(DVec2::NAN, Some(3));
        assert!(!t.is_on_track(DVec2::NAN));
        let _ = t.pose_at(f64::NAN);
        let _ = t.curvature_at(f64::INFINITY);
    }

    #[test]
    fn pose_and_curvature_on_a_circle() {
        let r = 2.0;
        let t = circle(r, 300, 1.0);
        for k in 0..40 {
            let s = t.length() * k as f64 / 40.0;
            let (p, h) = t.pose_at(s);
            assert!((p.length() - r).abs() < 1e-3);
            assert!(wrap_angle(h - (p.to_angle() + PI / 2.0)).abs() < 0.02);
            assert!(
                (t.curvature_at(s) - 1.0 / r).abs() < 0.005,
                "{}",
                t.curvature_at(s)
            );
        }
        // Wraps around a closed lap.
        assert!(t.pose_at(t.length() + 1.0).0.distance(t.pose_at(1.0).0) < 1e-9);
        assert!(t.pose_at(-1.0).0.distance(t.pose_at(t.length() - 1.0).0) < 1e-9);
        assert!((t.min_turn_radius() - r).abs() < 0.01);
    }

    #[test]
    fn open_track_queries() {
        let wp: Vec<DVec2> = (0..11).map(|i| DVec2::new(i as f64 * 0.5, 0.0)).collect();
        let t = Track::new("straight", wp, vec![0.6; 11], false).unwrap();
        assert!(!t.is_closed());
        assert_eq!(t.segment_count(), 10);
        assert!((t.length() - 5.0).abs() < 1e-12);
        let pr = t.project(DVec2::new(5.0, -0.2), None);
        assert!((pr.progress - 100.0).abs() < 1e-9);
        assert!((pr.lateral + 0.2).abs() < 1e-12);
        assert_eq!((pr.prev_waypoint, pr.next_waypoint), (9, 10));
        assert_eq!(t.pose_at(99.0).0, DVec2::new(5.0, 0.0));
        assert_eq!(t.pose_at(-1.0).0, DVec2::ZERO);
        assert_eq!(t.curvature_at(2.5), 0.0);
        assert!(t.is_on_track(DVec2::new(2.0, 0.29)));
        assert!(!t.is_on_track(DVec2::new(2.0, 0.31)));
        let (lo, hi) = t.bounds();
        assert_eq!((lo, hi), (DVec2::new(0.0, -0.3), DVec2::new(5.0, 0.3)));
        assert_eq!(t.left_border()[3], DVec2::new(1.5, 0.3));
        assert_eq!(t.right_border()[3], DVec2::new(1.5, -0.3));
    }

    #[test]
    fn reversed_track_runs_the_other_way_with_the_same_rows() {
        let t = Track::resolve("circuit").unwrap();
        let r = t.reversed();
        assert!(r.is_reversed() && !r.reversed().is_reversed());
        assert!((r.length() - t.length()).abs() < 1e-9);
        let p = t.pose_at(3.0).0 + DVec2::new(0.0, 0.05);
        let (a, b) = (t.project(p, None), r.project(p, None));
        assert!((a.lateral + b.lateral).abs() < 1e-9, "left becomes right");
        assert!((a.progress + b.progress - 100.0).abs() < 1e-6, "progress counts the other way");
        assert_eq!(r.waypoints()[0], t.waypoints()[0], "the start line stays");
        let heading_change = (a.heading - b.heading).rem_euclid(std::f64::consts::TAU);
        assert!((heading_change - std::f64::consts::PI).abs() < 1e-6);
        for i in 0..r.waypoints().len() {
            assert_eq!(r.source_waypoints()[r.source_index(i)], r.waypoints()[i]);
        }
    }

    #[test]
    fn duplicates_are_dropped_but_source_rows_are_kept() {
        let p = DVec2::new;
        let wp = vec![
            p(0., 0.),
            p(1., 0.),
            p(1., 0.),
            p(1., 1.),
            p(0., 1.),
            p(0., 0.),
        ];
        let t = Track::new("square", wp, vec![0.2; 6], true).unwrap();
        assert_eq!(t.waypoints(), &[p(0., 0.), p(1., 0.), p(1., 1.), p(0., 1.)]);
        assert_eq!(t.widths().len(), 4);
        assert!((t.length() - 4.0).abs() < 1e-12);
        // DeepRacer's params index the rows as given.
        assert_eq!(t.source_waypoints().len(), 6);
        let rows: Vec<usize> = (0..4).map(|i| t.source_index(i)).collect();
        assert_eq!(rows, vec![0, 1, 3, 4]);
        let pr = t.project(p(1.0, 0.5), None);
        assert_eq!((t.source_index(pr.prev_waypoint), t.source_index(pr.next_waypoint)), (1, 3));
    }

    fn message(r: Result<Track, TrackError>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn validation_errors_say_what_is_wrong() {
        let p = DVec2::new;
        let sq = || vec![p(0., 0.), p(1., 0.), p(1., 1.), p(0., 1.)];
        let m = message(Track::new("t", sq(), vec![0.2, 0.2, -0.1, 0.2], true));
        assert!(m.contains("width at waypoint 2 is -0.1"), "{m}");
        let m = message(Track::new("t", sq(), vec![0.2, f64::NAN, 0.2, 0.2], true));
        assert!(m.contains("waypoint 1"), "{m}");
        let mut bad = sq();
        bad[3].y = f64::INFINITY;
        let m = message(Track::new("t", bad, vec![0.2; 4], true));
        assert!(m.contains("waypoint 3 is not a finite point"), "{m}");
        let m = message(Track::new("t", sq(), vec![0.2; 3], true));
        assert!(m.contains("4 waypoints but 3 widths"), "{m}");
        let m = message(Track::new(
            "t",
            vec![p(0., 0.), p(1., 0.), p(1., 0.)],
            vec![0.2; 3],
            true,
        ));
        assert!(m.contains("at least 3 distinct waypoints, got 2"), "{m}");
        let m = message(Track::new("t", vec![p(0., 0.)], vec![0.2], false));
        assert!(m.contains("at least 2"), "{m}");
        let m = message(Track::new(
            "t",
            vec![p(0., 0.), p(1., 0.), p(0.5, 0.)],
            vec![0.2; 3],
            false,
        ));
        assert!(m.contains("doubles back on itself at waypoint 1"), "{m}");
        assert!(m.starts_with("track 't' is invalid"), "{m}");
    }

    #[test]
    fn crossings_are_detected_and_can_be_allowed() {
        // A figure-eight: the loop's two lobes cross at the origin.
        let n = 200;
        let wp: Vec<DVec2> = (0..n)
            .map(|i| {
                let a = TAU * i as f64 / n as f64 + 0.01;
                DVec2::new(3.0 * a.sin(), 1.5 * (2.0 * a).sin())
            })
            .collect();
        let m = message(Track::new("eight", wp.clone(), vec![0.5; n], true));
        assert!(m.contains("crosses itself: segment"), "{m}");
        assert!(m.contains("crosses segment"), "{m}");
        let t = Track::new_allowing_crossings("eight", wp, vec![0.5; n], true).unwrap();
        assert_eq!(t.crossings(), 1);
        assert!(t.allows_crossings());
        // At the crossing, the hint keeps the projection on the branch being driven.
        let s1 = t.length() * 0.5 - 0.2;
        let (p1, _) = t.pose_at(s1);
        let seg = t.project(p1, None).segment;
        let (c, _) = t.pose_at(t.length() * 0.5 - 0.01 / TAU * t.length());
        let pr = t.project(c, Some(seg));
        assert!((pr.s - s1).abs() < 0.5, "{} vs {}", pr.s, s1);
        // Ordinary tracks have none.
        assert_eq!(Track::builtin("circuit").unwrap().crossings(), 0);
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        for bad in ["nope", "random:x", "random:-1", "file.txt"] {
            match Track::resolve(bad) {
                Err(TrackError::UnknownTrack { name, known }) => {
                    assert_eq!(name, bad);
                    assert_eq!(known, "oval, circuit, technical");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let m = Track::builtin("nope").unwrap_err().to_string();
        assert!(
            m.contains("oval, circuit, technical") && m.contains("random:SEED"),
            "{m}"
        );
        match Track::resolve("/no/such/file.json") {
            Err(TrackError::Io { path, .. }) => {
                assert_eq!(path, std::path::Path::new("/no/such/file.json"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn widths_and_description() {
        let p = DVec2::new;
        let t = Track::new(
            "t",
            vec![p(0., 0.), p(2., 0.), p(2., 2.), p(0., 2.)],
            vec![0.5, 1.0, 1.0, 0.5],
            true,
        )
        .unwrap()
        .with_description("d");
        assert_eq!(t.description(), "d");
        assert_eq!(t.min_width(), 0.5);
        assert!((t.mean_width() - 0.75).abs() < 1e-12);
        assert!((t.width_at(1.0) - 0.75).abs() < 1e-12);
        assert!((t.project(p(1.0, 0.1), None).half_width - 0.375).abs() < 1e-12);
    }
}
