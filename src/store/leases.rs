//! Per-environment state that outlives a restart: the lease (when an `up` ends), the hold
//! (scheduled scale-downs skipped until), and the size last applied successfully. Owns the
//! `leases`, `holds` and `env_state` tables; the limits themselves (`max_lease`) come from
//! the caller, which owns the configuration.

use super::CachedStatements as _;
use super::{millis, time_column, Store, StoreError};
use crate::model::{EnvName, SizeName, SlackUserId};
use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// An environment is up at `size` until `expires_at`, then the scheduler scales it down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub env: EnvName,
    pub size: SizeName,
    pub expires_at: DateTime<Utc>,
    pub set_by: SlackUserId,
    pub set_at: DateTime<Utc>,
}

/// Scheduled scale-downs of `env` are skipped until `until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub env: EnvName,
    pub until: DateTime<Utc>,
    pub set_by: SlackUserId,
    pub set_at: DateTime<Utc>,
}

/// The variable set an environment was last applied with successfully.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvSize {
    pub env: EnvName,
    pub size: SizeName,
    pub updated_at: DateTime<Utc>,
}

/// Why `extend` did not lengthen the lease. `NoLease` and `BeyondMax` are answers for the
/// user; `Store` is a fault.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{0} has no lease to extend")]
    NoLease(EnvName),
    #[error("the lease would end at {requested_end}, past the latest allowed end {max_end}")]
    BeyondMax {
        requested_end: DateTime<Utc>,
        max_end: DateTime<Utc>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for LeaseError {
    fn from(error: rusqlite::Error) -> Self {
        LeaseError::Store(StoreError::Sqlite(error))
    }
}

/// A lease row's columns; a macro so the queries are whole literals, not a `format!` per call.
macro_rules! lease_columns {
    () => {
        "env, size, expires_at, set_by, set_at"
    };
}

/// The lease of one environment (`status` and every scheduler tick read it).
const LEASE_OF_ENV: &str = concat!("SELECT ", lease_columns!(), " FROM leases WHERE env = ?1");

fn lease_from_row(row: &Row<'_>) -> rusqlite::Result<Lease> {
    Ok(Lease {
        env: EnvName(row.get("env")?),
        size: SizeName::new(row.get::<_, String>("size")?),
        expires_at: time_column(row, "expires_at")?,
        set_by: SlackUserId(row.get("set_by")?),
        set_at: time_column(row, "set_at")?,
    })
}

impl Store {
    /// Creates or replaces the lease of `lease.env`.
    pub fn set_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute_cached(
                "INSERT OR REPLACE INTO leases (env, size, expires_at, set_by, set_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    lease.env.as_str(),
                    lease.size.as_str(),
                    millis(lease.expires_at),
                    lease.set_by.as_str(),
                    millis(lease.set_at),
                ],
            )?;
            Ok(())
        })
    }

    /// The lease of `env`, expired or not (an expired lease is one the scheduler still has
    /// to act on).
    pub fn get_lease(&self, env: &EnvName) -> Result<Option<Lease>, StoreError> {
        self.read(|tx| select_lease(tx, env))
    }

    /// Every lease, soonest end first.
    pub fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        self.read(|tx| {
            let mut statement = tx.prepare_cached(concat!(
                "SELECT ",
                lease_columns!(),
                " FROM leases ORDER BY expires_at, env"
            ))?;
            let rows = statement.query_map([], lease_from_row)?;
            rows.collect()
        })
    }

    /// Removes the lease; returns whether there was one.
    pub fn clear_lease(&self, env: &EnvName) -> Result<bool, StoreError> {
        self.write(|tx| {
            Ok(tx.execute_cached("DELETE FROM leases WHERE env = ?1", [env.as_str()])? > 0)
        })
    }

    /// Moves the lease end `by` later, refusing (and changing nothing) when the new end
    /// would pass `max_end`, which the caller derives from `max_lease`.
    pub fn extend_lease(
        &self,
        env: &EnvName,
        by: std::time::Duration,
        max_end: DateTime<Utc>,
    ) -> Result<Lease, LeaseError> {
        self.write(|tx| {
            let mut lease =
                select_lease(tx, env)?.ok_or_else(|| LeaseError::NoLease(env.clone()))?;
            let requested_end = TimeDelta::from_std(by)
                .ok()
                .and_then(|by| lease.expires_at.checked_add_signed(by))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if requested_end > max_end {
                return Err(LeaseError::BeyondMax {
                    requested_end,
                    max_end,
                });
            }
            tx.execute_cached(
                "UPDATE leases SET expires_at = ?2 WHERE env = ?1",
                params![env.as_str(), millis(requested_end)],
            )?;
            lease.expires_at = requested_end;
            Ok(lease)
        })
    }

    /// Creates or replaces the hold of `hold.env`.
    pub fn set_hold(&self, hold: &Hold) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute_cached(
                "INSERT OR REPLACE INTO holds (env, until, set_by, set_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    hold.env.as_str(),
                    millis(hold.until),
                    hold.set_by.as_str(),
                    millis(hold.set_at),
                ],
            )?;
            Ok(())
        })
    }

    /// Removes the hold; returns whether there was one (expired or not).
    pub fn clear_hold(&self, env: &EnvName) -> Result<bool, StoreError> {
        self.write(|tx| {
            Ok(tx.execute_cached("DELETE FROM holds WHERE env = ?1", [env.as_str()])? > 0)
        })
    }

    /// The hold of `env` if it is still in force at `now`; an expired hold is `None`.
    pub fn get_hold(&self, env: &EnvName, now: DateTime<Utc>) -> Result<Option<Hold>, StoreError> {
        self.read(|tx| select_hold(tx, env, now))
    }

    /// Records that `env` now runs at `size` (after a successful apply).
    pub fn set_env_size(
        &self,
        env: &EnvName,
        size: &SizeName,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute_cached(
                "INSERT OR REPLACE INTO env_state (env, size, updated_at) VALUES (?1, ?2, ?3)",
                params![env.as_str(), size.as_str(), millis(now)],
            )?;
            Ok(())
        })
    }

    /// The size `env` was last applied at; `None` when the bot never applied it.
    pub fn get_env_size(&self, env: &EnvName) -> Result<Option<EnvSize>, StoreError> {
        self.read(|tx| select_env_size(tx, env))
    }
}

