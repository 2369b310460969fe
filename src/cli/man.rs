//! `praxis man [--dir DIR]`: the manual pages, generated from the same clap
//! definitions as `--help` (clap_mangen), so they never drift from the code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, CommandFactory};

use super::{Cli, Context};

/// `praxis man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write praxis.1 and one praxis-COMMAND.1 per command into this folder
    /// instead of printing praxis.1.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Runs `praxis man`.
pub fn run(ctx: &Context, args: &ManArgs) -> Result<ExitCode> {
    let cmd = Cli::command();
    match &args.dir {
        None => {
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let n = write_pages(cmd, dir)?;
            ctx.out.say(format!(
                "wrote {n} manual pages into {}; install them with `install -m 644 {}/*.1 /usr/local/share/man/man1/`",
                dir.display(),
                dir.display()
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the page of `cmd` and of each subcommand (named praxis-a-b.1);
/// returns how many.
fn write_pages(cmd: clap::Command, dir: &Path) -> Result<usize> {
    // Subcommands' pages are named after their whole path.
    let cmd = cmd.disable_help_subcommand(true);
    let mut n = 0;
    let mut todo = vec![(cmd.get_name().to_string(), cmd)];
    while let Some((name, cmd)) = todo.pop() {
        for sub in cmd.get_subcommands() {
            let sub_name = format!("{name}-{}", sub.get_name());
            todo.push((
                sub_name.clone(),
                sub.clone()
                    .display_name(sub_name.clone())
                    .bin_name(sub_name.replace('-', " ")),
            ));
        }
        let path = dir.join(format!("{name}.1"));
        let mut file =
            std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
        clap_mangen::Man::new(cmd).title(&name).render(&mut file)?;
        n += 1;
    }
    Ok(n)
}
