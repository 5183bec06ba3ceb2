//! Missed-message recovery after a (re)connect: for each place the bot follows (a DM or help
//! channel's top level, or a ticket thread) and the last `ts` it stored there, read what came
//! after with `conversations.history` / `conversations.replies` and return the new messages from
//! people, in `ts` order, once each. The adapter hands them to the inbox, which deduplicates
//! against anything that also arrived live (same channel + ts).

use std::collections::HashSet;

use super::api::{SlackApi, SlackError};
use super::events::{compare_ts, incoming, BotIdentity, IncomingMessage};

/// One place to read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub channel: String,
    /// `Some` to read a thread's replies; `None` for the channel's (or DM's) top level.
    pub thread_ts: Option<String>,
    /// The newest `ts` already stored there (exclusive); `None` reads everything Slack returns.
    pub last_seen_ts: Option<String>,
}

#[derive(Debug, Default)]
pub struct Recovered {
    /// New messages from people, oldest first, each once.
    pub messages: Vec<IncomingMessage>,
    /// Places that could not be read; one archived channel must not hide the others.
    pub failures: Vec<(Watch, SlackError)>,
}

pub async fn fetch_missed(api: &SlackApi, watches: &[Watch], own: &BotIdentity) -> Recovered {
    let mut recovered = Recovered::default();
    let mut seen = HashSet::new();
    for watch in watches {
        let oldest = watch.last_seen_ts.as_deref();
        let read = match &watch.thread_ts {
            Some(thread) => api.replies(&watch.channel, thread, oldest).await,
            None => api.history(&watch.channel, oldest).await,
        };
        match read {
            Ok(messages) => {
                for m in messages {
                    if let Ok(m) = incoming(&watch.channel, None, &m, own) {
                        if seen.insert(m.dedup_key()) {
                            recovered.messages.push(m);
                        }
                    }
                }
            }
            Err(e) => recovered.failures.push((watch.clone(), e)),
        }
    }
    recovered.messages.sort_by(|a, b| compare_ts(&a.ts, &b.ts));
    recovered
}
