//! `[access] open_access = true`: every Slack user not listed is an operator; listed roles
//! still apply, and nobody is an admin unless listed.

use super::*;

fn config(text: &str) -> Config {
    Config::from_str(
        &format!("[environments.lt1]\nterraform_dir = \"x\"\n[access]\n{text}"),
        "policy.toml",
    )
    .unwrap_or_else(|errors| panic!("{errors}"))
}

fn user(id: &str) -> Actor {
    Actor::slack(crate::model::SlackUserId::new(id))
}

#[test]
fn open_access_makes_everyone_unlisted_an_operator() {
    let open = config("open_access = true\nadmins = [\"U0ADMIN\"]\nviewers = [\"U0VIEW\"]\n");
    assert_eq!(role_of(&open, &user("U0ANYONE")), Some(Role::Operator));
    assert_eq!(role_of(&open, &user("U0ADMIN")), Some(Role::Admin));
    assert_eq!(role_of(&open, &user("U0VIEW")), Some(Role::Viewer));
    let closed = config("admins = [\"U0ADMIN\"]\n");
    assert_eq!(role_of(&closed, &user("U0ANYONE")), None);
}

#[test]
fn open_access_alone_names_no_admin() {
    let alone = config("open_access = true\n");
    let ctx = crate::command::ParseContext {
        sizes: vec![crate::model::SizeName::new("off")],
        envs: vec![EnvName::new("lt1")],
        max_lease: std::time::Duration::from_secs(3600),
    };
    let verb = crate::command::parse("off", &ctx).expect("parses").verb;
    let decision = decide(
        &alone,
        &user("U0ANYONE"),
        &verb,
        &EnvName::new("lt1"),
        &ChannelId::new("C0X"),
    );
    assert_eq!(
        decision,
        Decision::Deny {
            message:
                "you need the admin role to run `off`; no admins are configured ([access] admins)"
                    .into(),
            needed: Some(Role::Admin),
        }
    );
}
