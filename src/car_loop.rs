//! `paddock eval --through-car BIN`: the simulator as the car binary's world. Each control
//! step renders the car's camera at the real camera's 640x480, hands the frame to `paddock-car`
//! as a YUYV stream (what a USB camera gives), waits for its log line, reads the pulse widths it
//! wrote back from a sysfs-shaped PWM folder, turns them into steering and speed through the same
//! calibration, and steps the simulator with them. What is checked is the whole path from a
//! camera frame to a pulse width, through the car's own process.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{bail, ensure, Context, Result};
use paddock_policy::ModelMetadata;
use paddock_sim::sensors::Camera;
use paddock_sim::Env;
use paddock_vehicle::action::{Action, ActionSpace};
use paddock_vehicle::calibration::{Calibration, Channel, Pulses};
use paddock_vehicle::CarSpec;

/// The real camera's size (DeepRacer's and most USB cameras' VGA).
const FRAME_SIZE: (u32, u32) = (640, 480);

/// A DeepRacer-like calibration: servo reversed, an off-centre neutral, an asymmetric ESC.
fn calibration(car: &CarSpec) -> Calibration {
    Calibration {
        steering: Channel { min_us: 1100, mid_us: 1480, max_us: 1900, polarity: -1 },
        throttle: Channel { min_us: 1300, mid_us: 1500, max_us: 1760, polarity: 1 },
        max_speed_mps: car.max_speed_mps,
    }
}

/// A running `paddock-car` wired to a fake PWM chip.
pub struct CarLoop {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    dir: PathBuf,
    calibration: Calibration,
    max_steering_deg: f32,
    camera: Camera,
    gray: Vec<u8>,
    yuyv: Vec<u8>,
    line: String,
    pub latencies_ms: Vec<f64>,
}

impl CarLoop {
    /// Starts `binary` on `model` with a config, calibration and PWM folder in a temporary folder.
    pub fn start(binary: &Path, model: &Path, meta: &ModelMetadata, car: &CarSpec) -> Result<CarLoop> {
        ensure!(binary.is_file(), "no car binary at {} (build it: cargo build --release -p paddock-car)", binary.display());
        let dir = std::env::temp_dir().join(format!("paddock-car-loop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let chip = dir.join("pwmchip0");
        for n in 0..2 {
            std::fs::create_dir_all(chip.join(format!("pwm{n}")))?;
            for f in ["period", "duty_cycle", "enable"] {
                std::fs::write(chip.join(format!("pwm{n}/{f}")), "0\n")?;
            }
        }
        std::fs::write(chip.join("export"), "")?;
        let calibration = calibration(car);
        std::fs::write(dir.join("calibration.json"), serde_json::to_string_pretty(&calibration)?)?;
        let top_speed = match &meta.action_space {
            ActionSpace::Discrete(list) => list.iter().map(|a| a.speed).fold(0.0, f32::max),
            ActionSpace::Continuous { speed, .. } => speed.high,
        };
        let max_steering_deg = car.max_steering_rad.to_degrees();
        let model = std::fs::canonicalize(model).with_context(|| format!("model {}", model.display()))?;
        // The simulator is not real time: a generous watchdog, so that it never fires here.
        let config = format!(
            "model = {model:?}\ncalibration = \"calibration.json\"\nmax_steering_deg = {max_steering_deg}\nspeed_cap_mps = {top_speed}\n\
             [camera]\nsource = \"pipe:-\"\nwidth = {}\nheight = {}\nformat = \"yuyv\"\n\
             [output]\nkind = \"sysfs_pwm\"\nchip = {chip:?}\nsteering_channel = 1\nthrottle_channel = 0\n\
             [safety]\nframe_timeout_ms = 10000\ninference_budget_ms = 1000\n",
            FRAME_SIZE.0, FRAME_SIZE.1
        );
        std::fs::write(dir.join("car.toml"), config)?;
        let mut child = Command::new(binary)
            .args(["run", "--log", "--config"])
            .arg(dir.join("car.toml"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(dir.join("car.log"))?))
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let (stdin, stdout) = (child.stdin.take(), child.stdout.take().context("car stdout")?);
        let mut mount = car.camera.clone();
        (mount.width_px, mount.height_px) = FRAME_SIZE;
        let pixels = (FRAME_SIZE.0 * FRAME_SIZE.1) as usize;
        Ok(CarLoop {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            dir,
            calibration,
            max_steering_deg,
            camera: Camera::new(&mount, 0.0),
            gray: vec![0; pixels],
            yuyv: vec![128; 2 * pixels],
            line: String::new(),
            latencies_ms: Vec::new(),
        })
    }

    /// The full-range continuous space the pulses are read back into.
    pub fn action_space(car: &CarSpec) -> ActionSpace {
        ActionSpace::full_continuous(car)
    }

    /// One control step: frame out, pulses back, the action they command.
    pub fn act(&mut self, env: &Env) -> Result<Action> {
        self.camera.render(env.scene(), &env.pose(), env.obstacles(), &mut self.gray);
        for (i, &y) in self.gray.iter().enumerate() {
            self.yuyv[2 * i] = y; // chroma stays 128: a gray picture
        }
        let stdin = self.stdin.as_mut().context("car stdin closed")?;
        if stdin.write_all(&self.yuyv).and_then(|_| stdin.flush()).is_err() {
            bail!("paddock-car stopped reading frames: {}", self.log_tail());
        }
        self.line.clear();
        if self.stdout.read_line(&mut self.line)? == 0 {
            bail!("paddock-car exited: {}", self.log_tail());
        }
        let logged: serde_json::Value = serde_json::from_str(&self.line).with_context(|| format!("car log line {:?}", self.line))?;
        let pulses = self.read_pulses()?;
        let said = (logged["command"]["steering_us"].as_u64(), logged["command"]["throttle_us"].as_u64());
        ensure!(said == (Some(pulses.steering_us as u64), Some(pulses.throttle_us as u64)), "the car logged {said:?} but the PWM chip holds {pulses:?}");
        self.latencies_ms.push(logged["latency_ms"].as_f64().unwrap_or(f64::NAN));
        let (steering_angle, speed) = self.calibration.commands(pulses, self.max_steering_deg);
        let car = &env.config().car;
        Ok(Action::Continuous {
            steering_angle: steering_angle.clamp(-self.max_steering_deg, self.max_steering_deg),
            speed: speed.clamp(car.min_speed_mps, car.max_speed_mps),
        })
    }

    /// Duty cycles (nanoseconds) from the fake chip, as pulse widths.
    pub fn read_pulses(&self) -> Result<Pulses> {
        let read = |n: u32| -> Result<u32> {
            let path = self.dir.join(format!("pwmchip0/pwm{n}/duty_cycle"));
            let text = std::fs::read_to_string(&path)?;
            let ns: u64 = text.trim().parse().with_context(|| format!("{} holds {text:?}", path.display()))?;
            Ok((ns / 1000) as u32)
        };
        Ok(Pulses { steering_us: read(1)?, throttle_us: read(0)? })
    }

    /// Ends the stream, waits for the car to exit, and checks it left the motor at neutral.
    pub fn finish(mut self) -> Result<()> {
        drop(self.stdin.take());
        let status = self.child.wait()?;
        ensure!(status.success(), "paddock-car failed ({status}): {}", self.log_tail());
        let pulses = self.read_pulses()?;
        ensure!(pulses == self.calibration.neutral(), "paddock-car exited with {pulses:?} on the PWM chip, not neutral");
        let _ = std::fs::remove_dir_all(&self.dir);
        Ok(())
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("car.log")).unwrap_or_default();
        log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for CarLoop {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
