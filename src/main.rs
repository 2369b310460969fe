//! The `praxis` binary: parse arguments, set up logging, hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use praxis::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    quiet_parser_panics();
    match run(cli) {
        Ok(code) => code,
        // A reader that stopped early (`praxis man | head`) is not an error.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // An error can quote mail (a subject, an address): shown, not obeyed.
            eprintln!("error: {}", praxis::cli::output::safe(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// Whether `e` is standard output closed under us.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_tracing(cli: &Cli) {
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    // `serve` logs what it does at info level by default.
    let default =
        if matches!(cli.command, praxis::cli::Command::Serve) && cli.verbose == 0 && !cli.quiet {
            "info"
        } else {
            default
        };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PRAXIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("praxis={default},warn")));
    // Colours only on a terminal: a log file or the journal gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// mail-parser panics on some malformed MIME; the pipeline catches that and
/// keeps the message as unparseable, so say it in one log line instead of a
/// backtrace. Every other panic is reported as usual.
fn quiet_parser_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_parser = info
            .location()
            .is_some_and(|l| l.file().contains("mail-parser"));
        if in_parser {
            tracing::warn!(
                "mail-parser failed on a malformed message ({info}); it is kept raw as unparseable"
            );
        } else {
            default(info);
        }
    }));
}
