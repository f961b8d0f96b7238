//! Executes one run through the queue: variables → init → plan → show → (approval) → apply
//! of the saved plan → report. Each step's outcome lands in the store before the message that
//! announces it, so a crash never leaves a result that exists only in a chat message.

use crate::app::{App, ExitClass, Reply, Visibility};
use crate::model::{ChannelId, EnvName, RunId, RunOutcome, SizeName, SlackUserId};
use crate::outlet::{MessageHandle, UpdateKind};
use crate::queue::{JobContext, OnBlocked};
use crate::render::views::{
    ApprovalView, ChangeCounts as CountsView, DestructiveItem, DiagnosticItem, FinishedView,
    KeyOutputs, PlanView, ProgressView, RunRef, RunStartedView,
};
use crate::render::Message;
use crate::store::{ChangeCounts, FinishedRun, RunRecord};
use crate::terraform::events::{state_lock_info, TfEvent};
use crate::terraform::plan_summary::{outputs_from_json, OutputValue, PlanSummary};
use crate::terraform::progress::{ApplySummary, Phase, Progress};
use crate::terraform::runner::{CancelSignal, CommandResult, Exit, RunLog, Workspace};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Progress messages are updated at most this often (Slack's chat.update limit is ~1/s).
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// Plan, then apply the saved plan (after approval when required).
    Apply,
    /// Plan only; changes nothing, takes no state lock and does not queue.
    PlanOnly,
}

/// Everything a run needs, fixed when the command was accepted.
#[derive(Clone, Debug)]
pub struct RunSpec {
    pub run_id: RunId,
    pub env: EnvName,
    pub verb: String,
    /// Canonical arguments, e.g. `large for 3h`.
    pub args: String,
    pub size: SizeName,
    pub requester: SlackUserId,
    pub channel: ChannelId,
    pub kind: RunKind,
    pub needs_approval: bool,
    /// For `up`: how long until the bot scales the environment back down.
    pub lease: Option<Duration>,
    /// Set on the apply of an approved plan.
    pub approved_by: Option<SlackUserId>,
}

impl RunSpec {
    fn run_ref(&self) -> RunRef {
        RunRef {
            run_id: self.run_id,
            env: self.env.clone(),
            verb: self.verb.clone(),
            args: self.args.clone(),
            actor: self.requester.clone(),
            approved_by: self.approved_by.clone(),
        }
    }
}

fn run_dir(app: &App, run: RunId) -> PathBuf {
    app.state_dir.join("runs").join(run.0.to_string())
}

/// Queues a run (or, for plan-only, starts it at once) and returns the acknowledgement text.
pub fn submit(app: &Arc<App>, spec: RunSpec) -> String {
    let title = spec.run_ref().title();
    let run_id = spec.run_id;
    if spec.kind == RunKind::PlanOnly {
        post_run_message(app, &spec, None);
        let app = Arc::clone(app);
        tokio::spawn(async move {
            let context = JobContext {
                cancel: CancelSignal::new(),
                lock_error: None,
            };
            execute(app, spec, context).await;
        });
        return format!("{title}: plan #{run_id} started (plan only: nothing will change)");
    }
    let env = spec.env.clone();
    let lane = app.queue.snapshot(&env);
    let ahead = lane.waiting.len() + usize::from(lane.running.is_some());
    let handle = post_run_message(app, &spec, (ahead > 0).then_some(ahead));
    let on_blocked: OnBlocked = {
        let app = Arc::clone(app);
        let spec = spec.clone();
        Box::new(move |holder: String| {
            let view = ProgressView {
                run: spec.run_ref(),
                phase: format!("waiting for another process ({holder})"),
                done: 0,
                total: 0,
                current: None,
                elapsed: None,
            };
            app.outlet.update(
                &handle,
                &app.message(app.renderer.progress(&view)),
                UpdateKind::Progress,
            );
        })
    };
    let job_app = Arc::clone(app);
    let position = app.queue.submit_with(
        &env,
        run_id,
        Box::new(move |context| Box::pin(execute(job_app, spec, context))),
        Some(on_blocked),
    );
    format!(
        "{title}: run #{run_id} {}",
        App::queue_position_text(position)
    )
}

