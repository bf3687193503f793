//! A top-down colour map of a track: surface, border lines, dashed centre line, start/finish
//! checker and direction arrow, optionally a racing line coloured by speed and driven traces.

use glam::Vec2;
use image::{Rgb, RgbImage};
use paddock_tracks::{DVec2, RacingLine, Track};

use crate::scene::{coverage, marking, marking_coverage, rasterize_track, texel_range, GridSpec, TrackGeom};

const GRASS: [u8; 3] = [58, 96, 62];
const SURFACE: [u8; 3] = [52, 52, 58];
const BORDER: [u8; 3] = [240, 240, 240];
const CENTRE: [u8; 3] = [236, 196, 40];
const ARROW: [u8; 3] = [255, 128, 0];
/// Largest image side, pixels (the scale is reduced to fit).
const MAX_SIDE_PX: f64 = 8192.0;
/// Floor around the track in the picture, metres.
const MARGIN_M: f64 = 0.5;

/// Draws the map at `px_per_m` pixels per metre (reduced if the image would exceed 8192 px a
/// side; 50 if not a positive number). North (+y) is up. `traces` are polylines in track
/// coordinates with their colours, drawn last.
pub fn render_top_down(track: &Track, line: Option<&RacingLine>, traces: &[(&[Vec2], [u8; 3])], px_per_m: f32) -> RgbImage {
    let (mut lo, mut hi) = track.bounds();
    if !(lo.is_finite() && hi.is_finite()) {
        lo = DVec2::ZERO;
        hi = DVec2::ONE;
    }
    // Traces may leave the track; include them, within reason.
    let (reach_lo, reach_hi) = (lo - 5.0, hi + 5.0);
    for (points, _) in traces {
        for p in points.iter().map(|p| p.as_dvec2()).filter(|p| p.is_finite()) {
            lo = lo.min(p.max(reach_lo));
            hi = hi.max(p.min(reach_hi));
        }
    }
    lo -= MARGIN_M;
    hi += MARGIN_M;
    let extent = hi - lo;
    let mut scale = if px_per_m.is_finite() && px_per_m > 0.0 { px_per_m as f64 } else { 50.0 };
    scale = scale.min(MAX_SIDE_PX / extent.max_element().max(1e-3));
    let w = ((extent.x * scale).ceil() as u32).max(1);
    let h = ((extent.y * scale).ceil() as u32).max(1);
    let grid = GridSpec { origin: lo, size: 1.0 / scale, nx: w as usize, ny: h as usize };
    let mut img = RgbImage::from_pixel(w, h, Rgb(GRASS));
    let px = 1.0 / scale; // one pixel in metres

    // Track surface and markings; lines are at least about a pixel wide so they never vanish.
    let geom = TrackGeom::from_track(track);
    let border_w = marking::BORDER_WIDTH.max(1.2 * px);
    let centre_w = marking::CENTRE_WIDTH.max(1.0 * px);
    let period = (marking::DASH + marking::GAP).max(6.0 * px);
    let dash = period * marking::DASH / (marking::DASH + marking::GAP);
    // Start/finish checker: two rows of squares across the track.
    let start_len = 0.12;
    let mut written = vec![0u8; grid.nx * grid.ny];
    rasterize_track(&geom, grid, 1.5 * px, |ix, iy, c| {
        let (surface, _, _) = marking_coverage(&c, px);
        let border = coverage(border_w - c.to_left.min(c.to_right), px);
        let m = c.s.rem_euclid(period);
        let along = if m < dash { m.min(dash - m) } else { -(m - dash).min(period - m) };
        let centre = coverage(centre_w / 2.0 - c.lateral.abs(), px) * coverage(along, px);
        let mut colour = SURFACE.map(|v| v as f64);
        if c.s < start_len {
            let sq = start_len / 2.0;
            let a = (c.s / sq).floor() as i64 + ((c.lateral + c.width) / sq).floor() as i64;
            colour = if a.rem_euclid(2) == 0 { [250.0; 3] } else { [20.0; 3] };
        } else {
            colour = mix(colour, CENTRE, centre);
        }
        colour = mix(colour, BORDER, border);
        // Fringe texels of neighbouring quads overlap: keep the strongest coverage.
        let k = iy * grid.nx + ix;
        let q = (surface * 255.0).round() as u8;
        if q == 0 || q < written[k] {
            return;
        }
        written[k] = q;
        let out = mix(GRASS.map(|v| v as f64), colour.map(|v| v.round().clamp(0.0, 255.0) as u8), surface);
        img.put_pixel(ix as u32, h - 1 - iy as u32, Rgb(out.map(|v| v.round() as u8)));
    });

    // Direction arrow just past the start line.
    let (p, heading) = track.pose_at(0.45);
    let (p, heading) = (p.as_vec2(), heading as f32);
    let f = Vec2::from_angle(heading);
    let l = f.perp();
    let size = 0.22;
    fill_triangle(&mut img, grid, [p + f * size, p - f * size * 0.6 + l * size * 0.6, p - f * size * 0.6 - l * size * 0.6], ARROW);

    if let Some(line) = line {
        let (vmin, vmax) = line.speed.iter().filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let n = line.points.len();
        let segments = if track.is_closed() { n } else { n.saturating_sub(1) };
        let radius = (0.018f64).max(0.9 * px) as f32;
        for i in 0..segments {
            let (a, b) = (line.points[i].as_vec2(), line.points[(i + 1) % n].as_vec2());
            let v = line.speed.get(i).copied().unwrap_or(vmin);
            let k = if vmax > vmin { ((v - vmin) / (vmax - vmin)) as f32 } else { 1.0 };
            draw_segment(&mut img, grid, a, b, radius, speed_colour(k));
        }
    }

    let radius = (0.012f64).max(0.7 * px) as f32;
    for (points, colour) in traces {
        for pair in points.windows(2) {
            draw_segment(&mut img, grid, pair[0], pair[1], radius, *colour);
        }
    }
    img
}

