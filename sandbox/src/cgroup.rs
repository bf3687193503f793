//! Control groups for process workers: memory, CPU and process-count limits the kernel enforces
//! on the worker and everything it starts (rlimits only bound each process on its own).
//!
//! Each worker gets a group of its own under the trainer's group in every hierarchy that has the
//! controller: cgroup v1 (one hierarchy per controller) where mounted, v2 where its controllers
//! are delegated to the trainer's group. The child joins between fork and exec by writing `0`
//! into each `cgroup.procs` (see [`Cgroup::procs_files`]).

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a worker may use; `None` leaves that resource unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CgroupLimits {
    /// Memory, bytes (swap included where the kernel accounts it).
    pub memory_bytes: Option<u64>,
    /// CPU time, in cores (1.5 = one and a half cores' worth per period).
    pub cpu_cores: Option<f64>,
    /// Processes and threads.
    pub pids: Option<u64>,
}

/// One worker's groups; dropping it kills what is left in them and removes them.
#[derive(Debug)]
pub struct Cgroup {
    dirs: Vec<PathBuf>,
    procs: Vec<CString>,
    memory: Option<(PathBuf, u8)>,
    limits: CgroupLimits,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Controller {
    Memory,
    Cpu,
    Pids,
}

impl Controller {
    fn v1_name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Pids => "pids",
        }
    }
}

impl Cgroup {
    /// Creates the groups called `name` and sets `limits`; an error names what couldn't be
    /// limited (no hierarchy has the controller, or it can't be written here).
    pub fn create(name: &str, limits: &CgroupLimits) -> Result<Cgroup, String> {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
        let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
        let mut group = Cgroup { dirs: Vec::new(), procs: Vec::new(), memory: None, limits: *limits };
        let wanted =
            [(Controller::Memory, limits.memory_bytes.is_some()), (Controller::Cpu, limits.cpu_cores.is_some()), (Controller::Pids, limits.pids.is_some())];
        for (controller, _) in wanted.iter().filter(|(_, on)| *on) {
            let (dir, version) = group.dir_for(*controller, name, &mounts, &own)?;
            let write =
                |file: &str, value: String| std::fs::write(dir.join(file), &value).map_err(|e| format!("setting {} to {value}: {e}", dir.join(file).display()));
            match (controller, version) {
                (Controller::Memory, 1) => {
                    let bytes = limits.memory_bytes.unwrap_or(u64::MAX);
                    write("memory.limit_in_bytes", bytes.to_string())?;
                    if dir.join("memory.memsw.limit_in_bytes").exists() {
                        write("memory.memsw.limit_in_bytes", bytes.to_string())?;
                    }
                }
                (Controller::Memory, _) => {
                    write("memory.max", limits.memory_bytes.unwrap_or(u64::MAX).to_string())?;
                    if dir.join("memory.swap.max").exists() {
                        write("memory.swap.max", "0".into())?;
                    }
                }
                (Controller::Cpu, v) => {
                    let period = 100_000u64;
                    let quota = (limits.cpu_cores.unwrap_or(1.0).max(0.01) * period as f64) as u64;
                    if v == 1 {
                        write("cpu.cfs_period_us", period.to_string())?;
                        write("cpu.cfs_quota_us", quota.to_string())?;
                    } else {
                        write("cpu.max", format!("{quota} {period}"))?;
                    }
                }
                (Controller::Pids, _) => write("pids.max", limits.pids.unwrap_or(u64::MAX).to_string())?,
            }
            if *controller == Controller::Memory {
                group.memory = Some((dir.clone(), version));
            }
        }
        Ok(group)
    }

