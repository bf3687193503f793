//! The chase camera's motion, without bevy (track frame: z up, metres).
//!
//! It sits behind the car along a smoothed heading and looks at the car itself, so the car never
//! drifts in the picture (no lag) while the camera swings smoothly round the bends (no twitch
//! from the 15 Hz control steps). The smoothing is exponential in time, so it looks the same at
//! 5 frames a second under a software renderer and at 144 on a gaming screen.

use glam::Vec3;

/// Metres behind and above the car, and how far ahead of it the camera looks.
pub const BEHIND_M: f32 = 1.1;
pub const ABOVE_M: f32 = 0.5;
pub const AHEAD_M: f32 = 0.6;
/// Time constant of the heading's smoothing, seconds.
pub const HEADING_TAU_S: f32 = 0.25;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Chase {
    /// The smoothed heading, radians; `None` until the first frame (or after a jump).
    heading: Option<f32>,
}

/// Where a camera is and what it looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    pub eye: Vec3,
    pub target: Vec3,
}

fn wrap(a: f32) -> f32 {
    (a + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU) - std::f32::consts::PI
}

impl Chase {
    /// Snaps to the car's heading at the next frame (after a reset puts the car elsewhere).
    pub fn jump(&mut self) {
        self.heading = None;
    }

    /// The view `dt` seconds after the last, for a car at `car` (metres) heading `yaw` radians.
    pub fn follow(&mut self, car: Vec3, yaw: f32, dt: f32) -> View {
        let smoothed = match self.heading {
            None => yaw,
            Some(h) => {
                let k = 1.0 - (-dt.max(0.0) / HEADING_TAU_S).exp();
                wrap(h + wrap(yaw - h) * k)
            }
        };
        self.heading = Some(smoothed);
        let dir = Vec3::new(smoothed.cos(), smoothed.sin(), 0.0);
        View { eye: car - dir * BEHIND_M + Vec3::Z * ABOVE_M, target: car + dir * AHEAD_M + Vec3::Z * 0.05 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A car on a circle of 1.5 m at 2 m/s, seen for `seconds` at `fps`: the last view.
    fn circle(fps: f32, seconds: f32) -> (View, Vec3, f32) {
        let mut chase = Chase::default();
        let (r, v) = (1.5f32, 2.0f32);
        let mut last = None;
        let frames = (seconds * fps).round() as usize;
        for i in 0..=frames {
            let t = i as f32 / fps;
            let a = v / r * t;
            let car = Vec3::new(r * a.cos(), r * a.sin(), 0.0);
            let yaw = a + std::f32::consts::FRAC_PI_2;
            last = Some((chase.follow(car, yaw, 1.0 / fps), car, yaw));
        }
        last.unwrap()
    }

    #[test]
    fn it_looks_the_same_at_any_frame_rate() {
        // Within what sampling a bend 15 times a second must cost (half a frame of turn).
        let (slow, car, _) = circle(15.0, 3.0);
        let (fast, _, _) = circle(144.0, 3.0);
        assert!(slow.eye.distance(fast.eye) < 0.08, "{slow:?} vs {fast:?}");
        assert!((slow.target - car).length() < AHEAD_M + 0.1);
    }

    #[test]
    fn round_a_steady_bend_it_trails_by_a_steady_angle_and_keeps_its_distance() {
        let (a, car_a, yaw_a) = circle(60.0, 3.0);
        let (b, car_b, yaw_b) = circle(60.0, 4.0);
        let behind = |v: View, car: Vec3, yaw: f32| {
            let d = (car - v.eye).truncate();
            wrap(d.y.atan2(d.x) - yaw)
        };
        let (lag_a, lag_b) = (behind(a, car_a, yaw_a), behind(b, car_b, yaw_b));
        assert!((lag_a - lag_b).abs() < 1e-3, "no twitch once settled: {lag_a} vs {lag_b}");
        assert!(lag_a.abs() < 0.6, "it trails the heading a little: {lag_a}");
        let flat = (car_a - a.eye).truncate().length();
        assert!((flat - BEHIND_M).abs() < 1e-4, "always the same distance behind: {flat}");
    }

    #[test]
    fn after_a_jump_it_snaps_behind_the_car() {
        let mut chase = Chase::default();
        chase.follow(Vec3::ZERO, 0.0, 0.1);
        chase.jump();
        let v = chase.follow(Vec3::new(5.0, 5.0, 0.0), std::f32::consts::PI, 0.01);
        assert!(v.eye.distance(Vec3::new(5.0 + BEHIND_M, 5.0, ABOVE_M)) < 1e-4, "{v:?}");
    }
}
