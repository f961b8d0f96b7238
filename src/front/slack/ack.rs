//! The answer that rides on a slash command's acknowledgement: the reply's text and blocks,
//! shown in the channel (`in_channel`) or to the requester alone (`ephemeral`).

use crate::render::Message;
use serde_json::Value;

/// What goes back on the slash command's ack.
#[derive(Clone, Debug, PartialEq)]
pub struct AckReply {
    pub text: String,
    pub blocks: Vec<Value>,
    /// `in_channel` (accepted runs, answers) or `ephemeral` (errors, denials).
    pub in_channel: bool,
}

impl AckReply {
    pub fn from_message(message: Message, in_channel: bool) -> Self {
        Self {
            text: message.text,
            blocks: message.blocks,
            in_channel,
        }
    }

    /// The JSON body Slack expects in an HTTP-mode response or a Socket Mode ack payload.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.body()).unwrap_or_default()
    }

    /// [`AckReply::to_json`] as text, written straight from the reply (no copy of the blocks).
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(&self.body()).unwrap_or_default()
    }

    fn body(&self) -> AckBody<'_> {
        AckBody {
            response_type: if self.in_channel {
                "in_channel"
            } else {
                "ephemeral"
            },
            text: &self.text,
            blocks: &self.blocks,
        }
    }
}

#[derive(serde::Serialize)]
struct AckBody<'a> {
    response_type: &'static str,
    text: &'a str,
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    blocks: &'a [Value],
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_ack_body_names_its_visibility_and_omits_empty_blocks() {
        let mut ack = AckReply {
            text: "status of lt1".into(),
            blocks: Vec::new(),
            in_channel: false,
        };
        assert_eq!(
            ack.to_json(),
            json!({"response_type": "ephemeral", "text": "status of lt1"})
        );
        ack.in_channel = true;
        ack.blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": "*lt1*"}})];
        let as_text: Value = serde_json::from_str(&ack.to_json_string()).unwrap();
        assert_eq!(as_text, ack.to_json());
        assert_eq!(as_text["response_type"], "in_channel");
        assert_eq!(as_text["blocks"][0]["text"]["text"], "*lt1*");
    }
}
