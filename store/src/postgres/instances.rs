//! Instances on PostgreSQL: an instance proves it runs by holding a session advisory lock, keyed
//! by its id, on a connection of its own; the server drops the lock the moment that connection
//! ends, which includes the process dying. Another instance that can take the lock (for the
//! length of one transaction) knows the holder is gone and releases its claims in that
//! transaction. See [`crate::instances`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_postgres::NoTls;

use super::PostgresStore;
use crate::instances::{Instances, LOCK_NAMESPACE, ReleasedClaims, lock_key};
use crate::sql::Db;
use crate::{StoreError, StoreResult};

/// How long announcing waits for the lock before start-up gives up.
const ANNOUNCE_WAIT: Duration = Duration::from_secs(10);

/// Starts the task that holds the lock `key` on its own connection, reconnecting whenever the
/// connection is lost, until the returned receiver (and every clone) is dropped. The receiver
/// says whether the lock is held now.
pub(crate) fn hold_lock(config: tokio_postgres::Config, key: i32) -> watch::Receiver<bool> {
    let (held, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(100);
        while !held.is_closed() {
            match hold_once(&config, key, &held).await {
                Ok(()) => delay = Duration::from_millis(100),
                Err(error) => {
                    tracing::warn!(%error, "the instance lock's connection was lost; reconnecting");
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
            held.send_replace(false);
            tokio::time::sleep(delay).await;
        }
    });
    rx
}

/// One connection's life: take the lock, report it held, and wait until the connection ends or
/// nobody needs the lock any more.
async fn hold_once(
    config: &tokio_postgres::Config,
    key: i32,
    held: &watch::Sender<bool>,
) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    let mut driver = tokio::spawn(connection);
    // Waits while another instance checks this one (it holds the key for one transaction).
    client
        .execute("SELECT pg_advisory_lock($1, $2)", &[&LOCK_NAMESPACE, &key])
        .await?;
    held.send_replace(true);
    tokio::select! {
        ended = &mut driver => match ended {
            Ok(result) => result,
            Err(_) => Ok(()),
        },
        _ = held.closed() => {
            driver.abort();
            Ok(())
        }
    }
}

#[async_trait]
impl Instances for PostgresStore {
    fn instance_id(&self) -> &str {
        &self.instance_id
    }

    async fn announce_instance(&self) -> StoreResult<()> {
        let key = lock_key(&self.instance_id)
            .ok_or_else(|| StoreError::Unexpected("an instance id without a lock key".into()))?;
        let mut held = self
            .instance_lock
            .get_or_init(|| hold_lock(self.config.clone(), key))
            .clone();
        tokio::time::timeout(ANNOUNCE_WAIT, held.wait_for(|held| *held))
            .await
            .map_err(|_| StoreError::Unavailable("cannot take the instance lock".into()))?
            .map_err(|_| StoreError::Unexpected("the instance lock task ended".into()))?;
        Ok(())
    }

    fn instance_alive(&self) -> bool {
        self.instance_lock.get().is_some_and(|held| *held.borrow())
    }

    async fn release_gone_claims(&self, now: DateTime<Utc>) -> StoreResult<ReleasedClaims> {
        let me = self.instance_id.clone();
        self.transaction(move |tx| {
            Box::pin(async move { crate::instances::release_gone_claims(tx, now, &me, None).await })
        })
        .await
    }
}
