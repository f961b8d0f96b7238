//! The Slack Web API as the bot uses it: slack-morphism's hyper client (http or https, base
//! URL from `SLACK_API_URL`) wrapped in our delivery discipline — 429 waits out `Retry-After`,
//! 5xx, transport errors and timeouts retry with exponential backoff and jitter, every failure
//! is logged with the method name and counted for `/metrics`. Each method goes out the way
//! Slack reads it ([`super::methods`]: JSON POST, form POST or GET with a query string).
//! Arguments and answers are raw JSON: our Block Kit comes from templates, so there is
//! nothing to gain from typed blocks here.

use super::methods::{self, WireFormat};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Map, Value};
use slack_morphism::errors::{SlackClientError, SlackClientSystemError};
use slack_morphism::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::form_urlencoded;

/// The connector: https for Slack itself, plain http for a local fake Slack in tests.
pub type Connector = SlackClientHyperConnector<HttpsConnector<HttpConnector>>;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct ApiStats {
    pub calls: AtomicU64,
    pub errors: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    /// Calls Slack refused for good, by (method, error code).
    refused: std::sync::Mutex<std::collections::BTreeMap<(String, String), u64>>,
}

impl ApiStats {
    fn count_refusal(&self, method: &str, code: &str) {
        // The code comes from Slack's answer: kept to a label-safe, bounded form.
        let code: String = code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        *self
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((method.to_string(), code))
            .or_default() += 1;
    }

    /// Refusals so far, by (method, error code).
    pub fn refusals(&self) -> Vec<((String, String), u64)> {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(key, count)| (key.clone(), *count))
            .collect()
    }
}

/// How long to keep retrying one call, and how long one attempt may take; an outage longer
/// than `give_up_after` is the outbox's business.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Give up retrying (and report the error) after this long.
    pub give_up_after: Duration,
    /// One attempt, from connecting to the last byte of the answer: a Slack that accepts the
    /// connection and never answers must not hold a delivery queue forever. A timed-out
    /// attempt is retried like a transport error.
    pub request_timeout: Duration,
    /// Establishing the TCP connection; set on the connector by [`client_with_timeouts`].
    pub connect_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(15),
            give_up_after: Duration::from_secs(120),
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a call did not succeed in the end.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    /// Slack answered `ok: false` with this code (`channel_not_found`, `message_not_found`…);
    /// retrying would not help.
    #[error("Slack refused {method}: {code}")]
    Refused { method: String, code: String },
    /// Still failing (5xx, 429, transport) when the retry budget ran out.
    #[error("Slack unavailable for {method}: {detail}")]
    Unavailable { method: String, detail: String },
}

impl ApiFailure {
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiFailure::Refused { code, .. } => Some(code),
            ApiFailure::Unavailable { .. } => None,
        }
    }
}

/// One decision after a failed attempt.
enum Next {
    Retry(Duration),
    GiveUp(ApiFailure),
}

/// The bot's Web API client (bot token).
pub struct WebApi {
    client: Arc<SlackClient<Connector>>,
    token: SlackApiToken,
    retry: RetryPolicy,
    pub stats: Arc<ApiStats>,
}

/// A client for `api_url` (e.g. `https://slack.com/api`, or a fake Slack's http URL), with
/// the default connect timeout.
pub fn client_for(api_url: &str) -> anyhow::Result<Arc<SlackClient<Connector>>> {
    client_with_timeouts(api_url, RetryPolicy::default().connect_timeout)
}

/// [`client_for`] with a chosen connect timeout (an unreachable Slack whose packets are
/// dropped would otherwise keep a connect pending for the kernel's minutes).
pub fn client_with_timeouts(
    api_url: &str,
    connect_timeout: Duration,
) -> anyhow::Result<Arc<SlackClient<Connector>>> {
    let connector = SlackClientHyperConnector::with_connector(https_connector(connect_timeout)?)
        .with_slack_api_url(api_url.trim_end_matches('/'));
    Ok(Arc::new(SlackClient::new(connector)))
}

