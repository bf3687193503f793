//! Races, racers and submissions in the database: every change a page or the command line
//! asks for, each in one transaction that takes its write lock first.

use serde::Serialize;
use sqlx::any::AnyRow;

use crate::config::{CheckedRace, RaceConfig};
use crate::db::{col, now_ms, Db};
use crate::ranking::{self, Entry, Row};
use crate::{secrets, RaceError};

/// Longest alias, characters.
pub const MAX_ALIAS: usize = 32;

/// A race as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Race {
    pub id: String,
    pub name: String,
    pub config: RaceConfig,
    #[serde(skip)]
    pub track_json: String,
    #[serde(skip)]
    pub hidden: Vec<(String, String)>,
    #[serde(skip)]
    pub seed: u64,
    #[serde(skip)]
    pub invite_code: String,
    pub opens_at: i64,
    pub closes_at: i64,
    pub override_state: Option<String>,
    pub created_at: i64,
}

/// Where a race stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Upcoming,
    Open,
    Closed,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Upcoming => "upcoming",
            Status::Open => "open",
            Status::Closed => "closed",
        }
    }
}

impl Race {
    fn from_row(row: &AnyRow) -> Result<Race, RaceError> {
        let config: String = col(row, "config")?;
        let hidden: String = col(row, "hidden_json")?;
        Ok(Race {
            id: col(row, "id")?,
            name: col(row, "name")?,
            config: serde_json::from_str(&config).map_err(|e| RaceError::Database(format!("stored race config: {e}")))?,
            track_json: col(row, "track_json")?,
            hidden: serde_json::from_str(&hidden).map_err(|e| RaceError::Database(format!("stored hidden tracks: {e}")))?,
            seed: col::<i64>(row, "seed")? as u64,
            invite_code: col(row, "invite_code")?,
            opens_at: col(row, "opens_at")?,
            closes_at: col(row, "closes_at")?,
            override_state: col(row, "override_state")?,
            created_at: col(row, "created_at")?,
        })
    }

    /// Open, closed or not yet open at `now` (Unix ms): the organiser's close or reopen wins
    /// over the dates.
    pub fn status(&self, now: i64) -> Status {
        match self.override_state.as_deref() {
            Some("closed") => Status::Closed,
            Some("open") => Status::Open,
            _ if now < self.opens_at => Status::Upcoming,
            _ if now >= self.closes_at => Status::Closed,
            _ => Status::Open,
        }
    }
}

/// A racer in one race.
#[derive(Debug, Clone, Serialize)]
pub struct Racer {
    pub id: String,
    pub race_id: String,
    pub alias: String,
    pub removed: bool,
    pub joined_at: i64,
}

impl Racer {
    fn from_row(row: &AnyRow) -> Result<Racer, RaceError> {
        Ok(Racer {
            id: col(row, "id")?,
            race_id: col(row, "race_id")?,
            alias: col(row, "alias")?,
            removed: col::<i64>(row, "removed")? != 0,
            joined_at: col(row, "joined_at")?,
        })
    }
}

/// A submission and its evaluation's state.
#[derive(Debug, Clone, Serialize)]
pub struct Submission {
    pub id: String,
    pub seq: i64,
    pub race_id: String,
    pub racer_id: String,
    pub alias: String,
    pub model_sha256: String,
    pub file_name: String,
    pub sensor: String,
    pub created_at: i64,
    /// queued, running, done, refused or failed.
    pub state: String,
    pub message: Option<String>,
    pub attempts: i64,
    pub finished_at: Option<i64>,
}

const SUBMISSION_COLUMNS: &str =
    "s.id, s.seq, s.race_id, s.racer_id, r.alias, s.model_sha256, s.file_name, s.sensor, s.created_at, s.state, s.message, s.attempts, s.finished_at";

impl Submission {
    fn from_row(row: &AnyRow) -> Result<Submission, RaceError> {
        Ok(Submission {
            id: col(row, "id")?,
            seq: col(row, "seq")?,
            race_id: col(row, "race_id")?,
            racer_id: col(row, "racer_id")?,
            alias: col(row, "alias")?,
            model_sha256: col(row, "model_sha256")?,
            file_name: col(row, "file_name")?,
            sensor: col(row, "sensor")?,
            created_at: col(row, "created_at")?,
            state: col(row, "state")?,
            message: col(row, "message")?,
            attempts: col(row, "attempts")?,
            finished_at: col(row, "finished_at")?,
        })
    }
}

/// One stored evaluation of a submission on one track.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub board: String,
    pub track_name: String,
    pub score: Option<f64>,
    pub report: paddock_eval::EvalReport,
}

/// What a new race hands its organiser, once.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub race_id: String,
    pub admin_token: String,
    pub invite_code: String,
}