fn post_run_message(
    app: &Arc<App>,
    spec: &RunSpec,
    queue_position: Option<usize>,
) -> MessageHandle {
    let view = RunStartedView {
        run: spec.run_ref(),
        queue_position,
        size_description: app
            .sizes
            .get(spec.size.as_str())
            .map(|set| set.description.clone()),
    };
    let handle = app
        .outlet
        .post(&spec.channel, &app.message(app.renderer.run_started(&view)));
    remember_message(app, spec.run_id, handle.clone());
    handle
}

/// Queues the apply of a plan that was just approved.
pub fn submit_approved(app: &Arc<App>, record: RunRecord, approver: &SlackUserId) -> String {
    let spec = RunSpec {
        run_id: record.id,
        env: record.env.clone(),
        verb: record.verb.clone(),
        args: record.args.clone(),
        size: record.size.clone().unwrap_or_else(|| SizeName::new("down")),
        requester: record.actor.clone(),
        channel: record.channel.clone(),
        kind: RunKind::Apply,
        needs_approval: false,
        lease: lease_from_args(app, &record),
        approved_by: Some(approver.clone()),
    };
    let env = spec.env.clone();
    let run_id = spec.run_id;
    let approver = approver.clone();
    let job_app = Arc::clone(app);
    let position = app.queue.submit(
        &env,
        run_id,
        Box::new(move |context| {
            Box::pin(execute_approved(job_app, spec, record, approver, context))
        }),
    );
    format!(
        "[{env}] run #{run_id} approved: applying the saved plan, {}",
        App::queue_position_text(position)
    )
}

/// The lease an approved `up` asked for, re-read from its canonical arguments.
fn lease_from_args(app: &App, record: &RunRecord) -> Option<Duration> {
    if record.verb != "up" {
        return None;
    }
    let explicit = record
        .args
        .split_once(" for ")
        .and_then(|(_, lease)| humantime::parse_duration(lease.trim()).ok());
    explicit.or_else(|| app.config.env(&record.env).map(|e| e.default_lease))
}

fn remember_message(app: &App, run: RunId, handle: MessageHandle) {
    app.run_messages
        .lock()
        .expect("messages lock poisoned")
        .insert(run, handle);
}

/// The message a run updates; posts a new one when the run has none in this process (a run
/// recovered after a restart, or approved from another process).
fn message_of(
    app: &App,
    run: RunId,
    channel: &ChannelId,
    fallback: &Message,
) -> (MessageHandle, bool) {
    if let Some(handle) = app
        .run_messages
        .lock()
        .expect("messages lock poisoned")
        .get(&run)
    {
        return (handle.clone(), false);
    }
    let handle = app.outlet.post(channel, fallback);
    remember_message(app, run, handle.clone());
    (handle, true)
}

/// Shows a message as the run's current one: an update in place, or a fresh post.
fn show(
    app: &App,
    run: RunId,
    channel: &ChannelId,
    message: &Message,
    kind: UpdateKind,
) -> MessageHandle {
    let (handle, fresh) = message_of(app, run, channel, message);
    if !fresh {
        app.outlet.update(&handle, message, kind);
    }
    handle
}

/// The body of a queued run.
async fn execute(app: Arc<App>, spec: RunSpec, context: JobContext) {
    let started = Instant::now();
    let outcome = match execute_inner(&app, &spec, &context, started).await {
        Ok(outcome) => outcome,
        Err(error) => {
            let text = app.masker.mask(&format!("{error:#}")).into_owned();
            tracing::error!(run = %spec.run_id, error = %text, "run failed inside the bot");
            let ending =
                Ending::failed_with_note(format!("the bot could not finish the run: {text}"));
            finish(&app, &spec, RunOutcome::Failed, ending, started);
            RunOutcome::Failed
        }
    };
    app.notify_run_ended(spec.run_id, outcome);
}

