//! The command line's side of the API: create a race, submit a model, read results. Plain HTTP
//! (put the server behind TLS on an untrusted network).

use serde_json::Value;

/// A server and, when acting as someone, their token.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

/// Errors carry the server's own message (`{"error": ...}`) and the HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{status}: {message}")]
    Server { status: u16, message: String },
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        let config = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(std::time::Duration::from_secs(300))).build();
        Client { agent: ureq::Agent::new_with_config(config), base: base.trim_end_matches('/').to_string(), token }
    }

    fn finish(&self, url: &str, r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Value, ClientError> {
        let mut r = r.map_err(|e| ClientError::Unreachable { url: url.to_string(), message: e.to_string() })?;
        let status = r.status().as_u16();
        let text = r
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| ClientError::Unreachable { url: url.to_string(), message: e.to_string() })?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status >= 400 {
            let message = value.get("error").and_then(|m| m.as_str()).map(String::from).unwrap_or_else(|| value.to_string());
            return Err(ClientError::Server { status, message });
        }
        Ok(value)
    }

    fn auth(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.get(&url);
        if let Some(a) = self.auth() {
            req = req.header("Authorization", &a);
        }
        self.finish(&url, req.call())
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.post(&url);
        if let Some(a) = self.auth() {
            req = req.header("Authorization", &a);
        }
        self.finish(&url, req.send_json(body))
    }

    /// Uploads `bytes` as the form's `model` file.
    pub fn post_file(&self, path: &str, file_name: &str, bytes: &[u8]) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let boundary = format!("paddock-{}", crate::secrets::token());
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"model\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
            file_name.replace(['"', '\r', '\n'], "_")
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut req = self.agent.post(&url).header("Content-Type", &format!("multipart/form-data; boundary={boundary}"));
        if let Some(a) = self.auth() {
            req = req.header("Authorization", &a);
        }
        self.finish(&url, req.send(&body[..]))
    }
}
