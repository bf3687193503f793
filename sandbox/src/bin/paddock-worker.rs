//! `paddock-worker`: a rollout worker serving the gRPC protocol (no libtorch).
//!
//! `paddock-worker serve --fd 3 [--sandbox]`: the trainer's own child, on the socket it inherited.
//! `paddock-worker serve --listen 0.0.0.0:50051 [--token T]`: a worker for trainers on other hosts
//! (`PADDOCK_WORKER_TOKEN` works too; without a token anyone who can reach the port may use it).
//! As pid 1 (a microVM guest's `/init`) it serves the host on its virtio-serial port.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use paddock_sandbox::grpc::{owned_fd, run_remote_worker, serve_fd, ServerTls};
use paddock_sandbox::isolate::{self, Limits};
use paddock_sandbox::server::{FaultPlan, WorkerService};

#[derive(Parser)]
#[command(name = "paddock-worker", version, about = "Runs Paddock rollouts for a trainer, over gRPC.")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Serve {
        /// Serve the already-connected socket on this file descriptor.
        #[arg(long, conflicts_with = "listen")]
        fd: Option<i32>,
        /// Listen for trainers on this TCP address.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// The shared token trainers must present (with --listen; better: PADDOCK_WORKER_TOKEN,
        /// which `ps` does not show).
        #[arg(long)]
        token: Option<String>,
        /// Serve without a token (only on a network nobody else can reach).
        #[arg(long)]
        insecure: bool,
        /// With --listen: serve TLS with this certificate (PEM; needs --tls-key).
        #[arg(long, requires = "tls_key", requires = "listen")]
        tls_cert: Option<std::path::PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
        /// Enter the process sandbox first (namespaces, no network, read-only system, seccomp).
        #[arg(long, conflicts_with = "listen")]
        sandbox: bool,
        /// Address-space limit in the sandbox, MB.
        #[arg(long, default_value_t = 4096)]
        memory_mb: u64,
    },
    /// Enter the sandbox and report, as JSON, what code inside it can and cannot do.
    Probe {
        /// A folder outside the sandbox to try writing into.
        #[arg(long)]
        outside: Option<std::path::PathBuf>,
        /// A TCP port on this host's loopback to try connecting to.
        #[arg(long)]
        port: Option<u16>,
    },
}

fn main() -> ExitCode {
    // As a microVM's init (see `paddock_sandbox::microvm`): serve the host on the guest's port.
    if std::process::id() == 1 {
        paddock_sandbox::guest::run();
    }
    let (fd, listen, token, insecure, sandbox, memory_mb, tls) = match Cli::parse().command {
        Cmd::Serve { fd, listen, token, insecure, sandbox, memory_mb, tls_cert, tls_key } => {
            let tls = tls_cert.zip(tls_key).map(|(cert, key)| ServerTls { cert, key });
            (fd, listen, token, insecure, sandbox, memory_mb, tls)
        }
        Cmd::Probe { outside, port } => return probe(outside, port),
    };
    let token = token.or_else(|| std::env::var("PADDOCK_WORKER_TOKEN").ok().filter(|t| !t.is_empty()));
    // Before any thread exists: the kernel refuses new user namespaces to threaded processes.
    let isolation = if sandbox {
        let limits = Limits { memory_bytes: memory_mb << 20, ..Limits::default() };
        match isolate::enter(&limits) {
            Ok(description) => description,
            Err(e) => {
                eprintln!("paddock-worker: cannot enter the sandbox: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        "none (a plain process)".to_string()
    };
    let fault = std::env::var("PADDOCK_WORKER_FAULT").ok().and_then(|s| FaultPlan::parse(&s));
    let result = match (fd, listen) {
        (Some(fd), None) => match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
            // SAFETY: the trainer hands this descriptor over for our exclusive use.
            Ok(rt) => rt.block_on(serve_fd(unsafe { owned_fd(fd) }, WorkerService::new(isolation, fault))),
            Err(e) => Err(e.to_string()),
        },
        (None, Some(addr)) => run_remote_worker(addr, token, insecure, tls),
        _ => Err("give --fd or --listen".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paddock-worker: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What a reward function could reach from inside: each attempt `allowed` or `blocked: why`.
fn probe(outside: Option<std::path::PathBuf>, port: Option<u16>) -> ExitCode {
    let isolation = match isolate::enter(&Limits { memory_bytes: 1 << 30, ..Limits::default() }) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("paddock-worker: cannot enter the sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    fn verdict<T, E: std::fmt::Display>(r: Result<T, E>) -> String {
        match r {
            Ok(_) => "allowed".into(),
            Err(e) => format!("blocked: {e}"),
        }
    }
    let mut report = serde_json::Map::new();
    let mut put = |k: &str, v: String| {
        report.insert(k.into(), v.into());
    };
    put("isolation", isolation);
    put("read /etc/shadow", verdict(std::fs::read("/etc/shadow")));
    put("read /etc/hostname", verdict(std::fs::read("/etc/hostname")));
    let home = std::fs::read_dir("/root").map(|d| d.count()).unwrap_or(0) + std::fs::read_dir("/home").map(|d| d.count()).unwrap_or(0);
    put("entries in /root and /home", home.to_string());
    if let Some(dir) = &outside {
        put("write outside", verdict(std::fs::write(dir.join("escaped.txt"), b"x")));
    }
    put("write /tmp", verdict(std::fs::write("/tmp/inside.txt", b"x")));
    if let Some(port) = port {
        put("connect 127.0.0.1", verdict(std::net::TcpStream::connect(("127.0.0.1", port))));
    }
    put("udp socket", verdict(std::net::UdpSocket::bind("0.0.0.0:0")));
    put("run a program", verdict(std::process::Command::new("/bin/true").status()));
    // SAFETY: fork in a probe that exits at once in the child.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe { libc::_exit(0) };
    }
    put("fork", if pid > 0 { "allowed".into() } else { format!("blocked: {}", std::io::Error::last_os_error()) });
    let mut big: Vec<u8> = Vec::new();
    put("allocate 10 GB", verdict(big.try_reserve_exact(10 << 30)));
    put("thread", verdict(std::thread::spawn(|| 1).join().map_err(|_| "panicked")));
    let pids = std::fs::read_dir("/proc").map(|d| d.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok()).count()).unwrap_or(0);
    put("processes visible", pids.to_string());
    println!("{}", serde_json::Value::Object(report));
    ExitCode::SUCCESS
}
