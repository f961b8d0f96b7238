//! The AMI each environment is pinned to: the `resolved_ami_id` of its first successful apply,
//! passed as `ami_id` to every later run so that a new Amazon Linux release never rolls the
//! hosts by itself; `refresh-image` clears it and its apply pins the new one. Owns the
//! `ami_pins` table, which it creates itself (`IF NOT EXISTS`) on first use instead of through
//! a numbered migration: it is one small table that nothing else joins, and a store opened by
//! an older bot simply never has it.

use super::{millis, Store, StoreError};
use crate::model::EnvName;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

const CREATE: &str = "CREATE TABLE IF NOT EXISTS ami_pins (
    env TEXT PRIMARY KEY NOT NULL,
    ami_id TEXT NOT NULL,
    pinned_at INTEGER NOT NULL
)";

fn ensure_table(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(CREATE)
}

impl Store {
    /// The AMI `env` is pinned to, if any.
    pub fn pinned_ami(&self, env: &EnvName) -> Result<Option<String>, StoreError> {
        self.write(|tx| {
            ensure_table(tx)?;
            let found = tx
                .query_row(
                    "SELECT ami_id FROM ami_pins WHERE env = ?1",
                    params![env.as_str()],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(found)
        })
    }

    /// Pins `env` to `ami_id` (replacing an earlier pin).
    pub fn pin_ami(
        &self,
        env: &EnvName,
        ami_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            ensure_table(tx)?;
            tx.execute(
                "INSERT INTO ami_pins (env, ami_id, pinned_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (env) DO UPDATE SET ami_id = excluded.ami_id, pinned_at = excluded.pinned_at",
                params![env.as_str(), ami_id, millis(now)],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_is_kept_replaced_and_per_environment() {
        let store = Store::open_in_memory().unwrap();
        let (lt1, lt2) = (EnvName::new("lt1"), EnvName::new("lt2"));
        assert_eq!(store.pinned_ami(&lt1).unwrap(), None);
        store.pin_ami(&lt1, "ami-0aaa", Utc::now()).unwrap();
        assert_eq!(store.pinned_ami(&lt1).unwrap().as_deref(), Some("ami-0aaa"));
        assert_eq!(store.pinned_ami(&lt2).unwrap(), None);
        store.pin_ami(&lt1, "ami-0bbb", Utc::now()).unwrap();
        assert_eq!(store.pinned_ami(&lt1).unwrap().as_deref(), Some("ami-0bbb"));
    }
}
