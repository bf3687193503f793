//! Load on a running race server, for BENCHMARKS.md:
//!
//! ```sh
//! paddock-race serve --db /tmp/bench.sqlite --listen 127.0.0.1:8099 &
//! cargo run --release -p paddock-race --example race_load -- http://127.0.0.1:8099 MODEL.safetensors
//! ```
//!
//! 1. Accept-to-ranked latency of one submission with the queue empty (median of 5).
//! 2. Evaluations per minute: 40 submissions at once, until the last is ranked.
//! 3. 200 spectators holding the live-update stream open and fetching the board on every change
//!    while 40 more evaluations run (latency percentiles), then fetching it back to back
//!    (requests/s).

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

    // Spectators as the page behaves: the race page loaded, the event stream held open, the board
    // fetched again on every change, all 200 at once (the burst a finished evaluation causes).
    let live = spectators(&url, &race, 200, false, || {
        for i in 0..40 {
            submit(i);
        }
        while pending() > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    live.print("200 spectators following the live board while 40 evaluations run");
    // Capacity: the same 200 fetch the board back to back, as fast as the server answers.
    let flat_out = spectators(&url, &race, 200, true, || {
        for i in 0..10 {
            submit(i);
        }
        std::thread::sleep(Duration::from_secs(10));
    });
    flat_out.print("200 spectators fetching the board back to back while evaluations run");
    Ok(())
}

struct Latencies {
    ms: Vec<f64>,
    wall_s: f64,
}

impl Latencies {
    fn print(mut self, what: &str) {
        self.ms.sort_by(f64::total_cmp);
        let q = |p: f64| self.ms[((self.ms.len() as f64 - 1.0) * p) as usize];
        println!(
            "{what}: {} board fetches in {:.1} s ({:.0}/s), latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.ms.len(),
            self.wall_s,
            self.ms.len() as f64 / self.wall_s,
            q(0.5),
            q(0.99),
            self.ms[self.ms.len() - 1]
        );
    }
}

/// `n` spectators of `race` while `during` runs; each fetches the board on every change event
/// (`back_to_back`: continuously). Returns the board fetches' latencies.
fn spectators(url: &str, race: &str, n: usize, back_to_back: bool, during: impl FnOnce()) -> Latencies {
    let stop = Arc::new(AtomicBool::new(false));
    let times = Arc::new(Mutex::new(Vec::<f64>::new()));
    let host = url.trim_start_matches("http://").to_string();
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (stop, times, url, host, race) = (stop.clone(), times.clone(), url.to_string(), host.clone(), race.to_string());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let fetch = |mine: &mut Vec<f64>| {
                    let t = Instant::now();
                    let mut r = agent.get(&format!("{url}/races/{race}/board")).call().unwrap();
                    let _ = r.body_mut().read_to_string();
                    assert_eq!(r.status(), 200);
                    mine.push(t.elapsed().as_secs_f64() * 1000.0);
                };
                let mut page = agent.get(&format!("{url}/races/{race}")).call().unwrap();
                let _ = page.body_mut().read_to_string();
                let mut sse = std::net::TcpStream::connect(&host).unwrap();
                use std::io::Write;
                write!(sse, "GET /races/{race}/events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n").unwrap();
                sse.set_read_timeout(Some(Duration::from_millis(if back_to_back { 1 } else { 200 }))).unwrap();
                let mut mine = Vec::new();
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    let changed = matches!(sse.read(&mut buf), Ok(k) if k > 0 && String::from_utf8_lossy(&buf[..k]).contains("event: change"));
                    if changed || back_to_back {
                        fetch(&mut mine);
                    }
                }
                times.lock().unwrap().extend(mine);
            })
        })
        .collect();
    let t = Instant::now();
    during();
    stop.store(true, Ordering::Relaxed);
    for th in threads {
        th.join().unwrap();
    }
    let ms = times.lock().unwrap().clone();
    Latencies { ms, wall_s: t.elapsed().as_secs_f64() }
}
