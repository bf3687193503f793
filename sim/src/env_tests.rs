use std::sync::Arc;

use glam::DVec2;
use paddock_tracks::Track;

use super::*;
use crate::action::DiscreteAction;
use crate::driver::PurePursuit;
use crate::reward::{builtin_reward, ProgressPerStep};
use crate::{ObsBuffer, VecEnv};

fn scene(name: &str) -> Arc<TrackScene> {
    Arc::new(TrackScene::new(Track::resolve(name).expect("bundled track")))
}

fn continuous(observation: Sensor) -> EnvConfig {
    EnvConfig { observation, action_space: ActionSpace::full_continuous(&paddock_vehicle::CarSpec::deepracer()), ..EnvConfig::default() }
}

fn env(name: &str, config: EnvConfig) -> Env {
    Env::new(Arc::new(config), scene(name), Box::new(ProgressPerStep::default()), 7).expect("env")
}

fn start(progress: f64) -> Start {
    Start::At { progress, lateral_m: 0.0, heading_offset_rad: 0.0 }
}

/// Drives with `driver` until the episode ends; returns the final status and the steps taken.
fn drive(env: &mut Env, driver: &PurePursuit, limit: u32) -> (EpisodeStatus, u32) {
    for i in 1..=limit {
        let r = env.step(driver.act(env)).expect("step");
        if r.status.is_done() {
            return (r.status, i);
        }
    }
    (EpisodeStatus::InProgress, limit)
}

#[test]
fn a_careful_driver_completes_a_lap_and_progress_reaches_100() {
    let mut env = env("circuit", continuous(Sensor::State));
    env.reset(1, start(30.0));
    let length = env.scene().track().length();
    let driver = PurePursuit { speed: 1.2, ..PurePursuit::default() };
    let mut last_progress = 0.0;
    let mut total = 0.0;
    let mut status = EpisodeStatus::InProgress;
    for _ in 0..3000 {
        let r = env.step(driver.act(&env)).expect("step");
        let p = env.params();
        assert!(p.progress >= last_progress - 0.5, "progress fell from {last_progress} to {}", p.progress);
        assert!(p.all_wheels_on_track, "left the track at step {}", p.steps);
        last_progress = p.progress;
        total += r.reward;
        status = r.status;
        if status.is_done() {
            break;
        }
    }
    assert_eq!(status, EpisodeStatus::LapComplete);
    assert_eq!(env.params().progress, 100.0);
    // The progress reward pays about 100 for a lap.
    assert!((total - 100.0).abs() < 3.0, "lap reward {total}");
    let time = env.summary().time_s as f64;
    let mean_speed = length / time;
    assert!(mean_speed > 0.9 && mean_speed < 1.3, "{length} m in {time} s");
}

#[test]
fn continuing_a_completed_lap_drives_a_second_lap_without_stopping() {
    let mut env = env("circuit", continuous(Sensor::State));
    env.reset(1, start(0.0));
    assert!(!env.continue_lap(), "nothing to continue mid-lap");
    let driver = PurePursuit { speed: 1.2, ..PurePursuit::default() };
    let mut lap_steps = Vec::new();
    let mut speed_at_line = 0.0;
    for _ in 0..2 {
        let mut steps = 0;
        loop {
            let r = env.step(driver.act(&env)).expect("step");
            steps += 1;
            if r.status.is_done() {
                assert_eq!(r.status, EpisodeStatus::LapComplete);
                break;
            }
        }
        lap_steps.push(steps);
        speed_at_line = env.params().speed;
        assert!(env.continue_lap());
        assert_eq!(env.status(), EpisodeStatus::InProgress);
        assert!(env.params().progress < 1.0, "progress starts again: {}", env.params().progress);
    }
    assert!(speed_at_line > 0.8, "the car keeps its speed over the line: {speed_at_line} m/s");
    // The flying second lap is quicker than the first from a standing start.
    assert!(lap_steps[1] < lap_steps[0], "{lap_steps:?}");
}

