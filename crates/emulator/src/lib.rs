//! A local Google RBM (RCS Business Messaging) platform, for building and testing RBM
//! agents without an account at Google.
//!
//! It serves RBM's v1 REST API on Google's own paths, with the service-account token
//! exchange in front of it, and judges every message as Google does (every limit,
//! unknown fields, "one of" groups). Behind the API sit simulated phones: each has a
//! number, RCS or not, a feature set, and a user who reads after a delay, never reads,
//! or replies from a script. What the phones do reaches the agent's webhook in Google's
//! signed Pub/Sub envelope, retried until the webhook answers 200. Each phone has a web
//! page that shows its conversation as a phone would and lets a person reply, and an
//! inspection API shows tests everything that happened.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use emulator::{Emulator, EmulatorConfig, PhoneConfig};
//!
//! let config = EmulatorConfig {
//!     phones: vec![PhoneConfig::rcs("+16135550123")],
//!     accept_any_bearer: true,
//!     ..EmulatorConfig::default()
//! };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let running = Emulator::start(listener, config).await?;
//! println!("RBM API at {}, phones at {}/", running.base_url(), running.base_url());
//! running.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! Routes:
//! - `POST /token`: the OAuth token endpoint for service-account assertions;
//! - `/v1/...`, `/upload/v1/files`: the RBM API (see [`api`](crate) for the list);
//! - `/` and `/phones/{E164}`: the web pages;
//! - `/emulator/...`: the inspection and control API;
//! - `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: a Twilio-compatible SMS
//!   API, with every phone as an SMS handset (see [`sms`](crate)).

#![warn(missing_docs)]

mod api;
mod auth;
pub mod config;
mod control;
mod delivery;
mod error;
mod files;
mod pages;
pub mod phones;
mod rate;
mod sms;
mod state;
pub mod validate;
pub mod webhook;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::OriginalUri;
use axum::http::Method;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use auth::RBM_SCOPE;
pub use config::{
    Crowd, EmulatorConfig, PhoneConfig, RateLimit, RetryConfig, ScriptStep, ServiceAccount,
    SmsHandset, SmsOutcome, UserAction, UserFile, ALL_FEATURES, GOOGLE_TOKEN_URL,
};
pub use error::{ApiError, NOT_REACHABLE};
pub use state::{ConfigError, SendStats};

use state::Shared;

/// An emulator: its state and background jobs, servable through [`Emulator::router`].
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

impl Emulator {
    /// Checks `config` and sets the emulator up; it serves nothing until its router is
    /// mounted or [`Emulator::start`] runs it. Call it inside a Tokio runtime: the
    /// webhook worker starts here.
    ///
    /// # Errors
    /// When the configuration is unusable (an empty agent id, a phone number not in
    /// E.164, a public key that does not parse, ...), or there is no runtime.
    pub fn new(config: EmulatorConfig) -> Result<Emulator, ConfigError> {
        tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let (shared, inbox) = Shared::new(config)?;
        let stop = shared.shutdown.subscribe();
        tokio::spawn(webhook::run_worker(Arc::downgrade(&shared), inbox, stop));
        Ok(Emulator { shared })
    }

    /// Serves `config` on `listener` until [`RunningEmulator::shutdown`].
    ///
    /// # Errors
    /// As [`Emulator::new`], or when the listener has no local address.
    pub async fn start(
        listener: TcpListener,
        config: EmulatorConfig,
    ) -> Result<RunningEmulator, StartError> {
        let emulator = Emulator::new(config)?;
        let address = listener.local_addr().map_err(StartError::Listener)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = emulator.router();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%address, "the RBM emulator is listening");
        Ok(RunningEmulator {
            address,
            emulator,
            stop: Some(stop),
            server: Some(server),
        })
    }

    /// Every route: the token endpoint, the RBM API, the pages and the control API.
    pub fn router(&self) -> Router {
        let shared = self.shared.clone();
        Router::new()
            .route("/token", post(auth::token))
            .merge(api::router(shared.clone()))
            .merge(control::router())
            .merge(pages::router())
            .merge(sms::router())
            .fallback(no_route)
            .method_not_allowed_fallback(wrong_method)
            .with_state(shared)
    }

    /// What the agent sent, counted.
    pub fn stats(&self) -> SendStats {
        self.shared.world().stats
    }

    /// Adds a phone while running.
    ///
    /// # Errors
    /// When the number is not E.164 or a phone has it already.
    pub fn add_phone(&self, phone: PhoneConfig) -> Result<(), ApiError> {
        self.shared.add_phone(phone)
    }

    /// Points webhook posts at `url` (or nowhere), including those waiting for a retry.
    pub fn set_webhook_url(&self, url: Option<String>) {
        self.shared.world().webhook_url = url;
    }

    /// Points texts from phones at `url` (or nowhere).
    pub fn set_sms_webhook_url(&self, url: Option<String>) {
        self.shared.world().sms.webhook_url = url;
    }

    /// Stops the background jobs: pending deliveries, reads, script steps, expiries
    /// and webhook retries. The router keeps answering.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }
}

/// Why [`Emulator::start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listener cannot report its address.
    #[error("the emulator's listener has no local address: {0}")]
    Listener(io::Error),
}

/// An emulator serving on a socket.
pub struct RunningEmulator {
    address: SocketAddr,
    emulator: Emulator,
    /// Ends the server's graceful shutdown wait.
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<io::Result<()>>>,
}

impl RunningEmulator {
    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://{address}`: the RBM base URL, and the root of the pages.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `http://{address}/token`: the token URL and assertion audience for clients.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base_url())
    }

    /// The emulator, to add phones or change the webhook while it runs.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// Stops the background jobs and the server, waiting for open requests to finish.
    ///
    /// # Errors
    /// When the server failed while running.
    pub async fn shutdown(mut self) -> io::Result<()> {
        self.emulator.shutdown();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(server) => server.await.unwrap_or_else(|e| Err(io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.emulator.shutdown();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn no_route(method: Method, OriginalUri(uri): OriginalUri) -> impl IntoResponse {
    ApiError::not_found(format!(
        "No route for {method} {}; the RBM API lives under /v1 and the control API under \
         /emulator",
        uri.path()
    ))
}

async fn wrong_method(method: Method, OriginalUri(uri): OriginalUri) -> impl IntoResponse {
    let mut error = ApiError::not_found(format!("{} does not take {method}", uri.path()));
    error.code = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    error
}
