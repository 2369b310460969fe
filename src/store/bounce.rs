//! Bounce scores: each bounce raises a member's score; past the threshold
//! the member is disabled and the owners get a notice; probes re-enable.
//!
//! Invariants:
//! - The score change, the disabling, the audit row and the owners' notice
//!   are written in one transaction.
//! - Only `active` members are disabled, and only `disabled` members are
//!   probed or re-enabled by a probe; an owner's own changes
//!   (`praxis members set`) always win.

use super::audit::How;
use super::engine::{Dialect, Queries, params};
use super::members::normalise_email;
use super::outbox::{NewOutbox, NewRecipient};
use super::{Member, Result, Store};
use crate::model::{CommunityId, DeliveryId, MemberId, OutboxKind};

/// How one bounce changes a score (from `[bounce]`, with the weight of this
/// bounce's kind already chosen).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BounceRule {
    /// Score added by this bounce.
    pub weight: f64,
    /// Disable at or past this score.
    pub threshold: f64,
    /// Bounces closer together than this many seconds count once.
    pub interval: i64,
    /// A score whose last counted bounce is older than this many seconds restarts.
    pub stale_after: i64,
}

/// A rendered notice: the owners' "member disabled" mail, or a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Its subject.
    pub subject: String,
    /// The whole message.
    pub message: Vec<u8>,
}

/// What recording a bounce did.
#[derive(Debug, Clone, PartialEq)]
pub enum BounceOutcome {
    /// The address is not a member of the community: nothing to score.
    NotAMember,
    /// Counted: the member's score is now `score`.
    Scored {
        /// The member's address.
        email: String,
        /// The new score.
        score: f64,
    },
    /// Within `interval` of the last counted bounce: not counted again.
    Repeated {
        /// The member's address.
        email: String,
        /// The unchanged score.
        score: f64,
    },
    /// Counted, and it disabled the member; `notified` owners were sent a notice.
    Disabled {
        /// The member's address.
        email: String,
        /// The new score.
        score: f64,
        /// Owners (or, without owners, moderators) queued a notice.
        notified: u64,
    },
    /// The member is already disabled (or not active): their probe, if any, failed.
    AlreadyDisabled {
        /// The member's address.
        email: String,
    },
}

/// A disabled member due a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeDue {
    /// The member.
    pub member: Member,
    /// Their community.
    pub community: CommunityId,
}

/// A member re-enabled because their probe went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reenabled {
    /// Their community.
    pub community: CommunityId,
    /// Their address.
    pub email: String,
}

