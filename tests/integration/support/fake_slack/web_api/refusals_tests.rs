//! Self-tests of the fake's Web API strictness: every method the bot uses answered in the
//! encodings the table lists and refused in the others, unknown methods, unreadable bodies,
//! missing arguments and invalid Block Kit refused as Slack refuses them.

use super::super::slack_side::{get, http_request, post_form, post_json};
use super::super::test_support::bearer;
use super::super::FakeSlack;
use super::*;

/// A form body of `fields`, the way Slack's SDK encodes one.
pub(super) fn form(fields: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields {
        form.append_pair(key, value);
    }
    form.finish()
}

fn answer_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("not JSON ({error}): {body}"))
}

#[test]
fn fake_slack_refuses_a_json_usergroups_users_list_as_slack_does() {
    let slack = FakeSlack::start();
    slack.set_usergroup("S0OPS", &["U0CAROL"]);
    let url = format!("{}/usergroups.users.list", slack.api_url());

    // The method does not read JSON: the call arrives without its `usergroup`.
    let (status, body) = post_json(&url, &bearer("xoxb-test"), &json!({"usergroup": "S0OPS"}));
    assert_eq!(status, 200);
    assert_eq!(
        answer_of(&body),
        json!({"ok": false, "error": "invalid_arguments", "response_metadata": {"messages": [
            "[ERROR] missing required field: usergroup"
        ]}})
    );
    let refused = &slack.calls_to("usergroups.users.list")[0];
    assert_eq!(refused.params, json!({}), "nothing read from the JSON body");
    assert_eq!(refused.http_method, "POST");
    assert!(refused.body.contains("S0OPS"), "{}", refused.body);
    assert_eq!(refused.error.as_deref(), Some("invalid_arguments"));

    // As the table says (GET, query string), and as a form, which Slack reads too.
    let reply = http_request(
        "GET",
        &format!("{url}?usergroup=S0OPS"),
        &bearer("xoxb-test"),
        "",
    );
    assert_eq!(answer_of(&reply.body)["users"], json!(["U0CAROL"]));
    let (_, body) = post_form(&url, &bearer("xoxb-test"), "usergroup=S0OPS");
    assert_eq!(answer_of(&body)["users"], json!(["U0CAROL"]));
    // A body on a GET is not read either.
    let mut headers = bearer("xoxb-test");
    headers.push((
        "Content-Type",
        "application/x-www-form-urlencoded".to_owned(),
    ));
    let reply = http_request("GET", &url, &headers, "usergroup=S0OPS");
    assert_eq!(answer_of(&reply.body)["error"], "invalid_arguments");
}

/// What the bot sends each method it calls, set up on `slack` so the call can succeed (a
/// message to update, an upload slot to complete). Panics for a method it does not know: a
/// method the bot starts calling needs its case here.
fn bot_call_arguments(slack: &FakeSlack, method: &str) -> Value {
    match method {
        "chat.postMessage" => json!({
            "channel": "C0LOAD",
            "text": "scaling up",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*up*"}}],
            "unfurl_links": false,
        }),
        "chat.update" => {
            let (_, body) = post_json(
                &format!("{}/chat.postMessage", slack.api_url()),
                &bearer("xoxb-test"),
                &json!({"channel": "C0LOAD", "text": "scaling up"}),
            );
            json!({
                "channel": "C0LOAD",
                "ts": answer_of(&body)["ts"],
                "text": "scaled up",
                "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "done"}}],
            })
        }
        "chat.postEphemeral" => json!({
            "channel": "C0LOAD",
            "user": "U0CAROL",
            "text": "only you",
            "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "_quiet_"}]}],
        }),
        "files.getUploadURLExternal" => json!({"filename": "run-7.log", "length": 5}),
        "files.completeUploadExternal" => {
            let reply = http_request(
                "GET",
                &format!(
                    "{}/files.getUploadURLExternal?filename=run-7.log&length=5",
                    slack.api_url()
                ),
                &bearer("xoxb-test"),
                "",
            );
            json!({
                "files": [{"id": answer_of(&reply.body)["file_id"], "title": "run 7 log"}],
                "channel_id": "C0LOAD",
                "thread_ts": "1700000000.000100",
            })
        }
        "usergroups.users.list" => json!({"usergroup": "S0OPS"}),
        "files.info" => {
            let shared = slack.share_file("U0CAROL", "C0LOAD", "plan.jmx", b"<jmeterTestPlan/>");
            json!({"file": shared["event"]["file_id"]})
        }
        other => panic!("no sample arguments for {other}: add the bot's new method here"),
    }
}

