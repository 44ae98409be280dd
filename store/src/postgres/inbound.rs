//! Inbound texts on PostgreSQL ([`Inbound`]): the gateway's hot path. Ordinary texts are
//! recorded in groups ([`super::inbound_batch`]); a text a group cannot take is recorded here on
//! its own, as pipelined prepared statements on one pooled connection, BEGIN and COMMIT
//! included, in two round trips (three when its decision changes state). What it writes besides
//! the message is shared with SQLite (`crate::inbound`); the pipelining is what the shared
//! transaction interface cannot express.

use std::sync::LazyLock;

use async_trait::async_trait;
use uuid::Uuid;

use super::inbound_batch::{BatchAnswer, InboundRequest};
use super::{PgConn, PostgresStore, map_err, pg_params};
use crate::inbound::{
    CONFIG_VERSION_SQL, INBOUND_EXISTING_SQL, INBOUND_INSERT_SQL, INBOUND_PRACTICE_SQL,
    inbound_event, inbound_message_args, write_decision,
};
use crate::messaging::message_from_row;
use crate::rows::{
    AUDIT_INSERT_SQL, PATIENT_COLUMNS_PG, insert_audit, patient_from_row, practice_from_row,
};
use crate::sql::{Row, Tx};
use crate::*;

/// Routes to the practice's patient on `From` (one in `pending` or `enabled` if there is one,
/// else the most recently created), with how many patients of the practice share the number (the
/// last column). Read without a lock: most texts only add rows (see
/// [`InboundDecision::changes_state`]), and texts of one patient need not wait for each other.
static INBOUND_PATIENT_SQL: LazyLock<String> = LazyLock::new(|| routing_sql("$1", "$2", ""));
/// The same, locking the routed patient, for a decision that changes state: texts of one number
/// that do are decided one at a time. NO KEY UPDATE, not UPDATE: the patient's message rows hold
/// key-share locks on it (foreign key), which FOR UPDATE would wait on across two such
/// transactions: a deadlock.
static INBOUND_PATIENT_LOCKED_SQL: LazyLock<String> =
    LazyLock::new(|| routing_sql("$1", "$2", "FOR NO KEY UPDATE OF p"));

/// The routing statement for the practice number `to` and the patient's number `from` (SQL
/// expressions: parameters, or a batch's columns).
pub(super) fn routing_sql(to: &str, from: &str, lock: &str) -> String {
    // The routed id is found first (LIMIT 1 keeps it a subquery of its own, so inside a batch's
    // LATERAL join it is one index probe per text, not a filter run on every patient), then its
    // row is read by id.
    format!(
        "SELECT {PATIENT_COLUMNS_PG},
                (SELECT count(*) FROM patients s
                 WHERE s.practice_id = p.practice_id AND s.mobile_phone = p.mobile_phone)
         FROM (SELECT q.id FROM patients q JOIN practices pr ON pr.id = q.practice_id
               WHERE pr.sms_number = {to} AND q.mobile_phone = {from}
               ORDER BY q.texting_status IN ('pending', 'enabled') DESC,
                        q.created_at DESC, q.id DESC
               LIMIT 1) routed
         JOIN patients p ON p.id = routed.id
         {lock}"
    )
}

/// The routed patient of `routed` (a row of the routing statement) and the practice's other
/// patients on the number (a family phone), asked for only when the routing row counted any;
/// locked after the routed one, in id order, when `lock`.
async fn patients_on_number(
    c: &deadpool_postgres::Object,
    inbound: &NewInbound,
    practice: Option<&Practice>,
    routed: Option<tokio_postgres::Row>,
    lock: bool,
) -> StoreResult<(Option<Patient>, Vec<Patient>)> {
    let on_number: i64 = routed.as_ref().map_or(0, |row| row.get(row.len() - 1));
    let patient = routed
        .map(|row| patient_from_row(&Row::Pg(row)))
        .transpose()?;
    let sharing = match (&patient, practice) {
        (Some(routed), Some(practice)) if on_number > 1 => {
            let lock = if lock { "FOR NO KEY UPDATE OF p" } else { "" };
            let rows = c
                .query(
                    &format!(
                        "SELECT {PATIENT_COLUMNS_PG} FROM patients p
                         WHERE p.practice_id = $1 AND p.mobile_phone = $2 AND p.id <> $3
                         ORDER BY p.id {lock}"
                    ),
                    &[&practice.id, &inbound.from_number, &routed.id],
                )
                .await
                .map_err(map_err)?;
            rows.into_iter()
                .map(|row| patient_from_row(&Row::Pg(row)))
                .collect::<StoreResult<Vec<_>>>()?
        }
        _ => Vec::new(),
    };
    Ok((patient, sharing))
}

