//! `praxis consolidate`: generate, edit and store drafts of a query's
//! Consolidated Reply.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::Args;

use super::Context;
use crate::config::Config;
use crate::model::{ReplyState, ThreadId};
use crate::store::{Query, Store, now};

/// `praxis consolidate`.
#[derive(Debug, Args)]
pub struct ConsolidateArgs {
    /// The query's thread id, as `praxis threads --queries` lists it.
    pub query: ThreadId,
    /// Store this file as the next draft version instead of opening an editor.
    #[arg(long, conflicts_with = "print")]
    pub from: Option<PathBuf>,
    /// Print the current draft (the generated one when none is stored yet).
    #[arg(long)]
    pub print: bool,
    /// Add a response received outside the list (a text file), credited to
    /// the member given with --from-member and marked as offline.
    #[arg(long, requires = "from_member", conflicts_with_all = ["from", "print"])]
    pub add_response: Option<PathBuf>,
    /// The member an --add-response is from.
    #[arg(long, requires = "add_response")]
    pub from_member: Option<String>,
    /// List the stored versions of the draft: number, when, who, size.
    /// Example: `praxis consolidate 7 --versions`.
    #[arg(long, conflicts_with_all = ["from", "print", "add_response", "diff"])]
    pub versions: bool,
    /// Show what changed between two stored versions, as a unified line
    /// diff. Example: `praxis consolidate 7 --diff 1 3`.
    #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with_all = ["from", "print", "add_response"])]
    pub diff: Option<Vec<i64>>,
    /// The moderator compiling (default: $USER), recorded with each version.
    #[arg(long = "as")]
    pub actor: Option<String>,
}

/// Loads a query or says how to find one.
pub fn load_query(store: &Store, id: ThreadId) -> Result<Query> {
    store.query(id)?.ok_or_else(|| {
        anyhow::anyhow!(
            "query {id} does not exist or has no approved post; `praxis threads --queries` lists queries by id"
        )
    })
}

/// The generated draft for a query (see [`crate::consolidate::generate`]).
pub fn generate(
    config: &Config,
    store: &Store,
    q: &Query,
    addendum_since: Option<i64>,
) -> Result<String> {
    let cfg = config.community(&q.slug).map_err(anyhow::Error::msg)?;
    Ok(crate::consolidate::generate(
        store,
        cfg,
        &cfg.templates(),
        q,
        addendum_since,
    )?)
}

