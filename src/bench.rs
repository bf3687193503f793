//! `paddock bench sim`: env steps per second through `VecEnv`, as training would drive it.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use paddock_sim::action::Action;
use paddock_sim::driver::PurePursuit;
use paddock_sim::Sensor;
use paddock_sim::{ActionSpace, EnvConfig, TrackScene, VecEnv};
use paddock_tracks::Track;
use rayon::prelude::*;
use serde::Serialize;

#[derive(Args)]
pub struct SimBenchArgs {
    /// Track to drive.
    #[arg(long, default_value = "circuit")]
    track: String,
    /// Envs in the batch.
    #[arg(long, default_value_t = 32)]
    envs: usize,
    /// Seconds measured per observation kind and thread count.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Observation kinds to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "camera,stereo,lidar,state")]
    observations: Vec<String>,
    /// Print JSON (one object per observation kind) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct KindResult {
    observation: String,
    envs: usize,
    threads: usize,
    /// Env steps per second with all threads.
    steps_per_s: f64,
    steps_per_s_one_thread: f64,
    /// Microseconds of one core per env step, from the one-thread run.
    us_per_step_one_core: f64,
}

pub fn sim(args: &SimBenchArgs) -> Result<()> {
    let track = Track::resolve(&args.track).with_context(|| format!("loading track '{}'", args.track))?;
    let scene = Arc::new(TrackScene::new(track));
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut results = Vec::new();
    for name in &args.observations {
        let kind: Sensor = serde_json::from_value(serde_json::Value::String(name.clone()))
            .with_context(|| format!("unknown observation '{name}' (camera, stereo, lidar, state)"))?;
        let one = measure(&scene, kind, args.envs, 1, args.seconds)?;
        let many = if all > 1 { measure(&scene, kind, args.envs, all, args.seconds)? } else { one };
        results.push(KindResult {
            observation: name.clone(),
            envs: args.envs,
            threads: all,
            steps_per_s: many,
            steps_per_s_one_thread: one,
            us_per_step_one_core: 1e6 / one,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("track {}, {} envs, pure-pursuit driver, {} s per run", args.track, args.envs, args.seconds);
        println!("{:<12} {:>16} {:>16} {:>10} {:>14}", "observation", "steps/s 1 thread", "steps/s all", "threads", "us/step/core");
        for r in &results {
            println!("{:<12} {:>16.0} {:>16.0} {:>10} {:>14.1}", r.observation, r.steps_per_s_one_thread, r.steps_per_s, r.threads, r.us_per_step_one_core);
        }
    }
    Ok(())
}

/// Env steps per second of a VecEnv on `threads` threads, actions from a pure-pursuit driver.
fn measure(scene: &Arc<TrackScene>, kind: Sensor, envs: usize, threads: usize, seconds: f64) -> Result<f64> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    pool.install(|| {
        let config = EnvConfig {
            observation: kind,
            action_space: ActionSpace::full_continuous(&paddock_vehicle::CarSpec::deepracer()),
            start_jitter_m: 0.1,
            ..EnvConfig::default()
        };
        let mut v = VecEnv::new(config, scene.clone(), envs, 1, || Box::new(paddock_sim::reward::ProgressPerStep::default()))?;
        let driver = PurePursuit { speed: 2.0, ..PurePursuit::default() };
        let mut actions = vec![Action::Discrete(0); envs];
        let step = |v: &mut VecEnv, actions: &mut Vec<Action>| -> Result<()> {
            actions.par_iter_mut().zip(v.envs().par_iter()).for_each(|(a, e)| *a = driver.act(e));
            v.step(actions)?;
            Ok(())
        };
        for _ in 0..5 {
            step(&mut v, &mut actions)?;
        }
        let start = Instant::now();
        let mut steps = 0usize;
        while start.elapsed().as_secs_f64() < seconds {
            step(&mut v, &mut actions)?;
            steps += envs;
        }
        Ok(steps as f64 / start.elapsed().as_secs_f64())
    })
}
