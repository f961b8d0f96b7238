//! Socket Mode (`SLACK_APP_TOKEN`): the bot keeps [`CONNECTIONS`] WebSockets open (Slack
//! allows ten), each opened through `apps.connections.open`. Every envelope is handled in a
//! task of its own, so a slow command never holds up the envelopes behind it, and is
//! acknowledged on the connection it came from: clicks and events at once, slash commands
//! within the ack budget with their answer as the ack's payload.
//!
//! Slack recycles connections: it sends `disconnect` (`refresh_requested`, `warning`) and
//! closes the socket a little later. The bot opens the replacement at once and keeps reading
//! (and acking) on the old socket until Slack closes it, so no envelope is dropped; the other
//! connection stays warm meanwhile, so a command sent during the switch is still served. An
//! envelope Slack redelivers (same `envelope_id`) is acknowledged and not handled twice.
//! `link_disabled` (Socket Mode switched off for the app) is reported and retried slowly.

use super::ack::AckReply;
use super::requests::{RecentIds, SlackFront};
use crate::slack::inbound::{self, EventBody};
use crate::slack::web_api::{ApiFailure, WebApi};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message as Frame;

/// Connections kept open; the second stays warm while the first is being replaced.
pub const CONNECTIONS: usize = 2;
/// How long a connection may stay silent (no frame, no pong) before it is replaced.
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// How often the bot pings Slack.
const PING_EVERY: Duration = Duration::from_secs(15);
/// Backoff between failed attempts to open a connection.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// After `link_disabled`, nothing will work until someone turns Socket Mode on again.
const LINK_DISABLED_BACKOFF: Duration = Duration::from_secs(120);

/// The running connections; [`SocketMode::shutdown`] closes them.
pub struct SocketMode {
    stop: watch::Sender<bool>,
    slots: Vec<tokio::task::JoinHandle<()>>,
}

/// What every connection shares.
struct Link {
    front: Arc<SlackFront>,
    /// The Web API with the app-level token (only for `apps.connections.open`).
    app_api: Arc<WebApi>,
    /// Envelope ids seen lately, across connections.
    seen: Mutex<RecentIds>,
    /// Tells `start` that a first connection said hello.
    connected: watch::Sender<bool>,
    stop: watch::Receiver<bool>,
}

/// How one connection ended.
enum Ended {
    /// Slack announced it will close this connection: replace it at once.
    Recycled,
    /// Slack turned Socket Mode off for the app.
    LinkDisabled,
    /// Closed, failed or silent.
    Lost,
    /// Shutdown.
    Stopped,
}

impl SocketMode {
    /// Opens the connections and returns once the first one said hello (or failed for good:
    /// a refused app token is an error at start).
    pub async fn start(front: Arc<SlackFront>, app_api: Arc<WebApi>) -> anyhow::Result<SocketMode> {
        // A bad token is worth failing on at start rather than retrying forever.
        open_url(&app_api).await.map_err(|error| match error {
            ApiFailure::Refused { code, .. } => {
                anyhow::anyhow!("Socket Mode: apps.connections.open refused: {code}")
            }
            other => anyhow::anyhow!("Socket Mode: {other}"),
        })?;
        let (stop, stopped) = watch::channel(false);
        let (connected, mut hello) = watch::channel(false);
        let link = Arc::new(Link {
            front,
            app_api,
            seen: Mutex::new(RecentIds::default()),
            connected,
            stop: stopped,
        });
        let mut slots = Vec::new();
        for slot in 0..CONNECTIONS {
            let link = Arc::clone(&link);
            // Staggered, so the connections are not all replaced at the same moment.
            let delay = Duration::from_millis(500 * slot as u64);
            slots.push(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                keep_connected(link, slot).await;
            }));
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), hello.wait_for(|up| *up)).await;
        Ok(SocketMode { stop, slots })
    }

    /// Closes every connection.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        for slot in &self.slots {
            slot.abort();
        }
    }
}

/// `apps.connections.open`: a fresh WebSocket URL.
async fn open_url(app_api: &WebApi) -> Result<String, ApiFailure> {
    let answer = app_api.call("apps.connections.open", &json!({})).await?;
    answer
        .get("url")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiFailure::Refused {
            method: "apps.connections.open".into(),
            code: "answer without url".into(),
        })
}

