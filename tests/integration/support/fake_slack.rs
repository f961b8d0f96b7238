//! A fake Slack for the integration tests that run the real `loadtest-bot serve` as a
//! subprocess. It speaks Slack's wire protocol over real sockets, so the bot's slack-morphism
//! client is exercised exactly as in production:
//!
//! - the Web API on `http://127.0.0.1:PORT/api/{method}` (point `SLACK_API_URL` at
//!   [`FakeSlack::api_url`]): JSON, form and query-string requests, bearer-token checks,
//!   `chat.*`, the external file upload flow, `usergroups.users.list`, `apps.connections.open`;
//! - Socket Mode on its own `ws://127.0.0.1:WSPORT/link` listener: the hello frame, envelopes
//!   pushed by the test, and the bot's acks recorded with their latency;
//! - failure injection: rate limits (429 + `Retry-After`), server errors and whole outages;
//! - `response_url`s that land on the fake too (recorded as calls named `response_url`).
//!
//! Every method is synchronous so plain `#[test]` functions can use it: the fake owns a small
//! tokio runtime of its own, and the tests observe its state through a mutex and a condvar.
//!
//! The file also holds what an HTTP-mode test needs to play Slack's side of the conversation
//! (request signing, a blocking HTTP client) and builders for the payloads Slack pushes, in the
//! shapes Slack documents; the self-tests at the bottom check those shapes against
//! slack-morphism's models. Nothing here comes from the bot's own crate, so a bug there cannot
//! hide itself by agreeing with the fake.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, Request, Uri};
use axum::response::Response;
use axum::routing::{any, post};
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use url::form_urlencoded;

/// The workspace every payload comes from.
pub const TEAM_ID: &str = "T0FAKE";
pub const TEAM_DOMAIN: &str = "fake-team";
pub const APP_ID: &str = "A0FAKE";
/// Who the bot is in this workspace: an app mention's text starts with `<@U0FAKEBOT>`.
pub const BOT_USER_ID: &str = "U0FAKEBOT";
pub const BOT_ID: &str = "B0FAKEBOT";
/// The deprecated verification token Slack still puts in payloads; the bot must not rely on it.
pub const VERIFICATION_TOKEN: &str = "fake-verification-token";

/// The frame Slack sends first on every Socket Mode connection.
const HELLO_FRAME: &str = r#"{"type":"hello","num_connections":1,"debug_info":{"host":"fake-slack","build_number":1,"approximate_connection_time":18060},"connection_info":{"app_id":"A0FAKE"}}"#;

/// One Web API call as the fake received it.
#[derive(Debug, Clone)]
pub struct ApiCall {
    pub method: String,
    /// The JSON body as is; form or query parameters decoded into a JSON object of strings.
    pub params: Value,
    /// The `Authorization` header.
    pub auth: Option<String>,
    /// The HTTP status the fake answered.
    pub status: u16,
    pub at: Instant,
}

/// What [`FakeSlack::fail_next`] makes a call answer instead of its real result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    RateLimited { retry_after_secs: u64 },
    ServerError,
}

/// A channel message as it stands now: posted, then updated in place.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackMessage {
    pub channel: String,
    pub ts: String,
    pub text: String,
    /// `Null` when the message has no blocks.
    pub blocks: Value,
    pub thread_ts: Option<String>,
    pub updates: usize,
}

pub struct FakeSlack {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

struct Shared {
    state: Mutex<FakeState>,
    changed: Condvar,
    http_base: String,
    ws_base: String,
}

#[derive(Default)]
struct FakeState {
    calls: Vec<ApiCall>,
    pending_failures: Vec<PendingFailure>,
    outage: bool,
    messages: Vec<SlackMessage>,
    ephemerals: Vec<Value>,
    files: Vec<ExternalFile>,
    usergroups: HashMap<String, Vec<String>>,
    issued_ts: u64,
    issued_tickets: u64,
    socket_connections: usize,
    /// Oldest first; slack-morphism keeps two connections open by default.
    live_sockets: Vec<LiveSocket>,
    envelopes_sent: HashMap<String, Instant>,
    frames_from_bot: Vec<BotFrame>,
}

struct PendingFailure {
    method: String,
    remaining: usize,
    failure: Failure,
}

struct ExternalFile {
    id: String,
    content: Vec<u8>,
    completion: Value,
}

struct LiveSocket {
    connection: usize,
    outbox: mpsc::UnboundedSender<Outgoing>,
}

enum Outgoing {
    Frame(String),
    Close,
}

struct BotFrame {
    frame: Value,
    after_envelope: Option<Duration>,
}

thread_local! {
    // The payload builders are free functions, yet a `response_url` should reach a fake that
    // records it: they use the newest fake started on the calling thread, which is the test's.
    static NEWEST_FAKE_ON_THIS_THREAD: RefCell<Option<String>> = const { RefCell::new(None) };
}

impl FakeSlack {
    pub fn start() -> FakeSlack {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fake-slack")
            .enable_all()
            .build()
            .expect("build the fake Slack's runtime");
        let http_listener = bind_loopback();
        let ws_listener = bind_loopback();
        let shared = Arc::new(Shared {
            state: Mutex::new(FakeState::default()),
            changed: Condvar::new(),
            http_base: format!("http://{}", http_listener.local_addr().unwrap()),
            ws_base: format!("ws://{}", ws_listener.local_addr().unwrap()),
        });
        {
            // Turning std listeners into tokio ones needs the runtime's reactor.
            let _entered = runtime.enter();
            let http_listener = tokio::net::TcpListener::from_std(http_listener).unwrap();
            let ws_listener = tokio::net::TcpListener::from_std(ws_listener).unwrap();
            runtime.spawn(serve_web_api(http_listener, shared.clone()));
            runtime.spawn(serve_sockets(ws_listener, shared.clone()));
        }
        NEWEST_FAKE_ON_THIS_THREAD
            .with(|newest| *newest.borrow_mut() = Some(shared.http_base.clone()));
        FakeSlack {
            shared,
            runtime: Some(runtime),
        }
    }

    /// What `SLACK_API_URL` should be: no trailing slash, methods are `{api_url}/{method}`.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.shared.http_base)
    }

    /// `http://127.0.0.1:PORT`, the root of everything the fake serves over HTTP.
    pub fn http_base(&self) -> String {
        self.shared.http_base.clone()
    }

