//! Decoders for what Slack sends the bot — slash commands, button clicks, `app_mention` events
//! and URL verification — from the HTTP-mode bodies (form or JSON) and from the Socket Mode
//! payloads, into a few small structs. Pure and total: any input gives a value or a
//! [`DecodeError`], never a panic (fuzzed in the test suite). Only the fields the bot uses
//! are read, and ids are checked for Slack's shape so nothing odd reaches the store.

use serde_json::Value;

/// Where a request comes from: its workspace and app, as Slack stamps them. `None` when the
/// payload does not say (older payload shapes); the front end decides what that means.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub team_id: Option<String>,
    pub api_app_id: Option<String>,
}

impl Origin {
    fn from_parts(team_id: Option<&str>, api_app_id: Option<&str>) -> Origin {
        let id = |text: Option<&str>| text.filter(|text| is_slack_id(text)).map(str::to_string);
        Origin {
            team_id: id(team_id),
            api_app_id: id(api_app_id),
        }
    }
}

/// A `/loadtest …` invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlashCommand {
    pub user: String,
    pub channel: String,
    /// What follows `/loadtest`.
    pub text: String,
    pub origin: Origin,
}

/// A click on one of our buttons.
#[derive(Clone, Debug, PartialEq)]
pub struct ButtonClick {
    pub user: String,
    pub channel: String,
    /// The `ts` of the message carrying the button.
    pub message_ts: String,
    pub action_id: String,
    pub value: String,
    /// The clicked message as Slack shows it, to rewrite it without its buttons.
    pub message_text: String,
    pub message_blocks: Vec<Value>,
    pub origin: Origin,
}

/// `@loadtest-bot status` in a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mention {
    pub user: String,
    pub channel: String,
    /// The text with the leading bot mention(s) removed.
    pub text: String,
    pub origin: Origin,
    /// Slack's id of the event; a retried delivery carries the same one.
    pub event_id: Option<String>,
}

/// A file shared in a channel (`file_shared`): only its id comes with the event; what it is
/// comes from `files.info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileShared {
    pub user: String,
    pub channel: String,
    pub file_id: String,
    pub origin: Origin,
    pub event_id: Option<String>,
}

