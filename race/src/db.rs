//! The database: SQLite (a file, created on first start) or PostgreSQL, one schema and one set
//! of migrations (`race/migrations`), through sqlx's `Any` driver. Everything a restarted server
//! or another evaluator needs lives here; nothing is kept only in memory.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor};

use crate::RaceError;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Which server is behind the pool; the few statements that differ ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The pool and its dialect.
#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub dialect: Dialect,
}

impl Db {
    /// Connects to `url` (`postgres://...`, `sqlite://path`, or a plain path to an SQLite file,
    /// created when missing) and brings the schema up to date.
    pub async fn open(url: &str) -> Result<Db, RaceError> {
        sqlx::any::install_default_drivers();
        let (url, dialect) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (url.to_string(), Dialect::Postgres)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            (format!("sqlite://{path}?mode=rwc"), Dialect::Sqlite)
        };
        let options = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // Readers never wait for the writer; writers wait for each other.
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL").await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(&url).await.map_err(|e| RaceError::Database(format!("cannot open {}: {e}", redact(&url))))?;
        MIGRATIONS.run(&pool).await.map_err(|e| RaceError::Database(format!("migrating {}: {e}", redact(&url))))?;
        Ok(Db { pool, dialect })
    }

    /// Adds one to a counter and returns its new value, inside `tx`.
    pub async fn bump(tx: &mut sqlx::Transaction<'_, sqlx::Any>, name: &str) -> Result<i64, RaceError> {
        let value: i64 = sqlx::query_scalar("UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value").bind(name).fetch_one(&mut **tx).await?;
        Ok(value)
    }

    /// The 'changes' counter: pages update when it moves.
    pub async fn changes(&self) -> Result<i64, RaceError> {
        Ok(sqlx::query_scalar("SELECT value FROM counters WHERE name = 'changes'").fetch_one(&self.pool).await?)
    }
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..scheme + 3 + colon], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

/// Reads a column, naming it in the error.
pub fn col<'r, T>(row: &'r AnyRow, name: &str) -> Result<T, RaceError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    row.try_get(name).map_err(|e| RaceError::Database(format!("column {name}: {e}")))
}

/// Now, Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_left_out_of_messages() {
        assert_eq!(redact("postgres://race:secret@db:5432/race"), "postgres://race:***@db:5432/race");
        assert_eq!(redact("sqlite://race.sqlite?mode=rwc"), "sqlite://race.sqlite?mode=rwc");
    }
}
