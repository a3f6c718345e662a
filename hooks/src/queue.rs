//! A durable job queue in one SQLite file: idempotency key, status, attempts, next-attempt time,
//! exponential backoff and a dead-letter state. Delivery is at least once: a job is leased while it runs,
//! and a crash before it is marked done makes it due again when the lease ends.
//!
//! Jobs never hold secrets: a dispatch job names its target (`triggers[0]:airflow2:retrain`), resolved from
//! the config when it is delivered.

use crate::config::QueueConfig;
use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a claimed job is leased before another worker may take it again.
const LEASE_MS: i64 = 10 * 60 * 1000;

/// The kinds of jobs.
pub const KIND_DISPATCH: &str = "dispatch";
/// A sync reported by the Airbyte webhook, waiting for its checks.
pub const KIND_SYNC: &str = "sync";

/// One job.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    pub idempotency_key: String,
    pub sync_key: String,
    pub kind: String,
    pub target: String,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: u32,
    pub max_attempts: u32,
    /// Unix milliseconds.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What happened to a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Due again at this time (unix ms).
    RetryAt(i64),
    /// Out of attempts (or not retryable): dead-lettered.
    Dead,
}

/// A handle on the queue file; clones share one connection.
#[derive(Clone)]
pub struct Queue {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    lease_ms: i64,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("path", &self.path).finish()
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Queue {
    /// Open (or create) the queue file.
    pub fn open(path: &Path) -> Result<Queue> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("cannot open queue {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS jobs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                idempotency_key TEXT NOT NULL UNIQUE,
                sync_key TEXT NOT NULL,
                kind TEXT NOT NULL,
                target TEXT NOT NULL,
                payload TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'dead')),
                attempts INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                next_attempt_at INTEGER NOT NULL,
                last_error TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS jobs_due ON jobs (status, next_attempt_at);",
        )
        .context("cannot create the queue table")?;
        Ok(Queue { conn: Arc::new(Mutex::new(conn)), path: path.to_path_buf(), lease_ms: LEASE_MS })
    }

    /// How long a claimed job stays invisible before it counts as abandoned (default 10 minutes).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease_ms = lease.as_millis() as i64;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a job unless one with the same idempotency key (`sync_key` + `target`) exists.
    /// Returns the new job's id, or None when it was already queued.
    pub fn enqueue(
        &self,
        kind: &str,
        sync_key: &str,
        target: &str,
        payload: &impl Serialize,
        config: &QueueConfig,
    ) -> Result<Option<i64>> {
        let key = format!("{kind}:{sync_key}:{target}");
        let now = now_ms();
        let payload = serde_json::to_string(payload)?;
        let conn = self.conn();
        let inserted = conn.execute(
            "INSERT OR IGNORE INTO jobs (idempotency_key, sync_key, kind, target, payload, status, attempts,
                max_attempts, next_attempt_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?7, ?7, ?7)",
            params![key, sync_key, kind, target, payload, config.max_attempts.max(1), now],
        )?;
        Ok((inserted == 1).then(|| conn.last_insert_rowid()))
    }

    /// Take the next job due now (optionally of one sync, of syncs whose key starts with `key_prefix`, and
    /// of one kind), leasing it and counting the attempt.
    pub fn claim_due(
        &self,
        sync_key: Option<&str>,
        key_prefix: Option<&str>,
        kind: Option<&str>,
    ) -> Result<Option<Job>> {
        self.claim_due_by(now_ms(), sync_key, key_prefix, kind)
    }

    /// Like [`claim_due`](Self::claim_due) for jobs due by `due_by` (unix ms): a delivery round passes its
    /// start time, so a job that failed in the round is not taken again in the same round.
    pub fn claim_due_by(
        &self,
        due_by: i64,
        sync_key: Option<&str>,
        key_prefix: Option<&str>,
        kind: Option<&str>,
    ) -> Result<Option<Job>> {
        let now = now_ms();
        let conn = self.conn();
        let id: Option<i64> = conn
            .query_row(
                "SELECT id FROM jobs WHERE status = 'pending' AND next_attempt_at <= ?1
                   AND (?2 IS NULL OR sync_key = ?2) AND (?3 IS NULL OR kind = ?3)
                   AND (?4 IS NULL OR substr(sync_key, 1, length(?4)) = ?4)
                 ORDER BY next_attempt_at, id LIMIT 1",
                params![due_by.min(now), sync_key, kind, key_prefix],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = id else { return Ok(None) };
        let changed = conn.execute(
            "UPDATE jobs SET attempts = attempts + 1, next_attempt_at = ?2, updated_at = ?3
             WHERE id = ?1 AND status = 'pending' AND next_attempt_at <= ?3",
            params![id, now + self.lease_ms, now],
        )?;
        if changed != 1 {
            return Ok(None);
        }
        drop(conn);
        self.get(id)
    }

    pub fn get(&self, id: i64) -> Result<Option<Job>> {
        let conn = self.conn();
        conn.query_row(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"), params![id], row_to_job)
            .optional()
            .map_err(Into::into)
    }

    /// Mark a job delivered.
    pub fn complete(&self, id: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE jobs SET status = 'done', last_error = NULL, updated_at = ?2 WHERE id = ?1",
            params![id, now_ms()],
        )?;
        Ok(())
    }

    /// Record a failed attempt: due again after an exponential backoff, or dead when out of attempts or
    /// when the error is not retryable.
    pub fn fail(&self, id: i64, error: &str, retryable: bool, config: &QueueConfig) -> Result<AfterFailure> {
        let error = airbyte_protocol::redact::apply(error).into_owned();
        let job = self.get(id)?.with_context(|| format!("job {id} is gone"))?;
        let now = now_ms();
        if !retryable || job.attempts >= job.max_attempts {
            self.conn().execute(
                "UPDATE jobs SET status = 'dead', last_error = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, error, now],
            )?;
            return Ok(AfterFailure::Dead);
        }
        let at = now + backoff_ms(config, job.attempts) as i64;
        self.conn().execute(
            "UPDATE jobs SET next_attempt_at = ?2, last_error = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, at, error, now],
        )?;
        Ok(AfterFailure::RetryAt(at))
    }

    /// Jobs, newest first, optionally of one status.
    pub fn list(&self, status: Option<&str>) -> Result<Vec<Job>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare(&format!("SELECT {COLUMNS} FROM jobs WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC"))?;
        let rows = stmt.query_map(params![status], row_to_job)?;
        rows.collect::<rusqlite::Result<Vec<Job>>>().map_err(Into::into)
    }

    /// Put dead jobs (one, or all when `id` is None) back as pending with fresh attempts. Returns how many.
    pub fn retry(&self, id: Option<i64>) -> Result<usize> {
        let n = self.conn().execute(
            "UPDATE jobs SET status = 'pending', attempts = 0, next_attempt_at = ?2, updated_at = ?2
             WHERE status = 'dead' AND (?1 IS NULL OR id = ?1)",
            params![id, now_ms()],
        )?;
        Ok(n)
    }

    /// Pending jobs and the earliest time one of them is due (optionally of one sync and kind).
    pub fn pending(&self, sync_key: Option<&str>, kind: Option<&str>) -> Result<(usize, Option<i64>)> {
        let conn = self.conn();
        conn.query_row(
            "SELECT COUNT(*), MIN(next_attempt_at) FROM jobs WHERE status = 'pending'
               AND (?1 IS NULL OR sync_key = ?1) AND (?2 IS NULL OR kind = ?2)",
            params![sync_key, kind],
            |r| Ok((r.get::<_, i64>(0)? as usize, r.get(1)?)),
        )
        .map_err(Into::into)
    }
}

