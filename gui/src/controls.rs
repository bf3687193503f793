//! Driving by hand: keys and gamepad sticks to [`HumanInput`]. Keys are on or off, so held keys
//! ramp the steering and throttle as a racing game does: a tap steers a little, a hold fully.

use crate::session::HumanInput;

/// Which driving keys are held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keys {
    pub left: bool,
    pub right: bool,
    pub accelerate: bool,
    pub brake: bool,
}

/// Per second: steering to full lock and back to centre, throttle up, coasting down, braking.
const STEER_RATE: f32 = 4.0;
const CENTRE_RATE: f32 = 6.0;
const THROTTLE_RATE: f32 = 1.2;
const COAST_RATE: f32 = 0.4;
const BRAKE_RATE: f32 = 3.0;

/// Keyboard state smoothed over time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KeyControls {
    input: HumanInput,
}

fn toward(value: f32, target: f32, max_step: f32) -> f32 {
    value + (target - value).clamp(-max_step, max_step)
}

impl KeyControls {
    /// The input after `dt` seconds with `keys` held.
    pub fn update(&mut self, keys: Keys, dt: f32) -> HumanInput {
        let steer_target = keys.left as i32 as f32 - keys.right as i32 as f32;
        let rate = if steer_target == 0.0 || steer_target * self.input.steer < 0.0 { CENTRE_RATE } else { STEER_RATE };
        self.input.steer = toward(self.input.steer, steer_target, rate * dt);
        self.input.throttle = if keys.brake {
            toward(self.input.throttle, 0.0, BRAKE_RATE * dt)
        } else if keys.accelerate {
            toward(self.input.throttle, 1.0, THROTTLE_RATE * dt)
        } else {
            toward(self.input.throttle, 0.0, COAST_RATE * dt)
        };
        self.input
    }

    pub fn input(&self) -> HumanInput {
        self.input
    }
}

/// A gamepad: the left stick steers (right is negative, as the car's angles are), the right
/// trigger (or the stick pushed forward) sets the throttle; a small dead zone ignores drift.
pub fn gamepad_input(stick_x: f32, stick_y: f32, trigger: f32) -> HumanInput {
    let dead = |v: f32| if v.abs() < 0.08 { 0.0 } else { v };
    HumanInput { steer: -dead(stick_x).clamp(-1.0, 1.0), throttle: dead(trigger).max(dead(stick_y)).clamp(0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(c: &mut KeyControls, keys: Keys, seconds: f32) -> HumanInput {
        let dt = 1.0 / 60.0;
        let mut out = c.input();
        for _ in 0..(seconds / dt).round() as usize {
            out = c.update(keys, dt);
        }
        out
    }

    #[test]
    fn held_keys_ramp_to_full_and_released_ones_return() {
        let mut c = KeyControls::default();
        let tap = hold(&mut c, Keys { left: true, ..Keys::default() }, 0.05);
        assert!(tap.steer > 0.1 && tap.steer < 0.5, "a tap steers a little left: {tap:?}");
        let full = hold(&mut c, Keys { left: true, accelerate: true, ..Keys::default() }, 1.0);
        assert_eq!(full.steer, 1.0);
        assert!(full.throttle > 0.9, "{full:?}");
        let released = hold(&mut c, Keys::default(), 0.3);
        assert_eq!(released.steer, 0.0, "the wheel comes back to centre");
        assert!(released.throttle > 0.7 && released.throttle < full.throttle, "it coasts: {released:?}");
        let braked = hold(&mut c, Keys { brake: true, right: true, ..Keys::default() }, 0.5);
        assert_eq!(braked.throttle, 0.0);
        assert_eq!(braked.steer, -1.0, "right is negative");
    }

    #[test]
    fn the_gamepad_ignores_stick_drift() {
        assert_eq!(gamepad_input(0.05, 0.02, 0.0), HumanInput { steer: 0.0, throttle: 0.0 });
        let g = gamepad_input(0.5, 0.0, 0.75);
        assert_eq!((g.steer, g.throttle), (-0.5, 0.75));
    }
}
