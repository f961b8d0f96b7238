//! The periodic loop of long-running front ends (`shell`, later `serve`): asks the pure
//! planner ([`crate::schedule::planner`]) what is due and feeds it down the same pipeline as
//! a chat command, as the actor `scheduler`. It decides nothing itself and never runs
//! Terraform directly; everything it does is recorded in the store first, so a restart (or a
//! second process) never fires the same occurrence twice.

use crate::app::App;
use crate::config::ScheduleAction;
use crate::model::{ChannelId, EnvName, RunOutcome};
use crate::policy::Actor;
use crate::request::Request;
use crate::schedule::planner;
use crate::schedule::{
    EnvSnapshot, LeaseSnapshot, PlannedAction, PlannerMemory, PlannerSettings, Tick, WarnSubject,
    WarningKey,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// How often the loop looks: due actions start at most this late.
pub const TICK: Duration = Duration::from_millis(250);

/// How often the last look is written to the store. Writing it every tick would be four
/// fsyncs a second forever; an older stored value only widens the window the planner
/// re-examines after a restart, and everything in it is already claimed in the store.
const LAST_TICK_SAVE_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// Names under which warnings and lease ends are recorded in `schedule_fires`, next to the
/// schedules' own occurrences.
const LEASE_END: &str = "lease-end";
const LEASE_WARNING: &str = "warn:lease";

fn warning_name(schedule: &str) -> String {
    format!("warn:{schedule}")
}

/// What the store remembers, seen through the planner's eyes.
struct StoreMemory<'a> {
    app: &'a App,
}

impl PlannerMemory for StoreMemory<'_> {
    fn already_fired(&self, schedule: &str, env: &EnvName, nominal: NaiveDateTime) -> bool {
        // Only the latest occurrence is ever planned, so "fired at or after it" suffices.
        matches!(self.app.store.last_fire(schedule, env), Ok(Some(last)) if last >= nominal.and_utc())
    }

    fn already_warned(&self, key: &WarningKey) -> bool {
        let (name, env, at) = warning_record(key);
        matches!(self.app.store.last_fire(&name, &env), Ok(Some(last)) if last >= at)
    }
}

fn warning_record(key: &WarningKey) -> (String, EnvName, DateTime<Utc>) {
    match key {
        WarningKey::Schedule {
            schedule,
            env,
            nominal,
        } => (warning_name(schedule), env.clone(), nominal.and_utc()),
        WarningKey::Lease { env, expires_at } => {
            (LEASE_WARNING.to_string(), env.clone(), *expires_at)
        }
    }
}

/// The channel an environment's scheduled messages go to: its first bound channel, else the
/// console.
fn channel_of(app: &App, env: &EnvName) -> ChannelId {
    app.config
        .env(env)
        .and_then(|e| e.channels.first().cloned())
        .unwrap_or_else(|| ChannelId::new(crate::policy::CONSOLE_CHANNEL))
}

fn snapshot(app: &App, env: &EnvName, now: DateTime<Utc>) -> EnvSnapshot {
    let lane = app.runs.lane(env);
    // Size, lease, hold and active runs from one read transaction, so they agree with each
    // other. A store that cannot be read shows nothing (the claims this tick would make fail
    // on it too).
    let stored = app.store.env_snapshot(env, now).unwrap_or_default();
    let other_process_busy = stored
        .active_runs
        .iter()
        .any(|r| matches!(r.outcome, RunOutcome::Queued | RunOutcome::Running));
    EnvSnapshot {
        env: env.clone(),
        current_size: stored.size.map(|s| s.size),
        lease: stored.lease.map(|lease| LeaseSnapshot {
            expires_at: lease.expires_at,
            size: lease.size,
        }),
        hold_until: stored.hold.map(|hold| hold.until),
        busy: lane.running.is_some() || !lane.waiting.is_empty() || other_process_busy,
    }
}

/// Runs until `shutdown` turns true.
pub async fn run(app: Arc<App>, shutdown: tokio::sync::watch::Receiver<bool>) {
    run_with_clock(app, shutdown, Utc::now).await
}

/// [`run`] with the time taken from `clock` (tests drive it from tokio's paused clock).
pub async fn run_with_clock(
    app: Arc<App>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    clock: impl Fn() -> DateTime<Utc>,
) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        if let Err(error) = tick(&app, clock()).await {
            tracing::error!(error = %format!("{error:#}"), "scheduler tick failed");
        }
    }
}

