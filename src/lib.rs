//! praxis: a moderated mailing-list digest engine for communities of practice.
//!
//! One binary is both the daemon (`praxis serve`) and the moderators' command
//! line; state lives in one SQLite database. The design, glossary and
//! command-line contract are in DESIGN.md (shared with the project).
//!
//! # Module map
//!
//! | module | job | may do I/O |
//! |---|---|---|
//! | [`model`] | id newtypes and closed enums for every stored state | no |
//! | [`config`] | TOML config: defaults → file → `PRAXIS_*` env, one file per section, each with its own `validate`; time zones, weekdays, holidays and schedules typed at load | reads files |
//! | [`mail`] | parse raw bytes (mail-parser; HTML-only mail to text, member HTML sanitised or made text), classify (post, command, bounce, auto-reply, loop), extract attachments (SHA-256, listing lines and links), write Subject fields (plain ASCII as written, folded) | no |
//! | [`thread`] | JWZ / RFC 5256 threading decisions, base subjects, digest-reply quotes, splits a moderator made | no |
//! | [`moderation`] | posting policy (holds, administrivia, acknowledgements, which threads are queries), the email-command grammar, confirmation and moderation-reply tokens | no |
//! | [`markup`] | a Consolidated Reply's Markdown as text and sanitised HTML | no |
//! | [`shutdown`] | the shutdown every task shares, the signal that starts it, the listeners' accept loop (a leaf) | no |
//! | [`community`] | a community resolved once per process: row id, typed config, addresses, templates compiled on first use; found by slug, id or envelope recipient | via store |
//! | [`effects`] | what follows a commit or a decision: fan-out, acknowledgements and hold notices, rejections, bounce scores, email commands (every membership change confirmed), moderators' decisions by reply to a hold notice, one-click leaving, each month's health report to the owners, invitations to respond to a query (referrals), a query cross-posted to other communities | yes |
//! | [`search_query`] | the search grammar shared by `praxis search` and the web: words, "phrases", `prefix*`, `from:`, `subject:`, `kind:`, `after:`/`before:` parsed into a typed query whose words reach FTS5 only quoted | no |
//! | [`snippet`] | search snippets: a dozen words around a hit's first match, cut in Rust (FTS5 tokenized whole texts), as marked parts and the CLI's `[word]` string | no |
//! | [`chart`] | bar charts as SVG for the health page: grouped bars, a scale, a legend, a target line; labels escaped, no fonts, no script | no |
//! | [`experts`] | who knows what: members ranked by their responses in the threads most like a text (credited ones more, old ones less) and the interests they gave, each with why | no |
//! | [`stats`] | a community's health in figures: queries asked and answered, working days to the reply against the target, responses and responders per query, members joining, leaving and active, posts per week, bounces, invitations answered; per month and for the period | no |
//! | [`render`] | handlebars templates (notices, Consolidated Reply, the digests' texts), built in from `templates/`, replaceable per community | no |
//! | [`store`] | one SQL interface over SQLite and PostgreSQL (`store::engine`), pragmas, migrations in step for both engines, the nodes of an install and their leases (`store::nodes`), an install's SQLite database copied into PostgreSQL and verified (`store::copy`, `praxis db copy`), one file per table group (posts, threads and splits, Consolidated Replies, search, related threads for a post, members, attachments, the audit log, moderation tokens, outbox (audiences that leave out who has a message through another community), referrals, cross-posts, an import's batch indexed once at commit and its checkpoints on a thread of their own, …); the only SQL | yes |
//! | [`member_csv`] | member CSV files for `praxis members import` and the web's upload: the header checked, bad rows kept with the line they start on (blank lines counted) and why, the good rows added in one transaction | via store |
//! | [`ingest`] | sources (IMAP watcher, LMTP listener, archives) feeding one pipeline; an import parses on every core while one thread writes | yes |
//! | [`deliver`] | outbox sender: its own pipelining SMTP client, retries, list headers, VERP, DKIM, bounces; a text body encoded once per message and spliced with each footer | yes |
//! | [`consolidate`] | query lifecycle: working-day deadlines (pure), drafts, publishing | via store |
//! | [`digest`] | digest schedules, selection and rendering (RFC 1153, MIME digest, HTML) are pure; `issue` makes and claims an issue from the store | schedule, select, render: no |
//! | [`tls`] | whom the TLS clients (SMTP relay, IMAP) trust: system roots plus `ca_file`; why a certificate was refused | reads `ca_file` |
//! | [`web`] | the community's web home on axum (`[http]`, loopback behind an https front end): the archive (home, threads, a thread with its Consolidated Reply first, permalinks, raw, mbox, attachments), the reply library and Atom feeds, search, joining, members' own pages, sign-in, one-click unsubscribe, the health page, the moderators' workspace (`/mod/`: held posts, queries with invitations, cross-posting and drafts, members with a CSV upload, the outbox), `/healthz`; sessions, CSRF and who may read (`[community.web] archive`) in `web::access` | yes |
//! | [`daemon`] | `serve`: spawns the IMAP watchers, the LMTP listener, the sender, the web, the sweeps (fan-out, reminders, scheduled digests) and moderator summaries; owns shutdown | yes |
//! | [`cli`] | clap definitions, one file per command group (`audit` reads the audit log); `output` shows mail's control characters rather than let them drive the terminal | yes |
//!
//! Data flow: a source hands raw bytes to `ingest::pipeline::ingest` inside
//! a `store::Batch` (one transaction): parse → dedupe → classify → policy →
//! thread → store. The IMAP watcher commits its checkpoint in the same
//! transaction; the LMTP listener replies per recipient only after commit.
//! After the commit, `effects::after_ingest` fans out approved posts (through
//! the outbox as one message and its audience, expanded into delivery rows
//! by `deliver::Sender` as it sends), acknowledges and reports holds,
//! records bounces and answers email commands, reading the parse the
//! pipeline made. Moderators' decisions go through `store::Store::decide`
//! (once per post) and then `effects::after_decision`. Every process
//! resolves its communities once (`community::Communities::load`) and hands
//! `&Community` down: nothing below the entry points looks one up by slug.
//!
//! # Invariants
//!
//! - rusqlite and tokio-postgres are imported only in `store/`; SMTP clients only in `deliver/`
//!   (lettre is now only the tests' mail injector; the rule stays); the
//!   IMAP client only in `ingest/`; rustls only in those two and `tls`
//!   (the trust both share). The pure modules (`model`, `thread`,
//!   `moderation` rules, `digest` selection and schedules, `render`) import
//!   none of tokio, rusqlite or lettre. `tests/it/tidy.rs` enforces this.
//! - The command line and the daemon share nothing but the database.
//! - Nothing ingested is dropped: unparseable mail is stored raw and held;
//!   a duplicate (same Message-ID, or same bytes) is recorded once.
//! - No secret is stored in the database, printed, or logged.
//! - A commit is on disk before what it records is acknowledged (an LMTP
//!   250, a pipe's exit 0, an IMAP flag): SQLite synchronous=FULL everywhere
//!   but the sender's ledger. Transactions begin IMMEDIATE.
//! - Text from mail reaches a terminal only through `cli::output::safe`.
//! - No import goes up the layer table of ARCHITECTURE.md (pure → foundation
//!   → store → effects → entry points), and no import cycle runs through
//!   more than two files; `tests/it/tidy.rs` reads the table and enforces both.

pub mod chart;
pub mod cli;
pub mod community;
pub mod config;
pub mod consolidate;
pub mod daemon;
pub mod deliver;
pub mod digest;
pub mod effects;
pub mod experts;
pub mod ingest;
pub mod mail;
pub mod markup;
pub mod member_csv;
pub mod model;
pub mod moderation;
pub mod render;
pub mod search_query;
pub mod shutdown;
pub mod snippet;
pub mod stats;
pub mod store;
pub mod thread;
pub mod tls;
pub mod web;
