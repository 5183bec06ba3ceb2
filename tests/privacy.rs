//! Customers' data: redaction before anything is stored or logged, retention on the injectable
//! clock, export and erasure (on SQLite and, with TEST_DATABASE_URL, PostgreSQL).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{test_config, ticket_number, Db, Options, TestApp, START_MS};
use frontline::clock::ManualClock;
use frontline::config::RedactKind;
use serde_json::{json, Value};

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

/// Wraps the shipped matcher and notes every text it is asked to classify.
struct Recording {
    inner: Arc<dyn frontline::core::matcher::Matcher>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl frontline::core::matcher::Matcher for Recording {
    fn classify(&self, text: &str) -> frontline::core::matcher::Classification {
        self.seen.lock().unwrap().push(text.to_string());
        self.inner.classify(text)
    }
    fn intent(&self, id: &str) -> Option<&frontline::core::matcher::IntentInfo> {
        self.inner.intent(id)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matcher_reads_the_original_while_the_transcript_keeps_the_redacted_line() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = TestApp::start_with(
        Db::sqlite(),
        Options {
            matcher: Arc::new(Recording {
                inner: common::shipped_matcher(),
                seen: seen.clone(),
            }),
            ..Options::default()
        },
        ManualClock::new(START_MS),
    )
    .await;
    let mut s = app.new_session(None).await;
    app.say(&s, &format!("card {CARD} where is my order")).await;
    app.next_from(&mut s, "bot").await;
    assert_eq!(
        *seen.lock().unwrap(),
        [format!("card {CARD} where is my order")]
    );
    assert_eq!(
        app.messages(&s, 0).await[0]["text"],
        "card [card ending 1111] where is my order"
    );
}

on_both_databases!(
    export_holds_every_table_and_forget_leaves_nothing,
    retention_removes_old_text_and_keeps_the_report,
    no_table_holds_the_raw_card_number,
);

/// On PostgreSQL, where instances share the database, erasure takes the locks of the person's
/// conversations: while another instance holds one (handling a message of theirs), it waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_waits_for_a_conversation_another_instance_is_handling() {
    let Some(db) = Db::postgres() else {
        return;
    };
    let app = TestApp::start(db.clone()).await;
    let Raw::Pg(pool) = Raw::open(&db).await else {
        unreachable!()
    };
    let mut dana = app.new_session(Some("Dana Zyx")).await;
    app.say(&dana, "where is my order?").await;
    app.next_from(&mut dana, "bot").await;
    let id = customer_id(&app, &dana.id).await;
    let (channel, key): (String, String) = sqlx::query_as(
        "SELECT channel, conversation_key FROM conversations WHERE customer_id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();

    // Another instance, in the middle of handling a message in Dana's conversation.
    let mut other = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema()), $1)")
        .bind(frontline::store::conversation_lock_key(&channel, &key))
        .execute(&mut *other)
        .await
        .unwrap();
    let services = app.app.services.clone();
    let forget = tokio::spawn(async move { frontline::core::privacy::forget(&services, id).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !forget.is_finished(),
        "erased while the conversation was being handled"
    );
    other.commit().await.unwrap();
    let forgotten = tokio::time::timeout(Duration::from_secs(10), forget)
        .await
        .expect("erasure still waiting after the lock was released")
        .unwrap()
        .unwrap();
    assert_eq!(forgotten.identities, vec![id]);
}

/// The same promise as the database-file test, asked of every table on either database.
async fn no_table_holds_the_raw_card_number(db: Db) {
    let app = TestApp::start(db.clone()).await;
    let raw = Raw::open(&db).await;
    let mut s = app.new_session(Some("Pat")).await;
    app.say(
        &s,
        &format!("talk to a person, my card {CARD} was charged twice"),
    )
    .await;
    let status = app.next_from(&mut s, "bot").await;
    let ticket = ticket_number(status["text"].as_str().unwrap());
    for (table, column) in [
        ("inbox", "text"),
        ("transcript_lines", "text"),
        ("outbox", "text"),
        ("tickets", "subject"),
    ] {
        assert_eq!(
            raw.count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} LIKE '%1111 1111%'"
            ))
            .await,
            0,
            "{table}.{column} holds the card number"
        );
    }
    assert_eq!(
        raw.text(&format!("SELECT subject FROM tickets WHERE id = {ticket}"))
            .await,
        "talk to a person, my card [card ending 1111] was charged twice"
    );
}

