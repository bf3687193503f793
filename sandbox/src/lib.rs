//! Rollout workers: each runs a batch of environments with a published policy version and
//! returns what happened, for the trainer to learn from.
//!
//! [`Workers`] is the one interface the trainer sees. Everything that crosses it
//! ([`WorkerSpec`], the model bytes, [`RolloutRequest`], [`Rollout`]) is plain serialisable data,
//! so a worker can live in a thread ([`LocalWorkers`]), a sandboxed process, a microVM or
//! another host without the trainer noticing.

mod cgroup;
pub mod config;
pub mod evaluation;
pub mod grpc;
mod guest;
mod isolate;
pub mod local;
pub mod microvm;
pub mod python;
pub mod rollout;
mod seccomp;
mod server;
mod wire;
pub mod worker_main;

use std::sync::Arc;

pub use cgroup::CgroupLimits;
pub use config::{start_workers, worker_binary, Accel, LimitsConfig, MicroVmConfig, WorkerBackend, WorkerConfig};
pub use grpc::{ClientTls, Endpoint, GrpcWorkers};
pub use local::LocalWorkers;
pub use rollout::{EpisodeRecord, Mode, PythonSource, Rollout, RolloutRequest, RolloutWorker, TraceRow, WorkerSpec};
pub use server::ServerTls;
pub use worker_main::run_remote_worker;

/// The protocol's generated messages, for benches and tools that talk to a worker directly.
#[doc(hidden)]
pub mod proto {
    pub use crate::wire::{pb, PROTOCOL_VERSION};
}

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
    /// The workers could not be started as configured (a bad value, no worker binary, no guest).
    #[error("workers: {0}")]
    Start(String),
}

impl WorkerError {
    /// The request itself is bad (the user's reward function failed, a model the workers
    /// refuse): asking again, here or on another worker, would fail the same way.
    pub fn is_fatal(&self) -> bool {
        matches!(self, WorkerError::Reward { .. } | WorkerError::Model { .. })
    }
}
