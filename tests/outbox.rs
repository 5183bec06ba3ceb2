//! Delivery through a channel that fails: transient failures are retried with backoff until
//! delivered, permanent ones become dead letters noted for agents without blocking what follows.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::{Db, Options, TestApp, START_MS};
use frontline::channels::{CustomerChannel, Delivered, Delivery, DeliveryError};
use frontline::clock::{Clock, ManualClock};
use frontline::core::message::{Author, Inbound};
use frontline::store::OutboxStatus;

/// A channel that answers each delivery with the next scripted outcome (then accepts), and
/// records what it accepted.
struct ScriptedChannel {
    script: Mutex<VecDeque<Result<(), DeliveryError>>>,
    accepted: Mutex<Vec<String>>,
}

impl ScriptedChannel {
    fn new(script: Vec<Result<(), DeliveryError>>) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(script.into()),
            accepted: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl CustomerChannel for ScriptedChannel {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<Delivered, DeliveryError> {
        let outcome = self.script.lock().unwrap().pop_front().unwrap_or(Ok(()));
        if outcome.is_ok() {
            self.accepted.lock().unwrap().push(delivery.text.clone());
        }
        outcome.map(|()| Delivered::default())
    }
}

fn transient() -> Result<(), DeliveryError> {
    Err(DeliveryError::Transient {
        message: "503 from platform".into(),
        retry_after_ms: None,
    })
}

fn inbound(id: &str, text: &str) -> Inbound {
    Inbound {
        channel: "scripted".into(),
        external_id: id.into(),
        customer_key: "user-1".into(),
        customer_name: Some("Lee".into()),
        conversation_key: "dm-1".into(),
        reply_to: "dm-1".into(),
        text: text.into(),
        received_at: START_MS,
        sender: Default::default(),
    }
}

async fn start(db: Db, channel: Arc<ScriptedChannel>) -> TestApp {
    let options = Options {
        channels: vec![channel],
        workers: false,
        ..Options::default()
    };
    TestApp::start_with(db, options, ManualClock::new(START_MS)).await
}

async fn outbox_rows(app: &TestApp) -> Vec<frontline::store::OutboxItem> {
    let mut tx = app.app.services.store.read().await.unwrap();
    let mut rows = Vec::new();
    for id in 1..50 {
        if let Some(row) = tx.outbox_item(id).await.unwrap() {
            rows.push(row);
        }
    }
    rows
}

async fn transient_failures_are_retried_until_delivered(db: Db) {
    let channel = ScriptedChannel::new(vec![transient(), transient()]);
    let app = start(db, channel.clone()).await;
    app.app
        .engine
        .receive(inbound("m1", "where is my order"))
        .await
        .unwrap();

    assert_eq!(app.app.dispatcher.run_once().await.unwrap(), 1);
    let row = outbox_rows(&app).await.remove(0);
    assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, 1));
    assert_eq!(
        row.next_attempt_at,
        START_MS + 500,
        "first backoff is the base"
    );
    assert_eq!(
        app.app.dispatcher.run_once().await.unwrap(),
        0,
        "not due before its backoff"
    );

    app.clock.advance(Duration::from_millis(500));
    app.app.dispatcher.run_once().await.unwrap();
    let row = outbox_rows(&app).await.remove(0);
    assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, 2));
    assert_eq!(
        row.next_attempt_at,
        START_MS + 500 + 1000,
        "backoff doubles"
    );

    app.clock.advance(Duration::from_millis(1000));
    app.app.dispatcher.run_once().await.unwrap();
    let row = outbox_rows(&app).await.remove(0);
    assert_eq!(row.status, OutboxStatus::Delivered);
    assert_eq!(
        channel.accepted.lock().unwrap().len(),
        1,
        "delivered exactly once"
    );
    assert_eq!(app.app.dispatcher.run_once().await.unwrap(), 0);
}

async fn retry_after_from_the_platform_is_honoured(db: Db) {
    let limited = Err(DeliveryError::Transient {
        message: "429".into(),
        retry_after_ms: Some(30_000),
    });
    let channel = ScriptedChannel::new(vec![limited]);
    let app = start(db, channel.clone()).await;
    app.app
        .engine
        .receive(inbound("m1", "hello"))
        .await
        .unwrap();
    app.app.dispatcher.run_once().await.unwrap();
    assert_eq!(
        outbox_rows(&app).await[0].next_attempt_at,
        START_MS + 30_000
    );
}

