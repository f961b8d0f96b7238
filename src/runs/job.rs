//! The steps of a run, in the queue: var file → init (when needed) → plan → show → approval
//! stop, or apply of the saved plan. Every step either continues or concludes the run; the run
//! ends in exactly one place ([`execute`]), which records the conclusion and shows it.

use super::effects::{record_size_and_lease, write_var_file};
use super::ending::{end_with_result, finish, report_abandoned, this_process, Ending};
use super::queue::{JobContext, OnBlocked};
use super::reporter::ProgressReporter;
use super::{queue_position_text, RunCommand, RunSpec, Runs};
use crate::model::{RunOutcome, SlackUserId};
use crate::outlet::{MessageHandle, RunOwner, UpdateKind};
use crate::render::views::{ApprovalView, DestructiveItem, PlanView, ProgressView, RunStartedView};
use crate::store::{ChangeCounts, RunRecord};
use crate::terraform::events::TfEvent;
use crate::terraform::plan_summary::PlanSummary;
use crate::terraform::progress::{Phase, Progress};
use crate::terraform::runner::{CancelSignal, Exit, RunLog, Workspace};
use crate::terraform::state::{key_outputs, outputs_from_event, read_outputs, OutputValue};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How a run's steps concluded. One per run, moved once: the size of `Ended` costs nothing.
#[allow(clippy::large_enum_variant)]
enum Conclusion {
    /// Over: record the outcome, then show the final message.
    Ended(RunOutcome, Ending),
    /// The plan waits for an approver; its message already shows the buttons.
    AwaitingApproval,
    /// Another process changed the stored run first (interrupted, cancelled, …): Terraform
    /// was not started (or not applied); the stored outcome stands, the message says why.
    Abandoned(RunOutcome, String),
}

/// Queues a run (or, for a plan, starts it at once) and returns the acknowledgement text.
pub(super) fn submit(runs: &Arc<Runs>, spec: RunSpec) -> String {
    let title = spec.run_ref().title();
    let run_id = spec.run_id;
    if spec.command.is_plan_only() {
        post_run_message(runs, &spec, None);
        let runs = Arc::clone(runs);
        tokio::spawn(async move {
            let context = JobContext {
                cancel: CancelSignal::new(),
                lock_error: None,
            };
            execute(runs, spec, context, None).await;
        });
        return format!("{title}: plan #{run_id} started (plan only: nothing will change)");
    }
    let env = spec.env.clone();
    let lane = runs.queue.snapshot(&env);
    let ahead = lane.waiting.len() + usize::from(lane.running.is_some());
    let handle = post_run_message(runs, &spec, (ahead > 0).then_some(ahead));
    let on_blocked = waiting_for_another_process(runs, &spec, handle);
    let job_runs = Arc::clone(runs);
    let position = runs.queue.submit_with(
        &env,
        run_id,
        Box::new(move |context| Box::pin(execute(job_runs, spec, context, None))),
        Some(on_blocked),
    );
    format!("{title}: run #{run_id} {}", queue_position_text(position))
}

/// Queues the apply of a plan that was just approved.
pub(super) fn submit_approved(
    runs: &Arc<Runs>,
    record: RunRecord,
    approver: &SlackUserId,
) -> String {
    let default_lease = runs
        .services
        .config
        .env(&record.env)
        .map(|env| env.default_lease)
        .unwrap_or_default();
    let command = RunCommand::of_record(&record, default_lease).unwrap_or(RunCommand::Down);
    let mut spec = RunSpec::of_record(&record, command);
    spec.approved_by = Some(approver.clone());
    let (env, run_id) = (spec.env.clone(), spec.run_id);
    let job_runs = Arc::clone(runs);
    let position = runs.queue.submit(
        &env,
        run_id,
        Box::new(move |context| Box::pin(execute(job_runs, spec, context, Some(record)))),
    );
    format!(
        "[{env}] run #{run_id} approved: applying the saved plan, {}",
        queue_position_text(position)
    )
}

