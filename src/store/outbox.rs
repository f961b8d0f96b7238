//! The `outbox` table: Slack messages accepted for delivery but not yet delivered, kept so
//! they go out later, in order, after a Slack outage or a restart. Stores opaque
//! JSON payloads; what they mean on the wire is the slack module's business.

use super::CachedStatements as _;
use super::{corrupt, limit_param, millis, optional_time_column, time_column, Store, StoreError};
use crate::model::{ChannelId, RunId};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use std::fmt;

/// A message's place in the outbox; delivery order is id order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutboxId(pub i64);

impl fmt::Display for OutboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A message to deliver.
#[derive(Clone, Debug, PartialEq)]
pub struct NewMessage {
    pub channel: ChannelId,
    /// What to do with it on delivery, e.g. `post`, `update`, `upload`.
    pub kind: String,
    pub payload: serde_json::Value,
    pub run_id: Option<RunId>,
    pub created_at: DateTime<Utc>,
    /// The process that will deliver it (it is claimed as it is queued).
    pub claimed_by: Option<u32>,
}

/// A message as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxMessage {
    pub id: OutboxId,
    pub channel: ChannelId,
    pub kind: String,
    pub payload: serde_json::Value,
    pub run_id: Option<RunId>,
    pub created_at: DateTime<Utc>,
    /// Failed delivery attempts so far.
    pub attempts: u32,
    /// Not to be retried before this time.
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxMessage> {
    let payload_text: String = row.get("payload")?;
    let payload = serde_json::from_str(&payload_text).map_err(|_| corrupt("payload", "text"))?;
    Ok(OutboxMessage {
        id: OutboxId(row.get("id")?),
        channel: ChannelId(row.get("channel")?),
        kind: row.get("kind")?,
        payload,
        run_id: row.get::<_, Option<i64>>("run_id")?.map(RunId),
        created_at: time_column(row, "created_at")?,
        attempts: row.get("attempts")?,
        next_attempt_at: time_column(row, "next_attempt_at")?,
        delivered_at: optional_time_column(row, "delivered_at")?,
    })
}

impl Store {
    /// Queues a message; it is due at once.
    pub fn enqueue_message(&self, message: &NewMessage) -> Result<OutboxId, StoreError> {
        self.write(|tx| {
            tx.execute_cached(
                "INSERT INTO outbox (channel, kind, payload, run_id, created_at, \
                 next_attempt_at, claimed_by) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
                params![
                    message.channel.as_str(),
                    message.kind,
                    message.payload.to_string(),
                    message.run_id.map(|id| id.0),
                    millis(message.created_at),
                    message.claimed_by,
                ],
            )?;
            Ok(OutboxId(tx.last_insert_rowid()))
        })
    }

    /// Undelivered messages in delivery (id) order, of one channel or of all. Includes
    /// messages waiting out a retry delay: a later message must not overtake an earlier
    /// one to the same channel, so the deliverer looks at the first message's
    /// `next_attempt_at` and waits rather than skipping it.
    pub fn pending_messages(
        &self,
        channel: Option<&ChannelId>,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.read(|tx| {
            let mut statement = tx.prepare_cached(
                "SELECT id, channel, kind, payload, run_id, created_at, attempts, \
                 next_attempt_at, delivered_at FROM outbox \
                 WHERE delivered_at IS NULL AND (?1 IS NULL OR channel = ?1) \
                 ORDER BY id LIMIT ?2",
            )?;
            let rows = statement.query_map(
                params![channel.map(ChannelId::as_str), limit_param(limit)],
                message_from_row,
            )?;
            rows.collect()
        })
    }

