//! Retention on disk and in the store: once a day (claimed in the store, so one process of
//! several does it) finished runs older than `[store] keep_runs` go with their directories,
//! audit rows and delivered messages; and as soon as a run is over its saved plan, which
//! embeds the prior state, is deleted.

use crate::services::Services;
use crate::store::{Pruned, Store, StoreError};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How often a prune is due.
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);
/// How often a process looks whether the prune is due (cheap: one small transaction).
const LOOK_EVERY: Duration = Duration::from_secs(3600);

/// Deletes the saved plans of runs that are over; returns how many files went.
pub fn delete_spent_plans(store: &Store) -> Result<usize, StoreError> {
    let mut deleted = 0;
    for plan in store.take_spent_plans()? {
        match std::fs::remove_file(&plan) {
            Ok(()) => deleted += 1,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(plan = %plan.display(), %error, "cannot delete a spent plan")
            }
        }
    }
    Ok(deleted)
}

/// One prune with `cutoff`: the store's old rows, then the deleted runs' directories.
pub fn prune(
    store: &Store,
    state_dir: &Path,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<Pruned, StoreError> {
    delete_spent_plans(store)?;
    let pruned = store.prune_before(cutoff)?;
    for run in &pruned.runs {
        let dir = state_dir.join("runs").join(run.0.to_string());
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "cannot delete a run's directory")
            }
        }
    }
    Ok(pruned)
}

/// Starts the daily prune on a thread of its own, on the wall clock: it never competes with
/// the runtime's tasks (nor with a test's paused clock), and it ends once the services are
/// gone.
pub(super) fn spawn_daily(services: &Arc<Services>) {
    let services = Arc::downgrade(services);
    let spawned = std::thread::Builder::new()
        .name("prune".into())
        .spawn(move || loop {
            let Some(alive) = services.upgrade() else {
                return;
            };
            if let Err(error) = prune_if_due(&alive) {
                tracing::warn!(%error, "the daily prune failed; it is tried again later");
            }
            drop(alive);
            std::thread::sleep(LOOK_EVERY);
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the daily prune");
    }
}

fn prune_if_due(services: &Services) -> Result<(), StoreError> {
    let now = chrono::Utc::now();
    let every = chrono::Duration::from_std(PRUNE_EVERY).unwrap_or_default();
    if !services.store.claim_prune(now, every)? {
        return Ok(());
    }
    let keep = chrono::Duration::from_std(services.config.store.keep_runs)
        .unwrap_or(chrono::Duration::MAX);
    let cutoff = now
        .checked_sub_signed(keep)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let pruned = prune(&services.store, &services.state_dir, cutoff)?;
    tracing::info!(
        runs = pruned.runs.len(),
        audit = pruned.audit_rows,
        outbox = pruned.outbox_rows,
        tests = pruned.tests,
        "pruned what is older than [store] keep_runs"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChannelId, EnvName, RunOutcome, SlackUserId};
    use crate::store::{ChangeCounts, FinishedRun, NewRun};

    fn at(secs: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap()
    }

    /// A finished run with a directory, a log and a saved plan on disk.
    fn run_on_disk(
        store: &Store,
        state: &Path,
        finished_at: i64,
        outcome: RunOutcome,
    ) -> crate::model::RunId {
        let id = store
            .create_run(&NewRun {
                env: EnvName::new("lt1"),
                verb: "up".into(),
                args: "small".into(),
                size: None,
                lease: None,
                actor: SlackUserId::new("UANA"),
                channel: ChannelId::new("C1"),
                outcome: RunOutcome::Queued,
                owner_pid: None,
                created_at: at(0),
            })
            .unwrap();
        let dir = state.join("runs").join(id.0.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("terraform.log"), "log").unwrap();
        std::fs::write(dir.join("plan.tfplan"), "plan").unwrap();
        store
            .set_plan(id, &dir.join("plan.tfplan"), ChangeCounts::default())
            .unwrap();
        if outcome == RunOutcome::AwaitingApproval {
            store.await_approval(id, at(99_999)).unwrap();
        } else {
            let done = FinishedRun {
                outcome,
                counts: None,
                error: None,
                now: at(finished_at),
            };
            store.finish_run(id, &done).unwrap();
        }
        id
    }

    #[test]
    fn a_prune_deletes_old_runs_with_their_directories_and_every_spent_plan() {
        let state = tempfile::tempdir().unwrap();
        let store = Store::open_in_dir(state.path()).unwrap();
        let old = run_on_disk(&store, state.path(), 10, RunOutcome::Succeeded);
        let recent = run_on_disk(&store, state.path(), 5_000, RunOutcome::Failed);
        let waiting = run_on_disk(&store, state.path(), 0, RunOutcome::AwaitingApproval);
        let pruned = prune(&store, state.path(), at(1_000)).unwrap();
        assert_eq!(pruned.runs, [old]);
        let dir = |id: crate::model::RunId| state.path().join("runs").join(id.0.to_string());
        assert!(!dir(old).exists(), "the old run's directory is gone");
        assert!(
            dir(recent).join("terraform.log").exists(),
            "a recent run keeps its log"
        );
        assert!(
            !dir(recent).join("plan.tfplan").exists(),
            "but not its spent plan"
        );
        assert!(
            dir(waiting).join("plan.tfplan").exists(),
            "a plan awaiting approval stays"
        );
        assert!(store.get_run(old).unwrap().is_none());
        assert!(store.get_run(recent).unwrap().unwrap().plan_path.is_none());
    }
}
