//! Slack's Web API over reqwest (rustls): the methods the bot uses, typed errors, and a one-hour
//! cache of user names.
//!
//! Write methods (`chat.*`, `conversations.open`) are sent as JSON with `Authorization: Bearer`;
//! read methods (`conversations.history`, `.replies`, `users.info`, `usergroups.users.list`) take
//! query parameters, as Slack documents (they do not accept JSON bodies). The token only ever
//! travels in the header and never appears in `Debug` output or errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::events::{compare_ts, BotIdentity, SlackMessage};
use super::text::Mrkdwn;
use crate::clock::{Clock, SystemClock};

pub const DEFAULT_API_BASE: &str = "https://slack.com/api";
/// How long a user's display name is reused before `users.info` is asked again.
pub const USER_NAME_TTL_MS: i64 = 60 * 60 * 1000;
/// Page size asked of paginated methods (Slack allows up to 1,000 but advises 200).
pub const PAGE_LIMIT: u32 = 200;
/// A 429 without a usable `Retry-After` waits this long.
const DEFAULT_RETRY_AFTER_MS: i64 = 1000;

/// `ok: false` errors that will fail the same way however often they are retried.
const PERMANENT_ERRORS: &[&str] = &[
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "account_inactive",
    "user_not_found",
    "users_not_found",
    "user_not_visible",
    "user_disabled",
    "cannot_dm_bot",
    "message_not_found",
    "cant_update_message",
    "edit_window_closed",
    "thread_not_found",
    "no_such_subteam",
    "restricted_action",
    "not_allowed_token_type",
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "missing_scope",
    "no_permission",
    "team_access_not_granted",
    "ekm_access_denied",
    "invalid_arguments",
    "invalid_blocks",
    "invalid_blocks_format",
    "msg_too_long",
    "no_text",
    "too_many_attachments",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// HTTP 200 with `{"ok": false, "error": ...}`.
    #[error("{method}: {error}")]
    Api { method: String, error: String },
    /// HTTP 429; retry after this long.
    #[error("{method}: rate limited, retry after {retry_after_ms} ms")]
    RateLimited { method: String, retry_after_ms: i64 },
    /// Any other unexpected HTTP status (5xx mostly).
    #[error("{method}: HTTP {status}")]
    Http { method: String, status: u16 },
    /// No answer: connection refused, TLS, timeout.
    #[error("{method}: {message}")]
    Transport { method: String, message: String },
    /// An answer we could not read.
    #[error("{method}: unexpected response: {message}")]
    Decode { method: String, message: String },
}

impl SlackError {
    /// Retrying will not help: dead-letter (and note it on the ticket) instead.
    pub fn is_permanent(&self) -> bool {
        match self {
            SlackError::Api { error, .. } => PERMANENT_ERRORS.contains(&error.as_str()),
            SlackError::Http { status, .. } => matches!(status, 400..=499),
            _ => false,
        }
    }

    /// How long Slack asked us to wait before the next call, for a 429.
    pub fn retry_after_ms(&self) -> Option<i64> {
        match self {
            SlackError::RateLimited { retry_after_ms, .. } => Some(*retry_after_ms),
            _ => None,
        }
    }

    /// The `ok: false` error code, if that is what this is.
    pub fn api_error(&self) -> Option<&str> {
        match self {
            SlackError::Api { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The Web API client. Cheap to share behind an `Arc`.
pub struct SlackApi {
    http: reqwest::Client,
    base: String,
    token: String,
    clock: Arc<dyn Clock>,
    names: Mutex<HashMap<String, (String, i64)>>,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackApi")
            .field("base", &self.base)
            .field("token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl SlackApi {
    /// `api_base` is `[slack] api_base` (normally [`DEFAULT_API_BASE`]); `bot_token` is
    /// `SLACK_BOT_TOKEN`.
    pub fn new(api_base: &str, bot_token: impl Into<String>) -> Result<Self, SlackError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| SlackError::Transport {
                method: "client".into(),
                message: e.to_string(),
            })?;
        Ok(Self {
            http,
            base: api_base.trim_end_matches('/').to_string(),
            token: bot_token.into(),
            clock: Arc::new(SystemClock),
            names: Mutex::new(HashMap::new()),
        })
    }

    /// Reads time from `clock` (the user-name cache's expiry).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn api_base(&self) -> &str {
        &self.base
    }

    /// `chat.postMessage`; returns the new message's `ts`. `text` is the notification and
    /// fallback text when `blocks` are given.
    pub async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        text: &Mrkdwn,
        blocks: Option<&[Value]>,
    ) -> Result<String, SlackError> {
        let mut body = json!({
            "channel": channel, "text": text.as_str(), "unfurl_links": false, "unfurl_media": false,
        });
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        if let Some(blocks) = blocks {
            body["blocks"] = json!(blocks);
        }
        let v: Value = self
            .call_json("chat.postMessage", &self.token, &body)
            .await?;
        string_field("chat.postMessage", &v, "ts")
    }

    /// `chat.update`: replaces a message's text and blocks (`None` removes the blocks).
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &Mrkdwn,
        blocks: Option<&[Value]>,
    ) -> Result<(), SlackError> {
        let body = json!({
            "channel": channel, "ts": ts, "text": text.as_str(),
            "blocks": blocks.map(|b| json!(b)).unwrap_or_else(|| json!([])),
        });
        let _: Value = self.call_json("chat.update", &self.token, &body).await?;
        Ok(())
    }