/// `arguments` as text fields: strings as they are, anything else as JSON text.
fn text_fields(arguments: &Value) -> Vec<(String, String)> {
    arguments
        .as_object()
        .expect("arguments are an object")
        .iter()
        .map(|(key, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (key.clone(), text)
        })
        .collect()
}

/// Sends `arguments` to `method` encoded as `encoding`; the answer as JSON.
fn send_encoded(
    slack: &FakeSlack,
    method: &str,
    encoding: contract::Encoding,
    arguments: &Value,
) -> Value {
    let url = format!("{}/{method}", slack.api_url());
    let fields = text_fields(arguments);
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    let body = match encoding {
        contract::Encoding::Json => post_json(&url, &bearer("xoxb-test"), arguments).1,
        contract::Encoding::Form => post_form(&url, &bearer("xoxb-test"), &form(&pairs)).1,
        contract::Encoding::Query => {
            http_request(
                "GET",
                &format!("{url}?{}", form(&pairs)),
                &bearer("xoxb-test"),
                "",
            )
            .body
        }
        contract::Encoding::Multipart => panic!("{method}: the bot sends no multipart bodies"),
    };
    answer_of(&body)
}

/// Every method the bot calls (its own list, so a method it starts calling is covered
/// here), sent in every encoding the table lists for it, is answered `ok`; sent as JSON
/// when the table does not list JSON, it is refused.
#[test]
fn fake_slack_answers_every_method_the_bot_uses_sent_as_the_table_says() {
    let mut tried = Vec::new();
    for method in loadtest_bot::slack::methods::METHODS_THE_BOT_CALLS {
        let encodings = contract::encodings(method)
            .unwrap_or_else(|| panic!("{method} is not in the encodings table"));
        for encoding in encodings {
            let slack = FakeSlack::start();
            slack.set_usergroup("S0OPS", &["U0CAROL"]);
            let arguments = bot_call_arguments(&slack, method);
            let answer = send_encoded(&slack, method, *encoding, &arguments);
            assert_eq!(
                answer["ok"],
                true,
                "{method} as {encoding:?}: {answer}\n{}",
                slack.dump()
            );
            tried.push(format!("{method} {encoding:?}"));
        }
        if !contract::reads_json(method) {
            let slack = FakeSlack::start();
            slack.set_usergroup("S0OPS", &["U0CAROL"]);
            let arguments = bot_call_arguments(&slack, method);
            let answer = send_encoded(&slack, method, contract::Encoding::Json, &arguments);
            assert_eq!(answer["ok"], false, "{method} as JSON: {answer}");
            assert_eq!(answer["error"], "invalid_arguments", "{method}: {answer}");
        }
    }
    assert_eq!(
        tried,
        [
            "chat.postMessage Json",
            "chat.update Json",
            "chat.postEphemeral Json",
            "files.getUploadURLExternal Form",
            "files.completeUploadExternal Form",
            "files.info Query",
            "usergroups.users.list Query",
        ]
    );
}

