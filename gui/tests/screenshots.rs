//! The app in a real window: `paddock-gui` under Xvfb, rendered by Mesa's Vulkan on the CPU
//! (lavapipe), driven by a script for a fixed number of frames; then the pixels that matter in
//! the screenshot it saves with bevy's own API. The screenshots stay in
//! `target/gui-screenshots/` to be looked at.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use image::{Rgb, RgbImage};
use paddock_policy::model::{self, ObservationSpec, Preprocessing};
use paddock_policy::{Head, ModelMetadata, Network};
use paddock_sim::Sensor;
use paddock_vehicle::action::ActionSpace;
use paddock_vehicle::CarSpec;
use rand::SeedableRng;
use serde_json::Value;

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/gui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One app at a time: `xvfb-run -a` can hand two at once the same display, and lavapipe uses
/// every core anyway.
static DISPLAY: Mutex<()> = Mutex::new(());

/// Runs the app under a virtual display; returns the screenshot and its layout.
fn shoot(name: &str, args: &[&str], frames: u32, size: &str) -> (RgbImage, Value) {
    let _one = DISPLAY.lock().unwrap_or_else(|e| e.into_inner());
    let png = out_dir().join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    let (w, h) = size.split_once('x').unwrap();
    let output = Command::new("xvfb-run")
        .args(["-a", "-s", &format!("-screen 0 {w}x{h}x24")])
        .arg(env!("CARGO_BIN_EXE_paddock-gui"))
        .args(args)
        .args(["--size", size, "--frames", &frames.to_string(), "--screenshot"])
        .arg(&png)
        .env("WGPU_BACKEND", "vulkan")
        .output()
        .expect("xvfb-run (scripts/setup-gui.sh installs it)");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{name}: paddock-gui failed ({}):\n{log}", output.status);
    let image = image::open(&png).unwrap_or_else(|e| panic!("{name}: no screenshot {}: {e}\n{log}", png.display())).to_rgb8();
    let layout: Value = serde_json::from_str(&std::fs::read_to_string(png.with_extension("json")).unwrap()).unwrap();
    assert_eq!((image.width(), image.height()), (layout["width"].as_u64().unwrap() as u32, layout["height"].as_u64().unwrap() as u32));
    (image, layout)
}

fn at(image: &RgbImage, p: &Value) -> Rgb<u8> {
    let (x, y) = (p[0].as_f64().unwrap() as u32, p[1].as_f64().unwrap() as u32);
    *image.get_pixel(x.min(image.width() - 1), y.min(image.height() - 1))
}

/// Dark gray asphalt, or the yellow or white paint on it.
fn is_road(c: Rgb<u8>) -> bool {
    let [r, g, b] = c.0.map(|v| v as i32);
    let gray = (r - g).abs() < 16 && (g - b).abs() < 16;
    (gray && !(120..=200).contains(&r)) || (r > 180 && g > 150 && r - b > 50)
}

fn is_car_red(c: Rgb<u8>) -> bool {
    let [r, g, b] = c.0.map(|v| v as i32);
    r > 100 && r > 2 * g && r > 2 * b
}

/// Some pixel within `radius` of `p` passes `test`.
fn near(image: &RgbImage, p: &Value, radius: i64, test: impl Fn(Rgb<u8>) -> bool) -> bool {
    let (x, y) = (p[0].as_f64().unwrap() as i64, p[1].as_f64().unwrap() as i64);
    (-radius..=radius).any(|dy| {
        (-radius..=radius).any(|dx| {
            let (px, py) = (x + dx, y + dy);
            px >= 0 && py >= 0 && px < image.width() as i64 && py < image.height() as i64 && test(*image.get_pixel(px as u32, py as u32))
        })
    })
}

/// Of the centre line's points in view, not under a panel or the car, those drawn on the road
/// (within 3 pixels: the racing line and the lap's path are drawn over it).
fn road_share(image: &RgbImage, layout: &Value) -> (usize, usize) {
    let car = layout["car"].as_array().map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()));
    let covered = |p: &&Value| {
        let (x, y) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
        if car.is_some_and(|(cx, cy)| (cx - x).hypot(cy - y) < 80.0) {
            return false;
        }
        let panel = layout["panels"].as_array().unwrap().iter().any(|r| {
            let r: Vec<f64> = r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            x >= r[0] && y >= r[1] && x < r[0] + r[2] && y < r[1] + r[3]
        });
        !panel
    };
    let points: Vec<&Value> = layout["centre_line"].as_array().unwrap().iter().filter(covered).collect();
    (points.iter().filter(|p| near(image, p, 3, is_road)).count(), points.len())
}

fn mean_luma(image: &RgbImage, rect: [u32; 4]) -> f64 {
    let [x0, y0, w, h] = rect;
    let mut sum = 0.0;
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            let p = image.get_pixel(x, y).0;
            sum += (p[0] as f64 + p[1] as f64 + p[2] as f64) / 3.0;
        }
    }
    sum / (w * h) as f64
}

