//! The verbs, after parsing and policy said yes: one file per family. Read-only verbs answer
//! at once and never wait behind a run; mutating verbs create a run and queue it.
//!
//! - [`run_verbs`]: `up`, `down`, `off`, `plan`;
//! - [`lease`]: `extend`, `hold`, `hold off`;
//! - [`approval`]: `approve`, `reject`;
//! - [`read`]: `status`, `history`, `sizes`, `schedule`, `help`;
//! - [`admin`]: `cancel`, `unlock`;
//! - [`load_test`]: `run`, `stop`, `plans`, `compare`.
//!
//! Adding a verb: its catalogue entry (`command::catalogue`), its arm below and its family
//! file, and its template when it renders one of its own. A read-only verb without
//! arguments has no arm below: it is [`Verb::Read`], answered by [`read::answer`], so it is
//! its catalogue entry, its arm and function in `read.rs`, and its template (with the
//! template's `.samples.json`).

pub mod admin;
pub mod approval;
pub mod lease;
pub mod load_test;
pub mod read;
pub mod run_verbs;

use crate::app::App;
use crate::command::Verb;
use crate::model::{EnvName, RunId};
use crate::render::views::RejectedView;
use crate::request::{ExitClass, Reply, Request, Visibility};
use crate::runs::RunCommand;
use std::sync::Arc;

/// Runs an allowed verb. `env` is the environment the command targets; only `help` has none.
pub async fn dispatch(
    app: &Arc<App>,
    request: Request,
    verb: Verb,
    env: Option<EnvName>,
    needs_approval: bool,
) -> Reply {
    let request = &request;
    // The arguments as the user reads them, for the run's title.
    let args_text = verb.args_text();
    match (verb, env) {
        (Verb::Help { topic }, _) => read::help(app, request, topic.as_deref()),
        (verb, None) => {
            let why = format!("`{}` needs an environment", verb.name());
            refuse(app, request, None, &why, "bad input")
        }
        (Verb::Up { size, lease }, Some(env)) => {
            let lease = lease.unwrap_or_else(|| run_verbs::default_lease(app, &env));
            let command = RunCommand::Up { size, lease };
            run_verbs::start(app, request, &env, command, args_text, needs_approval)
        }
        (Verb::Down, Some(env)) => run_verbs::start(
            app,
            request,
            &env,
            RunCommand::Down,
            args_text,
            needs_approval,
        ),
        (Verb::Off, Some(env)) => run_verbs::start(
            app,
            request,
            &env,
            RunCommand::Off,
            args_text,
            needs_approval,
        ),
        (Verb::Plan { target }, Some(env)) => {
            // A plan changes nothing, so it never waits for an approver.
            let command = RunCommand::Plan { target };
            run_verbs::start(app, request, &env, command, args_text, false)
        }
        (Verb::Read(kind), Some(env)) => read::answer(app, request, &env, kind).await,
        (Verb::History { count }, Some(env)) => read::history(app, request, &env, count),
        (Verb::Extend { by }, Some(env)) => lease::extend(app, request, &env, by),
        (Verb::Hold { for_ }, Some(env)) => lease::hold(app, request, &env, for_),
        (Verb::HoldOff, Some(env)) => lease::hold_off(app, request, &env),
        (Verb::Approve { run }, Some(env)) => approval::approve(app, request, &env, run),
        (Verb::Reject { run }, Some(env)) => approval::reject(app, request, &env, run),
        (Verb::Cancel, Some(env)) => admin::cancel(app, request, &env),
        (Verb::Unlock { lock_id }, Some(env)) => admin::unlock(app, request, &env, &lock_id).await,
        (Verb::Run(test), Some(env)) => load_test::run(app, request, &env, &test).await,
        (Verb::Stop { now }, Some(env)) => load_test::stop(app, request, &env, now).await,
        (Verb::Compare { a, b }, Some(env)) => load_test::compare(app, request, &env, a, b),
        (Verb::RefreshImage, Some(env)) => {
            run_verbs::refresh_image(app, request, &env, args_text, needs_approval)
        }
    }
}

/// Audits an allowed request with its decision (`allowed`, `allowed: hold set`, …).
pub(crate) fn audit(
    app: &App,
    request: &Request,
    env: Option<&EnvName>,
    decision: &str,
    run: Option<RunId>,
) {
    app.audit_line(
        &request.actor.id,
        &request.channel,
        env,
        &request.text,
        decision,
        run,
    );
}

/// A refusal (bad input, denial, a verb that cannot apply): audited as `<audit_as>: <why>`
/// and answered to the requester alone in one line.
pub(crate) fn refuse(
    app: &App,
    request: &Request,
    env: Option<&EnvName>,
    why: &str,
    audit_as: &str,
) -> Reply {
    audit(app, request, env, &format!("{audit_as}: {why}"), None);
    let view = RejectedView {
        env: env.cloned(),
        command: app.masker.mask(&request.text).into_owned(),
        reason: why.to_string(),
    };
    Reply {
        message: app.message(app.renderer.rejected(&view)),
        visibility: Visibility::Requester,
        class: ExitClass::Rejected,
        run: None,
        test: None,
    }
}
