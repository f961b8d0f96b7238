//! The read-only verbs: `status`, `history`, `sizes`, `schedule`, `help`. Gathered from
//! Terraform state and outputs, the store and the queue; they never wait behind a run. Those
//! without arguments arrive as [`crate::command::Verb::Read`] through [`answer`].

use super::audit;
use crate::app::App;
use crate::command::{self, VerbKind};
use crate::model::{EnvName, RunId, RunOutcome, SlackUserId};
use crate::render::views::{
    ChangeCounts as CountsView, HelpView, HistoryRow, HistoryView, JobView, KeyOutputs, StatusView,
};
use crate::request::{Reply, Request};
use crate::store::{EnvSnapshot, RunRecord};
use crate::terraform::state::read_state;
use crate::terraform::state_reads::StateKey;
use serde_json::Value;
use std::time::Duration;

/// A read-only verb without arguments: one arm per verb.
pub async fn answer(app: &App, request: &Request, env: &EnvName, kind: VerbKind) -> Reply {
    match kind {
        VerbKind::Status => status(app, request, env).await,
        VerbKind::Sizes => sizes(app, request, env),
        VerbKind::Schedule => schedule(app, request, env),
        VerbKind::Plans => super::load_test::plans(app, request, env),
        other => {
            let why = format!("`{}` has no answer in this build", other.spec().name);
            super::refuse(app, request, Some(env), &why, "bad input")
        }
    }
}

pub fn help(app: &App, request: &Request, topic: Option<&str>) -> Reply {
    audit(app, request, None, "allowed", None);
    let text = command::help_text(topic);
    Reply::answer(app.message(app.renderer.help(&HelpView { text })))
}

pub async fn status(app: &App, request: &Request, env: &EnvName) -> Reply {
    audit(app, request, Some(env), "allowed", None);
    let view = status_view(app, env).await;
    Reply::answer(app.message(app.renderer.status(&view)))
}

pub fn history(app: &App, request: &Request, env: &EnvName, count: usize) -> Reply {
    audit(app, request, Some(env), "allowed", None);
    match app.store.recent_runs(Some(env), count) {
        Ok(runs) => {
            let view = HistoryView {
                env: env.clone(),
                rows: runs.iter().map(|run| history_row(app, env, run)).collect(),
                tests: test_lines(app, env, count),
            };
            Reply::answer(app.message(app.renderer.history(&view)))
        }
        Err(error) => Reply::failure(app.notice(&format!("cannot read the history: {error}"))),
    }
}

pub fn sizes(app: &App, request: &Request, env: &EnvName) -> Reply {
    audit(app, request, Some(env), "allowed", None);
    Reply::answer(app.message(app.renderer.view("sizes", &sizes_answer(app))))
}

pub fn schedule(app: &App, request: &Request, env: &EnvName) -> Reply {
    audit(app, request, Some(env), "allowed", None);
    Reply::answer(app.notice(&schedule_text(app, env)))
}

/// Everything `status` shows for one environment: its size and what really runs, outputs,
/// lease, next scheduled action, holds, the queued or running jobs, the last run, the cost.
pub async fn status_view(app: &App, env: &EnvName) -> StatusView {
    let now = chrono::Utc::now();
    let snapshot = app.store.env_snapshot(env, now).unwrap_or_else(|error| {
        tracing::warn!(%error, %env, "status could not read the store");
        Default::default()
    });
    let size = snapshot.size.as_ref().map(|s| s.size.to_string());
    let est_hourly_usd = size
        .as_deref()
        .and_then(|size| app.sizes.get(size))
        .map(|set| set.est_hourly_usd);
    let mut view = StatusView {
        env: env.clone(),
        size,
        master: None,
        slave_count: None,
        monitoring: None,
        outputs: KeyOutputs::default(),
        lease_end: snapshot
            .lease
            .as_ref()
            .map(|lease| app.format_time(env, lease.expires_at)),
        next_action: next_action(app, env),
        holds: snapshot
            .hold
            .iter()
            .map(|hold| {
                let until = app.format_time(env, hold.until);
                format!("until {until} by {}", hold.set_by)
            })
            .collect(),
        jobs: jobs(app, env, &snapshot),
        last_run: snapshot
            .last_finished_run
            .as_ref()
            .map(|last| history_row(app, env, last)),
        est_hourly_usd,
        load_test: active_test_line(app, env),
    };
    add_deployed(app, env, &snapshot, &mut view).await;
    view
}

