//! The `microvm` backend's host side: one Linux guest per worker, booted with QEMU's `microvm`
//! machine, the worker protocol on a virtio-serial port behind a unix socket.
//!
//! The guest is a kernel (`scripts/setup-microvm.sh` takes Debian's cloud kernel) and an
//! initramfs built here from the running `paddock-worker` binary (as `/init`, see
//! `guest.rs`), the shared libraries it links and, when it links libpython, the Python
//! standard library. The first VM boots from scratch and is snapshotted once it serves its port;
//! every later VM is restored from that snapshot, which is much faster than a boot. KVM is used
//! when a probe boot under it works, QEMU's TCG (software emulation) otherwise.
//!
//! The snapshot keeps the guest's RAM in a file of its own (the boot ran with its memory mapped
//! from it) and only the device state in the migration stream (QEMU's `x-ignore-shared`). A
//! restored VM maps that file copy-on-write, as Firecracker and Kata's VM templates do: nothing
//! is copied at start-up, and the pages every VM only reads are shared between them.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::guest::{MODULES_DIR, PORT_NAME, READY};

/// Which accelerator runs the guests (`auto`, `kvm` or `tcg` in configs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM if a probe boot under it works, TCG otherwise.
    Auto,
    Kvm,
    Tcg,
}

/// How to build and run the guests.
#[derive(Debug, Clone)]
pub struct MicroVmOptions {
    /// Holds `kernel/vmlinux` and `kernel/modules/*.ko` (from `scripts/setup-microvm.sh`); the
    /// initramfs, snapshot and accelerator probe are cached beside them.
    pub dir: PathBuf,
    /// The `paddock-worker` that becomes the guest's init.
    pub worker_binary: PathBuf,
    /// Guest memory, MiB.
    pub memory_mb: u32,
    /// Guest vCPUs.
    pub cpus: u32,
    pub accel: Accel,
    /// Restore from a snapshot (else every VM boots from scratch).
    pub snapshot: bool,
}

impl MicroVmOptions {
    pub fn new(worker_binary: PathBuf) -> MicroVmOptions {
        MicroVmOptions { dir: default_dir(), worker_binary, memory_mb: 512, cpus: 1, accel: Accel::Auto, snapshot: true }
    }
}

/// `PADDOCK_MICROVM_DIR`, or `~/.cache/paddock/microvm` (where the setup script puts the kernel).
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PADDOCK_MICROVM_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache/paddock/microvm")
}

/// A guest ready to launch: image built, accelerator chosen, snapshot taken.
///
/// It holds its files open and hands QEMU `/proc/self/fd/N` paths, so another trainer replacing
/// the cache (a newer worker binary) never pulls them from under a running one.
#[derive(Debug)]
pub struct Guest {
    qemu: PathBuf,
    kernel: File,
    initramfs: File,
    /// The snapshot's memory and device state.
    snapshot: Option<(File, File)>,
    accel: Accel,
    memory_mb: u32,
    cpus: u32,
    append: String,
}

/// The guest kernel's command line, less the TSC frequency (host-specific; kept out of cache keys).
const APPEND: &str = "console=ttyS0 quiet tsc=reliable mitigations=off nokaslr pci=off i8042.noaux i8042.nokbd 8250.nr_uarts=1 lsm= panic=-1 rdinit=/init";

impl Guest {
    /// Builds (or finds cached) the initramfs, picks the accelerator and takes the snapshot.
    /// Trainers sharing the cache take turns here (a lock on the cache folder).
    pub fn prepare(opts: &MicroVmOptions) -> Result<Guest, String> {
        let qemu = find_program("qemu-system-x86_64").ok_or("qemu-system-x86_64 is not installed (run scripts/setup-microvm.sh)")?;
        let kernel_path = opts.dir.join("kernel/vmlinux");
        let kernel = File::open(&kernel_path).map_err(|e| format!("no guest kernel at {}: {e} (run scripts/setup-microvm.sh)", kernel_path.display()))?;
        let cache = opts.dir.join("cache");
        std::fs::create_dir_all(&cache).map_err(|e| format!("{}: {e}", cache.display()))?;
        let _lock = CacheLock::take(&cache)?;
        // Whatever a builder that died left half-made.
        remove_matching(&cache, |name| name.contains(".tmp"));
        let initramfs_path = build_initramfs(&opts.worker_binary, &opts.dir.join("kernel/modules"), &cache)?;
        let initramfs = File::open(&initramfs_path).map_err(|e| format!("{}: {e}", initramfs_path.display()))?;
        let append = format!("{APPEND} tsc_early_khz={}", host_tsc_khz());
        let mut guest = Guest { qemu, kernel, initramfs, snapshot: None, accel: Accel::Tcg, memory_mb: opts.memory_mb, cpus: opts.cpus, append };
        let host = format!("{}|{}", cpu_model(), file_key(&kernel_path));
        guest.accel = match opts.accel {
            Accel::Auto => guest.probe_kvm(&cache, &host),
            other => other,
        };
        if opts.snapshot {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (file_key(&initramfs_path), &host, guest.accel == Accel::Kvm, guest.memory_mb, guest.cpus, APPEND, qemu_version(&guest.qemu)).hash(&mut h);
            guest.snapshot = Some(guest.take_snapshot(&cache, &format!("snapshot-{:016x}", h.finish()))?);
        }
        Ok(guest)
    }

