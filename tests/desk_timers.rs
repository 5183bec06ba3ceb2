//! The desk's timers, driven by the injectable clock (never by sleeping): first-reply reminders
//! and breaches counted in support hours, follow-ups that wait on the customer, timers that
//! survive a restart and fire once with two instances on one database, and inbound messages
//! that keep failing becoming dead letters.

mod common;

use common::{ticket_number, Db, Options, Session, TestApp, START_MS};
use frontline::clock::ManualClock;
use serde_json::{json, Value};
use sqlx::Connection;

on_both_databases!(
    sla_reminder_fires_at_75_percent,
    sla_breach_is_recorded_and_counted_per_priority,
    a_first_reply_cancels_the_sla_reminders,
    sla_counts_support_hours_across_a_weekend_and_a_holiday,
    followup_reminds_then_closes_the_ticket,
    a_customer_reply_cancels_the_followup,
    timers_survive_a_restart,
    two_instances_fire_each_timer_once,
    inbox_message_failing_every_time_becomes_a_dead_letter,
    a_failing_message_does_not_sink_its_batch,
);

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// The whole application without background workers: the test fires timers itself.
async fn app_at(db: Db, at: i64, config: Option<frontline::config::Config>) -> TestApp {
    let mut options = Options {
        workers: false,
        ..Options::default()
    };
    if let Some(config) = config {
        options.config = config;
    }
    TestApp::start_with(db, options, ManualClock::new(at)).await
}

async fn escalated(app: &TestApp, name: &str) -> (Session, i64) {
    let mut s = app.new_session(Some(name)).await;
    app.say(&s, "I want to talk to a person").await;
    let text = app.next_from(&mut s, "bot").await["text"]
        .as_str()
        .unwrap()
        .to_string();
    (s, ticket_number(&text))
}

async fn detail(app: &TestApp, token: &str, ticket: i64) -> Value {
    let (code, body) = app
        .agent_get(token, &format!("/api/tickets/{ticket}"))
        .await;
    assert_eq!(code, 200, "{body}");
    body
}

/// Internal notes frontline wrote on the ticket.
async fn frontline_notes(app: &TestApp, token: &str, ticket: i64) -> Vec<String> {
    detail(app, token, ticket).await["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["from"] == "note" && l["author"] == "frontline")
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect()
}

/// Sets the clock and fires what is due, as the timer worker would.
async fn at(app: &TestApp, ms: i64) -> usize {
    app.clock.set(ms);
    app.app.engine.fire_timers().await.unwrap()
}

async fn sla_reminder_fires_at_75_percent(db: Db) {
    let app = app_at(db, START_MS, None).await;
    let alice = app.add_agent("alice").await;
    let (_s, ticket) = escalated(&app, "Dana").await;
    assert_eq!(detail(&app, &alice, ticket).await["sla"], "ok");

    // Normal priority: 60 minutes to the first reply, reminded at 45.
    at(&app, START_MS + 45 * MINUTE - 1).await;
    assert!(frontline_notes(&app, &alice, ticket).await.is_empty());
    at(&app, START_MS + 45 * MINUTE).await;
    let notes = frontline_notes(&app, &alice, ticket).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("15 minutes away"), "{notes:?}");
    let body = detail(&app, &alice, ticket).await;
    assert_eq!(body["sla"], "due_soon", "the console highlights it");
    assert!(body["breached_at"].is_null());
    // Firing again changes nothing: each timer fires once.
    at(&app, START_MS + 50 * MINUTE).await;
    assert_eq!(frontline_notes(&app, &alice, ticket).await.len(), 1);
}

async fn sla_breach_is_recorded_and_counted_per_priority(db: Db) {
    let app = app_at(db, START_MS, None).await;
    let alice = app.add_agent("alice").await;
    let (_s, ticket) = escalated(&app, "Dana").await;
    let (code, _) = app
        .agent_post(
            &alice,
            &format!("/api/tickets/{ticket}/priority"),
            json!({"priority": "urgent"}),
        )
        .await;
    assert_eq!(code, 200);
    // Urgent: 15 minutes, reminded at 11:15 (the normal ticket's 45-minute reminder is gone).
    at(&app, START_MS + 11 * MINUTE).await;
    assert!(frontline_notes(&app, &alice, ticket).await.is_empty());
    at(&app, START_MS + 15 * MINUTE).await;
    let notes = frontline_notes(&app, &alice, ticket).await;
    assert_eq!(notes.len(), 2, "reminder and breach: {notes:?}");
    assert!(notes[1].contains("was missed"), "{notes:?}");
    let body = detail(&app, &alice, ticket).await;
    assert_eq!(body["sla"], "breached");
    assert_eq!(body["breached_at"], "2026-11-24T10:15:00.000Z");
    at(&app, START_MS + 2 * HOUR).await;
    assert_eq!(frontline_notes(&app, &alice, ticket).await.len(), 2);

    let (code, report) = app.agent_get(&alice, "/api/report?days=1").await;
    assert_eq!(code, 200);
    assert_eq!(
        report["tickets"]["breaches"],
        json!({"low": 0, "normal": 0, "high": 0, "urgent": 1})
    );
}

