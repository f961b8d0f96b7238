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
//! Also served here: the upload URLs `files.getUploadURLExternal` hands out and the
//! `response_url`s of the payloads (recorded as calls named `response_url`).

use super::block_kit::{self, Refusal};
use super::contract;
use super::{
    ApiCall, ExternalFile, Failure, FakeState, Shared, SlackMessage, BOT_ID, BOT_USER_ID,
    TEAM_DOMAIN, TEAM_ID,
};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{any, post};
use axum::Router;
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

struct Reply {
    status: u16,
    retry_after_secs: Option<u64>,
    content_type: &'static str,
    body: String,
    /// A message refused for its Block Kit or length, recorded for the test to see.
    block_kit_refusal: bool,
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

    fn refusal(refusal: &Refusal) -> Reply {
        Reply {
            block_kit_refusal: matches!(
                refusal.error,
                "invalid_blocks" | "invalid_blocks_format" | "msg_too_long"
            ),
            ..Reply::json(200, refusal.answer())
        }
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
            block_kit_refusal: false,
        }
    }

    fn text(status: u16, body: String) -> Reply {
        Reply {
            status,
            retry_after_secs: None,
            content_type: "text/plain; charset=utf-8",
            body,
            block_kit_refusal: false,
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
// Self-tests

use super::slack_side::{get, http_request, post_form, post_json};
use super::test_support::{bearer, slack_morphism_client, slack_token, WAIT};
use super::FakeSlack;
use std::time::Duration;

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
    assert!(body.contains("not_authed"), "a GET without a token: {body}");
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
    let (_, body) = post_form(
        &format!("{}/files.completeUploadExternal", slack.api_url()),
        &bearer("xoxb-test"),
        &form(&[
            ("files", r#"[{"id":"F0001","title":"plan"}]"#),
            ("channel_id", "C0LOAD"),
        ]),
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
        // slack-morphism sends this method as JSON, which the method does not read: no
        // `files`, as Slack answers it. The form body Slack's SDK sends completes it.
        let as_json = session
            .files_complete_upload_external(
                &SlackApiFilesCompleteUploadExternalRequest::new(vec![SlackApiFilesComplete::new(
                    upload.file_id.clone(),
                )
                .with_title("plan".to_owned())])
                .with_channel_id(channel.clone())
                .with_thread_ts(posted.ts.clone())
                .with_initial_comment("the plan".to_owned()),
            )
            .await;
        match as_json {
            Err(slack_morphism::errors::SlackClientError::ApiError(error)) => {
                assert_eq!(error.code, "invalid_arguments")
            }
            other => panic!("a JSON files.completeUploadExternal: {other:?}"),
        }
        let files = json!([{"id": upload.file_id.0, "title": "plan"}]).to_string();
        let (_, body) = post_form(
            &format!("{}/files.completeUploadExternal", slack.api_url()),
            &bearer("xoxb-test"),
            &form(&[
                ("files", &files),
                ("channel_id", &channel.0),
                ("thread_ts", &posted.ts.0),
                ("initial_comment", "the plan"),
            ]),
        );
        let completed: SlackApiFilesCompleteUploadExternalResponse = serde_json::from_str(&body)
            .unwrap_or_else(|error| panic!("slack-morphism cannot read {body}: {error}"));
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

/// A form body of `fields`, the way Slack's SDK encodes one.
fn form(fields: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields {
        form.append_pair(key, value);
    }
    form.finish()
}

fn answer_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("not JSON ({error}): {body}"))
}

#[test]
fn fake_slack_refuses_a_json_usergroups_users_list_as_slack_does() {
    let slack = FakeSlack::start();
    slack.set_usergroup("S0OPS", &["U0CAROL"]);
    let url = format!("{}/usergroups.users.list", slack.api_url());

    // The method does not read JSON: the call arrives without its `usergroup`.
    let (status, body) = post_json(&url, &bearer("xoxb-test"), &json!({"usergroup": "S0OPS"}));
    assert_eq!(status, 200);
    assert_eq!(
        answer_of(&body),
        json!({"ok": false, "error": "invalid_arguments", "response_metadata": {"messages": [
            "[ERROR] missing required field: usergroup"
        ]}})
    );
    let refused = &slack.calls_to("usergroups.users.list")[0];
    assert_eq!(refused.params, json!({}), "nothing read from the JSON body");
    assert_eq!(refused.http_method, "POST");
    assert!(refused.body.contains("S0OPS"), "{}", refused.body);
    assert_eq!(refused.error.as_deref(), Some("invalid_arguments"));

    // As the table says (GET, query string), and as a form, which Slack reads too.
    let reply = http_request(
        "GET",
        &format!("{url}?usergroup=S0OPS"),
        &bearer("xoxb-test"),
        "",
    );
    assert_eq!(answer_of(&reply.body)["users"], json!(["U0CAROL"]));
    let (_, body) = post_form(&url, &bearer("xoxb-test"), "usergroup=S0OPS");
    assert_eq!(answer_of(&body)["users"], json!(["U0CAROL"]));
    // A body on a GET is not read either.
    let mut headers = bearer("xoxb-test");
    headers.push((
        "Content-Type",
        "application/x-www-form-urlencoded".to_owned(),
    ));
    let reply = http_request("GET", &url, &headers, "usergroup=S0OPS");
    assert_eq!(answer_of(&reply.body)["error"], "invalid_arguments");
}

/// What the bot sends each method it calls, set up on `slack` so the call can succeed (a
/// message to update, an upload slot to complete). Panics for a method it does not know: a
/// method the bot starts calling needs its case here.
fn bot_call_arguments(slack: &FakeSlack, method: &str) -> Value {
    match method {
        "chat.postMessage" => json!({
            "channel": "C0LOAD",
            "text": "scaling up",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*up*"}}],
            "unfurl_links": false,
        }),
        "chat.update" => {
            let (_, body) = post_json(
                &format!("{}/chat.postMessage", slack.api_url()),
                &bearer("xoxb-test"),
                &json!({"channel": "C0LOAD", "text": "scaling up"}),
            );
            json!({
                "channel": "C0LOAD",
                "ts": answer_of(&body)["ts"],
                "text": "scaled up",
                "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "done"}}],
            })
        }
        "chat.postEphemeral" => json!({
            "channel": "C0LOAD",
            "user": "U0CAROL",
            "text": "only you",
            "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "_quiet_"}]}],
        }),
        "files.getUploadURLExternal" => json!({"filename": "run-7.log", "length": 5}),
        "files.completeUploadExternal" => {
            let reply = http_request(
                "GET",
                &format!(
                    "{}/files.getUploadURLExternal?filename=run-7.log&length=5",
                    slack.api_url()
                ),
                &bearer("xoxb-test"),
                "",
            );
            json!({
                "files": [{"id": answer_of(&reply.body)["file_id"], "title": "run 7 log"}],
                "channel_id": "C0LOAD",
                "thread_ts": "1700000000.000100",
            })
        }
        "usergroups.users.list" => json!({"usergroup": "S0OPS"}),
        other => panic!("no sample arguments for {other}: add the bot's new method here"),
    }
}

/// `arguments` as text fields: strings as they are, anything else as JSON text.
fn text_fields(arguments: &Value) -> Vec<(String, String)> {
    arguments
        .as_object()
        .expect("arguments are an object")
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (key.clone(), text)
        })
        .collect()
}

