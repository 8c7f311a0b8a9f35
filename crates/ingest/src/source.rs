//! Where objects come from. A [`Source`] lists objects and fetches their bytes; local folders
//! implement it here, S3 elsewhere. Fetching is async so that a network source can keep many
//! requests in flight; CPU work happens on the worker pool, never in a fetch.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::layout::{self, LayoutFilter, ObjectKind};

/// One object a source can fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Stable identity across runs: `file:///abs/path` or `s3://bucket/key`.
    pub key: String,
    /// Version of the content (size + mtime, or ETag): a new version is ingested again.
    pub version: String,
    /// Stored size in bytes.
    pub size: u64,
    /// What the path says it is.
    pub kind: ObjectKind,
    /// Delivery day from the key layout, when laid out as CloudTrail delivers.
    pub date: Option<(u32, u32, u32)>,
}

/// A source failed to list or fetch.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading a local file or directory failed.
    #[error("{}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Walking a directory failed.
    #[error("listing {}", path.display())]
    Walk {
        /// The root being walked.
        path: PathBuf,
        /// The cause.
        #[source]
        source: walkdir::Error,
    },
    /// An S3 request failed (after retries, when the failure was transient).
    #[error("{url}: {reason}")]
    S3 {
        /// `s3://bucket/key` or the prefix being listed.
        url: String,
        /// Why, with what was tried.
        reason: String,
    },
    /// Another source's error, described.
    #[error("{0}")]
    Other(String),
}

/// What a source listed: its objects, and the places it could not list (the run goes on
/// without them and reports them).
#[derive(Debug, Default)]
pub struct Listing {
    /// Objects found.
    pub objects: Vec<ObjectMeta>,
    /// Parts that could not be listed: (where, why).
    pub errors: Vec<(String, SourceError)>,
}

/// A place objects are read from.
pub trait Source: Send + Sync {
    /// Human-readable description (a path, an `s3://` URL).
    fn describe(&self) -> String;
    /// Every object under the source, in any order. An error here (the source itself cannot
    /// be read) stops the run before any work; a part that cannot be listed goes in
    /// [`Listing::errors`].
    fn list(&self) -> BoxFuture<'_, Result<Listing, SourceError>>;
    /// The bytes of one object, as stored.
    fn fetch<'a>(&'a self, object: &'a ObjectMeta) -> BoxFuture<'a, Result<Bytes, SourceError>>;
    /// The shortest round trip seen while listing, when the source has round trips: how long
    /// a fetch will take at least, whatever the CPU does.
    fn round_trip(&self) -> Option<std::time::Duration> {
        None
    }
}

/// Files and folders on local disk (folders walked recursively, links followed).
#[derive(Debug, Clone)]
pub struct LocalSource {
    root: PathBuf,
    exclude: Option<PathBuf>,
    filter: LayoutFilter,
}

impl LocalSource {
    /// A source for `path` (a file or a folder). Paths under `exclude` (the lake itself, when
    /// it lives inside the folder) are never listed.
    pub fn new(path: &Path, exclude: Option<&Path>) -> Result<Self, SourceError> {
        let root = path.canonicalize().map_err(|source| SourceError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let exclude = exclude.and_then(|p| p.canonicalize().ok());
        Ok(LocalSource {
            root,
            exclude,
            filter: LayoutFilter::default(),
        })
    }

    /// Lists only what `filter` keeps; folders laid out as CloudTrail delivers are pruned
    /// whole (another account, region or day range is not walked).
    pub fn with_filter(mut self, filter: LayoutFilter) -> Self {
        self.filter = filter;
        self
    }

    fn list_sync(&self) -> Result<Listing, SourceError> {
        let mut listing = Listing::default();
        let walker = walkdir::WalkDir::new(&self.root)
            .follow_links(true)
            .sort_by_file_name();
        let mut it = walker.into_iter();
        while let Some(entry) = it.next() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if e.depth() == 0 => {
                    return Err(SourceError::Walk {
                        path: self.root.clone(),
                        source: e,
                    });
                }
                Err(e) => {
                    let at = e.path().unwrap_or(&self.root).display().to_string();
                    listing.errors.push((
                        at,
                        SourceError::Walk {
                            path: self.root.clone(),
                            source: e,
                        },
                    ));
                    continue;
                }
            };
            if entry.file_type().is_dir() {
                // Never read a lake's own files, wherever the lake is (it may be created inside
                // the folder being ingested).
                let skip = self.exclude.as_deref() == Some(entry.path())
                    || entry.file_name() == crosstrail_lake::INTERNAL_DIR
                    || entry.path().join(crosstrail_lake::INTERNAL_DIR).is_dir()
                    || !self.filter.admits_dir(&entry.path().to_string_lossy());
                if skip {
                    it.skip_current_dir();
                }
                continue;
            }
            if !entry.file_type().is_file() {
                continue;
            }
            let path = entry.path();
            let text = path.to_string_lossy();
            if !self.filter.admits(&text) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) => {
                    listing.errors.push((
                        path.display().to_string(),
                        SourceError::Walk {
                            path: path.to_path_buf(),
                            source: e,
                        },
                    ));
                    continue;
                }
            };
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            listing.objects.push(ObjectMeta {
                key: file_key(path),
                version: format!("{}-{mtime}", meta.len()),
                size: meta.len(),
                kind: layout::classify(&text),
                date: layout::parse_key(&text).date,
            });
        }
        Ok(listing)
    }
}

