//! Access and approval: (actor, verb, environment, channel) → allow, deny or
//! "allow once approved". Pure: reads the typed config and the command catalogue; stores
//! nothing (the caller stores the [`Audit`] record) and talks to no one.

use crate::command::Verb;
use crate::config::{ApprovalRule, Config};
use crate::model::{ChannelId, EnvName, Role, SlackUserId};
use std::fmt;

/// The channel the local console and `exec` post to; exempt from channel bindings.
pub const CONSOLE_CHANNEL: &str = "console";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActorKind {
    /// A Slack user; roles come from `[access]`.
    Slack,
    /// The local console or `exec` without `--as`: an admin (whoever has the shell has the
    /// config and the tokens anyway). With `--as U…` the caller builds a `Slack` actor.
    Console,
    /// Scheduled actions and lease ends: an operator that may also turn environments off.
    Scheduler,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Slack => "slack",
            ActorKind::Console => "console",
            ActorKind::Scheduler => "scheduler",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub id: SlackUserId,
    /// User-group IDs (`S…`) the user belongs to, resolved by the caller.
    pub groups: Vec<SlackUserId>,
    /// Configured user groups Slack could not list: membership through them is not granted
    /// (fail closed), and a refusal says so.
    pub unreadable_groups: Vec<SlackUserId>,
    pub kind: ActorKind,
}

impl Actor {
    pub fn slack(id: SlackUserId) -> Self {
        Self {
            id,
            groups: Vec::new(),
            unreadable_groups: Vec::new(),
            kind: ActorKind::Slack,
        }
    }

    pub fn slack_in_groups(id: SlackUserId, groups: Vec<SlackUserId>) -> Self {
        Self {
            groups,
            ..Self::slack(id)
        }
    }

    /// What a refusal adds when a user group could not be read: the role the user may have
    /// through it is not counted.
    pub fn unreadable_groups_note(&self) -> Option<String> {
        if self.unreadable_groups.is_empty() {
            return None;
        }
        let names: Vec<&str> = self.unreadable_groups.iter().map(|g| g.as_str()).collect();
        Some(format!(
            "the user group {} could not be read from Slack, so a role through it does not count yet; try again in a minute",
            names.join(", ")
        ))
    }

    pub fn console() -> Self {
        Self {
            id: SlackUserId::new("console"),
            groups: Vec::new(),
            unreadable_groups: Vec::new(),
            kind: ActorKind::Console,
        }
    }

    pub fn scheduler() -> Self {
        Self {
            id: SlackUserId::new("scheduler"),
            groups: Vec::new(),
            unreadable_groups: Vec::new(),
            kind: ActorKind::Scheduler,
        }
    }

