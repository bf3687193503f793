//! Paddock's class race server: a teacher opens a race, racers submit trained models, evaluators
//! drive them in the sandbox, and a leaderboard page updates live. No libtorch: evaluation is
//! the `policy` crate's inference through `paddock-eval`.
//!
//! - [`config`]: a race's rules (`race.toml`) and their checks.
//! - [`db`]: SQLite or PostgreSQL, one schema; [`store`]: races, racers, submissions;
//!   [`queue`]: the evaluation queue with leases; [`evaluator`]: the evaluators.
//! - [`checks`]: what a submitted model must be; [`ranking`]: scores and the board.
//! - [`web`]: the pages, the JSON API and the live updates; [`client`]: the command line's
//!   side of the API.

pub mod checks;
pub mod client;
pub mod config;
pub mod db;
pub mod evaluator;
pub mod queue;
pub mod ranking;
pub mod secrets;
pub mod store;
pub mod web;

/// What can go wrong; each maps to an HTTP status and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RaceError {
    #[error("race config: {0}")]
    Config(String),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Closed(String),
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("database: {0}")]
    Database(String),
}

impl From<sqlx::Error> for RaceError {
    fn from(e: sqlx::Error) -> Self {
        RaceError::Database(e.to_string())
    }
}
