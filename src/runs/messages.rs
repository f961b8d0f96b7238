//! The one channel message each run updates in place: posted when the run is accepted, then
//! replaced by progress and by the final result. A run without a message in this process (one
//! recovered after a restart, or approved from another process) gets a fresh post.

use super::Runs;
use crate::model::{ChannelId, RunId};
use crate::outlet::{MessageHandle, UpdateKind};
use crate::render::Message;

impl Runs {
    pub(super) fn remember_message(&self, run: RunId, handle: MessageHandle) {
        self.messages
            .lock()
            .expect("messages lock poisoned")
            .insert(run, handle);
    }

    /// Shows `message` as the run's current one: an update in place, or a fresh post.
    pub(super) fn show(
        &self,
        run: RunId,
        channel: &ChannelId,
        message: &Message,
        kind: UpdateKind,
    ) -> MessageHandle {
        let known = self
            .messages
            .lock()
            .expect("messages lock poisoned")
            .get(&run)
            .cloned();
        match known {
            Some(handle) => {
                self.services.outlet.update(&handle, message, kind);
                handle
            }
            None => {
                let handle = self.services.outlet.post(channel, message);
                self.remember_message(run, handle.clone());
                handle
            }
        }
    }
}
