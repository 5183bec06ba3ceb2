//! Events API request signing (v0): `v0=` + hex HMAC-SHA256(signing secret,
//! `v0:{X-Slack-Request-Timestamp}:{raw body}`).
//!
//! "Now" is a parameter so the check is testable with Slack's published example from 2018 and
//! follows the injected clock everywhere else.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Requests whose timestamp is further than this from now are refused (replay protection).
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

/// Why a request was refused. Every variant means "answer 401"; they differ for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Slack-Request-Timestamp header")]
    MissingTimestamp,
    #[error("X-Slack-Request-Timestamp is not a number of seconds")]
    MalformedTimestamp,
    #[error("missing X-Slack-Signature header")]
    MissingSignature,
    #[error("X-Slack-Signature is not v0= followed by 64 hex digits")]
    MalformedSignature,
    #[error("request timestamp is {skew_ms} ms away from now (more than 5 minutes)")]
    Stale { skew_ms: i64 },
    #[error("signature does not match")]
    Mismatch,
}

/// Checks a request's signature. `timestamp_header` and `signature_header` are the raw header
/// values (`None` when absent); `now_ms` is the current time in epoch milliseconds.
pub fn verify(
    signing_secret: &str,
    timestamp_header: Option<&str>,
    raw_body: &[u8],
    signature_header: Option<&str>,
    now_ms: i64,
) -> Result<(), SignatureError> {
    let ts_text = timestamp_header
        .ok_or(SignatureError::MissingTimestamp)?
        .trim();
    let ts_secs: i64 = ts_text
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    let ts_ms = ts_secs
        .checked_mul(1000)
        .ok_or(SignatureError::MalformedTimestamp)?;
    let signature = signature_header
        .ok_or(SignatureError::MissingSignature)?
        .trim();
    let given = signature
        .strip_prefix("v0=")
        .filter(|hexits| hexits.len() == 64)
        .and_then(|hexits| hex::decode(hexits).ok())
        .ok_or(SignatureError::MalformedSignature)?;
    let skew_ms = now_ms.saturating_sub(ts_ms);
    if skew_ms.saturating_abs() > MAX_SKEW_MS {
        return Err(SignatureError::Stale { skew_ms });
    }
    // The timestamp is signed as it was sent, not as we re-format it.
    mac(signing_secret, ts_text, raw_body)
        .verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)
}

/// [`verify`] reading Slack's headers from an HTTP request (a header that is not ASCII counts
/// as malformed).
pub fn verify_request(
    signing_secret: &str,
    headers: &axum::http::HeaderMap,
    raw_body: &[u8],
    now_ms: i64,
) -> Result<(), SignatureError> {
    let timestamp = match headers.get(TIMESTAMP_HEADER) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| SignatureError::MalformedTimestamp)?),
    };
    let signature = match headers.get(SIGNATURE_HEADER) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| SignatureError::MalformedSignature)?),
    };
    verify(signing_secret, timestamp, raw_body, signature, now_ms)
}

