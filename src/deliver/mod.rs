//! Delivery: everything praxis sends goes through the outbox and the one
//! sender task here; nothing else opens an SMTP connection.
//!
//! | file | job |
//! |---|---|
//! | [`fanout`] | an approved post → one outbox message for the each-post members (expanded as sent) |
//! | [`compose`] | list headers, subject prefix, Reply-To, DMARC From, footer (mail-builder) |
//! | `splice` | a text body encoded once per message; each copy adds only its footer, byte-identical to encoding the whole |
//! | [`sender`] | the task in `praxis serve`: due batches, SMTP connections, retries, shutdown |
//! | `smtp` | our SMTP client: one transaction per copy, pipelined (RFC 2920), per-stage error classes |
//! | `maildir` | the other way out: copies written into a local Maildir (`[delivery] maildir`) |
//! | [`flush`] | `praxis outbox flush`: the sender run until nothing is due |
//! | [`retry`] | capped exponential backoff and the give-up time |
//! | [`verp`] | the list's addresses and VERP return paths |
//! | [`bounce`] | DSN (RFC 3464) parsing and recording a bounce against a member |
//! | [`dkim`] | loading a DKIM key and signing copies (mail-auth) |
//! | [`dmarc`] | the author domain's DMARC policy (mail-auth), injectable for tests |
//! | [`links`] | signed per-member unsubscribe links |
//! | [`notice`] | owners' notices and probes |
//!
//! Invariants:
//! - A delivery is marked sent only after the relay accepted its copy, and
//!   soon after (a connection has at most 8 outcomes not yet committed before
//!   it waits), so a crash sends at most 8 copies twice per connection.
//! - A copy whose outcome cannot be committed (a full disk) is never
//!   released to be sent again: sending waits for the commit.
//! - 4xx replies and connection faults are retried; 5xx to RCPT (or a
//!   mailbox error at end of data) is permanent and raises the bounce score;
//!   a refusal of the sender or of the login is the relay's fault and is retried.

pub mod bounce;
pub mod compose;
pub mod dkim;
pub mod dmarc;
pub mod dns;
pub mod fanout;
pub mod flush;
pub mod links;
mod maildir;
pub mod notice;
pub mod retry;
pub mod sender;
mod smtp;
mod splice;
pub mod verp;

pub use fanout::queue_post;
pub use sender::Sender;

use crate::store::StoreError;

/// Why delivery work failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Building a message.
    #[error(transparent)]
    Compose(#[from] compose::ComposeError),
    /// A DKIM key.
    #[error(transparent)]
    Dkim(#[from] dkim::DkimError),
    /// Only approved posts are distributed.
    #[error(
        "post {post} is {state}, not approved; approve it with `praxis approve {post}` before it is sent"
    )]
    NotApproved {
        /// The post.
        post: crate::model::PostId,
        /// Its state.
        state: crate::model::PostState,
    },
    /// The post's community is in the database but not in the config.
    #[error("{0}")]
    UnknownCommunity(String),
    /// The sender cannot start (a secret, the relay settings).
    #[error("{0}")]
    Setup(String),
}
