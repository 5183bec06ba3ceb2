//! Operators' routes: readiness, and Prometheus metrics scraped after real traffic.

mod common;

use common::{Db, Options, TestApp, START_MS};
use frontline::clock::ManualClock;
use frontline::config::Secret;

on_both_databases!(
    readyz_reports_database_and_intents,
    metrics_count_what_happened
);

async fn readyz_reports_database_and_intents(db: Db) {
    let app = TestApp::start(db).await;
    let resp = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["intents"], "loaded");

    // Without intents the bot cannot answer: not ready.
    let app = TestApp::start_with(
        Db::sqlite(),
        Options {
            matcher: std::sync::Arc::new(frontline::core::matcher::NoIntents),
            ..Options::default()
        },
        ManualClock::new(START_MS),
    )
    .await;
    let resp = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
}

/// The value of a sample line `NAME{LABELS} VALUE` (labels as written), or 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics_count_what_happened(db: Db) {
    let mut options = Options::default();
    options.config.metrics.token = Secret::new("scrape-secret");
    let app = TestApp::start_with(db, options, ManualClock::new(START_MS)).await;
    let scrape = || async {
        let resp = app
            .http
            .get(app.url("/metrics"))
            .bearer_auth("scrape-secret")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        resp.text().await.unwrap()
    };
    // Counters are process-wide (tests in this binary share them): compare before and after.
    let before = scrape().await;
    let mut s = app.new_session(None).await;
    app.say(&s, "where is my order?").await;
    app.next_from(&mut s, "bot").await;
    app.say(&s, "I want to talk to a person").await;
    app.next_from(&mut s, "bot").await;
    let after = scrape().await;

    let received = r#"frontline_messages_received_total{channel="web"}"#;
    assert!(
        sample(&after, received) >= sample(&before, received) + 2.0,
        "{after}"
    );
    let answered = r#"frontline_bot_outcomes_total{outcome="answered"}"#;
    assert!(
        sample(&after, answered) >= sample(&before, answered) + 1.0,
        "{after}"
    );
    assert!(after.contains("frontline_handle_seconds_bucket"), "{after}");
    assert!(after.contains("frontline_tickets_waiting "), "{after}");
    assert!(
        sample(&after, "frontline_tickets_waiting") >= 1.0,
        "{after}"
    );
    assert!(after.contains("frontline_outbox_pending "), "{after}");

    // The token is required when set.
    let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
