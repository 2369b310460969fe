//! Counts for `praxis status`, and the health rows the daemon writes about itself.

use super::engine::{Queries, params};

use super::{Result, Store, now};
use crate::model::CommunityId;

/// What the database says about one community right now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommunityStatus {
    /// Active members.
    pub members: i64,
    /// Posts waiting for a moderator.
    pub held: i64,
    /// Queries without a published Consolidated Reply.
    pub open_queries: i64,
    /// Open queries past their deadline.
    pub overdue_queries: i64,
    /// Consolidated Replies scheduled with `publish --at` whose time is still
    /// to come: their queries count as published, yet nothing went out.
    pub scheduled_replies: i64,
    /// When the first of those goes out, Unix seconds.
    pub next_scheduled_at: Option<i64>,
    /// Deliveries not yet accepted (pending or waiting to retry).
    pub outbox_pending: i64,
    /// Deliveries that failed permanently.
    pub outbox_failed: i64,
    /// When the IMAP watcher last finished a sync, if ever.
    pub last_sync: Option<i64>,
}

/// One row the daemon writes about itself or one of its tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthRow {
    /// `daemon` or `imap:<slug>`.
    pub key: String,
    /// running, connected, idle, failing, stopped.
    pub state: String,
    /// The last error, or what it is doing.
    pub detail: Option<String>,
    /// The daemon's process id.
    pub pid: Option<i64>,
    /// When it was written.
    pub updated_at: i64,
}

impl Store {
    /// Counts for one community.
    pub fn community_status(&self, community: CommunityId) -> Result<CommunityStatus> {
        let c = community.0;
        let t = now();
        let one = |sql: &str| -> Result<i64> { self.conn.query_one(sql, params![c], |r| r.get(0)) };
        let at =
            |sql: &str| -> Result<i64> { self.conn.query_one(sql, params![c, t], |r| r.get(0)) };
        Ok(CommunityStatus {
            members: one(
                "SELECT COUNT(*) FROM members WHERE community_id = ?1 AND status = 'active'",
            )?,
            held: one(
                "SELECT COUNT(*) FROM holds WHERE community_id = ?1 AND decided_at IS NULL",
            )?,
            open_queries: one(
                "SELECT COUNT(*) FROM threads t WHERE t.community_id = ?1 AND t.kind = 'query' AND t.state <> 'published'
                   AND EXISTS (SELECT 1 FROM posts p WHERE p.thread_id = t.id AND p.state = 'approved')",
            )?,
            overdue_queries: at(
                "SELECT COUNT(*) FROM threads t WHERE t.community_id = ?1 AND t.kind = 'query' AND t.state <> 'published'
                   AND t.deadline_at < ?2
                   AND EXISTS (SELECT 1 FROM posts p WHERE p.thread_id = t.id AND p.state = 'approved')",
            )?,
            scheduled_replies: at(
                "SELECT COUNT(*) FROM consolidated_replies
                 WHERE community_id = ?1 AND state = 'scheduled' AND publish_at > ?2",
            )?,
            next_scheduled_at: self.conn.query_one(
                "SELECT MIN(publish_at) FROM consolidated_replies
                 WHERE community_id = ?1 AND state = 'scheduled' AND publish_at > ?2",
                params![c, t],
                |r| r.get(0),
            )?,
            outbox_pending: one(
                "SELECT COUNT(*) FROM deliveries d JOIN outbox o ON o.id = d.outbox_id
                 WHERE o.community_id = ?1 AND d.state IN ('pending', 'temp_failed')",
            )? + one(&format!(
                "SELECT CAST(COALESCE(SUM({}), 0) AS BIGINT) FROM outbox o
                 JOIN outbox_audiences oa ON oa.outbox_id = o.id
                 WHERE o.community_id = ?1 AND oa.cursor < oa.cutoff",
                super::outbox::remaining(self.dialect())
            ))?,
            outbox_failed: one(
                "SELECT COUNT(*) FROM deliveries d JOIN outbox o ON o.id = d.outbox_id
                 WHERE o.community_id = ?1 AND d.state = 'failed'",
            )?,
            last_sync: self
                .conn
                .query_opt(
                    "SELECT last_sync_at FROM imap_checkpoints WHERE community_id = ?1",
                    params![c],
                    |r| r.get::<Option<i64>>(0),
                )?
                .flatten(),
        })
    }

    /// Where a flush starts: the lowest delivery id still unsettled (or one
    /// past the highest), below which no row can be sent by it.
    pub fn flush_mark(&self) -> Result<i64> {
        self.conn.query_one(
            "SELECT COALESCE(
                 (SELECT MIN(id) FROM deliveries WHERE state IN ('pending', 'temp_failed')),
                 (SELECT COALESCE(MAX(id), 0) + 1 FROM deliveries))",
            params![],
            |r| r.get(0),
        )
    }

    /// Copies accepted at or after `since` among deliveries from `mark` on
    /// (see [`Store::flush_mark`]): a range read, not a scan of the history.
    pub fn sent_since(&self, mark: i64, since: i64) -> Result<i64> {
        self.conn.query_one(
            "SELECT COUNT(*) FROM deliveries WHERE id >= ?1 AND state = 'sent' AND sent_at >= ?2",
            params![mark, since],
            |r| r.get(0),
        )
    }

    /// Deliveries that are due at `now` and not yet settled (pending or
    /// waiting to retry, next attempt not in the future), or 1 while a
    /// member audience due now is still to be expanded: what
    /// `praxis outbox flush` waits for to reach 0.
    pub fn deliveries_due(&self, now: i64) -> Result<i64> {
        if self.audiences_open(now)? {
            return Ok(1); // members still to expand into deliveries
        }
        self.conn.query_one(
            "SELECT COUNT(*) FROM deliveries
             WHERE state IN ('pending', 'temp_failed') AND next_attempt_at <= ?1",
            params![now],
            |r| r.get(0),
        )
    }

    /// Records what the daemon or one of its tasks is doing.
    pub fn set_health(&self, key: &str, state: &str, detail: Option<&str>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO daemon_health (key, state, detail, pid, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET state = excluded.state, detail = excluded.detail,
                 pid = excluded.pid, updated_at = excluded.updated_at",
            params![key, state, detail, std::process::id() as i64, now()],
        )?;
        Ok(())
    }

    /// One health row.
    pub fn health(&self, key: &str) -> Result<Option<HealthRow>> {
        self.conn.query_opt(
            "SELECT key, state, detail, pid, updated_at FROM daemon_health WHERE key = ?1",
            params![key],
            |r| {
                Ok(HealthRow {
                    key: r.get(0)?,
                    state: r.get(1)?,
                    detail: r.get(2)?,
                    pid: r.get(3)?,
                    updated_at: r.get(4)?,
                })
            },
        )
    }
}
