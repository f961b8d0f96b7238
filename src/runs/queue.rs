//! Jobs: one mutating job at a time per environment, the rest queued in order; environments
//! run in parallel. The exclusion also holds across processes sharing a state directory,
//! through an advisory `flock` on `<state dir>/locks/<env>.lock` taken around every job.
//!
//! This module knows nothing about Terraform or Slack: a job is a future that receives its
//! cancel signal.

use super::env_lock::EnvFileLock;
use crate::model::{EnvName, RunId};
use crate::terraform::runner::CancelSignal;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

type JobFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The work of a job: started when the environment is free, given the job's cancel signal
/// and told whether it first had to wait for another process.
pub type JobBody = Box<dyn FnOnce(JobContext) -> JobFuture + Send>;

/// What a job receives when it starts.
pub struct JobContext {
    pub cancel: CancelSignal,
    /// Set when the cross-process lock could not be taken (e.g. an unwritable state dir):
    /// the job must then report the error and run nothing.
    pub lock_error: Option<String>,
}

/// Told (once) that another process holds the environment and the job waits for it.
pub use super::env_lock::OnBlocked;

struct QueuedJob {
    run_id: RunId,
    cancel: CancelSignal,
    body: JobBody,
    on_blocked: Option<OnBlocked>,
}

#[derive(Default)]
struct Lane {
    running: Option<(RunId, CancelSignal)>,
    waiting: VecDeque<QueuedJob>,
}

/// Where a submitted job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// Starts now (or as soon as another process releases the environment).
    StartsNow,
    /// Waits behind this many jobs (1 = next).
    Queued(usize),
}

/// What `cancel` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// A queued job was removed before it started; it will never run.
    RemovedQueued(RunId),
    /// The running job was told to stop (SIGINT to Terraform).
    StoppingRunning(RunId),
    NothingToCancel,
}

/// A snapshot of one environment's lane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaneSnapshot {
    pub running: Option<RunId>,
    pub waiting: Vec<RunId>,
}

/// Called with the run IDs of queued jobs removed by cancel, so the caller can record them.
pub type OnRemoved = Arc<dyn Fn(RunId) + Send + Sync>;

#[derive(Clone)]
pub struct JobQueue {
    /// One lane per environment. A std Mutex: held only for pushes and pops, never across an
    /// await.
    lanes: Arc<Mutex<HashMap<EnvName, Lane>>>,
    lock_dir: PathBuf,
}

