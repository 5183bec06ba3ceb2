//! The Slack parts (Web API client, Socket Mode client, recovery, signing) against the fake Slack
//! in tests/common/fake_slack.rs, over real HTTP and WebSocket on 127.0.0.1.
#![cfg(feature = "slack")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fake_slack::{self, FailKind, FakeSlack, APP_TOKEN, BOT_ID, BOT_TOKEN, BOT_USER};
use frontline::channels::slack::api::{SlackApi, SlackError};
use frontline::channels::slack::blocks::{self, Button, CardAction};
use frontline::channels::slack::events::{self, BotIdentity, Parsed};
use frontline::channels::slack::recovery::{fetch_missed, Watch};
use frontline::channels::slack::signature;
use frontline::channels::slack::socket::{self, SocketEvent, SocketOptions};
use frontline::channels::slack::text::Mrkdwn;
use frontline::clock::ManualClock;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

const WAIT: Duration = Duration::from_secs(10);
const STAFF: &str = "C0STAFF01";

fn api(fake: &FakeSlack) -> SlackApi {
    SlackApi::new(&fake.api_base, BOT_TOKEN).unwrap()
}

fn own() -> BotIdentity {
    BotIdentity {
        user_id: BOT_USER.into(),
        bot_id: Some(BOT_ID.into()),
    }
}

#[tokio::test]
async fn post_update_and_ephemeral_reach_slack_as_sent() {
    let fake = FakeSlack::start().await;
    let api = api(&fake);
    let body = Mrkdwn::escaped("<!channel> refund please");
    let card = blocks::ticket_card(&body, 7, &[CardAction::Claim, CardAction::Close]).unwrap();
    let card_ts = api
        .post_message(STAFF, None, &body, Some(&card))
        .await
        .unwrap();
    let reply_ts = api
        .post_message(
            STAFF,
            Some(&card_ts),
            &Mrkdwn::escaped("customer: hello & bye"),
            None,
        )
        .await
        .unwrap();
    assert!(events::compare_ts(&card_ts, &reply_ts).is_lt());

    let posts = fake.calls("chat.postMessage");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].token.as_deref(), Some(BOT_TOKEN));
    assert_eq!(posts[0].params["channel"], STAFF);
    assert_eq!(posts[0].params["text"], "&lt;!channel&gt; refund please");
    assert_eq!(
        posts[0].params["blocks"][1]["elements"][0]["action_id"],
        "claim"
    );
    assert_eq!(posts[0].params["blocks"][1]["elements"][0]["value"], "7");
    assert!(posts[0].params.get("thread_ts").is_none());
    assert_eq!(posts[1].params["thread_ts"], card_ts.as_str());
    assert_eq!(fake.thread(STAFF, &card_ts).len(), 2);

    let closed = blocks::ticket_card(&Mrkdwn::trusted("*closed*"), 7, &[]).unwrap();
    api.update(STAFF, &card_ts, &Mrkdwn::trusted("*closed*"), Some(&closed))
        .await
        .unwrap();
    let stored = &fake.bot_messages(STAFF)[0];
    assert_eq!(stored.text, "*closed*");
    assert_eq!(stored.blocks.as_ref().unwrap().as_array().unwrap().len(), 1);
    let update = &fake.calls("chat.update")[0];
    assert_eq!(update.params["ts"], card_ts.as_str());

    api.post_ephemeral(
        STAFF,
        "U0NOTAGENT",
        &Mrkdwn::escaped("Only agents can claim tickets."),
        Some(&card_ts),
    )
    .await
    .unwrap();
    let eph = &fake.calls("chat.postEphemeral")[0];
    assert_eq!(eph.params["user"], "U0NOTAGENT");
    assert_eq!(eph.params["thread_ts"], card_ts.as_str());

    let buttons = blocks::message(
        &Mrkdwn::escaped("Did you mean?"),
        &[Button::new("Talk to a person", "human")],
    )
    .unwrap();
    let dm = api.conversations_open("U0CUST001").await.unwrap();
    assert!(dm.starts_with('D'), "{dm}");
    api.post_message(&dm, None, &Mrkdwn::escaped("Did you mean?"), Some(&buttons))
        .await
        .unwrap();
    assert_eq!(fake.bot_messages(&dm).len(), 1);
}

