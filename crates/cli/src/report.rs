//! `crosstrail report`.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use crosstrail_lake::normalize::parse_timestamp;
use crosstrail_query::{LakeSession, OutputFormat, ReportParams, report, reports, write_dataframe};

use crate::args::ReportArgs;
use crate::sql::{lake_options, open, output_format, runtime};

pub fn run(a: ReportArgs) -> anyhow::Result<ExitCode> {
    if a.list {
        let mut out = std::io::stdout().lock();
        let width = reports().iter().map(|r| r.name.len()).max().unwrap_or(0);
        for r in reports() {
            writeln!(out, "{:width$}  {}", r.name, r.description)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let name = a.name.as_deref().unwrap_or_default();
    anyhow::ensure!(a.lake.lake.is_some(), "--lake DIR is required");
    let Some(report) = report(name) else {
        let names: Vec<&str> = reports().iter().map(|r| r.name).collect();
        anyhow::bail!(
            "no report named {name:?}; the reports are: {}",
            names.join(", ")
        );
    };
    anyhow::ensure!(a.inactive_days >= 0, "--inactive-days cannot be negative");
    let from_ms = a
        .from
        .as_deref()
        .map(|t| parse_time(t, false))
        .transpose()
        .context("--from")?;
    let to_ms =
        a.to.as_deref()
            .map(|t| parse_time(t, true))
            .transpose()
            .context("--to")?;
    if let (Some(f), Some(t)) = (from_ms, to_ms) {
        anyhow::ensure!(f < t, "--from must be before --to");
    }
    let params = ReportParams {
        vendor: a.vendor.clone(),
        role: a.role.clone(),
        session: a.session.clone(),
        access_key: a.access_key.clone(),
        source_ip: a.source_ip.clone(),
        from_ms,
        to_ms,
        inactive_days: a.inactive_days,
        all_roles: a.all_roles,
    };
    let format = output_format(&a.lake)?;
    let options = lake_options(&a.lake, params)?;
    runtime()?.block_on(async {
        let session = open(&a.lake, options).await?;
        // The documents themselves, not a table about them, when a program asks for JSON.
        // (ndjson keeps the diff rows, for programs that want those.)
        if report.name == "rightsize" && format == OutputFormat::Json {
            return policy_documents(&session).await;
        }
        let result = session
            .sql(report.sql)
            .await
            .with_context(|| format!("report {}", report.name))?;
        let mut out = BufWriter::new(std::io::stdout().lock());
        write_dataframe(format, result, &mut out).await?;
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `rightsize --format json`: per role, its suggested policy documents as JSON (not as text
/// inside a string), with the counts of `rightsize-policy`.
async fn policy_documents(session: &LakeSession) -> anyhow::Result<ExitCode> {
    let sql = report("rightsize-policy")
        .context("the rightsize-policy report is missing")?
        .sql;
    let result = session.sql(sql).await.context("report rightsize-policy")?;
    let mut json = Vec::new();
    write_dataframe(OutputFormat::Json, result, &mut json).await?;
    let mut rows: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(&json)?;
    for row in &mut rows {
        if let Some(serde_json::Value::String(text)) = row.get("policy_documents") {
            let documents: serde_json::Value = serde_json::from_str(text)?;
            row.insert("policy_documents".into(), documents);
        }
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, &rows)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `YYYY-MM-DD` (midnight UTC; the next midnight for an end, so the day is included) or RFC 3339.
fn parse_time(text: &str, end: bool) -> anyhow::Result<i64> {
    let t = text.trim();
    if t.len() == 10 {
        let ms = parse_timestamp(&format!("{t}T00:00:00Z"))
            .ok_or_else(|| anyhow::anyhow!("{text:?} is not a date (YYYY-MM-DD)"))?;
        return Ok(if end { ms + 86_400_000 } else { ms });
    }
    parse_timestamp(t).ok_or_else(|| {
        anyhow::anyhow!(
            "{text:?} is not a time (YYYY-MM-DD or RFC 3339, e.g. 2024-01-31T10:00:00Z)"
        )
    })
}
