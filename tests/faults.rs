//! Faults: the process killed mid-flood, the database locked or cut away under traffic, the
//! instance holding a platform connection killed. Most run the real binary
//! (`CARGO_BIN_EXE_frontline`) as a child process; tests on PostgreSQL need TEST_DATABASE_URL
//! and are skipped (saying so) without it. Each checks what customers get, not how fast.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::binary::{host_port, through, Binary, Proxy};
use common::{Db, Options, TestApp, START_MS};
use frontline::clock::ManualClock;
use serde_json::{json, Value};

/// Questions the shipped intents answer, all different (a repeat would read as frustration).
const QUESTIONS: [&str; 6] = [
    "where is my order",
    "how long does delivery take",
    "what's your return policy",
    "what payment methods do you accept",
    "can I pay with paypal",
    "what are your opening hours",
];

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "frontline-faults-{name}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A web chat session on a running binary.
#[derive(Clone)]
struct Chat {
    id: String,
    token: String,
}

async fn new_chat(http: &reqwest::Client, bin: &Binary) -> Chat {
    let resp = http
        .post(bin.url("/api/chat/sessions"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    Chat {
        id: body["session_id"].as_str().unwrap().into(),
        token: body["token"].as_str().unwrap().into(),
    }
}

/// Posts a message; the status, or `None` when the server did not answer at all.
async fn post(
    http: &reqwest::Client,
    base: &str,
    chat: &Chat,
    text: &str,
    client_id: &str,
) -> Option<reqwest::Response> {
    http.post(format!("{base}/api/chat/sessions/{}/messages", chat.id))
        .bearer_auth(&chat.token)
        .json(&json!({ "text": text, "client_id": client_id }))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .ok()
}

async fn transcript(http: &reqwest::Client, base: &str, chat: &Chat) -> Vec<Value> {
    let resp = http
        .get(format!("{base}/api/chat/sessions/{}/messages", chat.id))
        .bearer_auth(&chat.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap()["messages"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until the chat holds `customer` customer lines each answered by the bot, then checks
/// it: the customer's lines are exactly `expected` (each once, in order) and every one is
/// followed by exactly one bot line.
async fn assert_answered_once(http: &reqwest::Client, base: &str, chat: &Chat, expected: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let lines = loop {
        let lines = transcript(http, base, chat).await;
        let of = |who: &str| lines.iter().filter(|l| l["from"] == who).count();
        if of("customer") >= expected.len() && of("bot") >= expected.len() {
            break lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every message was answered: {lines:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let said: Vec<&str> = lines
        .iter()
        .filter(|l| l["from"] == "customer")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        said, expected,
        "each accepted message stored once, in order"
    );
    let turns: Vec<&str> = lines
        .iter()
        .map(|l| l["from"].as_str().unwrap())
        .filter(|f| *f == "customer" || *f == "bot")
        .collect();
    let alternating: Vec<&str> = expected.iter().flat_map(|_| ["customer", "bot"]).collect();
    assert_eq!(turns, alternating, "each message answered once: {lines:#?}");
}

/// Killed with SIGKILL in the middle of a flood of web chat messages and started again on the
/// same SQLite file: every message that got its 202 is stored once and answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_flood_every_accepted_message_is_kept_and_answered_once() {
    let dir = temp_dir("flood");
    let url = format!("sqlite:{}", dir.join("frontline.db").display());
    let log = dir.join("frontline.log");
    let http = reqwest::Client::new();
    let mut first = Binary::start(&url, &log, &[]).await;
    let mut chats = Vec::new();
    for _ in 0..12 {
        chats.push(new_chat(&http, &first).await);
    }
    let accepted_total = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for (n, chat) in chats.iter().enumerate() {
        let (http, base, chat) = (http.clone(), first.base.clone(), chat.clone());
        let accepted_total = accepted_total.clone();
        senders.push(tokio::spawn(async move {
            // Stops at the first message without a 202: what follows was never sent.
            let mut accepted = 0;
            for (i, text) in QUESTIONS.iter().enumerate() {
                let Some(resp) = post(&http, &base, &chat, text, &format!("{n}-{i}")).await else {
                    break;
                };
                if resp.status() != 202 {
                    break;
                }
                accepted += 1;
                accepted_total.fetch_add(1, Ordering::SeqCst);
            }
            accepted
        }));
    }
    // Kill once about a third is in: some conversations are mid-way, some replies unsent.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while accepted_total.load(Ordering::SeqCst) < chats.len() * QUESTIONS.len() / 3 {
        assert!(tokio::time::Instant::now() < deadline, "the flood stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill();
    let mut accepted = Vec::new();
    for sender in senders {
        accepted.push(sender.await.unwrap());
    }
    let total: usize = accepted.iter().sum();
    assert!(
        total < chats.len() * QUESTIONS.len(),
        "killed before the flood ended"
    );

    let second = Binary::start(&url, &log, &[]).await;
    let mut expected = Vec::new();
    for (c, (chat, &n)) in chats.iter().zip(&accepted).enumerate() {
        // The message that got no 202 may or may not have been stored before the kill: the
        // customer's page sends it again with the same client_id, which stores it at most once.
        if n < QUESTIONS.len() {
            let resp = post(&http, &second.base, chat, QUESTIONS[n], &format!("{c}-{n}"))
                .await
                .unwrap();
            assert_eq!(resp.status(), 202);
        }
        expected.push((n + 1).min(QUESTIONS.len()));
    }
    for (chat, &count) in chats.iter().zip(&expected) {
        assert_answered_once(&http, &second.base, chat, &QUESTIONS[..count]).await;
    }
    drop(second);
    // Kept when an assertion failed, for its log.
    let _ = std::fs::remove_dir_all(&dir);
}

/// Another process holds the SQLite file's write lock (`BEGIN EXCLUSIVE`) while the bot serves:
/// writes are refused with 503 and Retry-After (reads go on), then the same message, sent again
/// once the lock is gone, is stored and answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_process_answers_503_then_recovers() {
    use sqlx::Connection;

    let dir = temp_dir("locked");
    let path = dir.join("frontline.db");
    let url = format!("sqlite:{}", path.display());
    let bin = Binary::start(&url, &dir.join("frontline.log"), &[]).await;
    let http = reqwest::Client::new();
    let chat = new_chat(&http, &bin).await;
    let resp = post(&http, &bin.base, &chat, QUESTIONS[0], "a")
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_answered_once(&http, &bin.base, &chat, &QUESTIONS[..1]).await;

    let mut locker = sqlx::sqlite::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .unwrap();
    let resp = post(&http, &bin.base, &chat, QUESTIONS[1], "b")
        .await
        .unwrap();
    assert_eq!(resp.status(), 503, "{}", bin.log_text());
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("database"),
        "{body}"
    );
    // Reading goes on: the WAL lets readers past a writer's lock.
    assert_eq!(transcript(&http, &bin.base, &chat).await.len(), 2);
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    drop(locker);

    let resp = post(&http, &bin.base, &chat, QUESTIONS[1], "b")
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "service resumes by itself");
    assert_answered_once(&http, &bin.base, &chat, &QUESTIONS[..2]).await;
    drop(bin);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `url` working in `schema` (created and migrated first), for a child process.
/// Also returns the test's own handle on that schema.
async fn in_schema(url: &str, schema: &str) -> (String, frontline::store::postgres::PgStore) {
    let store = frontline::store::postgres::PgStore::open(url, Some(schema))
        .await
        .expect("create the test schema");
    let sep = if url.contains('?') { '&' } else { '?' };
    (format!("{url}{sep}options[search_path]={schema}"), store)
}

fn schema_name(what: &str) -> String {
    format!("faults_{what}_{:08x}", rand::random::<u32>())
}

/// PostgreSQL cut away under traffic (a proxy in front of it drops every connection and refuses
/// new ones), then back: meanwhile the bot answers 503 with Retry-After, never 500; afterwards it
/// serves again without a restart, and every message, sent again with its client_id until
/// accepted, is stored once and answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_away_under_traffic_answers_503_and_loses_nothing() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    };
    let proxy = Proxy::start(host_port(&url)).await;
    let (proxied, _) = in_schema(
        &through(&url, &format!("127.0.0.1:{}", proxy.port)),
        &schema_name("cut"),
    )
    .await;
    let dir = temp_dir("pgcut");
    let bin = Binary::start(&proxied, &dir.join("frontline.log"), &[]).await;
    let http = reqwest::Client::new();
    let mut chats = Vec::new();
    for _ in 0..6 {
        chats.push(new_chat(&http, &bin).await);
    }

    let statuses = Arc::new(std::sync::Mutex::new(HashMap::<u16, usize>::new()));
    let mut senders = Vec::new();
    for (n, chat) in chats.iter().enumerate() {
        let (http, base, chat) = (http.clone(), bin.base.clone(), chat.clone());
        let statuses = statuses.clone();
        senders.push(tokio::spawn(async move {
            for (i, text) in QUESTIONS.iter().enumerate() {
                // As the chat page does: the same client_id until the message is accepted.
                loop {
                    let resp = post(&http, &base, &chat, text, &format!("{n}-{i}"))
                        .await
                        .expect("the bot answers");
                    let status = resp.status().as_u16();
                    *statuses.lock().unwrap().entry(status).or_default() += 1;
                    if status == 202 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.cut().await;
    // While it is away: a refusal naming the problem, with a time to come back.
    let resp = post(&http, &bin.base, &chats[0], "hello", "probe")
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("database"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();
    for sender in senders {
        tokio::time::timeout(Duration::from_secs(120), sender)
            .await
            .expect("every message accepted once the database is back")
            .unwrap();
    }
    let statuses = statuses.lock().unwrap().clone();
    assert!(
        statuses.contains_key(&503),
        "the cut was felt: {statuses:?}"
    );
    assert_eq!(
        statuses.keys().filter(|s| **s != 202 && **s != 503).count(),
        0,
        "only 202 and 503: {statuses:?}"
    );
    for chat in &chats {
        assert_answered_once(&http, &bin.base, chat, &QUESTIONS).await;
    }
    drop(bin);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Leases on both databases: one holder at a time, renewals by the holder, takeover only after
/// expiry, release only by the holder.
async fn a_lease_has_one_holder_until_it_expires(db: Db) {
    let app = TestApp::start(db).await;
    let store = &app.app.services.store;
    let acquire = |holder: &'static str, now: i64| async move {
        let mut tx = store.begin().await.unwrap();
        let held = tx
            .acquire_lease("platform:x", holder, now, now + 10_000)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        held
    };
    assert!(acquire("a", 1_000).await, "free: taken");
    assert!(!acquire("b", 2_000).await, "held by a");
    assert!(acquire("a", 5_000).await, "renewed by its holder");
    assert!(!acquire("b", 14_999).await, "renewal moved the expiry on");
    assert!(acquire("b", 15_000).await, "expired: taken over");
    assert!(!acquire("a", 15_001).await, "a lost it");
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.release_lease("platform:x", "a").await.unwrap());
    assert_eq!(
        tx.lease_holder("platform:x", 15_001)
            .await
            .unwrap()
            .as_deref(),
        Some("b")
    );
    assert!(tx.release_lease("platform:x", "b").await.unwrap());
    assert_eq!(tx.lease_holder("platform:x", 15_001).await.unwrap(), None);
    tx.commit().await.unwrap();
    assert!(acquire("a", 15_002).await, "released: free again");
}

#[cfg(feature = "discord")]
mod discord {
    use super::*;
    use common::fake_discord::{
        FakeDiscord, FakeUser, AGENT_ROLE_ID, STAFF_CHANNEL_ID, SUPPORT_CHANNEL_ID, TOKEN,
    };
    use frontline::channels::discord::Discord;
    use frontline::channels::Platforms;
    use frontline::config::{DeskPlatform, Secret};

    async fn instance(db: Db, fake: &FakeDiscord) -> TestApp {
        let mut config = common::test_config();
        config.discord.enabled = true;
        config.discord.staff_channel_id = STAFF_CHANNEL_ID.into();
        config.discord.agent_role_id = AGENT_ROLE_ID.into();
        config.discord.support_channel_ids = vec![SUPPORT_CHANNEL_ID.into()];
        config.discord.api_base = fake.api_base();
        config.discord.token = Secret::new(TOKEN);
        config.desk.platform = DeskPlatform::Discord;
        let mut platforms = Platforms::default();
        platforms.add(Arc::new(Discord::new(&config.discord).unwrap()));
        let options = Options {
            config,
            platforms,
            ..Options::default()
        };
        TestApp::start_with(db, options, ManualClock::new(START_MS)).await
    }

    /// Two instances on one database: only one opens the gateway; when it shuts down it gives
    /// the lease up and the other connects at once.
    pub(super) async fn one_instance_holds_the_gateway_and_hands_it_over_on_shutdown(db: Db) {
        let fake = FakeDiscord::start().await;
        let mut one = instance(db.clone(), &fake).await;
        fake.wait_ready(1)
            .await
            .expect("the first instance connects");
        let two = instance(db, &fake).await;
        // The second tries for the lease every 2 s meanwhile.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(fake.identify_count(), 1, "{}", fake.summary());

        let dana = FakeUser::customer("dana");
        fake.dm(&dana, "where is my order").await;
        let dm = fake
            .wait_for(Duration::from_secs(10), |f| f.dm_channel_of(&dana.id))
            .await
            .unwrap();
        fake.wait_bot_messages_in(&dm, 1, Duration::from_secs(10))
            .await
            .unwrap();

        one.stop().await;
        fake.wait_ready(2)
            .await
            .expect("the second instance connects");
        assert_eq!(fake.identify_count(), 2);
        fake.dm(&dana, "how long does delivery take").await;
        let replies = fake
            .wait_bot_messages_in(&dm, 2, Duration::from_secs(10))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(fake.bot_messages_in(&dm).len(), 2, "{replies:?}");
        drop(two);
    }

    /// Two real processes on PostgreSQL with the fake Discord: the lease holder is killed
    /// (SIGKILL) mid-traffic; the other takes the gateway over within 15 s, and what customers
    /// wrote while nobody was connected is read back and answered, once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_gateway_holder_killed_mid_traffic_is_taken_over_and_nothing_is_lost() {
        let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
            eprintln!("skipped: TEST_DATABASE_URL is not set (two instances need PostgreSQL)");
            return;
        };
        let (url, store) = in_schema(&url, &schema_name("gateway")).await;
        let fake = FakeDiscord::start().await;
        let dir = temp_dir("gateway");
        let env = [
            ("DISCORD_TOKEN", TOKEN.to_string()),
            ("FRONTLINE__DISCORD__ENABLED", "true".into()),
            ("FRONTLINE__DISCORD__API_BASE", fake.api_base()),
            (
                "FRONTLINE__DISCORD__STAFF_CHANNEL_ID",
                STAFF_CHANNEL_ID.into(),
            ),
            ("FRONTLINE__DISCORD__AGENT_ROLE_ID", AGENT_ROLE_ID.into()),
            (
                "FRONTLINE__DISCORD__SUPPORT_CHANNEL_IDS",
                SUPPORT_CHANNEL_ID.into(),
            ),
            ("FRONTLINE__DESK__PLATFORM", "discord".into()),
        ];
        let mut one = Binary::start(&url, &dir.join("one.log"), &env).await;
        fake.wait_ready(1)
            .await
            .expect("the first instance connects");
        let two = Binary::start(&url, &dir.join("two.log"), &env).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            fake.identify_count(),
            1,
            "only the lease holder connects\n{}",
            two.log_text()
        );

        let customers = [FakeUser::customer("dana"), FakeUser::customer("fred")];
        let mut dms = Vec::new();
        for c in &customers {
            fake.dm(c, QUESTIONS[0]).await;
            let dm = fake
                .wait_for(Duration::from_secs(10), |f| f.dm_channel_of(&c.id))
                .await
                .unwrap();
            fake.wait_bot_messages_in(&dm, 1, Duration::from_secs(10))
                .await
                .unwrap();
            dms.push(dm);
        }

        // The replies so far are recorded as delivered: a reply the platform accepted but the
        // killed process had not yet recorded would be sent again by the other (the outbox
        // delivers at least once across a crash).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while {
            let mut tx = frontline::store::Store::read(&store).await.unwrap();
            tx.outbox_backlog().await.unwrap().0 > 0
        } {
            assert!(
                tokio::time::Instant::now() < deadline,
                "replies never recorded"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // Traffic while the holder dies and nobody holds the gateway.
        fake.dm(&customers[0], QUESTIONS[1]).await;
        one.kill();
        let killed = tokio::time::Instant::now();
        for (i, c) in customers.iter().enumerate() {
            fake.dm(c, QUESTIONS[2 + i]).await;
        }
        let erin = FakeUser::non_agent("erin");
        let question = fake.post(SUPPORT_CHANNEL_ID, &erin, QUESTIONS[5]).await;

        fake.wait_for(Duration::from_secs(15), |f| {
            (f.ready_count() >= 2 && f.is_connected()).then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("taken over within 15 s: {e}\n{}", two.log_text()));
        assert!(killed.elapsed() <= Duration::from_secs(15));

        // A reply the killed instance had taken for delivery waits for that claim to run out
        // (a minute) before another instance sends it: late, but neither lost nor doubled.
        let wanted = [3, 2];
        for (dm, n) in dms.iter().zip(wanted) {
            fake.wait_bot_messages_in(dm, n, Duration::from_secs(90))
                .await
                .unwrap_or_else(|e| panic!("{e}\n{}", fake.summary()));
        }
        let thread = fake
            .wait_for(Duration::from_secs(90), |f| f.thread_of(&question))
            .await
            .expect("the support channel question is answered in a thread");
        fake.wait_bot_messages_in(&thread.id, 1, Duration::from_secs(90))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        for (dm, n) in dms.iter().zip(wanted) {
            assert_eq!(
                fake.bot_messages_in(dm).len(),
                n,
                "each message answered once"
            );
        }
        assert_eq!(fake.bot_messages_in(&thread.id).len(), 1);
        drop(two);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(feature = "discord")]
use discord::one_instance_holds_the_gateway_and_hands_it_over_on_shutdown;

#[cfg(feature = "discord")]
on_both_databases!(
    a_lease_has_one_holder_until_it_expires,
    one_instance_holds_the_gateway_and_hands_it_over_on_shutdown,
);
#[cfg(not(feature = "discord"))]
on_both_databases!(a_lease_has_one_holder_until_it_expires);
