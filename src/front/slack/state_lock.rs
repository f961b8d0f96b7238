//! One `serve` per state directory. Two would both drain the outbox and both run the
//! schedule, so Slack would see messages twice and Terraform could be started twice; the
//! second process exits with a message naming the first one's pid instead.
//!
//! The lock is `flock` on `<state dir>/serve.lock`: the kernel releases it when the holder
//! exits, however it exits, so a crash never leaves a stale lock behind.

use anyhow::Context;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Held for as long as `serve` runs; dropping it (or exiting) releases the directory.
pub struct StateDirLock {
    _file: File,
}

impl StateDirLock {
    pub fn acquire(state_dir: &Path) -> anyhow::Result<StateDirLock> {
        let path = state_dir.join("serve.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock on a descriptor this function owns; no memory is shared.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if locked != 0 {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "another process".to_string(),
                pid => format!("another loadtest-bot serve (pid {pid})"),
            };
            anyhow::bail!(
                "{holder} is already serving the state directory {}; two would deliver every message twice. Stop it first, or give this one its own [store] dir",
                state_dir.display()
            );
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(StateDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_and_the_lock_is_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateDirLock::acquire(dir.path()).unwrap();
        // flock locks belong to the open file description, so a second open in the same
        // process conflicts just as another process would.
        let refused = StateDirLock::acquire(dir.path()).err().unwrap().to_string();
        assert!(
            refused.contains(&format!("(pid {})", std::process::id())),
            "{refused}"
        );
        assert!(
            refused.contains("already serving the state directory"),
            "{refused}"
        );
        drop(first);
        StateDirLock::acquire(dir.path()).expect("free again once the holder is gone");
    }
}
