//! The bot end to end in the local console, against real Terraform and a real moto:
//! `shell` with `up small` → `status` while it runs → `up large` queued → `cancel` →
//! lease end → `down` by the scheduler → `history`, an `exec` from a second process waiting for the shell's run instead
//! of applying alongside it, and a failing apply that reports Terraform's diagnostic and
//! leaves the environment usable. One environment lifecycle covers all of it, because moto
//! needs seconds per instance.

use crate::support::bot::BotFixture;
use crate::support::moto::MotoServer;
use crate::support::shell::Shell;
use std::process::Stdio;
use std::time::Duration;

fn run_id_in(line: &str) -> i64 {
    let start = line.find("run #").expect("line names a run") + 5;
    line[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .unwrap()
}

const APPLY_LIMIT: Duration = Duration::from_secs(600);

#[test]
fn shell_session_queue_cancel_history_and_a_concurrent_exec_against_moto() {
    let tree_before = crate::support::terraform_tree_snapshot();
    let moto = MotoServer::start();
    let bot = BotFixture::with_terraform(&moto.endpoint(), "", "");
    // A test-only variable set that the emulator refuses at apply time: one more slave of an
    // instance type that does not exist. The plan succeeds (Terraform cannot know); the
    // autoscaling group's launch fails with AWS's InvalidInstanceType. (Failures that
    // replace the master or monitoring hosts are no good here: moto keeps a terminated
    // instance's fixed private IP, so their re-creation would fail forever.)
    bot.extra_sizes(
        r#"
[broken]
description = "test only: a slave instance type the emulator does not have"
est_hourly_usd = 0.5
[broken.variables]
jmeter_master_enabled = true
jmeter_master_instance_type = "c5.large"
jmeter_slave_count = 3
jmeter_slave_instance_type = "c5.humongous"
monitoring = "basic"
"#,
    );
    let mut shell = Shell::start(&bot);

    // up small: accepted at once, then progress while Terraform works.
    shell.send("up small");
    let ack = shell.wait_for("[local] up small: run #", Duration::from_secs(30));
    let small_run = run_id_in(&ack);
    shell.wait_for("plan", Duration::from_secs(120));

    // Another process on the same state directory: it must wait for the shell's run.
    let config = bot.config_path().display().to_string();
    let exec = bot
        .command(&["--config", &config, "exec", "--", "up", "small"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // status while it runs: the running job with its phase.
    let mark = shell.transcript.len();
    shell.send("status");
    shell.wait_for("running (", Duration::from_secs(90));
    let status_text = shell.since(mark);
    assert!(
        status_text.contains(&format!("#{small_run}")),
        "status shows the running run:\n{status_text}"
    );

    // up large: queued behind it, then cancelled before it starts.
    shell.send("up large");
    let queued = shell.wait_for("[local] up large: run #", Duration::from_secs(30));
    assert!(queued.contains("queued"), "{queued}");
    let large_run = run_id_in(&queued);
    shell.send("cancel");
    let cancelled = shell.wait_for("cancelled queued run", Duration::from_secs(30));
    assert!(cancelled.contains(&format!("#{large_run}")), "{cancelled}");

    // The first run ends; the emulator really runs two slaves.
    let done = shell.wait_for("[local] up small: succeeded —", APPLY_LIMIT);
    assert!(
        done.contains(" added, 0 changed, 0 destroyed"),
        "the text carries Terraform's counts: {done}"
    );
    let inventory = moto.inventory("local");
    assert_eq!(inventory.running("jmeter-master"), 1, "{inventory:?}");
    assert_eq!(inventory.running("jmeter-slave"), 2, "{inventory:?}");
    assert_eq!(inventory.slave_desired_capacity(), Some(2), "{inventory:?}");

    // The exec waited for the environment, then changed only what its own, later lease moves:
    // the slaves' lease backstop (one scheduled action updated in place).
    let exec_output = exec.wait_with_output().unwrap();
    let exec_stdout = String::from_utf8_lossy(&exec_output.stdout);
    assert_eq!(
        exec_output.status.code(),
        Some(0),
        "exec: {exec_stdout}\n{}",
        String::from_utf8_lossy(&exec_output.stderr)
    );
    assert!(
        exec_stdout.contains("waiting for another process"),
        "exec waited: {exec_stdout}"
    );
    assert!(
        exec_stdout.contains("up small: succeeded — 0 added, 1 changed, 0 destroyed"),
        "exec only moved the backstop: {exec_stdout}"
    );
    let store = bot.store();
    let runs = store.recent_runs(None, 20).unwrap();
    let first = runs.iter().find(|r| r.id.0 == small_run).unwrap();
    let exec_run = runs
        .iter()
        .find(|r| r.verb == "up" && r.id.0 != small_run && r.id.0 != large_run)
        .expect("the exec's run is recorded");
    assert!(
        exec_run.started_at.unwrap() >= first.finished_at.unwrap(),
        "the exec's run started only after the shell's run ended: {exec_run:?} vs {first:?}"
    );

    // A failing apply: Terraform's diagnostic in the answer, the environment still usable.
    let mark = shell.transcript.len();
    shell.send("up broken");
    shell.wait_for("[local] up broken: failed", APPLY_LIMIT);
    // The diagnostic (AWS's refusal of the instance type) follows the headline.
    shell.wait_for("c5.humongous", Duration::from_secs(10));
    let failure = shell.since(mark);
    assert!(
        failure.contains("Error"),
        "Terraform's diagnostic is shown:\n{failure}"
    );

    // The lease of `up small` (8h by default) runs out — moved to end in two seconds — and the
    // scheduler brings the environment down: the slaves go, the master and monitoring stay.
    let env = loadtest_bot::model::EnvName::new("local");
    let mut lease = bot
        .store()
        .get_lease(&env)
        .unwrap()
        .expect("up small set a lease");
    lease.expires_at = chrono::Utc::now() + chrono::Duration::seconds(2);
    bot.store().set_lease(&lease).unwrap();
    shell.wait_for("[local] down: succeeded", APPLY_LIMIT);
    shell.wait_for("requested by scheduler", Duration::from_secs(10));
    assert!(
        bot.store().get_lease(&env).unwrap().is_none(),
        "the lease is gone"
    );
    let inventory = moto.inventory("local");
    assert_eq!(inventory.running("jmeter-slave"), 0, "{inventory:?}");
    assert_eq!(inventory.running("jmeter-master"), 1, "{inventory:?}");

    // history: newest first, every run with its outcome.
    let mark = shell.transcript.len();
    shell.send("history");
    shell.wait_for(&format!("#{small_run}"), Duration::from_secs(30));
    let (code, transcript) = shell.close();
    assert_eq!(code, 0, "{transcript}");
    let history: String = transcript.lines().skip(mark).collect::<Vec<_>>().join("\n");
    for (run, outcome) in [(small_run, "succeeded"), (large_run, "cancelled")] {
        let line = history
            .lines()
            .find(|l| l.contains(&format!("#{run}")))
            .unwrap_or_else(|| panic!("history lacks run #{run}:\n{history}"));
        assert!(
            line.contains(outcome),
            "run #{run} should be {outcome}: {line}"
        );
    }
    assert!(history.contains("up broken"), "{history}");
    assert!(history.contains("failed"), "{history}");

    // Nothing was written into the source tree.
    assert_eq!(
        crate::support::terraform_tree_snapshot(),
        tree_before,
        "files appeared under terraform/"
    );
}
