//! Action spaces in DeepRacer's `model_metadata.json` form.
//!
//! Steering angles are in degrees (positive turns left) and speeds in m/s, as DeepRacer writes
//! them; the simulator converts to radians at the boundary.

use serde::{Deserialize, Serialize};

/// A malformed action space, or an action it does not contain.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ActionError {
    #[error("invalid action space: {0}")]
    Space(String),
    #[error("invalid action: {0}")]
    Action(String),
}

/// One entry of a discrete action space.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscreteAction {
    /// Degrees, positive left.
    pub steering_angle: f32,
    /// Target speed, m/s.
    pub speed: f32,
}

/// A closed interval of a continuous action space.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub low: f32,
    pub high: f32,
}

/// DeepRacer's two kinds of action space.
///
/// JSON, as in `model_metadata.json`: a discrete space is a list
/// `[{"steering_angle": -30, "speed": 1.0}, ...]`; a continuous one is
/// `{"steering_angle": {"low": -30, "high": 30}, "speed": {"low": 0.5, "high": 4}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ActionSpace {
    Discrete(Vec<DiscreteAction>),
    Continuous { steering_angle: Range, speed: Range },
}

/// What a policy asks the car to do for one control step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Index into a discrete action space.
    Discrete(usize),
    /// Steering degrees (positive left) and target speed m/s, inside a continuous space.
    Continuous { steering_angle: f32, speed: f32 },
}

impl ActionSpace {
    /// DeepRacer console's default discrete space: steering -30..30 degrees in 5 steps, by two
    /// speeds (10 actions).
    pub fn deepracer_default_discrete() -> ActionSpace {
        let mut actions = Vec::new();
        for steering_angle in [-30.0, -15.0, 0.0, 15.0, 30.0] {
            for speed in [0.5, 1.0] {
                actions.push(DiscreteAction { steering_angle, speed });
            }
        }
        ActionSpace::Discrete(actions)
    }

    /// DeepRacer console's default continuous space: steering -30..30 degrees, speed 0.5..1 m/s.
    pub fn deepracer_default_continuous() -> ActionSpace {
        ActionSpace::Continuous { steering_angle: Range { low: -30.0, high: 30.0 }, speed: Range { low: 0.5, high: 1.0 } }
    }

    /// A continuous space over everything the car can do: full steering lock both ways and its
    /// whole speed range.
    pub fn full_continuous(car: &crate::CarSpec) -> ActionSpace {
        let lock = car.max_steering_rad.to_degrees();
        ActionSpace::Continuous { steering_angle: Range { low: -lock, high: lock }, speed: Range { low: car.min_speed_mps, high: car.max_speed_mps } }
    }

    /// Checks the space against the car's limits (steering within +-`max_steering_deg`, speeds
    /// within `min_speed..=max_speed`).
    pub fn validate(&self, max_steering_deg: f32, min_speed: f32, max_speed: f32) -> Result<(), ActionError> {
        let bad = |message: String| Err(ActionError::Space(message));
        let check = |what: &str, v: f32, lo: f32, hi: f32| -> Result<(), ActionError> {
            if !v.is_finite() || v < lo - 1e-4 || v > hi + 1e-4 {
                return bad(format!("{what} {v} is outside the car's range {lo}..{hi}"));
            }
            Ok(())
        };
        match self {
            ActionSpace::Discrete(actions) => {
                if actions.is_empty() {
                    return bad("a discrete action space needs at least one action".into());
                }
                for (i, a) in actions.iter().enumerate() {
                    check(&format!("action {i}: steering_angle"), a.steering_angle, -max_steering_deg, max_steering_deg)?;
                    check(&format!("action {i}: speed"), a.speed, min_speed, max_speed)?;
                }
            }
            ActionSpace::Continuous { steering_angle, speed } => {
                for (what, r, lo, hi) in [("steering_angle", steering_angle, -max_steering_deg, max_steering_deg), ("speed", speed, min_speed, max_speed)] {
                    check(&format!("{what}.low"), r.low, lo, hi)?;
                    check(&format!("{what}.high"), r.high, lo, hi)?;
                    if r.low > r.high {
                        return bad(format!("{what}: low {} is above high {}", r.low, r.high));
                    }
                }
            }
        }
        Ok(())
    }

