//! How a run ends: its outcome is recorded in the store first, then its message shows the
//! final view (counts, outputs, what was destroyed, diagnostics, a note), and for failures the
//! masked log goes to the thread. Also the endings of runs that never reached Terraform: a
//! queued run cancelled or dropped, a rejected or expired plan, a run interrupted by a dead
//! process.

use super::{RunSpec, Runs};
use crate::model::{RunId, RunOutcome, SlackUserId};
use crate::outlet::{RunOwner, UpdateKind};
use crate::render::views::{
    ChangeCounts as CountsView, DestructiveItem, DiagnosticItem, FinishedView, KeyOutputs,
    PlanView, RunRef,
};
use crate::store::{ChangeCounts, FinishedRun, Owner, RunRecord};
use crate::terraform::events::state_lock_info;
use crate::terraform::plan_summary::PlanSummary;
use crate::terraform::progress::ApplySummary;
use crate::terraform::runner::{CommandResult, Exit};
use std::time::{Duration, Instant};

/// What a final message shows besides the outcome.
#[derive(Default)]
pub(super) struct Ending {
    pub(super) counts: Option<ApplySummary>,
    pub(super) outputs: KeyOutputs,
    pub(super) plan: Option<PlanSummary>,
    pub(super) diagnostics: Vec<DiagnosticItem>,
    pub(super) note: Option<String>,
    /// The short error recorded in the store.
    pub(super) error: Option<String>,
    /// The apply started and its end was not seen: say so instead of guessing.
    pub(super) state_unknown: bool,
}

impl Ending {
    pub(super) fn failed_with_note(note: String) -> Self {
        Ending {
            error: Some(note.clone()),
            note: Some(note),
            ..Ending::default()
        }
    }

    /// An apply whose end the bot did not see (`why`): what Terraform changed is unknown, so
    /// the result says to check `plan` rather than claim nothing or everything was applied.
    pub(super) fn state_unknown(why: &str, counts: Option<ApplySummary>) -> Self {
        let note =
            format!("{why}. Run `plan` to see where the environment is before anything else");
        Ending {
            counts,
            error: Some(note.clone()),
            note: Some(note),
            state_unknown: true,
            ..Ending::default()
        }
    }

    /// Adds a sentence to the note (e.g. that log lines were lost).
    pub(super) fn add_note(&mut self, sentence: &str) {
        self.note = Some(match self.note.take() {
            Some(note) => format!("{note}\n{sentence}"),
            None => sentence.to_string(),
        });
    }
}

/// The outcome and ending of a failed or stopped Terraform command.
pub(super) fn end_with_result(
    result: &CommandResult,
    step: &str,
    counts: Option<ApplySummary>,
) -> (RunOutcome, Ending) {
    let outcome = match result.exit {
        Exit::Cancelled => RunOutcome::Cancelled,
        Exit::TimedOut => RunOutcome::TimedOut,
        _ => RunOutcome::Failed,
    };
    let error_text = result.error_text();
    let mut note = match outcome {
        RunOutcome::Cancelled => {
            format!("cancelled during terraform {step}; Terraform stopped gracefully")
        }
        RunOutcome::TimedOut => {
            format!("terraform {step} ran past its timeout and was interrupted")
        }
        _ => format!("terraform {step} failed"),
    };
    if let Some(lock) = state_lock_info(&error_text) {
        note = format!(
            "the Terraform state is locked (lock ID {}, held by {} for {} since {}). If that run is dead, an admin can run `unlock {}`",
            lock.id, lock.who, lock.operation, lock.created, lock.id
        );
    }
    let mut diagnostics: Vec<DiagnosticItem> = result
        .diagnostics
        .iter()
        .map(DiagnosticItem::from)
        .collect();
    if diagnostics.iter().all(|d| d.severity != "error") && outcome == RunOutcome::Failed {
        // Not a JSON diagnostic (init errors, crashes): show stderr's tail as one.
        diagnostics.push(DiagnosticItem {
            severity: "error".into(),
            summary: format!("terraform {step} exited with {:?}", result.exit),
            detail: result.stderr_tail.trim().to_string(),
            address: None,
        });
    }
    let ending = Ending {
        counts,
        diagnostics,
        error: Some(format!("{note}: {}", result.error_headline())),
        note: Some(note),
        ..Ending::default()
    };
    (outcome, ending)
}

