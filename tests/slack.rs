//! The Slack adapter end to end: the whole application against the fake Slack (Web API and
//! Socket Mode on 127.0.0.1), in Socket Mode and in events mode, on SQLite and (with
//! TEST_DATABASE_URL) PostgreSQL for the main journeys. The tests play the customers and agents
//! on the fake and read what the bot posted there.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fake_slack::{self, FailKind, FakeSlack, StoredMessage, APP_TOKEN, BOT_TOKEN};
use common::{ticket_number, Db, Options, TestApp, START_MS};
use frontline::channels::slack::socket::SocketOptions;
use frontline::channels::slack::Slack;
use frontline::channels::Platforms;
use frontline::clock::ManualClock;
use frontline::config::{DeskPlatform, Secret, SlackMode};
use serde_json::{json, Value};

on_both_databases!(
    a_dm_gets_the_faq_answer,
    escalation_posts_the_card_and_the_status_message,
    an_agents_thread_reply_reaches_the_customer_and_a_note_does_not,
    close_sends_the_rating_buttons_and_a_press_stores_it,
    events_mode_answers_a_dm_and_handles_a_retried_event_once,
);

const STAFF: &str = "C0STAFF01";
const HELP: &str = "C0HELP001";
const CUSTOMER: &str = "U0CUST001";
const AGENT: &str = "U0AGENT01";
/// An agent by membership of the agent group only.
const GROUP_AGENT: &str = "U0AGENT02";
const STRANGER: &str = "U0OTHER01";
const GROUP: &str = "S0AGENTS1";
const SECRET: &str = "test-signing-secret";
const WAIT: Duration = Duration::from_secs(10);

struct Rig {
    fake: FakeSlack,
    app: TestApp,
}

async fn start(db: Db, mode: SlackMode) -> Rig {
    start_with(db, mode, |_, _| {}).await
}

/// Starts the app with the Slack adapter against a new fake; `more` may add to the config and
/// the platforms (another adapter, say).
async fn start_with(
    db: Db,
    mode: SlackMode,
    more: impl FnOnce(&mut frontline::config::Config, &mut Platforms),
) -> Rig {
    let fake = FakeSlack::start().await;
    fake.add_user(CUSTOMER, "Dana");
    fake.add_user(AGENT, "Alice");
    fake.add_user(GROUP_AGENT, "Gus");
    fake.add_user(STRANGER, "Mallory");
    fake.set_usergroup(GROUP, &[GROUP_AGENT]);
    let mut config = common::test_config();
    config.desk.platform = DeskPlatform::Slack;
    let slack = &mut config.slack;
    slack.enabled = true;
    slack.mode = mode;
    slack.staff_channel = STAFF.into();
    slack.help_channels = vec![HELP.into()];
    slack.agent_ids = vec![AGENT.into()];
    slack.agent_group = GROUP.into();
    slack.api_base = fake.api_base.clone();
    slack.bot_token = Secret::new(BOT_TOKEN);
    slack.app_token = Secret::new(APP_TOKEN);
    slack.signing_secret = Secret::new(SECRET);
    let clock = ManualClock::new(START_MS);
    let adapter = Slack::new(&config.slack, Arc::new(clock.clone()))
        .unwrap()
        .with_socket_options(SocketOptions {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_millis(500),
            ..SocketOptions::default()
        });
    let mut platforms = Platforms::default();
    platforms.add(Arc::new(adapter));
    more(&mut config, &mut platforms);
    let options = Options {
        config,
        platforms,
        ..Options::default()
    };
    let app = TestApp::start_with(db, options, clock).await;
    if mode == SlackMode::Socket {
        fake.wait_for_connections(1, WAIT).await;
    }
    // The agent group is read at start.
    fake.wait_for_calls("usergroups.users.list", 1, WAIT).await;
    Rig { fake, app }
}

/// A message's text and its blocks' section texts, as a person would read them.
fn shown(m: &StoredMessage) -> String {
    let mut out = m.text.clone();
    for block in m
        .blocks
        .iter()
        .flat_map(|b| b.as_array().cloned().unwrap_or_default())
    {
        if let Some(text) = block["text"]["text"].as_str() {
            out.push('\n');
            out.push_str(text);
        }
    }
    out
}

fn buttons(m: &StoredMessage) -> Vec<Value> {
    m.blocks
        .iter()
        .flat_map(|b| b.as_array().cloned().unwrap_or_default())
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .collect()
}

