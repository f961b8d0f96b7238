//! Tests that read like a person using Slack: a [`World`] is the fake Slack, a bound bot
//! fixture and `serve` running between them; `world.user("U0CAROL").slash("up small")` is what
//! Carol types, its [`Answer`] what Carol sees, `world.channel(CHANNEL).last_message()` what the
//! channel shows. The wire format stays in the fake and in `serve.rs`.

use crate::support::bot::BotFixture;
use crate::support::fake_slack::{
    app_mention_payload, get, post_form, slash_command_form, slash_command_payload, FakeSlack,
    SlackMessage,
};
use crate::support::serve::{bound_fixture, post_signed, signed_headers, Mode, Serve, SECRET};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The fake Slack, the bot's files and the running `serve`.
pub struct World {
    pub fake: FakeSlack,
    pub bot: BotFixture,
    pub serve: Serve,
    pub mode: Mode,
}

/// What the person who typed a slash command sees at once.
#[derive(Debug)]
pub struct Answer {
    /// The answer's text as Slack shows it (top-level text, then its blocks' text).
    pub text: String,
    /// In the channel for everyone, or only to the requester.
    pub in_channel: bool,
    /// From sending the command to the answer (Slack gives up after 3 s).
    pub took: Duration,
}

impl World {
    /// The bot bound to the test channel, with `config` appended to its configuration.
    pub fn start(mode: Mode, config: &str) -> World {
        World::start_with(FakeSlack::start(), mode, config)
    }

    /// Like [`World::start`], on a fake Slack the test has prepared (user groups, failures).
    pub fn start_with(fake: FakeSlack, mode: Mode, config: &str) -> World {
        World::start_with_env(fake, mode, config, "")
    }

    /// Like [`World::start_with`], with `env_keys` (TOML lines) added to the environment's
    /// own section.
    pub fn start_with_env(fake: FakeSlack, mode: Mode, config: &str, env_keys: &str) -> World {
        let bot = bound_fixture();
        let text = std::fs::read_to_string(bot.config_path())
            .unwrap()
            .replacen(
                "default = true\n",
                &format!("default = true\n{env_keys}\n"),
                1,
            );
        std::fs::write(bot.config_path(), text).unwrap();
        bot.append_config(config);
        let is_socket = matches!(mode, Mode::Socket);
        let serve = Serve::start(&bot, &fake, mode_copy(&mode), &[]);
        if is_socket {
            fake.wait_for_socket(Duration::from_secs(20));
        }
        World {
            fake,
            bot,
            serve,
            mode,
        }
    }