/// Checks shared by a fresh run and an approved apply before any Terraform runs.
fn refuse_to_start(
    app: &App,
    spec: &RunSpec,
    context: &JobContext,
    started: Instant,
) -> Option<RunOutcome> {
    if let Some(error) = &context.lock_error {
        finish(
            app,
            spec,
            RunOutcome::Failed,
            Ending::failed_with_note(error.clone()),
            started,
        );
        return Some(RunOutcome::Failed);
    }
    if context.cancel.is_cancelled() {
        let ending = Ending {
            note: Some("cancelled before Terraform started; nothing ran".into()),
            ..Ending::default()
        };
        finish(app, spec, RunOutcome::Cancelled, ending, started);
        return Some(RunOutcome::Cancelled);
    }
    None
}

async fn execute_inner(
    app: &Arc<App>,
    spec: &RunSpec,
    context: &JobContext,
    started: Instant,
) -> anyhow::Result<RunOutcome> {
    if let Some(outcome) = refuse_to_start(app, spec, context, started) {
        return Ok(outcome);
    }
    let workspace = app
        .workspace(&spec.env)
        .ok_or_else(|| anyhow::anyhow!("environment {} is not configured", spec.env))?;
    let dir = run_dir(app, spec.run_id);
    tokio::fs::create_dir_all(&dir).await?;
    let log_path = dir.join("terraform.log");
    let plan_path = dir.join("plan.tfplan");
    app.store
        .mark_started(spec.run_id, std::process::id(), chrono::Utc::now())?;
    app.store.set_log_path(spec.run_id, &log_path)?;
    let mut log = RunLog::create(&log_path, Arc::clone(&app.masker)).await?;

    let progress = Arc::new(Mutex::new(Progress::new()));
    let reporter = ProgressReporter::start(app, spec, Arc::clone(&progress), started);

    let var_file = dir.join("vars.tfvars.json");
    write_var_file(app, spec, &var_file).await?;
    let timeouts = &app.config.terraform;

    if let Some(init) = app
        .runner
        .ensure_init(&workspace, &mut log, &context.cancel, timeouts.plan_timeout)
        .await?
    {
        if !init.succeeded() {
            reporter.stop().await;
            return Ok(end_with_result(app, spec, &init, "init", None, started));
        }
    }

    set_phase(&progress, Phase::Plan);
    let take_lock = spec.kind == RunKind::Apply;
    let plan = {
        let progress = Arc::clone(&progress);
        let mut on_event =
            move |event: &TfEvent| progress.lock().expect("progress lock").observe(event);
        app.runner
            .plan(
                &workspace,
                &var_file,
                &plan_path,
                take_lock,
                &mut log,
                &context.cancel,
                timeouts.plan_timeout,
                &mut on_event,
            )
            .await?
    };
    let has_changes = match plan.exit {
        Exit::Code(0) => false,
        Exit::Code(2) => true,
        _ => {
            reporter.stop().await;
            return Ok(end_with_result(app, spec, &plan, "plan", None, started));
        }
    };
    let shown = app
        .runner
        .show_json(&workspace, Some(&plan_path), timeouts.plan_timeout)
        .await?;
    let summary = match shown
        .stdout
        .as_deref()
        .map(|text| PlanSummary::from_json_slice(text.as_bytes()))
    {
        Some(Ok(summary)) if shown.succeeded() => summary,
        Some(Err(error)) => anyhow::bail!("cannot read the plan: {error}"),
        _ => {
            reporter.stop().await;
            return Ok(end_with_result(app, spec, &shown, "show", None, started));
        }
    };
    app.store.set_plan(
        spec.run_id,
        &plan_path,
        ChangeCounts {
            add: (summary.add + summary.replace) as u32,
            change: summary.change as u32,
            destroy: (summary.destroy + summary.replace) as u32,
        },
    )?;

    if !has_changes || summary.no_changes {
        reporter.stop().await;
        if spec.kind == RunKind::Apply {
            // The environment already matches the set: remember it as the current size.
            app.store
                .set_env_size(&spec.env, &spec.size, chrono::Utc::now())?;
            apply_lease(app, spec)?;
        }
        finish(app, spec, RunOutcome::NoChanges, Ending::default(), started);
        return Ok(RunOutcome::NoChanges);
    }
    if spec.kind == RunKind::PlanOnly {
        reporter.stop().await;
        let ending = Ending {
            plan: Some(&summary),
            note: Some("plan only: nothing was changed".into()),
            ..Ending::default()
        };
        finish(app, spec, RunOutcome::Succeeded, ending, started);
        return Ok(RunOutcome::Succeeded);
    }
    if spec.needs_approval {
        reporter.stop().await;
        let expires = app.config.approval.expires;
        let expires_at =
            chrono::Utc::now() + chrono::Duration::from_std(expires).unwrap_or_default();
        app.store.await_approval(spec.run_id, expires_at)?;
        let view = ApprovalView {
            run: spec.run_ref(),
            plan: PlanView::from(&summary),
            destructive: summary
                .destructive
                .iter()
                .map(DestructiveItem::from)
                .collect(),
            approvers: app.config.approval.approvers.clone(),
            expires: Some(crate::status::format_time(app, &spec.env, expires_at)),
        };
        let message = app.message(app.renderer.awaiting_approval(&view));
        show(app, spec.run_id, &spec.channel, &message, UpdateKind::Final);
        return Ok(RunOutcome::AwaitingApproval);
    }
    let outcome = apply_saved_plan(
        app,
        spec,
        &workspace,
        &plan_path,
        &mut log,
        context,
        &progress,
        Some(&summary),
        started,
    )
    .await;
    reporter.stop().await;
    outcome
}

