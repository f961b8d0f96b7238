//! Terraform misbehaving, through the real bot binary with `tests/support/fake-terraform` in
//! Terraform's place: a held state lock is reported with its ID and the `unlock` hint; a plan
//! past its timeout gets SIGINT and stops gracefully; one that ignores SIGINT is killed after
//! the grace period; secrets Terraform prints never reach the answer, the log or the store.
//! Terraform is never killed by the bot's own faults: invalid UTF-8 on its stderr, a run log
//! that cannot be written; an apply whose end was not seen is reported as state unknown. It
//! starts with an allow-listed environment: the bot's Slack secrets never reach it.

use crate::support::bot::BotFixture;
use std::time::{Duration, Instant};

const LOCK_ID: &str = "6f1c3b58-1c7e-2b5e-9a0d-3f6a9e5b2c11";

fn exec_with_mode(bot: &BotFixture, mode: &str, words: &[&str]) -> (i32, String, Duration) {
    exec_with_env(bot, &[("FAKE_TF_MODE", mode)], words)
}

fn exec_with_env(
    bot: &BotFixture,
    env: &[(&str, &str)],
    words: &[&str],
) -> (i32, String, Duration) {
    let config = bot.config_path().display().to_string();
    let mut args = vec!["--config", config.as_str(), "exec", "--"];
    args.extend_from_slice(words);
    let started = Instant::now();
    let output = bot
        .command(&args)
        .envs(env.iter().copied())
        .env("FAKE_TF_CALLS", bot.dir.path().join("calls"))
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text, started.elapsed())
}

fn run_log(bot: &BotFixture, run: i64) -> String {
    std::fs::read_to_string(bot.state_dir().join(format!("runs/{run}/terraform.log"))).unwrap()
}

#[test]
fn a_held_state_lock_is_reported_with_its_id_and_the_unlock_hint() {
    let bot = BotFixture::with_fake_terraform();
    let (code, text, _) = exec_with_mode(&bot, "lock", &["up", "small"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("[local] up small: failed"), "{text}");
    assert!(text.contains(&format!("lock ID {LOCK_ID}")), "{text}");
    assert!(text.contains(&format!("unlock {LOCK_ID}")), "{text}");
    assert!(text.contains("ci@runner-7"), "names the holder: {text}");
    // The admin's way out, typed in chat, reaches terraform force-unlock with that ID.
    let (code, text, _) = exec_with_mode(&bot, "ok", &["unlock", LOCK_ID]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("state lock {LOCK_ID} released")),
        "{text}"
    );
    let calls = std::fs::read_to_string(bot.dir.path().join("calls")).unwrap();
    assert!(
        calls
            .lines()
            .any(|l| l == format!("force-unlock -force -no-color {LOCK_ID}")),
        "{calls}"
    );
}

