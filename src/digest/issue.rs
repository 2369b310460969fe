//! Making an issue from the database: selection, one rendering per format in
//! use, and the single transaction that records and queues it. Shared by
//! `praxis digest` and the scheduler in `praxis serve`.

use chrono::{DateTime, Utc};

use super::render::{self, Masthead};
use super::select::{self, Selection};
use crate::community::Community;
use crate::deliver::compose::list_headers;
use crate::deliver::verp::request_address;
use crate::model::{DigestFormat, OutboxKind};
use crate::store::{DigestCreated, NewDigest, NewOutbox, Store};

/// Why an issue could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The database.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Rendering.
    #[error(transparent)]
    Render(#[from] render::DigestRenderError),
}

/// The next issue of a community as it stands at `now`, or None when there
/// is nothing new.
pub fn next(
    store: &Store,
    c: &Community,
    now: DateTime<Utc>,
    new_volume: bool,
) -> Result<Option<Selection>, IssueError> {
    let (cfg, community) = (&c.config, c.id);
    let cal = &c.calendar;
    let days_left = |deadline: i64| {
        DateTime::from_timestamp(deadline, 0).map_or(0, |d| cal.working_days_left(d, now))
    };
    // At most one issue's worth is read (max_posts, and the post that
    // passes it): a long backlog goes out as several issues, never whole.
    let max = cfg.digest.max_posts.max(1);
    let mut candidates = store.digest_candidates(community, &days_left, max + 1)?;
    let full = select::bound(&mut candidates.posts, max, cfg.digest.max_kb);
    // Each post's attachments, listed with their links under its text.
    for p in &mut candidates.posts {
        let files = store.post_attachments(crate::model::PostId(p.id))?;
        p.text = crate::mail::attachments::with_listing(
            &p.text,
            &files,
            cfg.delivery.base_url.as_deref(),
            &cfg.slug,
            cfg.policy.keep_attachments_kb,
        );
    }
    Ok(
        select::select(candidates, now, cfg.timezone, new_volume).map(|mut s| {
            s.full = full;
            s
        }),
    )
}

/// The issue rendered in each of `formats`, as stored in the outbox; the
/// community's templates are read and compiled once for all of them.
pub fn render(
    store: &Store,
    c: &Community,
    s: &Selection,
    formats: &[DigestFormat],
    now: DateTime<Utc>,
) -> Result<Vec<(DigestFormat, Vec<u8>)>, IssueError> {
    let cfg = &c.config;
    let address = cfg.address.to_ascii_lowercase();
    let request = request_address(&address);
    let domain = cfg.address_parts().map_or("localhost", |(_, d)| d);
    let html_template = cfg.template_override("digest/html");
    let m = Masthead {
        html_template: html_template.as_deref(),
        templates: c.templates(),
        name: &cfg.name,
        address: &address,
        request: &request,
        at: now,
        tz: cfg.timezone,
        slug: &cfg.slug,
        id_domain: domain,
        boundary: &format!("praxis-digest-{}-{}-{}", cfg.slug, s.volume, s.number),
    };
    // As members' each-post copies are cleaned, so are the posts a MIME
    // digest carries whole.
    let raw = |id: i64| {
        store
            .raw(crate::model::PostId(id))
            .ok()
            .map(|r| crate::deliver::compose::digest_entity(&r, cfg))
    };
    let headers = list_headers(cfg);
    formats
        .iter()
        .map(|f| Ok((*f, render::message(*f, &m, s, &raw, &headers)?)))
        .collect()
}

/// What `send` did.
#[derive(Debug)]
pub enum Sent {
    /// Nothing new since the last issue: nothing sent.
    NothingNew,
    /// This moment (or this volume and number) was already sent.
    AlreadySent,
    /// Issue created and queued.
    Queued {
        /// The issue.
        selection: Selection,
        /// digests.id
        id: i64,
        /// Deliveries queued, across formats.
        recipients: u64,
        /// The formats rendered.
        formats: Vec<DigestFormat>,
    },
}

/// Makes the next issue and queues it to every digest member in their
/// format, exactly once for `due_at` (None: an unscheduled `--now` issue).
pub fn send(
    store: &mut Store,
    c: &Community,
    now: DateTime<Utc>,
    due_at: Option<i64>,
    new_volume: bool,
) -> Result<Sent, IssueError> {
    let (cfg, community) = (&c.config, c.id);
    if let Some(due) = due_at
        && store.digest_due_claimed(community, due)?
    {
        return Ok(Sent::AlreadySent);
    }
    let Some(selection) = next(store, c, now, new_volume)? else {
        return Ok(Sent::NothingNew);
    };
    let formats = store.digest_formats(community)?;
    let subject = format!(
        "{} Digest, Vol {}, Issue {}",
        cfg.name, selection.volume, selection.number
    );
    let rendered = render(store, c, &selection, &formats, now)?;
    let messages: Vec<(DigestFormat, NewOutbox<'_>)> = rendered
        .iter()
        .map(|(f, bytes)| {
            (
                *f,
                NewOutbox::new(Some(community), OutboxKind::Digest, &subject, bytes),
            )
        })
        .collect();
    let posts: Vec<i64> = selection.posts().map(|p| p.id).collect();
    let created = store.create_digest(
        &NewDigest {
            community,
            volume: selection.volume,
            number: selection.number,
            due_at,
            posts: &posts,
            messages: &messages,
        },
        now.timestamp(),
    )?;
    Ok(match created {
        DigestCreated::AlreadySent => Sent::AlreadySent,
        DigestCreated::Created { id, recipients } => Sent::Queued {
            selection,
            id,
            recipients,
            formats,
        },
    })
}

/// The scheduled moment an issue is due for at `now`: the latest schedule
/// time after the last issue (looking back at most a year) that has passed.
/// None when none has passed since the last issue.
pub fn due_moment(
    c: &Community,
    last_issue_at: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<i64>, IssueError> {
    let schedule = &c.config.digest.schedule;
    let year_ago = now.timestamp() - 366 * 86_400;
    let anchor = last_issue_at.map_or(year_ago, |l| l.max(year_ago));
    let mut at = DateTime::from_timestamp(anchor, 0).unwrap_or(now);
    let mut due = None;
    while let Some(next) = schedule.next_after(at, c.config.timezone) {
        if next > now {
            break;
        }
        due = Some(next.timestamp());
        at = next;
    }
    Ok(due)
}

/// The scheduler's step for one community at `now`: when a schedule moment
/// has passed since the last issue and something had accrued by it, send the
/// issue claimed for that moment (once, even across restarts; the issue's
/// creation time also moves the next moment on); otherwise,
/// when the accrued posts pass `max_posts` or `max_kb`, send early.
pub fn sweep(
    store: &mut Store,
    c: &Community,
    now: DateTime<Utc>,
) -> Result<Option<Sent>, IssueError> {
    let community = c.id;
    let last = store.last_digest_at(community)?;
    let due = due_moment(c, last, now)?;
    let Some(next) = next(store, c, now, false)? else {
        return Ok(None);
    };
    if let Some(d) = due
        && !store.digest_due_claimed(community, d)?
    {
        let accrued = next.posts().any(|p| p.accrued_at <= d)
            || next.replies.iter().any(|r| r.published_at <= d);
        if accrued {
            return Ok(Some(send(store, c, now, Some(d), false)?));
        }
    }
    if next.full {
        return Ok(Some(send(store, c, now, None, false)?));
    }
    Ok(None)
}