/// `X-Slack-Retry-Num` of a redelivered Events API request (`None` on the first delivery).
/// Handling stays idempotent either way; this is for logs and metrics.
pub fn retry_num(headers: &axum::http::HeaderMap) -> Option<u32> {
    headers
        .get(RETRY_NUM_HEADER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const RETRY_NUM_HEADER: &str = "x-slack-retry-num";

/// The `X-Slack-Signature` value for a request (what Slack sends; handy for tests and fakes).
pub fn sign(signing_secret: &str, timestamp: &str, raw_body: &[u8]) -> String {
    format!(
        "v0={}",
        hex::encode(
            mac(signing_secret, timestamp, raw_body)
                .finalize()
                .into_bytes()
        )
    )
}

fn mac(signing_secret: &str, timestamp: &str, raw_body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(signing_secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(raw_body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's published example (api.slack.com/authentication/verifying-requests-from-slack).
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const NOW_MS: i64 = 1_531_420_618_000;

    #[test]
    fn slacks_published_example_verifies() {
        assert_eq!(
            verify(SECRET, Some(TS), BODY.as_bytes(), Some(SIG), NOW_MS),
            Ok(())
        );
        assert_eq!(sign(SECRET, TS, BODY.as_bytes()), SIG);
    }

    #[test]
    fn a_wrong_signature_a_changed_body_or_secret_is_a_mismatch() {
        let wrong = format!("v0={}", "0".repeat(64));
        assert_eq!(
            verify(SECRET, Some(TS), BODY.as_bytes(), Some(&wrong), NOW_MS),
            Err(SignatureError::Mismatch)
        );
        let changed = BODY.replace("roadrunner", "coyote");
        assert_eq!(
            verify(SECRET, Some(TS), changed.as_bytes(), Some(SIG), NOW_MS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("other", Some(TS), BODY.as_bytes(), Some(SIG), NOW_MS),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn timestamps_more_than_five_minutes_off_either_way_are_stale() {
        let ok_edge = NOW_MS + MAX_SKEW_MS;
        assert_eq!(
            verify(SECRET, Some(TS), BODY.as_bytes(), Some(SIG), ok_edge),
            Ok(())
        );
        assert_eq!(
            verify(SECRET, Some(TS), BODY.as_bytes(), Some(SIG), ok_edge + 1),
            Err(SignatureError::Stale {
                skew_ms: MAX_SKEW_MS + 1
            })
        );
        assert!(matches!(
            verify(
                SECRET,
                Some(TS),
                BODY.as_bytes(),
                Some(SIG),
                NOW_MS - MAX_SKEW_MS - 1
            ),
            Err(SignatureError::Stale { .. })
        ));
    }

    #[test]
    fn requests_are_checked_from_their_headers() {
        use axum::http::{HeaderMap, HeaderValue};
        let mut headers = HeaderMap::new();
        headers.insert("X-Slack-Request-Timestamp", HeaderValue::from_static(TS));
        headers.insert("X-Slack-Signature", HeaderValue::from_static(SIG));
        assert_eq!(
            verify_request(SECRET, &headers, BODY.as_bytes(), NOW_MS),
            Ok(())
        );
        assert_eq!(retry_num(&headers), None);
        headers.insert("X-Slack-Retry-Num", HeaderValue::from_static("2"));
        assert_eq!(retry_num(&headers), Some(2));
        headers.remove("X-Slack-Signature");
        assert_eq!(
            verify_request(SECRET, &headers, BODY.as_bytes(), NOW_MS),
            Err(SignatureError::MissingSignature)
        );
        headers.insert(
            "X-Slack-Signature",
            HeaderValue::from_bytes(b"v0=\xff").unwrap(),
        );
        assert_eq!(
            verify_request(SECRET, &headers, BODY.as_bytes(), NOW_MS),
            Err(SignatureError::MalformedSignature)
        );
    }

    #[test]
    fn missing_and_malformed_headers_have_their_own_errors() {
        let body = BODY.as_bytes();
        assert_eq!(
            verify(SECRET, None, body, Some(SIG), NOW_MS),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            verify(SECRET, Some(TS), body, None, NOW_MS),
            Err(SignatureError::MissingSignature)
        );
        assert_eq!(
            verify(SECRET, Some("soon"), body, Some(SIG), NOW_MS),
            Err(SignatureError::MalformedTimestamp)
        );
        assert_eq!(
            verify(
                SECRET,
                Some("99999999999999999999"),
                body,
                Some(SIG),
                NOW_MS
            ),
            Err(SignatureError::MalformedTimestamp)
        );
        for bad in [
            "a2114d57",
            "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "v0=zz",
            "v0=",
        ] {
            assert_eq!(
                verify(SECRET, Some(TS), body, Some(bad), NOW_MS),
                Err(SignatureError::MalformedSignature),
                "{bad}"
            );
        }
    }
}
