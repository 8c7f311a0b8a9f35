//! SQL over a crosstrail lake, with Apache DataFusion.
//!
//! This crate owns:
//! - [`LakeSession`]: a DataFusion session over a lake directory, with the tables
//!   `events_all` / `sessions_all` (every row, Hive-partitioned by `event_date`), the views
//!   `events` / `sessions` (each record once) and `session_actions` (each assumed-role session
//!   with the actions done with its temporary key), and the table `own_accounts`;
//! - read-only SQL by default: DDL, DML, `COPY` and `SET`-like statements fail with
//!   [`Error::ReadOnly`] unless [`LakeOptions::allow_writes`] is set;
//! - the report registry ([`reports`], [`report`]): SQL files from `queries/`, embedded by name;
//! - output formats ([`OutputFormat`], [`ResultWriter`]): table, CSV, JSON, NDJSON, Markdown.
//!
//! ```no_run
//! use crosstrail_query::{LakeOptions, LakeSession, OutputFormat, write_dataframe};
//!
//! # async fn demo() -> Result<(), crosstrail_query::Error> {
//! let session = LakeSession::open("/data/lake", LakeOptions::default()).await?;
//! let result = session
//!     .sql("SELECT role_arn, count(*) AS actions FROM session_actions GROUP BY role_arn")
//!     .await?;
//! write_dataframe(OutputFormat::Table, result, std::io::stdout().lock()).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod error;
mod iam;
mod inputs;
mod output;
mod queries;
mod session;

pub use error::Error;
pub use iam::ScpLevel;
pub use output::{OutputFormat, ResultWriter, write_batches, write_dataframe, write_stream};
pub use queries::{Report, parse_header, report, reports};
pub use session::{LakeOptions, LakeSession, OWN_ACCOUNTS, ReportParams, Statements};
