//! Customers' data: redaction before anything is stored or logged, retention on the injectable
//! clock, export and erasure (on SQLite and, with TEST_DATABASE_URL, PostgreSQL).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{test_config, ticket_number, Db, Options, TestApp, START_MS};
use frontline::clock::ManualClock;
use frontline::config::RedactKind;
use serde_json::Value;

/// Everything every test in this binary logs, at every level, for the "never logged" checks.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .init();
        logs
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

const CARD: &str = "4111 1111 1111 1111";
const CARD_PLAIN: &str = "4111111111111111";
const ORDER: &str = "4111 1111 1111 1112";
const EMAIL: &str = "dana.secret@example.com";
const PHONE: &str = "+44 20 7946 0958";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_email_and_phone_never_reach_the_database_file_or_the_logs() {
    let logs = captured_logs();
    let mut config = test_config();
    config.privacy.redact = vec![RedactKind::Card, RedactKind::Email, RedactKind::Phone];
    let db = Db::sqlite();
    let Db::Sqlite(path) = db.clone() else {
        unreachable!()
    };
    let mut app = TestApp::start_with(
        db,
        Options {
            config,
            ..Options::default()
        },
        ManualClock::new(START_MS),
    )
    .await;
    let agent = app.add_agent("alice").await;
    let mut s = app.new_session(Some("Dana")).await;

    let (status, _) = app.say(&s, "where is my order?").await;
    assert_eq!(status, 202);
    let answer = app.next_from(&mut s, "bot").await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("https://shop.example.com/account/orders"),
        "{answer}"
    );
    app.say(
        &s,
        &format!(
            "talk to a person. Mail me at {EMAIL} or call {PHONE}, card {CARD}, order {ORDER}"
        ),
    )
    .await;
    let status_line = app.next_from(&mut s, "bot").await;
    let ticket = ticket_number(status_line["text"].as_str().unwrap());

    // The customer sees their lines as stored.
    let lines = app.messages(&s, 0).await;
    let mine: Vec<&str> = lines
        .iter()
        .filter(|m| m["from"] == "customer")
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        mine,
        [
            "where is my order?".to_string(),
            format!("talk to a person. Mail me at [email] or call [phone], card [card ending 1111], order {ORDER}"),
        ]
    );
    // So do agents: the ticket's subject and transcript.
    let (code, detail) = app
        .agent_get(&agent, &format!("/api/tickets/{ticket}"))
        .await;
    assert_eq!(code, 200);
    let detail = detail.to_string();
    assert!(detail.contains("[card ending 1111]"), "{detail}");
    for raw in [CARD, CARD_PLAIN, EMAIL, PHONE] {
        assert!(!detail.contains(raw), "agent sees {raw}: {detail}");
    }

    app.stop().await;
    drop(app);
    let mut files = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        if let Ok(bytes) = std::fs::read(&file) {
            files.push((file, bytes));
        }
    }
    assert!(
        files.iter().any(|(_, b)| contains(b, "[card ending 1111]")),
        "the redacted line is in the database"
    );
    assert!(
        files.iter().any(|(_, b)| contains(b, ORDER)),
        "the order number is kept"
    );
    let logs = logs.lock().unwrap().clone();
    assert!(contains(&logs, "escalated"), "logs were captured");
    for raw in [CARD, CARD_PLAIN, EMAIL, PHONE] {
        for (file, bytes) in &files {
            assert!(!contains(bytes, raw), "{raw} is in {file}");
        }
        assert!(!contains(&logs, raw), "{raw} is in the logs");
    }
}

#[allow(dead_code)]
fn _use(_: Value) {}
