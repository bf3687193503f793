//! The JSON API (what `paddock-race create | submit | status | results` call) and the files the
//! pages fetch: a submission's replay and the organiser's CSV.

use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{auth, ApiError, AppState};
use crate::checks::{check_model, clean_file_name};
use crate::config::RaceConfig;
use crate::db::now_ms;
use crate::store::{self, NewSubmission, Race, Racer, Status, Submission};
use crate::RaceError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRace {
    pub config: RaceConfig,
    /// An uploaded track in Paddock's JSON (the command line converts `.npy` files).
    #[serde(default)]
    pub track_json: Option<String>,
}

/// A body that is not the JSON asked for: too large (413) or malformed (400).
fn json_error(e: axum::extract::rejection::JsonRejection) -> RaceError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        RaceError::TooLarge(e.body_text())
    } else {
        RaceError::BadInput(e.body_text())
    }
}

/// Creates a race from a checked config; the server's create key guards it when it has one.
pub async fn create(state: &AppState, key: Option<&str>, body: &CreateRace) -> Result<store::Created, RaceError> {
    if let Some(wanted) = &state.create_key {
        if key != Some(wanted.as_str()) {
            return Err(RaceError::Unauthorized("this server needs its create key to open a race".into()));
        }
    }
    let checked = body.config.check(body.track_json.as_deref(), now_ms())?;
    store::create_race(&state.db, &checked).await
}

pub async fn create_race(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<CreateRace>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<store::Created>, ApiError> {
    let Json(body) = body.map_err(json_error)?;
    let key = auth::token(&headers, "create_key");
    Ok(Json(create(&state, key.as_deref(), &body).await?))
}

pub async fn races(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = now_ms();
    let races: Vec<Value> = store::races(&state.db).await?.iter().map(|r| race_json(r, now, false)).collect();
    Ok(Json(json!(races)))
}

/// A race as the API shows it. Until the close, only the organiser sees which tracks are
/// hidden: others would train on them.
fn race_json(race: &Race, now: i64, organiser: bool) -> Value {
    let mut config = race.config.clone();
    if !organiser && race.status(now) != Status::Closed {
        config.hidden_tracks = (1..=config.hidden_tracks.len()).map(|i| format!("hidden {i}")).collect();
    }
    json!({ "id": race.id, "name": race.name, "status": race.status(now), "config": config, "opens_at": race.opens_at, "closes_at": race.closes_at })
}

pub async fn race(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let race = store::race(&state.db, &id).await?;
    let organiser = organiser(&state, &race, &headers).await.is_ok();
    Ok(Json(race_json(&race, now_ms(), organiser)))
}

#[derive(Deserialize)]
pub struct JoinRequest {
    pub invite_code: String,
    pub alias: String,
}

pub async fn join(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<JoinRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(json_error)?;
    let race = store::race(&state.db, &id).await?;
    let (racer, token) = store::join(&state.db, &race, &body.invite_code, &body.alias).await?;
    Ok(Json(json!({ "racer_id": racer.id, "alias": racer.alias, "token": token })))
}

/// The public board always; the private one only after the close (or to the organiser).
pub async fn leaderboard(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let race = store::race(&state.db, &id).await?;
    let public = store::leaderboard(&state.db, &race, "public").await?;
    let organiser = organiser(&state, &race, &headers).await.is_ok();
    let private = if !race.hidden.is_empty() && (race.status(now_ms()) == Status::Closed || organiser) {
        Some(store::leaderboard(&state.db, &race, "private").await?)
    } else {
        None
    };
    Ok(Json(json!({ "race": race_json(&race, now_ms(), organiser), "public": public, "private": private })))
}

async fn organiser(state: &AppState, race: &Race, headers: &HeaderMap) -> Result<Race, RaceError> {
    let token = auth::token(headers, &auth::organiser_cookie(&race.id)).ok_or_else(|| RaceError::Unauthorized("give the organiser token".into()))?;
    store::race_as_organiser(&state.db, &race.id, &token).await
}

async fn racer(state: &AppState, race: &Race, headers: &HeaderMap) -> Result<Racer, RaceError> {
    let token = auth::token(headers, &auth::racer_cookie(&race.id)).ok_or_else(|| RaceError::Unauthorized("join the race first: no racer token".into()))?;
    store::racer_by_token(&state.db, &race.id, &token).await
}

/// Reads the `model` file from a multipart upload, stopping at the race's size cap, checks it
/// and queues it.
pub async fn accept_upload(state: &AppState, race: &Race, racer: &Racer, mut form: Multipart) -> Result<Submission, RaceError> {
    let cap = race.config.max_model_mb as usize * (1 << 20);
    let bad = |e: axum::extract::multipart::MultipartError| RaceError::BadInput(format!("the upload is not a well-formed form: {}", e.body_text()));
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        if field.name() != Some("model") {
            continue;
        }
        let file_name = clean_file_name(field.file_name().unwrap_or("model.safetensors"));
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            if bytes.len() + chunk.len() > cap {
                return Err(RaceError::TooLarge(format!("the model is larger than this race's {} MB", race.config.max_model_mb)));
            }
            bytes.extend_from_slice(&chunk);
        }
        let info = check_model(&bytes, race.config.max_model_mb)?;
        let sensor = format!("{:?}", info.sensor).to_lowercase();
        return store::submit(&state.db, race, racer, NewSubmission { file_name: &file_name, bytes: &bytes, sensor: &sensor }).await;
    }
    Err(RaceError::BadInput("no file in the form's 'model' field".into()))
}

