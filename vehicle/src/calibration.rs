//! From a steering angle and a speed to servo and motor pulse widths, through a calibration
//! file as DeepRacer's car keeps one: per channel the pulse for one end, the centre (neutral)
//! and the other end, and a polarity.
//!
//! ```json
//! { "steering": { "min_us": 1100, "mid_us": 1500, "max_us": 1900, "polarity": -1 },
//!   "throttle": { "min_us": 1300, "mid_us": 1500, "max_us": 1700, "polarity": 1 },
//!   "max_speed_mps": 4.0 }
//! ```

use serde::{Deserialize, Serialize};

/// A bad calibration file or command; the message names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    #[error("calibration: {0}")]
    Invalid(String),
    #[error("calibration file {path}: {message}")]
    File { path: String, message: String },
}

/// One PWM channel, pulse widths in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Pulse at command -1 (polarity 1) or +1 (polarity -1).
    pub min_us: u32,
    /// Pulse at command 0: straight ahead, or the motor stopped.
    pub mid_us: u32,
    /// Pulse at command +1 (polarity 1) or -1 (polarity -1).
    pub max_us: u32,
    /// 1, or -1 when the servo or motor is mounted the other way round.
    pub polarity: i8,
}

impl Channel {
    /// The pulse for a normalised command in -1..1 (clamped), piecewise linear through the
    /// centre so that an off-centre neutral still maps 0 to `mid_us`.
    pub fn pulse_us(&self, command: f32) -> u32 {
        let c = command.clamp(-1.0, 1.0) * self.polarity as f32;
        let (mid, span) = if c >= 0.0 {
            (self.mid_us as f32, self.max_us as f32 - self.mid_us as f32)
        } else {
            (self.mid_us as f32, self.mid_us as f32 - self.min_us as f32)
        };
        (mid + c * span).round() as u32
    }

    /// The normalised command a pulse stands for: the inverse of [`Channel::pulse_us`], for
    /// reading back what a car was told (simulating a car, replaying a recording).
    pub fn command(&self, pulse_us: u32) -> f32 {
        let p = pulse_us as f32;
        let mid = self.mid_us as f32;
        let c = if p >= mid { (p - mid) / (self.max_us as f32 - mid) } else { (p - mid) / (mid - self.min_us as f32) };
        c.clamp(-1.0, 1.0) * self.polarity as f32
    }

    fn validate(&self, name: &str) -> Result<(), CalibrationError> {
        let bad = |m: String| Err(CalibrationError::Invalid(format!("{name}: {m}")));
        if !(self.min_us < self.mid_us && self.mid_us < self.max_us) {
            return bad(format!("pulses must rise min < mid < max, got {} / {} / {} us", self.min_us, self.mid_us, self.max_us));
        }
        if self.min_us < 500 || self.max_us > 2500 {
            return bad(format!("pulses {}..{} us are outside the 500..2500 us hobby servos take", self.min_us, self.max_us));
        }
        if self.polarity != 1 && self.polarity != -1 {
            return bad(format!("polarity must be 1 or -1, got {}", self.polarity));
        }
        Ok(())
    }
}

/// A car's calibration: steering servo, throttle (ESC), and the speed full throttle gives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub steering: Channel,
    pub throttle: Channel,
    /// Speed at full throttle, m/s: speeds map linearly onto 0..1 throttle.
    pub max_speed_mps: f32,
}

/// Pulse widths for one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pulses {
    pub steering_us: u32,
    pub throttle_us: u32,
}

