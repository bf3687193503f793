//! Workers in other processes or on other hosts, over the gRPC protocol (`proto/worker.proto`).
//!
//! - [`Endpoint::Process`]: a `paddock-worker` child per worker, connected through a socket pair
//!   (no path, no port: nothing else can reach it), optionally inside the process sandbox.
//! - [`Endpoint::MicroVm`]: a Linux guest per worker under QEMU (see [`crate::microvm`]), on a
//!   virtio-serial port behind a unix socket only this process holds.
//! - [`Endpoint::Remote`]: `paddock-worker serve --listen ADDR` on another host, over TCP with a
//!   shared token, and TLS when the worker has a certificate.
//!
//! Faults: a worker that fails a request, sends a reply that doesn't check out, or misses the
//! deadline is dropped (a child is killed) and started again (a remote one reconnected), set up
//! and given the current policy; the rollout it owed is asked again. A rollout is accepted whole
//! or not at all, so none is counted twice or lost. When a worker can't be brought back, a
//! healthy one does its share and the dead one is retried at the next collect.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint as TonicEndpoint};
use tonic::{Request, Status};

use crate::cgroup::{Cgroup, CgroupLimits};
use crate::rollout::{Expect, Rollout, RolloutRequest, WorkerSpec};
use crate::wire::{self, pb, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};
use crate::{WorkerError, Workers};

// The worker side, where the CLI has always found it.
pub use crate::server::ServerTls;
pub use crate::worker_main::run_remote_worker;

/// Where a worker lives.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// A child process running `binary serve --fd 3` (plus `--sandbox`), in control groups with
    /// these limits when given.
    Process { binary: PathBuf, sandbox: bool, env: Vec<(String, String)>, cgroup: Option<CgroupLimits> },
    /// A microVM per worker, launched from this prepared guest.
    MicroVm { guest: Arc<crate::microvm::Guest> },
    /// `host:port` of a `paddock-worker serve --listen`, over TLS when `tls` is given.
    Remote { addr: String, tls: Option<ClientTls> },
}

/// How a trainer checks a remote worker's certificate.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// PEM file of the CA (or self-signed certificate) the worker's certificate must chain to.
    pub ca: PathBuf,
    /// The name the certificate must carry (default: the host in the worker's address).
    pub domain: Option<String>,
}

/// Adds the shared token to every request.
#[derive(Clone)]
struct Token(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(t) = &self.0 {
            request.metadata_mut().insert("authorization", t.clone());
        }
        Ok(request)
    }
}

type Client = pb::worker_client::WorkerClient<InterceptedService<Channel, Token>>;

/// Why a request to a worker failed.
enum Failure {
    /// The request itself is bad ([`WorkerError::is_fatal`]): never retried.
    Fatal(WorkerError),
    /// The worker failed it (died, hung, garbled its reply): restart it and ask again.
    Retry(String),
}

impl Failure {
    /// Worker `worker`'s error answer to `request`.
    fn answer(status: &Status, worker: usize, request: &str) -> Failure {
        match wire::error_from_status(status, worker) {
            Some(e) if e.is_fatal() => Failure::Fatal(e),
            _ => Failure::Retry(format!("{request}: {:?}: {}", status.code(), status.message())),
        }
    }
}

struct Conn {
    id: usize,
    endpoint: Endpoint,
    client: Option<Client>,
    child: Option<Child>,
    vm: Option<crate::microvm::Vm>,
    cgroup: Option<Cgroup>,
    /// Times this worker was (re)started; mixed into its seed so a restart doesn't replay episodes.
    generation: u64,
}

/// Workers behind the gRPC protocol.
pub struct GrpcWorkers {
    rt: tokio::runtime::Runtime,
    conns: Vec<Conn>,
    spec: WorkerSpec,
    expect: Expect,
    token: Token,
    current: Option<(u64, Arc<Vec<u8>>)>,
    deadline: Duration,
    /// What went wrong and was recovered from, for the logs.
    pub incidents: Vec<String>,
    /// How each worker is isolated, as it says.
    pub isolation: Vec<String>,
}