#[test]
fn driving_by_hand_the_chase_view_shows_the_car_on_the_road_and_the_camera_inset_sees_it() {
    let (image, layout) = shoot("drive-chase", &["drive", "--track", "circuit", "--input", "0.4,0"], 45, "1280x720");
    assert!(layout["failure"].is_null(), "{layout}");
    assert!(layout["steps"].as_u64().unwrap() >= 20, "about 22 control steps in 45 frames at 1/30 s: {layout}");
    let car = &layout["car"];
    assert!(!car.is_null(), "the chase camera keeps the car in view: {layout}");
    assert!(near(&image, car, 12, is_car_red), "the car is drawn where it is: {:?}", at(&image, car));
    let (road, seen) = road_share(&image, &layout);
    assert!(seen >= 10 && road * 10 >= seen * 8, "the centre line's points lie on the road: {road} of {seen}");
    // The inset is the simulator's own camera: road (dark) below the horizon, sky (bright) above.
    let r: Vec<u32> = layout["inset"].as_array().expect("an inset when driving").iter().map(|v| v.as_f64().unwrap() as u32).collect();
    let (top, bottom) =
        (mean_luma(&image, [r[0] + 8, r[1] + 4, r[2] - 16, r[3] / 5]), mean_luma(&image, [r[0] + r[2] / 3, r[1] + r[3] * 4 / 5, r[2] / 3, r[3] / 6]));
    assert!(top > bottom + 40.0, "sky above the road in the inset: top {top:.0}, bottom {bottom:.0}");
}

#[test]
fn from_above_the_whole_track_is_in_view_with_boxes_a_bot_car_and_the_car_on_it() {
    let args = ["drive", "--track", "oval", "--obstacles", "3", "--bot-cars", "1", "--view", "top-down"];
    let (image, layout) = shoot("drive-top-down", &args, 20, "960x540");
    let waypoints = paddock_tracks::Track::builtin("oval").unwrap().waypoints().len();
    assert_eq!(layout["centre_line"].as_array().unwrap().len(), waypoints, "every waypoint is in view: {layout}");
    let (road, seen) = road_share(&image, &layout);
    assert!(seen * 3 > waypoints && road * 10 >= seen * 9, "{road} of {seen} uncovered waypoints on the road");
    assert!(near(&image, &layout["car"], 6, is_car_red), "the car at {}", layout["car"]);
}

/// A model with random weights for `sensor` (no libtorch here): the window shows what it sees
/// and chooses whatever it drives like.
fn random_model(sensor: Sensor, space: ActionSpace, network: Network) -> PathBuf {
    let car = CarSpec::deepracer();
    let head = Head::for_space(&space, false);
    let observation = ObservationSpec { sensor, shape: sensor.shape(&car), preprocessing: Preprocessing::for_sensor(sensor) };
    let meta = ModelMetadata::new(network, head, observation, space);
    let tensors = model::random_tensors(&meta, &mut rand_pcg::Pcg64Mcg::seed_from_u64(3)).unwrap();
    let path = out_dir().join(format!("random-{sensor:?}.safetensors").to_lowercase());
    model::save(&path, &meta, &tensors).unwrap();
    path
}

#[test]
fn watching_a_camera_model_shows_its_frame_and_its_choice_of_action() {
    let model = random_model(Sensor::Camera, ActionSpace::deepracer_default_discrete(), Network::Shallow);
    let (image, layout) = shoot("watch-camera", &["watch", model.to_str().unwrap(), "--track", "circuit"], 30, "1280x720");
    assert!(layout["failure"].is_null(), "{layout}");
    let r: Vec<u32> = layout["inset"].as_array().expect("the model's frame").iter().map(|v| v.as_f64().unwrap() as u32).collect();
    assert_eq!((r[2], r[3]), (320, 240), "the 160x120 frame at twice its size");
    let (top, bottom) =
        (mean_luma(&image, [r[0] + 8, r[1] + 4, r[2] - 16, r[3] / 5]), mean_luma(&image, [r[0] + r[2] / 3, r[1] + r[3] * 4 / 5, r[2] / 3, r[3] / 6]));
    assert!(top > bottom + 40.0, "the model's frame shows the sky over the road: {top:.0} vs {bottom:.0}");
}

#[test]
fn a_lidar_model_and_a_broken_model_file_open_with_words_not_a_panic() {
    let space = ActionSpace::full_continuous(&CarSpec::deepracer());
    let lidar = random_model(Sensor::Lidar, space, Network::Mlp { hidden: vec![32] });
    let (_, layout) = shoot("watch-lidar", &["watch", lidar.to_str().unwrap(), "--view", "orbit"], 20, "640x360");
    assert!(layout["failure"].is_null(), "{layout}");
    assert!(layout["inset"].is_null(), "a lidar model sees no picture: {layout}");

    let broken = out_dir().join("broken.safetensors");
    std::fs::write(&broken, b"not a model at all").unwrap();
    let (image, layout) = shoot("watch-broken", &["watch", broken.to_str().unwrap()], 10, "640x360");
    let failure = layout["failure"].as_str().expect("a failure is reported");
    assert!(failure.contains("broken.safetensors"), "the message names the file: {failure}");
    assert!(reddish_share(&image) > 0.5, "the message box is on screen");

    let (image, layout) = shoot("drive-missing-track", &["drive", "--track", "no-such-track.npy"], 10, "640x360");
    let failure = layout["failure"].as_str().expect("a failure is reported");
    assert!(failure.contains("no-such-track.npy"), "{failure}");
    assert!(reddish_share(&image) > 0.5, "the message box is on screen");
}

/// The share of a band across the middle of the picture in the failure box's dark red.
fn reddish_share(image: &RgbImage) -> f64 {
    let (w, h) = (image.width(), image.height());
    let mut red = 0;
    let mut all = 0;
    for y in h / 2 - 20..h / 2 + 20 {
        for x in w / 4..3 * w / 4 {
            let [r, g, b] = image.get_pixel(x, y).0.map(|v| v as i32);
            red += (r > g + 25 && r > b + 20) as usize;
            all += 1;
        }
    }
    red as f64 / all as f64
}
