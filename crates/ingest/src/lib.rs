//! Where CloudTrail bytes come from and how they flow into the lake: sources (local folders,
//! and S3 buckets with [`S3Source`]), CloudTrail's key layout, the one decompression
//! function, and the tokio (I/O) -> worker pool (CPU) pipeline with back-pressure.
//!
//! ```no_run
//! use std::sync::Arc;
//! use crosstrail_ingest::{IngestOptions, LocalSource, Silent, Source, ingest};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let lake = crosstrail_lake::Lake::open("./lake".as_ref())?;
//! let source: Arc<dyn Source> = Arc::new(LocalSource::new("./AWSLogs".as_ref(), lake.local_root())?);
//! let summary = ingest(&lake, &[source], &IngestOptions::default(), &Silent)?;
//! eprintln!("{} records from {} objects", summary.records, summary.objects_ingested);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod decode;
mod http1;
pub mod iam;
pub mod layout;
pub mod pipeline;
pub mod s3;
mod s3_get;
mod s3_list;
pub mod source;
pub mod store;

pub use iam::{IamSummary, ingest_iam};
pub use layout::{LayoutFilter, ObjectKind};
pub use pipeline::{
    Failure, IngestError, IngestOptions, Observer, Shard, Silent, Summary, error_chain, ingest,
};
pub use s3::{S3Options, S3Source, is_s3_url};
pub use source::{
    ListStream, Listed, Listing, LocalSource, ObjectMeta, Source, SourceError, day_order,
};
pub use store::{StoreLake, s3_lake};
