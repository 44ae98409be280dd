//! Building and running the application: open and migrate the store, bind the listener, serve
//! HTTP and the background workers until a shutdown signal, then drain in-flight requests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::app::App;
use crate::carrier::Carrier;
use crate::carrier::dev::DevCarrier;
use crate::carrier::twilio::TwilioCarrier;
use crate::clock::{Clock, SystemClock};
use crate::http::{self, AppState};
use crate::settings::{Secret, Settings};
use crate::{telemetry, workers};

pub struct Application {
    listener: TcpListener,
    /// The `METRICS_LISTEN` listener, when `/metrics` is served apart from the API.
    metrics_listener: Option<TcpListener>,
    state: AppState,
}

impl Application {
    /// Opens the store, applies migrations and binds the listen address (port 0 picks a free port).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Application> {
        let store = open_store(&settings).await?;
        // Before anything is claimed: from here on other instances can tell this one runs, and
        // this one releases the claims of instances that are gone (its predecessor's included).
        store
            .announce_instance()
            .await
            .context("cannot announce this instance to the store")?;
        tracing::info!(instance = store.instance_id(), "instance announced");
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("GATEWAY_LISTEN: cannot listen on {}", settings.listen))?;
        let metrics_listener = match settings.metrics_listen {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("METRICS_LISTEN: cannot listen on {address}"))?,
            ),
            None => None,
        };
        let mut settings = settings;
        // Port 0 asks the OS for a free port; a public URL derived from it must name that port.
        if settings.public_base_url.port() == Some(0) {
            let bound = listener
                .local_addr()
                .context("the bound listener has no address")?;
            settings.public_base_url = format!("http://{bound}")
                .parse()
                .context("PUBLIC_BASE_URL from the bound address")?;
        }
        let webhook_token = match &settings.twilio {
            Some(credentials) => credentials.auth_token.clone(),
            None => Secret::new(crate::auth::token::generate()),
        };
        let carrier: Arc<dyn Carrier> = match &settings.twilio {
            Some(credentials) => Arc::new(
                TwilioCarrier::with_timeout(
                    &settings.twilio_api_base,
                    credentials.clone(),
                    settings.twilio_timeout,
                )
                .context("cannot build the Twilio client")?,
            ),
            None => Arc::new(DevCarrier),
        };
        let mailer = crate::mail::from_settings(&settings).map_err(anyhow::Error::msg)?;
        let app = App {
            store,
            clock,
            settings: Arc::new(settings),
            webhook_token,
            carrier,
            mailer,
            outbox_wake: Arc::new(Notify::new()),
            feed_changed: Arc::new(watch::channel(0).0),
            practice_contexts: Arc::default(),
        };
        let state = AppState {
            app,
            metrics: telemetry::metrics_handle(),
        };
        // Every series with known labels exists before its first event, and the store-wide
        // gauges hold the store's values from the first scrape on.
        telemetry::catalogue::register_known_series(telemetry::catalogue::Configured {
            carrier: state.carrier.name(),
            mail_transport: state.mailer.name(),
        });
        crate::services::monitoring::publish(&state).await;
        Ok(Application {
            listener,
            metrics_listener,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where `/metrics` is served when `METRICS_LISTEN` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves HTTP and runs the workers until `shutdown` completes; then stops accepting, lets
    /// in-flight requests finish and waits for each worker to finish its current unit of work.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        forward_work_signals(&self.state, stop_rx.clone());
        let workers = workers::spawn_all(&self.state, stop_rx.clone());
        if let Some(listener) = self.metrics_listener {
            let mut stop = stop_rx;
            let metrics = http::metrics_router(self.state.clone());
            tokio::spawn(async move {
                let served = axum::serve(listener, metrics)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|stopped| *stopped).await;
                    })
                    .await;
                if let Err(error) = served {
                    tracing::error!(%error, "the metrics listener failed");
                }
            });
        }
        let app = http::router(self.state);
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await
        .context("HTTP server failed");
        for worker in workers {
            let _ = worker.await;
        }
        served
    }
}

/// Connects to the configured store and brings its schema up to date.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn store::Store>> {
    let store = store::connect(&settings.store.url())
        .await
        .context("DATABASE_URL: cannot open the store")?;
    store.migrate().await.context("cannot apply migrations")?;
    Ok(store)
}

/// Completes on SIGTERM or Ctrl-C. The handlers are registered when this is called, not when
/// the future is first polled, so a signal that arrives between start-up and serving is not lost
/// (nor does it kill the process before in-flight requests can finish).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {},
                        _ = interrupt.recv() => {},
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            tracing::info!("shutdown signal received; finishing in-flight requests");
        }
    }
    #[cfg(not(unix))]
    {
        async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutdown signal received; finishing in-flight requests");
        }
    }
}

/// Wakes this instance's dispatchers and notification streams when another instance on the same
/// PostgreSQL committed work (see `Store::work_signals`); without it they would notice at their
/// next poll. Ends at shutdown.
fn forward_work_signals(state: &AppState, mut stop: watch::Receiver<bool>) {
    let (Some(mut signals), Some(mut feed)) =
        (state.store.work_signals(), state.store.feed_signals())
    else {
        return;
    };
    let state = state.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = signals.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    state.wake_dispatcher();
                    state.notify_feed();
                }
                changed = feed.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    state.notify_feed();
                }
                _ = stop.changed() => return,
            }
        }
    });
}
