//! The Slack front end's behaviour, shared by Socket Mode and HTTP mode: a decoded slash
//! command, button click or mention becomes a [`Request`] for the same [`App::handle`] the
//! console uses. Slash commands are answered within the ack budget (the reply rides on the
//! ack; a reply that takes longer follows as a message); clicks and mentions are acked at
//! once by the caller and handled here in the background.

use super::delivery::SlackOutlet;
use super::groups::GroupDirectory;
use crate::app::App;
use crate::model::{ChannelId, RunId, RunOutcome, SlackUserId};
use crate::outlet::Outlet;
use crate::policy::Actor;
use crate::render::Message;
use crate::request::{ExitClass, Reply, Request, Visibility};
use crate::slack::inbound::{ButtonClick, Mention, SlashCommand};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What goes back on the slash command's ack.
#[derive(Clone, Debug, PartialEq)]
pub struct AckReply {
    pub text: String,
    pub blocks: Vec<Value>,
    /// `in_channel` (accepted runs, answers) or `ephemeral` (errors, denials).
    pub in_channel: bool,
}

impl AckReply {
    fn from_message(message: Message, in_channel: bool) -> Self {
        Self {
            text: message.text,
            blocks: message.blocks,
            in_channel,
        }
    }

    /// The JSON body Slack expects in an HTTP-mode response or a Socket Mode ack payload.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.body()).unwrap_or_default()
    }

    /// [`AckReply::to_json`] as text, written straight from the reply (no copy of the blocks).
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(&self.body()).unwrap_or_default()
    }

    fn body(&self) -> AckBody<'_> {
        AckBody {
            response_type: if self.in_channel {
                "in_channel"
            } else {
                "ephemeral"
            },
            text: &self.text,
            blocks: &self.blocks,
        }
    }
}

#[derive(serde::Serialize)]
struct AckBody<'a> {
    response_type: &'static str,
    text: &'a str,
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    blocks: &'a [Value],
}

pub struct SlackFront {
    pub app: Arc<App>,
    pub outlet: Arc<SlackOutlet>,
    /// User-group memberships, refreshed in the background: reading them costs no Slack call.
    pub groups: Arc<GroupDirectory>,
    /// How long a slash command may take before its ack goes out without the answer (Slack
    /// allows 3 s; the rest is for the network).
    pub ack_budget: Duration,
    /// False while shutting down: commands are answered "restarting" and nothing starts.
    pub accepting: AtomicBool,
    /// Ack latencies and the rest of `/metrics` (the app's own).
    pub metrics: Arc<crate::metrics::Metrics>,
}

const RESTARTING: &str = "loadtest-bot is restarting; try again in a minute.";

impl SlackFront {
    fn actor(&self, user: &str) -> Actor {
        let id = SlackUserId::new(user.to_string());
        let lookup = self.groups.lookup(&id);
        Actor {
            unreadable_groups: lookup.unreadable,
            ..Actor::slack_in_groups(id, lookup.member_of)
        }
    }

    /// A slash command: the answer for its ack, within the budget.
    pub async fn slash_command(self: &Arc<Self>, command: SlashCommand) -> AckReply {
        let started = Instant::now();
        let reply = self.slash_command_inner(command).await;
        self.metrics.ack_latency.observe(started.elapsed());
        reply
    }

    async fn slash_command_inner(self: &Arc<Self>, command: SlashCommand) -> AckReply {
        if !self.accepting.load(Ordering::SeqCst) {
            return AckReply::from_message(self.app.notice(RESTARTING), false);
        }
        let channel = ChannelId(command.channel.clone());
        let user = SlackUserId::new(command.user.clone());
        let request = Request {
            actor: self.actor(&command.user),
            channel: channel.clone(),
            text: command.text,
        };
        let app = Arc::clone(&self.app);
        let mut work = tokio::spawn(async move { crate::pipeline::handle(&app, request).await });
        match tokio::time::timeout(self.ack_budget, &mut work).await {
            Ok(Ok(reply)) => ack_of(reply),
            Ok(Err(join_error)) => {
                tracing::error!(error = %join_error, "a slash command's handler panicked");
                AckReply::from_message(
                    self.app
                        .notice("the bot failed on this command; the error is in its log"),
                    false,
                )
            }
            Err(_) => {
                // Slower than the budget: ack now, answer when it is ready.
                let front = Arc::clone(self);
                tokio::spawn(async move {
                    if let Ok(reply) = work.await {
                        front.deliver_reply(&channel, &user, reply);
                    }
                });
                AckReply::from_message(self.app.notice("working on it…"), false)
            }
        }
    }

    /// Posts a reply as a message: to the channel, or only to the requester.
    fn deliver_reply(&self, channel: &ChannelId, user: &SlackUserId, reply: Reply) {
        match reply.visibility {
            Visibility::Channel => {
                self.outlet.post(channel, &reply.message);
            }
            Visibility::Requester => self.outlet.post_ephemeral(channel, user, &reply.message),
        }
    }

    /// `@loadtest-bot status`: like the slash command, answered in the channel (or only to
    /// the requester for errors).
    pub async fn mention(self: &Arc<Self>, mention: Mention) {
        let channel = ChannelId(mention.channel.clone());
        let user = SlackUserId::new(mention.user.clone());
        if self.refused_while_stopping(&channel, &user) {
            return;
        }
        let request = Request {
            actor: self.actor(&mention.user),
            channel: channel.clone(),
            text: mention.text,
        };
        let reply = crate::pipeline::handle(&self.app, request).await;
        self.deliver_reply(&channel, &user, reply);
    }

