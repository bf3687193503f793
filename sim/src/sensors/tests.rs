//! Sensor tests on a straight test track and the bundled `circuit`.

use std::sync::OnceLock;

use glam::{Quat, Vec2, Vec3};
use paddock_tracks::{DVec2, Track};
use paddock_vehicle::CarSpec;

use super::*;

/// Width of the straight test track, metres.
const WIDTH: f64 = 1.0;

/// A straight open track along +x from x = -10 to 30, 1 m wide.
fn straight() -> &'static TrackScene {
    static SCENE: OnceLock<TrackScene> = OnceLock::new();
    SCENE.get_or_init(|| {
        let pts: Vec<DVec2> = (0..=160).map(|i| DVec2::new(-10.0 + 0.25 * i as f64, 0.0)).collect();
        let widths = vec![WIDTH; pts.len()];
        TrackScene::new(Track::new("straight", pts, widths, false).expect("valid straight"))
    })
}

fn circuit() -> &'static TrackScene {
    static SCENE: OnceLock<TrackScene> = OnceLock::new();
    SCENE.get_or_init(|| TrackScene::new(Track::resolve("circuit").expect("circuit is bundled")))
}

fn camera() -> Camera {
    Camera::new(&CarSpec::deepracer().camera, 0.0)
}

fn render(scene: &TrackScene, pose: CarPose, objects: &[Obstacle]) -> Vec<u8> {
    let cam = camera();
    let mut out = vec![0u8; cam.width() * cam.height()];
    cam.render(scene, &pose, objects, &mut out);
    out
}

const W: usize = 160;
const H: usize = 120;

/// Mean column of the centre line's pixels (gray between the surface and the border white)
/// in rows `rows`, and how many there were.
fn centre_line_column(img: &[u8], rows: std::ops::Range<usize>) -> (f32, usize) {
    let (mut sum, mut n) = (0.0, 0);
    for r in rows {
        for c in 0..W {
            let v = img[r * W + c];
            if (150..=200).contains(&v) {
                sum += c as f32;
                n += 1;
            }
        }
    }
    (if n > 0 { sum / n as f32 } else { f32::NAN }, n)
}

#[test]
fn centre_line_sits_in_the_middle_columns_when_centred() {
    let img = render(straight(), CarPose::flat(0.0, 0.0, 0.0), &[]);
    let (col, n) = centre_line_column(&img, 60..H);
    assert!(n > 30, "centre line visible: {n} pixels");
    assert!((col - 79.5).abs() < 3.0, "centre line at column {col}");
    // Border lines on both sides, converging towards the horizon above the middle row.
    let white = |cols: std::ops::Range<usize>| (27..60).flat_map(|r| cols.clone().map(move |c| (r, c))).filter(|&(r, c)| img[r * W + c] >= 220).count();
    assert!(white(0..60) > 20 && white(100..W) > 20, "borders left {} right {}", white(0..60), white(100..W));
    // The rows above the horizon are sky or skyline, never the dark track.
    assert!(img[..10 * W].iter().all(|&v| v >= 55), "sky at the top");
}

#[test]
fn shifting_the_car_moves_the_centre_line_the_other_way() {
    let (centre, _) = centre_line_column(&render(straight(), CarPose::flat(0.0, 0.0, 0.0), &[]), 60..H);
    let (left, nl) = centre_line_column(&render(straight(), CarPose::flat(0.0, 0.2, 0.0), &[]), 60..H);
    let (right, nr) = centre_line_column(&render(straight(), CarPose::flat(0.0, -0.2, 0.0), &[]), 60..H);
    assert!(nl > 10 && nr > 10);
    assert!(left > centre + 15.0, "car left of centre: line moves right ({centre} -> {left})");
    assert!(right < centre - 15.0, "car right of centre: line moves left ({centre} -> {right})");
}

#[test]
fn turning_the_car_changes_the_picture_and_sky() {
    let a = render(straight(), CarPose::flat(0.0, 0.0, 0.0), &[]);
    let b = render(straight(), CarPose::flat(0.0, 0.0, 0.3), &[]);
    let diff = |from: usize, to: usize| (from..to).map(|i| (a[i] as i32 - b[i] as i32).abs()).sum::<i32>() as f32 / (to - from) as f32;
    assert!(diff(0, W * H) > 8.0, "mean change {}", diff(0, W * H));
    // The skyline turns with the car too.
    assert!(diff(0, 25 * W) > 3.0, "sky change {}", diff(0, 25 * W));
    // Turning left: the centre line swings to the right of the picture.
    let (col, _) = centre_line_column(&b, 60..H);
    assert!(col > 95.0, "{col}");
}

