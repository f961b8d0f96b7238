//! What the Slack outlet delivers — posts, updates, ephemerals, log uploads — and their stored
//! form in the outbox, so a restart resumes exactly what was left. Progress updates are never
//! stored: the next one or the final result supersedes them.

use crate::model::{RunId, SlackUserId};
use crate::outlet::{RunOwner, UpdateKind};
use crate::render::Message;
use crate::store::{OutboxId, OutboxMessage};
use serde_json::{json, Value};

/// One thing to deliver to a channel.
#[derive(Debug)]
pub(super) enum Delivery {
    Post {
        key: i64,
        message: Message,
        owner: Option<RunOwner>,
    },
    Update {
        key: i64,
        message: Message,
        kind: UpdateKind,
        owner: Option<RunOwner>,
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
        owner: Option<RunOwner>,
    },
}

/// A delivery and, when stored, its outbox row.
#[derive(Debug)]
pub(super) struct Queued {
    pub(super) delivery: Delivery,
    pub(super) outbox: Option<OutboxId>,
    pub(super) attempts: u32,
}

impl Delivery {
    /// The run the delivery shows, if any.
    pub(super) fn owner(&self) -> Option<&RunOwner> {
        match self {
            Delivery::Post { owner, .. }
            | Delivery::Update { owner, .. }
            | Delivery::Upload { owner, .. } => owner.as_ref(),
            Delivery::UpdateTs { .. } | Delivery::Ephemeral { .. } => None,
        }
    }

    /// Who should hear about it when Slack refuses it: the run's requester, or the user an
    /// ephemeral answer was for.
    pub(super) fn person(&self) -> Option<&SlackUserId> {
        match self {
            Delivery::Ephemeral { user, .. } => Some(user),
            other => other.owner().map(|owner| &owner.requester),
        }
    }

    /// The message's own text, to pass on when it cannot be shown where it belongs.
    pub(super) fn text(&self) -> Option<&str> {
        match self {
            Delivery::Post { message, .. }
            | Delivery::Update { message, .. }
            | Delivery::UpdateTs { message, .. }
            | Delivery::Ephemeral { message, .. } => Some(&message.text),
            Delivery::Upload { .. } => None,
        }
    }

    pub(super) fn update_key(&self) -> Option<i64> {
        match self {
            Delivery::Update { key, .. } => Some(*key),
            _ => None,
        }
    }

    pub(super) fn is_update(&self) -> bool {
        matches!(self, Delivery::Update { .. } | Delivery::UpdateTs { .. })
    }

    /// The outbox kind and payload; `None` for what is not worth storing (progress).
    pub(super) fn stored_form(&self) -> Option<(&'static str, Value)> {
        let message_json =
            |message: &Message| json!({"text": message.text, "blocks": message.blocks});
        let (kind, mut payload) = match self {
            Delivery::Post { message, .. } => ("post", message_json(message)),
            Delivery::Update {
                kind: UpdateKind::Progress,
                ..
            } => return None,
            Delivery::Update { key, message, .. } => {
                let mut payload = message_json(message);
                payload["key"] = json!(key);
                ("update", payload)
            }
            Delivery::UpdateTs { ts, message } => {
                let mut payload = message_json(message);
                payload["ts"] = json!(ts);
                ("update_ts", payload)
            }
            Delivery::Ephemeral { user, message } => {
                let mut payload = message_json(message);
                payload["user"] = json!(user.as_str());
                ("ephemeral", payload)
            }
            Delivery::Upload {
                key,
                file_name,
                content,
                ..
            } => (
                "upload",
                json!({"key": key, "file_name": file_name, "content": content}),
            ),
        };
        if let Some(owner) = self.owner() {
            payload["requester"] = json!(owner.requester.as_str());
        }
        Some((kind, payload))
    }

    /// Back from the outbox (after a restart). `None` for a row this version cannot read.
    pub(super) fn from_stored(row: &OutboxMessage) -> Option<Delivery> {
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
        let owner = match (row.run_id, text("requester")) {
            (Some(run), Some(requester)) => Some(RunOwner {
                run,
                requester: SlackUserId::new(requester),
            }),
            _ => None,
        };
        let key = payload.get("key").and_then(Value::as_i64);
        Some(match row.kind.as_str() {
            "post" => Delivery::Post {
                key: row.id.0,
                message: message(),
                owner,
            },
            "update" => Delivery::Update {
                key: key?,
                message: message(),
                kind: UpdateKind::Final,
                owner,
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
                owner,
            },
            _ => return None,
        })
    }

    /// The run to store with the row, so its owner survives a restart.
    pub(super) fn run_id(&self) -> Option<RunId> {
        self.owner().map(|owner| owner.run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChannelId;

    fn message(text: &str) -> Message {
        Message::text(text)
    }

    /// The outbox row `delivery` becomes, as the store would give it back.
    fn stored_row(id: i64, delivery: &Delivery) -> OutboxMessage {
        let (kind, payload) = delivery.stored_form().unwrap();
        OutboxMessage {
            id: OutboxId(id),
            channel: ChannelId("C1".into()),
            kind: kind.into(),
            payload,
            run_id: delivery.run_id(),
            created_at: chrono::Utc::now(),
            attempts: 0,
            next_attempt_at: chrono::Utc::now(),
            delivered_at: None,
        }
    }

    #[test]
    fn stored_deliveries_come_back_the_same_after_a_restart() {
        let owner = Some(RunOwner {
            run: RunId(12),
            requester: SlackUserId::new("U0CAROL"),
        });
        let cases = [
            Delivery::Update {
                key: 7,
                message: message("final"),
                kind: UpdateKind::Final,
                owner: owner.clone(),
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
                owner: None,
            },
        ];
        for delivery in cases {
            let back = Delivery::from_stored(&stored_row(9, &delivery)).unwrap();
            assert_eq!(format!("{back:?}"), format!("{delivery:?}"));
        }
        // A post's key is its own outbox id, and it keeps its owner.
        let post = Delivery::Post {
            key: 0,
            message: message("hi"),
            owner: owner.clone(),
        };
        let back = Delivery::from_stored(&stored_row(42, &post)).unwrap();
        assert!(matches!(&back, Delivery::Post { key: 42, .. }));
        assert_eq!(back.owner(), owner.as_ref());
        // Progress is never stored.
        assert!(Delivery::Update {
            key: 1,
            message: message("p"),
            kind: UpdateKind::Progress,
            owner: None,
        }
        .stored_form()
        .is_none());
    }
}
