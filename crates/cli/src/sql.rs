//! `crosstrail sql`.

use std::io::{BufWriter, IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use crosstrail_query::{LakeOptions, LakeSession, OutputFormat, write_dataframe};

use crate::args::SqlArgs;

pub fn run(a: SqlArgs) -> anyhow::Result<ExitCode> {
    let format: OutputFormat = a
        .format
        .parse()
        .map_err(|e| anyhow::anyhow!("--format: {e}"))?;
    let sql = match (&a.query, &a.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read SQL file {}", f.display()))?,
        (None, None) => {
            anyhow::ensure!(
                !std::io::stdin().is_terminal(),
                "no query: give it as an argument, with --file, or on standard input"
            );
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read SQL from standard input")?;
            s
        }
    };
    let options = LakeOptions {
        own_accounts: a.own_accounts.clone(),
        allow_writes: a.allow_writes,
        memory_limit: a.memory_limit_mib.map(|m| m << 20),
    };
    runtime()?.block_on(async {
        let session = LakeSession::open(&a.lake, options)
            .await
            .with_context(|| format!("cannot open the lake {}", a.lake.display()))?;
        let mut statements = session.statements(&sql)?;
        let mut out = BufWriter::new(std::io::stdout().lock());
        while let Some(result) = statements.next().await? {
            if result.schema().fields().is_empty() {
                // DDL and SET return nothing to show; run them all the same.
                result.collect().await?;
                continue;
            }
            write_dataframe(format, result, &mut out).await?;
        }
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the query runtime")
}
