//! The fake Web API's answers: JSON with `ok`, Slack's errors (HTTP 200), 429 with
//! `Retry-After`, a 500, and whether a message was refused for its Block Kit.

use super::super::block_kit::Refusal;
use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use serde_json::{json, Value};

pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) retry_after_secs: Option<u64>,
    pub(super) content_type: &'static str,
    pub(super) body: String,
    /// A message refused for its Block Kit or length, recorded for the test to see.
    pub(super) block_kit_refusal: bool,
}

impl Reply {
    pub(super) fn ok(mut fields: Value) -> Reply {
        fields["ok"] = json!(true);
        Reply::json(200, fields)
    }

    /// Slack reports API errors with HTTP 200.
    pub(super) fn error(error: &str) -> Reply {
        Reply::json(200, json!({"ok": false, "error": error}))
    }

    pub(super) fn refusal(refusal: &Refusal) -> Reply {
        Reply {
            block_kit_refusal: matches!(
                refusal.error,
                "invalid_blocks" | "invalid_blocks_format" | "msg_too_long"
            ),
            ..Reply::json(200, refusal.answer())
        }
    }

    pub(super) fn rate_limited(retry_after_secs: u64) -> Reply {
        Reply {
            retry_after_secs: Some(retry_after_secs),
            ..Reply::json(429, json!({"ok": false, "error": "ratelimited"}))
        }
    }

    pub(super) fn server_error() -> Reply {
        Reply::text(500, "fake Slack: internal server error".to_owned())
    }

    pub(super) fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            retry_after_secs: None,
            content_type: "application/json; charset=utf-8",
            body: body.to_string(),
            block_kit_refusal: false,
        }
    }

    pub(super) fn text(status: u16, body: String) -> Reply {
        Reply {
            status,
            retry_after_secs: None,
            content_type: "text/plain; charset=utf-8",
            body,
            block_kit_refusal: false,
        }
    }

    pub(super) fn into_response(self) -> Response {
        let mut response = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, self.content_type);
        if let Some(seconds) = self.retry_after_secs {
            response = response.header(header::RETRY_AFTER, seconds.to_string());
        }
        response.body(Body::from(self.body)).unwrap()
    }
}
