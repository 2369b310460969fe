//! The outbox: outgoing messages and one delivery row per recipient, with the
//! state transitions the sender makes (take due, sent, retry later, failed)
//! and the counts `praxis outbox` shows.
//!
//! Invariants:
//! - A message and its recipients are written in one transaction, so the
//!   sender never sees half a fan-out. Explicit recipients become delivery
//!   rows at once; a member audience (a post, a digest, a Consolidated
//!   Reply) is stored as one `outbox_audiences` row — which members, and a
//!   cutoff (the highest member id at queueing) — so queueing
//!   costs the same at 1,000 members as at 100,000.
//! - The sender expands an audience into delivery rows a window of member
//!   ids at a time ([`Store::expand_audiences`]); the rows and the advanced
//!   cursor commit together, and `UNIQUE (outbox_id, recipient)` guards
//!   too, so a crash neither loses nor doubles a recipient. Status and
//!   delivery mode are read when a member's window is expanded: a member who
//!   unsubscribed, was disabled or switched mode after the message was
//!   queued but before their window gets what their settings say then
//!   (nothing for an unsubscribe); members added later get nothing: a new
//!   member is numbered above every id ever used (migration 0009), never
//!   under a cutoff.
//! - Counts (`praxis outbox`, status) add the members still to expand to the
//!   pending rows, so they are right before expansion.
//! - A delivery becomes `sent` only through [`Outcome::Sent`], which the
//!   sender applies after the relay accepted the message.
//! - Only `pending` and `temp_failed` rows are ever taken or changed by an
//!   outcome: a row already settled is never overwritten.
//!
//! Long because of its tests, which exercise the outbox and the bounce
//! rules together on the fixtures at the end; the code itself is ~500.

use serde::Serialize;

use super::bounce::{BounceRule, Notice, record_bounce_tx};
use super::engine::{Conn, Dialect, Params, Queries, Row, params};
use super::{Result, Store, StoreError};
use crate::model::{
    CommunityId, Delivery, DeliveryId, DeliveryState, DigestFormat, MemberId, OutboxId, OutboxKind,
    PostId, PostState,
};

/// An outgoing message to store.
#[derive(Debug, Clone)]
pub struct NewOutbox<'a> {
    /// The community it belongs to (`None` for installation-wide notices).
    pub community: Option<CommunityId>,
    /// What it is.
    pub kind: OutboxKind,
    /// Its subject, for `praxis outbox`.
    pub subject: &'a str,
    /// The rendered message, before per-recipient personalisation.
    pub message: &'a [u8],
    /// The post it distributes.
    pub post: Option<PostId>,
    /// The Consolidated Reply it publishes.
    pub reply: Option<i64>,
    /// The digest issue it carries.
    pub digest: Option<i64>,
    /// Not to be sent before this time (scheduled publishing).
    pub not_before: Option<i64>,
}

impl<'a> NewOutbox<'a> {
    /// A message of `kind` with nothing linked and no schedule.
    pub fn new(
        community: Option<CommunityId>,
        kind: OutboxKind,
        subject: &'a str,
        message: &'a [u8],
    ) -> Self {
        Self {
            community,
            kind,
            subject,
            message,
            post: None,
            reply: None,
            digest: None,
            not_before: None,
        }
    }
}

/// Which members of a community receive a message.
#[derive(Debug, Clone)]
pub struct Audience<'a> {
    /// The community.
    pub community: CommunityId,
    /// Active members with one of these delivery modes.
    pub modes: &'a [Delivery],
    /// The author of the post, left out if they opted out of their own posts.
    pub author: Option<&'a str>,
    /// Only members reading their digest in this format (one digest
    /// message per format).
    pub digest_format: Option<DigestFormat>,
    /// Members who already have this message through another community
    /// (a cross-posted query, a shared Consolidated Reply): left out, so a
    /// member of several communities gets each message once.
    pub exclude: &'a [Excluded<'a>],
}

/// Who an [`Audience`] leaves out: the active members of `community` whose
/// delivery mode is one of `modes`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Excluded<'a> {
    /// The other community.
    pub community: CommunityId,
    /// The delivery modes that brought them the message there.
    pub modes: &'a [Delivery],
}

/// One explicit recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecipient {
    /// The member, when the recipient is one.
    pub member: Option<MemberId>,
    /// The address.
    pub address: String,
}

/// A message just stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    /// Its id.
    pub id: OutboxId,
    /// Delivery rows created, for explicit recipient lists; `None` for a
    /// member audience, which is expanded later (count it with
    /// [`Store::audience_size`] where a report needs it).
    pub recipients: Option<u64>,
    /// False when the message already existed (a post fanned out before).
    pub created: bool,
}

/// A delivery the sender should attempt now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// Its id.
    pub id: DeliveryId,
    /// The message.
    pub outbox: OutboxId,
    /// The message's community.
    pub community: Option<CommunityId>,
    /// The member, if the recipient is one.
    pub member: Option<MemberId>,
    /// The address.
    pub recipient: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// When it first failed temporarily (the give-up clock), if it has.
    pub first_failed_at: Option<i64>,
}

/// A stored message as the sender needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Its id.
    pub id: OutboxId,
    /// Its community.
    pub community: Option<CommunityId>,
    /// What it is (decides the personalisation).
    pub kind: OutboxKind,
    /// The rendered message.
    pub message: Vec<u8>,
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The relay accepted it.
    Sent {
        /// When.
        at: i64,
    },
    /// A temporary failure: try again at `next_attempt_at`.
    Retry {
        /// When it failed.
        at: i64,
        /// When to try again.
        next_attempt_at: i64,
        /// The server's reply or the connection fault.
        error: String,
    },
    /// A permanent failure.
    Failed {
        /// When.
        at: i64,
        /// The server's reply (or why it gave up).
        error: String,
        /// Whether it counts as a bounce for the member's score.
        bounce: bool,
    },
}

/// One message in `praxis outbox`; serialises with the `outbox --json` names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxSummary {
    /// Its id.
    pub id: OutboxId,
    /// The community's slug (empty for installation-wide notices).
    pub community: String,
    /// What it is.
    pub kind: OutboxKind,
    /// Its subject.
    pub subject: String,
    /// When it was queued (RFC 3339 in JSON).
    #[serde(serialize_with = "crate::model::serialize_unix_time")]
    pub created_at: i64,
    /// Deliveries accepted by the relay.
    pub sent: i64,
    /// Deliveries not yet accepted (pending or waiting to retry).
    pub pending: i64,
    /// Deliveries that failed permanently.
    pub failed: i64,
}

/// One delivery row, for `praxis outbox --failed` and tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryRow {
    /// Its id.
    pub id: DeliveryId,
    /// The address.
    pub recipient: String,
    /// Its state.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: i64,
    /// The last server reply or fault.
    pub last_error: Option<String>,
    /// When it was accepted, if it was.
    pub sent_at: Option<i64>,
    /// When it is next due.
    pub next_attempt_at: i64,
}

/// A post as fan-out needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostForFanout {
    /// Its id.
    pub id: PostId,
    /// Its community.
    pub community: CommunityId,
    /// Its Message-ID (synthetic when the message had none).
    pub message_id: String,
    /// The bytes as received.
    pub raw: Vec<u8>,
    /// The author's address, as parsed at ingest.
    pub from_addr: String,
    /// Where it stands in moderation.
    pub state: PostState,
    /// Its Subject, decoded, as parsed at ingest.
    pub subject: String,
    /// The subject of the thread it was placed in (a reply to a digest
    /// goes out under it, not under the digest's).
    pub thread_subject: Option<String>,
}

/// Which messages `praxis outbox` lists.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    /// Only this community.
    pub community: Option<CommunityId>,
    /// Only messages with failed deliveries.
    pub failed_only: bool,
    /// At most this many, newest first.
    pub limit: u32,
    /// Skip this many newest first (a page's start).
    pub offset: u32,
}

