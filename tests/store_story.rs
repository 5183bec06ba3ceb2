//! One story over every `Store`/`Tx` method, run on SQLite and (when `TEST_DATABASE_URL` is set)
//! on PostgreSQL, each in a database or schema of its own so the tests run in parallel.

use std::path::PathBuf;
use std::sync::Arc;

use frontline::core::choice::Choice;
use frontline::core::conversation::{Conversation, ConversationState};
use frontline::core::desk_event::{CardRef, DeskEvent};
use frontline::core::matcher::Candidate;
use frontline::core::message::{Author, Inbound, Sender, TranscriptLine};
use frontline::core::ticket::TicketStatus;
use frontline::store::postgres::PgStore;
use frontline::store::sqlite::SqliteStore;
use frontline::store::{
    Lane, NewLine, NewOutbox, NewTicket, OutboxStatus, Recorded, SessionCustomer, Store,
    StoreError, TurnContext, TurnKey, Tx, WebSession,
};

/// A fresh folder under the system temp dir, unique per test and per run.
fn temp_dir(test: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "frontline-store-{test}-{}-{nanos}-{n}",
        std::process::id()
    ))
}

fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "{test}: skipped, set TEST_DATABASE_URL=postgres://... to run it on PostgreSQL"
            );
            None
        }
    }
}

fn inbound(channel: &str, external_id: &str, key: &str, text: &str, at: i64) -> Inbound {
    Inbound {
        channel: channel.into(),
        external_id: external_id.into(),
        customer_key: key.into(),
        customer_name: Some("Dana".into()),
        conversation_key: key.into(),
        reply_to: format!("reply:{key}"),
        text: text.into(),
        received_at: at,
        sender: Default::default(),
    }
}

fn conversation(channel: &str, key: &str, customer_id: i64, at: i64) -> Conversation {
    Conversation {
        id: 0,
        channel: channel.into(),
        conversation_key: key.into(),
        reply_to: format!("reply:{key}"),
        customer_id,
        state: ConversationState::Bot,
        misses: 1,
        clarify: vec!["refund".into(), "returns".into()],
        ticket_id: None,
        disclosed: false,
        answer_turn: 0,
        created_at: at,
        updated_at: at,
    }
}

fn line(conversation_id: i64, author: Author, text: &str, at: i64) -> NewLine {
    NewLine {
        conversation_id,
        author,
        author_name: (author == Author::Agent || author == Author::Note)
            .then(|| "alice".to_string()),
        text: text.into(),
        at,
        intent: (author == Author::Customer).then(|| "order_status".to_string()),
        confidence: (author == Author::Customer).then_some(0.75),
        // Bot lines offer a button, so choices make the round trip through the store.
        choices: if author == Author::Bot {
            vec![Choice::new("Talk to a person", "Talk to a person")]
        } else {
            Vec::new()
        },
        outcome: None,
    }
}

fn outbox(conversation_id: i64, line_id: i64, text: &str, at: i64) -> NewOutbox {
    NewOutbox {
        conversation_id,
        channel: "web".into(),
        recipient: "reply:sess-dana".into(),
        line_id,
        author: Author::Bot,
        author_name: None,
        text: text.into(),
        choices: Vec::new(),
        lane: Lane::Customer,
        ticket_id: None,
        event: None,
        created_at: at,
    }
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> i64) -> Vec<i64> {
    items.iter().map(id).collect()
}

