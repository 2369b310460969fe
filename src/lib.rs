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
//! | [`config`] | TOML config: defaults → file → `PRAXIS_*` env; `check` | reads files |
//! | [`store`] | SQLite: pragmas, migrations, one file per table group; the only SQL | yes |
//! | [`ingest`] | mail sources (IMAP now; LMTP, pipe, import to come) | yes |
//! | [`deliver`] | outbox sender: SMTP, retries, list headers, VERP, DKIM, bounces | yes |
//! | [`digest`] | digest schedules (pure); selection and rendering to come | no |
//! | [`daemon`] | `serve`: spawns tasks, owns shutdown | yes |
//! | [`cli`] | clap definitions, one file per command group | yes |
//!
//! # Invariants
//!
//! - rusqlite is imported only in `store/`; lettre only in `deliver/`; the
//!   IMAP client only in `ingest/`. The pure modules (`model`, `thread`,
//!   `moderation` rules, `digest` selection and schedules, `render`) import
//!   none of tokio, rusqlite or lettre. `tests/it/tidy.rs` enforces this.
//! - The command line and the daemon share nothing but the database.
//! - No secret is stored in the database, printed, or logged.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod deliver;
pub mod digest;
pub mod ingest;
pub mod model;
pub mod store;
