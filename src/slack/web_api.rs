//! The Slack Web API as the bot uses it: slack-morphism's hyper client (http or https, base
//! URL from `SLACK_API_URL`) wrapped in our delivery discipline — 429 waits out `Retry-After`,
//! 5xx and transport errors retry with exponential backoff and jitter, every failure is
//! logged with the method name and counted for `/metrics`. Requests and answers are raw JSON:
//! our Block Kit comes from templates, so there is nothing to gain from typed blocks here.

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The connector: https for Slack itself, plain http for a local fake Slack in tests.
pub type Connector = SlackClientHyperConnector<HttpsConnector<HttpConnector>>;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct ApiStats {
    pub calls: AtomicU64,
    pub errors: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
}

/// How long to keep retrying one call; an outage longer than this is the outbox's business.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Give up retrying (and report the error) after this long.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(15),
            give_up_after: Duration::from_secs(120),
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

/// A client for `api_url` (e.g. `https://slack.com/api`, or a fake Slack's http URL).
pub fn client_for(api_url: &str) -> anyhow::Result<Arc<SlackClient<Connector>>> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
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
        .build();
    let connector = SlackClientHyperConnector::with_connector(https)
        .with_slack_api_url(api_url.trim_end_matches('/'));
    Ok(Arc::new(SlackClient::new(connector)))
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

    /// Calls `method` with a JSON body until it succeeds, Slack refuses it, or the retry
    /// budget runs out.
    pub async fn call(&self, method: &str, params: &Value) -> Result<Value, ApiFailure> {
        self.with_retries(method, || async {
            let session = self.client.open_session(&self.token);
            session
                .http_session_api
                .http_post(method, params, None)
                .await
        })
        .await
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
            match attempt().await {
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
    fn transient_codes_are_retried_and_others_are_not() {
        assert!(is_transient_code("ratelimited"));
        assert!(is_transient_code("internal_error"));
        assert!(!is_transient_code("channel_not_found"));
        assert!(!is_transient_code("invalid_auth"));
    }
}
