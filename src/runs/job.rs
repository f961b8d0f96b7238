//! The steps of a run, in the queue: var file → init (when needed) → plan → show → approval
//! stop, or apply of the saved plan. Every step either continues or concludes the run; the run
//! ends in exactly one place ([`execute`]), which records the conclusion and shows it.

use super::ending::{end_with_result, finish, Ending};
use super::queue::{JobContext, OnBlocked};
use super::reporter::ProgressReporter;
use super::{queue_position_text, RunCommand, RunSpec, Runs};
use crate::model::{RunOutcome, SlackUserId};
use crate::outlet::{MessageHandle, RunOwner, UpdateKind};
use crate::render::views::{ApprovalView, DestructiveItem, PlanView, ProgressView, RunStartedView};
use crate::store::{ChangeCounts, Lease, RunRecord};
use crate::terraform::events::TfEvent;
use crate::terraform::plan_summary::PlanSummary;
use crate::terraform::progress::{Phase, Progress};
use crate::terraform::runner::{CancelSignal, RunLog, Workspace};
use crate::terraform::state::{key_outputs, outputs_from_event, read_outputs, OutputValue};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How a run's steps concluded.
enum Conclusion {
    /// Over: record the outcome, then show the final message.
    Ended(RunOutcome, Ending),
    /// The plan waits for an approver; its message already shows the buttons.
    AwaitingApproval,
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
    let mut bench = Bench::open(runs, spec, context, approved.as_ref()).await?;
    let reporter = ProgressReporter::start(runs, spec, Arc::clone(&bench.progress), started);
    let concluded = match approved {
        Some(record) => bench.apply_approved(&record).await,
        None => bench.plan_then_apply().await,
    };
    reporter.stop().await;
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
        tokio::fs::create_dir_all(&dir).await?;
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
        services
            .store
            .mark_started(spec.run_id, std::process::id(), chrono::Utc::now())?;
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
            .await?;
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
        let counts = self.progress.lock().expect("progress lock").applied();
        if !apply.succeeded() {
            return Ok(failed_step(&apply, "apply", Some(counts)));
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

/// The conclusion of a Terraform step that failed, timed out or was cancelled.
fn failed_step(
    result: &crate::terraform::runner::CommandResult,
    step: &str,
    counts: Option<crate::terraform::progress::ApplySummary>,
) -> Conclusion {
    let (outcome, ending) = end_with_result(result, step, counts);
    Conclusion::Ended(outcome, ending)
}

/// After an apply (or a plan with nothing to change): the size the environment is at now,
/// and its lease (set by `up`, cleared by a scale-down).
fn record_size_and_lease(runs: &Runs, spec: &RunSpec) -> anyhow::Result<()> {
    let store = &runs.services.store;
    let now = chrono::Utc::now();
    let size = spec.command.size();
    store.set_env_size(&spec.env, &size, now)?;
    if size.is_scale_down() {
        store.clear_lease(&spec.env)?;
    } else if let Some(lease) = spec.command.lease() {
        store.set_lease(&Lease {
            env: spec.env.clone(),
            size,
            expires_at: now + chrono::Duration::from_std(lease).unwrap_or_default(),
            set_by: spec.requester.clone(),
            set_at: now,
        })?;
    }
    Ok(())
}

/// Writes the run's variables: the environment's own (e.g. `aws_endpoint`), then the set's,
/// then `environment_name`. Only these values ever reach Terraform.
async fn write_var_file(runs: &Runs, spec: &RunSpec, path: &Path) -> anyhow::Result<()> {
    let services = &runs.services;
    let size = spec.command.size();
    let set = services
        .sizes
        .get(size.as_str())
        .ok_or_else(|| anyhow::anyhow!("variable set {size} is not defined"))?;
    let mut variables = serde_json::Map::new();
    if let Some(env_config) = services.config.env(&spec.env) {
        for (key, value) in &env_config.tf_vars {
            // A TF_VAR_<name> in the bot's environment wins over the config (so
            // TF_VAR_aws_endpoint can point a deployment elsewhere); a var file would beat it.
            if std::env::var_os(format!("TF_VAR_{key}")).is_some() {
                continue;
            }
            variables.insert(key.clone(), value.clone());
        }
    }
    for (key, value) in &set.variables {
        variables.insert(key.clone(), value.clone());
    }
    super::aws_vars::add_variables(runs, spec, chrono::Utc::now(), &mut variables)?;
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
