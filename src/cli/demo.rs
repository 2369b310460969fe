//! `praxis demo`: the whole job on a bundled community, with no mail server.
//!
//! The demo is a config and a Maildir (both under examples/demo/, embedded in
//! the binary): it writes them into a folder, then runs the very commands a
//! moderator would type — init, members import, ingest, queue, approve,
//! reject, consolidate, publish, digest send, outbox flush — printing each
//! one. The only thing the config changes is `[delivery] maildir`: the
//! sender writes every copy into a local Maildir instead of handing it to a
//! relay. Nothing in the engine knows it is a demo.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser};

use super::ingest::{IngestArgs, Ingested};
use super::{Cli, Context, Output};
use crate::model::PostState;

/// `praxis demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's config, database and delivered mail in this folder
    /// (created; must be empty). Default: a new folder under the system's
    /// temporary folder, kept afterwards.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// After the demo, serve its archive on the web (the same daemon as
    /// `praxis serve`) until Ctrl-C. Example: `praxis demo --serve`.
    #[arg(long)]
    pub serve: bool,
    /// The loopback port the archive is served on.
    /// Example: `praxis demo --serve --port 8080`.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
}

/// Where `praxis demo --serve` serves the archive unless told otherwise.
const DEFAULT_PORT: u16 = 8025;
/// The config that serves the demo's archive: the demo's own config with
/// `[http]`, a link secret and a public archive added, written beside it
/// (the demo's config itself stays as shipped).
const WEB_CONFIG: &str = "praxis-web.toml";

/// The demo's config, as shipped.
const CONFIG: &str = include_str!("../../examples/demo/praxis.toml");
/// The community's members.
const MEMBERS: &str = include_str!("../../examples/demo/members.csv");
/// The summary the moderator writes into the generated draft.
const SUMMARY: &str = include_str!("../../examples/demo/summary.md");
/// The community's slug in [`CONFIG`].
const COMMUNITY: &str = "mch";
/// Who moderates, for the audit log.
const MODERATOR: &str = "Meera Iyer";

/// One message of the bundled Maildir, and what the moderator does with it.
struct Mail {
    /// Its file name in examples/demo/maildir/cur/.
    name: &'static str,
    /// The message.
    raw: &'static [u8],
    /// Rejected (with this reason) rather than approved, if held.
    reject: Option<&'static str>,
}

/// Embeds one file of the bundled Maildir.
macro_rules! mail {
    ($name:literal) => {
        Mail {
            name: $name,
            raw: include_bytes!(concat!("../../examples/demo/maildir/cur/", $name)),
            reject: None,
        }
    };
    ($name:literal, reject = $why:literal) => {
        Mail {
            reject: Some($why),
            ..mail!($name)
        }
    };
}

/// The bundled Maildir, in delivery order: a query, three responses (a
/// plain one with a quote and a signature, an HTML-only one, a multipart
/// one quoting Outlook-style), a nonmember's advertisement, and a member's
/// out-of-office auto-reply.
const MAILDIR: &[Mail] = &[
    mail!("1762660800.M1P1.demo:2,S"),
    mail!("1762750800.M2P1.demo:2,S"),
    mail!("1762837200.M3P1.demo:2,S"),
    mail!("1762923600.M4P1.demo:2,S"),
    mail!(
        "1762927200.M5P1.demo:2,S",
        reject = "This community shares members' experience; it does not carry advertisements."
    ),
    mail!("1762930800.M6P1.demo:2,S"),
];

