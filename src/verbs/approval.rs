//! `approve <run>` / `reject <run>` (what the Apply / Cancel buttons send): only approvers,
//! not the requester unless `self_approve`; the exact saved plan is applied; an expired or
//! already decided approval is refused. A requester may always withdraw their own plan.

use super::{audit, refuse};
use crate::app::App;
use crate::model::{EnvName, RunId};
use crate::request::{Reply, Request};
use crate::store::{ApprovalError, RunRecord};
use std::sync::Arc;

pub fn approve(app: &Arc<App>, request: &Request, env: &EnvName, run_id: RunId) -> Reply {
    let record = match run_in_env(app, request, env, run_id) {
        Ok(record) => record,
        Err(reply) => return reply,
    };
    if let Err(why) = crate::policy::may_approve(&app.config, &request.actor, &record.actor) {
        return refuse(
            app,
            request,
            Some(env),
            &with_group_note(request, why),
            "refused",
        );
    }
    match app.store.take_approval(
        run_id,
        &request.actor.id,
        &crate::runs::this_process(),
        chrono::Utc::now(),
    ) {
        Ok(record) => {
            audit(app, request, Some(env), "approved", Some(run_id));
            let ack = app.runs.submit_approved(record, &request.actor.id);
            Reply::about_run(app.notice(&ack), run_id)
        }
        Err(error) => {
            let why = approval_error_text(run_id, &error);
            refuse(app, request, Some(env), &why, "refused")
        }
    }
}

pub fn reject(app: &App, request: &Request, env: &EnvName, run_id: RunId) -> Reply {
    let record = match run_in_env(app, request, env, run_id) {
        Ok(record) => record,
        Err(reply) => return reply,
    };
    // The requester may always withdraw their own run; others need approver rights.
    if record.actor != request.actor.id {
        if let Err(why) = crate::policy::may_approve(&app.config, &request.actor, &record.actor) {
            return refuse(app, request, Some(env), &why, "refused");
        }
    }
    match app
        .store
        .reject_approval(run_id, &request.actor.id, chrono::Utc::now())
    {
        Ok(record) => {
            audit(app, request, Some(env), "rejected the plan", Some(run_id));
            app.runs.report_rejected(&record, &request.actor.id);
            Reply::answer(app.notice(&format!(
                "[{env}] run #{run_id} rejected; nothing was applied"
            )))
        }
        Err(error) => {
            let why = approval_error_text(run_id, &error);
            refuse(app, request, Some(env), &why, "refused")
        }
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
        Ok(_) => {
            let why = format!("there is no run #{run_id} in `{env}`");
            Err(refuse(app, request, Some(env), &why, "refused"))
        }
        Err(error) => Err(Reply::failure(
            app.notice(&format!("cannot read run #{run_id}: {error}")),
        )),
    }
}

/// A refusal to approve, with the reason a group membership may be missing.
fn with_group_note(request: &Request, why: String) -> String {
    match request.actor.unreadable_groups_note() {
        Some(note) => format!("{why} ({note})"),
        None => why,
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
