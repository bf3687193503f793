//! `[workers]`: which backend runs the rollouts and how, and [`start_workers`], the one door
//! that builds any backend from it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cgroup::{Cgroup, CgroupLimits};
use crate::grpc::{ClientTls, Endpoint, GrpcWorkers};
use crate::local::LocalWorkers;
use crate::microvm::{Guest, MicroVmOptions};
use crate::{WorkerError, WorkerSpec, Workers};

pub use crate::microvm::Accel;

/// Where experience comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// `local` (threads in the trainer), `process` (a `paddock-worker` child each, sandboxed by
    /// default), `microvm` (a QEMU microVM each) or `remote` (`paddock-worker serve --listen` on
    /// the hosts in `remote`).
    pub backend: WorkerBackend,
    /// Workers (for `remote`, the number of addresses).
    pub count: usize,
    pub envs_per_worker: usize,
    /// `process`: run each worker in the process sandbox (namespaces, seccomp, limits).
    pub sandbox: bool,
    /// `process`, `microvm`: the worker binary (default: `paddock-worker` beside the running
    /// program).
    pub binary: Option<PathBuf>,
    /// `remote`: `host:port` of each worker.
    pub remote: Vec<String>,
    /// `remote`: the environment variable holding the workers' shared token.
    pub token_env: String,
    /// `remote`: connect over TLS, trusting this CA's PEM file (the workers run with
    /// `--tls-cert`/`--tls-key`).
    pub tls_ca: Option<PathBuf>,
    /// `remote`: the name the workers' certificates carry (default: each address's host).
    pub tls_domain: Option<String>,
    /// A worker that takes longer than this for one request is replaced and its work redone.
    pub deadline_s: f64,
    /// `microvm`: the guests.
    pub microvm: MicroVmConfig,
    /// `process` with `sandbox`: control-group limits per worker.
    pub limits: LimitsConfig,
}

/// See [`WorkerConfig::backend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerBackend {
    Local,
    Process,
    #[serde(rename = "microvm")]
    MicroVm,
    Remote,
}

/// `[workers.limits]`: what each sandboxed process worker may use, enforced through cgroups
/// (v1, or v2 where delegated). Where no cgroup can be made the run warns and relies on rlimits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Memory, MiB (0: no limit).
    pub memory_mb: u64,
    /// CPU, in cores' worth of time (0: no limit).
    pub cpus: f64,
    /// Processes and threads (0: no limit).
    pub pids: u64,
}

/// `[workers.microvm]`: how each worker's VM runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MicroVmConfig {
    /// Guest memory, MiB.
    pub memory_mb: u32,
    /// Guest vCPUs.
    pub cpus: u32,
    /// `auto` (KVM when a probe boot works, else TCG), `kvm` or `tcg`.
    pub accel: Accel,
    /// Restore each VM from a snapshot of a booted one (else boot each from scratch).
    pub snapshot: bool,
    /// The kernel and cache folder (default `PADDOCK_MICROVM_DIR` or `~/.cache/paddock/microvm`,
    /// where `scripts/setup-microvm.sh` puts the kernel).
    pub dir: Option<PathBuf>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            backend: WorkerBackend::Local,
            count: 2,
            envs_per_worker: 8,
            sandbox: true,
            binary: None,
            remote: Vec::new(),
            token_env: "PADDOCK_WORKER_TOKEN".into(),
            tls_ca: None,
            tls_domain: None,
            deadline_s: 300.0,
            microvm: MicroVmConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig { memory_mb: 2048, cpus: 0.0, pids: 512 }
    }
}

impl Default for MicroVmConfig {
    fn default() -> Self {
        MicroVmConfig { memory_mb: 512, cpus: 1, accel: Accel::Auto, snapshot: true, dir: None }
    }
}

impl LimitsConfig {
    fn cgroup(&self) -> CgroupLimits {
        CgroupLimits {
            memory_bytes: (self.memory_mb > 0).then_some(self.memory_mb << 20),
            cpu_cores: (self.cpus > 0.0).then_some(self.cpus),
            pids: (self.pids > 0).then_some(self.pids),
        }
    }
}

impl WorkerConfig {
    /// Checks every value; the message names the key (`workers.count = 0 is outside ...`).
    pub fn validate(&self) -> Result<(), String> {
        let in_range = |name: &str, v: f64, lo: f64, hi: f64| -> Result<(), String> {
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("workers.{name} = {v} is outside {lo}..={hi}"))
            }
        };
        in_range("count", self.count as f64, 1.0, 256.0)?;
        if !(self.deadline_s.is_finite() && (1.0..=86_400.0).contains(&self.deadline_s)) {
            return Err(format!("workers.deadline_s = {} is outside 1..=86400", self.deadline_s));
        }
        if self.backend == WorkerBackend::Remote && self.remote.len() != self.count {
            return Err(format!("workers.remote lists {} addresses for workers.count = {}", self.remote.len(), self.count));
        }
        in_range("envs_per_worker", self.envs_per_worker as f64, 1.0, 1024.0)?;
        in_range("microvm.memory_mb", self.microvm.memory_mb as f64, 128.0, 65_536.0)?;
        in_range("microvm.cpus", self.microvm.cpus as f64, 1.0, 64.0)?;
        let limits = &self.limits;
        if limits.memory_mb != 0 {
            in_range("limits.memory_mb", limits.memory_mb as f64, 64.0, 1_048_576.0)?;
        }
        if limits.cpus != 0.0 {
            in_range("limits.cpus", limits.cpus, 0.01, 1024.0)?;
        }
        if limits.pids != 0 {
            in_range("limits.pids", limits.pids as f64, 16.0, 1_000_000.0)?;
        }
        Ok(())
    }
}