#[test]
fn pitch_and_roll_move_the_horizon() {
    let flat = render(straight(), CarPose::flat(0.0, 0.0, 0.0), &[]);
    // Nose down 5 degrees (positive rotation about the car's y axis).
    let nose_down = CarPose { position: Vec3::ZERO, rotation: Quat::from_rotation_y(5f32.to_radians()) };
    let pitched = render(straight(), nose_down, &[]);
    let ground_rows = |img: &[u8]| (0..H).filter(|&r| img[r * W + 80] < 100).count();
    assert!(ground_rows(&pitched) > ground_rows(&flat), "more track visible nose down");
    let rolled = render(straight(), CarPose { position: Vec3::ZERO, rotation: Quat::from_rotation_x(0.1) }, &[]);
    assert_ne!(rolled, flat);
}

#[test]
fn far_off_the_track_no_border_white_below_the_horizon() {
    for yaw in [std::f32::consts::FRAC_PI_2, -std::f32::consts::FRAC_PI_2, 0.0] {
        let img = render(straight(), CarPose::flat(0.0, 5.0, yaw), &[]);
        let white = img[H / 2 * W..].iter().filter(|&&v| v >= 200).count();
        assert_eq!(white, 0, "yaw {yaw}: {white} white pixels in the lower half");
        let dark = img[H / 2 * W..].iter().filter(|&&v| v < 80).count();
        assert!(dark < 100, "yaw {yaw}: no track surface nearby ({dark} dark pixels)");
    }
}

#[test]
fn an_obstacle_ahead_is_a_block_of_its_shade() {
    let ob = Obstacle::deepracer_box(Vec2::new(1.0, 0.0), 0.0);
    let img = render(straight(), CarPose::flat(0.0, 0.0, 0.0), &[ob]);
    let clear = render(straight(), CarPose::flat(0.0, 0.0, 0.0), &[]);
    let shade = ob.shade as f32;
    for r in 20..45 {
        for c in 65..95 {
            let v = img[r * W + c] as f32;
            assert!((v - shade).abs() <= 0.22 * shade, "pixel ({r}, {c}) = {v}");
        }
    }
    // Outside the box's columns the picture is unchanged.
    for r in 0..H {
        for c in (0..40).chain(120..W) {
            assert_eq!(img[r * W + c], clear[r * W + c], "({r}, {c})");
        }
    }
    // A box behind the car is not drawn.
    let behind = render(straight(), CarPose::flat(0.0, 0.0, 0.0), &[Obstacle::deepracer_box(Vec2::new(-1.0, 0.0), 0.0)]);
    assert_eq!(behind, clear);
}

#[test]
fn nearer_obstacle_hides_farther_one() {
    let near = Obstacle { shade: 20, ..Obstacle::deepracer_box(Vec2::new(1.0, 0.0), 0.0) };
    let far = Obstacle { shade: 250, half_extents: Vec3::new(0.15, 0.4, 0.5), ..Obstacle::deepracer_box(Vec2::new(2.0, 0.0), 0.0) };
    for objects in [[near, far], [far, near]] {
        let img = render(straight(), CarPose::flat(0.0, 0.0, 0.0), &objects);
        assert!(img[30 * W + 80] < 30, "near box in front: {}", img[30 * W + 80]);
    }
}

/// First column in row `r` whose pixel is darker than 30 (a dark box).
fn first_dark(img: &[u8], r: usize) -> Option<usize> {
    (0..W).find(|&c| img[r * W + c] < 30)
}

#[test]
fn stereo_pair_has_disparity_in_the_expected_direction() {
    let car = CarSpec::deepracer();
    let stereo = StereoCamera::new(&car);
    let ob = Obstacle { shade: 20, ..Obstacle::deepracer_box(Vec2::new(1.0, 0.0), 0.0) };
    let mut out = vec![0u8; 2 * W * H];
    stereo.render(straight(), &CarPose::flat(0.0, 0.0, 0.0), &[ob], &mut out);
    let (left, right) = out.split_at(W * H);
    let (l, r) = (first_dark(left, 40).expect("box in left view"), first_dark(right, 40).expect("box in right view"));
    // A point at depth Z appears f*B/Z pixels further right in the left camera's image.
    let depth = 1.0 - 0.15 - car.camera.x_m;
    let expected = stereo.left().focal_px() * car.stereo_baseline_m / depth;
    let disparity = l as f32 - r as f32;
    assert!((disparity - expected).abs() < 2.5, "disparity {disparity}, expected {expected}");
    assert_ne!(left, right);
}

