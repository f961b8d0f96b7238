//! A run's log file: every line Terraform and the bot write for a run, masked, appended to
//! `<state dir>/runs/<id>/terraform.log` (streamed to disk, never held in memory).
//!
//! Writing the log never fails the run. A full disk or a vanished file must not stop the
//! reading of Terraform's pipes (a reader that stops kills Terraform with SIGPIPE, or leaves it
//! blocked on a full pipe, mid-apply): a line that cannot be written is counted, and the
//! run's result says how many were lost and why.

use crate::masker::Masker;
use std::path::Path;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// A log file that every line of a run is appended to, masked.
pub struct RunLog {
    /// `None` when the file could not be opened: every line is then counted as lost.
    file: Option<tokio::fs::File>,
    masker: Arc<Masker>,
    lost_lines: u64,
    /// The first write error, for the run's result.
    first_error: Option<String>,
}

impl RunLog {
    /// Opens (creating, private to the bot's user) the log for appending. An error here is
    /// returned: nothing has started yet, so the run can still refuse to start.
    pub async fn create(path: &Path, masker: Arc<Masker>) -> std::io::Result<RunLog> {
        if let Some(parent) = path.parent() {
            crate::private_fs::create_private_dir_all(parent)?;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(crate::private_fs::FILE_MODE)
            .open(path)
            .await?;
        Ok(RunLog {
            file: Some(file),
            masker,
            lost_lines: 0,
            first_error: None,
        })
    }

    /// Appends one masked line. Never fails: a line that cannot be written is counted.
    pub async fn line(&mut self, text: &str) {
        let Some(file) = self.file.as_mut() else {
            self.lost_lines += 1;
            return;
        };
        let mut masked = self.masker.mask(text).into_owned();
        masked.push('\n');
        // The flush waits for the write to land, so an error is counted against its own line
        // (a file's writes otherwise report a failure one write late).
        let written = match file.write_all(masked.as_bytes()).await {
            Ok(()) => file.flush().await,
            Err(error) => Err(error),
        };
        if let Err(error) = written {
            self.lost_lines += 1;
            if self.first_error.is_none() {
                tracing::error!(%error, "cannot write the run log; Terraform keeps running");
                self.first_error = Some(error.to_string());
            }
        }
    }

    /// Flushes what was written; a failure only counts as a lost write.
    pub async fn flush(&mut self) {
        if let Some(file) = self.file.as_mut() {
            if let Err(error) = file.flush().await {
                self.first_error.get_or_insert(error.to_string());
            }
        }
    }

    /// How many lines could not be written.
    pub fn lost_lines(&self) -> u64 {
        self.lost_lines
    }

    /// A sentence for the run's result when lines were lost, else `None`.
    pub fn loss_note(&self) -> Option<String> {
        (self.lost_lines > 0).then(|| {
            format!(
                "{} line(s) of the run log could not be written ({}); Terraform was not stopped",
                self.lost_lines,
                self.first_error.as_deref().unwrap_or("write error")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_log_on_a_full_device_counts_its_lost_lines_and_never_fails() {
        if !Path::new("/dev/full").exists() {
            panic!("/dev/full is needed for this test");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("terraform.log");
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let masker = Arc::new(Masker::new(Vec::new(), Vec::new()).unwrap());
        let mut log = RunLog::create(&path, masker).await.unwrap();
        log.line("one").await;
        log.line("two").await;
        log.flush().await;
        assert_eq!(log.lost_lines(), 2);
        let note = log.loss_note().unwrap();
        assert!(
            note.starts_with("2 line(s) of the run log could not be written"),
            "{note}"
        );
        assert!(note.contains("No space left on device"), "{note}");
    }

    #[tokio::test]
    async fn a_new_log_is_private_and_masked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs/1/terraform.log");
        let masker = Arc::new(Masker::new(vec!["hunter2-secret".into()], Vec::new()).unwrap());
        let mut log = RunLog::create(&path, masker).await.unwrap();
        log.line("password hunter2-secret").await;
        log.flush().await;
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "password ***\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
    }
}