impl JobQueue {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            lanes: Arc::new(Mutex::new(HashMap::new())),
            lock_dir: state_dir.join("locks"),
        }
    }

    /// Queues a job; starts the environment's worker when it is idle.
    pub fn submit(&self, env: &EnvName, run_id: RunId, body: JobBody) -> Position {
        self.submit_with(env, run_id, body, None)
    }

    /// Like [`submit`](Self::submit), with a callback for when another process holds the
    /// environment at the job's start.
    pub fn submit_with(
        &self,
        env: &EnvName,
        run_id: RunId,
        body: JobBody,
        on_blocked: Option<OnBlocked>,
    ) -> Position {
        let mut lanes = self.lanes.lock().expect("queue lock poisoned");
        let lane = lanes.entry(env.clone()).or_default();
        let busy = lane.running.is_some() || !lane.waiting.is_empty();
        let position = if busy {
            Position::Queued(lane.waiting.len() + usize::from(lane.running.is_some()))
        } else {
            Position::StartsNow
        };
        lane.waiting.push_back(QueuedJob {
            run_id,
            cancel: CancelSignal::new(),
            body,
            on_blocked,
        });
        if !busy {
            let queue = self.clone();
            let env = env.clone();
            tokio::spawn(async move { queue.drain(env).await });
        }
        position
    }

    /// Cancels the most recently queued job, else the running one.
    pub fn cancel(&self, env: &EnvName) -> CancelOutcome {
        let mut lanes = self.lanes.lock().expect("queue lock poisoned");
        let Some(lane) = lanes.get_mut(env) else {
            return CancelOutcome::NothingToCancel;
        };
        if let Some(job) = lane.waiting.pop_back() {
            return CancelOutcome::RemovedQueued(job.run_id);
        }
        match &lane.running {
            Some((run_id, cancel)) => {
                cancel.cancel();
                CancelOutcome::StoppingRunning(*run_id)
            }
            None => CancelOutcome::NothingToCancel,
        }
    }

    pub fn snapshot(&self, env: &EnvName) -> LaneSnapshot {
        let lanes = self.lanes.lock().expect("queue lock poisoned");
        lanes
            .get(env)
            .map(|lane| LaneSnapshot {
                running: lane.running.as_ref().map(|(id, _)| *id),
                waiting: lane.waiting.iter().map(|job| job.run_id).collect(),
            })
            .unwrap_or_default()
    }

    /// Whether any job runs or waits, in any environment.
    pub fn is_idle(&self) -> bool {
        let lanes = self.lanes.lock().expect("queue lock poisoned");
        lanes
            .values()
            .all(|lane| lane.running.is_none() && lane.waiting.is_empty())
    }

    /// Removes every job that has not started, in every environment (shutdown: they are
    /// reported as dropped instead of being started by a process that is going away).
    pub fn take_waiting(&self) -> Vec<(EnvName, RunId)> {
        let mut lanes = self.lanes.lock().expect("queue lock poisoned");
        let mut taken = Vec::new();
        for (env, lane) in lanes.iter_mut() {
            taken.extend(lane.waiting.drain(..).map(|job| (env.clone(), job.run_id)));
        }
        taken
    }

    /// Cancels every running job (shutdown).
    pub fn cancel_all_running(&self) {
        let lanes = self.lanes.lock().expect("queue lock poisoned");
        for lane in lanes.values() {
            if let Some((_, cancel)) = &lane.running {
                cancel.cancel();
            }
        }
    }

    async fn drain(&self, env: EnvName) {
        loop {
            let job = {
                let mut lanes = self.lanes.lock().expect("queue lock poisoned");
                let lane = lanes.entry(env.clone()).or_default();
                match lane.waiting.pop_front() {
                    Some(job) => {
                        lane.running = Some((job.run_id, job.cancel.clone()));
                        job
                    }
                    None => {
                        lane.running = None;
                        return;
                    }
                }
            };
            let cancel = job.cancel.clone();
            let lock =
                EnvFileLock::acquire(&self.lock_dir, &env, job.run_id, &cancel, job.on_blocked)
                    .await;
            // Without the lock the job still starts, but only to report: it sees either the
            // cancel (lock wait abandoned) or the lock error, and runs no Terraform.
            let lock_error = lock
                .as_ref()
                .err()
                .map(|e| format!("cannot lock environment {env}: {e}"));
            (job.body)(JobContext { cancel, lock_error }).await;
            drop(lock);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::sync::oneshot;

    fn env(name: &str) -> EnvName {
        EnvName::new(name)
    }

    #[tokio::test]
    async fn one_job_at_a_time_per_environment_and_positions_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let queue = JobQueue::new(dir.path());
        let running = Arc::new(AtomicUsize::new(0));
        let max_running = Arc::new(AtomicUsize::new(0));
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut positions = Vec::new();
        for id in 1..=3 {
            let running = running.clone();
            let max_running = max_running.clone();
            let done_tx = done_tx.clone();
            positions.push(queue.submit(
                &env("lt1"),
                RunId(id),
                Box::new(move |_ctx| {
                    Box::pin(async move {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        max_running.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        done_tx.send(id).unwrap();
                    })
                }),
            ));
        }
        assert_eq!(positions[0], Position::StartsNow);
        assert_eq!(positions[1], Position::Queued(1));
        assert_eq!(positions[2], Position::Queued(2));
        let order: Vec<i64> = vec![
            done_rx.recv().await.unwrap(),
            done_rx.recv().await.unwrap(),
            done_rx.recv().await.unwrap(),
        ];
        assert_eq!(order, vec![1, 2, 3]);
        assert_eq!(max_running.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn cancel_removes_the_queued_job_first_then_signals_the_running_one() {
        let dir = tempfile::tempdir().unwrap();
        let queue = JobQueue::new(dir.path());
        let (started_tx, started_rx) = oneshot::channel();
        let (finished_tx, finished_rx) = oneshot::channel();
        queue.submit(
            &env("lt1"),
            RunId(1),
            Box::new(move |ctx| {
                Box::pin(async move {
                    started_tx.send(()).unwrap();
                    ctx.cancel.cancelled().await;
                    finished_tx.send("cancelled").unwrap();
                })
            }),
        );
        started_rx.await.unwrap();
        let ran_second = Arc::new(AtomicUsize::new(0));
        let flag = ran_second.clone();
        queue.submit(
            &env("lt1"),
            RunId(2),
            Box::new(move |_| {
                Box::pin(async move {
                    flag.fetch_add(1, Ordering::SeqCst);
                })
            }),
        );
        assert_eq!(
            queue.snapshot(&env("lt1")),
            LaneSnapshot {
                running: Some(RunId(1)),
                waiting: vec![RunId(2)]
            }
        );
        assert_eq!(
            queue.cancel(&env("lt1")),
            CancelOutcome::RemovedQueued(RunId(2))
        );
        assert_eq!(
            queue.cancel(&env("lt1")),
            CancelOutcome::StoppingRunning(RunId(1))
        );
        assert_eq!(finished_rx.await.unwrap(), "cancelled");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            ran_second.load(Ordering::SeqCst),
            0,
            "a cancelled queued job never runs"
        );
        assert_eq!(queue.cancel(&env("lt1")), CancelOutcome::NothingToCancel);
        assert!(queue.is_idle());
    }

    #[tokio::test]
    async fn environments_run_in_parallel() {
        let dir = tempfile::tempdir().unwrap();
        let queue = JobQueue::new(dir.path());
        let (a_started_tx, a_started_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel::<()>();
        queue.submit(
            &env("a"),
            RunId(1),
            Box::new(move |_| {
                Box::pin(async move {
                    a_started_tx.send(()).unwrap();
                    let _ = release_rx.await;
                })
            }),
        );
        a_started_rx.await.unwrap();
        let (b_done_tx, b_done_rx) = oneshot::channel();
        let position = queue.submit(
            &env("b"),
            RunId(2),
            Box::new(move |_| {
                Box::pin(async move {
                    b_done_tx.send(()).unwrap();
                })
            }),
        );
        assert_eq!(position, Position::StartsNow);
        b_done_rx.await.unwrap();
        release_tx.send(()).unwrap();
    }

    #[test]
    fn the_file_lock_excludes_a_second_holder_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = EnvFileLock::try_acquire(dir.path(), &env("lt1"), RunId(1)).unwrap();
        assert!(first.is_some());
        // flock locks belong to the open file description, so a second open in the same
        // process conflicts exactly like another process would.
        assert!(EnvFileLock::try_acquire(dir.path(), &env("lt1"), RunId(2))
            .unwrap()
            .is_none());
        assert_eq!(
            EnvFileLock::holder(dir.path(), &env("lt1")).unwrap(),
            format!("pid={} run=1", std::process::id())
        );
        assert!(
            EnvFileLock::try_acquire(dir.path(), &env("other"), RunId(3))
                .unwrap()
                .is_some()
        );
        drop(first);
        assert!(EnvFileLock::try_acquire(dir.path(), &env("lt1"), RunId(4))
            .unwrap()
            .is_some());
    }
}
