//! The posting policy: given what is known about a post and its sender, decide
//! accept, hold (with a reason a moderator understands), reject or discard.
//! Pure: the pipeline gathers the facts, this decides.
//!
//! The `[community.policy]` keys ([`PolicyConfig`]) are defined here, beside
//! the rules that read them; `config` reads and checks them (and re-exports
//! them), so this file imports nothing from `config`.
//!
//! Long because each rule has its tests beside it (half the file): every
//! key's values, every hold reason and which new threads are queries.

use serde::{Deserialize, Serialize};

use crate::model::{MemberStatus, Moderation, ThreadKind};

/// First-post moderation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FirstPost {
    /// A new member's first post waits for a moderator.
    Hold,
    /// New members post freely.
    Accept,
}

/// What happens to a nonmember's post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Nonmember {
    /// Held for a moderator.
    Hold,
    /// Refused with a notice.
    Reject,
    /// Dropped silently (kept in the database).
    Discard,
}

/// What happens to attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attachments {
    /// Passed through.
    Allow,
    /// Removed from what is distributed (kept in the raw post).
    Strip,
    /// The post is held.
    Hold,
}

/// What members' HTML becomes in each-post copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Html {
    /// Cleaned by ammonia (no scripts, no event handlers), as in digests
    /// and Consolidated Replies.
    Sanitise,
    /// Plain text only: an alternative keeps its text/plain part; an
    /// HTML-only part becomes text/plain from the HTML.
    Text,
    /// Passed as the member wrote it.
    Pass,
}

/// How new members join by mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subscription {
    /// Confirming by mail is enough.
    Confirm,
    /// After confirming, a moderator approves (`praxis members set --status active`).
    Approve,
}

/// How moderators hear about held posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeratorNotices {
    /// A notice for every hold.
    Each,
    /// One summary a day of what is waiting.
    Daily,
    /// None: moderators watch `praxis queue`.
    None,
}

/// What happens to a command sent to the posting address ("unsubscribe").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Administrivia {
    /// Held as `administrivia`; the sender is told where commands go.
    Hold,
    /// Carried out as if sent to the -request address (with the usual
    /// confirmation), and not distributed.
    Request,
}

/// Who is told that their post awaits a moderator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acknowledge {
    /// Members, and nonmembers whose mail passed DMARC by our own
    /// Authentication-Results: no backscatter to forged senders.
    Verified,
    /// Every sender.
    All,
    /// Nobody.
    None,
}

/// Which new threads are queries (with a deadline and reminders); the
/// others are discussions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Queries {
    /// Only threads a moderator marks (`praxis approve --query`, `praxis mark`).
    Moderator,
    /// Threads whose root asks something ([`asks_something`]).
    #[default]
    Questions,
    /// Every new thread.
    All,
}

/// Whether a thread's root asks something: a `?` in the subject or in the
/// first paragraph of the text, or a subject starting with "Query:" or
/// "Q:" (case-insensitive, after any `[list]` tag).
pub fn asks_something(subject: &str, text: &str) -> bool {
    let subject = crate::thread::strip_prefixes(subject);
    let lower = subject.to_lowercase();
    if subject.contains('?') || lower.starts_with("query:") || lower.starts_with("q:") {
        return true;
    }
    text.lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .any(|l| !l.trim_start().starts_with('>') && l.contains('?'))
}

/// The kind of a thread a live post starts, by the community's rule.
pub fn new_thread_kind(queries: Queries, subject: &str, text: &str) -> ThreadKind {
    match queries {
        Queries::All => ThreadKind::Query,
        Queries::Questions if asks_something(subject, text) => ThreadKind::Query,
        Queries::Questions | Queries::Moderator => ThreadKind::Discussion,
    }
}