pub async fn submit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let race = store::race(&state.db, &id).await?;
    let racer = racer(&state, &race, &headers).await?;
    let form = form.map_err(|e| RaceError::BadInput(format!("send the model as multipart/form-data: {}", e.body_text())))?;
    let sub = accept_upload(&state, &race, &racer, form).await?;
    let ahead = store::queue_position(&state.db, &sub).await?;
    Ok(Json(json!({ "submission": sub, "queue_ahead": ahead })))
}

/// The racer's own submissions, or all of them for the organiser.
pub async fn submissions(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let race = store::race(&state.db, &id).await?;
    let subs = match organiser(&state, &race, &headers).await {
        Ok(_) => store::submissions(&state.db, &race.id, None).await?,
        Err(_) => {
            let me = racer(&state, &race, &headers).await?;
            store::submissions(&state.db, &race.id, Some(&me.id)).await?
        }
    };
    Ok(Json(json!(subs)))
}

/// A submission in this race, with its public laps (and hidden ones after the close).
pub async fn submission_in(state: &AppState, race: &Race, sid: &str) -> Result<(Submission, Vec<store::Evaluation>), RaceError> {
    let sub = store::submission(&state.db, sid).await?;
    if sub.race_id != race.id {
        return Err(RaceError::NotFound(format!("no submission '{sid}' in this race")));
    }
    let show_private = race.status(now_ms()) == Status::Closed;
    let evals = store::evaluations(&state.db, sid).await?.into_iter().filter(|e| e.board == "public" || show_private).collect();
    Ok((sub, evals))
}

pub async fn submission(State(state): State<AppState>, Path((id, sid)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let race = store::race(&state.db, &id).await?;
    let (sub, evals) = submission_in(&state, &race, &sid).await?;
    let ahead = if sub.state == "queued" { Some(store::queue_position(&state.db, &sub).await?) } else { None };
    let evaluations: Vec<Value> = evals
        .iter()
        .map(|e| {
            let laps: Vec<Value> = e
                .report
                .laps
                .iter()
                .map(|l| json!({ "lap": l.lap, "completed": l.completed, "time_s": l.time_s, "off_tracks": l.off_tracks, "collisions": l.collisions, "progress": l.progress }))
                .collect();
            json!({ "board": e.board, "track": e.track_name, "score": e.score, "laps": laps })
        })
        .collect();
    Ok(Json(json!({ "submission": sub, "queue_ahead": ahead, "evaluations": evaluations })))
}

/// The public evaluation's trace and the track, for the page's animated replay.
pub async fn replay(State(state): State<AppState>, Path((id, sid)): Path<(String, String)>) -> Result<Response, ApiError> {
    let race = store::race(&state.db, &id).await?;
    let (_, evals) = submission_in(&state, &race, &sid).await?;
    let eval = evals.into_iter().find(|e| e.board == "public").ok_or_else(|| RaceError::NotFound("not evaluated yet".into()))?;
    let track = paddock_tracks::Track::from_json_str(&race.track_json).map_err(|e| RaceError::Database(e.to_string()))?;
    let pts = |v: &[glam::DVec2]| v.iter().map(|p| [(p.x * 1000.0).round() / 1000.0, (p.y * 1000.0).round() / 1000.0]).collect::<Vec<_>>();
    let body = json!({
        "track": { "left": pts(track.left_border()), "right": pts(track.right_border()), "centre": pts(track.waypoints()) },
        "laps": eval.report.laps,
        "min_lap_time_s": eval.report.min_lap_time_s,
    });
    Ok(Json(body).into_response())
}

/// The organiser's export: every racer's counted result on each board, ranked.
pub async fn results_csv(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let race = store::race(&state.db, &id).await?;
    organiser(&state, &race, &headers).await?;
    let mut csv = String::from("board,rank,alias,score_s,gap_s,completed_laps,laps,off_tracks,collisions,submissions,submission_id\n");
    for board in ["public", "private"] {
        if board == "private" && race.hidden.is_empty() {
            continue;
        }
        for row in store::leaderboard(&state.db, &race, board).await? {
            let e = &row.entry;
            let f = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
            csv.push_str(&format!(
                "{board},{},{},{},{},{},{},{},{},{},{}\n",
                row.rank.map(|r| r.to_string()).unwrap_or_default(),
                csv_field(&e.alias),
                f(e.score),
                f(row.gap_s),
                e.completed_laps,
                e.laps,
                e.off_tracks,
                e.collisions,
                e.submissions,
                e.submission_id
            ));
        }
    }
    let name = format!("attachment; filename=\"{}-results.csv\"", race.id);
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name)], csv).into_response())
}

/// A CSV field, quoted when needed; a leading `=`, `+`, `-` or `@` is defused for spreadsheets.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}
