//! Self-tests of the fake's Web API as the bot's client meets it: messages posted and updated
//! over HTTP, injected failures that change nothing, and slack-morphism's own client
//! answered.

use super::super::slack_side::{get, http_request, post_form, post_json};
use super::super::test_support::{bearer, slack_morphism_client, slack_token, WAIT};
use super::super::FakeSlack;
use super::refusals_tests::form;
use super::*;
use std::time::Duration;

#[test]
fn fake_slack_posts_and_updates_messages_over_http() {
    use slack_morphism::prelude::*;

    let slack = FakeSlack::start();
    let (status, body) = post_json(
        &format!("{}/chat.postMessage", slack.api_url()),
        &bearer("xoxb-test"),
        &json!({"channel": "C0LOAD", "text": "scaling up", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*up*"}}]}),
    );
    assert_eq!(status, 200, "{body}");
    let posted: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(posted["ok"], true, "{body}");
    assert_eq!(posted["channel"], "C0LOAD");
    let ts = posted["ts"].as_str().unwrap().to_owned();
    assert_eq!(ts, "1700000000.000100");
    serde_json::from_str::<SlackApiChatPostMessageResponse>(&body)
        .unwrap_or_else(|error| panic!("slack-morphism cannot read {body}: {error}"));

    let (status, body) = post_json(
        &format!("{}/chat.update", slack.api_url()),
        &bearer("xoxb-test"),
        &json!({"channel": "C0LOAD", "ts": ts, "text": "scaled up"}),
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<SlackApiChatUpdateResponse>(&body)
        .unwrap_or_else(|error| panic!("slack-morphism cannot read {body}: {error}"));

    let messages = slack.messages("C0LOAD");
    assert_eq!(messages.len(), 1, "{}", slack.dump());
    assert_eq!(messages[0].ts, ts);
    assert_eq!(messages[0].text, "scaled up");
    assert_eq!(
        messages[0].blocks[0]["text"]["text"], "*up*",
        "blocks kept when left out"
    );
    assert_eq!(messages[0].updates, 1);
    assert!(slack.messages("C0OTHER").is_empty());

    let (_, body) = post_json(
        &format!("{}/chat.update", slack.api_url()),
        &bearer("xoxb-test"),
        &json!({"channel": "C0LOAD", "ts": "1.000000", "text": "?"}),
    );
    assert!(body.contains("message_not_found"), "{body}");

    // A form body and a wrong kind of token.
    let (_, body) = post_form(
        &format!("{}/chat.postMessage", slack.api_url()),
        &bearer("xapp-test"),
        "channel=C0LOAD&text=hi",
    );
    assert!(body.contains("invalid_auth"), "{body}");
    let (_, body) = post_form(
        &format!("{}/chat.postMessage", slack.api_url()),
        &bearer("xoxb-test"),
        "channel=C0LOAD&text=in+a+thread&thread_ts=1700000000.000100",
    );
    assert!(body.contains("\"ok\":true"), "{body}");
    let threaded = slack.wait_for_message("the threaded reply", WAIT, |message| {
        message.text == "in a thread"
    });
    assert_eq!(threaded.thread_ts.as_deref(), Some(ts.as_str()));

    // The external upload flow, the query-string GET included.
    let (_, body) = get(&format!(
        "{}/files.getUploadURLExternal?filename=plan.txt&length=5",
        slack.api_url()
    ));
    assert!(body.contains("not_authed"), "a GET without a token: {body}");
    let reply = http_request(
        "GET",
        &format!(
            "{}/files.getUploadURLExternal?filename=plan.txt&length=5",
            slack.api_url()
        ),
        &bearer("xoxb-test"),
        "",
    );
    let issued: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(issued["file_id"], "F0001", "{}", reply.body);
    let uploaded = http_request(
        "POST",
        issued["upload_url"].as_str().unwrap(),
        &[("Content-Type", "application/octet-stream".to_owned())],
        "hello",
    );
    assert_eq!((uploaded.status, uploaded.body.as_str()), (200, "OK - 5"));
    let (_, body) = post_form(
        &format!("{}/files.completeUploadExternal", slack.api_url()),
        &bearer("xoxb-test"),
        &form(&[
            ("files", r#"[{"id":"F0001","title":"plan"}]"#),
            ("channel_id", "C0LOAD"),
        ]),
    );
    serde_json::from_str::<SlackApiFilesCompleteUploadExternalResponse>(&body)
        .unwrap_or_else(|error| panic!("slack-morphism cannot read {body}: {error}"));
    let uploads = slack.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].0, "F0001");
    assert_eq!(uploads[0].1, b"hello");
    assert_eq!(uploads[0].2["channel_id"], "C0LOAD");

    let (_, body) = post_json(
        &format!("{}/chat.postEphemeral", slack.api_url()),
        &bearer("xoxb-test"),
        &json!({"channel": "C0LOAD", "user": "U0VIEWER", "text": "only you"}),
    );
    assert!(body.contains("message_ts"), "{body}");
    assert_eq!(slack.ephemerals()[0]["user"], "U0VIEWER");

    slack.set_usergroup("S0OPS", &["U1", "U2"]);
    let (_, body) = post_form(
        &format!("{}/usergroups.users.list", slack.api_url()),
        &bearer("xoxb-test"),
        "usergroup=S0OPS",
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["users"],
        json!(["U1", "U2"])
    );

    let calls = slack.calls();
    assert_eq!(calls[0].method, "chat.postMessage");
    assert_eq!(calls[0].auth.as_deref(), Some("Bearer xoxb-test"));
    assert_eq!(calls[0].params["channel"], "C0LOAD");
    assert!(calls.windows(2).all(|pair| pair[0].at <= pair[1].at));
    let get_call = &slack.calls_to("files.getUploadURLExternal")[1];
    assert_eq!(
        get_call.params,
        json!({"filename": "plan.txt", "length": "5"})
    );
    slack.wait_for_call("the usergroup lookup", WAIT, |call| {
        call.method == "usergroups.users.list" && call.params["usergroup"] == "S0OPS"
    });
}

#[test]
fn fake_slack_injected_failures_change_nothing() {
    let slack = FakeSlack::start();
    let post_url = format!("{}/chat.postMessage", slack.api_url());
    let mut headers = bearer("xoxb-test");
    headers.push(("Content-Type", "application/json".to_owned()));
    let body = json!({"channel": "C0LOAD", "text": "hi"}).to_string();

    slack.fail_next(
        "chat.postMessage",
        1,
        Failure::RateLimited {
            retry_after_secs: 3,
        },
    );
    let reply = http_request("POST", &post_url, &headers, &body);
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("3"));
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&reply.body).unwrap(),
        json!({"ok": false, "error": "ratelimited"})
    );
    assert!(slack.messages("C0LOAD").is_empty(), "{}", slack.dump());

    slack.fail_next("*", 1, Failure::ServerError);
    assert_eq!(http_request("POST", &post_url, &headers, &body).status, 500);
    assert!(slack.messages("C0LOAD").is_empty());

    slack.set_outage(true);
    assert_eq!(http_request("POST", &post_url, &headers, &body).status, 500);
    slack.set_outage(false);

    assert_eq!(http_request("POST", &post_url, &headers, &body).status, 200);
    assert_eq!(slack.messages("C0LOAD").len(), 1);
    let statuses: Vec<u16> = slack.calls().iter().map(|call| call.status).collect();
    assert_eq!(statuses, [429, 500, 500, 200]);
}