fn scan(scene: &TrackScene, pose: CarPose, objects: &[Obstacle]) -> Vec<f32> {
    let lidar = Lidar::new(&CarSpec::deepracer().lidar);
    let mut out = vec![0.0; lidar.rays()];
    lidar.scan(scene, &pose, objects, &mut out);
    out
}

/// Index of the ray nearest `deg` degrees.
fn ray_near(deg: f32) -> usize {
    let lidar = Lidar::new(&CarSpec::deepracer().lidar);
    let a = lidar.angles();
    (0..a.len()).min_by(|&i, &j| (a[i] - deg.to_radians()).abs().total_cmp(&(a[j] - deg.to_radians()).abs())).unwrap_or(0)
}

#[test]
fn lidar_sees_the_borders_at_half_the_width_when_centred() {
    let ranges = scan(straight(), CarPose::flat(0.0, 0.0, 0.0), &[]);
    for deg in [-90.0, 90.0] {
        let i = ray_near(deg);
        assert!((ranges[i] - (WIDTH / 2.0) as f32).abs() < 0.02, "ray {i} ({deg} deg) reads {}", ranges[i]);
    }
    // Straight ahead along an open straight, the walls are never reached within range... almost.
    assert!(ranges[31] > 10.0, "{}", ranges[31]);
    // Off centre, the right wall is nearer.
    let ranges = scan(straight(), CarPose::flat(0.0, 0.2, 0.0), &[]);
    assert!((ranges[ray_near(-90.0)] - 0.7).abs() < 0.02 && (ranges[ray_near(90.0)] - 0.3).abs() < 0.02);
}

#[test]
fn lidar_sees_an_obstacle_ahead() {
    let ob = Obstacle::deepracer_box(Vec2::new(1.0, 0.0), 0.0);
    let ranges = scan(straight(), CarPose::flat(0.0, 0.0, 0.0), &[ob]);
    let mount_x = CarSpec::deepracer().lidar.x_m;
    let expected = 1.0 - ob.half_extents.x - mount_x;
    for i in [ray_near(0.0), ray_near(0.0) + 1] {
        assert!((ranges[i] - expected).abs() < 0.01, "ray {i} reads {} (expected {expected})", ranges[i]);
    }
    // Inside the box everything reads the minimum range.
    let inside = scan(straight(), CarPose::flat(0.0, 0.0, 0.0), &[Obstacle::deepracer_box(Vec2::ZERO, 0.4)]);
    assert!(inside.iter().all(|&r| r == 0.15), "{inside:?}");
}

#[test]
fn lidar_off_track_hits_the_walls_from_outside() {
    // 3 m to the left of the straight, facing it (heading -y).
    let ranges = scan(straight(), CarPose::flat(0.0, 3.0, -std::f32::consts::FRAC_PI_2), &[]);
    let mount_x = CarSpec::deepracer().lidar.x_m;
    let expected = 3.0 - mount_x - (WIDTH / 2.0) as f32; // origin sits behind the car origin
    let i = ray_near(0.0);
    let angle = Lidar::new(&CarSpec::deepracer().lidar).angles()[i];
    assert!((ranges[i] * angle.cos() - expected).abs() < 0.02, "{} vs {expected}", ranges[i]);
    // Rays pointing away from the track miss everything.
    assert_eq!(ranges[0], 12.0);
    assert_eq!(ranges[63], 12.0);
}