async fn a_permanent_failure_is_dead_lettered_and_does_not_block(db: Db) {
    let channel = ScriptedChannel::new(vec![Err(DeliveryError::Permanent {
        message: "50007 cannot DM user".into(),
    })]);
    let app = start(db, channel.clone()).await;
    app.app
        .engine
        .receive(inbound("m1", "talk to a person"))
        .await
        .unwrap();
    app.app
        .engine
        .receive(inbound("m2", "hello?"))
        .await
        .unwrap();
    // The escalation status message fails for good.
    app.app.dispatcher.run_once().await.unwrap();
    let rows = outbox_rows(&app).await;
    assert_eq!(rows[0].status, OutboxStatus::Dead);
    assert!(rows[0].last_error.as_deref().unwrap().contains("50007"));

    // Agents see the failure on the ticket.
    let ticket_id = {
        let mut tx = app.app.services.store.read().await.unwrap();
        tx.latest_conversation("scripted", "dm-1")
            .await
            .unwrap()
            .unwrap()
            .ticket_id
            .unwrap()
    };
    let detail = app.app.desk.detail(ticket_id).await.unwrap();
    assert!(
        detail
            .transcript
            .iter()
            .any(|l| l.author == Author::Note && l.text.contains("Could not deliver")),
        "{:?}",
        detail.transcript
    );

    // The next message in the same conversation still goes out.
    let token = app.add_agent("alice").await;
    let alice = app.app.desk.authenticate(&token).await.unwrap().unwrap();
    app.app
        .desk
        .reply(&alice, ticket_id, "Hello Lee", false)
        .await
        .unwrap();
    app.app.dispatcher.run_once().await.unwrap();
    app.app.dispatcher.run_once().await.unwrap();
    let accepted = channel.accepted.lock().unwrap().clone();
    assert!(accepted.iter().any(|t| t == "Hello Lee"), "{accepted:?}");
}

async fn a_channel_that_is_not_running_gets_its_messages_when_it_is_back(db: Db) {
    let options = Options {
        channels: Vec::new(),
        workers: false,
        ..Options::default()
    };
    let mut app = TestApp::start_with(db.clone(), options, ManualClock::new(START_MS)).await;
    app.app
        .engine
        .receive(inbound("m1", "where is my order"))
        .await
        .unwrap();
    let max_attempts = app.app.services.config.outbox.max_attempts;
    for _ in 0..max_attempts + 2 {
        app.app.dispatcher.run_once().await.unwrap();
        app.clock.advance(Duration::from_secs(3600));
    }
    let row = outbox_rows(&app).await.remove(0);
    assert_eq!(
        (row.status, row.attempts),
        (OutboxStatus::Pending, 0),
        "held, not dead: {:?}",
        row.last_error
    );
    app.stop().await;

    // Started again with the channel configured: the reply goes out.
    let channel = ScriptedChannel::new(vec![]);
    let app = start(db, channel.clone()).await;
    app.clock.set(START_MS + 24 * 3_600_000);
    app.app.dispatcher.run_once().await.unwrap();
    assert_eq!(outbox_rows(&app).await[0].status, OutboxStatus::Delivered);
    assert_eq!(channel.accepted.lock().unwrap().len(), 1);
}

async fn delivery_keeps_order_within_a_conversation(db: Db) {
    let channel = ScriptedChannel::new(vec![transient()]);
    let app = start(db, channel.clone()).await;
    app.app
        .engine
        .receive(inbound("m1", "where is my order"))
        .await
        .unwrap();
    app.app
        .engine
        .receive(inbound("m2", "how much is shipping"))
        .await
        .unwrap();
    app.app.dispatcher.run_once().await.unwrap();
    assert!(
        channel.accepted.lock().unwrap().is_empty(),
        "the second reply waits for the first"
    );
    app.clock.advance(Duration::from_secs(1));
    app.app.dispatcher.run_once().await.unwrap();
    app.app.dispatcher.run_once().await.unwrap();
    let accepted = channel.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 2);
    assert!(
        accepted[0].contains("automated assistant"),
        "first reply first: {accepted:?}"
    );
}

