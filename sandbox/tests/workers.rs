//! Workers in real processes: `paddock-worker` children over the gRPC protocol, in and out of
//! the process sandbox, remote ones over TCP with a token, and workers that crash, hang or lie.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{model, spec};
use paddock_sandbox::{Endpoint, GrpcWorkers, LocalWorkers, Mode, Rollout, RolloutRequest, WorkerSpec, Workers};

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_paddock-worker"))
}

fn request(version: u64) -> RolloutRequest {
    RolloutRequest { policy_version: version, min_episodes: 2, max_steps: 60, mode: Mode::Sample, trace: true }
}

fn process(sandbox: bool, fault: Option<&str>) -> Endpoint {
    let env = fault.map(|f| vec![("PADDOCK_WORKER_FAULT".to_string(), f.to_string())]).unwrap_or_default();
    Endpoint::Process { binary: binary(), sandbox, env, cgroup: None }
}

/// `paddock-worker serve --listen` on a free loopback port; killed when dropped (a failing
/// assertion included).
struct RemoteWorker {
    addr: String,
    child: std::process::Child,
}

impl RemoteWorker {
    fn start(args: &[&str], env: &[(&str, &str)]) -> RemoteWorker {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let child = std::process::Command::new(binary())
            .args(["serve", "--listen", &addr])
            .args(args)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        RemoteWorker { addr, child }
    }

    fn endpoint(&self, tls: Option<paddock_sandbox::grpc::ClientTls>) -> Vec<Endpoint> {
        vec![Endpoint::Remote { addr: self.addr.clone(), tls }]
    }

    /// Connects, retrying while the worker starts listening; the last error if it never answers.
    fn connect(
        &self,
        spec: &WorkerSpec,
        tls: Option<paddock_sandbox::grpc::ClientTls>,
        token: Option<&str>,
        deadline: Duration,
    ) -> Result<GrpcWorkers, String> {
        let mut last = String::new();
        for _ in 0..100 {
            match GrpcWorkers::new(spec, self.endpoint(tls.clone()), token, deadline) {
                Ok(w) => return Ok(w),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(last)
    }
}

impl Drop for RemoteWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything a trainer reads from a rollout, compared exactly.
fn same(a: &Rollout, b: &Rollout) -> bool {
    a.worker == b.worker
        && a.steps == b.steps
        && a.envs == b.envs
        && a.actions == b.actions
        && a.log_probs == b.log_probs
        && a.rewards == b.rewards
        && a.dones == b.dones
        && a.truncated == b.truncated
        && format!("{:?}{:?}{:?}{:?}", a.obs, a.last_obs, a.episodes, a.trace) == format!("{:?}{:?}{:?}{:?}", b.obs, b.last_obs, b.episodes, b.trace)
}

#[test]
fn process_workers_sandboxed_or_not_return_exactly_the_local_rollouts() {
    let spec = spec();
    let model = model(&spec);
    let mut local = LocalWorkers::new(&spec, 2).unwrap();
    local.publish(1, model.clone()).unwrap();
    let want = local.collect(&request(1)).unwrap();
    for sandbox in [false, true] {
        let mut remote = GrpcWorkers::new(&spec, vec![process(sandbox, None), process(sandbox, None)], None, Duration::from_secs(60)).unwrap();
        assert_eq!(remote.isolation[0].starts_with("process sandbox"), sandbox, "{:?}", remote.isolation);
        remote.publish(1, model.clone()).unwrap();
        let got = remote.collect(&request(1)).unwrap();
        assert_eq!(got.len(), 2);
        for (a, b) in want.iter().zip(&got) {
            assert!(same(a, b), "sandbox {sandbox}: worker {} differs from the local one", a.worker);
        }
    }
}

#[test]
fn a_worker_that_crashes_hangs_or_lies_is_replaced_and_its_rollout_redone() {
    let spec = spec();
    let model = model(&spec);
    for (fault, says) in [("crash:1:2", "its process exit status"), ("hang:0:2", "deadline"), ("garbage:1:1", "malformed rollout")] {
        let endpoints = vec![process(true, Some(fault)), process(true, Some(fault))];
        let mut workers = GrpcWorkers::new(&spec, endpoints, None, Duration::from_secs(4)).unwrap();
        for version in 1..=3u64 {
            workers.publish(version, model.clone()).unwrap();
            let rollouts = workers.collect(&request(version)).unwrap();
            // Whole rollouts, one per worker's share, all of this version: none lost, none twice.
            assert_eq!(rollouts.len(), 2, "{fault}");
            assert!(rollouts.iter().all(|r| r.policy_version == version && r.rewards.len() == r.steps * r.envs && !r.episodes.is_empty()));
        }
        let incidents = workers.take_incidents();
        assert!(incidents.iter().any(|i| i.contains(says)), "{fault}: {incidents:?}");
        assert!(incidents.iter().any(|i| i.contains("asked again")), "{fault}: {incidents:?}");
        if fault.starts_with("garbage") {
            // A restarted worker lies again on its first rollout: after three tries the other
            // worker does its share.
            assert!(incidents.iter().any(|i| i.contains("worker 0 did its rollout")), "{incidents:?}");
        }
    }
}

#[test]
fn the_sandbox_keeps_files_network_processes_and_memory_out_of_reach() {
    // Not under /tmp, which the sandbox hides: this checks the read-only view of the system.
    let outside = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("paddock-probe-{}", std::process::id()));
    std::fs::create_dir_all(&outside).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let out = std::process::Command::new(binary()).args(["probe", "--outside", outside.to_str().unwrap(), "--port", &port]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for attempt in ["read /etc/shadow", "write outside", "write /tmp", "connect 127.0.0.1", "udp socket", "run a program", "fork", "allocate 10 GB"] {
        assert!(report[attempt].as_str().unwrap().starts_with("blocked"), "{attempt}: {report}");
    }
    assert_eq!(report["read /etc/hostname"], "allowed", "the system stays readable: {report}");
    assert_eq!(report["thread"], "allowed");
    assert_eq!(report["entries in /root and /home"], "0");
    assert_eq!(report["processes visible"], "1", "its own pid namespace");
    assert!(!outside.join("escaped.txt").exists());
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "nothing connected");
    std::fs::remove_dir_all(&outside).unwrap();
}

#[test]
fn remote_workers_serve_over_tcp_and_need_the_token() {
    let server = RemoteWorker::start(&["--token", "s3cret"], &[]);
    let spec = spec();
    let mut workers = server.connect(&spec, None, Some("s3cret"), Duration::from_secs(30)).expect("the remote worker answers");
    workers.publish(1, model(&spec)).unwrap();
    let rollouts = workers.collect(&request(1)).unwrap();
    assert_eq!(rollouts.len(), 1);
    drop(workers);
    for token in [Some("wrong"), None] {
        let e = GrpcWorkers::new(&spec, server.endpoint(None), token, Duration::from_secs(5)).err().unwrap().to_string();
        assert!(e.contains("bad or missing worker token"), "{e}");
    }
}

#[test]
fn a_malformed_model_or_spec_sent_to_a_worker_is_refused_with_the_reason() {
    let spec = spec();
    let mut workers = GrpcWorkers::new(&spec, vec![process(true, None)], None, Duration::from_secs(30)).unwrap();
    let good = model(&spec);
    let e = workers.publish(1, Arc::new(good[..good.len() / 2].to_vec())).unwrap_err().to_string();
    assert!(e.contains("model version 1 refused") && e.contains("truncated or corrupt"), "{e}");
    let e = workers.publish(2, Arc::new(b"not a model at all".to_vec())).unwrap_err().to_string();
    assert!(e.contains("model version 2 refused"), "{e}");
    // The worker is still good for a real model.
    workers.publish(3, good).unwrap();
    assert_eq!(workers.collect(&request(3)).unwrap().len(), 1);
    // A spec the worker cannot build envs from.
    let mut bad = spec.clone();
    bad.track_json = "{\"format\": \"paddock-track\", \"waypoints\": 3}".into();
    let e = GrpcWorkers::new(&bad, vec![process(true, None)], None, Duration::from_secs(30)).err().unwrap().to_string();
    assert!(e.contains("setup") && e.contains("cannot set up its environments"), "{e}");
    let mut bad = spec.clone();
    bad.reward_function = "reward_everything".into();
    let e = GrpcWorkers::new(&bad, vec![process(true, None)], None, Duration::from_secs(30)).err().unwrap().to_string();
    assert!(e.contains("reward_everything"), "{e}");
}

/// A CA and a worker certificate for 127.0.0.1 made with the openssl command, in `dir`.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let run = |args: &[&str]| {
        let o = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
        assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=paddock test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=worker", "-keyout", "worker.key", "-out", "worker.csr"]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName = IP:127.0.0.1, DNS:worker.paddock.test\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "worker.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "worker.pem",
    ]);
    (dir.join("ca.pem"), dir.join("worker.pem"), dir.join("worker.key"))
}

