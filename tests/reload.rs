//! Hot reload in the running application: a valid change to the intents folder is answered from
//! at once, a broken one is refused and the intents in service stay.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{test_config, Db, Options, TestApp, START_MS};
use frontline::clock::ManualClock;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

const LOYALTY: &str = r#"
[[intent]]
id = "loyalty_points"
description = "Loyalty points"
category = "account"
examples = ["how many loyalty points do I have", "check my reward points", "loyalty points balance",
  "what are bonus points worth", "do I earn points on purchases", "redeem my loyalty points",
  "points for my last order", "my rewards balance"]
answer = "LOYALTY: every euro spent earns one point."
"#;

/// Asks `text` in a new session until the bot's reply contains `expected` (reloads happen in the
/// background), failing after a while.
async fn eventually_answers(app: &TestApp, text: &str, expected: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut s = app.new_session(None).await;
        app.say(&s, text).await;
        let reply = app.next_from(&mut s, "bot").await["text"]
            .as_str()
            .unwrap()
            .to_string();
        if reply.contains(expected) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never answered {text:?} with {expected:?}; last: {reply}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intents_reload_while_running_and_a_broken_edit_changes_nothing() {
    let dir = std::env::temp_dir().join(format!("frontline-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("intents"), &dir);

    let mut config = test_config();
    config.intents.dir = dir.clone();
    config.intents.watch = true;
    config.intents.poll_ms = 50;
    let app = TestApp::start_with(
        Db::sqlite(),
        Options {
            config,
            ..Options::default()
        },
        ManualClock::new(START_MS),
    )
    .await;
    eventually_answers(&app, "where is my order", "account/orders").await;

    std::fs::write(dir.join("shop/loyalty.toml"), LOYALTY).unwrap();
    eventually_answers(&app, "how many loyalty points do I have", "LOYALTY").await;

    // A broken file: the reload is refused, both old and new answers stay in service.
    std::fs::write(dir.join("shop/broken.toml"), "[[intent]\nid = ").unwrap();
    std::fs::write(
        dir.join("shop/loyalty.toml"),
        LOYALTY.replace("LOYALTY:", "CHANGED:") + "\n[[intent]]\nid = \"x\"\nbogus_key = 1\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    eventually_answers(&app, "how many loyalty points do I have", "LOYALTY").await;
    eventually_answers(&app, "where is my order", "account/orders").await;

    // Fixing the folder brings the change in.
    std::fs::remove_file(dir.join("shop/broken.toml")).unwrap();
    std::fs::write(
        dir.join("shop/loyalty.toml"),
        LOYALTY.replace("LOYALTY:", "CHANGED:"),
    )
    .unwrap();
    eventually_answers(&app, "how many loyalty points do I have", "CHANGED").await;
    let _ = std::fs::remove_dir_all(&dir);
}
