//! The facts a community's health figures are computed from (`praxis stats`,
//! `/c/SLUG/health`): its queries with their replies and responses, and the
//! instants of posts, joins, leavings, bounces and disablings in a period.
//! Counting them into months and medians is `crate::stats`'s (pure) work.

use super::engine::{Dialect, Queries};
use super::{Result, Store};
use chrono::NaiveDate;

use crate::config::CommunityConfig;
use crate::model::CommunityId;
use crate::stats::{self, ACTIVE_DAYS, Health, QueryFacts, StatsFacts};

impl Store {
    /// Queues the health report of `month` (`YYYY-MM`) for community `c`
    /// unless it was queued before: the record and the message are written
    /// in one transaction, so each month is reported once. Returns whether
    /// it queued one.
    pub fn queue_health_report(
        &mut self,
        c: CommunityId,
        month: &str,
        msg: &super::NewOutbox<'_>,
        recipients: &[super::NewRecipient],
        now: i64,
    ) -> Result<bool> {
        super::outbox::queue_once(
            &mut self.conn,
            "INSERT INTO health_reports (community_id, month, sent_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            super::engine::params![c.0, month, now],
            msg,
            recipients,
            now,
        )
    }

    /// When community `c` was first stored (Unix seconds): months before
    /// it get no report.
    pub fn community_created_at(&self, c: CommunityId) -> Result<i64> {
        self.conn.query_one(
            "SELECT created_at FROM communities WHERE id = ?1",
            super::engine::params![c.0],
            |r| r.get(0),
        )
    }

    /// Community `c`'s health from `since` through `today` (days in its
    /// zone), `now` deciding who is active and which queries are overdue:
    /// what `praxis stats` prints and `/c/SLUG/health` draws.
    pub fn community_health(
        &self,
        c: CommunityId,
        slug: &str,
        cfg: &CommunityConfig,
        since: NaiveDate,
        today: NaiveDate,
        now: i64,
    ) -> Result<Health> {
        let until = stats::next_day(today);
        let (start, end) = stats::period_bounds(since, until, cfg.timezone);
        let active_since = now - ACTIVE_DAYS as i64 * 86_400;
        let facts = self.stats_facts(c, start, end, active_since, now)?;
        Ok(stats::health(
            slug,
            since,
            until,
            &facts,
            &cfg.calendar(),
            cfg.reply_within_working_days,
            cfg.timezone,
        ))
    }

