//! `paddock-worker`: a rollout worker serving the gRPC protocol (no libtorch).
//!
//! `paddock-worker serve --fd 3 [--sandbox]`: the trainer's own child, on the socket it inherited.
//! `paddock-worker serve --listen 0.0.0.0:50051 [--token T]`: a worker for trainers on other hosts
//! (`PADDOCK_WORKER_TOKEN` works too; without a token anyone who can reach the port may use it).
//! `paddock-worker evaluate [--sandbox]`: evaluation laps of the model on standard input (the race
//! server's evaluators), see `paddock_sandbox::evaluation`.
//! As pid 1 (a microVM guest's `/init`) it serves the host on its virtio-serial port.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use paddock_sandbox::worker_main::{probe, run_guest, run_remote_worker, serve_child};
use paddock_sandbox::{evaluation, ServerTls};

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
    /// Evaluate the model on standard input (a JSON job line, then the model file) and print
    /// the report as JSON; exits 3 when the model is refused.
    Evaluate {
        /// Enter the process sandbox before reading the model.
        #[arg(long)]
        sandbox: bool,
        /// Address-space limit in the sandbox, MB.
        #[arg(long, default_value_t = 2048)]
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
        run_guest();
    }
    let result = match Cli::parse().command {
        Cmd::Serve { fd, listen, token, insecure, sandbox, memory_mb, tls_cert, tls_key } => {
            let tls = tls_cert.zip(tls_key).map(|(cert, key)| ServerTls { cert, key });
            let token = token.or_else(|| std::env::var("PADDOCK_WORKER_TOKEN").ok().filter(|t| !t.is_empty()));
            match (fd, listen) {
                // SAFETY: the trainer hands this descriptor over for our exclusive use; no
                // thread exists yet.
                (Some(fd), None) => unsafe { serve_child(fd, sandbox.then_some(memory_mb)) },
                (None, Some(addr)) => run_remote_worker(addr, token, insecure, tls),
                _ => Err("give --fd or --listen".into()),
            }
        }
        Cmd::Evaluate { sandbox, memory_mb } => match evaluation::run_child(sandbox, memory_mb) {
            Ok(()) => Ok(()),
            Err(evaluation::ChildError::Refused(why)) => {
                eprintln!("paddock-worker: {why}");
                return ExitCode::from(evaluation::REFUSED_EXIT as u8);
            }
            Err(evaluation::ChildError::Failed(why)) => Err(why),
        },
        Cmd::Probe { outside, port } => probe(outside.as_deref(), port).map(|report| println!("{report}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("paddock-worker: {e}");
            ExitCode::FAILURE
        }
    }
}