/// What an Events API body asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventBody {
    UrlVerification {
        challenge: String,
    },
    Mention(Mention),
    FileShared(FileShared),
    /// Events the bot does not subscribe to or ignores (its own messages, edits…).
    Ignored,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the body is not valid {0}")]
    Syntax(&'static str),
    #[error("the field `{0}` is missing")]
    Missing(&'static str),
    #[error("the field `{field}` is not a Slack id: {value:?}")]
    BadId { field: &'static str, value: String },
}

/// The longest id we accept (Slack's are ~11 characters).
const MAX_ID_LEN: usize = 32;
/// The longest command text we pass on; the parser refuses long texts with a clear answer,
/// so this only bounds memory.
const MAX_TEXT_LEN: usize = 100_000;

/// A Slack id: an uppercase letter then uppercase letters and digits.
fn checked_id(field: &'static str, value: &str, first: &[char]) -> Result<String, DecodeError> {
    let mut chars = value.chars();
    let shaped = value.len() <= MAX_ID_LEN
        && chars.next().is_some_and(|c| first.contains(&c))
        && value.len() >= 2
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if shaped {
        Ok(value.to_string())
    } else {
        Err(DecodeError::BadId {
            field,
            value: value.chars().take(40).collect(),
        })
    }
}

/// Team, app and event ids (`T0123`, `A0456`, `Ev0789`): short and plain alphanumeric, so
/// nothing odd reaches a log or the store; anything else is treated as absent.
fn is_slack_id(text: &str) -> bool {
    (2..=MAX_ID_LEN).contains(&text.len()) && text.chars().all(|c| c.is_ascii_alphanumeric())
}

pub fn user_id(field: &'static str, value: &str) -> Result<String, DecodeError> {
    checked_id(field, value, &['U', 'W'])
}

pub fn channel_id(field: &'static str, value: &str) -> Result<String, DecodeError> {
    checked_id(field, value, &['C', 'G', 'D'])
}

fn bounded_text(text: &str) -> String {
    if text.len() <= MAX_TEXT_LEN {
        return text.to_string();
    }
    let mut end = MAX_TEXT_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

fn form_field(body: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A slash command from an HTTP-mode form body.
pub fn slash_command_from_form(body: &str) -> Result<SlashCommand, DecodeError> {
    let user = form_field(body, "user_id").ok_or(DecodeError::Missing("user_id"))?;
    let channel = form_field(body, "channel_id").ok_or(DecodeError::Missing("channel_id"))?;
    let text = form_field(body, "text").unwrap_or_default();
    let mut command = slash_command(&user, &channel, &text)?;
    command.origin = Origin::from_parts(
        form_field(body, "team_id").as_deref(),
        form_field(body, "api_app_id").as_deref(),
    );
    Ok(command)
}

/// A slash command from a Socket Mode envelope's payload (the form's fields, as JSON).
pub fn slash_command_from_json(payload: &Value) -> Result<SlashCommand, DecodeError> {
    let user = str_at(payload, "/user_id").ok_or(DecodeError::Missing("user_id"))?;
    let channel = str_at(payload, "/channel_id").ok_or(DecodeError::Missing("channel_id"))?;
    let text = str_at(payload, "/text").unwrap_or_default();
    let mut command = slash_command(user, channel, text)?;
    command.origin =
        Origin::from_parts(str_at(payload, "/team_id"), str_at(payload, "/api_app_id"));
    Ok(command)
}

/// Whether the form body is Slack's `ssl_check=1` probe of a command URL (nothing to do).
pub fn is_ssl_check(body: &str) -> bool {
    form_field(body, "ssl_check").as_deref() == Some("1")
}

/// A slash command from its parts (Socket Mode gives them typed).
pub fn slash_command(user: &str, channel: &str, text: &str) -> Result<SlashCommand, DecodeError> {
    Ok(SlashCommand {
        user: user_id("user_id", user)?,
        channel: channel_id("channel_id", channel)?,
        text: bounded_text(text),
        origin: Origin::default(),
    })
}

/// A button click from an HTTP-mode interaction body (`payload=<json>`). `Ok(None)` for
/// interactions that are not a click on a message button.
pub fn button_click_from_form(body: &str) -> Result<Option<ButtonClick>, DecodeError> {
    let payload = form_field(body, "payload").ok_or(DecodeError::Missing("payload"))?;
    let json: Value =
        serde_json::from_str(&payload).map_err(|_| DecodeError::Syntax("JSON in `payload`"))?;
    button_click(&json)
}

fn str_at<'a>(json: &'a Value, pointer: &str) -> Option<&'a str> {
    json.pointer(pointer).and_then(Value::as_str)
}

/// A button click from an interaction payload (`type: block_actions`).
pub fn button_click(json: &Value) -> Result<Option<ButtonClick>, DecodeError> {
    if str_at(json, "/type") != Some("block_actions") {
        return Ok(None);
    }
    let Some(action) = json
        .get("actions")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    else {
        return Ok(None);
    };
    let user = str_at(json, "/user/id").ok_or(DecodeError::Missing("user.id"))?;
    let channel = str_at(json, "/channel/id")
        .or_else(|| str_at(json, "/container/channel_id"))
        .ok_or(DecodeError::Missing("channel.id"))?;
    let message_ts = str_at(json, "/container/message_ts")
        .or_else(|| str_at(json, "/message/ts"))
        .ok_or(DecodeError::Missing("container.message_ts"))?;
    let action_id = str_at(action, "/action_id").ok_or(DecodeError::Missing("action_id"))?;
    let value = str_at(action, "/value").unwrap_or_default();
    Ok(Some(ButtonClick {
        user: user_id("user.id", user)?,
        channel: channel_id("channel.id", channel)?,
        message_ts: message_ts.chars().take(MAX_ID_LEN).collect(),
        action_id: action_id.chars().take(64).collect(),
        value: value.chars().take(256).collect(),
        message_text: bounded_text(str_at(json, "/message/text").unwrap_or_default()),
        message_blocks: json
            .pointer("/message/blocks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        origin: Origin::from_parts(
            str_at(json, "/team/id").or_else(|| str_at(json, "/user/team_id")),
            str_at(json, "/api_app_id"),
        ),
    }))
}

/// An Events API body (HTTP mode).
pub fn event_body(body: &[u8]) -> Result<EventBody, DecodeError> {
    let json: Value = serde_json::from_slice(body).map_err(|_| DecodeError::Syntax("JSON"))?;
    match str_at(&json, "/type") {
        Some("url_verification") => Ok(EventBody::UrlVerification {
            challenge: str_at(&json, "/challenge")
                .ok_or(DecodeError::Missing("challenge"))?
                .chars()
                .take(256)
                .collect(),
        }),
        Some("event_callback") => event_callback(&json),
        _ => Ok(EventBody::Ignored),
    }
}

/// The `event_callback` envelope (also Socket Mode's `events_api` payload).
pub fn event_callback(json: &Value) -> Result<EventBody, DecodeError> {
    let Some(event) = json.get("event") else {
        return Err(DecodeError::Missing("event"));
    };
    let origin = Origin::from_parts(str_at(json, "/team_id"), str_at(json, "/api_app_id"));
    let event_id = str_at(json, "/event_id")
        .filter(|id| is_slack_id(id))
        .map(str::to_string);
    if str_at(event, "/type") == Some("file_shared") {
        let user = str_at(event, "/user_id").ok_or(DecodeError::Missing("event.user_id"))?;
        let channel =
            str_at(event, "/channel_id").ok_or(DecodeError::Missing("event.channel_id"))?;
        let file = str_at(event, "/file_id")
            .or_else(|| str_at(event, "/file/id"))
            .ok_or(DecodeError::Missing("event.file_id"))?;
        return Ok(EventBody::FileShared(FileShared {
            user: user_id("event.user_id", user)?,
            channel: channel_id("event.channel_id", channel)?,
            file_id: checked_id("event.file_id", file, &['F'])?,
            origin,
            event_id,
        }));
    }
    // Our own messages and edits are not commands.
    if str_at(event, "/type") != Some("app_mention")
        || event.get("bot_id").is_some()
        || event.get("subtype").is_some()
    {
        return Ok(EventBody::Ignored);
    }
    let user = str_at(event, "/user").ok_or(DecodeError::Missing("event.user"))?;
    let channel = str_at(event, "/channel").ok_or(DecodeError::Missing("event.channel"))?;
    let text = str_at(event, "/text").unwrap_or_default();
    Ok(EventBody::Mention(Mention {
        user: user_id("event.user", user)?,
        channel: channel_id("event.channel", channel)?,
        text: strip_leading_mentions(&bounded_text(text)),
        origin,
        event_id,
    }))
}

/// `<@U0BOT> status env=lt1` → `status env=lt1`.
fn strip_leading_mentions(text: &str) -> String {
    let mut rest = text.trim_start();
    while let Some(after) = rest.strip_prefix("<@") {
        match after.find('>') {
            Some(end) => rest = after[end + 1..].trim_start(),
            None => break,
        }
    }
    rest.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slash_command_form_decodes_and_checks_ids() {
        let body = "token=x&team_id=T1&channel_id=C0LT1&user_id=U0ALICE&command=%2Floadtest&text=up+large+for+3h&response_url=https%3A%2F%2Fhooks";
        assert_eq!(
            slash_command_from_form(body).unwrap(),
            SlashCommand {
                user: "U0ALICE".into(),
                channel: "C0LT1".into(),
                text: "up large for 3h".into(),
                origin: Origin {
                    team_id: Some("T1".into()),
                    api_app_id: None
                },
            }
        );
        assert!(is_ssl_check("ssl_check=1&token=x"));
        assert!(!is_ssl_check("ssl_check=0&user_id=U1"));
        assert_eq!(
            slash_command_from_form("channel_id=C1&text=x"),
            Err(DecodeError::Missing("user_id"))
        );
        assert!(matches!(
            slash_command_from_form("user_id=U1%3Brm&channel_id=C1"),
            Err(DecodeError::BadId {
                field: "user_id",
                ..
            })
        ));
        assert!(matches!(
            slash_command_from_form("user_id=U1&channel_id=..%2Fetc"),
            Err(DecodeError::BadId {
                field: "channel_id",
                ..
            })
        ));
    }

    #[test]
    fn block_actions_decode_to_a_click() {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": "U0BOB"},
            "container": {"type": "message", "message_ts": "1700.0001", "channel_id": "C0LT1"},
            "channel": {"id": "C0LT1"},
            "message": {"ts": "1700.0001", "text": "awaiting", "blocks": [{"type": "actions"}]},
            "actions": [{"type": "button", "action_id": "approve", "value": "12"}]
        });
        let click = button_click(&payload).unwrap().unwrap();
        assert_eq!(click.user, "U0BOB");
        assert_eq!(click.action_id, "approve");
        assert_eq!(click.value, "12");
        assert_eq!(click.message_ts, "1700.0001");
        assert_eq!(click.message_blocks.len(), 1);
        let form = format!(
            "payload={}",
            url::form_urlencoded::byte_serialize(payload.to_string().as_bytes())
                .collect::<String>()
        );
        assert_eq!(button_click_from_form(&form).unwrap().unwrap(), click);
        assert_eq!(
            button_click(&json!({"type": "view_submission"})).unwrap(),
            None
        );
        assert_eq!(
            button_click_from_form("payload=%7Bnot+json"),
            Err(DecodeError::Syntax("JSON in `payload`"))
        );
    }

    #[test]
    fn events_decode_verification_mentions_and_ignore_the_rest() {
        assert_eq!(
            event_body(br#"{"type":"url_verification","challenge":"abc","token":"t"}"#).unwrap(),
            EventBody::UrlVerification {
                challenge: "abc".into()
            }
        );
        let mention = json!({"type": "event_callback", "team_id": "T0TEAM", "api_app_id": "A0APP",
            "event_id": "Ev0123ABC", "event": {
            "type": "app_mention", "user": "U0ALICE", "channel": "C0LT1",
            "text": "<@U0BOT> <@U0BOT>  status env=lt1 ", "ts": "1.2"}});
        assert_eq!(
            event_body(mention.to_string().as_bytes()).unwrap(),
            EventBody::Mention(Mention {
                user: "U0ALICE".into(),
                channel: "C0LT1".into(),
                text: "status env=lt1".into(),
                origin: Origin {
                    team_id: Some("T0TEAM".into()),
                    api_app_id: Some("A0APP".into())
                },
                event_id: Some("Ev0123ABC".into()),
            })
        );
        let from_bot = json!({"type": "event_callback", "event": {
            "type": "app_mention", "user": "U0ALICE", "channel": "C0LT1", "text": "x", "bot_id": "B1"}});
        assert_eq!(
            event_body(from_bot.to_string().as_bytes()).unwrap(),
            EventBody::Ignored
        );
        assert_eq!(event_body(b"\xff\xfe"), Err(DecodeError::Syntax("JSON")));
    }

    #[test]
    fn a_shared_file_decodes_to_its_ids_and_bad_ids_are_refused() {
        let shared = |file_id: &str| {
            json!({"type": "event_callback", "team_id": "T0TEAM", "api_app_id": "A0APP",
                "event_id": "Ev0FILE1", "event": {
                "type": "file_shared", "channel_id": "C0LT1", "file_id": file_id,
                "user_id": "U0ALICE", "file": {"id": file_id}, "event_ts": "1.2"}})
        };
        assert_eq!(
            event_body(shared("F0PLAN").to_string().as_bytes()).unwrap(),
            EventBody::FileShared(FileShared {
                user: "U0ALICE".into(),
                channel: "C0LT1".into(),
                file_id: "F0PLAN".into(),
                origin: Origin {
                    team_id: Some("T0TEAM".into()),
                    api_app_id: Some("A0APP".into())
                },
                event_id: Some("Ev0FILE1".into()),
            })
        );
        assert!(matches!(
            event_body(shared("../x").to_string().as_bytes()),
            Err(DecodeError::BadId {
                field: "event.file_id",
                ..
            })
        ));
    }
}