/// What Terraform says runs, through the shared read of the environment's state.
async fn add_deployed(app: &App, env: &EnvName, snapshot: &EnvSnapshot, view: &mut StatusView) {
    let Some(workspace) = app.workspace(env) else {
        return;
    };
    if !workspace.data_dir().exists() {
        view.master = Some("none (never deployed by this bot)".to_string());
        return;
    }
    let key = StateKey {
        active_runs: snapshot
            .active_runs
            .iter()
            .map(|run| (run.id, run.outcome))
            .collect(),
        last_finished_run: snapshot.last_finished_run.as_ref().map(|run| run.id),
        local_state: StateKey::local_file(&workspace.local_state_path()),
    };
    let deployed = app
        .state_reads
        .get(env, key, || read_state(&app.runner, &workspace))
        .await;
    view.master = deployed.master;
    view.slave_count = deployed.slave_count;
    view.monitoring = deployed.monitoring;
    view.outputs = deployed.outputs;
    view.outputs.backstop = backstop_text(app, env, snapshot, &view.outputs);
}

/// When AWS itself sets the slaves to 0, and whether a lease or hold since the last apply now
/// runs past it (the backstop moves only at the next apply).
fn backstop_text(
    app: &App,
    env: &EnvName,
    snapshot: &EnvSnapshot,
    outputs: &KeyOutputs,
) -> Option<String> {
    let keeps_up_until = [
        snapshot.lease.as_ref().map(|lease| lease.expires_at),
        snapshot.hold.as_ref().map(|hold| hold.until),
    ]
    .into_iter()
    .flatten()
    .max();
    let grace = app
        .config
        .env(env)
        .map(|env| crate::aws::backstop::grace_minutes(&env.tf_vars))
        .unwrap_or(60);
    crate::aws::backstop::status_text(
        outputs.lease_backstop_at.as_deref(),
        keeps_up_until,
        grace,
        |at| app.format_time(env, at),
    )
}

/// The running and queued jobs of this process, then the active runs of other processes
/// sharing the state directory (an `exec` next to `serve`) and plans awaiting approval.
fn jobs(app: &App, env: &EnvName, snapshot: &EnvSnapshot) -> Vec<JobView> {
    let lane = app.runs.lane(env);
    let job = |run: RunId, state: String| -> JobView {
        // A run in this process's queue is active, so normally in the snapshot; one that
        // ended since is looked up on its own.
        let record = snapshot
            .active_runs
            .iter()
            .find(|record| record.id == run)
            .cloned()
            .or_else(|| app.store.get_run(run).ok().flatten());
        let (done, total) = app.runs.live_progress(run).unzip();
        JobView {
            run_id: run,
            command: record.as_ref().map(command_text).unwrap_or_default(),
            actor: record
                .map(|r| r.actor)
                .unwrap_or_else(|| SlackUserId::new("unknown")),
            state,
            done,
            total,
        }
    };
    let mut jobs = Vec::new();
    if let Some(running) = lane.running {
        let phase = app
            .runs
            .live_phase(running)
            .unwrap_or_else(|| "starting".to_string());
        jobs.push(job(running, format!("running ({phase})")));
    }
    for (index, waiting) in lane.waiting.into_iter().enumerate() {
        jobs.push(job(waiting, format!("queued (position {})", index + 1)));
    }
    for record in &snapshot.active_runs {
        if jobs.iter().any(|j| j.run_id == record.id) {
            continue;
        }
        let state = match record.outcome {
            RunOutcome::AwaitingApproval => "awaiting approval",
            RunOutcome::Running => "running (another process)",
            RunOutcome::Queued => "queued (another process)",
            _ => continue,
        };
        jobs.push(JobView {
            run_id: record.id,
            command: command_text(record),
            actor: record.actor.clone(),
            state: state.to_string(),
            done: None,
            total: None,
        });
    }
    jobs
}

/// The environment's starting or running load test, for `status`.
fn active_test_line(app: &App, env: &EnvName) -> Option<String> {
    let test = app.store.active_test(env).ok().flatten()?;
    let since = app.format_time(env, test.created_at);
    let until = test
        .expected_end_at
        .map(|end| format!(", due to end {}", app.format_time(env, end)))
        .unwrap_or_default();
    Some(format!(
        "#{} `{}` by <@{}>: {} since {since}{until}",
        test.id, test.args, test.actor, test.state
    ))
}

