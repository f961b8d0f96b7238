//! The Slack [`Outlet`]: posts and updates run messages through the Web API without ever
//! blocking the pipeline, and without losing what matters.
//!
//! - Durable: every post, final update, ephemeral answer and log upload is written to the
//!   store's outbox before it is queued, and marked delivered only when Slack took it. A Slack
//!   outage of any length is waited out (the head is retried with backoff, nothing behind it
//!   overtakes it); after a restart, [`SlackOutlet::resume`] queues what was left, in order.
//!   Progress updates are not stored: the next one or the final result supersedes them.
//! - Ordered: one queue and one worker per channel, so a channel's messages arrive in the
//!   order the bot produced them.
//! - Paced: progress updates of a message still waiting are coalesced (only the newest is
//!   sent), every message is updated at most once a second, and posts are paced per channel
//!   (a burst, then one a second, as Slack asks). A final update is never coalesced away.
//!
//! A message is known by its key: the outbox id of its post (negative, process-local keys
//! when the store could not take it). The key → Slack `ts` mapping is stored too, so an
//! update queued before a restart finds its message after it, and a post that was delivered
//! just before a crash is not posted twice.

use crate::model::{ChannelId, SlackUserId};
use crate::outlet::{MessageHandle, Outlet, UpdateKind};
use crate::render::Message;
use crate::slack::limits::enforce_limits;
use crate::slack::web_api::{ApiFailure, WebApi};
use crate::store::{NewMessage, OutboxId, OutboxMessage, Store};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Pacing knobs; the defaults follow Slack's documented limits.
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    /// Minimum time between two updates of one message.
    pub update_interval: Duration,
    /// Posts a channel may send at once before pacing starts.
    pub post_burst: u32,
    /// Sustained posts per second per channel.
    pub posts_per_second: f64,
    /// Longest wait between two attempts at a message while Slack is unreachable.
    pub max_retry_delay: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            update_interval: Duration::from_secs(1),
            post_burst: 4,
            posts_per_second: 1.0,
            max_retry_delay: Duration::from_secs(30),
        }
    }
}

/// One thing to deliver to a channel.
#[derive(Debug)]
enum Delivery {
    Post {
        key: i64,
        message: Message,
    },
    Update {
        key: i64,
        message: Message,
        kind: UpdateKind,
    },
    /// Replaces a message we only know by its Slack `ts` (a clicked button's message).
    UpdateTs {
        ts: String,
        message: Message,
    },
    Ephemeral {
        user: SlackUserId,
        message: Message,
    },
    Upload {
        key: i64,
        file_name: String,
        content: String,
    },
}

impl Delivery {
    /// The outbox kind and payload; `None` for what is not worth storing (progress).
    fn stored_form(&self) -> Option<(&'static str, Value)> {
        Some(match self {
            Delivery::Post { message, .. } => (
                "post",
                json!({"text": message.text, "blocks": message.blocks}),
            ),
            Delivery::Update {
                kind: UpdateKind::Progress,
                ..
            } => return None,
            Delivery::Update { key, message, .. } => (
                "update",
                json!({"key": key, "text": message.text, "blocks": message.blocks}),
            ),
            Delivery::UpdateTs { ts, message } => (
                "update_ts",
                json!({"ts": ts, "text": message.text, "blocks": message.blocks}),
            ),
            Delivery::Ephemeral { user, message } => (
                "ephemeral",
                json!({"user": user.as_str(), "text": message.text, "blocks": message.blocks}),
            ),
            Delivery::Upload {
                key,
                file_name,
                content,
            } => (
                "upload",
                json!({"key": key, "file_name": file_name, "content": content}),
            ),
        })
    }

