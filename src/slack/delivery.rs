//! The Slack [`Outlet`]: posts and updates run messages through the Web API without ever
//! blocking the pipeline. Each channel has one ordered queue and one worker, so a channel's
//! messages arrive in the order the bot produced them; progress updates of a message still
//! waiting in the queue are coalesced (only the newest is sent), every message is updated at
//! most once a second, and posts are paced per channel (a burst, then one a second, as Slack
//! asks). A final update is never coalesced away.

use super::web_api::{ApiFailure, WebApi};
use crate::model::{ChannelId, SlackUserId};
use crate::outlet::{MessageHandle, Outlet, UpdateKind};
use crate::render::limits::enforce_limits;
use crate::render::Message;
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
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            update_interval: Duration::from_secs(1),
            post_burst: 4,
            posts_per_second: 1.0,
        }
    }
}

/// One thing to deliver to a channel.
#[derive(Debug)]
enum Delivery {
    Post {
        handle: MessageHandle,
        message: Message,
    },
    Update {
        handle: MessageHandle,
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
        handle: MessageHandle,
        file_name: String,
        content: String,
    },
}

#[derive(Default)]
struct ChannelQueue {
    pending: Mutex<VecDeque<Delivery>>,
    wake: Notify,
}

struct Shared {
    api: Arc<WebApi>,
    pacing: Pacing,
    /// Our handle → Slack's `ts`, known once the post went through.
    posted: Mutex<HashMap<u64, String>>,
    /// When each message was last updated, for the once-a-second rule.
    last_update: Mutex<HashMap<u64, Instant>>,
}

/// The outlet `serve` gives the pipeline.
pub struct SlackOutlet {
    shared: Arc<Shared>,
    channels: Mutex<HashMap<ChannelId, Arc<ChannelQueue>>>,
    runtime: tokio::runtime::Handle,
}

impl SlackOutlet {
    /// Must be called inside the tokio runtime that will run the delivery workers.
    pub fn new(api: Arc<WebApi>, pacing: Pacing) -> Self {
        Self {
            shared: Arc::new(Shared {
                api,
                pacing,
                posted: Mutex::new(HashMap::new()),
                last_update: Mutex::new(HashMap::new()),
            }),
            channels: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Handle::current(),
        }
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

    /// Deliveries waiting in all channels (for `/metrics`).
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

    fn enqueue(&self, channel: &ChannelId, delivery: Delivery) {
        let queue = self.queue_of(channel);
        {
            let mut pending = queue.pending.lock().expect("queue lock poisoned");
            coalesce_into(&mut pending, delivery);
        }
        queue.wake.notify_one();
    }
}

/// Adds a delivery, folding progress updates of the same message that have not gone out yet.
fn coalesce_into(pending: &mut VecDeque<Delivery>, delivery: Delivery) {
    if let Delivery::Update { handle, kind, .. } = &delivery {
        let same_progress = |queued: &Delivery| matches!(queued, Delivery::Update { handle: h, kind: UpdateKind::Progress, .. } if h == handle);
        match kind {
            UpdateKind::Progress => {
                let final_waiting = pending.iter().any(|queued| {
                    matches!(queued, Delivery::Update { handle: h, kind: UpdateKind::Final, .. } if h == handle)
                });
                if final_waiting {
                    // A late progress tick must never overwrite the waiting result.
                    return;
                }
                if let Some(slot) = pending.iter_mut().find(|queued| same_progress(queued)) {
                    *slot = delivery;
                    return;
                }
            }
            UpdateKind::Final => pending.retain(|queued| !same_progress(queued)),
        }
    }
    pending.push_back(delivery);
}

impl Outlet for SlackOutlet {
    fn post(&self, channel: &ChannelId, message: &Message) -> MessageHandle {
        let handle = MessageHandle::new(channel.clone());
        self.enqueue(
            channel,
            Delivery::Post {
                handle: handle.clone(),
                message: message.clone(),
            },
        );
        handle
    }

    fn update(&self, handle: &MessageHandle, message: &Message, kind: UpdateKind) {
        self.enqueue(
            &handle.channel,
            Delivery::Update {
                handle: handle.clone(),
                message: message.clone(),
                kind,
            },
        );
    }