    /// Claims for process `me` every undelivered row that no live process holds (unclaimed,
    /// or claimed by a process `is_alive` says is gone), and returns the rows `me` holds, in
    /// delivery order. What another live process holds is left to it.
    pub fn claim_pending_messages(
        &self,
        me: u32,
        is_alive: impl Fn(u32) -> bool,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.write(|tx| {
            let holders: Vec<u32> = {
                let mut statement = tx.prepare_cached(
                    "SELECT DISTINCT claimed_by FROM outbox \
                     WHERE delivered_at IS NULL AND claimed_by IS NOT NULL",
                )?;
                let rows = statement.query_map([], |row| row.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            for holder in holders
                .into_iter()
                .filter(|pid| *pid != me && !is_alive(*pid))
            {
                tx.execute_cached(
                    "UPDATE outbox SET claimed_by = NULL \
                     WHERE delivered_at IS NULL AND claimed_by = ?1",
                    [holder],
                )?;
            }
            tx.execute_cached(
                "UPDATE outbox SET claimed_by = ?1 \
                 WHERE delivered_at IS NULL AND claimed_by IS NULL",
                [me],
            )?;
            let mut statement = tx.prepare_cached(
                "SELECT id, channel, kind, payload, run_id, created_at, attempts, \
                 next_attempt_at, delivered_at FROM outbox \
                 WHERE delivered_at IS NULL AND claimed_by = ?1 ORDER BY id",
            )?;
            let rows = statement.query_map([me], message_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Whether process `me` still holds the row (checked right before sending it).
    pub fn holds_message(&self, id: OutboxId, me: u32) -> Result<bool, StoreError> {
        self.read(|tx| {
            let holder: Option<Option<u32>> = tx
                .query_row_cached(
                    "SELECT claimed_by FROM outbox WHERE id = ?1 AND delivered_at IS NULL",
                    [id.0],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(holder == Some(Some(me)))
        })
    }

    pub fn mark_delivered(&self, id: OutboxId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute_cached(
                "UPDATE outbox SET delivered_at = COALESCE(delivered_at, ?2) WHERE id = ?1",
                params![id.0, millis(now)],
            )?;
            Ok(())
        })
    }

    /// Counts a failed attempt and defers the message until `next_attempt_at`.
    pub fn mark_attempt_failed(
        &self,
        id: OutboxId,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute_cached(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2 \
                 WHERE id = ?1 AND delivered_at IS NULL",
                params![id.0, millis(next_attempt_at)],
            )?;
            Ok(())
        })
    }

    /// Remembers the Slack `ts` of the message posted by outbox entry `key`.
    pub fn remember_message_ts(
        &self,
        key: OutboxId,
        channel: &ChannelId,
        ts: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute_cached(
                "INSERT OR REPLACE INTO slack_messages (key, channel, ts) VALUES (?1, ?2, ?3)",
                params![key.0, channel.as_str(), ts],
            )?;
            Ok(())
        })
    }

    /// The Slack `ts` of the message posted by outbox entry `key`, once it was delivered.
    pub fn message_ts(&self, key: OutboxId) -> Result<Option<String>, StoreError> {
        self.read(|tx| {
            tx.query_row_cached(
                "SELECT ts FROM slack_messages WHERE key = ?1",
                [key.0],
                |row| row.get(0),
            )
            .optional()
        })
    }

    /// How many messages wait for delivery (a metric; high means Slack is unreachable).
    pub fn outbox_depth(&self) -> Result<u64, StoreError> {
        self.read(|tx| {
            tx.query_row_cached(
                "SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL",
                [],
                |row| row.get(0),
            )
        })
    }

    /// Deletes messages delivered before `before`, so the table does not grow forever;
    /// returns how many went.
    pub fn prune_delivered(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        self.write(|tx| {
            Ok(tx.execute_cached(
                "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?1",
                [millis(before)],
            )?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::at;
    use serde_json::json;

    fn message(channel: &str, text: &str) -> NewMessage {
        NewMessage {
            channel: ChannelId::new(channel),
            kind: "post".into(),
            payload: json!({ "text": text }),
            run_id: None,
            created_at: at(1),
            claimed_by: None,
        }
    }

    fn texts(messages: &[OutboxMessage]) -> Vec<String> {
        messages
            .iter()
            .map(|m| m.payload["text"].to_string())
            .collect()
    }

    #[test]
    fn pending_messages_come_out_in_the_order_they_went_in() {
        let store = Store::open_in_memory().unwrap();
        let first = store.enqueue_message(&message("C1", "one")).unwrap();
        store.enqueue_message(&message("C2", "elsewhere")).unwrap();
        store.enqueue_message(&message("C1", "two")).unwrap();
        store.enqueue_message(&message("C1", "three")).unwrap();
        assert_eq!(store.outbox_depth().unwrap(), 4);

        // A failed first message keeps its place (with its retry time) instead of being
        // overtaken by later ones.
        store.mark_attempt_failed(first, at(60)).unwrap();
        let c1 = ChannelId::new("C1");
        let pending = store.pending_messages(Some(&c1), 10).unwrap();
        assert_eq!(texts(&pending), [r#""one""#, r#""two""#, r#""three""#]);
        assert_eq!(
            (pending[0].attempts, pending[0].next_attempt_at),
            (1, at(60))
        );
        assert_eq!(pending[1].next_attempt_at, at(1));

        store.mark_delivered(first, at(61)).unwrap();
        let all = store.pending_messages(None, 2).unwrap();
        assert_eq!(texts(&all), [r#""elsewhere""#, r#""two""#]);
        assert_eq!(store.outbox_depth().unwrap(), 3);
        assert_eq!(store.prune_delivered(at(62)).unwrap(), 1);
    }

    #[test]
    fn rows_are_claimed_by_one_live_process_and_taken_over_from_a_dead_one() {
        let store = Store::open_in_memory().unwrap();
        let mine = store
            .enqueue_message(&NewMessage {
                claimed_by: Some(100),
                ..message("C1", "mine")
            })
            .unwrap();
        let theirs = store
            .enqueue_message(&NewMessage {
                claimed_by: Some(200),
                ..message("C1", "theirs")
            })
            .unwrap();
        let left = store.enqueue_message(&message("C1", "left over")).unwrap();
        // 200 is alive: its row stays its own; the unclaimed one becomes 100's.
        let claimed = store.claim_pending_messages(100, |pid| pid == 200).unwrap();
        let ids: Vec<OutboxId> = claimed.iter().map(|m| m.id).collect();
        assert_eq!(ids, [mine, left]);
        assert!(store.holds_message(left, 100).unwrap());
        assert!(!store.holds_message(theirs, 100).unwrap());
        // 200 died: a later claim takes its row over.
        let claimed = store.claim_pending_messages(100, |_| false).unwrap();
        assert_eq!(claimed.len(), 3);
        assert!(store.holds_message(theirs, 100).unwrap());
        store.mark_delivered(theirs, at(5)).unwrap();
        assert!(
            !store.holds_message(theirs, 100).unwrap(),
            "delivered rows are held by nobody"
        );
    }
}
