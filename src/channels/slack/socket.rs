//! Socket Mode client: open a connection with the app-level token, wait for `hello`, hand every
//! envelope on, acknowledge it when the receiver says it is stored, and reconnect when Slack asks
//! (`disconnect`) or the socket drops, with bounded, jittered backoff, until shutdown.
//!
//! The acknowledgement goes out only *after* the envelope is stored ([`Envelope::ack`]): Slack
//! sends an envelope it has no acknowledgement for again (after 3 seconds, or on the next
//! connection), and the inbox deduplicates, so an envelope that could not be stored, or that was
//! in hand when the process died, is delivered again rather than lost. An acknowledgement for an
//! envelope of an earlier connection is not sent: Slack redelivers that one on the new connection.
//! Each (re)connection is reported as [`SocketEvent::Connected`], in order with the envelopes,
//! so the adapter can also read back from history what was sent while no connection was open.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::api::{SlackApi, SlackError};

#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// First wait after a failed or dropped connection; doubles per failure up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How long to wait for the WebSocket handshake, and then for `hello`.
    pub hello_timeout: Duration,
    /// We ping this often when nothing else is said.
    pub ping_interval: Duration,
    /// A connection silent for this long (not even a pong) counts as dropped.
    pub idle_timeout: Duration,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self {
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            hello_timeout: Duration::from_secs(15),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
        }
    }
}

/// One Socket Mode envelope, not yet acknowledged: call [`Envelope::ack`] once it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub envelope_id: String,
    /// `events_api`, `interactive` or `slash_commands`.
    pub kind: String,
    /// For `events_api` an Events API body (see [`super::events::parse_event_body`]); for
    /// `interactive` an interactivity payload ([`super::events::parse_interactive`]).
    pub payload: Value,
    /// Slack's redelivery count (0 on the first delivery).
    pub retry_attempt: u32,
    pub retry_reason: Option<String>,
    ack: Acker,
}

impl Envelope {
    /// Tells Slack the envelope is taken care of, on the connection it came in on.
    pub fn ack(&self) {
        let _ = self
            .ack
            .tx
            .send((self.ack.connection, self.envelope_id.clone()));
    }
}

/// An acknowledgement to send: the connection its envelope came in on, and the envelope's id.
type Ack = (u64, String);

/// Where an envelope's acknowledgement goes: the client's socket task, tagged with the
/// connection the envelope arrived on.
#[derive(Debug, Clone)]
struct Acker {
    connection: u64,
    tx: mpsc::UnboundedSender<Ack>,
}

impl PartialEq for Acker {
    fn eq(&self, other: &Self) -> bool {
        self.connection == other.connection
    }
}

/// What the client reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum SocketEvent {
    /// `hello` received on a new connection; `connection` counts from 1. Anything sent while we
    /// were away must be fetched with history now.
    Connected {
        connection: u64,
    },
    Envelope(Envelope),
}

/// How one connection ended.
enum End {
    Shutdown,
    /// The receiver of our events is gone: nobody to work for.
    ConsumerGone,
    /// Slack sent `disconnect` (it is about to close this connection): reconnect at once.
    Disconnect,
    /// The socket closed, failed or went silent after `hello`.
    Dropped,
}

/// Runs until `shutdown` turns true (or its sender is dropped, or `events` is closed). Returns an
/// error only when Slack refuses the app token for good (a permanent `apps.connections.open`
/// error such as `invalid_auth`); every other failure is retried with backoff.
pub async fn run(
    api: &SlackApi,
    app_token: &str,
    options: SocketOptions,
    events: mpsc::Sender<SocketEvent>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SlackError> {
    let mut failures: u32 = 0;
    let mut connection: u64 = 0;
    let mut asked_wait: Option<Duration> = None;
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel();
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let outcome = connect_once(
            api,
            app_token,
            &options,
            &events,
            (&ack_tx, &mut ack_rx),
            &mut shutdown,
            &mut connection,
        )
        .await;
        match outcome {
            Ok(End::Shutdown) | Ok(End::ConsumerGone) => return Ok(()),
            Ok(End::Disconnect) => {
                tracing::info!("slack socket: disconnect requested, reconnecting");
                failures = 0;
                continue;
            }
            Ok(End::Dropped) => {
                tracing::warn!("slack socket: connection dropped, reconnecting");
                failures = 0;
            }
            Err(e) if e.is_permanent() => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "slack socket: connection failed");
                // A 429 from apps.connections.open says how long to wait; wait at least that.
                asked_wait = e
                    .retry_after_ms()
                    .and_then(|ms| u64::try_from(ms).ok())
                    .map(Duration::from_millis);
            }
        }
        let delay = backoff(failures, &options).max(asked_wait.take().unwrap_or_default());
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// Wait before reconnect attempt `failures` (0-based): `backoff_min` doubled per failure, capped
/// at `backoff_max`, then a random point in its upper half so many bots don't retry in step.
pub fn backoff(failures: u32, options: &SocketOptions) -> Duration {
    let min = options.backoff_min.max(Duration::from_millis(1));
    let base = min
        .saturating_mul(1u32 << failures.min(20))
        .min(options.backoff_max.max(min));
    let half = base / 2;
    half + base.saturating_sub(half).mul_f64(rand::random::<f64>())
}

