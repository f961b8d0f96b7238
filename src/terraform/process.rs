//! One Terraform process from spawn to exit: its pipes read to the end, its `-json` events
//! handed to the caller, every line into the run log, and the only ways it is ever stopped.
//!
//! Terraform must never die of the bot's own faults: both pipes are drained to EOF whatever
//! the content (bytes, lossy, capped lines) and whatever happens to the log; once spawned, the
//! process is waited for, never abandoned by an early return. Stopping it is always SIGINT to
//! its process group first (Terraform finishes in-flight operations and releases its state
//! lock) and SIGKILL only after the grace period. A dropped handle sends SIGINT, not SIGKILL.

use crate::masker::Masker;
use crate::terraform::events::{Diagnostic, TfEvent};
use crate::terraform::lines::{CappedLines, EventReader, MAX_TEXT_LINE_BYTES};
use crate::terraform::run_log::RunLog;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::sync::{mpsc, watch};

/// Stderr kept for failure reports (the whole of it goes to the log file).
const STDERR_TAIL_BYTES: usize = 16 * 1024;

/// Why a Terraform command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this code (plan's `-detailed-exitcode`: 0 no changes, 2 changes).
    Code(i32),
    /// Stopped because the caller cancelled.
    Cancelled,
    /// Stopped because it ran past its timeout.
    TimedOut,
    /// Killed by a signal we did not send.
    Signal(i32),
}

/// What a finished Terraform command left behind.
#[derive(Debug)]
pub struct CommandResult {
    pub exit: Exit,
    /// Error and warning diagnostics from the JSON stream.
    pub diagnostics: Vec<Diagnostic>,
    /// The last part of stderr, masked (init and crash messages are not JSON).
    pub stderr_tail: String,
    /// Terraform's stdout, only for commands that return a document (show, output).
    pub stdout: Option<String>,
}

impl CommandResult {
    /// For `plan -detailed-exitcode`: `Some(false)` no changes (exit 0), `Some(true)` changes
    /// (exit 2), `None` when the plan failed or was stopped.
    pub fn plan_has_changes(&self) -> Option<bool> {
        match self.exit {
            Exit::Code(0) => Some(false),
            Exit::Code(2) => Some(true),
            _ => None,
        }
    }

    pub fn succeeded(&self) -> bool {
        matches!(self.exit, Exit::Code(0))
    }

    /// Whether Terraform reported an error diagnostic (it said itself why it failed).
    pub fn has_error_diagnostic(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The first line of [`error_text`](Self::error_text), for one-line records.
    pub fn error_headline(&self) -> String {
        self.error_text()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// One paragraph for a failure report: the diagnostics, else the stderr tail.
    pub fn error_text(&self) -> String {
        let errors: Vec<String> = self
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| match &d.detail {
                detail if detail.is_empty() => d.summary.clone(),
                detail => format!("{}: {}", d.summary, detail),
            })
            .collect();
        if !errors.is_empty() {
            errors.join("\n")
        } else if !self.stderr_tail.trim().is_empty() {
            self.stderr_tail.trim().to_string()
        } else {
            format!("terraform exited with {:?}", self.exit)
        }
    }
}

/// Cancel handle shared by a running job and whoever may cancel it.
#[derive(Clone, Debug)]
pub struct CancelSignal {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for CancelSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelSignal {
    pub fn new() -> Self {
        let (sender, _) = watch::channel(false);
        Self {
            sender: Arc::new(sender),
        }
    }
    pub fn cancel(&self) {
        self.sender.send_replace(true);
    }
    pub fn is_cancelled(&self) -> bool {
        *self.sender.borrow()
    }
    pub async fn cancelled(&self) {
        let mut receiver = self.sender.subscribe();
        // An error means the sender is gone, which cannot happen while `self` holds it.
        let _ = receiver.wait_for(|cancelled| *cancelled).await;
    }
}

/// A spawned Terraform that gets SIGINT (never SIGKILL) if its handle is dropped before it
/// was reaped, e.g. when the bot's runtime shuts down around a running job.
struct Guarded {
    child: Child,
    reaped: bool,
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if !self.reaped {
            signal_group(&self.child, libc::SIGINT);
        }
    }
}

/// How one streamed command is run and stopped.
pub(super) struct Streaming<'a> {
    pub(super) masker: &'a Masker,
    pub(super) log: &'a mut RunLog,
    pub(super) cancel: &'a CancelSignal,
    pub(super) timeout: Duration,
    pub(super) interrupt_grace: Duration,
}

