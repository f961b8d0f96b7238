//! `run`, `stop [--now]`, `plans`, `compare <test> <test>`: JMeter tests on the environment's
//! master. The verbs check what they can without AWS (the plan is in `plans_dir` or was
//! shared in the channel, each `-J` property is allowed for that plan) and hand the rest to
//! [`crate::load_tests`]. Also here: a `.jmx` shared in the channel becoming a plan.

use super::{audit, refuse};
use crate::app::App;
use crate::command::TestRequest;
use crate::model::EnvName;
use crate::request::{Reply, Request};
use crate::results::{compare as compare_summaries, comparison_mrkdwn, TestSummary};
use crate::store::TestRecord;

pub async fn run(app: &App, request: &Request, env: &EnvName, test: &TestRequest) -> Reply {
    if let Err(why) = app.load_tests.check_request(env, test) {
        return refuse(app, request, Some(env), &why, "refused");
    }
    let started = app
        .load_tests
        .start(env, test, &request.actor.id, &request.channel)
        .await;
    match started {
        Ok(record) => {
            audit(
                app,
                request,
                Some(env),
                &format!("allowed: test #{} started", record.id),
                None,
            );
            let reply = Reply::answer(app.notice(&format!(
                "[{env}] test #{}: `{}` started on the master; progress and results follow \
                 here (`stop` ends it)",
                record.id, record.args
            )));
            Reply {
                test: Some(record.id),
                ..reply
            }
        }
        Err(why) => refuse(app, request, Some(env), &why, "refused"),
    }
}

pub async fn stop(app: &App, request: &Request, env: &EnvName, now: bool) -> Reply {
    match app.load_tests.stop(env, now).await {
        Ok(record) => {
            audit(
                app,
                request,
                Some(env),
                &format!("allowed: test #{} stopping", record.id),
                None,
            );
            let how = if now {
                "stopping now (threads interrupted)"
            } else {
                "stopping: samples in flight finish, then results and report are written"
            };
            Reply::answer(app.notice(&format!(
                "[{env}] test #{} `{}`: {how}; its results follow here",
                record.id, record.plan
            )))
        }
        Err(why) => refuse(app, request, Some(env), &why, "refused"),
    }
}

pub fn plans(app: &App, request: &Request, env: &EnvName) -> Reply {
    let plans = match app.load_tests.plans(env) {
        Ok(plans) => plans,
        Err(why) => return refuse(app, request, Some(env), &why, "refused"),
    };
    audit(app, request, Some(env), "allowed", None);
    let mut lines = vec![format!("[{env}] plans `run` can start")];
    for plan in &plans {
        let config = app.config.plan(&plan.name);
        let properties = if config.properties.is_empty() {
            "no -J properties".to_string()
        } else {
            config
                .properties
                .iter()
                .map(|name| format!("-J{name}=…"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let origin = if plan.shared {
            " (shared in the channel)"
        } else {
            ""
        };
        lines.push(format!(
            "• `{}`{origin}: {properties}; fails above {} % errors",
            plan.name, config.max_error_percent
        ));
    }
    if plans.is_empty() {
        lines.push(
            "none: put .jmx files at the top of plans_dir (or share one here, with \
             shared_plans = true)"
                .to_string(),
        );
    }
    Reply::answer(app.notice(&lines.join("\n")))
}

/// A `.jmx` shared in `env`'s channel, already allowed by the policy: `content` (the file,
/// or why it could not be read) becomes a plan `run` can start.
pub fn add_shared_plan(
    app: &App,
    request: &Request,
    env: &EnvName,
    name: &str,
    content: Result<Vec<u8>, String>,
) -> Reply {
    let added = content.and_then(|bytes| app.load_tests.add_shared_plan(env, name, &bytes));
    match added {
        Ok(replaced) => {
            audit(app, request, Some(env), "allowed: plan kept", None);
            let what = if replaced {
                "replaces the plan of that name"
            } else {
                "is a plan now"
            };
            // Who shared it shows right above, in Slack's own message of the file.
            Reply::answer(app.notice(&format!(
                "[{env}] 📎 `{name}` shared here {what}: `/loadtest run {name}` starts it \
                 (`plans` lists every plan)"
            )))
        }
        Err(why) => refuse(
            app,
            request,
            Some(env),
            &format!("`{name}` was not taken as a plan: {why}"),
            "refused",
        ),
    }
}

pub fn compare(app: &App, request: &Request, env: &EnvName, a: i64, b: i64) -> Reply {
    let summary_of = |id: i64| -> Result<(TestRecord, TestSummary), String> {
        let record = app
            .store
            .get_test(id)
            .map_err(|error| format!("cannot read test #{id}: {error}"))?
            .filter(|record| &record.env == env)
            .ok_or_else(|| format!("`{env}` has no test #{id} (see `history`)"))?;
        let summary = crate::load_tests::summary_of(&record)
            .ok_or_else(|| format!("test #{id} has no results ({})", record.state))?;
        Ok((record, summary))
    };
    let (first, second) = match (summary_of(a), summary_of(b)) {
        (Ok(first), Ok(second)) => (first, second),
        (Err(why), _) | (_, Err(why)) => return refuse(app, request, Some(env), &why, "refused"),
    };
    audit(app, request, Some(env), "allowed", None);
    let rows = compare_summaries(&first.1, &second.1);
    Reply::answer(app.notice(&format!(
        "[{env}] A = test #{} `{}`, B = test #{} `{}`\n{}",
        first.0.id,
        first.0.args,
        second.0.id,
        second.0.args,
        comparison_mrkdwn(&rows)
    )))
}
