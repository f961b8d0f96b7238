//! The audit trail's writer: entries go to a dedicated thread that commits whatever has
//! queued up in one transaction (group commit), so a burst of commands costs a few fsyncs
//! instead of one each. Callers never block on the disk; a front end that must not answer
//! before the audit line is durable awaits [`AuditLog::flushed`] (the Slack ack does).

use crate::store::{AuditEntry, Store};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Entries committed in one transaction at most; bounds the latency of the first in a burst.
const MAX_BATCH: usize = 512;

enum Job {
    Entry(u64, Box<AuditEntry>),
    /// Commit what came before, then answer (shutdown, tests).
    Flush(mpsc::Sender<()>),
}

pub struct AuditLog {
    jobs: Mutex<mpsc::Sender<Job>>,
    next_seq: AtomicU64,
    committed: watch::Receiver<u64>,
}

impl AuditLog {
    /// Starts the writer thread on its own connection to `store`'s database file.
    pub fn start(store: Store) -> Arc<AuditLog> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (committed_tx, committed) = watch::channel(0u64);
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || writer(store, inbox, committed_tx))
            .expect("spawn the audit writer thread");
        Arc::new(AuditLog {
            jobs: Mutex::new(jobs),
            next_seq: AtomicU64::new(1),
            committed,
        })
    }

    /// Queues an entry; returns its sequence number for [`AuditLog::flushed`].
    pub fn record(&self, entry: AuditEntry) -> u64 {
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let sent = self
            .jobs
            .lock()
            .expect("audit sender lock poisoned")
            .send(Job::Entry(seq, Box::new(entry)));
        if sent.is_err() {
            tracing::error!("the audit writer is gone; an audit entry was not written");
        }
        seq
    }

    /// Waits until every entry queued so far is committed.
    pub async fn flushed(&self) {
        let target = self.next_seq.load(Ordering::SeqCst).saturating_sub(1);
        let mut committed = self.committed.clone();
        let _ = committed.wait_for(|done| *done >= target).await;
    }

    /// Blocking flush, for shutdown and synchronous callers.
    pub fn flush_blocking(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        let sent = self
            .jobs
            .lock()
            .expect("audit sender lock poisoned")
            .send(Job::Flush(done_tx));
        if sent.is_ok() {
            let _ = done_rx.recv();
        }
    }
}

fn writer(store: Store, inbox: mpsc::Receiver<Job>, committed: watch::Sender<u64>) {
    while let Ok(first) = inbox.recv() {
        let mut entries = Vec::new();
        let mut last_seq = None;
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                Job::Entry(seq, entry) => {
                    entries.push(*entry);
                    last_seq = Some(seq);
                }
                Job::Flush(done) => flushes.push(done),
            }
            next = if entries.len() < MAX_BATCH {
                inbox.try_recv().ok()
            } else {
                None
            };
        }
        if !entries.is_empty() {
            if let Err(error) = store.audit_many(&entries) {
                // Logged loudly with the entries themselves, so the trail survives in the log.
                tracing::error!(%error, lost = ?entries, "could not write audit entries");
            }
        }
        if let Some(seq) = last_seq {
            committed.send_replace(seq);
        }
        for done in flushes {
            let _ = done.send(());
        }
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
        log.flush_blocking();
        assert_eq!(reader.recent_audit(10_000).unwrap().len(), 1001);
    }
}