#[tokio::test]
async fn slack_errors_become_typed_errors() {
    let fake = FakeSlack::start().await;
    let api = api(&fake);
    let text = Mrkdwn::escaped("hi");

    fake.fail_next(
        "chat.postMessage",
        FailKind::ApiError("channel_not_found".into()),
        1,
    );
    let err = api
        .post_message(STAFF, None, &text, None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SlackError::Api {
            method: "chat.postMessage".into(),
            error: "channel_not_found".into()
        }
    );
    assert!(err.is_permanent());

    fake.archive("C0ARCHIVE");
    let err = api
        .post_message("C0ARCHIVE", None, &text, None)
        .await
        .unwrap_err();
    assert_eq!(err.api_error(), Some("is_archived"));
    assert!(err.is_permanent());

    fake.fail_next(
        "chat.postMessage",
        FailKind::RateLimited {
            retry_after_secs: 7,
        },
        1,
    );
    let err = api
        .post_message(STAFF, None, &text, None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SlackError::RateLimited {
            method: "chat.postMessage".into(),
            retry_after_ms: 7000
        }
    );
    assert!(!err.is_permanent());

    fake.fail_next("chat.update", FailKind::Status(500), 1);
    let err = api
        .update(STAFF, "1.000001", &text, None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SlackError::Http {
            method: "chat.update".into(),
            status: 500
        }
    );
    assert!(!err.is_permanent());

    fake.fail_next(
        "chat.postMessage",
        FailKind::ApiError("internal_error".into()),
        1,
    );
    assert!(!api
        .post_message(STAFF, None, &text, None)
        .await
        .unwrap_err()
        .is_permanent());

    // Failures are used up: the next call goes through.
    api.post_message(STAFF, None, &text, None).await.unwrap();

    assert_eq!(api.auth_test().await.unwrap(), own());

    let wrong = SlackApi::new(&fake.api_base, "xoxb-wrong").unwrap();
    assert_eq!(
        wrong.auth_test().await.unwrap_err().api_error(),
        Some("invalid_auth")
    );
    let err = wrong
        .post_message(STAFF, None, &text, None)
        .await
        .unwrap_err();
    assert_eq!(err.api_error(), Some("invalid_auth"));
    assert!(err.is_permanent());
    assert!(!format!("{wrong:?}{err}").contains("xoxb-wrong"));
}

#[tokio::test]
async fn user_names_are_cached_for_an_hour_and_groups_listed() {
    let fake = FakeSlack::start().await;
    fake.add_user("U0CUST001", "Ann");
    fake.set_usergroup("S0AGENTS", &["U0AGENT01", "U0AGENT02"]);
    let clock = ManualClock::new(1_800_000_000_000);
    let api = api(&fake).with_clock(Arc::new(clock.clone()));
    assert_eq!(api.users_info("U0CUST001").await.unwrap(), "Ann");
    assert_eq!(api.users_info("U0CUST001").await.unwrap(), "Ann");
    assert_eq!(fake.calls("users.info").len(), 1);
    clock.advance(Duration::from_secs(59 * 60));
    api.users_info("U0CUST001").await.unwrap();
    assert_eq!(fake.calls("users.info").len(), 1);
    clock.advance(Duration::from_secs(2 * 60));
    api.users_info("U0CUST001").await.unwrap();
    assert_eq!(fake.calls("users.info").len(), 2);
    assert_eq!(
        api.users_info("U0NOBODY").await.unwrap_err().api_error(),
        Some("user_not_found")
    );

    assert_eq!(
        api.usergroups_users_list("S0AGENTS").await.unwrap(),
        vec!["U0AGENT01", "U0AGENT02"]
    );
    assert!(api
        .usergroups_users_list("S0NONE")
        .await
        .unwrap_err()
        .is_permanent());
}