    /// While shutting down: tells the user to come back and returns true.
    fn refused_while_stopping(&self, channel: &ChannelId, user: &SlackUserId) -> bool {
        if self.accepting.load(Ordering::SeqCst) {
            return false;
        }
        self.outlet
            .post_ephemeral(channel, user, &self.app.notice(RESTARTING));
        true
    }

    /// A click on one of our buttons.
    pub async fn button_click(self: &Arc<Self>, click: ButtonClick) {
        let channel = ChannelId(click.channel.clone());
        let user = SlackUserId::new(click.user.clone());
        if self.refused_while_stopping(&channel, &user) {
            return;
        }
        let (text, decided_run) = match self.command_of(&click) {
            Ok(found) => found,
            Err(answer) => {
                self.app.audit_line(
                    &user,
                    &channel,
                    None,
                    &format!("button {} {:?}", click.action_id, click.value),
                    &format!("bad input: {answer}"),
                    None,
                );
                self.outlet
                    .post_ephemeral(&channel, &user, &self.app.notice(&answer));
                return;
            }
        };
        let request = Request {
            actor: self.actor(&click.user),
            channel: channel.clone(),
            text,
        };
        let reply = crate::pipeline::handle(&self.app, request).await;
        let accepted = reply.class != ExitClass::Rejected;
        let label = button_label(&click.action_id);
        if accepted {
            // The buttons give way to who clicked what and when, so nobody clicks again. A
            // rejected plan's run message is rewritten by the run itself.
            if click.action_id != "reject" {
                let note = format!(
                    "{} *{label}* clicked by <@{}> at {}",
                    if click.action_id == "scale_down" {
                        "⬇️"
                    } else {
                        "✅"
                    },
                    click.user,
                    chrono::Utc::now().format("%H:%M UTC"),
                );
                self.replace_buttons(&channel, &click, &note);
            }
            self.deliver_reply(&channel, &user, reply);
            return;
        }
        // Refused: tell the clicker, and when the run can no longer be decided (expired,
        // decided already), take the dead buttons away.
        let reason = reply.message.plain_text();
        self.outlet.post_ephemeral(&channel, &user, &reply.message);
        if let Some(run) = decided_run {
            let now = chrono::Utc::now();
            let still_open = matches!(
                self.app.store.get_run(run),
                Ok(Some(record)) if record.outcome == RunOutcome::AwaitingApproval
                    && record.approval_expires_at.is_some_and(|expires| expires > now)
            );
            if !still_open {
                self.replace_buttons(&channel, &click, &format!("⌛ {reason}"));
            }
        }
    }

    /// The command a button stands for. Values come back from Slack clients, so they are
    /// checked: a run id that exists, an environment name without spaces.
    fn command_of(&self, click: &ButtonClick) -> Result<(String, Option<RunId>), String> {
        let value = click.value.trim();
        match click.action_id.as_str() {
            verb @ ("approve" | "reject") => {
                let run = value
                    .parse::<i64>()
                    .map(RunId)
                    .map_err(|_| format!("this button carries no run number ({value:?})"))?;
                let record = self
                    .app
                    .store
                    .get_run(run)
                    .map_err(|error| format!("cannot read run #{run}: {error}"))?
                    .ok_or_else(|| format!("run #{run} does not exist"))?;
                Ok((format!("{verb} {run} env={}", record.env), Some(run)))
            }
            "keep_hold" | "keep_extend" | "scale_down" => {
                if value.is_empty() || value.contains(char::is_whitespace) {
                    return Err(format!("this button names no environment ({value:?})"));
                }
                let command = match click.action_id.as_str() {
                    "keep_hold" => format!("hold 2h env={value}"),
                    "keep_extend" => format!("extend 2h env={value}"),
                    _ => format!("down env={value}"),
                };
                Ok((command, None))
            }
            other => Err(format!(
                "this button ({other:?}) is not one of loadtest-bot's"
            )),
        }
    }

    /// Rewrites the clicked message: same content, the actions block replaced by `note`.
    fn replace_buttons(&self, channel: &ChannelId, click: &ButtonClick, note: &str) {
        let context = json!({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]});
        let mut blocks: Vec<Value> = click
            .message_blocks
            .iter()
            .filter(|block| block.get("type").and_then(Value::as_str) != Some("actions"))
            .cloned()
            .collect();
        blocks.push(context);
        // Slack always sends the clicked message; should it not, the note stands alone.
        let text = if click.message_text.is_empty() {
            note.to_string()
        } else {
            click.message_text.clone()
        };
        let message = Message { text, blocks };
        self.outlet
            .update_by_ts(channel, &click.message_ts, &message);
    }
}

fn button_label(action_id: &str) -> &'static str {
    match action_id {
        "approve" => "Apply",
        "reject" => "Cancel",
        "keep_hold" | "keep_extend" => "Keep 2h",
        "scale_down" => "Scale down now",
        _ => "button",
    }
}

fn ack_of(reply: Reply) -> AckReply {
    let in_channel = reply.visibility == Visibility::Channel;
    AckReply::from_message(reply.message, in_channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ack_body_names_its_visibility_and_omits_empty_blocks() {
        let mut ack = AckReply {
            text: "status of lt1".into(),
            blocks: Vec::new(),
            in_channel: false,
        };
        assert_eq!(
            ack.to_json(),
            json!({"response_type": "ephemeral", "text": "status of lt1"})
        );
        ack.in_channel = true;
        ack.blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": "*lt1*"}})];
        let as_text: Value = serde_json::from_str(&ack.to_json_string()).unwrap();
        assert_eq!(as_text, ack.to_json());
        assert_eq!(as_text["response_type"], "in_channel");
        assert_eq!(as_text["blocks"][0]["text"]["text"], "*lt1*");
    }
}
