//! The `schedule_fires` table: which occurrence of which schedule has fired for which
//! environment, so a restart (or a second process) never fires the same occurrence twice.
//! Computing occurrences from cron is the schedule module's job, not this one's.

use super::CachedStatements as _;
use super::{millis, optional_time_column, Store, StoreError};
use crate::model::EnvName;
use chrono::{DateTime, Utc};
use rusqlite::params;

impl Store {
    /// Claims the `occurrence` of schedule `name` for `env`. Returns `false` when it was
    /// already claimed, by this process or another: the caller then does nothing. The claim
    /// is the insert itself, so two schedulers racing on one occurrence cannot both win.
    pub fn record_fire(
        &self,
        name: &str,
        env: &EnvName,
        occurrence: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let inserted = tx.execute_cached(
                "INSERT OR IGNORE INTO schedule_fires (name, env, occurrence, fired_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![name, env.as_str(), millis(occurrence), millis(now)],
            )?;
            Ok(inserted == 1)
        })
    }

    /// The latest occurrence of schedule `name` recorded for `env` (what catch-up after a
    /// restart measures from).
    pub fn last_fire(
        &self,
        name: &str,
        env: &EnvName,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read(|tx| {
            tx.query_row_cached(
                "SELECT MAX(occurrence) AS occurrence FROM schedule_fires \
                 WHERE name = ?1 AND env = ?2",
                params![name, env.as_str()],
                |row| optional_time_column(row, "occurrence"),
            )
        })
    }
}

impl Store {
    /// When a scheduler last planned (any process): a restarted bot catches up from here.
    pub fn scheduler_last_tick(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read(|tx| {
            tx.query_row_cached(
                "SELECT MAX(value) AS value FROM scheduler_state WHERE key = 'last_tick'",
                [],
                |row| optional_time_column(row, "value"),
            )
        })
    }

    pub fn set_scheduler_last_tick(&self, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute_cached(
                "INSERT INTO scheduler_state (key, value) VALUES ('last_tick', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)",
                params![millis(at)],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{at, temp_store};

    #[test]
    fn each_occurrence_fires_once_even_across_a_restart() {
        let (dir, store) = temp_store();
        let lt1 = EnvName::new("lt1");
        let lt2 = EnvName::new("lt2");
        // (schedule, env, occurrence, expected: true = fire, false = already fired)
        let cases = [
            ("nightly-down", &lt1, at(0), true),
            ("nightly-down", &lt1, at(0), false),
            ("nightly-down", &lt2, at(0), true),
            ("weekend-off", &lt1, at(0), true),
            ("nightly-down", &lt1, at(86_400), true),
        ];
        for (name, env, occurrence, expected) in cases {
            let fired = store.record_fire(name, env, occurrence, at(5)).unwrap();
            assert_eq!(fired, expected, "{name} {env} {occurrence}");
        }
        drop(store);

        let reopened = Store::open_in_dir(dir.path()).unwrap();
        assert!(!reopened
            .record_fire("nightly-down", &lt1, at(86_400), at(9))
            .unwrap());
        assert_eq!(
            reopened.last_fire("nightly-down", &lt1).unwrap(),
            Some(at(86_400))
        );
        assert_eq!(
            reopened
                .last_fire("nightly-down", &EnvName::new("lt3"))
                .unwrap(),
            None
        );
    }
}