#[tokio::test]
async fn history_and_replies_read_every_page_after_the_last_seen_ts() {
    let fake = FakeSlack::start().await;
    fake.set_page_size(2);
    let api = api(&fake);
    let first = fake.customer_dm("U0CUST001", "one");
    let dm = first.channel.clone();
    let mut later = Vec::new();
    for text in ["two", "three", "four", "five"] {
        later.push(fake.customer_dm("U0CUST001", text).ts);
    }
    api.post_message(&dm, None, &Mrkdwn::escaped("bot says"), None)
        .await
        .unwrap();

    let read = api.history(&dm, Some(&first.ts)).await.unwrap();
    let texts: Vec<&str> = read.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, vec!["two", "three", "four", "five", "bot says"]);
    let calls = fake.calls("conversations.history");
    assert_eq!(calls.len(), 3, "5 messages in pages of 2");
    assert_eq!(calls[1].params["cursor"], "offset:2");
    assert_eq!(calls[0].params["oldest"], first.ts.as_str());
    assert_eq!(api.history(&dm, None).await.unwrap().len(), 6);
    assert!(api
        .history(&dm, Some(read.last().unwrap().ts.as_str()))
        .await
        .unwrap()
        .is_empty());

    let parent = fake.channel_message("C0HELP001", "U0CUST002", "help!", None);
    let mut replies = Vec::new();
    for i in 0..5 {
        replies.push(fake.channel_message(
            "C0HELP001",
            "U0CUST002",
            &format!("r{i}"),
            Some(&parent.ts),
        ));
    }
    let after_two = api
        .replies("C0HELP001", &parent.ts, Some(&replies[1].ts))
        .await
        .unwrap();
    let texts: Vec<&str> = after_two.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        vec!["r2", "r3", "r4"],
        "parent dropped, oldest exclusive"
    );
    assert!(fake.calls("conversations.replies").len() >= 2);
    let all = api.replies("C0HELP001", &parent.ts, None).await.unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0].ts, parent.ts);
}

#[tokio::test]
async fn recovery_returns_what_people_wrote_in_ts_order_once() {
    let fake = FakeSlack::start().await;
    let api = api(&fake);
    let seen = fake.customer_dm("U0CUST001", "already stored");
    let dm = seen.channel.clone();
    let missed1 = fake.customer_dm("U0CUST001", "while away 1");
    api.post_message(&dm, None, &Mrkdwn::escaped("bot reply"), None)
        .await
        .unwrap();
    fake.message_with(
        &dm,
        "U0CUST001",
        "edited",
        json!({"subtype": "message_changed"}),
    );
    let parent = fake.channel_message("C0HELP001", "U0CUST002", "top", None);
    let missed2 = fake.channel_message("C0HELP001", "U0CUST002", "in thread", Some(&parent.ts));
    let missed3 = fake.customer_dm("U0CUST001", "while away 2");
    fake.message_with(&dm, "U0OTHERBOT", "beep", json!({"bot_id": "B0OTHER"}));

    let watches = vec![
        Watch {
            channel: dm.clone(),
            thread_ts: None,
            last_seen_ts: Some(seen.ts.clone()),
        },
        Watch {
            channel: "C0HELP001".into(),
            thread_ts: Some(parent.ts.clone()),
            last_seen_ts: Some(parent.ts.clone()),
        },
        // Read twice on purpose: recovery returns each message once.
        Watch {
            channel: dm.clone(),
            thread_ts: None,
            last_seen_ts: Some(seen.ts.clone()),
        },
        Watch {
            channel: "C0GONE".into(),
            thread_ts: Some("1.000001".into()),
            last_seen_ts: None,
        },
    ];
    let recovered = fetch_missed(&api, &watches, &own()).await;
    let got: Vec<(&str, &str)> = recovered
        .messages
        .iter()
        .map(|m| (m.ts.as_str(), m.text.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (missed1.ts.as_str(), "while away 1"),
            (missed2.ts.as_str(), "in thread"),
            (missed3.ts.as_str(), "while away 2"),
        ]
    );
    assert_eq!(
        recovered.messages[1].thread_ts.as_deref(),
        Some(parent.ts.as_str())
    );
    assert_eq!(recovered.messages[0].kind, events::ChannelKind::Im);
    assert_eq!(recovered.failures.len(), 1);
    assert_eq!(
        recovered.failures[0].1.api_error(),
        Some("thread_not_found")
    );
}

