//! `[community.policy]`: the posting policy's keys. The types live with the
//! pure rules that read them (`moderation::policy`); the checks live here.

pub use crate::moderation::policy::{
    Acknowledge, Administrivia, Attachments, FirstPost, Html, ModeratorNotices, Nonmember,
    PolicyConfig, Queries, Subscription,
};

use super::Problem;

/// The checks for one community's `[community.policy]`; `at` is the
/// community's key path.
pub(super) fn validate(c: &PolicyConfig, at: &str) -> Vec<Problem> {
    let mut p = Vec::new();
    let mut push =
        |key: String, message: String, fix: &str| p.push(Problem::new(key, message, fix));
    if c.sender_rate > 1000 {
        push(
            format!("{at}.policy.sender_rate"),
            format!("{} replies an hour is no limit at all", c.sender_rate),
            "use 1 to 1000 (default 10), or 0 for no limit",
        );
    }
    if c.sender_flood != 0 && (c.sender_flood < 2 || c.sender_flood > 100_000) {
        push(
            format!("{at}.policy.sender_flood"),
            format!("{} is out of range", c.sender_flood),
            "use 2 to 100000 messages an hour (default 30), or 0 for no limit",
        );
    }
    if c.keep_attachments_kb > 1_048_576 {
        push(
            format!("{at}.policy.keep_attachments_kb"),
            format!(
                "{} KB is over 1 GB, more than any post carries",
                c.keep_attachments_kb
            ),
            "use a size in KB, e.g. 10240 (the default), or 0 to keep none",
        );
    }
    for (i, r) in c.reject_reasons.iter().enumerate() {
        if r.trim().is_empty() || r.chars().count() > 2000 {
            push(
                format!("{at}.policy.reject_reasons[{i}]"),
                "is empty or over 2000 characters".into(),
                "write each reason as the authors should read it, in a sentence or two",
            );
        }
    }
    if c.referrals_per_month > 31 {
        push(
            format!("{at}.policy.referrals_per_month"),
            format!(
                "{} invitations a month would ask the same members every day",
                c.referrals_per_month
            ),
            "use 0 to 31 (default 2)",
        );
    }
    if c.max_size_kb == 0 {
        push(
            format!("{at}.policy.max_size_kb"),
            "is 0, which would hold every post".into(),
            "use a size in KB, e.g. 5120",
        );
    }
    p
}