/// Records one bounce inside an open transaction (see [`Store::record_bounce`]).
pub(super) fn record_bounce_tx(
    tx: &impl Queries,
    community: CommunityId,
    email: &str,
    rule: &BounceRule,
    at: i64,
    detail: &str,
    notice: &dyn Fn(&Member, f64, &str) -> Option<Notice>,
) -> Result<BounceOutcome> {
    let email = normalise_email(email);
    let row: Option<(i64, String, f64, Option<i64>)> = tx.query_opt(
        "SELECT id, status, bounce_score, last_bounce_at FROM members
             WHERE community_id = ?1 AND email = ?2",
        params![community.0, email],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let Some((id, status, score, last)) = row else {
        return Ok(BounceOutcome::NotAMember);
    };
    if status != "active" {
        // A bounce while disabled means any outstanding probe failed.
        tx.execute(
            "UPDATE members SET last_bounce_at = ?2, probe_delivery_id = NULL WHERE id = ?1",
            params![id, at],
        )?;
        return Ok(BounceOutcome::AlreadyDisabled { email });
    }
    let score = match last {
        Some(last) if at - last < rule.interval && at >= last => {
            return Ok(BounceOutcome::Repeated { email, score });
        }
        Some(last) if at - last <= rule.stale_after => score + rule.weight,
        _ => rule.weight,
    };
    tx.execute(
        "UPDATE members SET bounce_score = ?2, last_bounce_at = ?3 WHERE id = ?1",
        params![id, score, at],
    )?;
    super::members::log_decision_how(
        tx,
        community,
        None,
        "system",
        How::System,
        "bounce",
        Some(detail),
        Some(&email),
        at,
    )?;
    if score < rule.threshold {
        return Ok(BounceOutcome::Scored { email, score });
    }
    tx.execute(
        "UPDATE members SET status = 'disabled', probe_delivery_id = NULL WHERE id = ?1",
        params![id],
    )?;
    super::members::log_decision_how(
        tx,
        community,
        None,
        "system",
        How::System,
        "member-disable",
        Some(&format!(
            "bounce score {score:.1} reached the threshold {:.1}",
            rule.threshold
        )),
        Some(&email),
        at,
    )?;
    let member = member_by_id(tx, MemberId(id))?;
    let mut notified = 0;
    if let Some(n) = notice(&member, score, detail) {
        let msg = NewOutbox::new(Some(community), OutboxKind::Notice, &n.subject, &n.message);
        notified = queue_to_owners(tx, &msg, community, at)?;
    }
    Ok(BounceOutcome::Disabled {
        email,
        score,
        notified,
    })
}

/// Queues `msg` to the community's active owners, or its moderators when it
/// has no owner; returns how many recipients.
fn queue_to_owners(
    tx: &impl Queries,
    msg: &NewOutbox<'_>,
    community: CommunityId,
    at: i64,
) -> Result<u64> {
    for role in ["owner", "moderator"] {
        let any: bool = tx.query_one(
            "SELECT EXISTS (SELECT 1 FROM members WHERE community_id = ?1 AND role = ?2
                                                     AND status = 'active')",
            params![community.0, role],
            |r| r.get(0),
        )?;
        if !any {
            continue;
        }
        let outbox: i64 = tx.query_one(
            "INSERT INTO outbox (community_id, kind, subject, message, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
            params![community.0, msg.kind.as_str(), msg.subject, msg.message, at],
            |r| r.get(0),
        )?;
        let n = tx.execute(
            match tx.on().dialect() {
                Dialect::Sqlite => {
                    "INSERT OR IGNORE INTO deliveries (outbox_id, member_id, recipient, state, next_attempt_at)
                     SELECT ?1, id, email, 'pending', ?2 FROM members
                     WHERE community_id = ?3 AND role = ?4 AND status = 'active'"
                }
                Dialect::Postgres => {
                    "INSERT INTO deliveries (outbox_id, member_id, recipient, state, next_attempt_at)
                     SELECT ?1, id, email, 'pending', ?2 FROM members
                     WHERE community_id = ?3 AND role = ?4 AND status = 'active'
                     ON CONFLICT DO NOTHING"
                }
            },
            params![outbox, at, community.0, role],
        )?;
        return Ok(n as u64);
    }
    Ok(0)
}

fn member_by_id(tx: &impl Queries, id: MemberId) -> Result<Member> {
    tx.query_one(
        &format!(
            "SELECT {} FROM members m JOIN communities c ON c.id = m.community_id WHERE m.id = ?1",
            super::members::COLUMNS
        ),
        params![id.0],
        super::members::member_from_row,
    )
}

impl Store {
    /// Records a bounce for `email` in `community`: raises the score (once per
    /// `rule.interval`, from zero when the last bounce is stale), and at the
    /// threshold disables the member and queues `notice` (given the member,
    /// the score and `detail`) to the owners, all
    /// in one transaction. `detail` (the server's text) goes to the audit log.
    pub fn record_bounce(
        &mut self,
        community: CommunityId,
        email: &str,
        rule: &BounceRule,
        at: i64,
        detail: &str,
        notice: &dyn Fn(&Member, f64, &str) -> Option<Notice>,
    ) -> Result<BounceOutcome> {
        let tx = self.conn.transaction()?;
        let out = record_bounce_tx(&tx, community, email, rule, at, detail, notice)?;
        tx.commit()?;
        Ok(out)
    }

