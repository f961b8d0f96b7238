//! One handler per verb, after parsing and policy have said yes. Read-only verbs answer at
//! once and never wait behind a run; mutating verbs create a run and queue it.

use crate::app::{App, ExitClass, Reply, Request, Visibility};
use crate::command::Verb;
use crate::model::{EnvName, RunId, RunOutcome, SizeName};
use crate::queue::CancelOutcome;
use crate::run::{self, RunKind, RunSpec};
use crate::store::{ApprovalError, RunRecord};
use std::sync::Arc;

pub(crate) async fn dispatch(
    app: &Arc<App>,
    request: Request,
    env: EnvName,
    verb: Verb,
    needs_approval: bool,
) -> Reply {
    match &verb {
        Verb::Up { size, .. } => start_run(
            app,
            &request,
            &env,
            &verb,
            size.clone(),
            RunKind::Apply,
            needs_approval,
        ),
        Verb::Down => start_run(
            app,
            &request,
            &env,
            &verb,
            SizeName::new("down"),
            RunKind::Apply,
            needs_approval,
        ),
        Verb::Off => start_run(
            app,
            &request,
            &env,
            &verb,
            SizeName::new("off"),
            RunKind::Apply,
            needs_approval,
        ),
        Verb::Plan { target } => start_run(
            app,
            &request,
            &env,
            &verb,
            target.clone(),
            RunKind::PlanOnly,
            false,
        ),
        Verb::Status => {
            app.audit_allowed(&request, &env, "allowed", None);
            let view = crate::status::status_view(app, &env).await;
            app.answer(app.message(app.renderer.status(&view)))
        }
        Verb::History { count } => {
            app.audit_allowed(&request, &env, "allowed", None);
            match app.store.recent_runs(Some(&env), *count) {
                Ok(runs) => app.answer(
                    app.message(
                        app.renderer
                            .history(&crate::status::history_view(app, &env, &runs)),
                    ),
                ),
                Err(error) => failure(app, &format!("cannot read the history: {error}")),
            }
        }
        Verb::Sizes => {
            app.audit_allowed(&request, &env, "allowed", None);
            app.answer(app.message(app.renderer.sizes(&crate::status::sizes_view(app))))
        }
        Verb::Schedule => {
            app.audit_allowed(&request, &env, "allowed", None);
            app.answer(app.notice(&crate::status::schedule_text(app, &env)))
        }
        Verb::Help { topic } => {
            let text = crate::command::help_text(topic.as_deref());
            app.answer(app.message(app.renderer.help(&crate::render::views::HelpView { text })))
        }
        Verb::Cancel => {
            let outcome = app.queue.cancel(&env);
            if let CancelOutcome::RemovedQueued(run) = outcome {
                run::finish_removed_queued_run(app, run, &request.actor.id);
            }
            app.audit_allowed(&request, &env, &format!("allowed: {outcome:?}"), None);
            app.answer(app.notice(&format!("[{env}] {}", app.cancel_text(outcome))))
        }
        Verb::Approve { run } => approve(app, &request, &env, *run).await,
        Verb::Reject { run } => reject(app, &request, &env, *run),
        Verb::Extend { by } => {
            let max = app
                .config
                .env(&env)
                .map(|e| e.max_lease)
                .unwrap_or_default();
            let now = chrono::Utc::now();
            let max_end = now + chrono::Duration::from_std(max).unwrap_or_default();
            match app.store.extend_lease(&env, *by, max_end) {
                Ok(lease) => {
                    app.audit_allowed(&request, &env, "allowed: lease extended", None);
                    app.answer(app.notice(&format!(
                        "[{env}] lease extended by {}: the environment goes down at {}",
                        humantime::format_duration(*by),
                        crate::status::format_time(app, &env, lease.expires_at)
                    )))
                }
                Err(crate::store::LeaseError::NoLease(_)) => app.reject_with(
                    &request,
                    &env,
                    &format!("`{env}` has no lease to extend; `up <size> for <duration>` sets one"),
                ),
                Err(crate::store::LeaseError::BeyondMax { max_end, .. }) => app.reject_with(
                    &request,
                    &env,
                    &format!(
                        "a lease may end at most {} from now ({}); extend by less",
                        crate::config::format_duration(max),
                        crate::status::format_time(app, &env, max_end)
                    ),
                ),
                Err(error) => failure(app, &format!("cannot extend the lease: {error}")),
            }
        }
        Verb::Hold { for_ } => {
            let until = chrono::Utc::now() + chrono::Duration::from_std(*for_).unwrap_or_default();
            let hold = crate::store::Hold {
                env: env.clone(),
                until,
                set_by: request.actor.id.clone(),
                set_at: chrono::Utc::now(),
            };
            match app.store.set_hold(&hold) {
                Ok(()) => {
                    app.audit_allowed(&request, &env, "allowed: hold set", None);
                    app.answer(app.notice(&format!(
                        "[{env}] held until {}: scheduled scale-downs are skipped until then (`hold off` ends it)",
                        crate::status::format_time(app, &env, until)
                    )))
                }
                Err(error) => failure(app, &format!("cannot store the hold: {error}")),
            }
        }
        Verb::HoldOff => match app.store.clear_hold(&env) {
            Ok(false) => app.answer(app.notice(&format!("[{env}] there is no hold to clear"))),
            Ok(true) => {
                app.audit_allowed(&request, &env, "allowed: hold cleared", None);
                app.answer(app.notice(&format!(
                    "[{env}] hold cleared: scheduled scale-downs apply again"
                )))
            }
            Err(error) => failure(app, &format!("cannot clear the hold: {error}")),
        },
        Verb::Unlock { lock_id } => {
            app.audit_allowed(&request, &env, "allowed: force-unlock", None);
            run::force_unlock(app, &env, lock_id).await
        }
    }
}