/// The environment's last load tests for `history`: state, verdict and headline figures.
fn test_lines(app: &App, env: &EnvName, count: usize) -> Vec<String> {
    let tests = app.store.recent_tests(env, count).unwrap_or_default();
    tests
        .iter()
        .map(|test| {
            let when = app.format_time(env, test.finished_at.unwrap_or(test.created_at));
            let verdict = crate::load_tests::verdict_mark(test.passed);
            let figures = crate::load_tests::summary_of(test)
                .map(|s| {
                    format!(
                        " {} samples, {:.2} % errors, p95 {} ms",
                        s.samples, s.error_pct, s.latency.percentiles.p95_ms
                    )
                })
                .unwrap_or_default();
            format!(
                "test #{} {when} · <@{}> · `{}`: *{}*{verdict}{figures}",
                test.id, test.actor, test.args, test.state
            )
        })
        .collect()
}

/// `up large for 3h`, as the run's title shows it.
fn command_text(run: &RunRecord) -> String {
    format!("{} {}", run.verb, run.args).trim().to_string()
}

fn history_row(app: &App, env: &EnvName, run: &RunRecord) -> HistoryRow {
    let duration = match (run.started_at, run.finished_at) {
        (Some(start), Some(end)) => Some(
            humantime::format_duration(Duration::from_secs(
                (end - start).num_seconds().max(0) as u64
            ))
            .to_string(),
        ),
        _ => None,
    };
    HistoryRow {
        run_id: run.id,
        actor: run.actor.clone(),
        command: command_text(run),
        when: app.format_time(env, run.finished_at.unwrap_or(run.created_at)),
        outcome: run.outcome,
        counts: run.applied.map(CountsView::from),
        duration,
        delivery: run.delivery_error.clone(),
    }
}

/// What `sizes.hbs` shows.
#[derive(serde::Serialize)]
struct SizesAnswer {
    /// The names, for the message's plain text.
    names: String,
    sizes: Vec<SizeLine>,
}

#[derive(serde::Serialize)]
struct SizeLine {
    name: String,
    description: String,
    /// The variables worth showing, `key=value, …` (slave count, instance types, monitoring).
    values: String,
    /// `$1.23/h`; `None` when no price is known.
    cost: Option<String>,
}

fn sizes_answer(app: &App) -> SizesAnswer {
    const SHOWN: [&str; 5] = [
        "jmeter_slave_count",
        "jmeter_slave_instance_type",
        "jmeter_master_enabled",
        "jmeter_master_instance_type",
        "monitoring",
    ];
    let sizes: Vec<SizeLine> = app
        .sizes
        .iter()
        .map(|set| SizeLine {
            name: set.name.to_string(),
            description: set.description.clone(),
            values: SHOWN
                .iter()
                .filter_map(|key| {
                    let value = match set.variables.get(*key)? {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    Some(format!("{key}={value}"))
                })
                .collect::<Vec<_>>()
                .join(", "),
            cost: Some(format!("${:.2}/h", set.est_hourly_usd)),
        })
        .collect();
    SizesAnswer {
        names: sizes
            .iter()
            .map(|size| size.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        sizes,
    }
}

/// `schedule`: every schedule of the environment with its next three fire times.
fn schedule_text(app: &App, env: &EnvName) -> String {
    let now = chrono::Utc::now();
    let mut lines = vec![format!("[{env}] schedules")];
    for schedule in app
        .config
        .schedules
        .iter()
        .filter(|s| s.environments.contains(env))
    {
        let fires: Vec<String> = crate::schedule::next_fires(schedule, now, 3)
            .into_iter()
            .map(|occurrence| app.format_time(env, occurrence.at))
            .collect();
        lines.push(format!(
            "• `{}` {} — `{}` ({}): next {}",
            schedule.name,
            schedule.action,
            schedule.cron_text,
            schedule.timezone,
            if fires.is_empty() {
                "never".to_string()
            } else {
                fires.join(", ")
            }
        ));
    }
    if lines.len() == 1 {
        lines.push("no schedules for this environment".to_string());
    }
    lines.join("\n")
}

/// The next scheduled action for the environment, in its time zone.
fn next_action(app: &App, env: &EnvName) -> Option<String> {
    let now = chrono::Utc::now();
    app.config
        .schedules
        .iter()
        .filter(|schedule| schedule.environments.contains(env))
        .filter_map(|schedule| {
            let next = crate::schedule::next_fires(schedule, now, 1)
                .into_iter()
                .next()?
                .at;
            Some((next, schedule))
        })
        .min_by_key(|(next, _)| *next)
        .map(|(next, schedule)| {
            format!(
                "{} at {} ({})",
                schedule.action,
                app.format_time(env, next),
                schedule.name
            )
        })
}