#[test]
fn driving_straight_into_a_bend_leaves_the_track_when_all_wheels_are_off() {
    let mut env = env("oval", continuous(Sensor::State));
    env.reset(1, start(0.0));
    let straight = Action::Continuous { steering_angle: 0.0, speed: 1.5 };
    let mut some_wheels_off_seen = false;
    for _ in 0..600 {
        let r = env.step(straight).expect("step");
        let p = env.params();
        if !p.all_wheels_on_track && !p.is_offtrack {
            some_wheels_off_seen = true;
            assert_eq!(r.status, EpisodeStatus::InProgress, "some wheels off is not off track yet");
        }
        if r.status.is_done() {
            assert_eq!(r.status, EpisodeStatus::OffTrack);
            assert!(p.is_offtrack && !p.all_wheels_on_track);
            assert!(p.distance_from_center > p.track_width / 2.0, "{} from centre", p.distance_from_center);
            assert!(some_wheels_off_seen, "wheels leave one side at a time");
            let err = env.step(straight).unwrap_err();
            assert!(err.to_string().contains("off_track"), "{err}");
            return;
        }
    }
    panic!("never left the oval driving straight");
}

#[test]
fn driving_the_wrong_way_ends_as_reversed() {
    let mut env = env("oval", continuous(Sensor::State));
    env.reset(1, Start::At { progress: 5.0, lateral_m: 0.0, heading_offset_rad: std::f64::consts::PI });
    let (status, steps) = {
        let mut out = (EpisodeStatus::InProgress, 0);
        for i in 1..200 {
            let r = env.step(Action::Continuous { steering_angle: 0.0, speed: 1.0 }).expect("step");
            if r.status.is_done() {
                out = (r.status, i);
                break;
            }
        }
        out
    };
    assert_eq!(status, EpisodeStatus::Reversed, "after {steps} steps");
}

#[test]
fn circling_in_place_ends_as_immobilized() {
    let config = EnvConfig {
        observation: Sensor::State,
        action_space: ActionSpace::Discrete(vec![DiscreteAction { steering_angle: 30.0, speed: 0.3 }]),
        immobilized_steps: 60,
        reversed_m: 5.0,
        ..EnvConfig::default()
    };
    let mut env = env("oval", config);
    env.reset(1, Start::At { progress: 3.0, lateral_m: -0.3, heading_offset_rad: 0.0 });
    let mut status = EpisodeStatus::InProgress;
    for _ in 0..400 {
        status = env.step(Action::Discrete(0)).expect("step").status;
        if status.is_done() {
            break;
        }
    }
    assert_eq!(status, EpisodeStatus::Immobilized);
}

#[test]
fn hitting_an_obstacle_ends_as_crashed_and_objects_are_in_params() {
    let config = EnvConfig { obstacles: 3, ..continuous(Sensor::Lidar) };
    let mut env = env("circuit", config);
    env.reset(3, start(0.0));
    assert_eq!(env.params().objects_location.len(), 3);
    // Start 1 m behind the first box, in its lane, and drive straight at it.
    let scene = env.scene().clone();
    let track = scene.track();
    let target = env.obstacles()[0].centre;
    let at = track.project(DVec2::new(target.x as f64, target.y as f64), None);
    let progress = 100.0 * (at.s - 1.0) / track.length();
    env.reset(3, Start::At { progress, lateral_m: at.lateral, heading_offset_rad: 0.0 });
    assert_eq!(env.obstacles()[0].centre, target, "same seed, same boxes");
    let mut status = EpisodeStatus::InProgress;
    for _ in 0..60 {
        status = env.step(Action::Continuous { steering_angle: 0.0, speed: 1.0 }).expect("step").status;
        if status.is_done() {
            break;
        }
    }
    assert_eq!(status, EpisodeStatus::Crashed);
    assert!(env.params().is_crashed);
    let p = env.params();
    assert_eq!(p.closest_objects[1], 0, "the box we hit is the next one ahead");
}

#[test]
fn out_of_range_actions_are_refused_without_moving_the_car() {
    let mut env = env("oval", EnvConfig { observation: Sensor::State, ..EnvConfig::default() });
    let before = env.pose();
    assert!(env.step(Action::Discrete(99)).is_err());
    assert!(env.step(Action::Continuous { steering_angle: 0.0, speed: 1.0 }).is_err());
    assert_eq!(env.pose(), before);
    assert_eq!(env.params().steps, 0);
}