    /// The group's directory for `controller`, made (and joined-file recorded) if new.
    fn dir_for(&mut self, controller: Controller, name: &str, mounts: &str, own: &str) -> Result<(PathBuf, u8), String> {
        // cgroup v1: a hierarchy mounted with this controller among its options.
        for line in mounts.lines() {
            let Some((left, right)) = line.split_once(" - ") else { continue };
            let mut r = right.split_whitespace();
            let (fstype, _source, options) = (r.next().unwrap_or(""), r.next(), r.next().unwrap_or(""));
            let mut fields = left.split_whitespace();
            let root = fields.nth(3).unwrap_or("/");
            let mount_point = fields.next().unwrap_or("");
            if fstype == "cgroup" && options.split(',').any(|o| o == controller.v1_name()) {
                let relative = own
                    .lines()
                    .filter_map(|l| l.splitn(3, ':').collect::<Vec<_>>().try_into().ok())
                    .find(|[_, ctrls, _]: &[&str; 3]| ctrls.split(',').any(|c| c == controller.v1_name()))
                    .map(|[_, _, path]| path.to_string())
                    .unwrap_or_else(|| "/".into());
                // A container sees its own group as the mount's root.
                let relative = relative.strip_prefix(root).unwrap_or(&relative);
                let dir = Path::new(mount_point).join(relative.trim_start_matches('/')).join(name);
                return self.make(dir, 1);
            }
        }
        // cgroup v2: the unified hierarchy, if our group delegates this controller.
        let v2 = mounts.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            (right.split_whitespace().next() == Some("cgroup2")).then(|| left.split_whitespace().nth(4).map(str::to_string))?
        });
        if let Some(mount_point) = v2 {
            let relative = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/");
            let parent = Path::new(&mount_point).join(relative.trim_start_matches('/'));
            let key = controller.v1_name();
            let delegated = std::fs::read_to_string(parent.join("cgroup.subtree_control")).is_ok_and(|s| s.split_whitespace().any(|c| c == key))
                || std::fs::write(parent.join("cgroup.subtree_control"), format!("+{key}")).is_ok();
            if delegated {
                return self.make(parent.join(name), 2);
            }
        }
        Err(format!("no cgroup hierarchy here offers the {} controller (v1 or delegated v2)", controller.v1_name()))
    }

    fn make(&mut self, dir: PathBuf, version: u8) -> Result<(PathBuf, u8), String> {
        if !self.dirs.contains(&dir) {
            // A group left by an earlier process with this pid goes first (an empty one can).
            if dir.exists() {
                let _ = std::fs::remove_dir(&dir);
            }
            std::fs::create_dir(&dir).map_err(|e| format!("creating cgroup {}: {e}", dir.display()))?;
            let procs = dir.join("cgroup.procs");
            self.procs.push(CString::new(procs.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?);
            self.dirs.push(dir.clone());
        }
        Ok((dir, version))
    }

    /// The `cgroup.procs` files a process writes `0` into to join (async-signal-safe to use
    /// between fork and exec: open, write, close).
    pub fn procs_files(&self) -> Vec<CString> {
        self.procs.clone()
    }

    /// The limits, in words.
    pub fn describe(&self) -> String {
        let l = &self.limits;
        let mut parts = Vec::new();
        if let Some(m) = l.memory_bytes {
            parts.push(format!("{} MB memory", m >> 20));
        }
        if let Some(c) = l.cpu_cores {
            parts.push(format!("{c} CPU cores"));
        }
        if let Some(p) = l.pids {
            parts.push(format!("{p} tasks"));
        }
        parts.join(", ")
    }

    /// Whether the kernel killed a process here for going over the memory limit, and the limit.
    pub fn oom_killed(&self) -> Option<String> {
        let (dir, version) = self.memory.as_ref()?;
        let (file, key) = if *version == 1 { ("memory.oom_control", "oom_kill") } else { ("memory.events", "oom_kill") };
        let text = std::fs::read_to_string(dir.join(file)).ok()?;
        let kills: u64 = text.lines().find_map(|l| l.strip_prefix(key)?.trim().parse().ok())?;
        (kills > 0).then(|| format!("killed for going over its {} MB memory limit (cgroup)", self.limits.memory_bytes.unwrap_or(0) >> 20))
    }
}

/// Joins the groups: to be called in the child between fork and exec.
///
/// # Safety
/// Only async-signal-safe calls: open, write, close.
pub unsafe fn join(procs: &[CString]) -> std::io::Result<()> {
    for file in procs {
        let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        let error = std::io::Error::last_os_error();
        libc::close(fd);
        if written != 1 {
            return Err(error);
        }
    }
    Ok(())
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for dir in self.dirs.iter().rev() {
            // A group can only go once empty: kill what's left (the worker's own children).
            for _ in 0..50 {
                let pids: Vec<i32> =
                    std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()).collect();
                for pid in &pids {
                    // SAFETY: a signal to a process inside this worker's own group.
                    unsafe { libc::kill(*pid, libc::SIGKILL) };
                }
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}
