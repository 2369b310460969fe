//! The facts `crate::experts` ranks members by: the responses of active
//! members in given threads (credited when a published Consolidated Reply
//! came after them), and the members with the interests they gave.

use super::engine::{Queries, params};
use super::related::RelatedMethod;
use super::{Result, Store};
use crate::experts::{Candidate, Contribution, Expert, Similar, rank, words};
use crate::model::{CommunityId, PostId, ThreadId};

/// Similar threads whose responders count.
const SIMILAR: usize = 20;

/// What `Store::experts` ranks members for.
#[derive(Debug, Clone, Default)]
pub struct ExpertsFor<'a> {
    /// The subject, if any.
    pub subject: &'a str,
    /// The words.
    pub text: &'a str,
    /// A thread left out of the similar ones (the question's own).
    pub thread: Option<ThreadId>,
    /// A post left out (the question itself).
    pub post: Option<PostId>,
    /// An address left out (who asked).
    pub asker: Option<&'a str>,
}

impl Store {
    /// The members of `community` most likely to know the answer to `q`,
    /// at most `limit`, strongest first, each with why (see
    /// [`crate::experts`]).
    pub fn experts(
        &self,
        community: CommunityId,
        q: &ExpertsFor<'_>,
        now: i64,
        limit: usize,
    ) -> Result<Vec<Expert>> {
        let similar: Vec<Similar> = self
            .related_threads(
                community,
                q.subject,
                q.text,
                q.thread,
                q.post,
                SIMILAR,
                &RelatedMethod::PRAXIS,
            )?
            .into_iter()
            .map(|r| Similar {
                thread: r.thread_id.0,
                subject: r.subject,
                score: r.score,
            })
            .collect();
        let threads: Vec<i64> = similar.iter().map(|s| s.thread).collect();
        let contributions = self.contributions(community, &threads)?;
        let asker = q.asker.map(str::to_lowercase);
        let candidates: Vec<Candidate> = self
            .candidates(community)?
            .into_iter()
            .filter(|c| Some(&c.email) != asker.as_ref())
            .collect();
        Ok(rank(
            &similar,
            &contributions,
            &candidates,
            &words(&format!("{} {}", q.subject, q.text)),
            now,
            limit,
        ))
    }

    /// Active members' approved responses (not the question) and offline
    /// responses in `threads` of `community`.
    pub fn contributions(
        &self,
        community: CommunityId,
        threads: &[i64],
    ) -> Result<Vec<Contribution>> {
        let posts = "SELECT m.email, COALESCE(p.approved_at, p.received_at),
                    EXISTS (SELECT 1 FROM consolidated_replies r WHERE r.thread_id = p.thread_id
                              AND r.state = 'published'
                              AND r.published_at >= COALESCE(p.approved_at, p.received_at))
             FROM posts p JOIN threads t ON t.id = p.thread_id
             JOIN members m ON m.community_id = p.community_id AND m.email = lower(p.from_addr)
             WHERE p.thread_id = ?1 AND p.community_id = ?2 AND p.state = 'approved'
               AND p.class = 'post' AND p.id IS DISTINCT FROM t.root_post_id
               AND m.status = 'active'";
        let offline = "SELECT m.email, o.added_at,
                    EXISTS (SELECT 1 FROM consolidated_replies r WHERE r.thread_id = o.thread_id
                              AND r.state = 'published' AND r.published_at >= o.added_at)
             FROM offline_responses o JOIN members m ON m.id = o.member_id
             WHERE o.thread_id = ?1 AND m.community_id = ?2 AND m.status = 'active'";
        let mut out = Vec::new();
        for &t in threads {
            for sql in [posts, offline] {
                out.extend(self.conn.query_map(sql, params![t, community.0], |r| {
                    Ok(Contribution {
                        thread: t,
                        email: r.get(0)?,
                        at: r.get(1)?,
                        credited: r.get(2)?,
                    })
                })?);
            }
        }
        Ok(out)
    }

    /// The active members of `community` as the ranking names them.
    pub fn candidates(&self, community: CommunityId) -> Result<Vec<Candidate>> {
        self.conn.query_map(
            "SELECT email, name, organisation, interests FROM members
             WHERE community_id = ?1 AND status = 'active' ORDER BY email",
            params![community.0],
            |r| {
                Ok(Candidate {
                    email: r.get(0)?,
                    name: r.get(1)?,
                    organisation: r.get(2)?,
                    interests: r.get(3)?,
                })
            },
        )
    }
}