/// A raw look at the database the app uses, for checks that must not go through the app.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Raw {
    async fn open(db: &Db) -> Raw {
        match db {
            Db::Sqlite(path) => Raw::Sqlite(
                sqlx::SqlitePool::connect(&format!("sqlite:{}", path.display()))
                    .await
                    .unwrap(),
            ),
            Db::Postgres { url, schema } => {
                use std::str::FromStr;
                let options = sqlx::postgres::PgConnectOptions::from_str(url)
                    .unwrap()
                    .options([("search_path", schema.as_str())]);
                Raw::Pg(
                    sqlx::postgres::PgPoolOptions::new()
                        .max_connections(2)
                        .connect_with(options)
                        .await
                        .unwrap(),
                )
            }
        }
    }

    /// `SELECT COUNT(*) ...`; the SQL is the test's own, values written in.
    async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Raw::Pg(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    async fn text(&self, sql: &str) -> String {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Raw::Pg(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }
}

async fn admin(app: &TestApp, name: &str) -> String {
    let token = app.add_agent(name).await;
    let agents = app
        .app
        .services
        .store
        .read()
        .await
        .unwrap()
        .agents()
        .await
        .unwrap();
    let id = agents.iter().find(|a| a.name == name).unwrap().id;
    let mut tx = app.app.services.store.begin().await.unwrap();
    tx.set_agent_admin(id, true).await.unwrap();
    tx.commit().await.unwrap();
    token
}

async fn customer_id(app: &TestApp, external_id: &str) -> i64 {
    frontline::core::privacy::list(&app.app.services)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.external_id == external_id)
        .unwrap_or_else(|| panic!("customer {external_id}"))
        .id
}

/// Escalates, claims, answers and closes a ticket for the session; the ticket number.
async fn handled_ticket(app: &TestApp, s: &mut common::Session, agent: &str) -> i64 {
    app.say(s, "I want to talk to a person about my parcel")
        .await;
    let status = app.next_from(s, "bot").await;
    let ticket = ticket_number(status["text"].as_str().unwrap());
    let (code, _) = app
        .agent_post(agent, &format!("/api/tickets/{ticket}/claim"), json!({}))
        .await;
    assert_eq!(code, 200);
    let (code, _) = app
        .agent_post(
            agent,
            &format!("/api/tickets/{ticket}/messages"),
            json!({"text": "Your parcel left today."}),
        )
        .await;
    assert_eq!(code, 202);
    app.next_from(s, "agent").await;
    let (code, body) = app
        .agent_post(agent, &format!("/api/tickets/{ticket}/close"), json!({}))
        .await;
    assert_eq!(code, 200, "{body}");
    app.next_from(s, "system").await;
    ticket
}

