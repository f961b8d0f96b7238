//! The fake's Web API on `http://127.0.0.1:PORT/api/{method}`, as strict as Slack:
//! - arguments come from the query string and a form body on any verb, and from a JSON body
//!   only for the methods that read JSON ([`super::contract`]); a JSON body sent to any other
//!   method gives it no arguments, so it answers as Slack does when they are missing;
//! - a method Slack does not have is `unknown_method`; a body Slack cannot read is
//!   `invalid_json`, `json_not_object`, `invalid_form_data`, `missing_post_type` or
//!   `invalid_post_type`; no token is `not_authed`, the wrong kind of token `invalid_auth`;
//! - messages are checked against Block Kit ([`super::block_kit`]) before they are taken;
//! - failure injection (429 + `Retry-After`, 500, outages) comes before all of that.
//!
//! Also served here: the upload URLs `files.getUploadURLExternal` hands out, the download URLs
//! of shared files ([`super::shared_files`]) and the `response_url`s of the payloads (recorded
//! as calls named `response_url`).

mod messages_tests;
mod refusals_tests;
pub(crate) mod reply;

use super::block_kit::{self, Refusal};
use super::contract;
use super::{
    ApiCall, ExternalFile, Failure, FakeState, Shared, SlackMessage, BOT_ID, BOT_USER_ID,
    TEAM_DOMAIN, TEAM_ID,
};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use reply::Reply;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Instant;
use url::form_urlencoded;

/// What the fake answers for a method Slack has but the fake does not implement: honest
/// about being a fake rather than pretending to be Slack.
pub const NOT_IMPLEMENTED: &str = "fake_slack_does_not_implement_this_method";
/// The fake does not parse multipart bodies (the bot sends none).
pub const MULTIPART_NOT_READ: &str = "fake_slack_does_not_read_multipart";

pub(super) async fn serve_web_api(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let app = Router::new()
        .route("/api/{method}", any(web_api_call))
        .route("/upload/{file_id}", post(upload_file_content))
        .route("/files-pri/{*rest}", get(super::shared_files::download))
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
    if shared.state().hung {
        // Accepts the connection and never answers, like a Slack whose API hangs.
        std::future::pending::<()>().await;
    }
    let received = Received::read(
        contract::reads_json(&method),
        &http_method,
        &uri,
        &headers,
        &body,
    );
    record_and_answer(&shared, method, received)
}

