//! The track as the sensors see it, prepared once per track and shared read-only (behind an
//! `Arc`) by every env on that track.
//!
//! - A top-down ground texture of the track plane (u8 gray, about 1 cm per texel) painted like
//!   DeepRacer's simulated tracks in grayscale, with coarser mip levels for distant ground.
//! - A uniform grid over the border polylines, which the lidar sees as walls.

mod raster;

pub(crate) use raster::{rasterize_track, texel_range, GridSpec, TrackCoord, TrackGeom};

use glam::Vec2;
use paddock_tracks::{DVec2, Track};

/// Gray levels of the painted track (DeepRacer's colours seen in grayscale).
pub(crate) mod palette {
    /// Asphalt-dark track surface.
    pub const SURFACE: f32 = 62.0;
    /// White border lines.
    pub const BORDER: f32 = 238.0;
    /// Yellow dashed centre line, as gray.
    pub const CENTRE: f32 = 172.0;
    /// Mean gray of the floor around the track.
    pub const FLOOR: f32 = 118.0;
    /// Sky just above the horizon and at its brightest.
    pub const SKY_HORIZON: f32 = 182.0;
    pub const SKY_TOP: f32 = 228.0;
}

/// Painted line geometry, metres (the desktop simulator paints its 3D road with the same).
pub mod marking {
    /// Width of the border lines, painted just inside each border.
    pub const BORDER_WIDTH: f64 = 0.05;
    /// Width of the dashed centre line.
    pub const CENTRE_WIDTH: f64 = 0.04;
    /// Dash and gap length of the centre line.
    pub const DASH: f64 = 0.15;
    pub const GAP: f64 = 0.15;
}

/// Margin of floor texture around the track's bounds, metres.
const TEXTURE_MARGIN_M: f64 = 4.0;
/// Upper bound on level-0 texels, so huge tracks get coarser texels instead of gigabytes.
const MAX_TEXELS: f64 = 48.0e6;
const MAX_TEXELS_PER_SIDE: f64 = 16000.0;
/// Extra mip levels, each half the resolution of the one before.
pub(crate) const MIP_LEVELS: usize = 4;

/// Everything the sensors need about one track, precomputed. Build once, share by `Arc`.
pub struct TrackScene {
    track: Track,
    pub(crate) ground: GroundTexture,
    pub(crate) walls: WallGrid,
    pub(crate) skyline: Skyline,
}

impl TrackScene {
    /// Paints the ground texture and indexes the borders (tens to hundreds of milliseconds).
    pub fn new(track: Track) -> TrackScene {
        let geom = TrackGeom::from_track(&track);
        let (lo, hi) = track.bounds();
        let ground = GroundTexture::paint(&geom, lo, hi);
        let walls = WallGrid::build(&geom);
        TrackScene { track, ground, walls, skyline: Skyline::generate(7) }
    }

    pub fn track(&self) -> &Track {
        &self.track
    }

    /// Size of a level-0 ground texel, metres.
    pub fn texel_size_m(&self) -> f32 {
        self.ground.levels[0].texel
    }

    /// The ground's gray level at a point of the track plane (level 0, nearest texel); the floor
    /// colour beyond the texture. For tests and debugging.
    pub fn ground_gray_at(&self, p: Vec2) -> u8 {
        let lv = &self.ground.levels[0];
        let q = (p - self.ground.origin) * lv.inv_texel;
        if q.x >= 0.0 && q.y >= 0.0 && (q.x as usize) < lv.w && (q.y as usize) < lv.h {
            self.ground.texel_at(q.x as usize, q.y as usize)
        } else {
            self.ground.floor
        }
    }
}

impl std::fmt::Debug for TrackScene {
    // The texture is megabytes: show its shape, not its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let l0 = &self.ground.levels[0];
        f.debug_struct("TrackScene")
            .field("track", &self.track.name())
            .field("texture", &format_args!("{}x{} at {} m", l0.w, l0.h, l0.texel))
            .field("wall_segments", &self.walls.items.len())
            .finish()
    }
}

