//! The one channel message each run updates in place: posted when the run is accepted, then
//! replaced by progress and by the final result. A run without a message in this process (one
//! recovered after a restart, or approved from another process) gets a fresh post.

use super::Runs;
use crate::model::{ChannelId, RunId};
use crate::outlet::{MessageHandle, RunOwner, UpdateKind};
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
                let owner = self.owner_of(run);
                let handle = match owner {
                    Some(owner) => self.services.outlet.post_for_run(channel, message, &owner),
                    None => self.services.outlet.post(channel, message),
                };
                self.remember_message(run, handle.clone());
                handle
            }
        }
    }

    /// Who a stored run belongs to, for a message posted without one in this process.
    fn owner_of(&self, run: RunId) -> Option<RunOwner> {
        let record = self.services.store.get_run(run).ok().flatten()?;
        Some(RunOwner {
            run,
            requester: record.actor,
        })
    }
}
