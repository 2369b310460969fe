//! Domain types: id newtypes and the closed enums for every state praxis stores.
//!
//! Pure: no I/O, no database, no runtime. The string form of each enum is the
//! one stored in SQLite, printed by the command line and used in `--json`, so
//! the three can never disagree.

use std::fmt;
use std::str::FromStr;

/// The error for a string that names no variant of a closed enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{got}` is not a valid {what}; expected one of: {expected}")]
pub struct UnknownValue {
    /// What kind of value was being parsed ("delivery mode", "role", ...).
    pub what: &'static str,
    /// The text that did not match.
    pub got: String,
    /// The accepted spellings, comma separated.
    pub expected: String,
}

/// Declares a closed enum whose variants have one canonical lowercase name.
macro_rules! closed_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $var:ident => $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $var),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// Every variant's name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($s),+];

            /// The canonical name, as stored and printed.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                let lower = s.trim().to_ascii_lowercase();
                match lower.as_str() {
                    $($s => Ok($name::$var),)+
                    _ => Err(UnknownValue {
                        what: $what,
                        got: s.to_string(),
                        expected: Self::NAMES.join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

closed_enum!(
    /// What a member may do in a community.
    Role, "role" {
        /// Receives and posts.
        Member => "member",
        /// Also decides on held posts and compiles Consolidated Replies.
        Moderator => "moderator",
        /// Also receives owner notices (bounces, subscription requests).
        Owner => "owner",
    }
);

closed_enum!(
    /// How mail reaches a member.
    Delivery, "delivery mode" {
        /// Every approved post, as it is approved.
        Each => "each",
        /// The community's periodic digest.
        Digest => "digest",
        /// Consolidated Replies only.
        Consolidated => "consolidated",
        /// Nothing (the member can still post).
        None => "none",
    }
);

closed_enum!(
    /// The format of a digest member's digest.
    DigestFormat, "digest format" {
        /// multipart/mixed with a multipart/digest of the original posts (RFC 2046 §5.1.5).
        Mime => "mime",
        /// RFC 1153 plain text.
        Plain => "plain",
        /// multipart/alternative with an HTML rendering.
        Html => "html",
    }
);

closed_enum!(
    /// A member's moderation flag: what happens to their posts.
    Moderation, "moderation flag" {
        /// The community's policy decides (first-post moderation applies).
        Default => "default",
        /// Always held for a moderator.
        Hold => "hold",
        /// Always accepted.
        Accept => "accept",
        /// Always rejected with a notice.
        Reject => "reject",
        /// Always discarded silently.
        Discard => "discard",
    }
);

closed_enum!(
    /// Where a member's subscription stands.
    MemberStatus, "member status" {
        /// Subscription requested, awaiting confirmation or approval.
        Pending => "pending",
        /// Receives mail per their delivery mode.
        Active => "active",
        /// Left the community; kept for attribution of earlier posts.
        Unsubscribed => "unsubscribed",
        /// Delivery disabled because their address kept bouncing.
        Disabled => "disabled",
    }
);

closed_enum!(
    /// What the classifier decided an ingested message is.
    PostClass, "message class" {
        /// An ordinary post to the list.
        Post => "post",
        /// An email command to the -request address.
        Command => "command",
        /// A bounce or delivery status notification.
        Bounce => "bounce",
        /// An automatic reply (RFC 3834, vacation).
        AutoReply => "auto_reply",
        /// Mail that came from this list (our List-Id or X-Loop).
        Loop => "loop",
        /// Could not be parsed; kept raw and held.
        Unparseable => "unparseable",
    }
);

closed_enum!(
    /// Where a post stands in moderation.
    PostState, "post state" {
        /// Waiting for a moderator.
        Held => "held",
        /// Accepted: threaded, delivered, accrued for the digest.
        Approved => "approved",
        /// Refused with a notice to the author.
        Rejected => "rejected",
        /// Refused silently.
        Discarded => "discarded",
        /// Not a post (command, bounce, auto-reply, loop): stored, never distributed.
        Handled => "handled",
    }
);

closed_enum!(
    /// What a thread is, for the Consolidated Reply workflow.
    ThreadKind, "thread kind" {
        /// A question that gets a Consolidated Reply.
        Query => "query",
        /// An e-discussion or an ordinary exchange.
        Discussion => "discussion",
        /// One-way news.
        Announcement => "announcement",
    }
);

closed_enum!(
    /// The lifecycle of a query (a thread's state; other threads stay open).
    QueryState, "query state" {
        /// Collecting responses.
        Open => "open",
        /// A moderator has started a draft.
        Drafting => "drafting",
        /// The Consolidated Reply went out (or is scheduled to).
        Published => "published",
    }
);

closed_enum!(
    /// Where one Consolidated Reply stands.
    ReplyState, "consolidated reply state" {
        /// Being drafted: versions may still be added.
        Draft => "draft",
        /// Published with a time still to come; can be cancelled until a copy is sent.
        Scheduled => "scheduled",
        /// Queued to go out now.
        Published => "published",
    }
);

closed_enum!(
    /// What an outbox message is.
    OutboxKind, "outbox kind" {
        /// An approved post fanned out to each-post members.
        Post => "post",
        /// A published Consolidated Reply.
        ConsolidatedReply => "consolidated_reply",
        /// One digest issue.
        Digest => "digest",
        /// A notice to one person (hold acknowledgement, rejection, confirmation).
        Notice => "notice",
    }
);

closed_enum!(
    /// The state of one recipient's copy of an outbox message.
    DeliveryState, "delivery state" {
        /// Not yet accepted by the relay.
        Pending => "pending",
        /// Accepted by the relay.
        Sent => "sent",
        /// A temporary failure; retried at `next_attempt_at`.
        TempFailed => "temp_failed",
        /// A permanent failure, with the server's reply.
        Failed => "failed",
    }
);

closed_enum!(
    /// Where an ingested message came from.
    Source, "source" {
        /// An IMAP watcher.
        Imap => "imap",
        /// The LMTP listener.
        Lmtp => "lmtp",
        /// `praxis ingest` from an MTA pipe.
        Pipe => "pipe",
        /// `praxis import` of an archive.
        Import => "import",
    }
);

/// Declares an integer id newtype.
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        /// The number as typed on the command line.
        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    };
}

id_type!(
    /// A community's row id.
    CommunityId
);
id_type!(
    /// A member's row id.
    MemberId
);
id_type!(
    /// A post's row id: the short number moderators type.
    PostId
);
id_type!(
    /// A thread's row id.
    ThreadId
);
id_type!(
    /// An outbox message's row id: the number `praxis outbox retry` takes.
    OutboxId
);
id_type!(
    /// One recipient's delivery row id.
    DeliveryId
);

/// Serialises Unix seconds as an RFC 3339 UTC string (for `--json`).
pub fn serialize_unix_time<S: serde::Serializer>(ts: &i64, s: S) -> Result<S::Ok, S::Error> {
    match chrono::DateTime::from_timestamp(*ts, 0) {
        Some(t) => s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in Delivery::ALL {
            assert_eq!(d.as_str().parse::<Delivery>().unwrap(), *d);
        }
        for c in PostClass::ALL {
            assert_eq!(c.to_string().parse::<PostClass>().unwrap(), *c);
        }
        assert_eq!("DIGEST".parse::<Delivery>().unwrap(), Delivery::Digest);
    }

    #[test]
    fn unknown_value_names_the_choices() {
        let e = "weekly".parse::<Delivery>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`weekly` is not a valid delivery mode; expected one of: each, digest, consolidated, none"
        );
    }

    #[test]
    fn serde_uses_the_canonical_name() {
        assert_eq!(serde_json::to_string(&Role::Owner).unwrap(), "\"owner\"");
        let r: Role = serde_json::from_str("\"moderator\"").unwrap();
        assert_eq!(r, Role::Moderator);
    }
}
