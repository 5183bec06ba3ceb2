//! Wiring: opens the store, trains the matcher, builds the engine, desk, dispatcher and HTTP
//! router, and runs them until shutdown. The caller hands in the listener, the clock and the
//! shutdown signal, so tests run the whole application on 127.0.0.1:0 with a clock they control.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::channels::lease::{self, Lease, LeaseTimes};
use crate::channels::web::{self, WebChannel, WebState};
use crate::channels::{Adapter, Platforms};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::core::desk::Desk;
use crate::core::engine::Engine;
use crate::core::matcher::{Matcher, MatcherHandle};
use crate::core::services::Services;
use crate::intents::{self, TrainedMatcher};
use crate::outbox::Dispatcher;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The list of `FILE:LINE: problem` lines is the whole message (no separate source, so it
    /// is printed once).
    #[error("invalid intents:\n{0}")]
    Intents(intents::LoadError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("invalid snippet: {0}")]
    Snippets(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<intents::LoadError> for AppError {
    fn from(e: intents::LoadError) -> Self {
        AppError::Intents(e)
    }
}

fn config_metrics_enabled(services: &Services) -> bool {
    services.config.metrics.enabled
}

pub struct App {
    pub services: Arc<Services>,
    pub engine: Engine,
    pub desk: Desk,
    pub dispatcher: Dispatcher,
    adapters: Vec<Arc<dyn Adapter>>,
    /// Who this instance is in the leases on platform connections.
    pub lease_holder: String,
}

impl App {
    /// Opens the configured database (applying migrations), trains the matcher from the
    /// configured intents folder and sets up the platforms the configuration enables.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> Result<Self, AppError> {
        let platforms =
            crate::channels::configured(&config, clock.clone()).map_err(AppError::Config)?;
        config
            .validate(crate::config::Features::of_this_build())
            .map_err(|e| AppError::Config(e.to_string()))?;
        let set =
            intents::load_dir_with(&config.intents.dir, &config.known_vars(), &config.matcher)?;
        // Snippets are checked like intents: a broken one stops the start, naming FILE:LINE.
        crate::core::snippet::load_dir(&config.desk.snippets_dir, &config.known_vars())
            .map_err(|e| AppError::Snippets(e.to_string()))?;
        let store = crate::store::open(&config.database.url).await?;
        let settings = config.matcher.clone();
        let matcher = tokio::task::spawn_blocking(move || TrainedMatcher::build(&set, &settings))
            .await
            .map_err(|e| AppError::Config(format!("training the matcher failed: {e}")))?
            .map_err(|e| AppError::Config(e.to_string()))?;
        Ok(Self::from_parts(
            config,
            store,
            Arc::new(matcher),
            clock,
            platforms,
        ))
    }

    /// Assembles an application from ready parts; the web chat is always added to `platforms`.
    pub fn from_parts(
        config: Config,
        store: Arc<dyn Store>,
        matcher: Arc<dyn Matcher>,
        clock: Arc<dyn Clock>,
        mut platforms: Platforms,
    ) -> Self {
        platforms.channels.push(Arc::new(WebChannel));
        let on_commit = platforms
            .channels
            .iter()
            .filter(|c| c.delivered_on_commit())
            .map(|c| c.name().to_string());
        let services = Arc::new(
            Services::new(store, clock, MatcherHandle::new(matcher), Arc::new(config))
                .with_delivered_on_commit(on_commit),
        );
        if config_metrics_enabled(&services) {
            crate::metrics::recorder();
        }
        Self {
            engine: Engine::new(services.clone()),
            desk: Desk::new(services.clone()),
            dispatcher: Dispatcher::new(services.clone(), &platforms),
            adapters: platforms.adapters,
            services,
            lease_holder: crate::channels::lease::new_holder(),
        }
    }

    /// The web chat's and agent API's routes, those platform adapters mount (webhooks), and the
    /// operators' `/readyz` and (unless it has a listener of its own) `/metrics`.
    pub fn router(&self) -> axum::Router {
        let mut router = web::router(WebState {
            services: self.services.clone(),
            engine: self.engine.clone(),
            desk: self.desk.clone(),
        })
        .merge(crate::ops::readiness(self.services.clone()));
        let metrics = &self.services.config.metrics;
        if metrics.enabled && metrics.bind.is_empty() {
            router = router.merge(crate::ops::metrics(self.services.clone()));
        }
        for adapter in &self.adapters {
            if let Some(routes) = adapter.routes() {
                router = router.merge(routes);
            }
        }
        router
    }

    /// Starts the background workers: outbox delivery, timers and the inbox sweep (which also
    /// handles whatever a crash left unhandled), every platform adapter's connection, and intent
    /// hot reload if configured.
    pub fn spawn_workers(
        &self,
        shutdown: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![tokio::spawn(self.dispatcher.clone().run(shutdown.clone()))];
        let inbox: Arc<dyn crate::core::inbox::Inbox> = Arc::new(self.engine.clone());
        for adapter in &self.adapters {
            let (adapter, inbox, stop) = (adapter.clone(), inbox.clone(), shutdown.clone());
            if adapter.needs_lease() {
                // Several instances may share the database: one of them holds the connection.
                // Leases compare wall-clock times across machines, whatever clock the app uses.
                let lease = Lease {
                    store: self.services.store.clone(),
                    clock: Arc::new(SystemClock),
                    name: lease::lease_name(adapter.name()),
                    holder: self.lease_holder.clone(),
                    times: LeaseTimes::default(),
                };
                tasks.push(tokio::spawn(lease::run_leased(lease, stop, move |stop| {
                    adapter.clone().run(inbox.clone(), stop)
                })));
                continue;
            }
            tasks.push(tokio::spawn(async move {
                let name = adapter.name().to_string();
                if let Err(e) = adapter.run(inbox, stop).await {
                    tracing::error!(platform = %name, error = %e, "platform adapter stopped");
                }
            }));
        }
        let engine = self.engine.clone();
        let poll = Duration::from_millis(self.services.config.outbox.poll_ms.max(10));
        let mut stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            // Retention runs on a stored timer; the first one is planned here.
            if let Err(e) = crate::core::privacy::schedule_retention(engine.services()).await {
                tracing::error!(error = %e, "planning the retention timer failed");
            }
            loop {
                // Each pass runs as its own task, so a panic in one is logged, not the end of
                // sweeps and timers for the life of the process.
                let engine = engine.clone();
                let pass = tokio::spawn(async move {
                    if let Err(e) = engine.handle_unhandled().await {
                        tracing::error!(error = %e, "inbox sweep failed");
                    }
                    if let Err(e) = engine.fire_timers().await {
                        tracing::error!(error = %e, "timers failed");
                    }
                });
                if let Err(e) = pass.await {
                    tracing::error!(error = %e, "inbox sweep or timers panicked");
                }
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => return,
                }
            }
        }));
        let config = &self.services.config;
        if config.intents.watch {
            let reloader = intents::spawn_reloader(
                config.intents.dir.clone(),
                config.matcher.clone(),
                config.known_vars(),
                self.services.matcher.clone(),
                Duration::from_millis(config.intents.poll_ms.max(50)),
            );
            let mut stop = shutdown;
            tasks.push(tokio::spawn(async move {
                let _ = stop.changed().await;
                reloader.abort();
            }));
        }
        tasks
    }

    /// Serves HTTP on `listener` and runs the workers until `shutdown` completes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut workers = self.spawn_workers(stop_rx.clone());
        let metrics = &self.services.config.metrics;
        if metrics.enabled && !metrics.bind.is_empty() {
            let own = TcpListener::bind(&metrics.bind).await?;
            tracing::info!(bind = %metrics.bind, "metrics on a listener of their own");
            let router = crate::ops::metrics(self.services.clone());
            let mut stop = stop_rx;
            workers.push(tokio::spawn(async move {
                let serve = axum::serve(own, router).with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                });
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            }));
        }
        // The client's address feeds the web chat's per-address limits.
        let service = self
            .router()
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let result = axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = stop_tx.send(true);
            })
            .await;
        for worker in workers {
            let _ = worker.await;
        }
        result.map_err(AppError::from)
    }
}