pub(super) fn select_lease(tx: &Connection, env: &EnvName) -> rusqlite::Result<Option<Lease>> {
    tx.query_row_cached(LEASE_OF_ENV, [env.as_str()], lease_from_row)
        .optional()
}

pub(super) fn select_hold(
    tx: &Connection,
    env: &EnvName,
    now: DateTime<Utc>,
) -> rusqlite::Result<Option<Hold>> {
    tx.query_row_cached(
        "SELECT env, until, set_by, set_at FROM holds WHERE env = ?1 AND until > ?2",
        params![env.as_str(), millis(now)],
        |row| {
            Ok(Hold {
                env: EnvName(row.get("env")?),
                until: time_column(row, "until")?,
                set_by: SlackUserId(row.get("set_by")?),
                set_at: time_column(row, "set_at")?,
            })
        },
    )
    .optional()
}

pub(super) fn select_env_size(tx: &Connection, env: &EnvName) -> rusqlite::Result<Option<EnvSize>> {
    tx.query_row_cached(
        "SELECT env, size, updated_at FROM env_state WHERE env = ?1",
        [env.as_str()],
        |row| {
            Ok(EnvSize {
                env: EnvName(row.get("env")?),
                size: SizeName::new(row.get::<_, String>("size")?),
                updated_at: time_column(row, "updated_at")?,
            })
        },
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::at;
    use std::time::Duration;

    fn lease(env: &str, expires_at: DateTime<Utc>) -> Lease {
        Lease {
            env: EnvName::new(env),
            size: SizeName::new("large"),
            expires_at,
            set_by: SlackUserId::new("UANA"),
            set_at: at(0),
        }
    }

    #[test]
    fn extending_a_lease_stops_at_the_maximum() {
        let hour = Duration::from_secs(3600);
        let max_end = at(10 * 3600);
        // (extend by, expected end or the error the user sees); each applies to the last.
        let cases: [(Duration, Result<DateTime<Utc>, &str>); 4] = [
            (hour, Ok(at(4 * 3600))),
            (6 * hour, Ok(at(10 * 3600))),
            (
                Duration::from_secs(1),
                Err(
                    "the lease would end at 2026-01-01 10:00:01 UTC, past the latest \
                     allowed end 2026-01-01 10:00:00 UTC",
                ),
            ),
            (
                Duration::MAX,
                Err("past the latest allowed end 2026-01-01 10:00:00 UTC"),
            ),
        ];
        let store = Store::open_in_memory().unwrap();
        let env = EnvName::new("lt1");
        store.set_lease(&lease("lt1", at(3 * 3600))).unwrap();
        for (by, expected) in cases {
            match (store.extend_lease(&env, by, max_end), expected) {
                (Ok(extended), Ok(end)) => assert_eq!(extended.expires_at, end, "{by:?}"),
                (Err(error), Err(text)) => {
                    assert!(error.to_string().ends_with(text), "{error} / {text}")
                }
                (got, expected) => panic!("extend {by:?}: {got:?}, expected {expected:?}"),
            }
        }
        assert_eq!(store.get_lease(&env).unwrap().unwrap().expires_at, max_end);
    }

    #[test]
    fn leases_are_per_environment_and_can_be_cleared() {
        let store = Store::open_in_memory().unwrap();
        store.set_lease(&lease("lt1", at(500))).unwrap();
        store.set_lease(&lease("lt2", at(100))).unwrap();
        store.set_lease(&lease("lt1", at(300))).unwrap(); // replaces
        let ends: Vec<_> = store
            .leases()
            .unwrap()
            .into_iter()
            .map(|l| l.expires_at)
            .collect();
        assert_eq!(ends, [at(100), at(300)]);
        let lt2 = EnvName::new("lt2");
        assert!(store.clear_lease(&lt2).unwrap());
        assert!(!store.clear_lease(&lt2).unwrap());
        assert_eq!(store.get_lease(&lt2).unwrap(), None);
        let error = store.extend_lease(&lt2, Duration::from_secs(60), at(9_999));
        assert_eq!(error.unwrap_err().to_string(), "lt2 has no lease to extend");
    }

    #[test]
    fn a_hold_counts_only_until_it_ends() {
        let store = Store::open_in_memory().unwrap();
        let env = EnvName::new("lt1");
        let hold = Hold {
            env: env.clone(),
            until: at(100),
            set_by: SlackUserId::new("UANA"),
            set_at: at(0),
        };
        store.set_hold(&hold).unwrap();
        // (now, hold in force?)
        for (now, expected) in [(at(0), true), (at(99), true), (at(100), false)] {
            assert_eq!(
                store.get_hold(&env, now).unwrap().is_some(),
                expected,
                "{now}"
            );
        }
        assert!(store.clear_hold(&env).unwrap());
        assert_eq!(store.get_hold(&env, at(0)).unwrap(), None);
    }

    #[test]
    fn the_size_last_applied_is_remembered_per_environment() {
        let store = Store::open_in_memory().unwrap();
        let env = EnvName::new("lt1");
        assert_eq!(store.get_env_size(&env).unwrap(), None);
        store
            .set_env_size(&env, &SizeName::new("large"), at(1))
            .unwrap();
        store.set_env_size(&env, &SizeName::DOWN, at(2)).unwrap();
        let size = store.get_env_size(&env).unwrap().unwrap();
        assert_eq!((size.size.as_str(), size.updated_at), ("down", at(2)));
    }
}
