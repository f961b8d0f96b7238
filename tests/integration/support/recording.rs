//! An in-process [`Outlet`] that keeps what the bot posted as console text (buttons included)
//! and the final versions of updated messages, for tests that drive `App` directly.

use loadtest_bot::model::ChannelId;
use loadtest_bot::outlet::{MessageHandle, Outlet, UpdateKind};
use loadtest_bot::render::Message;
use std::sync::Mutex;

#[derive(Default)]
pub struct RecordingOutlet {
    texts: Mutex<Vec<String>>,
}

impl Outlet for RecordingOutlet {
    fn post(&self, channel: &ChannelId, message: &Message) -> MessageHandle {
        // The whole message as the console shows it, buttons included.
        self.texts
            .lock()
            .unwrap()
            .push(loadtest_bot::slack::block_text::to_console_text(message));
        MessageHandle::new(channel.clone())
    }
    fn update(&self, _handle: &MessageHandle, message: &Message, kind: UpdateKind) {
        if kind == UpdateKind::Final {
            self.texts.lock().unwrap().push(message.plain_text());
        }
    }
}

impl RecordingOutlet {
    /// Everything recorded since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.texts.lock().unwrap())
    }
}
