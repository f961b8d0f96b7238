//! Socket Mode, Slack's side: the fake's own `ws://127.0.0.1:WSPORT/link` listener (the URL
//! `apps.connections.open` hands out) sends the hello frame, the envelopes a test pushes and a
//! `disconnect` on request, and records every frame the bot sends back with how long after
//! its envelope it came. An ack's message payload is checked against Block Kit like any
//! message; one Slack would refuse is recorded as a refusal.

use super::block_kit;
use super::{BotFrame, FakeState, LiveSocket, Outgoing, Shared};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// The frame Slack sends first on every Socket Mode connection.
const HELLO_FRAME: &str = r#"{"type":"hello","num_connections":1,"debug_info":{"host":"fake-slack","build_number":1,"approximate_connection_time":18060},"connection_info":{"app_id":"A0FAKE"}}"#;

pub(super) async fn serve_sockets(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
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

impl FakeState {
    fn record_frame(&mut self, text: &str) {
        let frame = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
        let after_envelope = frame
            .get("envelope_id")
            .and_then(Value::as_str)
            .and_then(|id| self.envelopes_sent.get(id))
            .map(Instant::elapsed);
        // A slash command's ack may carry the answer; Slack shows it only if it is valid.
        if let Some(payload) = frame.get("payload") {
            if let Err(refusal) = block_kit::check_response_payload(payload) {
                self.block_kit_refusals.push(format!(
                    "Socket Mode ack of {}: {} {payload}",
                    frame["envelope_id"],
                    refusal.answer()
                ));
            }
        }
        self.frames_from_bot.push(BotFrame {
            frame,
            after_envelope,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Self-tests

use super::payloads::{app_mention_payload, block_action_payload, slash_command_payload};
use super::slack_side::post_json;
use super::test_support::{bearer, slack_morphism_client, slack_token, WAIT};
use super::{FakeSlack, APP_ID};
use serde_json::json;

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
fn fake_slack_refuses_an_ack_slack_would_refuse() {
    let slack = FakeSlack::start();
    slack.shared.mutate(|state| {
        state.record_frame(
            &json!({"envelope_id": "e1", "payload": {"text": "fine"}}).to_string(),
        );
        state.record_frame(&json!({"envelope_id": "e2"}).to_string());
        state.record_frame(
            &json!({"envelope_id": "e3", "payload": {"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}}]}})
                .to_string(),
        );
    });
    let refusals = slack.take_block_kit_refusals();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(refusals[0].contains("\"e3\""), "{}", refusals[0]);
    assert!(
        refusals[0].contains("must be less than 151 characters"),
        "{}",
        refusals[0]
    );
    assert_eq!(slack.frames_from_bot().len(), 3);
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
