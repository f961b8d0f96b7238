//! Which process owns a run, and the conditional writes that keep two processes from both
//! acting on it: a job starts a run only if it is still `queued`, re-checks that it still owns
//! it right before Terraform applies, and at start-up runs whose owner is gone (dead pid, or a
//! pid from another boot) become `interrupted`. Decides nothing about who may run what.

use super::runs::{expect_one, select_run, RunRecord};
use super::CachedStatements as _;
use super::{millis, Store, StoreError};
use crate::model::{RunId, RunOutcome};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

/// A process that can own runs: its pid, and the boot it runs in (pids are reused across
/// reboots, so a pid alone may name someone else's process).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub boot_id: String,
}

impl Store {
    /// The job's process picked the run up: it is `running`, owned by `pid`. Unconditional;
    /// jobs use [`Store::start_if_queued`].
    pub fn mark_started(&self, id: RunId, pid: u32, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(|tx| {
            let changed = tx.execute_cached(
                "UPDATE runs SET outcome = 'running', owner_pid = ?2, \
                 started_at = COALESCE(started_at, ?3) WHERE id = ?1",
                params![id.0, pid, millis(now)],
            )?;
            expect_one(changed, id)
        })
    }

    /// Starts the run for `owner` if it is still `queued` (a fresh run, or a plan just
    /// approved). `Ok(Err(outcome))`: another process changed it first (interrupted,
    /// cancelled, …) and nothing was written; the job must not run Terraform.
    pub fn start_if_queued(
        &self,
        id: RunId,
        owner: &Owner,
        now: DateTime<Utc>,
    ) -> Result<Result<(), RunOutcome>, StoreError> {
        self.write(|tx| {
            let changed = tx.execute_cached(
                "UPDATE runs SET outcome = 'running', owner_pid = ?2, owner_boot_id = ?3, \
                 started_at = COALESCE(started_at, ?4) WHERE id = ?1 AND outcome = 'queued'",
                params![id.0, owner.pid, owner.boot_id, millis(now)],
            )?;
            if changed == 1 {
                return Ok(Ok(()));
            }
            match select_run(tx, id)? {
                Some(run) => Ok(Err(run.outcome)),
                None => Err(StoreError::RunNotFound(id)),
            }
        })
    }

