//! `frontline tickets list|show|export|close` as an admin uses them, on a database a running
//! frontline wrote.

mod common;

use std::process::{Command, Output};

use common::{ticket_number, Db, TestApp};
use serde_json::{json, Value};

fn frontline(db: &Db, args: &[&str]) -> Output {
    let Db::Sqlite(path) = db else {
        unreachable!("the CLI test uses SQLite")
    };
    let dir = path.parent().unwrap();
    Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", format!("sqlite:{}", path.display()))
        .output()
        .expect("runs frontline")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_listed_shown_exported_and_closed_by_an_admin() {
    let db = Db::sqlite();
    let mut app = TestApp::start(db.clone()).await;
    let alice = app.add_agent("alice").await;
    let mut s = app.new_session(Some("Dana")).await;
    app.say(&s, "I want to talk to a person").await;
    let ticket = ticket_number(app.next_from(&mut s, "bot").await["text"].as_str().unwrap());
    let mut other = app.new_session(Some("Eli")).await;
    app.say(&other, "I want to talk to a person").await;
    let second = ticket_number(
        app.next_from(&mut other, "bot").await["text"]
            .as_str()
            .unwrap(),
    );
    app.agent_post(
        &alice,
        &format!("/api/tickets/{ticket}/tags"),
        json!({"add": ["billing"]}),
    )
    .await;
    app.agent_post(
        &alice,
        &format!("/api/tickets/{ticket}/messages"),
        json!({"text": "VIP customer", "internal": true}),
    )
    .await;
    app.agent_post(
        &alice,
        &format!("/api/tickets/{ticket}/messages"),
        json!({"text": "Hello Dana"}),
    )
    .await;
    app.stop().await;

    let list = stdout(&frontline(&db, &["tickets", "list"]));
    assert!(
        list.contains(&format!(
            "#{ticket}\tassigned\tnormal\tbilling\talice\tDana"
        )),
        "{list}"
    );
    assert!(list.contains(&format!("#{second}\topen")), "{list}");
    let tagged = stdout(&frontline(
        &db,
        &["tickets", "list", "--tag", "billing", "--json"],
    ));
    let tagged: Value = serde_json::from_str(&tagged).unwrap();
    assert_eq!(tagged.as_array().unwrap().len(), 1);
    assert_eq!(tagged[0]["id"], ticket);

    let shown = stdout(&frontline(&db, &["tickets", "show", &ticket.to_string()]));
    assert!(
        shown.contains("INTERNAL NOTE by alice"),
        "notes are marked: {shown}"
    );
    assert!(shown.contains("VIP customer"), "{shown}");
    assert!(shown.contains("I want to talk to a person"), "{shown}");
    assert!(shown.contains("Why escalated"), "with its context: {shown}");

    let exported = stdout(&frontline(
        &db,
        &["tickets", "export", &ticket.to_string(), "--format", "json"],
    ));
    let exported: Value = serde_json::from_str(&exported).unwrap();
    let internal: Vec<&str> = exported["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["internal"] == true)
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(internal, ["Tags: billing.", "VIP customer"], "{exported}");
    let md = stdout(&frontline(
        &db,
        &["tickets", "export", &ticket.to_string(), "--format", "md"],
    ));
    assert!(md.starts_with(&format!("# Ticket #{ticket}")), "{md}");

    let out = frontline(
        &db,
        &["tickets", "close", &second.to_string(), "--reason", "spam"],
    );
    stdout(&out);
    let closed = stdout(&frontline(
        &db,
        &["tickets", "export", &second.to_string(), "--format", "json"],
    ));
    let closed: Value = serde_json::from_str(&closed).unwrap();
    assert_eq!(closed["status"], "resolved");
    assert_eq!(closed["closed_by"], "admin");
    assert_eq!(closed["outcome"], "closed by an admin");
    assert!(
        closed["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"] == "Closed: spam" && l["author"] == "admin"),
        "{closed}"
    );
    let again = frontline(
        &db,
        &["tickets", "close", &second.to_string(), "--reason", "x"],
    );
    assert!(!again.status.success(), "closing twice is refused");
    let missing = frontline(&db, &["tickets", "show", "999"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("ticket #999 not found"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}
