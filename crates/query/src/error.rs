//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

use datafusion::error::DataFusionError;

/// Everything that can go wrong while opening a lake, running SQL or writing results.
///
/// User errors (a bad lake path, bad SQL, a refused statement) are kept apart from bugs
/// ([`Error::Internal`]); see [`Error::is_bug`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The lake directory cannot be opened (missing, not a directory, not readable, or a path
    /// that is not valid UTF-8).
    #[error("cannot open lake directory {}", path.display())]
    Lake {
        /// The path as given.
        path: PathBuf,
        /// Why it cannot be opened.
        #[source]
        source: io::Error,
    },

    /// A statement that would change the lake or the session was refused in read-only mode.
    #[error("{statement} is not allowed: crosstrail sql is read-only; pass --allow-writes")]
    ReadOnly {
        /// What was refused, in SQL words (`CREATE TABLE`, `INSERT`, `COPY`, `SET`, ...).
        statement: &'static str,
    },

    /// [`LakeSession::sql`](crate::LakeSession::sql) was given no statement or several.
    #[error("expected one SQL statement, found {found}")]
    StatementCount {
        /// How many statements the text holds.
        found: usize,
    },

    /// DataFusion rejected or failed a query: bad SQL, unknown table or column, a failure while
    /// reading the lake. The message is DataFusion's own text.
    //
    // No `#[source]`: DataFusion's message already spells out its whole cause chain, so a
    // printer walking `source()` would show every line twice. Use `Error::datafusion` instead.
    #[error("{}", datafusion_message(.0))]
    Query(Box<DataFusionError>),

    /// An output format name that is not one of `table`, `csv`, `json`, `ndjson`, `markdown`.
    #[error("unknown output format `{name}` (expected table, csv, json, ndjson or markdown)")]
    UnknownFormat {
        /// The name as given.
        name: String,
    },

    /// Query results could not be written (for example a closed pipe, see
    /// [`Error::is_broken_pipe`]).
    #[error("cannot write query results")]
    Output(#[source] io::Error),

    /// A bug in crosstrail or DataFusion, not something the user can fix.
    #[error("internal error (a bug, please report it): {}", datafusion_message(.0))]
    Internal(Box<DataFusionError>),
}

impl Error {
    /// True for errors that are bugs rather than bad input.
    pub fn is_bug(&self) -> bool {
        matches!(self, Error::Internal(_))
    }

    /// True when results could not be written because the reader went away (`| head`).
    /// Command-line tools exit quietly on it.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }

    /// The DataFusion error behind [`Error::Query`] and [`Error::Internal`].
    pub fn datafusion(&self) -> Option<&DataFusionError> {
        match self {
            Error::Query(e) | Error::Internal(e) => Some(e),
            _ => None,
        }
    }

    /// Marks a DataFusion error raised while setting the session up (our own tables and views
    /// failing to plan) as a bug, with what we were doing.
    pub(crate) fn setup(what: impl Into<String>, error: DataFusionError) -> Self {
        Error::Internal(Box::new(error.context(what)))
    }
}

impl From<DataFusionError> for Error {
    fn from(error: DataFusionError) -> Self {
        if matches!(error.find_root(), DataFusionError::Internal(_)) {
            Error::Internal(Box::new(error))
        } else {
            Error::Query(Box::new(error))
        }
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(error: arrow::error::ArrowError) -> Self {
        Error::from(DataFusionError::from(error))
    }
}

/// DataFusion's text for an error, except that SQL parser errors are shown with their
/// `Display` (DataFusion uses `Debug` for them: `ParserError("Expected: ...")`).
fn datafusion_message(error: &DataFusionError) -> String {
    match error {
        DataFusionError::SQL(parser_error, _) => parser_error.to_string(),
        DataFusionError::Diagnostic(_, inner) => datafusion_message(inner),
        DataFusionError::Shared(inner) => datafusion_message(inner),
        DataFusionError::Context(context, inner) => {
            format!("{context}: {}", datafusion_message(inner))
        }
        DataFusionError::Collection(errors) => match errors.first() {
            Some(first) => datafusion_message(first),
            None => error.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_errors_are_not_debug_formatted() {
        let parse_error =
            datafusion::sql::sqlparser::parser::ParserError::ParserError("Expected: x".into());
        let error = Error::from(DataFusionError::SQL(Box::new(parse_error), None));
        assert_eq!(error.to_string(), "sql parser error: Expected: x");
        assert!(!error.is_bug());
    }

    #[test]
    fn internal_errors_are_bugs() {
        let error = Error::from(DataFusionError::Internal("oops".into()));
        assert!(error.is_bug());
        assert!(error.to_string().starts_with("internal error (a bug"));
    }

    #[test]
    fn broken_pipe_is_recognised() {
        let error = Error::Output(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(error.is_broken_pipe());
        let source = std::error::Error::source(&error).and_then(|e| e.downcast_ref::<io::Error>());
        assert_eq!(source.map(io::Error::kind), Some(io::ErrorKind::BrokenPipe));
    }
}
