//! What the race server's tests share: a real `paddock-race serve` process on a fresh SQLite
//! file or a private PostgreSQL server, models to submit, and HTTP helpers.
#![allow(dead_code)]

pub mod postgres;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paddock_policy::model::{random_tensors, to_bytes, ObservationSpec, Preprocessing, Sensor};
use paddock_policy::{Head, ModelMetadata, Network};
use paddock_race::client::{Client, ClientError};
use paddock_vehicle::action::ActionSpace;
use rand::SeedableRng;
use serde_json::{json, Value};

pub struct Server {
    pub child: Child,
    pub url: String,
    /// The database URL or SQLite path.
    pub db: String,
    pub evaluators: usize,
    _dir: tempfile::TempDir,
}

pub fn worker() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let w = exe.parent().unwrap().parent().unwrap().join("paddock-worker");
    assert!(w.is_file(), "build the worker first: cargo build -p paddock-sandbox (looked for {})", w.display());
    w
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    /// A server on a fresh SQLite file with two evaluators.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("race.sqlite").to_string_lossy().into_owned();
        Server::start_on(db, 2, dir)
    }

    /// A server on `db` with `evaluators` of its own.
    pub fn start_on(db: String, evaluators: usize, dir: tempfile::TempDir) -> Server {
        let port = free_port();
        let mut s = Server { child: spawn(&db, port, evaluators), url: String::new(), db, evaluators, _dir: dir };
        s.url = wait_ready(&mut s.child, port);
        s
    }

    /// SIGKILL, then start again on the same database.
    pub fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let port: u16 = self.url.rsplit(':').next().unwrap().parse().unwrap();
        self.child = spawn(&self.db, port, self.evaluators);
        self.url = wait_ready(&mut self.child, port);
    }

    pub fn client(&self, token: Option<&str>) -> Client {
        Client::new(&self.url, token.map(String::from))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(db: &str, port: u16, evaluators: usize) -> Child {
    race_command(&["serve", "--db", db, "--listen", &format!("127.0.0.1:{port}"), "--evaluators", &evaluators.to_string()])
}

/// `paddock-race ARGS` with short leases and the built worker, its output quiet.
fn race_command(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_paddock-race"))
        .args(args)
        .args(["--lease-s", "2", "--worker"])
        .arg(worker())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn wait_ready(child: &mut Child, port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        assert!(start.elapsed() < Duration::from_secs(30), "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    url
}

/// An evaluator process of its own on `db` (`paddock-race evaluator`).
pub fn evaluator(db: &str, count: usize) -> Child {
    race_command(&["evaluator", "--db", db, "--evaluators", &count.to_string()])
}

/// A random lidar MLP model (it drives badly, but it drives).
pub fn model(seed: u64, sensor: Sensor) -> Vec<u8> {
    let (shape, pre) = match sensor {
        Sensor::State => (vec![paddock_vehicle::sensor::STATE_LEN], Preprocessing::for_sensor(Sensor::State)),
        _ => (vec![64], Preprocessing::LIDAR),
    };
    let meta = ModelMetadata::new(
        Network::Mlp { hidden: vec![16] },
        Head::Categorical,
        ObservationSpec { sensor, shape, preprocessing: pre },
        ActionSpace::deepracer_default_discrete(),
    );
    let tensors = random_tensors(&meta, &mut rand_pcg::Pcg64::seed_from_u64(seed)).unwrap();
    to_bytes(&meta, &tensors).unwrap()
}

pub fn create(server: &Server, extra: Value) -> (String, String, String) {
    let mut config = json!({ "name": "Test race", "track": "oval", "laps": 2, "lap_time_cap_s": 20.0, "max_resets_per_lap": 3, "max_model_mb": 1 });
    config.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let created = server.client(None).post_json("/api/races", &json!({ "config": config })).unwrap();
    let s = |k: &str| created[k].as_str().unwrap().to_string();
    (s("race_id"), s("admin_token"), s("invite_code"))
}

pub fn join(server: &Server, race: &str, invite: &str, alias: &str) -> String {
    let joined = server.client(None).post_json(&format!("/api/races/{race}/join"), &json!({ "invite_code": invite, "alias": alias })).unwrap();
    joined["token"].as_str().unwrap().to_string()
}

pub fn status_of(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Server { status, message } => (status, message),
        other => panic!("expected an HTTP error, got {other}"),
    }
}

/// Waits until no submission of the race is queued or running; returns them all.
pub fn wait_evaluated(server: &Server, race: &str, admin: &str, expected: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let subs = server.client(Some(admin)).get(&format!("/api/races/{race}/submissions")).unwrap();
        let subs = subs.as_array().unwrap().clone();
        if subs.len() == expected && subs.iter().all(|s| !matches!(s["state"].as_str(), Some("queued" | "running"))) {
            return subs;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "not all evaluated: {subs:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn page(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.get(url).call().unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}