/// One look: plan from the last saved look (or, at the first start ever, from now) to `now`,
/// then carry the actions out.
pub async fn tick(app: &Arc<App>, now: DateTime<Utc>) -> anyhow::Result<Vec<PlannedAction>> {
    let stored = app.store.scheduler_last_tick()?;
    let since = stored.unwrap_or(now).min(now);
    let environments: Vec<EnvSnapshot> = app
        .config
        .env_names()
        .iter()
        .map(|env| snapshot(app, env, now))
        .collect();
    let actions = planner::plan(
        &Tick {
            since,
            now,
            schedules: &app.config.schedules,
            environments: &environments,
            sizes: &app.sizes,
            settings: PlannerSettings::default(),
        },
        &StoreMemory { app },
    );
    for action in &actions {
        carry_out(app, action, now).await?;
    }
    run_parked(app, now).await?;
    // Approvals nobody decided in time end here, so their buttons do not linger.
    app.runs.expire_approvals(now)?;
    // What this tick decided is on disk before the next look.
    app.audit_log.flushed().await;
    if stored.is_none_or(|last| now - last >= LAST_TICK_SAVE_EVERY) {
        app.store.set_scheduler_last_tick(now)?;
    }
    Ok(actions)
}

fn audit(app: &App, env: &EnvName, command: &str, decision: &str) {
    let scheduler = Actor::scheduler().id;
    app.audit_line(
        &scheduler,
        &channel_of(app, env),
        Some(env),
        command,
        decision,
        None,
    );
}

async fn run_as_scheduler(app: &Arc<App>, env: &EnvName, command: &str) {
    let reply = crate::pipeline::handle(
        app,
        Request {
            actor: Actor::scheduler(),
            channel: channel_of(app, env),
            text: format!("{command} env={env}"),
        },
    )
    .await;
    if reply.run.is_none() {
        // Refused (policy, bad config): say so where people look, not only in the audit.
        app.outlet.post(&channel_of(app, env), &reply.message);
    }
}

async fn carry_out(
    app: &Arc<App>,
    action: &PlannedAction,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    match action {
        PlannedAction::Fire {
            schedule,
            env,
            occurrence,
            action: what,
            late_by,
        } => {
            // The claim comes first: another process may have fired this occurrence already.
            if app
                .store
                .record_fire(schedule, env, occurrence.nominal.and_utc(), now)?
            {
                fire(app, schedule, env, what, *late_by, now).await?;
            }
        }
        PlannedAction::SkipFire {
            schedule,
            env,
            occurrence,
            action: what,
            reason,
        } => {
            // Recorded, nothing posted: a scheduled action with nothing to do is silent.
            if app
                .store
                .record_fire(schedule, env, occurrence.nominal.and_utc(), now)?
            {
                audit(
                    app,
                    env,
                    &format!("{what} (schedule {schedule})"),
                    &format!("skipped: {reason:?}"),
                );
            }
        }
        PlannedAction::Warn {
            env,
            subject,
            due_at,
            action: what,
        } => {
            let Some(key) = action.warning_key() else {
                return Ok(());
            };
            let (name, record_env, at) = warning_record(&key);
            if app.store.record_fire(&name, &record_env, at, now)? {
                warn(app, env, subject, *due_at, what);
            }
        }
        PlannedAction::LeaseEnd {
            env,
            size,
            expired_at,
        } => {
            if !app.store.record_fire(LEASE_END, env, *expired_at, now)? {
                return Ok(());
            }
            // Cleared before the run, so a failing `down` is not retried every tick.
            app.store.clear_lease(env)?;
            audit(app, env, "down", &format!("lease of `{size}` ended"));
            if !park_behind_test(app, env, "down", now)? {
                run_as_scheduler(app, env, "down").await;
            }
        }
        PlannedAction::LeaseLapsed { env, reason, .. } => {
            app.store.clear_lease(env)?;
            audit(app, env, "lease", &format!("lapsed: {reason:?}"));
        }
    }
    Ok(())
}

