//! The car's configuration file (TOML): the model, the calibration, the camera, the output and
//! the safety limits. Paths are relative to the file.
//!
//! ```toml
//! model = "model.safetensors"
//! calibration = "calibration.json"
//! speed_cap_mps = 1.0
//!
//! [camera]
//! source = "/dev/video0"      # or "folder:frames/", "pipe:-" (stdin), "pipe:/tmp/frames.fifo"
//! width = 640
//! height = 480
//! format = "yuyv"             # yuyv, rgb, bgr or gray
//! fps = 15
//!
//! [output]
//! kind = "sysfs_pwm"          # or "pca9685", "dry_run"
//! chip = "/sys/class/pwm/pwmchip0"
//! steering_channel = 1
//! throttle_channel = 0
//! ```

use std::path::{Path, PathBuf};

use paddock_policy::camera::PixelFormat;
use serde::Deserialize;

use crate::CarError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarConfig {
    /// The exported model (`paddock export`), a `.safetensors` file.
    pub model: PathBuf,
    /// Pulse widths per channel (`paddock-car calibrate` writes it).
    pub calibration: PathBuf,
    /// Steering angle at full servo travel, degrees: the action spaces' +-30 on DeepRacer.
    #[serde(default = "default_max_steering_deg")]
    pub max_steering_deg: f32,
    /// No command goes faster than this, m/s, whatever the model asks.
    #[serde(default = "default_speed_cap_mps")]
    pub speed_cap_mps: f32,
    pub camera: CameraConfig,
    pub output: OutputConfig,
    #[serde(default)]
    pub safety: SafetyConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// `/dev/videoN`, `folder:DIR` (PNG or raw frames, in name order) or `pipe:PATH` (raw
    /// frames back to back; `pipe:-` is stdin).
    pub source: String,
    #[serde(default = "default_width")]
    pub width: u32,
    #[serde(default = "default_height")]
    pub height: u32,
    #[serde(default)]
    pub format: FrameFormat,
    /// Frames per second asked of a V4L2 camera, and the pace of a folder replay (0: as fast as
    /// frames can be processed).
    #[serde(default = "default_fps")]
    pub fps: f32,
}

/// How a frame's bytes are laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameFormat {
    /// V4L2 YUYV 4:2:2, what USB cameras give uncompressed (DeepRacer's included).
    #[default]
    Yuyv,
    Rgb,
    Bgr,
    Gray,
}

impl FrameFormat {
    pub fn pixel_format(self) -> PixelFormat {
        match self {
            FrameFormat::Yuyv => PixelFormat::Yuyv,
            FrameFormat::Rgb => PixelFormat::Rgb8,
            FrameFormat::Bgr => PixelFormat::Bgr8,
            FrameFormat::Gray => PixelFormat::Gray8,
        }
    }

    pub fn bytes_per_pixel(self) -> usize {
        match self {
            FrameFormat::Yuyv => 2,
            FrameFormat::Rgb | FrameFormat::Bgr => 3,
            FrameFormat::Gray => 1,
        }
    }
}

/// Where the pulses go.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OutputConfig {
    /// Linux PWM through sysfs, as DeepRacer's servo node drives its servo and ESC.
    SysfsPwm {
        #[serde(default = "default_pwm_chip")]
        chip: PathBuf,
        #[serde(default = "default_steering_channel")]
        steering_channel: u32,
        #[serde(default)]
        throttle_channel: u32,
        /// PWM period, nanoseconds (20 ms: the 50 Hz servos expect).
        #[serde(default = "default_period_ns")]
        period_ns: u32,
    },
    /// An NXP PCA9685 16-channel PWM board on I2C, as Donkey cars use.
    Pca9685 {
        #[serde(default = "default_i2c_bus")]
        bus: PathBuf,
        #[serde(default = "default_pca9685_address")]
        address: u16,
        #[serde(default = "default_pca9685_frequency_hz")]
        frequency_hz: f32,
        #[serde(default = "default_steering_channel")]
        steering_channel: u32,
        #[serde(default)]
        throttle_channel: u32,
    },
    /// Logs the pulses instead of driving anything.
    DryRun,
}

/// When the car stops itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyConfig {
    /// The motor stops when no frame came for this long, milliseconds.
    #[serde(default = "default_frame_timeout_ms")]
    pub frame_timeout_ms: u64,
    /// A frame whose command took longer (frame in to pulses ready), milliseconds, stops the
    /// motor instead of driving on a late command.
    #[serde(default = "default_inference_budget_ms")]
    pub inference_budget_ms: f64,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        SafetyConfig { frame_timeout_ms: default_frame_timeout_ms(), inference_budget_ms: default_inference_budget_ms() }
    }
}

