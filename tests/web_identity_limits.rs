//! The web chat on real sites: signed identity (valid, wrong and missing hashes, one history
//! across sessions, earlier tickets in the agent's context, a greeting by name) and the abuse
//! limits (429 with Retry-After, nothing stored for refused requests).

mod common;

use std::time::Duration;

use common::{test_config, ticket_number, Db, Options, Session, TestApp, START_MS};
use frontline::channels::web::identity::user_hash;
use frontline::clock::ManualClock;
use frontline::config::Secret;
use serde_json::{json, Value};

on_both_databases!(
    signed_identity_ties_sessions_to_one_customer,
    chats_opened_together_each_get_their_own_session
);

const SECRET: &str = "shop-secret-for-tests";

async fn post_session(app: &TestApp, body: Value) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url("/api/chat/sessions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn session(body: &Value) -> Session {
    Session {
        id: body["session_id"].as_str().unwrap().to_string(),
        token: body["token"].as_str().unwrap().to_string(),
        seen: 0,
    }
}

async fn customers(app: &TestApp) -> usize {
    frontline::core::privacy::list(&app.app.services)
        .await
        .unwrap()
        .len()
}

/// The app with `SECRET` as the site's identity secret.
async fn start_with_identity_secret(db: Db) -> TestApp {
    let mut config = test_config();
    config.web.identity_secret = Secret::new(SECRET);
    let app = TestApp::start_with(
        db,
        Options {
            config,
            ..Options::default()
        },
        ManualClock::new(START_MS),
    )
    .await;
    app
}

