//! `praxis show POST`: one post as a moderator needs it, quoted text folded.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use super::Context;
use super::output::{local_time, rfc3339, safe};
use crate::model::PostId;
use crate::moderation::policy::human_size;

/// `praxis show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The post's id.
    pub post: i64,
    /// Print the message exactly as received instead.
    #[arg(long)]
    pub raw: bool,
}

#[derive(Serialize)]
struct ShowJson<'a> {
    #[serde(flatten)]
    post: &'a crate::store::PostView,
    date_rfc3339: Option<String>,
}

/// Folds runs of quoted lines ("> ...") into one marker line.
pub fn fold_quotes(text: &str) -> String {
    let mut out = Vec::new();
    let mut run = 0usize;
    let flush = |run: &mut usize, out: &mut Vec<String>| {
        if *run > 0 {
            out.push(format!(
                "[… {} quoted line{} folded]",
                run,
                if *run == 1 { "" } else { "s" }
            ));
            *run = 0;
        }
    };
    for line in text.lines() {
        if line.trim_start().starts_with('>') {
            run += 1;
        } else {
            flush(&mut run, &mut out);
            out.push(line.to_string());
        }
    }
    flush(&mut run, &mut out);
    out.join("\n")
}

/// Runs `praxis show`.
pub fn run(ctx: &Context, args: &ShowArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let store = ctx.store(&config)?;
    let id = PostId(args.post);
    if args.raw {
        use std::io::Write;
        std::io::stdout().write_all(&store.raw(id)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let p = store.post(id)?;
    if ctx.out.json {
        ctx.out.json(&ShowJson {
            post: &p,
            date_rfc3339: p.date.map(rfc3339),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let tz = config
        .community(&p.community)
        .map(|c| c.timezone)
        .unwrap_or(chrono_tz::UTC);
    let state = match &p.hold_reason {
        Some(r) => format!("{} ({r})", p.state),
        None => p.state.to_string(),
    };
    let mut out = String::new();
    writeln!(out, "Post {} in {} — {}", p.id, p.community, state)?;
    let who = match (&p.member_name, &p.member_organisation) {
        (Some(n), Some(o)) if !o.is_empty() => format!("{n}, {o}"),
        (Some(n), _) if !n.is_empty() => n.clone(),
        _ if p.member_name.is_none() => "not a member".into(),
        _ => "member".into(),
    };
    writeln!(out, "From:       {} <{}> ({who})", p.from_name, p.from)?;
    writeln!(out, "Subject:    {}", p.subject)?;
    if let Some(d) = p.date {
        writeln!(out, "Date:       {}", local_time(d, tz))?;
    }
    writeln!(
        out,
        "Received:   {} via {}",
        local_time(p.received_at, tz),
        p.source
    )?;
    writeln!(out, "Message-ID: <{}>", p.message_id)?;
    writeln!(
        out,
        "Class:      {}; size {}",
        p.class,
        human_size(p.size as u64)
    )?;
    if let Some(t) = p.thread_id {
        let reply = match p.parent_id {
            Some(parent) => format!("; reply to post {parent}"),
            None => String::new(),
        };
        writeln!(
            out,
            "Thread:     {t} \"{}\": post {} of {}{reply}",
            p.thread_subject.as_deref().unwrap_or(""),
            p.thread_position,
            p.thread_posts
        )?;
    }
    for a in &p.attachments {
        writeln!(
            out,
            "Attachment: {} ({}, {})",
            a.name,
            a.content_type,
            human_size(a.size)
        )?;
    }
    if let Some(f) = &p.flag {
        writeln!(out, "Flag:       {f}")?;
    }
    // A post that starts a thread: earlier threads that may answer it.
    if p.parent_id.is_none() && p.thread_position <= 1 {
        for t in store.related_to_post(id, 3)? {
            writeln!(out, "Related:    {}", super::related::line(&t))?;
        }
    }
    writeln!(out)?;
    writeln!(out, "{}", fold_quotes(&p.text))?;
    // Everything above is the message's own text: shown, never obeyed.
    print!("{}", safe(&out));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::fold_quotes;

    #[test]
    fn quotes_fold() {
        assert_eq!(
            fold_quotes("Yes.\n> a\n> b\nNo.\n> c"),
            "Yes.\n[… 2 quoted lines folded]\nNo.\n[… 1 quoted line folded]"
        );
    }
}
