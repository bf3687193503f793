//! `paddock`: the command line over Paddock's crates. Each subcommand is a thin layer: parse,
//! call the library, print.

mod bench;
mod car_loop;
mod eval;
mod export;
mod handover;

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use paddock_sim::env::Start;
use paddock_sim::{lap_limits, sensors, topdown, Env, EnvConfig, TrackScene};
use paddock_sim::{ObsMut, Sensor};
use paddock_tracks::{RacingLine, Track};
use paddock_vehicle::CarSpec;

#[derive(Parser)]
#[command(name = "paddock", version, about = "Learn autonomous racing with reinforcement learning, locally.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Race tracks: list, inspect, draw, import.
    #[command(subcommand)]
    Tracks(TracksCommand),
    /// The simulator.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Train a policy (PPO or SAC) as a config says; runs `paddock-train run` (see its --help).
    #[command(disable_help_flag = true)]
    Train {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Drive evaluation laps with a trained model, as DeepRacer's evaluation does.
    Eval(eval::EvalArgs),
    /// The desktop simulator: drive the car, watch a model; runs `paddock-gui` (see its --help).
    #[command(disable_help_flag = true)]
    Gui {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Write a trained model for use elsewhere: Paddock's format, DeepRacer's layout or ONNX.
    Export(export::ExportArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Rollout workers for trainers on other hosts.
    #[command(subcommand)]
    Worker(WorkerCommand),
}

#[derive(Subcommand)]
enum WorkerCommand {
    /// Serve trainers that name this host in `[workers] remote` (as `paddock-worker serve --listen`).
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:50051.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// The shared token trainers must present (default: $PADDOCK_WORKER_TOKEN).
        #[arg(long)]
        token: Option<String>,
        /// Serve without a token (only on a network nobody else can reach).
        #[arg(long)]
        insecure: bool,
        /// Serve TLS with this certificate (PEM; needs --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<std::path::PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum TracksCommand {
    /// The bundled tracks with their length and width.
    List,
    /// Length, width and the minimum lap time of a track.
    Info {
        /// A bundled name, random:SEED, or a .json/.npy file.
        track: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Draws a track from above with its racing line.
    Show {
        track: String,
        /// Where to write the PNG.
        #[arg(long)]
        png: PathBuf,
        /// Pixels per metre.
        #[arg(long, default_value_t = 60.0)]
        scale: f32,
    },
    /// Imports a DeepRacer .npy route file into Paddock's JSON track format.
    Import {
        /// The .npy file (N x 6: centre, inner, outer).
        file: PathBuf,
        /// Output file; default: the track's name with .json, beside the input file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SimCommand {
    /// Renders what the car's sensor sees at a place on a track.
    Render {
        #[arg(long)]
        track: String,
        /// Output PNG (for lidar: a top-down plot of the ranges).
        #[arg(long)]
        out: PathBuf,
        /// Where along the lap, percent from the start line.
        #[arg(long, default_value_t = 0.0)]
        progress: f64,
        /// Metres left of the centre line (negative: right).
        #[arg(long, default_value_t = 0.0)]
        lateral: f64,
        /// Degrees from the track's direction (positive: turned left).
        #[arg(long, default_value_t = 0.0)]
        heading: f64,
        #[arg(long, value_enum, default_value_t = SensorArg::Camera)]
        sensor: SensorArg,
        /// Boxes on the track, as in object avoidance.
        #[arg(long, default_value_t = 0)]
        obstacles: usize,
        /// Other cars on the track, as in head-to-bot racing.
        #[arg(long, default_value_t = 0)]
        bot_cars: usize,
        /// Drive the track the other way round (DeepRacer's clockwise direction).
        #[arg(long)]
        reverse: bool,
    },
    /// Drives one lap with the scripted pure-pursuit driver (a baseline, no learning) and
    /// compares its lap time with the track's minimum.
    Drive {
        #[arg(long, default_value = "circuit")]
        track: String,
        /// Target speed, m/s.
        #[arg(long, default_value_t = 1.5)]
        speed: f32,
        /// Also draw the driven line over the racing line into this PNG.
        #[arg(long)]
        png: Option<PathBuf>,
        /// Drive the track the other way round (DeepRacer's clockwise direction).
        #[arg(long)]
        reverse: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Env steps per second for camera, lidar and state observations, one thread and all.
    Sim(bench::SimBenchArgs),
    /// End-to-end training throughput of a config: env steps/s, rollout plus update; runs
    /// `paddock-train bench` (see its --help).
    #[command(disable_help_flag = true)]
    Train {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SensorArg {
    Camera,
    Stereo,
    Lidar,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Tracks(cmd) => tracks(cmd),
        Command::Sim(SimCommand::Render { track, out, progress, lateral, heading, sensor, obstacles, bot_cars, reverse }) => {
            let t = load_directed(&track, reverse)?;
            render(&t, &out, Place { progress, lateral, heading }, sensor, obstacles, bot_cars)
        }
        Command::Sim(SimCommand::Drive { track, speed, png, json, reverse }) => drive(load_directed(&track, reverse)?, speed, png.as_deref(), json),
        Command::Train { args } => handover::to_trainer("run", &args),
        Command::Eval(args) => eval::eval_cmd(&args),
        Command::Gui { args } => handover::to_gui(&args),
        Command::Export(args) => export::export(&args),
        Command::Bench(BenchCommand::Sim(args)) => bench::sim(&args),
        Command::Bench(BenchCommand::Train { args }) => handover::to_trainer("bench", &args),
        Command::Worker(WorkerCommand::Serve { listen, token, insecure, tls_cert, tls_key }) => {
            let token = token.or_else(|| std::env::var("PADDOCK_WORKER_TOKEN").ok().filter(|t| !t.is_empty()));
            let tls = tls_cert.zip(tls_key).map(|(cert, key)| paddock_sandbox::grpc::ServerTls { cert, key });
            paddock_sandbox::grpc::run_remote_worker(listen, token, insecure, tls).map_err(|e| anyhow::anyhow!("worker: {e}"))
        }
    }
}

fn load(track: &str) -> Result<Track> {
    Track::resolve(track).with_context(|| format!("loading track '{track}'"))
}

fn load_directed(track: &str, reverse: bool) -> Result<Track> {
    let t = load(track)?;
    Ok(if reverse { t.reversed() } else { t })
}

fn tracks(cmd: TracksCommand) -> Result<()> {
    let car = CarSpec::deepracer();
    match cmd {
        TracksCommand::List => {
            println!("{:<12} {:>9} {:>9}  description", "name", "length m", "width m");
            for name in Track::builtin_names() {
                let t = load(name)?;
                println!("{:<12} {:>9.2} {:>9.2}  {}", name, t.length(), t.mean_width(), t.description());
            }
            println!("{:<12} {:>9} {:>9}  a procedural loop (any number as the seed)", "random:SEED", "18-35", "0.76-1.07");
            Ok(())
        }
        TracksCommand::Info { track, json } => {
            let t = load(&track)?;
            let line = RacingLine::compute(&t, &lap_limits(&car)).context("computing the racing line")?;
            let info = serde_json::json!({
                "name": t.name(),
                "closed": t.is_closed(),
                "waypoints": t.waypoints().len(),
                "length_m": t.length(),
                "min_width_m": t.min_width(),
                "mean_width_m": t.mean_width(),
                "crossings": t.crossings(),
                "racing_line_length_m": line.length,
                "min_lap_time_s": line.lap_time,
                "car": { "top_speed_mps": car.max_speed_mps, "lateral_grip_mps2": car.max_lateral_accel_mps2() },
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("track          {}", t.name());
                println!(
                    "shape          {}{}",
                    if t.is_closed() { "loop" } else { "open" },
                    if t.crossings() > 0 { format!(", crosses itself {} time(s)", t.crossings()) } else { String::new() }
                );
                println!("waypoints      {}", t.waypoints().len());
                println!("length         {:.2} m", t.length());
                println!("width          {:.2} m (narrowest {:.2} m)", t.mean_width(), t.min_width());
                println!("racing line    {:.2} m", line.length);
                println!("min lap time   {:.2} s (top speed {} m/s, grip {:.1} m/s^2)", line.lap_time, car.max_speed_mps, car.max_lateral_accel_mps2());
            }
            Ok(())
        }
        TracksCommand::Show { track, png, scale } => {
            let t = load(&track)?;
            let line = RacingLine::compute(&t, &lap_limits(&car)).context("computing the racing line")?;
            let image = topdown::render_top_down(&t, Some(&line), &[], scale);
            image.save(&png).with_context(|| format!("writing {}", png.display()))?;
            println!("wrote {} ({}x{} px; minimum lap time {:.2} s)", png.display(), image.width(), image.height(), line.lap_time);
            Ok(())
        }
        TracksCommand::Import { file, out } => {
            let t = Track::from_npy_file(&file).with_context(|| format!("importing {}", file.display()))?;
            let out = out.unwrap_or_else(|| file.with_file_name(format!("{}.json", t.name())));
            paddock_run::write_atomic(&out, t.to_json_string().as_bytes())?;
            println!(
                "imported {}: {} waypoints, {:.2} m {}, {:.2} m wide{} -> {}",
                t.name(),
                t.waypoints().len(),
                t.length(),
                if t.is_closed() { "loop" } else { "open track" },
                t.mean_width(),
                if t.crossings() > 0 { format!(", crosses itself {} time(s)", t.crossings()) } else { String::new() },
                out.display()
            );
            Ok(())
        }
    }
}

/// Where to put the car: percent of the lap, metres left of centre, degrees off the track's heading.
struct Place {
    progress: f64,
    lateral: f64,
    heading: f64,
}

fn render(t: &Track, out: &PathBuf, place: Place, sensor: SensorArg, obstacles: usize, bot_cars: usize) -> Result<()> {
    let Place { progress, lateral, heading } = place;
    let t = t.clone();
    let observation = match sensor {
        SensorArg::Camera => Sensor::Camera,
        SensorArg::Stereo => Sensor::Stereo,
        SensorArg::Lidar => Sensor::Lidar,
    };
    let config = EnvConfig { observation, obstacles, bot_cars, ..EnvConfig::default() };
    let car = config.car.clone();
    let scene = Arc::new(TrackScene::new(t));
    let mut env = Env::new(Arc::new(config), scene.clone(), paddock_sim::builtin_reward("progress")?, 0)?;
    if !(0.0..=100.0).contains(&progress) {
        bail!("--progress {progress} must be between 0 and 100");
    }
    env.reset(0, Start::At { progress, lateral_m: lateral, heading_offset_rad: heading.to_radians() });
    let (w, h) = (car.camera.width_px, car.camera.height_px);
    match sensor {
        SensorArg::Camera | SensorArg::Stereo => {
            let mut frame = vec![0u8; observation.len(&car)];
            env.observe(ObsMut::U8(&mut frame))?;
            if matches!(sensor, SensorArg::Camera) {
                sensors::write_gray_png(out, w, h, &frame)?;
            } else {
                sensors::write_stereo_png(out, w, h, &frame)?;
            }
        }
        SensorArg::Lidar => {
            let mut ranges = vec![0f32; observation.len(&car)];
            env.observe(ObsMut::F32(&mut ranges))?;
            let pose = env.pose();
            let p = pose.position.truncate();
            let yaw = pose.yaw();
            let n = ranges.len();
            // Each ray as a line from the car to what it hit.
            let rays: Vec<[glam::Vec2; 2]> = ranges
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let a = yaw - car.lidar.half_fov_rad + 2.0 * car.lidar.half_fov_rad * i as f32 / (n - 1) as f32;
                    [p, p + glam::Vec2::new(a.cos(), a.sin()) * *r]
                })
                .collect();
            let traces: Vec<(&[glam::Vec2], [u8; 3])> = rays.iter().map(|r| (&r[..], [255, 60, 200])).collect();
            let image = topdown::render_top_down(scene.track(), None, &traces, 80.0);
            image.save(out).with_context(|| format!("writing {}", out.display()))?;
        }
    }
    let p = env.params();
    println!("wrote {}: car at ({:.2}, {:.2}) m, heading {:.1} deg, {:.2} m from centre", out.display(), p.x, p.y, p.heading, p.distance_from_center);
    Ok(())
}

fn drive(t: Track, speed: f32, png: Option<&std::path::Path>, json: bool) -> Result<()> {
    let car = CarSpec::deepracer();
    if !(car.min_speed_mps..=car.max_speed_mps).contains(&speed) {
        bail!("--speed {speed} must be within the car's {}..{} m/s", car.min_speed_mps, car.max_speed_mps);
    }
    let line = RacingLine::compute(&t, &lap_limits(&car)).context("computing the racing line")?;
    let config = EnvConfig { observation: Sensor::State, action_space: paddock_sim::ActionSpace::full_continuous(&car), ..EnvConfig::default() };
    let scene = Arc::new(TrackScene::new(t));
    let mut env = Env::new(Arc::new(config), scene.clone(), paddock_sim::builtin_reward("progress")?, 0)?;
    env.reset(0, Start::At { progress: 0.0, lateral_m: 0.0, heading_offset_rad: 0.0 });
    let driver = paddock_sim::driver::PurePursuit { speed, ..Default::default() };
    let mut trace = vec![env.pose().position.truncate()];
    while !env.status().is_done() {
        env.step(driver.act(&env))?;
        trace.push(env.pose().position.truncate());
    }
    let summary = env.summary();
    let completed = summary.status == paddock_sim::EpisodeStatus::LapComplete;
    if let Some(png) = png {
        let image = topdown::render_top_down(scene.track(), Some(&line), &[(&trace, [30, 120, 255])], 60.0);
        image.save(png).with_context(|| format!("writing {}", png.display()))?;
    }
    let report = serde_json::json!({
        "track": scene.track().name(),
        "reversed": scene.track().is_reversed(),
        "driver": "pure_pursuit",
        "target_speed_mps": speed,
        "status": summary.status.as_str(),
        "progress": summary.progress,
        "lap_time_s": completed.then_some(summary.time_s),
        "min_lap_time_s": line.lap_time,
        "ratio_to_min": completed.then(|| summary.time_s as f64 / line.lap_time),
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if completed {
        println!(
            "{}: pure-pursuit lap at {speed} m/s in {:.2} s; minimum lap time {:.2} s (ratio {:.2})",
            scene.track().name(),
            summary.time_s,
            line.lap_time,
            summary.time_s as f64 / line.lap_time
        );
    } else {
        println!("{}: the lap ended {} at {:.1} % after {:.2} s", scene.track().name(), summary.status.as_str(), summary.progress, summary.time_s);
    }
    if let Some(png) = png {
        println!("wrote {}", png.display());
    }
    Ok(())
}
