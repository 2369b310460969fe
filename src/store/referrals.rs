//! Referrals: a query's personal invitations to chosen members, each member
//! invited to a query once and at most so many times a month, members who
//! want none, and which invitations a response followed.

use serde::Serialize;

use super::engine::{Queries, params};
use super::{Result, Store};
use crate::model::{CommunityId, MemberId, ThreadId};

/// Why a member was not invited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "refused", rename_all = "snake_case")]
pub enum ReferralRefused {
    /// They asked for no invitations.
    OptedOut,
    /// They were invited to this query already, at this time.
    AlreadyInvited {
        /// When.
        at: i64,
    },
    /// They had this month's invitations already.
    MonthFull {
        /// Invitations since the month began.
        sent: u32,
    },
}

/// One invitation, for a query's list and `praxis refer --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Referral {
    /// The member's address.
    pub email: String,
    /// Their name.
    pub name: String,
    /// Who invited them.
    pub referred_by: String,
    /// What they read about why they were asked.
    pub why: String,
    /// When (RFC 3339 in JSON).
    #[serde(serialize_with = "crate::model::serialize_unix_time")]
    pub at: i64,
    /// Whether they posted an approved response in the query since.
    pub responded: bool,
}

/// Invitations in a period and how many a response followed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReferralCounts {
    /// Invitations sent.
    pub sent: i64,
    /// Of those, the ones the member answered in the query afterwards.
    pub answered: i64,
}

/// The SQL condition "the referral `r` was followed by an approved post of
/// its member in its thread".
pub(super) const ANSWERED: &str =
    "EXISTS (SELECT 1 FROM posts p JOIN members m ON m.id = r.member_id
                               WHERE p.thread_id = r.thread_id AND p.state = 'approved'
                                 AND p.received_at >= r.at
                                 AND (p.member_id = r.member_id OR p.from_addr = m.email))";