pub async fn create_race(db: &Db, race: &CheckedRace) -> Result<Created, RaceError> {
    let (id, token, invite) = (secrets::id(), secrets::token(), secrets::invite_code());
    let config = serde_json::to_string(&race.config).map_err(|e| RaceError::Database(e.to_string()))?;
    let hidden = serde_json::to_string(&race.hidden).map_err(|e| RaceError::Database(e.to_string()))?;
    // The seed fixes obstacles and bots for the race: the same model always gets the same laps.
    let seed = (rand::random::<u32>()) as i64;
    sqlx::query(
        "INSERT INTO races (id, name, config, track_json, hidden_json, seed, invite_code, admin_token_hash, opens_at, closes_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(&race.config.name)
    .bind(config)
    .bind(&race.track_json)
    .bind(hidden)
    .bind(seed)
    .bind(&invite)
    .bind(secrets::sha256_hex(token.as_bytes()))
    .bind(race.opens_at_ms)
    .bind(race.closes_at_ms)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(Created { race_id: id, admin_token: token, invite_code: invite })
}

pub async fn race(db: &Db, id: &str) -> Result<Race, RaceError> {
    let row = sqlx::query("SELECT * FROM races WHERE id = $1").bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(Race::from_row).transpose()?.ok_or_else(|| RaceError::NotFound(format!("no race '{id}'")))
}

pub async fn races(db: &Db) -> Result<Vec<Race>, RaceError> {
    let rows = sqlx::query("SELECT * FROM races ORDER BY created_at DESC").fetch_all(&db.pool).await?;
    rows.iter().map(Race::from_row).collect()
}

/// The race, if `token` is its organiser's.
pub async fn race_as_organiser(db: &Db, id: &str, token: &str) -> Result<Race, RaceError> {
    let race = race(db, id).await?;
    let ok: Option<i64> = sqlx::query_scalar("SELECT 1 FROM races WHERE id = $1 AND admin_token_hash = $2")
        .bind(id)
        .bind(secrets::sha256_hex(token.as_bytes()))
        .fetch_optional(&db.pool)
        .await?;
    ok.map(|_| race).ok_or_else(|| RaceError::Forbidden("that is not this race's organiser token".into()))
}

/// Joins `race` as `alias` with its invite code; returns the racer and their token (shown once).
pub async fn join(db: &Db, race: &Race, invite: &str, alias: &str) -> Result<(Racer, String), RaceError> {
    if invite.trim().to_ascii_uppercase() != race.invite_code {
        return Err(RaceError::Forbidden("wrong invite code for this race".into()));
    }
    let alias = check_alias(alias)?;
    if race.status(now_ms()) == Status::Closed {
        return Err(RaceError::Closed("the race is closed".into()));
    }
    // "Ann" and "ann" are one racer on a projector.
    let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM racers WHERE race_id = $1 AND LOWER(alias) = LOWER($2)")
        .bind(&race.id)
        .bind(&alias)
        .fetch_one(&db.pool)
        .await?;
    if taken > 0 {
        return Err(RaceError::Conflict(format!("the alias '{alias}' is taken in this race")));
    }
    let (id, token) = (secrets::id(), secrets::token());
    let joined_at = now_ms();
    let inserted =
        sqlx::query("INSERT INTO racers (id, race_id, alias, token_hash, joined_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (race_id, alias) DO NOTHING")
            .bind(&id)
            .bind(&race.id)
            .bind(&alias)
            .bind(secrets::sha256_hex(token.as_bytes()))
            .bind(joined_at)
            .execute(&db.pool)
            .await?;
    if inserted.rows_affected() == 0 {
        return Err(RaceError::Conflict(format!("the alias '{alias}' is taken in this race")));
    }
    Ok((Racer { id, race_id: race.id.clone(), alias, removed: false, joined_at }, token))
}

/// An alias: 1 to 32 characters, trimmed, without control characters or the invisible ones
/// that would let "ann\u{200b}" pass for "ann". Markup is allowed (and shown as text on every
/// page).
pub fn check_alias(alias: &str) -> Result<String, RaceError> {
    let alias = alias.trim();
    let invisible =
        |c: char| c.is_control() || matches!(c, '\u{00ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}');
    if alias.is_empty() || alias.chars().count() > MAX_ALIAS || alias.chars().any(invisible) {
        return Err(RaceError::BadInput(format!("an alias has 1 to {MAX_ALIAS} characters and no control or invisible characters")));
    }
    Ok(alias.to_string())
}

/// The racer whose token this is, in this race.
pub async fn racer_by_token(db: &Db, race_id: &str, token: &str) -> Result<Racer, RaceError> {
    let row = sqlx::query("SELECT * FROM racers WHERE token_hash = $1").bind(secrets::sha256_hex(token.as_bytes())).fetch_optional(&db.pool).await?;
    let racer = row.as_ref().map(Racer::from_row).transpose()?.ok_or_else(|| RaceError::Unauthorized("unknown racer token".into()))?;
    if racer.race_id != race_id {
        return Err(RaceError::Forbidden("that token belongs to another race".into()));
    }
    if racer.removed {
        return Err(RaceError::Forbidden("the organiser removed this racer from the race".into()));
    }
    Ok(racer)
}

pub async fn racers(db: &Db, race_id: &str) -> Result<Vec<Racer>, RaceError> {
    let rows = sqlx::query("SELECT * FROM racers WHERE race_id = $1 ORDER BY joined_at").bind(race_id).fetch_all(&db.pool).await?;
    rows.iter().map(Racer::from_row).collect()
}

/// A checked model to store as a submission.
pub struct NewSubmission<'a> {
    pub file_name: &'a str,
    pub bytes: &'a [u8],
    pub sensor: &'a str,
}