    /// Whether a member list (`U…`, `W…`, `S…` or `*`) includes this actor.
    fn is_in(&self, members: &[SlackUserId]) -> bool {
        members.iter().any(|member| {
            member.as_str() == "*" || *member == self.id || self.groups.contains(member)
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow {
        role: Role,
        /// Post the plan with Apply/Cancel and wait for an approver before applying.
        needs_approval: bool,
    },
    Deny {
        /// One line for the requester, naming the role needed where a role would help.
        message: String,
        needed: Option<Role>,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

impl fmt::Display for Decision {
    /// The audit form: `allowed (operator)`, `allowed (admin), needs approval`, `denied: …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allow {
                role,
                needs_approval: false,
            } => write!(f, "allowed ({role})"),
            Decision::Allow {
                role,
                needs_approval: true,
            } => write!(f, "allowed ({role}), needs approval"),
            Decision::Deny { message, .. } => write!(f, "denied: {message}"),
        }
    }
}

/// The role `[access]` gives a Slack actor; `None` when it lists them nowhere (an operator
/// with `open_access = true`). Without an `[access]` section everyone is an operator and
/// nobody an admin (the console and `exec`; `serve` refuses to start that way).
pub fn role_of(config: &Config, actor: &Actor) -> Option<Role> {
    match actor.kind {
        ActorKind::Console => return Some(Role::Admin),
        ActorKind::Scheduler => return Some(Role::Operator),
        ActorKind::Slack => {}
    }
    let Some(access) = &config.access else {
        return Some(Role::Operator);
    };
    if actor.is_in(&access.admins) {
        Some(Role::Admin)
    } else if actor.is_in(&access.operators) {
        Some(Role::Operator)
    } else if actor.is_in(&access.viewers) {
        Some(Role::Viewer)
    } else if access.open_access {
        Some(Role::Operator)
    } else {
        None
    }
}

/// Decides whether `actor` may run `verb` on `env` from `channel`.
pub fn decide(
    config: &Config,
    actor: &Actor,
    verb: &Verb,
    env: &EnvName,
    channel: &ChannelId,
) -> Decision {
    let deny = |message: String, needed: Option<Role>| Decision::Deny { message, needed };
    let Some(env_config) = config.env(env) else {
        return deny(format!("there is no environment `{env}`"), None);
    };
    let spec = verb.spec();

    // help and sizes say nothing about an environment, so they answer anywhere.
    let env_independent = spec.answers_anywhere;
    let bound_elsewhere = actor.kind == ActorKind::Slack
        && channel.as_str() != CONSOLE_CHANNEL
        && !env_config.channels.is_empty()
        && !env_config.channels.contains(channel);
    if bound_elsewhere && !env_independent {
        let channels = env_config
            .channels
            .iter()
            .map(|channel| crate::slack::mrkdwn::channel_link(channel.as_str()))
            .collect::<Vec<_>>()
            .join(" or ");
        return deny(
            format!("`{env}` is bound to {channels}; run it there"),
            None,
        );
    }

    let Some(role) = role_of(config, actor) else {
        return deny(
            format!(
                "you need the {} role to run `{}`; ask an admin",
                Role::Viewer,
                spec.name
            ),
            Some(Role::Viewer),
        );
    };

    // Turning environments off on a schedule is the scheduler's job even though `off` is
    // otherwise admin-only: the admin who wrote the schedule already decided.
    let scheduler_off = actor.kind == ActorKind::Scheduler && matches!(verb, Verb::Off);
    if role < spec.min_role && !scheduler_off {
        let no_admins = config.access.as_ref().is_none_or(|a| a.admins.is_empty());
        let hint = if no_admins && spec.min_role == Role::Admin {
            "no admins are configured ([access] admins)"
        } else {
            "ask an admin"
        };
        return deny(
            format!(
                "you need the {} role to run `{}`; {hint}",
                spec.min_role, spec.name
            ),
            Some(spec.min_role),
        );
    }

    if spec.approver_only && !is_approver(config, actor) {
        return deny(
            format!(
                "only approvers can {} runs (see [approval] approvers)",
                spec.name
            ),
            None,
        );
    }

    // Scheduled runs were approved when the schedule was configured; nobody would be
    // awake to approve a 22:00 scale-down.
    let needs_approval = actor.kind != ActorKind::Scheduler && needs_approval(config, verb);
    Decision::Allow {
        role,
        needs_approval,
    }
}

/// Whether `[approval] required_for` covers the verb; `refresh-image` always waits when
/// anyone can approve (a new image replaces slaves: somebody reads the plan first).
pub fn needs_approval(config: &Config, verb: &Verb) -> bool {
    if matches!(verb, Verb::RefreshImage) {
        return !config.approval.approvers.is_empty();
    }
    config
        .approval
        .required_for
        .iter()
        .any(|rule| match (rule, verb) {
            (ApprovalRule::Up { size: None }, Verb::Up { .. }) => true,
            (ApprovalRule::Up { size: Some(wanted) }, Verb::Up { size, .. }) => wanted == size,
            (ApprovalRule::Down, Verb::Down) => true,
            (ApprovalRule::Off, Verb::Off) => true,
            _ => false,
        })
}

fn is_approver(config: &Config, actor: &Actor) -> bool {
    match actor.kind {
        ActorKind::Console => true,
        ActorKind::Scheduler => false,
        ActorKind::Slack => actor.is_in(&config.approval.approvers),
    }
}

/// Whether `approver` may apply (or reject) a run that `requester` asked for. `Err` is the
/// one-line answer. The console counts as an approver; nobody approves their own run
/// unless `self_approve` is set.
pub fn may_approve(
    config: &Config,
    approver: &Actor,
    requester: &SlackUserId,
) -> Result<(), String> {
    if !is_approver(config, approver) {
        return Err(
            "only approvers can approve or reject this run (see [approval] approvers)".into(),
        );
    }
    if approver.id == *requester && !config.approval.self_approve {
        return Err("you asked for this run; another approver has to approve it".into());
    }
    Ok(())
}

/// What the caller stores for every command, denials included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audit {
    pub actor: SlackUserId,
    pub actor_kind: ActorKind,
    pub channel: ChannelId,
    pub env: EnvName,
    /// `up large for 3h`
    pub command: String,
    pub allowed: bool,
    /// [`Decision`]'s display form.
    pub decision: String,
}

impl Audit {
    pub fn new(
        actor: &Actor,
        verb: &Verb,
        env: &EnvName,
        channel: &ChannelId,
        decision: &Decision,
    ) -> Self {
        Self {
            actor: actor.id.clone(),
            actor_kind: actor.kind,
            channel: channel.clone(),
            env: env.clone(),
            command: verb.display_text(),
            allowed: decision.is_allowed(),
            decision: decision.to_string(),
        }
    }
}

#[cfg(test)]
mod open_access_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{parse, ParseContext};
    use crate::model::SizeName;
    use std::time::Duration;

