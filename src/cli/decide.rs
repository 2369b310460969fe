//! `praxis approve|reject|discard|defer POST...`: a moderator's decisions,
//! each written to the audit log with who made it.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::Context;
use super::output::{local_time, safe};
use crate::model::{PostId, ThreadId, ThreadKind};
use crate::store::Action;

/// Post ids and ranges.
#[derive(Debug, Args)]
pub struct PostsArgs {
    /// Post ids or ranges (12-20), as `praxis queue` lists them.
    #[arg(required = true)]
    pub posts: Vec<String>,
    /// The moderator deciding (default: $USER).
    #[arg(long = "as")]
    pub actor: Option<String>,
}

/// `praxis approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The posts.
    #[command(flatten)]
    pub posts: PostsArgs,
    /// Also let the sender post without moderation from now on.
    #[arg(long)]
    pub trust: bool,
    /// A held post that starts a thread: make the thread a query (a
    /// deadline from now, and reminders). Example: praxis approve 12 --query
    #[arg(long, conflicts_with_all = ["discussion", "announcement"])]
    pub query: bool,
    /// A held post that starts a thread: make the thread a discussion (no
    /// deadline). Example: praxis approve 12 --discussion
    #[arg(long, conflicts_with = "announcement")]
    pub discussion: bool,
    /// A held post that starts a thread: make the thread an announcement
    /// (no deadline). Example: praxis approve 12 --announcement
    #[arg(long)]
    pub announcement: bool,
}

impl ApproveArgs {
    /// The thread kind asked for, if any.
    pub fn kind(&self) -> Option<ThreadKind> {
        if self.query {
            Some(ThreadKind::Query)
        } else if self.discussion {
            Some(ThreadKind::Discussion)
        } else if self.announcement {
            Some(ThreadKind::Announcement)
        } else {
            None
        }
    }
}

/// `praxis reject`.
#[derive(Debug, Args)]
pub struct RejectArgs {
    /// The posts.
    #[command(flatten)]
    pub posts: PostsArgs,
    /// Why, in words the author will read.
    #[arg(
        long,
        required_unless_present = "answered_by",
        conflicts_with = "answered_by"
    )]
    pub reason: Option<String>,
    /// A question answered before: reject it and send its author the
    /// published Consolidated Reply of QUERY (same community), with a note
    /// that they may post again if it does not help. `praxis related POST`
    /// lists the candidates. Example: praxis reject 13 --answered-by 4
    #[arg(long, value_name = "QUERY")]
    pub answered_by: Option<i64>,
}

/// Expands `12`, `12-20` and `12,14` into post ids, in order, without repeats.
pub fn parse_ids(args: &[String]) -> Result<Vec<PostId>> {
    let mut out = Vec::new();
    for arg in args {
        for part in arg.split(',').filter(|p| !p.trim().is_empty()) {
            let part = part.trim();
            let bad = || anyhow::anyhow!("`{part}` is not a post id or a range like 12-20");
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (
                    a.trim().parse::<i64>().map_err(|_| bad())?,
                    b.trim().parse::<i64>().map_err(|_| bad())?,
                ),
                None => {
                    let n = part.parse::<i64>().map_err(|_| bad())?;
                    (n, n)
                }
            };
            if a < 1 || b < a {
                return Err(bad());
            }
            if b - a > 10_000 {
                bail!("the range `{part}` is over 10,000 posts; split it");
            }
            for id in a..=b {
                if !out.contains(&PostId(id)) {
                    out.push(PostId(id));
                }
            }
        }
    }
    Ok(out)
}

/// Runs one of the four decisions over every id; exit 1 if any was refused.
pub fn run(
    ctx: &Context,
    action: Action,
    posts: &PostsArgs,
    reason: Option<&str>,
    trust: bool,
) -> Result<ExitCode> {
    run_with(ctx, action, posts, reason, trust, None)
}