impl Store {
    /// Records that `member` is invited to respond to `thread`, by `by`,
    /// unless they opted out, were invited to it already, or had `cap`
    /// invitations since `month_start`; audited as `refer` under the
    /// store's actor. The invitation's mail is queued by the caller in the
    /// same moment; a refusal records nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn record_referral(
        &mut self,
        community: CommunityId,
        thread: ThreadId,
        member: MemberId,
        email: &str,
        why: &str,
        cap: u32,
        month_start: i64,
        now: i64,
    ) -> Result<std::result::Result<(), ReferralRefused>> {
        let tx = self.conn.transaction()?;
        let opted_out: bool = tx.query_one(
            "SELECT EXISTS (SELECT 1 FROM referral_opt_outs WHERE member_id = ?1)",
            params![member.0],
            |r| r.get(0),
        )?;
        if opted_out {
            return Ok(Err(ReferralRefused::OptedOut));
        }
        let earlier: Option<i64> = tx.query_opt(
            "SELECT at FROM referrals WHERE thread_id = ?1 AND member_id = ?2",
            params![thread.0, member.0],
            |r| r.get(0),
        )?;
        if let Some(at) = earlier {
            return Ok(Err(ReferralRefused::AlreadyInvited { at }));
        }
        let sent: u32 = tx.query_one(
            "SELECT COUNT(*) FROM referrals WHERE member_id = ?1 AND at >= ?2",
            params![member.0, month_start],
            |r| r.get(0),
        )?;
        if sent >= cap {
            return Ok(Err(ReferralRefused::MonthFull { sent }));
        }
        tx.execute(
            "INSERT INTO referrals (community_id, thread_id, member_id, referred_by, why, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![community.0, thread.0, member.0, self.actor.who, why, now],
        )?;
        super::audit::record(
            &tx,
            &super::audit::Act {
                community,
                actor: &self.actor,
                act: "refer",
                object: Some(("query", thread.0)),
                detail: Some(email),
                at: now,
            },
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }

    /// A query's invitations, oldest first, each saying whether a response
    /// followed.
    pub fn referrals(&self, thread: ThreadId) -> Result<Vec<Referral>> {
        self.conn.query_map(
            &format!(
                "SELECT m.email, m.name, r.referred_by, r.why, r.at, {ANSWERED}
                 FROM referrals r JOIN members m ON m.id = r.member_id
                 WHERE r.thread_id = ?1 ORDER BY r.at, r.id"
            ),
            params![thread.0],
            |r| {
                Ok(Referral {
                    email: r.get(0)?,
                    name: r.get(1)?,
                    referred_by: r.get(2)?,
                    why: r.get(3)?,
                    at: r.get(4)?,
                    responded: r.get(5)?,
                })
            },
        )
    }

    /// Invitations sent in `[from, until)` and how many were answered.
    pub fn referral_counts(
        &self,
        community: CommunityId,
        from: i64,
        until: i64,
    ) -> Result<ReferralCounts> {
        // The condition counted as 1 or 0: PostgreSQL sums no booleans.
        let (sent, answered) = self.conn.query_one(
            &format!(
                "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN {ANSWERED} THEN 1 ELSE 0 END), 0) AS BIGINT)
                 FROM referrals r
                 WHERE r.community_id = ?1 AND r.at >= ?2 AND r.at < ?3"
            ),
            params![community.0, from, until],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(ReferralCounts { sent, answered })
    }

    /// Whether `member` welcomes invitations to respond.
    pub fn referrals_wanted(&self, member: MemberId) -> Result<bool> {
        let out: bool = self.conn.query_one(
            "SELECT EXISTS (SELECT 1 FROM referral_opt_outs WHERE member_id = ?1)",
            params![member.0],
            |r| r.get(0),
        )?;
        Ok(!out)
    }

    /// Records whether `member` welcomes invitations to respond.
    pub fn set_referrals_wanted(&mut self, member: MemberId, wanted: bool, now: i64) -> Result<()> {
        if wanted {
            self.conn.execute(
                "DELETE FROM referral_opt_outs WHERE member_id = ?1",
                params![member.0],
            )?;
        } else {
            self.conn.execute(
                "INSERT INTO referral_opt_outs (member_id, at) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
                params![member.0, now],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::outbox::fixtures::{fields, member, post, store};
    use super::*;
    use crate::model::{Delivery, MemberStatus, Role};

    /// A query thread of `c`.
    fn query(s: &Store, c: CommunityId, subject: &str) -> ThreadId {
        ThreadId(
            s.conn
                .query_one(
                    "INSERT INTO threads (community_id, subject, kind, first_at, last_at)
                     VALUES (?1, ?2, 'query', 0, 0) RETURNING id",
                    params![c.0, subject],
                    |r| r.get(0),
                )
                .unwrap(),
        )
    }

    #[test]
    fn a_member_is_invited_once_a_query_within_the_months_cap_unless_opted_out() {
        let (mut s, c) = store();
        let ravi = member(
            &mut s,
            c,
            "ravi@example.org",
            fields(Delivery::Each, Role::Member, MemberStatus::Active),
        );
        let (q1, q2) = (query(&s, c, "q1"), query(&s, c, "q2"));
        let refer = |s: &mut Store, q, at| {
            s.record_referral(c, q, ravi, "ravi@example.org", "you ran one", 1, 1000, at)
                .unwrap()
        };
        assert_eq!(refer(&mut s, q1, 2000), Ok(()));
        assert_eq!(
            refer(&mut s, q1, 2001),
            Err(ReferralRefused::AlreadyInvited { at: 2000 })
        );
        assert_eq!(
            refer(&mut s, q2, 2002),
            Err(ReferralRefused::MonthFull { sent: 1 })
        );
        s.set_referrals_wanted(ravi, false, 2003).unwrap();
        assert!(!s.referrals_wanted(ravi).unwrap());
        assert_eq!(refer(&mut s, q2, 2004), Err(ReferralRefused::OptedOut));
        s.set_referrals_wanted(ravi, true, 2005).unwrap();
        assert!(s.referrals_wanted(ravi).unwrap());
        let counts = |s: &Store| s.referral_counts(c, 0, 10_000).unwrap();
        assert_eq!(
            counts(&s),
            ReferralCounts {
                sent: 1,
                answered: 0
            }
        );
        assert!(!s.referrals(q1).unwrap()[0].responded);

        // Ravi answers in q1 after the invitation: it counts as answered.
        let p = post(
            &s,
            c,
            "ravi@example.org",
            b"Subject: Re: q1\r\n\r\nWe did.\r\n",
        );
        s.conn
            .execute(
                "UPDATE posts SET thread_id = ?1, received_at = 3000 WHERE id = ?2",
                params![q1.0, p.0],
            )
            .unwrap();
        assert!(s.referrals(q1).unwrap()[0].responded);
        assert_eq!(
            counts(&s),
            ReferralCounts {
                sent: 1,
                answered: 1
            }
        );
        let audit = s
            .audit(&super::super::audit::AuditFilter {
                limit: 100,
                ..Default::default()
            })
            .unwrap();
        assert!(audit.iter().any(|a| a.action == "refer"), "{audit:?}");
    }
}
