//! Socket Mode (`SLACK_APP_TOKEN`): slack-morphism's listener opens the WebSocket through
//! `apps.connections.open` and reconnects on its own. slack-morphism sends an envelope's ack
//! only after our callback returns, so clicks and mentions are spawned and acked at once;
//! slash commands wait at most the ack budget, because their answer rides on the ack. The
//! error handler answers 200 so even an undecodable envelope is acked and not redelivered.

use super::ack::AckReply;
use super::requests::SlackFront;
use crate::slack::inbound::{self, EventBody};
use crate::slack::web_api::Connector;
use slack_morphism::prelude::*;
use std::sync::Arc;

type Client = Arc<SlackClient<Connector>>;
type Failure = Box<dyn std::error::Error + Send + Sync>;

/// A running Socket Mode connection; dropping it does not stop it, [`SocketMode::shutdown`]
/// does.
pub struct SocketMode {
    listener: SlackClientSocketModeListener<Connector>,
}

impl SocketMode {
    pub async fn start(
        front: Arc<SlackFront>,
        client: Client,
        app_token: &str,
    ) -> anyhow::Result<SocketMode> {
        let environment = Arc::new(
            SlackClientEventsListenerEnvironment::new(client)
                .with_error_handler(on_error)
                .with_user_state(front),
        );
        let callbacks = SlackSocketModeListenerCallbacks::new()
            .with_command_events(on_command)
            .with_interaction_events(on_interaction)
            .with_push_events(on_push_event);
        let config = SlackClientSocketModeConfig::new().with_max_connections_count(1);
        let listener = SlackClientSocketModeListener::new(&config, environment, callbacks);
        let token = SlackApiToken::new(app_token.to_string().into());
        listener.listen_for(&token).await.map_err(|error| {
            anyhow::anyhow!("Socket Mode: apps.connections.open failed: {error}")
        })?;
        listener.start().await;
        Ok(SocketMode { listener })
    }

    pub async fn shutdown(&self) {
        self.listener.shutdown().await;
    }
}

async fn front_of(states: &SlackClientEventsUserState) -> Result<Arc<SlackFront>, Failure> {
    states
        .read()
        .await
        .get_user_state::<Arc<SlackFront>>()
        .cloned()
        .ok_or_else(|| "the Slack front end is not registered".into())
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Client,
    states: SlackClientEventsUserState,
) -> Result<SlackCommandEventResponse, Failure> {
    let front = front_of(&states).await?;
    let ack = match inbound::slash_command(
        &event.user_id.0,
        &event.channel_id.0,
        event.text.as_deref().unwrap_or_default(),
    ) {
        Ok(command) => front.slash_command(command).await,
        Err(error) => AckReply {
            text: format!("loadtest-bot could not read this command: {error}"),
            blocks: Vec::new(),
            in_channel: false,
        },
    };
    Ok(command_response(&ack))
}

/// The ack payload; our blocks go through slack-morphism's model, and a block it cannot
/// model degrades to the text alone rather than losing the answer.
fn command_response(ack: &AckReply) -> SlackCommandEventResponse {
    serde_json::from_value(ack.to_json()).unwrap_or_else(|error| {
        tracing::warn!(%error, "ack blocks not representable; sending the text only");
        let mut text_only = ack.clone();
        text_only.blocks = Vec::new();
        serde_json::from_value(text_only.to_json()).unwrap_or_else(|_| {
            SlackCommandEventResponse::new(SlackMessageContent::new().with_text(ack.text.clone()))
        })
    })
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Client,
    states: SlackClientEventsUserState,
) -> Result<(), Failure> {
    let front = front_of(&states).await?;
    let json = serde_json::to_value(&event)?;
    match inbound::button_click(&json) {
        Ok(Some(click)) => {
            tokio::spawn(async move { front.button_click(click).await });
        }
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, "undecodable interaction"),
    }
    Ok(())
}

async fn on_push_event(
    event: SlackPushEventCallback,
    _client: Client,
    states: SlackClientEventsUserState,
) -> Result<(), Failure> {
    let front = front_of(&states).await?;
    let json = serde_json::to_value(&event)?;
    match inbound::event_callback(&json) {
        Ok(EventBody::Mention(mention)) => {
            tokio::spawn(async move { front.mention(mention).await });
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "undecodable event"),
    }
    Ok(())
}

fn on_error(
    error: Failure,
    _client: Client,
    _states: SlackClientEventsUserState,
) -> axum::http::StatusCode {
    tracing::warn!(%error, "Socket Mode envelope failed; acknowledging it anyway");
    axum::http::StatusCode::OK
}
