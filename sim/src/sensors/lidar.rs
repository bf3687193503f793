//! A planar lidar: rays in the horizontal plane at the mount's height, against the track's
//! borders (virtual walls, as in F1TENTH) and the footprints of obstacle boxes.

use glam::{Vec2, Vec3};
use paddock_vehicle::LidarMount;

use crate::scene::TrackScene;
use crate::{CarPose, Obstacle};

#[derive(Debug, Clone)]
pub struct Lidar {
    offset: Vec3,
    min_range: f32,
    max_range: f32,
    /// Angle of each ray relative to the car's heading, radians (CCW, so index 0 is rightmost).
    angles: Vec<f32>,
    /// The same as unit vectors in the car's plane.
    dirs: Vec<Vec2>,
}

impl Lidar {
    /// `mount.rays` rays spread evenly from `-half_fov` (index 0, the right side) to `+half_fov`,
    /// both ends included.
    pub fn new(mount: &LidarMount) -> Lidar {
        let n = mount.rays;
        let half = if mount.half_fov_rad.is_finite() { mount.half_fov_rad.clamp(0.0, std::f32::consts::PI) } else { 0.0 };
        let angles: Vec<f32> = (0..n).map(|i| if n > 1 { -half + 2.0 * half * i as f32 / (n - 1) as f32 } else { 0.0 }).collect();
        let dirs = angles.iter().map(|&a| Vec2::from_angle(a)).collect();
        let min_range = if mount.min_range_m.is_finite() { mount.min_range_m.max(0.0) } else { 0.0 };
        let max_range = if mount.max_range_m.is_finite() { mount.max_range_m.max(min_range) } else { 12.0_f32.max(min_range) };
        Lidar { offset: Vec3::new(mount.x_m, 0.0, mount.z_m), min_range, max_range, angles, dirs }
    }

    pub fn rays(&self) -> usize {
        self.dirs.len()
    }
    /// Angles of the rays relative to the heading, radians, index 0 first.
    pub fn angles(&self) -> &[f32] {
        &self.angles
    }
    pub fn min_range_m(&self) -> f32 {
        self.min_range
    }
    pub fn max_range_m(&self) -> f32 {
        self.max_range
    }

    /// Writes one range per ray into `out`, metres: the nearest wall or obstacle, `max_range`
    /// for a miss, never less than `min_range`. The beam stays horizontal (the chassis' small
    /// pitch and roll are ignored) and sees obstacles whatever their height.
    ///
    /// # Panics
    /// If `out.len() != self.rays()`.
    pub fn scan(&self, scene: &TrackScene, pose: &CarPose, objects: &[Obstacle], out: &mut [f32]) {
        assert_eq!(out.len(), self.dirs.len(), "lidar buffer must hold one range per ray");
        let o = pose.to_world(self.offset).truncate();
        let heading = Vec2::from_angle(pose.yaw());
        for (r, &dl) in out.iter_mut().zip(&self.dirs) {
            let d = heading.rotate(dl);
            let mut best = self.max_range;
            for ob in objects {
                if let Some(t) = footprint_hit(ob, o, d, best) {
                    best = t;
                }
            }
            if let Some(t) = scene.walls.cast(o, d, best) {
                best = best.min(t);
            }
            *r = best.clamp(self.min_range, self.max_range);
        }
    }
}

/// Distance along unit `d` from `o` to an obstacle's footprint rectangle, if nearer than `limit`.
/// A ray starting inside the footprint hits at 0.
#[inline]
fn footprint_hit(ob: &Obstacle, o: Vec2, d: Vec2, limit: f32) -> Option<f32> {
    let he = ob.half_extents.truncate().abs();
    let rel = o - ob.centre;
    // Cheap reject: the footprint's circumcircle is beyond the current best.
    let reach = he.length();
    let dist2 = rel.length_squared();
    if dist2 > (limit + reach) * (limit + reach) {
        return None;
    }
    let axis = Vec2::from_angle(-ob.yaw);
    let ol = axis.rotate(rel);
    let dl = axis.rotate(d);
    let inv = Vec2::ONE / dl;
    let ta = (-he - ol) * inv;
    let tb = (he - ol) * inv;
    let near = ta.min(tb).max_element();
    let far = ta.max(tb).min_element();
    if near <= far && far >= 0.0 {
        let t = near.max(0.0);
        (t < limit).then_some(t)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_vehicle::CarSpec;

    #[test]
    fn rays_span_the_field_of_view_right_to_left() {
        let lidar = Lidar::new(&CarSpec::deepracer().lidar);
        let a = lidar.angles();
        assert_eq!(a.len(), 64);
        assert!((a[0] + 150f32.to_radians()).abs() < 1e-5);
        assert!((a[63] - 150f32.to_radians()).abs() < 1e-5);
        assert!(a.windows(2).all(|w| w[1] > w[0]));
    }

    #[test]
    fn footprint_hit_reads_the_near_face() {
        let ob = Obstacle { centre: Vec2::new(1.0, 0.0), yaw: 0.3, half_extents: Vec3::new(0.2, 0.1, 0.1), shade: 200 };
        let axis_ob = Obstacle { yaw: 0.0, ..ob };
        let t = footprint_hit(&axis_ob, Vec2::ZERO, Vec2::X, 10.0).expect("hit");
        assert!((t - 0.8).abs() < 1e-5, "{t}");
        assert!(footprint_hit(&ob, Vec2::ZERO, Vec2::NEG_X, 10.0).is_none());
        assert!(footprint_hit(&ob, Vec2::ZERO, Vec2::X, 0.5).is_none(), "beyond the limit");
        assert_eq!(footprint_hit(&ob, Vec2::new(1.0, 0.0), Vec2::Y, 10.0), Some(0.0));
    }
}
