//! Retention: what is old enough to forget (`[store] keep_runs`). Finished runs, ended load
//! tests, audit rows and delivered outbox rows older than a cut-off are deleted in one transaction; saved plans
//! (they embed the prior state) are forgotten as soon as their run is over. The files on disk
//! are the caller's to delete; this module only says which.

use super::CachedStatements as _;
use super::{millis, Store, StoreError};
use crate::model::RunId;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension};
use std::path::PathBuf;

/// What one prune removed from the store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Finished runs deleted (their directories go too).
    pub runs: Vec<RunId>,
    pub audit_rows: usize,
    pub outbox_rows: usize,
    /// Ended load tests deleted (their results stay in the environment's bucket).
    pub tests: usize,
}

/// The outcomes of a run nobody will act on again; everything else keeps its plan.
const OVER: &str = "('succeeded', 'failed', 'no_changes', 'cancelled', 'timed_out', \
                    'interrupted', 'rejected')";

impl Store {
    /// Claims today's prune: `true` for exactly one caller per `every` across processes
    /// (kept in `scheduler_state` as `last_prune`).
    pub fn claim_prune(&self, now: DateTime<Utc>, every: Duration) -> Result<bool, StoreError> {
        self.write(|tx| {
            let last: Option<i64> = tx
                .query_row_cached(
                    "SELECT value FROM scheduler_state WHERE key = 'last_prune'",
                    [],
                    |row| row.get(0),
                )
                .optional()?;
            if last.is_some_and(|last| last > millis(now - every)) {
                return Ok(false);
            }
            tx.execute_cached(
                "INSERT INTO scheduler_state (key, value) VALUES ('last_prune', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [millis(now)],
            )?;
            Ok(true)
        })
    }

    /// Deletes audit rows and delivered outbox rows from before `cutoff`, the runs that
    /// finished before it which nothing left refers to (an undelivered message keeps its run),
    /// and the load tests that ended before it with no scale-down still waiting on them.
    pub fn prune_before(&self, cutoff: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let cutoff = millis(cutoff);
        self.write(|tx| {
            let audit_rows = tx.execute_cached("DELETE FROM audit WHERE at < ?1", [cutoff])?;
            let outbox_rows = tx.execute_cached(
                "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?1",
                [cutoff],
            )?;
            let mut statement = tx.prepare_cached(&format!(
                "DELETE FROM runs WHERE outcome IN {OVER} AND finished_at < ?1 \
                 AND NOT EXISTS (SELECT 1 FROM audit WHERE audit.run_id = runs.id) \
                 AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.run_id = runs.id) \
                 RETURNING id"
            ))?;
            let mut runs = statement
                .query_map([cutoff], |row| row.get(0).map(RunId))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            runs.sort();
            let tests = tx.execute_cached(
                "DELETE FROM load_tests WHERE state NOT IN ('starting', 'running') \
                 AND finished_at < ?1 AND after_test IS NULL",
                [cutoff],
            )?;
            Ok(Pruned {
                runs,
                audit_rows,
                outbox_rows,
                tests,
            })
        })
    }