async fn export_holds_every_table_and_forget_leaves_nothing(db: Db) {
    let app = TestApp::start(db.clone()).await;
    let raw = Raw::open(&db).await;
    let plain = app.add_agent("bob").await;
    let boss = admin(&app, "alice").await;

    let mut dana = app.new_session(Some("Dana Zyx")).await;
    app.say(&dana, "where is my order?").await;
    app.next_from(&mut dana, "bot").await;
    let ticket = handled_ticket(&app, &mut dana, &boss).await;
    app.say(&dana, "5").await;
    app.next_from(&mut dana, "bot").await;
    // Someone else, who must be left alone.
    let mut other = app.new_session(Some("Olga")).await;
    app.say(&other, "where is my order?").await;
    app.next_from(&mut other, "bot").await;

    let id = customer_id(&app, &dana.id).await;
    // Dana's Discord identity, linked to the web one: one person. She asked something there
    // too; the answer waits in the outbox (no Discord connection runs here), while web-chat
    // replies are delivered by their commit and leave no outbox rows.
    app.app
        .engine
        .receive(frontline::core::message::Inbound {
            channel: "discord".into(),
            external_id: "800000000000000001".into(),
            customer_key: "700000000000000042".into(),
            customer_name: Some("dana#1".into()),
            conversation_key: "dm-700000000000000042".into(),
            reply_to: "dm-700000000000000042".into(),
            text: "do you take paypal".into(),
            received_at: START_MS,
            sender: Default::default(),
        })
        .await
        .unwrap();
    let discord_id = {
        let mut tx = app.app.services.store.begin().await.unwrap();
        let c = tx
            .upsert_customer("discord", "700000000000000042", Some("dana#1"), START_MS)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        c.id
    };
    frontline::core::privacy::link(&app.app.services, discord_id, id)
        .await
        .unwrap();

    // Only admins.
    let (code, body) = app
        .agent_get(&plain, &format!("/api/customers/{id}/export"))
        .await;
    assert_eq!(code, 403, "{body}");
    let resp = app
        .http
        .delete(app.url(&format!("/api/customers/{id}")))
        .bearer_auth(&plain)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);

    let (code, export) = app
        .agent_get(&boss, &format!("/api/customers/{id}/export"))
        .await;
    assert_eq!(code, 200, "{export}");
    let tables = &export["tables"];
    for table in [
        "customers",
        "web_sessions",
        "conversations",
        "transcript_lines",
        "tickets",
        "inbox",
        "outbox",
    ] {
        assert!(
            !tables[table].as_array().unwrap().is_empty(),
            "export has no {table}: {export}"
        );
    }
    let text = export.to_string();
    assert!(text.contains("where is my order?") && text.contains("Your parcel left today."));
    assert!(
        text.contains("700000000000000042"),
        "the linked identity is exported"
    );
    assert!(!text.contains("Olga"), "nobody else's data");
    assert!(!text.contains("token_hash"));
    assert_eq!(export["ratings"][0]["csat"], 5, "{export}");
    assert_eq!(export["ratings"][0]["ticket"], ticket);
    let conversations: Vec<i64> = tables["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    let conv_list = conversations
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");

    let resp = app
        .http
        .delete(app.url(&format!("/api/customers/{discord_id}")))
        .bearer_auth(&boss)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["tickets_kept"], json!([ticket]));

    // A query per table: nothing of Dana's is left.
    let d = &dana.id;
    for (what, sql) in [
        ("customers", format!("SELECT COUNT(*) FROM customers WHERE id IN ({id}, {discord_id}) OR external_id IN ('{d}', '700000000000000042') OR display_name LIKE 'Dana%' OR display_name = 'dana#1'")),
        ("web_sessions", format!("SELECT COUNT(*) FROM web_sessions WHERE id = '{d}' OR customer_id = {id}")),
        ("conversations", format!("SELECT COUNT(*) FROM conversations WHERE customer_id = {id} OR conversation_key = '{d}' OR reply_to = '{d}'")),
        ("transcript_lines", format!("SELECT COUNT(*) FROM transcript_lines WHERE conversation_id IN ({conv_list}) OR text LIKE '%Your parcel left%' OR text LIKE '%about my parcel%' OR author_name LIKE 'Dana%'")),
        ("tickets", format!("SELECT COUNT(*) FROM tickets WHERE customer_id = {id} OR subject LIKE '%parcel%' OR subject LIKE '%order%'")),
        ("inbox", format!("SELECT COUNT(*) FROM inbox WHERE customer_key = '{d}' OR conversation_key = '{d}' OR customer_name LIKE 'Dana%'")),
        ("outbox", format!("SELECT COUNT(*) FROM outbox WHERE conversation_id IN ({conv_list}) OR recipient IN ('{d}', 'dm-700000000000000042') OR text LIKE '%Your parcel left%'")),
        ("timers", format!("SELECT COUNT(*) FROM timers WHERE subject_id = {ticket} AND fired_at IS NULL")),
        ("desk_cards", format!("SELECT COUNT(*) FROM desk_cards WHERE ticket_id = {ticket}")),
    ] {
        assert_eq!(raw.count(&sql).await, 0, "{what} still holds Dana's data");
    }
    // The ticket stays for the records, its outcome kept and its customer shown as erased.
    assert_eq!(
        raw.text(&format!("SELECT status FROM tickets WHERE id = {ticket}"))
            .await,
        "closed"
    );
    let (code, detail) = app
        .agent_get(&boss, &format!("/api/tickets/{ticket}"))
        .await;
    assert_eq!(code, 200, "{detail}");
    assert_eq!(detail["customer"], "erased", "{detail}");
    assert_eq!(detail["csat"], 5, "{detail}");
    // Olga is untouched, and Dana's session no longer works.
    assert_eq!(app.messages(&other, 0).await.len(), 2);
    let resp = app
        .http
        .get(app.url(&format!("/api/chat/sessions/{d}/messages")))
        .bearer_auth(&dana.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let (code, _) = app
        .agent_get(&boss, &format!("/api/customers/{id}/export"))
        .await;
    assert_eq!(code, 404);
}

