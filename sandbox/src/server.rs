//! The worker side of the protocol: one `RolloutWorker` behind the gRPC service, and the
//! transports it is served on (an inherited socket, a VM's port, TCP).

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

use crate::rollout::{RolloutRequest, RolloutWorker, WorkerSpec};
use crate::wire::{self, error_to_status, pb, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};
use crate::WorkerError;

/// A remote worker's certificate and key (PEM files).
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Faults a test can ask a worker binary to commit (`PADDOCK_WORKER_FAULT`), to check that the
/// trainer survives them: `crash`, `hang` or `garbage` on the Nth collect of a worker id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Crash,
    Hang,
    Garbage,
}

#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    pub fault: Fault,
    pub worker: u32,
    /// 1-based index of the collect that goes wrong.
    pub on_collect: u64,
}

impl FaultPlan {
    /// Parses `crash:W:N`, `hang:W:N` or `garbage:W:N`.
    pub fn parse(s: &str) -> Option<FaultPlan> {
        let mut parts = s.split(':');
        let fault = match parts.next()? {
            "crash" => Fault::Crash,
            "hang" => Fault::Hang,
            "garbage" => Fault::Garbage,
            _ => return None,
        };
        Some(FaultPlan { fault, worker: parts.next()?.parse().ok()?, on_collect: parts.next()?.parse().ok()? })
    }
}

#[derive(Default)]
struct State {
    worker: Option<RolloutWorker>,
    id: u32,
    collects: u64,
}

/// The service; `isolation` says how the process is isolated (reported in Hello).
pub struct WorkerService {
    state: Arc<Mutex<State>>,
    isolation: String,
    fault: Option<FaultPlan>,
}

impl WorkerService {
    pub fn new(isolation: String, fault: Option<FaultPlan>) -> WorkerService {
        WorkerService { state: Arc::default(), isolation, fault }
    }

    /// The service with the protocol's message limits.
    pub fn into_server(self) -> pb::worker_server::WorkerServer<WorkerService> {
        pb::worker_server::WorkerServer::new(self).max_decoding_message_size(MAX_MESSAGE_BYTES).max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

/// A reward call stuck in C: the worker's id is left out, as on every error (the client names it).
fn stuck(message: String) -> Status {
    error_to_status(WorkerError::Reward { worker: 0, message })
}

/// Runs `f` on the worker off the async threads (a rollout is seconds of CPU).
async fn with_worker<T: Send + 'static>(state: &Arc<Mutex<State>>, f: impl FnOnce(&mut State) -> Result<T, Status> + Send + 'static) -> Result<T, Status> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        // One request at a time: a second trainer, or one reconnecting to a worker still stuck in
        // an earlier request, hears so at once instead of waiting out its deadline.
        let mut s = match state.try_lock() {
            Ok(s) => s,
            Err(std::sync::TryLockError::WouldBlock) => return Err(Status::unavailable("the worker is busy with another request")),
            Err(std::sync::TryLockError::Poisoned(_)) => return Err(Status::internal("a previous request panicked")),
        };
        f(&mut s)
    })
    .await
    .map_err(|e| Status::internal(format!("worker task failed: {e}")))?
}

#[tonic::async_trait]
impl pb::worker_server::Worker for WorkerService {
    async fn hello(&self, request: Request<pb::HelloRequest>) -> Result<Response<pb::HelloReply>, Status> {
        let asked = request.into_inner().protocol_version;
        if asked != PROTOCOL_VERSION {
            return Err(Status::failed_precondition(format!("protocol version {asked} asked; this worker speaks {PROTOCOL_VERSION}")));
        }
        Ok(Response::new(pb::HelloReply {
            protocol_version: PROTOCOL_VERSION,
            worker_version: env!("CARGO_PKG_VERSION").into(),
            isolation: self.isolation.clone(),
        }))
    }

    async fn setup(&self, request: Request<pb::SetupRequest>) -> Result<Response<pb::SetupReply>, Status> {
        let r = request.into_inner();
        let id = r.worker_id;
        let refuse = |message: String| error_to_status(WorkerError::Setup { worker: id as usize, message });
        let spec: WorkerSpec = serde_json::from_str(&r.spec_json).map_err(|e| refuse(format!("worker spec: {e}")))?;
        if spec.envs == 0 || spec.envs > 4096 {
            return Err(refuse(format!("worker spec: {} envs", spec.envs)));
        }
        with_worker(&self.state, move |s| {
            let worker = RolloutWorker::new(id as usize, &spec).map_err(error_to_status)?;
            let obs_len = worker.obs_len() as u32;
            *s = State { worker: Some(worker), id, collects: 0 };
            Ok(Response::new(pb::SetupReply { obs_len }))
        })
        .await
    }