/// One row of the summary queries (id, slug, kind, subject, created, sent,
/// pending, failed).
fn summary_from_row(r: &Row<'_>) -> Result<OutboxSummary> {
    Ok(OutboxSummary {
        id: OutboxId(r.get(0)?),
        community: r.get(1)?,
        kind: r.parse(2)?,
        subject: r.get(3)?,
        created_at: r.get(4)?,
        sent: r.get(5)?,
        pending: r.get(6)?,
        failed: r.get(7)?,
    })
}

pub(super) fn insert_outbox(tx: &impl Queries, msg: &NewOutbox<'_>, now: i64) -> Result<OutboxId> {
    let id = tx.query_one(
        "INSERT INTO outbox (community_id, kind, subject, message, post_id, reply_id, digest_id,
                             created_at, not_before)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        params![
            msg.community.map(|c| c.0),
            msg.kind.as_str(),
            msg.subject,
            msg.message,
            msg.post.map(|p| p.0),
            msg.reply,
            msg.digest,
            now,
            msg.not_before,
        ],
        |r| r.get(0),
    )?;
    Ok(OutboxId(id))
}

/// Inserts a message and a pending delivery to each recipient, in the
/// caller's transaction (an address listed twice gets one); returns the
/// message and how many deliveries it got.
pub(super) fn insert_with_recipients(
    tx: &impl Queries,
    msg: &NewOutbox<'_>,
    recipients: impl IntoIterator<Item = NewRecipient>,
    now: i64,
) -> Result<(OutboxId, u64)> {
    let id = insert_outbox(tx, msg, now)?;
    let mut n = 0;
    for r in recipients {
        n += tx.execute(
            "INSERT INTO deliveries (outbox_id, member_id, recipient, state, next_attempt_at)
             VALUES (?1, ?2, ?3, 'pending', ?4) ON CONFLICT DO NOTHING",
            params![
                id.0,
                r.member.map(|m| m.0),
                super::members::normalise_email(&r.address),
                now
            ],
        )? as u64;
    }
    Ok((id, n))
}

/// Runs `claim` (an insert that does nothing on conflict, recording a
/// message as sent once, with `params`) and, when it recorded one, queues
/// `msg` to `recipients`, in one transaction; returns whether it queued.
pub(super) fn queue_once(
    conn: &mut Conn,
    claim: &str,
    params: Params<'_>,
    msg: &NewOutbox<'_>,
    recipients: &[NewRecipient],
    now: i64,
) -> Result<bool> {
    let tx = conn.transaction()?;
    if tx.execute(claim, params)? == 0 {
        return Ok(false);
    }
    insert_with_recipients(&tx, msg, recipients.iter().cloned(), now)?;
    tx.commit()?;
    Ok(true)
}

/// The members of an audience not yet expanded into delivery rows, as a
/// correlated subquery on the outbox alias `o` (0 when `o` has no audience).
/// The same filter as [`expand_window`]: status and mode as they are now.
pub(super) fn remaining(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => REMAINING_SQLITE,
        Dialect::Postgres => REMAINING_POSTGRES,
    }
}

/// [`remaining`] on SQLite: the audience's JSON read with `json_each`.
const REMAINING_SQLITE: &str = "(SELECT COUNT(*) FROM outbox_audiences a
       JOIN members m ON m.community_id = a.community_id AND m.id > a.cursor AND m.id <= a.cutoff
     WHERE a.outbox_id = o.id AND m.status = 'active'
       AND m.delivery IN (SELECT value FROM json_each(a.modes))
       AND NOT (m.own_posts = 0 AND m.email = a.author)
       AND (a.digest_format IS NULL OR m.digest_format = a.digest_format)
       AND NOT EXISTS (SELECT 1 FROM json_each(a.exclude) x
             JOIN members e ON e.community_id = json_extract(x.value, '$.community')
                           AND e.email = m.email AND e.status = 'active'
             WHERE e.delivery IN (SELECT value FROM json_each(x.value, '$.modes'))))";

/// [`remaining`] on PostgreSQL: the same filter with its JSON functions,
/// the audience's modes read once (`OFFSET 0` keeps the subquery whole),
/// not once per member.
const REMAINING_POSTGRES: &str = "(SELECT COUNT(*)
     FROM (SELECT a.community_id, a.cursor, a.cutoff, a.author, a.digest_format, a.exclude,
                  ARRAY(SELECT json_array_elements_text(CAST(a.modes AS JSON))) AS modes
           FROM outbox_audiences a WHERE a.outbox_id = o.id OFFSET 0) a
       JOIN members m ON m.community_id = a.community_id AND m.id > a.cursor AND m.id <= a.cutoff
     WHERE m.status = 'active' AND m.delivery = ANY (a.modes)
       AND NOT (m.own_posts = 0 AND m.email = a.author)
       AND (a.digest_format IS NULL OR m.digest_format = a.digest_format)
       AND (a.exclude = '[]'
            OR NOT EXISTS (SELECT 1 FROM json_array_elements(CAST(a.exclude AS JSON)) x
                 JOIN members e ON e.community_id = CAST(x.value ->> 'community' AS BIGINT)
                               AND e.email = m.email AND e.status = 'active'
                 WHERE e.delivery IN (SELECT json_array_elements_text(x.value -> 'modes')))))";