    /// Disabled members with no probe outstanding whose last bounce is at
    /// least `probe_after` seconds old; at most `limit`.
    pub fn probes_due(&self, now: i64, probe_after: i64, limit: u32) -> Result<Vec<ProbeDue>> {
        self.conn.query_map(
            &format!(
            "SELECT {}, m.community_id FROM members m JOIN communities c ON c.id = m.community_id
             WHERE m.status = 'disabled' AND m.probe_delivery_id IS NULL
               AND COALESCE(m.last_bounce_at, 0) <= ?1
             ORDER BY m.id LIMIT ?2",
            super::members::COLUMNS
            ),
            params![now - probe_after, limit],
            |r| {
                Ok(ProbeDue {
                    member: super::members::member_from_row(r)?,
                    community: CommunityId(r.get(super::members::COLUMN_COUNT)?),
                })
            },
        )
    }

    /// Queues a probe to a disabled member and remembers its delivery.
    pub fn queue_probe(
        &mut self,
        community: CommunityId,
        member: MemberId,
        email: &str,
        probe: &Notice,
        now: i64,
    ) -> Result<DeliveryId> {
        let tx = self.conn.transaction()?;
        let outbox: i64 = tx.query_one(
            "INSERT INTO outbox (community_id, kind, subject, message, created_at)
             VALUES (?1, 'notice', ?2, ?3, ?4) RETURNING id",
            params![community.0, probe.subject, probe.message, now],
            |r| r.get(0),
        )?;
        let delivery: i64 = tx.query_one(
            "INSERT INTO deliveries (outbox_id, member_id, recipient, state, next_attempt_at)
             VALUES (?1, ?2, ?3, 'pending', ?4) RETURNING id",
            params![outbox, member.0, normalise_email(email), now],
            |r| r.get(0),
        )?;
        tx.execute(
            "UPDATE members SET probe_delivery_id = ?2 WHERE id = ?1 AND status = 'disabled'",
            params![member.0, delivery],
        )?;
        tx.commit()?;
        Ok(DeliveryId(delivery))
    }

    /// Settles probes: a failed probe is forgotten (another follows after
    /// `probe_after`); a probe accepted at least `probe_wait` seconds ago with
    /// no bounce since re-enables its member (score cleared, audit row).
    pub fn settle_probes(&mut self, now: i64, probe_wait: i64) -> Result<Vec<Reenabled>> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE members SET probe_delivery_id = NULL
             WHERE status = 'disabled' AND probe_delivery_id IN
                   (SELECT id FROM deliveries WHERE state = 'failed')",
            params![],
        )?;
        let passed: Vec<(i64, i64, String)> = tx.query_map(
            "SELECT m.id, m.community_id, m.email FROM members m
                 JOIN deliveries d ON d.id = m.probe_delivery_id
                 WHERE m.status = 'disabled' AND d.state = 'sent' AND d.sent_at <= ?1
                   AND (m.last_bounce_at IS NULL OR m.last_bounce_at < d.sent_at)",
            params![now - probe_wait],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut out = Vec::with_capacity(passed.len());
        for (id, community, email) in passed {
            tx.execute(
                "UPDATE members SET status = 'active', bounce_score = 0, probe_delivery_id = NULL
                 WHERE id = ?1",
                params![id],
            )?;
            super::members::log_decision_how(
                &tx,
                CommunityId(community),
                None,
                "system",
                How::System,
                "member-enable",
                Some("a probe was delivered and did not bounce"),
                Some(&email),
                now,
            )?;
            out.push(Reenabled {
                community: CommunityId(community),
                email,
            });
        }
        tx.commit()?;
        Ok(out)
    }

    /// The last audit rows for a member address (newest first), for tests
    /// and `praxis members` views: (action, reason).
    pub fn member_decisions(
        &self,
        community: CommunityId,
        email: &str,
        limit: u32,
    ) -> Result<Vec<(String, Option<String>)>> {
        self.conn.query_map(
            "SELECT action, reason FROM decisions WHERE community_id = ?1 AND detail = ?2
             ORDER BY id DESC LIMIT ?3",
            params![community.0, normalise_email(email), limit],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }
}

/// A recipient for [`Store::queue_to`] from a member.
impl From<&Member> for NewRecipient {
    fn from(m: &Member) -> Self {
        NewRecipient {
            member: Some(m.id),
            address: m.email.clone(),
        }
    }
}
