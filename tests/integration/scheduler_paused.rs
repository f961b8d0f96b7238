//! The scheduler loop itself (`ticker::run_with_clock`, the 250 ms interval and all) under
//! paused tokio time: the clock the bot sees is tokio's virtual clock, so hours pass in
//! seconds. Warnings, Keep (a hold), a lease end and a catch-up after a restart, with the fake
//! Terraform really running the scale-downs.

use crate::support::bot::BotFixture;
use crate::support::recording::RecordingOutlet;
use chrono::{DateTime, Utc};
use loadtest_bot::app::App;
use loadtest_bot::config::Config;
use loadtest_bot::front::ticker;
use loadtest_bot::model::{ChannelId, EnvName, RunOutcome, SizeName, SlackUserId};
use loadtest_bot::policy::Actor;
use loadtest_bot::request::{ExitClass, Request};
use loadtest_bot::store::Lease;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The bot's clock: a fixed start plus tokio's (paused, auto-advancing) elapsed time.
fn virtual_clock(t0: DateTime<Utc>) -> impl Fn() -> DateTime<Utc> + Clone {
    let start = Instant::now();
    move || t0 + chrono::Duration::from_std(start.elapsed()).unwrap()
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
        ExitClass::Rejected,
        "{text}: {}",
        reply.message.text
    );
}

fn scheduler_runs(app: &App) -> Vec<(String, RunOutcome)> {
    let mut runs: Vec<_> = app
        .store
        .recent_runs(None, 100)
        .unwrap()
        .into_iter()
        .filter(|run| run.actor.as_str() == "scheduler")
        .map(|run| (run.verb, run.outcome))
        .collect();
    runs.reverse();
    runs
}

/// Sleeps (virtually) until `app` has `count` finished scheduler runs.
async fn until_scheduler_runs(app: &App, count: usize) {
    for _ in 0..100_000 {
        let runs = scheduler_runs(app);
        if runs.len() >= count && runs.iter().all(|(_, o)| o.is_final()) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!(
        "no {count} finished scheduler runs: {:?}",
        scheduler_runs(app)
    );
}

fn start_ticker(
    app: &Arc<App>,
    clock: impl Fn() -> DateTime<Utc> + Send + 'static,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(ticker::run_with_clock(Arc::clone(app), stopped, clock));
    (stop, handle)
}

#[tokio::test(start_paused = true)]
async fn warnings_keep_lease_end_and_catch_up_under_paused_tokio_time() {
    let bot = BotFixture::with_fake_terraform();
    // Virtual time races ahead while the fake Terraform runs in real time: no timeout must
    // fire because of that.
    let text = std::fs::read_to_string(bot.config_path())
        .unwrap()
        .replace("plan_timeout = \"3s\"", "plan_timeout = \"24h\"")
        .replace("apply_timeout = \"20m\"", "apply_timeout = \"24h\"");
    std::fs::write(bot.config_path(), text).unwrap();
    let t0 = Utc::now();
    let nightly = t0 + chrono::Duration::minutes(20);
    bot.append_config(&format!(
        r#"
[[schedules]]
name = "nightly-down"
cron = "{}"
timezone = "UTC"
action = "down"
environments = ["local"]
warn_before = "15m"
catch_up = "6h"
"#,
        nightly.format("%M %H * * *")
    ));
    let text = std::fs::read_to_string(bot.config_path()).unwrap();
    let config = Config::from_str(&text, "loadtest.toml").expect("config");
    let outlet = Arc::new(RecordingOutlet::default());
    let app = App::build(config, outlet.clone()).expect("app");
    let env = EnvName::new("local");
    // As after an `up small for 6h` earlier.
    app.store
        .set_env_size(&env, &SizeName::new("small"), t0)
        .unwrap();
    app.store
        .set_lease(&Lease {
            env: env.clone(),
            size: SizeName::new("small"),
            expires_at: t0 + chrono::Duration::hours(6),
            set_by: SlackUserId::new("U0ALICE"),
            set_at: t0,
        })
        .unwrap();
    let clock = virtual_clock(t0);
    let (stop, ticking) = start_ticker(&app, clock.clone());

    // 15 minutes before the nightly scale-down: the warning with its two buttons.
    tokio::time::sleep(Duration::from_secs(6 * 60)).await;
    let posted = outlet.take();
    assert_eq!(posted.len(), 1, "{posted:#?}");
    assert!(posted[0].contains("nightly-down"), "{posted:#?}");
    assert!(
        posted[0].contains("[Keep 2h] [Scale down now]") && posted[0].contains("hold 2h env=local"),
        "{posted:#?}"
    );
    // Keep 2h: a hold; the scale-down time passes and nothing runs.
    say(&app, "hold 2h").await;
    tokio::time::sleep(Duration::from_secs(16 * 60)).await;
    assert!(clock() > nightly);
    assert!(
        scheduler_runs(&app).is_empty(),
        "held: {:?}",
        scheduler_runs(&app)
    );
    assert_eq!(
        app.store.get_env_size(&env).unwrap().unwrap().size,
        SizeName::new("small")
    );

    // The lease ends (shortened here): the bot scales the environment down, as `scheduler`.
    say(&app, "hold off").await;
    let mut lease = app.store.get_lease(&env).unwrap().unwrap();
    lease.expires_at = clock() + chrono::Duration::minutes(2);
    app.store.set_lease(&lease).unwrap();
    until_scheduler_runs(&app, 1).await;
    assert_eq!(
        scheduler_runs(&app),
        [("down".to_string(), RunOutcome::Succeeded)]
    );
    assert_eq!(
        app.store.get_env_size(&env).unwrap().unwrap().size,
        SizeName::new("down")
    );
    assert!(app.store.get_lease(&env).unwrap().is_none());

    // Someone scaled up again; then the bot is down across the next nightly scale-down.
    app.store
        .set_env_size(&env, &SizeName::new("small"), clock())
        .unwrap();
    stop.send(true).unwrap();
    ticking.await.unwrap();
    let stopped_at = clock();
    tokio::time::advance(Duration::from_secs(24 * 3600)).await;
    assert!(clock() > nightly + chrono::Duration::days(1));
    assert!(stopped_at < nightly + chrono::Duration::days(1));
    // At the restart the missed scale-down is caught up, exactly once.
    let (stop, ticking) = start_ticker(&app, clock.clone());
    until_scheduler_runs(&app, 2).await;
    tokio::time::sleep(Duration::from_secs(30 * 60)).await;
    assert_eq!(
        scheduler_runs(&app),
        [
            ("down".to_string(), RunOutcome::Succeeded),
            ("down".to_string(), RunOutcome::Succeeded)
        ]
    );
    stop.send(true).unwrap();
    ticking.await.unwrap();
}
