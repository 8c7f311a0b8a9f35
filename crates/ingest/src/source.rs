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
    threads: usize,
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
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }

    /// Lists only what `filter` keeps; folders laid out as CloudTrail delivers are pruned
    /// whole (another account, region or day range is not walked).
    pub fn with_filter(mut self, filter: LayoutFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Walks folders with `threads` threads (default: the machine's cores). A trail copied to
    /// disk is one file per object, hundreds of thousands of them: one `stat` each, and the
    /// listing comes before any other work, so it is spread like the rest.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    fn list_sync(&self) -> Result<Listing, SourceError> {
        let io = |source| SourceError::Io {
            path: self.root.clone(),
            source,
        };
        let meta = std::fs::metadata(&self.root).map_err(io)?;
        let mut listing = Listing::default();
        if !meta.is_dir() {
            if let Some(object) = self.object(&self.root, &meta) {
                listing.objects.push(object);
            }
            return Ok(listing);
        }
        if self.skipped_dir(&self.root) {
            return Ok(listing);
        }
        // The root itself must be readable: otherwise nothing is, and that is an error.
        let entries = std::fs::read_dir(&self.root).map_err(io)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .thread_name(|i| format!("crosstrail-list-{i}"))
            .build()
            .map_err(|e| SourceError::Other(format!("cannot start listing threads: {e}")))?;
        let root = Ancestor::of(&self.root, &meta);
        pool.install(|| self.walk(&self.root, entries, &[root], &mut listing));
        Ok(listing)
    }

    /// Lists one folder's entries in name order, folders' contents in place (as a sorted
    /// recursive walk yields them); sibling entries are looked at in parallel.
    fn walk(
        &self,
        dir: &Path,
        entries: std::fs::ReadDir,
        ancestors: &[Ancestor],
        out: &mut Listing,
    ) {
        use rayon::prelude::*;
        let mut found = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => found.push(entry),
                Err(e) => out.errors.push(unlisted(dir, e)),
            }
        }
        found.sort_by_key(|e| e.file_name());
        let parts: Vec<Listing> = found
            .par_iter()
            .map(|entry| {
                let mut part = Listing::default();
                self.visit(entry, ancestors, &mut part);
                part
            })
            .collect();
        for part in parts {
            out.objects.extend(part.objects);
            out.errors.extend(part.errors);
        }
    }

    fn visit(&self, entry: &std::fs::DirEntry, ancestors: &[Ancestor], out: &mut Listing) {
        let path = entry.path();
        // Links are followed; anything else is looked at through the folder's handle, without
        // walking the whole path again.
        let meta = match entry.file_type() {
            Ok(t) if t.is_symlink() => std::fs::metadata(&path),
            Ok(_) => entry.metadata(),
            Err(e) => Err(e),
        };
        let meta = match meta {
            Ok(meta) => meta,
            Err(e) => {
                out.errors.push(unlisted(&path, e));
                return;
            }
        };
        if meta.is_file() {
            if let Some(object) = self.object(&path, &meta) {
                out.objects.push(object);
            }
            return;
        }
        if !meta.is_dir() {
            return;
        }
        if self.skipped_dir(&path) {
            return;
        }
        let here = Ancestor::of(&path, &meta);
        if let Some(a) = ancestors.iter().find(|a| a.same(&here)) {
            let loop_found = std::io::Error::other(format!(
                "a link back to its ancestor {} (a file system loop)",
                a.path.display()
            ));
            out.errors.push(unlisted(&path, loop_found));
            return;
        }
        match std::fs::read_dir(&path) {
            Ok(entries) => {
                let mut below = ancestors.to_vec();
                below.push(here);
                self.walk(&path, entries, &below, out);
            }
            Err(e) => out.errors.push(unlisted(&path, e)),
        }
    }

    /// Never read a lake's own files, wherever the lake is (it may be created inside the
    /// folder being ingested), nor folders the layout filter prunes.
    fn skipped_dir(&self, path: &Path) -> bool {
        self.exclude.as_deref() == Some(path)
            || path.file_name() == Some(std::ffi::OsStr::new(crosstrail_lake::INTERNAL_DIR))
            || path.join(crosstrail_lake::INTERNAL_DIR).is_dir()
            || !self.filter.admits_dir(&path.to_string_lossy())
    }

    /// The object a listed file is, unless the layout filter leaves it out.
    fn object(&self, path: &Path, meta: &std::fs::Metadata) -> Option<ObjectMeta> {
        let text = path.to_string_lossy();
        if !self.filter.admits(&text) {
            return None;
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Some(ObjectMeta {
            key: file_key(path),
            version: format!("{}-{mtime}", meta.len()),
            size: meta.len(),
            kind: layout::classify(&text),
            date: layout::parse_key(&text).date,
        })
    }
}

