//! Pictures of an evaluation: the driven laps from above, the camera's view as a GIF.

use std::path::Path;

use glam::Vec2;
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, RgbaImage};
use paddock_sim::lap_limits;
use paddock_tracks::{RacingLine, Track};

use crate::{EvalError, EvalReport};

/// The driven lines (one colour per lap) over the track and its racing line.
pub fn write_top_down_png(report: &EvalReport, track: &Track, path: &Path) -> Result<(), EvalError> {
    let car = paddock_vehicle::CarSpec::deepracer();
    let line = RacingLine::compute(track, &lap_limits(&car))?;
    const COLOURS: [[u8; 3]; 4] = [[220, 40, 40], [40, 110, 230], [30, 170, 60], [230, 150, 20]];
    let paths: Vec<Vec<Vec2>> = report.laps.iter().map(|l| l.path()).collect();
    let traces: Vec<(&[Vec2], [u8; 3])> = paths.iter().enumerate().map(|(i, p)| (p.as_slice(), COLOURS[i % 4])).collect();
    let image = paddock_sim::topdown::render_top_down(track, Some(&line), &traces, 40.0);
    image.save(path).map_err(|e| EvalError::Io { path: path.display().to_string(), source: std::io::Error::other(e) })
}

/// The recorded camera frames as an animated GIF.
pub fn write_camera_gif(report: &EvalReport, every: usize, path: &Path) -> Result<(), EvalError> {
    let io = |e: std::io::Error| EvalError::Io { path: path.display().to_string(), source: e };
    if report.frames.is_empty() {
        return Err(EvalError::NoFrames);
    }
    let file = std::fs::File::create(path).map_err(io)?;
    let mut encoder = GifEncoder::new_with_speed(std::io::BufWriter::new(file), 10);
    encoder.set_repeat(Repeat::Infinite).map_err(|e| io(std::io::Error::other(e)))?;
    let (w, h) = report.frame_size;
    let delay_ms = (1000.0 * every as f64 / paddock_sim::env::CONTROL_HZ as f64) as u32;
    for f in &report.frames {
        let rgba: Vec<u8> = f.iter().flat_map(|&g| [g, g, g, 255]).collect();
        let image = RgbaImage::from_raw(w, h, rgba).expect("frame size");
        encoder.encode_frame(Frame::from_parts(image, 0, 0, Delay::from_numer_denom_ms(delay_ms, 1))).map_err(|e| io(std::io::Error::other(e)))?;
    }
    Ok(())
}
