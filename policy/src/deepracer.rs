//! DeepRacer's `model_metadata.json`: written next to exported weights so DeepRacer tooling and
//! habits carry over, and read to bring a DeepRacer action space into a Paddock config.

use paddock_vehicle::action::ActionSpace;
use serde_json::{json, Value};

use crate::model::{ModelMetadata, Sensor};
use crate::PolicyError;

/// The `model_metadata.json` DeepRacer writes for a model like this one.
pub fn to_model_metadata(meta: &ModelMetadata) -> Result<Value, PolicyError> {
    let sensor = match meta.observation.sensor {
        Sensor::Camera => "FRONT_FACING_CAMERA",
        Sensor::Stereo => "STEREO_CAMERAS",
        other => {
            return Err(PolicyError::Metadata(format!(
                "DeepRacer has no {other:?}-only models (its lidar always comes with a camera); export this model in Paddock's format"
            )))
        }
    };
    let network = meta.network.deepracer_name().ok_or_else(|| PolicyError::Metadata(format!("DeepRacer has no {:?} network", meta.network)))?;
    let action_space = match &meta.action_space {
        ActionSpace::Discrete(list) => {
            Value::Array(list.iter().enumerate().map(|(i, a)| json!({ "steering_angle": a.steering_angle, "speed": a.speed, "index": i })).collect())
        }
        continuous => serde_json::to_value(continuous).map_err(|e| PolicyError::Metadata(e.to_string()))?,
    };
    let algorithm = if meta.training.algorithm.is_empty() { "clipped_ppo" } else { meta.training.algorithm.as_str() };
    Ok(json!({
        "action_space": action_space,
        "sensor": [sensor],
        "neural_network": network,
        "training_algorithm": algorithm,
        "action_space_type": if meta.action_space.is_discrete() { "discrete" } else { "continuous" },
        "version": "5",
    }))
}

/// The action space of a DeepRacer `model_metadata.json` (its discrete entries' `index` keys
/// are checked, then dropped).
pub fn action_space_from_model_metadata(text: &str, origin: &str) -> Result<ActionSpace, PolicyError> {
    let bad = |m: String| PolicyError::Metadata(format!("{origin}: {m}"));
    let value: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let mut space = value.get("action_space").cloned().ok_or_else(|| bad("has no action_space".into()))?;
    if let Value::Array(list) = &mut space {
        for (i, entry) in list.iter_mut().enumerate() {
            let Value::Object(fields) = entry else { return Err(bad(format!("action {i} is not an object"))) };
            if let Some(index) = fields.remove("index") {
                if index.as_u64() != Some(i as u64) {
                    return Err(bad(format!("action {i} has index {index}; DeepRacer lists actions in index order")));
                }
            }
        }
    }
    serde_json::from_value(space).map_err(|e| bad(format!("action_space: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObservationSpec, Preprocessing};
    use crate::{Head, Network};

    #[test]
    fn a_camera_model_round_trips_through_model_metadata() {
        for space in [ActionSpace::deepracer_default_discrete(), ActionSpace::deepracer_default_continuous()] {
            let head = Head::for_space(&space, false);
            let meta = ModelMetadata::new(
                Network::Shallow,
                head,
                ObservationSpec { sensor: Sensor::Camera, shape: vec![1, 120, 160], preprocessing: Preprocessing::IMAGE },
                space.clone(),
            );
            let md = to_model_metadata(&meta).unwrap();
            assert_eq!(md["neural_network"], "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW");
            assert_eq!(md["sensor"][0], "FRONT_FACING_CAMERA");
            let back = action_space_from_model_metadata(&md.to_string(), "test").unwrap();
            assert_eq!(back, space);
        }
    }

    #[test]
    fn deepracer_files_with_index_keys_read_and_lidar_only_models_are_refused() {
        let file = r#"{"action_space": [{"steering_angle": -30, "speed": 0.6, "index": 0},
            {"steering_angle": 30, "speed": 1.2, "index": 1}], "sensor": ["FRONT_FACING_CAMERA"],
            "neural_network": "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW", "version": "5"}"#;
        let space = action_space_from_model_metadata(file, "m.json").unwrap();
        assert_eq!(space.len(), 2);
        let shuffled = file.replace("\"index\": 1", "\"index\": 7");
        assert!(action_space_from_model_metadata(&shuffled, "m.json").unwrap_err().to_string().contains("index 7"));
        let lidar = ModelMetadata::new(
            Network::Mlp { hidden: vec![8] },
            Head::Categorical,
            ObservationSpec { sensor: Sensor::Lidar, shape: vec![64], preprocessing: Preprocessing::LIDAR },
            ActionSpace::deepracer_default_discrete(),
        );
        assert!(to_model_metadata(&lidar).unwrap_err().to_string().contains("Lidar"));
    }
}
