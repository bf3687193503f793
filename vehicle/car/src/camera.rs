//! Frame sources: a V4L2 camera, or a folder or pipe of frames (tests, replays, the simulator).

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::{CameraConfig, FrameFormat};
use crate::CarError;

/// Something that gives frames of one size and format.
pub trait FrameSource {
    /// Fills `frame` with the next frame; `false` at the end of a folder or pipe.
    fn next_frame(&mut self, frame: &mut Vec<u8>) -> Result<bool, CarError>;
    /// For logs.
    fn describe(&self) -> String;
}

/// Opens the configured source.
pub fn open(config: &CameraConfig) -> Result<Box<dyn FrameSource>, CarError> {
    let src = config.source.as_str();
    if let Some(path) = src.strip_prefix("pipe:") {
        let reader: Box<dyn Read> =
            if path == "-" { Box::new(std::io::stdin()) } else { Box::new(File::open(path).map_err(|e| camera_error(src, e.to_string()))?) };
        return Ok(Box::new(Pipe { reader, name: src.into(), frame_len: frame_len(config) }));
    }
    if let Some(dir) = src.strip_prefix("folder:") {
        return Ok(Box::new(Folder::open(Path::new(dir), config)?));
    }
    Ok(Box::new(V4l2::open(Path::new(src), config)?))
}

fn camera_error(source: &str, message: String) -> CarError {
    CarError::Camera { source_name: source.to_string(), message }
}

fn frame_len(config: &CameraConfig) -> usize {
    config.width as usize * config.height as usize * config.format.bytes_per_pixel()
}

/// Raw frames back to back on a pipe or file.
pub struct Pipe {
    reader: Box<dyn Read>,
    name: String,
    frame_len: usize,
}

impl FrameSource for Pipe {
    fn next_frame(&mut self, frame: &mut Vec<u8>) -> Result<bool, CarError> {
        frame.resize(self.frame_len, 0);
        let mut filled = 0;
        while filled < self.frame_len {
            match self.reader.read(&mut frame[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => return Err(camera_error(&self.name, format!("the stream ended inside a frame ({filled} of {} bytes)", self.frame_len))),
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(camera_error(&self.name, e.to_string())),
            }
        }
        Ok(true)
    }

    fn describe(&self) -> String {
        format!("{} ({} bytes a frame)", self.name, self.frame_len)
    }
}

/// PNG images (any colour type, converted) or raw frames, in file-name order, paced at `fps`.
pub struct Folder {
    files: std::vec::IntoIter<PathBuf>,
    dir: PathBuf,
    config: CameraConfig,
    period: Option<Duration>,
    next_at: Option<Instant>,
}

impl Folder {
    pub fn open(dir: &Path, config: &CameraConfig) -> Result<Folder, CarError> {
        let name = dir.display().to_string();
        let entries = std::fs::read_dir(dir).map_err(|e| camera_error(&name, e.to_string()))?;
        let mut files: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("png" | "raw"))).collect();
        files.sort();
        if files.is_empty() {
            return Err(camera_error(&name, "no .png or .raw frames in the folder".into()));
        }
        let period = (config.fps > 0.0).then(|| Duration::from_secs_f32(1.0 / config.fps));
        Ok(Folder { files: files.into_iter(), dir: dir.to_path_buf(), config: config.clone(), period, next_at: None })
    }

    fn decode(&self, path: &Path, frame: &mut Vec<u8>) -> Result<(), CarError> {
        let name = path.display().to_string();
        let (w, h) = (self.config.width, self.config.height);
        if path.extension().and_then(|e| e.to_str()) == Some("raw") {
            *frame = std::fs::read(path).map_err(|e| camera_error(&name, e.to_string()))?;
            if frame.len() != frame_len(&self.config) {
                return Err(camera_error(
                    &name,
                    format!("{} bytes, but a {w}x{h} {:?} frame has {}", frame.len(), self.config.format, frame_len(&self.config)),
                ));
            }
            return Ok(());
        }
        let image = image::open(path).map_err(|e| camera_error(&name, e.to_string()))?;
        if (image.width(), image.height()) != (w, h) {
            return Err(camera_error(&name, format!("{}x{} image, but the camera is configured {w}x{h}", image.width(), image.height())));
        }
        *frame = match self.config.format {
            FrameFormat::Gray => image.into_luma8().into_raw(),
            FrameFormat::Rgb => image.into_rgb8().into_raw(),
            FrameFormat::Bgr => image.into_rgb8().pixels().flat_map(|p| [p[2], p[1], p[0]]).collect(),
            FrameFormat::Yuyv => return Err(camera_error(&name, "PNG frames are RGB or gray; set camera.format to rgb or gray".into())),
        };
        Ok(())
    }
}

