//! Discord end to end: the real serenity client inside frontline's adapter, against the fake
//! Discord in tests/common/fake_discord (gateway + REST on 127.0.0.1). Customers write DMs and in
//! a support channel; agents work in ticket threads made from cards in the staff channel.
#![cfg(feature = "discord")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fake_discord::{
    FakeDiscord, FakeMessage, FakeUser, AGENT_ROLE_ID, EPHEMERAL, STAFF_CHANNEL_ID,
    SUPPORT_CHANNEL_ID, TOKEN,
};
use common::{test_config, ticket_number, Db, Options, TestApp, START_MS};
use frontline::channels::discord::Discord;
use frontline::channels::Platforms;
use frontline::clock::ManualClock;
use frontline::config::{Config, DeskPlatform, Secret};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

on_both_databases!(
    faq_is_answered_in_a_dm,
    escalation_card_thread_relay_note_claim_close_rating,
    duplicate_message_create_is_handled_once,
    closed_dms_become_a_note_for_agents,
    console_agent_works_a_discord_ticket,
    rate_limited_dm_is_retried_and_delivered_once,
    long_reply_is_split_and_sent_once_despite_a_429_on_its_second_piece,
    support_channel_message_is_answered_in_a_thread_from_it,
    lost_session_loses_no_message,
    dropped_connection_loses_no_message,
    support_channel_message_written_while_away_is_answered,
);

/// The fake and the app, with Discord as customer channel and desk.
struct World {
    fake: FakeDiscord,
    app: TestApp,
}

fn discord_config(fake: &FakeDiscord) -> Config {
    let mut config = test_config();
    config.discord.enabled = true;
    config.discord.staff_channel_id = STAFF_CHANNEL_ID.into();
    config.discord.agent_role_id = AGENT_ROLE_ID.into();
    config.discord.support_channel_ids = vec![SUPPORT_CHANNEL_ID.into()];
    config.discord.api_base = fake.api_base();
    config.discord.token = Secret::new(TOKEN);
    config.desk.platform = DeskPlatform::Discord;
    // A 429 from the fake carries no retry_after through serenity: back off briefly.
    config.outbox.backoff_base_ms = 50;
    config.outbox.backoff_max_ms = 200;
    config
}

async fn start(db: Db) -> World {
    start_with(db, |_| {}).await
}

async fn start_with(db: Db, tweak: impl FnOnce(&mut Config)) -> World {
    // RUST_LOG=frontline=debug shows the adapter's and the dispatcher's view of a failure.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let fake = FakeDiscord::start().await;
    let mut config = discord_config(&fake);
    tweak(&mut config);
    let mut platforms = Platforms::default();
    platforms.add(Arc::new(Discord::new(&config.discord).expect("adapter")));
    let app = TestApp::start_with(
        db,
        Options {
            config,
            platforms,
            ..Options::default()
        },
        ManualClock::new(START_MS),
    )
    .await;
    fake.wait_ready(1).await.expect("the bot connects");
    World { fake, app }
}

impl World {
    /// Waits until the bot has sent at least `n` messages in `channel`; returns them.
    async fn bot_messages(&self, channel: &str, n: usize) -> Vec<FakeMessage> {
        self.fake
            .wait_bot_messages_in(channel, n, WAIT)
            .await
            .unwrap_or_else(|e| panic!("waiting for {n} bot messages in {channel}: {e}"))
    }

    /// Like `bot_messages`, moving the app's clock on meanwhile, so outbox retries (backed off
    /// on that clock) come due whenever the failure is recorded.
    async fn bot_messages_ticking(&self, channel: &str, n: usize) -> Vec<FakeMessage> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let sent = self.fake.bot_messages_in(channel);
            if sent.len() >= n {
                return sent;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waiting for {n} bot messages in {channel}\n{}",
                self.fake.summary()
            );
            self.app.clock.advance(Duration::from_millis(250));
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The DM channel of a customer (after their first DM).
    fn dm_of(&self, user: &FakeUser) -> String {
        self.fake.dm_channel_of(&user.id).expect("a DM channel")
    }

    /// A customer asks for a person; returns the status message and the card.
    async fn escalate(&self, customer: &FakeUser) -> (String, FakeMessage) {
        self.fake.dm(customer, "I want to talk to a person").await;
        let dm = self.dm_of(customer);
        let status = self
            .bot_messages(&dm, 1)
            .await
            .last()
            .unwrap()
            .content
            .clone();
        let card = self.card_mentioning(&customer.name).await;
        (status, card)
    }

