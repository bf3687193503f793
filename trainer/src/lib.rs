//! Paddock's trainer: PPO and SAC on tch (libtorch), learning from rollout workers.
//!
//! - [`nets`]: the `policy` crate's architectures in tch, weights shared by name.
//! - [`ppo`] and [`sac`]: the two algorithms, each readable in one file.
//! - [`run`]: the training loop: publish the policy, collect rollouts, update, log,
//!   checkpoint, stop, `--resume`; over [`learner`], one type for both algorithms.
//!
//! The config (`run.toml`) and the run folder's files are `paddock-run`'s, readable without
//! libtorch.
//!
//! Only this crate links libtorch; workers, evaluation (`paddock-eval`, whose laps the lap check
//! drives) and the car run the `policy` crate.

pub mod gae;
pub mod learner;
pub mod nets;
pub mod ppo;
pub mod run;
pub mod sac;

pub use paddock_run::RunConfig;
pub use run::{train, TrainOptions, TrainSummary};

/// What can go wrong in training; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("config: {0}")]
    Config(String),
    #[error("model: {0}")]
    Model(String),
    #[error(transparent)]
    Policy(#[from] paddock_policy::PolicyError),
    #[error(transparent)]
    Track(#[from] paddock_tracks::TrackError),
    #[error(transparent)]
    Sim(#[from] paddock_sim::SimError),
    #[error("workers: {0}")]
    Workers(String),
    #[error(transparent)]
    Worker(#[from] paddock_sandbox::WorkerError),
    #[error(transparent)]
    Eval(#[from] paddock_eval::EvalError),
    #[error(transparent)]
    Run(#[from] paddock_run::RunError),
    #[error("libtorch: {0}")]
    Torch(String),
}

/// The GPU when the machine has one, the CPU otherwise.
pub fn device() -> tch::Device {
    // libtorch registers CUDA only when libtorch_cuda is loaded; the linker drops it (no
    // symbol of ours needs it), so load it by hand. Failing is fine: no CUDA, CPU it is.
    unsafe {
        let name = c"libtorch_cuda.so";
        libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
    }
    tch::Device::cuda_if_available()
}