/// Records `audience` as the recipients of message `id`: one row, whatever
/// the member count. The sender expands it into delivery rows a batch at a
/// time ([`Store::expand_audiences`]); members added later (with higher
/// ids) are not in it.
pub(super) fn insert_audience(
    tx: &impl Queries,
    id: OutboxId,
    audience: &Audience<'_>,
) -> Result<()> {
    let modes: Vec<&str> = audience.modes.iter().map(|m| m.as_str()).collect();
    let exclude: Vec<serde_json::Value> = audience
        .exclude
        .iter()
        .map(|x| {
            serde_json::json!({
                "community": x.community.0,
                "modes": x.modes.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    tx.execute(
        "INSERT INTO outbox_audiences (outbox_id, community_id, modes, author, digest_format,
                                       cutoff, exclude)
         VALUES (?1, ?2, ?3, ?4, ?5, (SELECT COALESCE(MAX(id), 0) FROM members), ?6)",
        params![
            id.0,
            audience.community.0,
            serde_json::to_string(&modes).unwrap_or_else(|_| "[]".into()),
            audience.author.map(super::members::normalise_email),
            audience.digest_format.map(|f| f.as_str()),
            serde_json::Value::Array(exclude).to_string(),
        ],
    )?;
    Ok(())
}

/// How many members message `id`'s audience holds now: delivery rows
/// already made plus members not yet expanded. Grows with the member count;
/// for reports, not for the ingest path.
pub(super) fn audience_size(conn: &impl Queries, id: OutboxId) -> Result<u64> {
    let n: i64 = conn.query_one(
        &format!(
            "SELECT (SELECT COUNT(*) FROM deliveries WHERE outbox_id = o.id) + {}
             FROM outbox o WHERE o.id = ?1",
            remaining(conn.on().dialect())
        ),
        params![id.0],
        |r| r.get(0),
    )?;
    Ok(n as u64)
}

/// An audience still being expanded.
struct OpenAudience {
    /// Its message.
    outbox: OutboxId,
    /// Members with ids up to this have delivery rows.
    cursor: i64,
    /// The highest member id in it.
    cutoff: i64,
}

/// Expands the next window of up to `window` member ids of `a` into delivery
/// rows and advances its cursor, in the caller's transaction; returns the
/// rows inserted. Status and mode are read now, so a member who left or
/// switched to digests before their window is expanded gets no copy.
fn expand_window(tx: &impl Queries, a: &mut OpenAudience, window: u32, now: i64) -> Result<u64> {
    let end: Option<i64> = tx.query_one(
        "SELECT MAX(id) FROM (SELECT m.id FROM members m JOIN outbox_audiences a
             ON a.outbox_id = ?1 AND m.community_id = a.community_id
           WHERE m.id > ?2 AND m.id <= ?3 ORDER BY m.id LIMIT ?4) AS w",
        params![a.outbox.0, a.cursor, a.cutoff, window],
        |r| r.get(0),
    )?;
    let end = end.unwrap_or(a.cutoff);
    let insert = match tx.on().dialect() {
        Dialect::Sqlite => {
            "INSERT OR IGNORE INTO deliveries (outbox_id, member_id, recipient, state, next_attempt_at)
             SELECT a.outbox_id, m.id, m.email, 'pending', ?4
             FROM outbox_audiences a
             JOIN members m ON m.community_id = a.community_id AND m.id > ?2 AND m.id <= ?3
             WHERE a.outbox_id = ?1 AND m.status = 'active'
               AND m.delivery IN (SELECT value FROM json_each(a.modes))
               AND NOT (m.own_posts = 0 AND m.email = a.author)
               AND (a.digest_format IS NULL OR m.digest_format = a.digest_format)
               AND NOT EXISTS (SELECT 1 FROM json_each(a.exclude) x
                     JOIN members e ON e.community_id = json_extract(x.value, '$.community')
                                   AND e.email = m.email AND e.status = 'active'
                     WHERE e.delivery IN (SELECT value FROM json_each(x.value, '$.modes')))
             ORDER BY m.id"
        }
        // Claimed by this node as they are made: it expands them for its
        // own next claim, which then takes them without writing each row
        // again (PostgreSQL's update writes a new version and its index
        // entries). The audience's modes are read from their JSON once,
        // not once per member (which was half the statement's time).
        Dialect::Postgres => {
            "WITH a AS MATERIALIZED (
                 SELECT outbox_id, community_id, author, digest_format, exclude,
                        ARRAY(SELECT json_array_elements_text(CAST(modes AS JSON))) AS modes
                 FROM outbox_audiences WHERE outbox_id = ?1)
             INSERT INTO deliveries (outbox_id, member_id, recipient, state, next_attempt_at,
                                     claimed_by, claimed_until)
             SELECT a.outbox_id, m.id, m.email, 'pending', ?4, ?5, ?6
             FROM a
             JOIN members m ON m.community_id = a.community_id AND m.id > ?2 AND m.id <= ?3
             WHERE m.status = 'active' AND m.delivery = ANY (a.modes)
               AND NOT (m.own_posts = 0 AND m.email = a.author)
               AND (a.digest_format IS NULL OR m.digest_format = a.digest_format)
               AND (a.exclude = '[]'
                    OR NOT EXISTS (SELECT 1 FROM json_array_elements(CAST(a.exclude AS JSON)) x
                         JOIN members e ON e.community_id = CAST(x.value ->> 'community' AS BIGINT)
                                       AND e.email = m.email AND e.status = 'active'
                         WHERE e.delivery IN (SELECT json_array_elements_text(x.value -> 'modes'))))
             ORDER BY m.id
             ON CONFLICT DO NOTHING"
        }
    };
    let values = params![
        a.outbox.0,
        a.cursor,
        end,
        now,
        super::this_node(),
        now + CLAIM_TTL
    ];
    let n = match tx.on().dialect() {
        Dialect::Sqlite => tx.execute(insert, &values[..4])?,
        Dialect::Postgres => tx.execute(insert, values)?,
    };
    tx.execute(
        "UPDATE outbox_audiences SET cursor = ?2 WHERE outbox_id = ?1",
        params![a.outbox.0, end],
    )?;
    a.cursor = end;
    Ok(n as u64)
}

/// How long a node's claim on a delivery holds unless renewed (its sender
/// renews the claims on what it still has in hand at every claim): after
/// that another node may send it, its first sender presumed dead.
pub const CLAIM_TTL: i64 = 600;

impl Store {
    /// Stores a message for the members in `audience`: the message and its
    /// audience in one transaction, at the same cost however many members
    /// there are (the sender expands it; see [`Store::expand_audiences`]).
    /// A post already fanned out is not fanned out again: the earlier
    /// message is returned with `created: false`.
    pub fn queue_to_members(
        &mut self,
        msg: &NewOutbox<'_>,
        audience: &Audience<'_>,
        now: i64,
    ) -> Result<Queued> {
        let tx = self.conn.transaction()?;
        if msg.kind == OutboxKind::Post
            && let Some(post) = msg.post
            && let Some(id) = tx.query_opt(
                "SELECT id FROM outbox WHERE kind = 'post' AND post_id = ?1",
                params![post.0],
                |r| r.get::<i64>(0),
            )?
        {
            return Ok(Queued {
                id: OutboxId(id),
                recipients: None,
                created: false,
            });
        }
        let id = insert_outbox(&tx, msg, now)?;
        insert_audience(&tx, id, audience)?;
        tx.commit()?;
        Ok(Queued {
            id,
            recipients: None,
            created: true,
        })
    }

    /// Stores a message for explicit recipients (notices, probes), in one
    /// transaction; an address listed twice gets one delivery.
    pub fn queue_to(
        &mut self,
        msg: &NewOutbox<'_>,
        recipients: impl IntoIterator<Item = NewRecipient>,
        now: i64,
    ) -> Result<Queued> {
        let tx = self.conn.transaction()?;
        let (id, n) = insert_with_recipients(&tx, msg, recipients, now)?;
        tx.commit()?;
        Ok(Queued {
            id,
            recipients: Some(n),
            created: true,
        })
    }

    /// The post with this id, as fan-out needs it.
    pub fn post_for_fanout(&self, post: PostId) -> Result<PostForFanout> {
        self.conn
            .query_opt(
                "SELECT p.id, p.community_id, p.message_id, p.raw, p.from_addr, p.state, p.subject,
                        t.subject
                 FROM posts p LEFT JOIN threads t ON t.id = p.thread_id WHERE p.id = ?1",
                params![post.0],
                |r| {
                    Ok(PostForFanout {
                        id: PostId(r.get(0)?),
                        community: CommunityId(r.get(1)?),
                        message_id: r.get(2)?,
                        raw: r.get(3)?,
                        from_addr: r.get(4)?,
                        state: r.parse(5)?,
                        subject: r.get(6)?,
                        thread_subject: r.get(7)?,
                    })
                },
            )?
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "post {post} does not exist; list held posts with `praxis queue`"
                ))
            })
    }

    /// Up to `limit` deliveries due at `now`, oldest due first, leaving out
    /// `exclude` (those already in the sender's hands) and the deliveries of
    /// the communities in `skip` (held back by their rate limit). Walks the
    /// due index, so its cost grows with `limit` and `exclude`, not with the
    /// size of the queue.
    ///
    /// On SQLite the one writer settles rows one transaction at a time, so
    /// a plain read is the claim. On PostgreSQL the claim is `FOR UPDATE
    /// SKIP LOCKED`: rows another session holds locked (an outcome being
    /// committed) are passed over rather than waited for. Either way the
    /// sender's `exclude` keeps what it holds from being taken twice.
    pub fn due_deliveries(
        &self,
        now: i64,
        limit: u32,
        exclude: &[DeliveryId],
        skip: &[CommunityId],
    ) -> Result<Vec<DueDelivery>> {
        let exclude: Vec<i64> = exclude.iter().map(|d| d.0).collect();
        let skip: Vec<i64> = skip.iter().map(|c| c.0).collect();
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT d.id, d.outbox_id, o.community_id, d.member_id, d.recipient, d.attempts,
                    d.first_failed_at, d.next_attempt_at
             FROM deliveries d JOIN outbox o ON o.id = d.outbox_id
             WHERE d.state IN ('pending', 'temp_failed') AND d.next_attempt_at <= ?1
               AND (o.not_before IS NULL OR o.not_before <= ?1)
               AND d.id NOT IN (SELECT value FROM json_each(?2))
               AND COALESCE(o.community_id, 0) NOT IN (SELECT value FROM json_each(?3))
             ORDER BY d.next_attempt_at, d.id
             LIMIT ?4"
            }
            // Several nodes send from one database: each claims what it
            // takes (rows another node is claiming right now are skipped,
            // a claim another node holds is left until it lapses), and
            // renews its claims on the rows still in its hands once half
            // their time has passed (not at every claim: each renewal
            // writes a new version of every row in hand).
            Dialect::Postgres => {
                "WITH renewed AS (
                     UPDATE deliveries SET claimed_until = ?6
                     WHERE claimed_by = ?5 AND claimed_until < ?7 AND id IN
                         (SELECT CAST(v.x AS BIGINT)
                          FROM json_array_elements_text(CAST(?2 AS JSON)) AS v(x))
                 ), picked AS (
                     SELECT d.id FROM deliveries d JOIN outbox o ON o.id = d.outbox_id
                     WHERE d.state IN ('pending', 'temp_failed') AND d.next_attempt_at <= ?1
                       AND (o.not_before IS NULL OR o.not_before <= ?1)
                       AND (d.claimed_until IS NULL OR d.claimed_until <= ?1 OR d.claimed_by = ?5)
                       AND d.id NOT IN (SELECT CAST(v.x AS BIGINT)
                                        FROM json_array_elements_text(CAST(?2 AS JSON)) AS v(x))
                       AND COALESCE(o.community_id, 0) NOT IN
                           (SELECT CAST(v.x AS BIGINT)
                            FROM json_array_elements_text(CAST(?3 AS JSON)) AS v(x))
                     ORDER BY d.next_attempt_at, d.id
                     LIMIT ?4
                     FOR UPDATE OF d SKIP LOCKED
                 ), claimed AS (
                     -- Rows this node already holds for long enough (those
                     -- it expanded for itself) are taken as they are.
                     UPDATE deliveries d SET claimed_by = ?5, claimed_until = ?6
                     FROM picked p
                     WHERE d.id = p.id
                       AND (d.claimed_by IS DISTINCT FROM ?5 OR d.claimed_until < ?7)
                 )
                 SELECT d.id, d.outbox_id, o.community_id, d.member_id, d.recipient, d.attempts,
                        d.first_failed_at, d.next_attempt_at
                 FROM picked p JOIN deliveries d ON d.id = p.id JOIN outbox o ON o.id = d.outbox_id"
            }
        };
        let json = |v: &Vec<i64>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        let (exclude, skip) = (json(&exclude), json(&skip));
        let claim_until = now + CLAIM_TTL;
        let renew_below = now + CLAIM_TTL / 2;
        let values = params![
            now,
            exclude,
            skip,
            limit,
            super::this_node(),
            claim_until,
            renew_below
        ];
        // SQLite's one sender claims nothing: it binds the first four.
        let values = match self.dialect() {
            Dialect::Sqlite => &values[..4],
            Dialect::Postgres => values,
        };
        let mut due = self.conn.query_map(sql, values, |r| {
            Ok((
                r.get::<i64>(7)?,
                DueDelivery {
                    id: DeliveryId(r.get(0)?),
                    outbox: OutboxId(r.get(1)?),
                    community: r.get::<Option<i64>>(2)?.map(CommunityId),
                    member: r.get::<Option<i64>>(3)?.map(MemberId),
                    recipient: r.get(4)?,
                    attempts: r.get(5)?,
                    first_failed_at: r.get(6)?,
                },
            ))
        })?;
        // The join keeps no order: the oldest due first.
        due.sort_by_key(|(at, d)| (*at, d.id.0));
        Ok(due.into_iter().map(|(_, d)| d).collect())
    }

    /// When the next delivery waiting for a later attempt falls due, if any
    /// (one step down the due index); `now` while a due message still has
    /// members to expand.
    pub fn next_due_at(&self, now: i64) -> Result<Option<i64>> {
        if self.audiences_open(now)? {
            return Ok(Some(now)); // members still to expand: due now
        }
        self.conn.query_one(
            "SELECT MIN(next_attempt_at) FROM deliveries
             WHERE state IN ('pending', 'temp_failed') AND next_attempt_at > ?1",
            params![now],
            |r| r.get(0),
        )
    }

    /// Expands the audiences of messages due at `now` into delivery rows,
    /// up to about `want` rows in one transaction, for the sender's next
    /// claim. An audience is expanded only while its message has fewer than
    /// `want + in_hand` pending rows, so rows are made as fast as they are
    /// sent, not all at once. Each window of member ids and its cursor are
    /// committed together: a crash loses and doubles no recipient. Returns
    /// the rows inserted.
    pub fn expand_audiences(&mut self, now: i64, want: u32, in_hand: usize) -> Result<u64> {
        // Most claims find nothing to expand: a look first, without the
        // writers' lock (which on PostgreSQL every node's claim would
        // otherwise queue for); the transaction reads again under it.
        if !self.audiences_open(now)? {
            return Ok(0);
        }
        let tx = self.conn.transaction()?;
        let open: Vec<OpenAudience> = tx.query_map(
            "SELECT a.outbox_id, a.cursor, a.cutoff FROM outbox_audiences a
             JOIN outbox o ON o.id = a.outbox_id
             WHERE a.cursor < a.cutoff AND (o.not_before IS NULL OR o.not_before <= ?1)
             ORDER BY a.outbox_id",
            params![now],
            |r| {
                Ok(OpenAudience {
                    outbox: OutboxId(r.get(0)?),
                    cursor: r.get(1)?,
                    cutoff: r.get(2)?,
                })
            },
        )?;
        let want = u64::from(want.max(1));
        let enough = want + in_hand as u64;
        let mut inserted = 0;
        for mut a in open {
            if inserted >= want {
                break;
            }
            let pending: i64 = tx.query_one(
                "SELECT COUNT(*) FROM (SELECT 1 FROM deliveries
                 WHERE outbox_id = ?1 AND state = 'pending' LIMIT ?2) AS p",
                params![a.outbox.0, enough as i64],
                |r| r.get(0),
            )?;
            if pending as u64 >= enough {
                continue;
            }
            // Windows of member ids until enough rows (a window of digest
            // readers yields none for a post), at most 20 windows a call.
            for _ in 0..20 {
                if a.cursor >= a.cutoff || inserted >= want {
                    break;
                }
                inserted += expand_window(&tx, &mut a, want as u32, now)?;
            }
        }
        tx.commit()?;
        Ok(inserted)
    }

    /// Whether some due message still has members to expand.
    pub fn audiences_open(&self, now: i64) -> Result<bool> {
        self.conn.query_one(
            "SELECT EXISTS (SELECT 1 FROM outbox_audiences a JOIN outbox o ON o.id = a.outbox_id
             WHERE a.cursor < a.cutoff AND (o.not_before IS NULL OR o.not_before <= ?1))",
            params![now],
            |r| r.get(0),
        )
    }

    /// How many members message `id` goes to: delivery rows made so far plus
    /// the members of its audience not yet expanded (as they are now).
    /// Counts the members, so it costs more as they grow: for reports.
    pub fn audience_size(&self, id: OutboxId) -> Result<u64> {
        audience_size(&self.conn, id)
    }

    /// A stored message.
    pub fn outbox_message(&self, id: OutboxId) -> Result<OutboxMessage> {
        self.conn
            .query_opt(
                "SELECT id, community_id, kind, message FROM outbox WHERE id = ?1",
                params![id.0],
                |r| {
                    Ok(OutboxMessage {
                        id: OutboxId(r.get(0)?),
                        community: r.get::<Option<i64>>(1)?.map(CommunityId),
                        kind: r.parse(2)?,
                        message: r.get(3)?,
                    })
                },
            )?
            .ok_or_else(|| outbox_not_found(id))
    }

    /// Applies attempt outcomes in one transaction (the sender's group
    /// commit). A permanent failure marked as a bounce raises the member's
    /// score under `rule`; `notice` renders the owners' notice when that
    /// disables them. Returns, per outcome, whether it changed a row.
    ///
    /// Outcomes change only the sender's own claimed rows, by id, so on
    /// PostgreSQL they commit under row locks alone and several nodes'
    /// ledgers run side by side; a bounce changes a member's score (read,
    /// then written), so a batch with one takes the writers' lock. There the
    /// copies sent, most of a batch, are one statement.
    pub fn apply_outcomes(
        &mut self,
        outcomes: &[(DeliveryId, Outcome)],
        rule: &BounceRule,
        notice: &dyn Fn(&super::Member, f64, &str) -> Option<Notice>,
    ) -> Result<Vec<bool>> {
        let bounces = outcomes
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Failed { bounce: true, .. }));
        let postgres = self.dialect() == Dialect::Postgres;
        let tx = if bounces {
            self.conn.transaction()?
        } else {
            self.conn.row_transaction()?
        };
        let sent_at_once = if postgres {
            mark_sent(&tx, outcomes)?
        } else {
            Default::default()
        };
        let mut changed = Vec::with_capacity(outcomes.len());
        for (id, outcome) in outcomes {
            let n = match outcome {
                Outcome::Sent { .. } if postgres => usize::from(sent_at_once.contains(&id.0)),
                Outcome::Sent { at } => tx.execute(
                    "UPDATE deliveries SET state = 'sent', sent_at = ?2, attempts = attempts + 1,
                            last_error = NULL, claimed_by = NULL, claimed_until = NULL
                     WHERE id = ?1 AND state IN ('pending', 'temp_failed')",
                    params![id.0, at],
                )?,
                Outcome::Retry {
                    at,
                    next_attempt_at,
                    error,
                } => tx.execute(
                    "UPDATE deliveries SET state = 'temp_failed', attempts = attempts + 1,
                            next_attempt_at = ?2, last_error = ?3,
                            first_failed_at = COALESCE(first_failed_at, ?4),
                            claimed_by = NULL, claimed_until = NULL
                     WHERE id = ?1 AND state IN ('pending', 'temp_failed')",
                    params![id.0, next_attempt_at, error, at],
                )?,
                Outcome::Failed { at, error, bounce } => {
                    let n = tx.execute(
                        "UPDATE deliveries SET state = 'failed', attempts = attempts + 1,
                                last_error = ?2, first_failed_at = COALESCE(first_failed_at, ?3),
                                claimed_by = NULL, claimed_until = NULL
                         WHERE id = ?1 AND state IN ('pending', 'temp_failed')",
                        params![id.0, error, at],
                    )?;
                    if n > 0 && *bounce {
                        let target: Option<(Option<i64>, String)> = tx.query_opt(
                            "SELECT o.community_id, d.recipient FROM deliveries d
                             JOIN outbox o ON o.id = d.outbox_id WHERE d.id = ?1",
                            params![id.0],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )?;
                        if let Some((Some(community), recipient)) = target {
                            record_bounce_tx(
                                &tx,
                                CommunityId(community),
                                &recipient,
                                rule,
                                *at,
                                error,
                                notice,
                            )?;
                        }
                    }
                    n
                }
            };
            changed.push(n > 0);
        }
        tx.commit()?;
        Ok(changed)
    }

    /// Messages with their delivery counts, newest first.
    pub fn outbox_summaries(&self, filter: &OutboxFilter) -> Result<Vec<OutboxSummary>> {
        // No limit: -1 on SQLite, NULL on PostgreSQL.
        let limit = match (filter.limit, self.dialect()) {
            (0, Dialect::Sqlite) => Some(-1),
            (0, Dialect::Postgres) => None,
            (n, _) => Some(i64::from(n)),
        };
        self.conn.query_map(
            &format!(
                "SELECT o.id, COALESCE(c.slug, ''), o.kind, o.subject, o.created_at, {COUNTS}
                 FROM outbox o
                 LEFT JOIN communities c ON c.id = o.community_id
                 LEFT JOIN deliveries d ON d.outbox_id = o.id
                 WHERE (CAST(?1 AS BIGINT) IS NULL OR o.community_id = ?1)
                 GROUP BY o.id, c.slug
                 HAVING NOT ?2 OR {FAILED} > 0
                 ORDER BY o.id DESC
                 LIMIT ?3 OFFSET ?4",
                COUNTS = counts(self.dialect()),
            ),
            params![
                filter.community.map(|c| c.0),
                filter.failed_only,
                limit,
                filter.offset
            ],
            summary_from_row,
        )
    }

    /// How many messages `filter` matches, ignoring its limit and offset.
    pub fn outbox_count(&self, filter: &OutboxFilter) -> Result<u64> {
        let n: i64 = self.conn.query_one(
            "SELECT COUNT(*) FROM outbox o
             WHERE (CAST(?1 AS BIGINT) IS NULL OR o.community_id = ?1)
               AND (NOT ?2 OR EXISTS (SELECT 1 FROM deliveries d
                                      WHERE d.outbox_id = o.id AND d.state = 'failed'))",
            params![filter.community.map(|c| c.0), filter.failed_only],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// One message's counts.
    pub fn outbox_summary(&self, id: OutboxId) -> Result<OutboxSummary> {
        self.conn
            .query_opt(
                &format!(
                    "SELECT o.id, COALESCE(c.slug, ''), o.kind, o.subject, o.created_at, {}
                     FROM outbox o
                     LEFT JOIN communities c ON c.id = o.community_id
                     LEFT JOIN deliveries d ON d.outbox_id = o.id
                     WHERE o.id = ?1 GROUP BY o.id, c.slug",
                    counts(self.dialect())
                ),
                params![id.0],
                summary_from_row,
            )?
            .ok_or_else(|| outbox_not_found(id))
    }

    /// A message's deliveries, optionally only those in `state`, by id; at
    /// most `limit` (0: all).
    pub fn deliveries(
        &self,
        id: OutboxId,
        state: Option<DeliveryState>,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>> {
        // No limit: -1 on SQLite, NULL on PostgreSQL.
        let limit = match (limit, self.dialect()) {
            (0, Dialect::Sqlite) => Some(-1),
            (0, Dialect::Postgres) => None,
            (n, _) => Some(i64::from(n)),
        };
        self.conn.query_map(
            "SELECT id, recipient, state, attempts, last_error, sent_at, next_attempt_at
             FROM deliveries WHERE outbox_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR state = ?2)
             ORDER BY id LIMIT ?3",
            params![id.0, state.map(|s| s.as_str()), limit],
            |r| {
                Ok(DeliveryRow {
                    id: DeliveryId(r.get(0)?),
                    recipient: r.get(1)?,
                    state: r.parse(2)?,
                    attempts: r.get(3)?,
                    last_error: r.get(4)?,
                    sent_at: r.get(5)?,
                    next_attempt_at: r.get(6)?,
                })
            },
        )
    }

    /// Re-queues a message's failed and waiting deliveries to go now, with a
    /// fresh give-up clock; returns how many. A community's message records
    /// the retry in its audit log under the store's actor.
    pub fn retry_outbox(&mut self, id: OutboxId, now: i64) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let community: Option<Option<i64>> = tx.query_opt(
            "SELECT community_id FROM outbox WHERE id = ?1",
            params![id.0],
            |r| r.get(0),
        )?;
        let Some(community) = community else {
            return Err(outbox_not_found(id));
        };
        let n = tx.execute(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = ?2, first_failed_at = NULL,
                 claimed_by = NULL, claimed_until = NULL
             WHERE outbox_id = ?1 AND state IN ('failed', 'temp_failed')",
            params![id.0, now],
        )?;
        if let Some(community) = community {
            super::audit::record(
                &tx,
                &super::audit::Act {
                    community: CommunityId(community),
                    actor: &self.actor,
                    act: "outbox-retry",
                    object: Some(("outbox", id.0)),
                    detail: Some(&format!("{n} deliveries re-queued")),
                    at: now,
                },
            )?;
        }
        tx.commit()?;
        Ok(n as u64)
    }
}

