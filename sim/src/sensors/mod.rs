//! The car's sensors, rendered on the CPU from a [`TrackScene`](crate::TrackScene):
//! - [`Camera`]: DeepRacer's front camera, 160x120 grayscale.
//! - [`StereoCamera`]: two such cameras side by side (DeepRacer's stereo option).
//! - [`Lidar`]: a planar scan of the track borders (as walls) and obstacles.
//!
//! None of them allocates per frame; each writes into a buffer the caller owns.

mod camera;
mod lidar;
#[cfg(test)]
mod tests;

pub use camera::Camera;
pub use lidar::Lidar;

use std::path::Path;

use paddock_vehicle::CarSpec;

use crate::scene::TrackScene;
use crate::{CarPose, Obstacle};

/// Two cameras `baseline` apart, left one first, as DeepRacer's stereo observation.
#[derive(Debug, Clone)]
pub struct StereoCamera {
    left: Camera,
    right: Camera,
}

impl StereoCamera {
    /// The car's stereo pair: its camera mount at +-`stereo_baseline_m / 2`.
    pub fn new(car: &CarSpec) -> StereoCamera {
        StereoCamera::with_baseline(&car.camera, car.stereo_baseline_m)
    }

    pub fn with_baseline(mount: &paddock_vehicle::CameraMount, baseline_m: f32) -> StereoCamera {
        StereoCamera { left: Camera::new(mount, baseline_m / 2.0), right: Camera::new(mount, -baseline_m / 2.0) }
    }

    pub fn left(&self) -> &Camera {
        &self.left
    }
    pub fn right(&self) -> &Camera {
        &self.right
    }
    pub fn width(&self) -> usize {
        self.left.width()
    }
    pub fn height(&self) -> usize {
        self.left.height()
    }

    /// Renders both views into `out`, channel first: the left image (width*height bytes, row
    /// major) then the right one.
    ///
    /// # Panics
    /// If `out.len() != 2 * width * height`.
    pub fn render(&self, scene: &TrackScene, pose: &CarPose, objects: &[Obstacle], out: &mut [u8]) {
        let n = self.width() * self.height();
        assert_eq!(out.len(), 2 * n, "stereo buffer must hold 2*width*height bytes");
        let (l, r) = out.split_at_mut(n);
        self.left.render(scene, pose, objects, l);
        self.right.render(scene, pose, objects, r);
    }
}

fn size_error(what: &str) -> image::ImageError {
    image::ImageError::Parameter(image::error::ParameterError::from_kind(image::error::ParameterErrorKind::Generic(what.to_string())))
}

/// Saves a grayscale image (row-major, top row first) as a PNG.
pub fn write_gray_png(path: impl AsRef<Path>, width: u32, height: u32, pixels: &[u8]) -> Result<(), image::ImageError> {
    let expected = width as usize * height as usize;
    if pixels.len() != expected {
        return Err(size_error(&format!("{} pixels given for a {width}x{height} image", pixels.len())));
    }
    let img = image::GrayImage::from_raw(width, height, pixels.to_vec()).ok_or_else(|| size_error("bad image size"))?;
    img.save_with_format(path, image::ImageFormat::Png)
}

/// Saves a stereo pair (channel first: left plane then right plane, each width x height) as one
/// PNG with the two views side by side, left view on the left.
pub fn write_stereo_png(path: impl AsRef<Path>, width: u32, height: u32, planes: &[u8]) -> Result<(), image::ImageError> {
    let (w, h) = (width as usize, height as usize);
    if planes.len() != 2 * w * h {
        return Err(size_error(&format!("{} bytes given for a {width}x{height} stereo pair", planes.len())));
    }
    let mut joined = vec![0u8; 2 * w * h];
    for r in 0..h {
        joined[r * 2 * w..r * 2 * w + w].copy_from_slice(&planes[r * w..(r + 1) * w]);
        joined[r * 2 * w + w..(r + 1) * 2 * w].copy_from_slice(&planes[w * h + r * w..w * h + (r + 1) * w]);
    }
    let joined_width = width.checked_mul(2).ok_or_else(|| size_error("stereo image too wide"))?;
    write_gray_png(path, joined_width, height, &joined)
}
