//! Evaluations of untrusted models in the sandboxed worker, as the race server runs them.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use paddock_eval::{EvalJob, EvalOptions, WorkerEval, WorkerEvalError};
use paddock_tracks::Track;

fn runner(timeout: Duration) -> WorkerEval {
    WorkerEval { worker: PathBuf::from(env!("CARGO_BIN_EXE_paddock-worker")), sandbox: true, memory_mb: 2048, timeout }
}

fn job(laps: usize) -> EvalJob {
    let options = EvalOptions { laps, continuous: true, max_lap_time_s: 20.0, max_resets_per_lap: 3, ..Default::default() };
    EvalJob { track_json: Track::resolve("oval").unwrap().to_json_string(), track_name: "oval".into(), options }
}

#[test]
fn a_model_is_evaluated_in_the_sandbox_and_the_same_model_gets_the_same_laps() {
    let model = common::model(&common::spec());
    let a = runner(Duration::from_secs(60)).run(&job(2), &model).expect("evaluation");
    assert_eq!(a.laps.len(), 2);
    assert_eq!(a.track, "oval");
    assert!(a.laps.iter().all(|l| !l.trace.is_empty()), "laps carry their trace");
    let b = runner(Duration::from_secs(60)).run(&job(2), &model).expect("evaluation");
    let times = |r: &paddock_eval::EvalReport| r.laps.iter().map(|l| (l.time_s, l.off_tracks, l.progress)).collect::<Vec<_>>();
    assert_eq!(times(&a), times(&b), "fixed seeds: the same model gets the same times");
}

#[test]
fn a_broken_model_is_refused_not_failed() {
    let model = common::model(&common::spec());
    for (what, bytes) in [("truncated", model[..model.len() / 2].to_vec()), ("not a model", b"<html>hello</html>".to_vec()), ("empty", Vec::new())] {
        match runner(Duration::from_secs(60)).run(&job(1), &bytes) {
            Err(WorkerEvalError::Refused(why)) => assert!(!why.is_empty(), "{what}: a reason"),
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
    }
}

#[test]
fn an_evaluation_past_its_time_is_stopped() {
    let model = common::model(&common::spec());
    match runner(Duration::from_millis(1)).run(&job(3), &model) {
        Err(WorkerEvalError::Timeout(_)) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn a_missing_worker_binary_is_a_worker_failure() {
    let r = WorkerEval { worker: PathBuf::from("/nonexistent/paddock-worker"), ..runner(Duration::from_secs(5)) };
    match r.run(&job(1), b"x") {
        Err(WorkerEvalError::Worker(why)) => assert!(why.contains("/nonexistent/paddock-worker"), "{why}"),
        other => panic!("expected a worker failure, got {other:?}"),
    }
}
