//! Inbound texts on SQLite ([`Inbound`]), over the shared transaction interface: the write
//! transaction holds the database, so a repeat is found before anything is decided, texts are
//! decided one at a time, and no row needs a lock.

use async_trait::async_trait;
use uuid::Uuid;

use super::SqliteStore;
use crate::inbound::{
    CONFIG_VERSION_SQL, INBOUND_EXISTING_SQL, INBOUND_INSERT_SQL, INBOUND_PRACTICE_SQL,
    inbound_event, inbound_message_args, write_decision,
};
use crate::messaging::message_from_row;
use crate::rows::{insert_audit, load_patient, patients_where, practice_from_row};
use crate::sql::{Db, ToArg, Tx};
use crate::*;

#[async_trait]
impl Inbound for SqliteStore {
    async fn config_version(&self) -> StoreResult<i64> {
        self.autocommit(|tx| {
            Box::pin(async move { tx.query_one(CONFIG_VERSION_SQL, &[]).await?.get(0) })
        })
        .await
    }

    async fn record_inbound_checked(
        &self,
        audit: &Audit,
        inbound: NewInbound,
        config_version: Option<i64>,
        decide: InboundDecider,
    ) -> StoreResult<InboundOutcome> {
        let audit = audit.clone();
        // A repeat writes nothing, so committing its (empty) transaction is harmless.
        self.transaction(move |tx| {
            Box::pin(record_inbound(tx, audit, inbound, config_version, decide))
        })
        .await
    }
}

async fn record_inbound(
    tx: &Tx<'_>,
    audit: Audit,
    inbound: NewInbound,
    config_version: Option<i64>,
    decide: InboundDecider,
) -> StoreResult<InboundOutcome> {
    let current_version: i64 = tx.query_one(CONFIG_VERSION_SQL, &[]).await?.get(0)?;
    if config_version.is_some_and(|expected| expected != current_version) {
        return Err(StoreError::Conflict {
            constraint: CONFIG_CHANGED.into(),
        });
    }
    let repeat = [inbound.carrier.arg(), inbound.carrier_sid.arg()];
    if let Some(existing) = tx.query_opt(INBOUND_EXISTING_SQL, &repeat).await? {
        return Ok(InboundOutcome::Duplicate {
            message_id: existing.get(0)?,
        });
    }
    let practice = tx
        .query_opt(&INBOUND_PRACTICE_SQL, &[inbound.to_number.arg()])
        .await?
        .map(|row| practice_from_row(&row))
        .transpose()?;
    let (patient, sharing) = match &practice {
        Some(practice) => route(tx, practice.id, &inbound.from_number).await?,
        None => (None, Vec::new()),
    };
    let throttle = match &inbound.throttle_key {
        Some(key) => crate::throttle::lock_throttle(tx, key).await?,
        None => None,
    };
    let context = InboundContext {
        practice,
        patient,
        sharing,
        message_id: new_id(),
        throttle,
    };
    let decision = decide(&context);
    let (routed, enqueued) = write_decision(tx, audit.at, &inbound, &context, &decision).await?;
    let args = inbound_message_args(&context, routed, &inbound, &decision, audit.at);
    let message = message_from_row(&tx.query_one(&INBOUND_INSERT_SQL, &args).await?)?;
    crate::feed::insert_notifications(tx, audit.at, &decision.notifications).await?;
    insert_audit(tx, &audit, &inbound_event(&context, routed)).await?;
    Ok(InboundOutcome::Recorded {
        message: Box::new(message),
        enqueued,
    })
}

/// The practice's patient on the number (one in `pending` or `enabled` if there is one, else the
/// most recently created) and the practice's other patients on it (a family phone).
async fn route(
    tx: &Tx<'_>,
    practice_id: Uuid,
    number: &str,
) -> StoreResult<(Option<Patient>, Vec<Patient>)> {
    let routed: Option<Uuid> = tx
        .query_opt(
            "SELECT id FROM patients WHERE practice_id = $1 AND mobile_phone = $2
             ORDER BY texting_status IN ('pending', 'enabled') DESC, created_at DESC, id DESC
             LIMIT 1",
            &[practice_id.arg(), number.arg()],
        )
        .await?
        .map(|row| row.get(0))
        .transpose()?;
    let Some(routed) = routed else {
        return Ok((None, Vec::new()));
    };
    let sharing = patients_where(
        tx,
        "WHERE p.practice_id = $1 AND p.mobile_phone = $2 AND p.id <> $3 ORDER BY p.id",
        &[practice_id.arg(), number.arg(), routed.arg()],
    )
    .await?;
    Ok((Some(load_patient(tx, routed).await?), sharing))
}