#[test]
fn params_describe_the_car_on_the_track() {
    let mut env = env("oval", continuous(Sensor::State));
    env.reset(1, Start::At { progress: 10.0, lateral_m: 0.2, heading_offset_rad: 0.0 });
    let p = env.params().clone();
    assert!((p.distance_from_center - 0.2).abs() < 0.01, "{}", p.distance_from_center);
    assert!(p.is_left_of_center);
    assert_eq!(p.progress, 0.0, "progress counts from the episode's start");
    assert!(p.all_wheels_on_track && !p.is_offtrack && !p.is_crashed);
    let scene = env.scene().clone();
    let track = scene.track();
    assert!((p.track_length as f64 - track.length()).abs() < 1e-3);
    assert_eq!(p.waypoints.len(), track.waypoints().len());
    let [prev, next] = p.closest_waypoints;
    assert!(next == (prev + 1) % track.waypoints().len());
    for _ in 0..15 {
        env.step(Action::Continuous { steering_angle: 0.0, speed: 1.0 }).expect("step");
    }
    let p = env.params();
    assert_eq!(p.steps, 15);
    assert!(p.speed > 0.7 && p.speed < 1.1, "speed {}", p.speed);
    let metres = p.progress as f64 / 100.0 * track.length();
    assert!(metres > 0.5 && metres < 1.0, "1 s at up to 1 m/s: {metres} m");
}

#[test]
fn same_seed_same_episode_whatever_ran_before() {
    let config = EnvConfig { start_jitter_m: 0.2, ..continuous(Sensor::Lidar) };
    let mut a = env("circuit", config.clone());
    let mut b = env("circuit", config);
    let driver = PurePursuit::default();
    drive(&mut b, &driver, 50);
    // b has already driven an episode; a fixed start and seed must still replay exactly.
    let at = |e: &mut Env| {
        e.reset(42, start(20.0));
        (0..40)
            .map(|_| {
                e.step(driver.act(e)).expect("step");
                (e.params().x, e.params().y)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(at(&mut a), at(&mut b));
}

#[test]
fn vec_env_results_do_not_depend_on_thread_count() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool.install(|| {
            let config = EnvConfig { start_jitter_m: 0.1, ..continuous(Sensor::Camera) };
            let mut v = VecEnv::new(config, scene("circuit"), 6, 99, || builtin_reward("progress").expect("builtin")).expect("vec env");
            let driver = PurePursuit::default();
            let mut rewards = Vec::new();
            for _ in 0..30 {
                let actions: Vec<Action> = v.envs().iter().map(|e| driver.act(e)).collect();
                v.step(&actions).expect("step");
                rewards.extend(v.last_steps().iter().map(|s| s.reward));
            }
            let obs = match v.observations() {
                ObsBuffer::U8(b) => b.clone(),
                ObsBuffer::F32(_) => panic!("camera observations are u8"),
            };
            (rewards, obs)
        })
    };
    let (r1, o1) = run(1);
    let (r2, o2) = run(2);
    assert_eq!(r1, r2);
    assert!(o1 == o2, "camera frames differ between 1 and 2 threads");
    assert_eq!(o1.len(), 6 * 160 * 120);
}

#[test]
fn vec_env_auto_resets_finished_envs_and_reports_the_episode() {
    let config = EnvConfig { max_steps: 10, ..continuous(Sensor::Lidar) };
    let mut v = VecEnv::new(config, scene("oval"), 3, 1, || builtin_reward("progress").expect("builtin")).expect("vec");
    let driver = PurePursuit::default();
    for step in 1..=10 {
        let actions: Vec<Action> = v.envs().iter().map(|e| driver.act(e)).collect();
        v.step(&actions).expect("step");
        for s in v.last_steps() {
            assert_eq!(s.done, step == 10);
        }
    }
    for (s, e) in v.last_steps().iter().zip(v.envs()) {
        let finished = s.finished.expect("summary of the ended episode");
        assert_eq!(finished.status, EpisodeStatus::TimeUp);
        assert_eq!(finished.steps, 10);
        assert!(finished.progress > 0.0);
        assert_eq!(e.params().steps, 0, "the env restarted");
    }
    // Envs start spread around the lap and keep moving their start.
    let starts: Vec<f32> = v.last_steps().iter().map(|s| s.finished.map_or(0.0, |f| f.start_progress)).collect();
    assert!(starts.windows(2).all(|w| (w[0] - w[1]).abs() > 10.0), "{starts:?}");
    let ObsBuffer::F32(obs) = v.observations() else { panic!("lidar is f32") };
    assert!(obs.iter().all(|r| (0.15..=12.0).contains(r)));
    assert!(v.step(&[Action::Discrete(0); 3]).is_err(), "wrong action kind");
    assert!(v.step(&[]).is_err(), "wrong count");
}

/// Reward functions index `waypoints` with `closest_waypoints` by hand: on an imported DeepRacer
/// track both must refer to the file's rows, repeated rows included.
#[test]
fn waypoint_indices_are_the_deepracer_files_rows() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/tracks");
    let path = dir.join("2022_april_pro.npy");
    assert!(path.is_file(), "DeepRacer test tracks expected in {}", dir.display());
    let track = Track::from_npy_file(&path).expect("import");
    let rows = track.source_waypoints().len();
    assert!(rows > track.waypoints().len(), "this file repeats rows");
    let scene = Arc::new(TrackScene::new(track));
    let mut env = Env::new(Arc::new(continuous(Sensor::State)), scene, Box::new(ProgressPerStep::default()), 1).expect("env");
    env.reset(1, start(0.0));
    let driver = PurePursuit { speed: 2.0, ..PurePursuit::default() };
    let mut seen_high_rows = false;
    for _ in 0..400 {
        let r = env.step(driver.act(&env)).expect("step");
        let p = env.params();
        assert_eq!(p.waypoints.len(), rows);
        let [prev, next] = p.closest_waypoints;
        seen_high_rows |= prev > 150;
        for i in [prev, next] {
            let (wx, wy) = p.waypoints[i];
            let d = ((wx - p.x).powi(2) + (wy - p.y).powi(2)).sqrt();
            assert!(d < 0.6, "waypoint {i} is {d} m from the car at step {}", p.steps);
        }
        if r.status.is_done() {
            break;
        }
    }
    assert!(seen_high_rows, "drove past the repeated row 147");
}

