//! What follows a commit or a decision: an approved post is fanned out, a
//! held post's author is acknowledged and the moderators told, a rejected
//! post's author gets the reason, a bounce raises its member's score, and
//! email commands are carried out.
//!
//! Every source (pipe, LMTP, IMAP) and every decision (command line, later
//! the web) calls in here after its transaction commits, so the effects are
//! the same whichever way mail arrived. An effect that fails is logged and
//! never undoes the commit: `praxis serve` re-queues approved posts that were
//! never fanned out.
//!
//! Invariants, stated as absences: nothing here looks a community up by
//! slug (it is handed a resolved [`Community`](crate::community::Community));
//! nothing here parses a message the pipeline already parsed; no notice loop
//! loads a community's whole membership (only [`Store::moderators`](crate::store::Store::moderators)).

mod after_decision;
mod after_ingest;
pub mod answered_by;
pub mod crosspost;
pub mod health_report;
mod moderation_replies;
mod notices;
pub mod referrals;
mod requests;
mod secret;
mod web_members;

pub use after_decision::after_decision;
pub use after_ingest::after_ingest;
pub use answered_by::{AnswerError, Answered, answer_with_reply};
pub use notices::{ACK_INTERVAL_SECS, daily_summary};
pub use requests::one_click_unsubscribe;
pub use secret::{SecretError, token_secret};
pub use web_members::{
    JoinRequest, confirm_join, mail_signin, pending_join, web_change, web_join, web_leave,
};

/// Why an effect could not be carried out; each variant names what failed.
#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    /// Reading or writing the database.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Queueing a post's fan-out.
    #[error(transparent)]
    FanOut(#[from] crate::deliver::DeliverError),
    /// Building a notice's message.
    #[error(transparent)]
    Compose(#[from] crate::deliver::compose::ComposeError),
    /// Rendering a notice's template.
    #[error(transparent)]
    Template(#[from] crate::render::RenderError),
    /// The key that signs confirmation tokens.
    #[error(transparent)]
    TokenSecret(#[from] SecretError),
}

/// Logs an effect's failure: the message itself is already safe.
pub fn log_failure(what: &str, e: &EffectError) {
    tracing::warn!(
        "{what}: {e}; the message is stored, and `praxis serve` retries fan-out of approved posts"
    );
}
