//! Consolidated Replies: the query lifecycle (open → drafting → published),
//! working-day deadlines, drafts and publishing.
//!
//! The steps both the command line (`praxis consolidate`, `praxis publish`)
//! and the moderators' web workspace take are here, so the two cannot
//! drift: [`generate`] a first draft, the [`draft_subject`] a version is
//! stored with, [`publish_draft`] (the message built and queued in the
//! store's one transaction), and the [`unified`] diff of two versions.

pub mod deadline;
pub mod draft;
pub mod publish;
pub mod reminders;

use chrono::{DateTime, Utc};

use crate::config::CommunityConfig;
use crate::deliver::compose::ComposeError;
use crate::model::{Delivery, OutboxKind, PostId, Role};
use crate::render::{RenderError, Templates};
use crate::store::{
    Audience, Draft, Excluded, NewOutbox, Publication, Query, Queued, Result, SharedCopy, Store,
    StoreError,
};

/// Why a draft could not be generated or a reply not published.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// Reading or writing the database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The draft template (the community may override it).
    #[error("the Consolidated Reply template failed: {0}")]
    Render(#[from] RenderError),
    /// Building the message.
    #[error(transparent)]
    Compose(#[from] ComposeError),
    /// The thread is a cross-posted copy: its reply is compiled at home.
    #[error(
        "thread {0} is the copy of query {1} from `{2}`, cross-posted here; its Consolidated Reply is compiled there (`praxis consolidate {1}`) and published here too"
    )]
    Copy(crate::model::ThreadId, crate::model::ThreadId, String),
}

/// Refuses a cross-posted copy: only the query at home gets a reply.
fn not_a_copy(store: &Store, q: &Query) -> std::result::Result<(), CompileError> {
    match store.home_query(q.thread)? {
        Some(h) => Err(CompileError::Copy(q.thread, h.query, h.slug)),
        None => Ok(()),
    }
}

/// After a post was approved (on arrival or by a moderator): a response to
/// a query already published is flagged for an addendum; when it is the
/// root of a query whose deadline is not yet set, sets the deadline from the
/// approval time. Approval, not the Date header, starts the clock, because
/// that is when members first see the question and can respond. Returns the
/// deadline it set.
pub fn on_approved(
    store: &mut Store,
    cfg: &CommunityConfig,
    post: PostId,
) -> Result<Option<DateTime<Utc>>> {
    if let Some(thread) = store.flag_late_response(post)? {
        tracing::info!(post = %post, query = thread.0, "response after publication; flagged for an addendum");
        return Ok(None);
    }
    let Some(approved_at) = store.query_root_awaiting_deadline(post)? else {
        return Ok(None);
    };
    let posted = DateTime::from_timestamp(approved_at, 0).unwrap_or_else(Utc::now);
    let due = cfg
        .calendar()
        .deadline(posted, cfg.reply_within_working_days);
    store.set_query_deadline(post, due.timestamp())?;
    Ok(Some(due))
}

/// The generated draft of a query's Consolidated Reply, from `templates`'
/// `consolidated/draft.md`; with `addendum_since` (when the last reply was
/// published) only the responses approved after it (flagged late).
pub fn generate(
    store: &Store,
    cfg: &CommunityConfig,
    templates: &Templates,
    q: &Query,
    addendum_since: Option<i64>,
) -> std::result::Result<String, CompileError> {
    not_a_copy(store, q)?;
    let moderators: Vec<String> = store
        .members(q.community)?
        .into_iter()
        .filter(|m| matches!(m.role, Role::Moderator | Role::Owner))
        .map(|m| if m.name.is_empty() { m.email } else { m.name })
        .collect();
    let related = store.related_replies(
        q.community,
        &q.subject,
        &q.root.text,
        Some(q.thread),
        Some(q.root.id),
        5,
    )?;
    // Responses' attachments as resources with their size and link.
    let mut q = q.clone();
    for p in &mut q.responses {
        let files = store.post_attachments(p.id)?;
        if !files.is_empty() {
            p.attachments = files
                .iter()
                .map(|a| {
                    crate::mail::attachments::line(
                        a,
                        cfg.delivery.base_url.as_deref(),
                        &cfg.slug,
                        cfg.policy.keep_attachments_kb,
                    )
                })
                .collect();
        }
    }
    let data = draft::data(
        &q,
        &draft::Setting {
            community: &cfg.name,
            address: &cfg.address,
            moderators: &moderators,
            related: &related,
            now: Utc::now(),
            tz: cfg.timezone,
            addendum_since,
        },
    );
    Ok(draft::render(templates, &data)?)
}