/// Every method of the trait, with assertions that fail if the store gets one wrong.
async fn story(store: &dyn Store) {
    let mut tx = store.begin().await.expect("begin");

    // --- customers and web sessions
    let dana = tx
        .upsert_customer("web", "sess-dana-0123456789", None, 1_000)
        .await
        .unwrap();
    assert_eq!(dana.display_name, None);
    assert_eq!(dana.created_at, 1_000);
    let named = tx
        .upsert_customer("web", "sess-dana-0123456789", Some("Dana"), 2_000)
        .await
        .unwrap();
    assert_eq!(
        (named.id, named.display_name.as_deref(), named.created_at),
        (dana.id, Some("Dana"), 1_000)
    );
    let unnamed_again = tx
        .upsert_customer("web", "sess-dana-0123456789", None, 3_000)
        .await
        .unwrap();
    assert_eq!(unnamed_again, named, "no name given keeps the stored one");
    let other = tx
        .upsert_customer("discord", "sess-dana-0123456789", None, 3_000)
        .await
        .unwrap();
    assert_ne!(
        other.id, dana.id,
        "the same id on another channel is another person"
    );
    assert_eq!(tx.customer(dana.id).await.unwrap(), Some(named.clone()));
    assert_eq!(tx.customer(other.id + 1_000).await.unwrap(), None);

    // Web-chat sessions are the web channel's, written with their customer, read from outside
    // any transaction.
    let session = WebSession {
        id: "sess-dana-0123456789".into(),
        token_hash: "token-hash".into(),
        customer_id: dana.id,
        created_at: 1_000,
    };
    tx.create_web_session(&session).await.unwrap();
    tx.commit().await.unwrap();
    let sessions = store.web_sessions();
    assert_eq!(
        sessions.web_session(&session.id).await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(sessions.web_session("nobody").await.unwrap(), None);
    // Several sessions in one read, each with its customer's key and name as stored now: one
    // entry per id asked, in order, `None` where there is no session.
    let dana_now = SessionCustomer {
        key: dana.external_id.clone(),
        name: named.display_name.clone(),
    };
    assert_eq!(
        sessions
            .web_sessions_with_customers(&["nobody", &session.id, &session.id])
            .await
            .unwrap(),
        vec![
            None,
            Some((session.clone(), Some(dana_now.clone()))),
            Some((session.clone(), Some(dana_now.clone())))
        ]
    );
    let many: Vec<&str> = (0..70)
        .map(|i| {
            if i % 3 == 0 {
                "nobody"
            } else {
                session.id.as_str()
            }
        })
        .collect();
    let read = sessions.web_sessions_with_customers(&many).await.unwrap();
    assert_eq!(read.len(), 70);
    assert!(read
        .iter()
        .enumerate()
        .all(|(i, s)| s.is_some() == (i % 3 != 0)));
    // Rolled back together: neither the customer nor the session is left.
    let mut tx = store.begin().await.unwrap();
    let gone = tx
        .upsert_customer("web", "sess-gone", None, 1_000)
        .await
        .unwrap();
    tx.create_web_session(&WebSession {
        id: "sess-gone".into(),
        token_hash: "h".into(),
        customer_id: gone.id,
        created_at: 1_000,
    })
    .await
    .unwrap();
    drop(tx);
    assert_eq!(sessions.web_session("sess-gone").await.unwrap(), None);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.customer(gone.id).await.unwrap(), None);
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();

    // --- inbox: dedup by (channel, external id), unhandled oldest first
    let first = inbound("web", "m1", "sess-dana", "where is my order", 4_000);
    let Recorded::New(m1) = tx.record_inbound(&first).await.unwrap() else {
        panic!("first event is new")
    };
    let mut retried = first.clone();
    retried.text = "a retry with other text".into();
    assert_eq!(
        tx.record_inbound(&retried).await.unwrap(),
        Recorded::Duplicate(m1)
    );
    let Recorded::New(m1_discord) = tx
        .record_inbound(&inbound("discord", "m1", "dm-7", "hi", 4_001))
        .await
        .unwrap()
    else {
        panic!("same external id on another channel is new")
    };
    assert_ne!(m1_discord, m1);
    let Recorded::New(m2) = tx
        .record_inbound(&inbound("web", "m2", "sess-dana", "hello?", 4_002))
        .await
        .unwrap()
    else {
        panic!("a new external id is new")
    };
    let unhandled = tx.unhandled_inbound(0, 10).await.unwrap();
    assert_eq!(ids(&unhandled, |i| i.id), vec![m1, m1_discord, m2]);
    assert_eq!(
        unhandled[0].inbound, first,
        "the stored event comes back whole, not the retry"
    );
    let mut no_name = inbound("slack", "ev-1", "C1:1.2", "x", 4_003);
    no_name.customer_name = None;
    let Recorded::New(slack_id) = tx.record_inbound(&no_name).await.unwrap() else {
        panic!("new")
    };
    assert_eq!(
        tx.inbox_item(slack_id).await.unwrap().unwrap().inbound,
        no_name
    );
    tx.mark_inbound_handled(m1_discord, 5_000).await.unwrap();
    tx.mark_inbound_handled(slack_id, 5_000).await.unwrap();
    assert_eq!(
        ids(&tx.unhandled_inbound(0, 10).await.unwrap(), |i| i.id),
        vec![m1, m2]
    );
    assert_eq!(
        ids(&tx.unhandled_inbound(0, 1).await.unwrap(), |i| i.id),
        vec![m1]
    );
    assert_eq!(
        ids(&tx.unhandled_inbound(m1, 10).await.unwrap(), |i| i.id),
        vec![m2],
        "a pass goes on past the ones it already tried"
    );
    let handled = tx.inbox_item(m1_discord).await.unwrap().expect("stored");
    assert_eq!(handled.handled_at, Some(5_000));
    assert_eq!(tx.inbox_item(m1).await.unwrap().unwrap().handled_at, None);
    assert_eq!(tx.inbox_item(m2 + 1_000).await.unwrap(), None);

    // --- conversations
    assert_eq!(
        tx.latest_conversation("web", "sess-dana").await.unwrap(),
        None
    );
    let mut conv1 = conversation("web", "sess-dana", dana.id, 6_000);
    conv1.id = tx.create_conversation(&conv1).await.unwrap();
    assert_eq!(
        tx.conversation(conv1.id).await.unwrap(),
        Some(conv1.clone())
    );
    assert_eq!(
        tx.latest_conversation("web", "sess-dana").await.unwrap(),
        Some(conv1.clone())
    );
    assert_eq!(
        tx.latest_conversation("discord", "sess-dana")
            .await
            .unwrap(),
        None
    );
    conv1.state = ConversationState::Closed;
    conv1.misses = 0;
    conv1.clarify = vec![];
    conv1.disclosed = true;
    conv1.answer_turn = 3;
    conv1.updated_at = 6_500;
    tx.update_conversation(&conv1).await.unwrap();
    assert_eq!(
        tx.conversation(conv1.id).await.unwrap(),
        Some(conv1.clone())
    );
    let mut conv2 = conversation("web", "sess-dana", dana.id, 7_000);
    conv2.id = tx.create_conversation(&conv2).await.unwrap();
    assert!(conv2.id > conv1.id);
    assert_eq!(
        tx.latest_conversation("web", "sess-dana").await.unwrap(),
        Some(conv2.clone())
    );
    let mut conv3 = conversation("discord", "dm-7", other.id, 7_500);
    conv3.id = tx.create_conversation(&conv3).await.unwrap();
    assert_eq!(tx.conversation(conv3.id + 1_000).await.unwrap(), None);

    // --- transcript: notes only on request; lines_for_key spans the key's conversations
    let l1 = tx
        .append_line(&line(
            conv1.id,
            Author::Customer,
            "where is my order",
            6_100,
        ))
        .await
        .unwrap();
    assert_eq!(
        (l1.intent.as_deref(), l1.confidence),
        (Some("order_status"), Some(0.75))
    );
    let l2 = tx
        .append_line(&line(conv1.id, Author::Note, "internal: VIP", 6_200))
        .await
        .unwrap();
    let l3 = tx
        .append_line(&line(conv1.id, Author::Agent, "on its way", 6_300))
        .await
        .unwrap();
    let l4 = tx
        .append_line(&line(conv2.id, Author::Customer, "me again", 7_100))
        .await
        .unwrap();
    let l5 = tx
        .append_line(&line(conv3.id, Author::Customer, "other key", 7_600))
        .await
        .unwrap();
    assert!(l1.id < l2.id && l2.id < l3.id && l3.id < l4.id && l4.id < l5.id);
    assert_eq!(
        tx.conversation_lines(conv1.id, 0, true).await.unwrap(),
        vec![l1.clone(), l2.clone(), l3.clone()]
    );
    assert_eq!(
        tx.conversation_lines(conv1.id, 0, false).await.unwrap(),
        vec![l1.clone(), l3.clone()]
    );
    assert_eq!(
        tx.conversation_lines(conv1.id, l1.id, false).await.unwrap(),
        vec![l3.clone()]
    );
    assert_eq!(
        tx.lines_for_key("web", "sess-dana", 0).await.unwrap(),
        vec![l1.clone(), l3.clone(), l4.clone()],
        "both conversations of the key, without the note"
    );
    assert_eq!(
        tx.lines_for_key("web", "sess-dana", l3.id).await.unwrap(),
        vec![l4.clone()]
    );
    assert_eq!(
        tx.lines_for_key("discord", "sess-dana", 0).await.unwrap(),
        vec![]
    );

    // --- agents
    let alice = tx.create_agent("alice", "hash-alice", 8_000).await.unwrap();
    let bob = tx.create_agent("bob", "hash-bob", 8_001).await.unwrap();
    assert_eq!((alice.name.as_str(), alice.created_at), ("alice", 8_000));
    match tx.create_agent("alice", "hash-other", 8_002).await {
        Err(StoreError::Conflict(name)) => assert_eq!(name, "alice"),
        other => panic!("a taken name must conflict, got {other:?}"),
    }
    // The transaction is still usable after a conflict (PostgreSQL would otherwise abort it).
    assert_eq!(tx.agents().await.unwrap(), vec![alice.clone(), bob.clone()]);
    assert_eq!(tx.agent(bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(
        tx.agent_by_token_hash("hash-alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(tx.agent_by_token_hash("hash-nobody").await.unwrap(), None);

    // --- tickets
    let intents = vec![
        Candidate {
            intent: "refund".into(),
            score: 0.5,
        },
        Candidate {
            intent: "returns".into(),
            score: 0.25,
        },
    ];
    let new_ticket = |conversation_id, customer_id, channel: &str, at| NewTicket {
        conversation_id,
        customer_id,
        channel: channel.into(),
        subject: format!("subject {at}"),
        reason: "customer asked for a person".into(),
        intents: intents.clone(),
        created_at: at,
    };
    let mut t1 = tx
        .create_ticket(&new_ticket(conv1.id, dana.id, "web", 10_000))
        .await
        .unwrap();
    let mut t2 = tx
        .create_ticket(&new_ticket(conv3.id, other.id, "discord", 11_000))
        .await
        .unwrap();
    let t3 = tx
        .create_ticket(&new_ticket(conv2.id, dana.id, "web", 12_000))
        .await
        .unwrap();
    assert_eq!(
        (t1.status, t1.assignee, t1.csat),
        (TicketStatus::Open, None, None)
    );
    assert_eq!(
        tx.ticket(t1.id).await.unwrap(),
        Some(t1.clone()),
        "intents round-trip"
    );
    assert_eq!(tx.ticket(t3.id + 1_000).await.unwrap(), None);
    conv1.ticket_id = Some(t1.id);
    tx.update_conversation(&conv1).await.unwrap();
    assert_eq!(
        tx.conversation(conv1.id).await.unwrap().unwrap().ticket_id,
        Some(t1.id)
    );

    let open = tx.list_tickets(&[TicketStatus::Open]).await.unwrap();
    assert_eq!(
        ids(&open, |s| s.ticket.id),
        vec![t1.id, t2.id, t3.id],
        "oldest first"
    );
    assert_eq!(open[0].customer_name, "Dana");
    assert_eq!(
        open[1].customer_name, "discord customer sess-dan…",
        "no display name: channel and short id"
    );
    assert_eq!(open[0].assignee_name, None);
    assert_eq!(open[0].ticket, t1);
    for (ticket, place) in [(&t1, 1), (&t2, 2), (&t3, 3)] {
        assert_eq!(tx.queue_position(ticket.id).await.unwrap(), place);
    }

    // Alice claims the first after 500 ms, Bob the second after 3 s.
    t1.status = TicketStatus::Assigned;
    t1.assignee = Some(alice.id);
    t1.claimed_at = Some(10_500);
    tx.update_ticket(&t1).await.unwrap();
    assert_eq!(tx.ticket(t1.id).await.unwrap(), Some(t1.clone()));
    assert_eq!(
        tx.queue_position(t2.id).await.unwrap(),
        1,
        "a claimed ticket leaves the queue"
    );
    assert_eq!(tx.queue_position(t3.id).await.unwrap(), 2);
    t2.status = TicketStatus::Assigned;
    t2.assignee = Some(bob.id);
    t2.claimed_at = Some(14_000);
    tx.update_ticket(&t2).await.unwrap();
    assert_eq!(
        tx.recent_claim_waits(10).await.unwrap(),
        vec![3_000, 500],
        "most recently claimed first"
    );
    assert_eq!(tx.recent_claim_waits(1).await.unwrap(), vec![3_000]);

    let assigned = tx.list_tickets(&[TicketStatus::Assigned]).await.unwrap();
    assert_eq!(ids(&assigned, |s| s.ticket.id), vec![t1.id, t2.id]);
    assert_eq!(assigned[0].assignee_name.as_deref(), Some("alice"));
    assert_eq!(assigned[1].assignee_name.as_deref(), Some("bob"));
    assert_eq!(
        ids(
            &tx.list_tickets(&[TicketStatus::Open]).await.unwrap(),
            |s| s.ticket.id
        ),
        vec![t3.id]
    );

    t1.status = TicketStatus::Resolved;
    t1.first_reply_at = Some(10_700);
    t1.resolved_at = Some(15_000);
    t1.csat = Some(5);
    tx.update_ticket(&t1).await.unwrap();
    assert_eq!(tx.ticket(t1.id).await.unwrap(), Some(t1.clone()));
    let done = tx
        .list_tickets(&[TicketStatus::Resolved, TicketStatus::Closed])
        .await
        .unwrap();
    assert_eq!(ids(&done, |s| s.ticket.id), vec![t1.id]);
    assert_eq!(tx.list_tickets(&[]).await.unwrap(), vec![]);
    let everything = [
        TicketStatus::Closed,
        TicketStatus::Open,
        TicketStatus::Assigned,
        TicketStatus::Resolved,
    ];
    assert_eq!(
        ids(&tx.list_tickets(&everything).await.unwrap(), |s| s
            .ticket
            .id),
        vec![t1.id, t2.id, t3.id]
    );
    let summary = tx.ticket_summary(t1.id).await.unwrap().expect("summary");
    assert_eq!(
        (summary.ticket, summary.customer_name.as_str()),
        (t1.clone(), "Dana")
    );
    assert_eq!(tx.ticket_summary(t3.id + 1_000).await.unwrap(), None);
    assert_eq!(
        ids(&tx.customer_tickets(dana.id, t3.id).await.unwrap(), |t| t
            .id),
        vec![t1.id]
    );
    assert_eq!(
        tx.customer_tickets(dana.id, 0).await.unwrap(),
        vec![t3.clone(), t1.clone()],
        "newest first"
    );
    assert_eq!(tx.customer_tickets(other.id, t2.id).await.unwrap(), vec![]);

    // --- removing an agent: gone from the team and from login, its old tickets keep its name
    assert!(tx.remove_agent(alice.id, 15_500).await.unwrap());
    assert!(!tx.remove_agent(alice.id, 15_600).await.unwrap());
    assert!(!tx.remove_agent(999_999, 15_600).await.unwrap());
    assert_eq!(tx.agents().await.unwrap(), vec![bob.clone()]);
    assert_eq!(tx.agent(alice.id).await.unwrap(), None);
    assert_eq!(tx.agent_by_token_hash("hash-alice").await.unwrap(), None);
    let summary = tx.ticket_summary(t1.id).await.unwrap().unwrap();
    assert_eq!(summary.assignee_name.as_deref(), Some("alice"));
    let alice_again = tx
        .create_agent("alice", "hash-alice-2", 16_000)
        .await
        .expect("name is free again");
    assert_ne!(alice_again.id, alice.id);
    assert_eq!(
        tx.agent_by_token_hash("hash-alice-2").await.unwrap(),
        Some(alice_again.clone())
    );

    // --- outbox: one head per conversation, retries wait, dead rows don't block
    let o1 = tx
        .enqueue(&outbox(conv1.id, l3.id, "first", 20_000))
        .await
        .unwrap();
    let o2 = tx
        .enqueue(&outbox(conv1.id, l3.id, "second", 20_001))
        .await
        .unwrap();
    let o3 = tx
        .enqueue(&outbox(conv2.id, l4.id, "other conversation", 20_002))
        .await
        .unwrap();
    let item = tx.outbox_item(o1).await.unwrap().expect("stored");
    assert_eq!(
        (
            item.status,
            item.attempts,
            item.next_attempt_at,
            item.text.as_str(),
            item.line_id
        ),
        (OutboxStatus::Pending, 0, 20_000, "first", l3.id)
    );
    assert_eq!(
        (item.author, item.last_error, item.delivered_at),
        (Author::Bot, None, None)
    );
    assert_eq!(tx.outbox_item(o3 + 1_000).await.unwrap(), None);
    assert_eq!(tx.due_outbox(19_999, 10).await.unwrap(), vec![]);
    assert_eq!(
        ids(&tx.due_outbox(20_000, 10).await.unwrap(), |o| o.id),
        vec![o1],
        "o3 is not due yet"
    );
    assert_eq!(
        ids(&tx.due_outbox(30_000, 10).await.unwrap(), |o| o.id),
        vec![o1, o3],
        "o2 waits behind o1"
    );
    assert_eq!(
        ids(&tx.due_outbox(30_000, 1).await.unwrap(), |o| o.id),
        vec![o1]
    );
    assert_eq!(tx.next_outbox_due().await.unwrap(), Some(20_000));

    tx.mark_retry(o1, 1, 40_000, "timeout").await.unwrap();
    let item = tx.outbox_item(o1).await.unwrap().unwrap();
    assert_eq!(
        (item.status, item.attempts, item.next_attempt_at),
        (OutboxStatus::Pending, 1, 40_000)
    );
    assert_eq!(item.last_error.as_deref(), Some("timeout"));
    assert_eq!(
        ids(&tx.due_outbox(30_000, 10).await.unwrap(), |o| o.id),
        vec![o3],
        "o1 waits, o2 stays behind it"
    );
    assert_eq!(
        tx.next_outbox_due().await.unwrap(),
        Some(20_002),
        "o2 is not a head, so it does not count"
    );
    assert_eq!(
        ids(&tx.due_outbox(40_000, 10).await.unwrap(), |o| o.id),
        vec![o1, o3]
    );

    tx.mark_delivered(o3, 40_001).await.unwrap();
    let item = tx.outbox_item(o3).await.unwrap().unwrap();
    assert_eq!(
        (item.status, item.delivered_at),
        (OutboxStatus::Delivered, Some(40_001))
    );
    tx.mark_dead(o1, 2, "closed DMs").await.unwrap();
    let item = tx.outbox_item(o1).await.unwrap().unwrap();
    assert_eq!(
        (item.status, item.attempts, item.last_error.as_deref()),
        (OutboxStatus::Dead, 2, Some("closed DMs"))
    );
    assert_eq!(
        ids(&tx.due_outbox(40_000, 10).await.unwrap(), |o| o.id),
        vec![o2],
        "a dead row does not block"
    );
    assert_eq!(tx.next_outbox_due().await.unwrap(), Some(20_001));
    tx.mark_delivered(o2, 40_002).await.unwrap();
    assert_eq!(tx.due_outbox(i64::MAX, 10).await.unwrap(), vec![]);
    assert_eq!(tx.next_outbox_due().await.unwrap(), None);

    // --- timers
    let close_t1 = tx
        .schedule_timer("close_ticket", t1.id, 50_000)
        .await
        .unwrap();
    let close_t2 = tx
        .schedule_timer("close_ticket", t2.id, 45_000)
        .await
        .unwrap();
    let remind_t1 = tx.schedule_timer("remind", t1.id, 60_000).await.unwrap();
    assert_eq!(tx.due_timers(44_999, 10).await.unwrap(), vec![]);
    let due = tx.due_timers(50_000, 10).await.unwrap();
    assert_eq!(
        ids(&due, |t| t.id),
        vec![close_t2, close_t1],
        "earliest first"
    );
    assert_eq!(
        (due[0].kind.as_str(), due[0].subject_id, due[0].due_at),
        ("close_ticket", t2.id, 45_000)
    );
    assert_eq!(
        ids(&tx.due_timers(50_000, 1).await.unwrap(), |t| t.id),
        vec![close_t2]
    );
    tx.mark_timer_fired(close_t2, 50_001).await.unwrap();
    assert_eq!(
        ids(&tx.due_timers(50_000, 10).await.unwrap(), |t| t.id),
        vec![close_t1]
    );
    tx.cancel_timers("close_ticket", t1.id).await.unwrap();
    assert_eq!(
        ids(&tx.due_timers(70_000, 10).await.unwrap(), |t| t.id),
        vec![remind_t1],
        "other kinds stay"
    );

    tx.commit().await.expect("commit");

    // --- committed work is visible to a new transaction
    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.ticket(t1.id).await.unwrap(), Some(t1.clone()));
    assert_eq!(
        tx.agents().await.unwrap(),
        vec![alice_again.clone(), bob.clone()]
    );
    drop(tx);

    // --- a transaction dropped without commit leaves nothing behind
    let mut tx = store.begin().await.unwrap();
    let rolled_back = inbound("web", "m-rolled-back", "sess-dana", "lost", 80_000);
    assert!(matches!(
        tx.record_inbound(&rolled_back).await.unwrap(),
        Recorded::New(_)
    ));
    tx.create_agent("carol", "hash-carol", 80_000)
        .await
        .unwrap();
    tx.schedule_timer("remind", t2.id, 1).await.unwrap();
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        ids(&tx.unhandled_inbound(0, 10).await.unwrap(), |i| i.id),
        vec![m1, m2]
    );
    assert_eq!(tx.agent_by_token_hash("hash-carol").await.unwrap(), None);
    assert_eq!(
        ids(&tx.due_timers(70_000, 10).await.unwrap(), |t| t.id),
        vec![remind_t1]
    );
    assert!(
        matches!(
            tx.record_inbound(&rolled_back).await.unwrap(),
            Recorded::New(_)
        ),
        "the rolled-back event was never recorded"
    );
    tx.commit().await.unwrap();
}

/// What the platform seam keeps: agents by platform identity, ticket cards, desk events in a
/// lane of their own, agents' lines in the inbox, and where to resume reading a channel.
async fn platform_story(store: &dyn Store) {
    let mut tx = store.begin().await.unwrap();
    // Platform agents: created on first sight, renamed in place, names shared across platforms.
    let sam = tx.platform_agent("discord", "111", "sam", 1).await.unwrap();
    assert_eq!(sam.platform.as_deref(), Some("discord"));
    let again = tx
        .platform_agent("discord", "111", "Sam B", 2)
        .await
        .unwrap();
    assert_eq!((again.id, again.name.as_str()), (sam.id, "Sam B"));
    let other_sam = tx.platform_agent("slack", "U1", "Sam B", 3).await.unwrap();
    assert_ne!(
        other_sam.id, sam.id,
        "same name, other platform: another agent"
    );
    tx.create_agent("Sam B", "hash-sam", 4)
        .await
        .expect("a console agent may share a platform agent's name");
    assert!(tx.remove_agent(sam.id, 5).await.unwrap());
    assert!(
        matches!(
            tx.platform_agent("discord", "111", "Sam B", 6).await,
            Err(StoreError::Conflict(_))
        ),
        "a removed platform agent stays removed"
    );
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let customer = tx
        .upsert_customer("discord", "222", Some("Lee"), 10)
        .await
        .unwrap();
    let conv_id = tx
        .create_conversation(&conversation("discord", "dm-9", customer.id, 10))
        .await
        .unwrap();
    let ticket = tx
        .create_ticket(&NewTicket {
            conversation_id: conv_id,
            customer_id: customer.id,
            channel: "discord".into(),
            subject: "help".into(),
            reason: "asked".into(),
            intents: vec![],
            created_at: 11,
        })
        .await
        .unwrap();
    // Cards: one per ticket and platform, found again by card or thread.
    assert_eq!(tx.card(ticket.id, "discord").await.unwrap(), None);
    let card = CardRef {
        card: "500".into(),
        thread: "501".into(),
    };
    tx.set_card(ticket.id, "discord", &card).await.unwrap();
    assert_eq!(tx.card(ticket.id, "discord").await.unwrap(), Some(card));
    assert_eq!(
        tx.ticket_by_card("discord", "501").await.unwrap(),
        Some(ticket.id)
    );
    assert_eq!(
        tx.ticket_by_card("discord", "500").await.unwrap(),
        Some(ticket.id)
    );
    assert_eq!(tx.ticket_by_card("slack", "501").await.unwrap(), None);

    // Desk rows keep their own order: a customer row waiting for a retry holds back only
    // customer rows, and a desk row only desk rows.
    let l1 = tx
        .append_line(&line(conv_id, Author::Bot, "hi", 12))
        .await
        .unwrap();
    let c1 = tx
        .enqueue(&outbox(conv_id, l1.id, "to customer 1", 12))
        .await
        .unwrap();
    let c2 = tx
        .enqueue(&outbox(conv_id, l1.id, "to customer 2", 12))
        .await
        .unwrap();
    let desk = |text: &str| NewOutbox {
        lane: Lane::Desk,
        channel: "discord".into(),
        recipient: ticket.id.to_string(),
        ticket_id: Some(ticket.id),
        event: Some(DeskEvent::Claimed {
            agent: "sam".into(),
        }),
        ..outbox(conv_id, l1.id, text, 12)
    };
    let d1 = tx.enqueue(&desk("desk 1")).await.unwrap();
    let d2 = tx.enqueue(&desk("desk 2")).await.unwrap();
    let due = tx.due_outbox(20, 10).await.unwrap();
    assert_eq!(ids(&due, |o| o.id), vec![c1, d1], "the head of each lane");
    let head = &due[1];
    assert_eq!(
        (head.lane, head.ticket_id, head.event.clone()),
        (
            Lane::Desk,
            Some(ticket.id),
            Some(DeskEvent::Claimed {
                agent: "sam".into()
            })
        )
    );
    tx.mark_retry(c1, 1, 1_000, "503").await.unwrap();
    assert_eq!(
        ids(&tx.due_outbox(20, 10).await.unwrap(), |o| o.id),
        vec![d1]
    );
    tx.mark_delivered(d1, 21).await.unwrap();
    assert_eq!(
        ids(&tx.due_outbox(22, 10).await.unwrap(), |o| o.id),
        vec![d2]
    );
    assert_eq!(tx.next_outbox_due().await.unwrap(), Some(12));
    let _ = c2;

    // Agents' lines go through the inbox; cursors give the newest event per conversation key.
    // (A channel of its own: the story above stored events for "discord" too.)
    let mut agent_line = inbound("chat", "900", "501", "!claim", 30);
    agent_line.sender = Sender::Agent;
    let Recorded::New(id) = tx.record_inbound(&agent_line).await.unwrap() else {
        panic!("new event")
    };
    assert_eq!(
        tx.inbox_item(id).await.unwrap().unwrap().inbound.sender,
        Sender::Agent
    );
    tx.record_inbound(&inbound("chat", "901", "dm-9", "a", 31))
        .await
        .unwrap();
    tx.record_inbound(&inbound("chat", "905", "dm-9", "b", 32))
        .await
        .unwrap();
    tx.record_inbound(&inbound("web", "w1", "dm-9", "c", 33))
        .await
        .unwrap();
    let cursors = tx.inbox_cursors("chat", 0).await.unwrap();
    let got: Vec<(String, String, Sender)> = cursors
        .iter()
        .map(|c| {
            (
                c.conversation_key.clone(),
                c.last_external_id.clone(),
                c.sender,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("501".to_string(), "900".to_string(), Sender::Agent),
            ("dm-9".to_string(), "905".to_string(), Sender::Customer),
        ]
    );
    assert_eq!(cursors[1].reply_to, "reply:dm-9");
    assert_eq!(
        tx.inbox_cursors("chat", 32).await.unwrap().len(),
        1,
        "only recent keys"
    );
    tx.commit().await.unwrap();
}

/// Many writers at once. The same event recorded by all: exactly one records it, the others get
/// its id.
async fn concurrent_writers(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let event = inbound("slack", "ev-race", "C9", &format!("copy {i}"), 90_000 + i);
                let recorded = tx.record_inbound(&event).await.expect("record");
                tx.commit().await.expect("commit");
                recorded
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let new: Vec<i64> = outcomes
        .iter()
        .filter_map(|r| {
            if let Recorded::New(id) = r {
                Some(*id)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        new.len(),
        1,
        "exactly one writer records the event: {outcomes:?}"
    );
    assert!(outcomes
        .iter()
        .all(|r| matches!(r, Recorded::New(id) | Recorded::Duplicate(id) if *id == new[0])));

    // Writers that read first and write later (as the engine does) must all get through: on
    // SQLite a deferred transaction would fail with "database is locked" when another writer
    // committed between its read and its write, which is why `begin` takes the lock at once.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await?;
                let before = tx.agents().await?.len();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                tx.create_agent(&format!("racer-{i}"), &format!("hash-racer-{i}"), 1)
                    .await?;
                tx.commit().await?;
                Ok::<_, StoreError>(before)
            })
        })
        .collect();
    for task in tasks {
        task.await
            .unwrap()
            .expect("a read-then-write transaction commits");
    }
    let mut tx = store.read().await.unwrap();
    let racers = tx
        .agents()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.name.starts_with("racer-"))
        .count();
    assert_eq!(racers, 8);
}