    /// Every call in arrival order, the failed ones included.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.shared.state().calls.clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<ApiCall> {
        let state = self.shared.state();
        state
            .calls
            .iter()
            .filter(|call| call.method == method)
            .cloned()
            .collect()
    }

    /// The first call (already made or still to come) that `pred` accepts.
    pub fn wait_for_call(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&ApiCall) -> bool,
    ) -> ApiCall {
        let found = self.shared.wait_for(timeout, |state| {
            state.calls.iter().find(|call| pred(call)).cloned()
        });
        found.unwrap_or_else(|| {
            panic!(
                "timed out after {timeout:?} waiting for a Slack call: {what}\n{}",
                self.dump()
            )
        })
    }

    /// The next `count` calls of `method` (`"*"`: of any method, `response_url` posts included)
    /// answer `failure`. Uploads to an upload URL never fail.
    pub fn fail_next(&self, method: &str, count: usize, failure: Failure) {
        self.shared.mutate(|state| {
            state.pending_failures.push(PendingFailure {
                method: method.to_owned(),
                remaining: count,
                failure,
            })
        });
    }

    /// While on, every call answers HTTP 500 (`response_url` posts too, uploads to an upload
    /// URL not).
    pub fn set_outage(&self, on: bool) {
        self.shared.mutate(|state| state.outage = on);
    }

    /// The channel's messages as they stand now, in the order they were posted.
    /// A click on a button of a message this fake holds: [`block_action_payload`] with the
    /// message's current text and blocks, as Slack sends them.
    pub fn block_action(
        &self,
        user: &str,
        channel: &str,
        message_ts: &str,
        action_id: &str,
        value: &str,
    ) -> Value {
        let mut payload = block_action_payload(user, channel, message_ts, action_id, value);
        let state = self.shared.state();
        if let Some(message) = state
            .messages
            .iter()
            .find(|message| message.channel == channel && message.ts == message_ts)
        {
            payload["message"]["text"] = json!(message.text);
            payload["message"]["blocks"] = message.blocks.clone();
        }
        payload
    }

    pub fn messages(&self, channel: &str) -> Vec<SlackMessage> {
        let state = self.shared.state();
        state
            .messages
            .iter()
            .filter(|message| message.channel == channel)
            .cloned()
            .collect()
    }

    /// The first message in any channel that `pred` accepts, in its current state (so an
    /// update that makes a message match counts).
    pub fn wait_for_message(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&SlackMessage) -> bool,
    ) -> SlackMessage {
        let found = self.shared.wait_for(timeout, |state| {
            state.messages.iter().find(|message| pred(message)).cloned()
        });
        found.unwrap_or_else(|| {
            panic!(
                "timed out after {timeout:?} waiting for a Slack message: {what}\n{}",
                self.dump()
            )
        })
    }

    /// The params of every successful `chat.postEphemeral`.
    pub fn ephemerals(&self) -> Vec<Value> {
        self.shared.state().ephemerals.clone()
    }

    /// Every file id handed out by `files.getUploadURLExternal`, with what was uploaded to its
    /// URL (empty if nothing yet) and the `files.completeUploadExternal` params that shared it
    /// (`Null` until then).
    pub fn uploads(&self) -> Vec<(String, Vec<u8>, Value)> {
        let state = self.shared.state();
        state
            .files
            .iter()
            .map(|file| {
                (
                    file.id.clone(),
                    file.content.clone(),
                    file.completion.clone(),
                )
            })
            .collect()
    }

    pub fn set_usergroup(&self, group_id: &str, users: &[&str]) {
        let users = users.iter().map(|user| user.to_string()).collect();
        self.shared
            .mutate(|state| state.usergroups.insert(group_id.to_owned(), users));
    }

    /// Until a bot WebSocket is connected and has been sent its hello. slack-morphism opens a
    /// second connection about 5 s after the first (its default is two), so this returns at
    /// the first.
    pub fn wait_for_socket(&self, timeout: Duration) {
        let connected = self.shared.wait_for(timeout, |state| {
            (!state.live_sockets.is_empty()).then_some(())
        });
        if connected.is_none() {
            panic!(
                "timed out after {timeout:?} waiting for the bot's Socket Mode connection\n{}",
                self.dump()
            );
        }
    }

    /// How many times a socket connected so far (slack-morphism's second connection counts).
    pub fn socket_connections(&self) -> usize {
        self.shared.state().socket_connections
    }

    /// Sends an envelope (`kind`: `slash_commands`, `interactive` or `events_api`) to the most
    /// recent connection and returns its `envelope_id`.
    pub fn send_envelope(&self, kind: &str, payload: Value) -> String {
        let envelope_id = format!(
            "{:08x}-fa4e-4e57-8000-{:012x}",
            std::process::id(),
            next_serial()
        );
        let mut envelope = json!({
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "payload": payload,
        });
        if kind == "events_api" {
            envelope["retry_attempt"] = json!(0);
            envelope["retry_reason"] = json!("");
        }
        let mut state = self.shared.state();
        if state.live_sockets.is_empty() {
            drop(state);
            panic!(
                "send_envelope({kind}): no bot WebSocket is connected\n{}",
                self.dump()
            );
        }
        state
            .envelopes_sent
            .insert(envelope_id.clone(), Instant::now());
        let sent = state
            .live_sockets
            .last()
            .map(|socket| socket.outbox.send(Outgoing::Frame(envelope.to_string())));
        drop(state);
        if !matches!(sent, Some(Ok(()))) {
            panic!(
                "send_envelope({kind}): the bot's WebSocket closed\n{}",
                self.dump()
            );
        }
        envelope_id
    }

    /// The frame the bot sent back for `envelope_id`, and how long after the envelope it came.
    pub fn wait_for_ack(&self, envelope_id: &str, timeout: Duration) -> (Value, Duration) {
        let found = self.shared.wait_for(timeout, |state| {
            state
                .frames_from_bot
                .iter()
                .find(|frame| frame.frame["envelope_id"] == envelope_id)
                .map(|frame| {
                    (
                        frame.frame.clone(),
                        frame.after_envelope.unwrap_or(Duration::ZERO),
                    )
                })
        });
        found.unwrap_or_else(|| {
            panic!(
                "timed out after {timeout:?} waiting for the ack of envelope {envelope_id}\n{}",
                self.dump()
            )
        })
    }

    /// Every text frame the bot sent over Socket Mode, acks included, in arrival order.
    pub fn frames_from_bot(&self) -> Vec<Value> {
        let state = self.shared.state();
        state
            .frames_from_bot
            .iter()
            .map(|frame| frame.frame.clone())
            .collect()
    }

    /// How many bot WebSockets are open now.
    pub fn live_sockets(&self) -> usize {
        self.shared.state().live_sockets.len()
    }

    /// Does to the most recent connection what Slack does before it recycles one: a
    /// `disconnect` frame (`refresh_requested`), then the close. The bot is expected to
    /// reconnect.
    pub fn disconnect_socket(&self) {
        let state = self.shared.state();
        if let Some(socket) = state.live_sockets.last() {
            let disconnect = json!({
                "type": "disconnect",
                "reason": "refresh_requested",
                "debug_info": {"host": "fake-slack"},
            });
            let _ = socket.outbox.send(Outgoing::Frame(disconnect.to_string()));
            let _ = socket.outbox.send(Outgoing::Close);
        }
    }

    /// Everything the fake saw, for failure messages.
    pub fn dump(&self) -> String {
        let state = self.shared.state();
        let mut out = format!("--- {} Slack API calls ---\n", state.calls.len());
        for call in &state.calls {
            let _ = writeln!(
                out,
                "{:>4} {} {} (auth {:?})",
                call.status, call.method, call.params, call.auth
            );
        }
        let _ = writeln!(out, "--- {} messages ---", state.messages.len());
        for message in &state.messages {
            let _ = writeln!(
                out,
                "{} {} thread={:?} updates={} text={:?} blocks={}",
                message.channel,
                message.ts,
                message.thread_ts,
                message.updates,
                message.text,
                message.blocks
            );
        }
        let _ = writeln!(
            out,
            "--- socket: {} connections, {} live, {} envelopes sent, {} frames from the bot ---",
            state.socket_connections,
            state.live_sockets.len(),
            state.envelopes_sent.len(),
            state.frames_from_bot.len()
        );
        for frame in &state.frames_from_bot {
            let _ = writeln!(out, "{} (after {:?})", frame.frame, frame.after_envelope);
        }
        out
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Never blocks on a connection the bot keeps open.
            runtime.shutdown_background();
        }
        NEWEST_FAKE_ON_THIS_THREAD.with(|newest| {
            let mut newest = newest.borrow_mut();
            if newest.as_deref() == Some(self.shared.http_base.as_str()) {
                *newest = None;
            }
        });
    }
}

