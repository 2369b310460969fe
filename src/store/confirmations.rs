//! Confirmation tokens sent for subscribe, unsubscribe and membership
//! changes by mail: recorded by digest with what they confirm, taken once. Also the small log of notices already sent, so
//! acknowledgements are rate-limited per sender.

use sha2::{Digest, Sha256};

use super::engine::{Queries, params};
use super::{Result, Store, StoreError};
use crate::model::CommunityId;

/// A pending confirmation, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The community.
    pub community: CommunityId,
    /// The address it was sent to.
    pub email: String,
    /// subscribe, unsubscribe or change.
    pub action: String,
    /// The command lines carried out when it is answered (a change's new
    /// values, the profile given with subscribe): kept here, not in the
    /// token, so the token stays short enough for an address tag.
    pub commands: String,
    /// When it stops being valid.
    pub expires_at: i64,
}

/// The digest a confirmation is recorded under.
pub(super) fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().to_ascii_lowercase().as_bytes()).to_vec()
}

impl Store {
    /// Records a token sent to `email` for `action`, carrying out
    /// `commands` (one command line each) when answered.
    #[allow(clippy::too_many_arguments)]
    pub fn add_confirmation(
        &self,
        community: CommunityId,
        token: &str,
        email: &str,
        action: &str,
        commands: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO confirmations (digest, community_id, email, action, commands, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![digest(token), community.0, email.to_ascii_lowercase(), action, commands, now, expires_at],
        )?;
        Ok(())
    }

    /// Takes a token: returns what it confirms and marks it used, once.
    /// An unknown token is `NotFound`; a used one is `Conflict`.
    pub fn take_confirmation(
        &mut self,
        community: CommunityId,
        token: &str,
        now: i64,
    ) -> Result<Confirmation> {
        let tx = self.conn.transaction()?;
        let row: Option<(String, String, i64, Option<i64>, String)> = tx.query_opt(
            "SELECT email, action, expires_at, used_at, commands FROM confirmations
                 WHERE digest = ?1 AND community_id = ?2",
            params![digest(token), community.0],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let Some((email, action, expires_at, used_at, commands)) = row else {
            return Err(StoreError::NotFound(
                "the confirmation code is not one we sent".into(),
            ));
        };
        if used_at.is_some() {
            return Err(StoreError::Conflict(
                "the confirmation code was already used".into(),
            ));
        }
        tx.execute(
            "UPDATE confirmations SET used_at = ?2 WHERE digest = ?1",
            params![digest(token), now],
        )?;
        tx.commit()?;
        Ok(Confirmation {
            community,
            email,
            action,
            commands,
            expires_at,
        })
    }

    /// When a notice of this kind last went to `address` (from the audit log).
    pub fn last_notice(
        &self,
        community: CommunityId,
        kind: &str,
        address: &str,
    ) -> Result<Option<i64>> {
        self.conn.query_one(
            "SELECT MAX(at) FROM decisions WHERE community_id = ?1 AND actor = 'praxis'
               AND action = ?2 AND detail = ?3",
            params![
                community.0,
                format!("notice-{kind}"),
                address.to_ascii_lowercase()
            ],
            |r| r.get(0),
        )
    }

    /// How many automatic replies (acknowledgements and replies, not
    /// moderator notices) went to `address` since `since`.
    pub fn notices_since(&self, community: CommunityId, address: &str, since: i64) -> Result<u64> {
        let n: i64 = self.conn.query_one(
            "SELECT COUNT(*) FROM decisions WHERE community_id = ?1 AND at >= ?2
               AND actor = 'praxis' AND action IN ('notice-acknowledge', 'notice-reply')
               AND detail = ?3",
            params![community.0, since, address.to_ascii_lowercase()],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Records that a notice of this kind went to `address`.
    pub fn log_notice(
        &self,
        community: CommunityId,
        post: Option<i64>,
        kind: &str,
        address: &str,
        now: i64,
    ) -> Result<()> {
        // The row `log_decision` writes for the actor "praxis": how is
        // system, the post (when given) is the object.
        super::audit::record(
            &self.conn,
            &super::audit::Act {
                community,
                actor: &super::audit::Actor::default(),
                act: &format!("notice-{kind}"),
                object: post.map(|p| ("post", p)),
                detail: Some(&address.to_ascii_lowercase()),
                at: now,
            },
        )
    }

    /// Records a membership change a member made themselves (by mail, or by
    /// one-click leaving: `how`), in the audit log.
    pub fn log_member_change(
        &self,
        community: CommunityId,
        action: &str,
        address: &str,
        how: super::audit::How,
        now: i64,
    ) -> Result<()> {
        let address = address.to_ascii_lowercase();
        super::audit::record(
            &self.conn,
            &super::audit::Act {
                community,
                actor: &super::audit::Actor {
                    who: address.clone(),
                    how,
                },
                act: action,
                object: None,
                detail: Some(&address),
                at: now,
            },
        )
    }
}
