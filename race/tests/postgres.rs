//! The race server on a real PostgreSQL server: the same flow as on SQLite, a kill -9 restart,
//! and evaluators in other processes sharing one queue (`FOR UPDATE SKIP LOCKED`) without
//! running any job twice.

mod common;

use std::time::Duration;

use common::postgres::Postgres;
use common::{create, evaluator, join, model, wait_evaluated, Server};
use paddock_policy::model::Sensor;
use serde_json::json;

#[test]
fn on_postgres_a_killed_server_loses_nothing_and_two_evaluator_machines_share_the_queue() {
    let pg = Postgres::start();

    // A server with its own evaluators, killed mid-way and started again.
    let db = pg.database("restart");
    let mut server = Server::start_on(db, 2, tempfile::tempdir().unwrap());
    let (race, admin, invite) = create(&server, json!({ "submissions_per_day": 20 }));
    let token = join(&server, &race, &invite, "ann");
    for i in 0..8 {
        server.client(Some(&token)).post_file(&format!("/api/races/{race}/submissions"), "m.safetensors", &model(i, Sensor::Lidar)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    server.kill_and_restart();
    let subs = wait_evaluated(&server, &race, &admin, 8);
    assert!(subs.iter().all(|s| s["state"] == "done"), "{subs:?}");
    for s in &subs {
        let detail = server.client(None).get(&format!("/api/races/{race}/submissions/{}", s["id"].as_str().unwrap())).unwrap();
        assert_eq!(detail["evaluations"].as_array().unwrap().len(), 1);
    }
    drop(server);

    // A server that only serves, and two evaluator processes (as on two machines).
    let db = pg.database("shared");
    let server = Server::start_on(db.clone(), 0, tempfile::tempdir().unwrap());
    let mut evaluators = [evaluator(&db, 1), evaluator(&db, 1)];
    let (race, admin, invite) = create(&server, json!({ "submissions_per_day": 50, "submissions_total": 50 }));
    let tokens: Vec<String> = (0..5).map(|i| join(&server, &race, &invite, &format!("r{i}"))).collect();
    let n = 30;
    for i in 0..n {
        let sent =
            server.client(Some(&tokens[i % 5])).post_file(&format!("/api/races/{race}/submissions"), "m.safetensors", &model(50 + i as u64, Sensor::Lidar));
        sent.unwrap();
    }
    let subs = wait_evaluated(&server, &race, &admin, n);
    for e in &mut evaluators {
        let _ = e.kill();
        let _ = e.wait();
    }
    assert!(subs.iter().all(|s| s["state"] == "done"), "{subs:?}");
    // One claim each: a job claimed twice would show two attempts.
    assert!(subs.iter().all(|s| s["attempts"] == 1), "{subs:?}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let by: Vec<(String, i64)> = rt.block_on(async {
        let db = paddock_race::db::Db::open(&db).await.unwrap();
        let rows = sqlx::query("SELECT claimed_by, COUNT(*) AS n FROM submissions GROUP BY claimed_by").fetch_all(&db.pool).await.unwrap();
        rows.iter().map(|r| (paddock_race::db::col::<String>(r, "claimed_by").unwrap(), paddock_race::db::col::<i64>(r, "n").unwrap())).collect()
    });
    assert_eq!(by.iter().map(|(_, n)| n).sum::<i64>(), n as i64);
    assert_eq!(by.len(), 2, "both evaluator processes took jobs: {by:?}");
}

/// Unranked and ranked results stored one after the other on the same connection (the
/// statement PostgreSQL caches must take both: sqlx's Any driver once declared a missing score
/// as float4 and the next score failed).
#[test]
fn on_postgres_the_queue_stores_scored_and_unscored_results_alike() {
    use paddock_race::queue::{self, Outcome, TrackResult};
    use paddock_race::{config::RaceConfig, db::Db, store};
    let pg = Postgres::start();
    let url = pg.database("queue");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let db = Db::open(&url).await.unwrap();
        let config = RaceConfig { name: "Queue".into(), ..Default::default() };
        let created = store::create_race(&db, &config.check(None, paddock_race::db::now_ms()).unwrap()).await.unwrap();
        let race = store::race(&db, &created.race_id).await.unwrap();
        let (racer, _) = store::join(&db, &race, &created.invite_code, "ann").await.unwrap();
        let report = |best: Option<f64>| paddock_eval::EvalReport {
            track: "oval".into(),
            laps: Vec::new(),
            completed_laps: 0,
            clean_laps_in_a_row: 0,
            best_lap_s: best,
            min_lap_time_s: 5.0,
            best_lap_ratio: None,
            frames: Vec::new(),
            frame_size: (0, 0),
        };
        for round in 0..3 {
            let bytes = format!("model {round}").into_bytes();
            store::submit(&db, &race, &racer, store::NewSubmission { file_name: "m", bytes: &bytes, sensor: "lidar" }).await.unwrap();
            let claim = queue::claim(&db, "test", 10_000).await.unwrap().expect("a queued submission");
            let results = vec![
                TrackResult { board: "public", track_name: "oval".into(), score: None, report: report(None) },
                TrackResult { board: "private", track_name: "a".into(), score: Some(9.5 + round as f64), report: report(Some(9.5)) },
                TrackResult { board: "private", track_name: "b".into(), score: None, report: report(None) },
            ];
            assert!(queue::finish(&db, &claim, Outcome::Done(results)).await.unwrap(), "round {round} stored");
        }
        let scores: Vec<Option<f64>> = sqlx::query_scalar("SELECT score FROM evaluations ORDER BY score").fetch_all(&db.pool).await.unwrap();
        assert_eq!(scores.iter().flatten().count(), 3, "{scores:?}");
        assert_eq!(scores.len(), 9);
    });
}