    /// The card in the staff channel whose text names `who`.
    async fn card_mentioning(&self, who: &str) -> FakeMessage {
        let who = who.to_string();
        self.fake
            .wait_for(WAIT, |_| {
                self.fake
                    .bot_messages_in(STAFF_CHANNEL_ID)
                    .into_iter()
                    .find(|m| m.content.contains(&who))
            })
            .await
            .unwrap_or_else(|e| panic!("no card for {who}: {e}"))
    }

    /// The thread made from a card.
    async fn thread_of(&self, card: &FakeMessage) -> String {
        self.fake
            .wait_for(WAIT, |_| self.fake.thread_of(&card.id))
            .await
            .expect("a thread made from the card")
            .id
    }

    /// Waits for a bot message in `channel` containing `needle`.
    async fn bot_line(&self, channel: &str, needle: &str) -> FakeMessage {
        let needle = needle.to_string();
        self.fake
            .wait_for(WAIT, |_| {
                self.fake
                    .bot_messages_in(channel)
                    .into_iter()
                    .find(|m| m.content.contains(&needle))
            })
            .await
            .unwrap_or_else(|e| panic!("no bot message with {needle:?} in {channel}: {e}"))
    }

    /// Waits until the app has stored where a ticket's card is (once the platform accepted it).
    async fn card_stored(&self, ticket: i64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut tx = self.app.app.services.store.read().await.unwrap();
            if tx.card(ticket, "discord").await.unwrap().is_some() {
                return;
            }
            drop(tx);
            assert!(
                tokio::time::Instant::now() < deadline,
                "card of #{ticket} not stored"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A console agent's view of a ticket.
    async fn ticket(&self, token: &str, id: i64) -> Value {
        let (code, detail) = self
            .app
            .agent_get(token, &format!("/api/tickets/{id}"))
            .await;
        assert_eq!(code, 200, "{detail}");
        detail
    }

    /// No bot message containing `needle` appears in `channel` within a short while.
    async fn never_says(&self, channel: &str, needle: &str) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let said: Vec<String> = self
            .fake
            .bot_messages_in(channel)
            .into_iter()
            .map(|m| m.content)
            .filter(|c| c.contains(needle))
            .collect();
        assert!(said.is_empty(), "{needle:?} reached {channel}: {said:?}");
    }
}

/// `text` is `template` rendered: every literal part of it appears, in order.
fn assert_follows_template(text: &str, template: &str) {
    let mut rest = text;
    for (i, part) in template.split("{{").enumerate() {
        let literal = if i == 0 {
            part
        } else {
            part.split_once("}}").map_or(part, |(_, l)| l)
        };
        let at = rest
            .find(literal)
            .unwrap_or_else(|| panic!("{literal:?} missing from {text:?}"));
        rest = &rest[at + literal.len()..];
    }
}

/// What serenity sends for `CreateAllowedMentions::new()`: `{"parse": [], "users": [],
/// "roles": []}`: no @everyone/@here, no user or role mention can ping. Edits and interaction
/// responses must carry it too (Discord applies its defaults to a body without it).
fn assert_pings_nobody(m: &FakeMessage) {
    let am = m
        .allowed_mentions
        .as_ref()
        .unwrap_or_else(|| panic!("no allowed_mentions on {:?}: {}", m.content, m.create_body));
    let empty = |key: &str| am.get(key).is_none_or(|v| v == &json!([]));
    assert!(
        am["parse"] == json!([])
            && empty("users")
            && empty("roles")
            && am.get("replied_user") != Some(&json!(true)),
        "{:?} may ping: {am}",
        m.content
    );
    for edit in &m.edits {
        if edit.body.get("content").is_some() {
            assert_eq!(
                edit.body["allowed_mentions"]["parse"],
                json!([]),
                "edit of {:?}: {}",
                m.content,
                edit.body
            );
        }
    }
}

async fn faq_is_answered_in_a_dm(db: Db) {
    let w = start(db).await;
    let dana = FakeUser::customer("dana");
    w.fake.dm(&dana, "where is my order?").await;
    let dm = w.dm_of(&dana);
    let reply = &w.bot_messages(&dm, 1).await[0];
    assert!(
        reply
            .content
            .contains("https://shop.example.com/account/orders"),
        "answers with the orders link: {}",
        reply.content
    );
    assert!(
        reply.content.contains("automated assistant"),
        "{}",
        reply.content
    );
    assert_pings_nobody(reply);
    // Quick replies are buttons; pressing one asks it, acknowledged in time.
    assert_eq!(
        reply.button_labels(),
        vec!["Delivery times", "Talk to a person"]
    );
    let press = w.fake.click_label(&reply.id, "Delivery times", &dana).await;
    let answers = w
        .fake
        .wait_interaction_response(&press, WAIT)
        .await
        .expect("the press is answered");
    assert!(answers[0].elapsed < Duration::from_secs(3), "{answers:?}");
    assert_eq!(answers[0].status, 204, "{answers:?}");
    let second = &w.bot_messages(&dm, 2).await[1];
    assert!(
        second.content.contains("standard delivery"),
        "{}",
        second.content
    );
    // Another bot is not a customer.
    let robot = FakeUser::other_bot("robot");
    w.fake.dm(&robot, "where is my order?").await;
    // Its own message came back as MESSAGE_CREATE: it is not answered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.fake.bot_messages_in(&dm).len(), 2);
    let robot_dm = w.dm_of(&robot);
    assert!(w.fake.bot_messages_in(&robot_dm).is_empty());
    assert!(
        w.fake.unexpected_requests().is_empty(),
        "{}",
        w.fake.summary()
    );
}

async fn escalation_card_thread_relay_note_claim_close_rating(db: Db) {
    let w = start(db).await;
    let console = w.app.add_agent("carol").await;
    let dana = FakeUser::customer("dana");
    let alice = FakeUser::agent("alice");
    let mallory = FakeUser::non_agent("mallory");

    // Escalation: the spine's status message, word for word, in the DM.
    let (status, card) = w.escalate(&dana).await;
    let ticket = ticket_number(&status);
    assert_follows_template(&status, &test_config().templates.escalated);
    assert!(status.contains(&format!("ticket #{ticket}.")), "{status}");
    assert!(status.contains("number 1 in the queue"), "{status}");
    assert!(status.contains("expected wait"), "{status}");

    // The card in the staff channel: Claim and Close buttons, a thread made from it.
    assert!(
        card.content.contains(&format!("#{ticket}")),
        "{}",
        card.content
    );
    let labels = card.button_labels();
    assert_eq!(labels, vec!["Claim", "Close"], "{labels:?}");
    let thread = w.thread_of(&card).await;
    let channel = w.fake.channel(&thread).unwrap();
    assert_eq!(channel.parent_id.as_deref(), Some(STAFF_CHANNEL_ID));

    // A non-agent's Claim: an ephemeral refusal within 3 s; nothing claimed.
    let press = w.fake.click_label(&card.id, "Claim", &mallory).await;
    let answers = w
        .fake
        .wait_interaction_response(&press, WAIT)
        .await
        .expect("the press is answered");
    assert_eq!(answers[0].status, 204, "{answers:?}");
    assert!(answers[0].elapsed < Duration::from_secs(3), "{answers:?}");
    let refusal = w.fake.followups(&press);
    assert!(
        refusal
            .iter()
            .any(|m| m.flags & EPHEMERAL != 0 && m.content.contains("agents")),
        "{refusal:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.ticket(&console, ticket).await["status"], "open");

    // An agent's Claim: acknowledged in time, the card edited, the customer told.
    let press = w.fake.click_label(&card.id, "Claim", &alice).await;
    let answers = w
        .fake
        .wait_interaction_response(&press, WAIT)
        .await
        .expect("the press is answered");
    assert!(answers[0].elapsed < Duration::from_secs(3), "{answers:?}");
    assert_eq!(answers[0].status, 204, "{answers:?}");
    let claimed = w
        .fake
        .wait_for(WAIT, |_| {
            w.fake
                .message(&card.id)
                .filter(|m| m.content.contains("alice") && !m.edits.is_empty())
        })
        .await
        .expect("the card names who claimed it");
    assert_eq!(claimed.button_labels(), vec!["Claim", "Close"]);
    let detail = w.ticket(&console, ticket).await;
    assert_eq!(detail["status"], "assigned");
    assert_eq!(detail["assignee"], "alice");
    let dm = w.dm_of(&dana);
    w.bot_line(&dm, "alice").await;

    // An agent's thread reply reaches the DM, signed.
    w.fake
        .post(&thread, &alice, "Hi Dana, I'm looking at your order now.")
        .await;
    let relayed = w.bot_line(&dm, "looking at your order").await;
    assert!(relayed.content.contains("alice"), "{}", relayed.content);
    let dm_count = w.fake.bot_messages_in(&dm).len();

    // A note stays with the agents.
    w.fake
        .post(&thread, &alice, "!note SECRET vip customer")
        .await;
    // A non-agent's thread text is not relayed either.
    w.fake.post(&thread, &mallory, "psst from mallory").await;
    // The customer's next DM reaches the thread, and @everyone in it can ping nobody.
    w.fake.dm(&dana, "thanks! @everyone look").await;
    let line = w.bot_line(&thread, "@everyone look").await;
    assert_pings_nobody(&line);
    // Attachments reach the thread as links.
    w.fake
        .dm_with_attachments(&dana, "photo of the box", &["https://cdn.example/box.png"])
        .await;
    w.bot_line(&thread, "https://cdn.example/box.png").await;
    // Nothing more reached the customer: no note, no non-agent's text, and the bot stays
    // silent while a person has the conversation.
    w.never_says(&dm, "SECRET").await;
    assert_eq!(
        w.fake.bot_messages_in(&dm).len(),
        dm_count,
        "{:#?}",
        w.fake.bot_messages_in(&dm)
    );
    w.never_says(&dm, "SECRET").await;
    w.never_says(&dm, "mallory").await;
    let detail = w.ticket(&console, ticket).await;
    let transcript = detail["transcript"].as_array().unwrap();
    assert!(
        transcript
            .iter()
            .any(|m| m["from"] == "note" && m["text"] == "SECRET vip customer"),
        "the console shows the note as a note: {transcript:?}"
    );
    assert!(
        !transcript
            .iter()
            .any(|m| m["text"].as_str().unwrap_or("").contains("mallory")),
        "{transcript:?}"
    );

    // Close from the thread: thanks and the 1–5 rating buttons in the DM.
    w.fake.post(&thread, &alice, "!close solved").await;
    let closing = w.bot_line(&dm, "Thank you").await;
    assert_eq!(
        closing.button_labels(),
        vec!["1", "2", "3", "4", "5"],
        "{}",
        closing.content
    );
    let detail = w.ticket(&console, ticket).await;
    assert_eq!(detail["status"], "resolved");
    w.fake
        .wait_for(WAIT, |_| {
            w.fake.message(&card.id).filter(|m| m.buttons().is_empty())
        })
        .await
        .expect("a closed card loses its buttons");

    // The customer presses 4: acknowledged, stored as the ticket's rating.
    let press = w.fake.click_label(&closing.id, "4", &dana).await;
    let answers = w
        .fake
        .wait_interaction_response(&press, WAIT)
        .await
        .expect("the press is answered");
    assert!(answers[0].elapsed < Duration::from_secs(3), "{answers:?}");
    w.bot_line(&dm, "rating").await;
    assert_eq!(w.ticket(&console, ticket).await["csat"], 4);

    // Everything the bot sent carries empty allowed_mentions.
    for m in w.fake.bot_messages() {
        assert_pings_nobody(&m);
    }
    assert!(
        w.fake.unexpected_requests().is_empty(),
        "{}",
        w.fake.summary()
    );
}

async fn duplicate_message_create_is_handled_once(db: Db) {
    let w = start(db).await;
    let dana = FakeUser::customer("dana");
    let id = w.fake.dm(&dana, "where is my order?").await;
    let dm = w.dm_of(&dana);
    w.bot_messages(&dm, 1).await;
    assert!(w.fake.redeliver(&id).await);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(w.fake.bot_messages_in(&dm).len(), 1, "answered once");
}

async fn closed_dms_become_a_note_for_agents(db: Db) {
    let w = start(db).await;
    let console = w.app.add_agent("carol").await;
    let dana = FakeUser::customer("dana");
    let alice = FakeUser::agent("alice");
    let (status, card) = w.escalate(&dana).await;
    let ticket = ticket_number(&status);
    let thread = w.thread_of(&card).await;
    w.fake.click_label(&card.id, "Claim", &alice).await;
    let dm = w.dm_of(&dana);
    w.bot_line(&dm, "alice").await;

    w.fake.close_dms(&dana.id).await;
    w.fake.post(&thread, &alice, "Are you still there?").await;
    // The agents hear of it in the thread, and the console shows a note.
    w.bot_line(&thread, "50007").await;
    let detail = w.ticket(&console, ticket).await;
    let transcript = detail["transcript"].as_array().unwrap();
    assert!(
        transcript
            .iter()
            .any(|m| m["from"] == "note"
                && m["text"].as_str().unwrap_or("").contains("direct messages")),
        "{transcript:?}"
    );
    // Tried once, not for ever: however long the app waits, no retry follows.
    let attempts = |f: &FakeDiscord| {
        f.requests_to("POST", &format!("/channels/{dm}/messages"))
            .iter()
            .filter(|r| {
                r.body["content"]
                    .as_str()
                    .unwrap_or("")
                    .contains("still there")
            })
            .count()
    };
    assert_eq!(attempts(&w.fake), 1);
    for _ in 0..40 {
        w.app.clock.advance(Duration::from_millis(250));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(attempts(&w.fake), 1, "a closed DM is not retried");
    // The flow goes on: the agent can still work the ticket.
    w.fake.post(&thread, &alice, "!close unreachable").await;
    w.fake
        .wait_for(WAIT, |_| {
            w.fake.message(&card.id).filter(|m| m.buttons().is_empty())
        })
        .await
        .expect("the ticket still closes");
    assert_eq!(w.ticket(&console, ticket).await["status"], "resolved");
}

async fn console_agent_works_a_discord_ticket(db: Db) {
    let w = start(db).await;
    let carol = w.app.add_agent("carol").await;
    let dana = FakeUser::customer("dana");
    let (status, card) = w.escalate(&dana).await;
    let ticket = ticket_number(&status);
    let thread = w.thread_of(&card).await;
    let detail = w.ticket(&carol, ticket).await;
    assert_eq!(detail["channel"], "discord");

    let (code, body) = w
        .app
        .agent_post(&carol, &format!("/api/tickets/{ticket}/claim"), json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    w.fake
        .wait_for(WAIT, |_| {
            w.fake
                .message(&card.id)
                .filter(|m| m.content.contains("carol"))
        })
        .await
        .expect("the card shows the console claim");
    let (code, body) = w
        .app
        .agent_post(
            &carol,
            &format!("/api/tickets/{ticket}/messages"),
            json!({"text": "Hello from the console"}),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    let dm = w.dm_of(&dana);
    w.bot_line(&dm, "Hello from the console").await;
    w.bot_line(&thread, "Hello from the console").await;
}

async fn rate_limited_dm_is_retried_and_delivered_once(db: Db) {
    let w = start(db).await;
    let dana = FakeUser::customer("dana");
    // The first message the bot sends (its answer in the new DM) is rate limited.
    w.fake
        .rate_limit_next("POST", "/channels/*/messages", 0.05, 1)
        .await;
    w.fake.dm(&dana, "where is my order?").await;
    let dm = w.dm_of(&dana);
    let posts = format!("/channels/{dm}/messages");
    let tries = w.fake.wait_requests("POST", &posts, 1, WAIT).await.unwrap();
    assert_eq!(tries[0].status, 429);
    // The outbox backs off on the app's clock.
    let sent = w.bot_messages_ticking(&dm, 1).await;
    assert!(
        sent[0]
            .content
            .contains("https://shop.example.com/account/orders"),
        "{}",
        sent[0].content
    );
    w.app.clock.advance(Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        w.fake.bot_messages_in(&dm).len(),
        1,
        "delivered exactly once"
    );
    let statuses: Vec<u16> = w
        .fake
        .requests_to("POST", &posts)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![429, 200]);
}

/// Words and lines, 2,700 characters, each word numbered so a lost or repeated one shows.
fn long_text() -> String {
    let mut text = String::new();
    let mut n = 0;
    while text.chars().count() < 2_700 {
        n += 1;
        text.push_str(&format!("word{n}"));
        text.push(if n % 12 == 0 { '\n' } else { ' ' });
    }
    let mut text: String = text.chars().take(2_699).collect();
    text.push('!');
    text
}

fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

async fn long_reply_is_split_and_sent_once_despite_a_429_on_its_second_piece(db: Db) {
    let w = start(db).await;
    let dana = FakeUser::customer("dana");
    let alice = FakeUser::agent("alice");
    let (_, card) = w.escalate(&dana).await;
    let thread = w.thread_of(&card).await;
    w.fake.click_label(&card.id, "Claim", &alice).await;
    let dm = w.dm_of(&dana);
    w.bot_line(&dm, "has joined").await;
    let before = w.fake.bot_messages_in(&dm).len();

    // The first piece goes through, the second is rate limited once.
    w.fake
        .fail_after(
            "POST",
            &format!("/channels/{dm}/messages"),
            1,
            429,
            json!({"message": "You are being rate limited.", "retry_after": 0.05, "global": false}),
            1,
        )
        .await;
    let text = long_text();
    assert_eq!(text.chars().count(), 2_700);
    w.fake.post(&thread, &alice, &text).await;
    w.fake
        .wait_for(WAIT, |f| {
            f.requests_to("POST", &format!("/channels/{dm}/messages"))
                .iter()
                .any(|r| r.status == 429)
                .then_some(())
        })
        .await
        .expect("the second piece was rate limited");
    let sent = w.bot_messages_ticking(&dm, before + 2).await;
    w.app.clock.advance(Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pieces: Vec<String> = w.fake.bot_messages_in(&dm)[before..]
        .iter()
        .map(|m| m.content.clone())
        .collect();
    assert_eq!(pieces.len(), 2, "two DMs, none repeated: {pieces:#?}");
    assert!(pieces.iter().all(|p| p.chars().count() <= 2_000));
    let joined = pieces.join("\n");
    assert_eq!(
        words(&joined)[1..],
        words(&text)[..],
        "every word once, in order (after the agent's name)"
    );
    assert!(sent[before].content.starts_with("**alice:**"));
}

async fn support_channel_message_is_answered_in_a_thread_from_it(db: Db) {
    let w = start(db).await;
    let erin = FakeUser::non_agent("erin");
    let question = w
        .fake
        .post(SUPPORT_CHANNEL_ID, &erin, "where is my order?")
        .await;
    let thread = w
        .fake
        .wait_for(WAIT, |f| f.thread_of(&question))
        .await
        .expect("a thread made from the customer's message");
    assert_eq!(thread.parent_id.as_deref(), Some(SUPPORT_CHANNEL_ID));
    let answer = &w.bot_messages(&thread.id, 1).await[0];
    assert!(
        answer
            .content
            .contains("https://shop.example.com/account/orders"),
        "{}",
        answer.content
    );
    assert!(
        w.fake.bot_messages_in(SUPPORT_CHANNEL_ID).is_empty(),
        "nothing posted in the channel itself"
    );
    // The conversation goes on in the thread.
    w.fake
        .post(&thread.id, &erin, "how much does shipping cost")
        .await;
    let next = &w.bot_messages(&thread.id, 2).await[1];
    assert!(next.content.contains("EUR"), "{}", next.content);
    assert_eq!(w.fake.threads().len(), 1, "one thread per conversation");
    // Someone chatting elsewhere in the guild is not a customer.
    w.fake
        .post(
            common::fake_discord::GENERAL_CHANNEL_ID,
            &erin,
            "where is my order?",
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(w
        .fake
        .bot_messages_in(common::fake_discord::GENERAL_CHANNEL_ID)
        .is_empty());
    assert_eq!(w.fake.threads().len(), 1);
}

/// While the bot is away, a known customer writes and an agent replies in a ticket thread;
/// after it is back, both are handled, once.
async fn away_and_back(w: &World, go_away: impl std::future::Future<Output = ()>, back: u32) {
    let dana = FakeUser::customer("dana");
    let fred = FakeUser::customer("fred");
    let alice = FakeUser::agent("alice");
    w.fake.dm(&dana, "hello").await;
    let dm = w.dm_of(&dana);
    w.bot_messages(&dm, 1).await;
    // Fred's ticket: nobody has written in its thread yet.
    let (status, card) = w.escalate(&fred).await;
    let thread = w.thread_of(&card).await;
    w.card_stored(ticket_number(&status)).await;
    let fred_dm = w.dm_of(&fred);

    w.fake.hold_messages(true);
    go_away.await;
    w.fake.dm(&dana, "where is my order?").await;
    w.fake.post(&thread, &alice, "Hi Fred, alice here.").await;
    w.fake.hold_messages(false);

    w.fake
        .wait_for(Duration::from_secs(30), |f| {
            (f.ready_count() + f.resumed_count() > back && f.is_connected()).then_some(())
        })
        .await
        .expect("the bot is back");
    let answer = w
        .bot_line(&dm, "https://shop.example.com/account/orders")
        .await;
    assert!(
        !answer.content.contains("automated assistant"),
        "not a first reply: {}",
        answer.content
    );
    w.bot_line(&fred_dm, "alice here").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        w.fake.bot_messages_in(&dm).len(),
        2,
        "each message answered once"
    );
    let relayed = w
        .fake
        .bot_messages_in(&fred_dm)
        .into_iter()
        .filter(|m| m.content.contains("alice here"))
        .count();
    assert_eq!(relayed, 1);
}

async fn lost_session_loses_no_message(db: Db) {
    let w = start(db).await;
    away_and_back(&w, w.fake.invalidate_session(), 1).await;
    assert!(w.fake.identify_count() >= 2, "a fresh IDENTIFY");
}

async fn dropped_connection_loses_no_message(db: Db) {
    let w = start(db).await;
    away_and_back(&w, w.fake.drop_connection(), 1).await;
}

async fn support_channel_message_written_while_away_is_answered(db: Db) {
    let w = start(db).await;
    let erin = FakeUser::non_agent("erin");
    w.fake.hold_messages(true);
    w.fake.drop_connection().await;
    let question = w
        .fake
        .post(SUPPORT_CHANNEL_ID, &erin, "where is my order?")
        .await;
    w.fake.hold_messages(false);
    let thread = w
        .fake
        .wait_for(Duration::from_secs(30), |f| f.thread_of(&question))
        .await
        .expect("read after the reconnect, answered in a thread from it");
    let answer = &w.bot_messages(&thread.id, 1).await[0];
    assert!(
        answer.content.contains("/account/orders"),
        "{}",
        answer.content
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.fake.bot_messages_in(&thread.id).len(), 1);
}

/// PostgreSQL cut away (a proxy in front of it) while a customer writes: the message the
/// database could not take is read back from Discord once it is back, without a reconnect, and
/// answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_database_could_not_take_is_read_back_once_it_is_back() {
    use common::binary::{host_port, through, Proxy};
    let Some(Db::Postgres { url, schema }) = Db::postgres() else {
        return;
    };
    let proxy = Proxy::start(host_port(&url)).await;
    let url = through(&url, &format!("127.0.0.1:{}", proxy.port));
    let w = start(Db::Postgres { url, schema }).await;
    let dana = FakeUser::customer("dana");
    w.fake.dm(&dana, "hello").await;
    let dm = w.dm_of(&dana);
    w.bot_messages(&dm, 1).await;
    // Cut only once that reply is recorded as delivered: one sent but not recorded would be
    // sent again when its outbox lease runs out on the app's clock, which stands still here.
    let deadline = tokio::time::Instant::now() + WAIT;
    while {
        let mut tx = w.app.app.services.store.read().await.unwrap();
        tx.outbox_backlog().await.unwrap().0 > 0
    } {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reply is never recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    proxy.cut().await;
    w.fake.dm(&dana, "where is my order?").await;
    // The gateway delivers it at once; storing it fails meanwhile.
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.restore();
    w.bot_line(&dm, "https://shop.example.com/account/orders")
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(w.fake.bot_messages_in(&dm).len(), 2, "answered once");
    assert_eq!(
        w.fake.ready_count() + w.fake.resumed_count(),
        1,
        "read back without a reconnect"
    );
}

/// With `[discord]` off (the default) no Discord adapter runs; on, one serves customers, the
/// desk and the gateway.
#[test]
fn discord_runs_only_when_enabled() {
    let config = test_config();
    assert!(!config.discord.enabled);
    let platforms = frontline::channels::configured(
        &config,
        std::sync::Arc::new(frontline::clock::SystemClock),
    )
    .unwrap();
    assert!(platforms.adapters.is_empty() && platforms.channels.is_empty());
    assert!(platforms.desks.is_empty());

    let mut config = test_config();
    config.discord.enabled = true;
    config.discord.token = Secret::new(TOKEN);
    let platforms = frontline::channels::configured(
        &config,
        std::sync::Arc::new(frontline::clock::SystemClock),
    )
    .unwrap();
    let names: Vec<&str> = platforms.adapters.iter().map(|a| a.name()).collect();
    assert_eq!(names, vec!["discord"]);
    assert_eq!(platforms.channels[0].name(), "discord");
    assert_eq!(platforms.desks[0].name(), "discord");
}