/// A message's failed deliveries, from its grouped delivery rows `d`.
const FAILED: &str = "COALESCE(SUM(CASE WHEN d.state = 'failed' THEN 1 ELSE 0 END), 0)";

/// The summary's sent, pending (rows plus members still to expand) and
/// failed counts, from the outbox row `o` and its grouped delivery rows `d`.
fn counts(dialect: Dialect) -> String {
    format!(
        "COALESCE(SUM(CASE WHEN d.state = 'sent' THEN 1 ELSE 0 END), 0),
         COALESCE(SUM(CASE WHEN d.state IN ('pending', 'temp_failed') THEN 1 ELSE 0 END), 0)
             + {},
         {FAILED}",
        remaining(dialect)
    )
}

/// Marks the deliveries that `outcomes` says were sent, in one statement
/// (PostgreSQL); the ids it changed.
fn mark_sent(
    tx: &impl Queries,
    outcomes: &[(DeliveryId, Outcome)],
) -> Result<std::collections::HashSet<i64>> {
    let sent: Vec<serde_json::Value> = outcomes
        .iter()
        .filter_map(|(id, o)| match o {
            Outcome::Sent { at } => Some(serde_json::json!({"id": id.0, "at": at})),
            _ => None,
        })
        .collect();
    if sent.is_empty() {
        return Ok(Default::default());
    }
    let changed = tx.query_map(
        "UPDATE deliveries d SET state = 'sent', sent_at = v.at, attempts = d.attempts + 1,
                last_error = NULL, claimed_by = NULL, claimed_until = NULL
         FROM json_to_recordset(CAST(?1 AS JSON)) AS v(id BIGINT, at BIGINT)
         WHERE d.id = v.id AND d.state IN ('pending', 'temp_failed')
         RETURNING d.id",
        params![serde_json::Value::Array(sent).to_string()],
        |r| r.get::<i64>(0),
    )?;
    Ok(changed.into_iter().collect())
}