impl Rig {
    /// Waits for a bot message in `channel` (in `thread`, or at top level) showing `needle`.
    async fn bot_says(&self, channel: &str, thread: Option<&str>, needle: &str) -> StoredMessage {
        self.fake
            .wait_until(
                &format!("the bot saying {needle:?} in {channel}"),
                WAIT,
                |f| {
                    f.bot_messages(channel)
                        .into_iter()
                        .find(|m| m.thread_ts.as_deref() == thread && shown(m).contains(needle))
                },
            )
            .await
    }

    /// Bot messages in `channel` (any thread) showing `needle`, now.
    fn count_saying(&self, channel: &str, needle: &str) -> usize {
        self.fake
            .bot_messages(channel)
            .iter()
            .filter(|m| shown(m).contains(needle))
            .count()
    }

    /// The customer asks for a person in a DM; returns the ticket number and the card.
    async fn escalate(&self, text: &str) -> (i64, StoredMessage) {
        let dm = self.fake.customer_dm(CUSTOMER, text).channel;
        let status = self.bot_says(&dm, None, "ticket #").await;
        let ticket = ticket_number(&shown(&status));
        let card = self.card_of(ticket).await;
        (ticket, card)
    }

    /// The ticket's card in the staff channel, once its place is stored: an agent's reply in
    /// the card's thread finds its ticket only then, and that follows Slack's answer to the
    /// post, which the fake has already recorded.
    async fn card_of(&self, ticket: i64) -> StoredMessage {
        let card = self
            .bot_says(STAFF, None, &format!("Ticket #{ticket}"))
            .await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut tx = self.app.app.services.store.read().await.unwrap();
            if tx.card(ticket, "slack").await.unwrap().is_some() {
                return card;
            }
            drop(tx);
            assert!(
                tokio::time::Instant::now() < deadline,
                "card of #{ticket} not stored"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn csat(&self, ticket: i64) -> Value {
        let token = self.app.add_agent("reader").await;
        let (code, detail) = self
            .app
            .agent_get(&token, &format!("/api/tickets/{ticket}"))
            .await;
        assert_eq!(code, 200, "{detail}");
        detail["csat"].clone()
    }
}

async fn a_dm_gets_the_faq_answer(db: Db) {
    let rig = start(db, SlackMode::Socket).await;
    let posted = rig.fake.customer_dm(CUSTOMER, "where is my order?");
    let answer = rig
        .bot_says(
            &posted.channel,
            None,
            "https://shop.example.com/account/orders",
        )
        .await;
    assert!(shown(&answer).contains("automated assistant"), "{answer:?}");
    let delay = rig
        .fake
        .wait_for_ack(posted.envelope_id.as_deref().unwrap(), WAIT)
        .await;
    assert!(delay < Duration::from_secs(3), "{delay:?}");
    // Answers carry the "Talk to a person" button.
    assert!(
        buttons(&answer)
            .iter()
            .any(|b| b["text"]["text"] == "Talk to a person"),
        "{answer:?}"
    );
}

async fn escalation_posts_the_card_and_the_status_message(db: Db) {
    let rig = start(db, SlackMode::Socket).await;
    let (ticket, card) = rig.escalate("I want to talk to a real person").await;
    let dm = rig.fake.dm_channel(CUSTOMER);
    let status = rig.bot_says(&dm, None, "ticket #").await;
    assert!(shown(&status).contains("A person takes over"), "{status:?}");
    let body = shown(&card);
    assert!(body.contains("Dana"), "the card names the customer: {body}");
    assert!(body.contains("via slack"), "{body}");
    assert!(body.contains("Waiting in the queue"), "{body}");
    let ids: Vec<String> = buttons(&card)
        .iter()
        .map(|b| b["action_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec!["claim", "close"], "{card:?}");
    assert!(buttons(&card)
        .iter()
        .all(|b| b["value"].as_str() == Some(ticket.to_string().as_str())));
    // Exactly one card, however often the dispatcher looked.
    assert_eq!(
        rig.fake
            .bot_messages(STAFF)
            .iter()
            .filter(|m| m.thread_ts.is_none())
            .count(),
        1
    );
}

async fn an_agents_thread_reply_reaches_the_customer_and_a_note_does_not(db: Db) {
    let rig = start(db, SlackMode::Socket).await;
    let (_, card) = rig.escalate("I want to talk to a real person").await;
    let dm = rig.fake.dm_channel(CUSTOMER);

    rig.fake
        .channel_message(STAFF, AGENT, "!note VIP, be extra kind", Some(&card.ts));
    rig.fake
        .channel_message(STAFF, AGENT, "Hello Dana, I'm on it", Some(&card.ts));
    let reply = rig.bot_says(&dm, None, "Hello Dana, I'm on it").await;
    assert!(shown(&reply).starts_with("*Alice"), "{reply:?}");
    assert_eq!(
        rig.count_saying(&dm, "VIP"),
        0,
        "the note reached the customer"
    );

    // A stranger's text in the thread is not relayed; the customer's next words are.
    rig.fake
        .channel_message(STAFF, STRANGER, "psst, stranger here", Some(&card.ts));
    rig.fake.customer_dm(CUSTOMER, "thanks, waiting");
    rig.bot_says(STAFF, Some(&card.ts), "thanks, waiting").await;
    assert_eq!(rig.count_saying(&dm, "stranger"), 0);
}

async fn close_sends_the_rating_buttons_and_a_press_stores_it(db: Db) {
    let rig = start(db, SlackMode::Socket).await;
    let (ticket, card) = rig.escalate("I want to talk to a real person").await;
    let dm = rig.fake.dm_channel(CUSTOMER);

    // A stranger's Claim is refused, privately, and changes nothing.
    rig.fake
        .click(STRANGER, STAFF, &card.ts, "claim", &ticket.to_string());
    let refusal = rig.fake.wait_for_calls("chat.postEphemeral", 1, WAIT).await;
    assert_eq!(refusal[0].params["user"], STRANGER);
    assert_eq!(refusal[0].params["channel"], STAFF);
    assert!(refusal[0].params["text"]
        .as_str()
        .unwrap()
        .contains("Only support agents"));

    // A member of the agent group claims, then closes.
    rig.fake
        .click(GROUP_AGENT, STAFF, &card.ts, "claim", &ticket.to_string());
    rig.bot_says(&dm, None, "has joined the conversation").await;
    rig.fake
        .wait_for("the card to show the claim", WAIT, |f| {
            f.bot_messages(STAFF)
                .iter()
                .any(|m| m.ts == card.ts && shown(m).contains("Claimed by Gus"))
        })
        .await;
    assert!(!rig.fake.calls("chat.update").is_empty());
    assert!(!rig
        .fake
        .bot_messages(&dm)
        .iter()
        .any(|m| shown(m).contains("Claimed by Mallory")));

    rig.fake
        .click(GROUP_AGENT, STAFF, &card.ts, "close", &ticket.to_string());
    let closed = rig.bot_says(&dm, None, "is now closed").await;
    let rating = buttons(&closed);
    let values: Vec<&str> = rating
        .iter()
        .map(|b| b["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, vec!["1", "2", "3", "4", "5"], "{closed:?}");
    rig.fake
        .wait_for("the card to lose its buttons", WAIT, |f| {
            f.bot_messages(STAFF)
                .iter()
                .any(|m| m.ts == card.ts && buttons(m).is_empty())
        })
        .await;

    let five = rating[4]["action_id"].as_str().unwrap().to_string();
    rig.fake.click(CUSTOMER, &dm, &closed.ts, &five, "5");
    rig.bot_says(&dm, None, "Thank you for your rating").await;
    assert_eq!(rig.csat(ticket).await, json!(5));
}

async fn events_mode_answers_a_dm_and_handles_a_retried_event_once(db: Db) {
    let rig = start(db, SlackMode::Events).await;
    let url = rig.app.url("/slack/events");
    let now = START_MS / 1000;

    let challenge = json!({"type": "url_verification", "token": "t", "challenge": "ch4ll3nge"});
    let resp = fake_slack::signed_event(&url, SECRET, &challenge.to_string(), now, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["challenge"],
        "ch4ll3nge"
    );

    // No socket in events mode: the fake only stores the message and gives us its event.
    let posted = rig.fake.customer_dm(CUSTOMER, "where is my order?");
    assert!(posted.envelope_id.is_none());
    let body = posted.event_body.to_string();
    let started = std::time::Instant::now();
    let resp = fake_slack::signed_event(&url, SECRET, &body, now, None).await;
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(3));
    let retry = fake_slack::signed_event(&url, SECRET, &body, now + 60, Some(1)).await;
    assert_eq!(retry.status(), 200);
    rig.bot_says(&posted.channel, None, "account/orders").await;
    // The same message under a second event id (Slack does that too) is still one message.
    let mut again = posted.event_body.clone();
    again["event_id"] = json!("Ev-another-id");
    let resp = fake_slack::signed_event(&url, SECRET, &again.to_string(), now, Some(2)).await;
    assert_eq!(resp.status(), 200);

    // A choice pressed through the interactivity URL: the person button escalates.
    let answer = rig.bot_says(&posted.channel, None, "account/orders").await;
    let person = buttons(&answer)
        .into_iter()
        .find(|b| b["text"]["text"] == "Talk to a person")
        .unwrap();
    let payload = rig.fake.block_actions_payload(
        CUSTOMER,
        &posted.channel,
        &answer.ts,
        person["action_id"].as_str().unwrap(),
        person["value"].as_str().unwrap(),
    );
    let form = fake_slack::interactivity_form(&payload);
    let resp = fake_slack::signed_event(
        &rig.app.url("/slack/interactivity"),
        SECRET,
        &form,
        now,
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    rig.bot_says(&posted.channel, None, "ticket #").await;
    rig.bot_says(STAFF, None, "Ticket #").await;
    assert_eq!(
        rig.count_saying(&posted.channel, "account/orders"),
        1,
        "the retried event was answered twice"
    );
}

/// PostgreSQL cut away (a proxy in front of it drops connections and refuses new ones): an
/// event that cannot be stored is answered 503, so Slack sends it again; its retry, once the
/// database is back, is stored and answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_mode_asks_slack_to_resend_what_it_could_not_store() {
    use common::binary::{host_port, through, Proxy};
    let Some(Db::Postgres { url, schema }) = Db::postgres() else {
        return;
    };
    let proxy = Proxy::start(host_port(&url)).await;
    let url = through(&url, &format!("127.0.0.1:{}", proxy.port));
    let rig = start(Db::Postgres { url, schema }, SlackMode::Events).await;
    let events = rig.app.url("/slack/events");
    let now = START_MS / 1000;
    let posted = rig.fake.customer_dm(CUSTOMER, "where is my order?");
    let body = posted.event_body.to_string();

    proxy.cut().await;
    let resp = fake_slack::signed_event(&events, SECRET, &body, now, None).await;
    assert_eq!(resp.status(), 503, "not stored: Slack must send it again");
    proxy.restore();
    // The pool reconnects by itself; Slack's retries come until one is taken.
    let deadline = tokio::time::Instant::now() + WAIT;
    for attempt in 1.. {
        let resp = fake_slack::signed_event(&events, SECRET, &body, now, Some(attempt)).await;
        if resp.status() == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", resp.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rig.bot_says(&posted.channel, None, "account/orders").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rig.count_saying(&posted.channel, "account/orders"), 1);
}

/// The same in Socket Mode: an envelope that cannot be stored is not acknowledged, so Slack sends
/// it again; the redelivery, once the database is back, is stored, acknowledged and answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_leaves_unacknowledged_what_it_could_not_store() {
    use common::binary::{host_port, through, Proxy};
    let Some(Db::Postgres { url, schema }) = Db::postgres() else {
        return;
    };
    let proxy = Proxy::start(host_port(&url)).await;
    let url = through(&url, &format!("127.0.0.1:{}", proxy.port));
    let rig = start(Db::Postgres { url, schema }, SlackMode::Socket).await;

    proxy.cut().await;
    let posted = rig.fake.customer_dm(CUSTOMER, "where is my order?");
    let first = posted.envelope_id.clone().unwrap();
    // Storing fails (the pool gives up after its acquire timeout); no ack goes out meanwhile.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(rig.fake.ack_count(&first), 0, "acknowledged but not stored");
    proxy.restore();
    // Slack's retries come until one is taken.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = first.clone();
    'retries: loop {
        last = rig.fake.redeliver(&last).unwrap();
        let retry_at = tokio::time::Instant::now() + Duration::from_secs(4);
        while tokio::time::Instant::now() < retry_at {
            if rig.fake.ack_count(&last) > 0 {
                break 'retries;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no redelivery was stored"
        );
    }
    rig.bot_says(&posted.channel, None, "account/orders").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rig.count_saying(&posted.channel, "account/orders"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_mode_refuses_unsigned_wrong_and_stale_requests() {
    let rig = start(Db::sqlite(), SlackMode::Events).await;
    let now = START_MS / 1000;
    let body = rig
        .fake
        .customer_dm(CUSTOMER, "where is my order?")
        .event_body
        .to_string();
    for path in ["/slack/events", "/slack/interactivity"] {
        let url = rig.app.url(path);
        let wrong = fake_slack::signed_event(&url, "not-the-secret", &body, now, None).await;
        assert_eq!(wrong.status(), 401, "{path}: wrong signature");
        let stale = fake_slack::signed_event(&url, SECRET, &body, now - 6 * 60, None).await;
        assert_eq!(stale.status(), 401, "{path}: stale timestamp");
        let future = fake_slack::signed_event(&url, SECRET, &body, now + 6 * 60, None).await;
        assert_eq!(future.status(), 401, "{path}: timestamp ahead");
        let bare = reqwest::Client::new()
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(bare.status(), 401, "{path}: no signature headers");
        let ts = now.to_string();
        let no_ts = reqwest::Client::new()
            .post(&url)
            .header("X-Slack-Signature", fake_slack::sign(SECRET, &ts, &body))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(no_ts.status(), 401, "{path}: no timestamp header");
    }
    // Within the window, the app's clock (not the wall clock) decides: 4 minutes off is fine.
    let ok = fake_slack::signed_event(
        &rig.app.url("/slack/events"),
        SECRET,
        &body,
        now - 4 * 60,
        None,
    )
    .await;
    assert_eq!(ok.status(), 200);
    let dm = rig.fake.dm_channel(CUSTOMER);
    rig.bot_says(&dm, None, "account/orders").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_envelope_is_acknowledged_within_3_seconds() {
    let rig = start(Db::sqlite(), SlackMode::Socket).await;
    let mut envelopes = Vec::new();
    for text in ["hello", "where is my order?", "blorf zingle"] {
        envelopes.push(rig.fake.customer_dm(CUSTOMER, text).envelope_id.unwrap());
    }
    envelopes.push(
        rig.fake
            .channel_message(HELP, CUSTOMER, "returns?", None)
            .envelope_id
            .unwrap(),
    );
    envelopes.push(
        rig.fake
            .channel_message("C0ELSEWHR", CUSTOMER, "not ours", None)
            .envelope_id
            .unwrap(),
    );
    envelopes.push(
        rig.fake
            .click(STRANGER, STAFF, "1.000001", "claim", "1")
            .unwrap(),
    );
    envelopes.push(
        rig.fake
            .slash_command(CUSTOMER, HELP, "/help", "x")
            .unwrap(),
    );
    envelopes.push(rig.fake.usergroup_changed(GROUP, &[GROUP_AGENT]).unwrap());
    for id in &envelopes {
        let delay = rig.fake.wait_for_ack(id, WAIT).await;
        assert!(delay < Duration::from_secs(3), "{id}: {delay:?}");
        assert_eq!(rig.fake.ack_count(id), 1, "{id}");
    }
    // The help-channel message is answered in its own thread.
    let top = rig.fake.messages_in(HELP)[0].ts.clone();
    rig.bot_says(HELP, Some(&top), "automated assistant").await;
    assert!(rig.fake.unacked().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_envelope_is_handled_once() {
    let rig = start(Db::sqlite(), SlackMode::Socket).await;
    let posted = rig.fake.customer_dm(CUSTOMER, "where is my order?");
    let first = posted.envelope_id.unwrap();
    rig.bot_says(&posted.channel, None, "account/orders").await;
    let again = rig.fake.redeliver(&first).unwrap();
    rig.fake.wait_for_ack(&again, WAIT).await;
    // Something after it is answered, so the redelivery has been dealt with by then.
    rig.fake
        .customer_dm(CUSTOMER, "how much does shipping cost");
    rig.bot_says(&posted.channel, None, "EUR").await;
    assert_eq!(rig.count_saying(&posted.channel, "account/orders"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_after_retry_after_and_delivered_once() {
    let rig = start(Db::sqlite(), SlackMode::Socket).await;
    rig.fake.fail_next(
        "chat.postMessage",
        FailKind::RateLimited {
            retry_after_secs: 2,
        },
        1,
    );
    let posted = rig.fake.customer_dm(CUSTOMER, "where is my order?");
    rig.fake.wait_for_calls("chat.postMessage", 1, WAIT).await;
    // The app's clock has not moved: the dispatcher polls, but the row is not due.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rig.fake.calls("chat.postMessage").len(), 1);
    rig.app.clock.advance(Duration::from_millis(1500));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rig.fake.calls("chat.postMessage").len(),
        1,
        "retried before Retry-After"
    );
    rig.app.clock.advance(Duration::from_millis(600));
    rig.bot_says(&posted.channel, None, "account/orders").await;
    assert_eq!(rig.count_saying(&posted.channel, "account/orders"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_then_reconnect_loses_nothing() {
    let rig = start(Db::sqlite(), SlackMode::Socket).await;
    let (_, card) = rig.escalate("I want to talk to a real person").await;
    let dm = rig.fake.dm_channel(CUSTOMER);
    rig.fake
        .channel_message(STAFF, AGENT, "first reply", Some(&card.ts));
    rig.bot_says(&dm, None, "first reply").await;
    let help = rig
        .fake
        .channel_message(HELP, STRANGER, "anyone there?", None);
    rig.bot_says(HELP, Some(&help.ts), "automated assistant")
        .await;
    rig.fake
        .channel_message(HELP, STRANGER, "also returns", None);

    // Slack asks us to reconnect and then keeps us waiting.
    rig.fake.fail_next(
        "apps.connections.open",
        FailKind::RateLimited {
            retry_after_secs: 2,
        },
        1,
    );
    assert!(rig.fake.disconnect());
    rig.fake
        .wait_for("the socket to close", WAIT, |f| !f.is_connected())
        .await;
    // Written while nobody listens: only stored on Slack.
    let missed_dm = rig.fake.customer_dm(CUSTOMER, "are you still there?");
    let missed_agent = rig
        .fake
        .channel_message(STAFF, AGENT, "yes, still here", Some(&card.ts));
    let missed_thread = rig
        .fake
        .channel_message(HELP, STRANGER, "hello again", Some(&help.ts));
    let missed_top = rig
        .fake
        .channel_message(HELP, STRANGER, "new question: refunds?", None);
    for p in [&missed_dm, &missed_agent, &missed_thread, &missed_top] {
        assert!(p.envelope_id.is_none(), "sent while connected");
    }

    rig.fake.wait_for_connections(2, WAIT).await;
    rig.bot_says(STAFF, Some(&card.ts), "are you still there?")
        .await;
    rig.bot_says(&dm, None, "yes, still here").await;
    rig.bot_says(HELP, Some(&missed_top.ts), "automated assistant")
        .await;
    // The bot answers the customer who wrote in their help thread meanwhile.
    rig.fake
        .wait_for("an answer after the missed thread reply", WAIT, |f| {
            f.bot_messages(HELP).iter().any(|m| {
                m.thread_ts.as_deref() == Some(help.ts.as_str())
                    && frontline::channels::slack::events::compare_ts(&m.ts, &missed_thread.ts)
                        .is_gt()
            })
        })
        .await;
    assert!(!rig.fake.calls("conversations.history").is_empty());
    assert!(!rig.fake.calls("conversations.replies").is_empty());
    // Read back once each, however many times recovery saw them.
    assert_eq!(rig.count_saying(&dm, "yes, still here"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_mentions_in_customer_text_arrive_escaped() {
    let rig = start(Db::sqlite(), SlackMode::Socket).await;
    // `<!channel>` is Slack's real mention; `&lt;!here&gt;` is "<!here>" typed as text.
    let (_, card) = rig
        .escalate("I want to talk to a real person <!channel> &lt;!here&gt;")
        .await;
    rig.fake.customer_dm(
        CUSTOMER,
        "<!channel> &lt;!channel&gt; &lt;@U0AGENT01&gt; hurry",
    );
    let line = rig.bot_says(STAFF, Some(&card.ts), "hurry").await;
    for m in rig.fake.bot_messages(STAFF) {
        let all = format!("{} {}", m.text, m.blocks.clone().unwrap_or(Value::Null));
        assert!(!all.contains("<!"), "live mention posted: {all}");
        assert!(!all.contains("<@"), "live user mention posted: {all}");
    }
    assert!(shown(&line).contains("&lt;!channel&gt;"), "{line:?}");
    assert!(shown(&card).contains("&lt;!here&gt;"), "{card:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_reply_is_split_into_messages_not_dropped() {
    let rig = start(Db::sqlite(), SlackMode::Socket).await;
    let (_, card) = rig.escalate("I want to talk to a real person").await;
    let dm = rig.fake.dm_channel(CUSTOMER);
    // Over Slack's 3,000 and within frontline's own 4,000-character limit on a message.
    let long: String = (0..180).map(|i| format!("step {i} of the fix. ")).collect();
    assert!(long.chars().count() > 3000 && long.chars().count() <= 4000);
    rig.fake
        .channel_message(STAFF, AGENT, &long, Some(&card.ts));
    rig.bot_says(&dm, None, "step 179 of the fix.").await;
    let pieces: Vec<StoredMessage> = rig
        .fake
        .bot_messages(&dm)
        .into_iter()
        .filter(|m| m.text.contains("of the fix"))
        .collect();
    assert_eq!(pieces.len(), 2);
    for p in &pieces {
        assert!(p.text.chars().count() <= 3000);
    }
    let joined: String = pieces
        .iter()
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    for i in 0..180 {
        assert!(
            joined.contains(&format!("step {i} of the fix.")),
            "step {i} lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_chat_customer_is_served_from_the_slack_staff_channel() {
    let rig = start(Db::sqlite(), SlackMode::Socket).await;
    let mut s = rig.app.new_session(Some("Wendy <!channel>")).await;
    rig.app.say(&s, "I want to talk to a real person").await;
    let status = rig.app.next_from(&mut s, "bot").await;
    let ticket = ticket_number(status["text"].as_str().unwrap());
    let card = rig.card_of(ticket).await;
    assert!(shown(&card).contains("via web"), "{card:?}");
    assert!(shown(&card).contains("Wendy &lt;!channel&gt;"), "{card:?}");

    rig.fake
        .click(AGENT, STAFF, &card.ts, "claim", &ticket.to_string());
    rig.fake.channel_message(
        STAFF,
        AGENT,
        "Hi Wendy, Alice from support here",
        Some(&card.ts),
    );
    let reply = rig.app.next_from(&mut s, "agent").await;
    assert_eq!(reply["text"], "Hi Wendy, Alice from support here");
    rig.app.say(&s, "great, thanks").await;
    rig.bot_says(STAFF, Some(&card.ts), "great, thanks").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_group_is_read_again_when_it_changes() {
    let rig = start(Db::sqlite(), SlackMode::Socket).await;
    let (ticket, card) = rig.escalate("I want to talk to a real person").await;
    let dm = rig.fake.dm_channel(CUSTOMER);
    // The stranger joins the agent group: Slack says so, and their line is relayed.
    let reads = rig.fake.calls("usergroups.users.list").len();
    let changed = rig
        .fake
        .usergroup_changed(GROUP, &[GROUP_AGENT, STRANGER])
        .unwrap();
    rig.fake.wait_for_ack(&changed, WAIT).await;
    rig.fake
        .wait_for_calls("usergroups.users.list", reads + 1, WAIT)
        .await;
    rig.fake
        .click(STRANGER, STAFF, &card.ts, "claim", &ticket.to_string());
    rig.bot_says(&dm, None, "has joined the conversation").await;
    assert!(rig.fake.calls("chat.postEphemeral").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_noted_on_the_ticket() {
    let rig = start(Db::sqlite(), SlackMode::Socket).await;
    let (_, card) = rig.escalate("I want to talk to a real person").await;
    let dm = rig.fake.dm_channel(CUSTOMER);
    rig.fake.archive(&dm);
    rig.fake
        .channel_message(STAFF, AGENT, "are you there?", Some(&card.ts));
    let line = rig.bot_says(STAFF, Some(&card.ts), "Delivery failed").await;
    assert!(shown(&line).contains("is_archived"), "{line:?}");
}

#[test]
fn the_manifest_asks_for_what_the_adapter_uses() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/slack-manifest.yml");
    let manifest = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = manifest
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .collect();
    let has = |item: &str| lines.iter().any(|l| *l == format!("- {item}"));
    for scope in [
        "chat:write",
        "im:history",
        "im:write",
        "channels:history",
        "groups:history",
        "users:read",
        "usergroups:read",
    ] {
        assert!(has(scope), "scope {scope}");
    }
    for event in [
        "message.im",
        "message.channels",
        "message.groups",
        "subteam_members_changed",
    ] {
        assert!(has(event), "bot event {event}");
    }
    assert!(lines.contains(&"socket_mode_enabled: true"));
    assert!(lines.contains(&"is_enabled: true"), "interactivity");
    assert!(
        lines.contains(&"messages_tab_enabled: true"),
        "DMs to the app"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_frontlines_limit_is_refused_with_a_word_to_its_writer() {
    let rig = start(Db::sqlite(), SlackMode::Socket).await;
    let (_, card) = rig.escalate("I want to talk to a real person").await;
    let dm = rig.fake.dm_channel(CUSTOMER);
    rig.fake
        .channel_message(STAFF, AGENT, &"x".repeat(4001), Some(&card.ts));
    let told = rig.fake.wait_for_calls("chat.postEphemeral", 1, WAIT).await;
    assert_eq!(told[0].params["user"], AGENT);
    assert_eq!(told[0].params["thread_ts"], card.ts.as_str());
    assert!(
        told[0].params["text"].as_str().unwrap().contains("4000"),
        "{:?}",
        told[0].params
    );
    assert_eq!(rig.count_saying(&dm, "xxxx"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discord_customer_is_served_from_the_slack_staff_channel() {
    use common::fake_discord::{self, FakeDiscord, FakeUser};
    let discord = FakeDiscord::start().await;
    let rig = start_with(Db::sqlite(), SlackMode::Socket, |config, platforms| {
        config.discord.enabled = true;
        config.discord.token = Secret::new(fake_discord::TOKEN);
        config.discord.api_base = discord.api_base();
        let adapter = frontline::channels::discord::Discord::new(&config.discord).unwrap();
        platforms.add(Arc::new(adapter));
    })
    .await;
    discord.wait_ready(1).await.unwrap();

    let dora = FakeUser::customer("Dora");
    discord.dm(&dora, "I want to talk to a real person").await;
    let dm = discord
        .wait_for(WAIT, |f| {
            let dm = f.dm_channel_of(&dora.id)?;
            f.bot_messages_in(&dm)
                .iter()
                .find(|m| m.content.contains("ticket #"))
                .map(|m| (dm.clone(), ticket_number(&m.content)))
        })
        .await
        .unwrap();
    let (dm, ticket) = dm;
    let card = rig.card_of(ticket).await;
    assert!(shown(&card).contains("via discord"), "{card:?}");

    rig.fake
        .channel_message(STAFF, AGENT, "Hi Dora, Alice here on Slack", Some(&card.ts));
    discord
        .wait_for(WAIT, |f| {
            f.bot_messages_in(&dm)
                .into_iter()
                .find(|m| m.content.contains("Hi Dora, Alice here on Slack"))
        })
        .await
        .unwrap();
    // The Discord adapter dates messages by Discord's timestamps (the wall clock here), and
    // the line's desk event is due from then: bring the app's clock up to it.
    rig.app
        .clock
        .set(chrono::Utc::now().timestamp_millis() + 60_000);
    discord.dm(&dora, "thanks Alice").await;
    rig.bot_says(STAFF, Some(&card.ts), "thanks Alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_first_reply_written_while_disconnected_is_recovered() {
    let rig = start(Db::sqlite(), SlackMode::Socket).await;
    let (_, card) = rig.escalate("I want to talk to a real person").await;
    let dm = rig.fake.dm_channel(CUSTOMER);
    // No agent has written in this thread yet, so nothing stored points at it.
    rig.fake.fail_next(
        "apps.connections.open",
        FailKind::RateLimited {
            retry_after_secs: 2,
        },
        1,
    );
    rig.fake.drop_socket();
    let first = rig.fake.channel_message(
        STAFF,
        AGENT,
        "sorry for the wait, looking now",
        Some(&card.ts),
    );
    assert!(first.envelope_id.is_none());
    rig.fake.wait_for_connections(2, WAIT).await;
    rig.bot_says(&dm, None, "sorry for the wait, looking now")
        .await;
    // A thread whose last reply was already stored is not read again.
    let replies = rig.fake.calls("conversations.replies").len();
    rig.fake.disconnect();
    rig.fake.wait_for_connections(3, WAIT).await;
    rig.fake
        .wait_for_calls("conversations.history", 3, WAIT)
        .await;
    assert_eq!(rig.count_saying(&dm, "sorry for the wait"), 1);
    assert!(rig.fake.calls("conversations.replies").len() <= replies + 1);
}
