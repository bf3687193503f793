//! The track as SVG, drawn on the server: asphalt between the borders, the centre line, the
//! racing line and the start line; optionally laps over it.

use std::fmt::Write;

use glam::DVec2;
use paddock_sim::lap_limits;
use paddock_tracks::{RacingLine, Track};
use paddock_vehicle::CarSpec;

/// The SVG's view box: x and y in metres, y flipped (SVG's y runs down).
pub struct View {
    pub min: DVec2,
    pub size: DVec2,
}

impl View {
    fn of(track: &Track) -> View {
        let pts = track.left_border().iter().chain(track.right_border());
        let (mut min, mut max) = (DVec2::splat(f64::MAX), DVec2::splat(f64::MIN));
        for p in pts {
            min = min.min(*p);
            max = max.max(*p);
        }
        let pad = 0.4;
        View { min: min - pad, size: max - min + 2.0 * pad }
    }
    fn xy(&self, p: DVec2) -> (f64, f64) {
        (p.x - self.min.x, self.min.y + self.size.y - p.y)
    }
}

fn path(view: &View, points: impl Iterator<Item = DVec2>, close: bool) -> String {
    let mut d = String::new();
    for (i, p) in points.enumerate() {
        let (x, y) = view.xy(p);
        let _ = write!(d, "{}{x:.3},{y:.3} ", if i == 0 { "M" } else { "L" });
    }
    if close {
        d.push('Z');
    }
    d
}

/// The track with its racing line, and `laps` (each a list of points, metres) drawn over it.
pub fn svg(track: &Track, laps: &[Vec<DVec2>]) -> String {
    let view = View::of(track);
    let mut s = format!(
        r#"<svg class="track" viewBox="0 0 {:.3} {:.3}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="The track from above">"#,
        view.size.x, view.size.y
    );
    let left = track.left_border();
    let right = track.right_border();
    // The asphalt: the left border out, the right border back.
    let ring = path(&view, left.iter().copied().chain(right.iter().rev().copied()), true);
    let _ = write!(s, r##"<path d="{ring}" fill="#3b3f46" fill-rule="evenodd" stroke="none"/>"##);
    for border in [left, right] {
        let _ = write!(s, r##"<path d="{}" fill="none" stroke="#f4f4f4" stroke-width="0.05"/>"##, path(&view, border.iter().copied(), true));
    }
    let _ = write!(
        s,
        r##"<path d="{}" fill="none" stroke="#f2c14e" stroke-width="0.03" stroke-dasharray="0.15 0.15"/>"##,
        path(&view, track.waypoints().iter().copied(), track.is_closed())
    );
    if let Ok(line) = RacingLine::compute(track, &lap_limits(&CarSpec::deepracer())) {
        let _ = write!(
            s,
            r##"<path class="racing-line" d="{}" fill="none" stroke="#4ec9f2" stroke-width="0.035" opacity="0.8"/>"##,
            path(&view, line.points.iter().copied(), true)
        );
    }
    let (start, heading) = track.pose_at(0.0);
    let n = DVec2::new(-heading.sin(), heading.cos()) * track.width_at(0.0) / 2.0;
    let ((x1, y1), (x2, y2)) = (view.xy(start + n), view.xy(start - n));
    let _ = write!(s, r##"<line x1="{x1:.3}" y1="{y1:.3}" x2="{x2:.3}" y2="{y2:.3}" stroke="#ffffff" stroke-width="0.12" stroke-dasharray="0.06 0.06"/>"##);
    const COLOURS: [&str; 4] = ["#ff5d5d", "#7dff8a", "#ffa94d", "#d28cff"];
    for (i, lap) in laps.iter().enumerate() {
        let _ =
            write!(s, r##"<path d="{}" fill="none" stroke="{}" stroke-width="0.045"/>"##, path(&view, lap.iter().copied(), false), COLOURS[i % COLOURS.len()]);
    }
    s.push_str("</svg>");
    s
}