    /// `chat.postEphemeral`: a message only `user` sees.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &Mrkdwn,
        thread_ts: Option<&str>,
    ) -> Result<(), SlackError> {
        let mut body = json!({"channel": channel, "user": user, "text": text.as_str()});
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let _: Value = self
            .call_json("chat.postEphemeral", &self.token, &body)
            .await?;
        Ok(())
    }

    /// `conversations.open`: the DM channel id with `user`.
    pub async fn conversations_open(&self, user: &str) -> Result<String, SlackError> {
        let method = "conversations.open";
        let v: Value = self
            .call_json(method, &self.token, &json!({"users": user}))
            .await?;
        v["channel"]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| decode(method, "no channel.id"))
    }

    /// `conversations.history`: a channel's top-level messages after `oldest_ts` (exclusive),
    /// every page, oldest first.
    pub async fn history(
        &self,
        channel: &str,
        oldest_ts: Option<&str>,
    ) -> Result<Vec<SlackMessage>, SlackError> {
        let params = vec![("channel", channel.to_string())];
        self.paged_messages("conversations.history", params, oldest_ts)
            .await
    }

    /// `conversations.history`, one page: a channel's newest `limit` top-level messages,
    /// oldest first.
    pub async fn latest(&self, channel: &str, limit: u32) -> Result<Vec<SlackMessage>, SlackError> {
        let method = "conversations.history";
        let params = [
            ("channel", channel.to_string()),
            ("limit", limit.to_string()),
        ];
        let v: Value = self.call_query(method, &params).await?;
        let mut page: Vec<SlackMessage> = serde_json::from_value(v["messages"].clone())
            .map_err(|e| decode(method, &e.to_string()))?;
        page.sort_by(|a, b| compare_ts(&a.ts, &b.ts));
        Ok(page)
    }

    /// `conversations.replies`: a thread's messages after `oldest_ts` (exclusive), every page,
    /// oldest first. Slack always includes the parent; it is dropped here unless newer than
    /// `oldest_ts`.
    pub async fn replies(
        &self,
        channel: &str,
        thread_ts: &str,
        oldest_ts: Option<&str>,
    ) -> Result<Vec<SlackMessage>, SlackError> {
        let params = vec![
            ("channel", channel.to_string()),
            ("ts", thread_ts.to_string()),
        ];
        self.paged_messages("conversations.replies", params, oldest_ts)
            .await
    }

    async fn paged_messages(
        &self,
        method: &str,
        base: Vec<(&str, String)>,
        oldest_ts: Option<&str>,
    ) -> Result<Vec<SlackMessage>, SlackError> {
        let mut out: Vec<SlackMessage> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut params = base.clone();
            params.push(("limit", PAGE_LIMIT.to_string()));
            if let Some(oldest) = oldest_ts {
                params.push(("oldest", oldest.to_string()));
                params.push(("inclusive", "false".into()));
            }
            if let Some(c) = &cursor {
                params.push(("cursor", c.clone()));
            }
            let v: Value = self.call_query(method, &params).await?;
            let page: Vec<SlackMessage> = serde_json::from_value(v["messages"].clone())
                .map_err(|e| decode(method, &e.to_string()))?;
            out.extend(page);
            cursor = v["response_metadata"]["next_cursor"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        if let Some(oldest) = oldest_ts {
            out.retain(|m| compare_ts(&m.ts, oldest).is_gt());
        }
        out.sort_by(|a, b| compare_ts(&a.ts, &b.ts));
        out.dedup_by(|a, b| a.ts == b.ts);
        Ok(out)
    }

    /// `users.info`: the name to show for `user` (display name, else real name, else user name),
    /// cached for an hour.
    pub async fn users_info(&self, user: &str) -> Result<String, SlackError> {
        let now = self.clock.now_ms();
        if let Some((name, at)) = self.names.lock().expect("names lock").get(user) {
            if now.saturating_sub(*at) < USER_NAME_TTL_MS {
                return Ok(name.clone());
            }
        }
        let v: Value = self
            .call_query("users.info", &[("user", user.to_string())])
            .await?;
        let u = &v["user"];
        let name = [
            &u["profile"]["display_name"],
            &u["profile"]["real_name"],
            &u["real_name"],
            &u["name"],
        ]
        .into_iter()
        .filter_map(Value::as_str)
        .find(|s| !s.trim().is_empty())
        .unwrap_or(user)
        .to_string();
        self.names
            .lock()
            .expect("names lock")
            .insert(user.to_string(), (name.clone(), now));
        Ok(name)
    }

    /// `usergroups.users.list`: the user ids in a user group.
    pub async fn usergroups_users_list(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let method = "usergroups.users.list";
        let v: Value = self
            .call_query(method, &[("usergroup", group.to_string())])
            .await?;
        serde_json::from_value(v["users"].clone()).map_err(|e| decode(method, &e.to_string()))
    }

    /// `auth.test`: who the bot token belongs to, so the bot can recognise its own messages.
    /// Also the cheapest check at start-up that the token works.
    pub async fn auth_test(&self) -> Result<BotIdentity, SlackError> {
        let method = "auth.test";
        let request = self
            .http
            .post(self.url(method))
            .bearer_auth(&self.token)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("");
        let v: Value = self.send(method, request).await?;
        Ok(BotIdentity {
            user_id: string_field(method, &v, "user_id")?,
            bot_id: v["bot_id"].as_str().map(str::to_string),
        })
    }

    /// `apps.connections.open` with the app-level token (`SLACK_APP_TOKEN`): a Socket Mode URL.
    pub async fn apps_connections_open(&self, app_token: &str) -> Result<String, SlackError> {
        let method = "apps.connections.open";
        let request = self
            .http
            .post(self.url(method))
            .bearer_auth(app_token)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("");
        let v: Value = self.send(method, request).await?;
        string_field(method, &v, "url")
    }

    fn url(&self, method: &str) -> String {
        format!("{}/{}", self.base, method)
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: &str,
        token: &str,
        body: &Value,
    ) -> Result<T, SlackError> {
        let request = self
            .http
            .post(self.url(method))
            .bearer_auth(token)
            .json(body);
        self.send(method, request).await
    }

    async fn call_query<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &[(&str, String)],
    ) -> Result<T, SlackError> {
        let request = self
            .http
            .get(self.url(method))
            .bearer_auth(&self.token)
            .query(params);
        self.send(method, request).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        request: RequestBuilder,
    ) -> Result<T, SlackError> {
        let response = request.send().await.map_err(|e| SlackError::Transport {
            method: method.to_string(),
            // Without the URL: it is ours and adds nothing; the token is never in it anyway.
            message: error_chain(&e.without_url()),
        })?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after_ms = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
                .map(|secs| secs.saturating_mul(1000))
                .unwrap_or(DEFAULT_RETRY_AFTER_MS);
            return Err(SlackError::RateLimited {
                method: method.to_string(),
                retry_after_ms,
            });
        }
        if !status.is_success() {
            return Err(SlackError::Http {
                method: method.to_string(),
                status: status.as_u16(),
            });
        }
        let v: Value = response
            .json()
            .await
            .map_err(|e| decode(method, &e.without_url().to_string()))?;
        if v["ok"].as_bool() != Some(true) {
            let error = v["error"].as_str().unwrap_or("unknown_error").to_string();
            return Err(SlackError::Api {
                method: method.to_string(),
                error,
            });
        }
        serde_json::from_value(v).map_err(|e| decode(method, &e.to_string()))
    }
}

