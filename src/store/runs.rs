//! The `runs` table: one row per mutating or planning job, from queued to its final outcome.
//! Owns the run lifecycle writes and the queries `status`/`history` need; approvals (the race-
//! sensitive part) live in `approval.rs`, next door. Decides nothing about who may run what.

use super::CachedStatements as _;
use super::{corrupt, limit_param, millis, optional_time_column, time_column, Store, StoreError};
use crate::model::{ChannelId, EnvName, RunId, RunOutcome, SizeName, SlackUserId};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Terraform's `N added, N changed, N destroyed` (of a plan or of an apply).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeCounts {
    pub add: u32,
    pub change: u32,
    pub destroy: u32,
}

/// What the queue knows when a job is accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRun {
    pub env: EnvName,
    pub verb: String,
    /// Canonical argument text as shown to users, e.g. `large for 3h`.
    pub args: String,
    /// The variable set the run targets; `None` for verbs without one.
    pub size: Option<SizeName>,
    /// For `up`: how long the environment stays at the size before the bot scales it down.
    pub lease: Option<Duration>,
    pub actor: SlackUserId,
    pub channel: ChannelId,
    /// Usually `Queued`.
    pub outcome: RunOutcome,
    /// The process that owns the job (its queue); a run whose owner dies is `interrupted`.
    pub owner_pid: Option<u32>,
    pub created_at: DateTime<Utc>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedRun {
    pub outcome: RunOutcome,
    /// Counts of the apply; `None` when nothing was applied.
    pub counts: Option<ChangeCounts>,
    /// A short, already masked summary of what went wrong.
    pub error: Option<String>,
    pub now: DateTime<Utc>,
}

/// A row of `runs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRecord {
    pub id: RunId,
    pub env: EnvName,
    pub verb: String,
    pub args: String,
    pub size: Option<SizeName>,
    pub actor: SlackUserId,
    pub channel: ChannelId,
    pub outcome: RunOutcome,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub plan_path: Option<PathBuf>,
    pub log_path: Option<PathBuf>,
    /// What the apply did.
    pub applied: Option<ChangeCounts>,
    /// What the plan said it would do.
    pub planned: Option<ChangeCounts>,
    pub error: Option<String>,
    pub owner_pid: Option<u32>,
    /// The Slack message updated with this run's progress.
    pub message_ts: Option<String>,
    pub approval_expires_at: Option<DateTime<Utc>>,
    /// Who clicked Apply — or Cancel, for a `rejected` run.
    pub approved_by: Option<SlackUserId>,
    /// For an `interrupted` run: `Queued` or `Running`, what it was doing when its owner died.
    pub interrupted_from: Option<RunOutcome>,
    /// For `up`: the lease it asked for (its own column, so an approved run's lease is read,
    /// never re-parsed from the argument text).
    pub lease: Option<Duration>,
    /// Why Slack refused this run's message (`not delivered: not_in_channel`), if it did.
    pub delivery_error: Option<String>,
    /// The boot the owner process runs in, with `owner_pid` (a pid from another boot is dead).
    pub owner_boot_id: Option<String>,
}

/// A run row's columns. Macros rather than consts so the hot queries below are whole string
/// literals (`concat!`), not a `format!` on every call.
macro_rules! run_columns {
    () => {
        "id, env, verb, args, size, actor, channel, outcome, \
         created_at, started_at, finished_at, plan_path, log_path, added, changed, destroyed, \
         plan_add, plan_change, plan_destroy, error, owner_pid, message_ts, approval_expires_at, \
         approved_by, interrupted_from, lease_secs, delivery_error, owner_boot_id"
    };
}

/// The outcomes of a run some process is still responsible for. Spelled exactly as in the
/// partial indexes of migration 4, which SQLite uses only for a query with the same term.
macro_rules! active_outcomes {
    () => {
        "('queued', 'running', 'awaiting_approval')"
    };
}

pub(super) const RUN_COLUMNS: &str = run_columns!();

const RUN_BY_ID: &str = concat!("SELECT ", run_columns!(), " FROM runs WHERE id = ?1");