#[test]
fn a_plan_past_its_timeout_gets_sigint_and_stops_gracefully() {
    let bot = BotFixture::with_fake_terraform();
    let (code, text, took) = exec_with_mode(&bot, "hang", &["up", "small"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("[local] up small: timed out"), "{text}");
    let log = run_log(&bot, 1);
    assert!(log.contains("timeout reached, sending SIGINT"), "{log}");
    assert!(
        log.contains("Interrupt received"),
        "Terraform saw SIGINT and shut down itself: {log}"
    );
    assert!(!log.contains("killing it"), "no kill was needed: {log}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let run = bot
        .store()
        .get_run(loadtest_bot::model::RunId(1))
        .unwrap()
        .unwrap();
    assert_eq!(run.outcome, loadtest_bot::model::RunOutcome::TimedOut);
}

#[test]
fn terraform_ignoring_sigint_is_killed_after_the_grace_period() {
    let bot = BotFixture::with_fake_terraform();
    let (code, text, took) = exec_with_mode(&bot, "stubborn", &["up", "small"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("timed out"), "{text}");
    let log = run_log(&bot, 1);
    assert!(
        log.contains("did not stop after SIGINT, killing it"),
        "{log}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn secrets_terraform_prints_are_masked_in_answers_logs_and_the_store() {
    let bot = BotFixture::with_fake_terraform();
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let (code, text, _) = exec_with_mode(&bot, "secret", &["up", "small"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("InvalidClientTokenId"),
        "the diagnostic is shown: {text}"
    );
    assert!(!text.contains(secret), "secret in the answer: {text}");
    assert!(text.contains("***"), "{text}");
    let log = run_log(&bot, 1);
    assert!(!log.contains(secret), "secret in the run log: {log}");
    assert!(log.contains("using key ***"), "{log}");
    let db = std::fs::read(bot.state_dir().join("loadtest.db")).unwrap();
    let wal = std::fs::read(bot.state_dir().join("loadtest.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "secret stored in SQLite"
        );
    }
}

#[test]
fn an_apply_streams_progress_and_reports_terraforms_counts() {
    let bot = BotFixture::with_fake_terraform();
    let (code, text, _) = exec_with_mode(&bot, "ok", &["up", "small"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("[local] up small: succeeded — 0 added, 1 changed, 0 destroyed"),
        "{text}"
    );
    assert!(text.contains("10.0.1.10"), "key outputs are shown: {text}");
    // Init ran once; a second run skips it because nothing it depends on changed.
    let (code, text, _) = exec_with_mode(&bot, "ok", &["up", "medium"]);
    assert_eq!(code, 0, "{text}");
    let calls = std::fs::read_to_string(bot.dir.path().join("calls")).unwrap();
    assert_eq!(
        calls.lines().filter(|l| l.starts_with("init")).count(),
        1,
        "{calls}"
    );
    assert_eq!(
        calls.lines().filter(|l| l.starts_with("apply")).count(),
        2,
        "{calls}"
    );
    // Every apply applies the saved plan of its own run.
    for (run, line) in calls.lines().filter(|l| l.starts_with("apply")).enumerate() {
        assert!(
            line.ends_with(&format!("runs/{}/plan.tfplan", run + 1)),
            "{line}"
        );
    }
}

#[test]
fn a_run_whose_bot_was_killed_is_reported_interrupted_at_the_next_start() {
    let bot = BotFixture::with_fake_terraform();
    // Plan hangs (the fake waits for SIGINT); the timeout is long enough not to fire first.
    let text = std::fs::read_to_string(bot.config_path())
        .unwrap()
        .replace("plan_timeout = \"3s\"", "plan_timeout = \"60s\"");
    std::fs::write(bot.config_path(), text).unwrap();
    let config = bot.config_path().display().to_string();
    let mut child = bot
        .command(&["--config", &config, "exec", "--", "up", "small"])
        .env("FAKE_TF_MODE", "hang")
        .env("FAKE_TF_CALLS", bot.dir.path().join("calls"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until Terraform's plan is running, then SIGKILL the bot: no chance to clean up.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(bot.dir.path().join("calls"))
        .unwrap_or_default()
        .contains("plan")
    {
        assert!(Instant::now() < deadline, "the plan never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        bot.store()
            .get_run(loadtest_bot::model::RunId(1))
            .unwrap()
            .unwrap()
            .outcome,
        loadtest_bot::model::RunOutcome::Running,
        "the store still says running: nobody was left to record the end"
    );
    // The next start of the bot, for anything, reports it.
    let (code, text, _) = exec_with_mode(&bot, "ok", &["history"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("[local] up small: interrupted"), "{text}");
    let run = bot
        .store()
        .get_run(loadtest_bot::model::RunId(1))
        .unwrap()
        .unwrap();
    assert_eq!(run.outcome, loadtest_bot::model::RunOutcome::Interrupted);
    assert_eq!(
        run.interrupted_from,
        Some(loadtest_bot::model::RunOutcome::Running)
    );
    // Reported once: a later start does not repeat it.
    let (_, text, _) = exec_with_mode(&bot, "ok", &["status"]);
    assert!(!text.contains("[local] up small: interrupted"), "{text}");
}

fn calls(bot: &BotFixture) -> String {
    std::fs::read_to_string(bot.dir.path().join("calls")).unwrap_or_default()
}

#[test]
fn invalid_utf8_on_terraforms_stderr_mid_apply_does_not_kill_it() {
    let bot = BotFixture::with_fake_terraform();
    let (code, text, _) = exec_with_mode(&bot, "badstderr", &["up", "small"]);
    // Before: the stderr reader stopped at the first bad byte, the pipe closed and the
    // apply died of SIGPIPE (exit 141).
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("[local] up small: succeeded — 0 added, 1 changed, 0 destroyed"),
        "{text}"
    );
    assert!(calls(&bot).contains("finished apply"), "{}", calls(&bot));
    let log = run_log(&bot, 1);
    assert!(
        log.contains("stderr: provider noise \u{fffd}\u{fffd} mid-apply \u{fffd}"),
        "bad bytes are decoded lossily: {log}"
    );
    assert!(
        log.contains("[line truncated: 34464 more bytes not kept]"),
        "a 100 KB line is cut at 64 KiB and says so"
    );
    assert!(log.contains("stderr: still writing to stderr 20"), "{log}");
}

#[test]
fn a_run_log_that_cannot_be_written_never_stops_terraform() {
    let bot = BotFixture::with_fake_terraform();
    // Every write to the run's log fails with ENOSPC, as on a full disk.
    let run_dir = bot.state_dir().join("runs/1");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::os::unix::fs::symlink("/dev/full", run_dir.join("terraform.log")).unwrap();
    let (code, text, _) = exec_with_mode(&bot, "ok", &["up", "small"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("[local] up small: succeeded — 0 added, 1 changed, 0 destroyed"),
        "{text}"
    );
    assert!(
        calls(&bot).contains("finished apply"),
        "Terraform ran to its end"
    );
    assert!(
        text.contains("line(s) of the run log could not be written (No space left on device"),
        "the lost lines are noted: {text}"
    );
}

#[test]
fn an_apply_that_dies_without_reporting_its_end_is_state_unknown() {
    let bot = BotFixture::with_fake_terraform();
    let (code, text, _) = exec_with_mode(&bot, "vanish", &["up", "small"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("[local] up small: failed — state unknown, check `plan`"),
        "{text}"
    );
    assert!(text.contains("killed by signal 9"), "{text}");
    assert!(
        !text.contains("failed before applying anything"),
        "never claims nothing was applied: {text}"
    );
}

#[test]
fn terraform_starts_with_an_allow_listed_environment() {
    let bot = BotFixture::with_fake_terraform();
    let dump = bot.dir.path().join("env-dump");
    let dump_text = dump.display().to_string();
    let (code, text, _) = exec_with_env(
        &bot,
        &[
            ("FAKE_TF_ENV_DUMP", dump_text.as_str()),
            ("SLACK_BOT_TOKEN", "xoxb-not-for-terraform"),
            ("SLACK_SIGNING_SECRET", "signing-not-for-terraform"),
            ("SLACK_APP_TOKEN", "xapp-not-for-terraform"),
            ("AWS_ACCESS_KEY_ID", "AKIAFORTERRAFORM0001"),
            ("AWS_REGION", "eu-west-1"),
            ("HTTPS_PROXY", "http://127.0.0.1:9"),
            ("LOADTEST_TEST_PASSTHROUGH", "passed-by-config"),
            ("SOME_OTHER_SERVICE_PASSWORD", "not-for-terraform"),
        ],
        &["up", "small"],
    );
    assert_eq!(code, 0, "{text}");
    let dumped = std::fs::read(&dump).unwrap();
    let vars: Vec<String> = dumped
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    let has = |entry: &str| vars.iter().any(|v| v == entry);
    let names: std::collections::BTreeSet<&str> = vars
        .iter()
        .filter_map(|v| v.split_once('='))
        .map(|(k, _)| k)
        .collect();
    for secret in [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "SOME_OTHER_SERVICE_PASSWORD",
    ] {
        assert!(
            !names.contains(secret),
            "{secret} reached Terraform: {names:?}"
        );
    }
    assert!(has("AWS_ACCESS_KEY_ID=AKIAFORTERRAFORM0001"), "{names:?}");
    assert!(has("AWS_REGION=eu-west-1"), "{names:?}");
    assert!(has("HTTPS_PROXY=http://127.0.0.1:9"), "{names:?}");
    assert!(
        has("LOADTEST_TEST_PASSTHROUGH=passed-by-config"),
        "{names:?}"
    );
    assert!(
        names.contains("PATH") && names.contains("TF_DATA_DIR"),
        "{names:?}"
    );
}
