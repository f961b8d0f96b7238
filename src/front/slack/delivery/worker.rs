//! One worker per channel: takes the channel's queue in order, paces it, calls the Web API,
//! and settles each delivery: delivered, refused for good (recorded on the run, counted, and
//! told to the person it was for), or unreachable (retried at the head, nothing overtakes it).

use super::deliveries::{Delivery, Queued};
use super::pacing::{retry_delay, Pacing, TokenBucket};
use super::ChannelQueue;
use crate::model::{ChannelId, SlackUserId};
use crate::outlet::UpdateKind;
use crate::render::Message;
use crate::slack::limits::enforce_limits;
use crate::slack::mrkdwn;
use crate::slack::web_api::{ApiFailure, WebApi};
use crate::store::{OutboxId, Store};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Refusals that mean the channel cannot take the bot's messages: the requester is told how to
/// fix it, and progress for that channel is not tried again for a while.
const CHANNEL_REFUSALS: [&str; 4] = [
    "not_in_channel",
    "channel_not_found",
    "is_archived",
    "restricted_action",
];

/// How long progress updates to a channel that refused the bot are not attempted.
const REFUSED_CHANNEL_QUIET: Duration = Duration::from_secs(60);

/// How a delivery attempt ended.
enum Attempt {
    /// Slack took it.
    Delivered,
    /// Slack refused it for good; it leaves the queue, and the refusal is reported.
    Refused { method: String, code: String },
    /// Slack could not be reached: try the same message again later.
    Unreachable,
}

/// What every channel worker shares.
pub(super) struct Shared {
    pub(super) api: Arc<WebApi>,
    pub(super) pacing: Pacing,
    pub(super) store: Option<Store>,
    /// Message key → Slack's `ts`, once the post went through.
    pub(super) posted: Mutex<HashMap<i64, String>>,
    /// When each message was last updated, for the once-a-second rule.
    last_update: Mutex<HashMap<i64, Instant>>,
    /// `chat.update` across the whole workspace.
    update_budget: Mutex<TokenBucket>,
    /// Channels that refused the bot lately, and why.
    refused_channels: Mutex<HashMap<ChannelId, (String, Instant)>>,
    /// (channel, person, run) already told that a channel refused the bot.
    told: Mutex<HashSet<(ChannelId, SlackUserId, Option<i64>)>>,
}

impl Shared {
    pub(super) fn new(api: Arc<WebApi>, pacing: Pacing, store: Option<Store>) -> Shared {
        Shared {
            api,
            pacing,
            store,
            posted: Mutex::new(HashMap::new()),
            last_update: Mutex::new(HashMap::new()),
            update_budget: Mutex::new(TokenBucket::new(
                pacing.update_burst,
                pacing.updates_per_minute / 60.0,
            )),
            refused_channels: Mutex::new(HashMap::new()),
            told: Mutex::new(HashSet::new()),
        }
    }
}

pub(super) async fn channel_worker(
    shared: Arc<Shared>,
    channel: ChannelId,
    queue: Arc<ChannelQueue>,
) {
    let mut posts = TokenBucket::new(shared.pacing.post_burst, shared.pacing.posts_per_second);
    loop {
        // Wait for the head's slot without taking it out, so a newer progress update can
        // still replace it while it waits.
        let head_wait = {
            let pending = queue.pending.lock().expect("queue lock poisoned");
            pending.front().map(|head| shared.head_wait(&head.delivery))
        };
        match head_wait {
            None => {
                queue.wake.notified().await;
                continue;
            }
            Some(wait) if !wait.is_zero() => {
                tokio::time::sleep(wait).await;
                continue;
            }
            Some(_) => {}
        }
        let Some(queued) = queue
            .pending
            .lock()
            .expect("queue lock poisoned")
            .pop_front()
        else {
            continue;
        };
        if matches!(
            queued.delivery,
            Delivery::Post { .. } | Delivery::Ephemeral { .. }
        ) {
            let wait = posts.take();
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
                posts.take();
            }
        }
        if queued.delivery.is_update() {
            shared.update_budget.lock().expect("budget lock").take();
        }
        shared.settle(&channel, &queue, queued).await;
    }
}

impl Shared {
    /// How long the head of a queue must wait: an update waits for its message's once-a-second
    /// slot and for the workspace's update budget.
    fn head_wait(&self, delivery: &Delivery) -> Duration {
        if !delivery.is_update() {
            return Duration::ZERO;
        }
        let own = delivery.update_key().map_or(Duration::ZERO, |key| {
            let last = self.last_update.lock().expect("update lock poisoned");
            last.get(&key).map_or(Duration::ZERO, |at| {
                self.pacing.update_interval.saturating_sub(at.elapsed())
            })
        });
        own.max(self.update_budget.lock().expect("budget lock").wait())
    }

