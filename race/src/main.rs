//! `paddock-race`: the class race server and its command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use paddock_eval::WorkerEval;
use paddock_race::client::Client;
use paddock_race::config::RaceConfig;
use paddock_race::db::Db;
use paddock_race::evaluator::{self, EvaluatorConfig};
use paddock_race::web::{self, AppState, Changes};
use serde_json::json;

#[derive(Parser)]
#[command(name = "paddock-race", version, about = "Class races: a race server with a live leaderboard, its evaluators and its command line.")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args, Clone)]
struct EvalArgs {
    /// Evaluators in this process (default: one per core; 0: none, evaluate elsewhere).
    #[arg(long)]
    evaluators: Option<usize>,
    /// The paddock-worker binary that evaluates in the sandbox (default: beside this program).
    #[arg(long)]
    worker: Option<PathBuf>,
    /// Run the worker without the process sandbox (only where user namespaces are off).
    #[arg(long)]
    no_sandbox: bool,
    /// Seconds an evaluator's claim holds without renewal (a dead evaluator's job returns to
    /// the queue after this).
    #[arg(long, default_value_t = 10.0)]
    lease_s: f64,
    /// Seconds one evaluation may take.
    #[arg(long, default_value_t = 600)]
    eval_timeout_s: u64,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the pages and the API, and evaluate submissions.
    Serve {
        /// `race.sqlite` (created on first start) or `postgres://user:pass@host/db`.
        #[arg(long, default_value = "race.sqlite")]
        db: String,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Require this key to create races (PADDOCK_RACE_CREATE_KEY works too).
        #[arg(long, env = "PADDOCK_RACE_CREATE_KEY")]
        create_key: Option<String>,
        #[command(flatten)]
        eval: EvalArgs,
    },
    /// Evaluate submissions from the database, alongside a server (PostgreSQL for other machines).
    Evaluator {
        #[arg(long)]
        db: String,
        #[command(flatten)]
        eval: EvalArgs,
    },
    /// Open a race from a race.toml; prints its id, organiser token and invite code.
    Create {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long, env = "PADDOCK_RACE_CREATE_KEY")]
        create_key: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Join a race with its invite code; prints the racer token.
    Join {
        race: String,
        #[arg(long)]
        invite: String,
        #[arg(long)]
        alias: String,
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
    },
    /// Submit a model file, or a run folder's latest exported model.
    Submit {
        model: PathBuf,
        #[arg(long)]
        race: String,
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long, env = "PADDOCK_RACE_TOKEN")]
        token: String,
        /// Wait until it is evaluated and print the laps.
        #[arg(long)]
        wait: bool,
    },
    /// A submission's state and laps, or (with no submission) your submissions.
    Status {
        #[arg(long)]
        race: String,
        submission: Option<String>,
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long, env = "PADDOCK_RACE_TOKEN")]
        token: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The leaderboard.
    Results {
        #[arg(long)]
        race: String,
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long, env = "PADDOCK_RACE_TOKEN")]
        token: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Serve { db, listen, create_key, eval } => {
            runtime()?.block_on(serve(&db, listen, create_key.or_else(|| std::env::var("PADDOCK_RACE_CREATE_KEY").ok()), eval))
        }
        Cmd::Evaluator { db, eval } => runtime()?.block_on(async {
            let db = Db::open(&db).await?;
            let config = evaluator_config(&eval)?;
            eprintln!("paddock-race: {} evaluators on the database's queue", config.count);
            for h in evaluator::spawn(db, config) {
                h.await?;
            }
            Ok(())
        }),
        Cmd::Create { config, server, create_key, json } => {
            let text = std::fs::read_to_string(&config).with_context(|| format!("reading {}", config.display()))?;
            let mut race = RaceConfig::from_toml(&text)?;
            let track_json = local_track(&mut race, config.parent().unwrap_or(Path::new(".")))?;
            // Check here first: the same checks the server makes, with the file's own names.
            race.check(track_json.as_deref(), 0).with_context(|| format!("{} would not make a race", config.display()))?;
            let client = Client::new(&server, None);
            let body = json!({ "config": race, "track_json": track_json });
            let created = match create_key {
                Some(key) => Client::new(&server, Some(key)).post_json("/api/races", &body),
                None => client.post_json("/api/races", &body),
            }?;
            if json {
                println!("{created}");
            } else {
                let id = created["race_id"].as_str().unwrap_or("");
                println!("Race '{}' is open: {server}/races/{id}", race.name);
                println!("  organiser token (keep it; shown once): {}", created["admin_token"].as_str().unwrap_or(""));
                println!("  invite code for racers:               {}", created["invite_code"].as_str().unwrap_or(""));
            }
            Ok(())
        }
        Cmd::Join { race, invite, alias, server } => {
            let joined = Client::new(&server, None).post_json(&format!("/api/races/{race}/join"), &json!({ "invite_code": invite, "alias": alias }))?;
            println!("Joined as {}. Your racer token (keep it): {}", joined["alias"].as_str().unwrap_or(""), joined["token"].as_str().unwrap_or(""));
            Ok(())
        }
        Cmd::Submit { model, race, server, token, wait } => {
            let path = paddock_run::resolve_model_path(&model);
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let client = Client::new(&server, Some(token));
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model.safetensors".into());
            let sent = client.post_file(&format!("/api/races/{race}/submissions"), &name, &bytes)?;
            let id = sent["submission"]["id"].as_str().unwrap_or("").to_string();
            println!("Submitted {} as {id}; {} ahead in the queue", path.display(), sent["queue_ahead"]);
            if wait {
                loop {
                    let s = client.get(&format!("/api/races/{race}/submissions/{id}"))?;
                    let state = s["submission"]["state"].as_str().unwrap_or("").to_string();
                    if state != "queued" && state != "running" {
                        print_submission(&s);
                        if state != "done" {
                            bail!("the submission was {state}");
                        }
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
            }
            Ok(())
        }
        Cmd::Status { race, submission, server, token, json } => {
            let client = Client::new(&server, token);
            let value = match &submission {
                Some(id) => client.get(&format!("/api/races/{race}/submissions/{id}"))?,
                None => client.get(&format!("/api/races/{race}/submissions"))?,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else if submission.is_some() {
                print_submission(&value);
            } else {
                for s in value.as_array().into_iter().flatten() {
                    println!(
                        "{}  {:<9} {}  {}",
                        s["id"].as_str().unwrap_or(""),
                        s["state"].as_str().unwrap_or(""),
                        s["file_name"].as_str().unwrap_or(""),
                        s["message"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        Cmd::Results { race, server, token, json } => {
            let board = Client::new(&server, token).get(&format!("/api/races/{race}/leaderboard"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&board)?);
                return Ok(());
            }
            println!("{}", board["race"]["name"].as_str().unwrap_or(""));
            for (title, key) in [("public", "public"), ("private (hidden tracks)", "private")] {
                let Some(rows) = board[key].as_array() else { continue };
                println!("\n{title}\n{:>4}  {:<24} {:>10} {:>9} {:>6} {:>9} {:>10}", "rank", "racer", "time s", "gap s", "laps", "off-track", "collisions");
                for r in rows {
                    let f = |v: &serde_json::Value| v.as_f64().map(|x| format!("{x:.3}")).unwrap_or_else(|| "-".into());
                    println!(
                        "{:>4}  {:<24} {:>10} {:>9} {:>6} {:>9} {:>10}",
                        r["rank"].as_u64().map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                        r["alias"].as_str().unwrap_or(""),
                        f(&r["score"]),
                        f(&r["gap_s"]),
                        format!("{}/{}", r["completed_laps"], r["laps"]),
                        r["off_tracks"],
                        r["collisions"]
                    );
                }
            }
            Ok(())
        }
    }
}

fn print_submission(s: &serde_json::Value) {
    let sub = &s["submission"];
    println!(
        "{} by {}: {} {}",
        sub["id"].as_str().unwrap_or(""),
        sub["alias"].as_str().unwrap_or(""),
        sub["state"].as_str().unwrap_or(""),
        sub["message"].as_str().unwrap_or("")
    );
    for e in s["evaluations"].as_array().into_iter().flatten() {
        println!("  {} track {}: score {}", e["board"].as_str().unwrap_or(""), e["track"].as_str().unwrap_or(""), e["score"]);
        for l in e["laps"].as_array().into_iter().flatten() {
            println!(
                "    lap {}: {:.3} s{}, {} off-track, {} collisions",
                l["lap"],
                l["time_s"].as_f64().unwrap_or(0.0),
                if l["completed"].as_bool() == Some(true) { "" } else { " (not completed)" },
                l["off_tracks"],
                l["collisions"]
            );
        }
    }
}

/// A track file named in race.toml (relative to it) becomes JSON sent with the config.
fn local_track(race: &mut RaceConfig, dir: &Path) -> Result<Option<String>> {
    let t = race.track.clone();
    if !(t.ends_with(".npy") || t.ends_with(".json")) {
        return Ok(None);
    }
    let path = dir.join(&t);
    let track = paddock_tracks::Track::resolve(&path.to_string_lossy()).with_context(|| format!("reading the track {}", path.display()))?;
    race.track = track.name().to_string();
    Ok(Some(track.to_json_string()))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn evaluator_config(args: &EvalArgs) -> Result<EvaluatorConfig> {
    let worker = match &args.worker {
        Some(w) => w.clone(),
        None => paddock_eval::worker::find_worker().map_err(anyhow::Error::msg)?,
    };
    let run = WorkerEval { worker, sandbox: !args.no_sandbox, memory_mb: 2048, timeout: Duration::from_secs(args.eval_timeout_s) };
    let mut config = EvaluatorConfig::new(run);
    if let Some(n) = args.evaluators {
        config.count = n;
    }
    if !(args.lease_s > 0.0 && args.lease_s.is_finite()) {
        bail!("--lease-s must be positive");
    }
    config.lease = Duration::from_secs_f64(args.lease_s);
    Ok(config)
}

async fn serve(db_url: &str, listen: SocketAddr, create_key: Option<String>, eval: EvalArgs) -> Result<()> {
    let db = Db::open(db_url).await?;
    let config = evaluator_config(&eval)?;
    let count = config.count;
    if count > 0 {
        evaluator::spawn(db.clone(), config);
    }
    let state = AppState { changes: Changes::follow(db.clone(), Duration::from_millis(250)), db, create_key: create_key.map(std::sync::Arc::new) };
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    eprintln!("paddock-race: serving http://{} with {count} evaluators", listener.local_addr()?);
    // No graceful shutdown: everything is in the database, and a killed server loses nothing.
    // (tokio's `signal` feature, unified into the sandboxed paddock-worker's build, would make
    // its runtime open a socket pair that the sandbox refuses.)
    axum::serve(listener, web::router(state)).await?;
    Ok(())
}