fn set_phase(progress: &Mutex<Progress>, phase: Phase) {
    progress.lock().expect("progress lock").set_phase(phase);
}

#[allow(clippy::too_many_arguments)]
async fn apply_saved_plan(
    app: &Arc<App>,
    spec: &RunSpec,
    workspace: &Workspace,
    plan_path: &Path,
    log: &mut RunLog,
    context: &JobContext,
    progress: &Arc<Mutex<Progress>>,
    summary: Option<&PlanSummary>,
    started: Instant,
) -> anyhow::Result<RunOutcome> {
    {
        let mut progress = progress.lock().expect("progress lock");
        progress.set_phase(Phase::Apply);
        if let Some(summary) = summary {
            // A replacement is a destroy and a create.
            progress.resources_total =
                summary.add + summary.change + summary.destroy + 2 * summary.replace;
        }
    }
    // The apply stream ends with the outputs' values: no separate `output -json` needed.
    let streamed_outputs: Arc<Mutex<Option<BTreeMap<String, OutputValue>>>> = Arc::default();
    let apply = {
        let progress = Arc::clone(progress);
        let streamed_outputs = Arc::clone(&streamed_outputs);
        let mut on_event = move |event: &TfEvent| {
            if let TfEvent::Outputs { outputs } = event {
                let values = outputs
                    .iter()
                    .map(|(name, output)| {
                        let value = OutputValue {
                            value: if output.sensitive {
                                None
                            } else {
                                output.value.clone()
                            },
                            sensitive: output.sensitive,
                        };
                        (name.clone(), value)
                    })
                    .collect();
                *streamed_outputs.lock().expect("outputs lock") = Some(values);
            }
            progress.lock().expect("progress lock").observe(event);
        };
        app.runner
            .apply(
                workspace,
                plan_path,
                log,
                &context.cancel,
                app.config.terraform.apply_timeout,
                &mut on_event,
            )
            .await?
    };
    let counts = progress.lock().expect("progress lock").applied();
    if apply.succeeded() {
        app.store
            .set_env_size(&spec.env, &spec.size, chrono::Utc::now())?;
        apply_lease(app, spec)?;
        let streamed = streamed_outputs.lock().expect("outputs lock").take();
        let outputs = match streamed {
            Some(outputs) => key_outputs(&outputs),
            None => read_outputs(app, workspace).await.unwrap_or_default(),
        };
        let ending = Ending {
            counts: Some(counts),
            outputs,
            plan: summary,
            ..Ending::default()
        };
        finish(app, spec, RunOutcome::Succeeded, ending, started);
        return Ok(RunOutcome::Succeeded);
    }
    let outcome = end_with_result(app, spec, &apply, "apply", Some(counts), started);
    Ok(outcome)
}