#[test]
fn circuit_scans_stay_in_range_and_views_vary() {
    let scene = circuit();
    let track = scene.track();
    let cam = camera();
    let mut img = vec![0u8; W * H];
    let lidar = Lidar::new(&CarSpec::deepracer().lidar);
    let mut ranges = vec![0.0; lidar.rays()];
    let ob = Obstacle::deepracer_box(Vec2::ZERO, 0.0);
    for k in 0..40 {
        let s = track.length() * k as f64 / 40.0;
        let (p, heading) = track.pose_at(s);
        let lateral = ((k % 5) as f64 - 2.0) * 0.3;
        let q = p + DVec2::from_angle(heading).perp() * lateral;
        let pose = CarPose::flat(q.x as f32, q.y as f32, heading as f32 + (k % 3) as f32 * 0.2);
        let ahead = p + DVec2::from_angle(heading) * 1.5;
        let objects = [Obstacle { centre: ahead.as_vec2(), ..ob }];
        lidar.scan(scene, &pose, &objects, &mut ranges);
        assert!(ranges.iter().all(|r| (0.15..=12.0).contains(r)), "{ranges:?}");
        // On the track, some wall is within a few metres.
        if lateral.abs() < 0.4 {
            assert!(ranges.iter().any(|&r| r < 2.0), "s {s}: {ranges:?}");
        }
        cam.render(scene, &pose, &objects, &mut img);
        let min = *img.iter().min().unwrap_or(&0);
        let max = *img.iter().max().unwrap_or(&0);
        assert!(max - min > 100, "s {s}: contrast {min}..{max}");
    }
}

#[test]
fn ground_texture_is_painted_like_a_deepracer_track() {
    let scene = straight();
    let hw = (WIDTH / 2.0) as f32;
    assert!(scene.texel_size_m() <= 0.011);
    // Surface, border lines just inside the borders, dashes on the centre, floor outside.
    assert!(scene.ground_gray_at(Vec2::new(0.3, 0.25)) < 90);
    for y in [hw - 0.02, -hw + 0.02] {
        assert!(scene.ground_gray_at(Vec2::new(0.3, y)) > 220, "border at y {y}");
    }
    let centre: Vec<u8> = (0..60).map(|i| scene.ground_gray_at(Vec2::new(i as f32 * 0.01, 0.0))).collect();
    assert!(centre.iter().any(|&v| (150..200).contains(&v)) && centre.iter().any(|&v| v < 90), "dashes {centre:?}");
    let floor = scene.ground_gray_at(Vec2::new(0.3, 2.0));
    assert!((90..150).contains(&floor), "floor {floor}");
    assert_eq!(scene.ground_gray_at(Vec2::new(1000.0, 0.0)), scene.ground.floor);
}

#[test]
fn png_helpers_write_and_reject_wrong_sizes() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("paddock-sensors-test-{}.png", std::process::id()));
    let img = render(straight(), CarPose::flat(0.0, 0.0, 0.0), &[]);
    write_gray_png(&path, W as u32, H as u32, &img).expect("png written");
    let back = image::open(&path).expect("png readable").to_luma8();
    assert_eq!(back.as_raw(), &img);
    assert!(write_gray_png(&path, W as u32, H as u32, &img[1..]).is_err());
    let pair = [img.clone(), img].concat();
    write_stereo_png(&path, W as u32, H as u32, &pair).expect("stereo written");
    assert_eq!(image::open(&path).expect("readable").width(), 2 * W as u32);
    let _ = std::fs::remove_file(&path);
}

