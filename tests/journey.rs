//! The customer journey through the HTTP API, on SQLite and (with TEST_DATABASE_URL) PostgreSQL:
//! answer, rephrase, escalate with a status message, bot silence, claim, relay, notes, close,
//! rating, reopen, the reopen window, restart, duplicates and bad input.

mod common;

use std::time::Duration;

use common::{ticket_number, Db, TestApp};
use serde_json::{json, Value};

on_both_databases!(
    answers_a_known_question_and_says_it_is_a_bot,
    rephrase_then_escalate_with_ticket_and_queue_place,
    full_handoff_claim_relay_note_close_rating_reopen,
    reopen_window_ends_in_a_new_conversation,
    restart_loses_nothing_and_handles_what_was_stored,
    duplicate_client_id_is_handled_once,
    bad_input_is_refused_clearly,
    close_candidates_get_a_question_and_the_answer_follows_the_choice,
    waiting_customers_hear_where_they_stand_until_claimed,
    a_removed_agents_tickets_go_back_to_the_queue,
    malformed_requests_get_json_errors,
    messages_of_one_chat_in_one_batch_are_answered_in_turn,
    a_reply_wakes_the_polls_of_its_own_chat_only,
);

/// A commit wakes the long polls of the chats it wrote to (and of the few that share their
/// shard), not every open chat's: with many customers waiting, one reply costs one re-read,
/// and a new chat none.
async fn a_reply_wakes_the_polls_of_its_own_chat_only(db: Db) {
    use frontline::core::services::Services;
    let app = TestApp::start(db).await;
    let services = &app.app.services;
    // An anonymous visitor's chat is keyed by their session id.
    let waiting = app.new_session(None).await;
    let mut other = app.new_session(None).await;
    while Services::change_shard("web", &other.id) == Services::change_shard("web", &waiting.id) {
        other = app.new_session(None).await;
    }
    let waiting_wake = services.subscribe("web", &waiting.id);
    let mut other_wake = services.subscribe("web", &other.id);
    // A new chat writes no line anyone reads yet.
    app.new_session(None).await;
    assert!(!waiting_wake.has_changed().unwrap());
    assert!(!other_wake.has_changed().unwrap());
    // A message is answered before its POST returns.
    assert_eq!(app.say(&other, "where is my order?").await.0, 202);
    assert!(other_wake.has_changed().unwrap());
    assert!(!waiting_wake.has_changed().unwrap());
    other_wake.mark_unchanged();
    assert_eq!(app.say(&waiting, "how much is shipping").await.0, 202);
    assert!(waiting_wake.has_changed().unwrap());
    assert!(!other_wake.has_changed().unwrap());
}

