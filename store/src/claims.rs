//! The dispatcher's claim on the outbox ([`Messaging::claim_outbound`]): due rows under a lease,
//! highest priority first, each at its sending number's next free send slot. The slots are kept
//! in the store (`outbox_senders`), so that several gateways share one rate per number.
//!
//! PostgreSQL claimers run side by side: candidate rows are locked `FOR UPDATE SKIP LOCKED` (a
//! row another claimer holds is skipped), and sender rows are locked in sorted order. SQLite's
//! write transaction serialises claims.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::messaging::{CANCELLED_NOTE, OUTBOX_COLUMNS, outbound_from_row, sync_message};
use crate::sql::{ToArg, Tx};
use crate::*;

/// When a due outbox row may no longer go out because its number opted out. As SQL on the outbox alias
/// `o`: the row is not an answer queued with
/// the opt-out (`opt_out_reply`), and either its patient is `opted_out`, or some patient of the
/// sending practice with that mobile number is `opted_out` while none is `pending` or `enabled`
/// (the number opted out; a patient whose texting staff started again is not held back by a
/// relative's old STOP).
const OPTED_OUT_RULE: &str = "(NOT o.opt_out_reply AND (
        EXISTS (SELECT 1 FROM patients p WHERE p.id = o.patient_id AND p.texting_status = 'opted_out')
        OR (EXISTS (SELECT 1 FROM patients p JOIN practices pr ON pr.id = p.practice_id
                    WHERE pr.sms_number = o.from_number AND p.mobile_phone = o.to_number
                      AND p.texting_status = 'opted_out')
            AND NOT EXISTS (SELECT 1 FROM patients p JOIN practices pr ON pr.id = p.practice_id
                            WHERE pr.sms_number = o.from_number AND p.mobile_phone = o.to_number
                              AND p.texting_status IN ('pending', 'enabled')))))";

/// The lease-expired error recorded on a row that is sent again after a lost claim.
const RECOVERED_NOTE: &str =
    "a claim ran out without an answer; sent again (the carrier may have received it twice)";
/// The error recorded on a row whose claim ran out a second time.
const ABANDONED_NOTE: &str =
    "a claim ran out twice without an answer; given up so it is not sent a third time";

/// How many rows of one sender a claim may take: the slots that fit in the horizon.
fn per_sender_cap(request: &ClaimRequest) -> i64 {
    let interval = request
        .sender_interval
        .num_microseconds()
        .unwrap_or(i64::MAX)
        .max(1);
    let horizon = request.horizon.num_microseconds().unwrap_or(0).max(0);
    (horizon.saturating_add(interval - 1) / interval).max(1)
}

/// Claim candidates grouped by sending number, numbers in sorted order (the lock order), each
/// number's rows in the order they were selected (priority order).
fn group_by_sender(candidates: &[(Uuid, String)]) -> Vec<(String, Vec<Uuid>)> {
    let mut groups: std::collections::BTreeMap<&str, Vec<Uuid>> = Default::default();
    for (id, sender) in candidates {
        groups.entry(sender).or_default().push(*id);
    }
    groups
        .into_iter()
        .map(|(sender, ids)| (sender.to_owned(), ids))
        .collect()
}

/// Claimed sends in the order they may go out; highest priority first within one slot time.
fn sort_sends(sends: &mut [ClaimedSend]) {
    sends.sort_by(|a, b| {
        a.send_at
            .cmp(&b.send_at)
            .then(b.outbound.priority.cmp(&a.outbound.priority))
    });
}

/// The rows a claim may take, as a condition on the outbox alias `o` with now as `$1`; repeated
/// on the locked row so that a row another claimer took meanwhile is re-checked and skipped.
const DUE: &str = "((o.state = 'queued' AND o.next_attempt_at <= $1)
                     OR (o.state = 'sending' AND o.claimed_until <= $1))";

pub(crate) async fn claim_outbound(tx: &Tx<'_>, request: ClaimRequest) -> StoreResult<Claim> {
    let now = request.now;
    // A claim that ran out after it had already been recovered once: give up on the row.
    let abandoned: Vec<Uuid> = tx
        .column(
            "UPDATE outbox
             SET state = 'failed', claimed_until = NULL, last_error = $2, updated_at = $1
             WHERE state = 'sending' AND claimed_until <= $1 AND recovered >= 1
             RETURNING id",
            &[now.arg(), ABANDONED_NOTE.arg()],
        )
        .await?;
    for id in &abandoned {
        sync_message(tx, *id, now).await?;
    }

    let horizon_end = now + request.horizon;
    let sql = format!(
        "WITH due AS (
             SELECT o.id, row_number() OVER (
                        PARTITION BY o.from_number
                        ORDER BY o.priority DESC, o.next_attempt_at, o.id) AS rn
             FROM outbox o
             WHERE {DUE}
               AND NOT EXISTS (SELECT 1 FROM outbox_senders s
                               WHERE s.from_number = o.from_number AND s.next_slot_at >= $2)
         )
         SELECT o.id, o.from_number FROM outbox o JOIN due ON due.id = o.id
         WHERE due.rn <= $3 AND {DUE}
         ORDER BY o.priority DESC, o.next_attempt_at, o.id
         LIMIT $4{}",
        tx.pick(" FOR UPDATE OF o SKIP LOCKED", "")
    );
    let (per_sender, limit) = (per_sender_cap(&request), i64::from(request.limit));
    let args = [now.arg(), horizon_end.arg(), per_sender.arg(), limit.arg()];
    let candidates = tx
        .query(&sql, &args)
        .await?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect::<StoreResult<Vec<(Uuid, String)>>>()?;

    let mut claim = Claim {
        sends: Vec::new(),
        abandoned: abandoned.len() as u64,
        cancelled: 0,
    };
    // Sender rows are locked in sorted order so two claimers never deadlock on them.
    for (sender, ids) in group_by_sender(&candidates) {
        claim_from_sender(tx, &request, horizon_end, &sender, ids, &mut claim).await?;
    }
    sort_sends(&mut claim.sends);
    Ok(claim)
}