    /// The facts for community `c` from `since` to `until` (Unix seconds,
    /// `until` excluded); `active_since` starts the window in which a member
    /// who posted counts as active; `now` decides which queries are overdue.
    pub fn stats_facts(
        &self,
        c: CommunityId,
        since: i64,
        until: i64,
        active_since: i64,
        now: i64,
    ) -> Result<StatsFacts> {
        let queries = self.conn.query_map(
            "SELECT asked, deadline_at, replied_at, responses, responders FROM (
                 SELECT t.id,
                    COALESCE((SELECT r.approved_at FROM posts r WHERE r.id = t.root_post_id),
                             t.first_at) AS asked, t.deadline_at,
                    (SELECT MIN(r.published_at) FROM consolidated_replies r
                     WHERE r.thread_id = t.id AND r.addendum_to IS NULL
                       AND r.state = 'published') AS replied_at,
                    (SELECT COUNT(*) FROM posts p WHERE p.thread_id = t.id
                       AND p.state = 'approved' AND p.id IS DISTINCT FROM t.root_post_id)
                    + (SELECT COUNT(*) FROM offline_responses o WHERE o.thread_id = t.id)
                      AS responses,
                    (SELECT COUNT(*) FROM (
                        SELECT lower(p.from_addr) AS who FROM posts p
                        WHERE p.thread_id = t.id AND p.state = 'approved'
                          AND p.id IS DISTINCT FROM t.root_post_id
                        UNION
                        SELECT lower(m.email) FROM offline_responses o
                        JOIN members m ON m.id = o.member_id WHERE o.thread_id = t.id
                     ) w WHERE who IS DISTINCT FROM (SELECT lower(q.from_addr) FROM posts q
                                                     WHERE q.id = t.root_post_id))
                      AS responders
                 FROM threads t
                 WHERE t.community_id = ?1 AND t.kind = 'query'
                   AND EXISTS (SELECT 1 FROM posts p WHERE p.thread_id = t.id
                                 AND p.state = 'approved')
             ) q
             WHERE asked >= ?2 AND asked < ?3
             ORDER BY asked, id",
            super::engine::params![c.0, since, until],
            |r| {
                Ok(QueryFacts {
                    asked_at: r.get(0)?,
                    deadline_at: r.get(1)?,
                    replied_at: r.get(2)?,
                    responses: r.get(3)?,
                    responders: r.get(4)?,
                })
            },
        )?;
        let instants = |sql: &str| -> Result<Vec<i64>> {
            self.conn
                .query_map(sql, super::engine::params![c.0, since, until], |r| r.get(0))
        };
        // SQLite's planner needs telling which index serves a community's
        // approved posts by date; PostgreSQL's finds it.
        let posts = instants(match self.dialect() {
            Dialect::Sqlite => {
                "SELECT date FROM posts INDEXED BY posts_approved_date
                 WHERE community_id = ?1 AND date >= ?2 AND date < ?3
                   AND class = 'post' AND state = 'approved' ORDER BY date"
            }
            Dialect::Postgres => {
                "SELECT date FROM posts
                 WHERE community_id = ?1 AND date >= ?2 AND date < ?3
                   AND class = 'post' AND state = 'approved' ORDER BY date"
            }
        })?;
        let joined = instants(
            "SELECT joined_at FROM members WHERE community_id = ?1
               AND joined_at >= ?2 AND joined_at < ?3 AND status <> 'pending'
             ORDER BY joined_at",
        )?;
        let left = instants(
            "SELECT at FROM decisions WHERE community_id = ?1 AND at >= ?2 AND at < ?3
               AND action IN ('member-unsubscribe', 'member-remove') ORDER BY at",
        )?;
        let bounces = instants(
            "SELECT received_at FROM posts
             WHERE community_id = ?1 AND received_at >= ?2 AND received_at < ?3
               AND class = 'bounce' ORDER BY received_at",
        )?;
        let disabled = instants(
            "SELECT at FROM decisions WHERE community_id = ?1 AND at >= ?2 AND at < ?3
               AND action = 'member-disable' ORDER BY at",
        )?;
        let referrals = self.conn.query_map(
            &format!(
                "SELECT r.at, {} FROM referrals r
                 WHERE r.community_id = ?1 AND r.at >= ?2 AND r.at < ?3 ORDER BY r.at",
                super::referrals::ANSWERED
            ),
            super::engine::params![c.0, since, until],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let groups = |sql: &str| -> Result<Vec<(String, i64)>> {
            self.conn.query_map(sql, super::engine::params![c.0], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        };
        let members_by_status = groups(
            "SELECT status, COUNT(*) FROM members WHERE community_id = ?1
             GROUP BY status ORDER BY status",
        )?;
        let members_by_delivery = groups(
            "SELECT delivery, COUNT(*) FROM members WHERE community_id = ?1
               AND status = 'active' GROUP BY delivery ORDER BY delivery",
        )?;
        let active_members = self.conn.query_one(
            "SELECT COUNT(*) FROM members m WHERE m.community_id = ?1 AND m.status = 'active'
               AND EXISTS (SELECT 1 FROM posts p WHERE p.community_id = m.community_id
                             AND p.from_addr = m.email AND p.class = 'post'
                             AND p.state = 'approved' AND p.date >= ?2)",
            super::engine::params![c.0, active_since],
            |r| r.get(0),
        )?;
        let open = "FROM threads t WHERE t.community_id = ?1 AND t.kind = 'query'
              AND t.state <> 'published'
              AND EXISTS (SELECT 1 FROM posts p WHERE p.thread_id = t.id AND p.state = 'approved')";
        let open_queries = self.conn.query_one(
            &format!("SELECT COUNT(*) {open}"),
            super::engine::params![c.0],
            |r| r.get(0),
        )?;
        let overdue_queries = self.conn.query_one(
            &format!("SELECT COUNT(*) {open} AND t.deadline_at < ?2"),
            super::engine::params![c.0, now],
            |r| r.get(0),
        )?;
        Ok(StatsFacts {
            queries,
            posts,
            joined,
            left,
            bounces,
            disabled,
            referrals,
            members_by_status,
            members_by_delivery,
            active_members,
            open_queries,
            overdue_queries,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::model::CommunityId;
    use crate::stats::QueryFacts;
    use crate::store::Store;

    /// A community with two queries, a discussion, members in each state
    /// and the acts `stats_facts` reads, at times 1000, 2000, …
    fn community(store: &Store) {
        store.fixture(
                "INSERT INTO communities (id, slug, name, address, created_at)
                     VALUES (1, 'health', 'Health', 'list@example.test', 0),
                            (2, 'water', 'Water', 'water@example.test', 0);
                 INSERT INTO members (id, community_id, email, status, delivery, joined_at) VALUES
                     (1, 1, 'asha@example.org', 'active', 'each', 500),
                     (2, 1, 'ravi@example.org', 'active', 'digest', 1500),
                     (3, 1, 'meena@example.org', 'active', 'each', 2500),
                     (4, 1, 'gone@example.org', 'unsubscribed', 'each', 1600),
                     (5, 1, 'new@example.org', 'pending', 'each', 1700),
                     (6, 1, 'dead@example.org', 'disabled', 'each', 100),
                     (7, 2, 'other@example.org', 'active', 'each', 1500);
                 INSERT INTO threads (id, community_id, root_post_id, subject, kind, state, first_at, last_at, deadline_at) VALUES
                     (1, 1, 1, 'Boat clinics?', 'query', 'published', 1000, 1400, 5000),
                     (2, 1, 5, 'Fluoride?', 'query', 'open', 2000, 2000, 3000),
                     (3, 1, 6, 'News', 'discussion', 'open', 1100, 1100, NULL),
                     (4, 1, 7, 'Held only', 'query', 'open', 1200, 1200, 1300),
                     (5, 1, NULL, 'Root not stored', 'query', 'open', 2500, 2600, 9000);
                 INSERT INTO posts (id, community_id, message_id, sha256, raw, size, source, received_at,
                                    class, state, from_addr, subject, date, thread_id, approved_at) VALUES
                     (1, 1, 'q1@x', x'01', x'00', 1, 'lmtp', 1000, 'post', 'approved', 'asha@example.org', 'Boat clinics?', 1000, 1, 1050),
                     (2, 1, 'r1@x', x'02', x'00', 1, 'lmtp', 1100, 'post', 'approved', 'ravi@example.org', 'Re', 1100, 1, NULL),
                     (3, 1, 'r2@x', x'03', x'00', 1, 'lmtp', 1200, 'post', 'approved', 'RAVI@example.org', 'Re', 1200, 1, NULL),
                     (4, 1, 'r3@x', x'04', x'00', 1, 'lmtp', 1300, 'post', 'approved', 'asha@example.org', 'Re', 1300, 1, NULL),
                     (5, 1, 'q2@x', x'05', x'00', 1, 'lmtp', 2000, 'post', 'approved', 'meena@example.org', 'Fluoride?', 2000, 2, NULL),
                     (6, 1, 'd1@x', x'06', x'00', 1, 'lmtp', 1100, 'post', 'approved', 'ravi@example.org', 'News', 1100, 3, NULL),
                     (7, 1, 'h1@x', x'07', x'00', 1, 'lmtp', 1200, 'post', 'held', 'asha@example.org', 'Held only', 1200, 4, NULL),
                     (8, 1, 'b1@x', x'08', x'00', 1, 'lmtp', 1250, 'bounce', 'handled', 'mailer-daemon@x', 'Undelivered', 1250, NULL, NULL),
                     (9, 1, 'r4@x', x'09', x'00', 1, 'lmtp', 1150, 'post', 'rejected', 'dead@example.org', 'Re', 1150, 1, NULL),
                     (10, 1, 'r5@x', x'0a', x'00', 1, 'lmtp', 2600, 'post', 'approved', 'ravi@example.org', 'Re', 2600, 5, NULL);
                 INSERT INTO offline_responses (thread_id, member_id, text, added_by, added_at)
                     VALUES (1, 3, 'By phone: it worked.', 'mod', 1350);
                 INSERT INTO consolidated_replies (id, community_id, thread_id, addendum_to, state, subject, published_at, created_at)
                     VALUES (1, 1, 1, NULL, 'published', 'CR', 1400, 1390),
                            (2, 1, 1, 1, 'published', 'Addendum', 1450, 1440),
                            (3, 1, 2, NULL, 'draft', 'CR draft', NULL, 2100);
                 INSERT INTO decisions (community_id, actor, action, detail, at) VALUES
                     (1, 'asha', 'member-unsubscribe', 'gone@example.org', 1700),
                     (1, 'mod', 'member-remove', 'x@example.org', 1800),
                     (1, 'mod', 'member-set', 'ravi@example.org', 1800),
                     (1, 'system', 'member-disable', 'dead@example.org', 1260),
                     (2, 'mod', 'member-remove', 'y@example.org', 1800);",
        );
    }

    #[test]
    fn the_facts_count_what_the_figures_need() {
        Store::each_engine(the_facts_on);
    }

    fn the_facts_on(store: Store) {
        community(&store);
        let f = store
            .stats_facts(CommunityId(1), 1000, 3000, 1150, 4000)
            .unwrap();
        assert_eq!(
            f.queries,
            vec![
                // Three approved replies and one offline; Ravi twice (any
                // case) and Meena offline; Asha asked, so she is no responder.
                // Asked when its first post was approved, not when dated.
                QueryFacts {
                    asked_at: 1050,
                    deadline_at: Some(5000),
                    replied_at: Some(1400),
                    responses: 4,
                    responders: 2,
                },
                // Only a draft: not replied. The held-only query is left out.
                QueryFacts {
                    asked_at: 2000,
                    deadline_at: Some(3000),
                    replied_at: None,
                    responses: 0,
                    responders: 0,
                },
                // Its first post not stored (a reply came first): asked at
                // the thread's first date, every post a response.
                QueryFacts {
                    asked_at: 2500,
                    deadline_at: Some(9000),
                    replied_at: None,
                    responses: 1,
                    responders: 1,
                },
            ]
        );
        // Approved posts only (not the held, rejected or bounce ones).
        assert_eq!(f.posts, vec![1000, 1100, 1100, 1200, 1300, 2000, 2600]);
        assert_eq!(f.joined, vec![1500, 1600, 2500]);
        assert_eq!(f.left, vec![1700, 1800]);
        assert_eq!(f.bounces, vec![1250]);
        assert_eq!(f.disabled, vec![1260]);
        assert_eq!(
            f.members_by_status,
            vec![
                ("active".to_string(), 3),
                ("disabled".to_string(), 1),
                ("pending".to_string(), 1),
                ("unsubscribed".to_string(), 1)
            ]
        );
        assert_eq!(
            f.members_by_delivery,
            vec![("digest".to_string(), 1), ("each".to_string(), 2)]
        );
        // Ravi (1200) and Meena (2000) posted since 1150; Asha last at 1300,
        // but she is active too: 3.
        assert_eq!(f.active_members, 3);
        // Two open queries, one past its deadline (3000 < 4000); the
        // held-only one has no approved post.
        assert_eq!((f.open_queries, f.overdue_queries), (2, 1));
        // A narrower period leaves out what falls outside it.
        let f = store
            .stats_facts(CommunityId(1), 1500, 2000, 1150, 2500)
            .unwrap();
        assert!(f.queries.is_empty());
        assert_eq!(f.posts, Vec::<i64>::new());
        assert_eq!(f.left, vec![1700, 1800]);
        assert_eq!(f.overdue_queries, 0);
    }
}