fn outbox_not_found(id: OutboxId) -> StoreError {
    StoreError::NotFound(format!(
        "outbox message {id} does not exist; list them with `praxis outbox`"
    ))
}

/// Fixtures for the store's unit tests: a community, members, a post.
#[cfg(test)]
pub(super) mod fixtures {
    use super::*;
    use crate::config::Config;
    use crate::model::{MemberStatus, Role};
    use crate::store::{MemberFields, NewMember};

    /// A store with community `health` (list@example.test).
    pub fn store() -> (Store, CommunityId) {
        let mut s = Store::open_in_memory().unwrap();
        let (config, problems) = Config::parse(
            "[[community]]\nslug = \"health\"\nname = \"Health\"\naddress = \"list@example.test\"\n",
            std::path::Path::new("/x/praxis.toml"),
            &|_| None,
        );
        assert!(problems.is_empty(), "{problems:?}");
        s.sync_communities(&config).unwrap();
        let c = s.community("health").unwrap().id;
        (s, c)
    }

    /// Adds a member with these fields.
    pub fn member(s: &mut Store, c: CommunityId, email: &str, f: MemberFields) -> MemberId {
        let r = s
            .add_members(
                c,
                &[NewMember {
                    email: email.into(),
                    fields: f,
                }],
                "test",
            )
            .unwrap();
        r.into_iter().next().unwrap().unwrap().id
    }