/// The decision's feed rows, all in one statement.
const INBOUND_NOTIFICATIONS_SQL: &str = "INSERT INTO notifications (id, user_id, practice_id,
        patient_id, kind, summary, created_at)
    SELECT n.*, $7 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[])
        AS n (id, user_id, practice_id, patient_id, kind, summary)";

/// A transaction on a pooled connection whose BEGIN and COMMIT travel in a batch with other
/// statements (which tokio-postgres' `Transaction` cannot do). Dropped while open (a cancelled
/// request), the connection is closed rather than returned to the pool, which rolls it back.
pub(super) struct PipelinedTransaction {
    client: Option<deadpool_postgres::Object>,
    open: bool,
}

impl PipelinedTransaction {
    /// A transaction on `client` whose BEGIN the caller sends (with its first statements).
    pub(super) fn begin(client: deadpool_postgres::Object) -> PipelinedTransaction {
        PipelinedTransaction {
            client: Some(client),
            open: true,
        }
    }

    pub(super) fn client(&self) -> &deadpool_postgres::Object {
        self.client.as_ref().expect("the client is held until drop")
    }

    /// Rolls back; a connection that cannot is closed instead.
    pub(super) async fn rollback(mut self) {
        if self.client().batch_execute("ROLLBACK").await.is_ok() {
            self.open = false;
        }
    }

    /// The COMMIT was answered.
    pub(super) fn committed(mut self) {
        self.open = false;
    }
}

