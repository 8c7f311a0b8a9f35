//! `crosstrail ingest`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use crosstrail_ingest::{IngestOptions, LocalSource, Source, Summary};
use crosstrail_lake::{Lake, RecordLimits};

use crate::args::IngestArgs;
use crate::progress::{Progress, summary_text};

/// A checked ingest configuration.
pub struct IngestConfig {
    pub lake: std::path::PathBuf,
    pub sources: Vec<Arc<dyn Source>>,
    pub options: IngestOptions,
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
            let source = LocalSource::new(path, Some(&a.lake))
                .with_context(|| format!("cannot read source {}", path.display()))?;
            sources.push(Arc::new(source));
        }
        Ok(IngestConfig {
            lake: a.lake,
            sources,
            options,
            quiet: a.quiet,
        })
    }
}

pub fn run(a: IngestArgs) -> anyhow::Result<ExitCode> {
    let config = IngestConfig::from_args(a)?;
    let summary = run_config(&config)?;
    Ok(exit_code(&summary))
}

/// Runs a checked configuration, printing progress and the summary unless quiet.
pub fn run_config(config: &IngestConfig) -> anyhow::Result<Summary> {
    let lake = Lake::open(&config.lake)
        .with_context(|| format!("cannot open the lake {}", config.lake.display()))?;
    let progress = Progress::new(config.quiet);
    let summary = crosstrail_ingest::ingest(&lake, &config.sources, &config.options, &progress);
    progress.finish();
    let summary = summary.context("ingest stopped")?;
    if !config.quiet {
        let _ = std::io::stderr()
            .lock()
            .write_all(summary_text(&summary, &config.lake.display().to_string()).as_bytes());
    }
    Ok(summary)
}

pub fn exit_code(s: &Summary) -> ExitCode {
    if s.objects_failed > 0 || s.list_errors > 0 {
        ExitCode::from(crate::EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    }
}
