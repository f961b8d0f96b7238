//! What Slack pushes to an app, in the shapes Slack documents: slash commands (as a Socket
//! Mode payload and as the form HTTP mode posts), button clicks and app mentions. Their
//! `response_url`s point at the newest fake started on the calling thread, so what the bot
//! posts there is recorded. The self-tests read every shape with slack-morphism's models.

use super::{
    APP_ID, BOT_ID, BOT_USER_ID, NEWEST_FAKE_ON_THIS_THREAD, TEAM_DOMAIN, TEAM_ID,
    VERIFICATION_TOKEN,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use url::form_urlencoded;

static PAYLOAD_SERIAL: AtomicU64 = AtomicU64::new(0);

pub(super) fn next_serial() -> u64 {
    PAYLOAD_SERIAL.fetch_add(1, Ordering::Relaxed) + 1
}

pub(super) fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

/// A `ts` for something happening now; the serial keeps two of them in the same microsecond apart.
pub(super) fn ts_now() -> String {
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
    event_callback(
        "Ev0FAKE",
        json!({
            "type": "app_mention",
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
        }),
    )
}

/// The Events API envelope Slack puts around every event it delivers to the app; its
/// `event_id` is `id_prefix` and a serial.
pub(super) fn event_callback(id_prefix: &str, event: Value) -> Value {
    json!({
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": format!("{id_prefix}{:06}", next_serial()),
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
// Self-tests

use super::slack_side::post_json;
use super::test_support::WAIT;
use super::FakeSlack;
use std::collections::HashMap;

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
