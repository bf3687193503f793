//! Camera frames to the camera observation: the one conversion the car applies to what its
//! camera gives (640x480 colour, say), so that the network sees what it saw in the simulator:
//! 160x120 grayscale, row-major.

use crate::PolicyError;

/// How a frame's bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Rgb8,
    Bgr8,
    Gray8,
    /// Packed YUV 4:2:2 (V4L2's YUYV): luma is every other byte.
    Yuyv,
}

impl PixelFormat {
    fn bytes_per_pixel(&self) -> usize {
        match self {
            PixelFormat::Rgb8 | PixelFormat::Bgr8 => 3,
            PixelFormat::Gray8 => 1,
            PixelFormat::Yuyv => 2,
        }
    }
}

/// Luma of a pixel (ITU-R BT.601 weights in 8-bit fixed point).
#[inline]
fn luma(frame: &[u8], i: usize, format: PixelFormat) -> u32 {
    match format {
        PixelFormat::Rgb8 => (77 * frame[3 * i] as u32 + 150 * frame[3 * i + 1] as u32 + 29 * frame[3 * i + 2] as u32 + 128) >> 8,
        PixelFormat::Bgr8 => (29 * frame[3 * i] as u32 + 150 * frame[3 * i + 1] as u32 + 77 * frame[3 * i + 2] as u32 + 128) >> 8,
        PixelFormat::Gray8 => frame[i] as u32,
        PixelFormat::Yuyv => frame[2 * i] as u32,
    }
}

/// Converts a `width` x `height` frame to a `out_width` x `out_height` grayscale observation in
/// `out`: luma, then the mean of each output pixel's block of input pixels (no upscaling).
pub fn frame_to_observation(
    frame: &[u8],
    (width, height): (usize, usize),
    format: PixelFormat,
    (out_width, out_height): (usize, usize),
    out: &mut [u8],
) -> Result<(), PolicyError> {
    let bad = |m: String| Err(PolicyError::Observation(m));
    if frame.len() != width * height * format.bytes_per_pixel() {
        return bad(format!("a {width}x{height} {format:?} frame has {} bytes, got {}", width * height * format.bytes_per_pixel(), frame.len()));
    }
    if out.len() != out_width * out_height {
        return bad(format!("the observation buffer holds {} pixels, not {out_width}x{out_height}", out.len()));
    }
    if width < out_width || height < out_height || out_width == 0 || out_height == 0 {
        return bad(format!("a {width}x{height} frame cannot make a {out_width}x{out_height} observation (no upscaling)"));
    }
    if format == PixelFormat::Yuyv && width % 2 != 0 {
        return bad(format!("a YUYV frame needs an even width, got {width}"));
    }
    for oy in 0..out_height {
        let (y0, y1) = (oy * height / out_height, (oy + 1) * height / out_height);
        for ox in 0..out_width {
            let (x0, x1) = (ox * width / out_width, (ox + 1) * width / out_width);
            let mut sum = 0u32;
            for y in y0..y1 {
                for x in x0..x1 {
                    sum += luma(frame, y * width + x, format);
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as u32;
            out[oy * out_width + ox] = ((sum + n / 2) / n) as u8;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vga_colour_frame_becomes_the_simulators_observation() {
        // Left half white, right half a pure red; a grey band across the top quarter.
        let (w, h) = (640, 480);
        let mut rgb = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let p = if y < h / 4 {
                    [100, 100, 100]
                } else if x < w / 2 {
                    [255, 255, 255]
                } else {
                    [255, 0, 0]
                };
                rgb[3 * (y * w + x)..3 * (y * w + x) + 3].copy_from_slice(&p);
            }
        }
        let mut obs = vec![0u8; 160 * 120];
        frame_to_observation(&rgb, (w, h), PixelFormat::Rgb8, (160, 120), &mut obs).unwrap();
        assert_eq!(obs[10 * 160 + 5], 100, "grey stays grey");
        assert_eq!(obs[100 * 160 + 20], 255, "white stays white");
        assert_eq!(obs[100 * 160 + 140], 77, "red has BT.601 luma 0.299");
        let mut bgr = rgb.clone();
        bgr.chunks_exact_mut(3).for_each(|p| p.swap(0, 2));
        let mut obs_bgr = vec![0u8; 160 * 120];
        frame_to_observation(&bgr, (w, h), PixelFormat::Bgr8, (160, 120), &mut obs_bgr).unwrap();
        assert_eq!(obs, obs_bgr);
    }

    #[test]
    fn block_means_and_yuyv_luma() {
        // 4x2 gray -> 2x1: each output is the mean of a 2x2 block.
        let gray = [0u8, 10, 100, 200, 20, 30, 100, 200];
        let mut out = [0u8; 2];
        frame_to_observation(&gray, (4, 2), PixelFormat::Gray8, (2, 1), &mut out).unwrap();
        assert_eq!(out, [15, 150]);
        let yuyv = [50u8, 128, 70, 128];
        let mut one = [0u8; 1];
        frame_to_observation(&yuyv, (2, 1), PixelFormat::Yuyv, (1, 1), &mut one).unwrap();
        assert_eq!(one, [60]);
    }

    #[test]
    fn frames_of_the_wrong_size_are_refused() {
        let mut out = vec![0u8; 160 * 120];
        let e = frame_to_observation(&[0u8; 100], (640, 480), PixelFormat::Rgb8, (160, 120), &mut out).unwrap_err().to_string();
        assert!(e.contains("921600"), "{e}");
        let e = frame_to_observation(&vec![0u8; 80 * 60], (80, 60), PixelFormat::Gray8, (160, 120), &mut out).unwrap_err().to_string();
        assert!(e.contains("no upscaling"), "{e}");
    }
}
