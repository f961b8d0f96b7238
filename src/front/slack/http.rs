//! The HTTP listener (`[slack].listen` / `LOADTEST_LISTEN`): `GET /healthz` and `GET /metrics`
//! always; in HTTP mode also `POST /slack/commands`, `/slack/interactions` and `/slack/events`.
//! Every `/slack/*` request's signature and timestamp are checked before its body is looked
//! at: a failure is a 401, an audit line, and nothing else.

use super::requests::SlackFront;
use crate::app::App;
use crate::metrics::{write_simple, Metrics};
use crate::model::{ChannelId, SlackUserId};
use crate::slack::inbound::{self, EventBody};
use crate::slack::signature;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

pub struct HttpState {
    pub app: Arc<App>,
    pub front: Arc<SlackFront>,
    /// HTTP mode: the signing secret; `None` in Socket Mode, where `/slack/*` does not exist.
    pub signing_secret: Option<String>,
    pub metrics: Arc<Metrics>,
    /// The Slack Web API client's counters.
    pub api_stats: Arc<crate::slack::web_api::ApiStats>,
}

pub fn router(state: Arc<HttpState>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics));
    if state.signing_secret.is_some() {
        router = router
            .route("/slack/commands", post(commands))
            .route("/slack/interactions", post(interactions))
            .route("/slack/events", post(events));
    }
    router.with_state(state)
}

async fn healthz(State(state): State<Arc<HttpState>>) -> Response {
    let mut problems = Vec::new();
    if let Err(error) = state.app.store.outbox_depth() {
        problems.push(format!("store: {error}"));
    }
    let binary = &state.app.config.terraform.binary;
    if !binary_is_usable(binary) {
        problems.push(format!(
            "terraform binary {binary:?} not found or not executable"
        ));
    }
    if problems.is_empty() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", problems.join("; ")),
        )
            .into_response()
    }
}

/// Whether `binary` (a path, or a name looked up on PATH) is an executable file. Cheap enough
/// for every probe, unlike running `terraform version`.
fn binary_is_usable(binary: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &std::path::Path| {
        std::fs::metadata(path)
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if binary.contains('/') {
        return executable(std::path::Path::new(binary));
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(binary))))
        .unwrap_or(false)
}

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    let mut out = String::new();
    state.metrics.render_into(&mut out);
    let stats = &state.api_stats;
    for (name, help, value) in [
        (
            "loadtest_slack_api_calls_total",
            "Slack Web API calls, retries included.",
            &stats.calls,
        ),
        (
            "loadtest_slack_api_errors_total",
            "Slack Web API calls that failed.",
            &stats.errors,
        ),
        (
            "loadtest_slack_api_retries_total",
            "Slack Web API calls retried.",
            &stats.retries,
        ),
        (
            "loadtest_slack_api_rate_limited_total",
            "Slack Web API answers 429.",
            &stats.rate_limited,
        ),
    ] {
        write_simple(
            &mut out,
            name,
            "counter",
            help,
            value.load(Ordering::Relaxed),
        );
    }
    let _ = writeln!(
        out,
        "# HELP loadtest_slack_api_refused_total Slack Web API calls refused for good, by method and error.\n# TYPE loadtest_slack_api_refused_total counter"
    );
    for ((method, error), count) in stats.refusals() {
        let _ = writeln!(
            out,
            "loadtest_slack_api_refused_total{{method=\"{method}\",error=\"{error}\"}} {count}"
        );
    }
    write_simple(
        &mut out,
        "loadtest_slack_user_groups_unread",
        "gauge",
        "Configured user groups whose members were never read from Slack (nobody gets a role through them).",
        state.front.groups.unread() as u64,
    );
    write_simple(
        &mut out,
        "loadtest_slack_delivery_depth",
        "gauge",
        "Slack deliveries queued in this process (progress updates included).",
        state.front.outlet.depth() as u64,
    );
    if let Ok(depth) = state.app.store.outbox_depth() {
        write_simple(
            &mut out,
            "loadtest_outbox_depth",
            "gauge",
            "Messages stored in the outbox and not yet delivered.",
            depth,
        );
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
        .into_response()
}

