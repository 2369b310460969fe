//! Queries and Consolidated Replies: deadlines, drafts, publication.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store};
use crate::model::PostId;

impl Store {
    /// When `post` is the approved root of a query whose deadline is unset,
    /// the time it was approved (Unix seconds); otherwise `None`.
    pub fn query_root_awaiting_deadline(&self, post: PostId) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT COALESCE(p.approved_at, p.received_at)
                 FROM posts p JOIN threads t ON t.id = p.thread_id
                 WHERE p.id = ?1 AND p.state = 'approved' AND t.root_post_id = p.id
                   AND t.kind = 'query' AND t.deadline_at IS NULL",
                params![post.0],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Sets the deadline of the query whose root is `post`, once: a deadline
    /// already set is kept.
    pub fn set_query_deadline(&mut self, post: PostId, at: i64) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE threads SET deadline_at = ?2
             WHERE root_post_id = ?1 AND kind = 'query' AND deadline_at IS NULL",
            params![post.0, at],
        )?;
        Ok(n > 0)
    }
}