/// Runs `praxis demo`.
pub fn run(ctx: &Context, args: &DemoArgs) -> Result<ExitCode> {
    let dir = prepare(args.dir.as_deref())?;
    let config_path = dir.join("praxis.toml");
    let demo = Demo {
        config: config_path.clone(),
        out: ctx.out,
    };
    demo.say(format!(
        "praxis demo: a community of practice, start to finish, in {}",
        dir.display()
    ));
    demo.say(format!(
        "Every command below is an ordinary praxis command run with --config {}\n\
         (export PRAXIS_CONFIG={} to repeat any of them).",
        config_path.display(),
        config_path.display()
    ));

    demo.step("1. Create the database and the community")?;
    demo.run(&["init"])?;
    demo.run(&[
        "members",
        "import",
        "-c",
        COMMUNITY,
        path(&dir.join("members.csv"))?,
    ])?;
    demo.view(&["members", "list", "-c", COMMUNITY])?;

    demo.step("2. Mail arrives (an MTA pipe would run `praxis ingest` once per message)")?;
    let incoming = dir.join("incoming").join("cur");
    let mut arrived: Vec<(&Mail, Ingested)> = Vec::new();
    for mail in MAILDIR {
        let file = incoming.join(mail.name);
        demo.say(format!(
            "\n$ praxis ingest -c {COMMUNITY} < {}",
            file.display()
        ));
        let raw = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        let cli = demo.cli(&["ingest", "-c", COMMUNITY])?;
        let args = IngestArgs {
            community: COMMUNITY.to_string(),
            recipient: None,
        };
        let sub = Context { cli, out: demo.out };
        let (code, ingested) = super::ingest::run_with(&sub, &args, &raw)?;
        match ingested {
            Some(i) => arrived.push((mail, i)),
            None => bail!("`praxis ingest` could not store {} ({code:?})", mail.name),
        }
    }

    demo.step("3. The moderation queue: first posts and the nonmember wait for a moderator")?;
    demo.view(&["queue", "-c", COMMUNITY])?;
    let held = |reject: bool| -> Vec<String> {
        arrived
            .iter()
            .filter(|(m, i)| i.state == PostState::Held && m.reject.is_some() == reject)
            .map(|(_, i)| i.post.to_string())
            .collect()
    };
    let approve = held(false);
    if !approve.is_empty() {
        let mut cmd = vec!["approve"];
        cmd.extend(approve.iter().map(String::as_str));
        cmd.extend(["--as", MODERATOR]);
        demo.run(&cmd)?;
    }
    for (mail, i) in &arrived {
        if let (Some(reason), PostState::Held) = (mail.reject, i.state) {
            let id = i.post.to_string();
            demo.run(&["reject", &id, "--reason", reason, "--as", MODERATOR])?;
        }
    }
    demo.view(&["log", "-c", COMMUNITY, "--limit", "10"])?;

    let query = arrived
        .first()
        .and_then(|(_, i)| i.thread)
        .context("the query was stored without a thread")?
        .to_string();
    demo.step("4. The query and its responses")?;
    demo.view(&["threads", "-c", COMMUNITY, "--queries"])?;
    let html_only = arrived
        .get(2)
        .map(|(_, i)| i.post.to_string())
        .context("the HTML-only response is missing")?;
    demo.view(&["show", &html_only])?;

    demo.step("5. The moderator compiles the Consolidated Reply")?;
    let draft_path = dir.join(format!("draft-{query}.md"));
    write_draft(&demo, &query, &draft_path)?;
    demo.say(format!(
        "\n(the moderator would edit this in $EDITOR with `praxis consolidate {query}`; the demo\n\
         writes its summary into the generated draft, {}, and stores that)",
        draft_path.display()
    ));
    demo.run(&[
        "consolidate",
        &query,
        "--from",
        path(&draft_path)?,
        "--as",
        MODERATOR,
    ])?;
    demo.run(&["publish", &query])?;

    demo.step("6. The weekly digest, sent now instead of on Monday")?;
    demo.run(&["digest", "send", "-c", COMMUNITY, "--now"])?;

    demo.step("7. Everything goes out through the outbox")?;
    demo.view(&["outbox", "-c", COMMUNITY])?;
    demo.run(&["outbox", "flush"])?;
    demo.view(&["status"])?;

    demo.step("8. The delivered mail")?;
    let delivered = dir.join("delivered");
    demo.say(report(&delivered)?);
    println!(
        "\nOpen it with any mail client that reads a Maildir, for example:\n  \
         mutt -f {}\n\
         or look around with praxis itself:\n  \
         export PRAXIS_CONFIG={}\n  \
         praxis threads\n  praxis show {}\n  praxis search 'binders'\n  praxis consolidate {query} --print",
        delivered.display(),
        config_path.display(),
        arrived
            .first()
            .map(|(_, i)| i.post.to_string())
            .unwrap_or_default(),
    );

    let web_config = write_web_config(&dir, &config_path, args.port)?;
    if !args.serve {
        println!(
            "\nTo read its archive in a browser, serve it:\n  praxis --config {} serve\n\
             and open http://127.0.0.1:{}/c/{COMMUNITY}/ (or run `praxis demo --serve`).",
            web_config.display(),
            args.port
        );
        return Ok(ExitCode::SUCCESS);
    }
    demo.step("9. The archive on the web (Ctrl-C stops it)")?;
    demo.say(format!(
        "\n$ praxis --config {} serve",
        web_config.display()
    ));
    println!("The archive: http://127.0.0.1:{}/c/{COMMUNITY}/", args.port);
    let mut argv: Vec<OsString> = vec!["praxis".into(), "--config".into()];
    argv.push(web_config.into_os_string());
    argv.push("serve".into());
    super::run(Cli::try_parse_from(argv)?)
}