fn failure(app: &App, text: &str) -> Reply {
    Reply {
        message: app.notice(text),
        visibility: Visibility::Requester,
        class: ExitClass::Failed,
        run: None,
    }
}

fn start_run(
    app: &Arc<App>,
    request: &Request,
    env: &EnvName,
    verb: &Verb,
    size: SizeName,
    kind: RunKind,
    needs_approval: bool,
) -> Reply {
    let run_id = match app.create_run(request, env, verb, Some(&size)) {
        Ok(run) => run,
        Err(error) => return failure(app, &format!("cannot record the run: {error:#}")),
    };
    app.audit_allowed(
        request,
        env,
        if needs_approval {
            "allowed: needs approval"
        } else {
            "allowed"
        },
        Some(run_id),
    );
    let lease = match verb {
        Verb::Up { lease, .. } => Some(lease.unwrap_or_else(|| {
            app.config
                .env(env)
                .map(|e| e.default_lease)
                .unwrap_or_default()
        })),
        _ => None,
    };
    let spec = RunSpec {
        run_id,
        env: env.clone(),
        verb: verb.name().to_string(),
        args: verb.args_text(),
        size,
        requester: request.actor.id.clone(),
        channel: request.channel.clone(),
        kind,
        needs_approval,
        lease,
        approved_by: None,
    };
    let ack = run::submit(app, spec);
    Reply {
        message: app.notice(&ack),
        visibility: Visibility::Channel,
        class: ExitClass::Success,
        run: Some(run_id),
    }
}

/// The run a typed `approve`/`reject` names, if it belongs to this environment.
fn run_in_env(
    app: &App,
    request: &Request,
    env: &EnvName,
    run_id: RunId,
) -> Result<RunRecord, Reply> {
    match app.store.get_run(run_id) {
        Ok(Some(record)) if &record.env == env => Ok(record),
        Ok(_) => Err(app.reject_with(
            request,
            env,
            &format!("there is no run #{run_id} in `{env}`"),
        )),
        Err(error) => Err(failure(app, &format!("cannot read run #{run_id}: {error}"))),
    }
}

async fn approve(app: &Arc<App>, request: &Request, env: &EnvName, run_id: RunId) -> Reply {
    let record = match run_in_env(app, request, env, run_id) {
        Ok(record) => record,
        Err(reply) => return reply,
    };
    if let Err(why) = crate::policy::may_approve(&app.config, &request.actor, &record.actor) {
        return app.reject_with(request, env, &why);
    }
    match app
        .store
        .take_approval(run_id, &request.actor.id, chrono::Utc::now())
    {
        Ok(record) => {
            app.audit_allowed(request, env, "approved", Some(run_id));
            let ack = run::submit_approved(app, record, &request.actor.id);
            Reply {
                message: app.notice(&ack),
                visibility: Visibility::Channel,
                class: ExitClass::Success,
                run: Some(run_id),
            }
        }
        Err(error) => app.reject_with(request, env, &approval_error_text(run_id, &error)),
    }
}

fn reject(app: &Arc<App>, request: &Request, env: &EnvName, run_id: RunId) -> Reply {
    let record = match run_in_env(app, request, env, run_id) {
        Ok(record) => record,
        Err(reply) => return reply,
    };
    // The requester may always withdraw their own run; others need approver rights.
    if record.actor != request.actor.id {
        if let Err(why) = crate::policy::may_approve(&app.config, &request.actor, &record.actor) {
            return app.reject_with(request, env, &why);
        }
    }
    match app
        .store
        .reject_approval(run_id, &request.actor.id, chrono::Utc::now())
    {
        Ok(record) => {
            app.audit_allowed(request, env, "rejected the plan", Some(run_id));
            run::report_rejected(app, &record, &request.actor.id);
            app.notify_run_ended(run_id, RunOutcome::Rejected);
            Reply {
                message: app.notice(&format!(
                    "[{env}] run #{run_id} rejected; nothing was applied"
                )),
                visibility: Visibility::Channel,
                class: ExitClass::Success,
                run: None,
            }
        }
        Err(error) => app.reject_with(request, env, &approval_error_text(run_id, &error)),
    }
}

fn approval_error_text(run_id: RunId, error: &ApprovalError) -> String {
    match error {
        ApprovalError::Expired { .. } => {
            format!("the approval of run #{run_id} has expired; run the command again")
        }
        other => other.to_string(),
    }
}
