//! The bot's buttons: their `action_id`s, labels, and the typed command each stands for. The
//! templates get the ids from here (through the render context) and the Slack front end and
//! the console decode them with [`ButtonAction::from_id`], so the two sides cannot drift.

/// Every button the bot puts in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ButtonAction {
    /// Apply a plan waiting for approval; the value is the run number.
    Approve,
    /// Cancel (reject) a plan waiting for approval; the value is the run number.
    Reject,
    /// "Keep 2h" on a schedule warning: hold scale-downs; the value is the environment.
    KeepHold,
    /// "Keep 2h" on a lease warning: extend the lease; the value is the environment.
    KeepExtend,
    /// "Scale down now" on a warning; the value is the environment.
    ScaleDown,
    /// "Stop test" on a running load test; the value is the environment.
    StopTest,
}

impl ButtonAction {
    pub const ALL: [ButtonAction; 6] = [
        ButtonAction::Approve,
        ButtonAction::Reject,
        ButtonAction::KeepHold,
        ButtonAction::KeepExtend,
        ButtonAction::ScaleDown,
        ButtonAction::StopTest,
    ];

    /// The `action_id` Slack sends back when the button is clicked.
    pub const fn id(self) -> &'static str {
        match self {
            ButtonAction::Approve => "approve",
            ButtonAction::Reject => "reject",
            ButtonAction::KeepHold => "keep_hold",
            ButtonAction::KeepExtend => "keep_extend",
            ButtonAction::ScaleDown => "scale_down",
            ButtonAction::StopTest => "stop_test",
        }
    }

    pub fn from_id(id: &str) -> Option<ButtonAction> {
        ButtonAction::ALL
            .into_iter()
            .find(|action| action.id() == id)
    }

    /// The label on the button.
    pub const fn label(self) -> &'static str {
        match self {
            ButtonAction::Approve => "Apply",
            ButtonAction::Reject => "Cancel",
            ButtonAction::KeepHold | ButtonAction::KeepExtend => "Keep 2h",
            ButtonAction::ScaleDown => "Scale down now",
            ButtonAction::StopTest => "Stop test",
        }
    }

    /// What the value carries: a run number, or an environment name.
    pub const fn carries_run(self) -> bool {
        matches!(self, ButtonAction::Approve | ButtonAction::Reject)
    }

    /// The command typed in chat that does what a click does, for a value already checked
    /// (a run number, or an environment name without spaces).
    pub fn command(self, value: &str) -> String {
        match self {
            ButtonAction::Approve => format!("approve {value}"),
            ButtonAction::Reject => format!("reject {value}"),
            ButtonAction::KeepHold => format!("hold 2h env={value}"),
            ButtonAction::KeepExtend => format!("extend 2h env={value}"),
            ButtonAction::ScaleDown => format!("down env={value}"),
            ButtonAction::StopTest => format!("stop env={value}"),
        }
    }

    /// The `actions` object handed to every template, so templates name buttons by
    /// `{{actions.approve}}` rather than spelling the id again.
    pub fn template_ids() -> serde_json::Value {
        serde_json::Value::Object(
            ButtonAction::ALL
                .into_iter()
                .map(|action| (action.id().to_string(), action.id().into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_commands_read_as_typed() {
        for action in ButtonAction::ALL {
            assert_eq!(ButtonAction::from_id(action.id()), Some(action));
        }
        assert_eq!(ButtonAction::from_id("delete_everything"), None);
        assert_eq!(ButtonAction::Approve.command("12"), "approve 12");
        assert_eq!(ButtonAction::KeepHold.command("lt1"), "hold 2h env=lt1");
        assert_eq!(ButtonAction::KeepExtend.command("lt1"), "extend 2h env=lt1");
        assert_eq!(ButtonAction::ScaleDown.command("lt1"), "down env=lt1");
        assert_eq!(ButtonAction::StopTest.command("lt1"), "stop env=lt1");
        assert_eq!(ButtonAction::template_ids()["scale_down"], "scale_down");
    }
}