/// A listing error at `path`: where, and why.
fn unlisted(path: &Path, source: std::io::Error) -> (String, SourceError) {
    let at = path.display().to_string();
    let path = path.to_path_buf();
    (at, SourceError::Io { path, source })
}

/// A folder above the one being walked, to notice links that lead back up.
#[derive(Debug, Clone)]
struct Ancestor {
    path: PathBuf,
    id: Option<(u64, u64)>,
}

impl Ancestor {
    fn of(path: &Path, meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let id = {
            use std::os::unix::fs::MetadataExt;
            Some((meta.dev(), meta.ino()))
        };
        #[cfg(not(unix))]
        let id = {
            let _ = meta;
            None
        };
        Ancestor {
            path: path.to_path_buf(),
            id,
        }
    }

    fn same(&self, other: &Ancestor) -> bool {
        match (self.id, other.id) {
            (Some(a), Some(b)) => a == b,
            _ => self.path == other.path,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, b"{}").expect("write");
    }

    fn keys(source: &LocalSource, root: &Path) -> (Vec<String>, Vec<String>) {
        let listing = source.list_sync().expect("listing");
        let prefix = format!("file://{}/", root.display());
        let objects = listing
            .objects
            .iter()
            .map(|o| o.key.strip_prefix(&prefix).unwrap_or(&o.key).to_string())
            .collect();
        let errors = listing
            .errors
            .iter()
            .map(|(at, e)| format!("{at}: {}", e.reason()));
        (objects, errors.collect())
    }

    #[test]
    fn folders_are_listed_in_name_order_whatever_the_threads() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical");
        for f in ["b/2.json", "b/1.json", "a.json", "a/x/y.json", "c.json.gz"] {
            write(&root.join(f));
        }
        write(&root.join("lake/_crosstrail/manifest.json"));
        std::os::unix::fs::symlink(root.join("b"), root.join("link")).expect("symlink");
        let expected = [
            "a/x/y.json",
            "a.json",
            "b/1.json",
            "b/2.json",
            "c.json.gz",
            "link/1.json",
            "link/2.json",
        ];
        for threads in [1, 4] {
            let source = LocalSource::new(&root, None)
                .expect("source")
                .with_threads(threads);
            let (objects, errors) = keys(&source, &root);
            assert_eq!(objects, expected, "{threads} threads");
            assert!(errors.is_empty(), "{errors:?}");
        }
    }

    #[test]
    fn a_link_to_an_ancestor_is_an_error_and_the_rest_is_listed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical");
        write(&root.join("a/1.json"));
        write(&root.join("z.json"));
        std::os::unix::fs::symlink(&root, root.join("a/up")).expect("symlink");
        let (objects, errors) = keys(&LocalSource::new(&root, None).expect("source"), &root);
        assert_eq!(objects, ["a/1.json", "z.json"]);
        assert_eq!(
            errors,
            [format!(
                "{}: a link back to its ancestor {} (a file system loop)",
                root.join("a/up").display(),
                root.display()
            )]
        );
    }

    #[test]
    fn a_file_root_is_listed_alone_and_a_missing_root_is_an_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical");
        write(&root.join("one.json"));
        let source = LocalSource::new(&root.join("one.json"), None).expect("source");
        assert_eq!(source.list_sync().expect("listing").objects.len(), 1);
        std::fs::remove_file(root.join("one.json")).expect("rm");
        assert!(matches!(source.list_sync(), Err(SourceError::Io { .. })));
    }
}