/// One level of the ground texture. Its texels live in [`GroundTexture::pairs`] from `offset`,
/// stored as vertical pairs: pair row `y` interleaves texel rows `y` and `y + 1`
/// (`pairs[offset + y * 2w + 2x]` is texel (x, y), the next byte texel (x, y + 1)), so a
/// bilinear sample's 2x2 block is four consecutive bytes, one load. Twice the memory, for a good
/// part of the camera's time.
pub(crate) struct MipLevel {
    pub texel: f32,
    pub inv_texel: f32,
    pub w: usize,
    pub h: usize,
    pub offset: usize,
}

/// The painted ground plane and its mip chain. Texel (0, 0) of every level has its corner at
/// `origin`.
pub(crate) struct GroundTexture {
    pub origin: Vec2,
    /// Exactly `MIP_LEVELS + 1` levels, finest first; sizes are multiples of 2^MIP_LEVELS.
    pub levels: Vec<MipLevel>,
    /// All levels' texels in the pair layout (see [`MipLevel`]).
    pub pairs: Vec<u8>,
    /// Gray of the plain floor beyond the texture (the painted floor fades to it at the edges).
    pub floor: u8,
}

impl GroundTexture {
    fn paint(geom: &TrackGeom, lo: DVec2, hi: DVec2) -> GroundTexture {
        let sane = |v: DVec2| v.is_finite();
        let (lo, hi) = if sane(lo) && sane(hi) && hi.x >= lo.x && hi.y >= lo.y { (lo, hi) } else { (DVec2::ZERO, DVec2::ONE) };
        let lo = lo - TEXTURE_MARGIN_M;
        let hi = hi + TEXTURE_MARGIN_M;
        let extent = hi - lo;
        // 1 cm texels, 2 cm for very large tracks, coarser still only if even that is huge.
        let mut texel = 0.01;
        if extent.x * extent.y / (texel * texel) > MAX_TEXELS {
            texel = 0.02;
        }
        texel = texel.max((extent.x * extent.y / MAX_TEXELS).sqrt());
        // The camera's fixed-point texel coordinates need fewer than 16384 texels a side.
        texel = texel.max(extent.max_element() / MAX_TEXELS_PER_SIDE);
        // Round the size up to a multiple of 2^MIP_LEVELS so every level tiles the same area.
        let align = 1usize << MIP_LEVELS;
        let nx = ((extent.x / texel).ceil() as usize).div_ceil(align) * align;
        let ny = ((extent.y / texel).ceil() as usize).div_ceil(align) * align;
        let grid = GridSpec { origin: lo, size: texel, nx, ny };

        let mut data = paint_floor(grid);
        paint_track(geom, grid, &mut data);

        let mut pairs = Vec::new();
        let mut levels = Vec::new();
        let (mut w, mut h, mut rows, mut texel) = (nx, ny, data, texel as f32);
        for k in 0..=MIP_LEVELS {
            if k > 0 {
                (w, h, rows) = downsample(w, h, &rows);
                texel *= 2.0;
            }
            levels.push(MipLevel { texel, inv_texel: 1.0 / texel, w, h, offset: pairs.len() });
            append_pairs(&mut pairs, w, h, &rows);
        }
        GroundTexture { origin: lo.as_vec2(), levels, pairs, floor: palette::FLOOR as u8 }
    }

    /// Texel (x, y) of level 0; x < w and y < h.
    fn texel_at(&self, x: usize, y: usize) -> u8 {
        let lv = &self.levels[0];
        // The last row only appears as the lower half of the last pair row.
        let (row, half) = if y + 1 < lv.h { (y, 0) } else { (y.saturating_sub(1), (lv.h > 1) as usize) };
        self.pairs[lv.offset + row * 2 * lv.w + 2 * x + half]
    }
}

