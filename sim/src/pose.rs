use glam::{Quat, Vec3};

/// Where the car is: the car origin (on the ground midway between the axles) in the track frame
/// (x, y on the track plane, z up, metres) and the body's orientation (x forward, y left, z up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CarPose {
    pub position: Vec3,
    pub rotation: Quat,
}

impl CarPose {
    /// A car standing flat on the ground at (x, y) metres, heading `yaw` radians CCW from +x.
    pub fn flat(x: f32, y: f32, yaw: f32) -> CarPose {
        CarPose { position: Vec3::new(x, y, 0.0), rotation: Quat::from_rotation_z(yaw) }
    }

    /// Heading in the track plane, radians CCW from +x.
    pub fn yaw(&self) -> f32 {
        let f = self.rotation * Vec3::X;
        f.y.atan2(f.x)
    }

    /// A point given in the car's frame, in the track frame.
    pub fn to_world(&self, local: Vec3) -> Vec3 {
        self.position + self.rotation * local
    }
}