    /// What `Hello` can't say from inside: how the VM runs.
    pub fn describe(&self) -> String {
        format!(
            "QEMU microvm, {}, {} vCPU, {} MB{}",
            if self.accel == Accel::Kvm { "KVM" } else { "TCG (software emulation)" },
            self.cpus,
            self.memory_mb,
            if self.snapshot.is_some() { ", restored from a snapshot" } else { ", booted" }
        )
    }

    /// Starts a VM (restored from the snapshot when there is one) serving the worker protocol.
    pub fn launch(&self) -> Result<Vm, String> {
        match &self.snapshot {
            Some((ram, state)) => self.restore(ram, state),
            None => self.boot(Duration::from_secs(120)),
        }
    }

    /// Boots a VM from scratch and waits until it serves its port.
    pub fn boot(&self, wait: Duration) -> Result<Vm, String> {
        let mut vm = self.spawn(Start::Boot, self.accel)?;
        vm.wait_ready(wait)?;
        vm.connect()?;
        Ok(vm)
    }

    fn restore(&self, ram: &File, state: &File) -> Result<Vm, String> {
        // A description of its own (offset 0) for this VM's migration stream.
        let state = File::open(fd_path(state)).map_err(|e| format!("the snapshot's state: {e}"))?;
        let mut vm = self.spawn(Start::Restore { ram, state: &state }, self.accel)?;
        let mut qmp = vm.qmp()?;
        // The RAM isn't in the stream: it is the file QEMU mapped.
        qmp.execute("migrate-set-capabilities", json!({ "capabilities": [{ "capability": "x-ignore-shared", "state": true }] }))?;
        qmp.execute("migrate-incoming", json!({ "uri": format!("fd:{}", state.as_raw_fd()) }))?;
        drop(state);
        let start = Instant::now();
        loop {
            let status = qmp.execute("query-status", json!({}))?;
            match status["status"].as_str() {
                Some("inmigrate") if start.elapsed() < Duration::from_secs(30) => std::thread::sleep(Duration::from_millis(2)),
                Some("paused" | "postmigrate") => break,
                other => return Err(format!("restoring the snapshot: the VM is {other:?}{}", vm.console_tail())),
            }
        }
        // Connected before the guest runs again: it never sees its port unconnected.
        vm.connect()?;
        qmp.execute("cont", json!({}))?;
        Ok(vm)
    }

