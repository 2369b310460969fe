//! The moderation queue: held posts, moderators' decisions on them, and the
//! audit log of every decision.
//!
//! Invariant: a hold is decided once. The decision runs in a write
//! transaction (IMMEDIATE on SQLite, holding the writers' lock on
//! PostgreSQL) that re-reads the hold, so two moderators racing on one post
//! get one decision and one refusal naming who decided and when.

use serde::Serialize;

use super::audit::{How, how_of};
use super::engine::{Queries, params};
use super::{Result, Store, StoreError, now};
use crate::model::{CommunityId, MemberId, PostId, ThreadId};

/// A held post as `praxis queue` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct HeldPost {
    /// The post.
    pub id: PostId,
    /// The community's slug.
    pub community: String,
    /// Sender address.
    pub from: String,
    /// Sender display name.
    pub from_name: String,
    /// Member name, when the sender is a member.
    pub member_name: Option<String>,
    /// Member organisation, when the sender is a member.
    pub member_organisation: Option<String>,
    /// Subject.
    pub subject: String,
    /// Why it is held.
    pub reason: String,
    /// When it was received, Unix seconds.
    pub received_at: i64,
    /// Raw size in bytes.
    pub size: i64,
    /// Its thread.
    pub thread_id: Option<ThreadId>,
    /// Set by `defer`: listed after the others until then.
    pub deferred_until: Option<i64>,
}

/// What a moderator decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Distribute it.
    Approve,
    /// Refuse it; the author is told why.
    Reject,
    /// Drop it silently.
    Discard,
    /// Leave it for later.
    Defer,
}

impl Action {
    /// The word in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Discard => "discard",
            Action::Defer => "defer",
        }
    }
}

/// A decision that took effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    /// The post.
    pub post: PostId,
    /// Its community.
    pub community: CommunityId,
    /// The community's slug.
    pub slug: String,
    /// The author's address.
    pub from: String,
    /// The subject.
    pub subject: String,
    /// The author, when a member.
    pub member: Option<MemberId>,
    /// Whether `--trust` changed the member's flag to accept.
    pub trusted: bool,
}

/// community, slug, from, subject, member, decided_at, state.
type HoldRow = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    String,
);

impl Store {
    /// Held posts, oldest first; deferred ones after the rest.
    pub fn held(&self, community: Option<CommunityId>) -> Result<Vec<HeldPost>> {
        self.conn.query_map(
            "SELECT p.id, c.slug, p.from_addr, p.from_name, m.name, m.organisation, p.subject,
                    h.reason, p.received_at, p.size, p.thread_id, h.deferred_until
             FROM holds h
             JOIN posts p ON p.id = h.post_id
             JOIN communities c ON c.id = h.community_id
             LEFT JOIN members m ON m.id = p.member_id
             WHERE h.decided_at IS NULL AND (CAST(?1 AS BIGINT) IS NULL OR h.community_id = ?1)
             ORDER BY COALESCE(h.deferred_until, 0) > ?2, h.held_at, p.id",
            params![community.map(|c| c.0), now()],
            |r| {
                Ok(HeldPost {
                    id: PostId(r.get(0)?),
                    community: r.get(1)?,
                    from: r.get(2)?,
                    from_name: r.get(3)?,
                    member_name: r.get(4)?,
                    member_organisation: r.get(5)?,
                    subject: r.get(6)?,
                    reason: r.get(7)?,
                    received_at: r.get(8)?,
                    size: r.get(9)?,
                    thread_id: r.get::<Option<i64>>(10)?.map(ThreadId),
                    deferred_until: r.get(11)?,
                })
            },
        )
    }

    /// Applies a moderator's decision to a held post, once.
    pub fn decide(
        &mut self,
        post: PostId,
        action: Action,
        actor: &str,
        reason: Option<&str>,
        trust: bool,
    ) -> Result<Decided> {
        self.decide_how(post, action, actor, reason, trust, how_of(actor))
    }