/// The approved plan's apply, in the queue.
async fn execute_approved(
    app: Arc<App>,
    spec: RunSpec,
    record: RunRecord,
    approver: SlackUserId,
    context: JobContext,
) {
    let started = Instant::now();
    let result: anyhow::Result<RunOutcome> = async {
        if let Some(outcome) = refuse_to_start(&app, &spec, &context, started) {
            return Ok(outcome);
        }
        let workspace = app
            .workspace(&spec.env)
            .ok_or_else(|| anyhow::anyhow!("environment {} is not configured", spec.env))?;
        let plan_path = record
            .plan_path
            .clone()
            .ok_or_else(|| anyhow::anyhow!("run #{} has no saved plan", spec.run_id))?;
        app.store
            .mark_started(spec.run_id, std::process::id(), chrono::Utc::now())?;
        let log_path = record
            .log_path
            .clone()
            .unwrap_or_else(|| run_dir(&app, spec.run_id).join("terraform.log"));
        let mut log = RunLog::create(&log_path, Arc::clone(&app.masker)).await?;
        log.line(&format!(
            "loadtest-bot: approved by {approver}; applying the saved plan"
        ))
        .await?;
        let progress = Arc::new(Mutex::new(Progress::new()));
        if let Some(planned) = record.planned {
            progress.lock().expect("progress lock").resources_total =
                (planned.add + planned.change + planned.destroy) as usize;
        }
        let reporter = ProgressReporter::start(&app, &spec, Arc::clone(&progress), started);
        let outcome = apply_saved_plan(
            &app, &spec, &workspace, &plan_path, &mut log, &context, &progress, None, started,
        )
        .await;
        reporter.stop().await;
        outcome
    }
    .await;
    let outcome = result.unwrap_or_else(|error| {
        let text = app.masker.mask(&format!("{error:#}")).into_owned();
        finish(
            &app,
            &spec,
            RunOutcome::Failed,
            Ending::failed_with_note(text),
            started,
        );
        RunOutcome::Failed
    });
    app.notify_run_ended(spec.run_id, outcome);
}

fn apply_lease(app: &App, spec: &RunSpec) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let scaling_down = matches!(spec.size.as_str(), "down" | "off");
    if scaling_down {
        app.store.clear_lease(&spec.env)?;
    } else if let Some(lease) = spec.lease {
        let expires_at = now + chrono::Duration::from_std(lease).unwrap_or_default();
        app.store.set_lease(&crate::store::Lease {
            env: spec.env.clone(),
            size: spec.size.clone(),
            expires_at,
            set_by: spec.requester.clone(),
            set_at: now,
        })?;
    }
    Ok(())
}

/// `terraform output -json` as the outputs worth showing; `None` when Terraform could not be
/// asked or did not answer JSON.
pub(crate) async fn read_outputs(app: &App, workspace: &Workspace) -> Option<KeyOutputs> {
    let result = app
        .runner
        .output_json(workspace, Duration::from_secs(60))
        .await
        .ok()?;
    let json: serde_json::Value = serde_json::from_str(result.stdout.as_deref()?).ok()?;
    Some(key_outputs(&outputs_from_json(&json)))
}

/// The outputs worth a line in a message; sensitive ones never appear.
pub fn key_outputs(outputs: &BTreeMap<String, OutputValue>) -> KeyOutputs {
    let text = |name: &str| -> Option<String> {
        let output = outputs.get(name)?;
        if output.sensitive {
            return None;
        }
        match output.value.as_ref()? {
            serde_json::Value::Null => None,
            serde_json::Value::String(text) if text.is_empty() => None,
            serde_json::Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    };
    KeyOutputs {
        master_ip: text("jmeter_master_ip"),
        grafana_url: text("grafana_url"),
        kibana_url: text("kibana_url"),
    }
}

/// What a final message shows besides the outcome.
#[derive(Default)]
struct Ending<'a> {
    counts: Option<ApplySummary>,
    outputs: KeyOutputs,
    plan: Option<&'a PlanSummary>,
    diagnostics: Vec<DiagnosticItem>,
    note: Option<String>,
    /// The short error recorded in the store.
    error: Option<String>,
}

