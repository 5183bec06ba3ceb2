//! Hot reload: a valid change is swapped in, an invalid one leaves the running matcher alone.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use frontline::core::matcher::{Classification, IntentInfo, Matcher, MatcherHandle, Verdict};
use frontline::intents::{reload_once, spawn_reloader, MatcherSettings};

/// Stands in for the matcher that is in service before the first reload.
struct Placeholder;
impl Matcher for Placeholder {
    fn classify(&self, _: &str) -> Classification {
        Classification {
            verdict: Verdict::Unknown,
            candidates: vec![],
        }
    }
    fn intent(&self, _: &str) -> Option<&IntentInfo> {
        None
    }
}

fn temp_copy_of_fixture(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "frontline-intents-reload-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("more")).unwrap();
    let src = Path::new("tests/fixtures/intents/basic");
    std::fs::copy(src.join("orders.toml"), dir.join("orders.toml")).unwrap();
    std::fs::copy(src.join("more/account.toml"), dir.join("more/account.toml")).unwrap();
    dir
}

fn known() -> BTreeSet<String> {
    ["links.orders", "customer.name"]
        .into_iter()
        .map(String::from)
        .collect()
}

fn settings() -> MatcherSettings {
    MatcherSettings {
        epochs: 30,
        ..Default::default()
    }
}

const SHIPPING: &str = "[[intent]]\nid = \"shipping_cost\"\nexamples = [\"how much is shipping\", \"delivery fee\", \"what does postage cost\", \"is shipping free\", \"shipping price\", \"cost of delivery\"]\nanswer = \"Shipping is free over 50 euros.\"\n";

#[test]
fn reload_once_swaps_on_valid_and_keeps_the_old_matcher_on_invalid() {
    let dir = temp_copy_of_fixture("once");
    let handle = MatcherHandle::new(Arc::new(Placeholder));
    let outcome = reload_once(&dir, &settings(), &known(), &handle).unwrap();
    assert_eq!(outcome.stats.intents, 4);
    let first = handle.current();
    assert!(first.intent("refund").is_some());

    // A broken edit: the error names the file and line, and the matcher in service stays.
    std::fs::write(
        dir.join("orders.toml"),
        "[[intent]]\nid = \"refund\"\nexamples = [\"x\"]\npatterns = ['(']\n",
    )
    .unwrap();
    let err = reload_once(&dir, &settings(), &known(), &handle).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "{}:4: invalid regex",
            dir.join("orders.toml").display()
        )),
        "{err}"
    );
    assert!(Arc::ptr_eq(&first, &handle.current()));
    assert_eq!(
        handle.current().classify("where is my order").verdict,
        Verdict::Answer {
            intent: "order_status".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reloader_follows_valid_changes_and_ignores_invalid_ones() {
    let dir = temp_copy_of_fixture("task");
    let handle = MatcherHandle::new(Arc::new(Placeholder));
    let task = spawn_reloader(
        dir.clone(),
        settings(),
        known(),
        handle.clone(),
        Duration::from_millis(20),
    );
    let wait_for = |pred: &dyn Fn(&dyn Matcher) -> bool| {
        let handle = handle.clone();
        let ok = (0..500).any(|_| {
            if pred(handle.current().as_ref()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
            false
        });
        assert!(ok, "reloader did not pick up the change");
    };
    // Adding a file is a change: the new intent appears.
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::fs::write(dir.join("shipping.toml"), SHIPPING).unwrap();
    tokio::task::block_in_place(|| wait_for(&|m| m.intent("shipping_cost").is_some()));
    let good = handle.current();

    // An invalid change never replaces it.
    std::fs::write(
        dir.join("shipping.toml"),
        "[[intent]]\nid = \"shipping_cost\"\nexamples = []\nbogus = 1\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(Arc::ptr_eq(&good, &handle.current()));

    // Fixing it is picked up again.
    std::fs::write(
        dir.join("shipping.toml"),
        SHIPPING.replace("free over 50", "free over 40"),
    )
    .unwrap();
    tokio::task::block_in_place(|| {
        wait_for(&|m| {
            m.intent("shipping_cost")
                .is_some_and(|i| i.answers[0].contains("40"))
        })
    });
    task.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