/// Writes [`WEB_CONFIG`] into the demo's folder: the demo's config with a
/// link secret (a new random one, in a file only its owner may read), the
/// web on loopback at `port`, and a public archive. Returns its path.
fn write_web_config(dir: &Path, config: &Path, port: u16) -> Result<PathBuf> {
    let key = dir.join("link.key");
    if !key.exists() {
        let secret = hex::encode(rand::random::<[u8; 32]>());
        write_private(&key, format!("{secret}\n").as_bytes())?;
    }
    let text =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let marker = "maildir = \"delivered\"";
    let community_delivery = "[community.delivery]\n";
    if !text.contains(marker) || !text.contains(community_delivery) {
        bail!(
            "{} lacks `{marker}` or `[community.delivery]`; the demo's config was changed, so its web config cannot be made",
            config.display()
        );
    }
    let url = format!("http://127.0.0.1:{port}");
    let text = text
        .replacen(
            marker,
            &format!("{marker}\nlink_secret_file = \"link.key\""),
            1,
        )
        .replacen(
            community_delivery,
            &format!("[community.web]\narchive = \"public\"\n\n{community_delivery}"),
            1,
        )
        + &format!(
            "\n# Added by `praxis demo` to serve the archive on the web.\n[http]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{url}\"\n"
        );
    let path = dir.join(WEB_CONFIG);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Writes a file only its owner may read (mode 0600 on Unix).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Runs the demo's commands against its config.
struct Demo {
    /// The demo's config file.
    config: PathBuf,
    /// How the demo itself was asked to print.
    out: Output,
}

impl Demo {
    /// Prints a line of the transcript, unless quiet.
    fn say(&self, line: impl AsRef<str>) {
        if !self.out.quiet {
            println!("{}", line.as_ref());
        }
    }

    /// Prints a step's heading.
    fn step(&self, title: &str) -> Result<()> {
        self.say(format!("\n\u{2500}\u{2500} {title}"));
        Ok(())
    }

    /// The command line `praxis --config CONFIG ARGS...`.
    fn cli(&self, args: &[&str]) -> Result<Cli> {
        let mut argv: Vec<OsString> = vec!["praxis".into(), "--config".into()];
        argv.push(self.config.clone().into_os_string());
        if self.out.quiet {
            argv.push("--quiet".into());
        }
        argv.extend(args.iter().map(OsString::from));
        Ok(Cli::try_parse_from(argv)?)
    }

    /// Runs a command that only shows something, unless quiet.
    fn view(&self, args: &[&str]) -> Result<()> {
        if self.out.quiet {
            return Ok(());
        }
        self.run(args)
    }

    /// Prints and runs `praxis ARGS...`; a failing command stops the demo.
    fn run(&self, args: &[&str]) -> Result<()> {
        self.say(format!("\n$ praxis {}", shell_words(args)));
        let code = super::run(self.cli(args)?)
            .with_context(|| format!("`praxis {}` failed", args.join(" ")))?;
        if code != ExitCode::SUCCESS {
            bail!("`praxis {}` did not succeed ({code:?})", args.join(" "));
        }
        Ok(())
    }
}

/// Quotes arguments that need it, for printing.
fn shell_words(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A path as the UTF-8 text a command line takes.
fn path(p: &Path) -> Result<&str> {
    p.to_str().with_context(|| {
        format!(
            "{} is not UTF-8; choose a --dir with a plain name",
            p.display()
        )
    })
}

/// Creates the demo's folder and writes the config, members and Maildir.
fn prepare(dir: Option<&Path>) -> Result<PathBuf> {
    let dir = match dir {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d)?.next().is_some() {
                bail!(
                    "{} is not empty; give `praxis demo --dir` a new or empty folder (or remove the old demo)",
                    d.display()
                );
            }
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.canonicalize()?
        }
        None => tempfile::Builder::new()
            .prefix("praxis-demo-")
            .tempdir()
            .context("creating a folder for the demo in the temporary folder")?
            .keep(),
    };
    std::fs::write(dir.join("praxis.toml"), CONFIG)?;
    std::fs::write(dir.join("members.csv"), MEMBERS)?;
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join("incoming").join(sub))?;
    }
    for mail in MAILDIR {
        std::fs::write(dir.join("incoming").join("cur").join(mail.name), mail.raw)?;
    }
    Ok(dir)
}

