//! After a moderator's decision took effect (`praxis approve`, `reject`,
//! `discard`, `defer`; later the web): an approved post is fanned out and
//! its query deadline set, a rejected post's author gets the reason.

use tracing::info;

use super::EffectError;
use super::notices::reject_notice;
use crate::community::Community;
use crate::store::{Action, Decided, Store};

/// After `decided` (a post of community `c`) was decided with `action`.
pub fn after_decision(
    store: &mut Store,
    c: &Community,
    decided: &Decided,
    action: Action,
    reason: Option<&str>,
) -> Result<(), EffectError> {
    match action {
        Action::Approve => {
            let q = crate::deliver::queue_post(store, c, decided.post)?;
            info!(post = %decided.post, outbox = %q.id, "approved; queued");
            if let Some(due) = crate::consolidate::on_approved(store, &c.config, decided.post)? {
                info!(post = %decided.post, deadline = %due, "query deadline set");
            }
        }
        Action::Reject => {
            let view = store.post(decided.post)?;
            reject_notice(
                store,
                c,
                &decided.from,
                &view.from_name,
                &decided.subject,
                reason.unwrap_or(""),
            )?;
        }
        Action::Discard | Action::Defer => {}
    }
    Ok(())
}