    /// Member fields with a delivery mode, role and status.
    pub fn fields(delivery: Delivery, role: Role, status: MemberStatus) -> MemberFields {
        MemberFields {
            delivery: Some(delivery),
            role: Some(role),
            status: Some(status),
            ..MemberFields::default()
        }
    }

    /// Inserts an approved post from `from`.
    pub fn post(s: &Store, c: CommunityId, from: &str, raw: &[u8]) -> PostId {
        s.sqlite().unwrap()
            .execute(
                "INSERT INTO posts (community_id, message_id, sha256, raw, size, source, received_at,
                                    class, state, from_addr, subject)
                 VALUES (?1, ?2, x'00', ?3, ?4, 'pipe', 0, 'post', 'approved', ?5, 'Hello')",
                rusqlite::params![c.0, format!("<{}@test>", raw.len()), raw, raw.len() as i64, from],
            )
            .unwrap();
        PostId(s.sqlite().unwrap().last_insert_rowid())
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::model::{MemberStatus, Role};
    use crate::store::{BounceOutcome, BounceRule, MemberFields};

    const RULE: BounceRule = BounceRule {
        weight: 1.0,
        threshold: 5.0,
        interval: 0,
        stale_after: 7 * 86_400,
    };

    fn no_notice(_: &crate::store::Member, _: f64, _: &str) -> Option<crate::store::Notice> {
        None
    }