    pub fn user(&self, id: &str) -> User<'_> {
        User {
            world: self,
            id: id.to_string(),
        }
    }

    pub fn channel(&self, id: &str) -> Channel<'_> {
        Channel {
            world: self,
            id: id.to_string(),
        }
    }

    /// `GET /metrics` as text.
    pub fn metrics(&self) -> String {
        let (status, body) = get(&format!("{}/metrics", self.serve.base_url));
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits until the bot has read every configured user group from Slack at least once.
    pub fn wait_until_groups_are_read(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self
            .metrics()
            .contains("\nloadtest_slack_user_groups_unread 0\n")
        {
            assert!(
                Instant::now() < deadline,
                "the bot never read its user groups"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn mode_copy(mode: &Mode) -> Mode {
    match mode {
        Mode::Socket => Mode::Socket,
        Mode::Http => Mode::Http,
    }
}

/// A person in the workspace.
pub struct User<'a> {
    world: &'a World,
    pub id: String,
}

impl User<'_> {
    /// Types `/loadtest {text}` in the test channel.
    pub fn slash(&self, text: &str) -> Answer {
        self.slash_in(crate::support::serve::CHANNEL, text)
    }

    /// Types `/loadtest {text}` in `channel`.
    pub fn slash_in(&self, channel: &str, text: &str) -> Answer {
        let world = self.world;
        let started = Instant::now();
        let payload = match world.mode {
            Mode::Socket => {
                let envelope = world.fake.send_envelope(
                    "slash_commands",
                    slash_command_payload(&self.id, channel, text),
                );
                let (ack, _) = world.fake.wait_for_ack(&envelope, Duration::from_secs(10));
                ack["payload"].clone()
            }
            Mode::Http => {
                let form = slash_command_form(&self.id, channel, text);
                let (status, body) = post_signed(&world.serve, "/slack/commands", &form);
                assert_eq!(status, 200, "{body}");
                serde_json::from_str(&body).unwrap_or(Value::Null)
            }
        };
        Answer {
            text: shown_text(&payload),
            in_channel: payload["response_type"] == "in_channel",
            took: started.elapsed(),
        }
    }

    /// `@loadtest-bot {text}` in the test channel, as an Events API delivery (`retry` is
    /// Slack's `X-Slack-Retry-Num`, HTTP mode; Socket Mode redelivers the same envelope).
    pub fn mention(&self, text: &str, event_id: &str, retry: u32) {
        let mut event = app_mention_payload(&self.id, crate::support::serve::CHANNEL, text);
        event["event_id"] = Value::String(event_id.to_string());
        self.deliver_event(event, retry);
    }

    /// Shares a file called `name` in the test channel (Slack then sends `file_shared`).
    pub fn share_file(&self, name: &str, content: &[u8]) {
        let event =
            self.world
                .fake
                .share_file(&self.id, crate::support::serve::CHANNEL, name, content);
        self.deliver_event(event, 0);
    }

    /// An Events API delivery of `event`, acknowledged before this returns.
    fn deliver_event(&self, event: Value, retry: u32) {
        let world = self.world;
        let event_id = event["event_id"].as_str().unwrap_or_default().to_string();
        match world.mode {
            Mode::Socket => {
                let envelope = world.fake.send_envelope_with_id(
                    "events_api",
                    event,
                    &format!("env-{event_id}"),
                    retry,
                );
                world.fake.wait_for_ack(&envelope, Duration::from_secs(5));
            }
            Mode::Http => {
                let body = event.to_string();
                let now = chrono::Utc::now().timestamp();
                let mut headers = signed_headers(now, &body, SECRET);
                headers.push(("Content-Type", "application/json".to_string()));
                if retry > 0 {
                    headers.push(("X-Slack-Retry-Num", retry.to_string()));
                    headers.push(("X-Slack-Retry-Reason", "http_timeout".to_string()));
                }
                let (status, answer) = post_form(
                    &format!("{}/slack/events", world.serve.base_url),
                    &headers,
                    &body,
                );
                assert_eq!(status, 200, "{answer}");
            }
        }
    }

    /// The direct messages the bot sent this person.
    pub fn direct_messages(&self) -> Vec<SlackMessage> {
        self.world.fake.messages(&self.id)
    }
}

/// A channel of the workspace.
pub struct Channel<'a> {
    world: &'a World,
    pub id: String,
}

impl Channel<'_> {
    pub fn messages(&self) -> Vec<SlackMessage> {
        self.world.fake.messages(&self.id)
    }

    pub fn last_message(&self) -> Option<SlackMessage> {
        self.messages().pop()
    }

    /// The first message (as it stands now) that `pred` accepts, waiting up to 30 s.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&SlackMessage) -> bool) -> SlackMessage {
        let id = self.id.clone();
        self.world
            .fake
            .wait_for_message(what, Duration::from_secs(30), |m| {
                m.channel == id && pred(m)
            })
    }
}

/// An ack payload's text as a person reads it: the text, then every text in its blocks.
fn shown_text(payload: &Value) -> String {
    let mut parts = vec![payload["text"].as_str().unwrap_or_default().to_string()];
    fn walk(value: &Value, parts: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(text)) = map.get("text") {
                    parts.push(text.clone());
                }
                map.values().for_each(|v| walk(v, parts));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, parts)),
            _ => {}
        }
    }
    walk(&payload["blocks"], &mut parts);
    parts.join("\n")
}