    /// The saved plans of runs that are over (applied, failed, rejected, expired, plan-only…):
    /// they are forgotten here and returned for the caller to delete. Runs awaiting approval
    /// keep theirs.
    pub fn take_spent_plans(&self) -> Result<Vec<PathBuf>, StoreError> {
        self.write(|tx| {
            // RETURNING would give the new (NULL) value: read the paths first, in the same
            // transaction.
            let spent = format!("plan_path IS NOT NULL AND outcome IN {OVER}");
            let paths = tx
                .prepare_cached(&format!(
                    "SELECT plan_path FROM runs WHERE {spent} ORDER BY id"
                ))?
                .query_map(params![], |row| row.get::<_, String>(0).map(PathBuf::from))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.execute_cached(
                &format!("UPDATE runs SET plan_path = NULL WHERE {spent}"),
                [],
            )?;
            Ok(paths)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChannelId, EnvName, RunOutcome, SlackUserId};
    use crate::store::test_support::{at, new_run};
    use crate::store::{
        AuditEntry, ChangeCounts, FinishedRun, NewMessage, NewTest, TestEnd, TestState,
    };

    fn finished(store: &Store, finished_at: i64) -> RunId {
        let id = store.create_run(&new_run("lt1", "up", "small")).unwrap();
        let done = FinishedRun {
            outcome: RunOutcome::Succeeded,
            counts: None,
            error: None,
            now: at(finished_at),
        };
        store.finish_run(id, &done).unwrap();
        id
    }

    fn audit(store: &Store, secs: i64, run: Option<RunId>) {
        store
            .audit(&AuditEntry {
                actor: SlackUserId::new("UANA"),
                channel: ChannelId::new("C1"),
                env: None,
                command: "up small".into(),
                decision: "allowed".into(),
                run_id: run,
                at: at(secs),
            })
            .unwrap();
    }

    fn new_test(env: &str) -> NewTest {
        NewTest {
            env: EnvName::new(env),
            plan: "smoke.jmx".into(),
            args: String::new(),
            actor: SlackUserId::new("UANA"),
            channel: ChannelId::new("C1"),
        }
    }

    /// A load test that started and ended at `secs`.
    fn ended_test(store: &Store, env: &str, secs: i64) -> i64 {
        let test = store.begin_test(&new_test(env), at(secs)).unwrap().unwrap();
        store
            .finish_test(test.id, TestState::Finished, &TestEnd::default(), at(secs))
            .unwrap();
        test.id
    }

    #[test]
    fn old_finished_runs_tests_audit_and_delivered_messages_go_and_the_rest_stays() {
        let store = Store::open_in_memory().unwrap();
        let old = finished(&store, 10);
        let old_with_pending_message = finished(&store, 10);
        let recent = finished(&store, 1_000);
        let waiting = store.create_run(&new_run("lt1", "up", "large")).unwrap();
        store.await_approval(waiting, at(5_000)).unwrap();
        audit(&store, 10, Some(old));
        audit(&store, 1_000, None);
        let message = |run| NewMessage {
            channel: ChannelId::new("C1"),
            kind: "post".into(),
            payload: serde_json::json!({"text": "x"}),
            run_id: Some(run),
            created_at: at(10),
            claimed_by: None,
        };
        let delivered = store.enqueue_message(&message(old)).unwrap();
        store.mark_delivered(delivered, at(20)).unwrap();
        store
            .enqueue_message(&message(old_with_pending_message))
            .unwrap();
        let old_test = ended_test(&store, "lt1", 10);
        let recent_test = ended_test(&store, "lt2", 1_000);
        let running_test = store.begin_test(&new_test("lt3"), at(10)).unwrap().unwrap();

        let pruned = store.prune_before(at(500)).unwrap();
        assert_eq!(
            pruned,
            Pruned {
                runs: vec![old],
                audit_rows: 1,
                outbox_rows: 1,
                tests: 1,
            }
        );
        assert_eq!(store.get_test(old_test).unwrap(), None);
        for kept in [recent_test, running_test.id] {
            assert!(store.get_test(kept).unwrap().is_some(), "test {kept}");
        }
        for kept in [old_with_pending_message, recent, waiting] {
            assert!(store.get_run(kept).unwrap().is_some(), "{kept}");
        }
        assert_eq!(store.get_run(old).unwrap(), None);
        assert_eq!(store.recent_audit(10).unwrap().len(), 1);
    }

    #[test]
    fn spent_plans_are_taken_once_and_a_waiting_plan_is_kept() {
        let store = Store::open_in_memory().unwrap();
        let counts = ChangeCounts::default();
        let applied = finished(&store, 10);
        store
            .set_plan(
                applied,
                std::path::Path::new("/s/runs/1/plan.tfplan"),
                counts,
            )
            .unwrap();
        let waiting = store.create_run(&new_run("lt1", "up", "large")).unwrap();
        store
            .set_plan(
                waiting,
                std::path::Path::new("/s/runs/2/plan.tfplan"),
                counts,
            )
            .unwrap();
        store.await_approval(waiting, at(5_000)).unwrap();
        assert_eq!(
            store.take_spent_plans().unwrap(),
            [PathBuf::from("/s/runs/1/plan.tfplan")]
        );
        assert_eq!(store.take_spent_plans().unwrap(), Vec::<PathBuf>::new());
        assert!(store.get_run(waiting).unwrap().unwrap().plan_path.is_some());
    }

    #[test]
    fn one_prune_a_day_is_claimed_across_callers() {
        let store = Store::open_in_memory().unwrap();
        let day = Duration::days(1);
        assert!(store.claim_prune(at(0), day).unwrap());
        assert!(!store.claim_prune(at(3_600), day).unwrap());
        assert!(store.claim_prune(at(86_400 + 1), day).unwrap());
    }
}
