//! What a submitted model must be before it is accepted: small enough, a Paddock model file of a
//! version this server reads, with a sensor the race allows and actions the car can drive. Only
//! the header and the shapes are read here; the weights are first run inside the sandbox.

use paddock_policy::Policy;
use paddock_vehicle::action::ActionSpace;
use paddock_vehicle::{CarSpec, Sensor};

use crate::RaceError;

/// What the model is, once accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub sensor: Sensor,
}

/// Checks `bytes` as a model for a race with a `max_mb` size cap.
pub fn check_model(bytes: &[u8], max_mb: u32) -> Result<ModelInfo, RaceError> {
    let max = max_mb as usize * (1 << 20);
    if bytes.len() > max {
        return Err(RaceError::TooLarge(format!("the model is {:.1} MB; this race takes up to {max_mb} MB", bytes.len() as f64 / (1 << 20) as f64)));
    }
    if bytes.is_empty() {
        return Err(RaceError::BadInput("the file is empty; submit the model.safetensors that paddock export writes".into()));
    }
    let policy = Policy::from_bytes(bytes, "the file").map_err(|e| RaceError::BadInput(format!("not a Paddock model: {e}")))?;
    let meta = policy.metadata();
    let sensor = meta.observation.sensor;
    if sensor == Sensor::State {
        return Err(RaceError::BadInput(
            "the model drives from the simulator's state vector, which a real car does not have; races take camera, stereo or lidar models".into(),
        ));
    }
    let car = CarSpec::deepracer();
    let lock_deg = car.max_steering_rad.to_degrees() + 1e-3;
    let max_speed = car.max_speed_mps + 1e-3;
    let fits = |steer: f32, speed: f32| steer.abs() <= lock_deg && speed <= max_speed && speed >= 0.0;
    let ok = match &meta.action_space {
        ActionSpace::Discrete(actions) => actions.iter().all(|a| fits(a.steering_angle, a.speed)),
        ActionSpace::Continuous { steering_angle, speed } => fits(steering_angle.low, speed.low) && fits(steering_angle.high, speed.high),
    };
    if !ok {
        return Err(RaceError::BadInput(format!(
            "the action space asks for more than the car can do (at most {:.0} degrees of steering, {:.1} m/s)",
            car.max_steering_rad.to_degrees(),
            car.max_speed_mps
        )));
    }
    Ok(ModelInfo { sensor })
}

/// A file name fit to show: its last path part, only letters, digits, `.`, `-` and `_`, at most 64.
pub fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).take(64).collect();
    let clean = clean.trim_start_matches('.').to_string();
    if clean.is_empty() {
        "model.safetensors".into()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_tricks_in_file_names_are_taken_apart() {
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("C:\\models\\fast.safetensors"), "fast.safetensors");
        assert_eq!(clean_file_name("<script>.safetensors"), "script.safetensors");
        assert_eq!(clean_file_name("..."), "model.safetensors");
        assert_eq!(clean_file_name(""), "model.safetensors");
    }

    #[test]
    fn empty_and_oversized_files_are_refused_before_parsing() {
        assert!(matches!(check_model(b"", 1), Err(RaceError::BadInput(_))));
        assert!(matches!(check_model(&vec![0u8; (1 << 20) + 1], 1), Err(RaceError::TooLarge(_))));
        assert!(matches!(check_model(b"hello", 1), Err(RaceError::BadInput(_))));
    }
}
