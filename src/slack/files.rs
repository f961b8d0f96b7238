//! Files people share in Slack, as the bot reads them: `files.info` for a shared file's name,
//! size and the conversations it is in, then its private download URL fetched with the bot
//! token (scope `files:read`). The token goes only to Slack's file host or to the host the Web
//! API itself is on (a local fake Slack), never to whatever URL an answer names; the body is
//! read up to a limit, and a web page instead of the file (what Slack serves a request it does
//! not authorise) is refused rather than taken for the file.

use super::web_api::{https_connector, ApiFailure, WebApi};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use serde_json::{json, Value};

/// Where Slack serves `url_private_download`.
const SLACK_FILES_HOST: &str = "files.slack.com";

/// What `files.info` says about a shared file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedFile {
    pub id: String,
    pub name: String,
    /// Bytes, as Slack counts them.
    pub size: u64,
    pub url_private_download: String,
    /// The conversations the file is shared in (channels, private channels, DMs).
    pub conversations: Vec<String>,
}

impl SharedFile {
    pub fn is_in(&self, channel: &str) -> bool {
        self.conversations.iter().any(|c| c == channel)
    }
}

/// `files.info` for `file_id`.
pub async fn file_info(api: &WebApi, file_id: &str) -> Result<SharedFile, ApiFailure> {
    let answer = api.call("files.info", &json!({ "file": file_id })).await?;
    shared_file(&answer).ok_or_else(|| ApiFailure::Refused {
        method: "files.info".into(),
        code: "answer without file.name, file.size or file.url_private_download".into(),
    })
}

fn shared_file(answer: &Value) -> Option<SharedFile> {
    let file = answer.get("file")?;
    let text = |key: &str| file.get(key).and_then(Value::as_str).map(str::to_string);
    let mut conversations: Vec<String> = ["channels", "groups", "ims"]
        .iter()
        .filter_map(|key| file.get(*key).and_then(Value::as_array))
        .flatten()
        .filter_map(|id| id.as_str().map(str::to_string))
        .collect();
    // Newer answers may carry only `shares` ({"public": {"C…": […]}, "private": {…}}).
    for scope in ["public", "private"] {
        if let Some(shares) = file
            .pointer(&format!("/shares/{scope}"))
            .and_then(Value::as_object)
        {
            conversations.extend(shares.keys().cloned());
        }
    }
    conversations.sort();
    conversations.dedup();
    Some(SharedFile {
        id: text("id")?,
        name: text("name")?,
        size: file.get("size").and_then(Value::as_u64)?,
        url_private_download: text("url_private_download")?,
        conversations,
    })
}

/// The file's bytes, at most `limit` of them. Errors are sentences for the person who shared
/// the file.
pub async fn download(api: &WebApi, file: &SharedFile, limit: u64) -> Result<Vec<u8>, String> {
    if file.size > limit {
        return Err(format!(
            "`{}` is {} bytes; a plan may be at most {limit}",
            file.name, file.size
        ));
    }
    let url: url::Url = file
        .url_private_download
        .parse()
        .map_err(|_| "Slack gave no usable download URL for the file".to_string())?;
    if !may_carry_token(api, &url) {
        tracing::warn!(%url, "a file download URL outside Slack; not fetched");
        return Err("Slack gave a download URL outside Slack; not fetched".into());
    }
    let policy = api.retry_policy();
    let connector = https_connector(policy.connect_timeout).map_err(|error| error.to_string())?;
    let client: hyper_util::client::legacy::Client<_, Empty<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector);
    let request = hyper::Request::get(url.as_str())
        .header(
            hyper::header::AUTHORIZATION,
            format!("Bearer {}", api.bot_token()),
        )
        .body(Empty::new())
        .map_err(|error| error.to_string())?;
    let fetched = async {
        let response = client
            .request(request)
            .await
            .map_err(|error| format!("downloading from Slack: {error}"))?;
        let status = response.status();
        let is_page = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|kind| kind.starts_with("text/html"));
        if !status.is_success() {
            return Err(format!("downloading from Slack: HTTP {status}"));
        }
        if is_page {
            return Err(
                "Slack answered the download with a web page, not the file (has the app the \
                 files:read scope?)"
                    .to_string(),
            );
        }
        let body = Limited::new(response.into_body(), limit as usize)
            .collect()
            .await
            .map_err(|_| format!("`{}` is larger than {limit} bytes", file.name))?;
        Ok(body.to_bytes().to_vec())
    };
    tokio::time::timeout(policy.request_timeout * 3, fetched)
        .await
        .unwrap_or_else(|_| Err("downloading from Slack took too long".to_string()))
}

/// Only Slack's file host, or the host the Web API itself is on (a local fake Slack), gets
/// the bot token.
fn may_carry_token(api: &WebApi, url: &url::Url) -> bool {
    if url.scheme() == "https" && url.host_str() == Some(SLACK_FILES_HOST) {
        return true;
    }
    api.method_url("files.info").is_some_and(|api_url| {
        api_url.scheme() == url.scheme()
            && api_url.host_str() == url.host_str()
            && api_url.port_or_known_default() == url.port_or_known_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_info_answers_are_read_with_every_conversation() {
        let answer = json!({"ok": true, "file": {
            "id": "F1", "name": "checkout.jmx", "size": 812,
            "url_private_download": "https://files.slack.com/files-pri/T1-F1/download/checkout.jmx",
            "channels": ["C1"], "groups": ["G2"], "ims": [],
            "shares": {"public": {"C1": [{"ts": "1.1"}], "C3": [{"ts": "1.2"}]}}
        }});
        let file = shared_file(&answer).unwrap();
        assert_eq!(file.conversations, ["C1", "C3", "G2"]);
        assert!(file.is_in("C3") && !file.is_in("C9"));
        assert_eq!(file.size, 812);
        assert!(shared_file(&json!({"ok": true, "file": {"id": "F1", "name": "x"}})).is_none());
    }

    #[tokio::test]
    async fn the_token_goes_only_to_slacks_file_host_or_the_api_host() {
        let client = crate::slack::web_api::client_for("http://127.0.0.1:4555/api").unwrap();
        let api = WebApi::new(client, "xoxb-1", Default::default());
        for (url, allowed) in [
            ("https://files.slack.com/files-pri/T-F/download/a.jmx", true),
            ("http://127.0.0.1:4555/files-pri/T-F/download/a.jmx", true),
            ("http://files.slack.com/files-pri/T-F/download/a.jmx", false),
            ("http://127.0.0.1:4556/files-pri/T-F/download/a.jmx", false),
            ("https://evil.example/files-pri/T-F/download/a.jmx", false),
        ] {
            let parsed: url::Url = url.parse().unwrap();
            assert_eq!(may_carry_token(&api, &parsed), allowed, "{url}");
        }
    }
}