/// https with the system's roots (or plain http, for a local fake Slack), HTTP/1 and 2.
pub(super) fn https_connector(
    connect_timeout: Duration,
) -> anyhow::Result<HttpsConnector<HttpConnector>> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    // The TLS layer above decides the scheme; the plain connector must not refuse https URLs.
    http.enforce_http(false);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .or_else(|_| {
            // No system roots (a minimal container): plain http to a local fake still works,
            // and https fails loudly at the first call instead of at start.
            Ok::<_, std::io::Error>(
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(empty_tls_config()),
            )
        })?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http))
}

fn empty_tls_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

impl WebApi {
    pub fn new(client: Arc<SlackClient<Connector>>, bot_token: &str, retry: RetryPolicy) -> Self {
        Self {
            client,
            token: SlackApiToken::new(bot_token.to_string().into()),
            retry,
            stats: Arc::new(ApiStats::default()),
        }
    }

    pub fn client(&self) -> Arc<SlackClient<Connector>> {
        Arc::clone(&self.client)
    }

    /// The bot token, for the one request that is not a Web API method (a file download).
    pub(super) fn bot_token(&self) -> &str {
        &self.token.token_value.0
    }

    /// The Web API's own URL for `method` (its host is where the bot token may go).
    pub(super) fn method_url(&self, method: &str) -> Option<url::Url> {
        self.client
            .http_api
            .connector
            .create_method_uri_path(method)
            .ok()
    }

    pub(super) fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Calls `method` until it succeeds, Slack refuses it, or the retry budget runs out,
    /// sending `params` (a JSON object) the way Slack reads that method: a JSON body, a form
    /// body or a query string ([`methods::wire_format`]). A method missing from the table is
    /// refused here, before anything is sent.
    pub async fn call(&self, method: &str, params: &Value) -> Result<Value, ApiFailure> {
        let Some(format) = methods::wire_format(method) else {
            tracing::error!(
                method,
                "not in the Web API encodings table; not sent (add it to the table)"
            );
            return Err(ApiFailure::Refused {
                method: method.to_string(),
                code: "method_not_in_encodings_table".into(),
            });
        };
        match format {
            WireFormat::JsonPost => {
                self.with_retries(method, || async {
                    let session = self.client.open_session(&self.token);
                    session
                        .http_session_api
                        .http_post(method, params, None)
                        .await
                })
                .await
            }
            WireFormat::QueryGet => {
                let fields = as_text_fields(params);
                let query: Vec<(&str, Option<&String>)> = fields
                    .iter()
                    .map(|(key, value)| (key.as_str(), Some(value)))
                    .collect();
                self.with_retries(method, || async {
                    let session = self.client.open_session(&self.token);
                    session
                        .http_session_api
                        .http_get(method, &query, None)
                        .await
                })
                .await
            }
            WireFormat::FormPost => {
                let body = form_body(params);
                let url = self
                    .client
                    .http_api
                    .connector
                    .create_method_uri_path(method)
                    .map_err(|error| ApiFailure::Refused {
                        method: method.to_string(),
                        code: format!("bad_method_url: {error}"),
                    })?;
                self.with_retries(method, || async {
                    let session = self.client.open_session(&self.token);
                    // slack-morphism has no form-encoded POST of its own; its binary POST sends
                    // these bytes with this content type and the bearer token, and decodes the
                    // answer like every other call.
                    session
                        .http_session_api
                        .http_post_uri_binary(
                            url.clone(),
                            "application/x-www-form-urlencoded".to_string(),
                            body.as_bytes(),
                            None,
                        )
                        .await
                })
                .await
            }
        }
    }

    /// Uploads bytes to an upload URL from `files.getUploadURLExternal`, with the same
    /// retry discipline.
    pub async fn upload_to(&self, upload_url: &str, content: &[u8]) -> Result<(), ApiFailure> {
        let method = "files.upload(url)";
        let url: url::Url = upload_url.parse().map_err(|_| ApiFailure::Refused {
            method: method.into(),
            code: "bad_upload_url".into(),
        })?;
        self.with_retries(method, || async {
            let session = self.client.open_session(&self.token);
            let sent: Result<Value, SlackClientError> = session
                .http_session_api
                .http_post_uri_binary(
                    url.clone(),
                    "text/plain; charset=utf-8".to_string(),
                    content,
                    None,
                )
                .await;
            match sent {
                // The upload endpoint answers plain text ("OK - 123"), which the client reads
                // as a protocol (JSON) error on a 200: that is success.
                Err(SlackClientError::ProtocolError(_)) => Ok(Value::Null),
                other => other,
            }
        })
        .await
        .map(|_| ())
    }

