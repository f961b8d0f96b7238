//! Slack's request signing (HTTP mode): every `/slack/*` request carries
//! `X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=<hex HMAC-SHA256 of
//! "v0:{timestamp}:{raw body}" keyed with the signing secret>`. A request is accepted only when
//! the signature matches (compared in constant time) and the timestamp is within five minutes
//! of now, which stops replays. The clock is passed in, so this stays pure and testable.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a request's timestamp may be from now (Slack's recommendation).
pub const MAX_AGE_SECONDS: i64 = 5 * 60;

/// Why a request was refused. Each becomes a 401 and an audit line; none is shown to Slack.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Slack-Request-Timestamp or X-Slack-Signature header is missing")]
    Missing,
    #[error("the signature headers are malformed")]
    Malformed,
    #[error("the request timestamp is {age_seconds} s away from now (more than 5 minutes): a replay or a skewed clock")]
    Stale { age_seconds: i64 },
    #[error("the signature does not match the body")]
    Mismatch,
}

/// The `v0=…` signature of `body` sent at `timestamp` (what Slack computes; the fake Slack
/// in the tests signs with it).
pub fn sign(signing_secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = keyed(signing_secret);
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex(&mac.finalize().into_bytes()))
}

/// Checks a request's signature headers against its raw body at `now_unix` (seconds).
pub fn verify(
    signing_secret: &str,
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp_header, signature_header) else {
        return Err(SignatureError::Missing);
    };
    let timestamp: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed)?;
    let age_seconds = now_unix.saturating_sub(timestamp);
    if age_seconds.abs() > MAX_AGE_SECONDS {
        return Err(SignatureError::Stale { age_seconds });
    }
    let digest = signature
        .trim()
        .strip_prefix("v0=")
        .and_then(unhex)
        .ok_or(SignatureError::Malformed)?;
    let mut mac = keyed(signing_secret);
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    mac.verify_slice(&digest)
        .map_err(|_| SignatureError::Mismatch)
}

fn keyed(signing_secret: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    Hmac::<Sha256>::new_from_slice(signing_secret.as_bytes()).expect("HMAC accepts any key length")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example ("Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: i64 = 1531420618;
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_documented_example_signs_and_verifies() {
        assert_eq!(sign(SECRET, TIMESTAMP, BODY.as_bytes()), EXPECTED);
        let ts = TIMESTAMP.to_string();
        assert_eq!(
            verify(
                SECRET,
                Some(&ts),
                Some(EXPECTED),
                BODY.as_bytes(),
                TIMESTAMP + 10
            ),
            Ok(())
        );
    }

    #[test]
    fn forged_missing_stale_and_malformed_requests_are_refused() {
        let ts = TIMESTAMP.to_string();
        let body = BODY.as_bytes();
        // (timestamp header, signature header, body, now, the refusal)
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            &'a [u8],
            i64,
            SignatureError,
        );
        let cases: Vec<Case> = vec![
            (
                None,
                Some(EXPECTED),
                body,
                TIMESTAMP,
                SignatureError::Missing,
            ),
            (Some(&ts), None, body, TIMESTAMP, SignatureError::Missing),
            (
                Some("yesterday"),
                Some(EXPECTED),
                body,
                TIMESTAMP,
                SignatureError::Malformed,
            ),
            (
                Some(&ts),
                Some("v1=abc"),
                body,
                TIMESTAMP,
                SignatureError::Malformed,
            ),
            (
                Some(&ts),
                Some("v0=zz"),
                body,
                TIMESTAMP,
                SignatureError::Malformed,
            ),
            // A replay six minutes later, and a timestamp from the future.
            (
                Some(&ts),
                Some(EXPECTED),
                body,
                TIMESTAMP + 360,
                SignatureError::Stale { age_seconds: 360 },
            ),
            (
                Some(&ts),
                Some(EXPECTED),
                body,
                TIMESTAMP - 301,
                SignatureError::Stale { age_seconds: -301 },
            ),
            // The body changed by one character (text=up large smuggled in).
            (
                Some(&ts),
                Some(EXPECTED),
                b"token=x&text=up+large",
                TIMESTAMP,
                SignatureError::Mismatch,
            ),
            // Signed with another secret.
            (
                Some(&ts),
                Some("v0=0000000000000000000000000000000000000000000000000000000000000000"),
                body,
                TIMESTAMP,
                SignatureError::Mismatch,
            ),
        ];
        for (timestamp, signature, body, now, expected) in cases {
            assert_eq!(
                verify(SECRET, timestamp, signature, body, now),
                Err(expected.clone()),
                "{timestamp:?} {signature:?} at {now}"
            );
        }
        // Exactly five minutes old is still accepted.
        assert_eq!(
            verify(
                SECRET,
                Some(&ts),
                Some(EXPECTED),
                BODY.as_bytes(),
                TIMESTAMP + 300
            ),
            Ok(())
        );
    }
}