#[test]
fn fake_slack_answers_slack_morphisms_web_api_client() {
    use slack_morphism::prelude::*;

    let slack = FakeSlack::start();
    slack.set_usergroup("S0OPS", &["U0OPERATOR"]);
    let client = slack_morphism_client(&slack);
    let bot_token = slack_token("xoxb-test");
    let app_token = slack_token("xapp-1-test");
    let channel = SlackChannelId::new("C0LOAD".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let session = client.open_session(&bot_token);
        let content = SlackMessageContent::new()
            .with_text("scaling up".to_owned())
            .with_blocks(vec![SlackSectionBlock::new()
                .with_text(md!("*scaling* up"))
                .into()]);
        let posted = session
            .chat_post_message(&SlackApiChatPostMessageRequest::new(
                channel.clone(),
                content,
            ))
            .await
            .expect("chat.postMessage");
        session
            .chat_update(&SlackApiChatUpdateRequest::new(
                channel.clone(),
                SlackMessageContent::new().with_text("scaled up".to_owned()),
                posted.ts.clone(),
            ))
            .await
            .expect("chat.update");
        session
            .chat_post_message(
                &SlackApiChatPostMessageRequest::new(
                    channel.clone(),
                    SlackMessageContent::new().with_text("details".to_owned()),
                )
                .with_thread_ts(posted.ts.clone()),
            )
            .await
            .expect("a threaded chat.postMessage");
        session
            .chat_post_ephemeral(&SlackApiChatPostEphemeralRequest::new(
                channel.clone(),
                SlackUserId::new("U0VIEWER".to_owned()),
                SlackMessageContent::new().with_text("only you".to_owned()),
            ))
            .await
            .expect("chat.postEphemeral");

        let upload = session
            .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
                "plan.txt".to_owned(),
                5,
            ))
            .await
            .expect("files.getUploadURLExternal");
        session
            .files_upload_via_url(&SlackApiFilesUploadViaUrlRequest::new(
                upload.upload_url.clone(),
                b"hello".to_vec(),
                "text/plain".to_owned(),
            ))
            .await
            .expect("the upload itself");
        // slack-morphism sends this method as JSON, which the method does not read: no
        // `files`, as Slack answers it. The form body Slack's SDK sends completes it.
        let as_json = session
            .files_complete_upload_external(
                &SlackApiFilesCompleteUploadExternalRequest::new(vec![SlackApiFilesComplete::new(
                    upload.file_id.clone(),
                )
                .with_title("plan".to_owned())])
                .with_channel_id(channel.clone())
                .with_thread_ts(posted.ts.clone())
                .with_initial_comment("the plan".to_owned()),
            )
            .await;
        match as_json {
            Err(slack_morphism::errors::SlackClientError::ApiError(error)) => {
                assert_eq!(error.code, "invalid_arguments")
            }
            other => panic!("a JSON files.completeUploadExternal: {other:?}"),
        }
        let files = json!([{"id": upload.file_id.0, "title": "plan"}]).to_string();
        let (_, body) = post_form(
            &format!("{}/files.completeUploadExternal", slack.api_url()),
            &bearer("xoxb-test"),
            &form(&[
                ("files", &files),
                ("channel_id", &channel.0),
                ("thread_ts", &posted.ts.0),
                ("initial_comment", "the plan"),
            ]),
        );
        let completed: SlackApiFilesCompleteUploadExternalResponse = serde_json::from_str(&body)
            .unwrap_or_else(|error| panic!("slack-morphism cannot read {body}: {error}"));
        assert_eq!(completed.files[0].id, upload.file_id);

        let members = session
            .usergroups_users_list(&SlackApiUserGroupsUsersListRequest::new(
                SlackUserGroupId::new("S0OPS".to_owned()),
            ))
            .await
            .expect("usergroups.users.list");
        assert_eq!(members.users, [SlackUserId::new("U0OPERATOR".to_owned())]);

        let opened = client
            .open_session(&app_token)
            .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
            .await
            .expect("apps.connections.open");
        assert!(opened.url.0.as_str().starts_with("ws://127.0.0.1:"));

        let unknown_ts = session
            .chat_update(&SlackApiChatUpdateRequest::new(
                channel.clone(),
                SlackMessageContent::new().with_text("?".to_owned()),
                SlackTs::new("1.000000".to_owned()),
            ))
            .await;
        match unknown_ts {
            Err(slack_morphism::errors::SlackClientError::ApiError(error)) => {
                assert_eq!(error.code, "message_not_found")
            }
            other => panic!("chat.update of an unknown ts: {other:?}"),
        }

        slack.fail_next(
            "chat.postMessage",
            1,
            Failure::RateLimited {
                retry_after_secs: 2,
            },
        );
        let limited = session
            .chat_post_message(&SlackApiChatPostMessageRequest::new(
                channel.clone(),
                SlackMessageContent::new().with_text("limited".to_owned()),
            ))
            .await;
        match limited {
            Err(slack_morphism::errors::SlackClientError::RateLimitError(error)) => {
                assert_eq!(error.retry_after, Some(Duration::from_secs(2)));
                assert_eq!(error.code.as_deref(), Some("ratelimited"));
            }
            other => panic!("a rate-limited chat.postMessage: {other:?}"),
        }
        slack.set_outage(true);
        match session.auth_test().await {
            Err(slack_morphism::errors::SlackClientError::HttpError(error)) => {
                assert_eq!(error.status_code.as_u16(), 500)
            }
            other => panic!("auth.test during an outage: {other:?}"),
        }
        slack.set_outage(false);
        let identity = session.auth_test().await.expect("auth.test");
        assert_eq!(identity.user_id.0, BOT_USER_ID);
    });

    let messages = slack.messages("C0LOAD");
    assert_eq!(messages.len(), 2, "{}", slack.dump());
    assert_eq!(messages[0].text, "scaled up");
    assert_eq!(
        messages[0].blocks[0]["type"], "section",
        "blocks kept by the update"
    );
    assert_eq!(messages[0].updates, 1);
    assert_eq!(
        messages[1].thread_ts.as_deref(),
        Some(messages[0].ts.as_str())
    );
    assert_eq!(slack.ephemerals()[0]["user"], "U0VIEWER");
    let uploads = slack.uploads();
    assert_eq!(uploads[0].1, b"hello");
    assert_eq!(uploads[0].2["thread_ts"], messages[0].ts.as_str());
    assert_eq!(uploads[0].2["initial_comment"], "the plan");
    let get = &slack.calls_to("files.getUploadURLExternal")[0];
    assert_eq!(get.params, json!({"filename": "plan.txt", "length": "5"}));
    assert_eq!(get.auth.as_deref(), Some("Bearer xoxb-test"));
}
