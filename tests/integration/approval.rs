//! Approval by typed command (`approve <run>` / `reject <run>`), the console's stand-in for
//! Slack's buttons: a run that needs approval stops at `awaiting approval` with its plan
//! saved; only an approver other than the requester can apply it; the exact saved plan is
//! applied once; a second approval, a rejected run and an expired one are refused.

use crate::support::bot::BotFixture;
use loadtest_bot::model::{RunId, RunOutcome};

const POLICY: &str = r#"
[access]
admins = ["U0ADMIN"]
operators = ["U0OPS", "U0LEAD"]

[approval]
required_for = ["up:large"]
approvers = ["U0LEAD", "U0ADMIN"]
expires = "30m"
"#;

fn fixture() -> BotFixture {
    let bot = BotFixture::with_fake_terraform();
    bot.append_config(POLICY);
    bot
}

fn exec_as(bot: &BotFixture, user: &str, words: &[&str]) -> (i32, String) {
    let config = bot.config_path().display().to_string();
    let mut args = vec!["--config", config.as_str(), "exec", "--as", user, "--"];
    args.extend_from_slice(words);
    let output = bot
        .command(&args)
        .env("FAKE_TF_CALLS", bot.dir.path().join("calls"))
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn applies(bot: &BotFixture) -> Vec<String> {
    std::fs::read_to_string(bot.dir.path().join("calls"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("apply"))
        .map(str::to_string)
        .collect()
}

#[test]
fn an_approval_round_trip_applies_the_saved_plan_exactly_once() {
    let bot = fixture();
    let (code, text) = exec_as(&bot, "U0OPS", &["up", "large"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("[local] up large: awaiting approval"),
        "{text}"
    );
    assert!(applies(&bot).is_empty(), "nothing applied before approval");
    let run = bot.store().get_run(RunId(1)).unwrap().unwrap();
    assert_eq!(run.outcome, RunOutcome::AwaitingApproval);
    let plan = run.plan_path.clone().expect("the plan is saved");

    // The requester cannot approve their own run; an operator who is no approver neither.
    let (code, text) = exec_as(&bot, "U0OPS", &["approve", "1"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("rejected"), "{text}");
    assert!(applies(&bot).is_empty());

    // An approver applies exactly the saved plan.
    let (code, text) = exec_as(&bot, "U0LEAD", &["approve", "#1"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("[local] up large: succeeded"), "{text}");
    assert_eq!(
        applies(&bot),
        vec![format!(
            "apply -json -input=false -auto-approve {}",
            plan.display()
        )]
    );
    let run = bot.store().get_run(RunId(1)).unwrap().unwrap();
    assert_eq!(run.outcome, RunOutcome::Succeeded);
    assert_eq!(run.approved_by.unwrap().as_str(), "U0LEAD");

    // A second click changes nothing.
    let (code, text) = exec_as(&bot, "U0ADMIN", &["approve", "1"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("not awaiting approval") || text.contains("already"),
        "{text}"
    );
    assert_eq!(applies(&bot).len(), 1);
}

#[test]
fn a_rejected_plan_is_never_applied_and_an_expired_one_cannot_be_approved() {
    let bot = fixture();
    let (code, _) = exec_as(&bot, "U0OPS", &["up", "large"]);
    assert_eq!(code, 0);
    let (code, text) = exec_as(&bot, "U0LEAD", &["reject", "1"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("rejected"), "{text}");
    let (code, text) = exec_as(&bot, "U0ADMIN", &["approve", "1"]);
    assert_eq!(code, 2, "{text}");
    assert_eq!(
        bot.store().get_run(RunId(1)).unwrap().unwrap().outcome,
        RunOutcome::Rejected
    );

    // A second request, whose approval window is made to lapse.
    let (code, _) = exec_as(&bot, "U0OPS", &["up", "large"]);
    assert_eq!(code, 0);
    bot.store()
        .await_approval(RunId(2), chrono::Utc::now() - chrono::Duration::minutes(1))
        .unwrap();
    let (code, text) = exec_as(&bot, "U0LEAD", &["approve", "2"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("expired"), "{text}");
    assert!(applies(&bot).is_empty(), "neither run was applied");
    // Runs that need no approval go straight through.
    let (code, text) = exec_as(&bot, "U0OPS", &["up", "small"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("succeeded"), "{text}");
}

/// Holds `<state>/locks/<env>.lock` as another process would while it runs a job there.
struct HeldEnvLock {
    /// Open while the lock is held; closing it releases the lock.
    _file: std::fs::File,
}

impl HeldEnvLock {
    fn take(bot: &BotFixture, env: &str) -> HeldEnvLock {
        use std::os::fd::AsRawFd;
        let dir = bot.state_dir().join("locks");
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{env}.lock")))
            .unwrap();
        // SAFETY: flock on a descriptor this test owns.
        assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }, 0);
        HeldEnvLock { _file: file }
    }
}

#[test]
fn an_approved_run_marked_interrupted_by_another_process_is_never_applied() {
    let bot = fixture();
    let (code, text) = exec_as(&bot, "U0OPS", &["up", "large"]);
    assert_eq!(code, 0, "{text}");
    // The approval is taken, then the job waits for the environment's lock.
    let lock = HeldEnvLock::take(&bot, "local");
    let config = bot.config_path().display().to_string();
    let approver = bot
        .command(&[
            "--config", &config, "exec", "--as", "U0LEAD", "--", "approve", "1",
        ])
        .env("FAKE_TF_CALLS", bot.dir.path().join("calls"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let run = bot.store().get_run(RunId(1)).unwrap().unwrap();
        if run.approved_by.is_some() {
            assert_eq!(run.outcome, RunOutcome::Queued);
            assert_eq!(
                run.owner_pid,
                Some(approver.id()),
                "the approver owns the run"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never approved");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Another process (a restarted serve, an operator's script) marks it interrupted.
    bot.store()
        .update_outcome(RunId(1), RunOutcome::Interrupted, chrono::Utc::now())
        .unwrap();
    drop(lock);
    let output = approver.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(applies(&bot).is_empty(), "applied anyway: {text}");
    assert!(
        text.contains("was marked interrupted by another process before Terraform started"),
        "{text}"
    );
    assert_eq!(
        bot.store().get_run(RunId(1)).unwrap().unwrap().outcome,
        RunOutcome::Interrupted,
        "the other process's record stands"
    );
}