fn bind_loopback() -> std::net::TcpListener {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.set_nonblocking(true).unwrap();
    listener
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, FakeState> {
        // A test that panicked while looking must not take every later look down with it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn mutate<R>(&self, change: impl FnOnce(&mut FakeState) -> R) -> R {
        let result = change(&mut self.state());
        self.changed.notify_all();
        result
    }

    fn wait_for<T>(
        &self,
        timeout: Duration,
        mut found: impl FnMut(&FakeState) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        loop {
            if let Some(result) = found(&state) {
                return Some(result);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Web API

async fn serve_web_api(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let app = Router::new()
        .route("/api/{method}", any(web_api_call))
        .route("/upload/{file_id}", post(upload_file_content))
        .route("/response/{*rest}", post(response_url_call))
        .with_state(shared);
    let _ = axum::serve(listener, app).await;
}

async fn web_api_call(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    http_method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = request_params(&http_method, &uri, &headers, &body);
    record_and_answer(&shared, method, params, &headers)
}

async fn response_url_call(
    State(shared): State<Arc<Shared>>,
    http_method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = request_params(&http_method, &uri, &headers, &body);
    record_and_answer(&shared, "response_url".to_owned(), params, &headers)
}

async fn upload_file_content(
    State(shared): State<Arc<Shared>>,
    Path(file_id): Path<String>,
    body: Bytes,
) -> Response {
    let stored = shared.mutate(|state| {
        let file = state.files.iter_mut().find(|file| file.id == file_id)?;
        file.content = body.to_vec();
        Some(body.len())
    });
    match stored {
        // Slack answers the upload URL in plain text; slack-morphism only checks the status.
        Some(length) => Reply::text(200, format!("OK - {length}")).into_response(),
        None => Reply::text(404, format!("no upload URL was issued for {file_id}")).into_response(),
    }
}

fn record_and_answer(
    shared: &Shared,
    method: String,
    params: Value,
    headers: &HeaderMap,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let at = Instant::now();
    let reply = shared.mutate(|state| {
        let reply = state.answer(shared, &method, &params, auth.as_deref());
        state.calls.push(ApiCall {
            method,
            params,
            auth,
            status: reply.status,
            at,
        });
        reply
    });
    reply.into_response()
}

/// Query parameters, overlaid with the body: JSON as is, a form as an object of strings.
fn request_params(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Value {
    let mut params = Map::new();
    if let Some(query) = uri.query() {
        insert_form_fields(&mut params, query.as_bytes());
    }
    if body.is_empty() || *method == Method::GET {
        return Value::Object(params);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        insert_form_fields(&mut params, body);
        return Value::Object(params);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut fields)) => {
            for (key, value) in params {
                fields.entry(key).or_insert(value);
            }
            Value::Object(fields)
        }
        Ok(other) if params.is_empty() => other,
        // Kept as text so a malformed request still shows up in a failure's dump.
        _ => Value::String(String::from_utf8_lossy(body).into_owned()),
    }
}

fn insert_form_fields(params: &mut Map<String, Value>, encoded: &[u8]) {
    for (key, value) in form_urlencoded::parse(encoded) {
        params.insert(key.into_owned(), Value::String(value.into_owned()));
    }
}

/// A parameter as text, whether it came as a JSON string, number or boolean.
fn text_param(params: &Value, key: &str) -> Option<String> {
    match params.get(key)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A structured parameter (`blocks`, `files`): form encoding carries it as JSON text.
fn json_param(params: &Value, key: &str) -> Value {
    match params.get(key) {
        None => Value::Null,
        Some(Value::String(text)) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
        }
        Some(value) => value.clone(),
    }
}

impl FakeState {
    fn answer(
        &mut self,
        shared: &Shared,
        method: &str,
        params: &Value,
        auth: Option<&str>,
    ) -> Reply {
        if self.outage {
            return Reply::server_error();
        }
        if let Some(failure) = self.take_failure(method) {
            return match failure {
                Failure::RateLimited { retry_after_secs } => Reply::rate_limited(retry_after_secs),
                Failure::ServerError => Reply::server_error(),
            };
        }
        // A response_url is authorised by its secret path, not by a token.
        if method != "response_url" && !token_allowed(method, params, auth) {
            return Reply::error("invalid_auth");
        }
        match method {
            "chat.postMessage" => self.post_message(params),
            "chat.update" => self.update_message(params),
            "chat.postEphemeral" => self.post_ephemeral(params),
            "files.getUploadURLExternal" => self.issue_upload_url(shared, params),
            "files.completeUploadExternal" => self.complete_upload(params),
            "usergroups.users.list" => self.list_usergroup_users(params),
            "apps.connections.open" => {
                self.issued_tickets += 1;
                Reply::ok(json!({
                    "url": format!("{}/link?ticket={}", shared.ws_base, self.issued_tickets),
                }))
            }
            "auth.test" => Reply::ok(json!({
                "url": format!("https://{TEAM_DOMAIN}.slack.com/"),
                "team": "Fake Team",
                "user": "loadtest-bot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
            })),
            "response_url" => Reply::ok(json!({})),
            _ => Reply::error("unknown_method"),
        }
    }

    fn take_failure(&mut self, method: &str) -> Option<Failure> {
        let pending = self.pending_failures.iter_mut().find(|pending| {
            pending.remaining > 0 && (pending.method == method || pending.method == "*")
        })?;
        pending.remaining -= 1;
        let failure = pending.failure;
        self.pending_failures
            .retain(|pending| pending.remaining > 0);
        Some(failure)
    }

    /// Slack's timestamps: unique and increasing, `1700000000.000100`, `…000200`, …
    fn next_ts(&mut self) -> String {
        self.issued_ts += 1;
        let micros = self.issued_ts * 100;
        format!(
            "{}.{:06}",
            1_700_000_000 + micros / 1_000_000,
            micros % 1_000_000
        )
    }

    fn post_message(&mut self, params: &Value) -> Reply {
        let Some(channel) = text_param(params, "channel").filter(|channel| !channel.is_empty())
        else {
            return Reply::error("channel_not_found");
        };
        let ts = self.next_ts();
        let text = text_param(params, "text").unwrap_or_default();
        let blocks = json_param(params, "blocks");
        let thread_ts = text_param(params, "thread_ts").filter(|ts| !ts.is_empty());
        let mut message = bot_message_json(&ts, &text, &blocks);
        if let Some(thread_ts) = &thread_ts {
            message["thread_ts"] = json!(thread_ts);
        }
        self.messages.push(SlackMessage {
            channel: channel.clone(),
            ts: ts.clone(),
            text,
            blocks,
            thread_ts,
            updates: 0,
        });
        Reply::ok(json!({"channel": channel, "ts": ts, "message": message}))
    }

    fn update_message(&mut self, params: &Value) -> Reply {
        let channel = text_param(params, "channel").unwrap_or_default();
        let ts = text_param(params, "ts").unwrap_or_default();
        let Some(message) = self
            .messages
            .iter_mut()
            .find(|message| message.channel == channel && message.ts == ts)
        else {
            return Reply::error("message_not_found");
        };
        // Like Slack, a field left out keeps its old value.
        if let Some(text) = text_param(params, "text") {
            message.text = text;
        }
        if params.get("blocks").is_some() {
            message.blocks = json_param(params, "blocks");
        }
        message.updates += 1;
        // slack-morphism requires `message` in the answer, as Slack sends it.
        Reply::ok(json!({
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "message": bot_message_json(&ts, &message.text, &message.blocks),
        }))
    }

    fn post_ephemeral(&mut self, params: &Value) -> Reply {
        if text_param(params, "channel").is_none_or(|channel| channel.is_empty()) {
            return Reply::error("channel_not_found");
        }
        if text_param(params, "user").is_none_or(|user| user.is_empty()) {
            return Reply::error("user_not_in_channel");
        }
        self.ephemerals.push(params.clone());
        let message_ts = self.next_ts();
        Reply::ok(json!({"message_ts": message_ts}))
    }

    fn issue_upload_url(&mut self, shared: &Shared, params: &Value) -> Reply {
        let has_filename = text_param(params, "filename").is_some_and(|name| !name.is_empty());
        let has_length =
            text_param(params, "length").is_some_and(|length| length.parse::<u64>().is_ok());
        if !has_filename || !has_length {
            return Reply::error("invalid_arguments");
        }
        let file_id = format!("F{:04}", self.files.len() + 1);
        self.files.push(ExternalFile {
            id: file_id.clone(),
            content: Vec::new(),
            completion: Value::Null,
        });
        Reply::ok(json!({
            "upload_url": format!("{}/upload/{file_id}", shared.http_base),
            "file_id": file_id,
        }))
    }

    fn complete_upload(&mut self, params: &Value) -> Reply {
        let Value::Array(entries) = json_param(params, "files") else {
            return Reply::error("invalid_arguments");
        };
        let mut shared_files = Vec::new();
        for entry in &entries {
            let id = entry["id"].as_str().unwrap_or_default();
            if !self.files.iter().any(|file| file.id == id) {
                return Reply::error("file_not_found");
            }
            let title = entry.get("title").cloned().unwrap_or_else(|| json!(id));
            shared_files.push(json!({"id": id, "title": title}));
        }
        for entry in &entries {
            let id = entry["id"].as_str().unwrap_or_default();
            if let Some(file) = self.files.iter_mut().find(|file| file.id == id) {
                file.completion = params.clone();
            }
        }
        Reply::ok(json!({"files": shared_files}))
    }

    fn list_usergroup_users(&mut self, params: &Value) -> Reply {
        let group = text_param(params, "usergroup").unwrap_or_default();
        match self.usergroups.get(&group) {
            Some(users) => Reply::ok(json!({"users": users})),
            None => Reply::error("no_such_subteam"),
        }
    }

    fn record_frame(&mut self, text: &str) {
        let frame = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
        let after_envelope = frame
            .get("envelope_id")
            .and_then(Value::as_str)
            .and_then(|id| self.envelopes_sent.get(id))
            .map(Instant::elapsed);
        self.frames_from_bot.push(BotFrame {
            frame,
            after_envelope,
        });
    }
}

/// `apps.connections.open` takes the app-level token, every other method the bot token.
fn token_allowed(method: &str, params: &Value, auth: Option<&str>) -> bool {
    let required_prefix = if method == "apps.connections.open" {
        "xapp-"
    } else {
        "xoxb-"
    };
    // Slack also takes the token as a form parameter, the way old clients send it.
    let token = match auth {
        Some(auth) => auth.strip_prefix("Bearer ").map(str::to_owned),
        None => text_param(params, "token"),
    };
    token.is_some_and(|token| {
        token.starts_with(required_prefix) && token.len() > required_prefix.len()
    })
}

fn bot_message_json(ts: &str, text: &str, blocks: &Value) -> Value {
    let mut message = json!({
        "type": "message",
        "subtype": "bot_message",
        "text": text,
        "ts": ts,
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
    });
    if !blocks.is_null() {
        message["blocks"] = blocks.clone();
    }
    message
}

struct Reply {
    status: u16,
    retry_after_secs: Option<u64>,
    content_type: &'static str,
    body: String,
}

impl Reply {
    fn ok(mut fields: Value) -> Reply {
        fields["ok"] = json!(true);
        Reply::json(200, fields)
    }

    /// Slack reports API errors with HTTP 200.
    fn error(error: &str) -> Reply {
        Reply::json(200, json!({"ok": false, "error": error}))
    }

    fn rate_limited(retry_after_secs: u64) -> Reply {
        Reply {
            retry_after_secs: Some(retry_after_secs),
            ..Reply::json(429, json!({"ok": false, "error": "ratelimited"}))
        }
    }

    fn server_error() -> Reply {
        Reply::text(500, "fake Slack: internal server error".to_owned())
    }

    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            retry_after_secs: None,
            content_type: "application/json; charset=utf-8",
            body: body.to_string(),
        }
    }

    fn text(status: u16, body: String) -> Reply {
        Reply {
            status,
            retry_after_secs: None,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }

    fn into_response(self) -> Response {
        let mut response = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, self.content_type);
        if let Some(seconds) = self.retry_after_secs {
            response = response.header(header::RETRY_AFTER, seconds.to_string());
        }
        response.body(Body::from(self.body)).unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Socket Mode

async fn serve_sockets(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_socket(stream, shared.clone()));
        }
    }
}

