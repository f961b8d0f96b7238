//! The Slack front end's behaviour, shared by Socket Mode and HTTP mode: a decoded slash
//! command, button click or mention becomes a [`Request`] for the same pipeline the console
//! uses; a `.jmx` shared in a channel goes to [`crate::pipeline::share_plan`]. Slash commands are answered within the ack budget (the reply rides on the ack; a
//! reply that takes longer follows as a message); clicks and mentions are acked at once by
//! the caller and handled here in the background. Requests from a workspace or app the
//! config does not name are refused and audited; a redelivered event is handled once.

use super::ack::AckReply;
use super::delivery::SlackOutlet;
use super::groups::GroupDirectory;
use crate::app::App;
use crate::model::{ChannelId, SlackUserId};
use crate::outlet::Outlet;
use crate::policy::Actor;
use crate::request::{Reply, Request, Visibility};
use crate::slack::files;
use crate::slack::inbound::{FileShared, Mention, Origin, SlashCommand};
use crate::slack::web_api::WebApi;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct SlackFront {
    pub app: Arc<App>,
    pub outlet: Arc<SlackOutlet>,
    /// The Web API, for what the bot reads from Slack itself (a shared file).
    pub api: Arc<WebApi>,
    /// User-group memberships, refreshed in the background: reading them costs no Slack call.
    pub groups: Arc<GroupDirectory>,
    /// How long a slash command may take before its ack goes out without the answer (Slack
    /// allows 3 s; the rest is for the network).
    pub ack_budget: Duration,
    /// False while shutting down: commands are answered "restarting" and nothing starts.
    pub accepting: AtomicBool,
    /// Ack latencies and the rest of `/metrics` (the app's own).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Event ids seen lately: Slack redelivers an event it thinks was not acknowledged.
    pub seen_events: Mutex<RecentIds>,
}

/// Ids seen within the last [`RecentIds::KEEP`], oldest first.
#[derive(Default)]
pub struct RecentIds {
    order: VecDeque<(Instant, String)>,
    ids: HashMap<String, Instant>,
}

impl RecentIds {
    /// Slack retries a delivery for a few minutes at most.
    const KEEP: Duration = Duration::from_secs(3600);

    /// Whether `id` is new; remembers it.
    pub fn first_time(&mut self, id: &str) -> bool {
        let now = Instant::now();
        while let Some((at, old)) = self.order.front() {
            if now.duration_since(*at) < Self::KEEP {
                break;
            }
            self.ids.remove(old);
            self.order.pop_front();
        }
        if self.ids.contains_key(id) {
            return false;
        }
        self.ids.insert(id.to_string(), now);
        self.order.push_back((now, id.to_string()));
        true
    }
}

const RESTARTING: &str = "loadtest-bot is restarting; try again in a minute.";

impl SlackFront {
    pub(super) fn actor(&self, user: &str) -> Actor {
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
        if let Some(why) = self.foreign(&command.origin) {
            self.refuse_foreign(
                &user,
                &channel,
                &format!("/loadtest {}", command.text),
                &why,
            )
            .await;
            let text = "This loadtest-bot does not serve this workspace or app.";
            return AckReply::from_message(self.app.notice(text), false);
        }
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

    /// Why a request from `origin` is not served (`[slack] team_ids`, `api_app_id`), if not.
    pub(super) fn foreign(&self, origin: &Origin) -> Option<String> {
        let slack = &self.app.config.slack;
        if !slack.team_ids.is_empty() {
            match &origin.team_id {
                Some(team) if slack.team_ids.contains(team) => {}
                Some(team) => return Some(format!("workspace {team} is not in [slack] team_ids")),
                None => return Some("the request names no workspace".into()),
            }
        }
        if let Some(app) = &slack.api_app_id {
            match &origin.api_app_id {
                Some(theirs) if theirs == app => {}
                Some(theirs) => return Some(format!("app {theirs} is not [slack] api_app_id")),
                None => return Some("the request names no app".into()),
            }
        }
        None
    }

    /// Counts and audits a request from elsewhere; nothing else happens.
    pub(super) async fn refuse_foreign(
        &self,
        user: &SlackUserId,
        channel: &ChannelId,
        what: &str,
        why: &str,
    ) {
        self.metrics
            .foreign_requests
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%user, why, "refused a request from another workspace or app");
        self.app
            .audit_line(user, channel, None, what, &format!("refused: {why}"), None);
        self.app.audit_log.flushed().await;
    }

