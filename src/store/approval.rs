//! Approval decisions on runs: waiting for a decision, Apply, Cancel, expiry.
//! Owns the atomicity: a decision is one conditional UPDATE, so when two people (or two
//! processes, or one double click) decide at once exactly one wins. Who *may* approve is the
//! policy module's question, not this one's.

use super::runs::{run_from_row, select_run, RunRecord, RUN_COLUMNS};
use super::CachedStatements as _;
use super::{millis, Owner, Store, StoreError};
use crate::model::{RunId, RunOutcome, SlackUserId};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

/// The stored error summary of a run whose approval ran out.
pub const APPROVAL_EXPIRED: &str = "approval expired";

/// Why a decision on a run did not take effect. All but `Store` are answers for the person
/// who clicked, not faults.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("run #{0} does not exist")]
    NotFound(RunId),
    #[error("run #{run} is not awaiting approval (it is {outcome})")]
    NotAwaiting { run: RunId, outcome: RunOutcome },
    #[error("the approval of run #{run} expired at {expired_at}")]
    Expired {
        run: RunId,
        expired_at: DateTime<Utc>,
    },
    #[error("run #{run} was already decided by {by} (it is {outcome})")]
    AlreadyTaken {
        run: RunId,
        by: SlackUserId,
        outcome: RunOutcome,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ApprovalError {
    fn from(error: rusqlite::Error) -> Self {
        ApprovalError::Store(StoreError::Sqlite(error))
    }
}

impl Store {
    /// The plan is saved and needs a decision: the run waits until `expires_at`.
    pub fn await_approval(&self, id: RunId, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(|tx| {
            let changed = tx.execute_cached(
                "UPDATE runs SET outcome = 'awaiting_approval', approval_expires_at = ?2 \
                 WHERE id = ?1",
                params![id.0, millis(expires_at)],
            )?;
            if changed == 0 {
                return Err(StoreError::RunNotFound(id));
            }
            Ok(())
        })
    }

    /// Apply was clicked (or `approve` typed): the run becomes `queued` again, approved by
    /// `approver` and owned by the approving process (`owner`), which applies its saved plan.
    /// Atomic: of two concurrent calls, one gets the run and the other
    /// [`ApprovalError::AlreadyTaken`].
    pub fn take_approval(
        &self,
        id: RunId,
        approver: &SlackUserId,
        owner: &Owner,
        now: DateTime<Utc>,
    ) -> Result<RunRecord, ApprovalError> {
        self.decide(id, approver, now, RunOutcome::Queued, Some(owner))
    }

    /// Cancel was clicked (or `reject` typed): the run ends `rejected`; `approved_by` then
    /// names who rejected it. Atomic in the same way as [`Store::take_approval`].
    pub fn reject_approval(
        &self,
        id: RunId,
        rejecter: &SlackUserId,
        now: DateTime<Utc>,
    ) -> Result<RunRecord, ApprovalError> {
        self.decide(id, rejecter, now, RunOutcome::Rejected, None)
    }

    /// Ends every approval wait that ran out by `now` as `cancelled` with the error
    /// [`APPROVAL_EXPIRED`]; returns those runs, oldest first.
    pub fn expire_approvals(&self, now: DateTime<Utc>) -> Result<Vec<RunId>, StoreError> {
        self.write(|tx| {
            let mut statement = tx.prepare_cached(
                "UPDATE runs SET outcome = 'cancelled', finished_at = ?1, error = ?2 \
                 WHERE outcome = 'awaiting_approval' AND approval_expires_at <= ?1 \
                 RETURNING id",
            )?;
            let rows = statement.query_map(params![millis(now), APPROVAL_EXPIRED], |row| {
                row.get(0).map(RunId)
            })?;
            let mut ids = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            ids.sort();
            Ok(ids)
        })
    }

    fn decide(
        &self,
        id: RunId,
        decided_by: &SlackUserId,
        now: DateTime<Utc>,
        new_outcome: RunOutcome,
        owner: Option<&Owner>,
    ) -> Result<RunRecord, ApprovalError> {
        let finished_at = new_outcome.is_final().then(|| millis(now));
        self.write(|tx| {
            // The WHERE clause is the whole race protection: the first UPDATE flips the
            // outcome, so any later one matches no row and falls through to the diagnosis.
            let won = tx
                .query_row(
                    &format!(
                        "UPDATE runs SET outcome = ?2, approved_by = ?3, finished_at = ?4, \
                         owner_pid = COALESCE(?6, owner_pid), \
                         owner_boot_id = COALESCE(?7, owner_boot_id) \
                         WHERE id = ?1 AND outcome = 'awaiting_approval' \
                         AND (approval_expires_at IS NULL OR approval_expires_at > ?5) \
                         RETURNING {RUN_COLUMNS}"
                    ),
                    params![
                        id.0,
                        new_outcome.db_key(),
                        decided_by.as_str(),
                        finished_at,
                        millis(now),
                        owner.map(|o| o.pid),
                        owner.map(|o| o.boot_id.as_str()),
                    ],
                    run_from_row,
                )
                .optional()?;
            if let Some(run) = won {
                return Ok(run);
            }
            let run = select_run(tx, id)?.ok_or(ApprovalError::NotFound(id))?;
            Err(diagnose(run, now))
        })
    }
}

/// Why a run that did not match the conditional UPDATE could not be decided.
fn diagnose(run: RunRecord, now: DateTime<Utc>) -> ApprovalError {
    let expired_at = run.approval_expires_at.filter(|at| *at <= now);
    match (run.outcome, run.approved_by, expired_at) {
        (RunOutcome::AwaitingApproval, _, Some(expired_at))
        | (RunOutcome::Cancelled, None, Some(expired_at)) => ApprovalError::Expired {
            run: run.id,
            expired_at,
        },
        (outcome, Some(by), _) => ApprovalError::AlreadyTaken {
            run: run.id,
            by,
            outcome,
        },
        (outcome, None, _) => ApprovalError::NotAwaiting {
            run: run.id,
            outcome,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{at, new_run, temp_store};
    use std::sync::{Arc, Barrier};

    fn owner() -> Owner {
        Owner {
            pid: 77,
            boot_id: "boot".into(),
        }
    }

    fn awaiting(store: &Store, expires_at: DateTime<Utc>) -> RunId {
        let id = store.create_run(&new_run("lt1", "up", "large")).unwrap();
        store.await_approval(id, expires_at).unwrap();
        id
    }

    #[test]
    fn apply_takes_the_run_once_and_later_clicks_say_who_took_it() {
        let store = Store::open_in_memory().unwrap();
        let id = awaiting(&store, at(100));
        let ana = SlackUserId::new("UANA");
        let run = store.take_approval(id, &ana, &owner(), at(10)).unwrap();
        // The approving process owns the run now.
        assert_eq!(
            (run.owner_pid, run.owner_boot_id.as_deref()),
            (Some(77), Some("boot"))
        );
        assert_eq!(run.outcome, RunOutcome::Queued);
        assert_eq!(run.approved_by, Some(ana.clone()));
        assert_eq!(run.finished_at, None);

        let again = store.take_approval(id, &SlackUserId::new("UBOB"), &owner(), at(11));
        assert_eq!(
            again.unwrap_err().to_string(),
            "run #1 was already decided by UANA (it is queued)"
        );
        let reject = store.reject_approval(id, &SlackUserId::new("UBOB"), at(11));
        assert!(matches!(reject, Err(ApprovalError::AlreadyTaken { .. })));
    }

    #[test]
    fn decisions_on_runs_not_waiting_are_refused_with_the_reason() {
        let store = Store::open_in_memory().unwrap();
        let bob = SlackUserId::new("UBOB");
        let expired = awaiting(&store, at(100));
        let queued = store.create_run(&new_run("lt1", "down", "")).unwrap();
        let expired_then_swept = awaiting(&store, at(100));
        assert_eq!(
            store.expire_approvals(at(150)).unwrap(),
            [expired, expired_then_swept]
        );
        let still_waiting = awaiting(&store, at(500));
        let rejected = store.reject_approval(still_waiting, &bob, at(200)).unwrap();
        assert_eq!(rejected.outcome, RunOutcome::Rejected);
        assert_eq!(rejected.finished_at, Some(at(200)));

        // (run, message the clicker sees)
        let cases = [
            (RunId(77), "run #77 does not exist"),
            (queued, "run #2 is not awaiting approval (it is queued)"),
            (
                expired,
                "the approval of run #1 expired at 2026-01-01 00:01:40 UTC",
            ),
            (
                still_waiting,
                "run #4 was already decided by UBOB (it is rejected)",
            ),
        ];
        for (id, expected) in cases {
            let error = store
                .take_approval(id, &bob, &owner(), at(200))
                .unwrap_err();
            assert_eq!(error.to_string(), expected);
        }
        let swept = store.get_run(expired_then_swept).unwrap().unwrap();
        assert_eq!(swept.outcome, RunOutcome::Cancelled);
        assert_eq!(swept.error.as_deref(), Some(APPROVAL_EXPIRED));
    }

    #[test]
    fn an_approval_past_its_expiry_is_expired_even_before_the_sweep() {
        let store = Store::open_in_memory().unwrap();
        let id = awaiting(&store, at(100));
        let error = store.take_approval(id, &SlackUserId::new("UANA"), &owner(), at(100));
        assert!(matches!(error, Err(ApprovalError::Expired { .. })));
        assert_eq!(
            store.get_run(id).unwrap().unwrap().outcome,
            RunOutcome::AwaitingApproval
        );
        assert_eq!(store.expire_approvals(at(99)).unwrap(), []);
    }

    #[test]
    fn two_processes_clicking_apply_at_once_apply_once() {
        let (dir, store) = temp_store();
        let path = store.path().unwrap().to_path_buf();
        for round in 0..10 {
            let id = awaiting(&store, at(1_000));
            let barrier = Arc::new(Barrier::new(2));
            let clickers: Vec<_> = ["UANA", "UBOB"]
                .into_iter()
                .map(|user| {
                    // A separate Store is a separate connection, as another process would have.
                    let other = Store::open(&path).unwrap();
                    let barrier = Arc::clone(&barrier);
                    std::thread::spawn(move || {
                        barrier.wait();
                        other.take_approval(id, &SlackUserId::new(user), &owner(), at(10))
                    })
                })
                .collect();
            let results: Vec<_> = clickers.into_iter().map(|c| c.join().unwrap()).collect();
            let winners = results.iter().filter(|r| r.is_ok()).count();
            let losers = results
                .iter()
                .filter(|r| matches!(r, Err(ApprovalError::AlreadyTaken { .. })))
                .count();
            assert_eq!((winners, losers), (1, 1), "round {round}: {results:?}");
        }
        drop(dir);
    }
}