async fn a_first_reply_cancels_the_sla_reminders(db: Db) {
    let app = app_at(db, START_MS, None).await;
    let alice = app.add_agent("alice").await;
    let (_s, ticket) = escalated(&app, "Dana").await;
    app.clock.set(START_MS + 30 * MINUTE);
    let (code, _) = app
        .agent_post(
            &alice,
            &format!("/api/tickets/{ticket}/messages"),
            json!({"text": "Hello!"}),
        )
        .await;
    assert_eq!(code, 202);
    at(&app, START_MS + 3 * HOUR).await;
    assert!(frontline_notes(&app, &alice, ticket).await.is_empty());
    let body = detail(&app, &alice, ticket).await;
    assert_eq!(body["sla"], "met");
    assert!(body["breached_at"].is_null());
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

async fn sla_counts_support_hours_across_a_weekend_and_a_holiday(db: Db) {
    let mut config = common::test_config();
    config.support_hours.days = ["mon", "tue", "wed", "thu", "fri"]
        .map(String::from)
        .to_vec();
    config.support_hours.holidays = vec!["2026-11-30".into()];
    // Friday 16:50: ten minutes of the hour that day; Saturday, Sunday and the Monday holiday
    // don't count; fifty more on Tuesday from 09:00.
    let app = app_at(db, ms("2026-11-27T16:50:00Z"), Some(config)).await;
    let alice = app.add_agent("alice").await;
    let (_s, ticket) = escalated(&app, "Dana").await;
    assert_eq!(
        detail(&app, &alice, ticket).await["first_reply_due_at"],
        "2026-12-01T09:50:00.000Z"
    );
    at(&app, ms("2026-11-27T17:30:00Z")).await;
    at(&app, ms("2026-11-30T12:00:00Z")).await;
    at(&app, ms("2026-12-01T09:34:59Z")).await;
    assert!(
        frontline_notes(&app, &alice, ticket).await.is_empty(),
        "nothing fires over the weekend and the holiday"
    );
    at(&app, ms("2026-12-01T09:35:00Z")).await;
    assert_eq!(frontline_notes(&app, &alice, ticket).await.len(), 1);
    at(&app, ms("2026-12-01T09:50:00Z")).await;
    assert_eq!(frontline_notes(&app, &alice, ticket).await.len(), 2);
    assert_eq!(
        detail(&app, &alice, ticket).await["breached_at"],
        "2026-12-01T09:50:00.000Z"
    );
}

async fn followup_reminds_then_closes_the_ticket(db: Db) {
    let app = app_at(db, START_MS, None).await;
    let alice = app.add_agent("alice").await;
    let (mut s, ticket) = escalated(&app, "Dana").await;
    let (code, _) = app
        .agent_post(
            &alice,
            &format!("/api/tickets/{ticket}/messages"),
            json!({"text": "Could you send the order number?"}),
        )
        .await;
    assert_eq!(code, 202);
    app.next_from(&mut s, "agent").await;

    at(&app, START_MS + 24 * HOUR - 1).await;
    assert!(app.messages(&s, s.seen).await.is_empty());
    at(&app, START_MS + 24 * HOUR).await;
    let reminder = app.next_from(&mut s, "system").await;
    assert!(
        reminder["text"]
            .as_str()
            .unwrap()
            .contains("Just checking in on ticket #"),
        "{reminder}"
    );
    assert_eq!(detail(&app, &alice, ticket).await["status"], "assigned");

    at(&app, START_MS + 72 * HOUR).await;
    let closed = app.next_from(&mut s, "system").await;
    let text = closed["text"].as_str().unwrap();
    assert!(text.contains("is now closed"), "the usual thanks: {text}");
    assert!(
        !closed["choices"].as_array().unwrap().is_empty(),
        "and the rating prompt"
    );
    let body = detail(&app, &alice, ticket).await;
    assert_eq!(body["status"], "resolved");
    assert_eq!(body["closed_by"], "followup");
}

async fn a_customer_reply_cancels_the_followup(db: Db) {
    let app = app_at(db, START_MS, None).await;
    let alice = app.add_agent("alice").await;
    let (mut s, ticket) = escalated(&app, "Dana").await;
    app.agent_post(
        &alice,
        &format!("/api/tickets/{ticket}/messages"),
        json!({"text": "Order number?"}),
    )
    .await;
    app.next_from(&mut s, "agent").await;
    app.clock.set(START_MS + 23 * HOUR);
    app.say(&s, "It is 12345").await;
    let seen = app.messages(&s, 0).await.len();
    at(&app, START_MS + 100 * HOUR).await;
    assert_eq!(
        app.messages(&s, 0).await.len(),
        seen,
        "no reminder, no close"
    );
    assert_eq!(detail(&app, &alice, ticket).await["status"], "assigned");
}

async fn timers_survive_a_restart(db: Db) {
    let mut first = app_at(db.clone(), START_MS, None).await;
    let alice = first.add_agent("alice").await;
    let (_s, ticket) = escalated(&first, "Dana").await;
    first.stop().await;
    drop(first);

    let second = app_at(db, START_MS + 45 * MINUTE, None).await;
    // The reminder, and the queue update that was due at 10 minutes.
    assert_eq!(second.app.engine.fire_timers().await.unwrap(), 2);
    assert_eq!(frontline_notes(&second, &alice, ticket).await.len(), 1);
}

async fn two_instances_fire_each_timer_once(db: Db) {
    let one = app_at(db.clone(), START_MS, None).await;
    let two = app_at(db, START_MS, None).await;
    let alice = one.add_agent("alice").await;
    let mut tickets = Vec::new();
    for n in 0..4 {
        tickets.push(escalated(&one, &format!("Customer {n}")).await.1);
    }
    one.clock.set(START_MS + 61 * MINUTE);
    two.clock.set(START_MS + 61 * MINUTE);
    let (a, b) = tokio::join!(one.app.engine.fire_timers(), two.app.engine.fire_timers());
    // Each ticket has a reminder, a breach and queue updates due by now; whichever instance
    // got to a timer fired it, the other skipped it.
    let (a, b) = (a.unwrap(), b.unwrap());
    let (c, d) = tokio::join!(one.app.engine.fire_timers(), two.app.engine.fire_timers());
    let fired = a + b + c.unwrap() + d.unwrap();
    assert!(fired >= 8, "{fired}");
    for ticket in tickets {
        let notes = frontline_notes(&one, &alice, ticket).await;
        assert_eq!(notes.len(), 2, "one reminder and one breach: {notes:?}");
    }
}

/// A message whose handling fails, in a batch with others: the others are answered, and it is
/// stored, counted as one failed attempt and left for the sweep. Chats opened meanwhile, which
/// ride in the same batch, are stored once each and work.
async fn a_failing_message_does_not_sink_its_batch(db: Db) {
    let mut config = common::test_config();
    // Long enough for the seven messages below to share one batch.
    config.inbox.batch_wait_us = 300_000;
    let app = app_at(db.clone(), START_MS, Some(config)).await;
    let alice = app.add_agent("alice").await;
    // A conversation whose ticket the code cannot read: its next message fails to be handled.
    let mut bad = app.new_session(Some("Broken")).await;
    app.say(&bad, "I want to talk to a person").await;
    let ticket = ticket_number(
        app.next_from(&mut bad, "bot").await["text"]
            .as_str()
            .unwrap(),
    );
    app.agent_post(&alice, &format!("/api/tickets/{ticket}/close"), json!({}))
        .await;
    raw_sql(
        &db,
        &format!("UPDATE tickets SET status = 'bogus' WHERE id = {ticket}"),
    )
    .await;

    let mut good = Vec::new();
    for i in 0..6 {
        good.push(app.new_session(Some(&format!("Fine {i}"))).await);
    }
    let mut posts: Vec<_> = good
        .iter()
        .map(|s| app.say(s, "where is my order"))
        .collect();
    posts.insert(3, app.say(&bad, "one more question"));
    let late_names: Vec<String> = (0..3).map(|i| format!("Late {i}")).collect();
    let opens = late_names.iter().map(|name| app.new_session(Some(name)));
    let (posted, late) = futures_util::future::join(
        futures_util::future::join_all(posts),
        futures_util::future::join_all(opens),
    )
    .await;
    for (code, body) in posted {
        assert_eq!(
            code, 202,
            "every message is stored whatever happens next: {body}"
        );
    }
    for s in &good {
        let lines = app.messages(s, 0).await;
        let from: Vec<&str> = lines.iter().map(|l| l["from"].as_str().unwrap()).collect();
        assert_eq!(from, ["customer", "bot"]);
    }
    let attempts = raw_sql(
        &db,
        "SELECT CAST(attempts AS BIGINT) FROM inbox \
         WHERE text = 'one more question' AND handled_at IS NULL",
    )
    .await;
    assert_eq!(attempts, Some(1), "stored unhandled, one attempt counted");
    // Written again on their own after the batch failed: once each, and they work.
    for (i, s) in late.iter().enumerate() {
        let (code, body) = app.say(s, "where is my order").await;
        assert_eq!(code, 202, "{body}");
        let customers = raw_sql(
            &db,
            &format!("SELECT COUNT(*) FROM customers WHERE display_name = 'Late {i}'"),
        )
        .await;
        assert_eq!(customers, Some(1));
    }
}

/// Runs `sql` on the test's database directly, to break a row the way a bug would or to read
/// one: the first column of its first row, if it returns one (a `BIGINT` on PostgreSQL).
async fn raw_sql(db: &Db, sql: &str) -> Option<i64> {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match db {
        Db::Sqlite(path) => {
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
                .await
                .unwrap();
            let query = sqlx::query_scalar::<_, i64>(sql);
            query.fetch_optional(&mut c).await.unwrap()
        }
        Db::Postgres { url, schema } => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {schema}")))
                .execute(&mut c)
                .await
                .unwrap();
            let query = sqlx::query_scalar::<_, i64>(sql);
            query.fetch_optional(&mut c).await.unwrap()
        }
    }
}