#[test]
fn fake_slack_refuses_unknown_methods_unreadable_bodies_and_missing_arguments() {
    const JSON: &str = "application/json; charset=utf-8";
    const FORM: &str = "application/x-www-form-urlencoded";
    // (method, content type, body, bot token in the header?, the error or "ok")
    let cases = [
        (
            "chat.postMesage",
            JSON,
            r#"{"channel":"C0LOAD","text":"hi"}"#,
            true,
            "unknown_method",
        ),
        (
            "chat.postMessage",
            JSON,
            r#"{"channel":"C0LOAD","#,
            true,
            "invalid_json",
        ),
        ("chat.postMessage", JSON, "[1, 2]", true, "json_not_object"),
        (
            "chat.postMessage",
            "application/xml",
            "<text>hi</text>",
            true,
            "invalid_post_type",
        ),
        (
            "chat.postMessage",
            "",
            "channel=C0LOAD&text=hi",
            true,
            "missing_post_type",
        ),
        (
            "chat.postMessage",
            "multipart/form-data; boundary=x",
            "--x--",
            true,
            MULTIPART_NOT_READ,
        ),
        (
            "chat.postMessage",
            FORM,
            "channel=C0LOAD&text=hi",
            false,
            "not_authed",
        ),
        (
            "chat.postMessage",
            FORM,
            "token=xoxb-form&channel=C0LOAD&text=hi",
            false,
            "ok",
        ),
        // A JSON caller's token must come in the header.
        (
            "chat.postMessage",
            JSON,
            r#"{"token":"xoxb-x","channel":"C0LOAD","text":"hi"}"#,
            false,
            "not_authed",
        ),
        (
            "chat.postMessage",
            JSON,
            r#"{"text":"hi"}"#,
            true,
            "channel_not_found",
        ),
        (
            "chat.postMessage",
            JSON,
            r#"{"channel":"C0LOAD"}"#,
            true,
            "no_text",
        ),
        (
            "chat.postMessage",
            FORM,
            "channel=C0LOAD&text=hi&blocks=%5B%7B",
            true,
            "invalid_blocks_format",
        ),
        (
            "chat.update",
            JSON,
            r#"{"channel":"C0LOAD","ts":"1.000000","text":"?"}"#,
            true,
            "message_not_found",
        ),
        (
            "chat.postEphemeral",
            JSON,
            r#"{"channel":"C0LOAD","text":"x"}"#,
            true,
            "user_not_in_channel",
        ),
        (
            "files.getUploadURLExternal",
            JSON,
            r#"{"filename":"a.log","length":1}"#,
            true,
            "invalid_arguments",
        ),
        (
            "files.getUploadURLExternal",
            FORM,
            "filename=a.log&length=many",
            true,
            "invalid_arguments",
        ),
        (
            "files.completeUploadExternal",
            FORM,
            "files=F0001",
            true,
            "invalid_arguments",
        ),
        (
            "files.completeUploadExternal",
            FORM,
            "files=%5B%7B%22id%22%3A%22F9%22%7D%5D",
            true,
            "file_not_found",
        ),
        (
            "usergroups.users.list",
            FORM,
            "usergroup=S0NONE",
            true,
            "no_such_subteam",
        ),
        (
            "conversations.history",
            FORM,
            "channel=C0LOAD",
            true,
            NOT_IMPLEMENTED,
        ),
    ];
    let slack = FakeSlack::start();
    slack.set_usergroup("S0OPS", &["U0CAROL"]);
    let mut failures = Vec::new();
    for (method, content_type, body, with_token, expected) in cases {
        let mut headers = Vec::new();
        if !content_type.is_empty() {
            headers.push(("Content-Type", content_type.to_owned()));
        }
        if with_token {
            headers.extend(bearer("xoxb-test"));
        }
        let reply = http_request(
            "POST",
            &format!("{}/{method}", slack.api_url()),
            &headers,
            body,
        );
        let answer = answer_of(&reply.body);
        let got = if answer["ok"] == true {
            "ok"
        } else {
            answer["error"].as_str().unwrap_or("(no error)")
        };
        if reply.status != 200 || got != expected {
            failures.push(format!(
                "{method} {content_type} {body}: expected {expected}, got {} {}",
                reply.status, reply.body
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        answer_of(&get(&format!("{}/nothing.here", slack.api_url())).1)["req_method"],
        "nothing.here"
    );
    assert_eq!(
        slack.messages("C0LOAD").len(),
        1,
        "only the form post with its token"
    );
    assert!(
        slack.take_block_kit_refusals().len() == 1,
        "the unreadable blocks"
    );
}

#[test]
fn fake_slack_refuses_invalid_block_kit_as_slack_does() {
    let slack = FakeSlack::start();
    let post = |body: Value| {
        answer_of(
            &post_json(
                &format!("{}/chat.postMessage", slack.api_url()),
                &bearer("xoxb-test"),
                &body,
            )
            .1,
        )
    };
    let answer = post(json!({
        "channel": "C0LOAD",
        "text": "plan",
        "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "*plan*"}}],
    }));
    assert_eq!(
        answer,
        json!({"ok": false, "error": "invalid_blocks", "response_metadata": {"messages": [
            "[ERROR] must be a plain_text text object, not mrkdwn [json-pointer:/blocks/0/text/type]"
        ]}})
    );
    let answer = post(json!({"channel": "C0LOAD", "text": "x".repeat(40_001)}));
    assert_eq!(answer["error"], "msg_too_long");
    assert!(slack.messages("C0LOAD").is_empty(), "{}", slack.dump());

    // Blocks as JSON text in a form are read and kept as blocks.
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*up*"}}]);
    let (_, body) = post_form(
        &format!("{}/chat.postMessage", slack.api_url()),
        &bearer("xoxb-test"),
        &form(&[
            ("channel", "C0LOAD"),
            ("text", "up"),
            ("blocks", &blocks.to_string()),
        ]),
    );
    let ts = answer_of(&body)["ts"].as_str().expect("posted").to_owned();
    assert_eq!(slack.messages("C0LOAD")[0].blocks, blocks);

    let divider = json!({"type": "divider"});
    let (_, body) = post_json(
        &format!("{}/chat.update", slack.api_url()),
        &bearer("xoxb-test"),
        &json!({"channel": "C0LOAD", "ts": ts, "text": "x", "blocks": vec![divider; 51]}),
    );
    assert_eq!(answer_of(&body)["error"], "invalid_blocks");
    assert_eq!(slack.messages("C0LOAD")[0].blocks, blocks, "left as it was");
    assert_eq!(slack.messages("C0LOAD")[0].updates, 0);

    let response_url =
        crate::support::fake_slack::payloads::slash_command_payload("U0CAROL", "C0LOAD", "status")
            ["response_url"]
            .as_str()
            .expect("a response_url")
            .to_owned();
    let (status, body) = post_json(
        &response_url,
        &[],
        &json!({"text": "x", "blocks": [{"type": "section"}]}),
    );
    assert_eq!(status, 200);
    assert_eq!(answer_of(&body)["error"], "invalid_blocks");

    let refusals = slack.take_block_kit_refusals();
    assert_eq!(refusals.len(), 4, "{refusals:#?}");
    assert!(
        refusals[0].starts_with("chat.postMessage: "),
        "{}",
        refusals[0]
    );
    assert!(refusals[3].starts_with("response_url: "), "{}", refusals[3]);
    assert!(slack.take_block_kit_refusals().is_empty(), "taken once");
}

#[test]
fn fake_slack_fails_a_test_that_left_a_refusal_unseen() {
    let outcome = std::panic::catch_unwind(|| {
        let slack = FakeSlack::start();
        post_json(
            &format!("{}/chat.postMessage", slack.api_url()),
            &bearer("xoxb-test"),
            &json!({"channel": "C0LOAD", "text": "x", "blocks": [{"type": "banner"}]}),
        );
    });
    let panic = outcome.expect_err("dropping the fake fails the test");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("refused 1 message(s) for their Block Kit"),
        "{message}"
    );
    assert!(message.contains("unsupported type: banner"), "{message}");
}
