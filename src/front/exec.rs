//! `loadtest-bot exec -- <command>`: one command through the pipeline to its end, printing
//! each message's text; the exit code says how it ended (0 success or no changes, 1 failed /
//! cancelled / timed out, 2 rejected), so scripts and CI can gate on it. A `run` waits for the
//! test's results: 0 when its error rate stayed within the plan's threshold, 1 otherwise.

use super::console::{console_actor, start_app, wait_for_jobs};
use crate::app::App;
use crate::model::ChannelId;
use crate::policy::CONSOLE_CHANNEL;
use crate::request::{ExitClass, Request};
use crate::slack::block_text::to_console_text;
use std::path::Path;
use std::sync::Arc;

/// A load test to its end: 0 when it finished with its error rate within the plan's
/// threshold, 1 otherwise. Ctrl-C stops the test gracefully and waits for its results.
async fn wait_for_test(app: &Arc<App>, test: i64) -> ExitClass {
    let mut ended = app.load_tests.watch(test);
    let interrupted = tokio::select! {
        outcome = ended.wait_for(|o| o.is_some()) => return class_of(outcome.ok().and_then(|o| *o)),
        _ = tokio::signal::ctrl_c() => true,
    };
    if interrupted {
        if let Ok(Some(record)) = app.store.get_test(test) {
            if let Err(error) = app.load_tests.stop(&record.env, false).await {
                eprintln!("loadtest-bot: cannot stop test #{test}: {error}");
            }
        }
    }
    let outcome = ended.wait_for(|o| o.is_some()).await.ok().and_then(|o| *o);
    class_of(outcome)
}

fn class_of(outcome: Option<crate::load_tests::TestOutcome>) -> ExitClass {
    match outcome {
        Some(outcome) if outcome.passed => ExitClass::Success,
        _ => ExitClass::Failed,
    }
}

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
    if let Some(test) = reply.test {
        return Ok(wait_for_test(&app, test).await);
    }
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