/// Writes the generated draft of `query` with the demo's summary in place
/// of the generated one, as the moderator would in an editor.
fn write_draft(demo: &Demo, query: &str, to: &Path) -> Result<()> {
    let cli = demo.cli(&["consolidate", query, "--print"])?;
    let ctx = Context { cli, out: demo.out };
    let config = ctx.config()?;
    let store = ctx.store(&config)?;
    let q = super::consolidate::load_query(&store, query.parse()?)?;
    let generated = super::consolidate::generate(&config, &store, &q, None)?;
    let edited = edit_summary(&generated, SUMMARY).context(
        "the generated draft has no `## Summary of responses` section; is a template override missing it?",
    )?;
    std::fs::write(to, edited).with_context(|| format!("writing {}", to.display()))?;
    Ok(())
}

/// Replaces the draft's summary and comparison sections (from `## Summary
/// of responses` up to `## Related resources`) with `text`, which brings
/// its own headings.
fn edit_summary(draft: &str, text: &str) -> Option<String> {
    let start = draft.find("## Summary of responses")?;
    let end = start + draft[start..].find("## Related resources")?;
    Some(format!(
        "{}{}\n\n{}",
        &draft[..start],
        text.trim(),
        &draft[end..]
    ))
}

/// What was delivered: messages per subject.
fn report(maildir: &Path) -> Result<String> {
    let mut by_subject: std::collections::BTreeMap<String, usize> = Default::default();
    let mut total = 0;
    let new = maildir.join("new");
    for entry in std::fs::read_dir(&new).with_context(|| format!("reading {}", new.display()))? {
        let raw = std::fs::read(entry?.path())?;
        let subject = mail_parser::MessageParser::default()
            .parse_headers(&raw)
            .and_then(|m| m.subject().map(str::to_string))
            .unwrap_or_else(|| "(no subject)".into());
        *by_subject.entry(subject).or_default() += 1;
        total += 1;
    }
    let mut out = format!(
        "\n{total} messages were delivered into {} (a Maildir):",
        maildir.display()
    );
    for (subject, n) in &by_subject {
        out.push_str(&format!("\n  {n:>3} \u{00d7} {subject}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_replaces_the_generated_sections() {
        let draft = "# T\n\n## Summary of responses\n\n<!-- Rewrite -->\n\nfirst para (A)\n\n\
                     ## Comparative experiences\n\n<!-- Where did... -->\n\n## Related resources\n\n- x\n";
        let text = "## Summary of responses\n\nOurs.\n\n## Comparative experiences\n\nSame.\n";
        assert_eq!(
            edit_summary(draft, text).unwrap(),
            "# T\n\n## Summary of responses\n\nOurs.\n\n## Comparative experiences\n\nSame.\n\n\
             ## Related resources\n\n- x\n"
        );
        assert!(edit_summary("no sections", "x").is_none());
    }

    #[test]
    fn every_file_of_the_bundled_maildir_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/maildir/cur");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = MAILDIR.iter().map(|m| m.name.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn arguments_with_spaces_are_quoted_for_printing() {
        assert_eq!(
            shell_words(&["reject", "5", "--reason", "It's off topic"]),
            "reject 5 --reason 'It'\\''s off topic'"
        );
    }
}
