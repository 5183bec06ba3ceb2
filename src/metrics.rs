//! Prometheus metrics. Counters and histograms are recorded where things happen (the engine, the
//! dispatcher, the desk) through the `metrics` facade; gauges that describe stored state (the
//! outbox backlog, tickets waiting) are read from the database at each scrape, so every instance
//! sharing a database reports the same values.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::core::ticket::TicketStatus;
use crate::store::{Result, Store};

pub const MESSAGES_RECEIVED: &str = "frontline_messages_received_total";
pub const MESSAGES_SENT: &str = "frontline_messages_sent_total";
pub const BOT_OUTCOMES: &str = "frontline_bot_outcomes_total";
pub const HANDLE_SECONDS: &str = "frontline_handle_seconds";
pub const DELIVERY_SECONDS: &str = "frontline_delivery_seconds";
pub const OUTBOX_PENDING: &str = "frontline_outbox_pending";
pub const OUTBOX_OLDEST_PENDING_SECONDS: &str = "frontline_outbox_oldest_pending_seconds";
pub const DEAD_LETTERS: &str = "frontline_dead_letters_total";
pub const TICKETS_WAITING: &str = "frontline_tickets_waiting";
pub const TIME_TO_CLAIM_SECONDS: &str = "frontline_time_to_claim_seconds";
pub const INBOX_BATCH_SIZE: &str = "frontline_inbox_batch_size";

/// Buckets for the latency histograms, in seconds: from a fast in-process step to a slow
/// platform call.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Buckets for the events committed together by the inbox's group commit.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Buckets for the time to claim a ticket, in seconds: a minute to a day.
const CLAIM_BUCKETS: &[f64] = &[
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
];

/// The process's recorder, installed on first use. One per process: the `metrics` facade is
/// global, so several applications in one process (tests) share their counters.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(TIME_TO_CLAIM_SECONDS.into()),
                CLAIM_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(INBOX_BATCH_SIZE.into()),
                    BATCH_BUCKETS,
                )
            })
            .and_then(|b| b.set_buckets(LATENCY_BUCKETS))
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder was installed first; /metrics stays empty");
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        MESSAGES_RECEIVED,
        "Inbound events stored, by channel (duplicates not counted)."
    );
    describe_counter!(
        MESSAGES_SENT,
        "Messages delivered to customers, by channel."
    );
    describe_counter!(
        BOT_OUTCOMES,
        "What the bot did with customer messages, by outcome."
    );
    describe_histogram!(
        HANDLE_SECONDS,
        Unit::Seconds,
        "Time to handle one stored inbound event (in a batch: the batch's time)."
    );
    describe_histogram!(
        INBOX_BATCH_SIZE,
        "Inbound events recorded and handled in one transaction (group commit)."
    );
    describe_histogram!(
        DELIVERY_SECONDS,
        Unit::Seconds,
        "Time of one delivery attempt to a platform."
    );
    describe_gauge!(OUTBOX_PENDING, "Outbox rows waiting for delivery.");
    describe_gauge!(
        OUTBOX_OLDEST_PENDING_SECONDS,
        Unit::Seconds,
        "Age of the oldest outbox row waiting."
    );
    describe_counter!(DEAD_LETTERS, "Messages given up on for good, by lane.");
    describe_gauge!(TICKETS_WAITING, "Tickets in the queue, not yet claimed.");
    describe_histogram!(
        TIME_TO_CLAIM_SECONDS,
        Unit::Seconds,
        "Time from a ticket opening to its first claim."
    );
}

/// The text a scrape returns: the stored-state gauges read now, then everything recorded.
pub async fn render(store: &dyn Store, now: crate::clock::Millis) -> Result<String> {
    let handle = recorder();
    let mut tx = store.read().await?;
    let (pending, oldest) = tx.outbox_backlog().await?;
    let waiting = tx.list_tickets(&[TicketStatus::Open]).await?.len();
    drop(tx);
    metrics::gauge!(OUTBOX_PENDING).set(pending as f64);
    let age = oldest.map_or(0, |at| (now - at).max(0));
    metrics::gauge!(OUTBOX_OLDEST_PENDING_SECONDS).set(age as f64 / 1000.0);
    metrics::gauge!(TICKETS_WAITING).set(waiting as f64);
    Ok(handle.render())
}