/// Writes example frames to `$PADDOCK_FRAMES_DIR` (default /tmp/paddock-frames) for a person to
/// look at: `cargo test -p paddock-sim --lib write_example_frames -- --ignored`.
#[test]
#[ignore = "writes PNGs for inspection"]
fn write_example_frames() {
    let dir = std::path::PathBuf::from(std::env::var("PADDOCK_FRAMES_DIR").unwrap_or_else(|_| "/tmp/paddock-frames".into()));
    std::fs::create_dir_all(&dir).expect("frames dir");
    let scene = circuit();
    let track = scene.track();
    let cam = camera();
    let mut img = vec![0u8; W * H];
    let pose_at = |s: f64, lateral: f64, dyaw: f32| {
        let (p, h) = track.pose_at(s);
        let q = p + DVec2::from_angle(h).perp() * lateral;
        CarPose::flat(q.x as f32, q.y as f32, h as f32 + dyaw)
    };
    // Sharpest bend, and 1.2 m before it.
    let bend =
        (0..400).map(|k| track.length() * k as f64 / 400.0).max_by(|a, b| track.curvature_at(*a).abs().total_cmp(&track.curvature_at(*b).abs())).unwrap_or(0.0);
    let (far_p, far_h) = track.pose_at(2.0);
    let off = far_p + DVec2::from_angle(far_h).perp() * -2.5;
    let box_ahead = pose_at(2.5, 0.0, 0.0);
    let ahead = Vec2::new(box_ahead.position.x, box_ahead.position.y) + Vec2::from_angle(box_ahead.yaw()) * 1.0;
    let shots: Vec<(&str, CarPose, Vec<Obstacle>)> = vec![
        ("straight", pose_at(1.0, 0.0, 0.0), vec![]),
        ("straight_left", pose_at(1.0, 0.2, 0.0), vec![]),
        ("curve", pose_at(bend - 1.2, 0.0, 0.0), vec![]),
        ("in_curve", pose_at(bend - 0.3, 0.0, 0.0), vec![]),
        ("off_track", CarPose::flat(off.x as f32, off.y as f32, far_h as f32 + 1.2), vec![]),
        ("obstacle", box_ahead, vec![Obstacle::deepracer_box(ahead, 0.3)]),
    ];
    for (name, pose, objects) in &shots {
        cam.render(scene, pose, objects, &mut img);
        write_gray_png(dir.join(format!("{name}.png")), W as u32, H as u32, &img).expect("png");
        // A 4x enlargement, easier on the eye.
        let big = image::imageops::resize(
            &image::GrayImage::from_raw(W as u32, H as u32, img.clone()).expect("size"),
            4 * W as u32,
            4 * H as u32,
            image::imageops::FilterType::Nearest,
        );
        big.save(dir.join(format!("{name}_x4.png"))).expect("png");
    }
    let stereo = StereoCamera::new(&CarSpec::deepracer());
    let mut pair = vec![0u8; 2 * W * H];
    stereo.render(scene, &shots[5].1, &shots[5].2, &mut pair);
    write_stereo_png(dir.join("stereo.png"), W as u32, H as u32, &pair).expect("png");

    // Top-down with the racing line and a lidar scan drawn as a trace.
    let line = paddock_tracks::RacingLine::compute(track, &crate::lap_limits(&CarSpec::deepracer())).expect("racing line");
    let lidar = Lidar::new(&CarSpec::deepracer().lidar);
    let mut ranges = vec![0.0; lidar.rays()];
    let pose = pose_at(bend - 1.2, 0.0, 0.0);
    lidar.scan(scene, &pose, &[], &mut ranges);
    let o = Vec2::new(pose.position.x, pose.position.y);
    let hits: Vec<Vec2> = ranges.iter().zip(lidar.angles()).map(|(r, a)| o + Vec2::from_angle(pose.yaw() + a) * *r).collect();
    let traces: Vec<(&[Vec2], [u8; 3])> = vec![(&hits, [80, 160, 255])];
    crate::topdown::render_top_down(track, Some(&line), &traces, 60.0).save(dir.join("topdown_circuit.png")).expect("png");
}

#[test]
fn scenes_are_shareable_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<TrackScene>();
    shareable::<Camera>();
    shareable::<StereoCamera>();
    shareable::<Lidar>();
}

#[test]
fn centred_on_the_circuit_straight_the_centre_line_is_in_the_middle() {
    let scene = circuit();
    let (p, h) = scene.track().pose_at(1.0);
    let img = render(scene, CarPose::flat(p.x as f32, p.y as f32, h as f32), &[]);
    let (col, n) = centre_line_column(&img, 60..H);
    assert!(n > 30 && (col - 79.5).abs() < 3.0, "centre line at column {col} ({n} pixels)");
    let ranges = scan(scene, CarPose::flat(p.x as f32, p.y as f32, h as f32), &[]);
    let half = scene.track().width_at(1.0) as f32 / 2.0;
    for deg in [-90.0, 90.0] {
        let r = ranges[ray_near(deg)];
        assert!((r - half).abs() < 0.02, "{deg} deg: {r} vs half width {half}");
    }
}

#[test]
fn every_builtin_track_builds_and_renders() {
    let cam = camera();
    let mut img = vec![0u8; W * H];
    for name in ["oval", "technical", "random:7"] {
        let scene = TrackScene::new(Track::resolve(name).expect("builtin"));
        let track = scene.track();
        for k in 0..8 {
            let (p, h) = track.pose_at(track.length() * k as f64 / 8.0);
            let pose = CarPose::flat(p.x as f32, p.y as f32, h as f32);
            cam.render(&scene, &pose, &[], &mut img);
            // On the centre line: the centre line in view (it leaves the middle in tight
            // bends: 3 cm off centre 0.3 m ahead is already 20 pixels), mostly dark track
            // surface at the bottom, sky and skyline at the top.
            let (_, n) = centre_line_column(&img, 40..H);
            assert!(n > 0, "{name} s {k}/8: centre line visible");
            let dark = img[100 * W..].iter().filter(|&&v| v < 100).count();
            assert!(dark > 20 * W / 2, "{name} s {k}/8: {dark} dark pixels at the bottom");
            assert!(img[..5 * W].iter().all(|&v| v > 55), "{name} s {k}/8: sky");
            let ranges = scan(&scene, pose, &[]);
            assert!(ranges.iter().all(|r| (0.15..=12.0).contains(r)));
            assert!(ranges.iter().any(|&r| r < 1.5), "{name}: a border nearby");
        }
    }
}

