//! `cancel` (the queued or running job of the environment; running: SIGINT to Terraform, a
//! graceful stop) and `unlock <lock-id>` (admin: `terraform force-unlock` of a state lock a
//! dead run left behind).

use super::audit;
use crate::app::App;
use crate::model::EnvName;
use crate::request::{ExitClass, Reply, Request};
use crate::terraform::runner::RunLog;
use std::sync::Arc;
use std::time::Duration;

pub fn cancel(app: &App, request: &Request, env: &EnvName) -> Reply {
    let (outcome, text) = app.runs.cancel(env, &request.actor.id);
    audit(
        app,
        request,
        Some(env),
        &format!("allowed: {outcome:?}"),
        None,
    );
    Reply::answer(app.notice(&format!("[{env}] {text}")))
}

pub async fn unlock(app: &Arc<App>, request: &Request, env: &EnvName, lock_id: &str) -> Reply {
    audit(app, request, Some(env), "allowed: force-unlock", None);
    let Some(workspace) = app.workspace(env) else {
        return Reply {
            class: ExitClass::Rejected,
            ..Reply::failure(app.notice(&format!("unknown environment `{env}`")))
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
        class,
        ..Reply::answer(app.notice(&text))
    }
}