    /// [`Store::decide`], recording how the decision was made (email, for a
    /// moderator's reply to a hold notice) rather than inferring it from
    /// the actor.
    pub fn decide_how(
        &mut self,
        post: PostId,
        action: Action,
        actor: &str,
        reason: Option<&str>,
        trust: bool,
        how: How,
    ) -> Result<Decided> {
        let tx = self.conn.transaction()?;
        let row: Option<HoldRow> = tx.query_opt(
                "SELECT p.community_id, c.slug, p.from_addr, p.subject, p.member_id, h.decided_at, p.state
                 FROM posts p JOIN communities c ON c.id = p.community_id
                 LEFT JOIN holds h ON h.post_id = p.id
                 WHERE p.id = ?1",
                params![post.0],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )?;
        let Some((cid, slug, from, subject, member, decided_at, state)) = row else {
            return Err(StoreError::NotFound(format!(
                "post {post} does not exist; `praxis queue` lists held posts"
            )));
        };
        let held: bool = tx.query_one(
            "SELECT EXISTS (SELECT 1 FROM holds WHERE post_id = ?1)",
            params![post.0],
            |r| r.get(0),
        )?;
        if !held {
            return Err(StoreError::Conflict(format!(
                "post {post} was never held (it is {state}); nothing to decide"
            )));
        }
        if let Some(at) = decided_at {
            let by: Option<(String, String)> = tx.query_opt(
                    "SELECT actor, action FROM decisions WHERE post_id = ?1 AND action IN ('approve', 'reject', 'discard')
                     ORDER BY id DESC LIMIT 1",
                    params![post.0],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
            let (who, what) = by.unwrap_or_else(|| ("someone".into(), state.clone()));
            return Err(StoreError::AlreadyDecided {
                post,
                community: CommunityId(cid),
                what,
                who,
                at,
            });
        }
        let t = now();
        let community = CommunityId(cid);
        let mut trusted = false;
        match action {
            Action::Defer => {
                tx.execute(
                    "UPDATE holds SET deferred_until = ?2 WHERE post_id = ?1",
                    params![post.0, t + 86_400],
                )?;
            }
            _ => {
                let n = tx.execute(
                    "UPDATE holds SET decided_at = ?2 WHERE post_id = ?1 AND decided_at IS NULL",
                    params![post.0, t],
                )?;
                if n != 1 {
                    return Err(StoreError::Conflict(format!(
                        "post {post} was decided meanwhile"
                    )));
                }
                let (new_state, approved_at) = match action {
                    Action::Approve => ("approved", Some(t)),
                    Action::Reject => ("rejected", None),
                    _ => ("discarded", None),
                };
                tx.execute(
                    "UPDATE posts SET state = ?2, approved_at = ?3 WHERE id = ?1",
                    params![post.0, new_state, approved_at],
                )?;
                if action == Action::Approve
                    && let Some(m) = member
                {
                    tx.execute(
                        "UPDATE members SET posts_approved = posts_approved + 1 WHERE id = ?1",
                        params![m],
                    )?;
                    if trust {
                        tx.execute(
                            "UPDATE members SET moderation = 'accept' WHERE id = ?1 AND moderation = 'default'",
                            params![m],
                        )?;
                        trusted = true;
                    }
                }
            }
        }
        super::members::log_decision_how(
            &tx,
            community,
            Some(post.0),
            actor,
            how,
            action.as_str(),
            reason,
            Some(&from),
            t,
        )?;
        if trusted {
            super::members::log_decision_how(
                &tx,
                community,
                Some(post.0),
                actor,
                how,
                "member-trust",
                None,
                Some(&from),
                t,
            )?;
        }
        tx.commit()?;
        Ok(Decided {
            post,
            community,
            slug,
            from,
            subject,
            member: member.map(MemberId),
            trusted,
        })
    }
}