/// `[community.policy]`: the posting policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyConfig {
    /// First-post moderation.
    pub first_post: FirstPost,
    /// Nonmembers' posts.
    pub nonmember: Nonmember,
    /// Hold everything.
    pub emergency: bool,
    /// Largest post accepted without a hold, in KB.
    pub max_size_kb: u64,
    /// Attachment policy.
    pub attachments: Attachments,
    /// Largest attachment kept, in KB: kept files are listed with a link in
    /// digests and Consolidated Replies, so readers who never see the post
    /// can still fetch them. 0 keeps none (each is listed as not kept).
    pub keep_attachments_kb: u64,
    /// What the HTML of a post becomes in each-post copies: a member's
    /// `<script>` or `onclick=` must not reach other members' mail clients.
    pub html: Html,
    /// How new members join by mail.
    pub subscription: Subscription,
    /// Hold posts that fail DMARC, as judged by the Authentication-Results
    /// header this server (authserv-id) adds, e.g. OpenDMARC at the MTA.
    /// Unset: no DMARC check.
    pub dmarc_authserv_id: Option<String>,
    /// How moderators hear about held posts.
    pub moderator_notices: ModeratorNotices,
    /// Automatic replies (acknowledgements, rejections, command replies,
    /// confirmations) one address gets per hour; past it, its mail is still
    /// stored and handled but answered no more, so a forged sender or a
    /// vacation responder cannot turn the list into a mail cannon. 0: no limit.
    pub sender_rate: u32,
    /// Messages from one address per hour past which each further post is
    /// held as `rate-limited`: no acknowledgement, no notice per post, one
    /// flood notice to the moderators. Nothing is dropped. 0: no limit.
    pub sender_flood: u32,
    /// A command sent to the posting address: held (default) or run as if
    /// sent to the -request address. Never distributed.
    pub administrivia: Administrivia,
    /// Who gets "awaiting moderation" notes: `verified` (default) keeps
    /// them from reaching forged senders.
    pub acknowledge: Acknowledge,
    /// Which new threads are queries with a deadline and reminders: not
    /// every announcement or thanks is a question waiting for an answer.
    pub queries: Queries,
    /// Reasons a moderator rejects with most often, offered ready-made in
    /// the web's queue (the authors read them as written).
    pub reject_reasons: Vec<String>,
    /// Personal invitations to respond to a query (`praxis refer`) one
    /// member gets per calendar month, so the few who know are not asked
    /// about everything. 0: no invitations.
    pub referrals_per_month: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            first_post: FirstPost::Hold,
            nonmember: Nonmember::Hold,
            emergency: false,
            max_size_kb: 5120,
            attachments: Attachments::Allow,
            keep_attachments_kb: 10240,
            html: Html::Sanitise,
            subscription: Subscription::Confirm,
            dmarc_authserv_id: None,
            moderator_notices: ModeratorNotices::Each,
            sender_rate: 10,
            sender_flood: 30,
            administrivia: Administrivia::Hold,
            acknowledge: Acknowledge::Verified,
            queries: Queries::Questions,
            reject_reasons: Vec::new(),
            referrals_per_month: 2,
        }
    }
}

/// What the policy knows about the sender when they are a member.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SenderFacts {
    /// Their moderation flag.
    pub moderation: Moderation,
    /// Their subscription status.
    pub status: MemberStatus,
    /// Approved posts so far.
    pub posts_approved: i64,
}

/// What the policy knows about a post.
#[derive(Debug, Clone, PartialEq)]
pub struct PostFacts {
    /// The sender, when they are a member of the community.
    pub sender: Option<SenderFacts>,
    /// Raw size in bytes.
    pub size: u64,
    /// Whether it carries attachments.
    pub has_attachments: bool,
    /// Whether the From domain failed DMARC (when checking is on).
    pub dmarc_fail: bool,
    /// Messages stored from the same address in the last hour, this one not
    /// counted (for `policy.sender_flood`).
    pub recent_from_sender: u64,
    /// Whether it reads as a list command ("unsubscribe") rather than a post.
    pub administrivia: bool,
}

/// The hold reason of a command sent to the posting address.
pub const ADMINISTRIVIA: &str = "administrivia";

/// Whether a held post's sender is told it awaits a moderator: by
/// `policy.acknowledge`, from whether they are a member and whether their
/// mail passed DMARC by our own Authentication-Results.
pub fn may_acknowledge(policy: &PolicyConfig, member: bool, dmarc_pass: bool) -> bool {
    match policy.acknowledge {
        Acknowledge::All => true,
        Acknowledge::None => false,
        Acknowledge::Verified => member || dmarc_pass,
    }
}

/// The hold reason of a post past `policy.sender_flood`.
pub const RATE_LIMITED: &str = "rate-limited";

/// The window `sender_rate` and `sender_flood` count over, in seconds.
pub const RATE_WINDOW_SECS: i64 = 3600;

/// Whether one more automatic reply may go to an address that has had
/// `sent` in the last hour.
pub fn may_reply(policy: &PolicyConfig, sent: u64) -> bool {
    policy.sender_rate == 0 || sent < u64::from(policy.sender_rate)
}

/// The policy's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Distribute.
    Accept,
    /// Wait for a moderator, for this reason.
    Hold(String),
    /// Refuse with a notice giving this reason.
    Reject(String),
    /// Drop silently (kept in the database), for this reason.
    Discard(String),
}

/// A byte count in words: "12.4 MB", "512 KB", "300 B".
pub fn human_size(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let kb = bytes as f64 / 1024.0;
    if kb >= 1024.0 {
        let mb = kb / 1024.0;
        if mb.fract() < 0.05 {
            format!("{mb:.0} MB")
        } else {
            format!("{mb:.1} MB")
        }
    } else {
        format!("{kb:.0} KB")
    }
}

