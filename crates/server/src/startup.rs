//! Building and running the application: store, ingest workers, HTTP server.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::config::Config;
use crate::dispatch::pacing::Rates;
use crate::dispatch::{Dispatcher, Provider};
use crate::http::{self, AppState};
use crate::ingest::{self, ParseContext};
use crate::scoring;
use crate::templates::SharedTemplates;
use store::Store;

/// A built application, bound to its port but not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    writer: tokio::task::JoinHandle<()>,
    applier: tokio::task::JoinHandle<()>,
    processors: Vec<tokio::task::JoinHandle<()>>,
    dispatcher: Option<tokio::task::JoinHandle<()>>,
    scoring: Option<tokio::task::JoinHandle<()>>,
    stop_processor: watch::Sender<bool>,
}

impl Application {
    /// Opens (and migrates) the store, starts the ingest workers and binds the listener.
    ///
    /// # Errors
    /// When the database cannot be opened or the address cannot be bound.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let store = Store::open(&config.database_url).await.with_context(|| {
            format!(
                "opening the database at {}",
                store::redact_url(&config.database_url)
            )
        })?;
        Application::build_with_store(config, store).await
    }

    /// Like [`Application::build`] with a store already open.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn build_with_store(config: Config, store: Store) -> anyhow::Result<Application> {
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}; is another server using it?", config.listen))?;
        let activity = ingest::Activity::new();
        let (ingest, writer) = ingest::spawn_writer(
            store.clone(),
            config.ingest.queue_capacity,
            config.ingest.batch_max,
            activity.clone(),
        );
        let (stop_processor, stop) = watch::channel(false);
        let processed = Arc::new(Notify::new());
        let (applier, applier_task) = ingest::applier::spawn(
            store.clone(),
            config.ingest.queue_capacity,
            config.ingest.batch_max,
            processed.clone(),
        );
        let ctx = ParseContext::full(&config.default_region);
        let tasks = config.ingest.processor_tasks_for(store.backend_name());
        let processors = if config.ingest.processor { tasks } else { 0 };
        let processors: Vec<_> = (0..processors)
            .map(|_| {
                ingest::spawn_processor(
                    store.clone(),
                    ctx.clone(),
                    config.ingest.process_batch,
                    activity.clone(),
                    processed.clone(),
                    stop.clone(),
                )
            })
            .collect();

        let templates = SharedTemplates::load(&store, &config.shop.default_locale)
            .await
            .context("loading the saved message templates")?;
        let scoring = (config.scoring.every_secs > 0).then(|| {
            let every = std::time::Duration::from_secs(config.scoring.every_secs);
            scoring::spawn(
                store.clone(),
                every,
                config.scoring.fit_sample,
                stop.clone(),
            )
        });
        let config = Arc::new(config);
        let started = start_dispatcher(&store, &templates, &config, processed, stop)?;
        let (dispatcher, rates) = started.unzip();
        let state = AppState {
            store,
            config,
            ingest,
            applier,
            templates,
            rates: rates.unwrap_or_default(),
            logins: http::auth::LoginLimiter::default(),
        };
        Ok(Application {
            listener,
            state,
            writer,
            applier: applier_task,
            processors,
            dispatcher,
            scoring,
            stop_processor,
        })
    }

    /// The port bound (useful with `listen = "127.0.0.1:0"`).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Serves until `shutdown` completes, then stops taking requests, lets the writer
    /// commit what it was handed and the processor finish its batch.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            state,
            writer,
            applier,
            processors,
            dispatcher,
            scoring,
            stop_processor,
        } = self;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, database = state.store.backend_name(), "tidings is serving");
        let router = http::router(state);
        // The client's address feeds the per-address login rate limit.
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")?;

        // The router (and with it every ingest handle) is gone: the writer drains and ends.
        writer.await.context("waiting for the ingest writer")?;
        applier.await.context("waiting for the API applier")?;
        let _ = stop_processor.send(true);
        for processor in processors {
            processor
                .await
                .context("waiting for the ingest processor")?;
        }
        if let Some(dispatcher) = dispatcher {
            dispatcher.await.context("waiting for the dispatcher")?;
        }
        if let Some(scoring) = scoring {
            scoring.await.context("waiting for customer scoring")?;
        }
        tracing::info!("tidings stopped");
        Ok(())
    }
}

/// Starts the dispatcher when it is enabled and a provider is configured; its task and
/// the rates its channels send at.
fn start_dispatcher(
    store: &Store,
    templates: &SharedTemplates,
    config: &Arc<Config>,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<(tokio::task::JoinHandle<()>, Rates)>> {
    if !config.dispatch.enabled {
        return Ok(None);
    }
    let rcs = Provider::from_config(config)?;
    let dispatcher = Dispatcher::new(store.clone(), templates.clone(), rcs, config.clone())?;
    if !dispatcher.has_channels() {
        tracing::info!(
            "no provider is configured (rbm.agent_id and rbm.service_account_file, or \
             maap.base_url and maap.bot_id): messages wait in the outbox"
        );
        return Ok(None);
    }
    let rates = dispatcher.rates();
    Ok(Some((dispatcher.spawn(wake, stop), rates)))
}

/// Completes on ctrl-c or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled, so a signal that arrives while the server is still
/// starting is not lost (and does not kill the process outright). Call it inside the
/// Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    #[cfg(unix)]
    let interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    async move {
        #[cfg(unix)]
        tokio::select! {
            () = wait_for(terminate, "SIGTERM") => {}
            () = wait_for(interrupt, "ctrl-c") => {}
        }
        #[cfg(not(unix))]
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error.message = %error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutdown requested");
    }
}

#[cfg(unix)]
async fn wait_for(signal: std::io::Result<tokio::signal::unix::Signal>, name: &str) {
    match signal {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(error) => {
            tracing::error!(error.message = %error, signal = name, "cannot listen for a signal");
            std::future::pending::<()>().await;
        }
    }
}
