//! `paddock-car calibrate`: find each channel's pulses by watching the car, in a terminal.
//!
//! One command a line: a pulse width (`1500`) or a nudge (`+10`, `-5`) moves the selected
//! channel at once; `min`, `mid`, `max` keep the current pulse as that point; `steering` and
//! `throttle` select a channel; `flip` reverses its polarity; `speed 2.5` sets the speed full
//! throttle gives (m/s, measured); `show`, `save`, `quit`. Put the car on a stand first: the
//! throttle channel turns the wheels.

use std::io::{BufRead, Write};
use std::path::Path;

use paddock_vehicle::calibration::{Calibration, Channel, Pulses};

use crate::config::CarConfig;
use crate::{output, CarError};

/// Where calibration starts without a file: the hobby-servo convention, 1.0-1.5-2.0 ms.
pub const STARTING_POINT: Calibration = Calibration {
    steering: Channel { min_us: 1000, mid_us: 1500, max_us: 2000, polarity: 1 },
    throttle: Channel { min_us: 1000, mid_us: 1500, max_us: 2000, polarity: 1 },
    max_speed_mps: 4.0,
};

const HELP: &str = "commands: <pulse us> | +N | -N | min | mid | max | steering | throttle | flip | speed <m/s> | show | save | quit";

/// Runs the session on `input`, talking on `talk`; returns the calibration it saved, if any.
pub fn session(config: &CarConfig, out_path: &Path, input: impl BufRead, mut talk: impl Write) -> Result<Option<Calibration>, CarError> {
    let mut cal = match std::fs::read_to_string(out_path) {
        Ok(text) => Calibration::from_json_str(&text, &out_path.display().to_string())?,
        Err(_) => STARTING_POINT,
    };
    let mut out = output::open(&config.output)?;
    let neutral = cal.neutral();
    out.write(neutral)?;
    let say = |talk: &mut dyn Write, s: String| {
        let _ = writeln!(talk, "{s}");
    };
    say(&mut talk, format!("calibrating through {}; the car should be on a stand.\n{HELP}", out.describe()));
    let mut steering_selected = true;
    let mut pulse = neutral.steering_us;
    let mut saved = None;
    let mut dirty = false;
    let result = (|| -> Result<(), CarError> {
        for line in input.lines() {
            let line = line.map_err(|e| CarError::Config { path: "stdin".into(), message: e.to_string() })?;
            let words: Vec<&str> = line.split_whitespace().collect();
            let channel: &mut Channel = if steering_selected { &mut cal.steering } else { &mut cal.throttle };
            let name = if steering_selected { "steering" } else { "throttle" };
            let move_to = |p: i64, out: &mut Box<dyn output::Output>, talk: &mut dyn Write| -> Result<u32, CarError> {
                let p = p.clamp(500, 2500) as u32;
                let c = cal_neutral_with(neutral, steering_selected, p);
                out.write(c)?;
                let _ = writeln!(talk, "{name}: {p} us");
                Ok(p)
            };
            match words.as_slice() {
                [] => {}
                ["help"] => say(&mut talk, HELP.into()),
                ["steering"] | ["throttle"] => {
                    steering_selected = words[0] == "steering";
                    out.write(neutral)?;
                    let c = if steering_selected { cal.steering } else { cal.throttle };
                    pulse = c.mid_us;
                    say(&mut talk, format!("{}: min {} mid {} max {} polarity {}", words[0], c.min_us, c.mid_us, c.max_us, c.polarity));
                }
                [w @ ("min" | "mid" | "max")] => {
                    match *w {
                        "min" => channel.min_us = pulse,
                        "mid" => channel.mid_us = pulse,
                        _ => channel.max_us = pulse,
                    }
                    dirty = true;
                    say(&mut talk, format!("{name} {w} = {pulse} us"));
                }
                ["flip"] => {
                    channel.polarity = -channel.polarity;
                    dirty = true;
                    say(&mut talk, format!("{name} polarity {}", channel.polarity));
                }
                ["speed", v] => match v.parse::<f32>() {
                    Ok(v) if v.is_finite() && v > 0.0 => {
                        cal.max_speed_mps = v;
                        dirty = true;
                        say(&mut talk, format!("full throttle = {v} m/s"));
                    }
                    _ => say(&mut talk, format!("'{v}' is not a speed in m/s")),
                },
                ["show"] => say(&mut talk, serde_json::to_string(&cal).expect("plain JSON")),
                ["save"] => match cal.validate() {
                    Ok(()) => {
                        write_atomic(out_path, &serde_json::to_string_pretty(&cal).expect("plain JSON"))
                            .map_err(|e| CarError::Config { path: out_path.display().to_string(), message: e.to_string() })?;
                        saved = Some(cal);
                        dirty = false;
                        say(&mut talk, format!("saved {}", out_path.display()));
                    }
                    Err(e) => say(&mut talk, format!("not saved: {e}")),
                },
                ["quit"] | ["exit"] => break,
                [n] if n.starts_with('+') || n.starts_with('-') => match n[1..].parse::<i64>() {
                    Ok(d) => pulse = move_to(pulse as i64 + if n.starts_with('-') { -d } else { d }, &mut out, &mut talk)?,
                    Err(_) => say(&mut talk, format!("'{n}' is not a nudge like +10 or -5")),
                },
                [n] if n.parse::<u32>().is_ok() => pulse = move_to(n.parse::<i64>().unwrap_or(1500), &mut out, &mut talk)?,
                _ => say(&mut talk, format!("'{line}'? {HELP}")),
            }
        }
        Ok(())
    })();
    out.write(neutral)?;
    if dirty {
        say(&mut talk, "unsaved changes were dropped".into());
    }
    result.map(|_| saved)
}

