//! Platform connections held by one instance at a time. Several instances sharing a database
//! all deliver and serve HTTP, but a platform connection (the Discord gateway, a Slack Socket
//! Mode connection) must be open in exactly one of them, or every event would arrive twice and
//! the platform would shuffle sessions between them. A lease row in the database says which
//! instance holds it; [`run_leased`] acquires it, runs the connection while it is renewed, and
//! stops the connection as soon as the lease cannot be kept. When the holder dies, its lease
//! runs out and another instance takes the connection over; the adapter's catch-up on connect
//! (cursors in the inbox) reads whatever was written in between.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::{Clock, Millis};
use crate::store::{Result, Store};

/// How long a lease lasts and how often it is renewed or tried for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimes {
    /// A lease not renewed for this long is free for another instance.
    pub ttl: Duration,
    /// How often the holder renews it; well under `ttl`, so a slow database or one failed
    /// renewal does not lose it.
    pub renew_every: Duration,
    /// How often an instance without the lease tries to take it.
    pub retry_every: Duration,
}

impl Default for LeaseTimes {
    /// A dead holder's connection is taken over within `ttl + retry_every` = 12 s.
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            renew_every: Duration::from_secs(3),
            retry_every: Duration::from_secs(2),
        }
    }
}

/// The lease of platform `platform`'s connection.
pub fn lease_name(platform: &str) -> String {
    format!("platform:{platform}")
}

/// A holder id for this application instance: the process id and a random part, so two
/// instances in one process (tests) or a restarted process never pass for each other.
pub fn new_holder() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}

/// One lease in one store, for one holder. `clock` must be the wall clock in production: other
/// instances compare the stored expiry with their own time.
#[derive(Clone)]
pub struct Lease {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub name: String,
    pub holder: String,
    pub times: LeaseTimes,
}

impl Lease {
    /// Takes or renews the lease; `Some(expiry)` when this holder has it.
    pub async fn acquire(&self) -> Result<Option<Millis>> {
        let now = self.clock.now_ms();
        let expires_at = now + self.times.ttl.as_millis() as Millis;
        let mut tx = self.store.begin().await?;
        let held = tx
            .acquire_lease(&self.name, &self.holder, now, expires_at)
            .await?;
        tx.commit().await?;
        Ok(held.then_some(expires_at))
    }

    /// Gives the lease up, so another instance need not wait for it to expire.
    pub async fn release(&self) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.release_lease(&self.name, &self.holder).await?;
        tx.commit().await
    }
}