/// The subject a draft version of `q`'s reply is stored with; an addendum
/// says it carries additional responses.
pub fn draft_subject(q: &Query, addendum: bool) -> String {
    format!(
        "Consolidated Reply{}: {}",
        if addendum {
            " (additional responses)"
        } else {
            ""
        },
        draft::title(&q.subject, &q.slug)
    )
}

/// The delivery modes a Consolidated Reply goes to.
const REPLY_MODES: &[Delivery] = &[Delivery::Each, Delivery::Consolidated];

/// Publishes the draft `d` of `q`: the message built and queued for every
/// member reading each post or Consolidated Replies, now or at `at` (Unix
/// seconds; the caller has refused a time past). A query cross-posted to
/// other communities has its reply published in each of them too, with
/// their own prefix and footer (`config_of` finds a community's config by
/// slug), each member of several of them getting one copy. The store
/// refuses a reply no longer a draft, so two moderators cannot both
/// publish it.
pub fn publish_draft<'c>(
    store: &mut Store,
    cfg: &CommunityConfig,
    config_of: &dyn Fn(&str) -> Option<&'c CommunityConfig>,
    q: &Query,
    d: &Draft,
    at: Option<i64>,
) -> std::result::Result<Queued, CompileError> {
    not_a_copy(store, q)?;
    let title = draft::title(&q.subject, &q.slug);
    let mail = |cfg: &CommunityConfig| -> std::result::Result<(String, _), CompileError> {
        let message_id = publish::message_id(d.reply, cfg);
        let built = publish::message(
            cfg,
            &publish::ReplyMail {
                title: &title,
                query_message_id: &q.root.message_id,
                message_id: &message_id,
                markdown: &d.body,
                addendum: d.addendum_to.is_some(),
            },
        )?;
        Ok((message_id, built))
    };
    let (message_id, built) = mail(cfg)?;
    let mut msg = NewOutbox::new(
        Some(q.community),
        OutboxKind::ConsolidatedReply,
        &built.subject,
        &built.message,
    );
    msg.reply = Some(d.reply);
    msg.not_before = at;
    // The communities it was cross-posted to, each leaving out the members
    // who have the reply through the query's own community or an earlier
    // one of them.
    let mut copies = Vec::new();
    for x in store.crossposts(q.thread)? {
        let Some(other) = config_of(&x.slug) else {
            tracing::warn!(
                "query {} was cross-posted to `{}`, which is no longer in the config; its reply is not shared there",
                q.thread,
                x.slug
            );
            continue;
        };
        copies.push((x, mail(other)?));
    }
    let mut excluded = vec![Excluded {
        community: q.community,
        modes: REPLY_MODES,
    }];
    for (x, _) in &copies {
        excluded.push(Excluded {
            community: x.community,
            modes: REPLY_MODES,
        });
    }
    let shared: Vec<SharedCopy<'_>> = copies
        .iter()
        .enumerate()
        .map(|(i, (x, (message_id, built)))| {
            let mut msg = NewOutbox::new(
                Some(x.community),
                OutboxKind::ConsolidatedReply,
                &built.subject,
                &built.message,
            );
            msg.not_before = at;
            SharedCopy {
                thread: x.thread,
                community: x.community,
                subject: &built.subject,
                message_id,
                msg,
                audience: Audience {
                    community: x.community,
                    modes: REPLY_MODES,
                    author: None,
                    digest_format: None,
                    exclude: &excluded[..=i],
                },
            }
        })
        .collect();
    Ok(store.publish_reply(
        &Publication {
            reply: d.reply,
            thread: q.thread,
            subject: &built.subject,
            body: &d.body,
            message_id: &message_id,
            at,
        },
        &msg,
        &Audience {
            community: q.community,
            modes: REPLY_MODES,
            author: None,
            digest_format: None,
            exclude: &[],
        },
        &shared,
        crate::store::now(),
    )?)
}

/// A unified line diff from `a` to `b` (three lines of context), headed
/// with their labels; empty when they are the same.
pub fn unified(a: &str, b: &str, label_a: &str, label_b: &str) -> String {
    if a == b {
        return String::new();
    }
    similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(3)
        .header(label_a, label_b)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::unified;

    #[test]
    fn a_unified_diff_of_two_versions() {
        let a = "# Reply\n\nBoats worked.\n\n## Resources\n";
        let b = "# Reply\n\nBoats and radios worked.\n\n## Resources\n";
        let d = unified(a, b, "version 1", "version 2");
        assert!(d.starts_with("--- version 1\n+++ version 2\n"), "{d}");
        assert!(
            d.contains("-Boats worked.\n+Boats and radios worked.\n"),
            "{d}"
        );
        assert!(d.contains(" # Reply\n"), "{d}");
        assert_eq!(unified(a, a, "1", "1"), "");
    }
}