/// A `response_url` takes a JSON message, as Slack's do.
async fn response_url_call(
    State(shared): State<Arc<Shared>>,
    http_method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = Received::read(true, &http_method, &uri, &headers, &body);
    record_and_answer(&shared, "response_url".to_owned(), received)
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

/// One request as it arrived, and the arguments Slack reads from it.
struct Received {
    http_method: String,
    content_type: String,
    body: String,
    auth: Option<String>,
    /// The query string, then a form body, or a JSON body when the method reads JSON.
    params: Value,
    /// A `token` argument from the query string or a form body (never from JSON: Slack takes
    /// a JSON caller's token from the `Authorization` header only).
    token_argument: Option<String>,
    /// Why Slack would not read the body at all.
    unreadable: Option<&'static str>,
}

impl Received {
    fn read(
        reads_json: bool,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Self {
        let header_text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header_text(header::CONTENT_TYPE).unwrap_or_default();
        let mut params = Map::new();
        let mut unreadable = None;
        if let Some(query) = uri.query() {
            insert_form_fields(&mut params, query.as_bytes());
        }
        let mut json_fields = None;
        // Slack reads no body on a GET.
        if *method == Method::POST && !body.is_empty() {
            let media_type = content_type
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            match media_type.as_str() {
                "application/x-www-form-urlencoded" => match std::str::from_utf8(body) {
                    Ok(_) => insert_form_fields(&mut params, body),
                    Err(_) => unreadable = Some("invalid_form_data"),
                },
                "application/json" if reads_json => match serde_json::from_slice::<Value>(body) {
                    Ok(Value::Object(fields)) => json_fields = Some(fields),
                    Ok(_) => unreadable = Some("json_not_object"),
                    Err(_) => unreadable = Some("invalid_json"),
                },
                // A method that does not read JSON sees no arguments in a JSON body, and
                // Slack reads nothing from a text/plain one.
                "application/json" | "text/plain" => {}
                "multipart/form-data" => unreadable = Some(MULTIPART_NOT_READ),
                "" => unreadable = Some("missing_post_type"),
                _ => unreadable = Some("invalid_post_type"),
            }
        }
        let token_argument = params
            .get("token")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(fields) = json_fields {
            params.extend(fields);
        }
        Received {
            http_method: method.to_string(),
            content_type,
            body: String::from_utf8_lossy(body).into_owned(),
            auth: header_text(header::AUTHORIZATION),
            params: Value::Object(params),
            token_argument,
            unreadable,
        }
    }
}

fn record_and_answer(shared: &Shared, method: String, received: Received) -> Response {
    let at = Instant::now();
    let reply = shared.mutate(|state| {
        let reply = state.answer(shared, &method, &received);
        let error = serde_json::from_str::<Value>(&reply.body)
            .ok()
            .and_then(|answer| {
                answer
                    .get("error")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        state.calls.push(ApiCall {
            method,
            params: received.params,
            auth: received.auth,
            status: reply.status,
            at,
            http_method: received.http_method,
            content_type: received.content_type,
            body: received.body,
            error,
        });
        reply
    });
    reply.into_response()
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

/// A structured parameter (`files`): a form carries it as JSON text.
fn json_param(params: &Value, key: &str) -> Option<Value> {
    match params.get(key)? {
        Value::String(text) => serde_json::from_str(text).ok(),
        value => Some(value.clone()),
    }
}

/// `invalid_arguments` naming each required argument that is absent, the way Slack's newer
/// argument validation reports them.
fn missing_arguments(params: &Value, required: &[&str]) -> Option<Reply> {
    let missing: Vec<String> = required
        .iter()
        .filter(|key| params.get(**key).is_none())
        .map(|key| format!("[ERROR] missing required field: {key}"))
        .collect();
    (!missing.is_empty()).then(|| {
        Reply::refusal(&Refusal {
            error: "invalid_arguments",
            messages: missing,
        })
    })
}

impl FakeState {
    fn answer(&mut self, shared: &Shared, method: &str, received: &Received) -> Reply {
        if self.outage {
            return Reply::server_error();
        }
        if let Some(failure) = self.take_failure(method) {
            return match failure {
                Failure::RateLimited { retry_after_secs } => Reply::rate_limited(retry_after_secs),
                Failure::ServerError => Reply::server_error(),
            };
        }
        let is_response_url = method == "response_url";
        if !is_response_url && contract::encodings(method).is_none() {
            return Reply::json(
                200,
                json!({"ok": false, "error": "unknown_method", "req_method": method}),
            );
        }
        if let Some(error) = received.unreadable {
            return Reply::error(error);
        }
        // A response_url is authorised by its secret path, not by a token.
        if !is_response_url {
            if let Some(error) = token_refusal(method, received) {
                return Reply::error(error);
            }
        }
        let params = &received.params;
        // A channel the bot is not a member of refuses its messages, as Slack does.
        let outside = |key: &str| {
            text_param(params, key).is_some_and(|channel| self.outside_channels.contains(&channel))
        };
        let posts_to_channel = matches!(
            method,
            "chat.postMessage" | "chat.update" | "chat.postEphemeral"
        );
        if (posts_to_channel && outside("channel"))
            || (method == "files.completeUploadExternal" && outside("channel_id"))
        {
            return Reply::error("not_in_channel");
        }
        let reply = match method {
            "chat.postMessage" => self.post_message(params),
            "chat.update" => self.update_message(params),
            "chat.postEphemeral" => self.post_ephemeral(params),
            "files.getUploadURLExternal" => self.issue_upload_url(shared, params),
            "files.completeUploadExternal" => self.complete_upload(params),
            "usergroups.users.list" => self.list_usergroup_users(params),
            "files.info" => self.file_info(shared, params),
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
            "response_url" => match block_kit::check_response_payload(params) {
                Ok(()) => Reply::ok(json!({})),
                Err(refusal) => Reply::refusal(&refusal),
            },
            _ => Reply::error(NOT_IMPLEMENTED),
        };
        if reply.block_kit_refusal {
            self.block_kit_refusals
                .push(format!("{method}: {} {params}", reply.body));
        }
        reply
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
        // An absent channel and an unknown one read the same to Slack.
        let Some(channel) = text_param(params, "channel").filter(|channel| !channel.is_empty())
        else {
            return Reply::error("channel_not_found");
        };
        let text = text_param(params, "text").unwrap_or_default();
        let blocks = match checked_blocks(params, &text) {
            Ok(blocks) => blocks,
            Err(reply) => return reply,
        };
        let ts = self.next_ts();
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
        let Some(channel) = text_param(params, "channel").filter(|channel| !channel.is_empty())
        else {
            return Reply::error("channel_not_found");
        };
        let ts = text_param(params, "ts").unwrap_or_default();
        let Some(index) = self
            .messages
            .iter()
            .position(|message| message.channel == channel && message.ts == ts)
        else {
            return Reply::error("message_not_found");
        };
        let text = text_param(params, "text");
        let blocks = match params.get("blocks") {
            None => None,
            Some(_) => match checked_blocks(params, text.as_deref().unwrap_or_default()) {
                Ok(blocks) => Some(blocks),
                Err(reply) => return reply,
            },
        };
        if text.is_none() && blocks.is_none() {
            return Reply::error("no_text");
        }
        if let Some(text) = &text {
            if let Err(refusal) = block_kit::check_message(Some(text), None) {
                return Reply::refusal(&refusal);
            }
        }
        let message = &mut self.messages[index];
        // Like Slack, a field left out keeps its old value.
        if let Some(text) = text {
            message.text = text;
        }
        if let Some(blocks) = blocks {
            message.blocks = blocks;
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
        let text = text_param(params, "text").unwrap_or_default();
        let blocks = match checked_blocks(params, &text) {
            Ok(blocks) => blocks,
            Err(reply) => return reply,
        };
        let mut taken = params.clone();
        // Kept as Slack read them: blocks parsed even when a form carried them as text.
        taken["blocks"] = blocks;
        self.ephemerals.push(taken);
        let message_ts = self.next_ts();
        Reply::ok(json!({"message_ts": message_ts}))
    }

    fn issue_upload_url(&mut self, shared: &Shared, params: &Value) -> Reply {
        if let Some(missing) = missing_arguments(params, &["filename", "length"]) {
            return missing;
        }
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
        if let Some(missing) = missing_arguments(params, &["files"]) {
            return missing;
        }
        let Some(Value::Array(entries)) = json_param(params, "files") else {
            return Reply::refusal(&Refusal {
                error: "invalid_arguments",
                messages: vec!["[ERROR] files must be a JSON array of {id, title}".into()],
            });
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
        if let Some(missing) = missing_arguments(params, &["usergroup"]) {
            return missing;
        }
        let group = text_param(params, "usergroup").unwrap_or_default();
        match self.usergroups.get(&group) {
            Some(users) => Reply::ok(json!({"users": users})),
            None => Reply::error("no_such_subteam"),
        }
    }
}

/// A message's blocks checked as Slack checks them (with its top-level text), parsed when a
/// form carried them as JSON text; `Null` when there are none. `no_text` when the message has
/// neither text nor blocks.
fn checked_blocks(params: &Value, text: &str) -> Result<Value, Reply> {
    if let Err(refusal) = block_kit::check_message(Some(text), params.get("blocks")) {
        return Err(Reply::refusal(&refusal));
    }
    let blocks = block_kit::blocks_argument(params.get("blocks"))
        .ok()
        .flatten()
        .unwrap_or(Value::Null);
    let no_blocks = blocks.as_array().is_none_or(Vec::is_empty);
    if text.is_empty() && no_blocks && params.get("attachments").is_none() {
        return Err(Reply::error("no_text"));
    }
    Ok(blocks)
}

/// `apps.connections.open` takes the app-level token, every other method the bot token.
/// `None` when the call is authorised, else Slack's error.
fn token_refusal(method: &str, received: &Received) -> Option<&'static str> {
    let required_prefix = if method == "apps.connections.open" {
        "xapp-"
    } else {
        "xoxb-"
    };
    // Slack also takes the token as a query or form argument, the way old clients send it.
    let token = match &received.auth {
        Some(auth) => auth.strip_prefix("Bearer ").map(str::to_owned),
        None => received.token_argument.clone(),
    };
    match token {
        None => Some("not_authed"),
        Some(token)
            if token.starts_with(required_prefix) && token.len() > required_prefix.len() =>
        {
            None
        }
        Some(_) => Some("invalid_auth"),
    }
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
