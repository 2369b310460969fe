//! What goes into the next digest issue: pure selection over rows the store
//! hands in (no I/O), plus the volume/number arithmetic.
//!
//! Rules:
//! - Discussions: approved live posts not yet in any issue (the store leaves
//!   out imported history), grouped by thread; threads in the order they
//!   started, posts in thread order (date, then id).
//! - Consolidated Replies published since the last issue.
//! - Queries seeking your experience: open queries with working days left
//!   (overdue ones are the moderators' business, not a call to action),
//!   newest first.
//! - An issue with neither new posts nor new Consolidated Replies is not
//!   sent: open queries alone are not news.
//! - The number increments per issue; the volume bumps when the year (in the
//!   community's time zone) turns or when asked, and the number restarts at 1.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::Tz;

use crate::model::ThreadId;

/// One approved post waiting for a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostItem {
    /// Post id: recorded in digest_posts so the post is never sent twice.
    pub id: i64,
    /// Its thread: posts are grouped by it.
    pub thread_id: ThreadId,
    /// The thread's subject, the heading of its table-of-contents entry.
    pub thread_subject: String,
    /// When the thread started: threads are ordered by it.
    pub thread_first_at: i64,
    /// Sender display name, for the participants list and the message header.
    pub from_name: String,
    /// Sender address, shown when there is no name.
    pub from_addr: String,
    /// The post's own subject.
    pub subject: String,
    /// Date header (or receipt time), Unix seconds: thread order.
    pub date: i64,
    /// Message-ID, so a digest reader can reply to one post.
    pub message_id: String,
    /// The post's In-Reply-To (without brackets): the digest shows the
    /// threading the post has as each-post mail.
    pub in_reply_to: Option<String>,
    /// The post's References, oldest first (without brackets), for the same reason.
    pub references: Vec<String>,
    /// Plain text body as parsed.
    pub text: String,
    /// Raw size in bytes: feeds the size threshold.
    pub size: i64,
    /// When it was approved, Unix seconds: a scheduled issue is due only for
    /// what had accrued by its moment.
    pub accrued_at: i64,
}

/// A Consolidated Reply published since the last issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyItem {
    /// Its id.
    pub id: i64,
    /// The published subject.
    pub subject: String,
    /// The query it answers, so readers recognise it.
    pub query_subject: String,
    /// When it went out, Unix seconds: order within the section.
    pub published_at: i64,
    /// Its Message-ID, so a digest reader's reply threads under it.
    pub message_id: String,
    /// The query's Message-ID (its root post's): the reply's In-Reply-To
    /// and References, as the reply is threaded when sent on its own.
    pub query_message_id: String,
    /// The published draft (Markdown): digest members do not get the reply
    /// on its own, so the issue carries it in full.
    pub markdown: String,
}

/// An open query, with its working days left already computed by the caller
/// (the community's working calendar is configuration, not data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryItem {
    /// Thread id.
    pub thread: ThreadId,
    /// The query's subject.
    pub subject: String,
    /// When it was asked, Unix seconds: newest first.
    pub asked_at: i64,
    /// Working days left until the Consolidated Reply is due.
    pub days_left: i64,
}

/// The last issue sent, which numbering continues from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastIssue {
    /// Its volume.
    pub volume: i64,
    /// Its number within the volume.
    pub number: i64,
    /// When it was created, Unix seconds: a new year starts a new volume.
    pub created_at: i64,
}

/// Everything the store knows that could go into the next issue.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    /// Posts not yet in any issue.
    pub posts: Vec<PostItem>,
    /// Consolidated Replies published since the last issue.
    pub replies: Vec<ReplyItem>,
    /// Open queries with a deadline.
    pub queries: Vec<QueryItem>,
    /// The previous issue, if any.
    pub last: Option<LastIssue>,
    /// communities.digest_volume: the volume now accruing (a command may
    /// have bumped it past the last issue's).
    pub current_volume: i64,
}

/// One thread's section of the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSection {
    /// Thread id.
    pub thread_id: ThreadId,
    /// Thread subject, as in the table of contents.
    pub subject: String,
    /// Its new posts in thread order.
    pub posts: Vec<PostItem>,
    /// Distinct senders of the new posts, in order of first appearance.
    pub participants: Vec<String>,
}

/// The next issue's content and numbering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Volume.
    pub volume: i64,
    /// Issue number within the volume.
    pub number: i64,
    /// Consolidated Replies since the last issue, oldest first.
    pub replies: Vec<ReplyItem>,
    /// Open queries with days left, newest first.
    pub queries: Vec<QueryItem>,
    /// Discussions by thread.
    pub threads: Vec<ThreadSection>,
    /// The accrued posts passed `digest.max_posts` or `digest.max_kb`: the
    /// issue goes out early, ending with the post that passed it (any later
    /// ones wait for the next issue).
    pub full: bool,
}