fn post_run_message(
    runs: &Arc<Runs>,
    spec: &RunSpec,
    queue_position: Option<usize>,
) -> MessageHandle {
    let services = &runs.services;
    let view = RunStartedView {
        run: spec.run_ref(),
        queue_position,
        size_description: services
            .sizes
            .get(spec.command.size().as_str())
            .map(|set| set.description.clone()),
    };
    let message = services.message(services.renderer.run_started(&view));
    let owner = RunOwner {
        run: spec.run_id,
        requester: spec.requester.clone(),
    };
    let handle = services
        .outlet
        .post_for_run(&spec.channel, &message, &owner);
    runs.remember_message(spec.run_id, handle.clone());
    handle
}

/// Shows in the run's message that another process holds the environment.
fn waiting_for_another_process(
    runs: &Arc<Runs>,
    spec: &RunSpec,
    handle: MessageHandle,
) -> OnBlocked {
    let runs = Arc::clone(runs);
    let run = spec.run_ref();
    Box::new(move |holder: String| {
        let view = ProgressView {
            run,
            phase: format!("waiting for another process ({holder})"),
            done: 0,
            total: 0,
            current: None,
            elapsed: None,
        };
        let services = &runs.services;
        let message = services.message(services.renderer.progress(&view));
        services
            .outlet
            .update(&handle, &message, UpdateKind::Progress);
    })
}

/// The body of a queued run: a fresh run, or (`approved`) the apply of an approved plan.
async fn execute(runs: Arc<Runs>, spec: RunSpec, context: JobContext, approved: Option<RunRecord>) {
    let started = Instant::now();
    let concluded = match refuse_to_start(&context) {
        Some(refusal) => Ok(refusal),
        None => run_steps(&runs, &spec, &context, approved, started).await,
    };
    let outcome = match concluded {
        Ok(Conclusion::Ended(outcome, ending)) => {
            finish(&runs, &spec, outcome, ending, started);
            outcome
        }
        Ok(Conclusion::AwaitingApproval) => RunOutcome::AwaitingApproval,
        Ok(Conclusion::Abandoned(outcome, note)) => {
            tracing::warn!(run = %spec.run_id, %outcome, "run changed by another process; not run");
            report_abandoned(&runs, &spec, outcome, note);
            outcome
        }
        Err(error) => {
            let text = runs
                .services
                .masker
                .mask(&format!("{error:#}"))
                .into_owned();
            tracing::error!(run = %spec.run_id, error = %text, "run failed inside the bot");
            let ending =
                Ending::failed_with_note(format!("the bot could not finish the run: {text}"));
            finish(&runs, &spec, RunOutcome::Failed, ending, started);
            RunOutcome::Failed
        }
    };
    runs.notify_ended(spec.run_id, outcome);
}

/// Checks before any Terraform runs: the cross-process lock, and a cancel while queued.
fn refuse_to_start(context: &JobContext) -> Option<Conclusion> {
    if let Some(error) = &context.lock_error {
        let ending = Ending::failed_with_note(error.clone());
        return Some(Conclusion::Ended(RunOutcome::Failed, ending));
    }
    if context.cancel.is_cancelled() {
        let ending = Ending {
            note: Some("cancelled before Terraform started; nothing ran".into()),
            ..Ending::default()
        };
        return Some(Conclusion::Ended(RunOutcome::Cancelled, ending));
    }
    None
}

/// Where one run works: its workspace, files, log and live progress.
struct Bench<'a> {
    runs: &'a Arc<Runs>,
    spec: &'a RunSpec,
    context: &'a JobContext,
    workspace: Workspace,
    plan_path: PathBuf,
    log: RunLog,
    progress: Arc<Mutex<Progress>>,
}

async fn run_steps(
    runs: &Arc<Runs>,
    spec: &RunSpec,
    context: &JobContext,
    approved: Option<RunRecord>,
    started: Instant,
) -> anyhow::Result<Conclusion> {
    // Claimed in the store immediately before anything runs: a run another process marked
    // interrupted or cancelled meanwhile is not started.
    let claimed =
        runs.services
            .store
            .start_if_queued(spec.run_id, &this_process(), chrono::Utc::now())?;
    if let Err(outcome) = claimed {
        return Ok(abandoned(spec, outcome, "before Terraform started"));
    }
    let mut bench = Bench::open(runs, spec, context, approved.as_ref()).await?;
    let reporter = ProgressReporter::start(runs, spec, Arc::clone(&bench.progress), started);
    let concluded = match approved {
        Some(record) => bench.apply_approved(&record).await,
        None => bench.plan_then_apply().await,
    };
    reporter.stop().await;
    let mut concluded = match concluded {
        Err(error) if bench.in_apply() => Ok(bench.lost_track_of_apply(&error)),
        other => other,
    };
    if let (Ok(Conclusion::Ended(_, ending)), Some(note)) = (&mut concluded, bench.log.loss_note())
    {
        ending.add_note(&note);
    }
    concluded
}

