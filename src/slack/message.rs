//! A message as Slack takes it: the top-level `text` (notification and fallback) and Block Kit
//! `blocks`. What the renderer produces and every front end shows; no transport here.

use serde_json::Value;

/// A message ready for Slack (`chat.postMessage`'s `text` and `blocks`) or the console.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Message {
    /// Notification and fallback text; for runs it begins `[<env>] <verb> <args>: <outcome>`.
    pub text: String,
    /// Block Kit blocks; empty for a text-only message.
    pub blocks: Vec<Value>,
}

impl Message {
    /// A text-only message.
    pub fn text(text: impl Into<String>) -> Message {
        Message {
            text: text.into(),
            blocks: Vec::new(),
        }
    }

    /// The top-level text as a person reads it in a terminal (entities decoded).
    pub fn plain_text(&self) -> String {
        super::mrkdwn::to_plain(&self.text)
    }
}
