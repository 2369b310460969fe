//! The one ingest pipeline every source feeds: parse → dedupe → classify →
//! policy → thread → store, inside the caller's transaction ([`Batch`]), so a
//! source's checkpoint commits with the posts it covers.
//!
//! Invariant: nothing is dropped. A message that cannot be parsed is stored
//! raw with class `unparseable` and held; a duplicate is reported, not stored
//! twice.

use crate::community::Community;
use crate::mail::classify::classify;
use crate::mail::parse::{self, Parsed};
use crate::model::{PostClass, PostState, Source, ThreadKind};
use crate::moderation::commands;
use crate::moderation::policy::{self, Administrivia, Decision, PostFacts};
use crate::store::{Batch, NewPost, Result, Stored};
use crate::thread::DEFAULT_SUBJECT_WINDOW_DAYS;

/// One message arriving from a source.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The bytes as received.
    pub raw: &'a [u8],
    /// Where it came from.
    pub source: Source,
    /// The envelope recipient (LMTP RCPT TO, the pipe's recipient), when known.
    pub envelope_to: Option<&'a str>,
    /// When it was received, Unix seconds.
    pub received_at: i64,
}

/// What ingesting one message did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// New post or duplicate.
    pub stored: Stored,
    /// The classifier's verdict (for duplicates: not computed, `Post`).
    pub class: PostClass,
    /// The policy's verdict.
    pub state: PostState,
    /// Why it was held.
    pub hold_reason: Option<String>,
    /// The parse the pipeline made (None for a duplicate or unparseable
    /// mail), so what follows the commit reads commands and bounces from it
    /// instead of parsing the message again.
    pub parsed: Option<Parsed>,
}

impl Outcome {
    /// Whether the message was kept raw because it could not be parsed.
    pub fn unparseable(&self) -> bool {
        self.class == PostClass::Unparseable
    }

    /// Whether it was seen before.
    pub fn duplicate(&self) -> bool {
        matches!(self.stored, Stored::Duplicate(_))
    }
}

/// What the bytes alone say about a message: worked out before the
/// transaction, on any thread (`praxis import` parses on every core while
/// one thread writes).
#[derive(Debug, Clone)]
pub struct Prepared {
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
    /// The parse; `None` when the message cannot be parsed.
    pub parsed: Option<Parsed>,
    /// The Message-ID, synthetic (from the SHA-256) when it has none.
    pub message_id: String,
}

/// Hashes and parses one message (no I/O).
pub fn prepare(raw: &[u8]) -> Prepared {
    let sha256 = parse::sha256(raw);
    let parsed: Option<Parsed> = parse::parse(raw).ok();
    let message_id = match &parsed {
        Some(p) => p.message_id.clone(),
        None => parse::synthetic_message_id_of(&sha256),
    };
    Prepared {
        sha256,
        parsed,
        message_id,
    }
}

/// Ingests one message in `batch`. The caller commits.
pub fn ingest(batch: &Batch<'_>, target: &Community, msg: Incoming<'_>) -> Result<Outcome> {
    ingest_prepared(batch, target, msg, prepare(msg.raw))
}

