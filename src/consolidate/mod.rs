//! Consolidated Replies: the query lifecycle (open → drafting → published),
//! working-day deadlines, drafts and publishing.

pub mod deadline;
pub mod draft;
pub mod publish;
pub mod reminders;

use chrono::{DateTime, Utc};

use crate::config::CommunityConfig;
use crate::model::PostId;
use crate::store::{Result, Store};

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
