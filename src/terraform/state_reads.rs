//! What Terraform says runs in an environment (`show -json` and `output -json`), read once and
//! shared by every `status` that asks while that read is still current. Without it each
//! `status` of a deployed environment started two Terraform processes, so a burst of a
//! thousand `status` commands started two thousand.
//!
//! A read is current while nothing that could change the state has happened:
//! - the environment's runs in the store are the same (same active runs with the same outcomes,
//!   same last finished run): every apply through the bot changes them;
//! - the local state file, when the backend keeps one, has the same length and mtime;
//! - and it is younger than a bound: a remote backend's state can change without the bot (a
//!   person applying by hand), and a failed read is retried soon.
//!
//! Concurrent askers for one environment wait for the one read in flight instead of starting
//! their own.

use crate::model::{EnvName, RunId, RunOutcome};
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How long a good read of a remote backend's state is reused.
pub const REMOTE_MAX_AGE: Duration = Duration::from_secs(30);
/// How long a good read is reused when a local state file vouches for it (its length and
/// mtime are checked on every use): a backstop only.
pub const LOCAL_MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// How long a failed read is reused, so a burst during a Terraform failure starts one
/// process every few seconds rather than one per command.
pub const FAILED_MAX_AGE: Duration = Duration::from_secs(5);

/// What a read's currency is judged by (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateKey {
    pub active_runs: Vec<(RunId, RunOutcome)>,
    pub last_finished_run: Option<RunId>,
    /// Length and mtime of the local state file; `None` when there is none (remote backend,
    /// or nothing applied yet).
    pub local_state: Option<(u64, SystemTime)>,
}

impl StateKey {
    /// Length and mtime of `path`, if it is a file.
    pub fn local_file(path: &Path) -> Option<(u64, SystemTime)> {
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.len(), meta.modified().ok()?))
    }

    fn max_age(&self, read_succeeded: bool) -> Duration {
        match (read_succeeded, &self.local_state) {
            (false, _) => FAILED_MAX_AGE,
            (true, Some(_)) => LOCAL_MAX_AGE,
            (true, None) => REMOTE_MAX_AGE,
        }
    }
}

struct Cached<T> {
    key: StateKey,
    read_at: Instant,
    succeeded: bool,
    value: T,
}

/// An environment's last read; its async lock is held while a read is in flight.
type Slot<T> = Arc<tokio::sync::Mutex<Option<Cached<T>>>>;

/// One slot per environment; `T` is what the caller makes of the read.
pub struct StateReads<T> {
    slots: Mutex<HashMap<EnvName, Slot<T>>>,
}

impl<T> Default for StateReads<T> {
    fn default() -> Self {
        StateReads {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> StateReads<T> {
    /// The current read for `env` under `key`, or a new one from `read` (which returns the
    /// value and whether Terraform answered). Askers for the same environment queue behind
    /// one read; other environments are not held up.
    pub async fn get<F, Fut>(&self, env: &EnvName, key: StateKey, read: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (T, bool)>,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(slots.entry(env.clone()).or_default())
        };
        let mut cached = slot.lock().await;
        if let Some(current) = cached
            .as_ref()
            .filter(|c| c.key == key && c.read_at.elapsed() < c.key.max_age(c.succeeded))
        {
            return current.value.clone();
        }
        let (value, succeeded) = read().await;
        *cached = Some(Cached {
            key,
            read_at: Instant::now(),
            succeeded,
            value: value.clone(),
        });
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(last: Option<i64>, local: Option<(u64, SystemTime)>) -> StateKey {
        StateKey {
            active_runs: Vec::new(),
            last_finished_run: last.map(RunId),
            local_state: local,
        }
    }

    /// A read that counts itself and answers with its own number.
    async fn counted(reads: &AtomicUsize, succeeded: bool) -> (usize, bool) {
        tokio::task::yield_now().await;
        (reads.fetch_add(1, Ordering::SeqCst) + 1, succeeded)
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_shares_one_read_per_environment() {
        let cache = Arc::new(StateReads::<usize>::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let asks: Vec<_> = (0..200)
            .map(|i| {
                let (cache, reads) = (Arc::clone(&cache), Arc::clone(&reads));
                let env = EnvName::new(if i % 2 == 0 { "lt1" } else { "lt2" });
                tokio::spawn(async move {
                    cache
                        .get(&env, key(Some(7), None), || counted(&reads, true))
                        .await
                })
            })
            .collect();
        for ask in asks {
            ask.await.unwrap();
        }
        assert_eq!(reads.load(Ordering::SeqCst), 2, "one read per environment");
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_is_redone_when_runs_or_the_local_state_change_or_it_ages() {
        let cache = StateReads::<usize>::default();
        let counter = AtomicUsize::new(0);
        let reads = &counter;
        let env = EnvName::new("lt1");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let ask = |k: StateKey, ok: bool| cache.get(&env, k, move || counted(reads, ok));

        assert_eq!(ask(key(Some(1), Some((10, t0))), true).await, 1);
        assert_eq!(ask(key(Some(1), Some((10, t0))), true).await, 1, "reused");
        assert_eq!(
            ask(key(Some(2), Some((10, t0))), true).await,
            2,
            "a run ended"
        );
        let touched = t0 + Duration::from_millis(1);
        assert_eq!(
            ask(key(Some(2), Some((10, touched))), true).await,
            3,
            "mtime"
        );
        assert_eq!(
            ask(key(Some(2), Some((11, touched))), true).await,
            4,
            "length"
        );
        tokio::time::advance(LOCAL_MAX_AGE).await;
        assert_eq!(
            ask(key(Some(2), Some((11, touched))), true).await,
            5,
            "backstop"
        );

        // No local file: trusted for REMOTE_MAX_AGE only.
        assert_eq!(ask(key(Some(2), None), true).await, 6);
        tokio::time::advance(REMOTE_MAX_AGE - Duration::from_secs(1)).await;
        assert_eq!(ask(key(Some(2), None), true).await, 6, "still young");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(ask(key(Some(2), None), true).await, 7, "aged out");

        // A failed read is kept briefly, then tried again.
        assert_eq!(ask(key(Some(3), None), false).await, 8);
        assert_eq!(
            ask(key(Some(3), None), false).await,
            8,
            "not retried at once"
        );
        tokio::time::advance(FAILED_MAX_AGE).await;
        assert_eq!(ask(key(Some(3), None), true).await, 9, "retried");
        let mut active = key(Some(3), None);
        active.active_runs.push((RunId(4), RunOutcome::Queued));
        assert_eq!(ask(active.clone(), true).await, 10, "a run was queued");
        active.active_runs[0].1 = RunOutcome::Running;
        assert_eq!(ask(active, true).await, 11, "it started");
    }
}