/// What handling a customer's message reads and writes in few statements: a batch of inbound
/// events stored at once, the customer with their conversation and its customer lines read
/// together, and a customer's line stored with its outcome. Times are far from the main story's,
/// so its report windows see none of this.
/// One key's turn context.
async fn turn_context(
    tx: &mut dyn Tx,
    channel: &str,
    customer_key: &str,
    conversation_key: &str,
) -> TurnContext {
    let key = TurnKey {
        channel,
        customer_key,
        conversation_key,
    };
    let mut contexts = tx.turn_contexts(&[key]).await.unwrap();
    assert_eq!(contexts.len(), 1);
    contexts.pop().unwrap()
}

async fn turn_story(store: &dyn Store) {
    const T: i64 = 5_000_000_000_000;
    let mut tx = store.begin().await.unwrap();
    // One event stored earlier, not handled.
    let earlier = match tx
        .record_inbound(&inbound("turn", "e-0", "k", "hi", T))
        .await
        .unwrap()
    {
        Recorded::New(id) => id,
        other => panic!("{other:?}"),
    };
    // 40 events: more than one multi-row statement holds, a repeat of the earlier event, and
    // the same event twice within the batch.
    let mut batch: Vec<Inbound> = (1..=38)
        .map(|i| {
            inbound(
                "turn",
                &format!("e-{i}"),
                &format!("k{}", i % 3),
                "q",
                T + i,
            )
        })
        .collect();
    batch.insert(5, inbound("turn", "e-0", "k", "hi", T));
    batch.push(inbound("turn", "e-7", "k1", "q", T + 7));
    let refs: Vec<&Inbound> = batch.iter().collect();
    let recorded = tx.record_handled_inbound_all(&refs, T + 100).await.unwrap();
    assert_eq!(recorded.len(), 40);
    assert_eq!(recorded[5], Recorded::Duplicate(earlier));
    let new: Vec<i64> = recorded
        .iter()
        .filter_map(|r| match r {
            Recorded::New(id) => Some(*id),
            Recorded::Duplicate(_) => None,
        })
        .collect();
    assert_eq!(new.len(), 38, "{recorded:?}");
    assert!(
        new.windows(2).all(|w| w[0] < w[1]),
        "ids follow the batch's order: {new:?}"
    );
    let Recorded::New(seventh) = recorded[7] else {
        panic!("{recorded:?}")
    };
    assert_eq!(batch[7].external_id, "e-7");
    assert_eq!(recorded[39], Recorded::Duplicate(seventh));
    let stored = tx.inbox_item(seventh).await.unwrap().unwrap();
    assert_eq!(stored.inbound, batch[7]);
    assert_eq!(stored.handled_at, Some(T + 100));
    // Stored handled: only the earlier event waits for the sweep.
    let unhandled = tx.unhandled_inbound(earlier - 1, 100).await.unwrap();
    assert_eq!(ids(&unhandled, |i| i.id), vec![earlier]);

    // Nobody yet.
    let context = turn_context(tx.as_mut(), "turn", "ana", "chat-ana").await;
    assert_eq!(context, Default::default());
    // A customer, no conversation.
    let ana = tx
        .upsert_customer("turn", "ana", Some("Ana"), T)
        .await
        .unwrap();
    let context = turn_context(tx.as_mut(), "turn", "ana", "chat-ana").await;
    assert_eq!(context.customer.as_ref(), Some(&ana));
    assert_eq!(context.conversation, None);
    assert!(context.customer_lines.is_empty());
    // An older conversation and the newest, with lines of every kind.
    let mut old = conversation("turn", "chat-ana", ana.id, T);
    old.id = tx.create_conversation(&old).await.unwrap();
    tx.append_line(&line(old.id, Author::Customer, "old question", T))
        .await
        .unwrap();
    let mut newest = conversation("turn", "chat-ana", ana.id, T + 1);
    newest.state = ConversationState::Escalated;
    newest.disclosed = true;
    newest.id = tx.create_conversation(&newest).await.unwrap();
    let mut asked = line(newest.id, Author::Customer, "where is my order", T + 2);
    asked.outcome = Some("not_understood".into());
    let asked = tx.append_line(&asked).await.unwrap();
    for (author, text) in [
        (Author::Bot, "Sorry?"),
        (Author::Customer, "my ORDER"),
        (Author::Note, "vip"),
        (Author::Agent, "Looking"),
        (Author::Customer, "thanks"),
    ] {
        tx.append_line(&line(newest.id, author, text, T + 3))
            .await
            .unwrap();
    }
    // Another customer's conversation on the same channel changes nothing.
    let mut other = conversation("turn", "chat-bo", ana.id, T + 4);
    other.id = tx.create_conversation(&other).await.unwrap();
    tx.append_line(&line(other.id, Author::Customer, "not ana", T + 4))
        .await
        .unwrap();
    let context = turn_context(tx.as_mut(), "turn", "ana", "chat-ana").await;
    assert_eq!(context.customer, Some(ana.clone()));
    assert_eq!(context.conversation, Some(newest.clone()));
    assert_eq!(
        context.customer_lines,
        vec!["where is my order", "my ORDER", "thanks"]
    );
    // The conversation is found by its key, whoever the customer key names.
    let context = turn_context(tx.as_mut(), "turn", "nobody", "chat-ana").await;
    assert_eq!(context.customer, None);
    assert_eq!(context.conversation, Some(newest.clone()));
    assert_eq!(context.customer_lines.len(), 3);

    // Several keys in one read, answered in their order; three keys are padded to four.
    let keys = [
        ("ana", "chat-ana"),
        ("nobody", "chat-bo"),
        ("ana", "chat-none"),
    ];
    let keys: Vec<TurnKey> = keys
        .iter()
        .map(|(customer, conversation)| TurnKey {
            channel: "turn",
            customer_key: customer,
            conversation_key: conversation,
        })
        .collect();
    let contexts = tx.turn_contexts(&keys).await.unwrap();
    assert_eq!(contexts.len(), 3);
    assert_eq!(
        contexts[0],
        turn_context(tx.as_mut(), "turn", "ana", "chat-ana").await
    );
    assert_eq!(contexts[1].customer, None);
    assert_eq!(contexts[1].conversation, Some(other.clone()));
    assert_eq!(contexts[1].customer_lines, vec!["not ana"]);
    assert_eq!(contexts[2].customer, Some(ana.clone()));
    assert_eq!(contexts[2].conversation, None);
    assert!(contexts[2].customer_lines.is_empty());
    assert!(tx.turn_contexts(&[]).await.unwrap().is_empty());

    // The outcome written with the line is what the report counts.
    assert_eq!(
        tx.outcome_counts(T, T + 10).await.unwrap(),
        vec![("not_understood".to_string(), 1)]
    );
    let lines = tx.conversation_lines(newest.id, 0, false).await.unwrap();
    assert_eq!(lines[0].id, asked.id);
    tx.commit().await.unwrap();

    // What a chat page polls for, read outside a transaction: the same as inside one.
    let mut tx = store.read().await.unwrap();
    let all = tx.lines_for_key("turn", "chat-ana", 0).await.unwrap();
    let after = tx
        .lines_for_key("turn", "chat-ana", asked.id)
        .await
        .unwrap();
    drop(tx);
    assert_eq!(
        all.len(),
        6,
        "both conversations, without the note: {all:?}"
    );
    assert_eq!(after.len(), 4);
    let sessions = store.web_sessions();
    assert_eq!(
        sessions.chat_lines("turn", "chat-ana", 0).await.unwrap(),
        all
    );
    assert_eq!(
        sessions
            .chat_lines("turn", "chat-ana", asked.id)
            .await
            .unwrap(),
        after
    );
    assert_eq!(
        sessions.chat_lines("web", "chat-ana", 0).await.unwrap(),
        vec![]
    );
    // Several chats in one read, each from its own line: one list per chat, in the order asked,
    // the same chat twice included; a chat of another channel or with nothing new reads empty.
    let others = tx_lines(store, "turn", "chat-bo").await;
    assert!(!others.is_empty());
    let newest = all.last().unwrap().id;
    assert_eq!(
        sessions
            .chats_lines(
                "turn",
                &[
                    ("chat-ana", asked.id),
                    ("chat-bo", 0),
                    ("nobody", 0),
                    ("chat-ana", 0),
                    ("chat-ana", newest),
                ]
            )
            .await
            .unwrap(),
        vec![after.clone(), others, vec![], all.clone(), vec![]]
    );
    assert!(sessions.chats_lines("turn", &[]).await.unwrap().is_empty());
    // More chats than one statement takes.
    let many: Vec<(&str, i64)> = (0..70)
        .map(|i| ("chat-ana", i64::from(i % 2) * asked.id))
        .collect();
    let read = sessions.chats_lines("turn", &many).await.unwrap();
    assert_eq!(read.len(), 70);
    assert!(read.iter().enumerate().all(|(i, lines)| *lines
        == if i % 2 == 0 {
            all.clone()
        } else {
            after.clone()
        }));

    // What a poll reads in one statement: its session, the session's customer, and the lines of
    // the chat keyed by the customer's key after the poll's line id.
    let mut tx = store.begin().await.unwrap();
    let visitor = tx
        .upsert_customer("turn", "chat-ana", Some("Ana"), T)
        .await
        .unwrap();
    let polled_session = WebSession {
        id: "sess-poll".into(),
        token_hash: "poll-hash".into(),
        customer_id: visitor.id,
        created_at: T,
    };
    tx.create_web_session(&polled_session).await.unwrap();
    tx.commit().await.unwrap();
    let polled = sessions
        .web_sessions_with_lines(
            "turn",
            &[
                ("sess-poll", asked.id),
                ("nobody", 0),
                ("sess-poll", newest),
                ("sess-poll", 0),
            ],
        )
        .await
        .unwrap();
    let customer = Some(SessionCustomer {
        key: "chat-ana".into(),
        name: Some("Ana".into()),
    });
    assert_eq!(
        polled,
        vec![
            Some((
                polled_session.clone(),
                customer.clone(),
                Some(after.clone())
            )),
            None,
            Some((polled_session.clone(), customer.clone(), Some(vec![]))),
            Some((polled_session.clone(), customer.clone(), Some(all.clone()))),
        ]
    );
    assert_eq!(
        sessions
            .web_sessions_with_lines("web", &[("sess-poll", 0)])
            .await
            .unwrap(),
        vec![Some((polled_session.clone(), customer, Some(vec![])))],
        "another channel's chat is not this session's"
    );
    let many: Vec<(&str, i64)> = (0..70)
        .map(|i| ("sess-poll", i64::from(i % 2) * asked.id))
        .collect();
    let read = sessions
        .web_sessions_with_lines("turn", &many)
        .await
        .unwrap();
    assert_eq!(read.len(), 70);
    assert!(read
        .iter()
        .enumerate()
        .all(|(i, poll)| poll.as_ref().and_then(|p| p.2.clone())
            == Some(if i % 2 == 0 {
                all.clone()
            } else {
                after.clone()
            })));
}