impl Selection {
    /// Every post in the issue, in the order it is rendered.
    pub fn posts(&self) -> impl Iterator<Item = &PostItem> {
        self.threads.iter().flat_map(|t| t.posts.iter())
    }
}

/// The name a participant is shown by: display name, else address.
pub fn display_name(p: &PostItem) -> &str {
    if p.from_name.trim().is_empty() {
        &p.from_addr
    } else {
        p.from_name.trim()
    }
}

/// Volume and number of the issue after `last`, created at `now`.
pub fn numbering(
    last: Option<LastIssue>,
    current_volume: i64,
    now: DateTime<Utc>,
    tz: Tz,
    new_volume: bool,
) -> (i64, i64) {
    let year = |t: DateTime<Utc>| t.with_timezone(&tz).year();
    match last {
        None if new_volume => (current_volume.max(1) + 1, 1),
        None => (current_volume.max(1), 1),
        Some(l) => {
            let last_at = Utc.timestamp_opt(l.created_at, 0).single().unwrap_or(now);
            if current_volume > l.volume {
                (current_volume, 1)
            } else if new_volume || year(now) > year(last_at) {
                (l.volume + 1, 1)
            } else {
                (l.volume, l.number + 1)
            }
        }
    }
}

/// The next issue, or None when there is nothing new to send.
pub fn select(c: Candidates, now: DateTime<Utc>, tz: Tz, new_volume: bool) -> Option<Selection> {
    if c.posts.is_empty() && c.replies.is_empty() {
        return None;
    }
    let (volume, number) = numbering(c.last, c.current_volume, now, tz, new_volume);

    let mut posts = c.posts;
    posts.sort_by(|a, b| {
        (a.thread_first_at, a.thread_id, a.date, a.id).cmp(&(
            b.thread_first_at,
            b.thread_id,
            b.date,
            b.id,
        ))
    });
    let mut threads: Vec<ThreadSection> = Vec::new();
    for p in posts {
        match threads.last_mut() {
            Some(t) if t.thread_id == p.thread_id => t.posts.push(p),
            _ => threads.push(ThreadSection {
                thread_id: p.thread_id,
                subject: p.thread_subject.clone(),
                posts: vec![p],
                participants: Vec::new(),
            }),
        }
    }
    for t in &mut threads {
        for p in &t.posts {
            let name = display_name(p).to_string();
            if !t.participants.contains(&name) {
                t.participants.push(name);
            }
        }
    }

    let mut replies = c.replies;
    replies.sort_by_key(|r| (r.published_at, r.id));
    let mut queries: Vec<QueryItem> = c.queries.into_iter().filter(|q| q.days_left >= 0).collect();
    queries.sort_by_key(|q| std::cmp::Reverse((q.asked_at, q.thread)));

    Some(Selection {
        volume,
        number,
        replies,
        queries,
        threads,
        full: false,
    })
}

