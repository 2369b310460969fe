//! What each fuzz target does with one input, and the invariants it checks.
//! Shared by the cargo-fuzz targets (fuzz/fuzz_targets/) and the normal test
//! suite, which replays every input kept in fuzz/regressions/.
//!
//! Invariants: nothing panics; every message is stored (or found to be a
//! duplicate) with its raw bytes intact, and unparseable mail is held; every
//! message praxis builds has exactly the header fields the same builder
//! writes for benign input, no bare CR or NUL in its header block, and every
//! HTML output is free of member-supplied markup.

use std::cell::RefCell;
use std::path::PathBuf;

use praxis::config::{Config, EMBEDDED_DEFAULT};
use praxis::ingest::pipeline::{self, Incoming};
use praxis::model::{PostClass, PostState, Source};
use praxis::store::{Store, Stored};

/// Inputs per in-memory database before a fresh one: bounds memory.
const INPUTS_PER_STORE: usize = 500;

struct State {
    store: Store,
    config: Config,
    used: usize,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// A config whose database (only used for the token key's place) lives in a
/// private temporary folder.
fn config() -> Config {
    let dir: PathBuf = std::env::temp_dir().join(format!("praxis-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let (config, problems) = Config::parse(EMBEDDED_DEFAULT, &dir.join("praxis.toml"), &|_| None);
    assert!(problems.is_empty(), "{problems:?}");
    config
}

fn fresh() -> State {
    let config = config();
    let mut store = Store::open_in_memory().expect("an in-memory database");
    store.sync_communities(&config).expect("communities");
    State {
        store,
        config,
        used: 0,
    }
}

/// One input through the pipeline as each source would deliver it: the MTA
/// pipe to the list, LMTP to the -request address (commands), and an
/// archive import; then the effects (acknowledgements, commands, bounces).
pub fn ingest(data: &[u8]) {
    STATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|s| s.used >= INPUTS_PER_STORE) {
            *slot = Some(fresh());
        }
        let state = slot.as_mut().expect("just set");
        state.used += 1;
        let all =
            praxis::community::Communities::load(&state.config, &state.store).expect("communities");
        let cfg = all.iter().next().expect("a community").clone();
        for (source, envelope) in [
            (Source::Pipe, None),
            (Source::Lmtp, Some("list-request@example.test")),
            (Source::Import, None),
        ] {
            let batch = state.store.batch().expect("a transaction");
            let outcome = pipeline::ingest(
                &batch,
                &cfg,
                Incoming {
                    raw: data,
                    source,
                    envelope_to: envelope,
                    received_at: 1_800_000_000,
                },
            )
            .expect("ingest stores every message");
            batch.commit().expect("commit");
            match outcome.stored {
                Stored::Duplicate(post) => {
                    assert!(
                        state.store.post(post).is_ok(),
                        "duplicate of a missing post"
                    );
                }
                Stored::New { post, .. } => {
                    let raw = state.store.raw(post).expect("raw");
                    assert_eq!(raw, data, "the raw message is kept verbatim");
                    if outcome.class == PostClass::Unparseable {
                        assert_eq!(outcome.state, PostState::Held, "unparseable is held");
                    }
                    let view = state.store.post(post).expect("the stored post reads back");
                    assert!(view.subject.len() <= 1000, "subject capped");
                }
            }
            // Effects may fail (a bad address): never panic.
            let _ = praxis::effects::after_ingest(
                &mut state.store,
                &state.config,
                &cfg,
                data,
                envelope,
                &outcome,
            );
        }
    });
}

