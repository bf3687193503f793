//! Inside a microVM: `paddock-worker` is the guest's init (pid 1). It mounts the pseudo
//! filesystems, loads the virtio modules from the initramfs, finds the virtio-serial port the
//! host named [`PORT_NAME`], says [`READY`] on the console and serves the worker protocol on the
//! port. The guest has no disk and no network device: the initramfs in its RAM is all it sees.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::server::WorkerService;

/// The virtio-serial port's name (QEMU's `virtserialport,name=`).
pub const PORT_NAME: &str = "paddock.worker";
/// The console line that says the guest serves its port (the host snapshots the VM after it).
pub const READY: &str = "paddock-worker: guest ready";
/// Where the initramfs keeps the kernel modules the guest loads.
pub const MODULES_DIR: &str = "/lib/modules/paddock";

/// Runs the guest until the host stops the VM; powers off if serving ends.
pub fn run() -> ! {
    if let Err(e) = setup_and_serve() {
        eprintln!("paddock-worker (guest): {e}");
    }
    // SAFETY: pid 1 ending the VM; init must not exit (the kernel would panic).
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
    loop {
        std::thread::park();
    }
}

fn setup_and_serve() -> Result<(), String> {
    for (source, target, fstype) in [("devtmpfs", "/dev", "devtmpfs"), ("proc", "/proc", "proc"), ("sysfs", "/sys", "sysfs"), ("tmpfs", "/tmp", "tmpfs")] {
        mount(source, target, fstype)?;
    }
    load_modules(Path::new(MODULES_DIR))?;
    let port = find_port(PORT_NAME, Duration::from_secs(20))?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&port)
        .map_err(|e| format!("opening {}: {e}", port.display()))?;
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let isolation = format!("microVM guest (Linux {}; no disk, no network; talks through a virtio-serial port)", release.trim());
    println!("{READY}");
    let _ = std::io::stdout().flush();
    // The host snapshots the VM here. Until the host connects, the port reads as end-of-file
    // (and polls as hung up), so wait for the first bytes before the server sees the port.
    let first = first_bytes(&file)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().map_err(|e| e.to_string())?;
    let _enter = rt.enter();
    // SAFETY: the `File` owns its descriptor for as long as the `AsyncFd` holds it.
    let fd = unsafe { AsyncFd::register(file) }.map_err(|e| format!("polling {}: {e}", port.display()))?;
    rt.block_on(crate::server::serve_io(PortIo { fd, first, offset: 0 }, WorkerService::new(isolation, None)))
}

/// Waits for the host to connect and send something; returns what it sent.
fn first_bytes(mut port: &File) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match port.read(&mut buf) {
            Ok(0) => std::thread::sleep(Duration::from_millis(2)),
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(format!("reading the port: {e}")),
        }
    }
}

fn mount(source: &str, target: &str, fstype: &str) -> Result<(), String> {
    let _ = std::fs::create_dir_all(target);
    let c = |s: &str| CString::new(s).map_err(|e| e.to_string());
    let (src, tgt, fs) = (c(source)?, c(target)?, c(fstype)?);
    // SAFETY: valid C strings; no data argument.
    let rc = unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), fs.as_ptr(), libc::MS_NOSUID, std::ptr::null()) };
    if rc != 0 {
        return Err(format!("mounting {fstype} on {target}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Loads every module in `dir`, retrying those whose dependencies weren't loaded yet.
fn load_modules(dir: &Path) -> Result<(), String> {
    let mut pending: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ko"))
        .collect();
    pending.sort();
    while !pending.is_empty() {
        let before = pending.len();
        let mut errors = Vec::new();
        pending.retain(|path| {
            let Ok(file) = File::open(path) else { return true };
            // SAFETY: finit_module with an open module file and empty parameters.
            let rc = unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), c"".as_ptr(), 0) };
            let err = std::io::Error::last_os_error();
            if rc == 0 || err.raw_os_error() == Some(libc::EEXIST) {
                return false;
            }
            errors.push(format!("{}: {err}", path.display()));
            true
        });
        if pending.len() == before {
            return Err(format!("cannot load kernel modules: {}", errors.join("; ")));
        }
    }
    Ok(())
}

/// The device node of the virtio-serial port called `name`, once the driver made it.
fn find_port(name: &str, wait: Duration) -> Result<PathBuf, String> {
    let start = Instant::now();
    loop {
        if let Ok(entries) = std::fs::read_dir("/sys/class/virtio-ports") {
            for entry in entries.flatten() {
                if std::fs::read_to_string(entry.path().join("name")).is_ok_and(|n| n.trim() == name) {
                    let dev = Path::new("/dev").join(entry.file_name());
                    if dev.exists() {
                        return Ok(dev);
                    }
                }
            }
        }
        if start.elapsed() > wait {
            return Err(format!("no virtio-serial port named {name} after {} s", wait.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A virtio-serial port as an async byte stream (the port's node supports poll), starting with
/// the bytes [`first_bytes`] already read.
struct PortIo {
    fd: AsyncFd<File>,
    first: Vec<u8>,
    offset: usize,
}

impl AsyncRead for PortIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.offset < self.first.len() {
            let n = buf.remaining().min(self.first.len() - self.offset);
            buf.put_slice(&self.first[self.offset..self.offset + n]);
            self.offset += n;
            return Poll::Ready(Ok(()));
        }
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| fd.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for PortIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| fd.get_ref().write(data)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl tonic::transport::server::Connected for PortIo {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}
