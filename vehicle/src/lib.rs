//! The 1/18-scale car: its dimensions, mass, limits and sensor mounts.
//!
//! Figures follow AWS DeepRacer (Evo), whose Gazebo model (`deepracer_description` URDF in the
//! public aws-deepracer repository) gives mass, wheel geometry, camera mount and field of view,
//! and whose documentation gives the action limits (steering +-30 degrees, speed up to 4 m/s).
//! Where the URDF is silent (body size, lidar mount) the figure is measured off the shell's
//! outline and marked as an estimate.
//!
//! Axes: x forward, y left, z up; the car origin is on the ground midway between the axles.

pub mod action;
pub mod calibration;
pub mod sensor;

pub use sensor::{ObsBuffer, ObsMut, Observations, Sensor};

use serde::{Deserialize, Serialize};

/// Everything the simulator and the lap-time yardstick need to know about the car. SI units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CarSpec {
    /// Body length and width, metres (estimate from the shell; used for collisions and margins).
    pub length_m: f32,
    pub width_m: f32,
    /// Total mass, kg (URDF chassis 1.907 kg + four wheels at 0.042 kg + two steering hinges at 0.05 kg).
    pub mass_kg: f32,
    /// Front axle to rear axle, metres (URDF: 0.0823 - (-0.0817)).
    pub wheelbase_m: f32,
    /// Distance between left and right wheel centres, metres (URDF: 2 x 0.081).
    pub track_width_m: f32,
    /// Wheel radius and width, metres (URDF cylinders).
    pub wheel_radius_m: f32,
    pub wheel_width_m: f32,
    /// Height of the centre of mass above the ground, metres (estimate).
    pub cg_height_m: f32,
    /// Largest steering angle of the (virtual, bicycle-model) front wheel, radians (DeepRacer: 30 degrees).
    pub max_steering_rad: f32,
    /// Range of target speeds, m/s (DeepRacer's action space: 0.1 to 4).
    pub min_speed_mps: f32,
    pub max_speed_mps: f32,
    /// Motor and tyre limits, m/s^2: forward acceleration, braking, and the lateral grip
    /// (tyre friction coefficient times g; rubber on a printed vinyl track, mu about 0.8 to 1.0).
    pub max_accel_mps2: f32,
    pub max_brake_mps2: f32,
    pub tyre_mu: f32,
    /// How fast the steering servo turns, radians per second (hobby servos turn 60 degrees in about 0.1-0.2 s).
    pub steering_rate_radps: f32,
    pub camera: CameraMount,
    /// Horizontal distance between the stereo cameras, metres (URDF: y = +-0.03).
    pub stereo_baseline_m: f32,
    pub lidar: LidarMount,
}

/// A camera fixed to the car body. The picture is what DeepRacer feeds its network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraMount {
    /// Lens position relative to the car origin, metres (x forward, z above ground).
    pub x_m: f32,
    pub z_m: f32,
    /// Downward tilt, radians (URDF: 0.2618 = 15 degrees).
    pub pitch_down_rad: f32,
    /// Horizontal field of view, radians (URDF: 1.13).
    pub hfov_rad: f32,
    /// Image size in pixels as the network sees it (DeepRacer resizes 640x480 to 160x120 grayscale).
    pub width_px: u32,
    pub height_px: u32,
}

/// A planar lidar on the car's roof.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LidarMount {
    /// Position relative to the car origin, metres (estimate: above the rear half of the body).
    pub x_m: f32,
    pub z_m: f32,
    /// Number of ranges in a scan, spread evenly over +-`half_fov_rad`.
    pub rays: usize,
    pub half_fov_rad: f32,
    /// Nearest and farthest measurable range, metres; misses read as `max_range_m`.
    pub min_range_m: f32,
    pub max_range_m: f32,
}

impl CarSpec {
    /// AWS DeepRacer (Evo), the default car.
    pub fn deepracer() -> CarSpec {
        CarSpec {
            length_m: 0.28,
            width_m: 0.19,
            mass_kg: 2.17,
            wheelbase_m: 0.164,
            track_width_m: 0.162,
            wheel_radius_m: 0.03,
            wheel_width_m: 0.025,
            cg_height_m: 0.06,
            max_steering_rad: 30f32.to_radians(),
            min_speed_mps: 0.1,
            max_speed_mps: 4.0,
            max_accel_mps2: 4.0,
            max_brake_mps2: 6.0,
            tyre_mu: 0.9,
            steering_rate_radps: 5.0,
            camera: CameraMount { x_m: 0.145, z_m: 0.137, pitch_down_rad: 0.2618, hfov_rad: 1.13, width_px: 160, height_px: 120 },
            stereo_baseline_m: 0.06,
            lidar: LidarMount { x_m: -0.02, z_m: 0.16, rays: 64, half_fov_rad: 150f32.to_radians(), min_range_m: 0.15, max_range_m: 12.0 },
        }
    }

    /// Radius of the circle the rear axle's midpoint follows at steering angle `steer_rad`
    /// with no tyre slip (bicycle model), metres.
    pub fn turn_radius_m(&self, steer_rad: f32) -> f32 {
        self.wheelbase_m / steer_rad.abs().tan()
    }

    /// Ackermann angles (left wheel, right wheel), radians, for a bicycle-model steering angle:
    /// both front wheels point at the same turning centre, the inner one more sharply.
    pub fn ackermann_angles(&self, steer_rad: f32) -> (f32, f32) {
        if steer_rad.abs() < 1e-6 {
            return (0.0, 0.0);
        }
        let r = self.wheelbase_m / steer_rad.tan(); // signed: positive turning left
        let half = self.track_width_m / 2.0;
        let left = (self.wheelbase_m / (r - half)).atan();
        let right = (self.wheelbase_m / (r + half)).atan();
        (left, right)
    }

    /// Lateral acceleration the tyres hold, m/s^2.
    pub fn max_lateral_accel_mps2(&self) -> f32 {
        self.tyre_mu * 9.81
    }
}

impl Default for CarSpec {
    fn default() -> Self {
        CarSpec::deepracer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ackermann_inner_wheel_turns_more_and_both_meet_one_centre() {
        let car = CarSpec::deepracer();
        let steer = 20f32.to_radians();
        let (l, r) = car.ackermann_angles(steer);
        assert!(l > steer && r < steer && r > 0.0, "left {l} right {r}");
        // Both wheel normals intersect the rear-axle line at the same turning centre.
        let half = car.track_width_m / 2.0;
        let centre_from_left = car.wheelbase_m / l.tan() + half;
        let centre_from_right = car.wheelbase_m / r.tan() - half;
        assert!((centre_from_left - centre_from_right).abs() < 1e-4);
        assert!((centre_from_left - car.turn_radius_m(steer)).abs() < 1e-4);
        let (l2, r2) = car.ackermann_angles(-steer);
        assert!((l2 + r).abs() < 1e-6 && (r2 + l).abs() < 1e-6, "mirror symmetric");
    }

    #[test]
    fn deepracer_figures_are_consistent() {
        let car = CarSpec::deepracer();
        assert!((car.max_steering_rad.to_degrees() - 30.0).abs() < 1e-4);
        // Tightest circle of the rear axle: about 0.28 m for a 0.164 m wheelbase at 30 degrees.
        assert!((car.turn_radius_m(car.max_steering_rad) - 0.284).abs() < 0.002);
        assert!(car.width_m > car.track_width_m + car.wheel_width_m - 1e-6);
    }
}