    async fn publish(&self, request: Request<pb::PublishRequest>) -> Result<Response<pb::PublishReply>, Status> {
        let r = request.into_inner();
        with_worker(&self.state, move |s| {
            let w = s.worker.as_mut().ok_or_else(|| Status::failed_precondition("publish before setup"))?;
            w.set_policy(r.version, &r.model).map_err(error_to_status)?;
            Ok(Response::new(pb::PublishReply {}))
        })
        .await
    }

    async fn collect(&self, request: Request<pb::CollectRequest>) -> Result<Response<pb::CollectReply>, Status> {
        let asked = wire::request_from_pb(&request.into_inner());
        let fault = self.fault;
        if let Some(message) = crate::python::stuck_call() {
            return Err(stuck(message));
        }
        let rollout = self.run_collect(asked, fault);
        tokio::pin!(rollout);
        // A reward call stuck in C never returns: answer with what happened rather than silence.
        loop {
            tokio::select! {
                reply = &mut rollout => return reply,
                _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {
                    if let Some(message) = crate::python::stuck_call() {
                        return Err(stuck(message));
                    }
                }
            }
        }
    }
}

impl WorkerService {
    async fn run_collect(&self, asked: RolloutRequest, fault: Option<FaultPlan>) -> Result<Response<pb::CollectReply>, Status> {
        with_worker(&self.state, move |s| {
            s.collects += 1;
            let planned = fault.filter(|f| f.worker == s.id && f.on_collect == s.collects).map(|f| f.fault);
            match planned {
                Some(Fault::Crash) => std::process::abort(),
                Some(Fault::Hang) => loop {
                    std::thread::park();
                },
                _ => {}
            }
            let w = s.worker.as_mut().ok_or_else(|| Status::failed_precondition("collect before setup"))?;
            let mut reply = wire::rollout_to_pb(w.run(&asked).map_err(error_to_status)?);
            if planned == Some(Fault::Garbage) {
                reply.rewards.truncate(reply.rewards.len() / 2);
            }
            Ok(Response::new(reply))
        })
        .await
    }
}

/// Serves one already-connected socket (a process worker's fd 3) until the process is killed.
pub async fn serve_fd(fd: OwnedFd, service: WorkerService) -> Result<(), String> {
    let std_stream = std::os::unix::net::UnixStream::from(fd);
    std_stream.set_nonblocking(true).map_err(|e| e.to_string())?;
    let stream = tokio::net::UnixStream::from_std(std_stream).map_err(|e| e.to_string())?;
    serve_io(stream, service).await
}

/// Serves one byte stream (a socket, a virtio-serial port) until the process ends.
pub async fn serve_io<IO>(io: IO, service: WorkerService) -> Result<(), String>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + tonic::transport::server::Connected + Unpin + Send + 'static,
{
    tonic::transport::Server::builder()
        .add_service(service.into_server())
        // An incoming stream that ends would shut the server down at once; this one never
        // ends: the trainer kills the process (or VM) when it is done with it.
        .serve_with_incoming(tokio_stream::StreamExt::chain(tokio_stream::once(Ok::<_, std::io::Error>(io)), tokio_stream::pending()))
        .await
        .map_err(|e| e.to_string())
}

/// Serves TCP connections at `addr` (over TLS with `tls`), each request checked against `token`
/// when one is set.
pub async fn serve_tcp(addr: std::net::SocketAddr, token: Option<String>, tls: Option<&ServerTls>, service: WorkerService) -> Result<(), String> {
    let expected: Option<MetadataValue<Ascii>> = match token {
        Some(t) => Some(format!("Bearer {t}").parse().map_err(|_| "the token must be printable ASCII".to_string())?),
        None => None,
    };
    let check = move |request: Request<()>| -> Result<Request<()>, Status> {
        match &expected {
            Some(want) if request.metadata().get("authorization") != Some(want) => Err(Status::unauthenticated("bad or missing worker token")),
            _ => Ok(request),
        }
    };
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("TLS {}: {e}", p.display()));
        let identity = tonic::transport::Identity::from_pem(read(&tls.cert)?, read(&tls.key)?);
        server = server.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity)).map_err(|e| format!("TLS: {e}"))?;
    }
    let incoming = tonic::transport::server::TcpIncoming::bind(addr).map_err(|e| format!("listening on {addr}: {e}"))?.with_nodelay(Some(true));
    server.add_service(InterceptedService::new(service.into_server(), check)).serve_with_incoming(incoming).await.map_err(|e| e.to_string())
}