/// An environment's latest finished run: one step down `runs_finished_by_env`.
const LAST_FINISHED_IN_ENV: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE env = ?1 AND outcome NOT IN ",
    active_outcomes!(),
    " ORDER BY finished_at DESC, id DESC LIMIT 1"
);

/// An environment's active runs, oldest first: `runs_active_by_env` holds only those, already
/// in id order, so neither the history nor a sort is touched.
const ACTIVE_IN_ENV: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE env = ?1 AND outcome IN ",
    active_outcomes!(),
    " ORDER BY id"
);

/// Every environment's active runs, oldest first.
const ACTIVE_ANYWHERE: &str = concat!(
    "SELECT ",
    run_columns!(),
    " FROM runs WHERE outcome IN ",
    active_outcomes!(),
    " ORDER BY id"
);

fn outcome_column(row: &Row<'_>, column: &str) -> rusqlite::Result<Option<RunOutcome>> {
    let key: Option<String> = row.get(column)?;
    key.map(|key| RunOutcome::from_db_key(&key).ok_or_else(|| corrupt(column, key)))
        .transpose()
}

fn counts_columns(row: &Row<'_>, names: [&str; 3]) -> rusqlite::Result<Option<ChangeCounts>> {
    let add: Option<u32> = row.get(names[0])?;
    let change: Option<u32> = row.get(names[1])?;
    let destroy: Option<u32> = row.get(names[2])?;
    Ok(match (add, change, destroy) {
        (None, None, None) => None,
        (add, change, destroy) => Some(ChangeCounts {
            add: add.unwrap_or(0),
            change: change.unwrap_or(0),
            destroy: destroy.unwrap_or(0),
        }),
    })
}

pub(super) fn run_from_row(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let outcome = outcome_column(row, "outcome")?.ok_or_else(|| corrupt("outcome", "NULL"))?;
    Ok(RunRecord {
        id: RunId(row.get("id")?),
        env: EnvName(row.get("env")?),
        verb: row.get("verb")?,
        args: row.get("args")?,
        size: row.get::<_, Option<String>>("size")?.map(SizeName::new),
        actor: SlackUserId(row.get("actor")?),
        channel: ChannelId(row.get("channel")?),
        outcome,
        created_at: time_column(row, "created_at")?,
        started_at: optional_time_column(row, "started_at")?,
        finished_at: optional_time_column(row, "finished_at")?,
        plan_path: row
            .get::<_, Option<String>>("plan_path")?
            .map(PathBuf::from),
        log_path: row.get::<_, Option<String>>("log_path")?.map(PathBuf::from),
        applied: counts_columns(row, ["added", "changed", "destroyed"])?,
        planned: counts_columns(row, ["plan_add", "plan_change", "plan_destroy"])?,
        error: row.get("error")?,
        owner_pid: row.get("owner_pid")?,
        message_ts: row.get("message_ts")?,
        approval_expires_at: optional_time_column(row, "approval_expires_at")?,
        approved_by: row
            .get::<_, Option<String>>("approved_by")?
            .map(SlackUserId),
        interrupted_from: outcome_column(row, "interrupted_from")?,
        lease: row
            .get::<_, Option<i64>>("lease_secs")?
            .map(|secs| Duration::from_secs(secs.max(0) as u64)),
        delivery_error: row.get("delivery_error")?,
        owner_boot_id: row.get("owner_boot_id")?,
    })
}

pub(super) fn select_run(tx: &Connection, id: RunId) -> rusqlite::Result<Option<RunRecord>> {
    tx.query_row_cached(RUN_BY_ID, [id.0], run_from_row)
        .optional()
}

pub(super) fn select_last_finished_run(
    tx: &Connection,
    env: &EnvName,
) -> rusqlite::Result<Option<RunRecord>> {
    tx.query_row_cached(LAST_FINISHED_IN_ENV, [env.as_str()], run_from_row)
        .optional()
}

