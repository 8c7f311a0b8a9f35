//! The `crosstrail` command line: clap arguments -> checked configuration -> one module per
//! command. Glue only: the libraries do the work.
#![deny(missing_docs)]

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

mod args;
mod demo;
mod ingest;
mod progress;
mod report;
mod sql;

pub use args::Cli;

/// Exit status when some objects could not be ingested (the others landed).
pub const EXIT_PARTIAL: u8 = 2;

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {err}");
            for cause in err.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        args::Command::Ingest(a) => ingest::run(a),
        args::Command::Sql(a) => sql::run(a),
        args::Command::Report(a) => report::run(a),
        args::Command::Demo(a) => demo::run(a),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
