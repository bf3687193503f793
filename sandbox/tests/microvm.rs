//! Workers in microVMs: a Linux guest per worker under QEMU (TCG here), the worker protocol on a
//! virtio-serial port. Needs `scripts/setup-microvm.sh` (the test command runs it).

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{model, spec};
use paddock_sandbox::microvm::{Guest, MicroVmOptions};
use paddock_sandbox::{Endpoint, GrpcWorkers, LocalWorkers, Mode, PythonSource, RolloutRequest, WorkerSpec, Workers};

fn guest() -> Arc<Guest> {
    let opts = MicroVmOptions::new(PathBuf::from(env!("CARGO_BIN_EXE_paddock-worker")));
    let start = Instant::now();
    let guest = Guest::prepare(&opts).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("prepared {} in {:.2} s", guest.describe(), start.elapsed().as_secs_f64());
    Arc::new(guest)
}

#[test]
fn microvm_workers_return_exactly_the_local_rollouts() {
    let guest = guest();
    let spec = spec();
    let model = model(&spec);
    let request = RolloutRequest { policy_version: 1, min_episodes: 2, max_steps: 60, mode: Mode::Sample, trace: true };
    let mut local = LocalWorkers::new(&spec, 2).unwrap();
    local.publish(1, model.clone()).unwrap();
    let want = local.collect(&request).unwrap();
    let start = Instant::now();
    let endpoints = (0..2).map(|_| Endpoint::MicroVm { guest: guest.clone() }).collect();
    let mut vms = GrpcWorkers::new(&spec, endpoints, None, Duration::from_secs(120)).unwrap();
    eprintln!("two VMs serving in {:.2} s: {:?}", start.elapsed().as_secs_f64(), vms.isolation);
    assert!(vms.isolation.iter().all(|i| i.starts_with("microVM guest (Linux") && i.contains("QEMU microvm")), "{:?}", vms.isolation);
    vms.publish(1, model).unwrap();
    let got = vms.collect(&request).unwrap();
    assert_eq!(got.len(), 2);
    for (a, b) in want.iter().zip(&got) {
        assert_eq!(a.actions, b.actions, "worker {}", a.worker);
        assert_eq!(a.rewards, b.rewards, "worker {}", a.worker);
        assert_eq!(format!("{:?}{:?}", a.obs, a.episodes), format!("{:?}{:?}", b.obs, b.episodes), "worker {}", a.worker);
    }
}

#[test]
fn a_vm_killed_mid_run_is_replaced_and_its_rollout_redone() {
    let guest = guest();
    let spec = spec();
    let endpoints = (0..2).map(|_| Endpoint::MicroVm { guest: guest.clone() }).collect();
    let mut vms = GrpcWorkers::new(&spec, endpoints, None, Duration::from_secs(120)).unwrap();
    vms.publish(1, model(&spec)).unwrap();
    let request = RolloutRequest { policy_version: 1, min_episodes: 1, max_steps: 40, mode: Mode::Sample, trace: true };
    let first = vms.collect(&request).unwrap();
    let pid = vms.pids()[1].expect("worker 1 runs here");
    // SAFETY: a signal to the QEMU process this test's workers started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let second = vms.collect(&request).unwrap();
    let incidents = vms.take_incidents();
    assert!(incidents.iter().any(|i| i.starts_with("worker 1:") && i.contains("asked again")), "{incidents:?}");
    assert_ne!(vms.pids()[1], Some(pid), "worker 1 runs in a new VM");
    for (a, b) in first.iter().zip(&second) {
        assert_eq!((a.worker, b.worker, b.steps * b.envs), (b.worker, a.worker, b.actions.len()), "whole rollouts, one per worker");
    }
    assert!(second[1].trace.len() == second[1].steps * second[1].envs, "every step traced once");
}

fn python_spec(file: &str, code: String) -> WorkerSpec {
    WorkerSpec { reward_function: file.into(), reward_python: Some(PythonSource { file: file.into(), code, deadline_ms: 2000 }), ..spec() }
}

#[test]
fn python_rewards_run_in_the_guest_and_see_nothing_of_the_host() {
    let guest = guest();
    // A DeepRacer reward file gives the same rewards in a VM as in a sandboxed process.
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/rewards/follow_centre_line.py");
    let spec = python_spec(file, std::fs::read_to_string(file).unwrap());
    let model = model(&spec);
    let request = RolloutRequest { policy_version: 1, min_episodes: 1, max_steps: 40, mode: Mode::Sample, trace: false };
    let mut rewards = Vec::new();
    for endpoint in [
        Endpoint::MicroVm { guest: guest.clone() },
        Endpoint::Process { binary: PathBuf::from(env!("CARGO_BIN_EXE_paddock-worker")), sandbox: true, env: Vec::new(), cgroup: None },
    ] {
        let mut w = GrpcWorkers::new(&spec, vec![endpoint], None, Duration::from_secs(120)).unwrap();
        w.publish(1, model.clone()).unwrap();
        rewards.push(w.collect(&request).unwrap().remove(0).rewards);
    }
    assert!(rewards[0].len() >= 40 && rewards[0].iter().any(|&r| r > 0.0), "{:?}", rewards[0]);
    assert_eq!(rewards[0], rewards[1]);

    // What a hostile function finds in the guest: no host files, no network, a private /tmp.
    let probe = "    import os, socket\n    found = [p for p in ('/etc/shadow', '/etc/passwd', '/root', '/home', '/work') if os.path.exists(p) and (not os.path.isdir(p) or os.listdir(p))]\n    open('/tmp/x', 'w').write('x')\n    try:\n        socket.create_connection(('10.0.2.2', 22), timeout=0.5)\n        found.append('network')\n    except OSError:\n        pass\n    raise RuntimeError('found ' + repr(found))";
    let spec = python_spec("/home/student/probe.py", format!("def reward_function(params):\n{probe}\n"));
    let mut w = GrpcWorkers::new(&spec, vec![Endpoint::MicroVm { guest }], None, Duration::from_secs(120)).unwrap();
    w.publish(1, model).unwrap();
    let e = w.collect(&request).unwrap_err().to_string();
    assert!(e.contains("/home/student/probe.py") && e.contains("step") && e.contains("found []"), "{e}");
}