async fn serve_socket(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    if socket.send(Message::text(HELLO_FRAME)).await.is_err() {
        return;
    }
    let (outbox, mut outgoing) = mpsc::unbounded_channel();
    let connection = shared.mutate(|state| {
        state.socket_connections += 1;
        state.live_sockets.push(LiveSocket {
            connection: state.socket_connections,
            outbox,
        });
        state.socket_connections
    });
    loop {
        tokio::select! {
            // Reading also answers the bot's pings: tungstenite queues the pong and flushes it.
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Text(text))) => shared.mutate(|state| state.record_frame(text.as_str())),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            command = outgoing.recv() => match command {
                Some(Outgoing::Frame(text)) => {
                    if socket.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close) | None => {
                    let _ = socket.close(None).await;
                    break;
                }
            },
        }
    }
    shared.mutate(|state| {
        state
            .live_sockets
            .retain(|socket| socket.connection != connection)
    });
}

// ---------------------------------------------------------------------------------------------
// Slack's side of HTTP mode: signing and a blocking client

/// Slack's v0 request signature: `v0=` + hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}")).
pub fn slack_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut signature = String::from("v0=");
    for byte in digest {
        let _ = write!(signature, "{byte:02x}");
    }
    signature
}

/// The two headers Slack signs a request with, timestamped now.
pub fn slack_signed_headers(secret: &str, body: &str) -> Vec<(&'static str, String)> {
    let timestamp = unix_now().as_secs().to_string();
    let signature = slack_signature(secret, &timestamp, body);
    vec![
        ("X-Slack-Request-Timestamp", timestamp),
        ("X-Slack-Signature", signature),
    ]
}

/// A whole HTTP response.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    /// The first header called `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One HTTP/1.1 exchange, or why it failed (connection refused, timeout after 30 s, …).
pub fn try_http_request(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Result<HttpReply, String> {
    let method = method.to_owned();
    let url = url.to_owned();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect();
    let body = body.to_owned();
    // A thread of its own, so this works from plain tests and from inside a runtime alike.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("build a runtime: {error}"))?;
        runtime.block_on(async move {
            let exchange = exchange_http(&method, &url, &headers, body);
            tokio::time::timeout(Duration::from_secs(30), exchange)
                .await
                .map_err(|_| format!("{method} {url}: no answer within 30 s"))?
        })
    })
    .join()
    .expect("the HTTP client thread panicked")
}

async fn exchange_http(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: String,
) -> Result<HttpReply, String> {
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(body)
        .map_err(|error| format!("{method} {url}: bad request: {error}"))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<String>();
    let response = client
        .request(request)
        .await
        .map_err(|error| format!("{method} {url}: {error:?}"))?;
    let status = response.status().as_u16();
    let reply_headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let reply_body = axum::body::to_bytes(Body::new(response.into_body()), usize::MAX)
        .await
        .map_err(|error| format!("{method} {url}: reading the body: {error}"))?;
    Ok(HttpReply {
        status,
        headers: reply_headers,
        body: String::from_utf8_lossy(&reply_body).into_owned(),
    })
}

/// [`try_http_request`], panicking when there is no HTTP answer at all.
pub fn http_request(method: &str, url: &str, headers: &[(&str, String)], body: &str) -> HttpReply {
    try_http_request(method, url, headers, body).unwrap_or_else(|error| panic!("{error}"))
}

