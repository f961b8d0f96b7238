//! Shared domain vocabulary: identifiers and the outcomes every layer talks about.
//! Plain data only; no I/O, no Slack, no Terraform here.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_newtype!(
    /// The name of a load-test environment (`[environments.<name>]`).
    EnvName
);
string_newtype!(
    /// A Slack user ID (`U…`/`W…`), a user-group ID (`S…`), or a built-in actor such as
    /// `scheduler` or `console`.
    SlackUserId
);
string_newtype!(
    /// A Slack channel ID (`C…`, `G…`, `D…`) or `console` for the local console.
    ChannelId
);
/// The name of a variable set in `commands/` (`off`, `down`, `small`, ...). The two reserved
/// sets every deployment has are constants, so code names them without spelling strings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SizeName(Cow<'static, str>);

impl SizeName {
    /// Idle: master kept small, no slaves, monitoring kept.
    pub const DOWN: SizeName = SizeName(Cow::Borrowed("down"));
    /// Nothing that costs money exists.
    pub const OFF: SizeName = SizeName(Cow::Borrowed("off"));

    pub fn new(value: impl Into<String>) -> Self {
        Self(Cow::Owned(value.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `down` or `off`: a scale-down, which ends any lease.
    pub fn is_scale_down(&self) -> bool {
        *self == SizeName::DOWN || *self == SizeName::OFF
    }
}

impl fmt::Display for SizeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A run's number in the store; shown to users as `#41`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a run ended (or where it stands). The words are the ones a run's final message
/// text must carry (`succeeded`, `no changes`, …), so `Display` is the user-facing form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Queued,
    Running,
    AwaitingApproval,
    Succeeded,
    Failed,
    NoChanges,
    Cancelled,
    TimedOut,
    Interrupted,
    Rejected,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Queued => "queued",
            RunOutcome::Running => "running",
            RunOutcome::AwaitingApproval => "awaiting approval",
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed => "failed",
            RunOutcome::NoChanges => "no changes",
            RunOutcome::Cancelled => "cancelled",
            RunOutcome::TimedOut => "timed out",
            RunOutcome::Interrupted => "interrupted",
            RunOutcome::Rejected => "rejected",
        }
    }

    /// The stored form (snake_case, stable across releases).
    pub fn db_key(self) -> &'static str {
        match self {
            RunOutcome::Queued => "queued",
            RunOutcome::Running => "running",
            RunOutcome::AwaitingApproval => "awaiting_approval",
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed => "failed",
            RunOutcome::NoChanges => "no_changes",
            RunOutcome::Cancelled => "cancelled",
            RunOutcome::TimedOut => "timed_out",
            RunOutcome::Interrupted => "interrupted",
            RunOutcome::Rejected => "rejected",
        }
    }

    pub fn from_db_key(key: &str) -> Option<Self> {
        Some(match key {
            "queued" => RunOutcome::Queued,
            "running" => RunOutcome::Running,
            "awaiting_approval" => RunOutcome::AwaitingApproval,
            "succeeded" => RunOutcome::Succeeded,
            "failed" => RunOutcome::Failed,
            "no_changes" => RunOutcome::NoChanges,
            "cancelled" => RunOutcome::Cancelled,
            "timed_out" => RunOutcome::TimedOut,
            "interrupted" => RunOutcome::Interrupted,
            "rejected" => RunOutcome::Rejected,
            _ => return None,
        })
    }

    /// Whether the run is over (no process will touch it again).
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RunOutcome::Queued | RunOutcome::Running | RunOutcome::AwaitingApproval
        )
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Access roles (viewer, operator, admin), ordered: each role can do everything the lower
/// ones can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_db_keys_round_trip() {
        for outcome in [
            RunOutcome::Queued,
            RunOutcome::Running,
            RunOutcome::AwaitingApproval,
            RunOutcome::Succeeded,
            RunOutcome::Failed,
            RunOutcome::NoChanges,
            RunOutcome::Cancelled,
            RunOutcome::TimedOut,
            RunOutcome::Interrupted,
            RunOutcome::Rejected,
        ] {
            assert_eq!(RunOutcome::from_db_key(outcome.db_key()), Some(outcome));
        }
        assert_eq!(RunOutcome::from_db_key("exploded"), None);
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
    }
}
