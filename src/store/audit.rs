//! The `audit` table: every command the bot received and what it decided, denials included
//! (so an access review sees who tried what). Append-only. The caller masks the command text
//! before it gets here; this file stores what it is given and never edits or deletes a row.

use super::{limit_param, millis, time_column, Store, StoreError};
use crate::model::{ChannelId, EnvName, RunId, SlackUserId};
use chrono::{DateTime, Utc};
use rusqlite::{params, Row};

/// One decision about one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: SlackUserId,
    pub channel: ChannelId,
    /// `None` when the command named no environment we could resolve.
    pub env: Option<EnvName>,
    /// The command as typed, already masked.
    pub command: String,
    /// `allowed`, `denied: …`, `bad input: …`, `approved`, `rejected`, …
    pub decision: String,
    pub run_id: Option<RunId>,
}

/// An [`AuditEntry`] as stored, with its sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub entry: AuditEntry,
}

fn audit_from_row(row: &Row<'_>) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        id: row.get("id")?,
        entry: AuditEntry {
            at: time_column(row, "at")?,
            actor: SlackUserId(row.get("actor")?),
            channel: ChannelId(row.get("channel")?),
            env: row.get::<_, Option<String>>("env")?.map(EnvName),
            command: row.get("command")?,
            decision: row.get("decision")?,
            run_id: row.get::<_, Option<i64>>("run_id")?.map(RunId),
        },
    })
}

fn insert_entry(tx: &rusqlite::Transaction<'_>, entry: &AuditEntry) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO audit (at, actor, channel, env, command, decision, run_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        millis(entry.at),
        entry.actor.as_str(),
        entry.channel.as_str(),
        entry.env.as_ref().map(EnvName::as_str),
        entry.command,
        entry.decision,
        entry.run_id.map(|id| id.0),
    ])?;
    Ok(())
}

impl Store {
    /// Appends one entry; returns its sequence number.
    pub fn audit(&self, entry: &AuditEntry) -> Result<i64, StoreError> {
        self.write(|tx| {
            insert_entry(tx, entry)?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Appends entries in one transaction (one fsync for all: the group commit of
    /// [`crate::audit_log::AuditLog`]).
    pub fn audit_many(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        self.write(|tx| {
            for entry in entries {
                insert_entry(tx, entry)?;
            }
            Ok(())
        })
    }

    /// The newest `limit` entries, newest first.
    pub fn recent_audit(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.read(|tx| {
            let mut statement = tx.prepare_cached(
                "SELECT id, at, actor, channel, env, command, decision, run_id FROM audit \
                 ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = statement.query_map([limit_param(limit)], audit_from_row)?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{at, new_run};

    fn entry(command: &str, decision: &str, run_id: Option<RunId>) -> AuditEntry {
        AuditEntry {
            at: at(1),
            actor: SlackUserId::new("UANA"),
            channel: ChannelId::new("C1"),
            env: Some(EnvName::new("lt1")),
            command: command.into(),
            decision: decision.into(),
            run_id,
        }
    }

    #[test]
    fn recent_audit_lists_decisions_newest_first() {
        let store = Store::open_in_memory().unwrap();
        let run = store.create_run(&new_run("lt1", "up", "large")).unwrap();
        let entries = [
            entry("up large", "allowed", Some(run)),
            entry("off", "denied: admin only", None),
            entry("up huge", "bad input: unknown size huge", None),
        ];
        for entry in &entries {
            store.audit(entry).unwrap();
        }
        let recent = store.recent_audit(2).unwrap();
        let shown: Vec<_> = recent.iter().map(|r| r.entry.clone()).collect();
        assert_eq!(shown, [entries[2].clone(), entries[1].clone()]);
        assert_eq!(store.recent_audit(10).unwrap()[2].entry, entries[0]);
    }

    #[test]
    fn an_entry_naming_a_run_that_does_not_exist_is_refused() {
        // Foreign keys are on: the audit trail never points at nothing.
        let store = Store::open_in_memory().unwrap();
        assert!(store
            .audit(&entry("up large", "allowed", Some(RunId(5))))
            .is_err());
        assert_eq!(store.recent_audit(10).unwrap(), []);
    }
}
