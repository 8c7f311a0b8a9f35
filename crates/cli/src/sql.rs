//! `crosstrail sql`.

use std::io::{BufWriter, IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use crosstrail_iam::policy::PolicyDocument;
use crosstrail_query::{
    LakeOptions, LakeSession, OutputFormat, ReportParams, ScpLevel, write_dataframe,
};

use crate::args::{LakeArgs, SqlArgs};

pub fn run(a: SqlArgs) -> anyhow::Result<ExitCode> {
    let format = output_format(&a.lake)?;
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
    anyhow::ensure!(a.lake.lake.is_some(), "--lake DIR is required");
    let mut options = lake_options(&a.lake, ReportParams::default())?;
    options.allow_writes = a.allow_writes;
    runtime()?.block_on(async {
        let session = open(&a.lake, options).await?;
        let mut statements = session.statements(&sql)?;
        let mut out = BufWriter::new(std::io::stdout().lock());
        let mut printed = 0;
        while let Some(result) = statements.next().await? {
            if result.schema().fields().is_empty() {
                // DDL and SET return nothing to show; run them all the same.
                result.collect().await?;
                continue;
            }
            // One JSON document per run: a second result would make the output invalid JSON.
            anyhow::ensure!(
                !(format == OutputFormat::Json && printed > 0),
                "--format json prints one result, and this script has several statements that \
                 return rows; use --format ndjson, or run them one at a time"
            );
            write_dataframe(format, result, &mut out).await?;
            printed += 1;
        }
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn output_format(a: &LakeArgs) -> anyhow::Result<OutputFormat> {
    a.format
        .parse()
        .map_err(|e| anyhow::anyhow!("--format: {e}"))
}

/// Reads the reference files named on the command line into session options.
pub fn lake_options(a: &LakeArgs, params: ReportParams) -> anyhow::Result<LakeOptions> {
    let vendors = match &a.vendors {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the vendor list {}", path.display()))?;
            Some(
                crosstrail_iam::accounts::parse_vendors(&text)
                    .with_context(|| format!("cannot read the vendor list {}", path.display()))?,
            )
        }
        None => None,
    };
    let org_accounts = match &a.org {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| {
                format!("cannot read the organization accounts {}", path.display())
            })?;
            Some(
                crosstrail_iam::accounts::parse_org_accounts(&bytes).with_context(|| {
                    format!("cannot read the organization accounts {}", path.display())
                })?,
            )
        }
        None => None,
    };
    let scps = a
        .scp
        .iter()
        .map(|path| {
            scp_level(path).with_context(|| format!("cannot read the SCP file {}", path.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(LakeOptions {
        scps,
        own_accounts: a.own_accounts.clone(),
        allow_writes: false,
        vendors,
        org_accounts,
        params,
        memory_limit: a.memory_limit_mib.map(|m| m << 20),
    })
}

/// One SCP level: a policy document, or an array of the documents attached at that level.
fn scp_level(path: &std::path::Path) -> anyhow::Result<ScpLevel> {
    let text = std::fs::read_to_string(path)?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    let documents = match &value {
        serde_json::Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    let policies = documents
        .into_iter()
        .enumerate()
        .map(|(i, d)| PolicyDocument::from_value(d).with_context(|| format!("policy {}", i + 1)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!policies.is_empty(), "no policy in the file");
    Ok(ScpLevel {
        name: path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        policies,
    })
}

pub async fn open(a: &LakeArgs, options: LakeOptions) -> anyhow::Result<LakeSession> {
    let lake = a
        .lake
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("--lake DIR is required"))?;
    let context = || format!("cannot open the lake {}", lake.display());
    let Some(url) = lake.to_str().filter(|p| crosstrail_ingest::is_s3_url(p)) else {
        if let Some(flag) = a.aws.first_given() {
            anyhow::bail!("{flag} applies to s3:// lakes, and --lake is a directory");
        }
        return LakeSession::open(lake, options).await.with_context(context);
    };
    let s3 = crate::ingest::s3_options(&a.aws);
    let store = crosstrail_ingest::s3_lake(url, &s3)
        .await
        .with_context(context)?;
    // A mistyped prefix would otherwise be an empty lake, not an error.
    let marker = object_store::path::Path::from(format!(
        "{}{}/lake.json",
        store.prefix,
        crosstrail_lake::INTERNAL_DIR
    ));
    if let Err(e) = object_store::ObjectStoreExt::head(store.store.as_ref(), &marker).await {
        return Err(match e {
            object_store::Error::NotFound { .. } => anyhow::anyhow!(
                "{url} is not a crosstrail lake: s3://{}/{marker} does not exist",
                url.trim_start_matches("s3://")
                    .split('/')
                    .next()
                    .unwrap_or_default()
            ),
            e => anyhow::Error::new(e),
        })
        .with_context(context);
    }
    LakeSession::open_store(store.store, &store.store_url, &store.prefix, options)
        .await
        .with_context(context)
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the query runtime")
}
