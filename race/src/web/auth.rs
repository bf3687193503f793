//! Who is asking: a token from `Authorization: Bearer` (the command line) or from the race's
//! cookie (the pages: `racer_<race>` or `organiser_<race>`, HttpOnly, SameSite=Strict so other
//! sites cannot post forms with it; [`same_origin`] refuses their posts as well, for browsers
//! and sibling sites that SameSite does not stop).

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The bearer token, or the named cookie's value.
pub fn token(headers: &HeaderMap, cookie: &str) -> Option<String> {
    if let Some(bearer) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
        return Some(bearer.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == cookie)
        .map(|(_, v)| v.to_string())
}

pub fn racer_cookie(race_id: &str) -> String {
    format!("racer_{race_id}")
}

pub fn organiser_cookie(race_id: &str) -> String {
    format!("organiser_{race_id}")
}

/// A `Set-Cookie` for `name` scoped to the race's pages.
pub fn set_cookie(name: &str, race_id: &str, value: &str) -> HeaderValue {
    let v = format!("{name}={value}; Path=/races/{race_id}; HttpOnly; SameSite=Strict; Max-Age=31536000");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Refuses a POST whose `Origin` (browsers send one with every form post) is another site's.
/// The command line sends none and is not affected.
pub async fn same_origin(request: Request, next: Next) -> Response {
    if request.method() == Method::POST {
        let headers = request.headers();
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            let from = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
            if from.is_empty() || from != host {
                return (StatusCode::FORBIDDEN, "a form posted from another site is refused").into_response();
            }
        }
    }
    next.run(request).await
}
