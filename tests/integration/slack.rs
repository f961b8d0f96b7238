//! `loadtest-bot serve` against the fake Slack (`support::fake_slack`), over real sockets:
//! Socket Mode (WebSocket envelopes and acks) and HTTP mode (signed requests), the Web API
//! calls the bot makes (posts, in-place updates, ephemerals, uploads), approvals by button,
//! and a 429 storm. Terraform is `tests/support/fake-terraform`, so each test takes seconds.

use crate::support::bot::BotFixture;
use crate::support::fake_slack::{
    app_mention_payload, get, post_form, slack_signature, slash_command_form, ApiCall, Failure,
    FakeSlack,
};
use crate::support::serve::*;
use serde_json::Value;
use std::time::{Duration, Instant};

#[test]
fn socket_mode_runs_a_slash_command_live_in_the_channel_and_rides_out_a_429_storm() {
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let mut serve = Serve::start(
        &bot,
        &fake,
        Mode::Socket,
        &[
            ("FAKE_TF_APPLY_SECONDS", "5".into()),
            ("FAKE_TF_EVENTS", "10".into()),
        ],
    );
    fake.wait_for_socket(Duration::from_secs(20));

    // Bad input: an ephemeral answer on the ack, nothing posted, nothing run.
    let (ack, _) = slash_over_socket(&fake, "U0ALICE", CHANNEL, "up hugee");
    assert_eq!(ack["payload"]["response_type"], "ephemeral", "{ack}");
    assert!(
        ack["payload"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("hugee"),
        "{ack}"
    );

    // Slack answers the first updates of the run with 429: the bot waits and goes on.
    fake.fail_next(
        "chat.update",
        3,
        Failure::RateLimited {
            retry_after_secs: 1,
        },
    );
    let (ack, ack_latency) = slash_over_socket(&fake, "U0ALICE", CHANNEL, "up small for 2h");
    assert!(
        ack_latency < Duration::from_secs(3),
        "ack took {ack_latency:?}"
    );
    assert_eq!(ack["payload"]["response_type"], "in_channel", "{ack}");
    let ack_text = ack["payload"]["text"].as_str().unwrap_or_default();
    assert!(
        ack_text.contains("[local] up small for 2h: run #1 starting now"),
        "{ack}"
    );

    // The run's message: posted at once, then updated in place to the result.
    // (How soon the first message comes is a benchmark figure: `cargo bench --bench slack`.)
    fake.wait_for_call("the run's first message", Duration::from_secs(10), |c| {
        c.method == "chat.postMessage" && c.status == 200
    });
    let result = fake.wait_for_message("the run's result", Duration::from_secs(60), |m| {
        m.text.starts_with("[local] up small for 2h: succeeded")
    });
    assert_eq!(result.channel, CHANNEL);
    assert!(
        result.text.contains("0 added, 1 changed, 0 destroyed"),
        "{}",
        result.text
    );
    assert!(
        result.updates >= 2,
        "updated in place: {} updates",
        result.updates
    );
    let posts: Vec<ApiCall> = fake
        .calls_to("chat.postMessage")
        .into_iter()
        .filter(|c| c.status == 200)
        .collect();
    assert_eq!(posts.len(), 1, "one message per run: {posts:?}");

    // Progress showed the phase and a bar, and updates of the message were ≥ 1 s apart.
    let updates: Vec<ApiCall> = fake
        .calls_to("chat.update")
        .into_iter()
        .filter(|c| c.params["ts"] == result.ts.as_str())
        .collect();
    assert!(
        updates
            .iter()
            .any(|c| c.params.to_string().contains("applying")
                && c.params.to_string().contains('▓')
                || c.params.to_string().contains('░')),
        "a progress update shows the phase and a bar: {updates:?}"
    );
    let delivered: Vec<&ApiCall> = updates.iter().filter(|c| c.status == 200).collect();
    for pair in delivered.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(gap >= Duration::from_millis(950), "updates {gap:?} apart");
    }
    // The storm happened and was ridden out: 429s, then later retries that went through.
    let limited = updates.iter().filter(|c| c.status == 429).count();
    assert_eq!(limited, 3, "{updates:?}");
    let last_429 = updates.iter().rfind(|c| c.status == 429).unwrap().at;
    let after = delivered
        .iter()
        .find(|c| c.at > last_429)
        .expect("a retry after the 429s");
    assert!(
        after.at.duration_since(last_429) >= Duration::from_millis(900),
        "Retry-After honoured"
    );
    assert_eq!(applies(&bot), 1);

    // A mention works like the slash command; the answer goes to the channel.
    let mention = fake.send_envelope(
        "events_api",
        app_mention_payload("U0ALICE", CHANNEL, "<@U0BOT> status"),
    );
    let (ack, mention_latency) = fake.wait_for_ack(&mention, Duration::from_secs(5));
    assert!(mention_latency < Duration::from_secs(3));
    assert!(ack.get("envelope_id").is_some(), "{ack}");
    let status = fake.wait_for_message("status answer", Duration::from_secs(10), |m| {
        m.text.starts_with("[local] status: small")
    });
    assert_eq!(status.channel, CHANNEL);
    // That answer read Terraform's state once; more `status` while nothing changed reuse
    // that read instead of starting Terraform again.
    let reads_for_status = state_reads(&bot);
    assert_eq!(reads_for_status, 1, "status read the deployed state");
    for _ in 0..3 {
        let (ack, _) = slash_over_socket(&fake, "U0ALICE", CHANNEL, "status");
        let text = ack["payload"]["text"].as_str().unwrap_or_default();
        assert!(text.starts_with("[local] status: small"), "{ack}");
    }
    assert_eq!(
        state_reads(&bot),
        1,
        "no new Terraform read for an unchanged state"
    );

    // From a channel the environment is not bound to: refused, only to the requester.
    let (ack, _) = slash_over_socket(&fake, "U0ALICE", "C0RANDOM", "down");
    assert_eq!(ack["payload"]["response_type"], "ephemeral", "{ack}");
    assert_eq!(applies(&bot), 1, "nothing ran for the refused command");

    assert_eq!(serve.stop(), Some(0), "{}", serve.log());
}