async fn signed_identity_ties_sessions_to_one_customer(db: Db) {
    let app = start_with_identity_secret(db).await;
    let agent = app.add_agent("alice").await;
    let hash = user_hash(SECRET, "cust-42");

    // Refused identities: nothing is stored.
    let before = customers(&app).await;
    let (code, body) = post_session(
        &app,
        json!({"user_id": "cust-42", "user_hash": user_hash("another secret", "cust-42")}),
    )
    .await;
    assert_eq!(code, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("user_hash"));
    let (code, _) = post_session(&app, json!({"user_id": "cust-43", "user_hash": hash})).await;
    assert_eq!(code, 401, "a hash is good for its own user_id only");
    let (code, body) = post_session(&app, json!({"user_id": "cust-42"})).await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = post_session(&app, json!({"user_hash": hash})).await;
    assert_eq!(code, 400);
    let (code, _) = post_session(&app, json!({"email": "a@b.example"})).await;
    assert_eq!(code, 400, "an e-mail only with a signed identity");
    assert_eq!(customers(&app).await, before);

    // The first device.
    let (code, body) = post_session(
        &app,
        json!({"user_id": "cust-42", "user_hash": hash, "name": "Dana", "email": "dana@example.com"}),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["identified"], true);
    assert_eq!(body["greeting"], "Welcome back, Dana!");
    let mut first = session(&body);
    app.say(&first, "I want to talk to a person").await;
    let ticket1 = ticket_number(
        app.next_from(&mut first, "bot").await["text"]
            .as_str()
            .unwrap(),
    );
    app.agent_post(&agent, &format!("/api/tickets/{ticket1}/claim"), json!({}))
        .await;
    let (code, _) = app
        .agent_post(&agent, &format!("/api/tickets/{ticket1}/close"), json!({}))
        .await;
    assert_eq!(code, 200);

    // Days later, another device, without a name this time: greeted by the stored one, and
    // the earlier conversation is there.
    app.clock.advance(Duration::from_secs(3 * 24 * 3600));
    let (code, body) = post_session(&app, json!({"user_id": "cust-42", "user_hash": hash})).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["greeting"], "Welcome back, Dana!");
    let mut second = session(&body);
    assert_ne!(second.id, first.id);
    let history = app.messages(&second, 0).await;
    assert!(
        history
            .iter()
            .any(|m| m["text"] == "I want to talk to a person"),
        "the first session's conversation shows on the second device: {history:?}"
    );
    second.seen = history.last().unwrap()["seq"].as_i64().unwrap();
    app.say(&second, "talk to a person again please").await;
    let status = app.next_from(&mut second, "bot").await;
    let ticket2 = ticket_number(status["text"].as_str().unwrap());
    assert_ne!(
        ticket1, ticket2,
        "a new conversation after the reopen window"
    );
    let (_, detail) = app
        .agent_get(&agent, &format!("/api/tickets/{ticket2}"))
        .await;
    assert_eq!(detail["customer"], "Dana");
    let previous: Vec<i64> = detail["context"]["previous_tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(previous, [ticket1], "{detail}");
    // Both sessions read the same conversation; one customer for both.
    assert!(app
        .messages(&first, 0)
        .await
        .iter()
        .any(|m| m["text"] == "talk to a person again please"));
    let dana: Vec<_> = frontline::core::privacy::list(&app.app.services)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.external_id == "user:cust-42")
        .collect();
    assert_eq!(dana.len(), 1);
    assert_eq!(dana[0].email.as_deref(), Some("dana@example.com"));
    // An anonymous visitor still gets a chat of their own.
    let (code, body) = post_session(&app, json!({"name": "Eve"})).await;
    assert_eq!(code, 201);
    assert_eq!(body["identified"], false);
    assert!(app.messages(&session(&body), 0).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_a_claimed_identity_is_refused() {
    let app = TestApp::start(Db::sqlite()).await;
    let (code, body) = post_session(
        &app,
        json!({"user_id": "cust-42", "user_hash": user_hash(SECRET, "cust-42")}),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = post_session(&app, json!({"user_id": "cust-42"})).await;
    assert_eq!(code, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_limits_requests_get_429_and_store_nothing() {
    let mut config = test_config();
    config.http.sessions_per_minute_per_ip = 3;
    config.http.messages_per_minute_per_session = 4;
    let app = TestApp::start_with(
        Db::sqlite(),
        Options {
            config,
            ..Options::default()
        },
        ManualClock::new(START_MS),
    )
    .await;

    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(app.new_session(None).await);
    }
    let stored = customers(&app).await;
    let resp = app
        .http
        .post(app.url("/api/chat/sessions"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "60");
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("too many"),
        "{body}"
    );
    assert_eq!(
        customers(&app).await,
        stored,
        "no customer for a refused session"
    );
    // X-Forwarded-For from an untrusted peer changes nothing.
    let resp = app
        .http
        .post(app.url("/api/chat/sessions"))
        .header("X-Forwarded-For", "198.51.100.7")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);

    // Messages: the fifth in a minute is refused and not stored; the others all are.
    let mut s = sessions.remove(0);
    for i in 0..4 {
        let (code, _) = app.say(&s, &format!("hello number {i}")).await;
        assert_eq!(code, 202);
    }
    app.clock.advance(Duration::from_secs(15));
    let (code, body) = app.say(&s, "one too many").await;
    assert_eq!(code, 429, "{body}");
    assert!(body["error"].is_string());
    let resp = app
        .http
        .post(app.url(&format!("/api/chat/sessions/{}/messages", s.id)))
        .bearer_auth(&s.token)
        .json(&json!({"text": "still too many"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "45");
    // Another session has its own allowance.
    let (code, _) = app.say(&sessions[0], "hi").await;
    assert_eq!(code, 202);
    // A minute after the first, room again.
    app.clock.advance(Duration::from_secs(46));
    let (code, _) = app.say(&s, "back again").await;
    assert_eq!(code, 202);
    let mut customer_lines = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while customer_lines.len() < 5 && std::time::Instant::now() < deadline {
        customer_lines = app
            .messages(&s, 0)
            .await
            .into_iter()
            .filter(|m| m["from"] == "customer")
            .map(|m| m["text"].as_str().unwrap().to_string())
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        customer_lines,
        [
            "hello number 0",
            "hello number 1",
            "hello number 2",
            "hello number 3",
            "back again"
        ]
    );
    let _ = app.next_from(&mut s, "bot").await;
    // After a minute new sessions are welcome again.
    let _ = app.new_session(None).await;
}

#[test]
fn the_identity_secret_comes_from_its_variable_and_is_never_shown() {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let config = frontline::config::Config::load_with_env(
        Some(&path),
        &[("FRONTLINE_IDENTITY_SECRET".into(), SECRET.into())],
    )
    .unwrap();
    assert_eq!(config.web.identity_secret.expose(), Some(SECRET));
    assert!(!format!("{config:?}").contains(SECRET));
    // It is not a config key: the file and FRONTLINE__ variables cannot set it.
    let err = frontline::config::Config::load_with_env(
        Some(&path),
        &[("FRONTLINE__WEB__IDENTITY_SECRET".into(), SECRET.into())],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("FRONTLINE_IDENTITY_SECRET"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_the_widget_carry_the_security_headers() {
    let mut config = test_config();
    config.web.allowed_origins = vec!["https://shop.example.com".into()];
    let app = TestApp::start_with(
        Db::sqlite(),
        Options {
            config,
            ..Options::default()
        },
        ManualClock::new(START_MS),
    )
    .await;
    let get = |path: &str| app.http.get(app.url(path)).send();

    let widget = get("/widget.js").await.unwrap();
    assert_eq!(widget.status(), 200);
    assert_eq!(
        widget.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(widget.headers()["x-content-type-options"], "nosniff");
    assert!(widget
        .text()
        .await
        .unwrap()
        .contains("frontline-chat-frame"));

    let chat = get("/chat").await.unwrap();
    let h = chat.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self';"), "{csp}");
    assert!(
        csp.contains("frame-ancestors 'self' https://shop.example.com"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(!h.contains_key("x-frame-options"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    // Every inline script of the page is allowed by its hash, and nothing else is.
    let html = chat.text().await.unwrap();
    assert!(html.contains("<script>"));

    let agent = get("/agent").await.unwrap();
    let h = agent.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self' 'sha256-"), "{csp}");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");

    // The API's JSON too.
    let api = get("/api/tickets").await.unwrap();
    assert_eq!(api.status(), 401);
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
}

/// New chats opened at the same moment are stored in shared transactions: each still gets its
/// own working session, a returning customer's devices still share one customer, and nothing
/// of one chat leaks into another.
async fn chats_opened_together_each_get_their_own_session(db: Db) {
    let app = start_with_identity_secret(db).await;
    let before = customers(&app).await;
    let hash = user_hash(SECRET, "cust-7");
    let bodies = (0..12).map(|i| {
        if i % 2 == 0 {
            json!({"name": format!("Visitor {i}")})
        } else {
            json!({"user_id": "cust-7", "user_hash": hash, "email": "seven@example.com"})
        }
    });
    let opened = futures_util::future::join_all(bodies.map(|body| post_session(&app, body))).await;
    let mut sessions = Vec::new();
    for (code, body) in &opened {
        assert_eq!(*code, 201, "{body}");
        sessions.push(session(body));
    }
    let ids: std::collections::HashSet<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), 12, "every chat has a session of its own");
    assert_eq!(
        customers(&app).await,
        before + 7,
        "six anonymous visitors and one identified customer"
    );
    for (i, s) in sessions.iter_mut().enumerate() {
        let (code, _) = app.say(s, &format!("where is my order {i}")).await;
        assert_eq!(code, 202);
        app.next_from(s, "bot").await;
    }
    // Each chat shows its own message; an anonymous chat only that one.
    for (i, s) in sessions.iter().enumerate() {
        let lines: Vec<String> = app
            .messages(s, 0)
            .await
            .iter()
            .filter(|l| l["from"] == "customer")
            .map(|l| l["text"].as_str().unwrap().to_string())
            .collect();
        assert!(
            lines.contains(&format!("where is my order {i}")),
            "chat {i}: {lines:?}"
        );
        if i % 2 == 0 {
            assert_eq!(lines.len(), 1, "anonymous chat {i}: {lines:?}");
        }
    }
    let shared = app.messages(&sessions[1], 0).await;
    let identified = shared.iter().filter(|l| l["from"] == "customer").count();
    assert_eq!(
        identified, 6,
        "the identified customer's six lines in one history"
    );
}
