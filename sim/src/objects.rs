use glam::{Vec2, Vec3};

/// A box standing on the track: an obstacle, or another car (as DeepRacer's object avoidance and
/// head-to-bot races place them). Seen by the camera and lidar, and a collider in the physics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Obstacle {
    /// Centre of the footprint on the track plane, metres.
    pub centre: Vec2,
    /// Heading of the box's length axis, radians CCW from +x.
    pub yaw: f32,
    /// Half length, half width and half height, metres; the box stands on the ground.
    pub half_extents: Vec3,
    /// Gray level the camera sees on its sides (0-255).
    pub shade: u8,
}

impl Obstacle {
    /// DeepRacer's object-avoidance box : a white box about 0.3 m on each side.
    pub fn deepracer_box(centre: Vec2, yaw: f32) -> Obstacle {
        Obstacle { centre, yaw, half_extents: Vec3::splat(0.15), shade: 235 }
    }
}
