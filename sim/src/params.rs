//! DeepRacer's reward-function `params`, computed each step.
//!
//! Field names, units and meanings follow the DeepRacer developer guide's "input parameters of
//! the reward function", so a student's `reward_function(params)` reads the same values here.
//! Angles are degrees there, so they are degrees here too; distances are metres.

use std::sync::Arc;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// The `params` dict handed to a reward function.
#[derive(Debug, Clone, Default)]
pub struct RewardParams {
    /// All four wheels on the track (within the outer edge of the border lines).
    pub all_wheels_on_track: bool,
    /// Car position in the track frame, metres.
    pub x: f32,
    pub y: f32,
    /// Indices of the two closest objects: the one behind and the one ahead of the car.
    pub closest_objects: [usize; 2],
    /// Indices (into `waypoints`) of the waypoint behind the car and the one ahead.
    pub closest_waypoints: [usize; 2],
    /// Distance from the centre line, metres.
    pub distance_from_center: f32,
    /// The car has hit an object.
    pub is_crashed: bool,
    pub is_left_of_center: bool,
    /// All four wheels have left the track.
    pub is_offtrack: bool,
    /// The car drives the track against its file's waypoint order (DeepRacer's clockwise
    /// training; see `Track::reversed`).
    pub is_reversed: bool,
    /// Car heading, degrees in (-180, 180], CCW from +x.
    pub heading: f32,
    /// Distance of each object from the start line along the track, metres.
    pub objects_distance: Vec<f32>,
    /// Heading of each object, degrees.
    pub objects_heading: Vec<f32>,
    pub objects_left_of_center: Vec<bool>,
    /// Position of each object, metres.
    pub objects_location: Vec<(f32, f32)>,
    /// Speed of each object, m/s.
    pub objects_speed: Vec<f32>,
    /// Percentage of the lap completed since the episode's start, 0-100.
    pub progress: f32,
    /// Car speed, m/s.
    pub speed: f32,
    /// Steering angle of the front wheels, degrees, positive left.
    pub steering_angle: f32,
    /// Steps completed in this episode (1 after the first action).
    pub steps: u32,
    /// Lap length, metres.
    pub track_length: f32,
    /// Track width at the car, metres.
    pub track_width: f32,
    /// The centre-line waypoints, metres, every row of the track file as DeepRacer lists them
    /// (shared, not copied per step).
    pub waypoints: Arc<Vec<(f32, f32)>>,
}

/// Serialises as the `params` dict, keys in DeepRacer's alphabetical documentation order;
/// tuples become 2-element lists as the Python side sees them.
impl Serialize for RewardParams {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(Some(23))?;
        m.serialize_entry("all_wheels_on_track", &self.all_wheels_on_track)?;
        m.serialize_entry("closest_objects", &self.closest_objects)?;
        m.serialize_entry("closest_waypoints", &self.closest_waypoints)?;
        m.serialize_entry("distance_from_center", &self.distance_from_center)?;
        m.serialize_entry("heading", &self.heading)?;
        m.serialize_entry("is_crashed", &self.is_crashed)?;
        m.serialize_entry("is_left_of_center", &self.is_left_of_center)?;
        m.serialize_entry("is_offtrack", &self.is_offtrack)?;
        m.serialize_entry("is_reversed", &self.is_reversed)?;
        m.serialize_entry("objects_distance", &self.objects_distance)?;
        m.serialize_entry("objects_heading", &self.objects_heading)?;
        m.serialize_entry("objects_left_of_center", &self.objects_left_of_center)?;
        m.serialize_entry("objects_location", &self.objects_location)?;
        m.serialize_entry("objects_speed", &self.objects_speed)?;
        m.serialize_entry("progress", &self.progress)?;
        m.serialize_entry("speed", &self.speed)?;
        m.serialize_entry("steering_angle", &self.steering_angle)?;
        m.serialize_entry("steps", &self.steps)?;
        m.serialize_entry("track_length", &self.track_length)?;
        m.serialize_entry("track_width", &self.track_width)?;
        m.serialize_entry("waypoints", &*self.waypoints)?;
        m.serialize_entry("x", &self.x)?;
        m.serialize_entry("y", &self.y)?;
        m.end()
    }
}

/// The documented keys, for checks by other front ends (Python reward functions, logs).
pub const PARAM_KEYS: [&str; 23] = [
    "all_wheels_on_track",
    "closest_objects",
    "closest_waypoints",
    "distance_from_center",
    "heading",
    "is_crashed",
    "is_left_of_center",
    "is_offtrack",
    "is_reversed",
    "objects_distance",
    "objects_heading",
    "objects_left_of_center",
    "objects_location",
    "objects_speed",
    "progress",
    "speed",
    "steering_angle",
    "steps",
    "track_length",
    "track_width",
    "waypoints",
    "x",
    "y",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_every_documented_key() {
        let params = RewardParams { waypoints: Arc::new(vec![(0.0, 0.0), (1.0, 0.5)]), ..Default::default() };
        let value = serde_json::to_value(&params).expect("serialise");
        let object = value.as_object().expect("a dict");
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(keys, PARAM_KEYS.to_vec());
        assert_eq!(value["waypoints"][1], serde_json::json!([1.0, 0.5]));
    }
}
