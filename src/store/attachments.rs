//! Kept attachments: each distinct file once by SHA-256 (`attachments`),
//! and which post carried it under which name (`post_attachments`), written
//! in the ingest transaction.

use super::engine::{Queries, params};
use super::{Batch, Result, Store, now};
pub use crate::mail::attachments::PostAttachment;
use crate::mail::attachments::within_limit;
use crate::mail::parse::Attachment;
use crate::model::PostId;

impl Batch<'_> {
    /// Records `files` as `post`'s attachments, keeping the bytes of each
    /// within `limit_kb` once (a file seen before is not stored again).
    pub fn keep_attachments(
        &self,
        post: PostId,
        files: &[Attachment],
        limit_kb: u64,
    ) -> Result<()> {
        let at = now();
        for (position, f) in files.iter().enumerate() {
            let kept = within_limit(f.bytes.len(), limit_kb);
            if kept {
                self.tx.execute(
                    "INSERT INTO attachments (sha256, size, content_type, bytes, first_seen)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (sha256) DO NOTHING",
                    params![f.sha256, f.bytes.len() as i64, f.content_type, f.bytes, at],
                )?;
            }
            self.tx.execute(
                "INSERT INTO post_attachments (post_id, position, name, sha256, size, kept)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                params![
                    post.0,
                    position as i64,
                    f.name,
                    f.sha256,
                    f.bytes.len() as i64,
                    kept
                ],
            )?;
        }
        Ok(())
    }
}

impl Store {
    /// A post's attachments in the order it carried them.
    pub fn post_attachments(&self, post: PostId) -> Result<Vec<PostAttachment>> {
        self.conn.query_map(
            "SELECT name, sha256, size, kept FROM post_attachments
             WHERE post_id = ?1 ORDER BY position",
            params![post.0],
            |r| {
                Ok(PostAttachment {
                    name: r.get(0)?,
                    sha256: r.get(1)?,
                    size: r.get::<i64>(2)? as u64,
                    kept: r.get(3)?,
                })
            },
        )
    }

    /// A kept file: its content type and bytes.
    pub fn attachment_file(&self, sha256: &str) -> Result<Option<(String, Vec<u8>)>> {
        self.conn.query_opt(
            "SELECT content_type, bytes FROM attachments WHERE sha256 = ?1",
            params![sha256],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// How many distinct files are kept.
    pub fn attachment_files(&self) -> Result<i64> {
        self.conn
            .query_one("SELECT count(*) FROM attachments", params![], |r| r.get(0))
    }
}