/// One slot: connect, serve until the connection ends, connect again.
async fn keep_connected(link: Arc<Link>, slot: usize) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        if *link.stop.borrow() {
            return;
        }
        let ended = match connect(&link).await {
            Ok(socket) => {
                backoff = FIRST_BACKOFF;
                serve_connection(Arc::clone(&link), socket).await
            }
            Err(error) => {
                tracing::warn!(slot, %error, "Socket Mode: cannot connect; retrying");
                Ended::Lost
            }
        };
        let wait = match ended {
            Ended::Stopped => return,
            Ended::Recycled => Duration::ZERO,
            Ended::LinkDisabled => {
                tracing::error!(slot, "Socket Mode is disabled for this app (link_disabled); turn it on in the app's settings");
                LINK_DISABLED_BACKOFF
            }
            Ended::Lost => {
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        if !wait.is_zero() {
            let mut stop = link.stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(link: &Link) -> anyhow::Result<Socket> {
    let url = open_url(&link.app_api).await?;
    let (socket, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the WebSocket handshake timed out"))??;
    Ok(socket)
}

/// Reads one connection until it ends. On `disconnect`, the rest of the connection (acks of
/// envelopes in flight, envelopes Slack still sends) is served by a task of its own while the
/// caller opens the replacement.
async fn serve_connection(link: Arc<Link>, socket: Socket) -> Ended {
    let (mut sink, mut stream) = socket.split();
    let (frames, mut outgoing) = mpsc::unbounded_channel::<Frame>();
    // The writer: acks from handler tasks, and pings.
    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            let frame = tokio::select! {
                frame = outgoing.recv() => match frame {
                    Some(frame) => frame,
                    None => break,
                },
                _ = ping.tick() => Frame::Ping(Vec::new().into()),
            };
            let closing = matches!(frame, Frame::Close(_));
            if sink.send(frame).await.is_err() || closing {
                break;
            }
        }
    });
    let mut stop = link.stop.clone();
    let ended = loop {
        let frame = tokio::select! {
            frame = tokio::time::timeout(SILENCE_LIMIT, stream.next()) => frame,
            _ = stop.wait_for(|stop| *stop) => {
                let _ = frames.send(Frame::Close(None));
                break Ended::Stopped;
            }
        };
        let text = match frame {
            Ok(Some(Ok(Frame::Text(text)))) => text,
            Ok(Some(Ok(Frame::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => break Ended::Lost,
            Ok(Some(Ok(_))) => continue, // pings (answered by tungstenite), pongs
            Err(_) => {
                tracing::warn!("Socket Mode: the connection went silent; replacing it");
                break Ended::Lost;
            }
        };
        let Ok(message) = serde_json::from_str::<Value>(text.as_str()) else {
            tracing::warn!("Socket Mode: a frame that is not JSON; ignoring it");
            continue;
        };
        match message.get("type").and_then(Value::as_str) {
            Some("hello") => {
                let _ = link.connected.send(true);
            }
            Some("disconnect") => {
                let reason = message
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                tracing::info!(reason, "Socket Mode: Slack recycles a connection");
                if reason == "link_disabled" {
                    break Ended::LinkDisabled;
                }
                // Keep serving this connection until Slack closes it.
                let drain_link = Arc::clone(&link);
                let frames = frames.clone();
                tokio::spawn(async move {
                    while let Ok(Some(Ok(frame))) =
                        tokio::time::timeout(SILENCE_LIMIT, stream.next()).await
                    {
                        if let Frame::Text(text) = frame {
                            if let Ok(message) = serde_json::from_str::<Value>(text.as_str()) {
                                on_envelope(&drain_link, &frames, message);
                            }
                        }
                    }
                });
                return Ended::Recycled;
            }
            _ => on_envelope(&link, &frames, message),
        }
    };
    drop(frames);
    let _ = writer.await;
    ended
}

/// An envelope: acknowledged on its own connection, handled in a task of its own.
fn on_envelope(link: &Arc<Link>, frames: &mpsc::UnboundedSender<Frame>, envelope: Value) {
    let Some(id) = envelope
        .get("envelope_id")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let first = link.seen.lock().expect("seen lock").first_time(&id);
    let ack = move |payload: Option<Value>| {
        let mut frame = json!({ "envelope_id": id });
        if let Some(payload) = payload {
            frame["payload"] = payload;
        }
        Frame::text(frame.to_string())
    };
    if !first {
        link.front
            .metrics
            .duplicate_deliveries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = frames.send(ack(None));
        return;
    }
    let kind = envelope
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let payload = envelope.get("payload").cloned().unwrap_or(Value::Null);
    let front = Arc::clone(&link.front);
    let frames = frames.clone();
    tokio::spawn(async move {
        match kind.as_str() {
            "slash_commands" => {
                let answer = match inbound::slash_command_from_json(&payload) {
                    Ok(command) => front.slash_command(command).await,
                    Err(error) => AckReply::from_message(
                        crate::render::Message::text(format!(
                            "loadtest-bot could not read this command: {error}"
                        )),
                        false,
                    ),
                };
                let _ = frames.send(ack(Some(answer.to_json())));
            }
            "interactive" => {
                let _ = frames.send(ack(None));
                match inbound::button_click(&payload) {
                    Ok(Some(click)) => front.button_click(click).await,
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "undecodable interaction"),
                }
            }
            "events_api" => {
                let _ = frames.send(ack(None));
                match inbound::event_callback(&payload) {
                    Ok(EventBody::Mention(mention)) => front.mention(mention).await,
                    Ok(EventBody::FileShared(shared)) => front.file_shared(shared).await,
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "undecodable event"),
                }
            }
            other => {
                // Acknowledged so Slack does not redeliver what the bot does not handle.
                let _ = frames.send(ack(None));
                tracing::debug!(
                    kind = other,
                    "Socket Mode envelope of a kind the bot ignores"
                );
            }
        }
    });
}
