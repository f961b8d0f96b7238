//! The cross-process half of "one mutating job per environment": an advisory `flock` on
//! `<state dir>/locks/<env>.lock`, held around every job, so an `exec` next to `serve` (or a
//! second bot on the same state directory) waits its turn.

use crate::model::{EnvName, RunId};
use crate::terraform::runner::CancelSignal;
use std::io::{Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

/// Called (once) with the holder's description when a job has to wait for another process.
pub type OnBlocked = Box<dyn FnOnce(String) + Send>;

/// An exclusive advisory lock on `<lock dir>/<env>.lock`, released on drop (or when the
/// process dies, which is why flock and not a lock row in the store).
pub struct EnvFileLock {
    _file: std::fs::File,
}

impl EnvFileLock {
    /// Waits (polling, cancellable) until no other process holds the environment.
    pub async fn acquire(
        lock_dir: &Path,
        env: &EnvName,
        run_id: RunId,
        cancel: &CancelSignal,
        mut on_blocked: Option<OnBlocked>,
    ) -> std::io::Result<Option<EnvFileLock>> {
        loop {
            match Self::try_acquire(lock_dir, env, run_id) {
                Ok(Some(lock)) => return Ok(Some(lock)),
                Ok(None) => {
                    if let Some(notify) = on_blocked.take() {
                        let holder =
                            Self::holder(lock_dir, env).unwrap_or_else(|| "another process".into());
                        notify(holder);
                    }
                }
                Err(error) => {
                    tracing::error!(%env, %error, "cannot take the environment lock file");
                    return Err(error);
                }
            }
            if cancel.is_cancelled() {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Takes the lock if it is free; `Ok(None)` when another process holds it.
    pub fn try_acquire(
        lock_dir: &Path,
        env: &EnvName,
        run_id: RunId,
    ) -> std::io::Result<Option<EnvFileLock>> {
        crate::private_fs::create_private_dir_all(lock_dir)?;
        let mut file = std::fs::OpenOptions::new()
            .mode(crate::private_fs::FILE_MODE)
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(lock_dir.join(format!("{env}.lock")))?;
        // SAFETY: flock on a file descriptor we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let error = std::io::Error::last_os_error();
            return if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
                Ok(None)
            } else {
                Err(error)
            };
        }
        // Who holds it, for "waiting for run 41 (pid 1234)" answers.
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "pid={} run={}", std::process::id(), run_id)?;
        Ok(Some(EnvFileLock { _file: file }))
    }

    /// The holder line written by the process that has the lock, if any.
    pub fn holder(lock_dir: &Path, env: &EnvName) -> Option<String> {
        std::fs::read_to_string(lock_dir.join(format!("{env}.lock")))
            .ok()
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty())
    }
}
