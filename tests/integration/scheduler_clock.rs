//! The scheduler on a simulated clock: the bot in-process (library API, fake Terraform, a
//! recording outlet), with `ticker::tick(app, now)` driven through hours of scheduled time in
//! milliseconds. The scheduler's clock is the wall clock handed to `tick` (the store keeps
//! wall-clock times), so this drives that clock directly rather than `tokio::time::pause`.
//! Covers: the warning before a scale-down and before a lease end, keep (hold) skipping the
//! scale-down, the lease end bringing the environment down, a missed scale-down caught up
//! after an outage, a missed `up` never run, and nothing fired twice; a scale-down that waits
//! for a running load test, and Keep on its message skipping it once the test ends.

use crate::support::bot::BotFixture;
use crate::support::recording::RecordingOutlet;
use chrono::{DateTime, Duration as Span, Utc};
use loadtest_bot::app::App;
use loadtest_bot::config::Config;
use loadtest_bot::front::ticker;
use loadtest_bot::model::{ChannelId, EnvName, RunOutcome, SizeName};
use loadtest_bot::policy::Actor;
use loadtest_bot::request::Request;
use loadtest_bot::store::{NewTest, TestEnd, TestState};
use std::sync::Arc;
use std::time::Duration;

/// Keeps the text of every message posted or finally updated.
fn cron_at(at: DateTime<Utc>) -> String {
    at.format("%S %M %H %d %m *").to_string()
}

