//! Where the pipeline's messages go: the console prints them, Slack posts and updates them.
//! The pipeline only ever calls this trait; it never knows which front end is listening.

use crate::model::{ChannelId, RunId, SlackUserId};
use crate::render::Message;
use std::sync::atomic::{AtomicU64, Ordering};

/// Our own handle for a posted message, so it can be updated in place later. Front ends map
/// it to what they need (Slack: the message `ts`, which arrives after the post).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageHandle {
    pub channel: ChannelId,
    pub local_id: u64,
}

static NEXT_LOCAL_ID: AtomicU64 = AtomicU64::new(1);

impl MessageHandle {
    pub fn new(channel: ChannelId) -> Self {
        Self {
            channel,
            local_id: NEXT_LOCAL_ID.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// What kind of update a message is; progress may be coalesced or shown transiently,
/// everything else must be delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateKind {
    Progress,
    Final,
}

/// The run a message shows and who asked for it: a front end that cannot deliver the
/// message records that on the run and tells the requester another way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOwner {
    pub run: RunId,
    pub requester: SlackUserId,
}

/// Receives a run's messages. Implementations return at once (delivery may happen later, in
/// order) so a slow front end never stalls Terraform's output.
pub trait Outlet: Send + Sync {
    /// A new message in the channel; the handle identifies it for later updates.
    fn post(&self, channel: &ChannelId, message: &Message) -> MessageHandle;
    /// A run's message: like [`Outlet::post`], and its updates and log belong to `owner`.
    fn post_for_run(
        &self,
        channel: &ChannelId,
        message: &Message,
        owner: &RunOwner,
    ) -> MessageHandle {
        let _ = owner;
        self.post(channel, message)
    }
    /// Replaces a posted message (progress in place, then the final result).
    fn update(&self, handle: &MessageHandle, message: &Message, kind: UpdateKind);
    /// The full masked log of a run, when the final message cannot carry it.
    fn attach_log(&self, handle: &MessageHandle, file_name: &str, content: &str) {
        let _ = (handle, file_name, content);
    }
}
