//! Rejecting a held question as answered before: the post is rejected
//! (audited as any rejection, with the reason "answered by query N") and
//! its author is sent the earlier Consolidated Reply (its subject, its
//! permanent link, its text) with a friendly note that they may post again
//! if it does not help (`templates/notices/answered_by.hbs`). One call for
//! `praxis reject POST --answered-by QUERY` and the queue's "Answer with
//! this reply" button.

use serde_json::json;

use super::EffectError;
use super::notices::auto_reply;
use crate::community::Community;
use crate::model::{PostId, ThreadId};
use crate::store::audit::How;
use crate::store::{Action, Decided, Store, now};

/// Why a held post cannot be answered by that query's reply; nothing was
/// decided.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The post is not in the community whose reply would answer it.
    #[error(
        "post {post} is in {theirs}, not {ours}; answer it with a Consolidated Reply of {theirs} (`praxis related {post}` lists them)"
    )]
    OtherCommunity {
        /// The post.
        post: PostId,
        /// Its community's slug.
        theirs: String,
        /// The community asked for.
        ours: String,
    },
    /// The query belongs to another community.
    #[error(
        "query {query} is in {theirs}, not {ours} where post {post} was sent; answer with a Consolidated Reply of {ours} (`praxis related {post}` lists them)"
    )]
    QueryElsewhere {
        /// The query.
        query: ThreadId,
        /// Its community's slug.
        theirs: String,
        /// The post's community's slug.
        ours: String,
        /// The post.
        post: PostId,
    },
    /// No such thread at all.
    #[error(
        "there is no query {query} in {ours}; `praxis related {post}` lists the earlier threads that may answer post {post}"
    )]
    NoSuchQuery {
        /// The query asked for.
        query: ThreadId,
        /// The community's slug.
        ours: String,
        /// The post.
        post: PostId,
    },
    /// The thread has no published Consolidated Reply to send.
    #[error(
        "query {query} (\"{subject}\") has no published Consolidated Reply; publish one first (`praxis consolidate {query}`, then `praxis publish {query}`) or reject with --reason"
    )]
    NoReply {
        /// The query.
        query: ThreadId,
        /// Its subject.
        subject: String,
    },
    /// The database, a template or the message.
    #[error(transparent)]
    Effect(#[from] EffectError),
}

impl From<crate::store::StoreError> for AnswerError {
    fn from(e: crate::store::StoreError) -> Self {
        AnswerError::Effect(e.into())
    }
}

/// What was done: the decision, and the reply that answered it.
#[derive(Debug)]
pub struct Answered {
    /// The rejection, as `store::decide` made it.
    pub decided: Decided,
    /// The earlier query.
    pub query: ThreadId,
    /// Its Consolidated Reply's subject.
    pub reply_subject: String,
    /// Its permanent link, when the community has a web address.
    pub link: Option<String>,
    /// Whether the note was queued (not when the author had
    /// `policy.sender_rate` automatic replies this hour, or has no address).
    pub noted: bool,
}

/// The reason a post answered by `query` is rejected with: what the audit
/// log and `praxis show` say.
pub fn reason(query: ThreadId) -> String {
    format!("answered by query {query}")
}

/// The permanent link of query `thread`'s Consolidated Reply in `c`, when
/// the community has a web address (`[http] public_url` or its own
/// `delivery.base_url`).
pub fn reply_link(c: &Community, thread: ThreadId) -> Option<String> {
    c.config.delivery.base_url.as_deref().map(|b| {
        format!(
            "{}/c/{}/replies/{}",
            b.trim_end_matches('/'),
            c.slug(),
            thread
        )
    })
}

/// Rejects held `post` of `c` as answered by query `query`'s published
/// Consolidated Reply and sends its author that reply. Refused, with
/// nothing decided, when the query is in another community or has no
/// published reply.
pub fn answer_with_reply(
    store: &mut Store,
    c: &Community,
    post: PostId,
    query: ThreadId,
    actor: &str,
    how: How,
) -> Result<Answered, AnswerError> {
    let view = store.post(post)?;
    if view.community != c.slug() {
        return Err(AnswerError::OtherCommunity {
            post,
            theirs: view.community,
            ours: c.slug().to_string(),
        });
    }
    let replies = store.published_replies(c.id, query, now())?;
    let Some(first) = replies.first() else {
        return Err(match store.query(query)? {
            Some(q) if q.community != c.id => AnswerError::QueryElsewhere {
                query,
                theirs: q.slug,
                ours: c.slug().to_string(),
                post,
            },
            Some(q) => AnswerError::NoReply {
                query,
                subject: q.subject,
            },
            None => AnswerError::NoSuchQuery {
                query,
                ours: c.slug().to_string(),
                post,
            },
        });
    };
    // The reply as members read it (the draft's hints gone), addenda after
    // it; addresses hidden as on the web: the asker may be no member.
    let mut text = String::new();
    for r in &replies {
        if r.addendum_to.is_some() {
            text.push_str("\n\n---- addendum ----\n\n");
        }
        text.push_str(crate::markup::text(&r.body).trim());
    }
    let text = crate::markup::hide_addresses(&text, &[c.address()]);
    let reply_subject = first.subject.clone();
    let query_subject = first.query_subject.clone();
    let link = reply_link(c, query);
    let why = reason(query);
    let decided = store.decide_how(post, Action::Reject, actor, Some(&why), false, how)?;
    let noted =
        if decided.from.is_empty() {
            false
        } else {
            let body = c.templates().render(
            "answered_by",
            &json!({"name": view.from_name, "subject": decided.subject, "community": c.name(),
                    "query": query.0, "query_subject": query_subject,
                    "reply_subject": reply_subject, "link": link, "reply": text,
                    "list_address": c.address()}),
        )
            .map_err(EffectError::from)?;
            auto_reply(
                store,
                c,
                &decided.from,
                &format!("Answered before: {}", decided.subject),
                &body,
                None,
            )?
        };
    Ok(Answered {
        decided,
        query,
        reply_subject,
        link,
        noted,
    })
}