/// POST with `Content-Type: application/x-www-form-urlencoded`: status and body text.
pub fn post_form(url: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    let mut all_headers = vec![(
        "Content-Type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    all_headers.extend(headers.iter().cloned());
    let reply = http_request("POST", url, &all_headers, body);
    (reply.status, reply.body)
}

/// POST with `Content-Type: application/json`: status and body text.
pub fn post_json(url: &str, headers: &[(&str, String)], body: &Value) -> (u16, String) {
    let mut all_headers = vec![("Content-Type", "application/json; charset=utf-8".to_owned())];
    all_headers.extend(headers.iter().cloned());
    let reply = http_request("POST", url, &all_headers, &body.to_string());
    (reply.status, reply.body)
}

pub fn get(url: &str) -> (u16, String) {
    let reply = http_request("GET", url, &[], "");
    (reply.status, reply.body)
}

// ---------------------------------------------------------------------------------------------
// What Slack pushes, in the shapes Slack documents

static PAYLOAD_SERIAL: AtomicU64 = AtomicU64::new(0);

fn next_serial() -> u64 {
    PAYLOAD_SERIAL.fetch_add(1, Ordering::Relaxed) + 1
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// A `ts` for something happening now; the serial keeps two of them in the same microsecond apart.
fn ts_now() -> String {
    let now = unix_now();
    let micros = (now.subsec_micros() as u64 + next_serial()) % 1_000_000;
    format!("{}.{micros:06}", now.as_secs())
}

fn trigger_id() -> String {
    format!(
        "{}.{}.fa4e{:028x}",
        next_serial(),
        unix_now().as_secs(),
        next_serial()
    )
}

/// On the newest fake started on this thread, so a test can see what the bot posts there; with
/// no fake, an address where nothing listens.
fn response_url() -> String {
    let base = NEWEST_FAKE_ON_THIS_THREAD
        .with(|newest| newest.borrow().clone())
        .unwrap_or_else(|| "http://127.0.0.1:9".to_owned());
    format!(
        "{base}/response/commands/{TEAM_ID}/{}/fakeResponseSecret",
        next_serial()
    )
}

fn channel_name(channel: &str) -> String {
    format!("channel-{}", channel.to_ascii_lowercase())
}

fn user_name(user: &str) -> String {
    format!("user-{}", user.to_ascii_lowercase())
}

/// Slack's fields for `/loadtest {text}`, in Slack's order; all of them are strings.
fn slash_command_fields(user: &str, channel: &str, text: &str) -> Vec<(&'static str, String)> {
    vec![
        ("token", VERIFICATION_TOKEN.to_owned()),
        ("team_id", TEAM_ID.to_owned()),
        ("team_domain", TEAM_DOMAIN.to_owned()),
        ("channel_id", channel.to_owned()),
        ("channel_name", channel_name(channel)),
        ("user_id", user.to_owned()),
        ("user_name", user_name(user)),
        ("command", "/loadtest".to_owned()),
        ("text", text.to_owned()),
        ("api_app_id", APP_ID.to_owned()),
        ("is_enterprise_install", "false".to_owned()),
        ("response_url", response_url()),
        ("trigger_id", trigger_id()),
    ]
}

/// `/loadtest {text}` as a Socket Mode `slash_commands` envelope carries it.
pub fn slash_command_payload(user: &str, channel: &str, text: &str) -> Value {
    let fields = slash_command_fields(user, channel, text)
        .into_iter()
        .map(|(key, value)| (key.to_owned(), Value::String(value)))
        .collect();
    Value::Object(fields)
}

/// `/loadtest {text}` as the x-www-form-urlencoded body Slack posts in HTTP mode.
pub fn slash_command_form(user: &str, channel: &str, text: &str) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (key, value) in slash_command_fields(user, channel, text) {
        form.append_pair(key, &value);
    }
    form.finish()
}

/// A click on a button (`action_id`, `value`) in the bot's message `message_ts`.
pub fn block_action_payload(
    user: &str,
    channel: &str,
    message_ts: &str,
    action_id: &str,
    value: &str,
) -> Value {
    json!({
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": {
            "id": user,
            "username": user_name(user),
            "name": user_name(user),
            "team_id": TEAM_ID,
        },
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": false,
        },
        "trigger_id": trigger_id(),
        "channel": {"id": channel, "name": channel_name(channel)},
        "message": {
            "type": "message",
            "ts": message_ts,
            "text": "",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
        },
        "state": {"values": {}},
        "response_url": response_url(),
        "actions": [{
            "type": "button",
            "action_id": action_id,
            "block_id": format!("fake-block-{action_id}"),
            "value": value,
            "text": {"type": "plain_text", "text": action_id, "emoji": true},
            "action_ts": ts_now(),
        }],
    })
}

/// An `app_mention` event callback; `text` is the message as Slack shows it, so a mention of
/// the bot reads `<@U0FAKEBOT> …` (see [`BOT_USER_ID`]).
pub fn app_mention_payload(user: &str, channel: &str, text: &str) -> Value {
    let ts = ts_now();
    json!({
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": {
            "type": "app_mention",
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
        },
        "type": "event_callback",
        "event_id": format!("Ev0FAKE{:06}", next_serial()),
        "event_time": unix_now().as_secs(),
        "authorizations": [{
            "enterprise_id": null,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "is_bot": true,
            "is_enterprise_install": false,
        }],
        "is_ext_shared_channel": false,
    })
}

