//! `loadtest-bot exec -- <command>`: one command through the pipeline to its end, printing
//! each message's text; the exit code says how it ended (0 success or no changes, 1 failed /
//! cancelled / timed out, 2 rejected), so scripts and CI can gate on it.

use super::console::{console_actor, start_app, wait_for_jobs};
use crate::model::ChannelId;
use crate::policy::CONSOLE_CHANNEL;
use crate::request::{ExitClass, Request};
use crate::slack::block_text::to_console_text;
use std::path::Path;

/// `loadtest-bot exec -- <command>`: one command to its end.
pub async fn run_exec(
    config_path: &Path,
    as_user: Option<String>,
    channel: Option<String>,
    text: String,
) -> anyhow::Result<ExitClass> {
    let app = start_app(config_path).await?;
    let request = Request {
        actor: console_actor(as_user),
        channel: ChannelId::new(channel.unwrap_or_else(|| CONSOLE_CHANNEL.to_string())),
        text,
    };
    let reply = crate::pipeline::handle(&app, request).await;
    println!("{}", to_console_text(&reply.message).trim_end());
    let Some(run) = reply.run else {
        return Ok(reply.class);
    };
    let mut watcher = app.runs.watch(run);
    let ended = tokio::select! {
        outcome = watcher.wait_for(|o| o.is_some()) => outcome.ok().and_then(|o| *o),
        _ = tokio::signal::ctrl_c() => None,
    };
    let outcome = match ended {
        Some(outcome) => Some(outcome),
        None => {
            app.runs.cancel_all_running();
            let mut watcher = app.runs.watch(run);
            let outcome = watcher
                .wait_for(|o| o.is_some())
                .await
                .ok()
                .and_then(|o| *o);
            outcome
        }
    };
    wait_for_jobs(&app).await;
    Ok(outcome
        .map(ExitClass::of_outcome)
        .unwrap_or(ExitClass::Failed))
}
