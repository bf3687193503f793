//! Load on a running race server, for BENCHMARKS.md:
//!
//! ```sh
//! paddock-race serve --db /tmp/bench.sqlite --listen 127.0.0.1:8099 &
//! cargo run --release -p paddock-race --example race_load -- http://127.0.0.1:8099 MODEL.safetensors
//! ```
//!
//! 1. Accept-to-ranked latency of one submission with the queue empty (median of 5).
//! 2. Evaluations per minute: 40 submissions at once, until the last is ranked.
//! 3. 200 spectators, each holding the live-update stream open and fetching the board in a loop
//!    while 40 more evaluations run: requests/s and latency percentiles.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paddock_race::client::Client;
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (url, model_path) = (args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:8099".into()), args.get(2).expect("MODEL.safetensors"));
    let model = std::fs::read(model_path)?;
    let anon = Client::new(&url, None);
    let config = json!({ "name": "load", "track": "circuit", "laps": 3, "submissions_per_day": 1000, "submissions_total": 1000 });
    let created = anon.post_json("/api/races", &json!({ "config": config }))?;
    let race = created["race_id"].as_str().unwrap().to_string();
    let admin = Client::new(&url, Some(created["admin_token"].as_str().unwrap().into()));
    let invite = created["invite_code"].as_str().unwrap();
    let racers: Vec<Client> = (0..20)
        .map(|i| {
            let j = anon.post_json(&format!("/api/races/{race}/join"), &json!({ "invite_code": invite, "alias": format!("racer{i}") })).unwrap();
            Client::new(&url, Some(j["token"].as_str().unwrap().into()))
        })
        .collect();
    let submit = |i: usize| racers[i % racers.len()].post_file(&format!("/api/races/{race}/submissions"), "m.safetensors", &model).unwrap();
    let pending = || {
        let subs = admin.get(&format!("/api/races/{race}/submissions")).unwrap();
        subs.as_array().unwrap().iter().filter(|s| matches!(s["state"].as_str(), Some("queued" | "running"))).count()
    };

    let mut latencies = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        let id = submit(i)["submission"]["id"].as_str().unwrap().to_string();
        loop {
            let s = anon.get(&format!("/api/races/{race}/submissions/{id}"))?;
            if s["submission"]["state"] == "done" {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        latencies.push(t.elapsed().as_secs_f64());
    }
    latencies.sort_by(f64::total_cmp);
    println!("accept-to-ranked, queue empty: median {:.3} s (min {:.3}, max {:.3})", latencies[2], latencies[0], latencies[4]);

    let t = Instant::now();
    for i in 0..40 {
        submit(i);
    }
    while pending() > 0 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = t.elapsed().as_secs_f64();
    println!("40 evaluations (3 laps of circuit) in {s:.2} s: {:.0} evaluations per minute", 40.0 * 60.0 / s);

    // Spectators.
    let stop = Arc::new(AtomicBool::new(false));
    let times = Arc::new(Mutex::new(Vec::<f64>::new()));
    let host = url.trim_start_matches("http://").to_string();
    let mut threads = Vec::new();
    for _ in 0..200 {
        let (stop, times, url, host, race) = (stop.clone(), times.clone(), url.clone(), host.clone(), race.clone());
        threads.push(std::thread::spawn(move || {
            // The live-update stream, held open as a page does.
            let mut sse = std::net::TcpStream::connect(&host).unwrap();
            use std::io::Write;
            write!(sse, "GET /races/{race}/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n").unwrap();
            sse.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let mut mine = Vec::new();
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                let _ = sse.read(&mut buf);
                let t = Instant::now();
                let mut r = agent.get(&format!("{url}/races/{race}/board")).call().unwrap();
                let _ = r.body_mut().read_to_string();
                assert_eq!(r.status(), 200);
                mine.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.lock().unwrap().extend(mine);
        }));
    }
    let t = Instant::now();
    for i in 0..40 {
        submit(i);
    }
    std::thread::sleep(Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    for th in threads {
        th.join().unwrap();
    }
    let wall = t.elapsed().as_secs_f64();
    let mut all = times.lock().unwrap().clone();
    all.sort_by(f64::total_cmp);
    let q = |p: f64| all[((all.len() as f64 - 1.0) * p) as usize];
    println!(
        "200 spectators (each with the event stream open), board fetched {} times in {wall:.1} s while evaluating: {:.0} requests/s, latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        all.len(),
        all.len() as f64 / wall,
        q(0.5),
        q(0.99),
        all[all.len() - 1]
    );
    Ok(())
}
