//! Real Slack's contract, as a team meets it: members of a user group act with the group's
//! role in both modes; a Slack API that hangs never delays an answer; Slack's `ssl_check`
//! probe, its redeliveries and other workspaces' requests are handled as Slack expects; a
//! result Slack refuses reaches the requester anyway and shows in `status` and `/metrics`.

use crate::support::fake_slack::{post_form, FakeSlack, TEAM_ID};
use crate::support::serve::{Mode, CHANNEL};
use crate::support::world::World;
use std::time::Duration;

/// `S0PERF` holds the operators; Carol is in it, Dave is not; the admin is named by id.
const ACCESS: &str =
    "\n[access]\nadmins = [\"U0ADMIN\"]\noperators = [\"S0PERF\"]\nviewers = [\"*\"]\n";

fn fake_with_perf_team() -> FakeSlack {
    let fake = FakeSlack::start();
    fake.set_usergroup("S0PERF", &["U0CAROL"]);
    fake
}

#[test]
fn a_member_of_an_operator_group_operates_in_both_modes() {
    for mode in [Mode::Socket, Mode::Http] {
        let world = World::start_with(fake_with_perf_team(), mode, ACCESS);
        world.wait_until_groups_are_read();
        let carol = world.user("U0CAROL");
        let dave = world.user("U0DAVE");

        let held = carol.slash("hold 1h");
        assert!(held.in_channel, "{held:?}");
        assert!(held.text.contains("held until"), "{held:?}");

        let refused = dave.slash("hold 1h");
        assert!(!refused.in_channel, "{refused:?}");
        assert!(refused.text.contains("operator"), "{refused:?}");
        // The group was read the way Slack reads the method: a GET with its arguments in the
        // query string (a JSON body would reach Slack as no arguments at all).
        let read = world.fake.calls_to("usergroups.users.list");
        assert!(
            read.iter().all(|call| call.http_method == "GET"),
            "{read:?}"
        );
    }
}

#[test]
fn a_slack_api_that_never_answers_does_not_delay_any_answer() {
    for mode in [Mode::Socket, Mode::Http] {
        let world = World::start_with(fake_with_perf_team(), mode, ACCESS);
        world.wait_until_groups_are_read();
        world.fake.set_hung(true);
        let admin = world.user("U0ADMIN");
        let carol = world.user("U0CAROL");

        let help = admin.slash("help");
        assert!(help.text.contains("Usage: /loadtest"), "{help:?}");
        let status = admin.slash("status");
        assert!(status.text.contains("status"), "{status:?}");
        // Her role comes from the group read before Slack hung: the last good membership.
        let held = carol.slash("hold 1h");
        assert!(held.text.contains("held until"), "{held:?}");
        for answer in [&help, &status, &held] {
            assert!(answer.took < Duration::from_secs(1), "{answer:?}");
        }
        // The figure for the record (`--nocapture`); the bound above is Slack's, not a benchmark.
        eprintln!(
            "acks under a hung Slack API: help {:?}, status {:?}, hold 1h {:?}",
            help.took, status.took, held.took
        );
        world.fake.set_hung(false);
    }
}

#[test]
fn a_group_never_read_counts_as_empty_and_the_refusal_says_why() {
    let fake = fake_with_perf_team();
    fake.set_hung(true);
    let world = World::start_with(fake, Mode::Http, ACCESS);
    let refused = world.user("U0CAROL").slash("hold 1h");
    assert!(!refused.in_channel, "{refused:?}");
    assert!(refused.text.contains("operator"), "{refused:?}");
    assert!(
        refused.text.contains("S0PERF could not be read"),
        "{refused:?}"
    );
    assert!(refused.took < Duration::from_secs(1), "{refused:?}");
    world.fake.set_hung(false);
}

#[test]
fn slacks_ssl_check_gets_a_200_and_changes_nothing() {
    let world = World::start(Mode::Http, ACCESS);
    let audit_before = world.bot.audit_decisions().len();
    let (status, body) = post_form(
        &format!("{}/slack/commands", world.serve.base_url),
        &[],
        "ssl_check=1&token=legacy-verification-token",
    );
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(world.bot.audit_decisions().len(), audit_before);
    assert!(world.channel(CHANNEL).last_message().is_none());
}