    /// Posts a reply as a message: to the channel, or only to the requester.
    pub(super) fn deliver_reply(&self, channel: &ChannelId, user: &SlackUserId, reply: Reply) {
        match reply.visibility {
            Visibility::Channel => {
                self.outlet.post(channel, &reply.message);
            }
            Visibility::Requester => self.outlet.post_ephemeral(channel, user, &reply.message),
        }
    }

    /// Whether Slack delivers an event already handled (it redelivers what it thinks was not
    /// acknowledged): counted, and to be acknowledged without running it again.
    fn is_redelivery(&self, event_id: Option<&str>) -> bool {
        let Some(event) = event_id else {
            return false;
        };
        let first = self
            .seen_events
            .lock()
            .expect("events lock")
            .first_time(event);
        if !first {
            self.metrics
                .duplicate_deliveries
                .fetch_add(1, Ordering::Relaxed);
        }
        !first
    }

    /// `@loadtest-bot status`: like the slash command, answered in the channel (or only to
    /// the requester for errors).
    pub async fn mention(self: &Arc<Self>, mention: Mention) {
        let channel = ChannelId(mention.channel.clone());
        let user = SlackUserId::new(mention.user.clone());
        if let Some(why) = self.foreign(&mention.origin) {
            let what = format!("@loadtest-bot {}", mention.text);
            return self.refuse_foreign(&user, &channel, &what, &why).await;
        }
        if self.is_redelivery(mention.event_id.as_deref()) {
            return;
        }
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

    /// A file shared in a channel: a `.jmx` may become a plan of the channel's environment.
    /// Anything else shared is none of the bot's business and gets no answer.
    pub async fn file_shared(self: &Arc<Self>, shared: FileShared) {
        let channel = ChannelId(shared.channel.clone());
        let user = SlackUserId::new(shared.user.clone());
        if let Some(why) = self.foreign(&shared.origin) {
            tracing::warn!(
                why,
                "a file shared from a workspace or app this bot does not serve"
            );
            return;
        }
        if self.is_redelivery(shared.event_id.as_deref()) {
            return;
        }
        if !self.accepting.load(Ordering::SeqCst) {
            return;
        }
        let file = match files::file_info(&self.api, &shared.file_id).await {
            Ok(file) => file,
            Err(error) => {
                tracing::warn!(%error, file = shared.file_id, "files.info of a shared file");
                return;
            }
        };
        if !file.name.to_ascii_lowercase().ends_with(".jmx") {
            return;
        }
        if !file.is_in(channel.as_str()) {
            // The event named a channel the file is not in: nothing to take from there.
            tracing::warn!(file = file.id, %channel, "a shared file not in its event's channel");
            return;
        }
        let request = Request {
            actor: self.actor(&shared.user),
            channel: channel.clone(),
            text: format!("(shared file) {}", file.name),
        };
        let api = Arc::clone(&self.api);
        let fetch = async {
            files::download(
                &api,
                &file,
                crate::load_tests::shared::MAX_SHARED_PLAN_BYTES,
            )
            .await
        };
        if let Some(reply) =
            crate::pipeline::share_plan(&self.app, request, &file.name, fetch).await
        {
            self.deliver_reply(&channel, &user, reply);
        }
    }

    /// While shutting down: tells the user to come back and returns true.
    pub(super) fn refused_while_stopping(&self, channel: &ChannelId, user: &SlackUserId) -> bool {
        if self.accepting.load(Ordering::SeqCst) {
            return false;
        }
        self.outlet
            .post_ephemeral(channel, user, &self.app.notice(RESTARTING));
        true
    }
}

fn ack_of(reply: Reply) -> AckReply {
    let in_channel = reply.visibility == Visibility::Channel;
    AckReply::from_message(reply.message, in_channel)
}