impl<'a> Bench<'a> {
    async fn open(
        runs: &'a Arc<Runs>,
        spec: &'a RunSpec,
        context: &'a JobContext,
        approved: Option<&RunRecord>,
    ) -> anyhow::Result<Bench<'a>> {
        let services = &runs.services;
        let workspace = services
            .workspace(&spec.env)
            .ok_or_else(|| anyhow::anyhow!("environment {} is not configured", spec.env))?;
        let dir = services.run_dir(spec.run_id);
        crate::private_fs::create_private_dir_all(&dir)?;
        let log_path = approved
            .and_then(|record| record.log_path.clone())
            .unwrap_or_else(|| dir.join("terraform.log"));
        let plan_path = match approved {
            Some(record) => record
                .plan_path
                .clone()
                .ok_or_else(|| anyhow::anyhow!("run #{} has no saved plan", spec.run_id))?,
            None => dir.join("plan.tfplan"),
        };
        services.store.set_log_path(spec.run_id, &log_path)?;
        let log = RunLog::create(&log_path, Arc::clone(&services.masker)).await?;
        Ok(Bench {
            runs,
            spec,
            context,
            workspace,
            plan_path,
            log,
            progress: Arc::new(Mutex::new(Progress::new())),
        })
    }

    /// Whether Terraform's apply has started in this run.
    fn in_apply(&self) -> bool {
        self.progress.lock().expect("progress lock").phase == Phase::Apply
    }

    /// The bot failed while Terraform's apply was going: it cannot say what was applied.
    fn lost_track_of_apply(&self, error: &anyhow::Error) -> Conclusion {
        let counts = self.progress.lock().expect("progress lock").applied();
        let text = self
            .runs
            .services
            .masker
            .mask(&format!("{error:#}"))
            .into_owned();
        tracing::error!(run = %self.spec.run_id, error = %text, "lost track of an apply");
        let why = format!("the bot lost track of Terraform's apply ({text})");
        Conclusion::Ended(
            RunOutcome::Failed,
            Ending::state_unknown(&why, Some(counts)),
        )
    }

    /// A fresh run: init, plan, show; then no changes, plan only, approval, or apply.
    async fn plan_then_apply(&mut self) -> anyhow::Result<Conclusion> {
        let services = &self.runs.services;
        let var_file = services.run_dir(self.spec.run_id).join("vars.tfvars.json");
        write_var_file(self.runs, self.spec, &var_file).await?;
        super::aws_vars::warn_about_quota(self.runs, self.spec);
        let timeout = services.config.terraform.plan_timeout;
        if let Some(init) = services
            .runner
            .ensure_init(
                &self.workspace,
                &mut self.log,
                &self.context.cancel,
                timeout,
            )
            .await?
        {
            if !init.succeeded() {
                return Ok(failed_step(&init, "init", None));
            }
        }
        let summary = match self.plan(&var_file).await? {
            Ok(summary) => summary,
            Err(conclusion) => return Ok(conclusion),
        };
        if summary.no_changes {
            if !self.spec.command.is_plan_only() {
                // The environment already matches the set: remember it as the current size.
                record_size_and_lease(self.runs, self.spec)?;
            }
            return Ok(Conclusion::Ended(RunOutcome::NoChanges, Ending::default()));
        }
        if self.spec.command.is_plan_only() {
            let ending = Ending {
                plan: Some(summary),
                note: Some("plan only: nothing was changed".into()),
                ..Ending::default()
            };
            return Ok(Conclusion::Ended(RunOutcome::Succeeded, ending));
        }
        if self.spec.needs_approval {
            return self.stop_for_approval(&summary);
        }
        self.apply(Some(summary)).await
    }

    /// `plan -out` and `show -json` of it: the summary (with `no_changes` set when Terraform
    /// said so), or the conclusion of a failed step.
    async fn plan(&mut self, var_file: &Path) -> anyhow::Result<Result<PlanSummary, Conclusion>> {
        let services = &self.runs.services;
        let timeout = services.config.terraform.plan_timeout;
        self.progress
            .lock()
            .expect("progress lock")
            .set_phase(Phase::Plan);
        let take_lock = !self.spec.command.is_plan_only();
        let plan = {
            let progress = Arc::clone(&self.progress);
            let mut on_event =
                move |event: &TfEvent| progress.lock().expect("progress lock").observe(event);
            services
                .runner
                .plan(
                    &self.workspace,
                    var_file,
                    &self.plan_path,
                    take_lock,
                    &mut self.log,
                    &self.context.cancel,
                    timeout,
                    &mut on_event,
                )
                .await?
        };
        let Some(has_changes) = plan.plan_has_changes() else {
            return Ok(Err(failed_step(&plan, "plan", None)));
        };
        // The saved plan embeds the prior state: Terraform writes it under our umask, and it
        // is narrowed explicitly as well.
        crate::private_fs::narrow_to_private(&self.plan_path)?;
        let shown = services
            .runner
            .show_json(&self.workspace, Some(&self.plan_path), timeout)
            .await?;
        let mut summary = match shown
            .stdout
            .as_deref()
            .map(|text| PlanSummary::from_json_slice(text.as_bytes()))
        {
            Some(Ok(summary)) if shown.succeeded() => summary,
            Some(Err(error)) => anyhow::bail!("cannot read the plan: {error}"),
            _ => return Ok(Err(failed_step(&shown, "show", None))),
        };
        summary.no_changes |= !has_changes;
        services.store.set_plan(
            self.spec.run_id,
            &self.plan_path,
            ChangeCounts {
                add: (summary.add + summary.replace) as u32,
                change: summary.change as u32,
                destroy: (summary.destroy + summary.replace) as u32,
            },
        )?;
        Ok(Ok(summary))
    }

    /// Stores the approval deadline and shows the plan with Apply / Cancel.
    fn stop_for_approval(&self, summary: &PlanSummary) -> anyhow::Result<Conclusion> {
        let services = &self.runs.services;
        let expires_at = chrono::Utc::now()
            + chrono::Duration::from_std(services.config.approval.expires).unwrap_or_default();
        services
            .store
            .await_approval(self.spec.run_id, expires_at)?;
        let view = ApprovalView {
            run: self.spec.run_ref(),
            plan: PlanView::from(summary),
            destructive: summary
                .destructive
                .iter()
                .map(DestructiveItem::from)
                .collect(),
            approvers: services.config.approval.approvers.clone(),
            expires: Some(services.format_time(&self.spec.env, expires_at)),
        };
        let message = services.message(services.renderer.awaiting_approval(&view));
        self.runs.show(
            self.spec.run_id,
            &self.spec.channel,
            &message,
            UpdateKind::Final,
        );
        Ok(Conclusion::AwaitingApproval)
    }

    /// The apply of a plan an approver accepted, in this or another process.
    async fn apply_approved(&mut self, record: &RunRecord) -> anyhow::Result<Conclusion> {
        let approver = self
            .spec
            .approved_by
            .clone()
            .unwrap_or_else(|| SlackUserId::new("?"));
        self.log
            .line(&format!(
                "loadtest-bot: approved by {approver}; applying the saved plan"
            ))
            .await;
        if let Some(planned) = record.planned {
            self.progress.lock().expect("progress lock").resources_total =
                (planned.add + planned.change + planned.destroy) as usize;
        }
        self.apply(None).await
    }

    /// `apply` of the saved plan, with live progress; on success the size and lease are
    /// recorded and the outputs shown.
    async fn apply(&mut self, summary: Option<PlanSummary>) -> anyhow::Result<Conclusion> {
        let services = &self.runs.services;
        {
            let mut progress = self.progress.lock().expect("progress lock");
            progress.set_phase(Phase::Apply);
            if let Some(summary) = &summary {
                // A replacement is a destroy and a create.
                progress.resources_total =
                    summary.add + summary.change + summary.destroy + 2 * summary.replace;
            }
        }
        // The last moment to notice another process took the run over: nothing applied yet.
        if let Err(outcome) = services
            .store
            .still_owned(self.spec.run_id, &this_process())?
        {
            return Ok(abandoned(self.spec, outcome, "before its apply"));
        }
        // The apply stream ends with the outputs' values: no separate `output -json` needed.
        let streamed: Arc<Mutex<Option<BTreeMap<String, OutputValue>>>> = Arc::default();
        let apply = {
            let progress = Arc::clone(&self.progress);
            let streamed = Arc::clone(&streamed);
            let mut on_event = move |event: &TfEvent| {
                if let TfEvent::Outputs { outputs } = event {
                    *streamed.lock().expect("outputs lock") = Some(outputs_from_event(outputs));
                }
                progress.lock().expect("progress lock").observe(event);
            };
            services
                .runner
                .apply(
                    &self.workspace,
                    &self.plan_path,
                    &mut self.log,
                    &self.context.cancel,
                    services.config.terraform.apply_timeout,
                    &mut on_event,
                )
                .await?
        };
        let (counts, end_seen) = {
            let progress = self.progress.lock().expect("progress lock");
            (progress.applied(), progress.apply_summary.is_some())
        };
        if !apply.succeeded() {
            return Ok(failed_apply(&apply, counts, end_seen));
        }
        record_size_and_lease(self.runs, self.spec)?;
        let streamed = streamed.lock().expect("outputs lock").take();
        let all_outputs = match streamed {
            Some(outputs) => Some(outputs),
            None => read_outputs(&services.runner, &self.workspace).await,
        };
        let mut outputs = all_outputs.as_ref().map(key_outputs).unwrap_or_default();
        super::aws_vars::describe_backstop(self.runs, self.spec, &mut outputs);
        super::aws_vars::pin_image(self.runs, self.spec, all_outputs.as_ref())?;
        let cancel = &self.context.cancel;
        super::aws_vars::check_readiness(
            self.runs,
            self.spec,
            all_outputs.as_ref(),
            cancel,
            &mut outputs,
        )
        .await;
        let ending = Ending {
            counts: Some(counts),
            outputs,
            plan: summary,
            ..Ending::default()
        };
        Ok(Conclusion::Ended(RunOutcome::Succeeded, ending))
    }
}

