//! Small planar geometry helpers shared by the track model, the generators and the racing line.
use crate::DVec2;

/// Closest point of segment `a`-`b` to `p`: (t in 0..=1, squared distance).
#[inline]
pub(crate) fn closest_on_segment(a: DVec2, b: DVec2, p: DVec2) -> (f64, f64) {
    let ab = b - a;
    let len2 = ab.length_squared();
    let t = if len2 > 0.0 { ((p - a).dot(ab) / len2).clamp(0.0, 1.0) } else { 0.0 };
    let q = a + ab * t;
    (t, (p - q).length_squared())
}

/// Where segments `a`-`b` and `c`-`d` meet (touching counts), if they do.
pub(crate) fn segment_intersection(a: DVec2, b: DVec2, c: DVec2, d: DVec2) -> Option<DVec2> {
    let r = b - a;
    let s = d - c;
    let denom = r.perp_dot(s);
    let ac = c - a;
    if denom != 0.0 {
        let t = ac.perp_dot(s) / denom;
        let u = ac.perp_dot(r) / denom;
        if (0.0..=1.0).contains(&t) && (0.0..=1.0).contains(&u) {
            return Some(a + r * t);
        }
        return None;
    }
    // Parallel: they only meet if collinear and overlapping.
    if ac.perp_dot(r) != 0.0 {
        return None;
    }
    let rr = r.length_squared();
    if rr == 0.0 {
        return None;
    }
    let t0 = ac.dot(r) / rr;
    let t1 = (d - a).dot(r) / rr;
    let (lo, hi) = if t0 < t1 { (t0, t1) } else { (t1, t0) };
    if hi < 0.0 || lo > 1.0 {
        return None;
    }
    Some(a + r * lo.clamp(0.0, 1.0))
}

/// Signed curvature of the circle through three points (positive turning left), 1/m.
#[inline]
pub(crate) fn menger_curvature(a: DVec2, b: DVec2, c: DVec2) -> f64 {
    let denom = (b - a).length() * (c - b).length() * (c - a).length();
    if denom > 0.0 {
        2.0 * (b - a).perp_dot(c - b) / denom
    } else {
        0.0
    }
}

/// Wraps an angle to (-pi, pi].
#[inline]
pub(crate) fn wrap_angle(a: f64) -> f64 {
    let mut a = a.rem_euclid(std::f64::consts::TAU);
    if a > std::f64::consts::PI {
        a -= std::f64::consts::TAU;
    }
    a
}

/// Twice the signed area of a closed polygon (positive counter-clockwise).
pub(crate) fn signed_area2(points: &[DVec2]) -> f64 {
    let n = points.len();
    (0..n).map(|i| points[i].perp_dot(points[(i + 1) % n])).sum()
}

/// One point of a centripetal Catmull-Rom span from `p1` to `p2`, `u` in 0..=1.
/// Centripetal parameterisation (alpha = 1/2) never forms cusps or loops inside a span,
/// which matters for tracks that must not cross themselves.
fn catmull_rom(p0: DVec2, p1: DVec2, p2: DVec2, p3: DVec2, u: f64) -> DVec2 {
    let t0 = 0.0;
    let t1 = t0 + p0.distance(p1).sqrt();
    let t2 = t1 + p1.distance(p2).sqrt();
    let t3 = t2 + p2.distance(p3).sqrt();
    let t = t1 + u * (t2 - t1);
    let lerp = |pa: DVec2, pb: DVec2, ta: f64, tb: f64| {
        if tb - ta > 0.0 {
            pa * ((tb - t) / (tb - ta)) + pb * ((t - ta) / (tb - ta))
        } else {
            pa
        }
    };
    let a1 = lerp(p0, p1, t0, t1);
    let a2 = lerp(p1, p2, t1, t2);
    let a3 = lerp(p2, p3, t2, t3);
    let b1 = lerp(a1, a2, t0, t2);
    let b2 = lerp(a2, a3, t1, t3);
    lerp(b1, b2, t1, t2)
}

/// A dense polyline through closed control points (distinct consecutive points expected),
/// sampled finely enough that chords stay within a fraction of a millimetre of the curve.
pub(crate) fn closed_spline_dense(control: &[DVec2]) -> Vec<DVec2> {
    let n = control.len();
    let mut out = Vec::new();
    for k in 0..n {
        let p0 = control[(k + n - 1) % n];
        let p1 = control[k];
        let p2 = control[(k + 1) % n];
        let p3 = control[(k + 2) % n];
        let steps = ((p1.distance(p2) / 0.01).ceil() as usize).clamp(8, 100_000);
        for j in 0..steps {
            out.push(catmull_rom(p0, p1, p2, p3, j as f64 / steps as f64));
        }
    }
    out
}

/// Length of a closed polyline.
pub(crate) fn closed_length(points: &[DVec2]) -> f64 {
    let n = points.len();
    (0..n).map(|i| points[i].distance(points[(i + 1) % n])).sum()
}

/// `count` points evenly spaced by arc length along a closed polyline, starting at its first point.
pub(crate) fn resample_closed(points: &[DVec2], count: usize) -> Vec<DVec2> {
    let n = points.len();
    let total = closed_length(points);
    let mut out = Vec::with_capacity(count);
    let mut seg = 0;
    let mut seg_start = 0.0;
    for j in 0..count {
        let target = total * j as f64 / count as f64;
        while seg < n - 1 && seg_start + points[seg].distance(points[(seg + 1) % n]) < target {
            seg_start += points[seg].distance(points[(seg + 1) % n]);
            seg += 1;
        }
        let a = points[seg];
        let b = points[(seg + 1) % n];
        let len = a.distance(b);
        let t = if len > 0.0 { ((target - seg_start) / len).clamp(0.0, 1.0) } else { 0.0 };
        out.push(a.lerp(b, t));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersections() {
        let p = DVec2::new;
        assert!(segment_intersection(p(0., 0.), p(1., 1.), p(0., 1.), p(1., 0.)).is_some());
        assert!(segment_intersection(p(0., 0.), p(1., 0.), p(0., 1.), p(1., 1.)).is_none());
        assert!(segment_intersection(p(0., 0.), p(2., 0.), p(1., 0.), p(3., 0.)).is_some());
        assert!(segment_intersection(p(0., 0.), p(1., 0.), p(2., 0.), p(3., 0.)).is_none());
        assert!(segment_intersection(p(0., 0.), p(1., 0.), p(1., 0.), p(1., 1.)).is_some());
    }

    #[test]
    fn spline_passes_through_control_points_and_resamples_evenly() {
        let c: Vec<DVec2> = (0..8).map(|k| DVec2::from_angle(k as f64 * std::f64::consts::TAU / 8.0) * 3.0).collect();
        let dense = closed_spline_dense(&c);
        for q in &c {
            assert!(dense.iter().any(|d| d.distance(*q) < 1e-12));
        }
        let even = resample_closed(&dense, 100);
        let len = closed_length(&even);
        assert!((len - std::f64::consts::TAU * 3.0).abs() < 0.15, "{len}");
        let n = even.len();
        for i in 0..n {
            let d = even[i].distance(even[(i + 1) % n]);
            assert!((d - len / 100.0).abs() < 1e-3, "{d}");
        }
    }
}