    const GUARDED: &str = r#"
[environments.lt1]
terraform_dir = "x"
channels = ["C0LT1", "C0LT1B"]
[environments.lt2]
terraform_dir = "x"
[access]
admins = ["U0ADMIN"]
operators = ["S0OPS", "U0OPER"]
viewers = ["U0VIEW"]
[approval]
required_for = ["up:large", "off"]
approvers = ["U0LEAD", "S0LEADS", "U0OPER"]
"#;

    const OPEN: &str = r#"
[environments.lt1]
terraform_dir = "x"
channels = ["C0LT1"]
[approval]
required_for = ["up", "down"]
approvers = ["*"]
self_approve = true
"#;

    fn config(text: &str) -> Config {
        Config::from_str(text, "policy.toml").unwrap_or_else(|errors| panic!("{errors}"))
    }

    fn verb(text: &str) -> Verb {
        let ctx = ParseContext {
            sizes: ["off", "down", "small", "large"]
                .into_iter()
                .map(SizeName::new)
                .collect(),
            envs: vec![EnvName::new("lt1"), EnvName::new("lt2")],
            max_lease: Duration::from_secs(24 * 3600),
        };
        parse(text, &ctx)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .verb
    }

    fn user(id: &str) -> Actor {
        Actor::slack(SlackUserId::new(id))
    }

    fn member_of(id: &str, group: &str) -> Actor {
        Actor::slack_in_groups(SlackUserId::new(id), vec![SlackUserId::new(group)])
    }

    fn allow(role: Role, needs_approval: bool) -> Decision {
        Decision::Allow {
            role,
            needs_approval,
        }
    }

    fn deny(message: &str, needed: Option<Role>) -> Decision {
        Decision::Deny {
            message: message.into(),
            needed,
        }
    }