/// The header field names of a message, lowercase, in order; and checks
/// the header block has no NUL, no bare CR and no line that is neither a
/// field nor a continuation.
pub fn header_names(raw: &[u8]) -> Vec<String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = &raw[..end];
    assert!(!head.contains(&0), "NUL in the header block");
    for (i, b) in head.iter().enumerate() {
        if *b == b'\r' {
            assert_eq!(head.get(i + 1), Some(&b'\n'), "bare CR in the header block");
        }
        if *b == b'\n' {
            assert!(i > 0 && head[i - 1] == b'\r', "bare LF in the header block");
        }
    }
    let text = String::from_utf8_lossy(head);
    let mut names = Vec::new();
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let (name, _) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("a header line without a colon: {line:?}"));
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()),
            "bad field name {name:?}"
        );
        names.push(name.to_ascii_lowercase());
    }
    // And mail-parser must read it back as a message. (A MIME digest
    // carries members' raw messages as parts; on a malformed one
    // mail-parser's own debug assertion fires, which praxis's parser turns
    // into "unparseable": that is mail-parser's, not the header block's.)
    let parsed =
        std::panic::catch_unwind(|| mail_parser::MessageParser::default().parse(raw).is_some());
    assert!(parsed.unwrap_or(true), "the built message does not parse");
    names
}

fn no_markup(what: &str, html: &str) {
    // Every tag in the output: none may run script, whatever the input.
    let lower = html.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(
            ![
                "script", "iframe", "object", "embed", "form", "base", "meta"
            ]
            .contains(&name.as_str())
                || (name == "meta" && !tag.contains("http-equiv")),
            "{what}: a <{name}> tag in the HTML: <{tag}>"
        );
        for attr in tag
            .split(|c: char| c.is_ascii_whitespace() || c == '/')
            .skip(1)
        {
            assert!(
                !(attr.starts_with("on") && attr.contains('=')),
                "{what}: an event handler in <{tag}>"
            );
        }
        assert!(
            !tag.contains("javascript:"),
            "{what}: a javascript: URL in <{tag}>"
        );
    }
}

/// Splits fuzz bytes into text fields at 0xFF (never part of UTF-8).
fn fields(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data
        .split(|b| *b == 0xFF)
        .take(n)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    out.resize(n, String::new());
    out
}

