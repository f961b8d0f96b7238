//! `exec` with bad input, denied commands and bad configs: each exits 2 with a specific answer
//! and starts no Terraform process (the configured binary is a recorder that would leave a
//! file behind if it ever ran).

use crate::support::bot::{BotFixture, ExecResult};

fn assert_rejected(result: &ExecResult, expected_fragment: &str) {
    assert_eq!(
        result.code,
        2,
        "expected exit 2 for {:?}\nstdout:\n{}\nstderr:\n{}",
        result
            .command
            .join(" ")
            .chars()
            .take(120)
            .collect::<String>(),
        result.stdout,
        result.stderr
    );
    let shown: String = result.command.join(" ").chars().take(120).collect();
    assert!(
        result.stdout.contains(expected_fragment),
        "answer to {shown:?} should contain {expected_fragment:?}, got:\n{}",
        result.stdout
    );
}

#[test]
fn bad_inputs_exit_2_with_a_specific_answer_and_start_no_terraform() {
    let bot = BotFixture::with_recording_terraform();
    let long_text = format!("status {}", "x".repeat(5_000));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["lanuch"], "unknown command"),
        (vec!["stauts"], "did you mean `status`"),
        (vec!["up", "lage"], "did you mean `large`"),
        (vec!["up", "huge"], "unknown size"),
        (vec!["up"], "up <size>"),
        (vec!["down", "now"], "down"),
        (vec!["up", "small", "for", "3x"], "not a duration"),
        (vec!["up", "small", "for", "0m"], "too short"),
        (vec!["up", "small", "for", "48h"], "24h"),
        (vec!["extend", "soon"], "not a duration"),
        (vec!["history", "0"], "1"),
        (vec!["status", "env=nowhere"], "unknown environment"),
        (vec!["status", "env=local", "env=local"], "env="),
        (vec!["up", "small;rm", "-rf", "/"], "size"),
        (vec!["up", "../../etc/passwd"], "size"),
        (vec!["up", "small", "-var", "x=1"], "-var"),
        (vec!["plan", "-chdir=/tmp"], "-chdir=/tmp"),
        (vec!["up", "ѕmall"], "only"),
        (vec!["status\u{7}"], "control"),
        (vec!["up\u{202e}small"], "control"),
        (vec!["approve", "abc"], "run"),
        (vec!["unlock", "--force"], "lock"),
        (vec![long_text.as_str()], "over 1000 characters"),
    ];
    for (words, expected) in &cases {
        let result = bot.exec(words);
        assert_rejected(&result, expected);
    }
    assert!(
        !bot.terraform_was_called(),
        "bad input must never start Terraform; calls: {}",
        bot.terraform_calls()
    );
    // Every one of them is audited.
    let audited = bot.audit_decisions();
    let bad_input_lines = audited
        .iter()
        .filter(|d| d.starts_with("bad input"))
        .count();
    assert_eq!(bad_input_lines, cases.len(), "audit: {audited:#?}");
}

#[test]
fn denied_commands_name_the_role_needed_and_are_audited() {
    let bot = BotFixture::with_recording_terraform_and_access();
    // U0VIEWER is only a viewer: it may read, not scale.
    let result = bot.exec_as("U0VIEWER", &["up", "small"]);
    assert_rejected(&result, "operator");
    // Nobody but an admin may take it off.
    let result = bot.exec_as("U0OPERATOR", &["off"]);
    assert_rejected(&result, "admin");
    // Nor refresh the image.
    let result = bot.exec_as("U0OPERATOR", &["refresh-image"]);
    assert_rejected(&result, "admin");
    // A viewer may see the sizes.
    let result = bot.exec_as("U0VIEWER", &["sizes"]);
    assert_eq!(result.code, 0, "{}", result.stdout);
    assert!(result.stdout.contains("large"), "{}", result.stdout);
    // Someone not in any list is told so.
    let result = bot.exec_as("U0STRANGER", &["status"]);
    assert_rejected(&result, "viewer");
    assert!(
        !bot.terraform_was_called(),
        "calls: {}",
        bot.terraform_calls()
    );
    let denied = bot
        .audit_decisions()
        .into_iter()
        .filter(|d| d.starts_with("denied"))
        .count();
    assert_eq!(denied, 4);
}

