//! Answers for the read-only verbs (`status`, `history`, `sizes`, `schedule`): gathered from
//! Terraform state and outputs, the store and the queue, never waiting behind a run.

use crate::app::App;
use crate::model::{EnvName, RunId, RunOutcome, SlackUserId};
use crate::render::views::{
    ChangeCounts as CountsView, HistoryRow, HistoryView, JobView, KeyOutputs, KeyValue, SizeRow,
    SizesView, StatusView,
};
use crate::state_reads::StateKey;
use crate::store::RunRecord;
use crate::terraform::runner::Workspace;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// What really runs, counted from Terraform state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deployed {
    /// Instances per `loadtest:role` tag.
    pub instances_by_role: BTreeMap<String, usize>,
    /// Desired capacity of the slave autoscaling group(s).
    pub slave_desired: usize,
    pub load_balancers: usize,
}

impl Deployed {
    pub fn master_running(&self) -> bool {
        self.instances_by_role
            .get("jmeter-master")
            .copied()
            .unwrap_or(0)
            > 0
    }

    /// "basic", "full" or "off", from the monitoring roles present.
    pub fn monitoring(&self) -> &'static str {
        let has = |role: &str| self.instances_by_role.get(role).copied().unwrap_or(0) > 0;
        if has("elasticsearch") || has("kibana") {
            "full"
        } else if has("prometheus") || has("grafana") {
            "basic"
        } else {
            "off"
        }
    }
}

/// Counts instances per role and the slave group's desired capacity in `terraform show -json`
/// of the state.
pub fn deployed_from_state(state: &Value) -> Deployed {
    let mut deployed = Deployed::default();
    if let Some(root) = state.pointer("/values/root_module") {
        visit_module(root, &mut deployed);
    }
    deployed
}

fn visit_module(module: &Value, deployed: &mut Deployed) {
    for resource in module
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if resource.get("mode").and_then(Value::as_str) != Some("managed") {
            continue;
        }
        let values = resource.get("values").cloned().unwrap_or(Value::Null);
        match resource.get("type").and_then(Value::as_str) {
            Some("aws_instance") => {
                let role = values
                    .pointer("/tags/loadtest:role")
                    .and_then(Value::as_str)
                    .unwrap_or("untagged")
                    .to_string();
                *deployed.instances_by_role.entry(role).or_default() += 1;
            }
            Some("aws_autoscaling_group") => {
                deployed.slave_desired += values
                    .get("desired_capacity")
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as usize;
            }
            Some("aws_lb") | Some("aws_alb") | Some("aws_elb") => deployed.load_balancers += 1,
            _ => {}
        }
    }
    for child in module
        .get("child_modules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        visit_module(child, deployed);
    }
}

const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The part of `status` that comes from Terraform, shared by the `status` commands that ask
/// while it is current ([`crate::state_reads`]).
#[derive(Clone, Debug, Default)]
pub struct TerraformView {
    pub master: Option<String>,
    pub slave_count: Option<u64>,
    pub monitoring: Option<String>,
    pub outputs: KeyOutputs,
}

/// `terraform show -json` and `terraform output -json` of the environment's state, and whether
/// the state could be read.
async fn read_terraform(app: &App, workspace: &Workspace) -> (TerraformView, bool) {
    let mut view = TerraformView::default();
    let mut succeeded = false;
    match app.runner.show_json(workspace, None, READ_TIMEOUT).await {
        Ok(result) if result.succeeded() => {
            if let Some(Ok(state)) = result.stdout.as_deref().map(serde_json::from_str::<Value>) {
                let deployed = deployed_from_state(&state);
                view.master = Some(
                    if deployed.master_running() {
                        "running"
                    } else {
                        "none"
                    }
                    .to_string(),
                );
                view.slave_count = Some(deployed.slave_desired as u64);
                view.monitoring = Some(deployed.monitoring().to_string());
                succeeded = true;
            }
        }
        Ok(result) => {
            view.master = Some(format!(
                "unknown (state unreadable: {})",
                result.error_headline()
            ))
        }
        Err(error) => view.master = Some(format!("unknown (state unreadable: {error})")),
    }
    match crate::run::read_outputs(app, workspace).await {
        Some(outputs) => view.outputs = outputs,
        None => succeeded = false,
    }
    (view, succeeded)
}

