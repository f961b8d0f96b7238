//! Slack's side of HTTP mode, for the tests that play it: the v0 request signature Slack puts
//! on what it sends to an app, and a small blocking HTTP client (its own thread and runtime,
//! so it works from plain tests and from inside a runtime alike).

use super::payloads::unix_now;
use axum::body::Body;
use axum::http::Request;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::fmt::Write as _;
use std::time::Duration;

/// Slack's v0 request signature: `v0=` + hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}")).
pub fn slack_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut signature = String::from("v0=");
    for byte in digest {
        let _ = write!(signature, "{byte:02x}");
    }
    signature
}

/// The two headers Slack signs a request with, timestamped now.
pub fn slack_signed_headers(secret: &str, body: &str) -> Vec<(&'static str, String)> {
    let timestamp = unix_now().as_secs().to_string();
    let signature = slack_signature(secret, &timestamp, body);
    vec![
        ("X-Slack-Request-Timestamp", timestamp),
        ("X-Slack-Signature", signature),
    ]
}

/// A whole HTTP response.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    /// The first header called `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One HTTP/1.1 exchange, or why it failed (connection refused, timeout after 30 s, …).
pub fn try_http_request(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Result<HttpReply, String> {
    let method = method.to_owned();
    let url = url.to_owned();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect();
    let body = body.to_owned();
    // A thread of its own, so this works from plain tests and from inside a runtime alike.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("build a runtime: {error}"))?;
        runtime.block_on(async move {
            let exchange = exchange_http(&method, &url, &headers, body);
            tokio::time::timeout(Duration::from_secs(30), exchange)
                .await
                .map_err(|_| format!("{method} {url}: no answer within 30 s"))?
        })
    })
    .join()
    .expect("the HTTP client thread panicked")
}

async fn exchange_http(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: String,
) -> Result<HttpReply, String> {
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(body)
        .map_err(|error| format!("{method} {url}: bad request: {error}"))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<String>();
    let response = client
        .request(request)
        .await
        .map_err(|error| format!("{method} {url}: {error:?}"))?;
    let status = response.status().as_u16();
    let reply_headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let reply_body = axum::body::to_bytes(Body::new(response.into_body()), usize::MAX)
        .await
        .map_err(|error| format!("{method} {url}: reading the body: {error}"))?;
    Ok(HttpReply {
        status,
        headers: reply_headers,
        body: String::from_utf8_lossy(&reply_body).into_owned(),
    })
}

/// [`try_http_request`], panicking when there is no HTTP answer at all.
pub fn http_request(method: &str, url: &str, headers: &[(&str, String)], body: &str) -> HttpReply {
    try_http_request(method, url, headers, body).unwrap_or_else(|error| panic!("{error}"))
}

/// POST with `Content-Type: application/x-www-form-urlencoded`: status and body text.
pub fn post_form(url: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    let mut all_headers = vec![(
        "Content-Type",
        "application/x-www-form-urlencoded".to_owned(),
    )];
    all_headers.extend(headers.iter().cloned());
    let reply = http_request("POST", url, &all_headers, body);
    (reply.status, reply.body)
}

/// POST with `Content-Type: application/json`: status and body text.
pub fn post_json(url: &str, headers: &[(&str, String)], body: &Value) -> (u16, String) {
    let mut all_headers = vec![("Content-Type", "application/json; charset=utf-8".to_owned())];
    all_headers.extend(headers.iter().cloned());
    let reply = http_request("POST", url, &all_headers, &body.to_string());
    (reply.status, reply.body)
}

pub fn get(url: &str) -> (u16, String) {
    let reply = http_request("GET", url, &[], "");
    (reply.status, reply.body)
}

// ---------------------------------------------------------------------------------------------
// Self-tests

#[test]
fn fake_slack_signature_matches_slacks_documented_example() {
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    assert_eq!(
        slack_signature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body),
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
    let headers = slack_signed_headers("secret", "a=b");
    assert_eq!(headers[0].0, "X-Slack-Request-Timestamp");
    assert_eq!(
        headers[1].1,
        slack_signature("secret", &headers[0].1, "a=b")
    );
}
