//! Instances on SQLite: an instance proves it runs by holding an exclusive lock on its own file,
//! `<database>-instances/<id>.lock`; the operating system drops the lock the moment the process
//! dies. Every process that opens the database shares its host, so any of them can check: a
//! lock file that can be locked, or is missing, belongs to a gone instance, whose claims are
//! then released. See [`crate::instances`].

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::instances::{Instances, ReleasedClaims};
use crate::sql::Db;
use crate::{StoreError, StoreResult};

/// This instance's lock: held while the file is open; the file goes with it.
pub(crate) struct InstanceLock {
    file: Option<File>,
    path: PathBuf,
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // Removed while still locked, so no one can find it unlocked and take it for a gone
        // instance that still holds claims.
        let _ = std::fs::remove_file(&self.path);
        drop(self.file.take());
    }
}

/// Where the instances of the database at `db` keep their lock files.
pub(crate) fn lock_dir(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push("-instances");
    db.with_file_name(name)
}

fn io_error(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what}: {e}"))
}

/// Takes the lock of instance `id`. The file is locked under a temporary name and then renamed,
/// so a checker never finds it unlocked while its instance is starting.
fn take_lock(dir: &Path, id: &str) -> StoreResult<InstanceLock> {
    std::fs::create_dir_all(dir)
        .map_err(|e| io_error("cannot create the instance directory", e))?;
    let temporary = dir.join(format!("{id}.tmp"));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .map_err(|e| io_error("cannot create the instance lock", e))?;
    file.try_lock()
        .map_err(|e| StoreError::Unavailable(format!("cannot lock the instance file: {e}")))?;
    let path = dir.join(format!("{id}.lock"));
    std::fs::rename(&temporary, &path)
        .map_err(|e| io_error("cannot place the instance lock", e))?;
    Ok(InstanceLock {
        file: Some(file),
        path,
    })
}

/// Whether instance `id` is gone: its lock file is missing or can be locked. A lock taken here
/// is kept (in `taken`) until the caller has released the claims, and the file is then removed.
pub(crate) fn is_gone(dir: &Path, id: &str, taken: &mut Vec<InstanceLock>) -> StoreResult<bool> {
    let path = dir.join(format!("{id}.lock"));
    let file = match OpenOptions::new().write(true).open(&path) {
        Ok(file) => file,
        // An instance creates its file before it claims anything and only a checker that found
        // it unlocked removes it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(io_error("cannot open an instance lock", e)),
    };
    match file.try_lock() {
        Ok(()) => {
            taken.push(InstanceLock {
                file: Some(file),
                path,
            });
            Ok(true)
        }
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(io_error("cannot check an instance lock", e)),
    }
}

/// Removes the lock files of gone instances that held no claims.
fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut taken = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".lock")) else {
            continue;
        };
        let _ = is_gone(dir, id, &mut taken);
    }
}

#[async_trait]
impl Instances for SqliteStore {
    fn instance_id(&self) -> &str {
        &self.instance_id
    }

    async fn announce_instance(&self) -> StoreResult<()> {
        let dir = lock_dir(&self.path);
        let id = self.instance_id.clone();
        let slot = std::sync::Arc::clone(&self.instance_lock);
        tokio::task::spawn_blocking(move || {
            let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                sweep(&dir);
                *slot = Some(take_lock(&dir, &id)?);
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Unexpected(format!("announce task failed: {e}")))?
    }

    fn instance_alive(&self) -> bool {
        self.instance_lock
            .lock()
            .map(|slot| slot.is_some())
            .unwrap_or(false)
    }

    async fn release_gone_claims(&self, now: DateTime<Utc>) -> StoreResult<ReleasedClaims> {
        let dir = lock_dir(&self.path);
        let me = self.instance_id.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                crate::instances::release_gone_claims(tx, now, &me, Some(&dir)).await
            })
        })
        .await
    }
}