/// Aborts a task when dropped, so a connection never outlives the runner that owns its lease.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `connect` (a platform connection, until the signal it is given turns true) only while
/// `lease` is held, until `shutdown` turns true. Without the lease it tries again every
/// `retry_every`; holding it, it renews every `renew_every` and stops the connection when a
/// renewal finds the lease taken, or fails with no time left before it expires. A connection that
/// ends on its own (an error) gives the lease up and is started again after a pause. On shutdown
/// the lease is released.
pub async fn run_leased<F, Fut, E>(
    lease: Lease,
    mut shutdown: watch::Receiver<bool>,
    mut connect: F,
) where
    F: FnMut(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let times = lease.times;
    let mut pause = times.retry_every;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mut expires_at = match lease.acquire().await {
            Ok(Some(expires_at)) => expires_at,
            Ok(None) => {
                tracing::debug!(lease = %lease.name, "held by another instance");
                if wait_or_stop(&mut shutdown, times.retry_every).await {
                    return;
                }
                continue;
            }
            Err(e) => {
                tracing::warn!(lease = %lease.name, error = %e, "could not take the lease");
                if wait_or_stop(&mut shutdown, times.retry_every).await {
                    return;
                }
                continue;
            }
        };
        tracing::info!(lease = %lease.name, holder = %lease.holder, "holding the connection");
        let (stop_tx, stop_rx) = watch::channel(false);
        let started = tokio::time::Instant::now();
        let mut connection = AbortOnDrop(tokio::spawn(connect(stop_rx)));
        let mut renew = tokio::time::interval(times.renew_every);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        renew.tick().await;
        // Why the connection is being stopped: `None` while it runs.
        let ended = loop {
            tokio::select! {
                _ = stopped(&mut shutdown) => break Ended::Shutdown,
                result = &mut connection.0 => {
                    match result {
                        Ok(Ok(())) => tracing::warn!(lease = %lease.name, "the connection ended"),
                        Ok(Err(e)) => tracing::error!(lease = %lease.name, error = %e, "the connection failed"),
                        Err(e) => tracing::error!(lease = %lease.name, error = %e, "the connection panicked"),
                    }
                    break Ended::ByItself;
                }
                _ = renew.tick() => match lease.acquire().await {
                    Ok(Some(next)) => expires_at = next,
                    Ok(None) => {
                        tracing::warn!(lease = %lease.name, "the lease was taken over; disconnecting");
                        break Ended::Lost;
                    }
                    Err(e) => {
                        // Another try at the next tick only if the lease outlives it; otherwise
                        // another instance may already be taking over.
                        let next_try = lease.clock.now_ms() + times.renew_every.as_millis() as Millis;
                        if next_try >= expires_at {
                            tracing::warn!(lease = %lease.name, error = %e, "could not renew the lease; disconnecting");
                            break Ended::Lost;
                        }
                        tracing::warn!(lease = %lease.name, error = %e, "could not renew the lease; trying again");
                    }
                },
            }
        };
        if ended != Ended::ByItself {
            let _ = stop_tx.send(true);
            // A connection that does not stop in time is cut off (dropping the guard aborts it).
            let _ = tokio::time::timeout(times.ttl, &mut connection.0).await;
        }
        drop(connection);
        if ended != Ended::Lost {
            if let Err(e) = lease.release().await {
                tracing::warn!(lease = %lease.name, error = %e, "could not release the lease; it expires on its own");
            }
        }
        match ended {
            Ended::Shutdown => return,
            Ended::Lost => pause = times.retry_every,
            Ended::ByItself => {
                if started.elapsed() > Duration::from_secs(60) {
                    pause = times.retry_every;
                }
                // A connection that keeps failing (a revoked token, say) is retried ever more
                // slowly, up to a minute apart.
                if wait_or_stop(&mut shutdown, pause).await {
                    return;
                }
                pause = (pause * 2).min(Duration::from_secs(60));
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Shutdown,
    Lost,
    ByItself,
}

/// Sleeps `pause`; true if `shutdown` turned true meanwhile.
async fn wait_or_stop(shutdown: &mut watch::Receiver<bool>, pause: Duration) -> bool {
    tokio::select! {
        _ = stopped(shutdown) => true,
        _ = tokio::time::sleep(pause) => false,
    }
}

/// Returns once `shutdown` turns true (or its sender is gone: nobody can start us again).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::sqlite::SqliteStore;
    use tokio::sync::mpsc;

    const NAME: &str = "platform:test";

    fn quick() -> LeaseTimes {
        LeaseTimes {
            ttl: Duration::from_millis(1_000),
            renew_every: Duration::from_millis(50),
            retry_every: Duration::from_millis(50),
        }
    }

    async fn holder(store: &Arc<dyn Store>, now: Millis) -> Option<String> {
        let mut tx = store.read().await.unwrap();
        tx.lease_holder(NAME, now).await.unwrap()
    }

    /// Starts `run_leased` for holder "me" with a connection that reports "up" and "down".
    fn start(
        store: &Arc<dyn Store>,
        clock: &ManualClock,
    ) -> (
        watch::Sender<bool>,
        mpsc::UnboundedReceiver<&'static str>,
        tokio::task::JoinHandle<()>,
    ) {
        let lease = Lease {
            store: store.clone(),
            clock: Arc::new(clock.clone()),
            name: NAME.into(),
            holder: "me".into(),
            times: quick(),
        };
        let (shutdown_tx, shutdown) = watch::channel(false);
        let (events_tx, events) = mpsc::unbounded_channel();
        let runner = tokio::spawn(run_leased(lease, shutdown, move |mut stop| {
            let events = events_tx.clone();
            async move {
                events.send("up").unwrap();
                let _ = stop.wait_for(|s| *s).await;
                events.send("down").unwrap();
                Ok::<(), String>(())
            }
        }));
        (shutdown_tx, events, runner)
    }

    #[tokio::test]
    async fn the_connection_runs_only_while_the_lease_is_held() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
        let clock = ManualClock::new(1_000_000);
        let (shutdown, mut events, runner) = start(&store, &clock);
        assert_eq!(events.recv().await, Some("up"));
        assert_eq!(holder(&store, clock.now_ms()).await.as_deref(), Some("me"));

        // Another instance takes the lease over (as if ours had run out): the connection stops,
        // and the loser does not release what is no longer its lease.
        let later = clock.now_ms() + 60_000;
        let mut tx = store.begin().await.unwrap();
        assert!(tx
            .acquire_lease(NAME, "other", later, later + 60_000)
            .await
            .unwrap());
        tx.commit().await.unwrap();
        assert_eq!(events.recv().await, Some("down"));
        assert_eq!(holder(&store, later).await.as_deref(), Some("other"));

        // Once the other's lease has run out, ours starts again.
        clock.set(later + 60_000);
        assert_eq!(events.recv().await, Some("up"));

        // Shutdown stops the connection and gives the lease up.
        shutdown.send(true).unwrap();
        assert_eq!(events.recv().await, Some("down"));
        runner.await.unwrap();
        assert_eq!(holder(&store, clock.now_ms()).await, None);
    }
}
