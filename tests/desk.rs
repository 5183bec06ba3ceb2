//! The desk, part two, through the agent API and as thread text through the core's `!` parser,
//! on SQLite and (with TEST_DATABASE_URL) PostgreSQL: release, transfer, reopen, snippets,
//! anonymous replies, priority, tags, blocking, and who may do each.

mod common;

use common::{ticket_number, Db, Options, Session, TestApp, START_MS};
use frontline::clock::ManualClock;
use frontline::core::desk_event::CardRef;
use frontline::core::message::{Inbound, Sender};
use serde_json::{json, Value};

on_both_databases!(
    release_puts_the_ticket_back_and_tells_the_customer,
    transfer_tells_the_customer,
    only_the_holder_may_release_or_transfer,
    any_agent_may_reopen_a_resolved_ticket,
    snippets_are_sent_filled_in_and_unknown_ones_are_named,
    anonymous_replies_are_signed_support_team,
    the_queue_sorts_by_priority_then_age_and_filters,
    blocked_customer_gets_one_notice,
    thread_commands_act_like_the_api,
    frustration_opens_a_high_priority_ticket_naming_the_signal,
    a_returning_customer_is_greeted_by_name_with_earlier_tickets_in_context,
);

/// A customer who asked for a person, and their ticket's number.
async fn escalated(app: &TestApp, name: &str) -> (Session, i64) {
    let mut s = app.new_session(Some(name)).await;
    app.say(&s, "I want to talk to a person").await;
    let text = app.next_from(&mut s, "bot").await["text"]
        .as_str()
        .unwrap()
        .to_string();
    (s, ticket_number(&text))
}

async fn post(app: &TestApp, token: &str, path: String, body: Value) -> (u16, Value) {
    app.agent_post(token, &path, body).await
}

async fn detail(app: &TestApp, token: &str, ticket: i64) -> Value {
    let (code, body) = app
        .agent_get(token, &format!("/api/tickets/{ticket}"))
        .await;
    assert_eq!(code, 200, "{body}");
    body
}

