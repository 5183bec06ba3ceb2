//! The chat API's reads, in batches: every posted message reads its session, every poll its
//! session with its chat's new lines (one statement), and a poll that waited its chat's lines
//! again; under load many of those arrive together. Reads that arrive while one is running wait
//! for it and then go together in one statement, so a busy chat API costs a few statements
//! instead of several per request (on SQLite each statement is a round trip to the connection's
//! thread). A lone read waits for nobody. A batch that fails
//! is read again one request at a time, so one bad read never fails the others.

use std::sync::Arc;
use std::time::Duration;

use crate::core::batcher::{answer_each, BatchLimits, Batcher, Queued};
use crate::core::message::TranscriptLine;
use crate::core::services::Services;
use crate::store::{Result, SessionCustomer, SessionPoll, WebSession};

/// Reads are small; a bound keeps one statement's result short.
const BATCH_MAX: usize = 64;
const LIMITS: BatchLimits = BatchLimits {
    max: BATCH_MAX,
    wait: Duration::ZERO,
};

/// A session and its customer, as [`crate::store::WebSessionStore::web_sessions_with_customers`]
/// reads them.
pub(super) type SessionRead = Option<(WebSession, Option<SessionCustomer>)>;

/// A session with its customer and its chat's lines, as
/// [`crate::store::WebSessionStore::web_sessions_with_lines`] reads them.
pub(super) type PollRead = Option<SessionPoll>;

/// A chat's lines to read: its key and the line id to read after.
type LinesWanted = (String, i64);

/// A poll's read: its session id and the line id to read after.
type PollWanted = (String, i64);

#[derive(Default)]
pub(super) struct ChatReads {
    sessions: Batcher<String, Result<SessionRead>>,
    polls: Batcher<PollWanted, Result<PollRead>>,
    lines: Batcher<LinesWanted, Result<Vec<TranscriptLine>>>,
}

impl ChatReads {
    /// The session `id` with its customer, or `None` if there is no such session.
    pub(super) async fn session(&self, services: &Arc<Services>, id: &str) -> Result<SessionRead> {
        let read = self
            .sessions
            .submit(id.to_string(), LIMITS, |batch| {
                let services = services.clone();
                async move { read_sessions(&services, batch).await }
            })
            .await;
        match read {
            Some(read) => read,
            // The batch that took it stopped before answering.
            None => sessions(services, &[id]).await.map(first),
        }
    }

    /// The session `id` with its customer and their chat's lines after line `after`, or `None`
    /// if there is no such session.
    pub(super) async fn poll(
        &self,
        services: &Arc<Services>,
        channel: &'static str,
        id: &str,
        after: i64,
    ) -> Result<PollRead> {
        let read = self
            .polls
            .submit((id.to_string(), after), LIMITS, |batch| {
                let services = services.clone();
                async move { read_polls(&services, channel, batch).await }
            })
            .await;
        match read {
            Some(read) => read,
            None => polls(services, channel, &[(id, after)]).await.map(first),
        }
    }

    /// The lines of the web chat `key` after line `after`, notes left out.
    pub(super) async fn lines(
        &self,
        services: &Arc<Services>,
        channel: &'static str,
        key: &str,
        after: i64,
    ) -> Result<Vec<TranscriptLine>> {
        let read = self
            .lines
            .submit((key.to_string(), after), LIMITS, |batch| {
                let services = services.clone();
                async move { read_lines(&services, channel, batch).await }
            })
            .await;
        match read {
            Some(read) => read,
            None => lines(services, channel, &[(key, after)]).await.map(first),
        }
    }
}

async fn sessions(services: &Services, ids: &[&str]) -> Result<Vec<SessionRead>> {
    services
        .store
        .web_sessions()
        .web_sessions_with_customers(ids)
        .await
}

async fn polls(services: &Services, channel: &str, polls: &[(&str, i64)]) -> Result<Vec<PollRead>> {
    services
        .store
        .web_sessions()
        .web_sessions_with_lines(channel, polls)
        .await
}

async fn lines(
    services: &Services,
    channel: &str,
    chats: &[(&str, i64)],
) -> Result<Vec<Vec<TranscriptLine>>> {
    services
        .store
        .web_sessions()
        .chats_lines(channel, chats)
        .await
}

async fn read_sessions(services: &Services, batch: Vec<Queued<String, Result<SessionRead>>>) {
    let ids: Vec<&str> = batch.iter().map(|q| q.item.as_str()).collect();
    let read = sessions(services, &ids).await;
    answer_each(batch, read, |id| async move {
        sessions(services, &[id.as_str()]).await.map(first)
    })
    .await;
}

async fn read_polls(
    services: &Services,
    channel: &str,
    batch: Vec<Queued<PollWanted, Result<PollRead>>>,
) {
    let wanted: Vec<(&str, i64)> = batch
        .iter()
        .map(|q| (q.item.0.as_str(), q.item.1))
        .collect();
    let read = polls(services, channel, &wanted).await;
    answer_each(batch, read, |(id, after)| async move {
        polls(services, channel, &[(id.as_str(), after)])
            .await
            .map(first)
    })
    .await;
}

async fn read_lines(
    services: &Services,
    channel: &str,
    batch: Vec<Queued<LinesWanted, Result<Vec<TranscriptLine>>>>,
) {
    let chats: Vec<(&str, i64)> = batch
        .iter()
        .map(|q| (q.item.0.as_str(), q.item.1))
        .collect();
    let read = lines(services, channel, &chats).await;
    answer_each(batch, read, |(key, after)| async move {
        lines(services, channel, &[(key.as_str(), after)])
            .await
            .map(first)
    })
    .await;
}

fn first<R: Default>(mut results: Vec<R>) -> R {
    if results.is_empty() {
        R::default()
    } else {
        results.swap_remove(0)
    }
}
