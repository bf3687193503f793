//! `paddock-train`: the one binary that links libtorch. `paddock train ...` and
//! `paddock bench train ...` hand over to it, so every other command runs without PyTorch.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use paddock_run::{read_metrics, RunConfig};
use paddock_trainer::{train, TrainOptions};
use serde::Serialize;

#[derive(Parser)]
#[command(name = "paddock-train", version, about = "Paddock's trainer (PPO and SAC on libtorch); `paddock train` runs it.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a policy (PPO or SAC) as a config says (`paddock train`).
    Run(TrainArgs),
    /// End-to-end training throughput of a config: env steps/s, rollout plus update (`paddock bench train`).
    Bench(BenchArgs),
}

#[derive(Args)]
struct TrainArgs {
    /// The run's TOML config (see examples/); not needed with --resume.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The run folder (default: runs/<config name>-<unix time>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in this folder from its latest checkpoint.
    #[arg(long, conflicts_with_all = ["config", "out"])]
    resume: Option<PathBuf>,
    /// Start from this model's weights (a model file or run folder), as DeepRacer's clone.
    #[arg(long)]
    from: Option<PathBuf>,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// The training config to measure (its stop conditions are replaced).
    #[arg(long)]
    config: PathBuf,
    /// Training iterations to run.
    #[arg(long, default_value_t = 10)]
    iterations: u64,
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => train_cmd(&args),
        Command::Bench(args) => bench(&args),
    }
}

fn train_cmd(args: &TrainArgs) -> Result<()> {
    let (config, out, resume) = match (&args.resume, &args.config) {
        (Some(dir), _) => (RunConfig::default(), dir.clone(), true),
        (None, Some(path)) => {
            let config = RunConfig::from_toml_file(path)?;
            let out = match &args.out {
                Some(o) => o.clone(),
                None => {
                    let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "run".into());
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                    PathBuf::from("runs").join(format!("{stem}-{now}"))
                }
            };
            (config, out, false)
        }
        (None, None) => bail!("give --config FILE to start a run, or --resume DIR to continue one"),
    };
    let options = TrainOptions { out: out.clone(), resume, from: args.from.clone(), progress: !args.quiet };
    eprintln!("{} run in {}", if resume { "Resuming the" } else { "Training; the" }, out.display());
    let summary = train(config, &options)?;
    println!(
        "trained {} iterations, {} env steps, {} episodes in {:.0} s ({}); last iteration's completion {:.0}%, best training lap {}",
        summary.iterations,
        summary.env_steps,
        summary.episodes,
        summary.wall_time_s,
        summary.stopped_because,
        summary.completion_rate * 100.0,
        summary.best_lap_s.map_or("-".into(), |b| format!("{b:.2} s")),
    );
    println!("model: {}", summary.model.display());
    Ok(())
}

#[derive(Serialize)]
struct TrainBench {
    config: String,
    iterations: u64,
    env_steps: u64,
    /// Env steps per second of rollout plus update, the end-to-end training rate.
    steps_per_s: f64,
    /// Env steps per second while the workers collect.
    rollout_steps_per_s: f64,
    /// Experience samples per second through the update.
    update_samples_per_s: f64,
    rollout_share: f64,
}

/// End-to-end training throughput (rollout plus update) of a config, from its metrics.
fn bench(args: &BenchArgs) -> Result<()> {
    let mut config = RunConfig::from_toml_file(&args.config)?;
    config.stop =
        paddock_run::config::StopConfig { iterations: Some(args.iterations), wall_time_minutes: None, episodes: None, completion_rate: None, eval_laps: 1 };
    let out = std::env::temp_dir().join(format!("paddock-bench-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let options = TrainOptions { out: out.clone(), resume: false, from: None, progress: false };
    let summary = train(config, &options);
    let metrics = read_metrics(&out.join("metrics.jsonl"));
    std::fs::remove_dir_all(&out).ok();
    let summary = summary?;
    let (mut steps, mut rollout_s, mut update_s) = (0.0, 0.0, 0.0);
    for m in metrics? {
        steps += m.iteration_steps as f64;
        rollout_s += m.rollout_s;
        update_s += m.update_s;
    }
    let r = TrainBench {
        config: args.config.display().to_string(),
        iterations: summary.iterations,
        env_steps: summary.env_steps,
        steps_per_s: steps / (rollout_s + update_s),
        rollout_steps_per_s: steps / rollout_s,
        update_samples_per_s: steps / update_s,
        rollout_share: rollout_s / (rollout_s + update_s),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "{}: {} iterations, {} env steps: {:.0} steps/s end to end (rollout {:.0} steps/s, update {:.0} samples/s; rollout {:.0}% of the time)",
            r.config,
            r.iterations,
            r.env_steps,
            r.steps_per_s,
            r.rollout_steps_per_s,
            r.update_samples_per_s,
            r.rollout_share * 100.0
        );
    }
    Ok(())
}
