//! Parquet writer settings (the one place for them) and the staged writer of one ingest chunk.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::Error;
use crate::normalize::date_string;
use crate::schema::{Table, events, sessions};

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Memory that the row groups in progress of one ingest may take, all its writers together
/// (see [`ChunkWriter::with_concurrent_writers`]). A file's row group stays in memory until
/// [`ROW_GROUP_ROWS`] rows or the file's close, and a chunk spanning many days keeps many files
/// open: without a bound, memory would grow with the input. Small enough that a modest input
/// reaches it too (with 64 MiB, two workers reached it at 1 GB but not at 300 MB, and peak RSS
/// differed by 30%); the cost is more row groups, and files 1.6% larger.
pub const WRITE_MEMORY_BYTES: usize = 16 << 20;

/// Files one writer keeps open at once; opening another closes the least recently written.
/// Each open file holds, besides its row group in progress, a compression context per column
/// (about 6 MiB a file, outside [`WRITE_MEMORY_BYTES`]). Ingest writes day after day, so the
/// previous, current and next day of both trail tables are what stays in use (an object
/// delivered on one day holds records of the days around it).
pub const MAX_OPEN_FILES: usize = 6;

/// Columns whose values are nearly all distinct: a dictionary would be built and thrown away.
const HIGH_CARDINALITY: &[&str] = &[
    events::EVENT_ID,
    events::REQUEST_ID,
    events::SHARED_EVENT_ID,
    events::REQUEST_PARAMETERS,
    events::RESPONSE_ELEMENTS,
    events::ADDITIONAL_EVENT_DATA,
    events::SERVICE_EVENT_DETAILS,
    events::EXTRA,
    sessions::EXTERNAL_ID_FINGERPRINT,
];

/// JSON text: min/max statistics of it prune nothing and cost time and space.
const JSON_TEXT: &[&str] = &[
    events::REQUEST_PARAMETERS,
    events::RESPONSE_ELEMENTS,
    events::ADDITIONAL_EVENT_DATA,
    events::SERVICE_EVENT_DETAILS,
    events::EXTRA,
    events::USER_AGENT,
    events::ERROR_MESSAGE,
];

/// Writer properties of every lake file: zstd, dictionaries for low-cardinality strings
/// (event source, name, region, account ids), no statistics on JSON text.
pub fn writer_properties() -> WriterProperties {
    let level = ZstdLevel::try_new(1).unwrap_or_default();
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_statistics_truncate_length(Some(64))
        .set_created_by(format!("crosstrail version {}", env!("CARGO_PKG_VERSION")));
    for c in HIGH_CARDINALITY {
        b = b.set_column_dictionary_enabled(ColumnPath::from(*c), false);
    }
    for c in JSON_TEXT {
        b = b.set_column_statistics_enabled(ColumnPath::from(*c), EnabledStatistics::None);
    }
    // Incident lookups go by access key: let readers skip row groups without it.
    // Started at the size for a row group's rows, then folded to the values it got (parquet's
    // default starts every row group's filter at a million values: 1 MiB allocated and zeroed).
    let access_key = ColumnPath::from(events::ACCESS_KEY_ID);
    b = b.set_column_bloom_filter_enabled(access_key.clone(), true);
    b = b.set_column_bloom_filter_max_ndv(access_key, ROW_GROUP_ROWS as u64);
    b.build()
}

/// A Parquet file written in a transaction's staging area.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StagedFile {
    /// Path relative to the lake root, where the file lands once committed
    /// (`events/event_date=2024-01-31/part-<txn>-0003.parquet`).
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// Bytes of the file.
    pub bytes: u64,
}

struct Open {
    writer: ArrowWriter<BufWriter<File>>,
    rel: String,
    rows: u64,
    last_used: u64,
}

/// Writes the rows of one chunk of objects into staged Parquet files, one per table and day
/// (more when a file is closed early to bound memory).
pub struct ChunkWriter {
    staging: PathBuf,
    txn: String,
    props: WriterProperties,
    open: BTreeMap<(Table, String), Open>,
    done: Vec<StagedFile>,
    seq: u32,
    tick: u64,
    max_open: usize,
    /// Bound on the memory of the row groups in progress, as `ArrowWriter::memory_size`
    /// estimates it.
    max_buffered_bytes: usize,
}