/// Stores the model (by content) and queues its evaluation, within the race's limits. The
/// racer's row is written first: it locks out a second submission of theirs racing this one
/// past a limit.
pub async fn submit(db: &Db, race: &Race, racer: &Racer, new: NewSubmission<'_>) -> Result<Submission, RaceError> {
    let now = now_ms();
    if race.status(now) != Status::Open {
        return Err(RaceError::Closed(format!("the race is {}: no submissions", race.status(now).as_str())));
    }
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE racers SET removed = removed WHERE id = $1").bind(&racer.id).execute(&mut *tx).await?;
    let day_start = now - now.rem_euclid(24 * 3600 * 1000);
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM submissions WHERE racer_id = $1").bind(&racer.id).fetch_one(&mut *tx).await?;
    let today: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM submissions WHERE racer_id = $1 AND created_at >= $2")
        .bind(&racer.id)
        .bind(day_start)
        .fetch_one(&mut *tx)
        .await?;
    if total >= race.config.submissions_total as i64 {
        return Err(RaceError::Limit(format!("you have made all {} submissions this race allows", race.config.submissions_total)));
    }
    if today >= race.config.submissions_per_day as i64 {
        return Err(RaceError::Limit(format!("you have made today's {} submissions; more tomorrow (UTC)", race.config.submissions_per_day)));
    }
    let sha = secrets::sha256_hex(new.bytes);
    sqlx::query("INSERT INTO models (sha256, size_bytes, bytes, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING")
        .bind(&sha)
        .bind(new.bytes.len() as i64)
        .bind(new.bytes.to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let seq = Db::bump(&mut tx, "submissions").await?;
    let id = secrets::id();
    sqlx::query(
        "INSERT INTO submissions (id, seq, race_id, racer_id, model_sha256, file_name, sensor, created_at, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued')",
    )
    .bind(&id)
    .bind(seq)
    .bind(&race.id)
    .bind(&racer.id)
    .bind(&sha)
    .bind(new.file_name)
    .bind(new.sensor)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Db::bump(&mut tx, "changes").await?;
    tx.commit().await?;
    submission(db, &id).await
}

pub async fn submission(db: &Db, id: &str) -> Result<Submission, RaceError> {
    let sql = format!("SELECT {SUBMISSION_COLUMNS} FROM submissions s JOIN racers r ON r.id = s.racer_id WHERE s.id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(Submission::from_row).transpose()?.ok_or_else(|| RaceError::NotFound(format!("no submission '{id}'")))
}

/// A race's submissions, newest first; only `racer_id`'s when given.
pub async fn submissions(db: &Db, race_id: &str, racer_id: Option<&str>) -> Result<Vec<Submission>, RaceError> {
    let sql = format!(
        "SELECT {SUBMISSION_COLUMNS} FROM submissions s JOIN racers r ON r.id = s.racer_id WHERE s.race_id = $1 AND ($2 = '' OR s.racer_id = $2) ORDER BY s.seq DESC"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(race_id).bind(racer_id.unwrap_or("")).fetch_all(&db.pool).await?;
    rows.iter().map(Submission::from_row).collect()
}

/// How many queued submissions (across the server) are ahead of this one.
pub async fn queue_position(db: &Db, sub: &Submission) -> Result<i64, RaceError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM submissions WHERE state = 'queued' AND seq < $1").bind(sub.seq).fetch_one(&db.pool).await?)
}

/// The stored evaluations of a submission, public board first.
pub async fn evaluations(db: &Db, submission_id: &str) -> Result<Vec<Evaluation>, RaceError> {
    let rows = sqlx::query("SELECT board, track_name, score, report_json FROM evaluations WHERE submission_id = $1 ORDER BY board DESC, track_name")
        .bind(submission_id)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|row| {
            let report: String = col(row, "report_json")?;
            Ok(Evaluation {
                board: col(row, "board")?,
                track_name: col(row, "track_name")?,
                score: col(row, "score")?,
                report: serde_json::from_str(&report).map_err(|e| RaceError::Database(format!("stored report: {e}")))?,
            })
        })
        .collect()
}

/// A submission's public score, without reading the stored reports: `None` before it is
/// evaluated, `Some(None)` when it is evaluated but not ranked.
pub async fn public_score(db: &Db, submission_id: &str) -> Result<Option<Option<f64>>, RaceError> {
    let row = sqlx::query("SELECT score FROM evaluations WHERE submission_id = $1 AND board = 'public'").bind(submission_id).fetch_optional(&db.pool).await?;
    row.map(|row| col(&row, "score")).transpose()
}

/// The leaderboard of `board` ("public" or "private"; the private one adds up the hidden tracks'
/// scores). Removed racers are left out.
pub async fn leaderboard(db: &Db, race: &Race, board: &str) -> Result<Vec<Row>, RaceError> {
    let rows = sqlx::query(
        "SELECT s.id AS submission_id, s.racer_id, r.alias, s.created_at, e.score, e.completed_laps, e.off_tracks, e.collisions \
         FROM evaluations e JOIN submissions s ON s.id = e.submission_id JOIN racers r ON r.id = s.racer_id \
         WHERE s.race_id = $1 AND e.board = $2 AND s.state = 'done' AND r.removed = 0",
    )
    .bind(&race.id)
    .bind(board)
    .fetch_all(&db.pool)
    .await?;
    let mut by_submission: std::collections::BTreeMap<String, Entry> = std::collections::BTreeMap::new();
    for row in &rows {
        let id: String = col(row, "submission_id")?;
        let score: Option<f64> = col(row, "score")?;
        let e = by_submission.entry(id.clone()).or_insert_with(|| Entry {
            racer_id: String::new(),
            alias: String::new(),
            submission_id: id,
            score: Some(0.0),
            completed_laps: 0,
            laps: 0,
            off_tracks: 0,
            collisions: 0,
            submitted_at: 0,
            submissions: 0,
        });
        e.racer_id = col(row, "racer_id")?;
        e.alias = col(row, "alias")?;
        e.submitted_at = col(row, "created_at")?;
        e.score = e.score.zip(score).map(|(a, b)| a + b);
        e.completed_laps += col::<i64>(row, "completed_laps")?;
        e.laps += race.config.laps as i64;
        e.off_tracks += col::<i64>(row, "off_tracks")?;
        e.collisions += col::<i64>(row, "collisions")?;
    }
    Ok(ranking::leaderboard(by_submission.into_values().collect()))
}

/// The organiser closes (`Some("closed")`), reopens (`Some("open")`) or hands the race back to
/// its dates (`None`).
pub async fn set_override(db: &Db, race: &Race, state: Option<&str>) -> Result<(), RaceError> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE races SET override_state = $1 WHERE id = $2").bind(state).bind(&race.id).execute(&mut *tx).await?;
    Db::bump(&mut tx, "changes").await?;
    Ok(tx.commit().await?)
}