/// Appends a `w` x `h` raster in the pair layout: `h - 1` pair rows (at least one).
fn append_pairs(pairs: &mut Vec<u8>, w: usize, h: usize, rows: &[u8]) {
    for y in 0..h.saturating_sub(1).max(1) {
        let below = (y + 1).min(h - 1);
        for x in 0..w {
            pairs.push(rows[y * w + x]);
            pairs.push(rows[below * w + x]);
        }
    }
}

/// Small integer hash, good enough to scatter noise lattice values.
#[inline]
pub(crate) fn hash2(x: i32, y: i32, seed: u32) -> u32 {
    let mut h = (x as u32).wrapping_mul(0x9E37_79B1) ^ (y as u32).wrapping_mul(0x85EB_CA77) ^ seed.wrapping_mul(0xC2B2_AE3D);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297A_2D39);
    h ^ (h >> 15)
}

/// Value noise in [-1, 1] with smooth interpolation; `p` in lattice units.
fn value_noise(p: DVec2, seed: u32) -> f64 {
    let i = p.floor();
    let f = p - i;
    let (ix, iy) = (i.x as i32, i.y as i32);
    let v = |dx: i32, dy: i32| (hash2(ix + dx, iy + dy, seed) >> 8) as f64 / (1u32 << 23) as f64 - 1.0;
    let sx = f.x * f.x * (3.0 - 2.0 * f.x);
    let sy = f.y * f.y * (3.0 - 2.0 * f.y);
    let top = v(0, 0) + (v(1, 0) - v(0, 0)) * sx;
    let bot = v(0, 1) + (v(1, 1) - v(0, 1)) * sx;
    top + (bot - top) * sy
}

