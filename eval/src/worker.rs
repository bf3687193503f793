//! Evaluations of untrusted models in another process: the race server's evaluators hand a
//! submitted model to `paddock-worker evaluate --sandbox` (the sandbox crate's worker), which
//! enters the process sandbox before it reads a byte of it, drives the laps and prints the report.
//! This is the host's half and the wire format; the worker's half is
//! `paddock_sandbox::evaluation`.
//!
//! On the wire: standard input carries one line of JSON ([`EvalJob`]) and then the model file's
//! bytes to the end; standard output carries the [`EvalReport`] as JSON. The exit status tells a
//! refused model ([`REFUSED_EXIT`]: the submitter's problem, never worth retrying) from a worker
//! that failed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::{EvalOptions, EvalReport};

/// The exit status of a worker that refused the model (it does not load or does not fit).
pub const REFUSED_EXIT: i32 = 3;

/// Largest model a worker reads, bytes.
pub const MAX_MODEL_BYTES: usize = 256 << 20;
/// Largest report a host reads back, bytes.
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

/// What to evaluate, besides the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalJob {
    /// The track in Paddock's JSON format (already turned for the direction driven).
    pub track_json: String,
    /// Its name in the report.
    pub track_name: String,
    pub options: EvalOptions,
}

/// Why a sandboxed evaluation gave no report.
#[derive(Debug, thiserror::Error)]
pub enum WorkerEvalError {
    /// The model does not load or does not fit the race: the submission's fault.
    #[error("the model was refused: {0}")]
    Refused(String),
    /// Ran past its time; the worker was killed.
    #[error("the evaluation took longer than {0:?} and was stopped")]
    Timeout(Duration),
    /// The worker could not be started, died or printed no report: not the model's fault as
    /// far as anyone can tell, so worth another try.
    #[error("the evaluation worker failed: {0}")]
    Worker(String),
}

/// How the host runs the worker.
#[derive(Debug, Clone)]
pub struct WorkerEval {
    /// The `paddock-worker` binary.
    pub worker: PathBuf,
    /// Enter the process sandbox (off only for tests of the plumbing on machines without user
    /// namespaces).
    pub sandbox: bool,
    /// Address-space limit inside, MB.
    pub memory_mb: u64,
    /// Wall-clock limit for the whole evaluation.
    pub timeout: Duration,
}

impl WorkerEval {
    /// Runs `job` on `model` in a fresh worker process and returns its report.
    pub fn run(&self, job: &EvalJob, model: &[u8]) -> Result<EvalReport, WorkerEvalError> {
        let mut command = Command::new(&self.worker);
        command.arg("evaluate").arg("--memory-mb").arg(self.memory_mb.to_string());
        if self.sandbox {
            command.arg("--sandbox");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| WorkerEvalError::Worker(format!("cannot start {}: {e}", self.worker.display())))?;
        let header = serde_json::to_string(job).map_err(|e| WorkerEvalError::Worker(e.to_string()))?;
        let mut stdin = child.stdin.take().expect("piped");
        let model = model.to_vec();
        // Writing in a thread: a worker that stops reading must not block the host.
        let writer = std::thread::spawn(move || -> std::io::Result<()> {
            stdin.write_all(header.as_bytes())?;
            stdin.write_all(b"\n")?;
            stdin.write_all(&model)
        });
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            stdout.take(MAX_REPORT_BYTES).read_to_end(&mut out).map(|_| out)
        });
        let errors = std::thread::spawn(move || {
            let mut err = String::new();
            let _ = stderr.take(64 << 10).read_to_string(&mut err);
            err
        });
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > self.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(WorkerEvalError::Timeout(self.timeout));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(WorkerEvalError::Worker(format!("waiting for the worker: {e}"))),
            }
        };
        let _ = writer.join();
        let out = reader.join().map_err(|_| WorkerEvalError::Worker("reader panicked".into()))?;
        let err = errors.join().unwrap_or_default();
        let last_words = err.trim().lines().last().unwrap_or("").trim_start_matches("paddock-worker: ").to_string();
        match status.code() {
            Some(0) => {
                let out = out.map_err(|e| WorkerEvalError::Worker(format!("reading the report: {e}")))?;
                serde_json::from_slice(&out).map_err(|e| WorkerEvalError::Worker(format!("the worker's report does not parse: {e}")))
            }
            Some(REFUSED_EXIT) => Err(WorkerEvalError::Refused(last_words)),
            Some(code) => Err(WorkerEvalError::Worker(format!("exited with status {code}: {last_words}"))),
            None => Err(WorkerEvalError::Worker(format!("killed by a signal ({status}): {last_words}"))),
        }
    }
}

/// The `paddock-worker` binary: `PADDOCK_WORKER_BIN`, else beside this program (or one folder up,
/// where cargo puts test binaries).
pub fn find_worker() -> Result<PathBuf, String> {
    if let Some(b) = std::env::var_os("PADDOCK_WORKER_BIN") {
        return Ok(PathBuf::from(b));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate this program: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    [dir.join("paddock-worker"), dir.join("../paddock-worker")]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| format!("no paddock-worker beside {} (build it: cargo build --release -p paddock-sandbox; or set PADDOCK_WORKER_BIN)", exe.display()))
}