impl Ending<'_> {
    fn failed_with_note(note: String) -> Self {
        Ending {
            error: Some(note.clone()),
            note: Some(note),
            ..Ending::default()
        }
    }
}

/// Ends a run from a failed or stopped Terraform command.
fn end_with_result(
    app: &App,
    spec: &RunSpec,
    result: &CommandResult,
    step: &str,
    counts: Option<ApplySummary>,
    started: Instant,
) -> RunOutcome {
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
    finish(app, spec, outcome, ending, started);
    outcome
}

/// Records the outcome in the store, then updates the run's message with the final view.
fn finish(app: &App, spec: &RunSpec, outcome: RunOutcome, ending: Ending<'_>, started: Instant) {
    let stored = app.store.finish_run(
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
        plan: ending.plan.map(PlanView::from),
        destructive: ending
            .plan
            .map(|plan| plan.destructive.iter().map(DestructiveItem::from).collect())
            .unwrap_or_default(),
        diagnostics: ending.diagnostics,
        note: ending.note,
        stopped_by: None,
        log_attached: attach_log,
    };
    let message = app.message(app.renderer.finished(outcome, &view));
    let handle = show(app, spec.run_id, &spec.channel, &message, UpdateKind::Final);
    if attach_log {
        let log_path = run_dir(app, spec.run_id).join("terraform.log");
        if let Ok(content) = std::fs::read_to_string(&log_path) {
            app.outlet.attach_log(
                &handle,
                &format!("run-{}-terraform.log", spec.run_id),
                &content,
            );
        }
    }
}

/// The final view of a run known only from the store.
pub fn finished_view_from_record(record: &RunRecord) -> FinishedView {
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
    }
}