pub(super) fn select_active_runs(
    tx: &Connection,
    env: Option<&EnvName>,
) -> rusqlite::Result<Vec<RunRecord>> {
    match env {
        Some(env) => {
            let mut statement = tx.prepare_cached(ACTIVE_IN_ENV)?;
            let rows = statement.query_map([env.as_str()], run_from_row)?;
            rows.collect()
        }
        None => {
            let mut statement = tx.prepare_cached(ACTIVE_ANYWHERE)?;
            let rows = statement.query_map([], run_from_row)?;
            rows.collect()
        }
    }
}

fn path_text(path: &Path) -> Result<&str, StoreError> {
    path.to_str()
        .ok_or_else(|| StoreError::NonUtf8Path(path.to_path_buf()))
}

/// Turns "no row changed" into [`StoreError::RunNotFound`].
pub(super) fn expect_one(changed: usize, id: RunId) -> Result<(), StoreError> {
    if changed == 0 {
        Err(StoreError::RunNotFound(id))
    } else {
        Ok(())
    }
}

impl Store {
    /// Records a new run and returns its number (`#41`).
    pub fn create_run(&self, run: &NewRun) -> Result<RunId, StoreError> {
        self.write(|tx| {
            tx.execute_cached(
                "INSERT INTO runs (env, verb, args, size, actor, channel, outcome, owner_pid, \
                 created_at, lease_secs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    run.env.as_str(),
                    run.verb,
                    run.args,
                    run.size.as_ref().map(SizeName::as_str),
                    run.actor.as_str(),
                    run.channel.as_str(),
                    run.outcome.db_key(),
                    run.owner_pid,
                    millis(run.created_at),
                    run.lease.map(|lease| lease.as_secs() as i64),
                ],
            )?;
            Ok(RunId(tx.last_insert_rowid()))
        })
    }

    /// Records that Slack refused the run's message (the latest refusal wins).
    pub fn set_run_delivery_error(&self, id: RunId, error: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let changed = tx.execute_cached(
                "UPDATE runs SET delivery_error = ?2 WHERE id = ?1",
                params![id.0, error],
            )?;
            expect_one(changed, id)
        })
    }

    pub fn get_run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError> {
        self.read(|tx| select_run(tx, id))
    }

    /// Sets the outcome; a final outcome also stamps `finished_at` (once). Use
    /// [`Store::finish_run`] when there are counts or an error to record.
    pub fn update_outcome(
        &self,
        id: RunId,
        outcome: RunOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let finished_at = outcome.is_final().then(|| millis(now));
        self.write(|tx| {
            let changed = tx.execute_cached(
                "UPDATE runs SET outcome = ?2, finished_at = COALESCE(finished_at, ?3) \
                 WHERE id = ?1",
                params![id.0, outcome.db_key(), finished_at],
            )?;
            expect_one(changed, id)
        })
    }

    pub fn finish_run(&self, id: RunId, finished: &FinishedRun) -> Result<(), StoreError> {
        let counts = finished.counts;
        self.write(|tx| {
            let changed = tx.execute_cached(
                "UPDATE runs SET outcome = ?2, finished_at = ?3, error = ?4, \
                 added = ?5, changed = ?6, destroyed = ?7 WHERE id = ?1",
                params![
                    id.0,
                    finished.outcome.db_key(),
                    millis(finished.now),
                    finished.error,
                    counts.map(|c| c.add),
                    counts.map(|c| c.change),
                    counts.map(|c| c.destroy),
                ],
            )?;
            expect_one(changed, id)
        })
    }

    /// Records the saved plan file and what it would change.
    pub fn set_plan(
        &self,
        id: RunId,
        plan_path: &Path,
        planned: ChangeCounts,
    ) -> Result<(), StoreError> {
        let plan_path = path_text(plan_path)?;
        self.write(|tx| {
            let changed = tx.execute_cached(
                "UPDATE runs SET plan_path = ?2, plan_add = ?3, plan_change = ?4, \
                 plan_destroy = ?5 WHERE id = ?1",
                params![
                    id.0,
                    plan_path,
                    planned.add,
                    planned.change,
                    planned.destroy
                ],
            )?;
            expect_one(changed, id)
        })
    }

    pub fn set_log_path(&self, id: RunId, log_path: &Path) -> Result<(), StoreError> {
        let log_path = path_text(log_path)?;
        self.write(|tx| {
            let changed = tx.execute_cached(
                "UPDATE runs SET log_path = ?2 WHERE id = ?1",
                params![id.0, log_path],
            )?;
            expect_one(changed, id)
        })
    }

    /// Remembers the Slack message that shows this run, so any process can update it.
    pub fn set_message_ts(&self, id: RunId, message_ts: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let changed = tx.execute_cached(
                "UPDATE runs SET message_ts = ?2 WHERE id = ?1",
                params![id.0, message_ts],
            )?;
            expect_one(changed, id)
        })
    }

    /// Newest first; all environments when `env` is `None`.
    pub fn recent_runs(
        &self,
        env: Option<&EnvName>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.read(|tx| {
            let mut statement = tx.prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE (?1 IS NULL OR env = ?1) \
                 ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = statement.query_map(
                params![env.map(EnvName::as_str), limit_param(limit)],
                run_from_row,
            )?;
            rows.collect()
        })
    }

    /// The run of `env` that finished last (any final outcome).
    pub fn last_finished_run(&self, env: &EnvName) -> Result<Option<RunRecord>, StoreError> {
        self.read(|tx| select_last_finished_run(tx, env))
    }

    /// Queued, running and awaiting-approval runs, oldest first (queue order); all
    /// environments when `env` is `None`.
    pub fn active_runs(&self, env: Option<&EnvName>) -> Result<Vec<RunRecord>, StoreError> {
        self.read(|tx| select_active_runs(tx, env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{at, new_run, temp_store};

    /// `status` reads an environment's active and last finished runs on every call; both
    /// must be index lookups (the partial indexes of migration 4), not a walk over the
    /// environment's history plus a sort, whose cost would grow with every run ever made.
    #[test]
    fn status_reads_of_runs_use_their_partial_indexes_without_a_sort() {
        let (_dir, store) = temp_store();
        let conn = store.lock();
        for (sql, index) in [
            (ACTIVE_IN_ENV, "runs_active_by_env"),
            (LAST_FINISHED_IN_ENV, "runs_finished_by_env"),
        ] {
            let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let steps: Vec<String> = plan
                .query_map(["lt1"], |row| row.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(
                steps,
                [format!("SEARCH runs USING INDEX {index} (env=?)")],
                "{sql}"
            );
        }
    }

    #[test]
    fn active_and_last_finished_runs_are_read_per_environment_in_order() {
        let (_dir, store) = temp_store();
        let lt1 = EnvName::new("lt1");
        let first = store.create_run(&new_run("lt1", "up", "small")).unwrap();
        let elsewhere = store.create_run(&new_run("lt2", "up", "small")).unwrap();
        let second = store.create_run(&new_run("lt1", "down", "")).unwrap();
        let finished = |outcome, minute| FinishedRun {
            outcome,
            counts: None,
            error: None,
            now: at(minute),
        };
        for (minute, outcome) in [(5, RunOutcome::Failed), (3, RunOutcome::Succeeded)] {
            let id = store.create_run(&new_run("lt1", "up", "large")).unwrap();
            store.finish_run(id, &finished(outcome, minute)).unwrap();
        }
        let ids = |runs: Vec<RunRecord>| runs.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(store.active_runs(Some(&lt1)).unwrap()), [first, second]);
        assert_eq!(
            ids(store.active_runs(None).unwrap()),
            [first, elsewhere, second]
        );
        let snapshot = store.env_snapshot(&lt1, at(10)).unwrap();
        let last = snapshot.last_finished_run.expect("a finished run");
        assert_eq!(
            (last.outcome, last.finished_at),
            (RunOutcome::Failed, Some(at(5))),
            "the latest finish, not the latest id"
        );
    }

    #[test]
    fn a_run_keeps_everything_written_through_its_lifecycle() {
        let (_dir, store) = temp_store();
        let id = store
            .create_run(&new_run("lt1", "up", "large for 3h"))
            .unwrap();
        store.set_message_ts(id, "1712.0001").unwrap();
        store
            .set_log_path(id, Path::new("/state/logs/1.log"))
            .unwrap();
        store.mark_started(id, 4242, at(10)).unwrap();
        let planned = ChangeCounts {
            add: 21,
            change: 1,
            destroy: 0,
        };
        store
            .set_plan(id, Path::new("/state/plans/1.tfplan"), planned)
            .unwrap();
        let applied = ChangeCounts {
            add: 20,
            change: 1,
            destroy: 0,
        };
        let finished = FinishedRun {
            outcome: RunOutcome::Failed,
            counts: Some(applied),
            error: Some("Error: quota exceeded".into()),
            now: at(70),
        };
        store.finish_run(id, &finished).unwrap();

        let run = store.get_run(id).unwrap().unwrap();
        assert_eq!(run.args, "large for 3h");
        assert_eq!(run.size, Some(SizeName::new("large")));
        assert_eq!(run.outcome, RunOutcome::Failed);
        assert_eq!(run.owner_pid, Some(4242));
        assert_eq!(run.started_at, Some(at(10)));
        assert_eq!(run.finished_at, Some(at(70)));
        assert_eq!(run.planned, Some(planned));
        assert_eq!(run.applied, Some(applied));
        assert_eq!(run.error.as_deref(), Some("Error: quota exceeded"));
        assert_eq!(run.message_ts.as_deref(), Some("1712.0001"));
        assert_eq!(run.plan_path, Some(PathBuf::from("/state/plans/1.tfplan")));
        assert_eq!(run.log_path, Some(PathBuf::from("/state/logs/1.log")));
        assert_eq!(run.interrupted_from, None);
    }

    #[test]
    fn writes_to_a_missing_run_say_which_run() {
        let store = Store::open_in_memory().unwrap();
        let error = store.mark_started(RunId(99), 1, at(0)).unwrap_err();
        assert_eq!(error.to_string(), "run #99 is not in the store");
        assert_eq!(store.get_run(RunId(99)).unwrap(), None);
    }

    #[test]
    fn update_outcome_stamps_finished_at_only_for_final_outcomes() {
        // (outcome, expected finished_at)
        let cases = [
            (RunOutcome::Running, None),
            (RunOutcome::AwaitingApproval, None),
            (RunOutcome::Cancelled, Some(at(5))),
            (RunOutcome::NoChanges, Some(at(5))),
        ];
        let store = Store::open_in_memory().unwrap();
        for (outcome, expected) in cases {
            let id = store.create_run(&new_run("lt1", "down", "")).unwrap();
            store.update_outcome(id, outcome, at(5)).unwrap();
            let run = store.get_run(id).unwrap().unwrap();
            assert_eq!(
                (run.outcome, run.finished_at),
                (outcome, expected),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn history_queries_filter_by_environment_and_outcome() {
        let store = Store::open_in_memory().unwrap();
        let first = store.create_run(&new_run("lt1", "up", "small")).unwrap();
        let other_env = store.create_run(&new_run("lt2", "up", "small")).unwrap();
        let second = store.create_run(&new_run("lt1", "down", "")).unwrap();
        let third = store.create_run(&new_run("lt1", "off", "")).unwrap();
        store
            .update_outcome(first, RunOutcome::Succeeded, at(1))
            .unwrap();
        store
            .update_outcome(second, RunOutcome::NoChanges, at(2))
            .unwrap();
        store.mark_started(third, 7, at(3)).unwrap();

        let lt1 = EnvName::new("lt1");
        let ids = |runs: Vec<RunRecord>| runs.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(store.recent_runs(Some(&lt1), 2).unwrap()),
            [third, second]
        );
        assert_eq!(
            ids(store.recent_runs(None, 10).unwrap()),
            [third, second, other_env, first]
        );
        assert_eq!(ids(store.active_runs(Some(&lt1)).unwrap()), [third]);
        assert_eq!(ids(store.active_runs(None).unwrap()), [other_env, third]);
        let last = store.last_finished_run(&lt1).unwrap().unwrap();
        assert_eq!((last.id, last.outcome), (second, RunOutcome::NoChanges));
        assert_eq!(store.last_finished_run(&EnvName::new("lt9")).unwrap(), None);
    }
}