/// Records the outcome in the store, then updates the run's message with the final view.
pub(super) fn finish(
    runs: &Runs,
    spec: &RunSpec,
    outcome: RunOutcome,
    ending: Ending,
    started: Instant,
) {
    let stored = runs.services.store.finish_run(
        spec.run_id,
        &FinishedRun {
            outcome,
            counts: ending.counts.map(|c| ChangeCounts {
                add: c.added as u32,
                change: c.changed as u32,
                destroy: c.destroyed as u32,
            }),
            error: ending.error.clone(),
            now: chrono::Utc::now(),
        },
    );
    if let Err(store_error) = stored {
        tracing::error!(run = %spec.run_id, error = %store_error, "could not record the run's outcome");
    }
    let attach_log = matches!(outcome, RunOutcome::Failed | RunOutcome::TimedOut);
    let view = FinishedView {
        run: spec.run_ref(),
        counts: ending.counts.map(CountsView::from),
        duration: Some(
            humantime::format_duration(Duration::from_secs(started.elapsed().as_secs()))
                .to_string(),
        ),
        outputs: ending.outputs,
        plan: ending.plan.as_ref().map(PlanView::from),
        destructive: ending
            .plan
            .as_ref()
            .map(|plan| plan.destructive.iter().map(DestructiveItem::from).collect())
            .unwrap_or_default(),
        diagnostics: ending.diagnostics,
        note: ending.note,
        stopped_by: None,
        log_attached: attach_log,
        state_unknown: ending.state_unknown,
    };
    let message = runs
        .services
        .message(runs.services.renderer.finished(outcome, &view));
    let handle = runs.show(spec.run_id, &spec.channel, &message, UpdateKind::Final);
    if attach_log {
        let log_path = runs.services.run_dir(spec.run_id).join("terraform.log");
        if let Some(content) = read_log_tail(&log_path) {
            runs.services.outlet.attach_log(
                &handle,
                &format!("run-{}-terraform.log", spec.run_id),
                &content,
            );
        }
    }
}