/// `--versions` and `--diff A B`: reading the stored versions.
fn versions(
    ctx: &Context,
    config: &Config,
    store: &Store,
    q: &Query,
    diff: Option<&[i64]>,
) -> Result<ExitCode> {
    let tz = config
        .community(&q.slug)
        .map(|c| c.timezone)
        .unwrap_or(chrono_tz::UTC);
    let all = store.draft_versions(q.thread)?;
    if all.is_empty() {
        bail!(
            "query {} has no stored draft yet; `praxis consolidate {}` writes one",
            q.thread,
            q.thread
        );
    }
    let Some(pair) = diff else {
        if ctx.out.json {
            ctx.out.json(&all)?;
            return Ok(ExitCode::SUCCESS);
        }
        ctx.out.table(
            &["version", "when", "who", "size"],
            all.iter()
                .map(|v| {
                    vec![
                        v.version.to_string(),
                        super::output::zoned_time(v.created_at, tz),
                        v.author.clone(),
                        format!("{} bytes", v.size),
                    ]
                })
                .collect(),
        );
        // Its state as members would see it: scheduled until its time comes.
        let state = match store.current_draft(q.thread)? {
            Some(d) => match (d.state, d.publish_at) {
                (ReplyState::Scheduled, Some(t)) if t > now() => {
                    format!("scheduled for {}", super::output::zoned_time(t, tz))
                }
                (ReplyState::Scheduled, _) => ReplyState::Published.to_string(),
                (state, _) => state.to_string(),
            },
            None => ReplyState::Draft.to_string(),
        };
        ctx.out.say(format!(
            "consolidated reply {} of query {} ({state}): {} version{}; `praxis consolidate {} --diff A B` shows a change",
            all[0].reply,
            q.thread,
            all.len(),
            if all.len() == 1 { "" } else { "s" },
            q.thread
        ));
        return Ok(ExitCode::SUCCESS);
    };
    let find = |n: i64| {
        all.iter().find(|v| v.version == n).ok_or_else(|| {
            anyhow::anyhow!(
                "query {} has no draft version {n} (versions 1 to {}); `praxis consolidate {} --versions` lists them",
                q.thread,
                all.len(),
                q.thread
            )
        })
    };
    let (a, b) = (find(pair[0])?, find(pair[1])?);
    let d = crate::consolidate::unified(
        &a.body,
        &b.body,
        &format!(
            "version {} ({}, {})",
            a.version,
            a.author,
            super::output::zoned_time(a.created_at, tz)
        ),
        &format!(
            "version {} ({}, {})",
            b.version,
            b.author,
            super::output::zoned_time(b.created_at, tz)
        ),
    );
    if d.is_empty() {
        ctx.out.say(format!(
            "versions {} and {} are the same",
            a.version, b.version
        ));
    } else {
        print!("{}", super::output::safe(&d));
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens `$VISUAL` or `$EDITOR` (else `vi`) on a file holding `text`, like
/// `git commit`; returns what was saved.
fn edit(text: &str) -> Result<String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let mut file = tempfile::Builder::new()
        .prefix("praxis-draft-")
        .suffix(".md")
        .tempfile()
        .context("creating a temporary file for the draft")?;
    file.write_all(text.as_bytes())?;
    file.flush()?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(file.path())
        .status()
        .with_context(|| format!("starting the editor `{editor}`; set $VISUAL or $EDITOR"))?;
    if !status.success() {
        bail!("the editor `{editor}` failed ({status}); the draft was not stored");
    }
    Ok(std::fs::read_to_string(file.path())?)
}

/// Runs `praxis consolidate`.
pub fn run(ctx: &Context, args: &ConsolidateArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let mut store = ctx.store(&config)?;
    let q = load_query(&store, args.query)?;
    if args.versions || args.diff.is_some() {
        return versions(ctx, &config, &store, &q, args.diff.as_deref());
    }
    if let (Some(path), Some(email)) = (&args.add_response, &args.from_member) {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the response {}", path.display()))?;
        if text.trim().is_empty() {
            bail!("{} is empty; nothing added", path.display());
        }
        let Some(m) = store.member(q.community, email)? else {
            bail!(
                "{email} is not a member of {}; `praxis members add {email} -c {} --name NAME --organisation ORG` adds them",
                q.slug,
                q.slug
            );
        };
        let by = args.actor.clone().unwrap_or_else(|| ctx.actor(&config));
        store.add_offline_response(q.thread, m.id, &text, &by, now())?;
        let stored = store
            .current_draft(q.thread)?
            .filter(|d| d.state == ReplyState::Draft);
        ctx.out.say(format!(
            "query {}: offline response from {} added{}",
            q.thread,
            if m.name.is_empty() { &m.email } else { &m.name },
            match stored {
                Some(d) => format!(
                    "; the stored draft (version {}) is unchanged: add it there with `praxis consolidate {}`",
                    d.version, q.thread
                ),
                None => format!("; `praxis consolidate {}` drafts with it", q.thread),
            }
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let latest = store.current_draft(q.thread)?;
    // After publication, a new draft is an addendum of the later responses.
    let addendum_since = latest
        .as_ref()
        .filter(|d| d.state == ReplyState::Published)
        .and_then(|d| d.published_at);
    let current = latest.filter(|d| d.state != ReplyState::Published);
    if args.print {
        let text = match &current {
            Some(d) => d.body.clone(),
            None => generate(&config, &store, &q, addendum_since)?,
        };
        print!("{}", super::output::safe(&text));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(d) = current
        .as_ref()
        .filter(|d| d.state == ReplyState::Scheduled)
    {
        let tz = config
            .community(&q.slug)
            .map(|c| c.timezone)
            .unwrap_or(chrono_tz::UTC);
        bail!(
            "query {}: consolidated reply {} is scheduled for {} and takes no new version; `praxis publish {} --cancel` makes it a draft again",
            q.thread,
            d.reply,
            d.publish_at
                .map(|t| super::output::zoned_time(t, tz))
                .unwrap_or_default(),
            q.thread
        );
    }
    let body = match &args.from {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the draft {}", path.display()))?,
        None => {
            let start = match &current {
                Some(d) => d.body.clone(),
                None => generate(&config, &store, &q, addendum_since)?,
            };
            edit(&start)?
        }
    };
    if body.trim().is_empty() {
        bail!("the draft is empty; nothing stored (aborted, as `git commit` does)");
    }
    if current.as_ref().is_some_and(|d| d.body == body) {
        ctx.out.say(format!(
            "query {}: draft unchanged (version {})",
            q.thread,
            current.map(|d| d.version).unwrap_or_default()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let author = args.actor.clone().unwrap_or_else(|| ctx.actor(&config));
    let subject = crate::consolidate::draft_subject(
        &q,
        addendum_since.is_some() || current.as_ref().is_some_and(|d| d.addendum_to.is_some()),
    );
    let (reply, version) = store.save_draft(q.thread, &subject, &body, &author, now(), None)?;
    ctx.out.say(format!(
        "query {}: stored draft version {version} of consolidated reply {reply}; `praxis publish {}` sends it",
        q.thread, q.thread
    ));
    Ok(ExitCode::SUCCESS)
}