#[test]
fn top_down_map_shows_track_markings_and_traces() {
    let track = circuit().track();
    let trace = [Vec2::new(0.5, -0.2), Vec2::new(2.5, -0.2)];
    let img = crate::topdown::render_top_down(track, None, &[(&trace, [0, 0, 255])], 50.0);
    let (lo, hi) = track.bounds();
    let to_px = |p: Vec2| {
        let x = ((p.x as f64 - (lo.x - 0.5)) * 50.0) as u32;
        let y = img.height() - 1 - ((p.y as f64 - (lo.y - 0.5)) * 50.0) as u32;
        img.get_pixel(x, y).0
    };
    assert_eq!((img.width() as f64 / 50.0).round(), (hi.x - lo.x + 1.0).round());
    // The trace, drawn over the track surface.
    assert_eq!(to_px(Vec2::new(1.5, -0.2)), [0, 0, 255]);
    // Surface between the centre and the border, white border line, grass outside.
    let surface = to_px(Vec2::new(1.5, 0.25));
    assert!(surface[0] < 80 && surface[0] == surface[1], "{surface:?}");
    let half = track.width_at(1.5) as f32 / 2.0;
    assert!(to_px(Vec2::new(1.5, half - 0.02))[0] > 200);
    let grass = to_px(Vec2::new(1.5, -half - 0.3));
    assert!(grass[1] > grass[0] && grass[1] > grass[2], "{grass:?}");
    // The direction arrow is orange.
    assert!(img.pixels().any(|p| p.0 == [255, 128, 0]));
    // A racing line adds red-to-green colours.
    let line = paddock_tracks::RacingLine::compute(track, &crate::lap_limits(&CarSpec::deepracer())).expect("racing line");
    let with_line = crate::topdown::render_top_down(track, Some(&line), &[], 50.0);
    assert!(with_line.pixels().any(|p| p.0[1] > 150 && p.0[0] < 60 && p.0[2] < 60), "fast green");
}

/// Nearest crossing of a ray with the border polylines, by brute force.
fn brute_force_wall(track: &Track, o: Vec2, d: Vec2) -> Option<f32> {
    let mut best: Option<f32> = None;
    for border in [track.left_border(), track.right_border()] {
        let n = border.len();
        let count = if track.is_closed() { n } else { n - 1 };
        for i in 0..count {
            let (a, b) = (border[i].as_vec2(), border[(i + 1) % n].as_vec2());
            let e = b - a;
            let denom = d.perp_dot(e);
            if denom == 0.0 {
                continue;
            }
            let t = (a - o).perp_dot(e) / denom;
            let u = (a - o).perp_dot(d) / denom;
            if t >= 0.0 && (0.0..=1.0).contains(&u) && best.is_none_or(|b| t < b) {
                best = Some(t);
            }
        }
    }
    best
}

#[test]
fn wall_grid_casts_agree_with_brute_force() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
    for scene in [circuit(), &TrackScene::new(Track::resolve("technical").expect("builtin"))] {
        let track = scene.track();
        let (lo, hi) = track.bounds();
        for _ in 0..3000 {
            // Origins on and around the track, directions all round.
            let o = Vec2::new(rng.random_range(lo.x - 2.0..hi.x + 2.0) as f32, rng.random_range(lo.y - 2.0..hi.y + 2.0) as f32);
            let d = Vec2::from_angle(rng.random_range(0.0..std::f32::consts::TAU));
            let grid = scene.walls.cast(o, d, 12.0);
            let brute = brute_force_wall(track, o, d).filter(|&t| t < 12.0);
            match (grid, brute) {
                (Some(g), Some(b)) => assert!((g - b).abs() < 1e-3, "{o} {d}: grid {g} brute {b}"),
                (None, None) => {}
                _ => panic!("{o} {d}: grid {grid:?} brute {brute:?}"),
            }
        }
    }
}
