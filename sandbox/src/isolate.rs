//! The process sandbox a worker enters before it serves: its own user, pid, mount, ipc, uts and
//! network namespaces, an unprivileged identity, a read-only view of the system with a private
//! `/tmp`, the home folders hidden, resource limits, and a seccomp filter.
//!
//! [`enter`] must run first thing in `main`, before any thread exists (the kernel refuses a user
//! namespace to a multithreaded process). The process that calls it becomes a small supervisor:
//! it forks the sandboxed child (pid 1 of the new pid namespace), waits for it and exits with its
//! status; the child returns from `enter` and goes on to serve.

use std::ffi::CString;
use std::io;

/// Resource limits inside the sandbox.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Address space, bytes (RLIMIT_AS): a 10 GB allocation fails instead of swapping the host.
    pub memory_bytes: u64,
    /// Largest file the worker may write, bytes (RLIMIT_FSIZE; seccomp refuses opening files for
    /// writing anyway, so this bounds writes to what it inherited, like stderr).
    pub file_bytes: u64,
    /// Open files (RLIMIT_NOFILE).
    pub open_files: u64,
    /// Private /tmp size, bytes.
    pub tmp_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: 4 << 30, file_bytes: 64 << 20, open_files: 256, tmp_bytes: 64 << 20 }
    }
}

/// The unprivileged identity a worker runs as when started by root: `nobody`.
const NOBODY: u32 = 65534;

fn check(ret: libc::c_int, what: &str) -> io::Result<()> {
    if ret < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL in paths")
}

/// Enters the sandbox; returns (in the sandboxed child) a description for the worker's Hello.
pub fn enter(limits: &Limits) -> io::Result<String> {
    let outside_uid;
    let not_read_only: Vec<String>;
    // SAFETY: plain system calls on this single-threaded process; every pointer is a live CString.
    unsafe {
        if libc::geteuid() == 0 {
            check(libc::setgroups(0, std::ptr::null()), "setgroups")?;
            check(libc::setgid(NOBODY), "setgid")?;
            check(libc::setuid(NOBODY), "setuid")?;
            // Changing identity made us non-dumpable, which would keep /proc/self/uid_map root's,
            // and cleared the parent-death signal the trainer set: restore both.
            check(libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")?;
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")?;
        }
        let (uid, gid) = (libc::getuid(), libc::getgid());
        outside_uid = uid;
        let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWNET | libc::CLONE_NEWUTS;
        check(libc::unshare(flags), "unshare (user namespaces disabled? see /proc/sys/kernel/unprivileged_userns_clone)")?;
        std::fs::write("/proc/self/setgroups", "deny")?;
        std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))?;
        std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))?;
        let child = libc::fork();
        check(child, "fork")?;
        if child > 0 {
            supervise(child);
        }
        // The child: pid 1 of its namespace. It dies with its supervisor.
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")?;
        let writable = mounts(limits)?;
        not_read_only = writable;
        rlimits(limits)?;
        crate::seccomp::apply()?;
    }
    Ok(format!(
        "process sandbox: namespaces user pid mount ipc uts net (no network), uid {outside_uid} outside, read-only system, private /tmp, \
         homes hidden, {} MB address space, seccomp{}",
        limits.memory_bytes >> 20,
        if not_read_only.is_empty() { String::new() } else { format!("; left as they were: {}", not_read_only.join(" ")) }
    ))
}

/// The supervisor half: wait for the child and leave with its status. Killing the supervisor
/// kills the child (its parent-death signal).
fn supervise(child: libc::pid_t) -> ! {
    // SAFETY: waitpid/kill/_exit on our own child; no Rust state is touched after the fork.
    unsafe {
        let mut status = 0;
        loop {
            let r = libc::waitpid(child, &mut status, 0);
            if r == child {
                break;
            }
            if r < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(1);
            }
        }
        if libc::WIFEXITED(status) {
            libc::_exit(libc::WEXITSTATUS(status));
        }
        libc::_exit(128 + libc::WTERMSIG(status));
    }
}

/// Read-only system, fresh /proc (this pid namespace's), private /tmp and /dev/shm, homes hidden.
/// Returns the mounts that could not be made read-only (the kernel keeps some as they are).
unsafe fn mounts(limits: &Limits) -> io::Result<Vec<String>> {
    let mut writable = Vec::new();
    let none = std::ptr::null::<libc::c_char>();
    let root = c("/");
    check(libc::mount(none, root.as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()), "mount --make-rprivate /")?;
    // Every mount under / becomes read-only; those the kernel keeps locked stay as they are.
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut points: Vec<&str> = mounts.lines().filter_map(|l| l.split(' ').nth(1)).collect();
    points.sort();
    points.dedup();
    for p in points {
        let p = c(&p.replace("\\040", " "));
        // Flags the kernel locked on the mount (noexec, atime...) must be kept, or the remount fails.
        let mut st: libc::statvfs = std::mem::zeroed();
        let locked = if libc::statvfs(p.as_ptr(), &mut st) == 0 { st.f_flag } else { 0 };
        let keep = [
            (libc::ST_NOEXEC, libc::MS_NOEXEC),
            (libc::ST_NOATIME, libc::MS_NOATIME),
            (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
            (libc::ST_RELATIME, libc::MS_RELATIME),
        ]
        .iter()
        .filter(|(st_flag, _)| locked & st_flag != 0)
        .fold(0, |acc, (_, ms)| acc | ms);
        let flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | keep;
        if libc::mount(none, p.as_ptr(), none, flags, std::ptr::null()) < 0 {
            if p.as_bytes() == b"/" {
                check(-1, "remount / read-only")?;
            }
            writable.push(p.to_string_lossy().into_owned());
        }
    }
    let tmpfs = c("tmpfs");
    for (dir, size) in [("/tmp", limits.tmp_bytes), ("/dev/shm", 1 << 20), ("/root", 1 << 20), ("/home", 1 << 20), ("/run", 1 << 20)] {
        if std::path::Path::new(dir).is_dir() {
            let (d, opts) = (c(dir), c(&format!("size={size},mode=1777")));
            check(libc::mount(tmpfs.as_ptr(), d.as_ptr(), tmpfs.as_ptr(), libc::MS_NOSUID | libc::MS_NODEV, opts.as_ptr().cast()), &format!("tmpfs on {dir}"))?;
        }
    }
    let proc_ = c("proc");
    let dir = c("/proc");
    check(libc::mount(proc_.as_ptr(), dir.as_ptr(), proc_.as_ptr(), libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC, std::ptr::null()), "mount /proc")?;
    Ok(writable)
}

unsafe fn rlimits(limits: &Limits) -> io::Result<()> {
    let set = |resource, value: u64, what: &str| {
        let lim = libc::rlimit { rlim_cur: value, rlim_max: value };
        check(libc::setrlimit(resource, &lim), what)
    };
    set(libc::RLIMIT_AS, limits.memory_bytes, "RLIMIT_AS")?;
    set(libc::RLIMIT_FSIZE, limits.file_bytes, "RLIMIT_FSIZE")?;
    set(libc::RLIMIT_NOFILE, limits.open_files, "RLIMIT_NOFILE")?;
    set(libc::RLIMIT_CORE, 0, "RLIMIT_CORE")?;
    Ok(())
}