    /// Delivers one queued message and records how that went.
    async fn settle(&self, channel: &ChannelId, queue: &ChannelQueue, mut queued: Queued) {
        if let (Some(store), Some(id)) = (&self.store, queued.outbox) {
            // Another process took the row over (this one was thought gone): it sends it.
            if matches!(store.holds_message(id, std::process::id()), Ok(false)) {
                tracing::warn!(%id, channel = %channel, "outbox row taken over by another process; not sending it");
                return;
            }
        }
        match self.deliver(channel, &queued.delivery).await {
            Attempt::Delivered => self.mark_delivered(queued.outbox),
            Attempt::Refused { method, code } => {
                self.report_refusal(channel, &queued.delivery, &method, &code)
                    .await;
                self.mark_delivered(queued.outbox);
            }
            Attempt::Unreachable if queued.outbox.is_some() => {
                let delay = retry_delay(queued.attempts, self.pacing.max_retry_delay);
                queued.attempts += 1;
                if let (Some(store), Some(id)) = (&self.store, queued.outbox) {
                    let next =
                        chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    let _ = store.mark_attempt_failed(id, next);
                }
                tracing::warn!(channel = %channel, attempts = queued.attempts, retry_in_s = delay.as_secs(), "Slack unreachable; the message waits at the head of its channel");
                // Back at the head: nothing in this channel overtakes it.
                queue
                    .pending
                    .lock()
                    .expect("queue lock poisoned")
                    .push_front(queued);
                tokio::time::sleep(delay).await;
            }
            // A progress update that could not go: the next one supersedes it.
            Attempt::Unreachable => {}
        }
    }

    /// Leaves the outbox: Slack took it, or refused it for good.
    fn mark_delivered(&self, outbox: Option<OutboxId>) {
        if let (Some(store), Some(id)) = (&self.store, outbox) {
            if let Err(error) = store.mark_delivered(id, chrono::Utc::now()) {
                tracing::error!(%error, %id, "delivered, but could not mark it so");
            }
        }
    }

    fn ts_of(&self, key: i64) -> Option<String> {
        if let Some(ts) = self.posted.lock().expect("posted lock poisoned").get(&key) {
            return Some(ts.clone());
        }
        let store = self.store.as_ref().filter(|_| key > 0)?;
        let ts = store.message_ts(OutboxId(key)).ok().flatten()?;
        self.posted
            .lock()
            .expect("posted lock poisoned")
            .insert(key, ts.clone());
        Some(ts)
    }

    /// Whether `channel` refused the bot within the last minute.
    fn lately_refused(&self, channel: &ChannelId) -> bool {
        let refused = self.refused_channels.lock().expect("refused lock");
        refused
            .get(channel)
            .is_some_and(|(_, at)| at.elapsed() < REFUSED_CHANNEL_QUIET)
    }

    async fn deliver(&self, channel: &ChannelId, delivery: &Delivery) -> Attempt {
        let result = match delivery {
            Delivery::Post { key, message, .. } => {
                if self.ts_of(*key).is_some() {
                    // Posted just before a crash that kept it from being marked delivered.
                    return Attempt::Delivered;
                }
                self.post_new(channel, *key, message).await
            }
            Delivery::Update {
                kind: UpdateKind::Progress,
                ..
            } if self.lately_refused(channel) => {
                // The channel refused the bot a moment ago; the final result will try again.
                return Attempt::Delivered;
            }
            Delivery::Update { key, message, .. } => self.update(channel, *key, message).await,
            Delivery::UpdateTs { ts, message } => self
                .with_text_fallback(message, |message| self.update_ts(channel, ts, message))
                .await
                .map(|_| ()),
            Delivery::Ephemeral { user, message } => self
                .with_text_fallback(message, |message| {
                    let params = json!({
                        "channel": channel.as_str(),
                        "user": user.as_str(),
                        "text": message.text,
                        "blocks": message.blocks,
                    });
                    async move { self.api.call("chat.postEphemeral", &params).await }
                })
                .await
                .map(|_| ()),
            Delivery::Upload {
                key,
                file_name,
                content,
                ..
            } => {
                let thread = self.ts_of(*key);
                self.api
                    .upload_file(channel.as_str(), thread.as_deref(), file_name, content)
                    .await
            }
        };
        match result {
            Ok(()) => Attempt::Delivered,
            Err(ApiFailure::Refused { method, code }) => Attempt::Refused { method, code },
            Err(ApiFailure::Unavailable { .. }) => Attempt::Unreachable,
        }
    }

