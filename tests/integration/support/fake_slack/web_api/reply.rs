//! The fake Web API's answers: JSON with `ok`, Slack's errors (HTTP 200), 429 with
//! `Retry-After`, a 500, and whether a message was refused for its Block Kit.

use super::super::block_kit::Refusal;
use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use serde_json::{json, Value};

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) retry_after_secs: Option<u64>,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
    /// A message refused for its Block Kit or length, recorded for the test to see.
    pub(crate) block_kit_refusal: bool,
}

impl Reply {
    pub(crate) fn ok(mut fields: Value) -> Reply {
        fields["ok"] = json!(true);
        Reply::json(200, fields)
    }

    /// Slack reports API errors with HTTP 200.
    pub(crate) fn error(error: &str) -> Reply {
        Reply::json(200, json!({"ok": false, "error": error}))
    }

    pub(crate) fn refusal(refusal: &Refusal) -> Reply {
        Reply {
            block_kit_refusal: matches!(
                refusal.error,
                "invalid_blocks" | "invalid_blocks_format" | "msg_too_long"
            ),
            ..Reply::json(200, refusal.answer())
        }
    }

    pub(crate) fn rate_limited(retry_after_secs: u64) -> Reply {
        Reply {
            retry_after_secs: Some(retry_after_secs),
            ..Reply::json(429, json!({"ok": false, "error": "ratelimited"}))
        }
    }

    pub(crate) fn server_error() -> Reply {
        Reply::text(500, "fake Slack: internal server error".to_owned())
    }

    pub(crate) fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            retry_after_secs: None,
            content_type: "application/json; charset=utf-8",
            body: body.to_string(),
            block_kit_refusal: false,
        }
    }

    pub(crate) fn text(status: u16, body: String) -> Reply {
        Reply {
            status,
            retry_after_secs: None,
            content_type: "text/plain; charset=utf-8",
            body,
            block_kit_refusal: false,
        }
    }

    pub(crate) fn into_response(self) -> Response {
        let mut response = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, self.content_type);
        if let Some(seconds) = self.retry_after_secs {
            response = response.header(header::RETRY_AFTER, seconds.to_string());
        }
        response.body(Body::from(self.body)).unwrap()
    }
}