#[test]
fn remote_workers_serve_tls_that_the_trainer_checks() {
    let dir = std::env::temp_dir().join(format!("paddock-tls-{}", std::process::id()));
    let (ca, cert, key) = certificates(&dir.join("good"));
    let (other_ca, _, _) = certificates(&dir.join("other"));
    let server = RemoteWorker::start(&["--token", "s3cret", "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()], &[]);
    let spec = spec();
    let tls = |ca: &Path, domain: Option<&str>| Some(paddock_sandbox::grpc::ClientTls { ca: ca.to_path_buf(), domain: domain.map(str::to_string) });
    // Once the worker answered: one try each.
    let connect = |tls| GrpcWorkers::new(&spec, server.endpoint(tls), Some("s3cret"), Duration::from_secs(10)).map_err(|e| e.to_string());
    let mut workers = server.connect(&spec, tls(&ca, None), Some("s3cret"), Duration::from_secs(10)).expect("the worker answers over TLS");
    workers.publish(1, model(&spec)).unwrap();
    assert_eq!(workers.collect(&request(1)).unwrap().len(), 1);
    drop(workers);
    // The certificate's DNS name works too; a CA the trainer doesn't trust, a name the
    // certificate doesn't carry and plain text are all refused.
    assert!(connect(tls(&ca, Some("worker.paddock.test"))).is_ok());
    for (tls, what) in [(tls(&other_ca, None), "another CA"), (tls(&ca, Some("evil.example")), "another name"), (None, "no TLS")] {
        let e = connect(tls).err().unwrap_or_else(|| panic!("{what}: connected"));
        assert!(e.contains("worker 0"), "{what}: {e}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_remote_worker_stuck_in_a_request_says_it_is_busy_to_a_reconnecting_trainer() {
    let server = RemoteWorker::start(&["--insecure"], &[("PADDOCK_WORKER_FAULT", "hang:0:1")]);
    let spec = spec();
    let mut workers = server.connect(&spec, None, None, Duration::from_secs(2)).expect("the remote worker answers");
    workers.publish(1, model(&spec)).unwrap();
    let e = workers.collect(&request(1)).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("busy with another request"), "{e}");
}