/// A queued run removed by `cancel` before it started.
pub fn finish_removed_queued_run(app: &App, run: RunId, by: &SlackUserId) {
    let Ok(Some(record)) = app.store.get_run(run) else {
        return;
    };
    let note = format!("cancelled by {by} before it started; nothing ran");
    let _ = app.store.finish_run(
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
    let message = app.message(app.renderer.finished(RunOutcome::Cancelled, &view));
    show(app, run, &record.channel, &message, UpdateKind::Final);
    app.notify_run_ended(run, RunOutcome::Cancelled);
}

/// The message of a run whose plan was rejected.
pub fn report_rejected(app: &App, record: &RunRecord, by: &SlackUserId) {
    let mut view = finished_view_from_record(record);
    view.note = Some("plan rejected; nothing was applied".into());
    view.stopped_by = Some(by.clone());
    let message = app.message(app.renderer.finished(RunOutcome::Rejected, &view));
    show(app, record.id, &record.channel, &message, UpdateKind::Final);
}

/// The message of a run whose approval ran out before anyone decided: the buttons go, the
/// run ends cancelled, nothing was applied.
pub fn report_expired(app: &App, run: RunId) {
    let Ok(Some(record)) = app.store.get_run(run) else {
        return;
    };
    let mut view = finished_view_from_record(&record);
    view.note = Some(
        "the approval expired before anyone decided; nothing was applied. Run the command again for a fresh plan"
            .into(),
    );
    let message = app.message(app.renderer.finished(RunOutcome::Cancelled, &view));
    show(app, run, &record.channel, &message, UpdateKind::Final);
    app.notify_run_ended(run, RunOutcome::Cancelled);
}

/// `unlock <lock-id>`: terraform force-unlock, admin only (policy checked before).
pub async fn force_unlock(app: &Arc<App>, env: &EnvName, lock_id: &str) -> Reply {
    let Some(workspace) = app.workspace(env) else {
        return Reply {
            message: app.notice(&format!("unknown environment `{env}`")),
            visibility: Visibility::Requester,
            class: ExitClass::Rejected,
            run: None,
        };
    };
    let log_path = app
        .state_dir
        .join("envs")
        .join(env.as_str())
        .join("unlock.log");
    let result = async {
        let mut log = RunLog::create(&log_path, Arc::clone(&app.masker)).await?;
        app.runner
            .force_unlock(&workspace, lock_id, &mut log, Duration::from_secs(120))
            .await
    }
    .await;
    let (text, class) = match result {
        Ok(result) if result.succeeded() => (
            format!("[{env}] state lock {lock_id} released"),
            ExitClass::Success,
        ),
        Ok(result) => (
            format!("[{env}] force-unlock failed: {}", result.error_text()),
            ExitClass::Failed,
        ),
        Err(error) => (
            format!("[{env}] force-unlock failed: {error:#}"),
            ExitClass::Failed,
        ),
    };
    Reply {
        message: app.notice(&text),
        visibility: Visibility::Channel,
        class,
        run: None,
    }
}

/// Writes the run's variables: the environment's own (e.g. `aws_endpoint`), then the set's,
/// then `environment_name`. Only these values ever reach Terraform.
async fn write_var_file(app: &App, spec: &RunSpec, path: &Path) -> anyhow::Result<()> {
    let set = app
        .sizes
        .get(spec.size.as_str())
        .ok_or_else(|| anyhow::anyhow!("variable set {} is not defined", spec.size))?;
    let mut variables = serde_json::Map::new();
    if let Some(env_config) = app.config.env(&spec.env) {
        for (key, value) in &env_config.tf_vars {
            // A TF_VAR_<name> in the bot's environment wins over the config (SPEC §3:
            // TF_VAR_aws_endpoint overrides the endpoint); a var file would beat it.
            if std::env::var_os(format!("TF_VAR_{key}")).is_some() {
                continue;
            }
            variables.insert(key.clone(), value.clone());
        }
    }
    for (key, value) in &set.variables {
        variables.insert(key.clone(), value.clone());
    }
    variables.insert(
        "environment_name".into(),
        serde_json::Value::String(spec.env.to_string()),
    );
    tokio::fs::write(
        path,
        serde_json::to_vec_pretty(&serde_json::Value::Object(variables))?,
    )
    .await?;
    Ok(())
}

/// Updates a run's message with its progress at most once per [`PROGRESS_INTERVAL`],
/// coalescing everything that happened in between. Dropping it stops the updates.
struct ProgressReporter {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressReporter {
    fn start(
        app: &Arc<App>,
        spec: &RunSpec,
        progress: Arc<Mutex<Progress>>,
        started: Instant,
    ) -> ProgressReporter {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        app.live
            .lock()
            .expect("live lock")
            .insert(spec.run_id, Arc::clone(&progress));
        let app = Arc::clone(app);
        let spec = spec.clone();
        let task = tokio::spawn(async move {
            let mut last_shown: Option<(String, usize, usize, Option<String>)> = None;
            let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => {
                        app.live.lock().expect("live lock").remove(&spec.run_id);
                        return;
                    }
                    _ = ticker.tick() => {}
                }
                let state = {
                    let progress = progress.lock().expect("progress lock");
                    (
                        progress.phase.as_str().to_string(),
                        progress.resources_done,
                        progress.resources_total,
                        progress.current.clone(),
                    )
                };
                if last_shown.as_ref() == Some(&state) {
                    continue;
                }
                let view = ProgressView {
                    run: spec.run_ref(),
                    phase: state.0.clone(),
                    done: state.1,
                    total: state.2,
                    current: state.3.clone(),
                    elapsed: Some(
                        humantime::format_duration(Duration::from_secs(
                            started.elapsed().as_secs(),
                        ))
                        .to_string(),
                    ),
                };
                let message = app.message(app.renderer.progress(&view));
                show(
                    &app,
                    spec.run_id,
                    &spec.channel,
                    &message,
                    UpdateKind::Progress,
                );
                last_shown = Some(state);
            }
        });
        ProgressReporter {
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ProgressReporter {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
