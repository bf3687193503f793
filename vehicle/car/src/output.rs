//! Where pulse widths go: Linux sysfs PWM, a PCA9685 over I2C, or a dry run.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use paddock_vehicle::calibration::Pulses;

use crate::config::OutputConfig;
use crate::CarError;

/// Something that turns pulse widths into a servo angle and a motor speed.
pub trait Output: Send {
    fn write(&mut self, pulses: Pulses) -> Result<(), CarError>;
    /// For logs: where the pulses go.
    fn describe(&self) -> String;
}

/// Opens the configured output. Nothing is written yet; the caller writes neutral first.
pub fn open(config: &OutputConfig) -> Result<Box<dyn Output>, CarError> {
    Ok(match config {
        OutputConfig::SysfsPwm { chip, steering_channel, throttle_channel, period_ns } => {
            Box::new(SysfsPwm::open(chip, *steering_channel, *throttle_channel, *period_ns)?)
        }
        OutputConfig::Pca9685 { bus, address, frequency_hz, steering_channel, throttle_channel } => {
            Box::new(Pca9685::open(bus, *address, *frequency_hz, *steering_channel, *throttle_channel)?)
        }
        OutputConfig::DryRun => Box::new(DryRun { last: None }),
    })
}

/// Logs each change of pulses to stderr.
pub struct DryRun {
    last: Option<Pulses>,
}

