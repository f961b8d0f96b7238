//! The audit trail's writer: entries go to a dedicated thread that commits whatever has
//! queued up in one transaction (group commit), so a burst of commands costs a few fsyncs
//! instead of one each. Callers never block on the disk; a front end that must not answer
//! before the audit line is durable awaits [`AuditLog::flushed`] (the Slack ack does).

use crate::store::{AuditEntry, Store};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Entries committed in one transaction at most; bounds the latency of the first in a burst.
const MAX_BATCH: usize = 512;

/// Under concurrent load, how long the writer waits after the first line of a batch for
/// others to join it. A lone command never waits: only a batch that found company sets it up.
const GATHER_WINDOW: std::time::Duration = std::time::Duration::from_millis(1);

/// An entry and its sequence number, on its way to the writer.
type Numbered = (u64, AuditEntry);

pub struct AuditLog {
    jobs: Mutex<mpsc::Sender<Numbered>>,
    next_seq: AtomicU64,
    progress: Arc<Progress>,
}

/// What the writer has committed, and who waits for what. Each waiter is woken once, when
/// its sequence number is committed: a burst of N commands committed in B transactions costs
/// N wake-ups, not N × B as with one broadcast per commit.
#[derive(Default)]
struct Progress {
    /// The highest sequence number committed (0: none yet).
    committed: AtomicU64,
    /// Set when the writer thread has ended; nobody waits after that.
    writer_gone: AtomicBool,
    /// Waiters by the sequence number they need committed.
    waiters: Mutex<BTreeMap<u64, Vec<oneshot::Sender<()>>>>,
}

impl Progress {
    fn waiters(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Vec<oneshot::Sender<()>>>> {
        self.waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `seq` as committed and wakes everyone waiting for it or less.
    fn committed(&self, seq: u64) {
        self.committed.fetch_max(seq, Ordering::SeqCst);
        let ready = {
            let mut waiters = self.waiters();
            let later = waiters.split_off(&(seq + 1));
            std::mem::replace(&mut *waiters, later)
        };
        for waiter in ready.into_values().flatten() {
            let _ = waiter.send(());
        }
    }
}

/// Set on the writer thread: when it ends, however it ends, waiters are released (dropping
/// their senders) instead of waiting forever.
struct WriterGone(Arc<Progress>);

impl Drop for WriterGone {
    fn drop(&mut self) {
        self.0.writer_gone.store(true, Ordering::SeqCst);
        self.0.waiters().clear();
    }
}

impl AuditLog {
    /// Starts the writer thread on its own connection to `store`'s database file.
    pub fn start(store: Store) -> Arc<AuditLog> {
        let (jobs, inbox) = mpsc::channel::<Numbered>();
        let progress = Arc::new(Progress::default());
        let writer_progress = Arc::clone(&progress);
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                let _gone = WriterGone(Arc::clone(&writer_progress));
                writer(store, inbox, &writer_progress)
            })
            .expect("spawn the audit writer thread");
        Arc::new(AuditLog {
            jobs: Mutex::new(jobs),
            next_seq: AtomicU64::new(1),
            progress,
        })
    }

    /// Queues an entry; returns its sequence number for [`AuditLog::flushed`].
    pub fn record(&self, entry: AuditEntry) -> u64 {
        // Numbered under the sender's lock, so the writer receives entries in sequence order
        // and "committed up to N" covers every entry numbered N or less.
        let jobs = self.jobs.lock().expect("audit sender lock poisoned");
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let sent = jobs.send((seq, entry));
        drop(jobs);
        if sent.is_err() {
            tracing::error!("the audit writer is gone; an audit entry was not written");
        }
        seq
    }

    /// Waits until every entry queued so far is committed (or the writer is gone).
    pub async fn flushed(&self) {
        let target = self.next_seq.load(Ordering::SeqCst).saturating_sub(1);
        let progress = &self.progress;
        if progress.committed.load(Ordering::SeqCst) >= target {
            return;
        }
        let (wake, woken) = oneshot::channel();
        {
            // Checked again under the lock: the writer publishes `committed` before it takes
            // the lock to wake waiters, so a waiter registered here cannot be missed.
            let mut waiters = progress.waiters();
            if progress.committed.load(Ordering::SeqCst) >= target
                || progress.writer_gone.load(Ordering::SeqCst)
            {
                return;
            }
            waiters.entry(target).or_default().push(wake);
        }
        let _ = woken.await;
    }
}

fn writer(store: Store, inbox: mpsc::Receiver<Numbered>, progress: &Progress) {
    let mut busy = false;
    while let Ok(first) = inbox.recv() {
        if busy {
            // The last batch held more than one line: commands are arriving concurrently, so
            // wait a moment for more and commit them together (one fsync for the lot) instead
            // of chasing them one fsync at a time.
            std::thread::sleep(GATHER_WINDOW);
        }
        let mut entries = Vec::new();
        let mut last_seq = 0;
        let mut next = Some(first);
        while let Some((seq, entry)) = next {
            entries.push(entry);
            last_seq = seq;
            next = if entries.len() < MAX_BATCH {
                inbox.try_recv().ok()
            } else {
                None
            };
        }
        if let Err(error) = store.audit_many(&entries) {
            // Logged loudly with the entries themselves, so the trail survives in the log.
            tracing::error!(%error, lost = ?entries, "could not write audit entries");
        }
        busy = entries.len() > 1;
        progress.committed(last_seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChannelId, SlackUserId};

    fn entry(n: usize) -> AuditEntry {
        AuditEntry {
            at: chrono::Utc::now(),
            actor: SlackUserId::new(format!("U{n}")),
            channel: ChannelId("C1".into()),
            env: None,
            command: format!("status {n}"),
            decision: "allowed".into(),
            run_id: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn entries_are_committed_in_order_and_flushed_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::start(Store::open_in_dir(dir.path()).unwrap());
        for n in 0..1000 {
            log.record(entry(n));
        }
        log.flushed().await;
        let reader = Store::open_in_dir(dir.path()).unwrap();
        let mut records = reader.recent_audit(10_000).unwrap();
        records.reverse();
        assert_eq!(records.len(), 1000);
        let commands: Vec<String> = records.into_iter().map(|r| r.entry.command).collect();
        let expected: Vec<String> = (0..1000).map(|n| format!("status {n}")).collect();
        assert_eq!(commands, expected);
        log.record(entry(1000));
        log.flushed().await;
        assert_eq!(reader.recent_audit(10_000).unwrap().len(), 1001);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_concurrent_waiter_returns_once_its_own_entry_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::start(Store::open_in_dir(dir.path()).unwrap());
        let tasks: Vec<_> = (0..300)
            .map(|n| {
                let log = Arc::clone(&log);
                let dir = dir.path().to_path_buf();
                tokio::spawn(async move {
                    log.record(entry(n));
                    log.flushed().await;
                    let reader = Store::open_in_dir(&dir).unwrap();
                    let mine = format!("status {n}");
                    reader
                        .recent_audit(10_000)
                        .unwrap()
                        .iter()
                        .any(|record| record.entry.command == mine)
                })
            })
            .collect();
        for (n, task) in tasks.into_iter().enumerate() {
            assert!(
                task.await.unwrap(),
                "entry {n} was not committed when flushed returned"
            );
        }
        assert!(log.progress.waiters().is_empty(), "no waiter left behind");
    }
}