    /// `Ok(())` when the run is still `running` and owned by `owner`, else what it is now:
    /// checked immediately before Terraform applies.
    pub fn still_owned(
        &self,
        id: RunId,
        owner: &Owner,
    ) -> Result<Result<(), RunOutcome>, StoreError> {
        self.read(|tx| {
            let row: Option<(String, Option<u32>, Option<String>)> = tx
                .query_row_cached(
                    "SELECT outcome, owner_pid, owner_boot_id FROM runs WHERE id = ?1",
                    [id.0],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()?;
            let Some((outcome, pid, boot)) = row else {
                return Ok(Err(RunOutcome::Interrupted));
            };
            let outcome = RunOutcome::from_db_key(&outcome).unwrap_or(RunOutcome::Interrupted);
            let ours = pid == Some(owner.pid) && boot.as_deref() == Some(owner.boot_id.as_str());
            Ok(if outcome == RunOutcome::Running && ours {
                Ok(())
            } else {
                Err(outcome)
            })
        })
    }

    /// At start-up: every `queued` or `running` run whose owner process is gone (per
    /// `is_alive(pid, boot_id)`, or no owner recorded) becomes `interrupted`, with
    /// `interrupted_from` saying which it was. Returns those runs, as now stored, for
    /// reporting.
    ///
    /// Awaiting-approval runs are left alone: they wait for a person, not for a process, and
    /// [`Store::expire_approvals`] ends them. The caller should count its own pid as dead
    /// here (a restarted container often gets the same pid as its predecessor).
    pub fn mark_interrupted_dead_runs(
        &self,
        is_alive: impl Fn(u32, Option<&str>) -> bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.write(|tx| {
            let candidates: Vec<(i64, Option<u32>, Option<String>)> = {
                let mut statement = tx.prepare_cached(
                    "SELECT id, owner_pid, owner_boot_id FROM runs \
                     WHERE outcome IN ('queued', 'running') ORDER BY id",
                )?;
                let rows =
                    statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut interrupted = Vec::new();
            for (id, owner_pid, boot) in candidates {
                if owner_pid.is_some_and(|pid| is_alive(pid, boot.as_deref())) {
                    continue;
                }
                tx.execute_cached(
                    "UPDATE runs SET interrupted_from = outcome, outcome = 'interrupted', \
                     finished_at = ?2 WHERE id = ?1",
                    params![id, millis(now)],
                )?;
                if let Some(run) = select_run(tx, RunId(id))? {
                    interrupted.push(run);
                }
            }
            Ok(interrupted)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{at, new_run};

    fn owner(pid: u32, boot: &str) -> Owner {
        Owner {
            pid,
            boot_id: boot.into(),
        }
    }

    #[test]
    fn a_run_starts_only_while_queued_and_stays_owned_by_its_starter() {
        let store = Store::open_in_memory().unwrap();
        let me = owner(10, "boot-a");
        let id = store.create_run(&new_run("lt1", "up", "small")).unwrap();
        assert_eq!(store.start_if_queued(id, &me, at(1)).unwrap(), Ok(()));
        assert_eq!(store.still_owned(id, &me).unwrap(), Ok(()));
        assert_eq!(
            store.still_owned(id, &owner(10, "boot-b")).unwrap(),
            Err(RunOutcome::Running),
            "the same pid in another boot is someone else"
        );
        // Another process marks it interrupted: the owner sees it before applying.
        store
            .update_outcome(id, RunOutcome::Interrupted, at(2))
            .unwrap();
        assert_eq!(
            store.still_owned(id, &me).unwrap(),
            Err(RunOutcome::Interrupted)
        );
        // A run that is no longer queued is never started again.
        let other = store.create_run(&new_run("lt1", "down", "")).unwrap();
        store
            .update_outcome(other, RunOutcome::Interrupted, at(3))
            .unwrap();
        assert_eq!(
            store.start_if_queued(other, &me, at(4)).unwrap(),
            Err(RunOutcome::Interrupted)
        );
        let record = store.get_run(other).unwrap().unwrap();
        assert_eq!(
            (record.outcome, record.started_at),
            (RunOutcome::Interrupted, None)
        );
    }

    #[test]
    fn runs_of_dead_processes_become_interrupted_and_say_what_they_were() {
        let store = Store::open_in_memory().unwrap();
        let create = |pid: Option<u32>| {
            let mut run = new_run("lt1", "up", "small");
            run.owner_pid = pid;
            store.create_run(&run).unwrap()
        };
        let running_dead = create(Some(100));
        store.mark_started(running_dead, 100, at(1)).unwrap();
        let queued_dead = create(Some(100));
        let running_alive = create(Some(200));
        store
            .start_if_queued(running_alive, &owner(200, "boot-now"), at(1))
            .unwrap()
            .unwrap();
        let earlier_boot = create(Some(200));
        store
            .start_if_queued(earlier_boot, &owner(200, "boot-before"), at(1))
            .unwrap()
            .unwrap();
        let queued_no_owner = create(None);
        let awaiting_dead = create(Some(100));
        store
            .update_outcome(awaiting_dead, RunOutcome::AwaitingApproval, at(1))
            .unwrap();
        let finished_dead = create(Some(100));
        store
            .update_outcome(finished_dead, RunOutcome::Succeeded, at(1))
            .unwrap();

        let alive =
            |pid: u32, boot: Option<&str>| pid == 200 && boot.is_none_or(|b| b == "boot-now");
        let reported = store.mark_interrupted_dead_runs(alive, at(9)).unwrap();
        let summary: Vec<_> = reported
            .iter()
            .map(|r| (r.id, r.interrupted_from))
            .collect();
        assert_eq!(
            summary,
            [
                (running_dead, Some(RunOutcome::Running)),
                (queued_dead, Some(RunOutcome::Queued)),
                (earlier_boot, Some(RunOutcome::Running)),
                (queued_no_owner, Some(RunOutcome::Queued)),
            ]
        );
        assert!(reported
            .iter()
            .all(|r| r.outcome == RunOutcome::Interrupted && r.finished_at == Some(at(9))));
        let outcome = |id| store.get_run(id).unwrap().unwrap().outcome;
        assert_eq!(outcome(running_alive), RunOutcome::Running);
        assert_eq!(outcome(awaiting_dead), RunOutcome::AwaitingApproval);
        assert_eq!(outcome(finished_dead), RunOutcome::Succeeded);
        // A second pass finds nothing left to interrupt.
        assert_eq!(store.mark_interrupted_dead_runs(alive, at(10)).unwrap(), []);
    }
}