impl Output for DryRun {
    fn write(&mut self, pulses: Pulses) -> Result<(), CarError> {
        if self.last != Some(pulses) {
            eprintln!("dry run: steering {} us, throttle {} us", pulses.steering_us, pulses.throttle_us);
            self.last = Some(pulses);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "dry run (pulses logged, nothing driven)".into()
    }
}

/// Two channels of a sysfs PWM chip (`/sys/class/pwm/pwmchipN/pwmM/{period,duty_cycle,enable}`).
pub struct SysfsPwm {
    chip: PathBuf,
    steering: PathBuf,
    throttle: PathBuf,
}

impl SysfsPwm {
    /// Exports the channels if needed, sets their period and enables them.
    pub fn open(chip: &Path, steering_channel: u32, throttle_channel: u32, period_ns: u32) -> Result<SysfsPwm, CarError> {
        let fail = |message: String| CarError::Output { target: chip.display().to_string(), message };
        if !chip.is_dir() {
            return Err(fail("no such PWM chip (is the PWM driver or device-tree overlay loaded? `ls /sys/class/pwm`)".into()));
        }
        if steering_channel == throttle_channel {
            return Err(fail(format!("steering and throttle both on channel {steering_channel}")));
        }
        let channel = |n: u32| -> Result<PathBuf, CarError> {
            let dir = chip.join(format!("pwm{n}"));
            if !dir.is_dir() {
                write_attr(&chip.join("export"), &n.to_string()).map_err(|e| fail(format!("exporting channel {n}: {e}")))?;
                // udev may take a moment to create the channel's files.
                let deadline = Instant::now() + Duration::from_secs(1);
                while !dir.join("duty_cycle").exists() {
                    if Instant::now() > deadline {
                        return Err(fail(format!("channel {n} did not appear after export")));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            // The duty cycle must fit the period at every moment: shrink it before the period.
            let attr = |name: &str, value: &str| write_attr(&dir.join(name), value).map_err(|e| fail(format!("pwm{n}/{name}: {e}")));
            attr("duty_cycle", "0")?;
            attr("period", &period_ns.to_string())?;
            attr("enable", "1")?;
            Ok(dir.join("duty_cycle"))
        };
        let steering = channel(steering_channel)?;
        let throttle = channel(throttle_channel)?;
        Ok(SysfsPwm { chip: chip.to_path_buf(), steering, throttle })
    }
}

/// Writes a sysfs attribute (never creating it: a missing file is an error).
fn write_attr(path: &Path, value: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).truncate(true).open(path)?;
    f.write_all(value.as_bytes())?;
    f.write_all(b"\n")
}

impl Output for SysfsPwm {
    fn write(&mut self, p: Pulses) -> Result<(), CarError> {
        for (path, us) in [(&self.steering, p.steering_us), (&self.throttle, p.throttle_us)] {
            write_attr(path, &(us as u64 * 1000).to_string()).map_err(|e| CarError::Output { target: path.display().to_string(), message: e.to_string() })?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("sysfs PWM {} (steering {}, throttle {})", self.chip.display(), self.steering.display(), self.throttle.display())
    }
}

/// PCA9685 registers (NXP datasheet, section 7.3).
mod reg {
    pub const MODE1: u8 = 0x00;
    pub const LED0_ON_L: u8 = 0x06;
    pub const PRESCALE: u8 = 0xFE;
    pub const MODE1_SLEEP: u8 = 0x10;
    pub const MODE1_AUTO_INCREMENT: u8 = 0x20;
    pub const MODE1_RESTART: u8 = 0x80;
}

/// The PCA9685's 25 MHz internal oscillator.
const PCA9685_OSC_HZ: f32 = 25_000_000.0;

/// The prescaler for a PWM frequency, and the frequency it really gives.
pub fn pca9685_prescale(frequency_hz: f32) -> (u8, f32) {
    let prescale = (PCA9685_OSC_HZ / (4096.0 * frequency_hz)).round() - 1.0;
    let prescale = prescale.clamp(3.0, 255.0) as u8;
    (prescale, PCA9685_OSC_HZ / (4096.0 * (prescale as f32 + 1.0)))
}

/// The register writes that set `channel` to a `pulse_us` pulse at `actual_hz`: the channel's
/// ON_L, ON_H, OFF_L, OFF_H, starting at its first register (auto-increment on).
pub fn pca9685_channel_write(channel: u32, pulse_us: u32, actual_hz: f32) -> [u8; 5] {
    let ticks = (pulse_us as f32 * actual_hz * 4096.0 / 1e6).round().clamp(0.0, 4095.0) as u16;
    [reg::LED0_ON_L + 4 * channel as u8, 0, 0, (ticks & 0xFF) as u8, (ticks >> 8) as u8]
}

/// A PCA9685 on a Linux I2C bus (`/dev/i2c-N`).
pub struct Pca9685<W: Write + Send = File> {
    bus: W,
    name: String,
    actual_hz: f32,
    steering_channel: u32,
    throttle_channel: u32,
}

/// `I2C_SLAVE` from linux/i2c-dev.h: address later reads and writes to this device.
const I2C_SLAVE: libc::c_ulong = 0x0703;

impl Pca9685<File> {
    pub fn open(bus: &Path, address: u16, frequency_hz: f32, steering_channel: u32, throttle_channel: u32) -> Result<Self, CarError> {
        let fail = |message: String| CarError::Output { target: format!("{} address {address:#04x}", bus.display()), message };
        let file = OpenOptions::new().read(true).write(true).open(bus).map_err(|e| fail(format!("{e} (is i2c-dev loaded and the bus enabled?)")))?;
        // SAFETY: I2C_SLAVE takes the address as its integer argument and touches no memory.
        if unsafe { libc::ioctl(file.as_raw_fd(), I2C_SLAVE as _, address as libc::c_ulong) } < 0 {
            return Err(fail(format!("selecting the device: {}", std::io::Error::last_os_error())));
        }
        Pca9685::init(file, bus.display().to_string(), frequency_hz, steering_channel, throttle_channel).map_err(|e| fail(e.to_string()))
    }
}

impl<W: Write + Send> Pca9685<W> {
    /// Sets the PWM frequency (the prescaler can only change while asleep) and wakes the chip.
    pub fn init(mut bus: W, name: String, frequency_hz: f32, steering_channel: u32, throttle_channel: u32) -> std::io::Result<Self> {
        if steering_channel > 15 || throttle_channel > 15 || steering_channel == throttle_channel {
            return Err(std::io::Error::other(format!("channels must be two different ones of 0..15, got {steering_channel} and {throttle_channel}")));
        }
        let (prescale, actual_hz) = pca9685_prescale(frequency_hz);
        bus.write_all(&[reg::MODE1, reg::MODE1_SLEEP])?;
        bus.write_all(&[reg::PRESCALE, prescale])?;
        bus.write_all(&[reg::MODE1, 0])?;
        std::thread::sleep(Duration::from_micros(500)); // oscillator start-up
        bus.write_all(&[reg::MODE1, reg::MODE1_RESTART | reg::MODE1_AUTO_INCREMENT])?;
        Ok(Pca9685 { bus, name, actual_hz, steering_channel, throttle_channel })
    }

    pub fn into_inner(self) -> W {
        self.bus
    }
}

impl<W: Write + Send> Output for Pca9685<W> {
    fn write(&mut self, p: Pulses) -> Result<(), CarError> {
        for (channel, us) in [(self.steering_channel, p.steering_us), (self.throttle_channel, p.throttle_us)] {
            self.bus
                .write_all(&pca9685_channel_write(channel, us, self.actual_hz))
                .map_err(|e| CarError::Output { target: self.name.clone(), message: e.to_string() })?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("PCA9685 on {} at {:.1} Hz (steering channel {}, throttle {})", self.name, self.actual_hz, self.steering_channel, self.throttle_channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sysfs-shaped PWM chip folder with channels 0 and 1 exported.
    pub(crate) fn fake_chip(dir: &Path) {
        for n in 0..2 {
            let ch = dir.join(format!("pwm{n}"));
            std::fs::create_dir_all(&ch).unwrap();
            for f in ["period", "duty_cycle", "enable"] {
                std::fs::write(ch.join(f), "0\n").unwrap();
            }
        }
        std::fs::write(dir.join("export"), "").unwrap();
    }

    #[test]
    fn sysfs_pwm_writes_nanoseconds_and_refuses_missing_chips() {
        let dir = std::env::temp_dir().join(format!("paddock-pwm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        fake_chip(&dir);
        let mut pwm = SysfsPwm::open(&dir, 1, 0, 20_000_000).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("pwm0/period")).unwrap(), "20000000\n");
        assert_eq!(std::fs::read_to_string(dir.join("pwm1/enable")).unwrap(), "1\n");
        pwm.write(Pulses { steering_us: 1480, throttle_us: 1720 }).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("pwm1/duty_cycle")).unwrap(), "1480000\n");
        assert_eq!(std::fs::read_to_string(dir.join("pwm0/duty_cycle")).unwrap(), "1720000\n");
        let e = SysfsPwm::open(&dir.join("nope"), 1, 0, 20_000_000).err().unwrap().to_string();
        assert!(e.contains("nope") && e.contains("no such PWM chip"), "{e}");
        // Channel 5 is not exported and this fake chip cannot export it.
        let e = SysfsPwm::open(&dir, 5, 0, 20_000_000).err().unwrap().to_string();
        assert!(e.contains("channel 5"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pca9685_registers_follow_the_datasheet() {
        // Datasheet: prescale = round(25 MHz / (4096 * rate)) - 1; 50 Hz gives 0x79 (121).
        assert_eq!(pca9685_prescale(50.0).0, 121);
        let (p, hz) = pca9685_prescale(60.0);
        assert_eq!(p, 101);
        assert!((hz - 59.84).abs() < 0.01, "{hz}");
        // 1.5 ms at 59.84 Hz is 1.5e-3 * 59.84 * 4096 = 367.6, so 368 ticks = 0x0170.
        assert_eq!(pca9685_channel_write(1, 1500, hz), [0x0A, 0, 0, 0x70, 0x01]);
        let mut pca = Pca9685::init(Vec::new(), "test".into(), 60.0, 1, 0).unwrap();
        pca.write(Pulses { steering_us: 1500, throttle_us: 1000 }).unwrap();
        let bytes = pca.into_inner();
        assert_eq!(&bytes[..6], &[0x00, 0x10, 0xFE, 101, 0x00, 0x00], "sleep, prescale, wake");
        assert_eq!(&bytes[6..8], &[0x00, 0xA0], "restart with auto-increment");
        assert_eq!(&bytes[8..13], &[0x0A, 0, 0, 0x70, 0x01], "steering on channel 1");
        assert_eq!(&bytes[13..18], &[0x06, 0, 0, 0xF5, 0x00], "throttle 1 ms = 245 ticks on channel 0");
        assert!(Pca9685::init(Vec::new(), "test".into(), 60.0, 16, 0).is_err());
    }
}