async fn wait_until_idle(app: &Arc<App>) {
    for _ in 0..600 {
        if app.runs.is_idle() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the queue did not drain");
}

async fn say(app: &Arc<App>, text: &str) {
    let reply = loadtest_bot::pipeline::handle(
        app,
        Request {
            actor: Actor::console(),
            channel: ChannelId::new("console"),
            text: text.to_string(),
        },
    )
    .await;
    assert_ne!(
        reply.class,
        loadtest_bot::request::ExitClass::Rejected,
        "{text}: {:?}",
        reply.message.text
    );
    wait_until_idle(app).await;
}

async fn tick(app: &Arc<App>, now: DateTime<Utc>) {
    ticker::tick(app, now).await.expect("tick");
    wait_until_idle(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hours_of_schedules_leases_and_an_outage_on_a_simulated_clock() {
    let bot = BotFixture::with_fake_terraform();
    let t0 = Utc::now();
    let nightly = t0 + Span::hours(1);
    let late_off = t0 + Span::hours(3);
    let morning_up = t0 + Span::minutes(3 * 60 + 30);
    let (app, outlet) = app_with(
        &bot,
        &format!(
            r#"
[[schedules]]
name = "nightly-down"
cron = "{}"
timezone = "UTC"
action = "down"
environments = ["local"]
warn_before = "15m"
catch_up = "6h"

[[schedules]]
name = "late-off"
cron = "{}"
timezone = "UTC"
action = "off"
environments = ["local"]
catch_up = "6h"

[[schedules]]
name = "morning-up"
cron = "{}"
timezone = "UTC"
action = "up small"
environments = ["local"]
catch_up = "6h"
"#,
            cron_at(nightly),
            cron_at(late_off),
            cron_at(morning_up)
        ),
    );
    let env = EnvName::new("local");

    say(&app, "up small for 2h").await;
    assert!(outlet
        .take()
        .iter()
        .any(|t| t.contains("[local] up small for 2h: succeeded")));
    tick(&app, t0).await;

    // 14 minutes before the nightly scale-down: one warning, with the keep/scale-down hints.
    tick(&app, nightly - Span::minutes(14)).await;
    let posted = outlet.take();
    assert_eq!(posted.len(), 1, "{posted:#?}");
    assert!(
        posted[0].contains("`down`") && posted[0].contains("nightly-down"),
        "{posted:#?}"
    );
    assert!(
        posted[0].contains("hold 2h env=local") && posted[0].contains("[Scale down now]"),
        "{posted:#?}"
    );
    tick(&app, nightly - Span::minutes(13)).await;
    assert!(outlet.take().is_empty(), "a warning is posted once");

    // Keep 2h: the scale-down is skipped, recorded, posts nothing.
    say(&app, "hold 2h").await;
    outlet.take();
    tick(&app, nightly + Span::seconds(1)).await;
    assert!(
        outlet.take().is_empty(),
        "a held environment is not scaled down"
    );
    assert_eq!(
        app.store.get_env_size(&env).unwrap().unwrap().size,
        SizeName::new("small")
    );
    say(&app, "hold off").await;
    outlet.take();

    // The lease (2h from the up) warns, then ends: the scheduler runs `down`.
    let lease_end = app.store.get_lease(&env).unwrap().unwrap().expires_at;
    tick(&app, lease_end - Span::minutes(14)).await;
    let posted = outlet.take();
    assert!(
        posted
            .iter()
            .any(|t| t.contains("extend 2h") && t.contains("lease")),
        "{posted:#?}"
    );
    tick(&app, lease_end + Span::seconds(1)).await;
    let posted = outlet.take();
    assert!(
        posted
            .iter()
            .any(|t| t.starts_with("[local] down: succeeded")),
        "{posted:#?}"
    );
    assert_eq!(
        app.store.get_env_size(&env).unwrap().unwrap().size,
        SizeName::new("down")
    );
    assert!(app.store.get_lease(&env).unwrap().is_none());

    // An outage: the bot looks again only two hours after `late-off` and one and a half after
    // `morning-up` were due. The missed `off` is caught up (within catch_up); the missed `up`
    // is never run.
    tick(&app, late_off + Span::hours(2)).await;
    let posted = outlet.take();
    assert!(
        posted
            .iter()
            .any(|t| t.starts_with("[local] off: succeeded")),
        "{posted:#?}"
    );
    assert!(
        !posted.iter().any(|t| t.contains("up small")),
        "{posted:#?}"
    );
    assert_eq!(
        app.store.get_env_size(&env).unwrap().unwrap().size,
        SizeName::new("off")
    );

    // Looking again changes nothing: no occurrence fires twice.
    tick(&app, late_off + Span::hours(2) + Span::seconds(1)).await;
    assert!(outlet.take().is_empty());
    let runs = app.store.recent_runs(Some(&env), 20).unwrap();
    let by_scheduler: Vec<String> = runs
        .iter()
        .filter(|r| r.actor.as_str() == "scheduler")
        .map(|r| format!("{} {}", r.verb, r.outcome))
        .collect();
    assert_eq!(
        by_scheduler,
        vec!["off succeeded".to_string(), "down succeeded".to_string()]
    );
    assert!(
        runs.iter().all(|r| r.outcome != RunOutcome::Failed),
        "{runs:#?}"
    );
    let decisions: Vec<String> = app
        .store
        .recent_audit(100)
        .unwrap()
        .into_iter()
        .map(|r| r.entry.decision)
        .collect();
    assert!(
        decisions.iter().any(|d| d.contains("Held")),
        "{decisions:#?}"
    );
    assert!(
        decisions.iter().any(|d| d.contains("MissedUp")),
        "{decisions:#?}"
    );
}

/// The bot's config with `extra` appended, parsed without the process environment's
/// overrides (the fixture's config has absolute paths; `make test` exports
/// LOADTEST_STATE_DIR for the whole suite), and the app built on a recording outlet.
fn app_with(bot: &BotFixture, extra: &str) -> (Arc<App>, Arc<RecordingOutlet>) {
    bot.append_config(extra);
    let text = std::fs::read_to_string(bot.config_path()).unwrap();
    let config = Config::from_str(&text, "loadtest.toml").expect("config");
    let outlet = Arc::new(RecordingOutlet::default());
    let app = App::build(config, outlet.clone()).expect("app");
    (app, outlet)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_down_waits_for_a_running_test_and_keep_skips_it_when_the_test_ends() {
    let bot = BotFixture::with_fake_terraform();
    let t0 = Utc::now();
    let nightly = t0 + Span::hours(1);
    let (app, outlet) = app_with(
        &bot,
        &format!(
            r#"
[[schedules]]
name = "nightly-down"
cron = "{}"
timezone = "UTC"
action = "down"
environments = ["local"]
catch_up = "6h"
"#,
            cron_at(nightly)
        ),
    );
    let env = EnvName::new("local");
    say(&app, "up small").await;
    outlet.take();
    tick(&app, t0).await;

    // A test runs (recorded as the `run` verb records it once the master accepted it).
    let test = app
        .store
        .begin_test(
            &NewTest {
                env: env.clone(),
                plan: "smoke.jmx".into(),
                args: "threads=10 duration=2h".into(),
                actor: loadtest_bot::model::SlackUserId::new("U1"),
                channel: ChannelId::new("console"),
            },
            t0,
        )
        .unwrap()
        .expect("no other test");
    app.store
        .mark_test_running(test.id, "bucket", "i-1", "cmd-1", t0 + Span::hours(2))
        .unwrap();

    // The scale-down comes due: it waits, saying so with Keep and Stop test.
    tick(&app, nightly + Span::seconds(1)).await;
    let posted = outlet.take();
    assert_eq!(posted.len(), 1, "{posted:#?}");
    assert!(
        posted[0].contains(&format!("`down` waits for test #{}", test.id))
            && posted[0].contains("hold 2h env=local")
            && posted[0].contains("stop env=local"),
        "{posted:#?}"
    );
    assert_eq!(
        app.store.get_env_size(&env).unwrap().unwrap().size,
        SizeName::new("small")
    );

    // Keep (the button's command), then the test ends: the parked `down` is skipped once.
    say(&app, "hold 2h").await;
    outlet.take();
    app.store
        .finish_test(
            test.id,
            TestState::Finished,
            &TestEnd::default(),
            nightly + Span::minutes(5),
        )
        .unwrap();
    tick(&app, nightly + Span::minutes(6)).await;
    let posted = outlet.take();
    assert_eq!(posted.len(), 1, "{posted:#?}");
    assert!(
        posted[0].contains("`down` skipped after test") && posted[0].contains("held until"),
        "{posted:#?}"
    );
    tick(&app, nightly + Span::minutes(7)).await;
    assert!(outlet.take().is_empty(), "the parked action is taken once");
    assert_eq!(
        app.store.get_env_size(&env).unwrap().unwrap().size,
        SizeName::new("small")
    );
    let by_scheduler = app
        .store
        .recent_runs(Some(&env), 20)
        .unwrap()
        .into_iter()
        .filter(|r| r.actor.as_str() == "scheduler")
        .count();
    assert_eq!(by_scheduler, 0, "nothing ran as the scheduler");
}