async fn inbox_message_failing_every_time_becomes_a_dead_letter(db: Db) {
    let app = app_at(db.clone(), START_MS, None).await;
    let alice = app.add_agent("alice").await;
    let (mut s, ticket) = escalated(&app, "Dana").await;
    let conversation = detail(&app, &alice, ticket).await["conversation_id"]
        .as_i64()
        .unwrap();
    app.agent_post(&alice, &format!("/api/tickets/{ticket}/close"), json!({}))
        .await;
    // A ticket row the code cannot read: handling the customer's next message fails every time.
    raw_sql(
        &db,
        &format!("UPDATE tickets SET status = 'bogus' WHERE id = {ticket}"),
    )
    .await;
    let (code, _) = app.say(&s, "one more question").await;
    assert_eq!(code, 202, "the message is stored whatever happens next");
    for _ in 0..3 {
        app.app.engine.handle_unhandled().await.unwrap();
    }
    let dead_note = |lines: &Value| {
        lines["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| {
                l["from"] == "note" && l["text"].as_str().unwrap().contains("Could not handle")
            })
            .count()
    };
    let path = format!("/api/conversations/{conversation}");
    assert_eq!(
        dead_note(&app.agent_get(&alice, &path).await.1),
        0,
        "four attempts: retried"
    );
    app.app.engine.handle_unhandled().await.unwrap();
    let (_, lines) = app.agent_get(&alice, &path).await;
    assert_eq!(
        dead_note(&lines),
        1,
        "the fifth failure makes it a dead letter: {lines}"
    );
    for _ in 0..3 {
        app.app.engine.handle_unhandled().await.unwrap();
    }
    assert_eq!(
        dead_note(&app.agent_get(&alice, &path).await.1),
        1,
        "never tried again, noted once"
    );

    raw_sql(
        &db,
        &format!("UPDATE tickets SET status = 'resolved' WHERE id = {ticket}"),
    )
    .await;
    let (_, report) = app.agent_get(&alice, "/api/report?days=1").await;
    assert_eq!(report["dead_letters"], 1, "{report}");
    // The conversation goes on with the next message.
    app.say(&s, "5").await;
    let thanks = app.next_from(&mut s, "bot").await;
    assert!(
        thanks["text"].as_str().unwrap().contains("rating"),
        "{thanks}"
    );
}
