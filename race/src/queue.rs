//! The evaluation queue is the submissions table: evaluators claim the oldest queued row (or
//! one whose claim ran out: its evaluator died) under a lease they keep renewing, and store
//! results only while their claim still holds. A result is therefore stored once, whoever
//! crashes when: a stale claim's results are refused, its row is evaluated again.
//!
//! On PostgreSQL the claim is `FOR UPDATE SKIP LOCKED`, so evaluators on many machines share one
//! queue; SQLite runs one writer at a time anyway.

use crate::db::{col, now_ms, Db, Dialect};
use crate::RaceError;

/// After this many failed attempts (dead workers, not refused models) a submission fails.
pub const MAX_ATTEMPTS: i64 = 3;

/// A claimed submission.
#[derive(Debug, Clone)]
pub struct Claim {
    pub submission_id: String,
    pub race_id: String,
    pub model_sha256: String,
    pub attempts: i64,
    /// Fencing token: only this claim may store results.
    pub token: String,
}

/// Claims the next submission for `evaluator`, holding it for `lease_ms`. Submissions whose
/// evaluators died [`MAX_ATTEMPTS`] times (a model that kills its host, say) fail first, so they
/// cannot hold the queue up forever.
pub async fn claim(db: &Db, evaluator: &str, lease_ms: i64) -> Result<Option<Claim>, RaceError> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let given_up = sqlx::query(
        "UPDATE submissions SET state = 'failed', message = $1, finished_at = $2, claim_token = NULL, lease_until = NULL \
         WHERE state = 'running' AND lease_until < $2 AND attempts >= $3",
    )
    .bind(format!("its evaluation stopped without a result {MAX_ATTEMPTS} times"))
    .bind(now)
    .bind(MAX_ATTEMPTS)
    .execute(&mut *tx)
    .await?;
    if given_up.rows_affected() > 0 {
        Db::bump(&mut tx, "changes").await?;
    }
    tx.commit().await?;
    let token = crate::secrets::token();
    let lock = match db.dialect {
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "UPDATE submissions SET state = 'running', claimed_by = $1, claim_token = $2, lease_until = $3, started_at = $4, attempts = attempts + 1 \
         WHERE id = (SELECT id FROM submissions WHERE state = 'queued' OR (state = 'running' AND lease_until < $4) ORDER BY seq LIMIT 1{lock}) \
         RETURNING id, race_id, model_sha256, attempts"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(evaluator).bind(&token).bind(now + lease_ms).bind(now).fetch_optional(&db.pool).await?;
    row.map(|row| {
        Ok(Claim {
            submission_id: col(&row, "id")?,
            race_id: col(&row, "race_id")?,
            model_sha256: col(&row, "model_sha256")?,
            attempts: col(&row, "attempts")?,
            token,
        })
    })
    .transpose()
}

/// Renews the claim; false when it was lost (it ran out and another evaluator took the row, or
/// the organiser asked for a re-run).
pub async fn renew(db: &Db, claim: &Claim, lease_ms: i64) -> Result<bool, RaceError> {
    let done = sqlx::query("UPDATE submissions SET lease_until = $1 WHERE id = $2 AND claim_token = $3 AND state = 'running'")
        .bind(now_ms() + lease_ms)
        .bind(&claim.submission_id)
        .bind(&claim.token)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn model_bytes(db: &Db, sha256: &str) -> Result<Vec<u8>, RaceError> {
    let bytes: Option<Vec<u8>> = sqlx::query_scalar("SELECT bytes FROM models WHERE sha256 = $1").bind(sha256).fetch_optional(&db.pool).await?;
    bytes.ok_or_else(|| RaceError::NotFound(format!("no model {sha256}")))
}

/// One track's result, ready to store.
pub struct TrackResult {
    pub board: &'static str,
    pub track_name: String,
    pub score: Option<f64>,
    pub report: paddock_eval::EvalReport,
}

/// How an evaluation ended.
pub enum Outcome {
    Done(Vec<TrackResult>),
    /// The model was refused: the racer's to fix, never retried.
    Refused(String),
    /// The worker failed: back to the queue, or failed for good after [`MAX_ATTEMPTS`].
    Failed(String),
}

/// Stores the outcome if the claim still holds; returns whether it did. The submission's row is
/// written first, fenced by the claim's token, so a stale claim changes nothing.
pub async fn finish(db: &Db, claim: &Claim, outcome: Outcome) -> Result<bool, RaceError> {
    let now = now_ms();
    let (state, message) = match &outcome {
        Outcome::Done(_) => ("done", None),
        Outcome::Refused(why) => ("refused", Some(why.clone())),
        Outcome::Failed(why) if claim.attempts >= MAX_ATTEMPTS => ("failed", Some(format!("evaluation failed {} times; last: {why}", claim.attempts))),
        Outcome::Failed(why) => ("queued", Some(format!("retrying after: {why}"))),
    };
    let mut tx = db.pool.begin().await?;
    let finished_at = if state == "queued" { None } else { Some(now) };
    let done = sqlx::query(
        "UPDATE submissions SET state = $1, message = $2, finished_at = $3, lease_until = NULL, claim_token = NULL WHERE id = $4 AND claim_token = $5 AND state = 'running'",
    )
    .bind(state)
    .bind(message)
    .bind(finished_at)
    .bind(&claim.submission_id)
    .bind(&claim.token)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    if let Outcome::Done(results) = outcome {
        for r in results {
            let report = serde_json::to_string(&r.report).map_err(|e| RaceError::Database(e.to_string()))?;
            let off: usize = r.report.laps.iter().map(|l| l.off_tracks).sum();
            let hits: usize = r.report.laps.iter().map(|l| l.collisions).sum();
            // No score is a NULL in the SQL, not a bound `None`: sqlx 0.9's Any driver declares a
            // `None::<f64>` as float4, and PostgreSQL's cached statement then refuses the next
            // score's 8 bytes ("incorrect binary data format").
            let sql = if r.score.is_some() {
                "INSERT INTO evaluations (submission_id, board, track_name, score, completed_laps, off_tracks, collisions, report_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            } else {
                "INSERT INTO evaluations (submission_id, board, track_name, score, completed_laps, off_tracks, collisions, report_json) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7)"
            };
            let mut insert = sqlx::query(sql).bind(&claim.submission_id).bind(r.board).bind(&r.track_name);
            if let Some(score) = r.score {
                insert = insert.bind(score);
            }
            insert.bind(r.report.completed_laps as i64).bind(off as i64).bind(hits as i64).bind(report).execute(&mut *tx).await?;
        }
    }
    Db::bump(&mut tx, "changes").await?;
    tx.commit().await?;
    Ok(true)
}