/// A run that another process changed in the store (to `outcome`) before `when`.
fn abandoned(spec: &RunSpec, outcome: RunOutcome, when: &str) -> Conclusion {
    let note = format!(
        "run #{} was marked {outcome} by another process {when}; nothing was applied",
        spec.run_id
    );
    Conclusion::Abandoned(outcome, note)
}

/// The conclusion of a Terraform step that failed, timed out or was cancelled.
fn failed_step(
    result: &crate::terraform::runner::CommandResult,
    step: &str,
    counts: Option<crate::terraform::progress::ApplySummary>,
) -> Conclusion {
    let (outcome, ending) = end_with_result(result, step, counts);
    Conclusion::Ended(outcome, ending)
}

/// The conclusion of an apply that did not succeed. When Terraform neither reported its end
/// nor said why it failed (it died of a signal, or exited without a diagnostic), nobody knows
/// what it changed: the result says so instead of "failed before applying anything".
fn failed_apply(
    result: &crate::terraform::runner::CommandResult,
    counts: crate::terraform::progress::ApplySummary,
    end_seen: bool,
) -> Conclusion {
    let died = matches!(result.exit, Exit::Code(_) | Exit::Signal(_));
    if end_seen || result.has_error_diagnostic() || !died {
        return failed_step(result, "apply", Some(counts));
    }
    let why = format!(
        "Terraform's apply ended ({}) without reporting its end",
        match result.exit {
            Exit::Signal(signal) => format!("killed by signal {signal}"),
            ref exit => format!("{exit:?}"),
        }
    );
    let (_, mut ending) = end_with_result(result, "apply", Some(counts));
    let unknown = Ending::state_unknown(&why, Some(counts));
    ending.note = unknown.note;
    ending.error = unknown.error;
    ending.state_unknown = true;
    Conclusion::Ended(RunOutcome::Failed, ending)
}
