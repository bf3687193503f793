//! The race server for real: a `paddock-race serve` process on a fresh SQLite file, evaluating
//! in sandboxed `paddock-worker` processes, driven over HTTP as the pages and the command line do.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paddock_policy::model::{random_tensors, to_bytes, ObservationSpec, Preprocessing, Sensor};
use paddock_policy::{Head, ModelMetadata, Network};
use paddock_race::client::{Client, ClientError};
use paddock_vehicle::action::ActionSpace;
use rand::SeedableRng;
use serde_json::{json, Value};

struct Server {
    child: Child,
    url: String,
    db: PathBuf,
    _dir: tempfile::TempDir,
}

fn worker() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let w = exe.parent().unwrap().parent().unwrap().join("paddock-worker");
    assert!(w.is_file(), "build the worker first: cargo build -p paddock-sandbox (looked for {})", w.display());
    w
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("race.sqlite");
        let port = free_port();
        let mut s = Server { child: spawn(&db, port), url: String::new(), db, _dir: dir };
        s.url = wait_ready(&mut s.child, port);
        s
    }

    /// SIGKILL, then start again on the same database.
    fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let port: u16 = self.url.rsplit(':').next().unwrap().parse().unwrap();
        self.child = spawn(&self.db, port);
        self.url = wait_ready(&mut self.child, port);
    }

    fn client(&self, token: Option<&str>) -> Client {
        Client::new(&self.url, token.map(String::from))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(db: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_paddock-race"))
        .args(["serve", "--db", db.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}"), "--evaluators", "2", "--lease-s", "2"])
        .arg("--worker")
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

/// A random lidar MLP model (it drives badly, but it drives).
fn model(seed: u64, sensor: Sensor) -> Vec<u8> {
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

fn create(server: &Server, extra: Value) -> (String, String, String) {
    let mut config = json!({ "name": "Test race", "track": "oval", "laps": 2, "lap_time_cap_s": 20.0, "max_resets_per_lap": 3, "max_model_mb": 1 });
    config.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let created = server.client(None).post_json("/api/races", &json!({ "config": config })).unwrap();
    let s = |k: &str| created[k].as_str().unwrap().to_string();
    (s("race_id"), s("admin_token"), s("invite_code"))
}

fn join(server: &Server, race: &str, invite: &str, alias: &str) -> String {
    let joined = server.client(None).post_json(&format!("/api/races/{race}/join"), &json!({ "invite_code": invite, "alias": alias })).unwrap();
    joined["token"].as_str().unwrap().to_string()
}

fn status_of(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Server { status, message } => (status, message),
        other => panic!("expected an HTTP error, got {other}"),
    }
}

/// Waits until no submission of the race is queued or running; returns them all.
fn wait_evaluated(server: &Server, race: &str, admin: &str, expected: usize) -> Vec<Value> {
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

fn page(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.get(url).call().unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

#[test]
fn a_race_from_creation_to_a_ranked_board_with_bad_input_refused() {
    let server = Server::start();
    let (race, admin, invite) = create(&server, json!({}));
    let ann = join(&server, &race, &invite, "ann");
    let markup = join(&server, &race, &invite, "<script>alert(1)</script>");
    let submit = |token: &str, bytes: &[u8]| server.client(Some(token)).post_file(&format!("/api/races/{race}/submissions"), "model.safetensors", bytes);

    let good = model(1, Sensor::Lidar);
    let sent = submit(&ann, &good).unwrap();
    assert_eq!(sent["submission"]["state"], "queued");
    submit(&markup, &model(2, Sensor::Lidar)).unwrap();

    // Bad input: a clear 4xx, nothing stored.
    let cases: Vec<(&str, Result<Value, ClientError>, u16)> = vec![
        ("truncated", submit(&ann, &good[..good.len() / 2]), 400),
        ("not a model", submit(&ann, b"<html>not a model</html>"), 400),
        ("state sensor", submit(&ann, &model(3, Sensor::State)), 400),
        ("oversized", submit(&ann, &vec![0u8; (1 << 20) + 10]), 413),
        ("wrong token", submit("nonsense", &good), 401),
        ("no such race", server.client(Some(&ann)).post_file("/api/races/nope/submissions", "m", &good), 404),
        ("taken alias", server.client(None).post_json(&format!("/api/races/{race}/join"), &json!({ "invite_code": invite, "alias": "ann" })), 409),
        ("wrong invite", server.client(None).post_json(&format!("/api/races/{race}/join"), &json!({ "invite_code": "XXXX", "alias": "bob" })), 403),
        ("bad config", server.client(None).post_json("/api/races", &json!({ "config": { "name": "x", "laps": 0 } })), 400),
        ("empty config", server.client(None).post_json("/api/races", &json!({ "config": {} })), 400),
        ("malformed json", server.client(None).post_json("/api/races", &json!("not an object")), 400),
    ];
    for (what, result, want) in cases {
        let (status, message) = status_of(result.expect_err(what));
        assert_eq!(status, want, "{what}: {message}");
        assert!(!message.is_empty(), "{what}: a message");
    }
    // Another race's token does not work here.
    let (other, _, other_invite) = create(&server, json!({ "name": "Other" }));
    let stranger = join(&server, &other, &other_invite, "zed");
    assert_eq!(status_of(submit(&stranger, &good).unwrap_err()).0, 403);

    let subs = wait_evaluated(&server, &race, &admin, 2);
    assert!(subs.iter().all(|s| s["state"] == "done"), "{subs:?}");
    let board = server.client(None).get(&format!("/api/races/{race}/leaderboard")).unwrap();
    let rows = board["public"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    // The ranking is what the stored laps say.
    for row in rows {
        let sub = server.client(None).get(&format!("/api/races/{race}/submissions/{}", row["submission_id"].as_str().unwrap())).unwrap();
        let laps: Vec<paddock_race::ranking::Lap> = sub["evaluations"][0]["laps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| paddock_race::ranking::Lap { completed: l["completed"].as_bool().unwrap(), time_s: l["time_s"].as_f64().unwrap() })
            .collect();
        let config: paddock_race::config::RaceConfig = serde_json::from_value(board["race"]["config"].clone()).unwrap();
        assert_eq!(row["score"].as_f64(), paddock_race::ranking::score(&config, &laps));
    }

    // Every page renders, and markup in an alias shows as text.
    for path in ["/".to_string(), format!("/races/{race}"), format!("/races/{race}/screen"), format!("/races/{race}/board"), "/races/new".into()] {
        let (status, html) = page(&format!("{}{path}", server.url));
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains("<script>alert(1)</script>"), "{path} shows the alias unescaped");
        if path.ends_with("/board") {
            assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
        }
    }
    let sid = rows[0]["submission_id"].as_str().unwrap();
    let (status, html) = page(&format!("{}/races/{race}/submissions/{sid}", server.url));
    assert_eq!(status, 200);
    assert!(html.contains("replay.json"));
    let (status, _) = page(&format!("{}/races/{race}/submissions/{sid}/replay.json", server.url));
    assert_eq!(status, 200);
    assert_eq!(page(&format!("{}/races/nope", server.url)).0, 404);
    // The organiser's CSV, and only the organiser's.
    assert_eq!(status_of(server.client(None).get(&format!("/api/races/{race}/submissions")).unwrap_err()).0, 401);
}

#[test]
fn a_server_killed_while_evaluating_loses_nothing_and_counts_nothing_twice() {
    let mut server = Server::start();
    let (race, admin, invite) = create(&server, json!({ "submissions_per_day": 20 }));
    let tokens: Vec<String> = (0..4).map(|i| join(&server, &race, &invite, &format!("racer{i}"))).collect();
    let mut accepted = Vec::new();
    for i in 0..12 {
        let token = &tokens[i % tokens.len()];
        let sent =
            server.client(Some(token)).post_file(&format!("/api/races/{race}/submissions"), "m.safetensors", &model(100 + i as u64, Sensor::Lidar)).unwrap();
        accepted.push(sent["submission"]["id"].as_str().unwrap().to_string());
    }
    // Some are being evaluated now: kill the server mid-way and start it again.
    std::thread::sleep(Duration::from_millis(300));
    server.kill_and_restart();
    let subs = wait_evaluated(&server, &race, &admin, accepted.len());
    for id in &accepted {
        let s = subs.iter().find(|s| s["id"] == id.as_str()).expect("every accepted submission is still there");
        assert_eq!(s["state"], "done", "{s}");
        let detail = server.client(None).get(&format!("/api/races/{race}/submissions/{id}")).unwrap();
        assert_eq!(detail["evaluations"].as_array().unwrap().len(), 1, "evaluated once: {detail}");
    }
    let board = server.client(None).get(&format!("/api/races/{race}/leaderboard")).unwrap();
    let counted: i64 = board["public"].as_array().unwrap().iter().map(|r| r["submissions"].as_i64().unwrap()).sum();
    assert_eq!(counted, accepted.len() as i64, "each submission counted once");
}