// ---------------------------------------------------------------------------------------------
// Self-tests: `cargo test --test integration fake_slack`

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("Authorization", format!("Bearer {token}"))]
}

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn fake_slack_posts_and_updates_messages_over_http() {
    use slack_morphism::prelude::*;

    let slack = FakeSlack::start();
    let (status, body) = post_json(
        &format!("{}/chat.postMessage", slack.api_url()),
        &bearer("xoxb-test"),
        &json!({"channel": "C0LOAD", "text": "scaling up", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*up*"}}]}),
    );
    assert_eq!(status, 200, "{body}");
    let posted: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(posted["ok"], true, "{body}");
    assert_eq!(posted["channel"], "C0LOAD");
    let ts = posted["ts"].as_str().unwrap().to_owned();
    assert_eq!(ts, "1700000000.000100");
    serde_json::from_str::<SlackApiChatPostMessageResponse>(&body)
        .unwrap_or_else(|error| panic!("slack-morphism cannot read {body}: {error}"));

    let (status, body) = post_json(
        &format!("{}/chat.update", slack.api_url()),
        &bearer("xoxb-test"),
        &json!({"channel": "C0LOAD", "ts": ts, "text": "scaled up"}),
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<SlackApiChatUpdateResponse>(&body)
        .unwrap_or_else(|error| panic!("slack-morphism cannot read {body}: {error}"));

    let messages = slack.messages("C0LOAD");
    assert_eq!(messages.len(), 1, "{}", slack.dump());
    assert_eq!(messages[0].ts, ts);
    assert_eq!(messages[0].text, "scaled up");
    assert_eq!(
        messages[0].blocks[0]["text"]["text"], "*up*",
        "blocks kept when left out"
    );
    assert_eq!(messages[0].updates, 1);
    assert!(slack.messages("C0OTHER").is_empty());

    let (_, body) = post_json(
        &format!("{}/chat.update", slack.api_url()),
        &bearer("xoxb-test"),
        &json!({"channel": "C0LOAD", "ts": "1.000000", "text": "?"}),
    );
    assert!(body.contains("message_not_found"), "{body}");

    // A form body and a wrong kind of token.
    let (_, body) = post_form(
        &format!("{}/chat.postMessage", slack.api_url()),
        &bearer("xapp-test"),
        "channel=C0LOAD&text=hi",
    );
    assert!(body.contains("invalid_auth"), "{body}");
    let (_, body) = post_form(
        &format!("{}/chat.postMessage", slack.api_url()),
        &bearer("xoxb-test"),
        "channel=C0LOAD&text=in+a+thread&thread_ts=1700000000.000100",
    );
    assert!(body.contains("\"ok\":true"), "{body}");
    let threaded = slack.wait_for_message("the threaded reply", WAIT, |message| {
        message.text == "in a thread"
    });
    assert_eq!(threaded.thread_ts.as_deref(), Some(ts.as_str()));

    // The external upload flow, the query-string GET included.
    let (_, body) = get(&format!(
        "{}/files.getUploadURLExternal?filename=plan.txt&length=5",
        slack.api_url()
    ));
    assert!(
        body.contains("invalid_auth"),
        "a GET without a token: {body}"
    );
    let reply = http_request(
        "GET",
        &format!(
            "{}/files.getUploadURLExternal?filename=plan.txt&length=5",
            slack.api_url()
        ),
        &bearer("xoxb-test"),
        "",
    );
    let issued: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(issued["file_id"], "F0001", "{}", reply.body);
    let uploaded = http_request(
        "POST",
        issued["upload_url"].as_str().unwrap(),
        &[("Content-Type", "application/octet-stream".to_owned())],
        "hello",
    );
    assert_eq!((uploaded.status, uploaded.body.as_str()), (200, "OK - 5"));
    let (_, body) = post_json(
        &format!("{}/files.completeUploadExternal", slack.api_url()),
        &bearer("xoxb-test"),
        &json!({"files": [{"id": "F0001", "title": "plan"}], "channel_id": "C0LOAD"}),
    );
    serde_json::from_str::<SlackApiFilesCompleteUploadExternalResponse>(&body)
        .unwrap_or_else(|error| panic!("slack-morphism cannot read {body}: {error}"));
    let uploads = slack.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].0, "F0001");
    assert_eq!(uploads[0].1, b"hello");
    assert_eq!(uploads[0].2["channel_id"], "C0LOAD");

    let (_, body) = post_json(
        &format!("{}/chat.postEphemeral", slack.api_url()),
        &bearer("xoxb-test"),
        &json!({"channel": "C0LOAD", "user": "U0VIEWER", "text": "only you"}),
    );
    assert!(body.contains("message_ts"), "{body}");
    assert_eq!(slack.ephemerals()[0]["user"], "U0VIEWER");

    slack.set_usergroup("S0OPS", &["U1", "U2"]);
    let (_, body) = post_form(
        &format!("{}/usergroups.users.list", slack.api_url()),
        &bearer("xoxb-test"),
        "usergroup=S0OPS",
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["users"],
        json!(["U1", "U2"])
    );

    let calls = slack.calls();
    assert_eq!(calls[0].method, "chat.postMessage");
    assert_eq!(calls[0].auth.as_deref(), Some("Bearer xoxb-test"));
    assert_eq!(calls[0].params["channel"], "C0LOAD");
    assert!(calls.windows(2).all(|pair| pair[0].at <= pair[1].at));
    let get_call = &slack.calls_to("files.getUploadURLExternal")[1];
    assert_eq!(
        get_call.params,
        json!({"filename": "plan.txt", "length": "5"})
    );
    slack.wait_for_call("the usergroup lookup", WAIT, |call| {
        call.method == "usergroups.users.list" && call.params["usergroup"] == "S0OPS"
    });
}

#[test]
fn fake_slack_injected_failures_change_nothing() {
    let slack = FakeSlack::start();
    let post_url = format!("{}/chat.postMessage", slack.api_url());
    let mut headers = bearer("xoxb-test");
    headers.push(("Content-Type", "application/json".to_owned()));
    let body = json!({"channel": "C0LOAD", "text": "hi"}).to_string();

    slack.fail_next(
        "chat.postMessage",
        1,
        Failure::RateLimited {
            retry_after_secs: 3,
        },
    );
    let reply = http_request("POST", &post_url, &headers, &body);
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("3"));
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&reply.body).unwrap(),
        json!({"ok": false, "error": "ratelimited"})
    );
    assert!(slack.messages("C0LOAD").is_empty(), "{}", slack.dump());

    slack.fail_next("*", 1, Failure::ServerError);
    assert_eq!(http_request("POST", &post_url, &headers, &body).status, 500);
    assert!(slack.messages("C0LOAD").is_empty());

    slack.set_outage(true);
    assert_eq!(http_request("POST", &post_url, &headers, &body).status, 500);
    slack.set_outage(false);

    assert_eq!(http_request("POST", &post_url, &headers, &body).status, 200);
    assert_eq!(slack.messages("C0LOAD").len(), 1);
    let statuses: Vec<u16> = slack.calls().iter().map(|call| call.status).collect();
    assert_eq!(statuses, [429, 500, 500, 200]);
}

#[test]
fn fake_slack_socket_mode_hello_envelope_and_ack() {
    let slack = FakeSlack::start();
    let (status, body) = post_json(
        &format!("{}/apps.connections.open", slack.api_url()),
        &bearer("xoxb-wrong-kind"),
        &json!({}),
    );
    assert_eq!(status, 200);
    assert!(
        body.contains("invalid_auth"),
        "the bot token cannot open sockets: {body}"
    );
    let (_, body) = post_json(
        &format!("{}/apps.connections.open", slack.api_url()),
        &bearer("xapp-1-test"),
        &json!({}),
    );
    let url = serde_json::from_str::<Value>(&body).unwrap()["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no url in {body}"))
        .to_owned();
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut socket, _) = runtime
        .block_on(tokio_tungstenite::connect_async(url.as_str()))
        .expect("connect to the fake's WebSocket");
    let hello = next_json_frame(&runtime, &mut socket);
    // slack-morphism keeps its Socket Mode frame models private, so the shape is checked here.
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["connection_info"]["app_id"], APP_ID);
    assert!(hello["num_connections"].is_u64() && hello["debug_info"]["host"].is_string());

    slack.wait_for_socket(WAIT);
    assert_eq!(slack.socket_connections(), 1);
    let envelope_id = slack.send_envelope(
        "slash_commands",
        slash_command_payload("U0OPERATOR", "C0LOAD", "status"),
    );
    let envelope = next_json_frame(&runtime, &mut socket);
    assert_eq!(envelope["envelope_id"], envelope_id.as_str());
    assert_eq!(envelope["accepts_response_payload"], true);
    assert_eq!(envelope["payload"]["text"], "status");
    assert_eq!(envelope["type"], "slash_commands");

    let ack = json!({"envelope_id": envelope_id, "payload": {"text": "working on it"}});
    runtime
        .block_on(socket.send(Message::text(ack.to_string())))
        .unwrap();
    let (acked, latency) = slack.wait_for_ack(&envelope_id, WAIT);
    assert_eq!(acked, ack);
    assert_eq!(slack.frames_from_bot(), vec![ack.clone()]);
    assert!(latency < WAIT, "{latency:?}");

    let event_id = slack.send_envelope(
        "events_api",
        app_mention_payload("U0OPERATOR", "C0LOAD", "<@U0FAKEBOT> status"),
    );
    let event = next_json_frame(&runtime, &mut socket);
    assert_eq!(event["envelope_id"], event_id.as_str());
    assert_eq!(event["accepts_response_payload"], false);
    assert_eq!(event["retry_attempt"], 0);
    assert_eq!(event["type"], "events_api");
    assert_eq!(event["retry_reason"], "");
    assert_eq!(event["payload"]["event"]["type"], "app_mention");

    slack.disconnect_socket();
    let disconnect = next_json_frame(&runtime, &mut socket);
    assert_eq!(disconnect["type"], "disconnect");
    wait_for_live_sockets(&slack, 0);

    // The bot's side closing: a second connection, closed by the client.
    let (mut second, _) = runtime
        .block_on(tokio_tungstenite::connect_async(url.as_str()))
        .expect("reconnect to the fake's WebSocket");
    assert_eq!(next_json_frame(&runtime, &mut second)["type"], "hello");
    wait_for_live_sockets(&slack, 1);
    assert_eq!(slack.socket_connections(), 2);
    runtime.block_on(second.close(None)).unwrap();
    wait_for_live_sockets(&slack, 0);
}