#[test]
fn http_mode_checks_every_signature_and_answers_commands_and_url_verification() {
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let serve = Serve::start(&bot, &fake, Mode::Http, &[]);

    let (status, body) = get(&format!("{}/healthz", serve.base_url));
    assert_eq!((status, body.trim()), (200, "ok"));

    // Forged, missing, stale and tampered signatures: 401 and nothing else.
    let body = slash_command_form("U0ALICE", CHANNEL, "up small");
    let now = chrono::Utc::now().timestamp();
    let url = format!("{}/slack/commands", serve.base_url);
    let forged = post_form(&url, &signed_headers(now, &body, "not-the-secret"), &body);
    let missing = post_form(&url, &[], &body);
    let stale = post_form(&url, &signed_headers(now - 6 * 60, &body, SECRET), &body);
    let tampered = post_form(
        &url,
        &signed_headers(now, &body, SECRET),
        &body.replace("up+small", "up+large"),
    );
    for (what, (status, _)) in [
        ("forged", &forged),
        ("missing", &missing),
        ("stale", &stale),
        ("tampered", &tampered),
    ] {
        assert_eq!(*status, 401, "{what} signature");
    }
    let events_url = format!("{}/slack/events", serve.base_url);
    let (status, _) = post_form(
        &events_url,
        &[],
        r#"{"type":"url_verification","challenge":"x"}"#,
    );
    assert_eq!(status, 401, "events need a signature too");
    assert!(
        fake.calls().is_empty(),
        "no Slack call for refused requests"
    );
    assert_eq!(applies(&bot), 0);
    let store = bot.store();
    assert!(
        store.recent_runs(None, 10).unwrap().is_empty(),
        "no run was created"
    );
    let refused = bot
        .audit_decisions()
        .into_iter()
        .filter(|d| d.starts_with("unauthorized"))
        .count();
    // Five refusals from one source within a minute: one audit row (an unsigned flood must
    // not fill the disk); the metric below counts all five.
    assert_eq!(refused, 1, "{:?}", bot.audit_decisions());

    // URL verification.
    let challenge = r#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let (status, answer) = post_signed(&serve, "/slack/events", challenge);
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        answer["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    // A signed slash command is answered on the response itself.
    let started = Instant::now();
    let (status, answer) = post_signed(
        &serve,
        "/slack/commands",
        &slash_command_form("U0ALICE", CHANNEL, "status"),
    );
    let latency = started.elapsed();
    assert_eq!(status, 200, "{answer}");
    assert!(latency < Duration::from_secs(3), "{latency:?}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["response_type"], "in_channel", "{answer}");
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("[local] status"),
        "{answer}"
    );
    let (status, answer) = post_signed(
        &serve,
        "/slack/commands",
        &slash_command_form("U0ALICE", CHANNEL, "sizez"),
    );
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .contains("sizes"),
        "did you mean: {answer}"
    );

    // Metrics count what happened.
    let (status, metrics) = get(&format!("{}/metrics", serve.base_url));
    assert_eq!(status, 200);
    assert!(
        metrics.contains("loadtest_slack_ack_seconds_count 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("loadtest_http_unauthorized_total 5\n"),
        "{metrics}"
    );
    for line in [
        "loadtest_commands_total{verb=\"status\",outcome=\"ok\"} 1\n",
        "loadtest_commands_total{verb=\"invalid\",outcome=\"rejected\"} 1\n",
        "loadtest_outbox_depth 0\n",
        "loadtest_slack_api_calls_total 0\n",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

const APPROVAL: &str = r#"
[approval]
required_for = ["up:small"]
approvers = ["U0BOB"]
expires = "6s"
"#;

#[test]
fn approval_by_button_applies_once_and_refuses_double_clicks_self_approval_and_expired_plans() {
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    bot.append_config(APPROVAL);
    let serve = Serve::start(&bot, &fake, Mode::Http, &[]);

    let (status, answer) = post_signed(
        &serve,
        "/slack/commands",
        &slash_command_form("U0ALICE", CHANNEL, "up small"),
    );
    assert_eq!(status, 200, "{answer}");
    let waiting = fake.wait_for_message("awaiting approval", Duration::from_secs(20), |m| {
        m.text.starts_with("[local] up small: awaiting approval")
    });
    let buttons = block_text(&waiting);
    assert!(buttons.contains("\"action_id\":\"approve\""), "{buttons}");
    let click = |user: &str, action: &str| {
        let payload = fake.block_action(user, CHANNEL, &waiting.ts, action, "1");
        let (status, _) = post_signed(&serve, "/slack/interactions", &interaction_form(&payload));
        assert_eq!(status, 200);
    };

    // The requester cannot approve their own run: told privately, nothing applied.
    click("U0ALICE", "approve");
    let denial = wait_for_ephemeral(&fake, "U0ALICE", 1);
    assert!(denial.to_string().contains("approv"), "{denial}");
    assert_eq!(applies(&bot), 0);

    // The approver's click applies the saved plan; the buttons give way to who clicked.
    click("U0BOB", "approve");
    fake.wait_for_call("buttons replaced", Duration::from_secs(10), |c| {
        c.method == "chat.update"
            && c.params.to_string().contains("clicked by <@U0BOB>")
            && !c.params.to_string().contains("\"action_id\":\"approve\"")
    });
    let result = fake.wait_for_message("applied", Duration::from_secs(30), |m| {
        m.ts == waiting.ts && m.text.starts_with("[local] up small: succeeded")
    });
    assert!(
        block_text(&result).contains("approved by <@U0BOB>"),
        "{}",
        block_text(&result)
    );
    // A second click: refused, still one apply.
    click("U0BOB", "approve");
    let again = wait_for_ephemeral(&fake, "U0BOB", 1);
    assert!(again.to_string().contains("already"), "{again}");
    assert_eq!(applies(&bot), 1);

    // An approval that expired: refused, and its buttons are taken away.
    let (status, _) = post_signed(
        &serve,
        "/slack/commands",
        &slash_command_form("U0ALICE", CHANNEL, "up small"),
    );
    assert_eq!(status, 200);
    let second = fake.wait_for_message("second approval", Duration::from_secs(20), |m| {
        m.ts != waiting.ts && m.text.starts_with("[local] up small: awaiting approval")
    });
    std::thread::sleep(Duration::from_secs(7));
    let payload = fake.block_action("U0BOB", CHANNEL, &second.ts, "approve", "2");
    let (status, _) = post_signed(&serve, "/slack/interactions", &interaction_form(&payload));
    assert_eq!(status, 200);
    let expired = wait_for_ephemeral(&fake, "U0BOB", 2);
    assert!(expired.to_string().contains("expired"), "{expired}");
    fake.wait_for_message("expired buttons removed", Duration::from_secs(10), |m| {
        m.ts == second.ts && !block_text(m).contains("\"action_id\":\"approve\"")
    });
    assert_eq!(applies(&bot), 1, "the expired plan was never applied");
}

/// The `n`-th ephemeral message for `user` (1-based), waiting for it.
fn wait_for_ephemeral(fake: &FakeSlack, user: &str, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mine: Vec<Value> = fake
            .ephemerals()
            .into_iter()
            .filter(|e| e["user"] == user)
            .collect();
        if mine.len() >= n {
            return mine[n - 1].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no ephemeral #{n} for {user}: {:?}",
            fake.ephemerals()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_failed_run_puts_its_masked_log_in_the_thread_and_server_errors_are_retried() {
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let serve = Serve::start(
        &bot,
        &fake,
        Mode::Http,
        &[
            ("FAKE_TF_MODE", "secret".into()),
            ("AWS_SECRET_ACCESS_KEY", secret.into()),
        ],
    );
    // Slack's API is down for the first two posts: the bot backs off and posts anyway.
    fake.fail_next("chat.postMessage", 2, Failure::ServerError);
    let (status, _) = post_signed(
        &serve,
        "/slack/commands",
        &slash_command_form("U0ALICE", CHANNEL, "up small"),
    );
    assert_eq!(status, 200);
    let failed = fake.wait_for_message("the failed run", Duration::from_secs(30), |m| {
        m.text.starts_with("[local] up small: failed")
    });
    let posts: Vec<u16> = fake
        .calls_to("chat.postMessage")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(posts, [500, 500, 200], "retried after 5xx, posted once");
    assert!(
        !block_text(&failed).contains(secret),
        "secret in the message"
    );

    // The whole log, masked, in the run message's thread (the external upload flow).
    let complete = fake.wait_for_call("upload completed", Duration::from_secs(20), |c| {
        c.method == "files.completeUploadExternal" && c.status == 200
    });
    assert_eq!(
        complete.params["channel_id"], CHANNEL,
        "{:?}",
        complete.params
    );
    assert_eq!(
        complete.params["thread_ts"],
        failed.ts.as_str(),
        "{:?}",
        complete.params
    );
    let uploads = fake.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    let log = String::from_utf8_lossy(&uploads[0].1).into_owned();
    assert!(log.contains("InvalidClientTokenId"), "{log}");
    assert!(
        log.contains("***"),
        "the secret is masked in the log: {log}"
    );
    assert!(!log.contains(secret), "secret in the uploaded log");
    let asked = fake.calls_to("files.getUploadURLExternal");
    assert_eq!(
        asked[0].params["length"].to_string().trim_matches('"'),
        uploads[0].1.len().to_string(),
        "the announced length is the uploaded length"
    );
}

fn one_shot_down(due: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        r#"
[[schedules]]
name = "one-shot-down"
cron = "{}"
timezone = "UTC"
action = "down"
environments = ["local"]
warn_before = "15s"
"#,
        due.format("%S %M %H %d %m *"),
    )
}

#[test]
fn user_groups_grant_roles_and_keep_2h_on_a_warning_holds_the_scale_down() {
    let fake = FakeSlack::start();
    fake.set_usergroup("S0OPS", &["U0CAROL"]);
    let bot = bound_fixture();
    let due = chrono::Utc::now() + chrono::Duration::seconds(25);
    bot.append_config(&format!(
        "{}\n[access]\nadmins = [\"U0ADMIN\"]\noperators = [\"S0OPS\"]\nviewers = [\"*\"]\n",
        one_shot_down(due)
    ));
    let mut serve = Serve::start(&bot, &fake, Mode::Socket, &[]);
    fake.wait_for_socket(Duration::from_secs(20));

    // Not in the group: a viewer, refused in one line naming the role.
    let (ack, _) = slash_over_socket(&fake, "U0DAVE", CHANNEL, "up small");
    assert_eq!(ack["payload"]["response_type"], "ephemeral", "{ack}");
    assert!(
        ack["payload"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("operator"),
        "{ack}"
    );
    // In the group: an operator.
    let (ack, _) = slash_over_socket(&fake, "U0CAROL", CHANNEL, "up small");
    assert_eq!(ack["payload"]["response_type"], "in_channel", "{ack}");
    fake.wait_for_message("Carol's run", Duration::from_secs(20), |m| {
        m.text.starts_with("[local] up small: succeeded")
    });
    assert_eq!(
        fake.calls_to("usergroups.users.list").len(),
        1,
        "the group's members are cached"
    );

    // The warning before the scheduled scale-down, with its buttons.
    let warning = fake.wait_for_message("the warning", Duration::from_secs(30), |m| {
        m.text.contains("`down` at") && m.text.contains("one-shot-down")
    });
    let buttons = block_text(&warning);
    assert!(buttons.contains("\"action_id\":\"keep_hold\""), "{buttons}");
    assert!(
        buttons.contains("\"action_id\":\"scale_down\""),
        "{buttons}"
    );
    assert!(chrono::Utc::now() < due, "warned before the scale-down");
    // Dave (a viewer) may not keep it; Carol may.
    let click = |user: &str| {
        let payload = fake.block_action(user, CHANNEL, &warning.ts, "keep_hold", "local");
        let envelope = fake.send_envelope("interactive", payload);
        let (_, latency) = fake.wait_for_ack(&envelope, Duration::from_secs(5));
        assert!(latency < Duration::from_secs(3));
    };
    click("U0DAVE");
    let refused = wait_for_ephemeral(&fake, "U0DAVE", 1);
    assert!(refused.to_string().contains("operator"), "{refused}");
    click("U0CAROL");
    let held = fake.wait_for_message("hold acknowledged", Duration::from_secs(10), |m| {
        m.text.contains("held until")
    });
    assert_eq!(held.channel, CHANNEL);
    fake.wait_for_message("buttons replaced", Duration::from_secs(10), |m| {
        m.ts == warning.ts && block_text(m).contains("Keep 2h* clicked by <@U0CAROL>")
    });
    // The scale-down time passes: held, so nothing runs.
    while chrono::Utc::now() < due + chrono::Duration::seconds(3) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(applies(&bot), 1, "only Carol's up small was applied");
    assert!(
        bot.audit_decisions()
            .iter()
            .any(|d| d.contains("skipped") || d.contains("held")),
        "{:?}",
        bot.audit_decisions()
    );
    assert_eq!(serve.stop(), Some(0), "{}", serve.log());
}

#[test]
fn a_slack_outage_during_a_run_and_a_restart_in_it_lose_nothing_and_keep_the_order() {
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let slow = [("FAKE_TF_APPLY_SECONDS", "3".to_string())];
    let mut serve = Serve::start(&bot, &fake, Mode::Http, &slow);
    let (status, _) = post_signed(
        &serve,
        "/slack/commands",
        &slash_command_form("U0ALICE", CHANNEL, "up small"),
    );
    assert_eq!(status, 200);
    let started = fake.wait_for_message("the run's message", Duration::from_secs(10), |m| {
        m.text.starts_with("[local] up small")
    });

    // Slack goes down while the run goes on; the run ends during the outage.
    fake.set_outage(true);
    let store = bot.store();
    let deadline = Instant::now() + Duration::from_secs(60);
    while store
        .get_run(loadtest_bot::model::RunId(1))
        .unwrap()
        .is_none_or(|run| run.outcome != loadtest_bot::model::RunOutcome::Succeeded)
    {
        assert!(Instant::now() < deadline, "the run did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Something else for the same channel, after the result: it must not overtake it.
    let mention = app_mention_payload("U0ALICE", CHANNEL, "<@U0FAKEBOT> status");
    let (status, _) = post_signed(&serve, "/slack/events", &mention.to_string());
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        store.outbox_depth().unwrap() >= 2,
        "the result and the answer wait in the outbox"
    );
    assert!(
        !fake.messages(CHANNEL)[0].text.contains("succeeded"),
        "nothing got through the outage"
    );

    // The bot restarts while Slack is still down, then Slack comes back.
    assert_eq!(serve.stop(), Some(0), "{}", serve.log());
    let down_calls = fake.calls().len();
    let _serve = Serve::start(&bot, &fake, Mode::Http, &slow);
    std::thread::sleep(Duration::from_secs(1));
    fake.set_outage(false);
    let result = fake.wait_for_message(
        "the result after the outage",
        Duration::from_secs(60),
        |m| m.ts == started.ts && m.text.starts_with("[local] up small: succeeded"),
    );
    assert_eq!(result.channel, CHANNEL);
    fake.wait_for_message("the status answer", Duration::from_secs(30), |m| {
        m.text.starts_with("[local] status")
    });
    let after: Vec<ApiCall> = fake.calls()[down_calls..]
        .iter()
        .filter(|c| c.status == 200)
        .cloned()
        .collect();
    let final_at = after
        .iter()
        .position(|c| {
            c.method == "chat.update" && c.params.to_string().contains("up small: succeeded")
        })
        .expect("the final update was delivered");
    let status_at = after
        .iter()
        .position(|c| {
            c.method == "chat.postMessage" && c.params.to_string().contains("[local] status")
        })
        .expect("the status answer was delivered");
    assert!(final_at < status_at, "in order: {after:?}");
    // Once each: one post for the run, one final update, one status answer.
    let delivered = |pred: &dyn Fn(&ApiCall) -> bool| {
        fake.calls()
            .iter()
            .filter(|c| c.status == 200 && pred(c))
            .count()
    };
    assert_eq!(
        delivered(&|c| c.method == "chat.postMessage"
            && c.params["text"]
                .as_str()
                .unwrap_or_default()
                .starts_with("[local] up small")),
        1
    );
    assert_eq!(
        delivered(
            &|c| c.method == "chat.update" && c.params.to_string().contains("up small: succeeded")
        ),
        1
    );
    assert_eq!(
        delivered(
            &|c| c.method == "chat.postMessage" && c.params.to_string().contains("[local] status")
        ),
        1
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.outbox_depth().unwrap() > 0 {
        assert!(Instant::now() < deadline, "the outbox drained");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(applies(&bot), 1);
}

#[test]
fn sigterm_lets_the_running_apply_finish_refuses_new_commands_and_drops_queued_runs() {
    use loadtest_bot::model::{RunId, RunOutcome};
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let mut serve = Serve::start(
        &bot,
        &fake,
        Mode::Http,
        &[("FAKE_TF_APPLY_SECONDS", "4".to_string())],
    );
    let command = |text: &str| {
        let (status, answer) = post_signed(
            &serve,
            "/slack/commands",
            &slash_command_form("U0ALICE", CHANNEL, text),
        );
        assert_eq!(status, 200, "{answer}");
        answer
    };
    assert!(command("up small").contains("starting now"));
    assert!(command("down").contains("queued"));
    let store = bot.store();
    wait_for_outcome(&store, RunId(1), RunOutcome::Running);
    std::thread::sleep(Duration::from_millis(500));

    serve.terminate();
    std::thread::sleep(Duration::from_millis(500));
    let answer = command("status");
    assert!(answer.contains("restarting"), "{answer}");
    assert_eq!(
        serve.wait_exit(Duration::from_secs(60)),
        Some(0),
        "{}",
        serve.log()
    );

    let first = store.get_run(RunId(1)).unwrap().unwrap();
    assert_eq!(
        first.outcome,
        RunOutcome::Succeeded,
        "the running apply finished"
    );
    let second = store.get_run(RunId(2)).unwrap().unwrap();
    assert_eq!(
        second.outcome,
        RunOutcome::Cancelled,
        "the queued run was dropped"
    );
    assert!(
        second
            .error
            .unwrap_or_default()
            .contains("before it started"),
        "recorded why"
    );
    assert_eq!(applies(&bot), 1, "the queued run never ran");
    let texts: Vec<String> = fake.messages(CHANNEL).into_iter().map(|m| m.text).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("[local] up small: succeeded")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("[local] down: cancelled")),
        "{texts:?}"
    );
}

#[test]
fn sigterm_interrupts_an_apply_that_outlasts_the_grace_period_and_records_it() {
    use loadtest_bot::model::{RunId, RunOutcome};
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let mut serve = Serve::start(
        &bot,
        &fake,
        Mode::Http,
        &[
            ("FAKE_TF_APPLY_SECONDS", "60".to_string()),
            ("LOADTEST_SHUTDOWN_GRACE", "1s".to_string()),
        ],
    );
    let (status, _) = post_signed(
        &serve,
        "/slack/commands",
        &slash_command_form("U0ALICE", CHANNEL, "up small"),
    );
    assert_eq!(status, 200);
    let store = bot.store();
    wait_for_outcome(&store, RunId(1), RunOutcome::Running);
    std::thread::sleep(Duration::from_secs(1));
    serve.terminate();
    assert_eq!(
        serve.wait_exit(Duration::from_secs(40)),
        Some(0),
        "{}",
        serve.log()
    );
    let run = store.get_run(RunId(1)).unwrap().unwrap();
    assert_eq!(run.outcome, RunOutcome::Cancelled, "{run:?}");
    fake.wait_for_message("the cancelled result", Duration::from_secs(5), |m| {
        m.text.starts_with("[local] up small: cancelled")
    });
}

/// The hostile corpus: texts a slash command may carry.
fn hostile_texts() -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    let metachars = [
        ";", "&&", "||", "|", "&", "$(id)", "`id`", ">", "<", "$IFS", "\\", "'", "\"", "#", "*",
        "~", "{a,b}", "!!", "%0a", "\n",
    ];
    for m in metachars {
        texts.push(format!("up small{m} rm -rf /"));
        texts.push(format!("status {m}"));
    }
    for injection in [
        "up -var=slave_count=500",
        "up small -var slave_count=500",
        "up small -chdir=/",
        "plan -chdir=/tmp large",
        "up -var-file=/etc/passwd",
        "up small --auto-approve",
        "up small -target=aws_instance.master",
        "up small -lock=false",
        "up small -replace=aws_instance.master",
        "down -destroy",
        "off -auto-approve",
        "apply",
        "terraform destroy",
        "destroy",
        "up small env=local -var x=1",
    ] {
        texts.push(injection.to_string());
    }
    for traversal in [
        "up ../small",
        "up ../../etc/passwd",
        "up small env=../local",
        "up small env=local/../other",
        "up /etc/passwd",
        "plan ..",
        "up small env=%2e%2e",
        "up .small",
        "up small/",
        "up small env=/",
        "up small env=local%00",
        "up sizes.toml",
        "up ../commands/sizes",
        "plan ../../terraform/envs/aws",
        "up small env=..",
    ] {
        texts.push(traversal.to_string());
    }
    for lookalike in [
        "uр small",
        "up ѕmall",
        "ｕｐ small",
        "up small env=ⅼocal",
        "up ＳＭＡＬＬ",
        "up small\u{200b}",
        "\u{202e}up small",
        "up smal\u{301}l",
        "up small\u{feff}",
        "up ꜱmall",
        "dοwn",
        "οff",
    ] {
        texts.push(lookalike.to_string());
    }
    texts.push(format!("up {}", "a".repeat(100_000)));
    texts.push(format!("status {}", "x".repeat(100_000)));
    texts.push("up small ".repeat(12_000));
    for control in [
        "up small\u{7}",
        "\u{1b}[31mup small",
        "up\tsmall\u{0}",
        "\r\nup small",
        "up small\u{7f}",
        "up\u{8}\u{8}off",
        "up small\u{85}",
        "up small\u{2028}",
    ] {
        texts.push(control.to_string());
    }
    for bad in [
        "up small for 999h",
        "up small for -1h",
        "up small for 0s",
        "extend forever",
        "hold 1e9h",
        "up small for 3hours and 2",
        "up small for 25h",
        "hold 99999999999999999999h",
        "up",
        "up small large",
        "history -1",
        "history 99999999999999999999",
        "approve ../1",
        "approve 1;2",
        "reject -1",
        "unlock ../../lock",
        "rm -rf /",
        "sudo up small",
        "status env=nowhere",
        "up huge",
    ] {
        texts.push(bad.to_string());
    }
    texts
}

#[test]
fn a_hostile_corpus_is_answered_audited_and_never_starts_terraform() {
    let fake = FakeSlack::start();
    let bot = bind_to_test_channel(BotFixture::with_recording_terraform_and_access());
    let serve = Serve::start(&bot, &fake, Mode::Http, &[]);
    let commands_url = format!("{}/slack/commands", serve.base_url);
    let mut requests = 0usize;
    let (mut unsigned, mut too_large) = (0usize, 0usize);
    let mut answered = |status: u16, body: &str, what: &str| {
        requests += 1;
        unsigned += usize::from(status == 401);
        too_large += usize::from(status == 413);
        assert!(
            matches!(status, 200 | 400 | 401 | 413),
            "{what}: status {status}: {body}"
        );
        assert!(
            !body.trim().is_empty() || status == 200,
            "{what}: no answer"
        );
    };

    // Hostile texts from a real operator in the bound channel: refused, to them only.
    let texts = hostile_texts();
    for text in &texts {
        let form = slash_command_form("U0OPERATOR", CHANNEL, text);
        let (status, body) = post_signed(&serve, "/slack/commands", &form);
        answered(status, &body, text);
        // Slack never sends a body this large; the listener refuses it before anyone reads it.
        if form.len() > 64 * 1024 {
            assert_eq!(status, 413, "{} bytes", form.len());
            continue;
        }
        assert_eq!(status, 200, "{text:?}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["response_type"], "ephemeral", "{text:?} → {answer}");
        assert!(!answer["text"].as_str().unwrap_or_default().is_empty());
    }
    // Valid commands from the wrong people or the wrong places.
    let misplaced = [
        ("U0VIEWER", CHANNEL, "up small"),
        ("U0VIEWER", CHANNEL, "down"),
        ("U0NOBODY", CHANNEL, "down"),
        ("U0OPERATOR", CHANNEL, "off"),
        ("U0OPERATOR", CHANNEL, "unlock 1234-abcd"),
        ("W0STRANGER", CHANNEL, "up small"),
        ("U0OPERATOR", "C0OTHER", "up small"),
        ("U0OPERATOR", "D0DIRECT", "down"),
        ("U0OPERATOR", "G0PRIVATE", "up small"),
        ("U0ADMIN", "C0OTHER", "off"),
        ("U0OPERATOR", "C0OTHER", "status"),
    ];
    for (user, channel, text) in misplaced {
        let (status, body) = post_signed(
            &serve,
            "/slack/commands",
            &slash_command_form(user, channel, text),
        );
        answered(status, &body, text);
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            answer["response_type"], "ephemeral",
            "{user} {channel} {text}: {answer}"
        );
    }
    // Forged or malformed ids inside correctly signed bodies: 400 with the reason.
    for user in [
        "U0ADMIN;",
        "../U0ADMIN",
        "",
        "u0admin",
        "U0ADMIN\n",
        "S0GROUP",
        "U0AD MIN",
        "U",
    ] {
        let (status, body) = post_signed(
            &serve,
            "/slack/commands",
            &slash_command_form(user, CHANNEL, "down"),
        );
        answered(status, &body, user);
        assert_eq!(status, 400, "user {user:?}: {body}");
    }
    for channel in ["C0LT1/../x", "#general", "c0lower"] {
        let (status, body) = post_signed(
            &serve,
            "/slack/commands",
            &slash_command_form("U0OPERATOR", channel, "down"),
        );
        answered(status, &body, channel);
        assert_eq!(status, 400, "channel {channel:?}: {body}");
    }
    // Signatures: forged, stale, replayed from long ago, for another body, absent, malformed.
    let body = slash_command_form("U0ADMIN", CHANNEL, "off");
    let now = chrono::Utc::now().timestamp();
    let old = now - 10 * 60;
    let replayed = signed_headers(old, &body, SECRET);
    type WireCase<'a> = (&'a str, Vec<(&'a str, String)>, String);
    let wire_cases: Vec<WireCase> = vec![
        ("forged", signed_headers(now, &body, "guess"), body.clone()),
        (
            "stale",
            signed_headers(now - 301, &body, SECRET),
            body.clone(),
        ),
        ("replayed", replayed.clone(), body.clone()),
        ("replayed again", replayed, body.clone()),
        (
            "future",
            signed_headers(now + 600, &body, SECRET),
            body.clone(),
        ),
        (
            "other body",
            signed_headers(
                now,
                &slash_command_form("U0ADMIN", CHANNEL, "status"),
                SECRET,
            ),
            body.clone(),
        ),
        ("missing", Vec::new(), body.clone()),
        (
            "v1 scheme",
            vec![
                ("X-Slack-Request-Timestamp", now.to_string()),
                ("X-Slack-Signature", "v1=00".to_string()),
            ],
            body.clone(),
        ),
        (
            "text timestamp",
            vec![
                ("X-Slack-Request-Timestamp", "yesterday".to_string()),
                (
                    "X-Slack-Signature",
                    slack_signature(SECRET, "yesterday", &body),
                ),
            ],
            body.clone(),
        ),
        (
            "truncated signature",
            vec![
                ("X-Slack-Request-Timestamp", now.to_string()),
                (
                    "X-Slack-Signature",
                    slack_signature(SECRET, &now.to_string(), &body)[..20].to_string(),
                ),
            ],
            body.clone(),
        ),
    ];
    for (what, headers, body) in &wire_cases {
        let (status, answer) = post_form(&commands_url, headers, body);
        answered(status, &answer, what);
        assert_eq!(status, 401, "{what}");
    }
    for path in ["/slack/interactions", "/slack/events"] {
        let (status, answer) = post_form(
            &format!("{}{path}", serve.base_url),
            &signed_headers(now, "payload=%7B%7D", "guess"),
            "payload=%7B%7D",
        );
        answered(status, &answer, path);
        assert_eq!(status, 401, "{path}");
    }
    // Hostile buttons and mentions (answered later, privately or in the channel).
    let buttons = [
        ("approve", "../1"),
        ("approve", "1; rm -rf /"),
        ("rm_rf", "1"),
        ("keep_hold", "local env=other"),
        ("scale_down", "../../local"),
        ("reject", "99999999999999999999"),
    ];
    for (action, value) in buttons {
        let payload = fake.block_action("U0OPERATOR", CHANNEL, "1700000000.000001", action, value);
        let (status, answer) =
            post_signed(&serve, "/slack/interactions", &interaction_form(&payload));
        answered(status, &answer, action);
        assert_eq!(status, 200);
    }
    let mentions = [
        "<@U0FAKEBOT> up small; rm -rf /",
        "<@U0FAKEBOT> up -chdir=/",
        "<@U0FAKEBOT> up ../small",
        "<@U0FAKEBOT> \u{202e}off",
        "<@U0FAKEBOT> destroy",
    ];
    for text in mentions {
        let payload = app_mention_payload("U0OPERATOR", CHANNEL, text);
        let (status, answer) = post_signed(&serve, "/slack/events", &payload.to_string());
        answered(status, &answer, text);
        assert_eq!(status, 200);
    }
    let deferred = buttons.len() + mentions.len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.ephemerals().len() < deferred {
        assert!(
            Instant::now() < deadline,
            "{} of {deferred} deferred answers: {:?}",
            fake.ephemerals().len(),
            fake.ephemerals()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    assert!(requests >= 150, "only {requests} hostile requests");
    assert!(!bot.terraform_was_called(), "{}", bot.terraform_calls());
    let store = bot.store();
    assert!(
        store.recent_runs(None, 10).unwrap().is_empty(),
        "no run was created"
    );
    let audited = bot.audit_decisions();
    // Every signed request is audited once; the unsigned ones (all from this one address within
    // a minute) write one row; bodies over the limit are refused before anyone reads them.
    assert!(
        unsigned > 1 && too_large > 0,
        "{unsigned} unsigned, {too_large} too large"
    );
    assert_eq!(
        audited.len(),
        requests - unsigned - too_large + 1,
        "every request audited once: {audited:#?}"
    );
    assert!(
        audited.iter().all(|d| !d.starts_with("allowed")),
        "nothing was allowed: {audited:#?}"
    );
}

/// Waits until run `run` has `outcome` in the store.
fn wait_for_outcome(
    store: &loadtest_bot::store::Store,
    run: loadtest_bot::model::RunId,
    outcome: loadtest_bot::model::RunOutcome,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.get_run(run).unwrap().map(|r| r.outcome) != Some(outcome) {
        assert!(
            Instant::now() < deadline,
            "run {run} never became {outcome}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pids of processes whose command line mentions `needle` (the fake Terraform of one test).
fn pids_mentioning(needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

fn wait_for_apply_to_start(bot: &BotFixture) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while applies(bot) == 0 {
        assert!(Instant::now() < deadline, "the apply never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
}

#[test]
fn a_bot_killed_mid_apply_reports_the_run_interrupted_with_the_lock_and_applies_nothing_again() {
    use loadtest_bot::model::{RunId, RunOutcome};
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let slow = [("FAKE_TF_APPLY_SECONDS", "20".to_string())];
    let mut serve = Serve::start(&bot, &fake, Mode::Http, &slow);
    let (status, _) = post_signed(
        &serve,
        "/slack/commands",
        &slash_command_form("U0ALICE", CHANNEL, "up small"),
    );
    assert_eq!(status, 200);
    wait_for_apply_to_start(&bot);
    // SIGKILL: no chance to record anything. Terraform (here the fake) is left holding the
    // state lock, which a local backend keeps in this file, in Terraform's own format.
    serve.child.kill().unwrap();
    serve.child.wait().unwrap();
    let lock_file = bot
        .state_dir()
        .join("envs/local/.terraform.tfstate.lock.info");
    std::fs::write(
        &lock_file,
        r#"{"ID":"0e6a1b2c-3d4e-5f60-7182-93a4b5c6d7e8","Operation":"OperationTypeApply","Info":"","Who":"bot@host","Version":"1.0.3","Created":"2026-11-26T10:00:00Z","Path":"terraform.tfstate"}"#,
    )
    .unwrap();
    let store = bot.store();
    assert_eq!(
        store.get_run(RunId(1)).unwrap().unwrap().outcome,
        RunOutcome::Running
    );
    // The orphaned apply is killed too, as an operator would before unlocking.
    for pid in pids_mentioning(&bot.dir.path().display().to_string()) {
        // SAFETY: signalling a process of this test's own fake Terraform.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }

    let _serve = Serve::start(&bot, &fake, Mode::Http, &slow);
    let reported = fake.wait_for_message("the interrupted run", Duration::from_secs(20), |m| {
        m.text.starts_with("[local] up small: interrupted")
    });
    let text = block_text(&reported);
    assert!(
        text.contains("unlock 0e6a1b2c-3d4e-5f60-7182-93a4b5c6d7e8"),
        "{text}"
    );
    assert_eq!(
        store.get_run(RunId(1)).unwrap().unwrap().outcome,
        RunOutcome::Interrupted
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(applies(&bot), 1, "nothing applied again after the restart");
}

#[test]
fn terraform_killed_from_outside_is_reported_failed_with_its_output() {
    use loadtest_bot::model::{RunId, RunOutcome};
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let serve = Serve::start(
        &bot,
        &fake,
        Mode::Http,
        &[("FAKE_TF_APPLY_SECONDS", "30".to_string())],
    );
    let (status, _) = post_signed(
        &serve,
        "/slack/commands",
        &slash_command_form("U0ALICE", CHANNEL, "up small"),
    );
    assert_eq!(status, 200);
    wait_for_apply_to_start(&bot);
    let victims = pids_mentioning("plan.tfplan");
    let ours: Vec<i32> = victims
        .into_iter()
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(&bot.dir.path().display().to_string())
        })
        .collect();
    assert!(!ours.is_empty(), "found the apply to kill");
    for pid in ours {
        // SAFETY: signalling this test's own fake Terraform.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let failed = fake.wait_for_message("the failed run", Duration::from_secs(30), |m| {
        m.text.starts_with("[local] up small: failed")
    });
    assert_eq!(
        bot.store().get_run(RunId(1)).unwrap().unwrap().outcome,
        RunOutcome::Failed
    );
    let text = block_text(&failed);
    assert!(
        text.to_lowercase().contains("signal") || text.contains("killed"),
        "{text}"
    );
    // Its output so far, in the thread.
    fake.wait_for_call("the log upload", Duration::from_secs(20), |c| {
        c.method == "files.completeUploadExternal" && c.status == 200
    });
    let log = String::from_utf8_lossy(&fake.uploads()[0].1).into_owned();
    assert!(log.contains("Still modifying"), "{log}");
}

#[test]
fn commands_racing_for_one_environment_from_slack_and_exec_apply_one_at_a_time() {
    let fake = FakeSlack::start();
    let bot = bound_fixture();
    let serve = Serve::start(
        &bot,
        &fake,
        Mode::Http,
        &[("FAKE_TF_APPLY_SECONDS", "1".to_string())],
    );
    let config = bot.config_path().display().to_string();
    let start = std::sync::Arc::new(std::sync::Barrier::new(3));
    std::thread::scope(|scope| {
        for text in ["up small", "up medium"] {
            let start = std::sync::Arc::clone(&start);
            let serve = &serve;
            scope.spawn(move || {
                start.wait();
                let (status, body) = post_signed(
                    serve,
                    "/slack/commands",
                    &slash_command_form("U0ALICE", CHANNEL, text),
                );
                assert_eq!(status, 200, "{body}");
            });
        }
        let start = std::sync::Arc::clone(&start);
        let bot = &bot;
        let config = &config;
        scope.spawn(move || {
            let mut command = bot.command(&["--config", config, "exec", "--", "up", "large"]);
            command.env("FAKE_TF_CALLS", bot.dir.path().join("calls"));
            command.env("FAKE_TF_APPLY_SECONDS", "1");
            start.wait();
            let output = command.output().unwrap();
            assert_eq!(
                output.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        });
    });
    fake.wait_for_message("both Slack runs", Duration::from_secs(60), |m| {
        m.text.starts_with("[local] up medium: succeeded")
    });
    fake.wait_for_message("both Slack runs", Duration::from_secs(60), |m| {
        m.text.starts_with("[local] up small: succeeded")
    });
    let calls = std::fs::read_to_string(bot.dir.path().join("calls")).unwrap();
    let mut applying = false;
    let mut finished = 0;
    for line in calls.lines() {
        if line.starts_with("apply") {
            assert!(!applying, "two applies overlapped:\n{calls}");
            applying = true;
        } else if line == "finished apply" {
            applying = false;
            finished += 1;
        }
    }
    assert_eq!(finished, 3, "{calls}");
}