/// Several messages of one chat in one batch (posted at once, the first waiting for the others):
/// each is handled seeing the ones before it, so every question gets its own answer right after
/// it, and line numbers only grow.
async fn messages_of_one_chat_in_one_batch_are_answered_in_turn(db: Db) {
    let mut options = common::Options::default();
    options.config.inbox.batch_wait_us = 300_000;
    let app = TestApp::start_with(
        db,
        options,
        frontline::clock::ManualClock::new(common::START_MS),
    )
    .await;
    let s = app.new_session(Some("Dana")).await;
    // Each question and a word its answer holds.
    let questions = [
        ("how much is shipping", "delivery"),
        ("can I return this jacket", "return"),
        ("do you take paypal", "PayPal"),
    ];
    let posts = questions.iter().map(|(q, _)| app.say(&s, q));
    for (code, body) in futures_util::future::join_all(posts).await {
        assert_eq!(code, 202, "{body}");
    }
    let lines = app.messages(&s, 0).await;
    let from: Vec<&str> = lines.iter().map(|l| l["from"].as_str().unwrap()).collect();
    assert_eq!(
        from,
        ["customer", "bot", "customer", "bot", "customer", "bot"]
    );
    for pair in lines.chunks(2) {
        let asked = pair[0]["text"].as_str().unwrap();
        let (_, word) = questions.iter().find(|(q, _)| *q == asked).unwrap();
        let answer = pair[1]["text"].as_str().unwrap();
        assert!(answer.contains(word), "{asked} -> {answer}");
    }
    let seqs: Vec<i64> = lines.iter().map(|l| l["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

async fn answers_a_known_question_and_says_it_is_a_bot(db: Db) {
    let app = TestApp::start(db).await;
    let mut s = app.new_session(Some("Dana")).await;
    let (status, _) = app.say(&s, "where is my order?").await;
    assert_eq!(status, 202);
    let reply = app.next_from(&mut s, "bot").await;
    let text = reply["text"].as_str().unwrap();
    assert!(
        text.contains("automated assistant"),
        "first reply discloses the bot: {text}"
    );
    assert!(
        text.contains("https://shop.example.com/account/orders"),
        "answers order status with the rendered link: {text}"
    );
    assert!(reply["author"].is_null());

    // The second reply doesn't repeat the disclosure.
    app.say(&s, "how much does shipping cost").await;
    let text = app.next_from(&mut s, "bot").await["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!text.contains("automated assistant"), "{text}");
    assert!(text.contains("EUR"), "shipping costs answer: {text}");
}

async fn rephrase_then_escalate_with_ticket_and_queue_place(db: Db) {
    let app = TestApp::start(db).await;
    let agent = app.add_agent("alice").await;

    let mut first = app.new_session(Some("Ann")).await;
    app.say(&first, "blorf zingle wumpus").await;
    let rephrase = app.next_from(&mut first, "bot").await;
    assert!(
        rephrase["text"]
            .as_str()
            .unwrap()
            .contains("say it another way"),
        "{rephrase}"
    );
    assert_eq!(
        rephrase["choices"],
        json!([{"label": "Talk to a person", "value": "Talk to a person"}]),
        "a person is one press away"
    );
    app.say(&first, "qwerty flimflam zorp").await;
    let status = app.next_from(&mut first, "bot").await["text"]
        .as_str()
        .unwrap()
        .to_string();
    let ticket = ticket_number(&status);
    assert!(status.contains("number 1 in the queue"), "{status}");
    assert!(status.contains("A person takes over"), "{status}");
    assert!(status.contains("expected wait"), "{status}");

    // A second customer who asks for a person at once is second in the queue.
    let mut second = app.new_session(None).await;
    app.say(&second, "I want to talk to a real person").await;
    let status2 = app.next_from(&mut second, "bot").await["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(status2.contains("number 2 in the queue"), "{status2}");
    let ticket2 = ticket_number(&status2);
    assert!(ticket2 > ticket);

    // The ticket carries the context: reason, transcript, intents tried.
    let (code, detail) = app
        .agent_get(&agent, &format!("/api/tickets/{ticket}"))
        .await;
    assert_eq!(code, 200);
    assert_eq!(detail["status"], "open");
    assert_eq!(detail["customer"], "Ann");
    assert_eq!(detail["channel"], "web");
    assert!(
        detail["reason"]
            .as_str()
            .unwrap()
            .contains("could not answer"),
        "{detail}"
    );
    assert_eq!(detail["subject"], "blorf zingle wumpus");
    assert_eq!(
        (&detail["created_at"], &detail["claim_due_at"]),
        (
            &json!("2026-11-24T10:00:00.000Z"),
            &json!("2026-11-24T10:15:00.000Z")
        ),
        "the claim target is 15 minutes"
    );
    let texts: Vec<&str> = detail["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(
        texts.contains(&"blorf zingle wumpus") && texts.contains(&"qwerty flimflam zorp"),
        "{texts:?}"
    );
    assert!(detail["context"]["intents"].is_array());
    assert!(detail["context"]["previous_tickets"]
        .as_array()
        .unwrap()
        .is_empty());

    let (_, open) = app.agent_get(&agent, "/api/tickets?status=open").await;
    let ids: Vec<i64> = open["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![ticket, ticket2], "oldest first");
    let (_, d2) = app
        .agent_get(&agent, &format!("/api/tickets/{ticket2}"))
        .await;
    assert_eq!(d2["reason"], "customer asked for a person");
}

async fn full_handoff_claim_relay_note_close_rating_reopen(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;
    let bob = app.add_agent("bob").await;
    let mut s = app.new_session(Some("Dana")).await;
    app.say(&s, "can I speak to a human please").await;
    let ticket = ticket_number(app.next_from(&mut s, "bot").await["text"].as_str().unwrap());

    // Bot silent while escalated: the message lands on the ticket, no bot reply follows.
    app.say(&s, "where is my order").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = app.messages(&s, s.seen).await;
    assert_eq!(after.len(), 1, "only the customer's own line: {after:?}");
    assert_eq!(after[0]["from"], "customer");
    assert_eq!(after[0]["author"], "Dana");
    s.seen = after[0]["seq"].as_i64().unwrap();

    // Claim; a second agent gets 409.
    let (code, _) = app
        .agent_post(&alice, &format!("/api/tickets/{ticket}/claim"), json!({}))
        .await;
    assert_eq!(code, 200);
    let joined = app.next_from(&mut s, "system").await;
    assert!(
        joined["text"].as_str().unwrap().contains("alice"),
        "{joined}"
    );
    let (code, body) = app
        .agent_post(&bob, &format!("/api/tickets/{ticket}/claim"), json!({}))
        .await;
    assert_eq!(code, 409);
    assert!(body["error"].as_str().unwrap().contains("alice"), "{body}");
    let (code, _) = app
        .agent_post(
            &bob,
            &format!("/api/tickets/{ticket}/messages"),
            json!({"text": "mine now"}),
        )
        .await;
    assert_eq!(code, 409, "another agent's ticket can't be answered");

    // Relay both ways.
    let (code, _) = app
        .agent_post(
            &alice,
            &format!("/api/tickets/{ticket}/messages"),
            json!({"text": "Hi Dana, I'm on it."}),
        )
        .await;
    assert_eq!(code, 202);
    let relayed = app.next_from(&mut s, "agent").await;
    assert_eq!(relayed["text"], "Hi Dana, I'm on it.");
    assert_eq!(relayed["author"], "alice");
    app.say(&s, "thank you, order 1234").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, detail) = app
        .agent_get(&alice, &format!("/api/tickets/{ticket}"))
        .await;
    let last = detail["transcript"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["from"].as_str(), last["text"].as_str()),
        (Some("customer"), Some("thank you, order 1234"))
    );

    // An internal note reaches agents only.
    let (code, _) = app
        .agent_post(
            &bob,
            &format!("/api/tickets/{ticket}/messages"),
            json!({"text": "SECRET: VIP customer", "internal": true}),
        )
        .await;
    assert_eq!(code, 202);
    let (_, detail) = app
        .agent_get(&alice, &format!("/api/tickets/{ticket}"))
        .await;
    assert!(detail["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["from"] == "note" && m["text"] == "SECRET: VIP customer"));

    // Close: thanks and a rating request; a rating with a comment is stored as CSAT, and doesn't
    // reopen.
    let (code, _) = app
        .agent_post(
            &bob,
            &format!("/api/tickets/{ticket}/close"),
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(code, 409, "only the holder closes");
    let (code, _) = app
        .agent_post(
            &alice,
            &format!("/api/tickets/{ticket}/close"),
            json!({"reason": "parcel found"}),
        )
        .await;
    assert_eq!(code, 200);
    let closing = app.next_from(&mut s, "system").await;
    let closing_text = closing["text"].as_str().unwrap();
    assert!(
        closing_text.contains("Thank you") && closing_text.contains("1 (poor) to 5"),
        "{closing_text}"
    );
    let ratings: Vec<&str> = closing["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(ratings, ["1", "2", "3", "4", "5"], "rating buttons");
    app.say(&s, "5 - quick and friendly").await;
    let thanks = app.next_from(&mut s, "bot").await;
    assert!(
        thanks["text"].as_str().unwrap().contains("rating"),
        "{thanks}"
    );
    let (_, detail) = app
        .agent_get(&alice, &format!("/api/tickets/{ticket}"))
        .await;
    assert_eq!(detail["csat"], 5);
    assert_eq!(detail["status"], "resolved");
    let (_, closed) = app.agent_get(&alice, "/api/tickets?status=closed").await;
    assert_eq!(closed["tickets"][0]["id"], ticket);

    // Thanks or a bare acknowledgement after the close doesn't reopen.
    for ack in ["thanks!", "ok, great"] {
        app.say(&s, ack).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, detail) = app
            .agent_get(&alice, &format!("/api/tickets/{ticket}"))
            .await;
        assert_eq!(detail["status"], "resolved", "after {ack:?}");
        assert_eq!(detail["csat"], 5, "after {ack:?}");
    }

    // Anything else within the window reopens to the same agent.
    app.say(&s, "actually the parcel is still not here").await;
    let reopened = app.next_from(&mut s, "system").await;
    assert!(
        reopened["text"]
            .as_str()
            .unwrap()
            .contains(&format!("#{ticket}")),
        "{reopened}"
    );
    let (_, detail) = app
        .agent_get(&alice, &format!("/api/tickets/{ticket}"))
        .await;
    assert_eq!(detail["status"], "assigned");
    assert_eq!(detail["assignee"], "alice");

    // The customer never saw the note, anywhere in the conversation.
    let all = app.messages(&s, 0).await;
    assert!(
        all.iter()
            .all(|m| m["from"] != "note" && !m["text"].as_str().unwrap().contains("SECRET")),
        "{all:?}"
    );
}

async fn reopen_window_ends_in_a_new_conversation(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;
    let mut s = app.new_session(None).await;
    app.say(&s, "talk to a person").await;
    let ticket = ticket_number(app.next_from(&mut s, "bot").await["text"].as_str().unwrap());
    app.agent_post(&alice, &format!("/api/tickets/{ticket}/claim"), json!({}))
        .await;
    app.agent_post(
        &alice,
        &format!("/api/tickets/{ticket}/close"),
        json!({"reason": "done"}),
    )
    .await;
    app.next_from(&mut s, "system").await;

    // Past the window the stored timer closes the ticket for good.
    app.clock.advance(Duration::from_secs(48 * 3600 + 1));
    app.app.engine.fire_timers().await.unwrap();
    let (_, detail) = app
        .agent_get(&alice, &format!("/api/tickets/{ticket}"))
        .await;
    assert_eq!(detail["status"], "closed");

    // A rating sent late still counts for the ticket it was meant for.
    app.say(&s, "4").await;
    let thanks = app.next_from(&mut s, "bot").await;
    assert!(
        thanks["text"].as_str().unwrap().contains("rating"),
        "{thanks}"
    );
    let (_, detail) = app
        .agent_get(&alice, &format!("/api/tickets/{ticket}"))
        .await;
    assert_eq!(detail["csat"], 4);

    // The next message starts a new conversation with the bot; the old ticket stays closed.
    app.say(&s, "where is my order").await;
    let reply = app.next_from(&mut s, "bot").await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("automated assistant"),
        "{reply}"
    );
    let (_, detail) = app
        .agent_get(&alice, &format!("/api/tickets/{ticket}"))
        .await;
    assert_eq!(detail["status"], "closed");

    // A returning customer's new ticket lists the old one.
    app.say(&s, "let me talk to a human").await;
    let ticket2 = ticket_number(app.next_from(&mut s, "bot").await["text"].as_str().unwrap());
    assert_ne!(ticket, ticket2);
    let (_, detail) = app
        .agent_get(&alice, &format!("/api/tickets/{ticket2}"))
        .await;
    assert_eq!(detail["context"]["previous_tickets"][0]["id"], ticket);
}

async fn restart_loses_nothing_and_handles_what_was_stored(db: Db) {
    let mut app = TestApp::start(db.clone()).await;
    let agent = app.add_agent("alice").await;
    let mut s = app.new_session(Some("Rae")).await;
    app.say(&s, "talk to a person").await;
    let ticket = ticket_number(app.next_from(&mut s, "bot").await["text"].as_str().unwrap());
    app.stop().await;

    // A message stored just before a crash, never handled.
    {
        let store = db.open().await;
        let mut tx = store.begin().await.unwrap();
        tx.record_inbound(&frontline::core::message::Inbound {
            channel: "web".into(),
            external_id: format!("{}:crash-1", s.id),
            customer_key: s.id.clone(),
            customer_name: None,
            conversation_key: s.id.clone(),
            reply_to: s.id.clone(),
            text: "are you still there?".into(),
            received_at: common::START_MS,
            sender: Default::default(),
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    let app = TestApp::start(db).await;
    let (code, _) = app
        .agent_get(&agent, &format!("/api/tickets/{ticket}"))
        .await;
    assert_eq!(code, 200, "agents and tickets survive a restart");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, detail) = app
            .agent_get(&agent, &format!("/api/tickets/{ticket}"))
            .await;
        if detail["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "are you still there?")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stored message was never handled: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The session, its token and its history are all still there.
    let all = app.messages(&s, 0).await;
    assert!(all.iter().any(|m| m["text"] == "talk to a person"));
    assert_eq!(
        all.iter()
            .filter(|m| m["text"] == "are you still there?")
            .count(),
        1
    );
}

async fn duplicate_client_id_is_handled_once(db: Db) {
    let app = TestApp::start(db).await;
    let mut s = app.new_session(None).await;
    let (c1, b1) = app
        .say_with_id(&s, "where is my order", Some("abc-1"))
        .await;
    let (c2, b2) = app
        .say_with_id(&s, "where is my order", Some("abc-1"))
        .await;
    assert_eq!((c1, c2), (202, 202));
    assert_eq!(b1["id"], b2["id"], "the repeat returns the original id");
    app.next_from(&mut s, "bot").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let all = app.messages(&s, 0).await;
    assert_eq!(
        all.iter().filter(|m| m["from"] == "customer").count(),
        1,
        "{all:?}"
    );
    assert_eq!(
        all.iter().filter(|m| m["from"] == "bot").count(),
        1,
        "{all:?}"
    );
    // Another session may use the same client id for its own message.
    let other = app.new_session(None).await;
    let (_, b3) = app.say_with_id(&other, "hello", Some("abc-1")).await;
    assert_ne!(b3["id"], b1["id"]);
}

async fn bad_input_is_refused_clearly(db: Db) {
    let app = TestApp::start(db).await;
    let agent = app.add_agent("alice").await;
    let s = app.new_session(None).await;
    let other = app.new_session(None).await;
    let post = |session: &str, token: &str, body: Value| {
        app.http
            .post(app.url(&format!("/api/chat/sessions/{session}/messages")))
            .bearer_auth(token.to_string())
            .json(&body)
            .send()
    };
    async fn status_and_error(resp: reqwest::Response) -> (u16, String) {
        let code = resp.status().as_u16();
        let body: Value = resp.json().await.expect("errors are JSON");
        (
            code,
            body["error"].as_str().expect("an error field").to_string(),
        )
    }

    let (code, err) =
        status_and_error(post(&s.id, &s.token, json!({"text": "   "})).await.unwrap()).await;
    assert_eq!(code, 400);
    assert!(err.contains("empty"), "{err}");
    let (code, err) = status_and_error(
        post(&s.id, &s.token, json!({"text": "x".repeat(4001)}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    assert!(err.contains("4000"), "{err}");
    let (code, _) =
        status_and_error(post("nope", &s.token, json!({"text": "hi"})).await.unwrap()).await;
    assert_eq!(code, 404);
    let (code, _) =
        status_and_error(post(&s.id, "wrong", json!({"text": "hi"})).await.unwrap()).await;
    assert_eq!(code, 401);
    let (code, _) = status_and_error(
        post(&s.id, &other.token, json!({"text": "hi"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 401, "one session's token never acts on another");
    let resp = app
        .http
        .get(app.url(&format!("/api/chat/sessions/{}/messages", s.id)))
        .bearer_auth(&other.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "nor reads it");
    let (code, err) =
        status_and_error(post(&s.id, &s.token, json!({"txt": "hi"})).await.unwrap()).await;
    assert_eq!(code, 400);
    assert!(err.contains("text") || err.contains("txt"), "{err}");
    let resp = app
        .http
        .post(app.url(&format!("/api/chat/sessions/{}/messages", s.id)))
        .bearer_auth(&s.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (code, _) = status_and_error(resp).await;
    assert_eq!(code, 400);
    let resp = app
        .http
        .post(app.url(&format!("/api/chat/sessions/{}/messages", s.id)))
        .bearer_auth(&s.token)
        .body("{\"text\": \"hi\"}")
        .send()
        .await
        .unwrap();
    let (code, err) = status_and_error(resp).await;
    assert_eq!(
        code, 400,
        "a missing content type is a 400 with a JSON error, not a 415"
    );
    assert!(err.contains("Content-Type"), "{err}");

    // Nothing of the above reached the conversation.
    assert!(app.messages(&s, 0).await.is_empty());

    // Agent API.
    let resp = app.http.get(app.url("/api/tickets")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let (code, _) = app.agent_get("not-a-token", "/api/tickets").await;
    assert_eq!(code, 401);
    let (code, body) = app.agent_get(&agent, "/api/tickets/999999").await;
    assert_eq!(code, 404);
    assert!(body["error"].as_str().unwrap().contains("999999"));
    let (code, _) = app
        .agent_post(&agent, "/api/tickets/999999/claim", json!({}))
        .await;
    assert_eq!(code, 404);
    let (code, _) = app.agent_get(&agent, "/api/tickets?status=bogus").await;
    assert_eq!(code, 400);
    let (code, me) = app.agent_get(&agent, "/api/me").await;
    assert_eq!((code, me["name"].as_str()), (200, Some("alice")));
    let resp = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// A matcher with fixed verdicts, so the clarification flow is tested apart from the model.
struct Scripted(Vec<frontline::core::matcher::IntentInfo>);

impl frontline::core::matcher::Matcher for Scripted {
    fn classify(&self, text: &str) -> frontline::core::matcher::Classification {
        use frontline::core::matcher::{Candidate, Classification, Verdict};
        let verdict = if text.contains("parcel") {
            Verdict::Clarify {
                intents: vec!["order_status".into(), "shipping_costs".into()],
            }
        } else if text.contains("order") {
            Verdict::Answer {
                intent: "order_status".into(),
            }
        } else {
            Verdict::Unknown
        };
        Classification {
            verdict,
            candidates: vec![Candidate {
                intent: "order_status".into(),
                score: 0.5,
            }],
        }
    }

    fn intent(&self, id: &str) -> Option<&frontline::core::matcher::IntentInfo> {
        self.0.iter().find(|i| i.id == id)
    }
}

fn scripted() -> std::sync::Arc<Scripted> {
    use frontline::core::matcher::IntentInfo;
    let info = |id: &str, description: &str, answer: &str| IntentInfo {
        id: id.into(),
        description: description.into(),
        answers: vec![answer.into()],
        ..Default::default()
    };
    std::sync::Arc::new(Scripted(vec![
        info(
            "order_status",
            "Track an order",
            "Track it at {{links.orders}}.",
        ),
        info("shipping_costs", "Shipping costs", "Shipping is 4.95 EUR."),
    ]))
}

async fn close_candidates_get_a_question_and_the_answer_follows_the_choice(db: Db) {
    let options = common::Options {
        matcher: scripted(),
        ..Default::default()
    };
    let app = TestApp::start_with(
        db,
        options,
        frontline::clock::ManualClock::new(common::START_MS),
    )
    .await;
    let mut s = app.new_session(None).await;

    app.say(&s, "my parcel").await;
    let asked = app.next_from(&mut s, "bot").await;
    let question = asked["text"].as_str().unwrap().to_string();
    assert!(
        question.contains("Did you mean")
            && question.contains("1) Track an order")
            && question.contains("2) Shipping costs"),
        "{question}"
    );
    // The options are buttons too; posting a button's value picks it.
    assert_eq!(
        asked["choices"],
        json!([
            {"label": "Track an order", "value": "1"},
            {"label": "Shipping costs", "value": "2"},
            {"label": "Talk to a person", "value": "Talk to a person"},
        ])
    );
    app.say(&s, asked["choices"][1]["value"].as_str().unwrap())
        .await;
    assert_eq!(
        app.next_from(&mut s, "bot").await["text"],
        "Shipping is 4.95 EUR."
    );

    // By name works too.
    app.say(&s, "parcel again").await;
    app.next_from(&mut s, "bot").await;
    app.say(&s, "track an order").await;
    assert_eq!(
        app.next_from(&mut s, "bot").await["text"],
        "Track it at https://shop.example.com/account/orders."
    );

    // Left unresolved, the clarification counts as a miss: rephrase, then hand over.
    app.say(&s, "parcel?").await;
    app.next_from(&mut s, "bot").await;
    app.say(&s, "hmm").await;
    assert!(app.next_from(&mut s, "bot").await["text"]
        .as_str()
        .unwrap()
        .contains("say it another way"));
    app.say(&s, "hmm hmm").await;
    let status = app.next_from(&mut s, "bot").await["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(status.contains("ticket #"), "{status}");
}

async fn waiting_customers_hear_where_they_stand_until_claimed(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;
    let mut first = app.new_session(None).await;
    app.say(&first, "talk to a person").await;
    let t1 = ticket_number(
        app.next_from(&mut first, "bot").await["text"]
            .as_str()
            .unwrap(),
    );
    let mut second = app.new_session(None).await;
    app.say(&second, "I need a human").await;
    let t2 = ticket_number(
        app.next_from(&mut second, "bot").await["text"]
            .as_str()
            .unwrap(),
    );

    // Nothing before the interval; then an update with the current place.
    app.clock.advance(Duration::from_secs(9 * 60));
    app.app.engine.fire_timers().await.unwrap();
    assert!(app.messages(&second, second.seen).await.is_empty());
    app.clock.advance(Duration::from_secs(60));
    app.app.engine.fire_timers().await.unwrap();
    let update = app.next_from(&mut second, "system").await["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        update.contains(&format!("#{t2}")) && update.contains("number 2 in the queue"),
        "{update}"
    );
    let update = app.next_from(&mut first, "system").await["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        update.contains(&format!("#{t1}")) && update.contains("number 1 in the queue"),
        "{update}"
    );

    // Once the first ticket is claimed, the second moves up; the claimed one hears no more.
    app.agent_post(&alice, &format!("/api/tickets/{t1}/claim"), json!({}))
        .await;
    let joined = app.next_from(&mut first, "system").await;
    assert!(
        joined["text"].as_str().unwrap().contains("alice"),
        "{joined}"
    );
    app.clock.advance(Duration::from_secs(10 * 60));
    app.app.engine.fire_timers().await.unwrap();
    let update = app.next_from(&mut second, "system").await["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(update.contains("number 1 in the queue"), "{update}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        app.messages(&first, first.seen).await.is_empty(),
        "no queue updates after a claim"
    );
}

async fn a_removed_agents_tickets_go_back_to_the_queue(db: Db) {
    let app = TestApp::start(db).await;
    let carol = app.add_agent("carol").await;
    let dave = app.add_agent("dave").await;
    let mut s = app.new_session(None).await;
    app.say(&s, "talk to a person").await;
    let ticket = ticket_number(app.next_from(&mut s, "bot").await["text"].as_str().unwrap());
    let (code, _) = app
        .agent_post(&carol, &format!("/api/tickets/{ticket}/claim"), json!({}))
        .await;
    assert_eq!(code, 200);

    app.next_from(&mut s, "system").await;
    assert_eq!(app.app.desk.remove_agent("carol").await.unwrap(), Some(1));
    assert_eq!(app.app.desk.remove_agent("carol").await.unwrap(), None);
    let notice = app.next_from(&mut s, "system").await;
    let notice = notice["text"].as_str().unwrap();
    assert!(
        notice.contains("carol is no longer available")
            && notice.contains(&format!("ticket #{ticket}"))
            && notice.contains("number 1"),
        "the customer hears where they stand: {notice}"
    );
    let (code, _) = app.agent_get(&carol, "/api/tickets").await;
    assert_eq!(code, 401, "a removed agent's token stops working");
    let (_, open) = app.agent_get(&dave, "/api/tickets?status=open").await;
    assert_eq!(open["tickets"][0]["id"], ticket, "{open}");
    let (code, body) = app
        .agent_post(&dave, &format!("/api/tickets/{ticket}/claim"), json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    let (code, _) = app
        .agent_post(
            &dave,
            &format!("/api/tickets/{ticket}/messages"),
            json!({"text": "Dave here."}),
        )
        .await;
    assert_eq!(code, 202);
    assert_eq!(app.next_from(&mut s, "agent").await["author"], "dave");
}

async fn malformed_requests_get_json_errors(db: Db) {
    let app = TestApp::start(db).await;
    let mut s = app.new_session(None).await;

    // An empty client_id is no id: two different messages are both handled.
    let (_, a) = app.say_with_id(&s, "where is my order", Some("")).await;
    let (_, b) = app.say_with_id(&s, "how much is shipping", Some("")).await;
    assert_ne!(a["id"], b["id"]);
    app.next_from(&mut s, "bot").await;
    app.next_from(&mut s, "bot").await;

    let (code, body) = app.say(&s, "hi\u{0}there").await;
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("NUL"), "{body}");

    let checks = [
        (app.http.delete(app.url("/api/tickets")), 405),
        (app.http.put(app.url("/healthz")), 405),
        (
            app.http
                .get(app.url("/api/chat/sessions/%FF/messages"))
                .bearer_auth(&s.token),
            400,
        ),
        (app.http.get(app.url("/no/such/route")), 404),
        (
            app.http
                .post(app.url("/api/chat/sessions"))
                .header("content-type", "application/json")
                .body(format!("{{\"name\": \"{}\"}}", "x".repeat(3 << 20))),
            413,
        ),
    ];
    let resp = app
        .http
        .post(app.url("/api/chat/sessions"))
        .json(&json!(["Eve"]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "an array is not the documented object");
    for (request, status) in checks {
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status);
        let body: Value = resp.json().await.expect("a JSON error body");
        assert!(body["error"].is_string(), "{body}");
    }
}
