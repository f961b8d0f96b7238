//! Clicks on the bot's buttons (Apply / Cancel, Keep 2h / Scale down now): the button's value
//! comes back from a Slack client, so it is checked and turned into the typed command the
//! button stands for, which then goes through the pipeline like any other. An accepted click
//! replaces the buttons with who clicked what; a refused one tells the clicker why.

use super::requests::SlackFront;
use crate::model::{ChannelId, RunId, RunOutcome, SlackUserId};
use crate::render::Message;
use crate::request::{ExitClass, Request};
use crate::slack::actions::ButtonAction;
use crate::slack::inbound::ButtonClick;
use serde_json::{json, Value};
use std::sync::Arc;

impl SlackFront {
    /// A click on one of our buttons.
    pub async fn button_click(self: &Arc<Self>, click: ButtonClick) {
        let channel = ChannelId(click.channel.clone());
        let user = SlackUserId::new(click.user.clone());
        if let Some(why) = self.foreign(&click.origin) {
            let what = format!("button {} {:?}", click.action_id, click.value);
            return self.refuse_foreign(&user, &channel, &what, &why).await;
        }
        if self.refused_while_stopping(&channel, &user) {
            return;
        }
        let (text, action, decided_run) = match self.command_of(&click) {
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
        if accepted {
            // The buttons give way to who clicked what and when, so nobody clicks again. A
            // rejected plan's run message is rewritten by the run itself.
            if action != ButtonAction::Reject {
                let note = format!(
                    "{} *{}* clicked by <@{}> at {}",
                    if action == ButtonAction::ScaleDown {
                        "⬇️"
                    } else {
                        "✅"
                    },
                    action.label(),
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
    fn command_of(
        &self,
        click: &ButtonClick,
    ) -> Result<(String, ButtonAction, Option<RunId>), String> {
        let value = click.value.trim();
        let Some(action) = ButtonAction::from_id(&click.action_id) else {
            return Err(format!(
                "this button ({:?}) is not one of loadtest-bot's",
                click.action_id
            ));
        };
        if action.carries_run() {
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
            let command = format!("{} env={}", action.command(&run.to_string()), record.env);
            return Ok((command, action, Some(run)));
        }
        if value.is_empty() || value.contains(char::is_whitespace) {
            return Err(format!("this button names no environment ({value:?})"));
        }
        Ok((action.command(value), action, None))
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