/// Sends `arguments` to `method` encoded as `encoding`; the answer as JSON.
fn send_encoded(
    slack: &FakeSlack,
    method: &str,
    encoding: contract::Encoding,
    arguments: &Value,
) -> Value {
    let url = format!("{}/{method}", slack.api_url());
    let fields = text_fields(arguments);
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    let body = match encoding {
        contract::Encoding::Json => post_json(&url, &bearer("xoxb-test"), arguments).1,
        contract::Encoding::Form => post_form(&url, &bearer("xoxb-test"), &form(&pairs)).1,
        contract::Encoding::Query => {
            http_request(
                "GET",
                &format!("{url}?{}", form(&pairs)),
                &bearer("xoxb-test"),
                "",
            )
            .body
        }
        contract::Encoding::Multipart => panic!("{method}: the bot sends no multipart bodies"),
    };
    answer_of(&body)
}

/// Every method the bot calls (its own list, so a method it starts calling is covered
/// here), sent in every encoding the table lists for it, is answered `ok`; sent as JSON
/// when the table does not list JSON, it is refused.
#[test]
fn fake_slack_answers_every_method_the_bot_uses_sent_as_the_table_says() {
    let mut tried = Vec::new();
    for method in loadtest_bot::slack::methods::METHODS_THE_BOT_CALLS {
        let encodings = contract::encodings(method)
            .unwrap_or_else(|| panic!("{method} is not in the encodings table"));
        for encoding in encodings {
            let slack = FakeSlack::start();
            slack.set_usergroup("S0OPS", &["U0CAROL"]);
            let arguments = bot_call_arguments(&slack, method);
            let answer = send_encoded(&slack, method, *encoding, &arguments);
            assert_eq!(
                answer["ok"],
                true,
                "{method} as {encoding:?}: {answer}\n{}",
                slack.dump()
            );
            tried.push(format!("{method} {encoding:?}"));
        }
        if !contract::reads_json(method) {
            let slack = FakeSlack::start();
            slack.set_usergroup("S0OPS", &["U0CAROL"]);
            let arguments = bot_call_arguments(&slack, method);
            let answer = send_encoded(&slack, method, contract::Encoding::Json, &arguments);
            assert_eq!(answer["ok"], false, "{method} as JSON: {answer}");
            assert_eq!(answer["error"], "invalid_arguments", "{method}: {answer}");
        }
    }
    assert_eq!(
        tried,
        [
            "chat.postMessage Json",
            "chat.update Json",
            "chat.postEphemeral Json",
            "files.getUploadURLExternal Form",
            "files.completeUploadExternal Form",
            "usergroups.users.list Query",
        ]
    );
}

