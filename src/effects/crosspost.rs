//! Cross-posting: one approved query sent to other communities' members,
//! each copy with that community's prefix, footer and list headers, its
//! responses joining the one query, whose Consolidated Reply is later
//! published to every community involved. The same call serves
//! `praxis crosspost` and the query board.
//!
//! A member of several of the communities gets the question once: each
//! copy's audience leaves out the members who read each post in the query's
//! own community or in a community it was cross-posted to before.

use serde::Serialize;

use super::EffectError;
use crate::community::{Communities, Community};
use crate::deliver::compose::post_message_titled;
use crate::model::{Delivery, OutboxKind, QueryState, ThreadId, ThreadKind};
use crate::store::{Audience, CrossPosted, Excluded, NewOutbox, Store, StoreError, now};

/// What became of the query in one community.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    /// The community's slug.
    pub community: String,
    /// The copy's thread there (where its responses arrive).
    pub thread_id: i64,
    /// How many members it goes to there (0 when the list had it).
    pub members: u64,
    /// The list had the question already (it was sent to both): linked,
    /// not sent again.
    pub linked: bool,
}

/// Why a query cannot be cross-posted.
#[derive(Debug, thiserror::Error)]
pub enum CrossPostError {
    /// No thread with that id.
    #[error("query {0} does not exist; `praxis threads --queries` lists the queries")]
    NoSuchQuery(ThreadId),
    /// The thread is not a query.
    #[error("thread {0} is a {1}, not a query; mark it first with `praxis mark {0} query`")]
    NotAQuery(ThreadId, ThreadKind),
    /// The thread is itself a copy.
    #[error("thread {0} is the copy of query {1} from `{2}`; cross-post query {1} instead")]
    IsACopy(ThreadId, ThreadId, String),
    /// Its Consolidated Reply is out.
    #[error(
        "query {0} has its Consolidated Reply already; cross-post a query while it is still open"
    )]
    Published(ThreadId),
    /// Asked to cross-post a query to its own community.
    #[error("query {0} is in `{1}` already; name the other communities to send it to")]
    OwnCommunity(ThreadId, String),
    /// No other community named.
    #[error("name at least one other community to cross-post query {0} to")]
    NoTarget(ThreadId),
    /// Already cross-posted there, or that list holds the question undecided.
    #[error("`{0}`: {1}")]
    Refused(String, String),
    /// The query's own community is no longer configured.
    #[error(transparent)]
    Community(#[from] crate::community::CommunityError),
    /// The database or the message.
    #[error(transparent)]
    Effect(#[from] EffectError),
}

impl From<StoreError> for CrossPostError {
    fn from(e: StoreError) -> Self {
        CrossPostError::Effect(e.into())
    }
}

/// Sends query `thread` to the members of each of `to`, in order; the
/// store's actor is who cross-posts it. Stops at the first community that
/// refuses (those before it are sent and stay so).
pub fn crosspost(
    store: &mut Store,
    all: &Communities,
    thread: ThreadId,
    to: &[&Community],
) -> Result<Vec<Sent>, CrossPostError> {
    if to.is_empty() {
        return Err(CrossPostError::NoTarget(thread));
    }
    if let Some(home) = store.home_query(thread)? {
        return Err(CrossPostError::IsACopy(thread, home.query, home.slug));
    }
    let q = store
        .query(thread)?
        .ok_or(CrossPostError::NoSuchQuery(thread))?;
    if q.kind != ThreadKind::Query {
        return Err(CrossPostError::NotAQuery(thread, q.kind));
    }
    if q.state == QueryState::Published {
        return Err(CrossPostError::Published(thread));
    }
    let home = all.by_id(q.community)?;
    if let Some(c) = to.iter().find(|c| c.id == home.id) {
        return Err(CrossPostError::OwnCommunity(thread, c.slug().into()));
    }
    let raw = store.raw(q.root.id)?;
    let mut excluded = vec![Excluded {
        community: home.id,
        modes: &[Delivery::Each],
    }];
    for x in store.crossposts(thread)? {
        excluded.push(Excluded {
            community: x.community,
            modes: &[Delivery::Each],
        });
    }
    let mut sent = Vec::new();
    for c in to {
        let built = post_message_titled(
            &raw,
            &q.root.message_id,
            &c.config,
            &format!("query {thread} cross-posted to {}", c.slug()),
            None,
        )
        .map_err(EffectError::from)?;
        let msg = NewOutbox::new(Some(c.id), OutboxKind::Post, &built.subject, &built.message);
        let audience = Audience {
            community: c.id,
            modes: &[Delivery::Each],
            author: Some(&q.root.email),
            digest_format: None,
            exclude: &excluded,
        };
        let done = match store.crosspost(thread, q.root.id, c.id, &msg, &audience, now()) {
            Ok(done) => done,
            Err(StoreError::Conflict(why)) => {
                return Err(CrossPostError::Refused(c.slug().into(), why));
            }
            Err(e) => return Err(e.into()),
        };
        sent.push(match done {
            CrossPosted::Copied { thread, outbox, .. } => {
                tracing::info!(query = %q.thread, community = c.slug(), copy = %thread, "cross-posted");
                Sent {
                    community: c.slug().into(),
                    thread_id: thread.0,
                    members: store.audience_size(outbox)?,
                    linked: false,
                }
            }
            CrossPosted::Linked { thread } => Sent {
                community: c.slug().into(),
                thread_id: thread.0,
                members: 0,
                linked: true,
            },
        });
        excluded.push(Excluded {
            community: c.id,
            modes: &[Delivery::Each],
        });
    }
    Ok(sent)
}
