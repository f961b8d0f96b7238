//! The bot on a host it shares, through the real binary: `serve` refuses to start open by
//! accident (no `[access]`), `check` warns about what works but is open wider than it should
//! be (unbound environments, a state directory others can read), and what a run leaves in the
//! state directory is private to the bot's user.

use crate::support::bot::BotFixture;
use std::os::unix::fs::PermissionsExt;

/// Starts `serve` and waits for it to exit; one still serving after 10 s is stopped and the
/// test fails (a bot that started open would serve forever).
fn serve_once(bot: &BotFixture) -> (i32, String) {
    let config = bot.config_path().display().to_string();
    let mut child = bot
        .command(&["--config", &config, "serve"])
        .env("SLACK_BOT_TOKEN", "xoxb-test-token")
        .env("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5")
        .env("SLACK_API_URL", "http://127.0.0.1:9/api")
        .env("LOADTEST_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("serve started without [access] and kept serving");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn serve_refuses_to_start_without_access_unless_open_access_is_written() {
    let bot = BotFixture::with_recording_terraform();
    let (code, stderr) = serve_once(&bot);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("`serve` refuses to start without [access]"),
        "{stderr}"
    );
    assert!(stderr.contains("open_access = true"), "says how: {stderr}");
    assert!(
        !bot.state_dir().join("loadtest.db").exists(),
        "nothing was started"
    );
}

#[test]
fn check_warns_about_unbound_environments_and_a_wide_state_directory() {
    let bot = BotFixture::with_recording_terraform();
    std::fs::create_dir_all(bot.state_dir()).unwrap();
    std::fs::set_permissions(bot.state_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = bot.config_path().display().to_string();
    let result = bot.run(&["--config", &config, "check"]);
    let text = format!("{}{}", result.stdout, result.stderr);
    assert!(
        text.contains(
            "loadtest.toml: environments.local: no `channels`: commands for `local` are accepted from any channel or DM"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "warning: the state directory {} is mode 0755",
            bot.state_dir().display()
        )),
        "{text}"
    );
    assert!(
        text.contains("warning: ") && text.contains("refuses to start without [access]"),
        "{text}"
    );
}

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn what_a_run_leaves_in_the_state_directory_is_private() {
    let bot = BotFixture::with_fake_terraform();
    let config = bot.config_path().display().to_string();
    // The test runner's umask is usually 022: the bot sets its own.
    let result = bot.run(&["--config", &config, "exec", "--", "up", "small"]);
    assert_eq!(result.code, 0, "{result:?}");
    let state = bot.state_dir();
    for dir in [
        "",
        "runs",
        "runs/1",
        "envs",
        "envs/local",
        "envs/local/tf-data",
        "locks",
    ] {
        assert_eq!(mode_of(&state.join(dir)), 0o700, "{dir}/");
    }
    // SQLite's -wal and -shm exist only while a connection is open; checked when present.
    for extra in ["loadtest.db-wal", "loadtest.db-shm"] {
        if state.join(extra).exists() {
            assert_eq!(mode_of(&state.join(extra)), 0o600, "{extra}");
        }
    }
    for file in [
        "loadtest.db",
        "runs/1/terraform.log",
        "runs/1/vars.tfvars.json",
        "envs/local/tf-data/loadtest-init.sha256",
        "locks/local.lock",
    ] {
        assert_eq!(mode_of(&state.join(file)), 0o600, "{file}");
    }
    // The saved plan embeds the prior state: once applied it is deleted, and forgotten.
    assert!(!state.join("runs/1/plan.tfplan").exists());
    let run = bot
        .store()
        .get_run(loadtest_bot::model::RunId(1))
        .unwrap()
        .unwrap();
    assert_eq!(run.plan_path, None);
}

#[test]
fn backend_settings_reach_terraform_in_a_private_file_and_are_masked() {
    let bot = BotFixture::with_fake_terraform();
    let bucket = "tfstate-loadtest-private-4242";
    let role = "arn:aws:iam::123456789012:role/loadtest-state-writer";
    let text = std::fs::read_to_string(bot.config_path())
        .unwrap()
        .replacen(
            "default = true\n",
            &format!(
            "default = true\nbackend_config = {{ bucket = \"{bucket}\", role_arn = \"{role}\" }}\n"
        ),
            1,
        );
    std::fs::write(bot.config_path(), text).unwrap();
    let config = bot.config_path().display().to_string();
    let output = bot
        .command(&["--config", &config, "exec", "--", "up", "small"])
        .env("FAKE_TF_CALLS", bot.dir.path().join("calls"))
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{answer}");
    let file = bot.state_dir().join("envs/local/backend-config.hcl");
    let calls = std::fs::read_to_string(bot.dir.path().join("calls")).unwrap();
    let init = calls.lines().find(|l| l.starts_with("init")).unwrap();
    assert!(
        init.ends_with(&format!("-backend-config={}", file.display())),
        "{init}"
    );
    for value in [bucket, role] {
        assert!(!calls.contains(value), "on the command line: {calls}");
        assert!(!answer.contains(value), "in the answer: {answer}");
    }
    assert_eq!(mode_of(&file), 0o600);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("bucket = \"{bucket}\"\nrole_arn = \"{role}\"\n")
    );
    let log = std::fs::read_to_string(bot.state_dir().join("runs/1/terraform.log")).unwrap();
    assert!(log.contains("backend settings from"), "{log}");
    assert!(!log.contains(bucket) && !log.contains(role), "{log}");
    assert!(log.contains("bucket = \"***\""), "{log}");
}