async fn two_dispatchers_never_send_the_same_message(db: Db) {
    let channel = ScriptedChannel::new(vec![]);
    let app = start(db, channel.clone()).await;
    for i in 0..5 {
        app.app
            .engine
            .receive(Inbound {
                conversation_key: format!("dm-{i}"),
                reply_to: format!("dm-{i}"),
                ..inbound(&format!("m{i}"), "hello")
            })
            .await
            .unwrap();
    }
    let second = app.app.dispatcher.clone();
    let (a, b) = tokio::join!(app.app.dispatcher.run_once(), second.run_once());
    assert_eq!(a.unwrap() + b.unwrap(), 5);
    assert_eq!(
        channel.accepted.lock().unwrap().len(),
        5,
        "each reply sent once"
    );
}

/// A channel that fails with a 5xx until the app's clock reaches `back_at`, and records what it
/// accepted per recipient and how often it refused.
struct DownForAWhile {
    clock: ManualClock,
    back_at: i64,
    accepted: Mutex<Vec<(String, String)>>,
    refused: Mutex<usize>,
}

#[async_trait]
impl CustomerChannel for DownForAWhile {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<Delivered, DeliveryError> {
        if self.clock.now_ms() < self.back_at {
            *self.refused.lock().unwrap() += 1;
            return transient().map(|()| Delivered::default());
        }
        self.accepted
            .lock()
            .unwrap()
            .push((delivery.recipient.clone(), delivery.text.clone()));
        Ok(Delivered::default())
    }
}

/// The channel answers 5xx for a whole minute (on the app's clock) while customers in several
/// conversations keep writing, with the dispatcher and its retries running in the background:
/// once it is back, every reply is delivered, in order within each conversation, none twice.
async fn a_channel_down_for_a_minute_gets_everything_once_in_order(db: Db) {
    let clock = ManualClock::new(START_MS);
    let channel = Arc::new(DownForAWhile {
        clock: clock.clone(),
        back_at: START_MS + 60_000,
        accepted: Mutex::new(Vec::new()),
        refused: Mutex::new(0),
    });
    let options = Options {
        channels: vec![channel.clone()],
        workers: true,
        ..Options::default()
    };
    let app = TestApp::start_with(db, options, clock.clone()).await;
    let questions = [
        "where is my order",
        "how long does delivery take",
        "what's your return policy",
        "what payment methods do you accept",
    ];
    let conversations = ["dm-1", "dm-2", "dm-3"];
    // A message every 5 s of the minute, round the conversations; time moves in 1 s steps
    // while the dispatcher polls for real.
    let mut sent = 0;
    for second in 0..90 {
        if second % 5 == 0 && sent < questions.len() * conversations.len() {
            let key = conversations[sent % conversations.len()];
            let text = questions[sent / conversations.len()];
            app.app
                .engine
                .receive(Inbound {
                    customer_key: key.into(),
                    conversation_key: key.into(),
                    reply_to: key.into(),
                    received_at: clock.now_ms(),
                    ..inbound(&format!("m{sent}"), text)
                })
                .await
                .unwrap();
            sent += 1;
        }
        clock.advance(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(*channel.refused.lock().unwrap() > 0, "the channel was down");

    // Backoff caps at `backoff_max_ms`: keep time moving until the queue is empty.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (pending, _) = {
            let mut tx = app.app.services.store.read().await.unwrap();
            tx.outbox_backlog().await.unwrap()
        };
        if pending == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{pending} never delivered"
        );
        clock.advance(Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let accepted = channel.accepted.lock().unwrap().clone();
    for key in conversations {
        // What the bot wrote, in the order it wrote it, is what the customer got.
        let written: Vec<String> = {
            let mut tx = app.app.services.store.read().await.unwrap();
            let conversation = tx
                .latest_conversation("scripted", key)
                .await
                .unwrap()
                .unwrap();
            tx.conversation_lines(conversation.id, 0, false)
                .await
                .unwrap()
                .into_iter()
                .filter(|l| l.author != Author::Customer)
                .map(|l| l.text)
                .collect()
        };
        let got: Vec<String> = accepted
            .iter()
            .filter(|(to, _)| to == key)
            .map(|(_, text)| text.clone())
            .collect();
        assert_eq!(
            written.len(),
            4,
            "{key}: one reply per message: {written:?}"
        );
        assert_eq!(got, written, "{key}: every reply, in order, once");
    }
}

on_both_databases!(
    a_channel_down_for_a_minute_gets_everything_once_in_order,
    transient_failures_are_retried_until_delivered,
    retry_after_from_the_platform_is_honoured,
    a_permanent_failure_is_dead_lettered_and_does_not_block,
    a_channel_that_is_not_running_gets_its_messages_when_it_is_back,
    delivery_keeps_order_within_a_conversation,
    two_dispatchers_never_send_the_same_message,
);