/// The configured backend, started and set up with `spec`: the one way to make workers.
pub fn start_workers(config: &WorkerConfig, spec: &WorkerSpec) -> Result<Box<dyn Workers>, WorkerError> {
    config.validate().map_err(WorkerError::Start)?;
    let deadline = Duration::from_secs_f64(config.deadline_s);
    if config.backend == WorkerBackend::Local && spec.reward_python.is_some() {
        eprintln!("warning: the Python reward function runs unsandboxed in this process; use [workers] backend = \"process\" for untrusted code");
    }
    let binary = || match &config.binary {
        Some(b) => Ok(b.clone()),
        None => worker_binary(),
    };
    Ok(match config.backend {
        WorkerBackend::Local => Box::new(LocalWorkers::new(spec, config.count)?),
        WorkerBackend::Process => {
            let binary = binary()?;
            let cgroup = if config.sandbox { usable_cgroup(&config.limits.cgroup()) } else { None };
            let endpoints = (0..config.count).map(|_| Endpoint::Process { binary: binary.clone(), sandbox: config.sandbox, env: Vec::new(), cgroup }).collect();
            Box::new(GrpcWorkers::new(spec, endpoints, None, deadline)?)
        }
        WorkerBackend::MicroVm => {
            let vm = &config.microvm;
            let options = MicroVmOptions {
                dir: vm.dir.clone().unwrap_or_else(crate::microvm::default_dir),
                worker_binary: binary()?,
                memory_mb: vm.memory_mb,
                cpus: vm.cpus,
                accel: vm.accel,
                snapshot: vm.snapshot,
            };
            let guest = Arc::new(Guest::prepare(&options).map_err(|e| WorkerError::Start(format!("microVM guest: {e}")))?);
            let endpoints = (0..config.count).map(|_| Endpoint::MicroVm { guest: guest.clone() }).collect();
            Box::new(GrpcWorkers::new(spec, endpoints, None, deadline)?)
        }
        WorkerBackend::Remote => {
            let token = std::env::var(&config.token_env).ok();
            let tls = config.tls_ca.as_ref().map(|ca| ClientTls { ca: ca.clone(), domain: config.tls_domain.clone() });
            let endpoints = config.remote.iter().map(|addr| Endpoint::Remote { addr: addr.clone(), tls: tls.clone() }).collect();
            Box::new(GrpcWorkers::new(spec, endpoints, token.as_deref(), deadline)?)
        }
    })
}

/// The limits when a trial group can be made; where none can, says so once and returns
/// `None` (the workers keep their rlimits).
fn usable_cgroup(limits: &CgroupLimits) -> Option<CgroupLimits> {
    if limits.memory_bytes.is_none() && limits.cpu_cores.is_none() && limits.pids.is_none() {
        return None;
    }
    match Cgroup::create(&format!("paddock-trial-{}", std::process::id()), limits) {
        Ok(_) => Some(*limits),
        Err(e) => {
            eprintln!("warning: no cgroup limits for the workers ({e}); they run with rlimits only");
            None
        }
    }
}

/// `paddock-worker` beside the running program (or one folder up, for test binaries), or
/// `PADDOCK_WORKER_BIN`.
pub fn worker_binary() -> Result<PathBuf, WorkerError> {
    paddock_eval::worker::find_worker().map_err(|e| WorkerError::Start(format!("{e}; or set workers.binary")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Wrapper {
        workers: WorkerConfig,
    }

    fn parse(text: &str) -> Result<WorkerConfig, String> {
        let w: Wrapper = serde_json::from_str(text).map_err(|e| e.to_string())?;
        w.workers.validate()?;
        Ok(w.workers)
    }

    #[test]
    fn the_accelerator_is_one_of_three_names() {
        assert_eq!(parse(r#"{"workers": {"microvm": {"accel": "tcg"}}}"#).unwrap().microvm.accel, Accel::Tcg);
        assert_eq!(parse(r#"{"workers": {}}"#).unwrap().microvm.accel, Accel::Auto);
        // A typo was silently "auto" once; now it names the choices.
        let e = parse(r#"{"workers": {"microvm": {"accel": "kvmm"}}}"#).unwrap_err();
        assert!(e.contains("kvmm") && e.contains("auto") && e.contains("kvm") && e.contains("tcg"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = parse(r#"{"workers": {"count": 0}}"#).unwrap_err();
        assert!(e.contains("workers.count = 0"), "{e}");
        let e = parse(r#"{"workers": {"backend": "remote", "count": 2, "remote": ["a:1"]}}"#).unwrap_err();
        assert!(e.contains("1 addresses for workers.count = 2"), "{e}");
        let e = parse(r#"{"workers": {"limits": {"pids": 3}}}"#).unwrap_err();
        assert!(e.contains("limits.pids"), "{e}");
    }
}