/// The floor around the track: mottled gray (low-frequency noise so that motion shows) with a
/// fine grain, fading to the plain floor colour near the texture's edges to hide the seam.
fn paint_floor(grid: GridSpec) -> Vec<u8> {
    let mut data = vec![0u8; grid.nx * grid.ny];
    let fade_m = 1.5;
    let w_m = grid.nx as f64 * grid.size;
    let h_m = grid.ny as f64 * grid.size;
    for iy in 0..grid.ny {
        let y = (iy as f64 + 0.5) * grid.size;
        let fy = (y.min(h_m - y) / fade_m).min(1.0);
        for ix in 0..grid.nx {
            let x = (ix as f64 + 0.5) * grid.size;
            let fade = fy.min((x.min(w_m - x) / fade_m).min(1.0));
            let p = grid.origin + DVec2::new(x, y);
            let n = 16.0 * value_noise(p / 1.7, 11) + 9.0 * value_noise(p / 0.45, 12);
            let grain = (hash2(ix as i32, iy as i32, 13) & 7) as f64 - 3.5;
            let v = palette::FLOOR as f64 + fade * (n + grain);
            data[iy * grid.nx + ix] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    data
}

/// How much of a texel `texel` wide, centred `d` inside an edge (negative: outside), is covered.
#[inline]
pub(crate) fn coverage(d: f64, texel: f64) -> f64 {
    (d / texel + 0.5).clamp(0.0, 1.0)
}

/// Coverage of the track's markings at a point: (track surface, border line, centre dash), each
/// 0..=1, antialiased over one texel. The line colours go over the surface in that order.
pub(crate) fn marking_coverage(c: &TrackCoord, texel: f64) -> (f64, f64, f64) {
    use marking::*;
    let edge = c.to_left.min(c.to_right);
    let surface = coverage(edge, texel);
    let border = coverage(BORDER_WIDTH - edge, texel);
    let period = DASH + GAP;
    let m = c.s.rem_euclid(period);
    // Signed distance into the nearest dash along the line.
    let along = if m < DASH { m.min(DASH - m) } else { -(m - DASH).min(period - m) };
    let centre = coverage(CENTRE_WIDTH / 2.0 - c.lateral.abs(), texel) * coverage(along, texel);
    (surface, border, centre)
}

fn paint_track(geom: &TrackGeom, grid: GridSpec, data: &mut [u8]) {
    // The floor under the track's antialiased fringe, and the best coverage written so far, so
    // that overlapping quads do not blend twice.
    let floor = data.to_vec();
    let mut written = vec![0u8; data.len()];
    rasterize_track(geom, grid, 1.5 * grid.size, |ix, iy, c| {
        let k = iy * grid.nx + ix;
        let (surface, border, centre) = marking_coverage(&c, grid.size);
        let q = (surface * 255.0).round() as u8;
        if q == 0 || q < written[k] {
            return;
        }
        written[k] = q;
        // A little mottling and grain: real print and rubber marks are never uniform.
        let p = grid.origin + DVec2::new(ix as f64 + 0.5, iy as f64 + 0.5) * grid.size;
        let grain = (hash2(ix as i32, iy as i32, 21) & 7) as f64 - 3.5;
        let mut v = palette::SURFACE as f64 + 5.0 * value_noise(p / 0.6, 22) + grain;
        v += (palette::CENTRE as f64 - v) * centre;
        v += (palette::BORDER as f64 - v) * border;
        v = floor[k] as f64 + (v - floor[k] as f64) * surface;
        data[k] = v.round().clamp(0.0, 255.0) as u8;
    });
}

/// Box-filtered half-resolution copy of a `w` x `h` raster (sizes are even by construction).
fn downsample(pw: usize, ph: usize, prev: &[u8]) -> (usize, usize, Vec<u8>) {
    let w = (pw / 2).max(1);
    let h = (ph / 2).max(1);
    let mut data = vec![0u8; w * h];
    for y in 0..h {
        let r0 = (2 * y).min(ph - 1) * pw;
        let r1 = (2 * y + 1).min(ph - 1) * pw;
        for x in 0..w {
            let x0 = (2 * x).min(pw - 1);
            let x1 = (2 * x + 1).min(pw - 1);
            let sum = prev[r0 + x0] as u32 + prev[r0 + x1] as u32 + prev[r1 + x0] as u32 + prev[r1 + x1] as u32;
            data[y * w + x] = ((sum + 2) / 4) as u8;
        }
    }
    (w, h, data)
}

/// A wall segment: start point and direction (end - start), f32 metres.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallSeg {
    pub a: Vec2,
    pub e: Vec2,
}

/// Uniform grid over the border polylines. Each cell holds copies of the segments that cross it
/// (copies rather than indices, so a ray test reads one contiguous run of memory).
pub(crate) struct WallGrid {
    pub origin: Vec2,
    pub cell: f32,
    pub inv_cell: f32,
    pub nx: usize,
    pub ny: usize,
    /// Segments of cell c: `items[start[c]..start[c + 1]]`.
    pub start: Vec<u32>,
    pub items: Vec<WallSeg>,
}

/// Wall grid cell size, metres: a few border segments per occupied cell (0.4 measured fastest
/// among 0.15-0.6 on the bundled tracks).
const WALL_CELL_M: f64 = 0.4;
const MAX_WALL_CELLS: f64 = 4.0e6;

impl WallGrid {
    fn build(geom: &TrackGeom) -> WallGrid {
        let mut segs: Vec<(DVec2, DVec2)> = Vec::new();
        for border in [&geom.left, &geom.right] {
            let n = border.len();
            let count = if geom.closed && n > 2 { n } else { n.saturating_sub(1) };
            for i in 0..count {
                let (a, b) = (border[i], border[(i + 1) % n]);
                if a.is_finite() && b.is_finite() && a != b {
                    segs.push((a, b));
                }
            }
        }
        let mut lo = DVec2::splat(f64::INFINITY);
        let mut hi = DVec2::splat(f64::NEG_INFINITY);
        for &(a, b) in &segs {
            lo = lo.min(a.min(b));
            hi = hi.max(a.max(b));
        }
        if segs.is_empty() {
            lo = DVec2::ZERO;
            hi = DVec2::ONE;
        }
        lo -= 0.5;
        hi += 0.5;
        let extent = hi - lo;
        let cell = WALL_CELL_M.max((extent.x * extent.y / MAX_WALL_CELLS).sqrt());
        let nx = (extent.x / cell).ceil().max(1.0) as usize;
        let ny = (extent.y / cell).ceil().max(1.0) as usize;
        let grid = GridSpec { origin: lo, size: cell, nx, ny };

        // Two passes over the cells each segment truly crosses: count, then fill.
        let mut start = vec![0u32; nx * ny + 1];
        let mut items = Vec::new();
        let mut fill = Vec::new();
        for pass in 0..2 {
            if pass == 1 {
                for c in 0..nx * ny {
                    start[c + 1] += start[c];
                }
                fill = start[..nx * ny].to_vec();
                items = vec![WallSeg { a: Vec2::ZERO, e: Vec2::ZERO }; start[nx * ny] as usize];
            }
            for &(a, b) in &segs {
                let Some((x0, x1, y0, y1)) = texel_range(grid, a.min(b), a.max(b)) else { continue };
                let n = (b - a).perp().normalize_or_zero();
                for iy in y0..=y1 {
                    for ix in x0..=x1 {
                        // Separating axis along the segment's normal (the bounding box already
                        // covers the two axis directions).
                        let c = lo + DVec2::new(ix as f64 + 0.5, iy as f64 + 0.5) * cell;
                        let reach = 0.5 * cell * (n.x.abs() + n.y.abs()) + 1e-9;
                        if (c - a).dot(n).abs() > reach {
                            continue;
                        }
                        let k = iy * nx + ix;
                        if pass == 0 {
                            start[k + 1] += 1;
                        } else {
                            items[fill[k] as usize] = WallSeg { a: a.as_vec2(), e: (b - a).as_vec2() };
                            fill[k] += 1;
                        }
                    }
                }
            }
        }
        WallGrid { origin: lo.as_vec2(), cell: cell as f32, inv_cell: 1.0 / cell as f32, nx, ny, start, items }
    }

    /// Distance along the unit direction `d` from `o` to the first wall, if one is nearer than
    /// `t_max`. Walks the grid cell by cell (Amanatides-Woo), stopping as soon as a hit cannot be
    /// beaten by a later cell.
    #[inline]
    pub fn cast(&self, o: Vec2, d: Vec2, t_max: f32) -> Option<f32> {
        // Clip the ray to the grid's box.
        let size = Vec2::new(self.nx as f32, self.ny as f32) * self.cell;
        let inv_d = Vec2::ONE / d; // infinities for axis-parallel rays are fine here
        let t0 = (-(o - self.origin)) * inv_d;
        let t1 = (size - (o - self.origin)) * inv_d;
        let tmin = t0.min(t1);
        let tmax = t0.max(t1);
        let mut t_enter = tmin.x.max(tmin.y).max(0.0);
        let t_exit = tmax.x.min(tmax.y).min(t_max);
        // (NaN from a degenerate pose or ray fails this too.)
        if t_enter.partial_cmp(&t_exit).is_none_or(|o| o == std::cmp::Ordering::Greater) {
            return None;
        }
        // Nudge inside so the starting cell is well defined.
        t_enter = t_enter.min(t_exit);
        let p = (o + d * t_enter - self.origin) * self.inv_cell;
        let mut ix = (p.x.max(0.0) as usize).min(self.nx - 1) as isize;
        let mut iy = (p.y.max(0.0) as usize).min(self.ny - 1) as isize;
        let step_x: isize = if d.x >= 0.0 { 1 } else { -1 };
        let step_y: isize = if d.y >= 0.0 { 1 } else { -1 };
        let delta = (Vec2::splat(self.cell) * inv_d).abs();
        // Ray parameter at which the next vertical / horizontal cell boundary is crossed.
        let next_bx = self.origin.x + (ix + (step_x > 0) as isize) as f32 * self.cell;
        let next_by = self.origin.y + (iy + (step_y > 0) as isize) as f32 * self.cell;
        let mut tx = if d.x != 0.0 { (next_bx - o.x) * inv_d.x } else { f32::INFINITY };
        let mut ty = if d.y != 0.0 { (next_by - o.y) * inv_d.y } else { f32::INFINITY };
        let mut best = t_max;
        let mut hit = false;
        loop {
            let c = iy as usize * self.nx + ix as usize;
            let (s, e) = (self.start[c] as usize, self.start[c + 1] as usize);
            for seg in &self.items[s..e] {
                let denom = d.perp_dot(seg.e);
                if denom == 0.0 {
                    continue;
                }
                let ao = seg.a - o;
                let t = ao.perp_dot(seg.e) / denom;
                let u = ao.perp_dot(d) / denom;
                if t >= 0.0 && t < best && (0.0..=1.0).contains(&u) {
                    best = t;
                    hit = true;
                }
            }
            let cell_exit = tx.min(ty);
            if (hit && best <= cell_exit) || cell_exit >= t_exit {
                break;
            }
            if tx < ty {
                ix += step_x;
                tx += delta.x;
                if ix < 0 || ix >= self.nx as isize {
                    break;
                }
            } else {
                iy += step_y;
                ty += delta.y;
                if iy < 0 || iy >= self.ny as isize {
                    break;
                }
            }
        }
        hit.then_some(best)
    }
}

/// The distant surroundings above the horizon: a ring of buildings and walls around the venue,
/// as a function of world azimuth only (infinitely far, so it turns with the car but does not
/// move as the car drives). Indexed by the diamond pseudo-angle, which is monotonic in the angle
/// and needs no trigonometry per pixel.
pub(crate) struct Skyline {
    /// Tangent of the elevation of the silhouette's top, per azimuth bin.
    pub top: Box<[f32; SKYLINE_BINS]>,
    /// Gray of the building at that azimuth (a float: the camera blends it in float lanes).
    pub shade: Box<[f32; SKYLINE_BINS]>,
}

/// A power of two, so bins wrap with a mask.
pub(crate) const SKYLINE_BINS: usize = 2048;

impl Skyline {
    fn generate(seed: u32) -> Skyline {
        let mut top = Box::new([0.0f32; SKYLINE_BINS]);
        let mut shade = Box::new([0.0f32; SKYLINE_BINS]);
        let mut i = 0;
        let mut k = 0;
        while i < SKYLINE_BINS {
            let h = hash2(k, 0, seed);
            let width = 12 + (h % 70) as usize;
            let kind = (h >> 8) % 5;
            // Mostly buildings of varied height, now and then a low wall or a gap.
            let (t, g) = match kind {
                0 => (0.018, 96),
                1 => (0.0, 0),
                _ => (0.03 + ((h >> 12) % 1000) as f32 * 1.1e-4, 70 + ((h >> 22) % 80) as u8),
            };
            for j in i..(i + width).min(SKYLINE_BINS) {
                top[j] = t;
                shade[j] = g as f32;
            }
            i += width;
            k += 1;
        }
        Skyline { top, shade }
    }

    /// Position of a horizontal direction (x, y; need not be normalised) in bins, as a float
    /// in [0, SKYLINE_BINS] (the caller rounds and masks: bin SKYLINE_BINS is bin 0).
    #[inline(always)]
    pub fn bin_position(x: f32, y: f32) -> f32 {
        // (Straight up, x = y = 0, lands in bin 0.)
        let sum = (x.abs() + y.abs()).max(1e-30);
        // Diamond angle, 0..4 per turn counter-clockwise from +x: 1 - x/(|x|+|y|) on the upper
        // half, 3 + x/(|x|+|y|) on the lower; a select, no branches.
        let nx = x / sum;
        let pa = if y >= 0.0 { 1.0 - nx } else { 3.0 + nx };
        (pa * (SKYLINE_BINS as f32 / 4.0)).max(0.0).min(SKYLINE_BINS as f32)
    }
}