    /// Number of discrete actions, or 2 (steering, speed) for a continuous space.
    pub fn len(&self) -> usize {
        match self {
            ActionSpace::Discrete(a) => a.len(),
            ActionSpace::Continuous { .. } => 2,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_discrete(&self) -> bool {
        matches!(self, ActionSpace::Discrete(_))
    }

    /// The steering (degrees) and speed (m/s) an action asks for; an action outside the space
    /// is an error, never clipped silently.
    pub fn resolve(&self, action: Action) -> Result<DiscreteAction, ActionError> {
        match (self, action) {
            (ActionSpace::Discrete(list), Action::Discrete(i)) => {
                list.get(i).copied().ok_or_else(|| ActionError::Action(format!("discrete action {i} does not exist (the space has {} actions)", list.len())))
            }
            (ActionSpace::Continuous { steering_angle: s, speed: v }, Action::Continuous { steering_angle, speed }) => {
                let inside = |x: f32, r: &Range| x.is_finite() && x >= r.low - 1e-4 && x <= r.high + 1e-4;
                if !inside(steering_angle, s) {
                    return Err(ActionError::Action(format!("steering_angle {steering_angle} is outside {}..{} degrees", s.low, s.high)));
                }
                if !inside(speed, v) {
                    return Err(ActionError::Action(format!("speed {speed} is outside {}..{} m/s", v.low, v.high)));
                }
                Ok(DiscreteAction { steering_angle, speed })
            }
            (ActionSpace::Discrete(_), a) => Err(ActionError::Action(format!("{a:?} given to a discrete action space (use Action::Discrete)"))),
            (ActionSpace::Continuous { .. }, a) => Err(ActionError::Action(format!("{a:?} given to a continuous action space (use Action::Continuous)"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_deepracer_model_metadata_forms() {
        let discrete: ActionSpace =
            serde_json::from_str(r#"[{"steering_angle": -30, "speed": 0.8}, {"steering_angle": 0.0, "speed": 1.6}]"#).expect("discrete");
        assert_eq!(discrete.len(), 2);
        let continuous: ActionSpace =
            serde_json::from_str(r#"{"steering_angle": {"low": -30, "high": 30}, "speed": {"low": 0.5, "high": 4}}"#).expect("continuous");
        assert_eq!(continuous, ActionSpace::Continuous { steering_angle: Range { low: -30.0, high: 30.0 }, speed: Range { low: 0.5, high: 4.0 } });
    }

    #[test]
    fn out_of_range_actions_are_errors_that_say_why() {
        let space = ActionSpace::deepracer_default_continuous();
        let err = space.resolve(Action::Continuous { steering_angle: 45.0, speed: 1.0 }).unwrap_err();
        assert!(err.to_string().contains("steering_angle 45"), "{err}");
        let err = space.resolve(Action::Continuous { steering_angle: 0.0, speed: f32::NAN }).unwrap_err();
        assert!(err.to_string().contains("speed"), "{err}");
        let discrete = ActionSpace::deepracer_default_discrete();
        let err = discrete.resolve(Action::Discrete(10)).unwrap_err();
        assert!(err.to_string().contains("has 10 actions"), "{err}");
        assert!(discrete.resolve(Action::Continuous { steering_angle: 0.0, speed: 1.0 }).is_err());
    }

    #[test]
    fn validation_names_the_bad_entry() {
        let space = ActionSpace::Discrete(vec![DiscreteAction { steering_angle: 0.0, speed: 1.0 }, DiscreteAction { steering_angle: 40.0, speed: 1.0 }]);
        let err = space.validate(30.0, 0.1, 4.0).unwrap_err();
        assert!(err.to_string().contains("action 1: steering_angle 40"), "{err}");
        assert!(ActionSpace::deepracer_default_discrete().validate(30.0, 0.1, 4.0).is_ok());
    }
}
