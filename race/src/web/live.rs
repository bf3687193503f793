//! Live updates: one task follows the database's 'changes' counter (bumped by whoever stores a
//! result, in this process or on another evaluator machine) and every open page hears of a
//! change through server-sent events, then fetches the part it shows.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use tokio_stream::wrappers::WatchStream;
use tokio_stream::{Stream, StreamExt};

use super::AppState;
use crate::db::Db;

/// The latest 'changes' value, shared with every handler.
#[derive(Clone)]
pub struct Changes(pub tokio::sync::watch::Receiver<i64>);

impl Changes {
    /// Starts following the counter, every `every`.
    pub fn follow(db: Db, every: Duration) -> Changes {
        let (tx, rx) = tokio::sync::watch::channel(0);
        tokio::spawn(async move {
            loop {
                if let Ok(v) = db.changes().await {
                    tx.send_if_modified(|old| std::mem::replace(old, v) != v);
                }
                tokio::time::sleep(every).await;
            }
        });
        Changes(rx)
    }

    pub fn now(&self) -> i64 {
        *self.0.borrow()
    }
}

/// `GET /races/{id}/events`: an event `change` with the counter's value whenever it moves.
pub async fn events(State(state): State<AppState>, Path(_id): Path<String>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = WatchStream::new(state.changes.0.clone()).map(|v| Ok(Event::default().event("change").data(v.to_string())));
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