impl GrpcWorkers {
    /// Starts (or connects to) one worker per endpoint and sets them up; any failure here is an
    /// error, before training starts. `deadline` bounds every request (a rollout included).
    pub fn new(spec: &WorkerSpec, endpoints: Vec<Endpoint>, token: Option<&str>, deadline: Duration) -> Result<GrpcWorkers, WorkerError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("paddock-grpc")
            .build()
            .map_err(|e| WorkerError::Setup { worker: 0, message: format!("async runtime: {e}") })?;
        let token = match token {
            Some(t) => {
                Token(Some(format!("Bearer {t}").parse().map_err(|_| WorkerError::Setup { worker: 0, message: "the token must be printable ASCII".into() })?))
            }
            None => Token(None),
        };
        let conns = endpoints
            .into_iter()
            .enumerate()
            .map(|(id, endpoint)| Conn { id, endpoint, client: None, child: None, vm: None, cgroup: None, generation: 0 })
            .collect();
        let mut w = GrpcWorkers {
            rt,
            conns,
            spec: spec.clone(),
            expect: Expect::of(spec),
            token,
            current: None,
            deadline,
            incidents: Vec::new(),
            isolation: Vec::new(),
        };
        for i in 0..w.conns.len() {
            let isolation = w.start(i)?;
            w.isolation.push(isolation);
        }
        Ok(w)
    }

    /// (Re)starts worker `i`: spawn or connect, Hello, Setup, and the current policy.
    fn start(&mut self, i: usize) -> Result<String, WorkerError> {
        let id = self.conns[i].id;
        let fail = |message: String| WorkerError::Setup { worker: id, message };
        self.stop(i);
        let conn = &mut self.conns[i];
        let channel = match &conn.endpoint {
            Endpoint::Process { binary, sandbox, env, cgroup } => {
                let procs = match cgroup {
                    Some(limits) => {
                        let group = Cgroup::create(&format!("paddock-worker-{}-{id}-{}", std::process::id(), conn.generation), limits).map_err(&fail)?;
                        let procs = group.procs_files();
                        conn.cgroup = Some(group);
                        procs
                    }
                    None => Vec::new(),
                };
                let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(|e| fail(e.to_string()))?;
                let mut cmd = Command::new(binary);
                cmd.args(["serve", "--fd", "3"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
                if *sandbox {
                    cmd.arg("--sandbox");
                }
                // Nothing of the trainer's environment (tokens, cloud credentials) reaches the
                // worker, except the fault-injection switch tests use.
                cmd.env_clear();
                if let Ok(fault) = std::env::var("PADDOCK_WORKER_FAULT") {
                    cmd.env("PADDOCK_WORKER_FAULT", fault);
                }
                cmd.envs(env.iter().map(|(k, v)| (k, v)));
                let fd = theirs.as_raw_fd();
                // SAFETY: only async-signal-safe calls between fork and exec.
                unsafe {
                    cmd.pre_exec(move || {
                        // dup2 onto itself would keep close-on-exec set; clear it then.
                        crate::cgroup::join(&procs)?;
                        let moved = if fd == 3 { libc::fcntl(3, libc::F_SETFD, 0) } else { libc::dup2(fd, 3) };
                        // A new session: no controlling terminal to push keystrokes into.
                        if moved < 0 || libc::setsid() < 0 || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
                let child = cmd.spawn().map_err(|e| fail(format!("starting {}: {e}", binary.display())))?;
                drop(theirs);
                conn.child = Some(child);
                connect_unix(&self.rt, ours).map_err(fail)?
            }
            Endpoint::MicroVm { guest } => {
                let mut vm = guest.launch().map_err(|e| fail(format!("starting its microVM: {e}")))?;
                let stream = vm.take_stream().ok_or_else(|| fail("the microVM has no port".into()))?;
                conn.vm = Some(vm);
                connect_unix(&self.rt, stream).map_err(fail)?
            }
            Endpoint::Remote { addr, tls } => {
                let scheme = if tls.is_some() { "https" } else { "http" };
                let mut endpoint = TonicEndpoint::from_shared(format!("{scheme}://{addr}"))
                    .map_err(|e| fail(format!("address {addr}: {e}")))?
                    .connect_timeout(Duration::from_secs(5))
                    .tcp_nodelay(true);
                if let Some(tls) = tls {
                    let ca = std::fs::read(&tls.ca).map_err(|e| fail(format!("TLS CA {}: {e}", tls.ca.display())))?;
                    let mut config = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(ca));
                    if let Some(domain) = &tls.domain {
                        config = config.domain_name(domain.clone());
                    }
                    endpoint = endpoint.tls_config(config).map_err(|e| fail(format!("TLS: {e}")))?;
                }
                self.rt.block_on(endpoint.connect()).map_err(|e| fail(format!("connecting to {addr}: {e}")))?
            }
        };
        let mut client = pb::worker_client::WorkerClient::with_interceptor(channel, self.token.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let deadline = self.deadline;
        let mut spec = self.spec.clone();
        if conn.generation > 0 {
            spec.seed = paddock_sim::vec_env::split_seed(spec.seed, 0x5eed_0000 + conn.generation);
        }
        conn.generation += 1;
        let spec_json = serde_json::to_string(&spec).map_err(|e| fail(e.to_string()))?;
        let current = self.current.clone();
        let expected_obs_len = self.expect.obs_len;
        let isolation = self
            .rt
            .block_on(async {
                let hello = tokio::time::timeout(deadline, client.hello(pb::HelloRequest { protocol_version: PROTOCOL_VERSION }))
                    .await
                    .map_err(|_| "no answer to hello".to_string())?
                    .map_err(|s| format!("hello: {}", s.message()))?
                    .into_inner();
                if hello.protocol_version != PROTOCOL_VERSION {
                    return Err(format!("worker speaks protocol {}, this trainer {PROTOCOL_VERSION}", hello.protocol_version));
                }
                let setup = tokio::time::timeout(deadline, client.setup(pb::SetupRequest { worker_id: id as u32, spec_json }))
                    .await
                    .map_err(|_| "no answer to setup".to_string())?
                    .map_err(|s| format!("setup: {}", s.message()))?
                    .into_inner();
                if let Some((version, model)) = current {
                    tokio::time::timeout(deadline, client.publish(pb::PublishRequest { version, model: model.to_vec() }))
                        .await
                        .map_err(|_| "no answer to publish".to_string())?
                        .map_err(|s| format!("publish: {}", s.message()))?;
                }
                if setup.obs_len as usize != expected_obs_len {
                    return Err(format!("worker builds observations of {} values, the spec says {expected_obs_len}", setup.obs_len));
                }
                Ok(hello.isolation)
            })
            .map_err(fail)?;
        conn.client = Some(client);
        if let Endpoint::MicroVm { guest } = &conn.endpoint {
            return Ok(format!("{isolation} [{}]", guest.describe()));
        }
        if let Some(group) = &conn.cgroup {
            return Ok(format!("{isolation}; cgroup limits: {}", group.describe()));
        }
        Ok(isolation)
    }

    /// Each worker's process on this host (its child, or its VM's QEMU); `None` for remote ones.
    pub fn pids(&self) -> Vec<Option<u32>> {
        self.conns.iter().map(|c| c.vm.as_ref().map(|vm| vm.pid()).or_else(|| c.child.as_ref().map(|c| c.id()))).collect()
    }

    /// Drops worker `i`'s connection and kills its process, if it has one.
    fn stop(&mut self, i: usize) {
        let conn = &mut self.conns[i];
        conn.client = None;
        conn.vm = None;
        if let Some(mut child) = conn.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        conn.cgroup = None;
    }

    /// How worker `i`'s process ended, if it has ended (waiting briefly for a dying one).
    fn exit_status(&mut self, i: usize) -> Option<String> {
        if let Some(vm) = self.conns[i].vm.as_mut() {
            return vm.exit_status();
        }
        let conn = &mut self.conns[i];
        let child = conn.child.as_mut()?;
        for _ in 0..20 {
            if let Ok(Some(status)) = child.try_wait() {
                let oom = conn.cgroup.as_ref().and_then(Cgroup::oom_killed).map(|why| format!(": {why}")).unwrap_or_default();
                return Some(format!("{status}{oom}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    /// Sends `request` to the given workers at once; each answer checked.
    fn collect_from(&self, which: &[usize], request: &RolloutRequest) -> Vec<Result<Rollout, Failure>> {
        let deadline = self.deadline;
        self.rt.block_on(async {
            let mut tasks = Vec::new();
            for &i in which {
                let conn = &self.conns[i];
                let (client, expect, asked) = (conn.client.clone(), self.expect, request.clone());
                tasks.push(tokio::spawn(async move {
                    let mut client = client.ok_or_else(|| Failure::Retry("not connected".into()))?;
                    let reply = tokio::time::timeout(deadline, client.collect(wire::request_to_pb(&asked)))
                        .await
                        .map_err(|_| Failure::Retry(format!("no rollout within the {} s deadline", deadline.as_secs_f32())))?
                        .map_err(|s| Failure::answer(&s, i, "collect"))?
                        .into_inner();
                    let rollout = wire::rollout_from_pb(reply).and_then(|r| expect.check(&r, &asked).map(|()| r));
                    rollout.map_err(|e| Failure::Retry(format!("a malformed rollout: {e}")))
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap_or_else(|e| Err(Failure::Retry(format!("collect task: {e}")))));
            }
            out
        })
    }
}

impl Workers for GrpcWorkers {
    fn publish(&mut self, version: u64, model: Arc<Vec<u8>>) -> Result<(), WorkerError> {
        self.current = Some((version, model.clone()));
        let deadline = self.deadline;
        let results: Vec<Result<(), Failure>> = self.rt.block_on(async {
            let mut tasks = Vec::new();
            for (i, conn) in self.conns.iter().enumerate() {
                let (client, model) = (conn.client.clone(), model.clone());
                tasks.push(tokio::spawn(async move {
                    let mut client = client.ok_or_else(|| Failure::Retry("not connected".into()))?;
                    match tokio::time::timeout(deadline, client.publish(pb::PublishRequest { version, model: model.to_vec() })).await {
                        Err(_) => Err(Failure::Retry("no answer to publish".into())),
                        // A model the worker refuses is the trainer's problem, not the worker's.
                        Ok(Err(s)) => Err(Failure::answer(&s, i, "publish")),
                        Ok(Ok(_)) => Ok(()),
                    }
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap_or_else(|e| Err(Failure::Retry(e.to_string()))));
            }
            out
        });
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(()) => {}
                Err(Failure::Fatal(e)) => return Err(e),
                // A dead worker is restarted with this version at the next collect.
                Err(Failure::Retry(message)) => {
                    self.incidents.push(format!("worker {i}: {message}; restarting it"));
                    self.stop(i);
                }
            }
        }
        Ok(())
    }

    fn collect(&mut self, request: &RolloutRequest) -> Result<Vec<Rollout>, WorkerError> {
        let n = self.conns.len();
        let mut done: Vec<Option<Rollout>> = (0..n).map(|_| None).collect();
        let mut attempts = vec![0usize; n];
        const MAX_ATTEMPTS: usize = 3;
        loop {
            let pending: Vec<usize> = (0..n).filter(|&i| done[i].is_none() && attempts[i] < MAX_ATTEMPTS).collect();
            if pending.is_empty() {
                break;
            }
            let mut ready = Vec::new();
            for &i in &pending {
                if self.conns[i].client.is_none() {
                    if let Err(e) = self.start(i) {
                        attempts[i] += 1;
                        self.incidents.push(format!("worker {i}: cannot restart: {e}"));
                        continue;
                    }
                }
                ready.push(i);
            }
            let results = self.collect_from(&ready, request);
            for (&i, result) in ready.iter().zip(results) {
                attempts[i] += 1;
                match result {
                    Ok(r) => done[i] = Some(r),
                    // The user's reward function failed: retrying elsewhere would fail the same way.
                    Err(Failure::Fatal(e)) => return Err(e),
                    Err(Failure::Retry(message)) => {
                        let exited = self.exit_status(i).map(|s| format!(" (its process {s})")).unwrap_or_default();
                        self.incidents.push(format!("worker {i}: {message}{exited}; its rollout is asked again"));
                        self.stop(i);
                    }
                }
            }
        }
        // Workers that could not be brought back: healthy ones do their share.
        let healthy: Vec<usize> = (0..n).filter(|&i| done[i].is_some()).collect();
        if healthy.is_empty() {
            return Err(WorkerError::Run { worker: 0, message: format!("every worker failed: {}", self.incidents.last().cloned().unwrap_or_default()) });
        }
        let missing: Vec<usize> = (0..n).filter(|&i| done[i].is_none()).collect();
        for i in missing {
            for helper in healthy.iter().copied().cycle().skip(i).take(healthy.len()) {
                match self.collect_from(&[helper], request).pop().expect("one request, one result") {
                    Ok(r) => {
                        self.incidents.push(format!("worker {i} is down; worker {helper} did its rollout"));
                        done[i] = Some(r);
                        break;
                    }
                    Err(Failure::Fatal(e)) => return Err(e),
                    Err(Failure::Retry(message)) => {
                        self.incidents.push(format!("worker {helper}: {message} (doing worker {i}'s rollout)"));
                        self.stop(helper);
                    }
                }
            }
            if done[i].is_none() {
                return Err(WorkerError::Run {
                    worker: i,
                    message: format!("no worker could do its rollout: {}", self.incidents.last().cloned().unwrap_or_default()),
                });
            }
        }
        Ok(done.into_iter().map(|r| r.expect("filled above")).collect())
    }

    fn len(&self) -> usize {
        self.conns.len()
    }

    fn take_incidents(&mut self) -> Vec<String> {
        std::mem::take(&mut self.incidents)
    }

    fn isolation(&self) -> Vec<String> {
        self.isolation.clone()
    }
}

impl Drop for GrpcWorkers {
    fn drop(&mut self) {
        for i in 0..self.conns.len() {
            self.stop(i);
        }
    }
}

/// A channel over an already-connected unix socket (a socket pair, a VM's port).
pub fn connect_unix(rt: &tokio::runtime::Runtime, stream: std::os::unix::net::UnixStream) -> Result<Channel, String> {
    stream.set_nonblocking(true).map_err(|e| e.to_string())?;
    let stream = std::sync::Mutex::new(Some(stream));
    rt.block_on(TonicEndpoint::from_static("http://worker.local").connect_with_connector(tower::service_fn(move |_| {
        let s = stream.lock().ok().and_then(|mut s| s.take());
        async move {
            let s = s.ok_or_else(|| std::io::Error::other("a worker's socket connects once"))?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tokio::net::UnixStream::from_std(s)?))
        }
    })))
    .map_err(|e| format!("connecting: {e}"))
}
