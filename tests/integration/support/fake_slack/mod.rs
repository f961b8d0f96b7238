//! A fake Slack for the integration tests that run the real `loadtest-bot serve` as a
//! subprocess. It speaks Slack's wire protocol over real sockets, so the bot's slack-morphism
//! client is exercised exactly as in production, and it is as strict as Slack about what it
//! takes. This file owns the [`FakeSlack`] handle and the state every part shares; each
//! concern lives beside it with its own self-tests:
//!
//! - [`web_api`]: `http://127.0.0.1:PORT/api/{method}` (point `SLACK_API_URL` at
//!   [`FakeSlack::api_url`]), reading each method's arguments only from the bodies Slack reads
//!   for it ([`contract`], from the encodings table the bot ships), the external file upload
//!   flow, `usergroups.users.list`, `apps.connections.open`, `response_url`s, and failure
//!   injection (429 + `Retry-After`, server errors, whole outages);
//! - [`block_kit`]: every message (posts, updates, ephemerals, acks, `response_url` posts)
//!   checked against Block Kit's rules, refused as Slack refuses it;
//! - [`socket_mode`]: its own `ws://127.0.0.1:WSPORT/link` listener: the hello frame,
//!   envelopes pushed by the test, and the bot's acks recorded with their latency;
//! - [`shared_files`]: files people share in channels (`files.info`, the private download URL
//!   that serves only a bot token, the `file_shared` event);
//! - [`slack_side`]: what an HTTP-mode test needs to play Slack's side (request signing, a
//!   blocking HTTP client); [`payloads`]: what Slack pushes, in the shapes Slack documents.
//!
//! Every method is synchronous so plain `#[test]` functions can use it: the fake owns a small
//! tokio runtime of its own, and the tests observe its state through a mutex and a condvar.
//! A message the fake refused for its Block Kit fails the test when the fake is dropped,
//! unless the test took it with [`FakeSlack::take_block_kit_refusals`]: a bot whose message
//! Slack refuses has failed, even when nothing waited for that message.
//!
//! Nothing here comes from the bot's own crate (only the encodings table, a data file), so a
//! bug there cannot hide itself by agreeing with the fake.

pub mod block_kit;
pub mod contract;
pub mod payloads;
pub mod shared_files;
pub mod slack_side;
pub mod socket_mode;
pub mod web_api;

// What the tests of the bot use, at the fake's top level; the rest is in each part.
pub use payloads::{app_mention_payload, slash_command_form, slash_command_payload};
pub use slack_side::{get, post_form, slack_signature};

use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The workspace every payload comes from.
pub const TEAM_ID: &str = "T0FAKE";
pub const TEAM_DOMAIN: &str = "fake-team";
pub const APP_ID: &str = "A0FAKE";
/// Who the bot is in this workspace: an app mention's text starts with `<@U0FAKEBOT>`.
pub const BOT_USER_ID: &str = "U0FAKEBOT";
pub const BOT_ID: &str = "B0FAKEBOT";
/// The deprecated verification token Slack still puts in payloads; the bot must not rely on it.
pub const VERIFICATION_TOKEN: &str = "fake-verification-token";

/// One Web API call as the fake received it.
#[derive(Debug, Clone)]
pub struct ApiCall {
    pub method: String,
    /// The arguments as Slack reads them: query-string and form fields as strings, and a JSON
    /// body's members only when the method reads JSON (a body it does not read adds nothing).
    pub params: Value,
    /// The `Authorization` header.
    pub auth: Option<String>,
    /// The HTTP status the fake answered.
    pub status: u16,
    pub at: Instant,
    /// `GET` or `POST`.
    pub http_method: String,
    /// The request's `Content-Type`, empty when it had none.
    pub content_type: String,
    /// The body as sent (lossily UTF-8), whether Slack reads it or not.
    pub body: String,
    /// The `error` the fake answered (`None` for `ok: true` and for non-JSON answers).
    pub error: Option<String>,
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
    /// Web API requests are accepted and never answered.
    hung: bool,
    /// The connection last told to disconnect, until it is closed.
    announced: Option<usize>,
    /// Channels the bot is not a member of: posting there answers `not_in_channel`.
    outside_channels: std::collections::HashSet<String>,
    messages: Vec<SlackMessage>,
    ephemerals: Vec<Value>,
    files: Vec<ExternalFile>,
    /// Files people shared in channels, and every request for their bytes.
    shared_files: Vec<shared_files::SharedFile>,
    downloads: Vec<shared_files::Download>,
    usergroups: HashMap<String, Vec<String>>,
    issued_ts: u64,
    issued_tickets: u64,
    socket_connections: usize,
    /// Oldest first; slack-morphism keeps two connections open by default.
    live_sockets: Vec<LiveSocket>,
    envelopes_sent: HashMap<String, Instant>,
    frames_from_bot: Vec<BotFrame>,
    /// Messages refused for their Block Kit or length (any method, acks, response_urls),
    /// each as `where: answer, what was sent`; not yet taken by the test.
    block_kit_refusals: Vec<String>,
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
            runtime.spawn(web_api::serve_web_api(http_listener, shared.clone()));
            runtime.spawn(socket_mode::serve_sockets(ws_listener, shared.clone()));
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

    /// The bot is not (or no longer) a member of `channel`: its posts there are refused with
    /// `not_in_channel`, as Slack refuses them. A direct message (`channel` = a user id) is
    /// always accepted.
    pub fn remove_bot_from(&self, channel: &str) {
        self.shared
            .mutate(|state| state.outside_channels.insert(channel.to_owned()));
    }

