//! The one path every command takes, whatever front end it came from: parse → resolve the
//! environment → policy → dispatch to its verb. Returns once the request's audit lines are
//! committed, so an answer never reaches anyone before its audit is durable. A plan shared in
//! a channel takes the same path without the parse ([`share_plan`]).

use crate::app::App;
use crate::command::{self, ParseContext, Verb};
use crate::policy::{self, Decision};
use crate::request::{ExitClass, Reply, Request};
use crate::verbs::{self, refuse};
use std::sync::Arc;

/// Handles one request from any front end.
pub async fn handle(app: &Arc<App>, request: Request) -> Reply {
    let parsed = command::parse(&request.text, &parse_context(app));
    let verb = parsed
        .as_ref()
        .map(|parsed| parsed.verb.name())
        .unwrap_or("invalid");
    let reply = match parsed {
        Ok(parsed) => decide_and_dispatch(app, request, parsed.verb, parsed.env).await,
        Err(error) => refuse(app, &request, None, &error.to_string(), "bad input"),
    };
    app.audit_log.flushed().await;
    let outcome = match reply.class {
        ExitClass::Success => "ok",
        ExitClass::Failed => "failed",
        ExitClass::Rejected => "rejected",
    };
    app.metrics.count_command(verb, outcome);
    reply
}

fn parse_context(app: &App) -> ParseContext {
    ParseContext {
        sizes: app.sizes.names(),
        envs: app.config.env_names(),
        max_lease: app.config.largest_max_lease(),
    }
}

/// Resolves the environment and asks the policy; `help` needs neither.
async fn decide_and_dispatch(
    app: &Arc<App>,
    request: Request,
    verb: Verb,
    env: Option<crate::model::EnvName>,
) -> Reply {
    if let Verb::Help { .. } = verb {
        return verbs::dispatch(app, request, verb, None, false).await;
    }
    let env = match app.config.resolve_env(env.as_ref(), &request.channel) {
        Ok(env) => env,
        Err(why) => return refuse(app, &request, None, &why, "bad input"),
    };
    // The lease bound depends on the environment, known only now.
    if let Verb::Up {
        lease: Some(lease), ..
    }
    | Verb::Extend { by: lease } = &verb
    {
        let max = app
            .config
            .env(&env)
            .map(|e| e.max_lease)
            .unwrap_or_default();
        if *lease > max {
            let why = format!(
                "the longest lease in `{env}` is {}",
                humantime::format_duration(max)
            );
            return refuse(app, &request, Some(&env), &why, "bad input");
        }
    }
    match policy::decide(&app.config, &request.actor, &verb, &env, &request.channel) {
        Decision::Deny { message, needed } => {
            // A role the user may hold through an unreadable user group: say why it is missing.
            let message = match request.actor.unreadable_groups_note() {
                Some(note) if needed.is_some() => format!("{message} ({note})"),
                _ => message,
            };
            refuse(app, &request, Some(&env), &message, "denied")
        }
        Decision::Allow { needs_approval, .. } => {
            verbs::dispatch(app, request, verb, Some(env), needs_approval).await
        }
    }
}

/// A `.jmx` file shared in a channel. The environment is the one bound to the channel; the
/// policy is `run`'s for that plan (a shared plan is code the master will run, so sharing one
/// takes what running it takes); only then does `fetch` read the file. `None` when the
/// channel's environment takes no shared plans: sharing a file there is just sharing a file.
pub async fn share_plan<F>(app: &Arc<App>, request: Request, name: &str, fetch: F) -> Option<Reply>
where
    F: std::future::Future<Output = Result<Vec<u8>, String>>,
{
    // Only the channel an environment is bound to hands it plans (an unbound default
    // environment would otherwise take files from every channel the bot is in).
    let taking: Vec<_> = app
        .config
        .envs_bound_to(&request.channel)
        .into_iter()
        .filter(|env| {
            app.config
                .env(env)
                .is_some_and(|config| config.shared_plans)
        })
        .collect();
    let env = match taking.as_slice() {
        [] => return None,
        [env] => env.clone(),
        several => {
            let names: Vec<String> = several.iter().map(|env| format!("`{env}`")).collect();
            let why = format!(
                "this channel's environments {} all take shared plans; share it in a channel \
                 of one of them",
                names.join(", ")
            );
            let reply = refuse(app, &request, None, &why, "bad input");
            app.audit_log.flushed().await;
            return Some(reply);
        }
    };
    let as_run = Verb::Run(command::TestRequest {
        plan: name.to_string(),
        threads: None,
        duration: None,
        rampup: None,
        properties: Vec::new(),
    });
    let reply = match policy::decide(&app.config, &request.actor, &as_run, &env, &request.channel) {
        Decision::Deny { message, .. } => {
            let why = format!("sharing a plan takes what running it takes: {message}");
            refuse(app, &request, Some(&env), &why, "denied")
        }
        Decision::Allow { .. } => {
            // A name `run` would refuse is answered before anything is downloaded.
            let content = match crate::load_tests::shared::check_name(name) {
                Ok(()) => fetch.await,
                Err(why) => Err(why),
            };
            verbs::load_test::add_shared_plan(app, &request, &env, name, content)
        }
    };
    app.audit_log.flushed().await;
    Some(reply)
}