/// An error and its causes on one line ("error sending request: ...: Connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn decode(method: &str, message: &str) -> SlackError {
    SlackError::Decode {
        method: method.to_string(),
        message: message.to_string(),
    }
}

fn string_field(method: &str, v: &Value, field: &str) -> Result<String, SlackError> {
    v[field]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| decode(method, &format!("no {field}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let api = SlackApi::new("http://127.0.0.1:9/api", "xoxb-secret-token").unwrap();
        let shown = format!("{api:?}");
        assert!(!shown.contains("xoxb-secret-token"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn permanent_and_transient_errors() {
        let api = |e: &str| SlackError::Api {
            method: "chat.postMessage".into(),
            error: e.into(),
        };
        for e in [
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            "account_inactive",
            "user_not_found",
            "cannot_dm_bot",
            "invalid_auth",
        ] {
            assert!(api(e).is_permanent(), "{e}");
        }
        for e in [
            "internal_error",
            "fatal_error",
            "ratelimited",
            "service_unavailable",
            "something_new",
        ] {
            assert!(!api(e).is_permanent(), "{e}");
        }
        let limited = SlackError::RateLimited {
            method: "m".into(),
            retry_after_ms: 3000,
        };
        assert!(!limited.is_permanent());
        assert_eq!(limited.retry_after_ms(), Some(3000));
        assert!(!SlackError::Http {
            method: "m".into(),
            status: 503
        }
        .is_permanent());
        assert!(!SlackError::Transport {
            method: "m".into(),
            message: "refused".into()
        }
        .is_permanent());
    }

    #[tokio::test]
    async fn https_is_compiled_in_so_an_https_base_fails_to_connect_not_to_build() {
        let api = SlackApi::new("https://127.0.0.1:1/api", "xoxb-t").unwrap();
        let err = api.conversations_open("U1").await.unwrap_err();
        let SlackError::Transport { message, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(!message.contains("scheme"), "{message}");
        assert!(message.to_lowercase().contains("connect"), "{message}");
        assert!(!message.to_lowercase().contains("builder"), "{message}");
    }
}