    /// An update in place; a message that was never posted (or was deleted) is posted anew,
    /// so the result is not lost with it.
    async fn update(
        &self,
        channel: &ChannelId,
        key: i64,
        message: &Message,
    ) -> Result<(), ApiFailure> {
        let result = match self.ts_of(key) {
            Some(ts) => match self
                .with_text_fallback(message, |message| self.update_ts(channel, &ts, message))
                .await
            {
                Err(ApiFailure::Refused { code, .. }) if code == "message_not_found" => {
                    self.post_new(channel, key, message).await
                }
                other => other.map(|_| ()),
            },
            None => self.post_new(channel, key, message).await,
        };
        // Counted from when Slack answered: retries after a 429 must not let the next update
        // follow right behind.
        self.last_update
            .lock()
            .expect("update lock poisoned")
            .insert(key, Instant::now());
        result
    }

    /// Sends `message`; if Slack refuses its blocks (`invalid_blocks`), sends its text alone,
    /// so what it says still arrives.
    async fn with_text_fallback<F, Fut>(
        &self,
        message: &Message,
        send: F,
    ) -> Result<Value, ApiFailure>
    where
        F: Fn(Message) -> Fut,
        Fut: std::future::Future<Output = Result<Value, ApiFailure>>,
    {
        let limited = enforce_limits(message.clone());
        match send(limited.clone()).await {
            Err(ApiFailure::Refused { code, .. })
                if code == "invalid_blocks" && !limited.blocks.is_empty() =>
            {
                tracing::error!("Slack refused a message's blocks; sending its text alone");
                send(Message::text(limited.text)).await
            }
            other => other,
        }
    }

    async fn post_new(
        &self,
        channel: &ChannelId,
        key: i64,
        message: &Message,
    ) -> Result<(), ApiFailure> {
        let answer = self
            .with_text_fallback(message, |message| {
                let params = json!({
                    "channel": channel.as_str(),
                    "text": message.text,
                    "blocks": message.blocks,
                    "unfurl_links": false,
                });
                async move { self.api.call("chat.postMessage", &params).await }
            })
            .await?;
        if let Some(ts) = answer.get("ts").and_then(Value::as_str) {
            self.posted
                .lock()
                .expect("posted lock poisoned")
                .insert(key, ts.to_string());
            if let (Some(store), true) = (&self.store, key > 0) {
                if let Err(error) = store.remember_message_ts(OutboxId(key), channel, ts) {
                    tracing::error!(%error, "cannot store a posted message's ts");
                }
            }
        }
        Ok(())
    }

    async fn update_ts(
        &self,
        channel: &ChannelId,
        ts: &str,
        message: Message,
    ) -> Result<Value, ApiFailure> {
        let params = json!({
            "channel": channel.as_str(),
            "ts": ts,
            "text": message.text,
            "blocks": message.blocks,
        });
        self.api.call("chat.update", &params).await
    }

    /// A refusal is never silent: logged, recorded on the run (`status` and `history` show
    /// it), and when the channel cannot take the bot's messages the person they were for is
    /// told by direct message how to fix it, with what the message said.
    async fn report_refusal(
        &self,
        channel: &ChannelId,
        delivery: &Delivery,
        method: &str,
        code: &str,
    ) {
        tracing::error!(%method, %code, channel = %channel, "Slack refused a message");
        if let (Some(store), Some(owner)) = (&self.store, delivery.owner()) {
            if let Err(error) =
                store.set_run_delivery_error(owner.run, &format!("not delivered: {code}"))
            {
                tracing::error!(%error, run = %owner.run, "cannot record the refused delivery on the run");
            }
        }
        if !CHANNEL_REFUSALS.contains(&code) {
            return;
        }
        self.refused_channels
            .lock()
            .expect("refused lock")
            .insert(channel.clone(), (code.to_string(), Instant::now()));
        let Some(person) = delivery.person() else {
            return;
        };
        let run = delivery.owner().map(|owner| owner.run.0);
        let first =
            self.told
                .lock()
                .expect("told lock")
                .insert((channel.clone(), person.clone(), run));
        let is_result = matches!(
            delivery,
            Delivery::Update {
                kind: UpdateKind::Final,
                ..
            }
        );
        if first || is_result {
            self.tell_directly(channel, person, code, delivery.text())
                .await;
        }
    }

    /// A direct message (posting to a user id opens the app's conversation with them).
    async fn tell_directly(
        &self,
        channel: &ChannelId,
        person: &SlackUserId,
        code: &str,
        said: Option<&str>,
    ) {
        let mut text = format!(
            "I could not post in {} (Slack says `{code}`). Invite me there with `/invite @loadtest-bot`, or use a channel I am in.",
            mrkdwn::channel_link(channel.as_str())
        );
        if let Some(said) = said.filter(|said| !said.is_empty()) {
            text.push_str(&format!("\nWhat I wanted to post: {said}"));
        }
        let message = enforce_limits(Message::text(text));
        let params = json!({"channel": person.as_str(), "text": message.text});
        if let Err(error) = self.api.call("chat.postMessage", &params).await {
            tracing::error!(%error, user = %person, "could not tell the requester either");
        }
    }
}
