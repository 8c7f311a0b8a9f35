//! `crosstrail ingest`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use crosstrail_ingest::layout::{Day, LayoutFilter};
use crosstrail_ingest::{
    IamSummary, IngestOptions, LocalSource, S3Options, S3Source, Shard, Source, Summary, is_s3_url,
};
use crosstrail_lake::{Lake, RecordLimits};

use crate::args::{AwsArgs, IngestArgs};
use crate::progress::{Progress, summary_text};

/// A checked ingest configuration.
pub struct IngestConfig {
    pub lake: std::path::PathBuf,
    /// How to reach S3, for s3:// sources and an s3:// lake.
    pub s3: S3Options,
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
        let filter = layout_filter(&a)?;
        if let Some(shard) = &a.shard {
            options.shard = Some(parse_shard(shard)?);
        }
        let s3 = S3Options {
            filter: filter.clone(),
            max_object_bytes: options.decode.max_inflated_bytes,
            ..s3_options(&a.aws)
        };
        let lake_in_s3 = a.lake.to_str().is_some_and(is_s3_url);
        let local_lake = (!lake_in_s3).then_some(a.lake.as_path());
        let mut sources: Vec<Arc<dyn Source>> = Vec::new();
        let mut any_s3 = false;
        for path in &a.sources {
            match path.to_str().filter(|p| is_s3_url(p)) {
                Some(url) => {
                    let source = S3Source::new(url, s3.clone()).context("cannot read a source")?;
                    sources.push(Arc::new(source));
                    any_s3 = true;
                }
                None => {
                    let source = LocalSource::new(path, local_lake)
                        .context("cannot read a source")?
                        .with_filter(filter.clone())
                        .with_threads(options.threads);
                    sources.push(Arc::new(source));
                }
            }
        }
        if let Some(flag) = a.aws.first_given().filter(|_| !any_s3 && !lake_in_s3) {
            anyhow::bail!("{flag} applies to s3:// sources and lakes, and none was given");
        }
        match a.concurrency {
            Some(0) => anyhow::bail!("--concurrency must be at least 1"),
            Some(n) => options.fetch_concurrency = n,
            // Round trips, not the disk, limit a bucket: keep enough GETs in flight to cover
            // them. One core ingests small objects from S3 at about 11,000 a second (two at
            // about twice that), so 50 ms of latency needs about 550 in flight, and more while
            // a run catches up; the 64 MiB budget still bounds memory, and the open-file limit
            // the connections. Measured at 50 ms, one core: 1.47-1.56 s for the S3 bench's
            // 10,687 objects against 1.69-1.79 s with at most 512.
            None if any_s3 => options.fetch_concurrency = 1024,
            None => {}
        }
        Ok(IngestConfig {
            lake: a.lake,
            s3,
            sources,
            options,
            iam: a.iam,
            quiet: a.quiet,
        })
    }
}

fn layout_filter(a: &IngestArgs) -> anyhow::Result<LayoutFilter> {
    let mut filter = LayoutFilter::default();
    if let Some(accounts) = &a.accounts {
        for id in accounts {
            anyhow::ensure!(
                id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()),
                "--accounts: {id:?} is not a 12-digit account id"
            );
        }
        filter.accounts = Some(accounts.iter().cloned().collect());
    }
    if let Some(regions) = &a.regions {
        for r in regions {
            anyhow::ensure!(
                !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                "--regions: {r:?} is not a region name"
            );
        }
        filter.regions = Some(regions.iter().cloned().collect());
    }
    filter.from = a
        .from
        .as_deref()
        .map(|d| parse_day("--from", d))
        .transpose()?;
    filter.to = a.to.as_deref().map(|d| parse_day("--to", d)).transpose()?;
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        anyhow::ensure!(from <= to, "--from is after --to");
    }
    Ok(filter)
}

fn parse_day(flag: &str, text: &str) -> anyhow::Result<Day> {
    let bad = || anyhow::anyhow!("{flag}: {text:?} is not a day (YYYY-MM-DD)");
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let num = |s: &str| s.parse::<u32>().map_err(|_| bad());
    let (y, m, d) = (num(y)?, num(m)?, num(d)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if !(1..=days).contains(&d) {
        return Err(bad());
    }
    Ok((y, m, d))
}

fn parse_shard(text: &str) -> anyhow::Result<Shard> {
    let bad = || anyhow::anyhow!("--shard: {text:?} is not I/N with 0 <= I < N (e.g. 0/4)");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let index: u32 = i.trim().parse().map_err(|_| bad())?;
    let count: u32 = n.trim().parse().map_err(|_| bad())?;
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(Shard { index, count })
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
    let lake = open_lake(&config.lake, &config.s3)
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

/// The S3 settings of `--profile`, `--region`, `--endpoint-url` and `--no-sign-request`.
pub fn s3_options(a: &AwsArgs) -> S3Options {
    S3Options {
        region: a.region.clone(),
        profile: a.profile.clone(),
        endpoint_url: a.endpoint_url.clone(),
        no_sign_request: a.no_sign_request,
        ..S3Options::default()
    }
}

/// Opens the lake for writing: a directory, or an `s3://` URL.
fn open_lake(lake: &std::path::Path, s3: &S3Options) -> anyhow::Result<Lake> {
    let Some(url) = lake.to_str().filter(|p| is_s3_url(p)) else {
        return Ok(Lake::open(lake)?);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the I/O runtime")?;
    let store = runtime.block_on(crosstrail_ingest::s3_lake(url, s3))?;
    Ok(Lake::open_store(url, store.store, &store.prefix)?)
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