/// `a` moved towards `b` by `k` (0..=1).
fn mix(a: [f64; 3], b: [u8; 3], k: f64) -> [f64; 3] {
    [0, 1, 2].map(|i| a[i] + (b[i] as f64 - a[i]) * k)
}

/// Slow red through yellow to fast green, `k` in 0..=1.
fn speed_colour(k: f32) -> [u8; 3] {
    let k = if k.is_finite() { k.clamp(0.0, 1.0) } else { 1.0 };
    let (r, g) = if k < 0.5 { (1.0, 2.0 * k) } else { (2.0 * (1.0 - k), 1.0) };
    [(r * 230.0) as u8, (g * 210.0) as u8, 30]
}

fn blend(img: &mut RgbImage, x: u32, y: u32, colour: [u8; 3], alpha: f32) {
    let p = img.get_pixel_mut(x, y);
    for (v, &c) in p.0.iter_mut().zip(&colour) {
        *v = (*v as f32 + (c as f32 - *v as f32) * alpha).round() as u8;
    }
}

/// A segment `radius` metres thick with round caps, edges antialiased over a pixel.
fn draw_segment(img: &mut RgbImage, grid: GridSpec, a: Vec2, b: Vec2, radius: f32, colour: [u8; 3]) {
    if !(a.is_finite() && b.is_finite()) {
        return;
    }
    let px = grid.size as f32;
    let pad = radius + px;
    let lo = (a.min(b) - pad).as_dvec2();
    let hi = (a.max(b) + pad).as_dvec2();
    let Some((x0, x1, y0, y1)) = texel_range(grid, lo, hi) else { return };
    let ab = b - a;
    let len2 = ab.length_squared();
    let origin = grid.origin.as_vec2();
    for iy in y0..=y1 {
        for ix in x0..=x1 {
            let p = origin + Vec2::new(ix as f32 + 0.5, iy as f32 + 0.5) * px;
            let t = if len2 > 0.0 { ((p - a).dot(ab) / len2).clamp(0.0, 1.0) } else { 0.0 };
            let dist = p.distance(a + ab * t);
            let alpha = ((radius - dist) / px + 0.5).clamp(0.0, 1.0);
            if alpha > 0.0 {
                blend(img, ix as u32, (grid.ny - 1 - iy) as u32, colour, alpha);
            }
        }
    }
}

fn fill_triangle(img: &mut RgbImage, grid: GridSpec, v: [Vec2; 3], colour: [u8; 3]) {
    if !v.iter().all(|p| p.is_finite()) {
        return;
    }
    let lo = v[0].min(v[1]).min(v[2]).as_dvec2();
    let hi = v[0].max(v[1]).max(v[2]).as_dvec2();
    let Some((x0, x1, y0, y1)) = texel_range(grid, lo, hi) else { return };
    let px = grid.size as f32;
    let origin = grid.origin.as_vec2();
    let area = (v[1] - v[0]).perp_dot(v[2] - v[0]);
    for iy in y0..=y1 {
        for ix in x0..=x1 {
            let p = origin + Vec2::new(ix as f32 + 0.5, iy as f32 + 0.5) * px;
            // Inside when p is on the same side of all three edges as the triangle's interior.
            let inside = (0..3).all(|k| (v[(k + 1) % 3] - v[k]).perp_dot(p - v[k]) * area >= 0.0);
            if inside {
                img.put_pixel(ix as u32, (grid.ny - 1 - iy) as u32, Rgb(colour));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_colours_run_red_to_green() {
        assert_eq!(speed_colour(0.0), [230, 0, 30]);
        assert_eq!(speed_colour(1.0), [0, 210, 30]);
        let mid = speed_colour(0.5);
        assert!(mid[0] > 200 && mid[1] > 200);
    }
}