impl ChunkWriter {
    /// A writer staging files under `staging` (the transaction's directory); file names carry
    /// `txn` so that they are unique across transactions.
    pub fn new(staging: PathBuf, txn: String) -> Self {
        ChunkWriter {
            staging,
            txn,
            props: writer_properties(),
            open: BTreeMap::new(),
            done: Vec::new(),
            seq: 0,
            tick: 0,
            max_open: MAX_OPEN_FILES,
            max_buffered_bytes: WRITE_MEMORY_BYTES,
        }
    }

    /// Tells the writer that it is one of `writers` writing at once (one per ingest worker):
    /// it then holds at most its share of [`WRITE_MEMORY_BYTES`] in row groups in progress.
    pub fn with_concurrent_writers(mut self, writers: usize) -> Self {
        self.max_buffered_bytes = WRITE_MEMORY_BYTES / writers.max(1);
        self
    }

    /// Appends the rows of a trail table for day `day` (days since 1970-01-01); returns the
    /// lake path of the file they went into.
    pub fn write(
        &mut self,
        table: Table,
        day: i64,
        batch: &RecordBatch,
    ) -> Result<Option<String>, Error> {
        self.write_partition(table, &date_string(day), batch)
    }

    /// Appends rows to the partition of `table` whose partition column has value `partition`
    /// (a day for trail tables, a snapshot id for IAM tables).
    pub fn write_partition(
        &mut self,
        table: Table,
        partition: &str,
        batch: &RecordBatch,
    ) -> Result<Option<String>, Error> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        self.tick += 1;
        let key = (table, partition.to_string());
        if !self.open.contains_key(&key) {
            if self.open.len() >= self.max_open {
                self.close_least_recent()?;
            }
            let open = self.create(table, partition)?;
            self.open.insert(key.clone(), open);
        }
        let tick = self.tick;
        let Some(open) = self.open.get_mut(&key) else {
            unreachable!("inserted above")
        };
        open.writer.write(batch).map_err(|source| Error::Parquet {
            path: open.rel.clone(),
            source,
        })?;
        open.rows += batch.num_rows() as u64;
        open.last_used = tick;
        let rel = open.rel.clone();
        // Bound memory: row groups in progress are held in memory until flushed. Their
        // memory, not their estimated encoded size (`in_progress_size`, about half of it),
        // is what the bound is about.
        let buffered: usize = self.open.values().map(|o| o.writer.memory_size()).sum();
        if buffered > self.max_buffered_bytes
            && let Some(o) = self
                .open
                .values_mut()
                .max_by_key(|o| o.writer.memory_size())
        {
            o.writer.flush().map_err(|source| Error::Parquet {
                path: o.rel.clone(),
                source,
            })?;
        }
        Ok(Some(rel))
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.done.iter().map(|f| f.rows).sum::<u64>()
            + self.open.values().map(|o| o.rows).sum::<u64>()
    }

    fn create(&mut self, table: Table, partition: &str) -> Result<Open, Error> {
        self.seq += 1;
        let rel = format!(
            "{}/{}={partition}/part-{}-{:04}.parquet",
            table.name(),
            table.partition_column(),
            self.txn,
            self.seq
        );
        let path = self.staging.join(&rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            table.file_schema(),
            Some(self.props.clone()),
        )
        .map_err(|source| Error::Parquet {
            path: rel.clone(),
            source,
        })?;
        Ok(Open {
            writer,
            rel,
            rows: 0,
            last_used: self.tick,
        })
    }

    fn close_least_recent(&mut self) -> Result<(), Error> {
        let Some(key) = self
            .open
            .iter()
            .min_by_key(|(_, o)| o.last_used)
            .map(|(k, _)| k.clone())
        else {
            return Ok(());
        };
        if let Some(open) = self.open.remove(&key) {
            let f = close(&self.staging, open)?;
            self.done.push(f);
        }
        Ok(())
    }

    /// Closes every file, makes them durable, and lists them.
    pub fn finish(mut self) -> Result<Vec<StagedFile>, Error> {
        let open = std::mem::take(&mut self.open);
        for (_, o) in open {
            let f = close(&self.staging, o)?;
            self.done.push(f);
        }
        self.done.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(self.done)
    }
}

fn close(staging: &Path, open: Open) -> Result<StagedFile, Error> {
    let rel = open.rel;
    let buf = open.writer.into_inner().map_err(|source| Error::Parquet {
        path: rel.clone(),
        source,
    })?;
    let path = staging.join(&rel);
    let file = buf
        .into_inner()
        .map_err(|e| Error::io(&path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&path, e))?;
    let bytes = file.metadata().map_err(|e| Error::io(&path, e))?.len();
    Ok(StagedFile {
        path: rel,
        rows: open.rows,
        bytes,
    })
}
