//! The worker's half of sandboxed evaluations (`paddock-worker evaluate`): enter the sandbox,
//! then read the job and the untrusted model, evaluate and print the report. The wire format and
//! the host's half are `paddock_eval::worker`.

use std::io::{BufRead, BufReader, Read, Write};

use paddock_eval::worker::{EvalJob, MAX_MODEL_BYTES};
use paddock_eval::{evaluate, EvalError, EvalReport};
use paddock_policy::Policy;
use paddock_tracks::Track;

use crate::isolate::{self, Limits};

pub use paddock_eval::worker::REFUSED_EXIT;

/// A worker's failure: refused models exit with [`REFUSED_EXIT`].
#[derive(Debug)]
pub enum ChildError {
    Refused(String),
    Failed(String),
}

/// The worker's half (`paddock-worker evaluate`): enter the sandbox when asked, then read the job
/// and the model from standard input, evaluate and print the report. Call it before any thread
/// exists, as the sandbox requires.
pub fn run_child(sandbox: bool, memory_mb: u64) -> Result<(), ChildError> {
    if sandbox {
        isolate::enter(&Limits { memory_bytes: memory_mb.saturating_mul(1 << 20), ..Limits::default() })
            .map_err(|e| ChildError::Failed(format!("cannot enter the sandbox: {e}")))?;
    }
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut header = String::new();
    input.by_ref().take(64 << 20).read_line(&mut header).map_err(|e| ChildError::Failed(format!("reading the job: {e}")))?;
    let job: EvalJob = serde_json::from_str(&header).map_err(|e| ChildError::Failed(format!("the job does not parse: {e}")))?;
    let mut model = Vec::new();
    input.take(MAX_MODEL_BYTES as u64 + 1).read_to_end(&mut model).map_err(|e| ChildError::Failed(format!("reading the model: {e}")))?;
    if model.len() > MAX_MODEL_BYTES {
        return Err(ChildError::Refused(format!("the model is larger than {} MB", MAX_MODEL_BYTES >> 20)));
    }
    let report = evaluate_bytes(&job, &model)?;
    let json = serde_json::to_vec(&report).map_err(|e| ChildError::Failed(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    out.write_all(&json).and_then(|_| out.flush()).map_err(|e| ChildError::Failed(format!("writing the report: {e}")))
}

fn evaluate_bytes(job: &EvalJob, model: &[u8]) -> Result<EvalReport, ChildError> {
    let policy = Policy::from_bytes(model, "the submitted model").map_err(|e| ChildError::Refused(e.to_string()))?;
    let track = Track::from_json_str(&job.track_json).map_err(|e| ChildError::Failed(format!("the job's track: {e}")))?;
    evaluate(&policy, track, &job.track_name, &job.options).map_err(|e| match e {
        EvalError::ModelDoesNotFit(_) | EvalError::Policy(_) => ChildError::Refused(e.to_string()),
        other => ChildError::Failed(other.to_string()),
    })
}
