//! `up <size> [for <lease>]`, `down`, `off`, `plan <size>`: each becomes a run in the store
//! and in the queue (a plan starts at once and takes no lock). The answer says where the run
//! stands in the queue; the run's own message follows it in the channel.

use super::audit;
use crate::app::App;
use crate::model::{EnvName, RunId, RunOutcome};
use crate::request::{Reply, Request};
use crate::runs::{RunCommand, RunSpec};
use crate::store::NewRun;
use std::sync::Arc;
use std::time::Duration;

/// Records the run, audits the decision and hands the run to the queue.
pub fn start(
    app: &Arc<App>,
    request: &Request,
    env: &EnvName,
    command: RunCommand,
    args_text: String,
    needs_approval: bool,
) -> Reply {
    let run_id = match record_run(app, request, env, &command, &args_text) {
        Ok(run) => run,
        Err(error) => {
            return Reply::failure(app.notice(&format!("cannot record the run: {error:#}")))
        }
    };
    let decision = if needs_approval {
        "allowed: needs approval"
    } else {
        "allowed"
    };
    audit(app, request, Some(env), decision, Some(run_id));
    let spec = RunSpec {
        run_id,
        env: env.clone(),
        command,
        args_text,
        requester: request.actor.id.clone(),
        channel: request.channel.clone(),
        needs_approval,
        approved_by: None,
    };
    let ack = app.runs.submit(spec);
    Reply::about_run(app.notice(&ack), run_id)
}

/// `refresh-image`: a run at the size the environment is at, planned with the image pin
/// cleared. An environment the bot never applied has no size to refresh (and no pin).
pub fn refresh_image(
    app: &Arc<App>,
    request: &Request,
    env: &EnvName,
    args_text: String,
    needs_approval: bool,
) -> Reply {
    let size = match app.store.get_env_size(env) {
        Ok(Some(size)) => size.size,
        Ok(None) => {
            let why = format!(
                "[{env}] has no size applied by this bot yet, so there is no image to refresh; its first `up` pins the current image"
            );
            return super::refuse(app, request, Some(env), &why, "bad input");
        }
        Err(error) => {
            return Reply::failure(app.notice(&format!("cannot read the store: {error}")))
        }
    };
    let command = RunCommand::RefreshImage { size };
    start(app, request, env, command, args_text, needs_approval)
}

/// The lease of an `up` without `for`: the environment's `default_lease`.
pub fn default_lease(app: &App, env: &EnvName) -> Duration {
    app.config
        .env(env)
        .map(|e| e.default_lease)
        .unwrap_or_default()
}

fn record_run(
    app: &App,
    request: &Request,
    env: &EnvName,
    command: &RunCommand,
    args_text: &str,
) -> anyhow::Result<RunId> {
    Ok(app.store.create_run(&NewRun {
        env: env.clone(),
        verb: command.verb().to_string(),
        args: args_text.to_string(),
        size: Some(command.size()),
        lease: command.lease(),
        actor: request.actor.id.clone(),
        channel: request.channel.clone(),
        outcome: RunOutcome::Queued,
        owner_pid: Some(std::process::id()),
        created_at: chrono::Utc::now(),
    })?)
}
