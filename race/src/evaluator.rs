//! Evaluators: each takes the next submission from the database, drives it in a sandboxed
//! `paddock-worker evaluate` process (a model file is untrusted input) on the race's track and
//! then on each hidden track, and stores the laps and the score. `serve` runs a pool of them;
//! `paddock-race evaluator` runs one on another machine against the same PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use paddock_eval::{EvalJob, WorkerEval, WorkerEvalError};

use crate::db::Db;
use crate::queue::{self, Claim, Outcome, TrackResult};
use crate::ranking::{self, Lap};
use crate::{store, RaceError};

/// How evaluators run.
#[derive(Debug, Clone)]
pub struct EvaluatorConfig {
    /// Evaluators in this process (one per core by default).
    pub count: usize,
    pub worker: WorkerEval,
    /// How long a claim holds without renewal; renewed every third of it.
    pub lease: Duration,
    /// How often an idle evaluator looks for work.
    pub poll: Duration,
    /// A name for this process's evaluators in the database (host and pid by default).
    pub name: String,
}

impl EvaluatorConfig {
    /// The defaults around `worker`: one evaluator per core, a 10 s lease.
    pub fn new(worker: WorkerEval) -> EvaluatorConfig {
        let count = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "host".into());
        EvaluatorConfig {
            count,
            worker,
            lease: Duration::from_secs(10),
            poll: Duration::from_millis(200),
            name: format!("{}-{}", host.trim(), std::process::id()),
        }
    }
}

/// Starts `config.count` evaluators on the runtime; they run until the process ends.
pub fn spawn(db: Db, config: EvaluatorConfig) -> Vec<tokio::task::JoinHandle<()>> {
    let config = Arc::new(config);
    (0..config.count)
        .map(|i| {
            let (db, config) = (db.clone(), config.clone());
            tokio::spawn(async move { run(db, config, i).await })
        })
        .collect()
}

/// One evaluator's loop: claim, evaluate, store; database errors are logged and retried.
pub async fn run(db: Db, config: Arc<EvaluatorConfig>, index: usize) {
    let name = format!("{}#{index}", config.name);
    loop {
        match step(&db, &config, &name).await {
            Ok(true) => {}
            Ok(false) => tokio::time::sleep(config.poll).await,
            Err(e) => {
                eprintln!("paddock-race: evaluator {name}: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Evaluates one submission if one is waiting; returns whether it did.
pub async fn step(db: &Db, config: &EvaluatorConfig, name: &str) -> Result<bool, RaceError> {
    let lease_ms = config.lease.as_millis() as i64;
    let Some(claim) = queue::claim(db, name, lease_ms).await? else {
        return Ok(false);
    };
    // Renew the claim while the evaluation runs; a lost claim's results will be refused anyway.
    let renewer = {
        let (db, claim) = (db.clone(), claim.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis((lease_ms / 3).max(50) as u64)).await;
                // A busy database is tried again at the next tick; only a lost claim stops.
                if let Ok(false) = queue::renew(&db, &claim, lease_ms).await {
                    break;
                }
            }
        })
    };
    let outcome = evaluate(db, config, &claim).await;
    renewer.abort();
    // An evaluation that could not run (its race or model unreadable) is retried, then fails.
    let outcome = outcome.unwrap_or_else(|e| Outcome::Failed(e.to_string()));
    if !queue::finish(db, &claim, outcome).await? {
        eprintln!("paddock-race: evaluator {name}: lost the claim on {}; its result was not stored", claim.submission_id);
    }
    Ok(true)
}

async fn evaluate(db: &Db, config: &EvaluatorConfig, claim: &Claim) -> Result<Outcome, RaceError> {
    let race = store::race(db, &claim.race_id).await?;
    let model = queue::model_bytes(db, &claim.model_sha256).await?;
    let options = race.config.eval_options(race.seed);
    let mut tracks = vec![("public", race.config.track.clone(), race.track_json.clone())];
    tracks.extend(race.hidden.iter().map(|(name, json)| ("private", name.clone(), json.clone())));
    let worker = config.worker.clone();
    let rules = race.config.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut results = Vec::new();
        for (board, track_name, track_json) in tracks {
            let job = EvalJob { track_json, track_name: track_name.clone(), options: options.clone() };
            match worker.run(&job, &model) {
                Ok(report) => {
                    let laps: Vec<Lap> = report.laps.iter().map(|l| Lap { completed: l.completed, time_s: l.time_s }).collect();
                    results.push(TrackResult { board, track_name, score: ranking::score(&rules, &laps), report });
                }
                Err(WorkerEvalError::Refused(why)) => return Outcome::Refused(why),
                Err(e) => return Outcome::Failed(e.to_string()),
            }
        }
        Outcome::Done(results)
    })
    .await
    .map_err(|e| RaceError::Database(format!("evaluation task: {e}")))?;
    Ok(outcome)
}