/// The organiser removes a racer: off the board, no more submissions.
pub async fn remove_racer(db: &Db, race: &Race, racer_id: &str) -> Result<(), RaceError> {
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query("UPDATE racers SET removed = 1 WHERE id = $1 AND race_id = $2").bind(racer_id).bind(&race.id).execute(&mut *tx).await?;
    if done.rows_affected() == 0 {
        return Err(RaceError::NotFound(format!("no racer '{racer_id}' in this race")));
    }
    Db::bump(&mut tx, "changes").await?;
    Ok(tx.commit().await?)
}

/// The organiser runs a submission's evaluation again: its results go, it joins the queue.
pub async fn rerun(db: &Db, race: &Race, submission_id: &str) -> Result<(), RaceError> {
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query(
        "UPDATE submissions SET state = 'queued', message = NULL, attempts = 0, claimed_by = NULL, claim_token = NULL, lease_until = NULL, finished_at = NULL \
         WHERE id = $1 AND race_id = $2",
    )
    .bind(submission_id)
    .bind(&race.id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(RaceError::NotFound(format!("no submission '{submission_id}' in this race")));
    }
    sqlx::query("DELETE FROM evaluations WHERE submission_id = $1").bind(submission_id).execute(&mut *tx).await?;
    Db::bump(&mut tx, "changes").await?;
    Ok(tx.commit().await?)
}
