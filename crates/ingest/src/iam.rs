//! Loading IAM snapshots (`aws iam get-account-authorization-details` output) into the lake.
//!
//! The files given in one run form one snapshot (pages of one or several accounts are merged,
//! so a page's managed policies resolve another page's roles). Each run that loads anything
//! writes a new `snapshot=<id>` partition; the `roles`, `role_trust` and `role_policies` views
//! show each account's newest one.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crosstrail_lake::iam::{SnapshotFile, iam_batches};
use crosstrail_lake::{Lake, ObjectEntry, ObjectStatus, Table};

use crate::pipeline::{Failure, IngestError, error_chain};

/// What loading IAM snapshots did.
#[derive(Debug, Clone, Default)]
pub struct IamSummary {
    /// Files given.
    pub files: u64,
    /// True when every file was already loaded at the same version (nothing written).
    pub unchanged: bool,
    /// The snapshot id written, if any.
    pub snapshot: Option<String>,
    /// Rows written per table.
    pub rows: Vec<(Table, u64)>,
    /// Documents that could not be read inside otherwise good files (permissions may be
    /// under-counted for the roles named).
    pub issues: Vec<String>,
    /// Files that could not be read at all.
    pub failures: Vec<Failure>,
}

fn file_key(path: &Path) -> Result<(String, String, u64), std::io::Error> {
    let canonical = path.canonicalize()?;
    let meta = std::fs::metadata(&canonical)?;
    let mtime = meta
        .modified()?
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Ok((
        format!("file://{}", canonical.display()),
        format!("{}-{mtime}", meta.len()),
        meta.len(),
    ))
}

/// Snapshot id of a run: its UTC start time, to the millisecond, sortable as text.
pub fn snapshot_id() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ").to_string()
}

/// Loads the IAM snapshot files `paths` into `lake` as one new snapshot.
pub fn ingest_iam(lake: &Lake, paths: &[PathBuf]) -> Result<IamSummary, IngestError> {
    let mut summary = IamSummary {
        files: paths.len() as u64,
        ..IamSummary::default()
    };
    let ingested = lake.ingested().map_err(IngestError::Lake)?;
    let mut parsed = Vec::new();
    let mut entries = Vec::new();
    let mut all_unchanged = true;
    for path in paths {
        let name = path.display().to_string();
        let read = file_key(path).and_then(|k| std::fs::read(path).map(|b| (k, b)));
        let ((key, version, size), bytes) = match read {
            Ok(x) => x,
            Err(e) => {
                summary.failures.push(Failure {
                    object: name,
                    reason: e.to_string(),
                });
                all_unchanged = false;
                continue;
            }
        };
        all_unchanged &= ingested.is_done(&key, &version);
        let mut entry = ObjectEntry {
            key,
            version,
            size,
            status: ObjectStatus::Ingested,
            records: 0,
            files: Vec::new(),
            error: None,
        };
        match SnapshotFile::parse(&name, &bytes) {
            Ok(file) => {
                for issue in &file.snapshot.issues {
                    summary
                        .issues
                        .push(format!("{name}: {}", error_chain(issue)));
                }
                entry.records = file.snapshot.roles.len() as u64;
                parsed.push(file);
            }
            Err(e) => {
                let reason = error_chain(&e);
                entry.status = ObjectStatus::Failed;
                entry.error = Some(reason.clone());
                summary.failures.push(Failure {
                    object: name,
                    reason,
                });
            }
        }
        entries.push(entry);
    }
    if all_unchanged {
        summary.unchanged = true;
        summary.issues.clear();
        return Ok(summary);
    }
    let snapshot = snapshot_id();
    let txn = lake.begin().map_err(IngestError::Lake)?;
    let mut writer = txn.writer();
    let mut files = Vec::new();
    if !parsed.is_empty() {
        let batches = iam_batches(parsed, &lake.fingerprints())
            .map_err(|e| IngestError::Internal(format!("building IAM batches: {e}")))?;
        for (table, batch) in batches {
            summary.rows.push((table, batch.num_rows() as u64));
            if let Some(path) = writer
                .write_partition(table, &snapshot, &batch)
                .map_err(IngestError::Lake)?
            {
                files.push(path);
            }
        }
    }
    for e in entries
        .iter_mut()
        .filter(|e| e.status == ObjectStatus::Ingested)
    {
        e.files = files.clone();
    }
    let staged = writer.finish().map_err(IngestError::Lake)?;
    lake.commit(txn, staged, entries)
        .map_err(IngestError::Lake)?;
    summary.snapshot = Some(snapshot);
    Ok(summary)
}
