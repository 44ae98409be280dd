//! Work signals between gateway instances on one PostgreSQL: every transaction that queues a
//! text or an email or adds a notification sends `NOTIFY gateway_work` (delivered on commit,
//! once per transaction), and each instance keeps one connection listening, so its dispatchers
//! and notification streams wake at once for work another instance committed instead of at
//! their next poll. Losing the listening connection costs only that speed: polling goes on, and
//! the listener reconnects by itself.
//!
//! A transaction that only added feed rows sends the payload `feed`, which wakes the
//! notification streams and not the dispatchers.
//!
//! The same connection listens on `gateway_config`, sent by the triggers of migration 0029 when
//! configuration that inbound texts read changes: each instance drops its cached practice
//! context at once. A reconnect counts as a change, since notifications may have been missed.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio::sync::watch;
use tokio_postgres::{AsyncMessage, NoTls};

use super::map_err;
use crate::StoreResult;

/// The channel name.
pub(crate) const CHANNEL: &str = "gateway_work";
/// The configuration channel (sent by triggers, never by the store's code).
const CONFIG_CHANNEL: &str = "gateway_config";

/// Feed-only signals sent after their commits, at most one per [`FEED_COALESCE`]: a burst of
/// inbound texts costs one `NOTIFY` (outside any transaction) per interval instead of one per
/// text, and other instances' notification streams hear of them that much later at most.
pub(crate) struct FeedSignaller {
    pending: std::sync::Arc<tokio::sync::Notify>,
    task: std::sync::OnceLock<()>,
}

/// How long feed-only signals are gathered before one is sent.
const FEED_COALESCE: Duration = Duration::from_millis(20);

impl FeedSignaller {
    pub(crate) fn new() -> FeedSignaller {
        FeedSignaller {
            pending: std::sync::Arc::new(tokio::sync::Notify::new()),
            task: std::sync::OnceLock::new(),
        }
    }

    /// Asks for a feed signal soon; call after the commit. Starts the sending task on first use.
    pub(crate) fn signal_soon(&self, pool: &deadpool_postgres::Pool) {
        self.task.get_or_init(|| {
            let pending = std::sync::Arc::clone(&self.pending);
            let pool = pool.clone();
            tokio::spawn(async move {
                loop {
                    pending.notified().await;
                    tokio::time::sleep(FEED_COALESCE).await;
                    // Losing one costs only speed: the streams also poll.
                    match pool.get().await {
                        Ok(client) => {
                            if let Err(error) = notify_feed(&client).await {
                                tracing::debug!(%error, "feed signal not sent");
                            }
                        }
                        Err(error) => tracing::debug!(%error, "feed signal not sent"),
                    }
                }
            });
        });
        self.pending.notify_one();
    }
}

/// The listener's signals.
pub(crate) struct Signals {
    pub(crate) work: watch::Receiver<u64>,
    pub(crate) feed: watch::Receiver<u64>,
    pub(crate) config: watch::Receiver<u64>,
}

/// Signals other instances that work was committed; call inside the transaction.
pub(crate) async fn notify_work(client: &impl GenericClient) -> StoreResult<()> {
    client
        .batch_execute(&format!("NOTIFY {CHANNEL}"))
        .await
        .map_err(map_err)
}

/// The payload of a signal for the notification streams only (feed rows, nothing to send).
const FEED_ONLY: &str = "feed";

/// Signals other instances' notification streams, not their dispatchers: a transaction that
/// added feed rows and queued nothing to send (an ordinary inbound text, say) must not wake
/// every dispatcher into an empty claim.
pub(crate) async fn notify_feed(client: &impl GenericClient) -> StoreResult<()> {
    client
        .batch_execute(&format!("NOTIFY {CHANNEL}, '{FEED_ONLY}'"))
        .await
        .map_err(map_err)
}

/// Starts the listening task; the returned receivers change on every signal of their channel.
pub(crate) fn listen(config: tokio_postgres::Config) -> Signals {
    let (tx, rx) = watch::channel(0u64);
    let (feed_tx, feed_rx) = watch::channel(0u64);
    let (config_tx, config_rx) = watch::channel(0u64);
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(200);
        let senders = [tx, feed_tx, config_tx];
        while !senders.iter().all(|s| s.is_closed()) {
            match listen_once(&config, &senders).await {
                Ok(()) => delay = Duration::from_millis(200),
                Err(error) => {
                    tracing::debug!(%error, "work-signal listener lost its connection; reconnecting");
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
            tokio::time::sleep(delay).await;
        }
    });
    Signals {
        work: rx,
        feed: feed_rx,
        config: config_rx,
    }
}

/// One connection's life: LISTEN, then forward every notification until the connection closes
/// or nobody listens any more.
async fn listen_once(
    config: &tokio_postgres::Config,
    [tx, feed_tx, config_tx]: &[watch::Sender<u64>; 3],
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let signals = tx.clone();
    let feed_signals = feed_tx.clone();
    let config_signals = config_tx.clone();
    let driver = tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                message = std::future::poll_fn(|cx| connection.poll_message(cx)) => message,
                _ = signals.closed() => return Ok(()),
            };
            match message {
                Some(Ok(AsyncMessage::Notification(n))) if n.channel() == CONFIG_CHANNEL => {
                    config_signals.send_modify(|n| *n = n.wrapping_add(1));
                }
                Some(Ok(AsyncMessage::Notification(n))) if n.payload() == FEED_ONLY => {
                    feed_signals.send_modify(|n| *n = n.wrapping_add(1));
                }
                Some(Ok(AsyncMessage::Notification(_))) => {
                    signals.send_modify(|n| *n = n.wrapping_add(1));
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {CONFIG_CHANNEL}"))
        .await?;
    // Changes made while no connection listened were not heard: count one.
    config_tx.send_modify(|n| *n = n.wrapping_add(1));
    // The client is held (dropping it would close the connection) until the driver ends.
    let ended = driver.await;
    drop(client);
    ended.unwrap_or(Ok(()))
}
