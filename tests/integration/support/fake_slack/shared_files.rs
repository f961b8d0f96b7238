//! Files people share in channels, as Slack keeps them. A test shares one with
//! [`FakeSlack::share_file`], which also gives the `file_shared` event Slack then sends (only
//! ids: what the file is comes from `files.info`). `files.info` takes the `file` argument and
//! answers `file_not_found` for an id it does not know. The file's `url_private_download`
//! serves it only to a request carrying a bot token; without one Slack answers 200 with its
//! sign-in page (`text/html`), which a careless client would take for the file, so the fake
//! does the same.

use super::payloads::{event_callback, ts_now, unix_now};
use super::web_api::reply::Reply;
use super::{FakeSlack, FakeState, Shared, TEAM_ID};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

pub(super) struct SharedFile {
    id: String,
    name: String,
    channel: String,
    user: String,
    content: Vec<u8>,
    created: u64,
}

/// One request for a file's download URL: which file, and whether it carried a bot token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub file_id: String,
    pub with_bot_token: bool,
}

impl FakeSlack {
    /// `user` shares `name` in `channel`; returns the `file_shared` event callback Slack sends
    /// (deliver it as Socket Mode's `events_api` payload or an HTTP Events API body).
    pub fn share_file(&self, user: &str, channel: &str, name: &str, content: &[u8]) -> Value {
        let id = self.shared.mutate(|state| {
            let id = format!("F0SHARED{:03}", state.shared_files.len() + 1);
            state.shared_files.push(SharedFile {
                id: id.clone(),
                name: name.to_owned(),
                channel: channel.to_owned(),
                user: user.to_owned(),
                content: content.to_vec(),
                created: unix_now().as_secs(),
            });
            id
        });
        file_shared_event(user, channel, &id)
    }

    /// Every request for a shared file's bytes, in order.
    pub fn downloads(&self) -> Vec<Download> {
        self.shared.state().downloads.clone()
    }
}

/// The `file_shared` event callback, in the shape Slack documents.
fn file_shared_event(user: &str, channel: &str, file_id: &str) -> Value {
    event_callback(
        "Ev0FILE",
        json!({
            "type": "file_shared",
            "channel_id": channel,
            "file_id": file_id,
            "user_id": user,
            "file": {"id": file_id},
            "event_ts": ts_now(),
        }),
    )
}

impl FakeState {
    /// `files.info`: the file object as Slack answers it (the fields a client reads).
    pub(super) fn file_info(&self, shared: &Shared, params: &Value) -> Reply {
        let Some(id) = params.get("file").and_then(Value::as_str) else {
            return Reply::error("invalid_arguments");
        };
        let Some(file) = self.shared_files.iter().find(|file| file.id == id) else {
            return Reply::error("file_not_found");
        };
        let download = format!(
            "{}/files-pri/{TEAM_ID}-{}/download/{}",
            shared.http_base, file.id, file.name
        );
        Reply::ok(json!({
            "file": {
                "id": file.id,
                "created": file.created,
                "timestamp": file.created,
                "name": file.name,
                "title": file.name,
                "mimetype": "application/xml",
                "filetype": "xml",
                "user": file.user,
                "size": file.content.len(),
                "mode": "hosted",
                "is_external": false,
                "is_public": true,
                "url_private": download.replace("/download/", "/"),
                "url_private_download": download,
                "channels": [file.channel],
                "groups": [],
                "ims": [],
            },
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }))
    }
}

/// `GET /files-pri/{team}-{file}/download/{name}`.
pub(super) async fn download(
    State(shared): State<Arc<Shared>>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> Response {
    let file_id = rest
        .split('/')
        .next()
        .and_then(|first| first.strip_prefix(&format!("{TEAM_ID}-")))
        .unwrap_or_default()
        .to_owned();
    let with_bot_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer xoxb-"))
        .is_some_and(|rest| !rest.is_empty());
    let content = shared.mutate(|state| {
        state.downloads.push(Download {
            file_id: file_id.clone(),
            with_bot_token,
        });
        state
            .shared_files
            .iter()
            .find(|file| file.id == file_id)
            .map(|file| file.content.clone())
    });
    let (kind, body) = match (with_bot_token, content) {
        (true, Some(content)) => ("application/octet-stream", content),
        (true, None) => return Reply::text(404, "no such file".into()).into_response(),
        // Slack's answer to a request it does not authorise: its sign-in page, status 200.
        (false, _) => (
            "text/html; charset=utf-8",
            b"<!DOCTYPE html><html><body>Sign in to Fake Team</body></html>".to_vec(),
        ),
    };
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, kind)
        .body(Body::from(body))
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::super::slack_side::http_request;
    use super::super::test_support::bearer;
    use super::super::FakeSlack;
    use serde_json::Value;

    #[test]
    fn a_shared_file_is_described_by_files_info_and_served_only_with_a_bot_token() {
        let slack = FakeSlack::start();
        let event = slack.share_file("U0ALICE", "C0LT1", "checkout.jmx", b"<jmeterTestPlan/>");
        assert_eq!(event["event"]["type"], "file_shared");
        let id = event["event"]["file_id"].as_str().unwrap().to_owned();
        let bearer = bearer("xoxb-test");
        let info = http_request(
            "GET",
            &format!("{}/files.info?file={id}", slack.api_url()),
            &bearer,
            "",
        );
        let info: Value = serde_json::from_str(&info.body).unwrap();
        assert_eq!(info["file"]["name"], "checkout.jmx");
        assert_eq!(info["file"]["channels"][0], "C0LT1");
        let url = info["file"]["url_private_download"].as_str().unwrap();
        let with_token = http_request("GET", url, &bearer, "");
        assert_eq!(with_token.body, "<jmeterTestPlan/>");
        let without = http_request("GET", url, &[], "");
        assert_eq!(without.status, 200);
        assert!(without.body.contains("Sign in"), "{}", without.body);
        let unknown = http_request(
            "GET",
            &format!("{}/files.info?file=F0NOPE", slack.api_url()),
            &bearer,
            "",
        );
        assert!(unknown.body.contains("file_not_found"), "{}", unknown.body);
        let downloads = slack.downloads();
        assert_eq!(downloads.len(), 2);
        assert!(downloads[0].with_bot_token && !downloads[1].with_bot_token);
    }
}
