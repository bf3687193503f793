//! The race server for real on SQLite: a `paddock-race serve` process evaluating in sandboxed
//! `paddock-worker` processes, driven over HTTP as the pages and the command line do.

mod common;

use std::time::Duration;

use common::{create, join, model, page, status_of, wait_evaluated, Server};
use paddock_policy::model::Sensor;
use paddock_race::client::ClientError;
use serde_json::{json, Value};

#[test]
fn a_race_from_creation_to_a_ranked_board_with_bad_input_refused() {
    let server = Server::start();
    let (race, admin, invite) = create(&server, json!({}));
    let ann = join(&server, &race, &invite, "ann");
    let markup = join(&server, &race, &invite, "<script>alert(1)</script>");
    let submit = |token: &str, bytes: &[u8]| server.client(Some(token)).post_file(&format!("/api/races/{race}/submissions"), "model.safetensors", bytes);

    let good = model(1, Sensor::Lidar);
    let sent = submit(&ann, &good).unwrap();
    assert!(matches!(sent["submission"]["state"].as_str(), Some("queued" | "running")), "{sent}");
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
        ("taken alias, other case", server.client(None).post_json(&format!("/api/races/{race}/join"), &json!({ "invite_code": invite, "alias": "ANN" })), 409),
        ("invisible alias", server.client(None).post_json(&format!("/api/races/{race}/join"), &json!({ "invite_code": invite, "alias": "an\u{200b}n" })), 400),
        ("wrong invite", server.client(None).post_json(&format!("/api/races/{race}/join"), &json!({ "invite_code": "XXXX", "alias": "bob" })), 403),
        ("bad config", server.client(None).post_json("/api/races", &json!({ "config": { "name": "x", "laps": 0 } })), 400),
        ("empty config", server.client(None).post_json("/api/races", &json!({ "config": {} })), 400),
        ("malformed json", server.client(None).post_json("/api/races", &json!("not an object")), 400),
        ("huge form", server.client(None).post_json(&format!("/api/races/{race}/join"), &json!({ "invite_code": invite, "alias": "x".repeat(200_000) })), 413),
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
        let laps = stored_laps(&sub);
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

#[test]
fn a_hundred_submissions_from_twenty_racers_at_once_are_all_answered_evaluated_and_ranked_as_stored() {
    let server = Server::start();
    let per_day = 4;
    let (race, admin, invite) = create(&server, json!({ "submissions_per_day": per_day, "laps": 1 }));
    let tokens: Vec<String> = (0..20).map(|i| join(&server, &race, &invite, &format!("racer{i:02}"))).collect();
    // Five at once from each racer, a hundred in flight: each is accepted or refused with a reason.
    let answers: Vec<(usize, Result<Value, ClientError>)> = std::thread::scope(|s| {
        let sent: Vec<_> = (0..100)
            .map(|i| {
                let (server, race, token) = (&server, &race, &tokens[i % 20]);
                s.spawn(move || {
                    (
                        i % 20,
                        server.client(Some(token)).post_file(
                            &format!("/api/races/{race}/submissions"),
                            "m.safetensors",
                            &model(1000 + i as u64, Sensor::Lidar),
                        ),
                    )
                })
            })
            .collect();
        sent.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut accepted = vec![0; 20];
    for (racer, answer) in answers {
        match answer {
            Ok(v) => {
                assert!(matches!(v["submission"]["state"].as_str(), Some("queued" | "running")), "{v}");
                accepted[racer] += 1;
            }
            Err(e) => {
                let (status, message) = status_of(e);
                assert_eq!(status, 429, "{message}");
                assert!(message.contains("today"), "{message}");
            }
        }
    }
    assert!(accepted.iter().all(|&n| n == per_day), "the daily limit holds under concurrency: {accepted:?}");

    let subs = wait_evaluated(&server, &race, &admin, 20 * per_day);
    assert!(subs.iter().all(|s| s["state"] == "done"), "{subs:?}");
    // Recompute each racer's counted result from the stored laps and compare with the board.
    let board = server.client(None).get(&format!("/api/races/{race}/leaderboard")).unwrap();
    let config: paddock_race::config::RaceConfig = serde_json::from_value(board["race"]["config"].clone()).unwrap();
    let mut best: std::collections::HashMap<String, (Option<f64>, usize, i64, String)> = Default::default();
    for s in &subs {
        let detail = server.client(None).get(&format!("/api/races/{race}/submissions/{}", s["id"].as_str().unwrap())).unwrap();
        let laps = stored_laps(&detail);
        let mine = (
            paddock_race::ranking::score(&config, &laps),
            laps.iter().filter(|l| l.completed).count(),
            s["created_at"].as_i64().unwrap(),
            s["id"].as_str().unwrap().to_string(),
        );
        // The server's order: a lower score, or among the unranked more completed laps; then the
        // earlier submission, then the smaller id (a hundred at once share milliseconds).
        let key = |e: &(Option<f64>, usize, i64, String)| {
            let laps = if e.0.is_none() { e.1 } else { 0 };
            (e.0.is_none(), e.0.unwrap_or(0.0), std::cmp::Reverse(laps), e.2, e.3.clone())
        };
        let entry = best.entry(s["alias"].as_str().unwrap().to_string()).or_insert(mine.clone());
        if key(&mine).partial_cmp(&key(entry)) == Some(std::cmp::Ordering::Less) {
            *entry = mine;
        }
    }
    let rows = board["public"].as_array().unwrap();
    assert_eq!(rows.len(), 20);
    let leader = rows[0]["score"].as_f64();
    let mut last: Option<f64> = None;
    for row in rows {
        let (score, _, _, id) = &best[row["alias"].as_str().unwrap()];
        assert_eq!(row["submission_id"].as_str().unwrap(), id, "the racer's best counts: {row}");
        assert_eq!(row["score"].as_f64(), *score);
        assert_eq!(row["submissions"], per_day);
        if let (Some(s), Some(l)) = (score, leader) {
            assert!(last.is_none_or(|p| p <= *s), "ranked by score");
            assert!((row["gap_s"].as_f64().unwrap() - (s - l)).abs() < 1e-9);
            last = Some(*s);
        }
    }
}

/// An organiser's form action, sent as the admin page sends it (with the token as a bearer).
fn organiser_does(server: &Server, race: &str, admin: &str, action: &str, target: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
    let r = agent
        .post(&format!("{}/races/{race}/admin/do", server.url))
        .header("Authorization", &format!("Bearer {admin}"))
        .send_form([("action", action), ("target", target)])
        .unwrap();
    r.status().as_u16()
}

#[test]
fn the_organiser_closes_reruns_and_removes_and_the_private_board_shows_only_after_the_close() {
    let server = Server::start();
    let (race, admin, invite) = create(&server, json!({ "hidden_tracks": ["circuit"], "laps": 1 }));
    let ann = join(&server, &race, &invite, "ann");
    let bob = join(&server, &race, &invite, "bob");
    let submit = |token: &str| server.client(Some(token)).post_file(&format!("/api/races/{race}/submissions"), "m.safetensors", &model(5, Sensor::Lidar));
    let sent = submit(&ann).unwrap();
    let ann_sub = sent["submission"]["id"].as_str().unwrap().to_string();
    submit(&bob).unwrap();

    // Malformed multipart: a 4xx, nothing stored.
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent
        .post(&format!("{}/api/races/{race}/submissions", server.url))
        .header("Authorization", &format!("Bearer {ann}"))
        .header("Content-Type", "multipart/form-data; boundary=XYZ")
        .send("--XYZ\r\nContent-Disposition: form-data; name=\"model\"; filename=\"m\"\r\n\r\nnot closed")
        .unwrap();
    assert_eq!(r.status().as_u16(), 400, "{}", r.body_mut().read_to_string().unwrap());

    let subs = wait_evaluated(&server, &race, &admin, 2);
    assert!(subs.iter().all(|s| s["state"] == "done"), "{subs:?}");
    // The same model gets the same times (seeds fixed per race).
    let laps_of = |sid: &str, board: &str| {
        let d = server.client(Some(&admin)).get(&format!("/api/races/{race}/submissions/{sid}")).unwrap();
        d["evaluations"].as_array().unwrap().iter().find(|e| e["board"] == board).map(|e| e["laps"].clone())
    };
    let bob_sub = subs.iter().find(|s| s["alias"] == "bob").unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(laps_of(&ann_sub, "public"), laps_of(&bob_sub, "public"));

    // While open, the private board and hidden laps are the organiser's alone.
    let public_view = server.client(None).get(&format!("/api/races/{race}/leaderboard")).unwrap();
    assert!(public_view["private"].is_null(), "{public_view}");
    assert!(!public_view.to_string().contains("circuit"), "the hidden track is not named: {public_view}");
    assert!(!server.client(None).get(&format!("/api/races/{race}")).unwrap().to_string().contains("circuit"));
    assert_eq!(laps_of(&ann_sub, "private"), None);
    let organiser_view = server.client(Some(&admin)).get(&format!("/api/races/{race}/leaderboard")).unwrap();
    assert_eq!(organiser_view["private"].as_array().unwrap().len(), 2);
    assert_eq!(organiser_view["race"]["config"]["hidden_tracks"], json!(["circuit"]));
    let (_, page_html) = common::page(&format!("{}/races/{race}", server.url));
    assert!(!page_html.contains("Private leaderboard"), "not shown before the close");

    // Re-run: the old result goes, one new evaluation comes.
    assert_eq!(organiser_does(&server, &race, &admin, "rerun", &ann_sub), 303);
    assert_eq!(organiser_does(&server, &race, &ann, "rerun", &ann_sub), 403, "a racer is not the organiser");
    assert_eq!(organiser_does(&server, &race, &admin, "rerun", "no-such-submission"), 404);
    // A form posted from another site is refused, token or not.
    let foreign = agent
        .post(&format!("{}/races/{race}/admin/do", server.url))
        .header("Authorization", &format!("Bearer {admin}"))
        .header("Origin", "http://evil.example")
        .send_form([("action", "close"), ("target", "")])
        .unwrap();
    assert_eq!(foreign.status().as_u16(), 403);
    let subs = wait_evaluated(&server, &race, &admin, 2);
    assert!(subs.iter().all(|s| s["state"] == "done"), "{subs:?}");
    let detail = server.client(None).get(&format!("/api/races/{race}/submissions/{ann_sub}")).unwrap();
    assert_eq!(detail["evaluations"].as_array().unwrap().len(), 1);

    // Removed racers leave the board and can no longer submit.
    let bob_id = subs.iter().find(|s| s["alias"] == "bob").unwrap()["racer_id"].as_str().unwrap().to_string();
    assert_eq!(organiser_does(&server, &race, &admin, "remove", &bob_id), 303);
    let board = server.client(None).get(&format!("/api/races/{race}/leaderboard")).unwrap();
    assert_eq!(board["public"].as_array().unwrap().len(), 1, "{board}");
    assert!(submit(&bob).is_err(), "a removed racer cannot submit");

    // Closed: no submissions, and now everyone sees the private board.
    assert_eq!(organiser_does(&server, &race, &admin, "close", ""), 303);
    let (status, message) = status_of(submit(&ann).unwrap_err());
    assert_eq!(status, 403, "{message}");
    assert!(message.contains("closed"), "{message}");
    let board = server.client(None).get(&format!("/api/races/{race}/leaderboard")).unwrap();
    assert_eq!(board["race"]["status"], "closed");
    assert_eq!(board["private"].as_array().unwrap().len(), 1, "{board}");
    assert!(laps_of(&ann_sub, "private").is_some());
    let (_, page_html) = common::page(&format!("{}/races/{race}", server.url));
    assert!(page_html.contains("Private leaderboard"), "shown after the close");
    // Reopened: submissions are taken again.
    assert_eq!(organiser_does(&server, &race, &admin, "reopen", ""), 303);
    submit(&ann).unwrap();
}

/// The public evaluation's laps of a submission, as the API stored them.
fn stored_laps(submission: &Value) -> Vec<paddock_race::ranking::Lap> {
    let laps = submission["evaluations"][0]["laps"].as_array().unwrap();
    laps.iter().map(|l| paddock_race::ranking::Lap { completed: l["completed"].as_bool().unwrap(), time_s: l["time_s"].as_f64().unwrap() }).collect()
}