/// Claims one sending number's candidates at its next free send slots, its sender row locked
/// (PostgreSQL) until the claim commits.
async fn claim_from_sender(
    tx: &Tx<'_>,
    request: &ClaimRequest,
    horizon_end: DateTime<Utc>,
    sender: &str,
    ids: Vec<Uuid>,
    claim: &mut Claim,
) -> StoreResult<()> {
    let now = request.now;
    tx.execute(
        "INSERT INTO outbox_senders (from_number, next_slot_at) VALUES ($1, $2)
         ON CONFLICT (from_number) DO NOTHING",
        &[sender.arg(), now.arg()],
    )
    .await?;
    let sql = tx.pick(
        "SELECT next_slot_at FROM outbox_senders WHERE from_number = $1 FOR UPDATE",
        "SELECT next_slot_at FROM outbox_senders WHERE from_number = $1",
    );
    let next: DateTime<Utc> = tx.query_one(sql, &[sender.arg()]).await?.get(0)?;
    let mut slot = next.max(now);
    // Opt-out is read again here, with the row locked: a text queued by a transaction that
    // raced the STOP is cancelled instead of sent.
    let take = format!(
        "UPDATE outbox AS o
         SET state = 'sending', attempts = attempts + 1,
             claimed_until = $3, claimed_by = $4,
             recovered = recovered + CASE WHEN state = 'sending' THEN 1 ELSE 0 END,
             last_error = CASE WHEN state = 'sending' THEN $5 ELSE last_error END,
             updated_at = $1
         WHERE id = $2 AND {DUE} AND NOT {OPTED_OUT_RULE}
         RETURNING {OUTBOX_COLUMNS}"
    );
    for id in ids {
        if slot >= horizon_end {
            break;
        }
        let claimed_until = slot + request.lease;
        let args = [
            now.arg(),
            id.arg(),
            claimed_until.arg(),
            request.worker.arg(),
            RECOVERED_NOTE.arg(),
        ];
        match tx.query_opt(&take, &args).await? {
            Some(row) => {
                claim.sends.push(ClaimedSend {
                    outbound: outbound_from_row(&row)?,
                    send_at: slot,
                });
                slot += request.sender_interval;
            }
            None => claim.cancelled += cancel_opted_out(tx, id, now).await?,
        }
    }
    tx.execute(
        "UPDATE outbox_senders SET next_slot_at = $2 WHERE from_number = $1",
        &[sender.arg(), slot.arg()],
    )
    .await?;
    Ok(())
}

/// Cancels a due row (locked by the claim) whose number opted out; 1 if it did.
async fn cancel_opted_out(tx: &Tx<'_>, id: Uuid, now: DateTime<Utc>) -> StoreResult<u64> {
    let sql = format!(
        "UPDATE outbox AS o
         SET state = 'cancelled', cancel_reason = $3, claimed_until = NULL, last_error = $4,
             updated_at = $1
         WHERE id = $2 AND {DUE} AND {OPTED_OUT_RULE}"
    );
    let args = [
        now.arg(),
        id.arg(),
        cancel_reason::OPTED_OUT.arg(),
        CANCELLED_NOTE.arg(),
    ];
    let changed = tx.execute(&sql, &args).await?;
    if changed > 0 {
        sync_message(tx, id, now).await?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn request(interval_ms: i64, horizon_ms: i64) -> ClaimRequest {
        ClaimRequest {
            worker: "w".into(),
            now: Utc::now(),
            lease: Duration::seconds(60),
            limit: 10,
            sender_interval: Duration::milliseconds(interval_ms),
            horizon: Duration::milliseconds(horizon_ms),
        }
    }

    #[test]
    fn a_sender_gets_as_many_rows_as_slots_fit_in_the_horizon() {
        assert_eq!(per_sender_cap(&request(1000, 1000)), 1);
        assert_eq!(per_sender_cap(&request(200, 1000)), 5);
        assert_eq!(per_sender_cap(&request(300, 1000)), 4);
        assert_eq!(per_sender_cap(&request(1000, 0)), 1);
    }

    #[test]
    fn candidates_group_by_sender_in_lock_order_keeping_priority_order() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let groups = group_by_sender(&[(a, "+2".into()), (b, "+1".into()), (c, "+2".into())]);
        assert_eq!(
            groups,
            vec![("+1".to_owned(), vec![b]), ("+2".to_owned(), vec![a, c])]
        );
    }
}
