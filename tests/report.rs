//! `frontline report`'s figures after real conversations through the HTTP API, on SQLite and
//! (with TEST_DATABASE_URL) PostgreSQL: what the bot answered and did not understand, time to
//! claim and to first reply, and ratings.

mod common;

use std::time::Duration;

use common::{ticket_number, Db, TestApp, START_MS};
use frontline::core::report;
use serde_json::json;

const MINUTE: i64 = 60_000;

async fn figures_follow_the_conversations(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;

    let mut answered = app.new_session(None).await;
    app.say(&answered, "where is my order?").await;
    app.next_from(&mut answered, "bot").await;

    // Two misses in a row: not understood twice, and a ticket.
    let mut lost = app.new_session(None).await;
    app.say(&lost, "blorf zingle wumpus").await;
    app.next_from(&mut lost, "bot").await;
    app.say(&lost, "qwerty flimflam zorp").await;
    let first = ticket_number(
        app.next_from(&mut lost, "bot").await["text"]
            .as_str()
            .unwrap(),
    );

    // The same question again from someone else, then an ask for a person.
    let mut asker = app.new_session(None).await;
    app.say(&asker, "Blorf zingle wumpus ").await;
    app.next_from(&mut asker, "bot").await;
    app.say(&asker, "I want to talk to a person").await;
    let second = ticket_number(
        app.next_from(&mut asker, "bot").await["text"]
            .as_str()
            .unwrap(),
    );

    app.clock.advance(Duration::from_secs(4 * 60));
    let claim = |t: i64| format!("/api/tickets/{t}/claim");
    assert_eq!(
        app.agent_post(&alice, &claim(first), json!({})).await.0,
        200
    );
    app.clock.advance(Duration::from_secs(2 * 60));
    let reply = json!({"text": "Hello, how can I help?", "internal": false});
    let path = format!("/api/tickets/{first}/messages");
    assert_eq!(app.agent_post(&alice, &path, reply).await.0, 202);
    let path = format!("/api/tickets/{first}/close");
    assert_eq!(
        app.agent_post(&alice, &path, json!({"reason": "done"}))
            .await
            .0,
        200
    );
    app.next_from(&mut lost, "system").await;
    app.say(&lost, "4").await;
    app.next_from(&mut lost, "bot").await;
    app.clock.advance(Duration::from_secs(4 * 60));
    assert_eq!(
        app.agent_post(&alice, &claim(second), json!({})).await.0,
        200
    );

    let store = app.app.services.store.clone();
    let r = report::build(
        store.as_ref(),
        &app.app.services.config,
        START_MS - 60 * MINUTE,
        START_MS + 60 * MINUTE,
        10,
    )
    .await
    .unwrap();
    let b = &r.bot;
    assert_eq!(
        (
            b.messages,
            b.answered,
            b.clarified,
            b.not_understood,
            b.handed_over
        ),
        (5, 1, 0, 3, 1),
        "ratings and messages to a person are not the bot's: {b:?}"
    );
    assert_eq!(b.answer_rate, Some(0.2));

    let t = &r.tickets;
    assert_eq!((t.opened, t.claimed, t.resolved, t.waiting), (2, 2, 1, 0));
    assert_eq!(t.median_minutes_to_claim, Some(4.0));
    assert_eq!(t.p90_minutes_to_claim, Some(10.0));
    assert_eq!(t.median_minutes_to_first_reply, Some(6.0));
    assert_eq!(t.by_reason.len(), 2, "{:?}", t.by_reason);
    assert_eq!(t.claim_target_minutes, Some(15));
    assert_eq!(
        t.claimed_in_time,
        Some(1.0),
        "claimed after 4 and 10 minutes"
    );

    assert_eq!(r.csat.ratings, 1);
    assert_eq!(r.csat.average, Some(4.0));
    assert_eq!(r.csat.distribution, [0, 0, 0, 1, 0]);

    let questions: Vec<(&str, i64)> = r
        .not_understood
        .iter()
        .map(|q| (q.text.as_str(), q.times))
        .collect();
    assert_eq!(
        questions,
        [("blorf zingle wumpus", 2), ("qwerty flimflam zorp", 1)]
    );

    // Agents read the same figures over HTTP, for the last N days.
    let (code, body) = app.agent_get(&alice, "/api/report?days=1&top=1").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["bot"]["messages"], 5);
    assert_eq!(body["tickets"]["median_minutes_to_claim"], 4.0);
    assert_eq!(body["csat"]["distribution"], json!([0, 0, 0, 1, 0]));
    let conversation = body["not_understood"][0]["conversation_id"].clone();
    assert!(conversation.is_i64(), "{body}");
    assert_eq!(
        body["not_understood"],
        json!([{"text": "blorf zingle wumpus", "times": 2, "last_at": "2026-11-24T10:00:00.000Z",
                "conversation_id": conversation}])
    );
    // Each question links to the conversation it was asked in.
    let (code, conv) = app
        .agent_get(&alice, &format!("/api/conversations/{conversation}"))
        .await;
    assert_eq!(code, 200, "{conv}");
    assert!(
        conv["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"].as_str().unwrap().trim().to_lowercase() == "blorf zingle wumpus"),
        "{conv}"
    );
    assert_eq!(
        app.agent_get("not-a-token", &format!("/api/conversations/{conversation}"))
            .await
            .0,
        401
    );
    assert_eq!(app.agent_get("not-a-token", "/api/report").await.0, 401);
    for bad in ["days=0", "days=99999", "days=week", "since=1"] {
        let (code, body) = app.agent_get(&alice, &format!("/api/report?{bad}")).await;
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body["error"].is_string(), "{bad}: {body}");
    }

    // A window that ends before the conversations holds none of them.
    let before = report::build(
        store.as_ref(),
        &app.app.services.config,
        START_MS - 60 * MINUTE,
        START_MS - 1,
        10,
    )
    .await
    .unwrap();
    assert_eq!((before.bot.messages, before.tickets.opened), (0, 0));
    assert_eq!(before.bot.answer_rate, None);
    assert!(before.not_understood.is_empty());
}

on_both_databases!(figures_follow_the_conversations);
