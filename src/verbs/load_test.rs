//! `run`, `stop [--now]`, `plans`, `compare <test> <test>`: JMeter tests on the environment's
//! master. The verbs check what they can without AWS (the plan is in `plans_dir`, each `-J`
//! property is allowed for that plan) and hand the rest to [`crate::load_tests`].

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
        let config = app.config.plan(plan);
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
        lines.push(format!(
            "• `{plan}`: {properties}; fails above {} % errors",
            config.max_error_percent
        ));
    }
    if plans.is_empty() {
        lines.push("none: put .jmx files at the top of plans_dir".to_string());
    }
    Reply::answer(app.notice(&lines.join("\n")))
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
