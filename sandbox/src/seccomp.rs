//! The worker's seccomp filter: an allow list of what a rollout worker needs (memory, threads,
//! time, reading files, I/O on the connection it was given). New sockets, `connect`, opening
//! files for writing, new processes (`fork`, `execve`, `clone` without `CLONE_THREAD`), new
//! namespaces, `ptrace`, mounts, most `ioctl`s and `prctl`s fail with EPERM. Built with the
//! Firecracker project's `seccompiler`.

use std::collections::BTreeMap;
use std::io;

use seccompiler::{BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule};

#[cfg(target_arch = "x86_64")]
const ARCH_ONLY: &[i64] =
    &[libc::SYS_open, libc::SYS_poll, libc::SYS_epoll_wait, libc::SYS_getrlimit, libc::SYS_readlink, libc::SYS_stat, libc::SYS_lstat, libc::SYS_access];
#[cfg(not(target_arch = "x86_64"))]
const ARCH_ONLY: &[i64] = &[];

const ALLOW: &[i64] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_close,
    libc::SYS_lseek,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_fcntl,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_getdents64,
    libc::SYS_readlinkat,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_getcwd,
    libc::SYS_recvfrom,
    libc::SYS_sendto,
    libc::SYS_recvmsg,
    libc::SYS_sendmsg,
    libc::SYS_shutdown,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_ppoll,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_pwait,
    libc::SYS_eventfd2,
    libc::SYS_pipe2,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_mremap,
    libc::SYS_brk,
    libc::SYS_madvise,
    libc::SYS_futex,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_getppid,
    libc::SYS_tgkill,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_uname,
    libc::SYS_sysinfo,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_getrandom,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_restart_syscall,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_prlimit64,
    // Needed to stack the clone3 filter; filters can only add restrictions.
    libc::SYS_seccomp,
];

fn filters() -> Result<(BpfProgram, BpfProgram), String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = ALLOW.iter().chain(ARCH_ONLY).map(|&s| (s, vec![])).collect();
    // clone: threads only, and no new namespaces (flags are argument 0).
    let thread = libc::CLONE_THREAD as u64;
    let namespaces =
        (libc::CLONE_NEWNS | libc::CLONE_NEWCGROUP | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_NEWUSER | libc::CLONE_NEWPID | libc::CLONE_NEWNET)
            as u64;
    let cond = SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(thread | namespaces), thread).map_err(|x| e(&x))?;
    rules.insert(libc::SYS_clone, vec![SeccompRule::new(vec![cond]).map_err(|x| e(&x))?]);
    // Each value of argument `arg` in `values` allowed; anything else refused.
    let only = |arg: u8, values: &[u64]| -> Result<Vec<SeccompRule>, String> {
        values
            .iter()
            .map(|&v| {
                let c = SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, v).map_err(|x| e(&x))?;
                SeccompRule::new(vec![c]).map_err(|x| e(&x))
            })
            .collect()
    };
    // ioctl: non-blocking and close-on-exec switches, bytes readable, "is it a terminal"; not
    // TIOCSTI (typing into a terminal) or network interface queries.
    rules.insert(libc::SYS_ioctl, only(1, &[libc::FIONBIO, libc::FIOCLEX, libc::FIONCLEX, libc::FIONREAD, libc::TCGETS])?);
    // prctl: thread names only (not PR_SET_PDEATHSIG, which would let code outlive its supervisor).
    // PR_SET_NO_NEW_PRIVS only restricts (seccompiler sets it before stacking the second filter).
    rules.insert(
        libc::SYS_prctl,
        only(0, &[libc::PR_SET_NAME as u64, libc::PR_GET_NAME as u64, libc::PR_SET_NO_NEW_PRIVS as u64, 0x5356_4d41 /* PR_SET_VMA */])?,
    );
    // open/openat: read-only.
    let write = (libc::O_ACCMODE | libc::O_CREAT | libc::O_TRUNC) as u64;
    let read_only = |arg: u8| -> Result<SeccompRule, String> {
        let c = SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::MaskedEq(write), libc::O_RDONLY as u64).map_err(|x| e(&x))?;
        SeccompRule::new(vec![c]).map_err(|x| e(&x))
    };
    rules.insert(libc::SYS_openat, vec![read_only(2)?]);
    #[cfg(target_arch = "x86_64")]
    rules.insert(libc::SYS_open, vec![read_only(1)?]);
    let arch = std::env::consts::ARCH.try_into().map_err(|x| e(&x))?;
    let main = SeccompFilter::new(rules, SeccompAction::Errno(libc::EPERM as u32), SeccompAction::Allow, arch).map_err(|x| e(&x))?;
    // glibc tries clone3 first and falls back to clone on ENOSYS; clone3's flags are behind a
    // pointer BPF cannot read, so it gets ENOSYS from a second filter (installed last, it wins).
    let clone3 = SeccompFilter::new([(libc::SYS_clone3, vec![])].into_iter().collect(), SeccompAction::Allow, SeccompAction::Errno(libc::ENOSYS as u32), arch)
        .map_err(|x| e(&x))?;
    Ok((main.try_into().map_err(|x: seccompiler::BackendError| e(&x))?, clone3.try_into().map_err(|x: seccompiler::BackendError| e(&x))?))
}

/// Installs the filters on every thread of the process (and all it creates later).
pub fn apply() -> io::Result<()> {
    let (main, clone3) = filters().map_err(|m| io::Error::other(format!("building the seccomp filter: {m}")))?;
    seccompiler::apply_filter_all_threads(&main).map_err(|e| io::Error::other(format!("seccomp: {e}")))?;
    seccompiler::apply_filter_all_threads(&clone3).map_err(|e| io::Error::other(format!("seccomp (clone3): {e}")))?;
    Ok(())
}