fn wait_for_live_sockets(slack: &FakeSlack, count: usize) {
    let reached = slack.shared.wait_for(WAIT, |state| {
        (state.live_sockets.len() == count).then_some(())
    });
    assert!(
        reached.is_some(),
        "{} live sockets, expected {count}\n{}",
        slack.live_sockets(),
        slack.dump()
    );
}

/// The next text frame, as JSON; pings and pongs are skipped.
fn next_json_frame<S>(runtime: &tokio::runtime::Runtime, socket: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    runtime.block_on(async {
        loop {
            let frame = tokio::time::timeout(WAIT, socket.next())
                .await
                .expect("a frame within the wait")
                .expect("the socket is open")
                .expect("a good frame");
            if let Message::Text(text) = frame {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    })
}

#[test]
fn fake_slack_payloads_read_as_slack_morphism_models() {
    use slack_morphism::prelude::*;

    let slack = FakeSlack::start();

    let command: SlackCommandEvent =
        serde_json::from_value(slash_command_payload("U0OPERATOR", "C0LOAD", "up small 2h"))
            .expect("slash command payload");
    assert_eq!(command.user_id.0, "U0OPERATOR");
    assert_eq!(command.channel_id.0, "C0LOAD");
    assert_eq!(command.command.0, "/loadtest");
    assert_eq!(command.text.as_deref(), Some("up small 2h"));
    assert!(
        command
            .response_url
            .0
            .as_str()
            .starts_with(&slack.http_base()),
        "the response_url lands on the fake: {}",
        command.response_url.0
    );

    let form = slash_command_form("U0OPERATOR", "C0LOAD", "up small 2h");
    let fields: HashMap<String, String> = form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(fields["command"], "/loadtest");
    assert_eq!(fields["text"], "up small 2h");
    assert!(form.contains("command=%2Floadtest"), "{form}");

    let interaction: SlackInteractionEvent = serde_json::from_value(block_action_payload(
        "U0OPERATOR",
        "C0LOAD",
        "1700000000.000100",
        "approve",
        "run-7",
    ))
    .expect("block action payload");
    let SlackInteractionEvent::BlockActions(actions) = interaction else {
        panic!("not block_actions: {interaction:?}");
    };
    assert_eq!(actions.user.unwrap().id.0, "U0OPERATOR");
    assert_eq!(actions.channel.unwrap().id.0, "C0LOAD");
    let SlackInteractionActionContainer::Message(container) = actions.container else {
        panic!("not a message container");
    };
    assert_eq!(container.message_ts.0, "1700000000.000100");
    let action = &actions.actions.unwrap()[0];
    assert_eq!(action.action_id.0, "approve");
    assert_eq!(action.value.as_deref(), Some("run-7"));

    let mention = app_mention_payload("U0OPERATOR", "C0LOAD", "<@U0FAKEBOT> status");
    let callback: SlackPushEventCallback =
        serde_json::from_value(mention.clone()).expect("app mention payload (socket mode)");
    let SlackEventCallbackBody::AppMention(event) = callback.event else {
        panic!("not an app_mention: {:?}", callback.event);
    };
    assert_eq!(event.user.0, "U0OPERATOR");
    assert_eq!(event.channel.0, "C0LOAD");
    assert_eq!(event.content.text.as_deref(), Some("<@U0FAKEBOT> status"));
    match serde_json::from_value::<SlackPushEvent>(mention) {
        Ok(SlackPushEvent::EventCallback(_)) => {}
        other => panic!("not an event callback (HTTP mode): {other:?}"),
    }

    // The response_url is served and recorded.
    let (status, _) = post_json(
        command.response_url.0.as_str(),
        &[],
        &json!({"text": "done"}),
    );
    assert_eq!(status, 200);
    slack.wait_for_call("the response_url post", WAIT, |call| {
        call.method == "response_url" && call.params["text"] == "done"
    });
}

#[test]
fn fake_slack_signature_matches_slacks_documented_example() {
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    assert_eq!(
        slack_signature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body),
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
    let headers = slack_signed_headers("secret", "a=b");
    assert_eq!(headers[0].0, "X-Slack-Request-Timestamp");
    assert_eq!(
        headers[1].1,
        slack_signature("secret", &headers[0].1, "a=b")
    );
}

/// slack-morphism's own client, over plain HTTP, the way the bot reaches the fake.
fn slack_morphism_client(
    slack: &FakeSlack,
) -> slack_morphism::prelude::SlackClient<
    slack_morphism::prelude::SlackClientHyperConnector<
        hyper_util::client::legacy::connect::HttpConnector,
    >,
> {
    use slack_morphism::prelude::*;
    let connector = SlackClientHyperConnector::with_connector(
        hyper_util::client::legacy::connect::HttpConnector::new(),
    )
    .with_slack_api_url(&slack.api_url());
    SlackClient::new(connector)
}

fn slack_token(token: &str) -> slack_morphism::prelude::SlackApiToken {
    use slack_morphism::prelude::*;
    SlackApiToken::new(SlackApiTokenValue::new(token.to_owned()))
}

#[test]
fn fake_slack_answers_slack_morphisms_web_api_client() {
    use slack_morphism::prelude::*;

    let slack = FakeSlack::start();
    slack.set_usergroup("S0OPS", &["U0OPERATOR"]);
    let client = slack_morphism_client(&slack);
    let bot_token = slack_token("xoxb-test");
    let app_token = slack_token("xapp-1-test");
    let channel = SlackChannelId::new("C0LOAD".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let session = client.open_session(&bot_token);
        let content = SlackMessageContent::new()
            .with_text("scaling up".to_owned())
            .with_blocks(vec![SlackSectionBlock::new()
                .with_text(md!("*scaling* up"))
                .into()]);
        let posted = session
            .chat_post_message(&SlackApiChatPostMessageRequest::new(
                channel.clone(),
                content,
            ))
            .await
            .expect("chat.postMessage");
        session
            .chat_update(&SlackApiChatUpdateRequest::new(
                channel.clone(),
                SlackMessageContent::new().with_text("scaled up".to_owned()),
                posted.ts.clone(),
            ))
            .await
            .expect("chat.update");
        session
            .chat_post_message(
                &SlackApiChatPostMessageRequest::new(
                    channel.clone(),
                    SlackMessageContent::new().with_text("details".to_owned()),
                )
                .with_thread_ts(posted.ts.clone()),
            )
            .await
            .expect("a threaded chat.postMessage");
        session
            .chat_post_ephemeral(&SlackApiChatPostEphemeralRequest::new(
                channel.clone(),
                SlackUserId::new("U0VIEWER".to_owned()),
                SlackMessageContent::new().with_text("only you".to_owned()),
            ))
            .await
            .expect("chat.postEphemeral");

        let upload = session
            .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
                "plan.txt".to_owned(),
                5,
            ))
            .await
            .expect("files.getUploadURLExternal");
        session
            .files_upload_via_url(&SlackApiFilesUploadViaUrlRequest::new(
                upload.upload_url.clone(),
                b"hello".to_vec(),
                "text/plain".to_owned(),
            ))
            .await
            .expect("the upload itself");
        let completed = session
            .files_complete_upload_external(
                &SlackApiFilesCompleteUploadExternalRequest::new(vec![SlackApiFilesComplete::new(
                    upload.file_id.clone(),
                )
                .with_title("plan".to_owned())])
                .with_channel_id(channel.clone())
                .with_thread_ts(posted.ts.clone())
                .with_initial_comment("the plan".to_owned()),
            )
            .await
            .expect("files.completeUploadExternal");
        assert_eq!(completed.files[0].id, upload.file_id);

        let members = session
            .usergroups_users_list(&SlackApiUserGroupsUsersListRequest::new(
                SlackUserGroupId::new("S0OPS".to_owned()),
            ))
            .await
            .expect("usergroups.users.list");
        assert_eq!(members.users, [SlackUserId::new("U0OPERATOR".to_owned())]);

        let opened = client
            .open_session(&app_token)
            .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
            .await
            .expect("apps.connections.open");
        assert!(opened.url.0.as_str().starts_with("ws://127.0.0.1:"));

        let unknown_ts = session
            .chat_update(&SlackApiChatUpdateRequest::new(
                channel.clone(),
                SlackMessageContent::new().with_text("?".to_owned()),
                SlackTs::new("1.000000".to_owned()),
            ))
            .await;
        match unknown_ts {
            Err(slack_morphism::errors::SlackClientError::ApiError(error)) => {
                assert_eq!(error.code, "message_not_found")
            }
            other => panic!("chat.update of an unknown ts: {other:?}"),
        }

        slack.fail_next(
            "chat.postMessage",
            1,
            Failure::RateLimited {
                retry_after_secs: 2,
            },
        );
        let limited = session
            .chat_post_message(&SlackApiChatPostMessageRequest::new(
                channel.clone(),
                SlackMessageContent::new().with_text("limited".to_owned()),
            ))
            .await;
        match limited {
            Err(slack_morphism::errors::SlackClientError::RateLimitError(error)) => {
                assert_eq!(error.retry_after, Some(Duration::from_secs(2)));
                assert_eq!(error.code.as_deref(), Some("ratelimited"));
            }
            other => panic!("a rate-limited chat.postMessage: {other:?}"),
        }
        slack.set_outage(true);
        match session.auth_test().await {
            Err(slack_morphism::errors::SlackClientError::HttpError(error)) => {
                assert_eq!(error.status_code.as_u16(), 500)
            }
            other => panic!("auth.test during an outage: {other:?}"),
        }
        slack.set_outage(false);
        let identity = session.auth_test().await.expect("auth.test");
        assert_eq!(identity.user_id.0, BOT_USER_ID);
    });

    let messages = slack.messages("C0LOAD");
    assert_eq!(messages.len(), 2, "{}", slack.dump());
    assert_eq!(messages[0].text, "scaled up");
    assert_eq!(
        messages[0].blocks[0]["type"], "section",
        "blocks kept by the update"
    );
    assert_eq!(messages[0].updates, 1);
    assert_eq!(
        messages[1].thread_ts.as_deref(),
        Some(messages[0].ts.as_str())
    );
    assert_eq!(slack.ephemerals()[0]["user"], "U0VIEWER");
    let uploads = slack.uploads();
    assert_eq!(uploads[0].1, b"hello");
    assert_eq!(uploads[0].2["thread_ts"], messages[0].ts.as_str());
    assert_eq!(uploads[0].2["initial_comment"], "the plan");
    let get = &slack.calls_to("files.getUploadURLExternal")[0];
    assert_eq!(get.params, json!({"filename": "plan.txt", "length": "5"}));
    assert_eq!(get.auth.as_deref(), Some("Bearer xoxb-test"));
}