impl Drop for PipelinedTransaction {
    fn drop(&mut self) {
        if self.open
            && let Some(client) = self.client.take()
        {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

impl PostgresStore {
    /// The rest of an inbound text once claimed: decide, write, and commit. `locked` when the
    /// routed patient was read with its lock.
    #[allow(clippy::too_many_arguments)]
    async fn decide_and_write(
        &self,
        tx: &PipelinedTransaction,
        audit: &Audit,
        inbound: &NewInbound,
        practice: Option<tokio_postgres::Row>,
        patient: Option<tokio_postgres::Row>,
        locked: bool,
        decide: InboundDecider,
    ) -> StoreResult<InboundOutcome> {
        let c = tx.client();
        let t = Tx::Pg(PgConn::Client(c));
        let message_id = new_id();
        let practice = practice
            .map(|row| practice_from_row(&Row::Pg(row)))
            .transpose()?;
        let (patient, sharing) =
            patients_on_number(c, inbound, practice.as_ref(), patient, locked).await?;
        let throttle = match &inbound.throttle_key {
            Some(key) => crate::throttle::lock_throttle(&t, key).await?,
            None => None,
        };
        let mut context = InboundContext {
            practice,
            patient,
            sharing,
            message_id,
            throttle,
        };
        let mut decision = decide(&context);
        if !locked && decision.changes_state() && context.patient.is_some() {
            // Decided again with the patients on the number locked and read afresh.
            let statement = c
                .prepare_cached(&INBOUND_PATIENT_LOCKED_SQL)
                .await
                .map_err(map_err)?;
            let routed = c
                .query_opt(&statement, &[&inbound.to_number, &inbound.from_number])
                .await
                .map_err(map_err)?;
            let (patient, sharing) =
                patients_on_number(c, inbound, context.practice.as_ref(), routed, true).await?;
            context.patient = patient;
            context.sharing = sharing;
            decision = decide(&context);
        }
        // What an ordinary text does not need, one statement after the other.
        let (routed, enqueued) = write_decision(&t, audit.at, inbound, &context, &decision).await?;
        if decision.notifications.iter().any(|n| n.email.is_some()) {
            t.notify_work().await?;
            for n in &decision.notifications {
                if let Some(email) = &n.email {
                    crate::emails::insert_email(&t, audit.at, n, email).await?;
                }
            }
        }
        // Then the message, its feed rows, the audit row and COMMIT in one batch. Their statements
        // were prepared before the transaction began, so each is sent when first polled, before
        // the COMMIT behind it.
        let feed: Vec<&NewNotification> = decision
            .notifications
            .iter()
            .filter(|n| n.in_feed)
            .collect();
        let ids: Vec<Uuid> = feed.iter().map(|_| new_id()).collect();
        let users: Vec<Uuid> = feed.iter().map(|n| n.user_id).collect();
        let practices: Vec<Uuid> = feed.iter().map(|n| n.practice_id).collect();
        let patients: Vec<Option<Uuid>> = feed.iter().map(|n| n.patient_id).collect();
        let kinds: Vec<&str> = feed.iter().map(|n| n.kind.as_str()).collect();
        let summaries: Vec<&str> = feed.iter().map(|n| n.summary.as_str()).collect();
        let event = inbound_event(&context, routed);
        let message_args = inbound_message_args(&context, routed, inbound, &decision, audit.at);
        let (message, _, _, _) = tokio::try_join!(
            biased;
            async {
                let statement = c.prepare_cached(&INBOUND_INSERT_SQL).await.map_err(map_err)?;
                c.query_one(&statement, &pg_params(&message_args))
                    .await
                    .map_err(map_err)
            },
            async {
                if feed.is_empty() {
                    return Ok(0);
                }
                let statement = c
                    .prepare_cached(INBOUND_NOTIFICATIONS_SQL)
                    .await
                    .map_err(map_err)?;
                c.execute(
                    &statement,
                    &[&ids, &users, &practices, &patients, &kinds, &summaries, &audit.at],
                )
                .await
                .map_err(map_err)
            },
            insert_audit(&t, audit, &event),
            async { c.batch_execute("COMMIT").await.map_err(map_err) },
        )?;
        let message = message_from_row(&Row::Pg(message))?;
        Ok(InboundOutcome::Recorded {
            message: Box::new(message),
            enqueued,
        })
    }
}

#[async_trait]
impl Inbound for PostgresStore {
    async fn config_version(&self) -> StoreResult<i64> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(CONFIG_VERSION_SQL)
            .await
            .map_err(map_err)?;
        let row = client.query_one(&statement, &[]).await.map_err(map_err)?;
        Ok(row.get(0))
    }

    async fn record_inbound_checked(
        &self,
        audit: &Audit,
        inbound: NewInbound,
        config_version: Option<i64>,
        decide: InboundDecider,
    ) -> StoreResult<InboundOutcome> {
        let request = InboundRequest {
            audit: audit.clone(),
            inbound,
            config_version,
            decide,
        };
        // A text with a throttle key changes state (it counts): never one for a batch.
        let request = if request.inbound.throttle_key.is_none() {
            match self.inbound_batches.submit(&self.pool, request).await {
                BatchAnswer::Done(outcome) => {
                    if let Ok(InboundOutcome::Recorded { .. }) = &outcome {
                        self.feed_signaller.signal_soon(&self.pool);
                    }
                    return outcome;
                }
                BatchAnswer::Alone {
                    request,
                    changes_state,
                } => (*request, changes_state),
            }
        } else {
            (request, false)
        };
        let (request, lock_first) = request;
        self.record_alone(audit, request, lock_first).await
    }
}

impl PostgresStore {
    /// One text in a transaction of its own: one that changes state, one from a number several
    /// patients share, or one of a batch that could not be written.
    /// With `lock_first` (the text was decided in a batch from committed state, and that decision
    /// changes state) its patients are locked from the start, and it is decided once, under the
    /// lock.
    async fn record_alone(
        &self,
        audit: &Audit,
        request: InboundRequest,
        lock_first: bool,
    ) -> StoreResult<InboundOutcome> {
        let InboundRequest {
            inbound,
            config_version,
            decide,
            ..
        } = request;
        let routing: &str = if lock_first {
            &INBOUND_PATIENT_LOCKED_SQL
        } else {
            &INBOUND_PATIENT_SQL
        };
        let tx = PipelinedTransaction::begin(self.client().await?);
        // Statements that do not depend on each other's answers are sent together:
        // tokio-postgres pipelines futures polled at once on one client, `biased` polls them (and
        // so sends them) in the order listed, and the server runs them in the order sent. Every
        // statement is prepared (once per connection) before the batch that runs it, so that
        // none waits for its preparation while a later one of the batch goes ahead. An ordinary
        // text takes two round trips: BEGIN, routing, the repeat check and the lock of its
        // patient; then the message as decided, what goes with it, and COMMIT.
        let c = tx.client();
        let (_, _, _, _, _, _, _) = tokio::try_join!(
            biased;
            c.prepare_cached(CONFIG_VERSION_SQL),
            c.prepare_cached(&INBOUND_PRACTICE_SQL),
            c.prepare_cached(INBOUND_EXISTING_SQL),
            c.prepare_cached(routing),
            c.prepare_cached(&INBOUND_INSERT_SQL),
            c.prepare_cached(INBOUND_NOTIFICATIONS_SQL),
            c.prepare_cached(AUDIT_INSERT_SQL),
        )
        .map_err(map_err)?;
        let routed = tokio::try_join!(
            biased;
            c.batch_execute("BEGIN"),
            async {
                let statement = c.prepare_cached(CONFIG_VERSION_SQL).await?;
                c.query_one(&statement, &[]).await
            },
            async {
                let statement = c.prepare_cached(&INBOUND_PRACTICE_SQL).await?;
                c.query_opt(&statement, &[&inbound.to_number]).await
            },
            async {
                let statement = c.prepare_cached(INBOUND_EXISTING_SQL).await?;
                c.query_opt(&statement, &[&inbound.carrier, &inbound.carrier_sid])
                    .await
            },
            async {
                let statement = c.prepare_cached(routing).await?;
                c.query_opt(&statement, &[&inbound.to_number, &inbound.from_number])
                    .await
            },
        );
        let (_, current_version, practice, existing, patient) = match routed {
            Ok(routed) => routed,
            Err(error) => {
                tx.rollback().await;
                return Err(map_err(error));
            }
        };
        let current_version: i64 = current_version.get(0);
        if config_version.is_some_and(|expected| expected != current_version) {
            tx.rollback().await;
            return Err(StoreError::Conflict {
                constraint: CONFIG_CHANGED.into(),
            });
        }
        if let Some(existing) = existing {
            tx.rollback().await;
            return Ok(InboundOutcome::Duplicate {
                message_id: existing.get(0),
            });
        }
        match self
            .decide_and_write(&tx, audit, &inbound, practice, patient, lock_first, decide)
            .await
        {
            Ok(outcome) => {
                tx.committed();
                if let InboundOutcome::Recorded { .. } = &outcome {
                    self.feed_signaller.signal_soon(&self.pool);
                }
                Ok(outcome)
            }
            // A repeat delivered at the same moment was recorded first: this one changes nothing.
            Err(StoreError::Conflict { constraint })
                if constraint == "messages_carrier_carrier_sid_key" =>
            {
                tx.rollback().await;
                let client = self.client().await?;
                let statement = client
                    .prepare_cached(INBOUND_EXISTING_SQL)
                    .await
                    .map_err(map_err)?;
                let existing = client
                    .query_one(&statement, &[&inbound.carrier, &inbound.carrier_sid])
                    .await
                    .map_err(map_err)?;
                Ok(InboundOutcome::Duplicate {
                    message_id: existing.get(0),
                })
            }
            Err(error) => {
                tx.rollback().await;
                Err(error)
            }
        }
    }
}