async fn retention_removes_old_text_and_keeps_the_report(db: Db) {
    let mut config = test_config();
    config.privacy.retention_days = 30;
    let app = TestApp::start_with(
        db.clone(),
        Options {
            config,
            ..Options::default()
        },
        ManualClock::new(START_MS),
    )
    .await;
    let raw = Raw::open(&db).await;
    let agent = app.add_agent("alice").await;
    let day = std::time::Duration::from_secs(24 * 3600);

    let mut answered = app.new_session(Some("Ann")).await;
    app.say(&answered, "where is my order?").await;
    app.next_from(&mut answered, "bot").await;
    let mut handed = app.new_session(Some("Ben")).await;
    let ticket = handled_ticket(&app, &mut handed, &agent).await;
    let counts = |app: &TestApp| {
        let services = app.app.services.clone();
        async move {
            let mut tx = services.store.read().await.unwrap();
            let mut c = tx
                .outcome_counts(START_MS - 1, START_MS + 365 * 24 * 3600 * 1000)
                .await
                .unwrap();
            c.sort();
            c
        }
    };
    let before = counts(&app).await;
    assert!(!before.is_empty());

    // Three days on, the reopen window is over and the ticket closes for good.
    app.clock.advance(3 * day);
    wait_until(
        &raw,
        &format!("SELECT COUNT(*) FROM tickets WHERE id = {ticket} AND status = 'closed'"),
        1,
    )
    .await;
    // Thirty days later still: both conversations are past retention; a new one is not.
    app.clock.advance(31 * day);
    let mut fresh = app.new_session(Some("Cid")).await;
    app.say(&fresh, "where is my order?").await;
    app.next_from(&mut fresh, "bot").await;
    let old = format!("'{}', '{}'", answered.id, handed.id);
    wait_until(
        &raw,
        &format!("SELECT COUNT(*) FROM transcript_lines WHERE conversation_id IN (SELECT id FROM conversations WHERE conversation_key IN ({old}))"),
        0,
    )
    .await;
    // The retention pass is one transaction: everything else went with the lines.
    for (what, sql) in [
        (
            "inbox",
            format!("SELECT COUNT(*) FROM inbox WHERE conversation_key IN ({old})"),
        ),
        (
            "outbox",
            format!("SELECT COUNT(*) FROM outbox WHERE recipient IN ({old})"),
        ),
        (
            "web_sessions",
            format!("SELECT COUNT(*) FROM web_sessions WHERE id IN ({old})"),
        ),
        (
            "conversations",
            format!(
                "SELECT COUNT(*) FROM conversations WHERE conversation_key = '{}'",
                answered.id
            ),
        ),
        (
            "ticket text",
            format!("SELECT COUNT(*) FROM tickets WHERE id = {ticket} AND subject <> ''"),
        ),
    ] {
        assert_eq!(raw.count(&sql).await, 0, "{what} kept past retention");
    }
    assert_eq!(
        raw.count(&format!(
            "SELECT COUNT(*) FROM tickets WHERE id = {ticket} AND status = 'closed'"
        ))
        .await,
        1,
        "the ticket stays for the records"
    );
    assert_eq!(counts(&app).await.len(), before.len());
    let after = counts(&app).await;
    let total = |c: &[(String, i64)]| c.iter().map(|(_, n)| n).sum::<i64>();
    assert_eq!(
        total(&after),
        total(&before) + 1,
        "old counts kept, the new message added: {before:?} {after:?}"
    );
    // The fresh conversation is untouched.
    assert_eq!(app.messages(&fresh, 0).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customers_commands_list_export_and_forget() {
    let db = Db::sqlite();
    let Db::Sqlite(path) = db.clone() else {
        unreachable!()
    };
    let url = format!("sqlite:{}", path.display());
    let mut app = TestApp::start(db).await;
    let mut s = app.new_session(Some("Cora Cli")).await;
    app.say(&s, "where is my order?").await;
    app.next_from(&mut s, "bot").await;
    app.stop().await;
    drop(app);

    let dir = path.parent().unwrap().to_path_buf();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_frontline"))
            .args(args)
            .current_dir(&dir)
            .env("DATABASE_URL", &url)
            .output()
            .expect("runs frontline");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let list: Value = serde_json::from_str(&run(&["customers", "list", "--json"])).unwrap();
    let cora = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["display_name"] == "Cora Cli")
        .expect("listed")
        .clone();
    assert_eq!(cora["conversations"], 1);
    let id = cora["id"].as_i64().unwrap().to_string();
    assert!(run(&["customers", "list"]).contains("Cora Cli"));

    let export: Value = serde_json::from_str(&run(&["customers", "export", &id])).unwrap();
    assert_eq!(
        export["tables"]["transcript_lines"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(export.to_string().contains("where is my order?"));

    let out = run(&["customers", "forget", &id]);
    assert!(out.contains(&format!("erased customer {id}")), "{out}");
    assert!(!run(&["customers", "list"]).contains("Cora Cli"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(["customers", "export", &id])
        .current_dir(&dir)
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a forgotten customer cannot be exported"
    );

    // Admin agents.
    let out = run(&["agents", "add", "root", "--admin"]);
    assert!(out.contains("created admin agent 'root'"), "{out}");
    run(&["agents", "add", "plain"]);
    let store = frontline::store::open(&url).await.unwrap();
    let mut tx = store.read().await.unwrap();
    let agents = tx.agents().await.unwrap();
    for (name, admin) in [("root", true), ("plain", false)] {
        let agent = agents.iter().find(|a| a.name == name).unwrap();
        assert_eq!(tx.agent_is_admin(agent.id).await.unwrap(), admin, "{name}");
    }
}

/// Waits for the background workers (timers run every 20 ms) to bring `sql`'s count to `want`.
async fn wait_until(raw: &Raw, sql: &str, want: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if raw.count(sql).await == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{sql} never reached {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