async fn acknowledge_command(
    event: slack_morphism::prelude::SlackCommandEvent,
    _client: Arc<
        slack_morphism::prelude::SlackClient<
            slack_morphism::prelude::SlackClientHyperConnector<
                hyper_util::client::legacy::connect::HttpConnector,
            >,
        >,
    >,
    _state: slack_morphism::prelude::SlackClientEventsUserState,
) -> slack_morphism::prelude::UserCallbackResult<slack_morphism::prelude::SlackCommandEventResponse>
{
    use slack_morphism::prelude::*;
    let text = format!("got {}", event.text.unwrap_or_default());
    Ok(SlackCommandEventResponse::new(
        SlackMessageContent::new().with_text(text),
    ))
}

async fn acknowledge_push_event(
    _event: slack_morphism::prelude::SlackPushEventCallback,
    _client: Arc<
        slack_morphism::prelude::SlackClient<
            slack_morphism::prelude::SlackClientHyperConnector<
                hyper_util::client::legacy::connect::HttpConnector,
            >,
        >,
    >,
    _state: slack_morphism::prelude::SlackClientEventsUserState,
) -> slack_morphism::prelude::UserCallbackResult<()> {
    Ok(())
}

async fn acknowledge_interaction(
    _event: slack_morphism::prelude::SlackInteractionEvent,
    _client: Arc<
        slack_morphism::prelude::SlackClient<
            slack_morphism::prelude::SlackClientHyperConnector<
                hyper_util::client::legacy::connect::HttpConnector,
            >,
        >,
    >,
    _state: slack_morphism::prelude::SlackClientEventsUserState,
) -> slack_morphism::prelude::UserCallbackResult<()> {
    Ok(())
}

#[test]
fn fake_slack_drives_slack_morphisms_socket_mode_listener() {
    use slack_morphism::prelude::*;

    let slack = FakeSlack::start();
    let client = Arc::new(slack_morphism_client(&slack));
    // Worker threads of its own: the listener must run while this thread blocks in wait_*.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_command_events(acknowledge_command)
        .with_push_events(acknowledge_push_event)
        .with_interaction_events(acknowledge_interaction);
    let environment = Arc::new(SlackClientEventsListenerEnvironment::new(client));
    let listener = SlackClientSocketModeListener::new(
        &SlackClientSocketModeConfig::new(),
        environment,
        callbacks,
    );
    runtime.block_on(async {
        listener
            .listen_for(&slack_token("xapp-1-test"))
            .await
            .expect("listen_for");
        listener.start().await;
    });

    slack.wait_for_socket(WAIT);
    let command = slack.send_envelope(
        "slash_commands",
        slash_command_payload("U0OPERATOR", "C0LOAD", "status"),
    );
    let (ack, latency) = slack.wait_for_ack(&command, WAIT);
    assert_eq!(ack["payload"]["text"], "got status", "{ack}");
    assert!(latency < WAIT);

    let click = slack.send_envelope(
        "interactive",
        block_action_payload(
            "U0OPERATOR",
            "C0LOAD",
            "1700000000.000100",
            "approve",
            "run-7",
        ),
    );
    let (ack, _) = slack.wait_for_ack(&click, WAIT);
    assert_eq!(ack["envelope_id"], click.as_str());

    let mention = slack.send_envelope(
        "events_api",
        app_mention_payload("U0OPERATOR", "C0LOAD", "<@U0FAKEBOT> status"),
    );
    let (ack, _) = slack.wait_for_ack(&mention, WAIT);
    assert_eq!(ack["envelope_id"], mention.as_str());

    let auth: Vec<Option<String>> = slack
        .calls_to("apps.connections.open")
        .into_iter()
        .map(|call| call.auth)
        .collect();
    assert!(!auth.is_empty());
    assert!(auth
        .iter()
        .all(|auth| auth.as_deref() == Some("Bearer xapp-1-test")));

    // Not waiting for the sockets to close: slack-morphism's shutdown can leave one open (its
    // writer may stop before sending the close) and still opens the connection it postponed.
    runtime.block_on(listener.shutdown());
    runtime.shutdown_background();
}