/// Everything `status` shows for one environment (SPEC §8).
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
        lease_end: None,
        next_action: next_action(app, env),
        holds: Vec::new(),
        jobs: Vec::new(),
        last_run: None,
        est_hourly_usd,
    };
    if let Some(workspace) = app.workspace(env) {
        if workspace.data_dir().exists() {
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
                .get(env, key, || read_terraform(app, &workspace))
                .await;
            view.master = deployed.master;
            view.slave_count = deployed.slave_count;
            view.monitoring = deployed.monitoring;
            view.outputs = deployed.outputs;
        } else {
            view.master = Some("none (never deployed by this bot)".to_string());
        }
    }
    if let Some(lease) = &snapshot.lease {
        view.lease_end = Some(format_time(app, env, lease.expires_at));
    }
    if let Some(hold) = &snapshot.hold {
        view.holds.push(format!(
            "until {} by {}",
            format_time(app, env, hold.until),
            hold.set_by
        ));
    }
    let lane = app.queue.snapshot(env);
    let job = |run: RunId, state: String| -> JobView {
        // A run in this process's queue is active, so normally in the snapshot; one that
        // ended since is looked up on its own.
        let record = snapshot
            .active_runs
            .iter()
            .find(|record| record.id == run)
            .cloned()
            .or_else(|| app.store.get_run(run).ok().flatten());
        let (done, total) = app.live_progress(run).unzip();
        JobView {
            run_id: run,
            command: record
                .as_ref()
                .map(|r| format!("{} {}", r.verb, r.args).trim().to_string())
                .unwrap_or_default(),
            actor: record
                .map(|r| r.actor)
                .unwrap_or_else(|| SlackUserId::new("unknown")),
            state,
            done,
            total,
        }
    };
    if let Some(running) = lane.running {
        let phase = app
            .live_phase(running)
            .unwrap_or_else(|| "starting".to_string());
        view.jobs.push(job(running, format!("running ({phase})")));
    }
    for (index, waiting) in lane.waiting.into_iter().enumerate() {
        view.jobs
            .push(job(waiting, format!("queued (position {})", index + 1)));
    }
    // Runs of another process sharing the state directory (an `exec` next to `serve`), and
    // plans waiting for approval.
    for record in &snapshot.active_runs {
        if view.jobs.iter().any(|j| j.run_id == record.id) {
            continue;
        }
        let state = match record.outcome {
            RunOutcome::AwaitingApproval => "awaiting approval".to_string(),
            RunOutcome::Running => "running (another process)".to_string(),
            RunOutcome::Queued => "queued (another process)".to_string(),
            _ => continue,
        };
        view.jobs.push(JobView {
            run_id: record.id,
            command: format!("{} {}", record.verb, record.args)
                .trim()
                .to_string(),
            actor: record.actor.clone(),
            state,
            done: None,
            total: None,
        });
    }
    if let Some(last) = &snapshot.last_finished_run {
        view.last_run = Some(history_row(app, env, last));
    }
    view
}

pub fn history_row(app: &App, env: &EnvName, run: &RunRecord) -> HistoryRow {
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
        command: format!("{} {}", run.verb, run.args).trim().to_string(),
        when: format_time(app, env, run.finished_at.unwrap_or(run.created_at)),
        outcome: run.outcome,
        counts: run.applied.map(CountsView::from),
        duration,
    }
}

pub fn history_view(app: &App, env: &EnvName, runs: &[RunRecord]) -> HistoryView {
    HistoryView {
        env: env.clone(),
        rows: runs.iter().map(|run| history_row(app, env, run)).collect(),
    }
}

pub fn sizes_view(app: &App) -> SizesView {
    const SHOWN: [&str; 5] = [
        "jmeter_slave_count",
        "jmeter_slave_instance_type",
        "jmeter_master_enabled",
        "jmeter_master_instance_type",
        "monitoring",
    ];
    SizesView {
        sizes: app
            .sizes
            .iter()
            .map(|set| SizeRow {
                name: set.name.to_string(),
                description: set.description.clone(),
                values: SHOWN
                    .iter()
                    .filter_map(|key| {
                        let value = set.variables.get(*key)?;
                        let value = match value {
                            Value::String(text) => text.clone(),
                            other => other.to_string(),
                        };
                        Some(KeyValue {
                            key: key.to_string(),
                            value,
                        })
                    })
                    .collect(),
                est_hourly_usd: Some(set.est_hourly_usd),
            })
            .collect(),
    }
}

/// `schedule`: every schedule of the environment with its next three fire times.
pub fn schedule_text(app: &App, env: &EnvName) -> String {
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
            .map(|occurrence| format_time(app, env, occurrence.at))
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
pub fn next_action(app: &App, env: &EnvName) -> Option<String> {
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
                format_time(app, env, next),
                schedule.name
            )
        })
}

/// A time in the environment's zone, e.g. `2026-11-26 22:00 JST`.
pub fn format_time(app: &App, env: &EnvName, at: chrono::DateTime<chrono::Utc>) -> String {
    match app.config.env(env).map(|e| e.timezone) {
        Some(zone) => at
            .with_timezone(&zone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string(),
        None => at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}
