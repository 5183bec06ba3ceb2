//! Group commit of the inbox: messages that arrive together are stored, handled and answered in
//! one transaction, each answered once. Alone in its test binary, and running on one database
//! after the other, because it reads the process-wide metrics to count transactions. (Order
//! within a conversation: tests/journey.rs; a failing message in a batch: tests/desk_timers.rs.)

mod common;

use common::{Db, Options, TestApp, START_MS};
use frontline::clock::ManualClock;
use serde_json::Value;

/// Reads one sample of the Prometheus text (`name{labels} value`); 0 when absent.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn app_with_batch_wait(db: Db, wait_us: u64) -> TestApp {
    let mut options = Options::default();
    options.config.inbox.batch_wait_us = wait_us;
    options.config.metrics.enabled = true;
    TestApp::start_with(db, options, ManualClock::new(START_MS)).await
}

async fn scrape(app: &TestApp) -> String {
    let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

fn from(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|l| l["from"].as_str().unwrap()).collect()
}

/// Twelve customers writing at the same moment share one transaction (the first waits long
/// enough for the others to join), and each gets their own answer, once.
async fn messages_that_arrive_together_are_committed_together(db: Db) {
    let app = app_with_batch_wait(db, 300_000).await;
    let mut sessions = Vec::new();
    for i in 0..12 {
        sessions.push(app.new_session(Some(&format!("Customer {i}"))).await);
    }
    let before = scrape(&app).await;
    let questions = [
        "where is my order",
        "how much is shipping",
        "do you take paypal",
    ];
    let posts = sessions
        .iter()
        .enumerate()
        .map(|(i, s)| app.say(s, questions[i % questions.len()]));
    for (code, body) in futures_util::future::join_all(posts).await {
        assert_eq!(code, 202, "{body}");
    }
    let after = scrape(&app).await;
    let batches = sample(&after, "frontline_inbox_batch_size_count")
        - sample(&before, "frontline_inbox_batch_size_count");
    let events = sample(&after, "frontline_inbox_batch_size_sum")
        - sample(&before, "frontline_inbox_batch_size_sum");
    assert_eq!(events, 12.0, "every message went through a batch: {after}");
    assert!(
        batches <= 2.0,
        "twelve messages arriving together took {batches} transactions"
    );

    // The reply is readable as soon as the POST returned: no outbox round trip for the web chat.
    for (i, s) in sessions.iter().enumerate() {
        let lines = app.messages(s, 0).await;
        assert_eq!(from(&lines), ["customer", "bot"], "session {i}: {lines:?}");
        assert_eq!(lines[0]["text"], questions[i % questions.len()]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_that_arrive_together_are_committed_together_on_both_databases() {
    messages_that_arrive_together_are_committed_together(Db::sqlite()).await;
    if let Some(db) = Db::postgres() {
        messages_that_arrive_together_are_committed_together(db).await;
    }
}