#[test]
fn fake_slack_refuses_unknown_methods_unreadable_bodies_and_missing_arguments() {
    const JSON: &str = "application/json; charset=utf-8";
    const FORM: &str = "application/x-www-form-urlencoded";
    // (method, content type, body, bot token in the header?, the error or "ok")
    let cases = [
        (
            "chat.postMesage",
            JSON,
            r#"{"channel":"C0LOAD","text":"hi"}"#,
            true,
            "unknown_method",
        ),
        (
            "chat.postMessage",
            JSON,
            r#"{"channel":"C0LOAD","#,
            true,
            "invalid_json",
        ),
        ("chat.postMessage", JSON, "[1, 2]", true, "json_not_object"),
        (
            "chat.postMessage",
            "application/xml",
            "<text>hi</text>",
            true,
            "invalid_post_type",
        ),
        (
            "chat.postMessage",
            "",
            "channel=C0LOAD&text=hi",
            true,
            "missing_post_type",
        ),
        (
            "chat.postMessage",
            "multipart/form-data; boundary=x",
            "--x--",
            true,
            MULTIPART_NOT_READ,
        ),
        (
            "chat.postMessage",
            FORM,
            "channel=C0LOAD&text=hi",
            false,
            "not_authed",
        ),
        (
            "chat.postMessage",
            FORM,
            "token=xoxb-form&channel=C0LOAD&text=hi",
            false,
            "ok",
        ),
        // A JSON caller's token must come in the header.
        (
            "chat.postMessage",
            JSON,
            r#"{"token":"xoxb-x","channel":"C0LOAD","text":"hi"}"#,
            false,
            "not_authed",
        ),
        (
            "chat.postMessage",
            JSON,
            r#"{"text":"hi"}"#,
            true,
            "channel_not_found",
        ),
        (
            "chat.postMessage",
            JSON,
            r#"{"channel":"C0LOAD"}"#,
            true,
            "no_text",
        ),
        (
            "chat.postMessage",
            FORM,
            "channel=C0LOAD&text=hi&blocks=%5B%7B",
            true,
            "invalid_blocks_format",
        ),
        (
            "chat.update",
            JSON,
            r#"{"channel":"C0LOAD","ts":"1.000000","text":"?"}"#,
            true,
            "message_not_found",
        ),
        (
            "chat.postEphemeral",
            JSON,
            r#"{"channel":"C0LOAD","text":"x"}"#,
            true,
            "user_not_in_channel",
        ),
        (
            "files.getUploadURLExternal",
            JSON,
            r#"{"filename":"a.log","length":1}"#,
            true,
            "invalid_arguments",
        ),
        (
            "files.getUploadURLExternal",
            FORM,
            "filename=a.log&length=many",
            true,
            "invalid_arguments",
        ),
        (
            "files.completeUploadExternal",
            FORM,
            "files=F0001",
            true,
            "invalid_arguments",
        ),
        (
            "files.completeUploadExternal",
            FORM,
            "files=%5B%7B%22id%22%3A%22F9%22%7D%5D",
            true,
            "file_not_found",
        ),
        (
            "usergroups.users.list",
            FORM,
            "usergroup=S0NONE",
            true,
            "no_such_subteam",
        ),
        (
            "conversations.history",
            FORM,
            "channel=C0LOAD",
            true,
            NOT_IMPLEMENTED,
        ),
    ];
    let slack = FakeSlack::start();
    slack.set_usergroup("S0OPS", &["U0CAROL"]);
    let mut failures = Vec::new();
    for (method, content_type, body, with_token, expected) in cases {
        let mut headers = Vec::new();
        if !content_type.is_empty() {
            headers.push(("Content-Type", content_type.to_owned()));
        }
        if with_token {
            headers.extend(bearer("xoxb-test"));
        }
        let reply = http_request(
            "POST",
            &format!("{}/{method}", slack.api_url()),
            &headers,
            body,
        );
        let answer = answer_of(&reply.body);
        let got = if answer["ok"] == true {
            "ok"
        } else {
            answer["error"].as_str().unwrap_or("(no error)")
        };
        if reply.status != 200 || got != expected {
            failures.push(format!(
                "{method} {content_type} {body}: expected {expected}, got {} {}",
                reply.status, reply.body
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        answer_of(&get(&format!("{}/nothing.here", slack.api_url())).1)["req_method"],
        "nothing.here"
    );
    assert_eq!(
        slack.messages("C0LOAD").len(),
        1,
        "only the form post with its token"
    );
    assert!(
        slack.take_block_kit_refusals().len() == 1,
        "the unreadable blocks"
    );
}

#[test]
fn fake_slack_refuses_invalid_block_kit_as_slack_does() {
    let slack = FakeSlack::start();
    let post = |body: Value| {
        answer_of(
            &post_json(
                &format!("{}/chat.postMessage", slack.api_url()),
                &bearer("xoxb-test"),
                &body,
            )
            .1,
        )
    };
    let answer = post(json!({
        "channel": "C0LOAD",
        "text": "plan",
        "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "*plan*"}}],
    }));
    assert_eq!(
        answer,
        json!({"ok": false, "error": "invalid_blocks", "response_metadata": {"messages": [
            "[ERROR] must be a plain_text text object, not mrkdwn [json-pointer:/blocks/0/text/type]"
        ]}})
    );
    let answer = post(json!({"channel": "C0LOAD", "text": "x".repeat(40_001)}));
    assert_eq!(answer["error"], "msg_too_long");
    assert!(slack.messages("C0LOAD").is_empty(), "{}", slack.dump());

    // Blocks as JSON text in a form are read and kept as blocks.
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*up*"}}]);
    let (_, body) = post_form(
        &format!("{}/chat.postMessage", slack.api_url()),
        &bearer("xoxb-test"),
        &form(&[
            ("channel", "C0LOAD"),
            ("text", "up"),
            ("blocks", &blocks.to_string()),
        ]),
    );
    let ts = answer_of(&body)["ts"].as_str().expect("posted").to_owned();
    assert_eq!(slack.messages("C0LOAD")[0].blocks, blocks);

    let divider = json!({"type": "divider"});
    let (_, body) = post_json(
        &format!("{}/chat.update", slack.api_url()),
        &bearer("xoxb-test"),
        &json!({"channel": "C0LOAD", "ts": ts, "text": "x", "blocks": vec![divider; 51]}),
    );
    assert_eq!(answer_of(&body)["error"], "invalid_blocks");
    assert_eq!(slack.messages("C0LOAD")[0].blocks, blocks, "left as it was");
    assert_eq!(slack.messages("C0LOAD")[0].updates, 0);

    let response_url =
        crate::support::fake_slack::payloads::slash_command_payload("U0CAROL", "C0LOAD", "status")
            ["response_url"]
            .as_str()
            .expect("a response_url")
            .to_owned();
    let (status, body) = post_json(
        &response_url,
        &[],
        &json!({"text": "x", "blocks": [{"type": "section"}]}),
    );
    assert_eq!(status, 200);
    assert_eq!(answer_of(&body)["error"], "invalid_blocks");

    let refusals = slack.take_block_kit_refusals();
    assert_eq!(refusals.len(), 4, "{refusals:#?}");
    assert!(
        refusals[0].starts_with("chat.postMessage: "),
        "{}",
        refusals[0]
    );
    assert!(refusals[3].starts_with("response_url: "), "{}", refusals[3]);
    assert!(slack.take_block_kit_refusals().is_empty(), "taken once");
}

#[test]
fn fake_slack_fails_a_test_that_left_a_refusal_unseen() {
    let outcome = std::panic::catch_unwind(|| {
        let slack = FakeSlack::start();
        post_json(
            &format!("{}/chat.postMessage", slack.api_url()),
            &bearer("xoxb-test"),
            &json!({"channel": "C0LOAD", "text": "x", "blocks": [{"type": "banner"}]}),
        );
    });
    let panic = outcome.expect_err("dropping the fake fails the test");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("refused 1 message(s) for their Block Kit"),
        "{message}"
    );
    assert!(message.contains("unsupported type: banner"), "{message}");
}