#[test]
fn an_event_slack_delivers_twice_is_answered_once() {
    for mode in [Mode::Socket, Mode::Http] {
        let world = World::start(mode, ACCESS);
        let admin = world.user("U0ADMIN");
        admin.mention("<@U0FAKEBOT> sizes", "Ev0SIZES1", 0);
        world
            .channel(CHANNEL)
            .wait_for("the answer", |m| m.text.starts_with("Sizes:"));
        // Slack saw no ack in time and delivers the same event again.
        admin.mention("<@U0FAKEBOT> sizes", "Ev0SIZES1", 1);
        std::thread::sleep(Duration::from_secs(2));
        if matches!(world.mode, Mode::Socket) {
            assert_eq!(
                world.fake.acks_for("env-Ev0SIZES1"),
                2,
                "each delivery is acked"
            );
        }
        let answers = world
            .channel(CHANNEL)
            .messages()
            .into_iter()
            .filter(|m| m.text.starts_with("Sizes:"))
            .count();
        assert_eq!(answers, 1, "{:?}", world.channel(CHANNEL).messages());
        assert!(
            world
                .metrics()
                .contains("loadtest_slack_duplicate_deliveries_total 1"),
            "{}",
            world.metrics()
        );
    }
}

#[test]
fn requests_from_another_workspace_are_refused_and_audited() {
    let config = format!("\n[slack]\nteam_ids = [\"T0OURS\"]\n{ACCESS}");
    for mode in [Mode::Socket, Mode::Http] {
        let world = World::start(mode, &config);
        let refused = world.user("U0ADMIN").slash("status");
        assert!(!refused.in_channel, "{refused:?}");
        assert!(
            refused.text.contains("does not serve this workspace"),
            "{refused:?}"
        );
        let audited = world.bot.audit_decisions();
        assert!(
            audited
                .iter()
                .any(|d| d.contains("refused") && d.contains(TEAM_ID)),
            "{audited:?}"
        );
        assert!(world
            .metrics()
            .contains("loadtest_slack_foreign_requests_total 1"));
    }
}

#[test]
fn a_result_slack_refuses_reaches_the_requester_status_and_metrics() {
    let world = World::start(Mode::Socket, ACCESS);
    world.fake.remove_bot_from(CHANNEL);
    let admin = world.user("U0ADMIN");

    let accepted = admin.slash("up small");
    assert!(accepted.in_channel, "{accepted:?}");
    // The channel refuses the bot; the requester hears how to fix it, and gets the result.
    let told = world
        .fake
        .wait_for_message("a direct message", Duration::from_secs(30), |m| {
            m.channel == "U0ADMIN" && m.text.contains("/invite @loadtest-bot")
        });
    assert!(told.text.contains("not_in_channel"), "{told:?}");
    world
        .fake
        .wait_for_message("the result", Duration::from_secs(30), |m| {
            m.channel == "U0ADMIN" && m.text.contains("up small: succeeded")
        });
    let direct = admin.direct_messages();
    assert!(
        direct
            .iter()
            .any(|m| m.text.contains("/invite @loadtest-bot"))
            && direct
                .iter()
                .any(|m| m.text.contains("up small: succeeded")),
        "the hint and the result both reached the requester: {direct:?}"
    );
    let status = admin.slash("status");
    assert!(
        status.text.contains("not delivered: not_in_channel"),
        "{status:?}"
    );
    let metrics = world.metrics();
    assert!(
        metrics.contains(
            "loadtest_slack_api_refused_total{method=\"chat.postMessage\",error=\"not_in_channel\"}"
        ),
        "{metrics}"
    );
}

/// Waits until `ready` holds, for at most 20 s.
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn socket_mode_rides_out_a_recycled_connection_without_dropping_an_envelope() {
    let world = World::start(Mode::Socket, ACCESS);
    let fake = &world.fake;
    wait_until("a second connection kept warm", || fake.live_sockets() == 2);
    let connections_before = fake.socket_connections();

    fake.announce_disconnect("warning");
    // Slack may still deliver on the old connection until it closes it: served there.
    let envelope = fake.send_envelope_to_announced(
        "slash_commands",
        crate::support::fake_slack::slash_command_payload("U0ADMIN", CHANNEL, "sizes"),
    );
    let (ack, _) = fake.wait_for_ack(&envelope, Duration::from_secs(5));
    assert!(
        ack["payload"]["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Sizes:"),
        "{ack}"
    );
    // The replacement is opened at once, before Slack closes the old connection.
    wait_until("the replacement connection", || {
        fake.socket_connections() > connections_before
    });
    fake.close_announced_socket();
    // A command right after the switch is served on a connection that stayed warm.
    let answer = world.user("U0ADMIN").slash("help");
    assert!(answer.in_channel, "{answer:?}");
    assert!(answer.took < Duration::from_secs(1), "{answer:?}");
    wait_until("two connections again", || fake.live_sockets() == 2);
}

