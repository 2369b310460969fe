//! Moderators' single-use tokens for deciding a held post by replying to
//! its notice: recorded by digest per moderator and post, marked used once.

use sha2::{Digest, Sha256};

use super::engine::{Queries, params};
use super::{Result, Store};
use crate::model::{CommunityId, PostId};

/// A moderation token as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModerationToken {
    /// The held post it decides.
    pub post: PostId,
    /// The moderator it was sent to: only mail from this address may use it.
    pub email: String,
    /// When it was first used, if it was: a used token decides nothing more.
    pub used_at: Option<i64>,
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().to_ascii_lowercase().as_bytes()).to_vec()
}

impl Store {
    /// Records a token sent to the moderator `email` for held `post`.
    pub fn add_moderation_token(
        &self,
        community: CommunityId,
        token: &str,
        post: PostId,
        email: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO moderation_tokens (digest, community_id, post_id, email, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                digest(token),
                community.0,
                post.0,
                email.to_ascii_lowercase(),
                now,
                expires_at
            ],
        )?;
        Ok(())
    }

    /// The token of this community, if praxis made it.
    pub fn moderation_token(
        &self,
        community: CommunityId,
        token: &str,
    ) -> Result<Option<ModerationToken>> {
        self.conn.query_opt(
            "SELECT post_id, email, used_at FROM moderation_tokens
                 WHERE digest = ?1 AND community_id = ?2",
            params![digest(token), community.0],
            |r| {
                Ok(ModerationToken {
                    post: PostId(r.get(0)?),
                    email: r.get(1)?,
                    used_at: r.get(2)?,
                })
            },
        )
    }

    /// Marks a token used; false when it already was.
    pub fn use_moderation_token(
        &self,
        community: CommunityId,
        token: &str,
        now: i64,
    ) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE moderation_tokens SET used_at = ?3
             WHERE digest = ?1 AND community_id = ?2 AND used_at IS NULL",
            params![digest(token), community.0, now],
        )?;
        Ok(n == 1)
    }
}
