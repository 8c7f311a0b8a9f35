//! `crosstrail ingest`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use crosstrail_ingest::{IamSummary, IngestOptions, LocalSource, Source, Summary};
use crosstrail_lake::{Lake, RecordLimits};

use crate::args::IngestArgs;
use crate::progress::{Progress, summary_text};

/// A checked ingest configuration.
pub struct IngestConfig {
    pub lake: std::path::PathBuf,
    pub sources: Vec<Arc<dyn Source>>,
    pub options: IngestOptions,
    pub iam: Vec<std::path::PathBuf>,
    pub quiet: bool,
}

impl IngestConfig {
    fn from_args(a: IngestArgs) -> anyhow::Result<Self> {
        let mut options = IngestOptions::default();
        if let Some(t) = a.threads {
            anyhow::ensure!(t > 0, "--threads must be at least 1");
            options.threads = t;
        }
        anyhow::ensure!(a.max_object_mib > 0, "--max-object-mib must be at least 1");
        anyhow::ensure!(a.max_record_mib > 0, "--max-record-mib must be at least 1");
        anyhow::ensure!(a.chunk_mib > 0, "--chunk-mib must be at least 1");
        options.chunk_bytes = a.chunk_mib << 20;
        options.decode.max_inflated_bytes = a.max_object_mib << 20;
        options.records = RecordLimits {
            max_record_bytes: (a.max_record_mib << 20) as usize,
        };
        let mut sources: Vec<Arc<dyn Source>> = Vec::new();
        for path in &a.sources {
            let source = LocalSource::new(path, Some(&a.lake)).context("cannot read a source")?;
            sources.push(Arc::new(source));
        }
        Ok(IngestConfig {
            lake: a.lake,
            sources,
            options,
            iam: a.iam,
            quiet: a.quiet,
        })
    }
}

pub fn run(a: IngestArgs) -> anyhow::Result<ExitCode> {
    let config = IngestConfig::from_args(a)?;
    let (summary, iam) = run_config(&config)?;
    let iam_failed = iam.as_ref().is_some_and(|i| !i.failures.is_empty());
    if iam_failed {
        Ok(ExitCode::from(crate::EXIT_PARTIAL))
    } else {
        Ok(exit_code(&summary))
    }
}

/// Runs a checked configuration, printing progress and the summary unless quiet.
pub fn run_config(config: &IngestConfig) -> anyhow::Result<(Summary, Option<IamSummary>)> {
    let lake = Lake::open(&config.lake)
        .with_context(|| format!("cannot open the lake {}", config.lake.display()))?;
    let mut summary = Summary::default();
    if !config.sources.is_empty() {
        let progress = Progress::new(config.quiet);
        let result = crosstrail_ingest::ingest(&lake, &config.sources, &config.options, &progress);
        progress.finish();
        summary = result.context("ingest stopped")?;
        if !config.quiet {
            let text = summary_text(&summary, &config.lake.display().to_string());
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }
    let mut iam = None;
    if !config.iam.is_empty() {
        let s = crosstrail_ingest::ingest_iam(&lake, &config.iam)
            .context("loading IAM snapshots stopped")?;
        if !config.quiet {
            let _ = std::io::stderr().lock().write_all(iam_text(&s).as_bytes());
        }
        iam = Some(s);
    }
    Ok((summary, iam))
}

fn iam_text(s: &IamSummary) -> String {
    let mut out = String::new();
    for f in &s.failures {
        out.push_str(&format!("error: {}: {}\n", f.object, f.reason));
    }
    for issue in &s.issues {
        out.push_str(&format!(
            "warning: {issue} (that document is left out: permissions may be under-counted)\n"
        ));
    }
    match &s.snapshot {
        None if s.unchanged => out.push_str(&format!(
            "crosstrail: IAM snapshot: {} files unchanged, nothing loaded\n",
            s.files
        )),
        None => out.push_str("crosstrail: IAM snapshot: nothing loaded\n"),
        Some(id) => {
            let rows: Vec<String> = s
                .rows
                .iter()
                .map(|(t, n)| format!("{n} {}", t.name()))
                .collect();
            let failed = if s.failures.is_empty() {
                String::new()
            } else {
                format!("; {} files failed", s.failures.len())
            };
            out.push_str(&format!(
                "crosstrail: IAM snapshot {id} from {} files: {}{failed}\n",
                s.files - s.failures.len() as u64,
                rows.join(", "),
            ));
        }
    }
    out
}

pub fn exit_code(s: &Summary) -> ExitCode {
    if s.objects_failed > 0 || s.list_errors > 0 {
        ExitCode::from(crate::EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    }
}