impl FrameSource for Folder {
    fn next_frame(&mut self, frame: &mut Vec<u8>) -> Result<bool, CarError> {
        let Some(path) = self.files.next() else { return Ok(false) };
        if let (Some(period), Some(at)) = (self.period, self.next_at) {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            self.next_at = Some(at + period);
        } else {
            self.next_at = self.period.map(|p| Instant::now() + p);
        }
        self.decode(&path, frame)?;
        Ok(true)
    }

    fn describe(&self) -> String {
        format!("frames from {}", self.dir.display())
    }
}

/// A V4L2 capture device, streaming through memory-mapped buffers.
pub struct V4l2 {
    stream: linuxvideo::stream::ReadStream,
    name: String,
    /// Bytes per row in the driver's buffers (may include padding).
    stride: usize,
    row_len: usize,
    height: usize,
}

impl V4l2 {
    pub fn open(path: &Path, config: &CameraConfig) -> Result<V4l2, CarError> {
        use linuxvideo::format::PixFormat;
        use linuxvideo::format::PixelFormat;
        let name = path.display().to_string();
        let fail = |m: String| camera_error(&name, m);
        if !path.exists() {
            return Err(fail("no such device (is the camera plugged in? `ls /dev/video*`)".into()));
        }
        let device = linuxvideo::Device::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
        let fourcc = match config.format {
            FrameFormat::Yuyv => PixelFormat::YUYV,
            FrameFormat::Rgb => PixelFormat::RGB3,
            FrameFormat::Bgr => PixelFormat::BGR3,
            FrameFormat::Gray => PixelFormat::from_fourcc(*b"GREY"),
        };
        let capture = device.video_capture(PixFormat::new(config.width, config.height, fourcc)).map_err(|e| fail(format!("cannot capture video: {e}")))?;
        let got = capture.format();
        if (got.width(), got.height(), got.pixel_format()) != (config.width, config.height, fourcc) {
            return Err(fail(format!(
                "asked for {}x{} {:?}, the camera offers {}x{} {}; configure what it offers (`v4l2-ctl --list-formats-ext`)",
                config.width,
                config.height,
                config.format,
                got.width(),
                got.height(),
                got.pixel_format()
            )));
        }
        if config.fps > 0.0 {
            // Drivers pick the nearest interval they support; that is fine.
            let _ = capture.set_frame_interval(linuxvideo::Fract::new(1000, (config.fps * 1000.0).round() as u32));
        }
        let row_len = config.width as usize * config.format.bytes_per_pixel();
        let stride = (got.bytes_per_line() as usize).max(row_len);
        let stream = capture.into_stream().map_err(|e| fail(format!("cannot start streaming: {e}")))?;
        Ok(V4l2 { stream, name, stride, row_len, height: config.height as usize })
    }
}

impl FrameSource for V4l2 {
    fn next_frame(&mut self, frame: &mut Vec<u8>) -> Result<bool, CarError> {
        let (stride, row_len, height) = (self.stride, self.row_len, self.height);
        frame.resize(row_len * height, 0);
        self.stream
            .dequeue(|buf| {
                if buf.len() < stride * (height - 1) + row_len {
                    return Err(std::io::Error::other(format!("short frame: {} bytes", buf.len())));
                }
                for (y, row) in frame.chunks_exact_mut(row_len).enumerate() {
                    row.copy_from_slice(&buf[y * stride..y * stride + row_len]);
                }
                Ok(())
            })
            .map_err(|e| camera_error(&self.name, e.to_string()))?;
        Ok(true)
    }

    fn describe(&self) -> String {
        format!("V4L2 camera {}", self.name)
    }
}
