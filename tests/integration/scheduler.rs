//! The scheduler inside a running `shell`, with the fake Terraform: a schedule's scale-down
//! goes through the same pipeline as a chat command (actor `scheduler`), a scale-down of an
//! environment already at the target does nothing and posts nothing (but is recorded), a hold
//! skips it, and a lease end brings the environment down.

use crate::support::bot::BotFixture;
use crate::support::shell::Shell;
use loadtest_bot::model::{EnvName, SizeName, SlackUserId};
use std::time::Duration;

const EVERY_FEW_SECONDS: &str = r#"
[[schedules]]
name = "frequent-down"
cron = "*/4 * * * * *"
timezone = "Europe/London"
action = "down"
environments = ["local"]
"#;

fn calls(bot: &BotFixture) -> Vec<String> {
    std::fs::read_to_string(bot.dir.path().join("calls"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn scheduled_scale_downs_run_once_skip_no_ops_and_respect_holds() {
    let bot = BotFixture::with_fake_terraform();
    bot.append_config(EVERY_FEW_SECONDS);
    let calls_file = bot.dir.path().join("calls").display().to_string();
    let mut shell = Shell::start_with_env(&bot, &[("FAKE_TF_CALLS", calls_file)]);

    // Hold first, so the schedule cannot take the environment down while it comes up.
    shell.send("hold 1h");
    shell.wait_for("held until", Duration::from_secs(10));
    shell.send("up small");
    shell.wait_for("[local] up small: succeeded", Duration::from_secs(30));
    // Two scheduled occurrences pass while held: skipped, recorded, nothing applied.
    std::thread::sleep(Duration::from_secs(9));
    let applies_while_held = calls(&bot)
        .iter()
        .filter(|c| c.starts_with("apply"))
        .count();
    assert_eq!(
        applies_while_held,
        1,
        "only the up applied while held: {:?}",
        calls(&bot)
    );

    // Without the hold, the next occurrence scales it down, as the scheduler.
    shell.send("hold off");
    shell.wait_for("hold cleared", Duration::from_secs(10));
    let line = shell.wait_for("[local] down: succeeded", Duration::from_secs(30));
    assert!(line.contains("0 added, 1 changed, 0 destroyed"), "{line}");
    shell.wait_for("requested by scheduler", Duration::from_secs(10));
    // Later occurrences find it at `down` already: nothing runs, nothing is posted.
    let mark = shell.transcript.len();
    std::thread::sleep(Duration::from_secs(9));
    shell.send("history");
    shell.wait_for("== 🕘 [local] history ==", Duration::from_secs(10));
    let (code, transcript) = shell.close();
    assert_eq!(code, 0, "{transcript}");
    let after: Vec<&str> = transcript.lines().skip(mark).collect();
    assert!(
        !after.iter().any(|l| l.contains("[local] down:")),
        "a no-op scale-down posts nothing:\n{}",
        after.join("\n")
    );
    let applies = calls(&bot)
        .iter()
        .filter(|c| c.starts_with("apply"))
        .count();
    assert_eq!(
        applies,
        2,
        "up + exactly one scheduled down: {:?}",
        calls(&bot)
    );

    let store = bot.store();
    let runs = store.recent_runs(None, 10).unwrap();
    let scheduled: Vec<_> = runs
        .iter()
        .filter(|r| r.actor.as_str() == "scheduler")
        .collect();
    assert_eq!(scheduled.len(), 1, "{runs:#?}");
    assert_eq!(scheduled[0].verb, "down");
    let decisions = bot.audit_decisions();
    assert!(
        decisions.iter().any(|d| d.contains("Held")),
        "held skips are audited: {decisions:#?}"
    );
    assert!(
        decisions.iter().any(|d| d.contains("AlreadyAtOrBelow")),
        "no-op skips are audited: {decisions:#?}"
    );
}

#[test]
fn a_lease_end_brings_the_environment_down() {
    let bot = BotFixture::with_fake_terraform();
    let calls_file = bot.dir.path().join("calls").display().to_string();
    let mut shell = Shell::start_with_env(&bot, &[("FAKE_TF_CALLS", calls_file)]);
    shell.send("up small for 2h");
    shell.wait_for(
        "[local] up small for 2h: succeeded",
        Duration::from_secs(30),
    );
    let lease = bot
        .store()
        .get_lease(&EnvName::new("local"))
        .unwrap()
        .expect("the up set a lease");
    assert_eq!(lease.size, SizeName::new("small"));
    // Time passes (the lease is moved to end in two seconds, as another process could).
    bot.store()
        .set_lease(&loadtest_bot::store::Lease {
            env: EnvName::new("local"),
            size: SizeName::new("small"),
            expires_at: chrono::Utc::now() + chrono::Duration::seconds(2),
            set_by: SlackUserId::new("console"),
            set_at: chrono::Utc::now(),
        })
        .unwrap();
    shell.wait_for("[local] down: succeeded", Duration::from_secs(30));
    let (code, transcript) = shell.close();
    assert_eq!(code, 0, "{transcript}");
    assert!(bot
        .store()
        .get_lease(&EnvName::new("local"))
        .unwrap()
        .is_none());
    let runs = bot.store().recent_runs(None, 10).unwrap();
    assert_eq!(runs[0].verb, "down");
    assert_eq!(runs[0].actor.as_str(), "scheduler");
}

#[test]
fn a_fire_missed_while_the_bot_was_stopped_runs_exactly_once_after_the_restart() {
    let bot = BotFixture::with_fake_terraform();
    // One occurrence, a few seconds from now (UTC), with catch-up after a restart.
    // Far enough ahead that the first shell is surely closed by then, even on a busy machine.
    let due = chrono::Utc::now() + chrono::Duration::seconds(20);
    bot.append_config(&one_shot_schedule(due, "catch_up = \"1h\""));
    let calls_file = bot.dir.path().join("calls").display().to_string();
    let env = [("FAKE_TF_CALLS", calls_file)];

    // Up, then the bot stops before the fire.
    let mut shell = Shell::start_with_env(&bot, &env);
    shell.send("up small");
    shell.wait_for("[local] up small: succeeded", Duration::from_secs(30));
    let (code, _) = shell.close();
    assert_eq!(code, 0);
    while chrono::Utc::now() < due + chrono::Duration::seconds(2) {
        std::thread::sleep(Duration::from_millis(200));
    }
    // Started after the fire time: it catches up, once.
    let mut shell = Shell::start_with_env(&bot, &env);
    shell.wait_for("[local] down: succeeded", Duration::from_secs(30));
    shell.wait_for("requested by scheduler", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(2));
    let (code, _) = shell.close();
    assert_eq!(code, 0);
    // And a second restart does not fire it again.
    let shell = Shell::start_with_env(&bot, &env);
    std::thread::sleep(Duration::from_secs(3));
    let (code, transcript) = shell.close();
    assert_eq!(code, 0);
    assert!(!transcript.contains("[local] down:"), "{transcript}");
    let applies = calls(&bot)
        .iter()
        .filter(|c| c.starts_with("apply"))
        .count();
    assert_eq!(
        applies,
        2,
        "up + exactly one caught-up down: {:?}",
        calls(&bot)
    );
}

fn one_shot_schedule(due: chrono::DateTime<chrono::Utc>, extra: &str) -> String {
    format!(
        r#"
[[schedules]]
name = "one-shot-down"
cron = "{} {} {} {} {} *"
timezone = "UTC"
action = "down"
environments = ["local"]
{extra}
"#,
        due.format("%S"),
        due.format("%M"),
        due.format("%H"),
        due.format("%d"),
        due.format("%m"),
    )
}

#[test]
fn a_warning_comes_before_a_scheduled_scale_down_and_keep_skips_it() {
    let bot = BotFixture::with_fake_terraform();
    // The warning is due 10 s in: after the `up` below has surely finished.
    let due = chrono::Utc::now() + chrono::Duration::seconds(25);
    bot.append_config(&one_shot_schedule(due, "warn_before = \"15s\""));
    let calls_file = bot.dir.path().join("calls").display().to_string();
    let mut shell = Shell::start_with_env(&bot, &[("FAKE_TF_CALLS", calls_file)]);
    shell.send("up small");
    shell.wait_for("[local] up small: succeeded", Duration::from_secs(30));
    // The warning: what, when, why, then its buttons with their typed equivalents.
    let warning = shell.wait_for("⏰", Duration::from_secs(30));
    assert!(warning.contains("`down`"), "{warning}");
    assert!(warning.contains("one-shot-down"), "{warning}");
    let buttons = shell.wait_for("[Keep 2h]", Duration::from_secs(5));
    assert!(buttons.contains("[Scale down now]"), "{buttons}");
    assert!(buttons.contains("hold 2h env=local"), "{buttons}");
    assert!(
        chrono::Utc::now() < due,
        "the warning came before the scale-down was due"
    );
    // Keep it: a hold, audited with who.
    shell.send("hold 2h");
    shell.wait_for("held until", Duration::from_secs(10));
    while chrono::Utc::now() < due + chrono::Duration::seconds(3) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, transcript) = shell.close();
    assert_eq!(code, 0);
    assert!(
        !transcript.contains("[local] down:"),
        "kept up:\n{transcript}"
    );
    let applies = calls(&bot)
        .iter()
        .filter(|c| c.starts_with("apply"))
        .count();
    assert_eq!(applies, 1, "{:?}", calls(&bot));
    let store = bot.store();
    let audit = store.recent_audit(100).unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.entry.actor.as_str() == "console" && r.entry.decision.contains("hold set")),
        "the keep is audited with who"
    );
    assert!(
        audit.iter().any(|r| r.entry.decision.contains("Held")),
        "the skipped fire is audited"
    );
}
