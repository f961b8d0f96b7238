//! `loadtest-bot serve` as a child process next to the fake Slack: starting and stopping it,
//! and the ways a test talks to it as Slack would (Socket Mode envelopes, signed HTTP
//! requests), plus what the fake Terraform was asked to do.

use crate::support::bot::BotFixture;
use crate::support::fake_slack::{
    block_kit, post_form, slack_signature, slash_command_payload, FakeSlack, SlackMessage,
};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CHANNEL: &str = "C0LOADTEST";
pub const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

pub enum Mode {
    Socket,
    Http,
}

/// A running `serve` process; stopped with SIGTERM when dropped.
pub struct Serve {
    pub child: Child,
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// `http://127.0.0.1:PORT` of its listener.
    pub base_url: String,
}

impl Serve {
    pub fn start(bot: &BotFixture, fake: &FakeSlack, mode: Mode, env: &[(&str, String)]) -> Serve {
        // `serve` refuses to start without [access]; a test that wrote none runs it open, by
        // saying so as an operator would.
        if !std::fs::read_to_string(bot.config_path())
            .unwrap()
            .contains("[access]")
        {
            bot.append_config("[access]\nopen_access = true\n");
        }
        let config = bot.config_path().display().to_string();
        let mut command = bot.command(&["--config", &config, "serve"]);
        command
            .env("SLACK_BOT_TOKEN", "xoxb-test-token")
            .env("SLACK_API_URL", fake.api_url())
            .env("LOADTEST_LISTEN", "127.0.0.1:0")
            .env("FAKE_TF_CALLS", bot.dir.path().join("calls"))
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        match mode {
            Mode::Socket => command.env("SLACK_APP_TOKEN", "xapp-test-token"),
            Mode::Http => command.env("SLACK_SIGNING_SECRET", SECRET),
        };
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the bot binary starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let reader = child.stderr.take().unwrap();
        let lines = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("loadtest-bot: serving on ") {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = address_tx.send(url);
                }
                lines.lock().unwrap().push(line);
            }
        });
        let base_url = match address_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "serve did not start:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
        };
        Serve {
            child,
            stderr,
            base_url,
        }
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// SIGTERM, then the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        self.terminate();
        self.wait_exit(Duration::from_secs(20))
    }

    pub fn terminate(&self) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
    }

    /// The exit code, or `None` (and a kill) if it did not exit in time.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A slash command through the Socket Mode connection: the bot's ack and how long it took.
pub fn slash_over_socket(
    fake: &FakeSlack,
    user: &str,
    channel: &str,
    text: &str,
) -> (Value, Duration) {
    let envelope = fake.send_envelope("slash_commands", slash_command_payload(user, channel, text));
    fake.wait_for_ack(&envelope, Duration::from_secs(5))
}

pub fn signed_headers(timestamp: i64, body: &str, secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X-Slack-Request-Timestamp", timestamp.to_string()),
        (
            "X-Slack-Signature",
            slack_signature(secret, &timestamp.to_string(), body),
        ),
    ]
}

/// A signed post to `serve`; a slash command's answer (the ack Slack shows) must be a
/// message Slack takes.
pub fn post_signed(serve: &Serve, path: &str, body: &str) -> (u16, String) {
    let now = chrono::Utc::now().timestamp();
    let (status, answer) = post_form(
        &format!("{}{path}", serve.base_url),
        &signed_headers(now, body, SECRET),
        body,
    );
    if path == "/slack/commands" && status == 200 {
        if let Ok(payload) = serde_json::from_str::<Value>(&answer) {
            if let Err(refusal) = block_kit::check_response_payload(&payload) {
                panic!(
                    "Slack would refuse this ack: {}\n{answer}",
                    refusal.answer()
                );
            }
        }
    }
    (status, answer)
}

pub fn interaction_form(payload: &Value) -> String {
    format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(payload.to_string().as_bytes()).collect::<String>()
    )
}

pub fn block_text(message: &SlackMessage) -> String {
    format!("{}\n{}", message.text, message.blocks)
}

/// How many of the fake Terraform's calls so far satisfy `matching`.
pub fn terraform_calls(bot: &BotFixture, matching: impl Fn(&str) -> bool) -> usize {
    std::fs::read_to_string(bot.dir.path().join("calls"))
        .unwrap_or_default()
        .lines()
        .filter(|line| matching(line))
        .count()
}

pub fn applies(bot: &BotFixture) -> usize {
    terraform_calls(bot, |line| line.starts_with("apply"))
}

/// `terraform show -json` of the state (not of a plan file) so far.
pub fn state_reads(bot: &BotFixture) -> usize {
    terraform_calls(bot, |line| line.trim() == "show -json -no-color")
}

pub fn bound_fixture() -> BotFixture {
    bind_to_test_channel(BotFixture::with_fake_terraform())
}

/// Binds the fixture's environment to the test channel, as a team would.
pub fn bind_to_test_channel(bot: BotFixture) -> BotFixture {
    let text = std::fs::read_to_string(bot.config_path()).unwrap().replace(
        "default = true\n",
        &format!("default = true\nchannels = [\"{CHANNEL}\"]\n"),
    );
    std::fs::write(bot.config_path(), text).unwrap();
    bot
}