const COLUMNS: &str = "id, idempotency_key, sync_key, kind, target, payload, status, attempts, max_attempts, \
                       next_attempt_at, last_error, created_at, updated_at";

fn row_to_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let payload: String = r.get(5)?;
    Ok(Job {
        id: r.get(0)?,
        idempotency_key: r.get(1)?,
        sync_key: r.get(2)?,
        kind: r.get(3)?,
        target: r.get(4)?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
        status: r.get(6)?,
        attempts: r.get(7)?,
        max_attempts: r.get(8)?,
        next_attempt_at: r.get(9)?,
        last_error: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

/// Delay after the `attempt`-th failed attempt (1-based): base * 2^(attempt-1), capped, with up to 20% jitter.
pub fn backoff_ms(config: &QueueConfig, attempt: u32) -> u64 {
    let exp = config.base_delay_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(30));
    let capped = exp.min(config.max_delay_ms).max(1);
    let jitter = rand::random_range(0..=capped / 5);
    capped - jitter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let cfg = QueueConfig { base_delay_ms: 100, max_delay_ms: 1000, ..Default::default() };
        assert!((80..=100).contains(&backoff_ms(&cfg, 1)));
        assert!((160..=200).contains(&backoff_ms(&cfg, 2)));
        assert!((800..=1000).contains(&backoff_ms(&cfg, 10)));
    }
}
