//! The crosstrail lake: one Arrow schema per table, CloudTrail record types, record -> Arrow
//! batches, Parquet writer settings, the partition layout and the ingest manifest.
//!
//! Pure data in, files out: no knowledge of where objects come from (that is
//! `crosstrail-ingest`) or how the tables are queried (`crosstrail-query`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use crosstrail_lake::{BatchBuilder, Lake, RecordLimits, Table, read_document};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let lake = Lake::open(std::path::Path::new("./lake"))?;
//! let mut builder = BatchBuilder::new(lake.fingerprints(), RecordLimits::default());
//! builder.start_object("file:///logs/one.json");
//! read_document(br#"{"Records":[]}"#, &mut builder)?;
//! let batches = builder.finish()?;
//! let txn = lake.begin()?;
//! let mut writer = txn.writer();
//! for table in Table::ALL {
//!     for (day, batch) in batches.table(table) {
//!         writer.write(table, *day, batch)?;
//!     }
//! }
//! let files = writer.finish()?;
//! lake.commit(txn, files, Vec::new())?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

pub mod batch;
pub mod document;
mod fast;
pub mod iam;
pub mod lake;
pub mod normalize;
pub mod record;
mod remote;
pub mod schema;
pub mod write;

pub use batch::{BatchBuilder, ObjectBatches, RecordLimits};
pub use document::{DocumentError, RecordSink, Shape, read_document};
pub use lake::{INTERNAL_DIR, Ingested, Lake, Manifest, ObjectEntry, ObjectStatus, Txn};
pub use normalize::Fingerprinter;
pub use schema::{EVENT_DATE, Table};
pub use write::{StagedFile, writer_properties};

/// Errors of the lake crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation failed.
    #[error("{}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Encoding Parquet failed.
    #[error("writing Parquet file {path}")]
    Parquet {
        /// The file, relative to the lake.
        path: String,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Building an Arrow batch failed.
    #[error("building an Arrow batch")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The directory holds other things than a lake.
    #[error("{} is not a crosstrail lake (it has files but no {INTERNAL_DIR}/ directory); use a new or empty directory", path.display())]
    NotALake {
        /// The directory.
        path: PathBuf,
    },
    /// Another writer holds the lock.
    #[error("another crosstrail process is writing to the lake {}", path.display())]
    Locked {
        /// The lake.
        path: PathBuf,
    },
    /// A manifest file cannot be read.
    #[error("manifest file {} is corrupt", path.display())]
    Manifest {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The fingerprint key is not 64 hex digits.
    #[error("fingerprint key {} is corrupt (expected 64 hex digits)", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
    },
    /// An object-store request failed (a lake in S3).
    #[error("{url}")]
    Store {
        /// The object or prefix.
        url: String,
        /// The cause.
        #[source]
        source: object_store::Error,
    },
    /// The fingerprint key of a lake in an object store is not the one this writer uses.
    #[error(
        "the fingerprint key of the lake {url} changed while this run was writing (another writer created the lake at the same moment, on a store without conditional writes); nothing more was committed: run the ingest again"
    )]
    KeyChanged {
        /// The lake.
        url: String,
    },
    /// A document could not be read as CloudTrail.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// A bug, not a user error.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