async fn tx_lines(store: &dyn Store, channel: &str, key: &str) -> Vec<TranscriptLine> {
    let mut tx = store.read().await.unwrap();
    tx.lines_for_key(channel, key, 0).await.unwrap()
}

/// Conversations and lines written in a transaction (held back and written together on SQLite)
/// are seen by its next statement and by everyone after the commit, with the ids they were given;
/// a rolled-back transaction leaves nothing; an id is never given again, even after the newest
/// rows are erased.
async fn written_together_story(store: &dyn Store) {
    const T: i64 = 9_000_000;
    let mut tx = store.begin().await.unwrap();
    let eve = tx.upsert_customer("wb", "eve", None, T).await.unwrap();
    // Several customers in one statement: the same rows as upserting them one by one leaves.
    let many = tx
        .upsert_customers(
            "wb",
            &[
                ("eve", Some("Eve"), T + 1),
                ("fay", None, T + 2),
                ("gus", Some("Gus"), T + 3),
                ("fay", Some("Fay"), T + 4),
                ("gus", None, T + 5),
            ],
        )
        .await
        .unwrap();
    assert_eq!(many[0].id, eve.id, "an existing customer is found");
    assert_eq!(
        (many[0].display_name.as_deref(), many[0].created_at),
        (Some("Eve"), T),
        "a name given updates the stored one; the first time stays"
    );
    assert_eq!(many[1], many[3], "an id given twice is one customer");
    assert_eq!(many[2], many[4]);
    assert_eq!(
        (many[1].display_name.as_deref(), many[1].created_at),
        (Some("Fay"), T + 2),
        "created at its first time, with the last name given"
    );
    assert_eq!(
        many[2].display_name.as_deref(),
        Some("Gus"),
        "no name keeps the one given"
    );
    assert!(many[1].id != eve.id && many[2].id != eve.id && many[1].id != many[2].id);
    for c in &many {
        assert_eq!(c.channel, "wb");
        assert_eq!(tx.customer(c.id).await.unwrap().as_ref(), Some(c));
    }
    let mut first = conversation("wb", "chat-eve", eve.id, T);
    first.id = tx.create_conversation(&first).await.unwrap();
    let mut second = conversation("wb", "chat-eve-2", eve.id, T);
    second.id = tx.create_conversation(&second).await.unwrap();
    assert!(second.id > first.id);
    let mut written = Vec::new();
    for (i, conv) in [first.id, second.id, first.id].into_iter().enumerate() {
        let line = line(conv, Author::Customer, &format!("line {i}"), T + i as i64);
        written.push(tx.append_line(&line).await.unwrap());
    }
    assert!(written.windows(2).all(|w| w[0].id < w[1].id), "{written:?}");
    first.state = ConversationState::Escalated;
    first.misses = 2;
    tx.update_conversation(&first).await.unwrap();
    first.updated_at = T + 5;
    tx.update_conversation(&first).await.unwrap();
    second.disclosed = true;
    tx.update_conversation(&second).await.unwrap();
    // The next statement of the transaction sees all of it.
    assert_eq!(
        tx.conversation_lines(first.id, 0, true).await.unwrap(),
        vec![written[0].clone(), written[2].clone()]
    );
    assert_eq!(
        tx.conversation(first.id).await.unwrap(),
        Some(first.clone())
    );
    // Written again after that statement, then committed with nothing in between.
    second.misses = 1;
    tx.update_conversation(&second).await.unwrap();
    let last = tx
        .append_line(&line(second.id, Author::Bot, "last", T + 6))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.conversation(first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        tx.conversation(second.id).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        tx.conversation_lines(second.id, 0, true).await.unwrap(),
        vec![written[1].clone(), last.clone()]
    );
    drop(tx);

    // Rolled back: nothing of it stays.
    let mut tx = store.begin().await.unwrap();
    let mut gone = conversation("wb", "chat-gone", eve.id, T + 7);
    gone.id = tx.create_conversation(&gone).await.unwrap();
    tx.append_line(&line(gone.id, Author::Customer, "gone", T + 7))
        .await
        .unwrap();
    drop(tx);
    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.conversation(gone.id).await.unwrap(), None);
    assert_eq!(
        tx.latest_conversation("wb", "chat-gone").await.unwrap(),
        None
    );
    drop(tx);

    // The customer and everything of theirs erased: new rows still get higher ids, so a chat
    // client's `after` cursor never skips one.
    let mut tx = store.begin().await.unwrap();
    tx.forget_customer(eve.id, T + 8).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let ann = tx.upsert_customer("wb", "ann", None, T + 9).await.unwrap();
    let mut next = conversation("wb", "chat-ann", ann.id, T + 9);
    next.id = tx.create_conversation(&next).await.unwrap();
    let next_line = tx
        .append_line(&line(next.id, Author::Customer, "hello", T + 9))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(next.id > second.id, "{} after {}", next.id, second.id);
    assert!(next_line.id > last.id, "{} after {}", next_line.id, last.id);
    let mut tx = store.read().await.unwrap();
    assert_eq!(
        tx.lines_for_key("wb", "chat-ann", 0).await.unwrap(),
        vec![next_line]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn story_on_sqlite() {
    let dir = temp_dir("story");
    let url = format!("sqlite:{}", dir.join("frontline.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.expect("open sqlite"));
    story(store.as_ref()).await;
    platform_story(store.as_ref()).await;
    turn_story(store.as_ref()).await;
    written_together_story(store.as_ref()).await;
    concurrent_writers(store).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn story_on_sqlite_in_memory() {
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open("sqlite::memory:")
            .await
            .expect("open in memory"),
    );
    story(store.as_ref()).await;
    platform_story(store.as_ref()).await;
    turn_story(store.as_ref()).await;
    written_together_story(store.as_ref()).await;
    concurrent_writers(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn story_on_postgres() {
    let Some(url) = postgres_url("story_on_postgres") else {
        return;
    };
    let store: Arc<dyn Store> =
        Arc::new(PgStore::open_isolated(&url).await.expect("open postgres"));
    story(store.as_ref()).await;
    platform_story(store.as_ref()).await;
    turn_story(store.as_ref()).await;
    written_together_story(store.as_ref()).await;
    concurrent_writers(store).await;
}

#[tokio::test]
async fn postgres_schemas_keep_stores_apart() {
    let Some(url) = postgres_url("postgres_schemas_keep_stores_apart") else {
        return;
    };
    let a = PgStore::open_isolated(&url).await.expect("open a");
    let b = PgStore::open_isolated(&url).await.expect("open b");
    let mut tx = a.begin().await.unwrap();
    tx.create_agent("alice", "hash-a", 1).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = b.begin().await.unwrap();
    assert_eq!(tx.agents().await.unwrap(), vec![], "b has its own schema");
    tx.create_agent("alice", "hash-a", 1)
        .await
        .expect("same name in another schema");
    tx.commit().await.unwrap();

    // Opening a named schema twice (as a restart would) finds the data and the applied migrations.
    let schema = format!("t_reopen_{}_{:08x}", std::process::id(), rand_suffix());
    let first = PgStore::open(&url, Some(&schema))
        .await
        .expect("open named schema");
    let mut tx = first.begin().await.unwrap();
    tx.create_agent("dora", "hash-d", 1).await.unwrap();
    tx.commit().await.unwrap();
    let again = PgStore::open(&url, Some(&schema))
        .await
        .expect("reopen named schema");
    let mut tx = again.read().await.unwrap();
    assert_eq!(tx.agents().await.unwrap().len(), 1);
    assert!(
        PgStore::open(&url, Some("Bad; DROP")).await.is_err(),
        "odd schema names are refused"
    );
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

#[tokio::test]
async fn sqlite_file_keeps_data_across_reopen() {
    let dir = temp_dir("reopen");
    let url = format!("sqlite:{}", dir.join("frontline.db").display());
    {
        let store = SqliteStore::open(&url).await.expect("open");
        let mut tx = store.begin().await.unwrap();
        tx.create_agent("alice", "hash-alice", 1).await.unwrap();
        let Recorded::New(_) = tx
            .record_inbound(&inbound("web", "m1", "s", "hi", 1))
            .await
            .unwrap()
        else {
            panic!("new")
        };
        tx.commit().await.unwrap();
    }
    let store = SqliteStore::open(&url)
        .await
        .expect("reopen applies no migration twice");
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.agents().await.unwrap().len(), 1);
    assert!(matches!(
        tx.record_inbound(&inbound("web", "m1", "s", "hi", 1))
            .await
            .unwrap(),
        Recorded::Duplicate(_)
    ));
    drop(tx);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn sqlite_open_creates_missing_folders() {
    let dir = temp_dir("folders");
    let file = dir.join("nested").join("dir").join("x.db");
    assert!(!dir.exists());
    SqliteStore::open(&format!("sqlite:{}", file.display()))
        .await
        .expect("open creates the folders");
    assert!(file.is_file(), "{} was created", file.display());

    // A folder that cannot be made is named in the error.
    let blocker = dir.join("a-file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    match SqliteStore::open(&format!("sqlite:{}", blocker.join("x.db").display())).await {
        Err(StoreError::Folder { path, .. }) => assert!(path.ends_with("a-file"), "{path}"),
        Err(e) => panic!("expected a folder error, got {e}"),
        Ok(_) => panic!("expected a folder error, got a store"),
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn store_open_picks_the_database_by_url() {
    assert!(matches!(
        frontline::store::open("mysql://x").await,
        Err(StoreError::UnsupportedUrl(_))
    ));
    let store = frontline::store::open("sqlite::memory:")
        .await
        .expect("sqlite url");
    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.agents().await.unwrap(), vec![]);
}
