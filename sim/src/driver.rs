//! A scripted driver: pure pursuit along the centre line. It drives laps without learning, as
//! a baseline, for benchmarks and for tests that need a car that stays on the track.

use glam::DVec2;

use crate::action::Action;
use crate::Env;

/// Pure pursuit: steer the rear axle onto the arc through a point `lookahead` metres ahead in
/// a lane parallel to the centre line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PurePursuit {
    /// Target speed, m/s.
    pub speed: f32,
    /// Lookahead distance at standstill, metres, growing by `lookahead_per_mps` each m/s.
    pub lookahead_m: f64,
    pub lookahead_per_mps: f64,
    /// Lane to follow: metres left of the centre line.
    pub lane_m: f64,
}

impl Default for PurePursuit {
    fn default() -> Self {
        PurePursuit { speed: 1.5, lookahead_m: 0.4, lookahead_per_mps: 0.15, lane_m: 0.0 }
    }
}

impl PurePursuit {
    /// A continuous action for the env's current state (steering degrees, speed m/s), clipped
    /// to the car's limits.
    pub fn act(&self, env: &Env) -> Action {
        let car = &env.config().car;
        let track = env.scene().track();
        let pose = env.pose();
        let p = env.params();
        let here = DVec2::new(p.x as f64, p.y as f64);
        let s = env.projection().s;
        let lookahead = self.lookahead_m + self.lookahead_per_mps * p.speed.max(0.0) as f64;
        let (centre, heading) = track.pose_at(s + lookahead);
        let target = centre + DVec2::new(-heading.sin(), heading.cos()) * self.lane_m;
        let yaw = pose.yaw() as f64;
        let rear = here - DVec2::new(yaw.cos(), yaw.sin()) * (car.wheelbase_m as f64 / 2.0);
        let to_target = target - rear;
        let alpha = to_target.y.atan2(to_target.x) - yaw;
        let steer = (2.0 * car.wheelbase_m as f64 * alpha.sin() / to_target.length().max(1e-3)).atan();
        let max = car.max_steering_rad.to_degrees();
        Action::Continuous { steering_angle: (steer.to_degrees() as f32).clamp(-max, max), speed: self.speed.clamp(car.min_speed_mps, car.max_speed_mps) }
    }
}
