//! Reward functions: one trait for built-in Rust rewards and, later, user code.

use crate::params::RewardParams;
use crate::SimError;

/// A reward function as DeepRacer calls it: once per step, with that step's `params`.
///
/// Each environment owns its own instance, so a function may keep state across the steps of an
/// episode (`reset` is called at every episode start).
pub trait RewardFunction: Send + Sync {
    /// The reward for the step that produced `params`. An error (a user's reward function that
    /// raised, timed out or returned something other than a number) ends the step with
    /// [`SimError::Reward`].
    fn reward(&mut self, params: &RewardParams) -> Result<f32, SimError>;
    /// Called when a new episode starts.
    fn reset(&mut self) {}
}

/// DeepRacer's first example: reward staying near the centre line, in three bands.
#[derive(Debug, Default, Clone)]
pub struct FollowCentreLine;

impl RewardFunction for FollowCentreLine {
    fn reward(&mut self, p: &RewardParams) -> Result<f32, SimError> {
        Ok(follow_centre_line(p))
    }
}

/// [`FollowCentreLine`]'s reward for one step's params.
pub fn follow_centre_line(p: &RewardParams) -> f32 {
    if p.is_offtrack {
        return 1e-3;
    }
    let d = p.distance_from_center;
    let w = p.track_width;
    if d <= 0.1 * w {
        1.0
    } else if d <= 0.25 * w {
        0.5
    } else if d <= 0.5 * w {
        0.1
    } else {
        1e-3
    }
}

/// Progress made this step, in percent of the lap, scaled so that a lap is worth 100: pays for
/// going forward fast, and nothing for wobbling in place.
#[derive(Debug, Default, Clone)]
pub struct ProgressPerStep {
    last_progress: f32,
}

impl RewardFunction for ProgressPerStep {
    fn reward(&mut self, p: &RewardParams) -> Result<f32, SimError> {
        let gained = p.progress - self.last_progress;
        self.last_progress = p.progress;
        if p.is_offtrack || p.is_crashed {
            return Ok(1e-3);
        }
        Ok(gained.max(0.0) + 1e-3)
    }
    fn reset(&mut self) {
        self.last_progress = 0.0;
    }
}

/// Names of the built-in reward functions.
pub const BUILTIN_REWARDS: [&str; 2] = ["follow_centre_line", "progress"];

/// A fresh instance of a built-in reward function by name.
pub fn builtin_reward(name: &str) -> Result<Box<dyn RewardFunction>, SimError> {
    match name {
        "follow_centre_line" | "follow_center_line" => Ok(Box::new(FollowCentreLine)),
        "progress" => Ok(Box::new(ProgressPerStep::default())),
        _ => Err(SimError::UnknownReward { name: name.to_string(), known: BUILTIN_REWARDS.join(", ") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centre_line_bands() {
        let mut f = FollowCentreLine;
        let at = |d: f32| RewardParams { distance_from_center: d, track_width: 1.0, ..Default::default() };
        assert_eq!(f.reward(&at(0.05)).unwrap(), 1.0);
        assert_eq!(f.reward(&at(0.2)).unwrap(), 0.5);
        assert_eq!(f.reward(&at(0.4)).unwrap(), 0.1);
        assert_eq!(f.reward(&at(0.6)).unwrap(), 1e-3);
    }

    #[test]
    fn progress_pays_for_gain_only_and_resets() {
        let mut f = ProgressPerStep::default();
        let at = |progress: f32| RewardParams { progress, ..Default::default() };
        assert!((f.reward(&at(2.0)).unwrap() - 2.001).abs() < 1e-5);
        assert!((f.reward(&at(2.5)).unwrap() - 0.501).abs() < 1e-5);
        assert!((f.reward(&at(2.5)).unwrap() - 0.001).abs() < 1e-6);
        f.reset();
        assert!((f.reward(&at(1.0)).unwrap() - 1.001).abs() < 1e-5);
        let err = builtin_reward("nope").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("follow_centre_line"), "{err}");
    }
}