    #[test]
    fn decisions() {
        let guarded = config(GUARDED);
        let open = config(OPEN);
        let in_lt1 = "C0LT1";
        let rows: Vec<(&Config, Actor, &str, &str, &str, Decision)> = vec![
            // Viewers read, and may plan.
            (&guarded, user("U0VIEW"), "status", "lt1", in_lt1, allow(Role::Viewer, false)),
            (&guarded, user("U0VIEW"), "history 5", "lt1", in_lt1, allow(Role::Viewer, false)),
            (&guarded, user("U0VIEW"), "schedule", "lt1", in_lt1, allow(Role::Viewer, false)),
            (&guarded, user("U0VIEW"), "plan large", "lt1", in_lt1, allow(Role::Viewer, false)),
            (&guarded, user("U0VIEW"), "sizes", "lt1", in_lt1, allow(Role::Viewer, false)),
            (&guarded, user("U0VIEW"), "up small", "lt1", in_lt1, deny("you need the operator role to run `up`; ask an admin", Some(Role::Operator))),
            (&guarded, user("U0VIEW"), "hold 2h", "lt1", in_lt1, deny("you need the operator role to run `hold`; ask an admin", Some(Role::Operator))),
            (&guarded, user("U0VIEW"), "cancel", "lt1", in_lt1, deny("you need the operator role to run `cancel`; ask an admin", Some(Role::Operator))),
            // Strangers get nothing once [access] exists.
            (&guarded, user("U0NOBODY"), "status", "lt1", in_lt1, deny("you need the viewer role to run `status`; ask an admin", Some(Role::Viewer))),
            // Operators, directly or through a user group.
            (&guarded, user("U0OPER"), "up small for 2h", "lt1", in_lt1, allow(Role::Operator, false)),
            (&guarded, member_of("U0ANA", "S0OPS"), "up small", "lt1", in_lt1, allow(Role::Operator, false)),
            (&guarded, member_of("U0ANA", "S0OPS"), "down", "lt1", in_lt1, allow(Role::Operator, false)),
            (&guarded, member_of("U0ANA", "S0OPS"), "extend 1h", "lt1", in_lt1, allow(Role::Operator, false)),
            (&guarded, member_of("U0ANA", "S0OPS"), "hold off", "lt1", in_lt1, allow(Role::Operator, false)),
            (&guarded, member_of("U0ANA", "S0OPS"), "up large", "lt1", in_lt1, allow(Role::Operator, true)),
            (&guarded, member_of("U0ANA", "S0OPS"), "off", "lt1", in_lt1, deny("you need the admin role to run `off`; ask an admin", Some(Role::Admin))),
            (&guarded, member_of("U0ANA", "S0OPS"), "unlock abc-1", "lt1", in_lt1, deny("you need the admin role to run `unlock`; ask an admin", Some(Role::Admin))),
            // Admins can do everything; approval rules still apply to them.
            (&guarded, user("U0ADMIN"), "off", "lt1", in_lt1, allow(Role::Admin, true)),
            (&guarded, user("U0ADMIN"), "unlock abc-1", "lt1", in_lt1, allow(Role::Admin, false)),
            (&guarded, user("U0ADMIN"), "up large for 3h", "lt1", "C0LT1B", allow(Role::Admin, true)),
            // Channel binding: any other channel is refused, the console channel is exempt.
            (&guarded, user("U0ADMIN"), "status", "lt1", "C0RANDOM", deny("`lt1` is bound to <#C0LT1> or <#C0LT1B>; run it there", None)),
            (&guarded, user("U0OPER"), "up small", "lt1", "C0RANDOM", deny("`lt1` is bound to <#C0LT1> or <#C0LT1B>; run it there", None)),
            (&guarded, user("U0ADMIN"), "status", "lt1", "console", allow(Role::Admin, false)),
            (&guarded, user("U0VIEW"), "help", "lt1", "C0RANDOM", allow(Role::Viewer, false)),
            (&guarded, user("U0VIEW"), "sizes", "lt1", "C0RANDOM", allow(Role::Viewer, false)),
            (&guarded, user("U0VIEW"), "status", "lt2", "C0RANDOM", allow(Role::Viewer, false)),
            // Approving needs approver rights, not a role above viewer.
            (&guarded, user("U0OPER"), "approve #3", "lt1", in_lt1, allow(Role::Operator, false)),
            (&guarded, user("U0ADMIN"), "approve #3", "lt1", in_lt1, deny("only approvers can approve runs (see [approval] approvers)", None)),
            (&guarded, member_of("U0VIEW", "S0LEADS"), "reject #3", "lt1", in_lt1, allow(Role::Viewer, false)),
            (&guarded, user("U0LEAD"), "approve #3", "lt1", in_lt1, deny("you need the viewer role to run `approve`; ask an admin", Some(Role::Viewer))),
            // The console is an admin and an approver, anywhere.
            (&guarded, Actor::console(), "off", "lt1", "console", allow(Role::Admin, true)),
            (&guarded, Actor::console(), "unlock abc-1", "lt1", "console", allow(Role::Admin, false)),
            (&guarded, Actor::console(), "approve 3", "lt1", "console", allow(Role::Admin, false)),
            // The scheduler: an operator, plus `off`, never waiting for approval.
            (&guarded, Actor::scheduler(), "down", "lt1", "scheduler", allow(Role::Operator, false)),
            (&guarded, Actor::scheduler(), "off", "lt1", "scheduler", allow(Role::Operator, false)),
            (&guarded, Actor::scheduler(), "up large", "lt1", "scheduler", allow(Role::Operator, false)),
            (&guarded, Actor::scheduler(), "unlock abc-1", "lt1", "scheduler", deny("you need the admin role to run `unlock`; ask an admin", Some(Role::Admin))),
            (&guarded, Actor::scheduler(), "approve 3", "lt1", "scheduler", deny("only approvers can approve runs (see [approval] approvers)", None)),
            // Unknown environment.
            (&guarded, user("U0ADMIN"), "status", "lt9", in_lt1, deny("there is no environment `lt9`", None)),
            // Without [access]: everyone is an operator, nobody an admin.
            (&open, user("U0ANYONE"), "up small", "lt1", in_lt1, allow(Role::Operator, true)),
            (&open, user("U0ANYONE"), "down", "lt1", in_lt1, allow(Role::Operator, true)),
            (&open, user("U0ANYONE"), "status", "lt1", in_lt1, allow(Role::Operator, false)),
            (&open, user("U0ANYONE"), "off", "lt1", in_lt1, deny("you need the admin role to run `off`; no admins are configured ([access] admins)", Some(Role::Admin))),
            (&open, user("U0ANYONE"), "up small", "lt1", "C0OTHER", deny("`lt1` is bound to <#C0LT1>; run it there", None)),
            (&open, user("U0ANYONE"), "approve 3", "lt1", in_lt1, allow(Role::Operator, false)),
        ];
        for (config, actor, text, env, channel, expected) in rows {
            let got = decide(
                config,
                &actor,
                &verb(text),
                &EnvName::new(env),
                &ChannelId::new(channel),
            );
            assert_eq!(
                got, expected,
                "{} runs {text:?} in {env} from {channel}",
                actor.id
            );
        }
    }

