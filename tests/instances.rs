//! Two instances of the bot on one database, as a team runs it on PostgreSQL when one machine is
//! not enough (and as two processes on one SQLite file would): a ticket is claimed once, and a
//! customer polling one instance hears what an agent wrote through the other.

mod common;

use std::time::Duration;

use common::{ticket_number, Db, Options, TestApp, START_MS};
use frontline::clock::ManualClock;
use serde_json::json;

async fn two_instances(db: Db) -> (TestApp, TestApp) {
    let first = TestApp::start(db.clone()).await;
    let second = TestApp::start_with(db, Options::default(), ManualClock::new(START_MS)).await;
    (first, second)
}

async fn a_ticket_is_claimed_once_across_instances(db: Db) {
    let (one, two) = two_instances(db).await;
    let alice = one.add_agent("alice").await;
    let bob = two.add_agent("bob").await;

    for round in 0..6 {
        let mut s = one.new_session(Some(&format!("Customer {round}"))).await;
        one.say(&s, "I want to talk to a person").await;
        let ticket = ticket_number(one.next_from(&mut s, "bot").await["text"].as_str().unwrap());
        let path = format!("/api/tickets/{ticket}/claim");
        let ((a, _), (b, _)) = tokio::join!(
            one.agent_post(&alice, &path, json!({})),
            two.agent_post(&bob, &path, json!({})),
        );
        let mut codes = [a, b];
        codes.sort();
        assert_eq!(codes, [200, 409], "round {round}: alice {a}, bob {b}");

        let joined = one
            .messages(&s, 0)
            .await
            .into_iter()
            .filter(|m| m["text"].as_str().unwrap().contains("joined"))
            .count();
        assert_eq!(joined, 1, "round {round}: the customer hears of one agent");
    }
}

async fn a_poll_on_one_instance_hears_a_reply_sent_through_the_other(db: Db) {
    let (one, two) = two_instances(db).await;
    let alice = two.add_agent("alice").await;
    let mut s = one.new_session(Some("Dana")).await;
    one.say(&s, "I want to talk to a person").await;
    let ticket = ticket_number(one.next_from(&mut s, "bot").await["text"].as_str().unwrap());
    let (code, _) = two
        .agent_post(&alice, &format!("/api/tickets/{ticket}/claim"), json!({}))
        .await;
    assert_eq!(code, 200);
    one.next_from(&mut s, "system").await;

    // The customer is already waiting on instance one when the reply is written on instance two.
    let poll = {
        let url = one.url(&format!(
            "/api/chat/sessions/{}/messages?after={}&wait=10",
            s.id, s.seen
        ));
        let request = one.http.get(url).bearer_auth(&s.token).send();
        tokio::spawn(async move { request.await.unwrap().json::<serde_json::Value>().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (code, _) = two
        .agent_post(
            &alice,
            &format!("/api/tickets/{ticket}/messages"),
            json!({"text": "Hi Dana, I'm on it", "internal": false}),
        )
        .await;
    assert_eq!(code, 202);
    let body = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("the waiting poll returned before its own 10 s limit")
        .unwrap()
        .unwrap();
    let texts: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Hi Dana, I'm on it"]);
}

on_both_databases!(
    a_ticket_is_claimed_once_across_instances,
    a_poll_on_one_instance_hears_a_reply_sent_through_the_other,
);
