//! How fast the bot answers one message on its own: a web-chat customer's message through the
//! whole engine on SQLite — stored in the inbox, classified, answered and the reply written to
//! the transcript in one transaction (a batch of one), with the shipped shop intents. Each
//! message opens a new conversation. Throughput with many customers at once (group commit) is
//! the load tool's to show: `cargo run --release --example load`.
//!
//! `cargo bench --bench engine`

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use frontline::app::App;
use frontline::clock::{Clock, SystemClock};
use frontline::config::Config;
use frontline::core::message::Inbound;
use frontline::intents::{load_dir, TrainedMatcher};

fn benches(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config =
        Config::load_with_env(Some(&root.join("config/default.toml")), &[]).expect("config");
    let set = load_dir(&root.join("intents"), &config.known_vars()).expect("shipped intents");
    let matcher = Arc::new(TrainedMatcher::train(&set, &config.matcher));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("frontline-bench-engine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let url = format!("sqlite:{}/bench.db", dir.display());
    let store = rt
        .block_on(frontline::store::open(&url))
        .expect("sqlite store");
    let app = App::from_parts(
        config,
        store,
        matcher,
        Arc::new(SystemClock),
        Default::default(),
    );

    let questions = [
        "where is my order",
        "how much is shipping",
        "can I return this jacket",
        "do you take paypal",
    ];
    let n = AtomicU64::new(0);
    c.bench_function("engine/answer_on_sqlite", |b| {
        b.iter(|| {
            let i = n.fetch_add(1, Ordering::Relaxed);
            let customer = format!("customer-{i}");
            let inbound = Inbound {
                channel: "web".into(),
                external_id: format!("bench-{i}"),
                customer_key: customer.clone(),
                customer_name: None,
                conversation_key: customer.clone(),
                reply_to: customer,
                text: questions[i as usize % questions.len()].into(),
                received_at: SystemClock.now_ms(),
                sender: Default::default(),
            };
            rt.block_on(app.engine.receive(inbound)).expect("handled")
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(engine, benches);
criterion_main!(engine);