    /// Runs `attempt` until it succeeds, Slack refuses it, or the retry budget runs out,
    /// counting and logging every failure under `method`.
    async fn with_retries<F, Fut>(&self, method: &str, attempt: F) -> Result<Value, ApiFailure>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Value, SlackClientError>>,
    {
        let started = Instant::now();
        let mut attempts: u32 = 0;
        loop {
            self.stats.calls.fetch_add(1, Ordering::Relaxed);
            let outcome = tokio::time::timeout(self.retry.request_timeout, attempt())
                .await
                .unwrap_or_else(|_| {
                    Err(SlackClientError::SystemError(SlackClientSystemError {
                        message: Some(format!("no answer within {:?}", self.retry.request_timeout)),
                        cause: None,
                    }))
                });
            match outcome {
                Ok(value) => return Ok(value),
                Err(error) => match self.after_failure(method, error, attempts, started) {
                    Next::Retry(delay) => {
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(delay).await;
                        attempts += 1;
                    }
                    Next::GiveUp(failure) => return Err(failure),
                },
            }
        }
    }

    /// `files.getUploadURLExternal` → upload → `files.completeUploadExternal` into a thread.
    pub async fn upload_file(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        file_name: &str,
        content: &str,
    ) -> Result<(), ApiFailure> {
        let slot = self
            .call(
                "files.getUploadURLExternal",
                &json!({"filename": file_name, "length": content.len()}),
            )
            .await?;
        let (Some(upload_url), Some(file_id)) = (
            slot.get("upload_url").and_then(Value::as_str),
            slot.get("file_id").and_then(Value::as_str),
        ) else {
            return Err(ApiFailure::Refused {
                method: "files.getUploadURLExternal".into(),
                code: "answer without upload_url/file_id".into(),
            });
        };
        self.upload_to(upload_url, content.as_bytes()).await?;
        let mut complete = json!({
            "files": [{"id": file_id, "title": file_name}],
            "channel_id": channel,
        });
        if let Some(ts) = thread_ts {
            complete["thread_ts"] = json!(ts);
        }
        self.call("files.completeUploadExternal", &complete).await?;
        Ok(())
    }