    /// While on, the Web API accepts every request and never answers it (response URLs,
    /// uploads and Socket Mode keep working).
    pub fn set_hung(&self, on: bool) {
        self.shared.mutate(|state| state.hung = on);
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
        let mut payload =
            payloads::block_action_payload(user, channel, message_ts, action_id, value);
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
            payloads::next_serial()
        );
        self.send_envelope_with_id(kind, payload, &envelope_id, 0)
    }

    /// [`FakeSlack::send_envelope`] with a chosen id; `retry_attempt` > 0 is Slack delivering
    /// the same envelope again because it saw no ack.
    pub fn send_envelope_with_id(
        &self,
        kind: &str,
        payload: Value,
        envelope_id: &str,
        retry_attempt: u32,
    ) -> String {
        let envelope_id = envelope_id.to_string();
        let mut envelope = json!({
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "payload": payload,
        });
        if kind == "events_api" {
            envelope["retry_attempt"] = json!(retry_attempt);
            envelope["retry_reason"] = json!(if retry_attempt > 0 { "timeout" } else { "" });
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

    /// How many frames the bot sent back for `envelope_id` (one per delivery of it).
    pub fn acks_for(&self, envelope_id: &str) -> usize {
        self.shared
            .state()
            .frames_from_bot
            .iter()
            .filter(|frame| frame.frame["envelope_id"] == envelope_id)
            .count()
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
        self.announce_disconnect("refresh_requested");
        self.close_announced_socket();
    }

    /// What Slack does first when it recycles a connection: a `disconnect` frame with `reason`
    /// (`refresh_requested`, `warning`, `link_disabled`) on the most recent connection, which
    /// stays open (envelopes may still go there) until [`FakeSlack::close_announced_socket`].
    pub fn announce_disconnect(&self, reason: &str) {
        let mut state = self.shared.state();
        if let Some(connection) = state.live_sockets.last().map(|socket| socket.connection) {
            let disconnect = json!({
                "type": "disconnect",
                "reason": reason,
                "debug_info": {"host": "fake-slack"},
            });
            if let Some(socket) = state.live_sockets.last() {
                let _ = socket.outbox.send(Outgoing::Frame(disconnect.to_string()));
            }
            state.announced = Some(connection);
        }
    }

    /// Envelopes from now on go to the connection that was told to disconnect (as Slack may
    /// still deliver there until it closes it), if it is still open.
    pub fn send_envelope_to_announced(&self, kind: &str, payload: Value) -> String {
        let envelope_id = format!(
            "{:08x}-fa4e-4e57-8001-{:012x}",
            std::process::id(),
            payloads::next_serial()
        );
        let envelope = json!({
            "envelope_id": envelope_id,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "payload": payload,
        });
        let mut state = self.shared.state();
        state
            .envelopes_sent
            .insert(envelope_id.clone(), Instant::now());
        let announced = state.announced;
        let socket = state
            .live_sockets
            .iter()
            .find(|socket| Some(socket.connection) == announced)
            .expect("the announced connection is still open");
        let _ = socket.outbox.send(Outgoing::Frame(envelope.to_string()));
        envelope_id
    }

    /// Closes the connection told to disconnect, as Slack does a few seconds later.
    pub fn close_announced_socket(&self) {
        let mut state = self.shared.state();
        let announced = state.announced.take();
        if let Some(socket) = state
            .live_sockets
            .iter()
            .find(|socket| Some(socket.connection) == announced)
        {
            let _ = socket.outbox.send(Outgoing::Close);
        }
    }

    /// The messages refused for their Block Kit or length so far (see [`block_kit`]), each as
    /// `where: Slack's answer, what was sent`; taking them tells the fake the test expected
    /// them, so dropping the fake does not fail the test for them.
    pub fn take_block_kit_refusals(&self) -> Vec<String> {
        std::mem::take(&mut self.shared.state().block_kit_refusals)
    }

    /// Everything the fake saw, for failure messages.
    pub fn dump(&self) -> String {
        let state = self.shared.state();
        let mut out = format!("--- {} Slack API calls ---\n", state.calls.len());
        for call in &state.calls {
            let _ = writeln!(
                out,
                "{:>4} {} {} {} (auth {:?}, {} {:?}, answered error {:?})",
                call.status,
                call.http_method,
                call.method,
                call.params,
                call.auth,
                call.content_type,
                call.body,
                call.error
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
            "--- {} Block Kit refusals ---",
            state.block_kit_refusals.len()
        );
        for refusal in &state.block_kit_refusals {
            let _ = writeln!(out, "{refusal}");
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
        let refusals = std::mem::take(&mut self.shared.state().block_kit_refusals);
        // A second panic while one unwinds would abort the whole test binary.
        if !refusals.is_empty() && !std::thread::panicking() {
            panic!(
                "the fake Slack refused {} message(s) for their Block Kit or length:\n{}",
                refusals.len(),
                refusals.join("\n")
            );
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

/// What the self-tests beside each part share.
mod test_support {
    use super::FakeSlack;
    use std::time::Duration;

    pub const WAIT: Duration = Duration::from_secs(10);

    pub fn bearer(token: &str) -> Vec<(&'static str, String)> {
        vec![("Authorization", format!("Bearer {token}"))]
    }

    /// slack-morphism's own client, over plain HTTP, the way the bot reaches the fake.
    pub fn slack_morphism_client(
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

    pub fn slack_token(token: &str) -> slack_morphism::prelude::SlackApiToken {
        use slack_morphism::prelude::*;
        SlackApiToken::new(SlackApiTokenValue::new(token.to_owned()))
    }
}