/// The texts of the ticket's transcript lines from `from` ("system", "agent", "note", ...).
async fn lines_from(app: &TestApp, token: &str, ticket: i64, from: &str) -> Vec<String> {
    detail(app, token, ticket).await["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["from"] == from)
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect()
}

async fn claim(app: &TestApp, token: &str, ticket: i64) {
    let (code, body) = post(
        app,
        token,
        format!("/api/tickets/{ticket}/claim"),
        json!({}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
}

async fn release_puts_the_ticket_back_and_tells_the_customer(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;
    let (mut s, ticket) = escalated(&app, "Dana").await;
    claim(&app, &alice, ticket).await;
    app.next_from(&mut s, "system").await;

    let (code, body) = post(
        &app,
        &alice,
        format!("/api/tickets/{ticket}/release"),
        json!({}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "open");
    assert!(body["assignee"].is_null(), "{body}");
    let told = app.next_from(&mut s, "system").await;
    let text = told["text"].as_str().unwrap();
    assert!(text.contains("back in the queue"), "{text}");
    assert!(
        text.contains("number 1"),
        "the customer hears where they stand: {text}"
    );

    // Released, it is anyone's again.
    let bob = app.add_agent("bob").await;
    claim(&app, &bob, ticket).await;
}

async fn transfer_tells_the_customer(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;
    let bob = app.add_agent("bob").await;
    let (mut s, ticket) = escalated(&app, "Dana").await;
    claim(&app, &alice, ticket).await;
    app.next_from(&mut s, "system").await;

    let (code, body) = post(
        &app,
        &alice,
        format!("/api/tickets/{ticket}/transfer"),
        json!({"agent": "bob"}),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["assignee"], "bob");
    let text = app.next_from(&mut s, "system").await["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("bob"),
        "the customer hears who took over: {text}"
    );

    // Bob holds it now: he may reply, alice may not.
    let (code, _) = post(
        &app,
        &bob,
        format!("/api/tickets/{ticket}/messages"),
        json!({"text": "Hi, Bob here"}),
    )
    .await;
    assert_eq!(code, 202);
    let (code, body) = post(
        &app,
        &alice,
        format!("/api/tickets/{ticket}/messages"),
        json!({"text": "me too"}),
    )
    .await;
    assert_eq!(code, 409, "{body}");
    // By id works too.
    let (_, me) = app.agent_get(&alice, "/api/me").await;
    let (code, body) = post(
        &app,
        &bob,
        format!("/api/tickets/{ticket}/transfer"),
        json!({"agent": me["id"]}),
    )
    .await;
    assert_eq!((code, &body["assignee"]), (200, &json!("alice")), "{body}");
}

async fn only_the_holder_may_release_or_transfer(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;
    let bob = app.add_agent("bob").await;
    let carol = app.add_agent("carol").await;
    let (_s, ticket) = escalated(&app, "Dana").await;

    // Nobody holds it yet: releasing or transferring is the holder's, so nobody may.
    let (code, body) = post(
        &app,
        &alice,
        format!("/api/tickets/{ticket}/release"),
        json!({}),
    )
    .await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not yours"),
        "{body}"
    );

    claim(&app, &alice, ticket).await;
    let path = |action: &str| format!("/api/tickets/{ticket}/{action}");
    let (code, body) = post(&app, &bob, path("release"), json!({})).await;
    assert_eq!(code, 409, "a non-holder releasing: {body}");
    assert!(
        body["error"].as_str().unwrap().contains("held by alice"),
        "{body}"
    );
    let (code, _) = post(&app, &bob, path("transfer"), json!({"agent": "bob"})).await;
    assert_eq!(code, 409, "a non-holder transferring (even to themselves)");
    let (code, body) = post(&app, &alice, path("transfer"), json!({"agent": "nobody"})).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("nobody"), "{body}");
    let (code, _) = post(&app, &alice, path("transfer"), json!({"agent": "alice"})).await;
    assert_eq!(code, 400, "transferring to oneself");
    let (code, _) = post(&app, &alice, path("transfer"), json!({})).await;
    assert_eq!(code, 400, "the body names the agent");

    // Priority, tags and blocking are any agent's.
    let (code, _) = post(&app, &bob, path("priority"), json!({"priority": "urgent"})).await;
    assert_eq!(code, 200);
    let (code, _) = post(&app, &carol, path("tags"), json!({"add": ["vip"]})).await;
    assert_eq!(code, 200);
    let (code, body) = post(&app, &bob, path("priority"), json!({"priority": "asap"})).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("asap"), "{body}");
    let (code, _) = post(&app, &bob, path("tags"), json!({"add": ["two words"]})).await;
    assert_eq!(code, 400);

    // A removed agent may do nothing: their token stops working.
    app.app.desk.remove_agent("carol").await.unwrap();
    for action in ["release", "reopen", "block", "unblock"] {
        let (code, _) = post(&app, &carol, path(action), json!({})).await;
        assert_eq!(code, 401, "{action} by a removed agent");
    }
    let (code, _) = post(&app, &carol, path("priority"), json!({"priority": "low"})).await;
    assert_eq!(code, 401);

    // The holder may transfer; the ticket is then not theirs to release.
    let (code, _) = post(&app, &alice, path("transfer"), json!({"agent": "bob"})).await;
    assert_eq!(code, 200);
    let (code, _) = post(&app, &alice, path("release"), json!({})).await;
    assert_eq!(code, 409);
    // Unknown tickets are 404 whatever the action.
    let (code, _) = post(&app, &alice, "/api/tickets/9999/release".into(), json!({})).await;
    assert_eq!(code, 404);
}

async fn any_agent_may_reopen_a_resolved_ticket(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;
    let bob = app.add_agent("bob").await;
    let (mut s, ticket) = escalated(&app, "Dana").await;
    let path = |action: &str| format!("/api/tickets/{ticket}/{action}");
    let (code, _) = post(&app, &bob, path("reopen"), json!({})).await;
    assert_eq!(code, 409, "an open ticket is not resolved");
    claim(&app, &alice, ticket).await;
    let (code, _) = post(&app, &alice, path("close"), json!({"reason": "done"})).await;
    assert_eq!(code, 200);
    app.next_from(&mut s, "system").await;
    app.next_from(&mut s, "system").await;

    let (code, body) = post(&app, &bob, path("reopen"), json!({})).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "assigned");
    assert_eq!(body["assignee"], "bob", "whoever reopens holds it");
    let text = app.next_from(&mut s, "system").await["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("reopened ticket #"), "{text}");
    assert!(text.contains("bob"), "{text}");
    // Reopened, the customer's next message reaches bob, not the bot.
    app.say(&s, "thanks, one more thing").await;
    let (code, _) = post(&app, &bob, path("messages"), json!({"text": "sure"})).await;
    assert_eq!(code, 202);
}

async fn snippets_are_sent_filled_in_and_unknown_ones_are_named(db: Db) {
    let dir = std::env::temp_dir().join(format!("frontline-snippets-{}", rand_name()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("refund_policy.md"),
        "Hi {{customer.name}}, refunds for ticket #{{ticket}} take 5 days. {{agent}}\n",
    )
    .unwrap();
    let mut options = Options::default();
    options.config.desk.snippets_dir = dir.clone();
    let app = TestApp::start_with(db, options, ManualClock::new(START_MS)).await;
    let alice = app.add_agent("alice").await;
    let (mut s, ticket) = escalated(&app, "Dana").await;

    let (code, body) = app.agent_get(&alice, "/api/snippets").await;
    assert_eq!(code, 200);
    assert_eq!(body["snippets"][0]["name"], "refund_policy", "{body}");

    let path = format!("/api/tickets/{ticket}/messages");
    let (code, _) = post(
        &app,
        &alice,
        path.clone(),
        json!({"snippet": "refund_policy"}),
    )
    .await;
    assert_eq!(
        code, 202,
        "sending a snippet claims the ticket like a reply"
    );
    let reply = app.next_from(&mut s, "agent").await;
    assert_eq!(
        reply["text"],
        format!("Hi Dana, refunds for ticket #{ticket} take 5 days. alice")
    );

    let (code, body) = post(&app, &alice, path.clone(), json!({"snippet": "nope"})).await;
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("'nope'"), "{body}");

    // An edit is read at once, and a broken one is refused naming FILE:LINE.
    std::fs::write(dir.join("refund_policy.md"), "Hello\n{{links.nowhere}}\n").unwrap();
    let (code, body) = post(&app, &alice, path, json!({"snippet": "refund_policy"})).await;
    assert_eq!(code, 400);
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("refund_policy.md:2"), "{error}");
    assert!(error.contains("links.nowhere"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn anonymous_replies_are_signed_support_team(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;
    let (mut s, ticket) = escalated(&app, "Dana").await;
    let path = format!("/api/tickets/{ticket}/messages");
    let (code, _) = post(
        &app,
        &alice,
        path.clone(),
        json!({"text": "We're on it", "anonymous": true}),
    )
    .await;
    assert_eq!(code, 202);
    let reply = app.next_from(&mut s, "agent").await;
    assert_eq!(reply["author"], "Support team");
    assert_eq!(reply["text"], "We're on it");
    let (code, _) = post(
        &app,
        &alice,
        path.clone(),
        json!({"text": "x", "anonymous": true, "internal": true}),
    )
    .await;
    assert_eq!(code, 400, "a note is never shown, so never anonymous");
    let (code, _) = post(&app, &alice, path, json!({"text": "x", "snippet": "y"})).await;
    assert_eq!(code, 400);
}

async fn the_queue_sorts_by_priority_then_age_and_filters(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;
    let (_a, first) = escalated(&app, "Ann").await;
    app.clock.advance(std::time::Duration::from_millis(60_000));
    let (_b, second) = escalated(&app, "Ben").await;
    app.clock.advance(std::time::Duration::from_millis(60_000));
    let (mut c, third) = escalated(&app, "Cat").await;
    let ids = |body: &Value| -> Vec<i64> {
        body["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    };
    let (_, body) = app.agent_get(&alice, "/api/tickets").await;
    assert_eq!(
        ids(&body),
        [first, second, third],
        "same priority: oldest first"
    );
    assert_eq!(body["tickets"][0]["priority"], "normal");

    let (code, _) = post(
        &app,
        &alice,
        format!("/api/tickets/{third}/priority"),
        json!({"priority": "urgent"}),
    )
    .await;
    assert_eq!(code, 200);
    let (code, body) = post(
        &app,
        &alice,
        format!("/api/tickets/{second}/tags"),
        json!({"add": ["Billing", "vip"]}),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(body["tags"], json!(["billing", "vip"]));
    let (_, body) = post(
        &app,
        &alice,
        format!("/api/tickets/{second}/tags"),
        json!({"remove": ["vip"]}),
    )
    .await;
    assert_eq!(body["tags"], json!(["billing"]));

    let (_, body) = app.agent_get(&alice, "/api/tickets").await;
    assert_eq!(
        ids(&body),
        [third, first, second],
        "urgent first, then oldest"
    );
    let (_, body) = app.agent_get(&alice, "/api/tickets?tag=billing").await;
    assert_eq!(ids(&body), [second]);
    assert_eq!(body["tickets"][0]["tags"], json!(["billing"]));
    let (_, body) = app.agent_get(&alice, "/api/tickets?priority=urgent").await;
    assert_eq!(ids(&body), [third]);
    let (_, body) = app
        .agent_get(&alice, "/api/tickets?priority=urgent&tag=billing")
        .await;
    assert_eq!(ids(&body), Vec::<i64>::new());
    let (code, _) = app.agent_get(&alice, "/api/tickets?priority=soon").await;
    assert_eq!(code, 400);

    // The urgent ticket is first in the queue for its customer too.
    let (code, _) = post(
        &app,
        &alice,
        format!("/api/tickets/{first}/priority"),
        json!({"priority": "low"}),
    )
    .await;
    assert_eq!(code, 200);
    app.clock
        .advance(std::time::Duration::from_millis(10 * 60_000));
    app.app.engine.fire_timers().await.unwrap();
    let update = app.next_from(&mut c, "system").await;
    assert!(
        update["text"]
            .as_str()
            .unwrap()
            .contains("number 1 in the queue"),
        "{update}"
    );
}

async fn blocked_customer_gets_one_notice(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;
    let (mut s, ticket) = escalated(&app, "Dana").await;
    let (code, _) = post(
        &app,
        &alice,
        format!("/api/tickets/{ticket}/block"),
        json!({}),
    )
    .await;
    assert_eq!(code, 200);
    let (_, blocks) = app.agent_get(&alice, "/api/blocks").await;
    assert_eq!(blocks["blocks"].as_array().unwrap().len(), 1, "{blocks}");
    assert_eq!(blocks["blocks"][0]["name"], "Dana");
    claim(&app, &alice, ticket).await;
    let (code, _) = post(
        &app,
        &alice,
        format!("/api/tickets/{ticket}/close"),
        json!({}),
    )
    .await;
    assert_eq!(code, 200);
    app.clock
        .advance(std::time::Duration::from_millis(3 * 86_400_000));

    let seen = app.messages(&s, 0).await.len();
    app.say(&s, "I want to talk to a person").await;
    app.say(&s, "hello??").await;
    app.say(&s, "I want to talk to a person").await;
    let after: Vec<Value> = app.messages(&s, 0).await.into_iter().skip(seen).collect();
    let replies: Vec<&Value> = after.iter().filter(|m| m["from"] != "customer").collect();
    assert_eq!(replies.len(), 1, "one notice, then silence: {after:?}");
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .contains("unable to continue"),
        "{after:?}"
    );
    let customer_lines = after.iter().filter(|m| m["from"] == "customer").count();
    assert_eq!(customer_lines, 3, "their messages are still stored");
    let (_, open) = app.agent_get(&alice, "/api/tickets?status=open").await;
    assert_eq!(open["tickets"], json!([]), "no new ticket");

    // Unblocked, they are served again (and would be told once more if blocked again).
    let (code, _) = post(
        &app,
        &alice,
        format!("/api/tickets/{ticket}/unblock"),
        json!({}),
    )
    .await;
    assert_eq!(code, 200);
    let (_, blocks) = app.agent_get(&alice, "/api/blocks").await;
    assert_eq!(blocks["blocks"], json!([]));
    app.say(&s, "where is my order?").await;
    let reply = app.next_from(&mut s, "bot").await;
    assert!(
        reply["text"].as_str().unwrap().contains("orders"),
        "{reply}"
    );
}

/// An agent's line in a ticket's thread on a desk platform, as the adapter hands it over.
fn thread_line(n: u32, user: &str, name: &str, text: &str) -> Inbound {
    Inbound {
        channel: "discord".into(),
        external_id: format!("m{n}"),
        customer_key: user.into(),
        customer_name: Some(name.into()),
        conversation_key: "thread-1".into(),
        reply_to: "thread-1".into(),
        text: text.into(),
        received_at: START_MS,
        sender: Sender::Agent,
    }
}

async fn thread_commands_act_like_the_api(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;
    let (mut s, ticket) = escalated(&app, "Dana").await;
    {
        let mut tx = app.app.services.store.begin().await.unwrap();
        let card = CardRef {
            card: "card-1".into(),
            thread: "thread-1".into(),
        };
        tx.set_card(ticket, "discord", &card).await.unwrap();
        tx.commit().await.unwrap();
    }
    let engine = &app.app.engine;
    let say = |n, user, name, text| engine.receive(thread_line(n, user, name, text));
    say(1, "u-dora", "Dora", "!claim").await.unwrap();
    say(2, "u-dora", "Dora", "!priority HIGH").await.unwrap();
    say(3, "u-dora", "Dora", "!tag refund").await.unwrap();
    let body = detail(&app, &alice, ticket).await;
    assert_eq!(body["assignee"], "Dora");
    assert_eq!(body["priority"], "high");
    assert_eq!(body["tags"], json!(["refund"]));
    say(4, "u-dora", "Dora", "!untag refund").await.unwrap();
    say(5, "u-dora", "Dora", "!anon Looking into it")
        .await
        .unwrap();
    let reply = app.next_from(&mut s, "agent").await;
    assert_eq!(
        (&reply["author"], &reply["text"]),
        (&json!("Support team"), &json!("Looking into it"))
    );

    // A non-holder's !release and !transfer are refused in the thread, as in the API.
    say(6, "u-eve", "Eve", "!release").await.unwrap();
    say(7, "u-eve", "Eve", "!transfer Eve").await.unwrap();
    say(8, "u-dora", "Dora", "!priority someday").await.unwrap();
    let notes = lines_from(&app, &alice, ticket, "note").await;
    let refusals: Vec<&String> = notes.iter().filter(|n| n.starts_with("Eve:")).collect();
    assert_eq!(refusals.len(), 2, "{notes:?}");
    assert!(
        refusals.iter().all(|n| n.contains("held by Dora")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("unknown priority 'someday'")),
        "{notes:?}"
    );
    assert_eq!(detail(&app, &alice, ticket).await["tags"], json!([]));

    // The holder transfers to a console agent by name, who may then release.
    say(9, "u-dora", "Dora", "!transfer alice").await.unwrap();
    let text = app.next_from(&mut s, "system").await["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.contains("alice"), "{text}");
    let (code, _) = post(
        &app,
        &alice,
        format!("/api/tickets/{ticket}/release"),
        json!({}),
    )
    .await;
    assert_eq!(code, 200);
    say(10, "u-dora", "Dora", "!claim").await.unwrap();
    say(11, "u-dora", "Dora", "!release").await.unwrap();
    assert_eq!(detail(&app, &alice, ticket).await["status"], "open");
    say(12, "u-dora", "Dora", "!claim").await.unwrap();
    say(13, "u-dora", "Dora", "!close sorted").await.unwrap();
    say(14, "u-eve", "Eve", "!reopen").await.unwrap();
    let body = detail(&app, &alice, ticket).await;
    assert_eq!(
        (&body["status"], &body["assignee"]),
        (&json!("assigned"), &json!("Eve"))
    );
    say(15, "u-eve", "Eve", "!block").await.unwrap();
    let (_, blocks) = app.agent_get(&alice, "/api/blocks").await;
    assert_eq!(blocks["blocks"].as_array().unwrap().len(), 1);
    say(16, "u-eve", "Eve", "!unblock").await.unwrap();
    let (_, blocks) = app.agent_get(&alice, "/api/blocks").await;
    assert_eq!(blocks["blocks"], json!([]));
}

async fn frustration_opens_a_high_priority_ticket_naming_the_signal(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;
    let mut s = app.new_session(Some("Dana")).await;
    app.say(&s, "this is useless, where is my refund").await;
    let text = app.next_from(&mut s, "bot").await["text"]
        .as_str()
        .unwrap()
        .to_string();
    let ticket = ticket_number(&text);
    let body = detail(&app, &alice, ticket).await;
    assert_eq!(body["priority"], "high");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("frustrated"), "{reason}");
    assert!(
        reason.contains("useless"),
        "the ticket says which signal fired: {reason}"
    );
}

async fn a_returning_customer_is_greeted_by_name_with_earlier_tickets_in_context(db: Db) {
    let app = TestApp::start(db).await;
    let alice = app.add_agent("alice").await;
    let (mut s, first) = escalated(&app, "Dana").await;
    let opening = app.messages(&s, 0).await;
    assert!(
        !opening
            .iter()
            .any(|m| m["text"].as_str().unwrap().contains("Welcome back")),
        "a first-time customer is not welcomed back"
    );
    claim(&app, &alice, first).await;
    post(
        &app,
        &alice,
        format!("/api/tickets/{first}/close"),
        json!({}),
    )
    .await;
    app.say(&s, "4").await;
    // Past the reopen window: the next message starts a new conversation.
    app.clock
        .advance(std::time::Duration::from_secs(3 * 86_400));
    app.say(&s, "I want to talk to a person").await;
    let text = loop {
        let m = app.next_from(&mut s, "bot").await;
        let text = m["text"].as_str().unwrap().to_string();
        if text.contains("ticket #") {
            break text;
        }
    };
    assert!(text.starts_with("Welcome back, Dana!"), "{text}");
    let second = ticket_number(&text);
    assert_ne!(second, first);
    let context = &detail(&app, &alice, second).await["context"]["previous_tickets"];
    assert_eq!(context[0]["id"], first, "{context}");
    assert_eq!(context[0]["outcome"], "resolved by an agent");
    assert_eq!(context[0]["csat"], 4);
}

fn rand_name() -> String {
    frontline::core::agent::new_token()[..10].to_string()
}