/// A JMeter plan as JMeter saves it (its first lines).
const SHARED_PLAN: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<jmeterTestPlan version="1.2" properties="5.0" jmeter="5.6.3"><hashTree/></jmeterTestPlan>
"#;

/// The ephemerals the bot sent `user` whose text contains `needle`, waiting up to 20 s for one.
fn wait_for_ephemeral_to(world: &World, user: &str, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = world.fake.ephemerals().into_iter().find_map(|ephemeral| {
            let text = ephemeral.to_string();
            (ephemeral["user"] == user && text.contains(needle)).then_some(text)
        });
        if let Some(text) = found {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no ephemeral to {user} with {needle:?}: {:#?}",
            world.fake.ephemerals()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_jmx_shared_in_the_bound_channel_becomes_a_plan_for_those_who_may_run_it() {
    for mode in [Mode::Socket, Mode::Http] {
        let world =
            World::start_with_env(fake_with_perf_team(), mode, ACCESS, "shared_plans = true");
        world.wait_until_groups_are_read();
        let carol = world.user("U0CAROL");
        let dave = world.user("U0DAVE");

        // Anything but a .jmx is none of the bot's business: looked up, never downloaded,
        // never answered.
        carol.share_file("notes.txt", b"meeting notes");
        // An operator's plan: kept, announced in the channel, listed by `plans`.
        carol.share_file("checkout.jmx", SHARED_PLAN);
        world
            .channel(CHANNEL)
            .wait_for("the shared plan taken", |m| {
                m.text.contains("`checkout.jmx` shared here is a plan now")
            });
        let plans = dave.slash("plans");
        assert!(
            plans
                .text
                .contains("`checkout.jmx` (shared in the channel)"),
            "{plans:?}"
        );
        let kept = world
            .bot
            .state_dir()
            .join("shared-plans/local/checkout.jmx");
        assert_eq!(std::fs::read(&kept).unwrap(), SHARED_PLAN);

        // A viewer may not put code on the master: told why, the file never downloaded.
        dave.share_file("dave.jmx", SHARED_PLAN);
        let refusal = wait_for_ephemeral_to(&world, "U0DAVE", "dave.jmx");
        assert!(
            refusal.contains("sharing a plan takes what running it takes")
                && refusal.contains("operator"),
            "{refusal}"
        );
        // Not a JMeter plan, or a name `run` would refuse: told why, nothing kept.
        carol.share_file("page.jmx", b"<html><body>oops</body></html>");
        let not_a_plan = wait_for_ephemeral_to(&world, "U0CAROL", "page.jmx");
        assert!(
            not_a_plan.contains("root element is `html`"),
            "{not_a_plan}"
        );
        carol.share_file("my plan.jmx", SHARED_PLAN);
        let bad_name = wait_for_ephemeral_to(&world, "U0CAROL", "my plan.jmx");
        assert!(bad_name.contains("not a plan name"), "{bad_name}");
        assert!(!kept.with_file_name("page.jmx").exists());

        // Every file was looked up the way Slack reads files.info (a GET with a query string);
        // only the operator's .jmx files with a plan's name were downloaded, with the bot token.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while world.fake.calls_to("files.info").len() < 5 {
            assert!(
                std::time::Instant::now() < deadline,
                "files.info not called for all 5"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let infos = world.fake.calls_to("files.info");
        assert_eq!(infos.len(), 5, "{infos:#?}");
        assert!(infos
            .iter()
            .all(|call| call.http_method == "GET" && call.error.is_none()));
        let downloads = world.fake.downloads();
        let mut downloaded: Vec<&str> = downloads.iter().map(|d| d.file_id.as_str()).collect();
        downloaded.sort();
        let id_of = |n: usize| format!("F0SHARED{n:03}");
        assert_eq!(downloaded, [id_of(2), id_of(4)], "{downloads:?}");
        assert!(downloads.iter().all(|d| d.with_bot_token), "{downloads:?}");
    }
}