fn default_max_steering_deg() -> f32 {
    30.0
}
fn default_speed_cap_mps() -> f32 {
    1.0
}
fn default_width() -> u32 {
    640
}
fn default_height() -> u32 {
    480
}
fn default_fps() -> f32 {
    15.0
}
fn default_pwm_chip() -> PathBuf {
    "/sys/class/pwm/pwmchip0".into()
}
fn default_steering_channel() -> u32 {
    1
}
fn default_period_ns() -> u32 {
    20_000_000
}
fn default_i2c_bus() -> PathBuf {
    "/dev/i2c-1".into()
}
fn default_pca9685_address() -> u16 {
    0x40
}
fn default_pca9685_frequency_hz() -> f32 {
    60.0
}
fn default_frame_timeout_ms() -> u64 {
    250
}
fn default_inference_budget_ms() -> f64 {
    50.0
}

impl CarConfig {
    /// Reads, resolves relative paths against the file's folder, and checks the numbers.
    pub fn load(path: &Path) -> Result<CarConfig, CarError> {
        let text = std::fs::read_to_string(path).map_err(|e| CarError::Config { path: path.display().to_string(), message: e.to_string() })?;
        let base = path.parent().unwrap_or(Path::new("."));
        CarConfig::parse(&text, &path.display().to_string(), base)
    }

    pub fn parse(text: &str, origin: &str, base: &Path) -> Result<CarConfig, CarError> {
        let bad = |message: String| CarError::Config { path: origin.to_string(), message };
        let mut config: CarConfig = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        config.model = base.join(&config.model);
        config.calibration = base.join(&config.calibration);
        if let Some(folder) = config.camera.source.strip_prefix("folder:") {
            config.camera.source = format!("folder:{}", base.join(folder).display());
        }
        if !(config.speed_cap_mps.is_finite() && config.speed_cap_mps >= 0.0) {
            return Err(bad(format!("speed_cap_mps must be 0 or more, got {}", config.speed_cap_mps)));
        }
        if !(config.max_steering_deg.is_finite() && config.max_steering_deg > 0.0 && config.max_steering_deg <= 60.0) {
            return Err(bad(format!("max_steering_deg must be in 0..60, got {}", config.max_steering_deg)));
        }
        let c = &config.camera;
        if c.width == 0 || c.height == 0 || c.width > 8192 || c.height > 8192 {
            return Err(bad(format!("camera size {}x{} is not a camera's", c.width, c.height)));
        }
        if !(c.fps.is_finite() && (0.0..=240.0).contains(&c.fps)) {
            return Err(bad(format!("camera fps must be in 0..240, got {}", c.fps)));
        }
        let s = &config.safety;
        if s.frame_timeout_ms == 0 || !(s.inference_budget_ms.is_finite() && s.inference_budget_ms > 0.0) {
            return Err(bad("safety limits must be positive".into()));
        }
        if let OutputConfig::Pca9685 { frequency_hz, .. } = config.output {
            if !(24.0..=1526.0).contains(&frequency_hz) {
                return Err(bad(format!("a PCA9685 runs at 24..1526 Hz, got {frequency_hz}")));
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_paths_and_bad_values() {
        let text = "model = \"m.safetensors\"\ncalibration = \"cal.json\"\n[camera]\nsource = \"folder:frames\"\n[output]\nkind = \"dry_run\"\n";
        let c = CarConfig::parse(text, "car.toml", Path::new("/car")).unwrap();
        assert_eq!(c.model, Path::new("/car/m.safetensors"));
        assert_eq!(c.camera.source, "folder:/car/frames");
        assert_eq!((c.camera.width, c.camera.height, c.camera.format), (640, 480, FrameFormat::Yuyv));
        assert_eq!(c.speed_cap_mps, 1.0);
        let e = CarConfig::parse(&text.replace("dry_run", "servo"), "car.toml", Path::new(".")).unwrap_err().to_string();
        assert!(e.contains("car.toml") && e.contains("servo"), "{e}");
        let e = CarConfig::parse(&format!("speed_cap_mps = -1\n{text}"), "car.toml", Path::new(".")).unwrap_err().to_string();
        assert!(e.contains("speed_cap_mps"), "{e}");
        let e = CarConfig::parse(&format!("top_speed = 2\n{text}"), "car.toml", Path::new(".")).unwrap_err().to_string();
        assert!(e.contains("top_speed"), "{e}");
    }

    #[test]
    fn the_example_configs_parse() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let c = CarConfig::load(&examples.join("car-deepracer.toml")).unwrap();
        assert!(matches!(c.output, OutputConfig::SysfsPwm { steering_channel: 1, throttle_channel: 0, .. }));
        let c = CarConfig::load(&examples.join("car-donkey.toml")).unwrap();
        assert!(matches!(c.output, OutputConfig::Pca9685 { address: 0x40, .. }));
        assert_eq!(c.camera.format, FrameFormat::Rgb);
        let text = std::fs::read_to_string(examples.join("calibration.json")).unwrap();
        paddock_vehicle::calibration::Calibration::from_json_str(&text, "calibration.json").unwrap();
    }
}