/// Cuts the accrued posts (oldest first) to one issue, like a digest that
/// fills up: posts are added until their number passes `max_posts` or their
/// size passes `max_kb`, the post that passes it included. Returns whether
/// a threshold was passed (the issue is full and goes out early).
pub fn bound(posts: &mut Vec<PostItem>, max_posts: u32, max_kb: Option<u32>) -> bool {
    posts.sort_by_key(|p| (p.accrued_at, p.id));
    let budget = max_kb.map(|k| i64::from(k) * 1024);
    let mut bytes = 0i64;
    for (i, p) in posts.iter().enumerate() {
        bytes += p.size;
        if i + 1 > max_posts as usize || budget.is_some_and(|b| bytes > b) {
            posts.truncate(i + 1);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn post(id: i64, thread: i64, first: i64, date: i64, name: &str) -> PostItem {
        PostItem {
            id,
            thread_id: ThreadId(thread),
            thread_subject: format!("thread {thread}"),
            thread_first_at: first,
            from_name: name.into(),
            from_addr: format!("{}@example.test", name.to_lowercase()),
            subject: format!("post {id}"),
            date,
            message_id: format!("{id}@example.test"),
            in_reply_to: None,
            references: Vec::new(),
            text: String::new(),
            size: 1000,
            accrued_at: date,
        }
    }

    const TZ: Tz = chrono_tz::Asia::Kolkata;

    #[test]
    fn nothing_new_is_not_sent_even_with_open_queries() {
        let c = Candidates {
            queries: vec![QueryItem {
                thread: ThreadId(1),
                subject: "q".into(),
                asked_at: 1,
                days_left: 5,
            }],
            current_volume: 1,
            ..Default::default()
        };
        assert_eq!(select(c, utc("2026-11-23T00:00:00Z"), TZ, false), None);
    }

    #[test]
    fn posts_group_by_thread_in_thread_order_with_participants() {
        let c = Candidates {
            posts: vec![
                post(5, 2, 200, 260, "Carol"),
                post(1, 1, 100, 100, "Alice"),
                post(4, 2, 200, 250, "Bob"),
                post(3, 1, 100, 150, "Alice"),
                post(2, 1, 100, 120, "Bob"),
            ],
            current_volume: 1,
            ..Default::default()
        };
        let s = select(c, utc("2026-11-23T00:00:00Z"), TZ, false).unwrap();
        let ids: Vec<Vec<i64>> = s
            .threads
            .iter()
            .map(|t| t.posts.iter().map(|p| p.id).collect())
            .collect();
        assert_eq!(ids, vec![vec![1, 2, 3], vec![4, 5]]);
        assert_eq!(s.threads[0].participants, vec!["Alice", "Bob"]);
        assert_eq!(s.threads[1].participants, vec!["Bob", "Carol"]);
        assert_eq!(s.posts().count(), 5);
        assert_eq!((s.volume, s.number), (1, 1));
    }

    #[test]
    fn queries_with_days_left_newest_first_overdue_left_out() {
        let q = |thread, asked_at, days_left| QueryItem {
            thread: ThreadId(thread),
            subject: format!("q{thread}"),
            asked_at,
            days_left,
        };
        let c = Candidates {
            replies: vec![ReplyItem {
                message_id: "r@x".into(),
                query_message_id: "q@x".into(),
                markdown: "Summary.".into(),
                id: 1,
                subject: "Consolidated Reply: x".into(),
                query_subject: "x".into(),
                published_at: 10,
            }],
            queries: vec![q(1, 100, 3), q(2, 300, 9), q(3, 200, -1), q(4, 250, 0)],
            current_volume: 1,
            ..Default::default()
        };
        let s = select(c, utc("2026-11-23T00:00:00Z"), TZ, false).unwrap();
        let threads: Vec<i64> = s.queries.iter().map(|q| q.thread.0).collect();
        assert_eq!(threads, vec![2, 4, 1]);
        assert!(s.threads.is_empty());
        assert_eq!(s.replies.len(), 1);
    }

    #[test]
    fn numbering_increments_and_bumps_volume_yearly_in_local_time() {
        let last = |volume, number, at: &str| {
            Some(LastIssue {
                volume,
                number,
                created_at: utc(at).timestamp(),
            })
        };
        let now = utc("2026-06-01T00:00:00Z");
        // (last issue, current volume, now, --new-volume) → (volume, number)
        let table = [
            (None, 1, now, false, (1, 1)),
            (last(1, 7, "2026-05-31T00:00:00Z"), 1, now, false, (1, 8)),
            (last(1, 7, "2026-05-31T00:00:00Z"), 1, now, true, (2, 1)),
            (last(3, 7, "2025-12-31T12:00:00Z"), 3, now, false, (4, 1)),
            // a command bumped communities.digest_volume
            (last(3, 7, "2026-05-31T00:00:00Z"), 4, now, false, (4, 1)),
            // 2025-12-31T20:00Z is already 2026-01-01 in Kolkata: same year as now
            (last(2, 5, "2025-12-31T20:00:00Z"), 2, now, false, (2, 6)),
            // and 2026-12-31T19:00Z is 2027 in Kolkata: a new volume
            (
                last(2, 5, "2026-12-31T18:00:00Z"),
                2,
                utc("2026-12-31T19:00:00Z"),
                false,
                (3, 1),
            ),
        ];
        for (l, cur, now, bump, want) in table {
            assert_eq!(
                numbering(l, cur, now, TZ, bump),
                want,
                "{l:?} {cur} {now} {bump}"
            );
        }
    }

    #[test]
    fn an_issue_fills_up_by_count_or_size_oldest_first() {
        // Five posts of 1000 bytes, accrued in order 0..5, listed out of order.
        let all: Vec<PostItem> = (0..5).rev().map(|i| post(i, 1, 0, i, "A")).collect();
        let ids = |p: &[PostItem]| p.iter().map(|p| p.id).collect::<Vec<_>>();
        let mut p = all.clone();
        assert!(
            !bound(&mut p, 5, Some(5)),
            "at the thresholds, not past them"
        );
        assert_eq!(ids(&p), vec![0, 1, 2, 3, 4]);
        let mut p = all.clone();
        assert!(bound(&mut p, 2, None), "past the count");
        assert_eq!(ids(&p), vec![0, 1, 2]);
        let mut p = all.clone();
        assert!(bound(&mut p, 50, Some(2)), "past the size");
        assert_eq!(ids(&p), vec![0, 1, 2]);
        let mut p = all;
        assert!(bound(&mut p, 50, Some(0)));
        assert_eq!(ids(&p), vec![0], "the post that passes it goes");
    }
}