    /// The members of a user group (`usergroups.users.list`).
    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, ApiFailure> {
        let answer = self
            .call("usergroups.users.list", &json!({"usergroup": group}))
            .await?;
        Ok(answer
            .get("users")
            .and_then(Value::as_array)
            .map(|users| {
                users
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    fn after_failure(
        &self,
        method: &str,
        error: SlackClientError,
        attempt: u32,
        started: Instant,
    ) -> Next {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        let out_of_time = started.elapsed() >= self.retry.give_up_after;
        let (delay, detail) = match &error {
            SlackClientError::RateLimitError(limit) => {
                self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                // Slack says how long; without a header, wait a second as its docs suggest.
                let wait = limit.retry_after.unwrap_or(Duration::from_secs(1));
                (wait, format!("rate limited, retry after {wait:?}"))
            }
            SlackClientError::ApiError(api) if is_transient_code(&api.code) => (
                self.backoff(attempt),
                format!("transient error {}", api.code),
            ),
            SlackClientError::ApiError(api) => {
                tracing::warn!(method, code = %api.code, "Slack refused the call");
                self.stats.count_refusal(method, &api.code);
                return Next::GiveUp(ApiFailure::Refused {
                    method: method.to_string(),
                    code: api.code.clone(),
                });
            }
            SlackClientError::HttpError(http) if http.status_code.is_server_error() => (
                self.backoff(attempt),
                format!("HTTP {}", http.status_code.as_u16()),
            ),
            SlackClientError::HttpError(http) => {
                tracing::warn!(
                    method,
                    status = http.status_code.as_u16(),
                    "Slack answered an HTTP error"
                );
                self.stats
                    .count_refusal(method, &format!("http_{}", http.status_code.as_u16()));
                return Next::GiveUp(ApiFailure::Refused {
                    method: method.to_string(),
                    code: format!("http_{}", http.status_code.as_u16()),
                });
            }
            other => (self.backoff(attempt), other.to_string()),
        };
        if out_of_time {
            tracing::error!(method, %detail, attempts = attempt + 1, "giving up on the Slack call");
            return Next::GiveUp(ApiFailure::Unavailable {
                method: method.to_string(),
                detail,
            });
        }
        tracing::warn!(method, %detail, attempt = attempt + 1, retry_in_ms = delay.as_millis() as u64, "Slack call failed; retrying");
        Next::Retry(delay)
    }

    /// Exponential backoff with ±25 % jitter, so many callers do not retry in lockstep.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .retry
            .first_backoff
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.retry.max_backoff);
        let jitter = 0.75 + 0.5 * random_unit();
        base.mul_f64(jitter)
    }
}

/// A JSON object's members as text fields, the way Slack's SDK sends a form or a query:
/// strings as they are, numbers and booleans as their text, structured values (`files`,
/// `blocks`) as JSON text; `null` members are left out.
fn as_text_fields(params: &Value) -> Vec<(String, String)> {
    let empty = Map::new();
    let members = params.as_object().unwrap_or(&empty);
    members
        .iter()
        .filter_map(|(key, value)| {
            let text = match value {
                Value::Null => return None,
                Value::String(text) => text.clone(),
                Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => {
                    value.to_string()
                }
            };
            Some((key.clone(), text))
        })
        .collect()
}

/// `application/x-www-form-urlencoded` text of [`as_text_fields`].
fn form_body(params: &Value) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (key, value) in as_text_fields(params) {
        form.append_pair(&key, &value);
    }
    form.finish()
}

/// Error codes Slack documents as temporary.
fn is_transient_code(code: &str) -> bool {
    matches!(
        code,
        "ratelimited"
            | "internal_error"
            | "fatal_error"
            | "service_unavailable"
            | "request_timeout"
    )
}

/// A number in [0, 1) for jitter; `RandomState` is seeded randomly per process and call.
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let api = WebApi::new(
            client_for("http://127.0.0.1:9/api").unwrap(),
            "xoxb-test",
            RetryPolicy::default(),
        );
        let first = api.backoff(0);
        assert!(first >= Duration::from_millis(187) && first <= Duration::from_millis(313));
        let fourth = api.backoff(3);
        assert!(fourth >= Duration::from_millis(1500) && fourth <= Duration::from_millis(2500));
        let late = api.backoff(30);
        assert!(late <= Duration::from_secs(15).mul_f64(1.25));
        let samples: std::collections::HashSet<u128> =
            (0..20).map(|_| api.backoff(2).as_nanos()).collect();
        assert!(samples.len() > 1, "jitter must vary between calls");
    }

    #[test]
    fn form_and_query_fields_are_text_and_structured_values_json_text() {
        let params = json!({
            "channel_id": "C0LOAD",
            "length": 12,
            "include_disabled": true,
            "thread_ts": null,
            "files": [{"id": "F1", "title": "run 7 log"}],
        });
        let mut fields = as_text_fields(&params);
        fields.sort();
        assert_eq!(
            fields,
            [
                ("channel_id".to_string(), "C0LOAD".to_string()),
                (
                    "files".to_string(),
                    r#"[{"id":"F1","title":"run 7 log"}]"#.to_string()
                ),
                ("include_disabled".to_string(), "true".to_string()),
                ("length".to_string(), "12".to_string()),
            ]
        );
        assert_eq!(
            form_body(&json!({"title": "a b&c", "files": [{"id": "F1"}]})),
            "files=%5B%7B%22id%22%3A%22F1%22%7D%5D&title=a+b%26c"
        );
    }

    /// A server that records each request's head and body and answers `{"ok":true}`, or
    /// accepts and never answers at all when `answer` is false.
    async fn recording_server(
        answer: bool,
    ) -> (String, Arc<std::sync::Mutex<Vec<(String, String)>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let record = Arc::clone(&record);
                tokio::spawn(async move {
                    let mut bytes = Vec::new();
                    let mut buffer = [0u8; 4096];
                    loop {
                        let Ok(read) = stream.read(&mut buffer).await else {
                            return;
                        };
                        if read == 0 {
                            return;
                        }
                        bytes.extend_from_slice(&buffer[..read]);
                        let text = String::from_utf8_lossy(&bytes).into_owned();
                        let Some(end) = text.find("\r\n\r\n") else {
                            continue;
                        };
                        let head = text[..end].to_string();
                        let length = head
                            .lines()
                            .find_map(|line| {
                                let (name, value) = line.split_once(':')?;
                                name.eq_ignore_ascii_case("content-length")
                                    .then(|| value.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if text.len() < end + 4 + length {
                            continue;
                        }
                        let body = text[end + 4..end + 4 + length].to_string();
                        record.lock().unwrap().push((head, body));
                        bytes.clear();
                        if !answer {
                            // Holds the connection open and says nothing.
                            std::future::pending::<()>().await;
                        }
                        let reply = r#"{"ok":true,"users":["U1"]}"#;
                        let response = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
                            reply.len()
                        );
                        if stream.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn each_method_leaves_with_the_verb_and_body_slack_reads() {
        let (url, seen) = recording_server(true).await;
        let api = WebApi::new(
            client_for(&url).unwrap(),
            "xoxb-test",
            RetryPolicy::default(),
        );
        let members = api.usergroup_members("S0OPS").await.expect("listed");
        assert_eq!(members, ["U1"]);
        api.call(
            "files.completeUploadExternal",
            &json!({"files": [{"id": "F1", "title": "log"}], "channel_id": "C1"}),
        )
        .await
        .expect("completed");
        api.call("chat.postMessage", &json!({"channel": "C1", "text": "hi"}))
            .await
            .expect("posted");
        let refused = api.call("chat.postMesage", &json!({})).await;
        assert_eq!(
            refused.unwrap_err().code(),
            Some("method_not_in_encodings_table")
        );

        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 3, "the unknown method was not sent: {seen:?}");
        let (head, body) = &seen[0];
        assert!(
            head.starts_with("GET /api/usergroups.users.list?usergroup=S0OPS HTTP/1.1"),
            "{head}"
        );
        assert!(body.is_empty(), "{body}");
        let (head, body) = &seen[1];
        let lower = head.to_ascii_lowercase();
        assert!(
            head.starts_with("POST /api/files.completeUploadExternal HTTP/1.1"),
            "{head}"
        );
        assert!(
            lower.contains("content-type: application/x-www-form-urlencoded"),
            "{head}"
        );
        assert!(lower.contains("authorization: bearer xoxb-test"), "{head}");
        let fields: std::collections::HashMap<String, String> =
            form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
        assert_eq!(fields["channel_id"], "C1");
        assert_eq!(fields["files"], r#"[{"id":"F1","title":"log"}]"#);
        let (head, body) = &seen[2];
        assert!(
            head.starts_with("POST /api/chat.postMessage HTTP/1.1"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(body).unwrap(),
            json!({"channel": "C1", "text": "hi"})
        );
    }

    #[tokio::test]
    async fn a_slack_that_never_answers_times_out_and_is_reported_unavailable() {
        let (url, seen) = recording_server(false).await;
        let policy = RetryPolicy {
            first_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(40),
            give_up_after: Duration::from_millis(300),
            request_timeout: Duration::from_millis(100),
            connect_timeout: Duration::from_millis(100),
        };
        let api = WebApi::new(
            client_with_timeouts(&url, policy.connect_timeout).unwrap(),
            "xoxb-test",
            policy,
        );
        let outcome = api
            .call("chat.postMessage", &json!({"channel": "C1", "text": "hi"}))
            .await;
        match outcome {
            Err(ApiFailure::Unavailable { detail, .. }) => {
                assert!(detail.contains("no answer within"), "{detail}")
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(
            seen.lock().unwrap().len() >= 2,
            "the timed-out attempt was retried"
        );
        assert!(api.stats.retries.load(Ordering::Relaxed) >= 1);
    }

    #[test]
    fn transient_codes_are_retried_and_others_are_not() {
        assert!(is_transient_code("ratelimited"));
        assert!(is_transient_code("internal_error"));
        assert!(!is_transient_code("channel_not_found"));
        assert!(!is_transient_code("invalid_auth"));
    }
}