/// Neutral on the other channel, `pulse` on the selected one.
fn cal_neutral_with(neutral: Pulses, steering: bool, pulse: u32) -> Pulses {
    if steering {
        Pulses { steering_us: pulse, ..neutral }
    } else {
        Pulses { throttle_us: pulse, ..neutral }
    }
}

/// Whole or not at all (`atomic-write-file`: temporary file, sync, rename, folder sync).
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = atomic_write_file::AtomicWriteFile::open(path)?;
    file.write_all(text.as_bytes())?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scripted_session_writes_a_calibration_the_car_accepts() {
        let dir = std::env::temp_dir().join(format!("paddock-calibrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("calibration.json");
        let _ = std::fs::remove_file(&path);
        let config =
            CarConfig::parse("model = \"m\"\ncalibration = \"c\"\n[camera]\nsource = \"pipe:-\"\n[output]\nkind = \"dry_run\"\n", "car.toml", &dir).unwrap();
        let script = "1100\nmin\n1900\nmax\n1480\nmid\nflip\nsave\nthrottle\n1300\nmin\n+420\nmax\nspeed 3.5\nbogus\nsave\nquit\n";
        let mut talk = Vec::new();
        let saved = session(&config, &path, script.as_bytes(), &mut talk).unwrap().unwrap();
        let talk = String::from_utf8(talk).unwrap();
        assert!(talk.contains("'bogus'?"), "{talk}");
        assert_eq!(saved.steering, Channel { min_us: 1100, mid_us: 1480, max_us: 1900, polarity: -1 });
        assert_eq!(saved.throttle, Channel { min_us: 1300, mid_us: 1500, max_us: 1720, polarity: 1 });
        let reread = Calibration::from_json_str(&std::fs::read_to_string(&path).unwrap(), "c").unwrap();
        assert_eq!(reread, saved);
        // An invalid calibration (min above mid) is refused, and the file keeps the last good one.
        let bad = session(&config, &path, "1600\nmin\nsave\nquit\n".as_bytes(), Vec::new()).unwrap();
        assert!(bad.is_none());
        assert_eq!(Calibration::from_json_str(&std::fs::read_to_string(&path).unwrap(), "c").unwrap(), saved);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