    /// Every member receiving each post, with no author left out.
    fn each_post_members(c: CommunityId) -> Audience<'static> {
        Audience {
            community: c,
            modes: &[Delivery::Each],
            author: None,
            digest_format: None,
            exclude: &[],
        }
    }

    /// The recipients of message `id`'s delivery rows, in order.
    fn recipients(s: &Store, id: OutboxId) -> Vec<String> {
        s.deliveries(id, None, 0)
            .unwrap()
            .into_iter()
            .map(|d| d.recipient)
            .collect()
    }

    #[test]
    fn a_post_goes_to_active_each_members_once_with_the_author_unless_opted_out() {
        let (mut s, c) = store();
        let each = fields(Delivery::Each, Role::Member, MemberStatus::Active);
        member(&mut s, c, "alice@example.org", each.clone());
        member(&mut s, c, "bob@example.org", each.clone());
        let mut carol = each.clone();
        carol.own_posts = Some(false);
        member(&mut s, c, "carol@example.org", carol);
        member(
            &mut s,
            c,
            "dave@example.org",
            fields(Delivery::Digest, Role::Member, MemberStatus::Active),
        );
        member(
            &mut s,
            c,
            "erin@example.org",
            fields(Delivery::Each, Role::Member, MemberStatus::Disabled),
        );
        let post = post(&s, c, "alice@example.org", b"Subject: x\r\n\r\nhi\r\n");
        let mut msg = NewOutbox::new(Some(c), OutboxKind::Post, "[health] x", b"m");
        msg.post = Some(post);
        let audience = |author| Audience {
            community: c,
            modes: &[Delivery::Each],
            author,
            digest_format: None,
            exclude: &[],
        };
        let q = s
            .queue_to_members(&msg, &audience(Some("ALICE@example.org")), 100)
            .unwrap();
        assert!(q.created);
        assert!(
            s.deliveries(q.id, None, 0).unwrap().is_empty(),
            "queueing records the audience; no rows yet"
        );
        assert_eq!(s.outbox_summary(q.id).unwrap().pending, 3);
        assert_eq!(s.expand_audiences(100, 100, 0).unwrap(), 3);
        assert_eq!(
            recipients(&s, q.id),
            ["alice@example.org", "bob@example.org", "carol@example.org"],
            "the author alice gets her copy; digest and disabled members do not"
        );
        // carol opted out of her own posts.
        let mut msg2 = NewOutbox::new(Some(c), OutboxKind::Post, "[health] y", b"m");
        msg2.post = Some(super::fixtures::post(&s, c, "carol@example.org", b"other"));
        let q2 = s
            .queue_to_members(&msg2, &audience(Some("carol@example.org")), 100)
            .unwrap();
        assert_eq!(s.audience_size(q2.id).unwrap(), 2);
        // Approving the first post again does not fan it out again.
        let again = s
            .queue_to_members(&msg, &audience(Some("alice@example.org")), 200)
            .unwrap();
        assert_eq!((again.id, again.created), (q.id, false));
        assert_eq!(s.audience_size(again.id).unwrap(), 3);
        // A digest goes to digest members reading that format.
        let digest = NewOutbox::new(Some(c), OutboxKind::Digest, "digest", b"d");
        let to = |format| Audience {
            community: c,
            modes: &[Delivery::Digest],
            author: None,
            digest_format: Some(format),
            exclude: &[],
        };
        let mime = s
            .queue_to_members(&digest, &to(DigestFormat::Mime), 300)
            .unwrap();
        s.expand_audiences(300, 100, 0).unwrap();
        assert_eq!(
            s.deliveries(mime.id, None, 0).unwrap()[0].recipient,
            "dave@example.org"
        );
        let plain = s
            .queue_to_members(&digest, &to(DigestFormat::Plain), 300)
            .unwrap();
        assert_eq!(s.audience_size(plain.id).unwrap(), 0);
    }

    #[test]
    fn a_newcomer_never_takes_a_removed_member_s_place_in_an_audience() {
        let (mut s, c) = store();
        let each = fields(Delivery::Each, Role::Member, MemberStatus::Active);
        member(&mut s, c, "alice@example.org", each.clone());
        member(&mut s, c, "bob@example.org", each.clone());
        let msg = NewOutbox::new(Some(c), OutboxKind::Post, "[health] x", b"m");
        let q = s
            .queue_to_members(&msg, &each_post_members(c), 100)
            .unwrap();
        // bob, the newest member, leaves before the audience is expanded;
        // carol joins after the message was queued.
        s.remove_member(c, "bob@example.org", "test").unwrap();
        member(&mut s, c, "carol@example.org", each);
        s.expand_audiences(100, 100, 0).unwrap();
        assert_eq!(
            recipients(&s, q.id),
            ["alice@example.org"],
            "carol joined after it was queued"
        );
    }

    #[test]
    fn an_audience_is_expanded_in_windows_honouring_changes_made_before_each_window() {
        let (mut s, c) = store();
        let each = fields(Delivery::Each, Role::Member, MemberStatus::Active);
        for i in 0..10 {
            member(&mut s, c, &format!("m{i}@example.org"), each.clone());
        }
        let post = post(&s, c, "m0@example.org", b"Subject: x\r\n\r\nhi\r\n");
        let mut msg = NewOutbox::new(Some(c), OutboxKind::Post, "[health] x", b"m");
        msg.post = Some(post);
        let q = s
            .queue_to_members(&msg, &each_post_members(c), 100)
            .unwrap();
        assert_eq!(s.outbox_summary(q.id).unwrap().pending, 10);
        // The first window: 4 rows.
        assert_eq!(s.expand_audiences(100, 4, 0).unwrap(), 4);
        // Enough rows are waiting: nothing more until they are claimed.
        assert_eq!(s.expand_audiences(100, 4, 0).unwrap(), 0);
        // m5 leaves and m6 switches to digests before their window; a new
        // member joins after the post was queued.
        let off = MemberFields {
            status: Some(MemberStatus::Unsubscribed),
            ..MemberFields::default()
        };
        s.set_member(c, "m5@example.org", &off, "test").unwrap();
        let digest = MemberFields {
            delivery: Some(Delivery::Digest),
            ..MemberFields::default()
        };
        s.set_member(c, "m6@example.org", &digest, "test").unwrap();
        member(&mut s, c, "late@example.org", each.clone());
        assert_eq!(
            s.outbox_summary(q.id).unwrap().pending,
            4 + 4,
            "pending = rows + members still to expand, as they are now"
        );
        // The four rows are sent; the rest is expanded.
        let due = s.due_deliveries(100, 10, &[], &[]).unwrap();
        assert_eq!(due.len(), 4);
        let sent: Vec<_> = due
            .iter()
            .map(|d| (d.id, Outcome::Sent { at: 101 }))
            .collect();
        s.apply_outcomes(&sent, &RULE, &no_notice).unwrap();
        assert!(s.audiences_open(100).unwrap());
        assert_eq!(s.next_due_at(100).unwrap(), Some(100), "expand now");
        assert_eq!(s.expand_audiences(100, 100, 0).unwrap(), 4);
        assert!(!s.audiences_open(100).unwrap());
        assert_eq!(s.expand_audiences(100, 100, 0).unwrap(), 0, "done once");
        let to: Vec<String> = s
            .deliveries(q.id, None, 0)
            .unwrap()
            .into_iter()
            .map(|d| d.recipient)
            .collect();
        assert_eq!(
            to,
            ["m0", "m1", "m2", "m3", "m4", "m7", "m8", "m9"].map(|m| format!("{m}@example.org")),
            "each once, in member order; m5, m6 and the late joiner not at all"
        );
        let sum = s.outbox_summary(q.id).unwrap();
        assert_eq!((sum.sent, sum.pending, sum.failed), (4, 4, 0));
        assert_eq!(s.audience_size(q.id).unwrap(), 8);
    }

    #[test]
    fn a_scheduled_audience_waits_for_its_time() {
        let (mut s, c) = store();
        member(
            &mut s,
            c,
            "a@example.org",
            fields(Delivery::Each, Role::Member, MemberStatus::Active),
        );
        let mut msg = NewOutbox::new(Some(c), OutboxKind::ConsolidatedReply, "r", b"m");
        msg.not_before = Some(500);
        let q = s
            .queue_to_members(&msg, &each_post_members(c), 100)
            .unwrap();
        assert_eq!(s.expand_audiences(100, 10, 0).unwrap(), 0);
        assert!(!s.audiences_open(100).unwrap());
        assert_eq!(s.outbox_summary(q.id).unwrap().pending, 1);
        assert_eq!(s.expand_audiences(500, 10, 0).unwrap(), 1);
    }

    #[test]
    fn due_deliveries_skip_the_ones_in_hand_and_the_future() {
        let (mut s, c) = store();
        let to = ["a@x.org", "b@x.org", "c@x.org"].map(|a| NewRecipient {
            member: None,
            address: a.into(),
        });
        let q = s
            .queue_to(
                &NewOutbox::new(Some(c), OutboxKind::Notice, "n", b"m"),
                to,
                100,
            )
            .unwrap();
        assert_eq!(q.recipients, Some(3));
        let mut later = NewOutbox::new(Some(c), OutboxKind::Notice, "later", b"m");
        later.not_before = Some(500);
        s.queue_to(
            &later,
            [NewRecipient {
                member: None,
                address: "d@x.org".into(),
            }],
            100,
        )
        .unwrap();
        assert!(s.due_deliveries(99, 10, &[], &[]).unwrap().is_empty());
        let due = s.due_deliveries(100, 10, &[], &[]).unwrap();
        assert_eq!(due.len(), 3, "the scheduled one waits for not_before");
        assert!(due.iter().all(|d| d.community == Some(c)));
        let rest = s.due_deliveries(100, 10, &[due[0].id], &[]).unwrap();
        assert_eq!(rest.len(), 2);
        assert!(rest.iter().all(|d| d.id != due[0].id));
        assert!(
            s.due_deliveries(100, 10, &[], &[c]).unwrap().is_empty(),
            "held back"
        );
        assert_eq!(s.due_deliveries(100, 2, &[], &[]).unwrap().len(), 2);
        let due_later = s.due_deliveries(600, 10, &[], &[]).unwrap();
        assert_eq!(due_later.len(), 4);
        // Retry one later: it is the next due.
        s.apply_outcomes(
            &[(
                due[0].id,
                Outcome::Retry {
                    at: 100,
                    next_attempt_at: 160,
                    error: "451".into(),
                },
            )],
            &BounceRule {
                weight: 1.0,
                threshold: 5.0,
                interval: 0,
                stale_after: 1,
            },
            &|_, _, _| None,
        )
        .unwrap();
        assert_eq!(s.next_due_at(100).unwrap(), Some(160));
        assert_eq!(s.next_due_at(200).unwrap(), None);
    }

    #[test]
    fn outcomes_move_only_unsettled_rows() {
        let (mut s, c) = store();
        let bob = member(
            &mut s,
            c,
            "bob@example.org",
            fields(Delivery::Each, Role::Member, MemberStatus::Active),
        );
        let to = [
            NewRecipient {
                member: None,
                address: "a@x.org".into(),
            },
            NewRecipient {
                member: Some(bob),
                address: "bob@example.org".into(),
            },
        ];
        let q = s
            .queue_to(
                &NewOutbox::new(Some(c), OutboxKind::Notice, "n", b"m"),
                to,
                100,
            )
            .unwrap();
        let d = s.deliveries(q.id, None, 0).unwrap();
        let (a, b) = (d[0].id, d[1].id);
        let changed = s
            .apply_outcomes(
                &[
                    (
                        a,
                        Outcome::Retry {
                            at: 101,
                            next_attempt_at: 400,
                            error: "451 later".into(),
                        },
                    ),
                    (
                        b,
                        Outcome::Failed {
                            at: 101,
                            error: "550 5.1.1 no such user".into(),
                            bounce: true,
                        },
                    ),
                ],
                &RULE,
                &no_notice,
            )
            .unwrap();
        assert_eq!(changed, [true, true]);
        let bob_now = s.member(c, "bob@example.org").unwrap().unwrap();
        assert_eq!(bob_now.bounce_score, 1.0, "a 5xx raises the score");
        // A failed row is settled: a late "sent" does not revive it.
        let changed = s
            .apply_outcomes(&[(b, Outcome::Sent { at: 102 })], &RULE, &no_notice)
            .unwrap();
        assert_eq!(changed, [false]);
        s.apply_outcomes(&[(a, Outcome::Sent { at: 402 })], &RULE, &no_notice)
            .unwrap();
        let rows = s.deliveries(q.id, None, 0).unwrap();
        assert_eq!(rows[0].state, DeliveryState::Sent);
        assert_eq!(rows[0].attempts, 2);
        assert_eq!(rows[0].last_error, None);
        assert_eq!(rows[1].state, DeliveryState::Failed);
        assert_eq!(
            rows[1].last_error.as_deref(),
            Some("550 5.1.1 no such user")
        );
        let sum = s.outbox_summary(q.id).unwrap();
        assert_eq!((sum.sent, sum.pending, sum.failed), (1, 0, 1));
        assert_eq!(
            s.outbox_summaries(&OutboxFilter {
                failed_only: true,
                ..OutboxFilter::default()
            })
            .unwrap()
            .len(),
            1
        );
        assert_eq!(s.retry_outbox(q.id, 500).unwrap(), 1);
        let sum = s.outbox_summary(q.id).unwrap();
        assert_eq!((sum.sent, sum.pending, sum.failed), (1, 1, 0));
        assert!(s.retry_outbox(OutboxId(999), 500).is_err());
    }

    #[test]
    fn a_bounce_at_the_threshold_disables_and_tells_the_owners() {
        let (mut s, c) = store();
        member(
            &mut s,
            c,
            "owner@example.org",
            fields(Delivery::Each, Role::Owner, MemberStatus::Active),
        );
        member(
            &mut s,
            c,
            "bob@example.org",
            fields(Delivery::Each, Role::Member, MemberStatus::Active),
        );
        let rule = BounceRule {
            threshold: 2.0,
            interval: 86_400,
            ..RULE
        };
        let notice = |m: &crate::store::Member, score: f64, _: &str| {
            Some(crate::store::Notice {
                subject: format!("{} disabled at {score}", m.email),
                message: b"notice".to_vec(),
            })
        };
        let day = 86_400;
        let out = s
            .record_bounce(c, "bob@example.org", &rule, day, "550 gone", &notice)
            .unwrap();
        assert_eq!(
            out,
            BounceOutcome::Scored {
                email: "bob@example.org".into(),
                score: 1.0
            }
        );
        let out = s
            .record_bounce(c, "bob@example.org", &rule, day + 60, "550 gone", &notice)
            .unwrap();
        assert!(
            matches!(out, BounceOutcome::Repeated { score, .. } if score == 1.0),
            "{out:?}"
        );
        let out = s
            .record_bounce(c, "BOB@example.org", &rule, 2 * day, "550 gone", &notice)
            .unwrap();
        assert_eq!(
            out,
            BounceOutcome::Disabled {
                email: "bob@example.org".into(),
                score: 2.0,
                notified: 1
            }
        );
        let bob = s.member(c, "bob@example.org").unwrap().unwrap();
        assert_eq!(bob.status, MemberStatus::Disabled);
        let notices = s.outbox_summaries(&OutboxFilter::default()).unwrap();
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].subject, "bob@example.org disabled at 2");
        assert_eq!(
            s.deliveries(notices[0].id, None, 0).unwrap()[0].recipient,
            "owner@example.org"
        );
        let log = s.member_decisions(c, "bob@example.org", 5).unwrap();
        assert_eq!(log[0].0, "member-disable");
        assert!(
            log[0].1.as_deref().unwrap().contains("threshold 2.0"),
            "{log:?}"
        );
        assert_eq!(
            s.record_bounce(c, "stranger@x.org", &rule, 2 * day, "550", &notice)
                .unwrap(),
            BounceOutcome::NotAMember
        );
        // A stale score restarts from zero.
        member(
            &mut s,
            c,
            "carol@example.org",
            fields(Delivery::Each, Role::Member, MemberStatus::Active),
        );
        s.record_bounce(c, "carol@example.org", &rule, day, "x", &notice)
            .unwrap();
        let out = s
            .record_bounce(c, "carol@example.org", &rule, 30 * day, "x", &notice)
            .unwrap();
        assert!(
            matches!(out, BounceOutcome::Scored { score, .. } if score == 1.0),
            "{out:?}"
        );
        // `members set --status active` re-enables and clears the score.
        let f = MemberFields {
            status: Some(MemberStatus::Active),
            ..MemberFields::default()
        };
        let bob = s.set_member(c, "bob@example.org", &f, "owner").unwrap();
        assert_eq!((bob.status, bob.bounce_score), (MemberStatus::Active, 0.0));
    }

    #[test]
    fn a_probe_that_goes_through_re_enables_and_one_that_bounces_does_not() {
        let (mut s, c) = store();
        let disabled = fields(Delivery::Each, Role::Member, MemberStatus::Disabled);
        let bob = member(&mut s, c, "bob@example.org", disabled.clone());
        let carol = member(&mut s, c, "carol@example.org", disabled);
        let probe = crate::store::Notice {
            subject: "probe".into(),
            message: b"probe".to_vec(),
        };
        let due = s.probes_due(1000, 100, 10).unwrap();
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].community, c);
        let pb = s
            .queue_probe(c, bob, "bob@example.org", &probe, 1000)
            .unwrap();
        let pc = s
            .queue_probe(c, carol, "carol@example.org", &probe, 1000)
            .unwrap();
        assert!(
            s.probes_due(1000, 100, 10).unwrap().is_empty(),
            "one at a time"
        );
        s.apply_outcomes(
            &[
                (pb, Outcome::Sent { at: 1001 }),
                (pc, Outcome::Sent { at: 1001 }),
            ],
            &RULE,
            &no_notice,
        )
        .unwrap();
        // carol's probe bounces (a DSN arrives after it was accepted).
        s.record_bounce(c, "carol@example.org", &RULE, 1050, "550", &no_notice)
            .unwrap();
        assert!(s.settle_probes(1100, 200).unwrap().is_empty(), "too early");
        let back = s.settle_probes(1300, 200).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].email, "bob@example.org");
        let bob = s.member(c, "bob@example.org").unwrap().unwrap();
        assert_eq!(bob.status, MemberStatus::Active);
        let carol = s.member(c, "carol@example.org").unwrap().unwrap();
        assert_eq!(carol.status, MemberStatus::Disabled);
        // carol is probed again once her last bounce is old enough.
        assert!(s.probes_due(1100, 100, 10).unwrap().is_empty());
        assert_eq!(s.probes_due(1150, 100, 10).unwrap().len(), 1);
    }
}
