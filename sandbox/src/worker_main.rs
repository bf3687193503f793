//! What the `paddock-worker` binary runs, so the binary itself only parses its command line:
//! serve the trainer that started it ([`serve_child`]), serve trainers on other hosts
//! ([`run_remote_worker`]), be a microVM guest's init ([`run_guest`]), or report what the process
//! sandbox lets code do ([`probe`]).

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::isolate::{self, Limits};
use crate::server::{serve_fd, serve_tcp, FaultPlan, ServerTls, WorkerService};

/// Faults a test asked for (`PADDOCK_WORKER_FAULT`), see [`FaultPlan::parse`].
fn fault_plan() -> Option<FaultPlan> {
    std::env::var("PADDOCK_WORKER_FAULT").ok().and_then(|f| FaultPlan::parse(&f))
}

fn enter_sandbox(memory_bytes: u64) -> Result<String, String> {
    isolate::enter(&Limits { memory_bytes, ..Limits::default() }).map_err(|e| format!("cannot enter the sandbox: {e}"))
}

/// As a microVM guest's init (pid 1): serves the host on the guest's port until the VM stops.
pub fn run_guest() -> ! {
    crate::guest::run()
}

/// Serves the trainer that started this process on the socket it handed over as `fd`, until
/// killed; first enters the process sandbox with an address-space limit of `sandbox_memory_mb`
/// when given. Call it before any thread exists: the kernel refuses a new user namespace to a
/// threaded process.
///
/// # Safety
/// `fd` must be an open, connected socket that this process owns and nothing else uses.
pub unsafe fn serve_child(fd: RawFd, sandbox_memory_mb: Option<u64>) -> Result<(), String> {
    let isolation = match sandbox_memory_mb {
        Some(mb) => enter_sandbox(mb.saturating_mul(1 << 20))?,
        None => "none (a plain process)".to_string(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().map_err(|e| e.to_string())?;
    // SAFETY: the caller hands `fd` over for this process's exclusive use.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    rt.block_on(serve_fd(fd, WorkerService::new(isolation, fault_plan())))
}

/// A remote worker: serves trainers at `addr` until killed (`paddock worker serve`,
/// `paddock-worker serve --listen`).
///
/// A remote worker runs the trainer's reward code unsandboxed: the token is a code-execution
/// credential, so one is required unless `insecure` says otherwise.
pub fn run_remote_worker(addr: SocketAddr, token: Option<String>, insecure: bool, tls: Option<ServerTls>) -> Result<(), String> {
    if token.is_none() && !insecure {
        return Err("no token: set PADDOCK_WORKER_TOKEN (anyone with the token can run code here), or pass --insecure on a closed network".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().map_err(|e| e.to_string())?;
    if token.is_none() {
        eprintln!("paddock-worker: no token: anyone who can reach {addr} can run code on this worker");
    }
    eprintln!("paddock-worker: listening on {addr}{}", if tls.is_some() { " (TLS)" } else { " (no TLS: use it on a trusted network or through a tunnel)" });
    let service = WorkerService::new("none (a remote worker; isolate it with a container or microVM)".into(), fault_plan());
    rt.block_on(serve_tcp(addr, token, tls.as_ref(), service))
}

/// Enters the sandbox and tries what a hostile reward function would: each attempt `allowed` or
/// `blocked: why`, as a JSON object. Trying to write into `outside` and to connect to `port` on
/// the loopback when given. Call it before any thread exists, as [`serve_child`].
pub fn probe(outside: Option<&Path>, port: Option<u16>) -> Result<serde_json::Value, String> {
    let isolation = enter_sandbox(1 << 30)?;
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
    if let Some(dir) = outside {
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
    let pids =
        std::fs::read_dir("/proc").map(|d| d.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok()).count()).unwrap_or(0);
    put("processes visible", pids.to_string());
    Ok(serde_json::Value::Object(report))
}