#[test]
fn a_reversed_track_is_driven_clockwise_and_says_so() {
    let track = Track::resolve("circuit").expect("bundled").reversed();
    let mut env = Env::new(Arc::new(continuous(Sensor::State)), Arc::new(TrackScene::new(track)), Box::new(ProgressPerStep::default()), 1).expect("env");
    env.reset(1, start(0.0));
    let (status, _) = drive(&mut env, &PurePursuit::default(), 3000);
    assert_eq!(status, EpisodeStatus::LapComplete);
    assert!(env.params().is_reversed);
}

/// Head-to-bot: a bot car drives the lap in one lane. Following that lane faster runs into it;
/// the other lane overtakes it.
#[test]
fn bot_cars_move_along_their_lane_and_block_it() {
    let config = EnvConfig { bot_cars: 1, bot_car_speed_mps: 0.4, ..continuous(Sensor::Camera) };
    let mut first = env("oval", config.clone());
    first.reset(5, start(0.0));
    let bot_lane = {
        let p = first.params();
        assert_eq!(p.objects_speed, vec![0.4]);
        let side = if p.objects_left_of_center[0] { 1.0 } else { -1.0 };
        side * p.track_width as f64 / 4.0
    };
    let start_distance = first.params().objects_distance[0];
    for _ in 0..15 {
        first.step(Action::Continuous { steering_angle: 0.0, speed: 0.1 }).expect("step");
    }
    let moved = first.params().objects_distance[0] - start_distance;
    assert!((moved - 0.4).abs() < 0.02, "the bot drove {moved} m in 1 s at 0.4 m/s");

    let run = |lane: f64| {
        let mut env = env("oval", config.clone());
        env.reset(5, Start::At { progress: 0.0, lateral_m: lane, heading_offset_rad: 0.0 });
        let driver = PurePursuit { speed: 1.5, lane_m: lane, ..PurePursuit::default() };
        let mut frame = vec![0u8; 160 * 120];
        let mut bot_seen = false;
        let mut status = EpisodeStatus::InProgress;
        for _ in 0..300 {
            status = env.step(driver.act(&env)).expect("step").status;
            env.observe(ObsMut::U8(&mut frame)).expect("frame");
            // The bot is dark (shade 60) and stands above the horizon line of the track.
            bot_seen |= frame[40 * 160..60 * 160].iter().filter(|&&v| v == 60).count() > 20;
            if status.is_done() {
                break;
            }
        }
        (status, bot_seen, env.params().progress)
    };
    let (status, seen, _) = run(bot_lane);
    assert_eq!(status, EpisodeStatus::Crashed, "caught the bot in its lane");
    assert!(seen, "the camera saw the bot before hitting it");
    let (status, _, progress) = run(-bot_lane);
    assert!(status != EpisodeStatus::Crashed, "overtook in the other lane, ended {status:?} at {progress} %");
    assert!(progress > 60.0, "got past the bot: {progress} %");
}