/// Prefix of keys of local files whose name is not valid UTF-8 (the path's bytes,
/// percent-encoded).
const RAW_PATH: &str = "file+bytes://";

/// The manifest key of a local file: `file://<path>`, or `file+bytes://<percent-encoded
/// bytes>` for a name that is not UTF-8 (so that it can be opened again from its key).
pub fn file_key(path: &Path) -> String {
    match path.to_str() {
        Some(text) => format!("file://{text}"),
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::ffi::OsStrExt;
                let bytes = path.as_os_str().as_bytes();
                let encoded: String = bytes
                    .iter()
                    .map(|&b| {
                        if b.is_ascii_graphic() && b != b'%' || b == b' ' {
                            char::from(b).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect();
                format!("{RAW_PATH}{encoded}")
            }
            #[cfg(not(unix))]
            format!("file://{}", path.to_string_lossy())
        }
    }
}

/// The path behind a key made by [`file_key`].
pub fn key_path(key: &str) -> PathBuf {
    #[cfg(unix)]
    if let Some(encoded) = key.strip_prefix(RAW_PATH) {
        use std::os::unix::ffi::OsStringExt;
        let mut bytes = Vec::with_capacity(encoded.len());
        let mut it = encoded.bytes();
        while let Some(b) = it.next() {
            if b == b'%' {
                let hex = [it.next().unwrap_or(b'0'), it.next().unwrap_or(b'0')];
                let value = std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                bytes.push(value.unwrap_or(b'?'));
            } else {
                bytes.push(b);
            }
        }
        return PathBuf::from(std::ffi::OsString::from_vec(bytes));
    }
    PathBuf::from(key.strip_prefix("file://").unwrap_or(key))
}

impl SourceError {
    /// The reason alone, for messages that already name the object.
    pub fn reason(&self) -> String {
        match self {
            SourceError::Io { source, .. } => source.to_string(),
            SourceError::Walk { source, .. } => match source.io_error() {
                Some(io) => io.to_string(),
                None => source.to_string(),
            },
            SourceError::S3 { reason, .. } => reason.clone(),
            SourceError::Other(s) => s.clone(),
        }
    }
}

impl Source for LocalSource {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn list(&self) -> BoxFuture<'_, Result<Listing, SourceError>> {
        let this = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.list_sync())
                .await
                .map_err(|e| SourceError::Other(format!("listing task failed: {e}")))?
        })
    }

    fn fetch<'a>(&'a self, object: &'a ObjectMeta) -> BoxFuture<'a, Result<Bytes, SourceError>> {
        // A blocking read on the fetch runtime's own thread: handing each object to tokio's
        // blocking pool (what `tokio::fs::read` does) measured slower than the read itself,
        // and the worker pool, not this thread, is the bottleneck of a local ingest.
        Box::pin(async move {
            let path = key_path(&object.key);
            std::fs::read(&path)
                .map(Bytes::from)
                .map_err(|source| SourceError::Io { path, source })
        })
    }
}