/// [`run`], and for an approved post that starts a thread, marks the thread
/// `kind` before its deadline would be set.
pub fn run_with(
    ctx: &Context,
    action: Action,
    posts: &PostsArgs,
    reason: Option<&str>,
    trust: bool,
    kind: Option<ThreadKind>,
) -> Result<ExitCode> {
    let config = ctx.config()?;
    let mut store = ctx.store(&config)?;
    let communities = ctx.communities(&config, &store)?;
    let actor = posts.actor.clone().unwrap_or_else(|| ctx.actor(&config));
    let ids = parse_ids(&posts.posts)?;
    let mut failed = 0;
    for id in ids {
        match store.decide(id, action, &actor, reason, trust) {
            Ok(d) => {
                let marked = match kind {
                    Some(k) if action == Action::Approve => mark_root(&mut store, d.post, k)?,
                    _ => None,
                };
                let after = communities
                    .by_id(d.community)
                    .map_err(|e| e.to_string())
                    .and_then(|c| {
                        crate::effects::after_decision(&mut store, c, &d, action, reason)
                            .map_err(|e| e.to_string())
                    });
                if let Err(e) = after {
                    eprintln!("warning: post {}: {e}", d.post);
                }
                let verb = match action {
                    Action::Approve => "approved",
                    Action::Reject => "rejected",
                    Action::Discard => "discarded",
                    Action::Defer => "deferred (for a day)",
                };
                let mut line = format!(
                    "{verb} post {} in {} from {}: {}",
                    d.post, d.slug, d.from, d.subject
                );
                if d.trusted {
                    line.push_str(&format!("; {} now posts without moderation", d.from));
                }
                if let Some(m) = marked {
                    line.push_str(&m);
                }
                ctx.out.say(line);
            }
            Err(crate::store::StoreError::AlreadyDecided {
                post,
                community,
                what,
                who,
                at,
            }) => {
                // In the community's own zone: the moderators' clock.
                let when = match communities.by_id(community) {
                    Ok(c) => format!(
                        "{} ({})",
                        local_time(at, c.config.timezone),
                        c.config.timezone
                    ),
                    Err(_) => format!("{} UTC", local_time(at, chrono_tz::UTC)),
                };
                eprintln!(
                    "error: post {post} was already decided: {what} by {} at {when}",
                    safe(&who)
                );
                failed += 1;
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `praxis reject POST... --answered-by QUERY`: each post rejected and its
/// author sent the query's Consolidated Reply
/// ([`crate::effects::answer_with_reply`], as the queue's button does);
/// exit 1 if any was refused.
pub fn answered_by(ctx: &Context, posts: &PostsArgs, query: i64) -> Result<ExitCode> {
    let config = ctx.config()?;
    let mut store = ctx.store(&config)?;
    let communities = ctx.communities(&config, &store)?;
    let actor = posts.actor.clone().unwrap_or_else(|| ctx.actor(&config));
    let ids = parse_ids(&posts.posts)?;
    let query = ThreadId(query);
    let mut failed = 0;
    for id in ids {
        let c = match store.post(id) {
            Ok(view) => communities.by_slug(&view.community)?,
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
                continue;
            }
        };
        let how = crate::store::audit::How::Cli;
        match crate::effects::answer_with_reply(&mut store, c, id, query, &actor, how) {
            Ok(a) => {
                let d = &a.decided;
                let mut line = format!(
                    "rejected post {} in {} from {}: {}; answered by query {} (\"{}\")",
                    d.post, d.slug, d.from, d.subject, a.query, a.reply_subject
                );
                line.push_str(&match (&a.link, a.noted) {
                    (Some(l), true) => format!("; {} was sent the reply and its link {l}", d.from),
                    (None, true) => format!(
                        "; {} was sent the reply (no link: set [http] public_url to add one)",
                        d.from
                    ),
                    (_, false) => "; no note sent (policy.sender_rate reached this hour)".into(),
                });
                ctx.out.say(line);
            }
            Err(crate::effects::AnswerError::Effect(crate::effects::EffectError::Store(
                crate::store::StoreError::AlreadyDecided {
                    post,
                    community,
                    what,
                    who,
                    at,
                },
            ))) => {
                let when = match communities.by_id(community) {
                    Ok(c) => format!(
                        "{} ({})",
                        local_time(at, c.config.timezone),
                        c.config.timezone
                    ),
                    Err(_) => format!("{} UTC", local_time(at, chrono_tz::UTC)),
                };
                eprintln!(
                    "error: post {post} was already decided: {what} by {} at {when}",
                    safe(&who)
                );
                failed += 1;
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Marks the thread `post` starts as `kind`; the line saying so, or why not.
fn mark_root(
    store: &mut crate::store::Store,
    post: PostId,
    kind: ThreadKind,
) -> Result<Option<String>> {
    Ok(Some(match store.mark_root(post, kind)? {
        Some(t) => format!(
            "; thread {t} is a{} {kind}",
            if kind == ThreadKind::Announcement {
                "n"
            } else {
                ""
            }
        ),
        None => format!(
            "; it starts no thread, so no kind was set (`praxis mark --post {post} {kind}` splits it off)"
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(a: &[&str]) -> Vec<i64> {
        parse_ids(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap()
            .into_iter()
            .map(|p| p.0)
            .collect()
    }

    #[test]
    fn ranges() {
        assert_eq!(ids(&["12"]), [12]);
        assert_eq!(ids(&["12-14", "13", "20"]), [12, 13, 14, 20]);
        assert_eq!(ids(&["1,3-4"]), [1, 3, 4]);
        for bad in ["x", "0", "5-3", "1-", "-2"] {
            assert!(parse_ids(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
