//! Each-post fan-out: an approved post becomes one outbox message addressed
//! to the active members whose delivery mode is `each` (the author included,
//! unless they opted out of their own posts). The audience is stored, not
//! listed: the sender makes the delivery rows as it sends (see
//! `store::outbox`), so queueing costs the same whatever the member count.
//!
//! Moderation calls [`queue_post`] when it approves a post (and ingest when
//! policy accepts one outright). Calling it twice for a post queues nothing
//! more: the database allows one fan-out per post.

use tracing::info;

use super::DeliverError;
use super::compose::post_message_titled;
use crate::community::Community;
use crate::model::{Delivery, OutboxKind, PostId, PostState};
use crate::store::{Audience, NewOutbox, Queued, Store};

/// Queues approved post `post` to its community's each-post members, in one
/// small transaction however many they are. Returns the outbox message (with
/// `created: false` if the post had been queued before).
pub fn queue_post(store: &mut Store, c: &Community, post: PostId) -> Result<Queued, DeliverError> {
    let p = store.post_for_fanout(post)?;
    if p.state != PostState::Approved {
        return Err(DeliverError::NotApproved {
            post,
            state: p.state,
        });
    }
    if p.community != c.id {
        return Err(DeliverError::UnknownCommunity(format!(
            "post {post} is not in community `{}`",
            c.slug()
        )));
    }
    // A reply to a digest, placed in the thread it answers, goes out under
    // that thread's subject: each-post members never saw the digest's.
    let titled = p
        .thread_subject
        .as_deref()
        .filter(|_| crate::thread::is_digest_reply(&p.subject))
        .map(|t| format!("Re: {}", crate::thread::strip_prefixes(t)));
    let built = post_message_titled(
        &p.raw,
        &p.message_id,
        &c.config,
        &post.to_string(),
        titled.as_deref(),
    )?;
    let mut msg = NewOutbox::new(
        Some(p.community),
        OutboxKind::Post,
        &built.subject,
        &built.message,
    );
    msg.post = Some(post);
    let queued = store.queue_to_members(
        &msg,
        &Audience {
            community: p.community,
            modes: &[Delivery::Each],
            author: Some(&p.from_addr),
            digest_format: None,
            exclude: &[],
        },
        chrono::Utc::now().timestamp(),
    )?;
    if queued.created {
        info!(post = %post, outbox = %queued.id, "post queued");
    }
    Ok(queued)
}