/// Spawns `command`, streams stdout into events and the log, logs stderr as it comes (keeping
/// its tail for the result), and stops it on cancel or timeout (SIGINT, then kill after the
/// grace). Only a failure to spawn is an error: once Terraform runs, this returns when it has
/// exited and both its pipes are read to the end.
pub(super) async fn run_streaming(
    mut command: Command,
    mut run: Streaming<'_>,
    on_event: &mut (dyn FnMut(&TfEvent) + Send),
) -> anyhow::Result<CommandResult> {
    let mut child = command.spawn()?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr_lines = drain_stderr(child.stderr.take().expect("stderr is piped"));
    let mut guarded = Guarded {
        child,
        reaped: false,
    };
    let mut watch = Watch::new(stdout, stderr_lines);
    let deadline = tokio::time::sleep(run.timeout);
    tokio::pin!(deadline);
    let status = loop {
        let grace_over = async {
            match watch.interrupted_at {
                Some(at) => tokio::time::sleep_until(at + run.interrupt_grace).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            line = watch.stdout.next_event(), if watch.stdout_open => {
                watch.on_stdout(line, &mut run, on_event).await;
            }
            line = watch.stderr.recv(), if watch.stderr_open => watch.on_stderr(line, &mut run).await,
            status = guarded.child.wait(), if !watch.stdout_open && !watch.stderr_open => {
                break status;
            }
            _ = &mut deadline, if watch.stop_reason.is_none() => {
                watch.stop(&guarded.child, Exit::TimedOut, &mut run, "timeout reached").await;
            }
            _ = run.cancel.cancelled(), if watch.stop_reason.is_none() => {
                watch.stop(&guarded.child, Exit::Cancelled, &mut run, "cancelled").await;
            }
            _ = grace_over => {
                run.log.line("loadtest-bot: terraform did not stop after SIGINT, killing it").await;
                signal_group(&guarded.child, libc::SIGKILL);
                let _ = guarded.child.start_kill();
                watch.interrupted_at = None;
            }
        }
    };
    guarded.reaped = status.is_ok();
    run.log.flush().await;
    let exit = match (watch.stop_reason, status) {
        (Some(reason), _) => reason,
        (None, Ok(status)) => exit_of(status),
        (None, Err(error)) => {
            run.log
                .line(&format!("loadtest-bot: cannot wait for terraform: {error}"))
                .await;
            Exit::Code(-1)
        }
    };
    Ok(CommandResult {
        exit,
        diagnostics: watch.diagnostics,
        stderr_tail: run
            .masker
            .mask(tail(&watch.stderr_kept, STDERR_TAIL_BYTES))
            .into_owned(),
        stdout: None,
    })
}

/// What one streamed process has shown so far.
struct Watch {
    stdout: EventReader<BufReader<ChildStdout>>,
    stderr: mpsc::UnboundedReceiver<String>,
    stdout_open: bool,
    stderr_open: bool,
    diagnostics: Vec<Diagnostic>,
    /// Recent stderr (at most about twice the tail kept).
    stderr_kept: String,
    stop_reason: Option<Exit>,
    interrupted_at: Option<tokio::time::Instant>,
}

impl Watch {
    fn new(stdout: ChildStdout, stderr: mpsc::UnboundedReceiver<String>) -> Self {
        Watch {
            stdout: EventReader::new(BufReader::new(stdout)),
            stderr,
            stdout_open: true,
            stderr_open: true,
            diagnostics: Vec::new(),
            stderr_kept: String::new(),
            stop_reason: None,
            interrupted_at: None,
        }
    }

    async fn on_stdout(
        &mut self,
        line: std::io::Result<Option<(String, TfEvent)>>,
        run: &mut Streaming<'_>,
        on_event: &mut (dyn FnMut(&TfEvent) + Send),
    ) {
        match line {
            Ok(Some((raw, event))) => {
                run.log.line(&raw).await;
                if let TfEvent::Diagnostic(diagnostic) = &event {
                    self.diagnostics
                        .push(masked_diagnostic(run.masker, diagnostic));
                }
                on_event(&event);
            }
            Ok(None) => self.stdout_open = false,
            Err(error) => {
                let note = format!("loadtest-bot: reading terraform's output failed: {error}");
                run.log.line(&note).await;
                self.stdout_open = false;
            }
        }
    }

    async fn on_stderr(&mut self, line: Option<String>, run: &mut Streaming<'_>) {
        let Some(line) = line else {
            self.stderr_open = false;
            return;
        };
        run.log.line(&format!("stderr: {line}")).await;
        self.stderr_kept.push_str(&line);
        self.stderr_kept.push('\n');
        if self.stderr_kept.len() > 2 * STDERR_TAIL_BYTES {
            self.stderr_kept = tail(&self.stderr_kept, STDERR_TAIL_BYTES).to_string();
        }
    }

    /// SIGINT to Terraform's group: it finishes in-flight operations and releases its lock.
    async fn stop(&mut self, child: &Child, reason: Exit, run: &mut Streaming<'_>, why: &str) {
        self.stop_reason = Some(reason);
        self.interrupted_at = Some(tokio::time::Instant::now());
        let line = format!("loadtest-bot: {why}, sending SIGINT to terraform");
        run.log.line(&line).await;
        signal_group(child, libc::SIGINT);
    }
}

/// Runs a read-only command (show, output) to its end and returns its stdout. Both pipes are
/// read to EOF together; past the timeout it gets SIGINT and the result says timed out.
pub(super) async fn run_capturing(
    mut command: Command,
    masker: &Masker,
    timeout: Duration,
) -> anyhow::Result<CommandResult> {
    let mut guarded = Guarded {
        child: command.spawn()?,
        reaped: false,
    };
    let mut stdout = guarded.child.stdout.take().expect("stdout is piped");
    let stderr = guarded.child.stderr.take().expect("stderr is piped");
    let stderr_task = tokio::spawn(read_stderr(stderr));
    let finished = tokio::time::timeout(timeout, async {
        let mut out = Vec::new();
        let read = tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut out).await;
        let status = guarded.child.wait().await;
        (read, status, out)
    })
    .await;
    let Ok((read, status, out)) = finished else {
        // Dropping the guard sends SIGINT; the stderr task ends with the pipe.
        return Ok(CommandResult {
            exit: Exit::TimedOut,
            diagnostics: Vec::new(),
            stderr_tail: String::new(),
            stdout: None,
        });
    };
    guarded.reaped = status.is_ok();
    read?;
    let status = status?;
    let stderr_tail = stderr_task.await.unwrap_or_default();
    Ok(CommandResult {
        exit: exit_of(status),
        diagnostics: Vec::new(),
        stderr_tail: masker.mask(&stderr_tail).into_owned(),
        stdout: Some(String::from_utf8_lossy(&out).into_owned()),
    })
}