struct Client {
    rx: mpsc::Receiver<SocketEvent>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), SlackError>>,
}

fn start_socket(fake: &FakeSlack, app_token: &str) -> Client {
    let api = api(fake);
    let token = app_token.to_string();
    let (tx, rx) = mpsc::channel(64);
    let (stop, stopped) = watch::channel(false);
    let options = SocketOptions {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..SocketOptions::default()
    };
    let task = tokio::spawn(async move { socket::run(&api, &token, options, tx, stopped).await });
    Client { rx, stop, task }
}

impl Client {
    async fn next(&mut self) -> SocketEvent {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("socket client reported nothing")
            .expect("socket client ended")
    }

    async fn connected(&mut self) -> u64 {
        match self.next().await {
            SocketEvent::Connected { connection } => connection,
            other => panic!("expected Connected, got {other:?}"),
        }
    }

    async fn envelope(&mut self) -> socket::Envelope {
        match self.next().await {
            SocketEvent::Envelope(e) => e,
            other => panic!("expected an envelope, got {other:?}"),
        }
    }

    async fn stop(self) -> Result<(), SlackError> {
        self.stop.send(true).unwrap();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("socket client did not stop")
            .unwrap()
    }
}

fn message_of(e: &socket::Envelope) -> events::IncomingMessage {
    match events::parse_event_body(&e.payload, &own()) {
        Parsed::Message(m) => m,
        other => panic!("not a message: {other:?}"),
    }
}

#[tokio::test]
async fn socket_mode_hands_every_envelope_on_and_acks_what_is_stored() {
    let fake = FakeSlack::start().await;
    let mut client = start_socket(&fake, APP_TOKEN);
    assert_eq!(client.connected().await, 1);
    assert_eq!(
        fake.calls("apps.connections.open")[0].token.as_deref(),
        Some(APP_TOKEN)
    );

    let posted = fake.customer_dm("U0CUST001", "where is my order?");
    let id = posted.envelope_id.clone().expect("socket connected");
    let e = client.envelope().await;
    assert_eq!(e.envelope_id, id);
    assert_eq!(e.kind, "events_api");
    let m = message_of(&e);
    assert_eq!(
        (m.text.as_str(), m.ts.as_str(), m.user.as_str()),
        ("where is my order?", posted.ts.as_str(), "U0CUST001")
    );
    e.ack();
    let delay = fake.wait_for_ack(&id, WAIT).await;
    assert!(delay < Duration::from_secs(3), "{delay:?}");

    let click = fake
        .click("U0AGENT01", STAFF, &posted.ts, "claim", "7")
        .unwrap();
    let e = client.envelope().await;
    assert_eq!(e.kind, "interactive");
    let Parsed::Buttons(presses) = events::parse_interactive(&e.payload) else {
        panic!("{e:?}")
    };
    assert_eq!(
        (presses[0].action_id.as_str(), presses[0].value.as_str()),
        ("claim", "7")
    );
    e.ack();
    assert!(fake.wait_for_ack(&click, WAIT).await < Duration::from_secs(3));

    let slash = fake
        .slash_command("U0CUST001", "C0HELP001", "/support", "hi")
        .unwrap();
    let e = client.envelope().await;
    assert_eq!(e.kind, "slash_commands");
    e.ack();
    fake.wait_for_ack(&slash, WAIT).await;

    // A redelivered envelope reaches the consumer again (deduplication is the inbox's job).
    let again = fake.redeliver(&id).unwrap();
    let e = client.envelope().await;
    assert_eq!(e.envelope_id, again);
    assert_eq!(e.retry_attempt, 1);
    assert_eq!(message_of(&e).dedup_key(), m.dedup_key());
    e.ack();
    fake.wait_for_ack(&again, WAIT).await;
    assert!(fake.unacked().is_empty(), "{:?}", fake.unacked());

    client.stop().await.unwrap();
}