/// A duration in words for queues: "42s", "5m", "3h", "2d".
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Decides what happens to a post.
pub fn decide(policy: &PolicyConfig, facts: &PostFacts) -> Decision {
    let member = facts
        .sender
        .filter(|s| matches!(s.status, MemberStatus::Active | MemberStatus::Disabled));
    if let Some(m) = member {
        match m.moderation {
            Moderation::Reject => {
                return Decision::Reject("your posts to this list are not accepted".into());
            }
            Moderation::Discard => return Decision::Discard("member set to discard".into()),
            _ => {}
        }
    }
    // A flood holds even trusted members: an account sending this much is
    // broken or taken over, and the moderators decide once for the lot.
    if policy.sender_flood > 0 && facts.recent_from_sender >= u64::from(policy.sender_flood) {
        return Decision::Hold(RATE_LIMITED.into());
    }
    // A command is never distributed, whoever sends it.
    if facts.administrivia {
        return Decision::Hold(ADMINISTRIVIA.into());
    }
    if policy.emergency {
        return Decision::Hold("emergency".into());
    }
    let limit = policy.max_size_kb.saturating_mul(1024);
    if facts.size > limit {
        return Decision::Hold(format!(
            "size {} > {}",
            human_size(facts.size),
            human_size(limit)
        ));
    }
    if facts.has_attachments && policy.attachments == Attachments::Hold {
        return Decision::Hold("attachments".into());
    }
    if facts.dmarc_fail {
        return Decision::Hold("dmarc fail".into());
    }
    match member {
        None => match policy.nonmember {
            Nonmember::Hold => Decision::Hold("nonmember".into()),
            Nonmember::Reject => Decision::Reject("only members may post to this list".into()),
            Nonmember::Discard => Decision::Discard("nonmember".into()),
        },
        Some(m) => match m.moderation {
            Moderation::Hold => Decision::Hold("moderated member".into()),
            Moderation::Accept => Decision::Accept,
            _ if m.posts_approved == 0 && policy.first_post == FirstPost::Hold => {
                Decision::Hold("first post".into())
            }
            _ => Decision::Accept,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_new_threads_are_queries() {
        let question = (
            "Mobile clinics",
            "Hello all,\nhas anyone run mobile clinics in floods?\n\nThanks",
        );
        let query = (
            "[health] QUERY: mobile clinics in floods",
            "Experiences welcome.",
        );
        let q = ("q: clinics", "Experiences welcome.");
        let thanks = (
            "Thank you",
            "Thanks to all who answered.\n\nWhy not meet? later",
        );
        let notice = (
            "Announcement: ASHA training modules",
            "The new modules are out.",
        );
        let quoted = ("unsubscribe", "> did you mean this?\nunsubscribe");
        for (subject, text) in [question, query, q] {
            assert!(asks_something(subject, text), "{subject}");
            assert_eq!(
                new_thread_kind(Queries::Questions, subject, text),
                ThreadKind::Query
            );
            assert_eq!(
                new_thread_kind(Queries::Moderator, subject, text),
                ThreadKind::Discussion
            );
        }
        for (subject, text) in [thanks, notice, quoted] {
            assert!(
                !asks_something(subject, text),
                "{subject}: only the first paragraph, unquoted"
            );
            assert_eq!(
                new_thread_kind(Queries::Questions, subject, text),
                ThreadKind::Discussion
            );
            assert_eq!(
                new_thread_kind(Queries::All, subject, text),
                ThreadKind::Query
            );
        }
        assert!(asks_something("Clinics?", ""));
        assert_eq!(PolicyConfig::default().queries, Queries::Questions);
    }

    fn member(moderation: Moderation, posts: i64) -> Option<SenderFacts> {
        Some(SenderFacts {
            moderation,
            status: MemberStatus::Active,
            posts_approved: posts,
        })
    }

    fn facts(sender: Option<SenderFacts>) -> PostFacts {
        PostFacts {
            sender,
            size: 2_000,
            has_attachments: false,
            dmarc_fail: false,
            recent_from_sender: 0,
            administrivia: false,
        }
    }

    #[test]
    fn every_knob() {
        use Decision::*;
        let base = PolicyConfig::default();
        let with = |f: &dyn Fn(&mut PolicyConfig)| {
            let mut p = base.clone();
            f(&mut p);
            p
        };
        let hold = |s: &str| Hold(s.to_string());
        let big = PostFacts {
            size: 13_002_342,
            ..facts(member(Moderation::Default, 5))
        };
        let attached = PostFacts {
            has_attachments: true,
            ..facts(member(Moderation::Default, 5))
        };
        let dmarc = PostFacts {
            dmarc_fail: true,
            ..facts(member(Moderation::Default, 5))
        };
        let unsubscribed = facts(Some(SenderFacts {
            moderation: Moderation::Accept,
            status: MemberStatus::Unsubscribed,
            posts_approved: 9,
        }));
        let cases: Vec<(&str, PolicyConfig, PostFacts, Decision)> = vec![
            (
                "regular member",
                base.clone(),
                facts(member(Moderation::Default, 3)),
                Accept,
            ),
            (
                "first post held",
                base.clone(),
                facts(member(Moderation::Default, 0)),
                hold("first post"),
            ),
            (
                "first post moderation off",
                with(&|p| p.first_post = FirstPost::Accept),
                facts(member(Moderation::Default, 0)),
                Accept,
            ),
            (
                "trusted first post",
                base.clone(),
                facts(member(Moderation::Accept, 0)),
                Accept,
            ),
            (
                "moderated member",
                base.clone(),
                facts(member(Moderation::Hold, 10)),
                hold("moderated member"),
            ),
            (
                "member set to reject",
                base.clone(),
                facts(member(Moderation::Reject, 10)),
                Reject("your posts to this list are not accepted".into()),
            ),
            (
                "member set to discard",
                base.clone(),
                facts(member(Moderation::Discard, 10)),
                Discard("member set to discard".into()),
            ),
            (
                "nonmember held",
                base.clone(),
                facts(None),
                hold("nonmember"),
            ),
            (
                "nonmember rejected",
                with(&|p| p.nonmember = Nonmember::Reject),
                facts(None),
                Reject("only members may post to this list".into()),
            ),
            (
                "nonmember discarded",
                with(&|p| p.nonmember = Nonmember::Discard),
                facts(None),
                Discard("nonmember".into()),
            ),
            (
                "unsubscribed is a nonmember",
                base.clone(),
                unsubscribed,
                hold("nonmember"),
            ),
            (
                "emergency holds even trusted members",
                with(&|p| p.emergency = true),
                facts(member(Moderation::Accept, 10)),
                hold("emergency"),
            ),
            ("too big", base.clone(), big, hold("size 12.4 MB > 5 MB")),
            (
                "attachments allowed",
                base.clone(),
                attached.clone(),
                Accept,
            ),
            (
                "attachments stripped later, accepted here",
                with(&|p| p.attachments = Attachments::Strip),
                attached.clone(),
                Accept,
            ),
            (
                "attachments held",
                with(&|p| p.attachments = Attachments::Hold),
                attached,
                hold("attachments"),
            ),
            ("dmarc fail", base.clone(), dmarc, hold("dmarc fail")),
            (
                "a command to the posting address is held even from a trusted member",
                base.clone(),
                PostFacts {
                    administrivia: true,
                    ..facts(member(Moderation::Accept, 5))
                },
                hold("administrivia"),
            ),
            (
                "under the flood limit",
                base.clone(),
                PostFacts {
                    recent_from_sender: 29,
                    ..facts(member(Moderation::Accept, 5))
                },
                Accept,
            ),
            (
                "a flood holds even a trusted member",
                base.clone(),
                PostFacts {
                    recent_from_sender: 30,
                    ..facts(member(Moderation::Accept, 5))
                },
                hold("rate-limited"),
            ),
            (
                "no flood limit",
                with(&|p| p.sender_flood = 0),
                PostFacts {
                    recent_from_sender: 10_000,
                    ..facts(member(Moderation::Accept, 5))
                },
                Accept,
            ),
        ];
        for (name, policy, f, want) in cases {
            assert_eq!(decide(&policy, &f), want, "{name}");
        }
    }

    #[test]
    fn reply_rate() {
        let mut p = PolicyConfig::default();
        assert!(may_reply(&p, 9));
        assert!(!may_reply(&p, 10));
        p.sender_rate = 0;
        assert!(may_reply(&p, 1_000_000));
    }

    #[test]
    fn ages() {
        assert_eq!(human_age(5), "5s");
        assert_eq!(human_age(300), "5m");
        assert_eq!(human_age(7200), "2h");
        assert_eq!(human_age(3 * 86_400), "3d");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(5 * 1024 * 1024), "5 MB");
        assert_eq!(human_size(13_002_342), "12.4 MB");
        assert_eq!(human_size(2048), "2 KB");
        assert_eq!(human_size(300), "300 B");
    }

    #[test]
    fn acknowledgements_reach_only_verified_senders_by_default() {
        let base = PolicyConfig::default();
        assert!(may_acknowledge(&base, true, false), "a member");
        assert!(
            may_acknowledge(&base, false, true),
            "a nonmember passing DMARC"
        );
        assert!(
            !may_acknowledge(&base, false, false),
            "a possibly forged nonmember"
        );
        let all = PolicyConfig {
            acknowledge: Acknowledge::All,
            ..base.clone()
        };
        assert!(may_acknowledge(&all, false, false));
        let none = PolicyConfig {
            acknowledge: Acknowledge::None,
            ..base
        };
        assert!(!may_acknowledge(&none, true, true));
    }
}