async fn connect_once(
    api: &SlackApi,
    app_token: &str,
    options: &SocketOptions,
    events: &mpsc::Sender<SocketEvent>,
    (ack_tx, ack_rx): (
        &mpsc::UnboundedSender<Ack>,
        &mut mpsc::UnboundedReceiver<Ack>,
    ),
    shutdown: &mut watch::Receiver<bool>,
    connection: &mut u64,
) -> Result<End, SlackError> {
    let url = api.apps_connections_open(app_token).await?;
    let transport = |message: String| SlackError::Transport {
        method: "socket".into(),
        message,
    };
    let (mut ws, _) = tokio::time::timeout(
        options.hello_timeout,
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    .map_err(|_| transport("websocket handshake timed out".into()))?
    .map_err(|e| transport(format!("websocket handshake failed: {e}")))?;

    // Nothing but `hello` is expected first; anything else before it is ignored.
    let hello_deadline = Instant::now() + options.hello_timeout;
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout_at(hello_deadline, ws.next()) => next,
            _ = shutdown.changed() => {
                let _ = ws.close(None).await;
                return Ok(End::Shutdown);
            }
        };
        match next {
            Err(_) => return Err(transport("no hello from Slack".into())),
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                return Err(transport("socket closed before hello".into()))
            }
            Ok(Some(Ok(Message::Text(text)))) => {
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                match v["type"].as_str() {
                    Some("hello") => break,
                    // Refused before it began: back off rather than loop.
                    Some("disconnect") => return Err(transport("disconnect before hello".into())),
                    _ => {}
                }
            }
            Ok(Some(Ok(_))) => {}
        }
    }
    *connection += 1;
    tracing::info!(connection = *connection, "slack socket: connected");
    if events
        .send(SocketEvent::Connected {
            connection: *connection,
        })
        .await
        .is_err()
    {
        return Ok(End::ConsumerGone);
    }

    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval_at(
        Instant::now() + options.ping_interval,
        options.ping_interval,
    );
    loop {
        let next = tokio::select! {
            next = ws.next() => next,
            Some((on, envelope_id)) = ack_rx.recv() => {
                if on == *connection {
                    let ack = json!({ "envelope_id": envelope_id }).to_string();
                    if ws.send(Message::Text(ack)).await.is_err() {
                        return Ok(End::Dropped);
                    }
                }
                continue;
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > options.idle_timeout {
                    return Ok(End::Dropped);
                }
                if ws.send(Message::Ping(Vec::new())).await.is_err() {
                    return Ok(End::Dropped);
                }
                continue;
            }
            _ = shutdown.changed() => {
                let _ = ws.close(None).await;
                return Ok(End::Shutdown);
            }
        };
        last_heard = Instant::now();
        let text = match next {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(End::Dropped),
            Some(Ok(Message::Text(text))) => text,
            // Pings are answered by tungstenite itself; pongs only prove the link is alive.
            Some(Ok(_)) => continue,
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            tracing::warn!("slack socket: a frame that is not JSON, ignored");
            continue;
        };
        if v["type"].as_str() == Some("disconnect") {
            return Ok(End::Disconnect);
        }
        let Some(envelope_id) = v["envelope_id"].as_str() else {
            continue;
        };
        let envelope = Envelope {
            envelope_id: envelope_id.to_string(),
            kind: v["type"].as_str().unwrap_or_default().to_string(),
            payload: v["payload"].clone(),
            retry_attempt: v["retry_attempt"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            retry_reason: v["retry_reason"].as_str().map(str::to_string),
            ack: Acker {
                connection: *connection,
                tx: ack_tx.clone(),
            },
        };
        if events.send(SocketEvent::Envelope(envelope)).await.is_err() {
            let _ = ws.close(None).await;
            return Ok(End::ConsumerGone);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_bounded_and_jittered() {
        let o = SocketOptions {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            ..SocketOptions::default()
        };
        for _ in 0..50 {
            let first = backoff(0, &o);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = backoff(2, &o);
            assert!(
                third >= Duration::from_millis(200) && third <= Duration::from_millis(400),
                "{third:?}"
            );
            let late = backoff(40, &o);
            assert!(
                late >= Duration::from_millis(2500) && late <= Duration::from_secs(5),
                "{late:?}"
            );
        }
        let draws: std::collections::HashSet<Duration> = (0..20).map(|_| backoff(3, &o)).collect();
        assert!(draws.len() > 1, "no jitter");
    }
}