/// The last [`ATTACHED_LOG_BYTES`] of a run's log, lossily decoded: a log is never read into
/// memory whole (it may be huge, or a device that never ends).
fn read_log_tail(path: &std::path::Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let length = file.metadata().ok()?.len();
    let start = length.saturating_sub(ATTACHED_LOG_BYTES);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    file.take(ATTACHED_LOG_BYTES).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// How much of a failed run's log goes to the thread (its end, where the failure is).
const ATTACHED_LOG_BYTES: u64 = 4 * 1024 * 1024;

/// The final view of a run known only from the store.
pub(super) fn finished_view_from_record(record: &RunRecord) -> FinishedView {
    FinishedView {
        run: RunRef {
            run_id: record.id,
            env: record.env.clone(),
            verb: record.verb.clone(),
            args: record.args.clone(),
            actor: record.actor.clone(),
            approved_by: None,
        },
        counts: record.applied.map(CountsView::from),
        duration: None,
        outputs: KeyOutputs::default(),
        plan: None,
        destructive: Vec::new(),
        diagnostics: Vec::new(),
        note: record.error.clone(),
        stopped_by: None,
        log_attached: false,
        state_unknown: false,
    }
}

/// A queued run removed by `cancel` before it started.
pub(super) fn finish_removed_queued(runs: &Runs, run: RunId, by: &SlackUserId) {
    let Ok(Some(record)) = runs.services.store.get_run(run) else {
        return;
    };
    let note = format!("cancelled by {by} before it started; nothing ran");
    let _ = runs.services.store.finish_run(
        run,
        &FinishedRun {
            outcome: RunOutcome::Cancelled,
            counts: None,
            error: Some(note.clone()),
            now: chrono::Utc::now(),
        },
    );
    let mut view = finished_view_from_record(&record);
    view.note = Some(note);
    view.stopped_by = Some(by.clone());
    let message = runs.services.message(
        runs.services
            .renderer
            .finished(RunOutcome::Cancelled, &view),
    );
    runs.show(run, &record.channel, &message, UpdateKind::Final);
    runs.notify_ended(run, RunOutcome::Cancelled);
}

/// The message of a run whose plan was rejected.
pub(super) fn report_rejected(runs: &Runs, record: &RunRecord, by: &SlackUserId) {
    let mut view = finished_view_from_record(record);
    view.note = Some("plan rejected; nothing was applied".into());
    view.stopped_by = Some(by.clone());
    let message = runs
        .services
        .message(runs.services.renderer.finished(RunOutcome::Rejected, &view));
    runs.show(record.id, &record.channel, &message, UpdateKind::Final);
}

/// The message of a run whose approval ran out before anyone decided: the buttons go, the
/// run ends cancelled, nothing was applied.
pub(super) fn report_expired(runs: &Runs, run: RunId) {
    let Ok(Some(record)) = runs.services.store.get_run(run) else {
        return;
    };
    let mut view = finished_view_from_record(&record);
    view.note = Some(
        "the approval expired before anyone decided; nothing was applied. Run the command again for a fresh plan"
            .into(),
    );
    let message = runs.services.message(
        runs.services
            .renderer
            .finished(RunOutcome::Cancelled, &view),
    );
    runs.show(run, &record.channel, &message, UpdateKind::Final);
    runs.notify_ended(run, RunOutcome::Cancelled);
}

/// Marks runs left `running` or `queued` by a dead process as interrupted and reports
/// them in their channel. Runs of live processes (an `exec` next to `serve`) are left
/// alone.
pub(super) fn recover_interrupted(runs: &Runs) -> anyhow::Result<Vec<RunId>> {
    // Our own pid counts as dead: a restarted container often gets its predecessor's pid;
    // so does a pid recorded in another boot.
    let me = this_process();
    let services = &runs.services;
    let interrupted = services.store.mark_interrupted_dead_runs(
        |pid, boot| {
            pid != me.pid
                && boot.is_none_or(|boot| boot == me.boot_id)
                && process_is_alive(i64::from(pid))
        },
        chrono::Utc::now(),
    )?;
    let mut ids = Vec::new();
    for run in interrupted {
        ids.push(run.id);
        let mut view = finished_view_from_record(&run);
        let mut note: String = match run.interrupted_from {
            Some(RunOutcome::Queued) => {
                "the bot stopped before this queued run started; it was dropped, not run".into()
            }
            _ => "the bot stopped while this run was going; check `status` before running it again"
                .into(),
        };
        if let Some(lock) = services
            .workspace(&run.env)
            .and_then(|ws| ws.leftover_local_lock())
        {
            note.push_str(&format!(
                ". Terraform's state lock {} ({} by {} since {}) is still held: once no terraform process of that run is left, an admin can release it with `unlock {}`",
                lock.id, lock.operation, lock.who, lock.created, lock.id
            ));
        }
        view.note = Some(services.masker.mask(&note).into_owned());
        let message = services.message(services.renderer.finished(RunOutcome::Interrupted, &view));
        let owner = RunOwner {
            run: run.id,
            requester: run.actor.clone(),
        };
        services.outlet.post_for_run(&run.channel, &message, &owner);
    }
    Ok(ids)
}

/// This process as a run's owner: its pid and the boot it runs in.
pub fn this_process() -> Owner {
    static BOOT_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let boot_id = BOOT_ID.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|id| id.trim().to_string())
            .unwrap_or_default()
    });
    Owner {
        pid: std::process::id(),
        boot_id: boot_id.clone(),
    }
}

/// A run some other process took over or ended (interrupted, cancelled, …) before this job
/// started Terraform, or before its apply: the job shows the stored outcome and writes
/// nothing, so the other process's record stands.
pub(super) fn report_abandoned(runs: &Runs, spec: &RunSpec, outcome: RunOutcome, note: String) {
    let Ok(Some(record)) = runs.services.store.get_run(spec.run_id) else {
        return;
    };
    let mut view = finished_view_from_record(&record);
    view.note = Some(note);
    let message = runs
        .services
        .message(runs.services.renderer.finished(outcome, &view));
    runs.show(spec.run_id, &spec.channel, &message, UpdateKind::Final);
}

/// Whether a process with this pid exists (signal 0 probes without signalling).
pub fn process_is_alive(pid: i64) -> bool {
    if pid <= 0 || pid > i64::from(i32::MAX) {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