    #[test]
    fn viewers_star_admits_everyone_as_viewer() {
        let config = config(
            "[environments.lt1]\nterraform_dir = \"x\"\n[access]\nadmins = [\"U0ADMIN\"]\nviewers = [\"*\"]\n",
        );
        assert_eq!(role_of(&config, &user("U0ANYONE")), Some(Role::Viewer));
        assert_eq!(role_of(&config, &user("U0ADMIN")), Some(Role::Admin));
        assert_eq!(role_of(&config, &Actor::console()), Some(Role::Admin));
        assert_eq!(role_of(&config, &Actor::scheduler()), Some(Role::Operator));
    }

    #[test]
    fn approval_rules_match_verbs() {
        let rules = |required: &str| {
            config(&format!(
                "[environments.lt1]\nterraform_dir = \"x\"\n[approval]\nrequired_for = [{required}]\napprovers = [\"U0LEAD\"]\n"
            ))
        };
        let rows: &[(&str, &str, bool)] = &[
            ("\"up:large\"", "up large", true),
            ("\"up:large\"", "up large for 2h", true),
            ("\"up:large\"", "up small", false),
            ("\"up\"", "up small", true),
            ("\"off\"", "off", true),
            ("\"off\"", "down", false),
            ("\"down\"", "down", true),
            ("\"up\", \"down\", \"off\"", "plan large", false),
            ("\"up\", \"down\", \"off\"", "extend 2h", false),
            // Whenever someone can approve, a new image waits for them, whatever the rules.
            ("\"off\"", "refresh-image", true),
        ];
        for (required, text, expected) in rows {
            assert_eq!(
                needs_approval(&rules(required), &verb(text)),
                *expected,
                "{required} / {text}"
            );
        }
        assert!(!needs_approval(
            &config("[environments.lt1]\nterraform_dir = \"x\"\n"),
            &verb("up large")
        ));
        // Nobody could approve: the admin's refresh-image applies after its plan.
        let open = config("[environments.lt1]\nterraform_dir = \"x\"\n");
        assert!(!needs_approval(&open, &verb("refresh-image")));
    }