#[tokio::test]
async fn an_envelope_is_acked_only_once_stored_and_only_on_its_own_connection() {
    let fake = FakeSlack::start().await;
    let mut client = start_socket(&fake, APP_TOKEN);
    assert_eq!(client.connected().await, 1);
    let first = fake.customer_dm("U0CUST001", "one").envelope_id.unwrap();
    let e = client.envelope().await;
    assert_eq!(e.envelope_id, first);
    // Not stored yet: Slack has no ack, so it would send the envelope again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.ack_count(&first), 0);
    e.ack();
    assert!(fake.wait_for_ack(&first, WAIT).await < Duration::from_secs(3));

    // In hand when the connection changed: the ack is not sent on the new connection (Slack
    // redelivers it there instead), and the redelivery is acked once stored.
    let second = fake.customer_dm("U0CUST001", "two").envelope_id.unwrap();
    let e = client.envelope().await;
    assert_eq!(e.envelope_id, second);
    assert!(fake.disconnect());
    assert_eq!(client.connected().await, 2);
    fake.wait_for_connections(2, WAIT).await;
    e.ack();
    let again = fake.redeliver(&second).unwrap();
    let redelivered = client.envelope().await;
    assert_eq!(
        (redelivered.envelope_id.as_str(), redelivered.retry_attempt),
        (again.as_str(), 1)
    );
    redelivered.ack();
    fake.wait_for_ack(&again, WAIT).await;
    assert_eq!(
        fake.ack_count(&second),
        0,
        "acked on a connection that was gone"
    );
    client.stop().await.unwrap();
}

#[tokio::test]
async fn socket_mode_reconnects_after_disconnect_and_after_a_dropped_socket() {
    let fake = FakeSlack::start().await;
    let mut client = start_socket(&fake, APP_TOKEN);
    assert_eq!(client.connected().await, 1);

    assert!(fake.disconnect());
    assert_eq!(client.connected().await, 2);
    fake.wait_for_connections(2, WAIT).await;
    let e = fake
        .customer_dm("U0CUST001", "after refresh")
        .envelope_id
        .unwrap();
    let envelope = client.envelope().await;
    assert_eq!(envelope.envelope_id, e);
    envelope.ack();
    fake.wait_for_ack(&e, WAIT).await;

    // The link drops, and Slack refuses new connections for a while: what customers write
    // meanwhile is only stored, for recovery to read back after the reconnect.
    fake.fail_next("apps.connections.open", FailKind::Status(503), 2);
    assert!(fake.drop_socket());
    let missed = fake.customer_dm("U0CUST001", "while you were away");
    assert!(missed.envelope_id.is_none());
    assert_eq!(client.connected().await, 3);
    assert!(
        fake.calls("apps.connections.open").len() >= 5,
        "two failed attempts retried"
    );
    let recovered = fetch_missed(
        &api(&fake),
        &[Watch {
            channel: missed.channel.clone(),
            thread_ts: None,
            last_seen_ts: Some(stored_before_last(&fake, &missed.channel)),
        }],
        &own(),
    )
    .await;
    assert_eq!(recovered.messages.len(), 1);
    assert_eq!(recovered.messages[0].text, "while you were away");

    let e = fake.customer_dm("U0CUST001", "back").envelope_id.unwrap();
    assert_eq!(client.envelope().await.envelope_id, e);
    client.stop().await.unwrap();
}

