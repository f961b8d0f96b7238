//! The HTTP listener (`[slack].listen` / `LOADTEST_LISTEN`): `GET /healthz` and `GET /metrics`
//! always; in HTTP mode also `POST /slack/commands`, `/slack/interactions` and `/slack/events`.
//! With `[slack] metrics_listen`, `/metrics` moves to its own listener. Every `/slack/*`
//! request's signature and timestamp are checked before its body is looked at: a failure is a
//! 401, counted, and audited at most once per source per minute.

use super::requests::SlackFront;
use super::unauthorized::RefusalSampler;
use crate::app::App;
use crate::metrics::{write_simple, Metrics};
use crate::model::{ChannelId, SlackUserId};
use crate::slack::inbound::{self, EventBody};
use crate::slack::signature;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use std::fmt::Write as _;
use std::net::SocketAddr;
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
    pub refusals: RefusalSampler,
}

/// The main listener's routes; `/metrics` among them unless it has a listener of its own.
pub fn router(state: Arc<HttpState>, with_metrics: bool) -> Router {
    let mut router = Router::new().route("/healthz", get(healthz));
    if with_metrics {
        router = router.route("/metrics", get(metrics));
    }
    if state.signing_secret.is_some() {
        router = router
            .route("/slack/commands", post(commands))
            .route("/slack/interactions", post(interactions))
            .route("/slack/events", post(events));
    }
    router.with_state(state)
}

/// The routes of `[slack] metrics_listen`.
pub fn metrics_router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(state)
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

/// Whether a request is signed by Slack.
enum Signature {
    Valid,
    /// Refused; `audited` when this refusal wrote an audit row (the first from its source
    /// this minute).
    Refused {
        audited: bool,
    },
}

/// Checks the Slack signature; a failure is counted (and audited, sampled per source), and the
/// caller answers [`unauthorized`].
fn authentic(
    state: &HttpState,
    path: &str,
    request: &(Extensions, HeaderMap),
    body: &[u8],
) -> Signature {
    let (extensions, headers) = request;
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
        return Signature::Valid;
    };
    state
        .metrics
        .unauthorized_requests
        .fetch_add(1, Ordering::Relaxed);
    let source = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let Some(unwritten) = state.refusals.record(source, Instant::now()) else {
        return Signature::Refused { audited: false };
    };
    let source_text = source.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    let more = match unwritten {
        0 => String::new(),
        n => format!(" (+{n} more from this source since its last row)"),
    };
    tracing::warn!(path, %error, source = %source_text, unwritten, "refused a Slack request with a bad signature");
    state.app.audit_line(
        &SlackUserId::new("unauthenticated"),
        &ChannelId("-".into()),
        None,
        &format!("POST {path} from {source_text} ({} bytes)", body.len()),
        &format!("unauthorized: {error}{more}"),
        None,
    );
    Signature::Refused { audited: true }
}

/// The 401, once the refusal's audit row (if it wrote one) is on disk. At most one row per
/// source per minute is waited for, so a flood cannot queue on the audit log.
async fn unauthorized(state: &HttpState, audited: bool) -> Response {
    if audited {
        state.app.audit_log.flushed().await;
    }
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
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    // Slack probes a command URL with `ssl_check=1` (possibly unsigned) and expects a 200;
    // nothing happens and nothing is read beyond that field.
    if inbound::is_ssl_check(&String::from_utf8_lossy(&body)) {
        return StatusCode::OK.into_response();
    }
    if let Signature::Refused { audited } =
        authentic(&state, "/slack/commands", &(extensions, headers), &body)
    {
        return unauthorized(&state, audited).await;
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
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Signature::Refused { audited } =
        authentic(&state, "/slack/interactions", &(extensions, headers), &body)
    {
        return unauthorized(&state, audited).await;
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

async fn events(
    State(state): State<Arc<HttpState>>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Signature::Refused { audited } =
        authentic(&state, "/slack/events", &(extensions, headers), &body)
    {
        return unauthorized(&state, audited).await;
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
        Ok(EventBody::FileShared(shared)) => {
            let front = Arc::clone(&state.front);
            tokio::spawn(async move { front.file_shared(shared).await });
            StatusCode::OK.into_response()
        }
        Ok(EventBody::Ignored) => StatusCode::OK.into_response(),
        Err(error) => bad_request(&state, "event", error).await,
    }
}