    fn attach_log(&self, handle: &MessageHandle, file_name: &str, content: &str) {
        self.enqueue(
            &handle.channel,
            Delivery::Upload {
                handle: handle.clone(),
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

async fn channel_worker(shared: Arc<Shared>, channel: ChannelId, queue: Arc<ChannelQueue>) {
    let mut pacer = PostPacer::new(&shared.pacing);
    loop {
        // Wait for the head's update slot without taking it out, so a newer progress
        // update can still replace it while we wait.
        let head_wait = {
            let pending = queue.pending.lock().expect("queue lock poisoned");
            match pending.front() {
                None => None,
                Some(Delivery::Update { handle, .. }) => Some(shared.update_wait(handle.local_id)),
                Some(_) => Some(Duration::ZERO),
            }
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
        let Some(delivery) = queue
            .pending
            .lock()
            .expect("queue lock poisoned")
            .pop_front()
        else {
            continue;
        };
        if matches!(delivery, Delivery::Post { .. } | Delivery::Ephemeral { .. }) {
            let wait = pacer.wait(&shared.pacing);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        shared.deliver(&channel, delivery).await;
    }
}

impl Shared {
    fn update_wait(&self, local_id: u64) -> Duration {
        let last = self.last_update.lock().expect("update lock poisoned");
        match last.get(&local_id) {
            Some(at) => self.pacing.update_interval.saturating_sub(at.elapsed()),
            None => Duration::ZERO,
        }
    }

    fn ts_of(&self, handle: &MessageHandle) -> Option<String> {
        self.posted
            .lock()
            .expect("posted lock poisoned")
            .get(&handle.local_id)
            .cloned()
    }

    async fn deliver(&self, channel: &ChannelId, delivery: Delivery) {
        match delivery {
            Delivery::Post { handle, message } => {
                self.post_new(channel, &handle, &message).await;
            }
            Delivery::Update {
                handle, message, ..
            } => {
                match self.ts_of(&handle) {
                    Some(ts) => {
                        let result = self.update_ts(channel, &ts, &message).await;
                        if let Err(ApiFailure::Refused { code, .. }) = &result {
                            if code == "message_not_found" {
                                // Deleted by someone: the news must still reach the channel.
                                self.post_new(channel, &handle, &message).await;
                            }
                        }
                    }
                    // The post never went through: post this version instead, so the result
                    // is not lost with it.
                    None => self.post_new(channel, &handle, &message).await,
                }
                // Counted from when Slack took the update: retries after a 429 must not let
                // the next update follow right behind.
                self.last_update
                    .lock()
                    .expect("update lock poisoned")
                    .insert(handle.local_id, Instant::now());
            }
            Delivery::UpdateTs { ts, message } => {
                let _ = self.update_ts(channel, &ts, &message).await;
            }
            Delivery::Ephemeral { user, message } => {
                let message = enforce_limits(message);
                let params = json!({
                    "channel": channel.as_str(),
                    "user": user.as_str(),
                    "text": message.text,
                    "blocks": message.blocks,
                });
                if let Err(error) = self.api.call("chat.postEphemeral", &params).await {
                    tracing::error!(%error, channel = %channel, "ephemeral answer not delivered");
                }
            }
            Delivery::Upload {
                handle,
                file_name,
                content,
            } => {
                let thread = self.ts_of(&handle);
                if let Err(error) = self
                    .api
                    .upload_file(channel.as_str(), thread.as_deref(), &file_name, &content)
                    .await
                {
                    tracing::error!(%error, channel = %channel, file = %file_name, "log upload failed");
                }
            }
        }
    }

    async fn post_new(&self, channel: &ChannelId, handle: &MessageHandle, message: &Message) {
        let message = enforce_limits(message.clone());
        let params = json!({
            "channel": channel.as_str(),
            "text": message.text,
            "blocks": message.blocks,
            "unfurl_links": false,
        });
        match self.api.call("chat.postMessage", &params).await {
            Ok(answer) => {
                if let Some(ts) = answer.get("ts").and_then(Value::as_str) {
                    self.posted
                        .lock()
                        .expect("posted lock poisoned")
                        .insert(handle.local_id, ts.to_string());
                }
            }
            Err(error) => {
                tracing::error!(%error, channel = %channel, "message not delivered");
            }
        }
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
        let result = self.api.call("chat.update", &params).await;
        if let Err(error) = &result {
            tracing::error!(%error, channel = %channel, "message update not delivered");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> Message {
        Message {
            text: text.into(),
            blocks: Vec::new(),
        }
    }

    fn texts(pending: &VecDeque<Delivery>) -> Vec<String> {
        pending
            .iter()
            .map(|d| match d {
                Delivery::Post { message, .. } => format!("post {}", message.text),
                Delivery::Update { message, kind, .. } => format!("{kind:?} {}", message.text),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn progress_updates_waiting_in_the_queue_are_coalesced_in_place() {
        let a = MessageHandle::new(ChannelId("C1".into()));
        let b = MessageHandle::new(ChannelId("C1".into()));
        let mut pending = VecDeque::new();
        let update = |handle: &MessageHandle, text: &str, kind| Delivery::Update {
            handle: handle.clone(),
            message: message(text),
            kind,
        };
        coalesce_into(
            &mut pending,
            Delivery::Post {
                handle: a.clone(),
                message: message("a0"),
            },
        );
        coalesce_into(&mut pending, update(&a, "a1", UpdateKind::Progress));
        coalesce_into(&mut pending, update(&b, "b1", UpdateKind::Progress));
        coalesce_into(&mut pending, update(&a, "a2", UpdateKind::Progress));
        assert_eq!(texts(&pending), ["post a0", "Progress a2", "Progress b1"]);
        // A final update drops the waiting progress of its message and goes last.
        coalesce_into(&mut pending, update(&a, "a-final", UpdateKind::Final));
        assert_eq!(texts(&pending), ["post a0", "Progress b1", "Final a-final"]);
        // Progress after a final never overwrites it.
        coalesce_into(&mut pending, update(&a, "a-late", UpdateKind::Progress));
        assert_eq!(texts(&pending), ["post a0", "Progress b1", "Final a-final"]);
    }

    #[test]
    fn posts_are_paced_after_a_burst() {
        let pacing = Pacing {
            update_interval: Duration::from_secs(1),
            post_burst: 2,
            posts_per_second: 1.0,
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
}