    #[test]
    fn who_may_approve() {
        let guarded = config(GUARDED);
        let open = config(OPEN);
        let requester = SlackUserId::new("U0ANA");
        let lead = SlackUserId::new("U0LEAD");
        let console = SlackUserId::new("console");
        let rows: Vec<(&Config, Actor, &SlackUserId, Result<(), &str>)> = vec![
            (&guarded, user("U0LEAD"), &requester, Ok(())),
            (&guarded, member_of("U0BOB", "S0LEADS"), &requester, Ok(())),
            (&guarded, Actor::console(), &requester, Ok(())),
            (
                &guarded,
                user("U0ADMIN"),
                &requester,
                Err("only approvers can approve or reject this run (see [approval] approvers)"),
            ),
            (
                &guarded,
                Actor::scheduler(),
                &requester,
                Err("only approvers can approve or reject this run (see [approval] approvers)"),
            ),
            (
                &guarded,
                user("U0ANA"),
                &requester,
                Err("only approvers can approve or reject this run (see [approval] approvers)"),
            ),
            (
                &guarded,
                user("U0LEAD"),
                &lead,
                Err("you asked for this run; another approver has to approve it"),
            ),
            (
                &guarded,
                Actor::console(),
                &console,
                Err("you asked for this run; another approver has to approve it"),
            ),
            (&open, user("U0ANA"), &requester, Ok(())),
        ];
        for (config, approver, requester, expected) in rows {
            assert_eq!(
                may_approve(config, &approver, requester),
                expected.map_err(str::to_string),
                "{} approving {requester}'s run",
                approver.id
            );
        }
    }

    #[test]
    fn audit_records_what_was_decided() {
        let guarded = config(GUARDED);
        let actor = user("U0VIEW");
        let channel = ChannelId::new("C0LT1");
        let env = EnvName::new("lt1");
        let up = verb("up large for 3h");
        let decision = decide(&guarded, &actor, &up, &env, &channel);
        let audit = Audit::new(&actor, &up, &env, &channel, &decision);
        assert_eq!(
            audit,
            Audit {
                actor: SlackUserId::new("U0VIEW"),
                actor_kind: ActorKind::Slack,
                channel,
                env,
                command: "up large for 3h".into(),
                allowed: false,
                decision: "denied: you need the operator role to run `up`; ask an admin".into(),
            }
        );
        assert_eq!(
            allow(Role::Admin, true).to_string(),
            "allowed (admin), needs approval"
        );
        assert_eq!(allow(Role::Viewer, false).to_string(), "allowed (viewer)");
    }
}