    /// Back from the outbox (after a restart). `None` for a row this version cannot read.
    fn from_stored(row: &OutboxMessage) -> Option<Delivery> {
        let payload = &row.payload;
        let text = |name: &str| {
            payload
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let message = || Message {
            text: text("text").unwrap_or_default(),
            blocks: payload
                .get("blocks")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        };
        let key = payload.get("key").and_then(Value::as_i64);
        Some(match row.kind.as_str() {
            "post" => Delivery::Post {
                key: row.id.0,
                message: message(),
            },
            "update" => Delivery::Update {
                key: key?,
                message: message(),
                kind: UpdateKind::Final,
            },
            "update_ts" => Delivery::UpdateTs {
                ts: text("ts")?,
                message: message(),
            },
            "ephemeral" => Delivery::Ephemeral {
                user: SlackUserId::new(text("user")?),
                message: message(),
            },
            "upload" => Delivery::Upload {
                key: key?,
                file_name: text("file_name")?,
                content: text("content")?,
            },
            _ => return None,
        })
    }

    fn update_key(&self) -> Option<i64> {
        match self {
            Delivery::Update { key, .. } => Some(*key),
            _ => None,
        }
    }
}

/// A delivery and, when stored, its outbox row.
#[derive(Debug)]
struct Queued {
    delivery: Delivery,
    outbox: Option<OutboxId>,
    attempts: u32,
}

#[derive(Default)]
struct ChannelQueue {
    pending: Mutex<VecDeque<Queued>>,
    wake: Notify,
}

/// How a delivery attempt ended.
enum Attempt {
    /// Slack took it, or refused it for good (logged): either way it leaves the queue.
    Done,
    /// Slack could not be reached: try the same message again later.
    Unreachable,
}

struct Shared {
    api: Arc<WebApi>,
    pacing: Pacing,
    store: Option<Store>,
    /// Message key → Slack's `ts`, once the post went through.
    posted: Mutex<HashMap<i64, String>>,
    /// When each message was last updated, for the once-a-second rule.
    last_update: Mutex<HashMap<i64, Instant>>,
}

/// The outlet `serve` gives the pipeline.
pub struct SlackOutlet {
    shared: Arc<Shared>,
    channels: Mutex<HashMap<ChannelId, Arc<ChannelQueue>>>,
    /// Our handles → message keys.
    keys: Mutex<HashMap<u64, i64>>,
    runtime: tokio::runtime::Handle,
}

impl SlackOutlet {
    /// Must be called inside the tokio runtime that will run the delivery workers. `store`:
    /// the outbox (a connection of its own); `None` delivers from memory only.
    pub fn new(api: Arc<WebApi>, pacing: Pacing, store: Option<Store>) -> Self {
        Self {
            shared: Arc::new(Shared {
                api,
                pacing,
                store,
                posted: Mutex::new(HashMap::new()),
                last_update: Mutex::new(HashMap::new()),
            }),
            channels: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Queues what the outbox still holds from before a restart (or an outage that outlived
    /// the last process), in its order. Call before anything new is posted.
    pub fn resume(&self) -> usize {
        let Some(store) = &self.shared.store else {
            return 0;
        };
        let rows = match store.pending_messages(None, 1_000_000) {
            Ok(rows) => rows,
            Err(error) => {
                tracing::error!(%error, "cannot read the outbox; undelivered messages stay in it");
                return 0;
            }
        };
        let mut resumed = 0;
        for row in rows {
            match Delivery::from_stored(&row) {
                Some(delivery) => {
                    let queue = self.queue_of(&row.channel);
                    queue
                        .pending
                        .lock()
                        .expect("queue lock poisoned")
                        .push_back(Queued {
                            delivery,
                            outbox: Some(row.id),
                            attempts: row.attempts,
                        });
                    queue.wake.notify_one();
                    resumed += 1;
                }
                None => {
                    tracing::error!(id = %row.id, kind = %row.kind, "unreadable outbox entry; skipping it");
                    let _ = store.mark_delivered(row.id, chrono::Utc::now());
                }
            }
        }
        resumed
    }

    /// A message only `user` sees (errors and denials of button clicks and mentions).
    pub fn post_ephemeral(&self, channel: &ChannelId, user: &SlackUserId, message: &Message) {
        self.enqueue(
            channel,
            Delivery::Ephemeral {
                user: user.clone(),
                message: message.clone(),
            },
        );
    }

    /// Replaces a message known by its `ts` (e.g. the buttons of a clicked message).
    pub fn update_by_ts(&self, channel: &ChannelId, ts: &str, message: &Message) {
        self.enqueue(
            channel,
            Delivery::UpdateTs {
                ts: ts.to_string(),
                message: message.clone(),
            },
        );
    }

    /// Deliveries waiting in this process's queues (for `/metrics` and shutdown).
    pub fn depth(&self) -> usize {
        let channels = self.channels.lock().expect("channels lock poisoned");
        channels
            .values()
            .map(|queue| queue.pending.lock().expect("queue lock poisoned").len())
            .sum()
    }

    fn queue_of(&self, channel: &ChannelId) -> Arc<ChannelQueue> {
        let mut channels = self.channels.lock().expect("channels lock poisoned");
        if let Some(queue) = channels.get(channel) {
            return Arc::clone(queue);
        }
        let queue = Arc::new(ChannelQueue::default());
        channels.insert(channel.clone(), Arc::clone(&queue));
        self.runtime.spawn(channel_worker(
            Arc::clone(&self.shared),
            channel.clone(),
            Arc::clone(&queue),
        ));
        queue
    }

    /// Stores (when worth it) and queues a delivery; returns its outbox id. Store and queue
    /// are updated under the channel's lock, so outbox order is delivery order. A stored
    /// post takes its outbox id as its key.
    fn enqueue(&self, channel: &ChannelId, mut delivery: Delivery) -> Option<OutboxId> {
        let queue = self.queue_of(channel);
        let outbox = {
            let mut pending = queue.pending.lock().expect("queue lock poisoned");
            let outbox = self.store_delivery(channel, &delivery);
            if let (Delivery::Post { key, .. }, Some(id)) = (&mut delivery, outbox) {
                *key = id.0;
            }
            coalesce_into(
                &mut pending,
                Queued {
                    delivery,
                    outbox,
                    attempts: 0,
                },
            );
            outbox
        };
        queue.wake.notify_one();
        outbox
    }

    fn store_delivery(&self, channel: &ChannelId, delivery: &Delivery) -> Option<OutboxId> {
        let store = self.shared.store.as_ref()?;
        let (kind, payload) = delivery.stored_form()?;
        let stored = store.enqueue_message(&NewMessage {
            channel: channel.clone(),
            kind: kind.to_string(),
            payload,
            run_id: None,
            created_at: chrono::Utc::now(),
        });
        match stored {
            Ok(id) => Some(id),
            Err(error) => {
                // Still delivered from memory; only a restart before delivery would lose it.
                tracing::error!(%error, channel = %channel, "cannot store a Slack message in the outbox");
                None
            }
        }
    }

    fn key_of(&self, handle: &MessageHandle) -> i64 {
        self.keys
            .lock()
            .expect("keys lock poisoned")
            .get(&handle.local_id)
            .copied()
            .unwrap_or(-(handle.local_id as i64))
    }
}

/// Adds a delivery, folding progress updates of the same message that have not gone out yet.
fn coalesce_into(pending: &mut VecDeque<Queued>, queued: Queued) {
    if let Delivery::Update { key, kind, .. } = &queued.delivery {
        let key = *key;
        let is_update = |q: &Queued, wanted: UpdateKind| matches!(q.delivery, Delivery::Update { key: k, kind, .. } if k == key && kind == wanted);
        match kind {
            UpdateKind::Progress => {
                if pending.iter().any(|q| is_update(q, UpdateKind::Final)) {
                    // A late progress tick must never overwrite the waiting result.
                    return;
                }
                if let Some(slot) = pending
                    .iter_mut()
                    .find(|q| is_update(q, UpdateKind::Progress))
                {
                    *slot = queued;
                    return;
                }
            }
            UpdateKind::Final => pending.retain(|q| !is_update(q, UpdateKind::Progress)),
        }
    }
    pending.push_back(queued);
}

impl Outlet for SlackOutlet {
    fn post(&self, channel: &ChannelId, message: &Message) -> MessageHandle {
        let handle = MessageHandle::new(channel.clone());
        // Process-local key unless the outbox takes the post (then its id is the key).
        let volatile = -(handle.local_id as i64);
        let outbox = self.enqueue(
            channel,
            Delivery::Post {
                key: volatile,
                message: message.clone(),
            },
        );
        self.keys
            .lock()
            .expect("keys lock poisoned")
            .insert(handle.local_id, outbox.map_or(volatile, |id| id.0));
        handle
    }

    fn update(&self, handle: &MessageHandle, message: &Message, kind: UpdateKind) {
        let key = self.key_of(handle);
        self.enqueue(
            &handle.channel,
            Delivery::Update {
                key,
                message: message.clone(),
                kind,
            },
        );
    }

    fn attach_log(&self, handle: &MessageHandle, file_name: &str, content: &str) {
        let key = self.key_of(handle);
        self.enqueue(
            &handle.channel,
            Delivery::Upload {
                key,
                file_name: file_name.to_string(),
                content: content.to_string(),
            },
        );
    }
}

/// Token bucket for posts in one channel.
struct PostPacer {
    tokens: f64,
    refilled: Instant,
}

impl PostPacer {
    fn new(pacing: &Pacing) -> Self {
        Self {
            tokens: f64::from(pacing.post_burst),
            refilled: Instant::now(),
        }
    }

    /// How long to wait before the next post may go.
    fn wait(&mut self, pacing: &Pacing) -> Duration {
        let now = Instant::now();
        let burst = f64::from(pacing.post_burst.max(1));
        self.tokens = (self.tokens
            + now.duration_since(self.refilled).as_secs_f64() * pacing.posts_per_second)
            .min(burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / pacing.posts_per_second.max(0.01))
        }
    }
}

/// Backoff between attempts at an undeliverable message: 1 s, 2 s, 4 s … up to the cap.
fn retry_delay(attempts: u32, cap: Duration) -> Duration {
    Duration::from_secs(1u64 << attempts.min(10)).min(cap)
}

async fn channel_worker(shared: Arc<Shared>, channel: ChannelId, queue: Arc<ChannelQueue>) {
    let mut pacer = PostPacer::new(&shared.pacing);
    loop {
        // Wait for the head's update slot without taking it out, so a newer progress
        // update can still replace it while we wait.
        let head_wait = {
            let pending = queue.pending.lock().expect("queue lock poisoned");
            pending.front().map(|head| {
                head.delivery
                    .update_key()
                    .map_or(Duration::ZERO, |key| shared.update_wait(key))
            })
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
        let Some(mut queued) = queue
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
            let wait = pacer.wait(&shared.pacing);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        match shared.deliver(&channel, &queued.delivery).await {
            Attempt::Done => {
                if let (Some(store), Some(id)) = (&shared.store, queued.outbox) {
                    if let Err(error) = store.mark_delivered(id, chrono::Utc::now()) {
                        tracing::error!(%error, %id, "delivered, but could not mark it so");
                    }
                }
            }
            Attempt::Unreachable if queued.outbox.is_some() => {
                let delay = retry_delay(queued.attempts, shared.pacing.max_retry_delay);
                queued.attempts += 1;
                if let (Some(store), Some(id)) = (&shared.store, queued.outbox) {
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
}

impl Shared {
    fn update_wait(&self, key: i64) -> Duration {
        let last = self.last_update.lock().expect("update lock poisoned");
        match last.get(&key) {
            Some(at) => self.pacing.update_interval.saturating_sub(at.elapsed()),
            None => Duration::ZERO,
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

    async fn deliver(&self, channel: &ChannelId, delivery: &Delivery) -> Attempt {
        let result = match delivery {
            Delivery::Post { key, message } => {
                if self.ts_of(*key).is_some() {
                    // Posted just before a crash that kept it from being marked delivered.
                    return Attempt::Done;
                }
                self.post_new(channel, *key, message).await
            }
            Delivery::Update { key, message, .. } => {
                let result = match self.ts_of(*key) {
                    Some(ts) => match self.update_ts(channel, &ts, message).await {
                        // Deleted by someone: the news must still reach the channel.
                        Err(ApiFailure::Refused { code, .. }) if code == "message_not_found" => {
                            self.post_new(channel, *key, message).await
                        }
                        other => other.map(|_| ()),
                    },
                    // The post never went through: post this version instead, so the result
                    // is not lost with it.
                    None => self.post_new(channel, *key, message).await,
                };
                // Counted from when Slack took the update: retries after a 429 must not let
                // the next update follow right behind.
                self.last_update
                    .lock()
                    .expect("update lock poisoned")
                    .insert(*key, Instant::now());
                result
            }
            Delivery::UpdateTs { ts, message } => {
                self.update_ts(channel, ts, message).await.map(|_| ())
            }
            Delivery::Ephemeral { user, message } => {
                let message = enforce_limits(message.clone());
                let params = json!({
                    "channel": channel.as_str(),
                    "user": user.as_str(),
                    "text": message.text,
                    "blocks": message.blocks,
                });
                self.api
                    .call("chat.postEphemeral", &params)
                    .await
                    .map(|_| ())
            }
            Delivery::Upload {
                key,
                file_name,
                content,
            } => {
                let thread = self.ts_of(*key);
                self.api
                    .upload_file(channel.as_str(), thread.as_deref(), file_name, content)
                    .await
            }
        };
        match result {
            Ok(()) => Attempt::Done,
            Err(ApiFailure::Refused { method, code }) => {
                tracing::error!(%method, %code, channel = %channel, "Slack refused a message; dropping it");
                Attempt::Done
            }
            Err(ApiFailure::Unavailable { .. }) => Attempt::Unreachable,
        }
    }

    async fn post_new(
        &self,
        channel: &ChannelId,
        key: i64,
        message: &Message,
    ) -> Result<(), ApiFailure> {
        let message = enforce_limits(message.clone());
        let params = json!({
            "channel": channel.as_str(),
            "text": message.text,
            "blocks": message.blocks,
            "unfurl_links": false,
        });
        let answer = self.api.call("chat.postMessage", &params).await?;
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
        message: &Message,
    ) -> Result<Value, ApiFailure> {
        let message = enforce_limits(message.clone());
        let params = json!({
            "channel": channel.as_str(),
            "ts": ts,
            "text": message.text,
            "blocks": message.blocks,
        });
        self.api.call("chat.update", &params).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> Message {
        Message {
            text: text.into(),
            blocks: Default::default(),
        }
    }

    fn texts(pending: &VecDeque<Queued>) -> Vec<String> {
        pending
            .iter()
            .map(|q| match &q.delivery {
                Delivery::Post { message, .. } => format!("post {}", message.text),
                Delivery::Update { message, kind, .. } => format!("{kind:?} {}", message.text),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn queued(delivery: Delivery) -> Queued {
        Queued {
            delivery,
            outbox: None,
            attempts: 0,
        }
    }

    #[test]
    fn progress_updates_waiting_in_the_queue_are_coalesced_in_place() {
        let mut pending = VecDeque::new();
        let update = |key: i64, text: &str, kind| {
            queued(Delivery::Update {
                key,
                message: message(text),
                kind,
            })
        };
        coalesce_into(
            &mut pending,
            queued(Delivery::Post {
                key: 1,
                message: message("a0"),
            }),
        );
        coalesce_into(&mut pending, update(1, "a1", UpdateKind::Progress));
        coalesce_into(&mut pending, update(2, "b1", UpdateKind::Progress));
        coalesce_into(&mut pending, update(1, "a2", UpdateKind::Progress));
        assert_eq!(texts(&pending), ["post a0", "Progress a2", "Progress b1"]);
        // A final update drops the waiting progress of its message and goes last.
        coalesce_into(&mut pending, update(1, "a-final", UpdateKind::Final));
        assert_eq!(texts(&pending), ["post a0", "Progress b1", "Final a-final"]);
        // Progress after a final never overwrites it.
        coalesce_into(&mut pending, update(1, "a-late", UpdateKind::Progress));
        assert_eq!(texts(&pending), ["post a0", "Progress b1", "Final a-final"]);
    }

    #[test]
    fn posts_are_paced_after_a_burst() {
        let pacing = Pacing {
            post_burst: 2,
            ..Pacing::default()
        };
        let mut pacer = PostPacer::new(&pacing);
        assert_eq!(pacer.wait(&pacing), Duration::ZERO);
        assert_eq!(pacer.wait(&pacing), Duration::ZERO);
        let third = pacer.wait(&pacing);
        assert!(
            third > Duration::from_millis(900) && third <= Duration::from_secs(1),
            "{third:?}"
        );
    }

    /// The outbox row `delivery` becomes, as the store would give it back.
    fn stored_row(id: i64, delivery: &Delivery) -> OutboxMessage {
        let (kind, payload) = delivery.stored_form().unwrap();
        OutboxMessage {
            id: OutboxId(id),
            channel: ChannelId("C1".into()),
            kind: kind.into(),
            payload,
            run_id: None,
            created_at: chrono::Utc::now(),
            attempts: 0,
            next_attempt_at: chrono::Utc::now(),
            delivered_at: None,
        }
    }

    #[test]
    fn stored_deliveries_come_back_the_same_after_a_restart() {
        let cases = [
            Delivery::Update {
                key: 7,
                message: message("final"),
                kind: UpdateKind::Final,
            },
            Delivery::UpdateTs {
                ts: "1.2".into(),
                message: message("clicked"),
            },
            Delivery::Ephemeral {
                user: SlackUserId::new("U1"),
                message: message("denied"),
            },
            Delivery::Upload {
                key: 7,
                file_name: "log.txt".into(),
                content: "lines".into(),
            },
        ];
        for delivery in cases {
            let back = Delivery::from_stored(&stored_row(9, &delivery)).unwrap();
            assert_eq!(format!("{back:?}"), format!("{delivery:?}"));
        }
        // A post's key is its own outbox id.
        let post = Delivery::Post {
            key: 0,
            message: message("hi"),
        };
        assert!(matches!(
            Delivery::from_stored(&stored_row(42, &post)),
            Some(Delivery::Post { key: 42, .. })
        ));
        // Progress is never stored.
        assert!(Delivery::Update {
            key: 1,
            message: message("p"),
            kind: UpdateKind::Progress
        }
        .stored_form()
        .is_none());
    }

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let cap = Duration::from_secs(30);
        let delays: Vec<u64> = (0..7).map(|n| retry_delay(n, cap).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
    }
}