    fn spawn(&self, start: Start, accel: Accel) -> Result<Vm, String> {
        let dir = private_temp_dir()?;
        let (socket, qmp) = (dir.join("worker.sock"), dir.join("qmp.sock"));
        let mut inherit = vec![self.kernel.as_raw_fd(), self.initramfs.as_raw_fd()];
        let mut cmd = Command::new(&self.qemu);
        let memory = |ram: &str, share: &str| format!("memory-backend-file,id=ram,size={}M,mem-path={},share={share}", self.memory_mb, escape(ram));
        let machine = "microvm,x-option-roms=off,isa-serial=on,rtc=on";
        // What runs untrusted code gets QEMU's own seccomp filter too: no exec, no privilege
        // changes, no obsolete calls. (The snapshot's source runs none and needs exec to save.)
        let sandbox = ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"];
        match start {
            Start::Boot => cmd.args(["-M", machine]).args(sandbox),
            Start::SnapshotSource(ram) => cmd.args(["-M", &format!("{machine},memory-backend=ram"), "-object", &memory(&ram.display().to_string(), "on")]),
            Start::Restore { ram, state } => {
                inherit.extend([ram.as_raw_fd(), state.as_raw_fd()]);
                cmd.args(["-M", &format!("{machine},memory-backend=ram"), "-object", &memory(&fd_path(ram), "off")]).args(["-incoming", "defer"]).args(sandbox)
            }
        };
        cmd.args(["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"]);
        match accel {
            Accel::Kvm => cmd.args(["-accel", "kvm", "-cpu", "host"]),
            _ => cmd.args(["-accel", "tcg", "-cpu", "max"]),
        };
        cmd.args(["-smp", &self.cpus.to_string(), "-m", &format!("{}M", self.memory_mb), "-serial", "stdio"]);
        cmd.args(["-kernel", &fd_path(&self.kernel), "-initrd", &fd_path(&self.initramfs), "-append", &self.append]);
        cmd.args([
            "-device",
            "virtio-serial-device",
            "-chardev",
            &format!("socket,id=worker,path={},server=on,wait=off", escape(&socket.display().to_string())),
        ]);
        cmd.args(["-device", &format!("virtserialport,chardev=worker,name={PORT_NAME}")]);
        cmd.args(["-qmp", &format!("unix:{},server=on,wait=off", escape(&qmp.display().to_string()))]);
        let stderr = File::create(dir.join("qemu.log")).map_err(|e| e.to_string())?;
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr).env_clear().env("PATH", "/usr/bin:/bin");
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &inherit {
                    if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if libc::setsid() < 0 || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("starting {}: {e}", self.qemu.display()));
            }
        };
        let stdout = child.stdout.take().ok_or("no console pipe")?;
        let console = Arc::new(Mutex::new(VecDeque::new()));
        let (ready_tx, ready) = mpsc::sync_channel(1);
        let lines = console.clone();
        std::thread::Builder::new().name("paddock-vm-console".into()).spawn(move || read_console(stdout, &lines, &ready_tx)).map_err(|e| e.to_string())?;
        Ok(Vm { child, dir, socket, qmp, console, ready, stream: None })
    }

    /// Boots under KVM once to see whether it works here; the answer is cached per host CPU and
    /// kernel (a boot that merely ran out of time isn't).
    fn probe_kvm(&self, cache: &Path, host: &str) -> Accel {
        let usable = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok();
        if !usable {
            return Accel::Tcg;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        host.hash(&mut h);
        let name = format!("kvm-{:016x}", h.finish());
        remove_matching(cache, |n| n.starts_with("kvm-") && n != name);
        let record = cache.join(name);
        if let Ok(answer) = std::fs::read_to_string(&record) {
            return if answer.trim() == "kvm" { Accel::Kvm } else { Accel::Tcg };
        }
        let outcome = self.spawn(Start::Boot, Accel::Kvm).and_then(|mut vm| vm.wait_ready(Duration::from_secs(15)));
        match outcome {
            Ok(()) => {
                let _ = std::fs::write(&record, "kvm");
                Accel::Kvm
            }
            Err(e) => {
                if !e.contains("did not come up") {
                    let _ = std::fs::write(&record, "tcg");
                }
                Accel::Tcg
            }
        }
    }

    /// Boots once, waits until the guest serves, and saves it into `cache/name/` (`ram`, the
    /// guest's memory; `state`, its devices), unless that is there already. Called under the lock.
    fn take_snapshot(&self, cache: &Path, name: &str) -> Result<(File, File), String> {
        let dir = cache.join(name);
        if !(dir.join("ram").is_file() && dir.join("state").is_file()) {
            remove_matching(cache, |n| n.starts_with("snapshot-"));
            let tmp = cache.join(format!("{name}.tmp"));
            std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            let saved = self.save_snapshot(&tmp);
            if let Err(e) = saved {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, &dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let open = |f: &str| File::open(dir.join(f)).map_err(|e| format!("{}: {e}", dir.join(f).display()));
        Ok((open("ram")?, open("state")?))
    }

    fn save_snapshot(&self, dir: &Path) -> Result<(), String> {
        let (ram, state, part) = (dir.join("ram"), dir.join("state"), dir.join("state.part"));
        let quoted = |p: &Path| {
            let s = p.display().to_string();
            if s.contains('\'') {
                Err(format!("the cache path {s} holds a quote; choose another PADDOCK_MICROVM_DIR"))
            } else {
                Ok(format!("'{s}'"))
            }
        };
        // `mv` runs once `cat` has written everything, so `state` appearing means it is whole.
        let uri = format!("exec:cat > {} && mv {} {}", quoted(&part)?, quoted(&part)?, quoted(&state)?);
        let mut vm = self.spawn(Start::SnapshotSource(&ram), self.accel)?;
        vm.wait_ready(Duration::from_secs(120))?;
        let mut qmp = vm.qmp()?;
        qmp.execute("stop", json!({}))?;
        qmp.execute("migrate-set-capabilities", json!({ "capabilities": [{ "capability": "x-ignore-shared", "state": true }] }))?;
        qmp.execute("migrate", json!({ "uri": uri }))?;
        let start = Instant::now();
        loop {
            let status = qmp.execute("query-migrate", json!({}))?;
            match status["status"].as_str() {
                Some("completed") => break,
                Some("failed" | "cancelled") => return Err(format!("snapshot failed: {}", status["error-desc"])),
                _ if start.elapsed() > Duration::from_secs(60) => return Err("snapshot took over 60 s".to_string()),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        while !state.is_file() {
            if start.elapsed() > Duration::from_secs(60) {
                return Err("the snapshot's state was not written within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(vm);
        for f in [&ram, &state] {
            File::open(f).and_then(|f| f.sync_all()).map_err(|e| format!("{}: {e}", f.display()))?;
        }
        Ok(())
    }
}

/// How a VM starts.
#[derive(Clone, Copy)]
enum Start<'a> {
    Boot,
    /// Boots with its memory in this file, to be snapshotted.
    SnapshotSource(&'a Path),
    /// Maps `ram` copy-on-write and reads the device state from `state`.
    Restore {
        ram: &'a File,
        state: &'a File,
    },
}

/// Holds an exclusive `flock` on the cache folder while it lives.
struct CacheLock(File);

impl CacheLock {
    fn take(cache: &Path) -> Result<CacheLock, String> {
        let path = cache.join(".lock");
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor this value owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(format!("locking {}: {}", path.display(), std::io::Error::last_os_error()));
        }
        Ok(CacheLock(file))
    }
}

impl Drop for CacheLock {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The path under which a child that inherited `file`'s descriptor can open it.
fn fd_path(file: &File) -> String {
    format!("/proc/self/fd/{}", file.as_raw_fd())
}

/// A QEMU option value: commas doubled.
fn escape(value: &str) -> String {
    value.replace(',', ",,")
}

/// A fresh folder only this user can enter (mkdtemp, mode 0700) for a VM's sockets and log.
fn private_temp_dir() -> Result<PathBuf, String> {
    let template = std::env::temp_dir().join("paddock-vm-XXXXXX");
    let mut bytes = template.into_os_string().into_encoded_bytes();
    bytes.push(0);
    // SAFETY: a NUL-terminated template mkdtemp fills in place.
    let made = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
    if made.is_null() {
        return Err(format!("making a folder for the VM: {}", std::io::Error::last_os_error()));
    }
    bytes.pop();
    // SAFETY: the bytes came from an OsString and mkdtemp replaced ASCII X's with ASCII.
    Ok(PathBuf::from(unsafe { std::ffi::OsString::from_encoded_bytes_unchecked(bytes) }))
}

/// Keeps the console's last lines (each cut at 1 KiB, whatever bytes the guest prints) and says
/// once when the guest is ready.
fn read_console(mut out: impl Read, lines: &Mutex<VecDeque<String>>, ready: &mpsc::SyncSender<()>) {
    let mut buf = [0u8; 4096];
    let mut line: Vec<u8> = Vec::new();
    let push = |line: &mut Vec<u8>| {
        let text = String::from_utf8_lossy(line).into_owned();
        if text.contains(READY) {
            let _ = ready.try_send(());
        }
        if let Ok(mut l) = lines.lock() {
            if l.len() == 40 {
                l.pop_front();
            }
            l.push_back(text);
        }
        line.clear();
    };
    while let Ok(n) = out.read(&mut buf) {
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            match b {
                b'\n' | b'\r' => push(&mut line),
                _ if line.len() < 1024 => line.push(b),
                _ => {}
            }
        }
    }
    if !line.is_empty() {
        push(&mut line);
    }
}

/// A running VM; dropping it kills QEMU and removes its sockets.
pub struct Vm {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    qmp: PathBuf,
    console: Arc<Mutex<VecDeque<String>>>,
    ready: mpsc::Receiver<()>,
    stream: Option<UnixStream>,
}

impl Vm {
    /// The connection to the guest's worker (once).
    pub fn take_stream(&mut self) -> Option<UnixStream> {
        self.stream.take()
    }

    /// QEMU's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How QEMU ended, if it has, with the console's last lines.
    pub fn exit_status(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok().flatten()?;
        Some(format!("QEMU {status}{}", self.console_tail()))
    }

    fn wait_ready(&mut self, wait: Duration) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < wait {
            if self.ready.recv_timeout(Duration::from_millis(20)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self.dir.join("qemu.log")).unwrap_or_default();
                return Err(format!("the VM stopped while booting (QEMU {status}) {}{}", log.trim(), self.console_tail()));
            }
        }
        Err(format!("the guest did not come up within {} s{}", wait.as_secs(), self.console_tail()))
    }

    fn connect(&mut self) -> Result<(), String> {
        let stream = UnixStream::connect(&self.socket).map_err(|e| format!("connecting to the VM's port {}: {e}", self.socket.display()))?;
        self.stream = Some(stream);
        Ok(())
    }

    fn qmp(&self) -> Result<Qmp, String> {
        Qmp::connect(&self.qmp, Duration::from_secs(10)).map_err(|e| {
            std::thread::sleep(Duration::from_millis(50));
            let log = std::fs::read_to_string(self.dir.join("qemu.log")).unwrap_or_default();
            format!("{e}; QEMU said: {}{}", log.trim(), self.console_tail())
        })
    }

    fn console_tail(&self) -> String {
        let lines = self.console.lock().map(|l| l.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default();
        if lines.is_empty() {
            String::new()
        } else {
            format!("; its console said:\n{lines}")
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A QEMU Machine Protocol connection: one JSON object a line.
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    fn connect(path: &Path, wait: Duration) -> Result<Qmp, String> {
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if start.elapsed() > wait => return Err(format!("QMP {}: {e}", path.display())),
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut qmp = Qmp { reader: BufReader::new(stream), writer };
        qmp.read()?; // the greeting
        qmp.execute("qmp_capabilities", json!({}))?;
        Ok(qmp)
    }

    fn read(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).map_err(|e| format!("QMP: {e}"))? == 0 {
            return Err("QMP: QEMU closed the connection".into());
        }
        serde_json::from_str(&line).map_err(|e| format!("QMP: {e}"))
    }

    fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, String> {
        let mut msg = serde_json::to_vec(&json!({ "execute": command, "arguments": arguments })).map_err(|e| e.to_string())?;
        msg.push(b'\n');
        self.writer.write_all(&msg).map_err(|e| format!("QMP: {e}"))?;
        loop {
            let reply = self.read()?;
            if let Some(r) = reply.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = reply.get("error") {
                return Err(format!("QMP {command}: {}", e["desc"]));
            }
            // An event: not our answer.
        }
    }
}

/// Size and modification time: enough to tell a rebuilt file.
fn file_key(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(m) => format!("{:x}-{:x}", m.len(), m.mtime_nsec() as u64 ^ ((m.mtime() as u64) << 20)),
        Err(_) => "missing".into(),
    }
}

/// Removes the cache entries (files or folders) whose names match.
fn remove_matching(cache: &Path, matches: impl Fn(&str) -> bool) {
    if let Ok(entries) = std::fs::read_dir(cache) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if matches(&name) {
                let _ = std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path()));
            }
        }
    }
}

/// The host CPU's model: snapshots and the KVM answer belong to one kind of CPU.
fn cpu_model() -> String {
    cpuinfo("model name").unwrap_or_else(|| "unknown".into())
}

/// The first `key : value` of /proc/cpuinfo.
fn cpuinfo(key: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines().find(|l| l.starts_with(key)).and_then(|l| l.split(':').nth(1)).map(|v| v.trim().to_string())
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

fn qemu_version(qemu: &Path) -> String {
    Command::new(qemu).arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// The host's TSC frequency, kHz; without it on the command line some guest boots hang
/// calibrating the TSC under TCG.
fn host_tsc_khz() -> u64 {
    cpuinfo("cpu MHz").and_then(|v| v.parse::<f64>().ok()).map(|mhz| (mhz * 1000.0) as u64).unwrap_or(2_000_000)
}

/// What goes into the initramfs, by path inside it.
enum Entry {
    Dir,
    File { from: PathBuf, mode: u32 },
    CharDev { major: u32, minor: u32 },
}

/// Writes the guest's initramfs (an uncompressed newc cpio: nothing to decompress under
/// emulation) unless one for this binary and these modules is cached.
fn build_initramfs(worker: &Path, modules: &Path, cache: &Path) -> Result<PathBuf, String> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (worker, file_key(worker), modules, file_key(&modules.join("virtio_console.ko"))).hash(&mut h);
    let out = cache.join(format!("initramfs-{:016x}.cpio", h.finish()));
    if out.is_file() {
        return Ok(out);
    }
    let keep = out.file_name().unwrap_or_default().to_string_lossy().into_owned();
    remove_matching(cache, |n| n.starts_with("initramfs-") && n != keep);
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let mut add = |path: &str, entry: Entry| {
        let mut parent = Path::new(path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            entries.entry(p.to_string_lossy().into_owned()).or_insert(Entry::Dir);
            parent = p.parent();
        }
        entries.insert(path.to_string(), entry);
    };
    for dir in ["dev", "proc", "sys", "tmp"] {
        add(dir, Entry::Dir);
    }
    add("dev/console", Entry::CharDev { major: 5, minor: 1 });

    let stripped = cache.join(format!("init.tmp{}", std::process::id()));
    let strip = Command::new("strip").arg("-o").arg(&stripped).arg(worker).status();
    let init = if strip.is_ok_and(|s| s.success()) { stripped.clone() } else { worker.to_path_buf() };
    add("init", Entry::File { from: init, mode: 0o755 });

    let mut python = None;
    for lib in shared_libraries(worker)? {
        let name = lib.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(version) = name.strip_prefix("libpython").and_then(|v| v.split(".so").next()) {
            python = Some(version.to_string());
        }
        add(lib.to_string_lossy().trim_start_matches('/'), Entry::File { from: lib.clone(), mode: 0o755 });
    }
    if let Some(version) = python {
        let stdlib = PathBuf::from(format!("/usr/lib/python{version}"));
        let pyc = format!(".cpython-{}.pyc", version.replace('.', ""));
        add_python_stdlib(&stdlib, &pyc, &mut add)?;
    }
    let kos = std::fs::read_dir(modules).map_err(|e| format!("{}: {e} (run scripts/setup-microvm.sh)", modules.display()))?;
    for ko in kos.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "ko")) {
        add(&format!("{}/{}", MODULES_DIR.trim_start_matches('/'), ko.file_name().to_string_lossy()), Entry::File { from: ko.path(), mode: 0o644 });
    }

    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        for (ino, (name, entry)) in entries.iter().enumerate() {
            let b = cpio::newc::Builder::new(name).ino(ino as u32 + 1).uid(0).gid(0).nlink(1);
            w = match entry {
                Entry::Dir => b.mode(0o040755).nlink(2).write(w, 0).finish()?,
                Entry::CharDev { major, minor } => b.mode(0o020600).rdev_major(*major).rdev_minor(*minor).write(w, 0).finish()?,
                Entry::File { from, mode } => {
                    let data = std::fs::read(from)?;
                    // Python trusts a .pyc only while its source keeps the mtime it recorded:
                    // without it every import in the guest compiles from source (seconds under TCG).
                    let mtime = std::os::unix::fs::MetadataExt::mtime(&std::fs::metadata(from)?).clamp(0, u32::MAX as i64) as u32;
                    let mut fw = b.mode(0o100000 | mode).mtime(mtime).write(w, data.len() as u32);
                    fw.write_all(&data)?;
                    fw.finish()?
                }
            };
        }
        cpio::newc::trailer(w)?.flush()
    };
    let result = write();
    let _ = std::fs::remove_file(&stripped);
    result.map_err(|e| format!("writing the guest's initramfs {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The shared libraries `binary` loads (its interpreter included), as `ldd` lists them.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("ldd").arg(binary).output().map_err(|e| format!("ldd: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // A static binary: nothing to copy.
        return Ok(Vec::new());
    }
    Ok(text
        .lines()
        .filter_map(|l| {
            let path = l.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// The standard library, without tests, GUI, packaging tools and other interpreters' bytecode.
fn add_python_stdlib(root: &Path, pyc_suffix: &str, add: &mut impl FnMut(&str, Entry)) -> Result<(), String> {
    const SKIP: [&str; 11] =
        ["test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages", "dist-packages", "pydoc_data", "venv"];
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if meta.is_dir() {
                if !SKIP.contains(&name.as_str()) && !name.starts_with("config-") {
                    stack.push(path);
                }
            } else if !name.ends_with(".pyc") || (name.ends_with(pyc_suffix) && !name.contains(".opt-")) {
                add(path.to_string_lossy().trim_start_matches('/'), Entry::File { from: path.clone(), mode: 0o644 });
            }
        }
    }
    Ok(())
}
