//! What enters the pipeline and what comes back: a [`Request`] from any front end (actor,
//! channel, text) and its [`Reply`] (the message, who sees it, and how `exec` exits).

use crate::model::{ChannelId, RunId, RunOutcome};
use crate::policy::Actor;
use crate::render::Message;

/// One command as it arrives from any front end.
#[derive(Clone, Debug)]
pub struct Request {
    pub actor: Actor,
    pub channel: ChannelId,
    pub text: String,
}

/// Who sees the answer: only the requester (errors, denials) or the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    Requester,
    Channel,
}

/// How a one-shot command ended, for `exec`'s exit code: 0 success or no changes, 1 failed /
/// cancelled / timed out, 2 rejected (bad input, denied, bad config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitClass {
    /// Success or no changes (also: an answer such as `status`).
    Success,
    /// Failed, cancelled, timed out or interrupted.
    Failed,
    /// Rejected: bad input, denied, bad config.
    Rejected,
}

impl ExitClass {
    pub fn code(self) -> u8 {
        match self {
            ExitClass::Success => 0,
            ExitClass::Failed => 1,
            ExitClass::Rejected => 2,
        }
    }

    pub fn of_outcome(outcome: RunOutcome) -> ExitClass {
        match outcome {
            RunOutcome::Succeeded | RunOutcome::NoChanges | RunOutcome::AwaitingApproval => {
                ExitClass::Success
            }
            RunOutcome::Rejected => ExitClass::Rejected,
            _ => ExitClass::Failed,
        }
    }
}

/// The immediate answer to a request.
#[derive(Debug)]
pub struct Reply {
    pub message: Message,
    pub visibility: Visibility,
    pub class: ExitClass,
    /// The run this request started or acted on, whose end a caller (exec) may await.
    pub run: Option<RunId>,
    /// The load test this request started, whose end a caller (exec) may await.
    pub test: Option<i64>,
}

impl Reply {
    /// An answer for the channel.
    pub fn answer(message: Message) -> Reply {
        Reply {
            message,
            visibility: Visibility::Channel,
            class: ExitClass::Success,
            run: None,
            test: None,
        }
    }

    /// The bot or a dependency broke: only the requester sees it.
    pub fn failure(message: Message) -> Reply {
        Reply {
            message,
            visibility: Visibility::Requester,
            class: ExitClass::Failed,
            run: None,
            test: None,
        }
    }

    /// An answer about a run the request started or acted on.
    pub fn about_run(message: Message, run: crate::model::RunId) -> Reply {
        Reply {
            run: Some(run),
            ..Reply::answer(message)
        }
    }
}