/// Ingests one message already [`prepare`]d from `msg.raw`, in `batch`.
/// The caller commits.
pub fn ingest_prepared(
    batch: &Batch<'_>,
    target: &Community,
    msg: Incoming<'_>,
    prepared: Prepared,
) -> Result<Outcome> {
    let Prepared {
        sha256: sha,
        parsed,
        message_id,
    } = prepared;
    if let Some(existing) = batch.find_duplicate(target.id, &message_id, &sha)? {
        return Ok(Outcome {
            stored: Stored::Duplicate(existing),
            class: PostClass::Post,
            state: PostState::Approved,
            hold_reason: None,
            parsed: None,
        });
    }

    let class = match &parsed {
        None => PostClass::Unparseable,
        // An archive holds the list's posts, carrying the old list's
        // Precedence and List-Id: history is not classified again.
        Some(_) if msg.source == Source::Import => PostClass::Post,
        // A command sent to the posting address runs as if sent to the
        // -request address when `policy.administrivia = "request"`.
        Some(p) => match classify(p, msg.envelope_to, &target.config.address) {
            PostClass::Post
                if target.config.policy.administrivia == Administrivia::Request
                    && commands::is_administrivia(&p.subject, &p.text) =>
            {
                PostClass::Command
            }
            class => class,
        },
    };
    let sender = match &parsed {
        Some(p) => batch.sender(target.id, &p.from_addr)?,
        None => None,
    };
    let (state, reason) = match class {
        PostClass::Unparseable => (PostState::Held, Some("unparseable".to_string())),
        PostClass::Post if msg.source == Source::Import => (PostState::Approved, None),
        PostClass::Post => {
            let p = parsed.as_ref().expect("posts are parsed");
            let facts = PostFacts {
                sender: sender.map(|(_, f)| f),
                size: msg.raw.len() as u64,
                has_attachments: !p.attachments.is_empty(),
                recent_from_sender: batch.recent_from(
                    target.id,
                    &p.from_addr,
                    msg.received_at - policy::RATE_WINDOW_SECS,
                )?,
                dmarc_fail: target
                    .config
                    .policy
                    .dmarc_authserv_id
                    .as_deref()
                    .is_some_and(|id| parse::dmarc_failed(&p.auth_results, id)),
                administrivia: commands::is_administrivia(&p.subject, &p.text),
            };
            match policy::decide(&target.config.policy, &facts) {
                Decision::Accept => (PostState::Approved, None),
                Decision::Hold(r) => (PostState::Held, Some(r)),
                Decision::Reject(r) => (PostState::Rejected, Some(r)),
                Decision::Discard(r) => (PostState::Discarded, Some(r)),
            }
        }
        _ => (PostState::Handled, None),
    };

    let stored = batch.store_post(&NewPost {
        community: target.id,
        raw: msg.raw,
        sha256: sha,
        source: msg.source,
        envelope_to: msg.envelope_to,
        received_at: msg.received_at,
        class,
        state,
        hold_reason: reason.as_deref(),
        parsed: parsed.as_ref(),
        message_id: &message_id,
        member_id: sender.map(|(id, _)| id),
        new_thread_kind: match &parsed {
            Some(p) if msg.source != Source::Import => {
                policy::new_thread_kind(target.config.policy.queries, &p.subject, &p.text)
            }
            _ => ThreadKind::Discussion,
        },
        subject_window_secs: DEFAULT_SUBJECT_WINDOW_DAYS * 86_400,
    })?;
    // Attached files are kept in the same transaction as the post.
    if let (Stored::New { post, .. }, Some(p)) = (&stored, &parsed)
        && class == PostClass::Post
        && !p.attachments.is_empty()
    {
        batch.keep_attachments(
            *post,
            &p.attachments,
            target.config.policy.keep_attachments_kb,
        )?;
    }
    Ok(Outcome {
        stored,
        class,
        state,
        hold_reason: reason,
        parsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::store::Store;

    fn run(store: &mut Store, config: &Config, raw: &[u8], source: Source) -> Outcome {
        let all = crate::community::Communities::load(config, store).unwrap();
        let c = all.iter().next().unwrap();
        let b = store.batch().unwrap();
        let o = ingest(
            &b,
            c,
            Incoming {
                raw,
                source,
                envelope_to: None,
                received_at: 1_800_000_000,
            },
        )
        .unwrap();
        b.commit().unwrap();
        o
    }

    #[test]
    fn nothing_is_lost_and_nothing_doubles() {
        let (mut store, config) = Store::open_example();
        let q = b"From: Alice <alice@example.org>\nTo: list@example.test\nSubject: Mobile clinics\nMessage-ID: <q@x>\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n\nHas anyone run mobile clinics in flood areas?\n";
        let o = run(&mut store, &config, q, Source::Pipe);
        assert_eq!(o.class, PostClass::Post);
        assert_eq!(o.state, PostState::Held);
        assert_eq!(o.hold_reason.as_deref(), Some("nonmember"));
        let again = run(&mut store, &config, q, Source::Pipe);
        assert!(again.duplicate());

        let junk = b"\x00\x01garbage with no headers";
        let o = run(&mut store, &config, junk, Source::Pipe);
        assert!(o.unparseable());
        assert_eq!(o.state, PostState::Held);
        assert!(
            run(&mut store, &config, junk, Source::Pipe).duplicate(),
            "same bytes, same synthetic id"
        );

        // Imported history is approved; a reply joins its query's thread.
        let r = b"From: Bob <bob@example.org>\nSubject: Re: Mobile clinics\nMessage-ID: <r@x>\nIn-Reply-To: <q@x>\nReferences: <q@x>\n\nWe used boats.\n";
        let o = run(&mut store, &config, r, Source::Import);
        assert_eq!(o.state, PostState::Approved);
        let Stored::New {
            post,
            thread,
            new_thread,
        } = o.stored
        else {
            panic!()
        };
        assert!(!new_thread);
        let q_view = store.post(crate::model::PostId(1)).unwrap();
        assert_eq!(thread, q_view.thread_id);
        assert_eq!(store.post(post).unwrap().parent_id, Some(q_view.id));
    }

    #[test]
    fn replies_before_their_root_and_to_a_missing_parent_meet() {
        let (mut store, config) = Store::open_example();
        let b1 =
            b"From: b@x.org\nSubject: Re: Q\nMessage-ID: <b1@x>\nReferences: <missing@x>\n\nb1\n";
        let b2 =
            b"From: c@x.org\nSubject: Re: Q\nMessage-ID: <b2@x>\nReferences: <missing@x>\n\nb2\n";
        let child =
            b"From: d@x.org\nSubject: Re: Other\nMessage-ID: <c@x>\nReferences: <root@x>\n\nc\n";
        let root = b"From: e@x.org\nSubject: Other\nMessage-ID: <root@x>\n\nroot\n";
        let late_reply =
            b"From: f@x.org\nSubject: Re: Other\nMessage-ID: <l@x>\nIn-Reply-To: <late@x>\n\nl\n";
        let late = b"From: g@x.org\nSubject: Re: Other\nMessage-ID: <late@x>\nIn-Reply-To: <root@x>\n\nlate\n";
        for raw in [&b1[..], b2, child, root, late_reply, late] {
            run(&mut store, &config, raw, Source::Import);
        }
        let c = store.community("health").unwrap().id;
        assert_eq!(store.thread_count(c).unwrap(), 2);
        let root_view = store.post(crate::model::PostId(4)).unwrap();
        let child_view = store.post(crate::model::PostId(3)).unwrap();
        assert_eq!(child_view.thread_id, root_view.thread_id);
        assert_eq!(
            child_view.parent_id,
            Some(root_view.id),
            "the early child gets its parent"
        );
        // By In-Reply-To alone, too.
        let late_view = store.post(crate::model::PostId(6)).unwrap();
        assert_eq!(late_view.parent_id, Some(root_view.id));
        assert_eq!(
            store.post(crate::model::PostId(5)).unwrap().parent_id,
            Some(late_view.id),
            "the reply that came before the post it answers gets it as its parent"
        );
    }

    #[test]
    fn subject_joins_only_recent_replies() {
        let (mut store, config) = Store::open_example();
        let q = b"From: a@x.org\nSubject: Water pumps\nMessage-ID: <w@x>\nDate: Mon, 2 Nov 2026 10:00:00 +0000\n\nq\n";
        let near = b"From: b@x.org\nSubject: RE: [health] Water pumps\nMessage-ID: <n@x>\nDate: Mon, 9 Nov 2026 10:00:00 +0000\n\nn\n";
        let same_words = b"From: c@x.org\nSubject: Water pumps\nMessage-ID: <s@x>\nDate: Tue, 10 Nov 2026 10:00:00 +0000\n\ns\n";
        let far = b"From: d@x.org\nSubject: Re: Water pumps\nMessage-ID: <f@x>\nDate: Mon, 1 Mar 2027 10:00:00 +0000\n\nf\n";
        for raw in [&q[..], near, same_words, far] {
            run(&mut store, &config, raw, Source::Import);
        }
        let t = |n| store.post(crate::model::PostId(n)).unwrap().thread_id;
        assert_eq!(t(1), t(2), "a recent Re: joins by subject");
        assert_ne!(t(1), t(3), "the same words without Re: start a new thread");
        assert_ne!(t(1), t(4), "never across the window");
    }

    #[test]
    fn digest_replies_follow_their_quoted_text_or_are_flagged() {
        let (mut store, config) = Store::open_example();
        let q = b"From: a@x.org\nSubject: Mobile clinics\nMessage-ID: <dq@x>\n\nWe ran mobile clinics on boats in Bihar during the 2019 floods.\n";
        let other = b"From: b@x.org\nSubject: School meals\nMessage-ID: <dm@x>\n\nMidday meals raised attendance in Odisha schools.\n";
        let reply = b"From: c@x.org\nSubject: Re: Health Digest, Vol 1, Issue 4\nMessage-ID: <dr@x>\n\nSo did we.\n> We ran mobile clinics on boats in Bihar during the 2019 floods.\n";
        let lost = b"From: d@x.org\nSubject: Re: Health Digest, Vol 1, Issue 4\nMessage-ID: <dl@x>\n\nThanks!\n";
        for raw in [&q[..], other, reply, lost] {
            run(&mut store, &config, raw, Source::Import);
        }
        let view = |n| store.post(crate::model::PostId(n)).unwrap();
        assert_eq!(
            view(3).thread_id,
            view(1).thread_id,
            "joined by quoted text, not subject"
        );
        assert_eq!(view(3).flag, None);
        assert_ne!(view(4).thread_id, view(1).thread_id);
        assert_eq!(
            view(4).flag.as_deref(),
            Some("digest reply: the thread it answers could not be found")
        );
    }

    #[test]
    fn replies_naming_a_digest_follow_the_digest_rule() {
        let (mut store, config) = Store::open_example();
        let q = b"From: a@x.org\nSubject: Mobile clinics\nMessage-ID: <dq@x>\n\nWe ran mobile clinics on boats in Bihar during the 2019 floods.\n";
        let other = b"From: b@x.org\nSubject: School meals\nMessage-ID: <dm@x>\n\nMidday meals raised attendance in Odisha schools.\n";
        for raw in [&q[..], other] {
            run(&mut store, &config, raw, Source::Import);
        }
        let c = store.community("health").unwrap().id;
        let digest = b"From: Health Digest <list@example.test>\nSubject: Health Digest, Vol 1, Issue 4\nMessage-ID: <digest.health.1.4.mime@example.test>\n\ncontents\n";
        let msg = crate::store::NewOutbox::new(
            Some(c),
            crate::model::OutboxKind::Digest,
            "Health Digest, Vol 1, Issue 4",
            digest,
        );
        store
            .create_digest(
                &crate::store::NewDigest {
                    community: c,
                    volume: 1,
                    number: 4,
                    due_at: None,
                    posts: &[1, 2],
                    messages: &[(crate::model::DigestFormat::Mime, msg)],
                },
                1_800_000_000,
            )
            .unwrap();
        let to_digest = "In-Reply-To: <digest.health.1.4.mime@example.test>\nReferences: <digest.health.1.4.mime@example.test>\n";
        let quoted = format!(
            "From: c@x.org\nSubject: Re: Health Digest, Vol 1, Issue 4\nMessage-ID: <r1@x>\n{to_digest}\nSo did we.\n> We ran mobile clinics on boats in Bihar during the 2019 floods.\n"
        );
        let by_subject = format!(
            "From: d@x.org\nSubject: Re: School meals\nMessage-ID: <r2@x>\n{to_digest}\nEggs too.\n"
        );
        let lost = format!(
            "From: e@x.org\nSubject: Re: Health Digest, Vol 1, Issue 4\nMessage-ID: <r3@x>\n{to_digest}\nThanks!\n"
        );
        let lost2 = format!(
            "From: f@x.org\nSubject: Re: Health Digest, Vol 1, Issue 4\nMessage-ID: <r4@x>\n{to_digest}\nMe too!\n"
        );
        for raw in [&quoted, &by_subject, &lost, &lost2] {
            run(&mut store, &config, raw.as_bytes(), Source::Import);
        }
        let view = |n| store.post(crate::model::PostId(n)).unwrap();
        assert_eq!(view(3).thread_id, view(1).thread_id, "by the quoted text");
        assert_eq!(view(3).flag, None);
        assert_eq!(
            view(4).thread_id,
            view(2).thread_id,
            "by subject within the issue"
        );
        assert_eq!(view(4).flag, None);
        assert_eq!(
            view(5).flag.as_deref(),
            Some(crate::store::DIGEST_REPLY_UNPLACED)
        );
        assert!(![view(1).thread_id, view(2).thread_id].contains(&view(5).thread_id));
        assert_ne!(
            view(6).thread_id,
            view(5).thread_id,
            "the digest's id is no thread key: replies to one issue do not meet"
        );
        assert!(view(6).flag.is_some());
    }

    #[test]
    fn a_forged_member_from_failing_dmarc_is_held() {
        let (mut store, mut config) = Store::open_example();
        config.communities[0].policy.dmarc_authserv_id = Some("mx.example.test".into());
        let c = store.community("health").unwrap().id;
        store
            .add_members(
                c,
                &[crate::store::NewMember {
                    email: "alice@example.org".into(),
                    fields: crate::store::MemberFields {
                        moderation: Some(crate::model::Moderation::Accept),
                        ..Default::default()
                    },
                }],
                "test",
            )
            .unwrap();
        let forged = b"Authentication-Results: mx.example.test; dmarc=fail header.from=example.org\nFrom: Alice <alice@example.org>\nSubject: urgent\nMessage-ID: <f@x>\n\nsend money\n";
        let o = run(&mut store, &config, forged, Source::Pipe);
        assert_eq!(o.state, PostState::Held);
        assert_eq!(o.hold_reason.as_deref(), Some("dmarc fail"));
        let genuine = b"Authentication-Results: mx.example.test; dkim=pass; dmarc=pass header.from=example.org\nFrom: Alice <alice@example.org>\nSubject: hello\nMessage-ID: <g@x>\n\nhi\n";
        assert_eq!(
            run(&mut store, &config, genuine, Source::Pipe).state,
            PostState::Approved
        );
    }
}
