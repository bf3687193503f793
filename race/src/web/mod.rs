//! The web face: server-rendered pages (askama) with a little JavaScript, the JSON API the
//! command line uses, and server-sent events that tell open pages when results change.
//!
//! Handlers extract, call one function of [`crate::store`] and render; who may do what is
//! decided by tokens: a racer's or organiser's, sent as a cookie by the pages and as
//! `Authorization: Bearer` by the command line.

mod api;
mod auth;
mod live;
mod pages;
mod track_svg;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::db::Db;
use crate::RaceError;

pub use live::Changes;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub changes: Changes,
    /// Needed to create a race, when set (`--create-key`); otherwise anyone who reaches the
    /// server may open one.
    pub create_key: Option<Arc<String>>,
}

/// Request bodies: small forms by default; a race with its track file; a model of the largest
/// size any race allows (each race caps its own lower, while reading).
const MAX_FORM: usize = 64 << 10;
const MAX_RACE: usize = 2 * crate::config::MAX_TRACK_BYTES + MAX_FORM;
const MAX_UPLOAD: usize = (256 << 20) + MAX_FORM;

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::index))
        .route("/races/new", get(pages::new_race_form).post(pages::create_race).layer(DefaultBodyLimit::max(MAX_RACE)))
        .route("/races/{id}", get(pages::race))
        .route("/races/{id}/join", post(pages::join))
        .route("/races/{id}/screen", get(pages::screen))
        .route("/races/{id}/board", get(pages::board_fragment))
        .route("/races/{id}/me", get(pages::racer))
        .route("/races/{id}/me/rows", get(pages::racer_rows))
        .route("/races/{id}/me/submit", post(pages::submit).layer(DefaultBodyLimit::max(MAX_UPLOAD)))
        .route("/races/{id}/submissions/{sid}", get(pages::submission))
        .route("/races/{id}/submissions/{sid}/replay.json", get(api::replay))
        .route("/races/{id}/admin", get(pages::admin))
        .route("/races/{id}/admin/login", post(pages::admin_login))
        .route("/races/{id}/admin/do", post(pages::admin_action))
        .route("/races/{id}/results.csv", get(api::results_csv))
        .route("/races/{id}/events", get(live::events))
        .route("/static/{file}", get(static_file))
        .route("/api/races", post(api::create_race).get(api::races).layer(DefaultBodyLimit::max(MAX_RACE)))
        .route("/api/races/{id}", get(api::race))
        .route("/api/races/{id}/join", post(api::join))
        .route("/api/races/{id}/leaderboard", get(api::leaderboard))
        .route("/api/races/{id}/submissions", post(api::submit).get(api::submissions).layer(DefaultBodyLimit::max(MAX_UPLOAD)))
        .route("/api/races/{id}/submissions/{sid}", get(api::submission))
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .layer(axum::middleware::from_fn(auth::same_origin))
        .with_state(state)
}

async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "style.css" => (include_str!("../../static/style.css"), "text/css; charset=utf-8"),
        "live.js" => (include_str!("../../static/live.js"), "text/javascript; charset=utf-8"),
        "replay.js" => (include_str!("../../static/replay.js"), "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "max-age=300")], body).into_response()
}

impl RaceError {
    pub fn status(&self) -> StatusCode {
        match self {
            RaceError::Config(_) | RaceError::BadInput(_) => StatusCode::BAD_REQUEST,
            RaceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            RaceError::Forbidden(_) | RaceError::Closed(_) => StatusCode::FORBIDDEN,
            RaceError::NotFound(_) => StatusCode::NOT_FOUND,
            RaceError::Conflict(_) => StatusCode::CONFLICT,
            RaceError::Limit(_) => StatusCode::TOO_MANY_REQUESTS,
            RaceError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RaceError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Errors as JSON `{"error": "..."}` for the API...
pub struct ApiError(pub RaceError);

impl<E: Into<RaceError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.0.status().is_server_error() {
            eprintln!("paddock-race: {}", self.0);
        }
        (self.0.status(), axum::Json(serde_json::json!({ "error": self.0.to_string() }))).into_response()
    }
}

/// ...and as a page for people.
pub struct PageError(pub RaceError);

impl<E: Into<RaceError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl From<askama::Error> for RaceError {
    fn from(e: askama::Error) -> Self {
        RaceError::Database(format!("rendering: {e}"))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if self.0.status().is_server_error() {
            eprintln!("paddock-race: {}", self.0);
        }
        let page = pages::ErrorPage { title: self.0.status().canonical_reason().unwrap_or("Error").to_string(), message: self.0.to_string() };
        let body = askama::Template::render(&page).unwrap_or_else(|_| self.0.to_string());
        (self.0.status(), axum::response::Html(body)).into_response()
    }
}
