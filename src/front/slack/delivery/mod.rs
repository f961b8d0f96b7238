//! The Slack [`Outlet`]: posts and updates run messages through the Web API without ever
//! blocking the pipeline, and without losing what matters.
//!
//! - Durable: every post, final update, ephemeral answer and log upload is written to the
//!   store's outbox (claimed by this process) before it is queued, and marked delivered only
//!   when Slack took it or refused it for good. A Slack outage of any length is waited out
//!   (the head is retried with backoff, nothing behind it overtakes it); after a restart,
//!   [`SlackOutlet::resume`] claims and queues what was left, in order. Progress updates are
//!   not stored: the next one or the final result supersedes them.
//! - Never silently refused: a refusal is recorded on its run and told to the requester
//!   (`worker`).
//! - Ordered: one queue and one worker per channel, so a channel's messages arrive in the
//!   order the bot produced them.
//! - Paced (`pacing`): waiting progress updates of a message are coalesced (only the newest is
//!   sent), `chat.update` shares the workspace's budget, posts are paced per channel. A final
//!   update is never coalesced away.
//!
//! A message is known by its key: the outbox id of its post (negative, process-local keys
//! when the store could not take it). The key → Slack `ts` mapping is stored too, so an
//! update queued before a restart finds its message after it, and a post that was delivered
//! just before a crash is not posted twice.

mod deliveries;
mod pacing;
mod worker;

pub use pacing::Pacing;

use crate::model::{ChannelId, SlackUserId};
use crate::outlet::{MessageHandle, Outlet, RunOwner, UpdateKind};
use crate::render::Message;
use crate::slack::web_api::WebApi;
use crate::store::{NewMessage, OutboxId, Store};
use deliveries::{Delivery, Queued};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use worker::{channel_worker, Shared};

#[derive(Default)]
struct ChannelQueue {
    pending: Mutex<VecDeque<Queued>>,
    wake: Notify,
}

/// The outlet `serve` gives the pipeline.
pub struct SlackOutlet {
    shared: Arc<Shared>,
    channels: Mutex<HashMap<ChannelId, Arc<ChannelQueue>>>,
    /// Our handles → message keys, and the run each message shows.
    keys: Mutex<HashMap<u64, (i64, Option<RunOwner>)>>,
    runtime: tokio::runtime::Handle,
}

impl SlackOutlet {
    /// Must be called inside the tokio runtime that will run the delivery workers. `store`:
    /// the outbox (a connection of its own); `None` delivers from memory only.
    pub fn new(api: Arc<WebApi>, pacing: Pacing, store: Option<Store>) -> Self {
        Self {
            shared: Arc::new(Shared::new(api, pacing, store)),
            channels: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Claims and queues what the outbox still holds from before a restart (or an outage that
    /// outlived the last process), in its order; rows a live process holds are left to it.
    /// Call before anything new is posted.
    pub fn resume(&self) -> usize {
        let Some(store) = &self.shared.store else {
            return 0;
        };
        let me = std::process::id();
        let rows = match store
            .claim_pending_messages(me, |pid| crate::runs::process_is_alive(i64::from(pid)))
        {
            Ok(rows) => rows,
            Err(error) => {
                tracing::error!(%error, "cannot read the outbox; undelivered messages stay in it");
                return 0;
            }
        };
        let mut resumed = 0;
        for row in rows {
            let Some(delivery) = Delivery::from_stored(&row) else {
                tracing::error!(id = %row.id, kind = %row.kind, "unreadable outbox entry; skipping it");
                let _ = store.mark_delivered(row.id, chrono::Utc::now());
                continue;
            };
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
            run_id: delivery.run_id(),
            created_at: chrono::Utc::now(),
            claimed_by: Some(std::process::id()),
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

    /// The key and run of a message posted through this outlet.
    fn key_of(&self, handle: &MessageHandle) -> (i64, Option<RunOwner>) {
        self.keys
            .lock()
            .expect("keys lock poisoned")
            .get(&handle.local_id)
            .cloned()
            .unwrap_or((-(handle.local_id as i64), None))
    }

    fn post_owned(
        &self,
        channel: &ChannelId,
        message: &Message,
        owner: Option<RunOwner>,
    ) -> MessageHandle {
        let handle = MessageHandle::new(channel.clone());
        // Process-local key unless the outbox takes the post (then its id is the key).
        let volatile = -(handle.local_id as i64);
        let outbox = self.enqueue(
            channel,
            Delivery::Post {
                key: volatile,
                message: message.clone(),
                owner: owner.clone(),
            },
        );
        self.keys
            .lock()
            .expect("keys lock poisoned")
            .insert(handle.local_id, (outbox.map_or(volatile, |id| id.0), owner));
        handle
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
        self.post_owned(channel, message, None)
    }

    fn post_for_run(
        &self,
        channel: &ChannelId,
        message: &Message,
        owner: &RunOwner,
    ) -> MessageHandle {
        self.post_owned(channel, message, Some(owner.clone()))
    }

    fn update(&self, handle: &MessageHandle, message: &Message, kind: UpdateKind) {
        let (key, owner) = self.key_of(handle);
        self.enqueue(
            &handle.channel,
            Delivery::Update {
                key,
                message: message.clone(),
                kind,
                owner,
            },
        );
    }

    fn attach_log(&self, handle: &MessageHandle, file_name: &str, content: &str) {
        let (key, owner) = self.key_of(handle);
        self.enqueue(
            &handle.channel,
            Delivery::Upload {
                key,
                file_name: file_name.to_string(),
                content: content.to_string(),
                owner,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                message: Message::text(text),
                kind,
                owner: None,
            })
        };
        let post = Delivery::Post {
            key: 1,
            message: Message::text("a0"),
            owner: None,
        };
        coalesce_into(&mut pending, queued(post));
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
}