/// Checks the Slack signature; a failure is counted and audited, and the caller answers
/// [`unauthorized`].
fn authentic(state: &HttpState, path: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let secret = state.signing_secret.as_deref().unwrap_or_default();
    let header_text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let verdict = signature::verify(
        secret,
        header_text("x-slack-request-timestamp"),
        header_text("x-slack-signature"),
        body,
        chrono::Utc::now().timestamp(),
    );
    let Err(error) = verdict else {
        return true;
    };
    state
        .metrics
        .unauthorized_requests
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(path, %error, "refused a Slack request with a bad signature");
    state.app.audit_line(
        &SlackUserId::new("unauthenticated"),
        &ChannelId("-".into()),
        None,
        &format!("POST {path} ({} bytes)", body.len()),
        &format!("unauthorized: {error}"),
        None,
    );
    false
}

/// The 401, once the refusal's audit line is on disk.
async fn unauthorized(state: &HttpState) -> Response {
    state.app.audit_log.flushed().await;
    (StatusCode::UNAUTHORIZED, "invalid Slack signature\n").into_response()
}

/// A signed request we cannot read: 400 with the reason, once its audit line is on disk.
async fn bad_request(state: &HttpState, what: &str, error: inbound::DecodeError) -> Response {
    tracing::warn!(%error, what, "undecodable Slack request");
    state.app.audit_line(
        &SlackUserId::new("unknown"),
        &ChannelId("-".into()),
        None,
        &format!("undecodable {what}"),
        &format!("bad request: {error}"),
        None,
    );
    state.app.audit_log.flushed().await;
    (StatusCode::BAD_REQUEST, format!("{what}: {error}\n")).into_response()
}

async fn commands(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    // Slack probes a command URL with `ssl_check=1` (possibly unsigned) and expects a 200;
    // nothing happens and nothing is read beyond that field.
    if inbound::is_ssl_check(&String::from_utf8_lossy(&body)) {
        return StatusCode::OK.into_response();
    }
    if !authentic(&state, "/slack/commands", &headers, &body) {
        return unauthorized(&state).await;
    }
    let text = String::from_utf8_lossy(&body);
    let command = match inbound::slash_command_from_form(&text) {
        Ok(command) => command,
        Err(error) => return bad_request(&state, "slash command", error).await,
    };
    let ack = state.front.slash_command(command).await;
    tracing::debug!(
        elapsed_us = started.elapsed().as_micros() as u64,
        "slash command acked"
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        ack.to_json_string(),
    )
        .into_response()
}

async fn interactions(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authentic(&state, "/slack/interactions", &headers, &body) {
        return unauthorized(&state).await;
    }
    match inbound::button_click_from_form(&String::from_utf8_lossy(&body)) {
        Ok(Some(click)) => {
            let front = Arc::clone(&state.front);
            tokio::spawn(async move { front.button_click(click).await });
            StatusCode::OK.into_response()
        }
        Ok(None) => StatusCode::OK.into_response(),
        Err(error) => bad_request(&state, "interaction", error).await,
    }
}

async fn events(State(state): State<Arc<HttpState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !authentic(&state, "/slack/events", &headers, &body) {
        return unauthorized(&state).await;
    }
    match inbound::event_body(&body) {
        Ok(EventBody::UrlVerification { challenge }) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            json!({ "challenge": challenge }).to_string(),
        )
            .into_response(),
        Ok(EventBody::Mention(mention)) => {
            let front = Arc::clone(&state.front);
            tokio::spawn(async move { front.mention(mention).await });
            StatusCode::OK.into_response()
        }
        Ok(EventBody::Ignored) => StatusCode::OK.into_response(),
        Err(error) => bad_request(&state, "event", error).await,
    }
}