/// Signals the child's process group (the child leads it: spawned with `process_group(0)`),
/// so Terraform and its plugins get it together, as a terminal's Ctrl-C would.
fn signal_group(child: &Child, signal: libc::c_int) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on the process group of a child we spawned and have not reaped.
        unsafe {
            libc::kill(-(pid as libc::pid_t), signal);
        }
    }
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(-1),
    }
}

fn masked_diagnostic(masker: &Masker, diagnostic: &Diagnostic) -> Diagnostic {
    let mut masked = diagnostic.clone();
    masked.summary = masker.mask(&diagnostic.summary).into_owned();
    masked.detail = masker.mask(&diagnostic.detail).into_owned();
    masked
}

/// Reads stderr to EOF in a task of its own, whatever it holds and however slowly the lines are
/// taken: its lines (as logged) arrive on the returned channel, which closes at EOF.
fn drain_stderr(stderr: ChildStderr) -> mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = CappedLines::new(BufReader::new(stderr), MAX_TEXT_LINE_BYTES);
        // An I/O error on a pipe means it is gone; there is nothing left to drain.
        while let Ok(Some(line)) = lines.next_line().await {
            // Nobody listening any more: keep draining so Terraform never blocks or dies.
            let _ = sender.send(line.logged());
        }
    });
    receiver
}

/// Reads all of stderr to EOF, whatever it holds, keeping only the tail (unmasked; the caller
/// masks it once).
async fn read_stderr(stderr: impl AsyncRead + Unpin) -> String {
    let mut lines = CappedLines::new(BufReader::new(stderr), MAX_TEXT_LINE_BYTES);
    let mut kept = String::new();
    // An I/O error on a pipe means it is gone; there is nothing left to drain.
    while let Ok(Some(line)) = lines.next_line().await {
        kept.push_str(&line.logged());
        kept.push('\n');
        if kept.len() > 2 * STDERR_TAIL_BYTES {
            kept = tail(&kept, STDERR_TAIL_BYTES).to_string();
        }
    }
    tail(&kept, STDERR_TAIL_BYTES).to_string()
}

fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
