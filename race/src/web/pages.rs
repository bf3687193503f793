//! The pages: each handler loads what it shows through [`crate::store`] and renders a template
//! from `race/templates` (askama escapes everything not marked safe: aliases and race names
//! with markup show as text).

use askama::Template;
use axum::extract::{Form, Multipart, Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::api::{self, CreateRace};
use super::{auth, track_svg, AppState, PageError};
use crate::config::{Direction, Placement, RaceConfig, RaceType, Ranking};
use crate::db::now_ms;
use crate::ranking::Row;
use crate::store::{self, Race, Status, Submission};
use crate::RaceError;

/// A leaderboard row as shown.
pub struct BoardRow {
    pub rank: String,
    pub alias: String,
    pub score: String,
    pub gap: String,
    pub laps: String,
    pub off_tracks: i64,
    pub collisions: i64,
    pub submissions: i64,
    pub when: String,
    pub href: String,
    pub leader: bool,
}

fn board_rows(race: &Race, rows: &[Row]) -> Vec<BoardRow> {
    rows.iter()
        .map(|r| BoardRow {
            rank: r.rank.map(|n| n.to_string()).unwrap_or_else(|| "–".into()),
            alias: r.entry.alias.clone(),
            score: r.entry.score.map(|s| format!("{s:.3} s")).unwrap_or_else(|| "not ranked".into()),
            gap: match r.gap_s {
                Some(_) if r.rank == Some(1) => "leader".into(),
                Some(g) => format!("+{g:.3}"),
                None => String::new(),
            },
            laps: format!("{}/{}", r.entry.completed_laps, r.entry.laps),
            off_tracks: r.entry.off_tracks,
            collisions: r.entry.collisions,
            submissions: r.entry.submissions,
            when: ago(r.entry.submitted_at),
            href: format!("/races/{}/submissions/{}", race.id, r.entry.submission_id),
            leader: r.rank == Some(1),
        })
        .collect()
}

/// "3 min ago", in words for a board.
fn ago(ms: i64) -> String {
    let s = (now_ms() - ms).max(0) / 1000;
    match s {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86399 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

fn date(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.replace('T', " ").replace('Z', " UTC")
}

fn track_of(race: &Race) -> Result<paddock_tracks::Track, RaceError> {
    paddock_tracks::Track::from_json_str(&race.track_json).map_err(|e| RaceError::Database(format!("stored track: {e}")))
}

fn html(t: &impl Template) -> Result<Response, PageError> {
    Ok(Html(t.render()?).into_response())
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
}

pub struct RaceCard {
    pub href: String,
    pub name: String,
    pub track: String,
    pub status: &'static str,
    pub closes: String,
}

#[derive(Template)]
#[template(path = "index.html")]
struct Index {
    races: Vec<RaceCard>,
}

pub async fn index(State(state): State<AppState>) -> Result<Response, PageError> {
    let now = now_ms();
    let races = store::races(&state.db)
        .await?
        .iter()
        .map(|r| RaceCard {
            href: format!("/races/{}", r.id),
            name: r.name.clone(),
            track: r.config.track.clone(),
            status: r.status(now).as_str(),
            closes: date(r.closes_at),
        })
        .collect();
    html(&Index { races })
}

#[derive(Template)]
#[template(path = "new_race.html")]
struct NewRace {
    tracks: Vec<&'static str>,
    error: Option<String>,
    /// The server asks for its create key (`--create-key`).
    needs_key: bool,
}

pub async fn new_race_form(State(state): State<AppState>) -> Result<Response, PageError> {
    html(&NewRace { tracks: paddock_tracks::Track::builtin_names().to_vec(), error: None, needs_key: state.create_key.is_some() })
}

#[derive(Template)]
#[template(path = "created.html")]
struct CreatedPage {
    race_href: String,
    admin_href: String,
    name: String,
    created: store::Created,
}

/// The new-race form (multipart: it may carry a track file).
pub async fn create_race(State(state): State<AppState>, mut form: Multipart) -> Result<Response, PageError> {
    let mut fields = std::collections::HashMap::new();
    let mut track_file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = form.next_field().await.map_err(|e| RaceError::BadInput(format!("the form is malformed: {}", e.body_text())))? {
        let name = field.name().unwrap_or("").to_string();
        if name == "track_file" {
            let file_name = field.file_name().unwrap_or("").to_string();
            let bytes = field.bytes().await.map_err(|e| RaceError::BadInput(format!("the track file: {}", e.body_text())))?;
            if !bytes.is_empty() {
                track_file = Some((file_name, bytes.to_vec()));
            }
        } else {
            let text = field.text().await.map_err(|e| RaceError::BadInput(format!("the form is malformed: {}", e.body_text())))?;
            fields.insert(name, text);
        }
    }
    let result = async {
        let config = config_from_form(&fields)?;
        let track_json = match track_file {
            None => None,
            Some((name, bytes)) => Some(uploaded_track_json(&name, &bytes)?),
        };
        let body = CreateRace { config, track_json };
        let key = fields.get("create_key").map(|k| k.trim()).filter(|k| !k.is_empty());
        let created = api::create(&state, key, &body).await?;
        Ok::<_, RaceError>((body.config.name, created))
    }
    .await;
    match result {
        Ok((name, created)) => {
            let id = created.race_id.clone();
            let page = CreatedPage { race_href: format!("/races/{id}"), admin_href: format!("/races/{id}/admin"), name, created };
            let cookie = auth::set_cookie(&auth::organiser_cookie(&id), &id, &page.created.admin_token);
            Ok(([(header::SET_COOKIE, cookie)], Html(page.render()?)).into_response())
        }
        Err(e @ (RaceError::Config(_) | RaceError::BadInput(_))) => {
            let page = NewRace { tracks: paddock_tracks::Track::builtin_names().to_vec(), error: Some(e.to_string()), needs_key: state.create_key.is_some() };
            Ok((e.status(), Html(page.render()?)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// A DeepRacer `.npy` or our JSON, uploaded, as our JSON.
pub fn uploaded_track_json(name: &str, bytes: &[u8]) -> Result<String, RaceError> {
    if bytes.len() > crate::config::MAX_TRACK_BYTES {
        return Err(RaceError::TooLarge(format!("the track file is larger than {} MB", crate::config::MAX_TRACK_BYTES >> 20)));
    }
    let stem = crate::checks::clean_file_name(name);
    let stem = stem.trim_end_matches(".npy").trim_end_matches(".json");
    let track = if bytes.starts_with(b"\x93NUMPY") {
        paddock_tracks::Track::from_npy_bytes(bytes, stem)
    } else {
        let text = std::str::from_utf8(bytes).map_err(|_| RaceError::BadInput("the track file is neither a DeepRacer .npy nor JSON".into()))?;
        paddock_tracks::Track::from_json_str(text)
    }
    .map_err(|e| RaceError::BadInput(format!("the track file: {e}")))?;
    Ok(track.to_json_string())
}

fn config_from_form(f: &std::collections::HashMap<String, String>) -> Result<RaceConfig, RaceError> {
    let get = |k: &str| f.get(k).map(|s| s.trim()).unwrap_or("");
    fn num<T: std::str::FromStr>(field: &str, v: &str, default: T) -> Result<T, RaceError> {
        if v.is_empty() {
            return Ok(default);
        }
        v.parse().map_err(|_| RaceError::Config(format!("{field}: '{v}' is not a number")))
    }
    let d = RaceConfig::default();
    let pick = |k: &str| -> Result<String, RaceError> { Ok(format!("\"{}\"", get(k))) };
    let enum_of = |k: &str, default: &str| -> Result<String, RaceError> {
        if get(k).is_empty() {
            Ok(format!("\"{default}\""))
        } else {
            pick(k)
        }
    };
    let direction: Direction = serde_json::from_str(&enum_of("direction", "counterclockwise")?).map_err(|_| RaceError::Config("direction: pick one".into()))?;
    let race_type: RaceType = serde_json::from_str(&enum_of("race_type", "time_trial")?).map_err(|_| RaceError::Config("race_type: pick one".into()))?;
    let ranking: Ranking = serde_json::from_str(&enum_of("ranking", "best_lap")?).map_err(|_| RaceError::Config("ranking: pick one".into()))?;
    let placement: Placement =
        serde_json::from_str(&enum_of("obstacle_placement", "fixed")?).map_err(|_| RaceError::Config("obstacle_placement: pick one".into()))?;
    let track = if get("track") == "random" { format!("random:{}", num::<u64>("random seed", get("random_seed"), 1)?) } else { get("track").to_string() };
    let opens = get("opens_at").to_string();
    let closes = get("closes_at").to_string();
    Ok(RaceConfig {
        name: get("name").to_string(),
        track: if track.is_empty() { d.track.clone() } else { track },
        direction,
        race_type,
        obstacles: if race_type == RaceType::ObjectAvoidance { num("obstacles", get("obstacles"), 3)? } else { 0 },
        obstacle_placement: placement,
        bot_cars: if race_type == RaceType::HeadToBot { num("bot_cars", get("bot_cars"), 2)? } else { 0 },
        bot_car_speed_mps: num("bot_car_speed_mps", get("bot_car_speed_mps"), d.bot_car_speed_mps)?,
        ranking,
        average_laps: num("average_laps", get("average_laps"), d.average_laps)?,
        laps: num("laps", get("laps"), d.laps)?,
        min_consecutive_laps: num("min_consecutive_laps", get("min_consecutive_laps"), d.min_consecutive_laps)?,
        lap_time_cap_s: num("lap_time_cap_s", get("lap_time_cap_s"), d.lap_time_cap_s)?,
        off_track_penalty_s: num("off_track_penalty_s", get("off_track_penalty_s"), d.off_track_penalty_s)?,
        collision_penalty_s: num("collision_penalty_s", get("collision_penalty_s"), d.collision_penalty_s)?,
        max_resets_per_lap: num("max_resets_per_lap", get("max_resets_per_lap"), d.max_resets_per_lap)?,
        submissions_per_day: num("submissions_per_day", get("submissions_per_day"), d.submissions_per_day)?,
        submissions_total: num("submissions_total", get("submissions_total"), d.submissions_total)?,
        max_model_mb: num("max_model_mb", get("max_model_mb"), d.max_model_mb)?,
        // The browser's datetime-local has no zone: read as UTC.
        opens_at: if opens.is_empty() { opens } else { format!("{opens}Z").replace("ZZ", "Z") },
        closes_at: if closes.is_empty() { closes } else { format!("{closes}Z").replace("ZZ", "Z") },
        hidden_tracks: get("hidden_tracks").split([',', ' ']).filter(|s| !s.is_empty()).map(String::from).collect(),
    })
}

#[derive(Template)]
#[template(path = "race.html")]
struct RacePage {
    race: Race,
    status: &'static str,
    rules: Vec<String>,
    opens: String,
    closes: String,
    track_svg: String,
    rows: Vec<BoardRow>,
    private_rows: Option<Vec<BoardRow>>,
    min_lap: String,
    joined: bool,
}

pub async fn race(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, PageError> {
    let race = store::race(&state.db, &id).await?;
    let track = track_of(&race)?;
    let rows = board_rows(&race, &store::leaderboard(&state.db, &race, "public").await?);
    let status = race.status(now_ms());
    let private_rows = if status == Status::Closed && !race.hidden.is_empty() {
        Some(board_rows(&race, &store::leaderboard(&state.db, &race, "private").await?))
    } else {
        None
    };
    let min_lap = paddock_tracks::RacingLine::compute(&track, &paddock_sim::lap_limits(&paddock_vehicle::CarSpec::deepracer()))
        .map(|l| format!("{:.2} s", l.lap_time))
        .unwrap_or_default();
    let joined = auth::token(&headers, &auth::racer_cookie(&race.id)).is_some();
    html(&RacePage {
        status: status.as_str(),
        rules: race.config.summary(),
        opens: date(race.opens_at),
        closes: date(race.closes_at),
        track_svg: track_svg::svg(&track, &[]),
        rows,
        private_rows,
        min_lap,
        joined,
        race,
    })
}

#[derive(Template)]
#[template(path = "board_rows.html")]
struct BoardFragment {
    rows: Vec<BoardRow>,
}

/// The board's rows alone: what the live pages fetch when a result arrives.
pub async fn board_fragment(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, PageError> {
    let race = store::race(&state.db, &id).await?;
    let rows = board_rows(&race, &store::leaderboard(&state.db, &race, "public").await?);
    html(&BoardFragment { rows })
}

#[derive(Template)]
#[template(path = "screen.html")]
struct Screen {
    race: Race,
    rows: Vec<BoardRow>,
    track_svg: String,
    status: &'static str,
}

/// The big-screen board for the projector.
pub async fn screen(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, PageError> {
    let race = store::race(&state.db, &id).await?;
    let rows = board_rows(&race, &store::leaderboard(&state.db, &race, "public").await?);
    let track_svg = track_svg::svg(&track_of(&race)?, &[]);
    html(&Screen { status: race.status(now_ms()).as_str(), race, rows, track_svg })
}

#[derive(Deserialize)]
pub struct JoinForm {
    invite_code: String,
    alias: String,
}

pub async fn join(State(state): State<AppState>, Path(id): Path<String>, Form(form): Form<JoinForm>) -> Result<Response, PageError> {
    let race = store::race(&state.db, &id).await?;
    let (me, token) = store::join(&state.db, &race, &form.invite_code, &form.alias).await?;
    let cookie = auth::set_cookie(&auth::racer_cookie(&race.id), &race.id, &token);
    // The token is shown in this answer only: never in a URL, where history and logs keep it.
    let page = racer_page(&state, race, me, Some(token)).await?;
    Ok(([(header::SET_COOKIE, cookie)], page).into_response())
}

pub struct SubmissionLine {
    pub href: String,
    pub file_name: String,
    pub state: String,
    pub message: String,
    pub when: String,
    pub score: String,
}

#[derive(Template)]
#[template(path = "racer.html")]
struct RacerPage {
    race: Race,
    alias: String,
    token: Option<String>,
    open: bool,
    subs: Vec<SubmissionLine>,
    left_today: String,
}

async fn lines(state: &AppState, race: &Race, subs: &[Submission]) -> Result<Vec<SubmissionLine>, RaceError> {
    let mut out = Vec::new();
    for s in subs {
        let score = match store::public_score(&state.db, &s.id).await? {
            Some(Some(v)) => format!("{v:.3} s"),
            Some(None) => "not ranked".into(),
            None => String::new(),
        };
        let state_text = match s.state.as_str() {
            "queued" => format!("queued ({} ahead)", store::queue_position(&state.db, s).await?),
            other => other.to_string(),
        };
        out.push(SubmissionLine {
            href: format!("/races/{}/submissions/{}", race.id, s.id),
            file_name: s.file_name.clone(),
            state: state_text,
            message: s.message.clone().unwrap_or_default(),
            when: ago(s.created_at),
            score,
        });
    }
    Ok(out)
}

/// The racer's page: upload a model, follow its evaluation.
pub async fn racer(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, PageError> {
    let race = store::race(&state.db, &id).await?;
    let me = signed_in_racer(&state, &race, &headers).await?;
    racer_page(&state, race, me, None).await
}

/// The racer's own submissions, for the page's live table.
pub async fn racer_rows(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, PageError> {
    let race = store::race(&state.db, &id).await?;
    let me = signed_in_racer(&state, &race, &headers).await?;
    let subs = store::submissions(&state.db, &race.id, Some(&me.id)).await?;
    html(&RacerRows { subs: lines(&state, &race, &subs).await? })
}

async fn signed_in_racer(state: &AppState, race: &Race, headers: &HeaderMap) -> Result<store::Racer, RaceError> {
    let token = auth::token(headers, &auth::racer_cookie(&race.id)).ok_or_else(|| RaceError::Unauthorized("join the race first".into()))?;
    store::racer_by_token(&state.db, &race.id, &token).await
}

/// The racer's page; `token` is shown once, just after joining (for the command line).
async fn racer_page(state: &AppState, race: Race, me: store::Racer, token: Option<String>) -> Result<Response, PageError> {
    let subs = store::submissions(&state.db, &race.id, Some(&me.id)).await?;
    let day_start = now_ms() - now_ms().rem_euclid(86_400_000);
    let today = subs.iter().filter(|s| s.created_at >= day_start).count() as u32;
    let left_today = format!(
        "{} of {} left today, {} of {} in all",
        race.config.submissions_per_day.saturating_sub(today),
        race.config.submissions_per_day,
        race.config.submissions_total.saturating_sub(subs.len() as u32),
        race.config.submissions_total
    );
    let subs = lines(state, &race, &subs).await?;
    html(&RacerPage { open: race.status(now_ms()) == Status::Open, alias: me.alias, token, subs, left_today, race })
}

#[derive(Template)]
#[template(path = "racer_rows.html")]
struct RacerRows {
    subs: Vec<SubmissionLine>,
}

pub async fn submit(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap, form: Multipart) -> Result<Response, PageError> {
    let race = store::race(&state.db, &id).await?;
    let token = auth::token(&headers, &auth::racer_cookie(&race.id)).ok_or_else(|| RaceError::Unauthorized("join the race first".into()))?;
    let me = store::racer_by_token(&state.db, &race.id, &token).await?;
    api::accept_upload(&state, &race, &me, form).await?;
    Ok(Redirect::to(&format!("/races/{}/me", race.id)).into_response())
}

pub struct LapLine {
    pub lap: usize,
    pub time: String,
    pub ratio: String,
    pub off_tracks: usize,
    pub collisions: usize,
    pub best: bool,
}

pub struct TrackResultView {
    pub board: String,
    pub track: String,
    pub score: String,
    pub laps: Vec<LapLine>,
}

#[derive(Template)]
#[template(path = "submission.html")]
struct SubmissionPage {
    race: Race,
    sub: Submission,
    when: String,
    results: Vec<TrackResultView>,
    track_svg: String,
    replay_href: String,
    evaluated: bool,
}

pub async fn submission(State(state): State<AppState>, Path((id, sid)): Path<(String, String)>) -> Result<Response, PageError> {
    let race = store::race(&state.db, &id).await?;
    let (sub, evals) = api::submission_in(&state, &race, &sid).await?;
    let track = track_of(&race)?;
    let mut best_path = Vec::new();
    let results = evals
        .iter()
        .map(|e| {
            let best = e.report.laps.iter().filter(|l| l.completed).min_by(|a, b| a.time_s.total_cmp(&b.time_s)).map(|l| l.lap);
            if e.board == "public" {
                if let Some(l) = e.report.laps.iter().find(|l| Some(l.lap) == best) {
                    best_path = l.trace.iter().map(|p| glam::DVec2::new(p.x as f64, p.y as f64)).collect();
                }
            }
            TrackResultView {
                board: e.board.clone(),
                track: e.track_name.clone(),
                score: e.score.map(|s| format!("{s:.3} s")).unwrap_or_else(|| "not ranked".into()),
                laps: e
                    .report
                    .laps
                    .iter()
                    .map(|l| LapLine {
                        lap: l.lap,
                        time: if l.completed { format!("{:.3} s", l.time_s) } else { format!("not completed ({:.0} %)", l.progress) },
                        ratio: if l.completed { format!("{:.2}x", l.time_s / e.report.min_lap_time_s) } else { String::new() },
                        off_tracks: l.off_tracks,
                        collisions: l.collisions,
                        best: Some(l.lap) == best,
                    })
                    .collect(),
            }
        })
        .collect();
    let track_svg = track_svg::svg(&track, &[best_path]);
    html(&SubmissionPage {
        when: date(sub.created_at),
        replay_href: format!("/races/{}/submissions/{}/replay.json", race.id, sub.id),
        evaluated: !evals.is_empty(),
        results,
        track_svg,
        sub,
        race,
    })
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    race: Race,
    status: &'static str,
    invite_link: String,
    racers: Vec<store::Racer>,
    subs: Vec<SubmissionLine>,
    sub_ids: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_login.html")]
struct AdminLogin {
    race: Race,
}

pub async fn admin(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, PageError> {
    let race = store::race(&state.db, &id).await?;
    let Some(token) = auth::token(&headers, &auth::organiser_cookie(&race.id)) else {
        return html(&AdminLogin { race });
    };
    // A cookie that no longer works (another browser's, a mistyped token) asks to log in again.
    let Ok(race) = store::race_as_organiser(&state.db, &id, &token).await else {
        return html(&AdminLogin { race });
    };
    let subs = store::submissions(&state.db, &race.id, None).await?;
    let sub_ids = subs.iter().map(|s| s.id.clone()).collect();
    let subs = lines(&state, &race, &subs).await?;
    html(&AdminPage {
        status: race.status(now_ms()).as_str(),
        invite_link: format!("/races/{}#join", race.id),
        racers: store::racers(&state.db, &race.id).await?,
        subs,
        sub_ids,
        race,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

pub async fn admin_login(State(state): State<AppState>, Path(id): Path<String>, Form(form): Form<LoginForm>) -> Result<Response, PageError> {
    let race = store::race_as_organiser(&state.db, &id, form.token.trim()).await?;
    let cookie = auth::set_cookie(&auth::organiser_cookie(&race.id), &race.id, form.token.trim());
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&format!("/races/{}/admin", race.id))).into_response())
}

#[derive(Deserialize)]
pub struct AdminAction {
    action: String,
    #[serde(default)]
    target: String,
}

/// Close, reopen, follow the dates, remove a racer, re-run a submission.
pub async fn admin_action(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<AdminAction>,
) -> Result<Response, PageError> {
    let token = auth::token(&headers, &auth::organiser_cookie(&id)).ok_or_else(|| RaceError::Unauthorized("log in as the organiser".into()))?;
    let race = store::race_as_organiser(&state.db, &id, &token).await?;
    match form.action.as_str() {
        "close" => store::set_override(&state.db, &race, Some("closed")).await?,
        "reopen" => store::set_override(&state.db, &race, Some("open")).await?,
        "dates" => store::set_override(&state.db, &race, None).await?,
        "remove" => store::remove_racer(&state.db, &race, &form.target).await?,
        "rerun" => store::rerun(&state.db, &race, &form.target).await?,
        other => return Err(RaceError::BadInput(format!("unknown action '{other}'")).into()),
    }
    Ok(Redirect::to(&format!("/races/{}/admin", race.id)).into_response())
}