/// Arbitrary member content (subject, names, organisation, text, an
/// attachment name, an address) through every renderer praxis mails.
pub fn render(data: &[u8]) {
    use chrono::TimeZone;
    use praxis::consolidate::{draft, publish};
    use praxis::deliver::compose;
    use praxis::digest::render as digest;
    use praxis::digest::select::{PostItem, QueryItem, ReplyItem, Selection, ThreadSection};
    use praxis::model::{CommunityId, DigestFormat, PostId};
    use praxis::store::{Query, QueryPost};

    let f = fields(data, 7);
    let config = config();
    let cfg = &config.communities[0];
    let tz = cfg.timezone;
    let now = chrono::Utc
        .timestamp_opt(1_800_000_000, 0)
        .single()
        .expect("a time");
    let qp = |id: i64, name: &str, text: &str| QueryPost {
        id: PostId(id),
        message_id: format!("{id}@fuzz"),
        email: format!("m{id}@example.org"),
        name: name.to_string(),
        organisation: f[2].clone(),
        place: f[2].clone(),
        date: 1_800_000_000 + id,
        text: text.to_string(),
        attachments: vec![f[6].clone()],
        approved_at: 1_800_000_000 + id,
        late: false,
        offline: id == 3,
        community: (id == 2).then(|| f[2].clone()),
    };
    let query = Query {
        thread: praxis::model::ThreadId(1),
        community: CommunityId(1),
        slug: cfg.slug.clone(),
        subject: f[0].clone(),
        kind: praxis::model::ThreadKind::Query,
        state: praxis::model::QueryState::Open,
        root: qp(1, &f[1], &f[3]),
        responses: vec![qp(2, &f[4], &f[5]), qp(3, &f[1], &f[3])],
        shared_with: vec![f[6].clone()],
    };
    let moderators = vec![f[4].clone()];
    let templates = cfg.templates();
    let d = draft::data(
        &query,
        &draft::Setting {
            community: &cfg.name,
            address: &cfg.address,
            moderators: &moderators,
            related: &[],
            now,
            tz,
            addendum_since: None,
        },
    );
    let markdown = draft::render(&templates, &d).expect("the draft renders");
    let title = draft::title(&f[0], &cfg.slug);
    no_markup("published HTML", &praxis::markup::html(&markdown, &title));
    let _ = praxis::markup::text(&markdown);

    // Benign content gives the header set every hostile one must match.
    let reply = |title: &str, markdown: &str| {
        publish::message(
            cfg,
            &publish::ReplyMail {
                title,
                query_message_id: "q@fuzz",
                message_id: "r@fuzz",
                markdown,
                addendum: false,
            },
        )
        .expect("the reply builds")
        .message
    };
    assert_eq!(
        header_names(&reply(&title, &markdown)),
        header_names(&reply("benign", "benign")),
        "published reply"
    );
    let notice = |to: &str, subject: &str, text: &str| {
        compose::notice_message_reply_to(cfg, to, subject, text, Some("confirm@example.test"))
            .map(|b| b.message)
    };
    if let Ok(m) = notice("m@example.org", &f[0], &f[3]) {
        assert_eq!(
            header_names(&m),
            header_names(&notice("m@example.org", "benign", "benign").expect("benign notice")),
            "notice"
        );
    }
    // Templates fed member content (the acknowledgement) and put in a notice.
    let ack = templates
        .render(
            "acknowledge",
            &serde_json_value(&[
                ("name", &f[1]),
                ("subject", &f[0]),
                ("community", &cfg.name),
                ("reason", &f[4]),
            ]),
        )
        .expect("the acknowledgement renders");
    let _ = notice(&f[6], &f[0], &ack);

    let post = |id: i64, name: &str, subject: &str, text: &str| PostItem {
        id,
        thread_id: praxis::model::ThreadId(1),
        thread_subject: f[0].clone(),
        thread_first_at: 1_800_000_000,
        from_name: name.to_string(),
        from_addr: format!("m{id}@example.org"),
        subject: subject.to_string(),
        date: 1_800_000_000 + id,
        message_id: format!("{id}@fuzz"),
        in_reply_to: (id > 1).then(|| format!("{}@fuzz", id - 1)),
        references: (1..id).map(|i| format!("{i}@fuzz")).collect(),
        text: text.to_string(),
        size: text.len() as i64,
        accrued_at: 1_800_000_000 + id,
    };
    let selection = Selection {
        full: false,
        volume: 1,
        number: 1,
        replies: vec![ReplyItem {
            id: 1,
            subject: f[0].clone(),
            query_subject: f[4].clone(),
            published_at: 1_800_000_000,
            message_id: "<r1@fuzz>".into(),
            query_message_id: "q1@fuzz".into(),
            // The published draft quotes members: hostile text reaches it.
            markdown: f[3].clone(),
        }],
        queries: vec![QueryItem {
            thread: praxis::model::ThreadId(2),
            subject: f[5].clone(),
            asked_at: 1_800_000_000,
            days_left: 3,
        }],
        threads: vec![ThreadSection {
            thread_id: praxis::model::ThreadId(1),
            subject: f[0].clone(),
            posts: vec![post(1, &f[1], &f[0], &f[3]), post(2, &f[4], &f[5], &f[3])],
            participants: vec![f[1].clone(), f[4].clone()],
        }],
    };
    let templates = cfg.templates();
    let masthead = digest::Masthead {
        templates: &templates,
        name: &cfg.name,
        address: &cfg.address,
        request: "list-request@example.test",
        at: now,
        tz,
        slug: &cfg.slug,
        id_domain: "example.test",
        boundary: "praxis-fuzz-boundary",
        html_template: None,
    };
    digest::plain(&masthead, &selection).expect("the plain digest renders");
    let html = digest::html(&masthead, &selection).expect("the HTML digest renders");
    no_markup("digest HTML", &html);
    let headers = compose::list_headers(cfg);
    for format in [DigestFormat::Plain, DigestFormat::Html, DigestFormat::Mime] {
        let raw = |id: i64| {
            Some(
                format!(
                    "From: m{id}@example.org\r\nSubject: {}\r\n\r\n{}\r\n",
                    f[0], f[3]
                )
                .into_bytes(),
            )
        };
        let m = digest::message(format, &masthead, &selection, &raw, &headers)
            .expect("the digest builds");
        header_names(&m);
    }
}

fn serde_json_value(pairs: &[(&str, &String)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
