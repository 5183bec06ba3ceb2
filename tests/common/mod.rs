//! Test harness: the whole application on 127.0.0.1:0, on SQLite or (with TEST_DATABASE_URL) on
//! PostgreSQL in a schema of its own, with a clock the test controls.
#![allow(dead_code)]

pub mod binary;
pub mod fake_slack;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use frontline::app::App;
use frontline::channels::{AgentDesk, CustomerChannel, Platforms};
use frontline::clock::ManualClock;
use frontline::config::Config;
use frontline::core::agent::{new_token, token_hash};
use frontline::core::matcher::Matcher;
use frontline::intents::{load_dir, TrainedMatcher};
use frontline::store::Store;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// Runs each named `async fn(Db)` as two tests: `sqlite::NAME`, and `postgres::NAME` when
/// TEST_DATABASE_URL is set (without it that one notes the skip and passes).
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Db::sqlite()).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(db) = $crate::common::Db::postgres() { super::$name(db).await }
            })*
        }
    };
}

/// Tuesday 2026-11-24 10:00 UTC.
pub const START_MS: i64 = 1_795_514_400_000;

#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

impl Db {
    pub fn sqlite() -> Db {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "frontline-test-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            rand_suffix()
        ));
        Db::Sqlite(dir.join("frontline.db"))
    }

    /// PostgreSQL in a fresh schema, or `None` (with a note) when TEST_DATABASE_URL is not set.
    pub fn postgres() -> Option<Db> {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Some(Db::Postgres {
                url,
                schema: format!("journey_{}", rand_suffix()),
            }),
            _ => {
                eprintln!("skipped: TEST_DATABASE_URL is not set");
                None
            }
        }
    }

    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            Db::Sqlite(path) => frontline::store::open(&format!("sqlite:{}", path.display()))
                .await
                .expect("open sqlite"),
            Db::Postgres { url, schema } => Arc::new(
                frontline::store::postgres::PgStore::open(url, Some(schema))
                    .await
                    .expect("open postgres"),
            ),
        }
    }
}

fn rand_suffix() -> String {
    frontline::core::agent::new_token()[..10].to_string()
}

/// The shop intents shipped in intents/, trained once per test binary.
pub fn shipped_matcher() -> Arc<dyn Matcher> {
    static MATCHER: OnceLock<Arc<TrainedMatcher>> = OnceLock::new();
    MATCHER
        .get_or_init(|| {
            let config = test_config();
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("intents");
            let set = load_dir(&dir, &config.known_vars()).expect("shipped intents load");
            Arc::new(TrainedMatcher::train(&set, &config.matcher))
        })
        .clone()
}

/// The shipped config/default.toml, with test-friendly timings.
pub fn test_config() -> Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let mut config = Config::load_with_env(Some(&path), &[]).expect("default config");
    config.intents.watch = false;
    config.outbox.poll_ms = 20;
    // The clock stands still in tests, so the abuse limits (per minute) would add up over a
    // whole test; tests of the limits turn them back on.
    config.http.sessions_per_minute_per_ip = 0;
    config.http.messages_per_minute_per_session = 0;
    config
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub app: Arc<App>,
    pub db: Db,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

pub struct Options {
    pub config: Config,
    pub matcher: Arc<dyn Matcher>,
    pub channels: Vec<Arc<dyn CustomerChannel>>,
    pub desks: Vec<Arc<dyn AgentDesk>>,
    /// Platform adapters (connections) to run, e.g. Discord against the fake.
    pub platforms: Platforms,
    /// Run the dispatcher, timers and inbox sweep in the background.
    pub workers: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            config: test_config(),
            matcher: shipped_matcher(),
            channels: Vec::new(),
            desks: Vec::new(),
            platforms: Platforms::default(),
            workers: true,
        }
    }
}

impl TestApp {
    pub async fn start(db: Db) -> TestApp {
        Self::start_with(db, Options::default(), ManualClock::new(START_MS)).await
    }

    pub async fn start_with(db: Db, options: Options, clock: ManualClock) -> TestApp {
        let store = db.open().await;
        let app = Arc::new(App::from_parts(
            options.config,
            store,
            options.matcher,
            Arc::new(clock.clone()),
            {
                let mut platforms = options.platforms;
                platforms.channels.extend(options.channels);
                platforms.desks.extend(options.desks);
                platforms
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let (workers_stop, workers_rx) = tokio::sync::watch::channel(false);
        let workers = if options.workers {
            app.spawn_workers(workers_rx)
        } else {
            Vec::new()
        };
        let router = app.router();
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
            let _ = workers_stop.send(true);
            for w in workers {
                let _ = w.await;
            }
        });
        TestApp {
            base,
            http: reqwest::Client::new(),
            clock,
            app,
            db,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the server and workers, as a shutdown or crash between requests would.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(40), server).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn add_agent(&self, name: &str) -> String {
        let token = new_token();
        let mut tx = self.app.services.store.begin().await.unwrap();
        tx.create_agent(name, &token_hash(&token), START_MS)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        token
    }

    pub async fn new_session(&self, name: Option<&str>) -> Session {
        let resp = self
            .http
            .post(self.url("/api/chat/sessions"))
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.unwrap();
        Session {
            id: body["session_id"].as_str().unwrap().to_string(),
            token: body["token"].as_str().unwrap().to_string(),
            seen: 0,
        }
    }

    /// Sends a customer message; returns the response status and body.
    pub async fn say(&self, s: &Session, text: &str) -> (u16, Value) {
        self.say_with_id(s, text, None).await
    }

    pub async fn say_with_id(
        &self,
        s: &Session,
        text: &str,
        client_id: Option<&str>,
    ) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url(&format!("/api/chat/sessions/{}/messages", s.id)))
            .bearer_auth(&s.token)
            .json(&json!({ "text": text, "client_id": client_id }))
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    /// All messages of a session after `after`, without waiting.
    pub async fn messages(&self, s: &Session, after: i64) -> Vec<Value> {
        let resp = self
            .http
            .get(self.url(&format!(
                "/api/chat/sessions/{}/messages?after={after}",
                s.id
            )))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["messages"].as_array().unwrap().clone()
    }

    /// Waits (long polling) until a message from `from` arrives that the session has not seen;
    /// returns it and marks everything up to it as seen.
    pub async fn next_from(&self, s: &mut Session, from: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let resp = self
                .http
                .get(self.url(&format!(
                    "/api/chat/sessions/{}/messages?after={}&wait=2",
                    s.id, s.seen
                )))
                .bearer_auth(&s.token)
                .send()
                .await
                .unwrap();
            let body: Value = resp.json().await.unwrap();
            for m in body["messages"].as_array().unwrap() {
                s.seen = m["seq"].as_i64().unwrap();
                if m["from"] == from {
                    return m.clone();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no message from {from} arrived"
            );
        }
    }

    pub async fn agent_get(&self, token: &str, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    pub async fn agent_post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub struct Session {
    pub id: String,
    pub token: String,
    /// Highest seq this test has read.
    pub seen: i64,
}

/// The ticket number in a "ticket #42" status message.
pub fn ticket_number(text: &str) -> i64 {
    let start = text
        .find("ticket #")
        .unwrap_or_else(|| panic!("no ticket number in {text:?}"))
        + "ticket #".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .unwrap()
}
pub mod fake_discord;
