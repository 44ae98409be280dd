//! Gateway instances and the claims they hold.
//!
//! Every store handle is one *instance*: a random id made when the handle is opened (so a new one
//! each time a process starts), which every outbox claim, text or email, carries in `claimed_by`.
//! Once announced, the store keeps proof that the instance runs in a form that the database
//! server or the operating system withdraws the moment the process dies, `kill -9` included: on
//! PostgreSQL a session advisory lock held on a connection of its own, on SQLite an exclusive
//! lock on a file beside the database. An instance is *gone* when another can take that proof;
//! then its claims need not wait for their lease and are released at once. A restarted process
//! is a new instance, so the claims of its predecessor are those of a gone instance, and so are
//! those of any other instance that died.
//!
//! It must never release a claim on suspicion: an instance whose proof is still held keeps its
//! claims, and a claim whose holder cannot be checked (written before claims named instances)
//! waits for its lease as before.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::StoreResult;

/// The first half of every instance's PostgreSQL advisory lock key (the two-key form), so that
/// instance locks never meet other advisory locks.
pub(crate) const LOCK_NAMESPACE: i32 = 0x6777_696e;

/// A new instance id.
pub(crate) fn new_instance_id() -> String {
    Uuid::new_v4().to_string()
}

/// The second half of an instance's advisory lock key: 32 bits of its id. `None` for a claimer
/// that is not an instance id (it cannot be checked, so it is never released early). Two ids
/// that share a key only make a gone instance look alive: the safe direction.
pub(crate) fn lock_key(instance_id: &str) -> Option<i32> {
    let id = Uuid::parse_str(instance_id).ok()?;
    let bytes = id.as_bytes();
    Some(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// What releasing the claims of gone instances did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleasedClaims {
    /// Text claims released (their rows are due at once).
    pub texts: u64,
    /// Email claims released.
    pub emails: u64,
    /// The gone instances whose claims were released.
    pub instances: Vec<String>,
}

impl ReleasedClaims {
    pub fn total(&self) -> u64 {
        self.texts + self.emails
    }
}

#[async_trait]
pub trait Instances: Send + Sync {
    /// The id this handle's claims carry.
    fn instance_id(&self) -> &str;

    /// Starts keeping this instance's proof of life and waits until it is held. Call it before
    /// claiming anything; calling it again changes nothing.
    async fn announce_instance(&self) -> StoreResult<()>;

    /// Whether the proof of life is held right now. While it is not (PostgreSQL: its connection
    /// was lost), other instances may release this one's claims, so a dispatcher must not start
    /// a send then.
    fn instance_alive(&self) -> bool;

    /// Makes the claims (texts and emails) of every gone instance other than this one run out at
    /// `now`, so the next claim takes them: a text is then sent again and marked recovered,
    /// exactly as after its lease ran out.
    async fn release_gone_claims(&self, now: DateTime<Utc>) -> StoreResult<ReleasedClaims>;
}

/// Releases, in the caller's transaction, the claims of every gone instance other than `me`
/// (see [`Instances::release_gone_claims`]). Whether an instance is gone is the one thing the
/// backends decide differently: PostgreSQL takes the instance's advisory lock for the length of
/// this transaction (free means no session holds it, so the holder is gone, and the check and the
/// release are one decision); SQLite checks the instance's lock file under `lock_dir`, keeping
/// the locks it takes until the releases are written.
pub(crate) async fn release_gone_claims(
    tx: &crate::sql::Tx<'_>,
    now: DateTime<Utc>,
    me: &str,
    lock_dir: Option<&std::path::Path>,
) -> StoreResult<ReleasedClaims> {
    use crate::sql::ToArg;
    let claimers: Vec<String> = tx
        .column(
            "SELECT claimed_by FROM outbox
             WHERE state = 'sending' AND claimed_until > $1 AND claimed_by <> $2
             UNION
             SELECT claimed_by FROM email_outbox
             WHERE state = 'sending' AND claimed_until > $1 AND claimed_by <> $2",
            &[now.arg(), me.arg()],
        )
        .await?;
    let mut released = ReleasedClaims::default();
    let mut taken = Vec::new();
    for claimer in claimers {
        // Only an instance id names a lock (nothing else reaches a lock file's path).
        let Some(key) = lock_key(&claimer) else {
            continue;
        };
        let gone: bool = match lock_dir {
            None => tx
                .query_one(
                    "SELECT pg_try_advisory_xact_lock($1, $2)",
                    &[LOCK_NAMESPACE.arg(), key.arg()],
                )
                .await?
                .get(0)?,
            Some(dir) => crate::sqlite::instances::is_gone(dir, &claimer, &mut taken)?,
        };
        if !gone {
            continue;
        }
        for (table, count) in [
            ("outbox", &mut released.texts),
            ("email_outbox", &mut released.emails),
        ] {
            *count += tx
                .execute(
                    &format!(
                        "UPDATE {table} SET claimed_until = $1
                         WHERE state = 'sending' AND claimed_by = $2 AND claimed_until > $1"
                    ),
                    &[now.arg(), claimer.arg()],
                )
                .await?;
        }
        released.instances.push(claimer);
    }
    Ok(released)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_id_has_a_lock_key_and_anything_else_has_none() {
        let id = new_instance_id();
        assert!(lock_key(&id).is_some());
        assert_eq!(lock_key(&id), lock_key(&id.to_uppercase()));
        // Claims written before claims named instances: "<pid>-<hex>".
        assert_eq!(lock_key("4242-0123456789abcdef0123456789abcdef"), None);
        assert_eq!(lock_key(""), None);
        assert_eq!(lock_key("test"), None);
    }

    #[test]
    fn every_handle_gets_its_own_id() {
        assert_ne!(new_instance_id(), new_instance_id());
    }
}