#[test]
fn help_and_sizes_answer_without_terraform() {
    let bot = BotFixture::with_recording_terraform();
    let help = bot.exec(&["help"]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    for verb in [
        "up <size>",
        "down",
        "off",
        "plan",
        "status",
        "history",
        "extend",
        "hold",
        "schedule",
        "cancel",
        "approve",
        "reject",
        "unlock",
        "sizes",
    ] {
        assert!(
            help.stdout.contains(verb),
            "help lacks {verb}:\n{}",
            help.stdout
        );
    }
    let sizes = bot.exec(&["sizes"]);
    assert_eq!(sizes.code, 0);
    for size in ["off", "down", "small", "medium", "large"] {
        assert!(
            sizes.stdout.contains(size),
            "sizes lacks {size}:\n{}",
            sizes.stdout
        );
    }
    assert!(
        sizes.stdout.contains("$"),
        "sizes shows the hourly estimate:\n{}",
        sizes.stdout
    );
    assert!(!bot.terraform_was_called());
}

#[test]
fn check_names_the_file_and_key_of_each_problem_and_exits_2() {
    let bot = BotFixture::with_recording_terraform();
    let broken = bot.write_config(
        "broken.toml",
        r#"
[terraform]
binary = "terraform"
[store]
dir = "state"
[environments.local]
terraform_dir = "terraform/envs/local"
max_lease = "forever"
timezone = "Mars/Olympus"
[access]
superusers = ["U1"]
"#,
    );
    let result = bot.run(&["--config", broken.to_str().unwrap(), "check"]);
    assert_eq!(result.code, 2, "{}\n{}", result.stdout, result.stderr);
    let all = format!("{}{}", result.stdout, result.stderr);
    assert!(all.contains("broken.toml"), "{all}");
    assert!(all.contains("max_lease"), "{all}");
    assert!(all.contains("timezone"), "{all}");
    assert!(all.contains("superusers"), "{all}");
    // The same config refuses to start `exec` too, before anything runs.
    let result = bot.run(&["--config", broken.to_str().unwrap(), "exec", "--", "status"]);
    assert_eq!(result.code, 2);
    assert!(!bot.terraform_was_called());
}

#[test]
fn serve_without_slack_credentials_says_which_are_missing_and_exits_2() {
    let bot = BotFixture::with_recording_terraform();
    // serve refuses to start without [access]; this test is about the credentials.
    bot.append_config("[access]\nopen_access = true\n");
    let config = bot.config_path().to_str().unwrap().to_string();
    let result = bot.run(&["--config", &config, "serve"]);
    assert_eq!(result.code, 2);
    assert_eq!(result.stderr.trim().lines().count(), 1, "{}", result.stderr);
    assert!(
        result.stderr.contains("SLACK_BOT_TOKEN is not set"),
        "{}",
        result.stderr
    );
    // A bot token alone: neither Socket Mode nor HTTP mode can start.
    let output = bot
        .command(&["--config", &config, "serve"])
        .env("SLACK_BOT_TOKEN", "xoxb-test")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SLACK_SIGNING_SECRET"), "{stderr}");
    assert!(!bot.terraform_was_called());
}

#[test]
fn an_unusable_state_directory_is_a_clear_error_at_start() {
    let bot = BotFixture::with_recording_terraform();
    bot.append_config("[access]\nopen_access = true\n");
    let config = bot.config_path().display().to_string();
    let a_file = bot.dir.path().join("not-a-dir");
    std::fs::write(&a_file, "x").unwrap();
    for (state_dir, why) in [
        // Read-only even for root: nothing can be created under /proc.
        ("/proc/loadtest-state".to_string(), "read-only"),
        (a_file.display().to_string(), "a file"),
    ] {
        for args in [vec!["exec", "--", "status"], vec!["serve"]] {
            let mut full = vec!["--config", config.as_str()];
            full.extend(args.iter().copied());
            let output = bot
                .command(&full)
                .env("LOADTEST_STATE_DIR", &state_dir)
                .env("SLACK_BOT_TOKEN", "xoxb-test")
                .env("SLACK_SIGNING_SECRET", "secret")
                .env("LOADTEST_LISTEN", "127.0.0.1:0")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{why} {args:?}: {stderr}");
            assert!(
                stderr.contains("state directory"),
                "{why} {args:?}: {stderr}"
            );
            assert!(stderr.contains(&state_dir), "{why} {args:?}: {stderr}");
        }
    }
    assert!(!bot.terraform_was_called());
}