impl Calibration {
    /// Reads and checks a calibration file.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Calibration, CalibrationError> {
        let c: Calibration = serde_json::from_str(text).map_err(|e| CalibrationError::File { path: origin.into(), message: e.to_string() })?;
        c.validate().map_err(|e| CalibrationError::File { path: origin.into(), message: e.to_string() })?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), CalibrationError> {
        self.steering.validate("steering")?;
        self.throttle.validate("throttle")?;
        if !(self.max_speed_mps.is_finite() && self.max_speed_mps > 0.0) {
            return Err(CalibrationError::Invalid(format!("max_speed_mps must be positive, got {}", self.max_speed_mps)));
        }
        Ok(())
    }

    /// Neutral: wheels straight, motor stopped.
    pub fn neutral(&self) -> Pulses {
        Pulses { steering_us: self.steering.mid_us, throttle_us: self.throttle.mid_us }
    }

    /// The steering angle (degrees, positive left) and speed (m/s) that pulses command: the
    /// inverse of [`Calibration::pulses`] up to the rounding to whole microseconds.
    pub fn commands(&self, pulses: Pulses, max_steering_deg: f32) -> (f32, f32) {
        let speed = self.throttle.command(pulses.throttle_us).max(0.0) * self.max_speed_mps;
        (self.steering.command(pulses.steering_us) * max_steering_deg, speed)
    }

    /// Pulses for a steering angle (degrees, positive left, as the action spaces) out of the
    /// car's largest, and a speed (m/s, forward), capped at `speed_cap_mps`.
    pub fn pulses(&self, steering_deg: f32, max_steering_deg: f32, speed_mps: f32, speed_cap_mps: f32) -> Pulses {
        let steer = if max_steering_deg > 0.0 { steering_deg / max_steering_deg } else { 0.0 };
        let speed = speed_mps.clamp(0.0, speed_cap_mps.max(0.0));
        Pulses { steering_us: self.steering.pulse_us(steer), throttle_us: self.throttle.pulse_us(speed / self.max_speed_mps) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
        "steering": { "min_us": 1100, "mid_us": 1480, "max_us": 1900, "polarity": -1 },
        "throttle": { "min_us": 1300, "mid_us": 1500, "max_us": 1720, "polarity": 1 },
        "max_speed_mps": 4.0 }"#;

    #[test]
    fn pulse_widths_for_the_ends_the_centre_stop_and_top_speed() {
        let c = Calibration::from_json_str(FILE, "cal.json").unwrap();
        // Polarity -1: full left (+30 degrees) drives the servo to its min pulse.
        assert_eq!(c.pulses(30.0, 30.0, 0.0, 4.0).steering_us, 1100);
        assert_eq!(c.pulses(0.0, 30.0, 0.0, 4.0).steering_us, 1480);
        assert_eq!(c.pulses(-30.0, 30.0, 0.0, 4.0).steering_us, 1900);
        assert_eq!(c.pulses(-15.0, 30.0, 0.0, 4.0).steering_us, 1690, "halfway on the max side");
        assert_eq!(c.pulses(0.0, 30.0, 0.0, 4.0).throttle_us, 1500, "stop is neutral");
        assert_eq!(c.pulses(0.0, 30.0, 4.0, 4.0).throttle_us, 1720, "top speed is full throttle");
        assert_eq!(c.pulses(0.0, 30.0, 2.0, 4.0).throttle_us, 1610);
        assert_eq!(c.pulses(0.0, 30.0, 4.0, 1.0).throttle_us, 1555, "the speed cap holds");
        assert_eq!(c.pulses(90.0, 30.0, -3.0, 4.0), Pulses { steering_us: 1100, throttle_us: 1500 }, "out of range clamps; no reverse");
        assert_eq!(c.neutral(), Pulses { steering_us: 1480, throttle_us: 1500 });
    }

    #[test]
    fn pulses_read_back_as_the_commands_that_made_them() {
        let c = Calibration::from_json_str(FILE, "cal.json").unwrap();
        for (steer, speed) in [(30.0, 0.0), (-30.0, 4.0), (12.5, 1.3), (-7.0, 2.2), (0.0, 0.5)] {
            let (s, v) = c.commands(c.pulses(steer, 30.0, speed, 4.0), 30.0);
            // One microsecond is 0.07 degrees of steering and 0.018 m/s here.
            assert!((s - steer).abs() < 0.08 && (v - speed).abs() < 0.02, "{steer} {speed} -> {s} {v}");
        }
        assert_eq!(c.commands(c.neutral(), 30.0), (0.0, 0.0));
    }

    #[test]
    fn a_wrong_calibration_file_says_what_is_wrong() {
        let e = Calibration::from_json_str(&FILE.replace("1480", "1000"), "cal.json").unwrap_err().to_string();
        assert!(e.contains("cal.json") && e.contains("steering") && e.contains("min < mid < max"), "{e}");
        let e = Calibration::from_json_str(&FILE.replace("\"polarity\": 1 ", "\"polarity\": 2 "), "cal.json").unwrap_err().to_string();
        assert!(e.contains("throttle") && e.contains("polarity"), "{e}");
        let e = Calibration::from_json_str(&FILE.replace("max_speed_mps", "top_speed"), "cal.json").unwrap_err().to_string();
        assert!(e.contains("top_speed"), "{e}");
    }
}