/// The ts of the message before the newest in a channel: what the inbox had stored last.
fn stored_before_last(fake: &FakeSlack, channel: &str) -> String {
    let all = fake.messages_in(channel);
    all[all.len() - 2].ts.clone()
}

#[tokio::test]
async fn a_rate_limited_connection_open_waits_as_long_as_slack_asks() {
    let fake = FakeSlack::start().await;
    fake.fail_next(
        "apps.connections.open",
        FailKind::RateLimited {
            retry_after_secs: 1,
        },
        1,
    );
    let mut client = start_socket(&fake, APP_TOKEN);
    assert_eq!(client.connected().await, 1);
    let opens = fake.calls("apps.connections.open");
    assert_eq!(opens.len(), 2);
    let waited = opens[1].at.duration_since(opens[0].at);
    // The client's own backoff is 20-200 ms here; only Retry-After explains a second.
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    client.stop().await.unwrap();
}

#[tokio::test]
async fn a_refused_app_token_stops_the_socket_client_with_an_error() {
    let fake = FakeSlack::start().await;
    let client = start_socket(&fake, "xapp-wrong");
    let result = tokio::time::timeout(WAIT, client.task)
        .await
        .expect("did not give up")
        .unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.api_error(), Some("invalid_auth"));
}

#[tokio::test]
async fn signed_events_verify_with_our_checker() {
    // A minimal events endpoint, as the adapter will mount it: verify, then parse.
    async fn endpoint(
        headers: axum::http::HeaderMap,
        body: axum::body::Bytes,
    ) -> (axum::http::StatusCode, String) {
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let now_ms = 1_800_000_000_000;
        if signature::verify_request("s3cret", &headers, &body, now_ms).is_err() {
            return (axum::http::StatusCode::UNAUTHORIZED, String::new());
        }
        let parsed = match h("content-type") {
            Some(ct) if ct.starts_with("application/json") => {
                let v: Value = serde_json::from_slice(&body).unwrap();
                events::parse_event_body(
                    &v,
                    &BotIdentity {
                        user_id: BOT_USER.into(),
                        bot_id: Some(BOT_ID.into()),
                    },
                )
            }
            _ => events::parse_interactive(&events::interactivity_form_payload(&body).unwrap()),
        };
        match parsed {
            Parsed::UrlVerification { challenge } => (axum::http::StatusCode::OK, challenge),
            other => (axum::http::StatusCode::OK, format!("{other:?}")),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slack/events", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::Router::new().route("/slack/events", axum::routing::post(endpoint)),
        )
        .await
        .unwrap();
    });
    let now = 1_800_000_000;
    let challenge =
        json!({"type": "url_verification", "challenge": "ch4ll3nge", "token": "x"}).to_string();
    let resp = fake_slack::signed_event(&url, "s3cret", &challenge, now, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ch4ll3nge");

    let fake = FakeSlack::start().await;
    let posted = fake.customer_dm("U0CUST001", "<!channel> hi");
    let body = posted.event_body.to_string();
    let resp = fake_slack::signed_event(&url, "s3cret", &body, now, Some(1)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("<!channel> hi"));
    assert_eq!(
        fake_slack::signed_event(&url, "wrong", &body, now, None)
            .await
            .status(),
        401
    );
    assert_eq!(
        fake_slack::signed_event(&url, "s3cret", &body, now - 301, None)
            .await
            .status(),
        401
    );

    let form = fake_slack::interactivity_form(&fake.block_actions_payload(
        "U0AGENT01",
        STAFF,
        &posted.ts,
        "close",
        "7",
    ));
    let resp = fake_slack::signed_event(&url, "s3cret", &form, now, None).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("action_id: \"close\""));
    assert_eq!(
        fake_slack::sign("s3cret", "1", "b"),
        signature::sign("s3cret", "1", b"b")
    );
}