/// A claimed schedule occurrence: a scale-down ends the lease, then the action runs as the
/// scheduler.
async fn fire(
    app: &Arc<App>,
    schedule: &str,
    env: &EnvName,
    what: &ScheduleAction,
    late_by: Option<chrono::TimeDelta>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    if matches!(what, ScheduleAction::Down | ScheduleAction::Off) {
        app.store.clear_lease(env)?;
        if park_behind_test(app, env, &what.to_string(), now)? {
            return Ok(());
        }
    }
    let late = late_by
        .map(|l| format!(" (caught up {}s late)", l.num_seconds()))
        .unwrap_or_default();
    tracing::info!(%env, schedule, action = %what, "scheduled action{late}");
    run_as_scheduler(app, env, &what.to_string()).await;
    Ok(())
}

/// A scale-down due while a load test runs waits for the test: it is parked on the test in
/// the store and carried out by [`run_parked`] when the test ends, or once the test has run
/// the environment's `max_lease` (a test never keeps hosts up longer than a lease could).
/// Returns false when no test runs (or it is past that bound): the action runs now.
fn park_behind_test(
    app: &Arc<App>,
    env: &EnvName,
    command: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let Some(test) = app.store.active_test(env)? else {
        return Ok(false);
    };
    let max_lease = app.config.env(env).map(|e| e.max_lease).unwrap_or_default();
    let deadline = test.created_at + chrono::Duration::from_std(max_lease).unwrap_or_default();
    if deadline <= now {
        return Ok(false);
    }
    let Some(test) = app.store.defer_until_test_ends(env, command, deadline)? else {
        return Ok(false);
    };
    let view = crate::render::views::LoadTestView {
        env: env.clone(),
        text: format!(
            "⏳ *[{env}]* scheduled `{command}` waits for test #{} `{}` to end; at the latest \
             {} it stops the test and runs. *Keep 2h* holds the environment: the `{command}` \
             is then skipped when the test ends",
            test.id,
            test.args,
            app.format_time(env, deadline)
        ),
        stop_button: true,
        keep_button: true,
    };
    app.outlet.post(
        &channel_of(app, env),
        &app.message(app.renderer.load_test(&view)),
    );
    audit(app, env, command, &format!("waiting for test #{}", test.id));
    Ok(true)
}

/// Parked scale-downs whose test ended (or ran past its bound): the test is stopped if it
/// still runs, then the action runs as the scheduler — unless someone held the environment
/// (Keep on the waiting message, or `hold`) since: a hold is an explicit "keep it up", so the
/// parked action is dropped and the test left to end on its own. Each is taken from the store
/// once.
async fn run_parked(app: &Arc<App>, now: DateTime<Utc>) -> anyhow::Result<()> {
    for (test, command) in app.store.take_due_after_test(now)? {
        if let Some(hold) = app.store.get_hold(&test.env, now)? {
            let until = app.format_time(&test.env, hold.until);
            audit(
                app,
                &test.env,
                &command,
                &format!("skipped after test #{}: held until {until}", test.id),
            );
            let text = format!(
                "✋ *[{}]* scheduled `{command}` skipped after test #{}: the environment is \
                 held until {until}",
                test.env, test.id
            );
            app.outlet
                .post(&channel_of(app, &test.env), &app.notice(&text));
            continue;
        }
        if test.state.is_active() {
            if let Err(error) = app.load_tests.stop(&test.env, true).await {
                tracing::warn!(%error, test = test.id, "stopping a test past its bound");
            }
            audit(
                app,
                &test.env,
                &command,
                &format!("stopped test #{}: it ran past max_lease", test.id),
            );
        } else {
            audit(
                app,
                &test.env,
                &command,
                &format!("test #{} ended", test.id),
            );
        }
        run_as_scheduler(app, &test.env, &command).await;
    }
    Ok(())
}

/// A claimed warning: posted to the environment's channel with its buttons, and audited.
fn warn(
    app: &Arc<App>,
    env: &EnvName,
    subject: &WarnSubject,
    due_at: DateTime<Utc>,
    what: &ScheduleAction,
) {
    let when = app.format_time(env, due_at);
    let why = match subject {
        WarnSubject::Schedule { schedule, .. } => format!("the schedule `{schedule}`"),
        WarnSubject::Lease { size } => format!("the end of the `{size}` lease"),
    };
    let view = crate::render::views::WarningView {
        env: env.clone(),
        action: what.to_string(),
        when: when.clone(),
        why: why.clone(),
        keep_extends_lease: matches!(subject, WarnSubject::Lease { .. }),
    };
    let message = app.message(app.renderer.warning(&view));
    app.outlet.post(&channel_of(app, env), &message);
    audit(
        app,
        env,
        &format!("warn {what}"),
        &format!("warned: {why} at {when}"),
    );
}
