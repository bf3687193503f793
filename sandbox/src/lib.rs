//! Rollout workers: each runs a batch of environments with a published policy version and
//! returns what happened, for the trainer to learn from.
//!
//! [`Workers`] is the one interface the trainer sees. Everything that crosses it
//! ([`WorkerSpec`], the model bytes, [`RolloutRequest`], [`Rollout`]) is plain serialisable data,
//! so a worker can live in a thread ([`LocalWorkers`]), a sandboxed process, a microVM or
//! another host without the trainer noticing.

pub mod cgroup;
pub mod grpc;
pub mod guest;
pub mod isolate;
pub mod local;
pub mod microvm;
pub mod python;
pub mod rollout;
pub mod seccomp;
pub mod server;
pub mod wire;

use std::sync::Arc;

pub use grpc::{Endpoint, GrpcWorkers};
pub use local::LocalWorkers;
pub use rollout::{EpisodeRecord, Mode, ObsData, PythonSource, Rollout, RolloutRequest, RolloutWorker, TraceRow, WorkerSpec};

/// A set of workers that run episodes with policy version V and return rollouts.
pub trait Workers: Send {
    /// Makes `version` current: the model in the `policy` crate's file format, sent once.
    fn publish(&mut self, version: u64, model: Arc<Vec<u8>>) -> Result<(), WorkerError>;
    /// Runs episodes with the current version; one rollout per worker, in worker order.
    fn collect(&mut self, request: &RolloutRequest) -> Result<Vec<Rollout>, WorkerError>;
    /// Number of workers.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// How each worker is isolated, in words (for the run's log).
    fn isolation(&self) -> Vec<String> {
        vec!["a thread in the trainer's process (no isolation)".into(); self.len()]
    }
    /// Faults recovered from since the last call (a worker restarted, work redone), for the logs.
    fn take_incidents(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// What can go wrong in a worker; each names the worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("worker {worker}: cannot set up its environments: {message}")]
    Setup { worker: usize, message: String },
    #[error("worker {worker}: model version {version} refused: {message}")]
    Model { worker: usize, version: u64, message: String },
    #[error("worker {worker}: asked for rollouts before any policy was published")]
    NoPolicy { worker: usize },
    #[error("worker {worker}: asked for policy version {asked}, holds {held}")]
    StaleVersion { worker: usize, asked: u64, held: u64 },
    #[error("worker {worker}: {message}")]
    Run { worker: usize, message: String },
    /// The user's reward function failed: the run's problem, not the worker's, so never retried.
    #[error("worker {worker}: reward function {message}")]
    Reward { worker: usize, message: String },
    #[error("worker {worker} stopped unexpectedly")]
    Died { worker: usize },
}
