//! Where objects come from. A [`Source`] lists objects and fetches their bytes; local folders
//! implement it here, S3 elsewhere. Fetching is async so that a network source can keep many
//! requests in flight; CPU work happens on the worker pool, never in a fetch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

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
/// without them and reports them). [`Listing::collect`] gathers a [`Source::list`] stream.
#[derive(Debug, Default)]
pub struct Listing {
    /// Objects found.
    pub objects: Vec<ObjectMeta>,
    /// Parts that could not be listed: (where, why).
    pub errors: Vec<(String, SourceError)>,
}

impl Listing {
    /// The whole of a listing stream (tests, small sources): all its parts in order.
    pub async fn collect(mut stream: ListStream<'_>) -> Result<Listing, SourceError> {
        use futures::StreamExt;
        let mut listing = Listing::default();
        while let Some(part) = stream.next().await {
            listing.add(part?);
        }
        Ok(listing)
    }

    fn add(&mut self, part: Listed) {
        match part {
            Listed::Objects(objects) => self.objects.extend(objects),
            Listed::Unlisted(at, e) => self.errors.push((at, e)),
        }
    }
}

/// One part of a listing (see [`Source::list`]).
#[derive(Debug)]
pub enum Listed {
    /// Objects sorted by key, all of one delivery day, or (after every day) of none.
    Objects(Vec<ObjectMeta>),
    /// A place that could not be listed, and why; the run goes on without it.
    Unlisted(String, SourceError),
}

impl Listed {
    /// A part of `objects`, sorted by key.
    pub(crate) fn sorted(mut objects: Vec<ObjectMeta>) -> Listed {
        objects.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Listed::Objects(objects)
    }
}

/// A listing as it goes: see [`Source::list`].
pub type ListStream<'a> = BoxStream<'a, Result<Listed, SourceError>>;

/// The order in which a listing hands out objects: by delivery day, then objects without one.
pub fn day_order(date: Option<layout::Day>) -> layout::Day {
    date.unwrap_or((u32::MAX, 0, 0))
}

/// A place objects are read from.
pub trait Source: Send + Sync {
    /// Human-readable description (a path, an `s3://` URL).
    fn describe(&self) -> String;
    /// Every object under the source, day by day as the listing goes, so that a run starts
    /// on the first day while later ones are still being listed, and holds a day's objects
    /// rather than the whole trail's: [`Listed::Objects`] parts in [`day_order`] (a day may
    /// come in several parts, never after a later day). An error item (the source itself
    /// cannot be read) comes first or not at all, and stops the run before any work; a part
    /// that cannot be listed is a [`Listed::Unlisted`].
    fn list(&self) -> ListStream<'_>;
    /// The bytes of one object, as stored.
    fn fetch<'a>(&'a self, object: &'a ObjectMeta) -> BoxFuture<'a, Result<Bytes, SourceError>>;
    /// Whether the worker that parses an object may read it too, with [`Source::read`], rather
    /// than have it fetched ahead: for files on local disk, where a read is a copy out of the
    /// page cache. When the workers take every core, the copy then lands in the cache of the
    /// core that parses it, and no fetching thread takes turns with them.
    fn reads_in_worker(&self) -> bool {
        false
    }
    /// Reads one object into `buf` (cleared first), blocking: see [`Source::reads_in_worker`].
    fn read(&self, object: &ObjectMeta, buf: &mut Vec<u8>) -> Result<(), SourceError> {
        let _ = buf;
        Err(SourceError::Other(format!(
            "{}: this source is fetched, not read in place",
            object.key
        )))
    }
    /// The shortest round trip seen while listing, when the source has round trips: how long
    /// a fetch will take at least, whatever the CPU does.
    fn round_trip(&self) -> Option<std::time::Duration> {
        None
    }
    /// Takes back what [`Source::fetch`] returned once it is processed, so that its memory
    /// can serve a later fetch. By default it is dropped.
    fn give_back(&self, body: Bytes) {
        drop(body);
    }
}

/// Files and folders on local disk (folders walked recursively, links followed).
#[derive(Debug, Clone)]
pub struct LocalSource {
    root: PathBuf,
    exclude: Option<PathBuf>,
    filter: LayoutFilter,
    threads: usize,
    /// Objects of a day held at most before they are handed out (see [`MAX_LISTED_AHEAD`]).
    max_held: usize,
}

/// Objects a listing holds at most (about 400 bytes each) before it hands out what it has of
/// the day being listed: one day of a very wide organization trail (thousands of accounts and
/// regions, millions of objects) comes in parts rather than whole.
pub(crate) const MAX_LISTED_AHEAD: usize = 100_000;

/// Day folders read at once, at most, between checks of [`MAX_LISTED_AHEAD`]: CloudTrail
/// delivers a few hundred objects a day to each account and region.
const DAY_FOLDERS_AT_ONCE: usize = 64;

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
            max_held: MAX_LISTED_AHEAD,
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

    /// The whole listing at once (tests).
    #[cfg(test)]
    fn list_sync(&self) -> Result<Listing, SourceError> {
        let mut listing = Listing::default();
        let mut failed = None;
        self.list_days(&mut |part| {
            match part {
                Ok(part) => listing.add(part),
                Err(e) => failed = Some(e),
            }
            true
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(listing),
        }
    }

    /// Lists day by day (see [`Source::list`]), handing each part to `emit` until it returns
    /// false. The walk first finds the folders, without reading the day folders of the key
    /// layout (`.../CloudTrail/<region>/YYYY/MM/DD/`); then it reads those a day at a time,
    /// all accounts and regions of one day together. What is held is the day folders' paths
    /// (one per day, account and region: 288 times fewer than the objects CloudTrail
    /// delivers) and one day's objects, not the trail's.
    fn list_days(&self, emit: &mut dyn FnMut(Result<Listed, SourceError>) -> bool) {
        use rayon::prelude::*;
        let io = |source| SourceError::Io {
            path: self.root.clone(),
            source,
        };
        let meta = match std::fs::metadata(&self.root) {
            Ok(meta) => meta,
            Err(e) => {
                emit(Err(io(e)));
                return;
            }
        };
        if !meta.is_dir() {
            if let Some(object) = self.object(&self.root, &meta) {
                emit(Ok(Listed::Objects(vec![object])));
            }
            return;
        }
        if self.skipped_dir(&self.root) {
            return;
        }
        // The root itself must be readable: otherwise nothing is, and that is an error.
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) => {
                emit(Err(io(e)));
                return;
            }
        };
        let pool = match rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .thread_name(|i| format!("crosstrail-list-{i}"))
            .build()
        {
            Ok(pool) => pool,
            Err(e) => {
                emit(Err(SourceError::Other(format!(
                    "cannot start listing threads: {e}"
                ))));
                return;
            }
        };
        let root = Arc::new(Chain {
            here: Ancestor::of(&self.root, &meta),
            up: None,
        });
        let mut found = Found::default();
        pool.install(|| self.walk(&self.root, entries, &root, &mut found, true));
        let Found {
            objects,
            errors,
            days,
        } = found;
        for (at, e) in errors {
            if !emit(Ok(Listed::Unlisted(at, e))) {
                return;
            }
        }
        let mut dated: BTreeMap<layout::Day, Vec<ObjectMeta>> = BTreeMap::new();
        let mut undated = Vec::new();
        for object in objects {
            match object.date {
                Some(day) => dated.entry(day).or_default().push(object),
                None => undated.push(object),
            }
        }
        let mut folders: BTreeMap<layout::Day, Vec<(PathBuf, Arc<Chain>)>> = BTreeMap::new();
        for (day, path, chain) in days {
            folders.entry(day).or_default().push((path, chain));
        }
        let all_days: BTreeSet<layout::Day> = dated.keys().chain(folders.keys()).copied().collect();
        let parts = all_days
            .into_iter()
            .map(|day| (dated.remove(&day).unwrap_or_default(), folders.remove(&day)))
            .chain(std::iter::once((undated, None)));
        // A day's folders are read a few at a time; past `max_held` objects, what is read of
        // the day goes out, the rest of it in later parts.
        let at_once = DAY_FOLDERS_AT_ONCE.min(self.max_held).max(1);
        let part = |objects: &mut Vec<ObjectMeta>| Ok(Listed::sorted(std::mem::take(objects)));
        for (mut objects, folders) in parts {
            for folders in folders.iter().flat_map(|f| f.chunks(at_once)) {
                let read: Vec<Found> = pool.install(|| {
                    folders
                        .par_iter()
                        .map(|(path, chain)| {
                            let mut found = Found::default();
                            self.read_folder(path, chain, &mut found, false);
                            found
                        })
                        .collect()
                });
                for found in read {
                    objects.extend(found.objects);
                    for (at, e) in found.errors {
                        if !emit(Ok(Listed::Unlisted(at, e))) {
                            return;
                        }
                    }
                }
                if objects.len() >= self.max_held && !emit(part(&mut objects)) {
                    return;
                }
            }
            if !objects.is_empty() && !emit(part(&mut objects)) {
                return;
            }
        }
    }

    /// Lists one folder's entries, sibling entries in parallel; with `defer`, day folders are
    /// noted in `out.days` instead of read.
    fn walk(
        &self,
        dir: &Path,
        entries: std::fs::ReadDir,
        chain: &Arc<Chain>,
        out: &mut Found,
        defer: bool,
    ) {
        use rayon::prelude::*;
        let mut found = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => found.push(entry),
                Err(e) => out.errors.push(unlisted(dir, e)),
            }
        }
        // Name order: the same errors in the same order whatever the file system. Each name is
        // copied out once: `sort_by_key` would copy two per comparison (a day folder holds a
        // few hundred files, so thousands of copies).
        found.sort_by_cached_key(|e| e.file_name());
        let parts: Vec<Found> = found
            .par_iter()
            .map(|entry| {
                let mut part = Found::default();
                self.visit(entry, chain, &mut part, defer);
                part
            })
            .collect();
        for part in parts {
            out.objects.extend(part.objects);
            out.errors.extend(part.errors);
            out.days.extend(part.days);
        }
    }

    fn visit(&self, entry: &std::fs::DirEntry, chain: &Arc<Chain>, out: &mut Found, defer: bool) {
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
        if let Some(a) = chain.find(&here) {
            let loop_found = std::io::Error::other(format!(
                "a link back to its ancestor {} (a file system loop)",
                a.path.display()
            ));
            out.errors.push(unlisted(&path, loop_found));
            return;
        }
        let below = Arc::new(Chain {
            here,
            up: Some(chain.clone()),
        });
        if defer && let Some(day) = layout::parse_key(&path.to_string_lossy()).date {
            out.days.push((day, path, below));
            return;
        }
        self.read_folder(&path, &below, out, defer);
    }

    /// Reads the folder at the end of `chain` (see [`LocalSource::walk`]).
    fn read_folder(&self, path: &Path, chain: &Arc<Chain>, out: &mut Found, defer: bool) {
        match std::fs::read_dir(path) {
            Ok(entries) => self.walk(path, entries, chain, out, defer),
            Err(e) => out.errors.push(unlisted(path, e)),
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
        let info = layout::parse_key(&text);
        if !self.filter.admits_info(&info) {
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
            date: info.date,
        })
    }
}

/// A listing error at `path`: where, and why.
fn unlisted(path: &Path, source: std::io::Error) -> (String, SourceError) {
    let at = path.display().to_string();
    let path = path.to_path_buf();
    (at, SourceError::Io { path, source })
}

/// What a walk found.
#[derive(Default)]
struct Found {
    objects: Vec<ObjectMeta>,
    errors: Vec<(String, SourceError)>,
    /// Day folders left to read: their day, path and chain of folders.
    days: Vec<(layout::Day, PathBuf, Arc<Chain>)>,
}

/// A folder and the folders above it, to notice links that lead back up; shared between
/// siblings, so a noted day folder costs one link.
struct Chain {
    here: Ancestor,
    up: Option<Arc<Chain>>,
}

impl Chain {
    /// The folder of this chain that is `other`, if any.
    fn find(&self, other: &Ancestor) -> Option<&Ancestor> {
        let mut at = Some(self);
        while let Some(chain) = at {
            if chain.here.same(other) {
                return Some(&chain.here);
            }
            at = chain.up.as_deref();
        }
        None
    }
}

/// A folder above the one being walked.
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

    fn list(&self) -> ListStream<'_> {
        use futures::StreamExt;
        let this = self.clone();
        // Two parts ahead at most: the listing waits while the run is behind.
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let started = std::thread::Builder::new()
            .name("crosstrail-list".into())
            .spawn(move || this.list_days(&mut |part| tx.blocking_send(part).is_ok()));
        if let Err(e) = started {
            let e = SourceError::Other(format!("cannot start the listing thread: {e}"));
            return futures::stream::once(async move { Err(e) }).boxed();
        }
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|p| (p, rx)) })
            .boxed()
    }

    fn fetch<'a>(&'a self, object: &'a ObjectMeta) -> BoxFuture<'a, Result<Bytes, SourceError>> {
        // A blocking read on the fetch runtime's own thread: handing each object to tokio's
        // blocking pool (what `tokio::fs::read` does) measured slower than the read itself,
        // and the worker pool, not this thread, is the bottleneck of a local ingest.
        Box::pin(async move {
            let mut bytes = Vec::new();
            self.read(object, &mut bytes).map(|()| Bytes::from(bytes))
        })
    }

    fn reads_in_worker(&self) -> bool {
        true
    }

    fn read(&self, object: &ObjectMeta, buf: &mut Vec<u8>) -> Result<(), SourceError> {
        use std::io::Read;
        let path = key_path(&object.key);
        buf.clear();
        // The listed size, plus one byte to see the end without growing the buffer.
        buf.reserve(usize::try_from(object.size).unwrap_or(0).saturating_add(1));
        // Read through a plain `Read`: `File`'s own `read_to_end` first asks the file's size
        // and position (two more system calls per object) to size a buffer that is sized
        // already. A file that grew since it was listed is still read to its end.
        struct Plain(std::fs::File);
        impl Read for Plain {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.0.read(buf)
            }
        }
        std::fs::File::open(&path)
            .and_then(|f| Plain(f).read_to_end(buf))
            .map(drop)
            .map_err(|source| SourceError::Io { path, source })
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
    fn objects_are_listed_in_key_order_whatever_the_threads() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical");
        for f in ["b/2.json", "b/1.json", "a.json", "a/x/y.json", "c.json.gz"] {
            write(&root.join(f));
        }
        write(&root.join("lake/_crosstrail/manifest.json"));
        std::os::unix::fs::symlink(root.join("b"), root.join("link")).expect("symlink");
        let expected = [
            "a.json",
            "a/x/y.json",
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
    fn a_trail_is_listed_day_by_day_across_accounts_and_regions() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical");
        for f in [
            "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/02/b.json.gz",
            "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/02/a.json.gz",
            "AWSLogs/111111111111/CloudTrail/us-west-2/2024/03/01/c.json.gz",
            "AWSLogs/222222222222/CloudTrail/us-east-1/2024/02/28/d.json.gz",
            "AWSLogs/222222222222/CloudTrail/us-east-1/2024/03/01/e.json.gz",
            "AWSLogs/222222222222/CloudTrail/us-east-1/2024/03/01/deeper/f.json.gz",
            "exports/notes.json",
        ] {
            write(&root.join(f));
        }
        let source = LocalSource::new(&root, None).expect("source");
        let mut parts = Vec::new();
        source.list_days(&mut |part| {
            match part.expect("listing") {
                Listed::Objects(objects) => parts.push(
                    objects
                        .iter()
                        .map(|o| o.key.rsplit('/').next().unwrap_or_default().to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                Listed::Unlisted(at, e) => panic!("{at}: {e}"),
            }
            true
        });
        assert_eq!(
            parts,
            [
                "d.json.gz",
                "c.json.gz f.json.gz e.json.gz",
                "a.json.gz b.json.gz",
                "notes.json"
            ]
        );
        // A receiver that stops taking parts ends the listing.
        let mut taken = 0;
        source.list_days(&mut |_| {
            taken += 1;
            false
        });
        assert_eq!(taken, 1);
    }

    #[test]
    fn a_wide_day_on_disk_comes_in_parts_of_a_bounded_size() {
        // 2 days of 5 accounts x 2 regions, 3 objects each: a day is 30 objects, more than the
        // 7 the listing may hold; folders are then read 7 at a time.
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical");
        let mut all = Vec::new();
        for account in 1..=5 {
            for region in ["eu-west-1", "us-east-1"] {
                for day in 1..=2 {
                    for i in 0..3 {
                        let path = format!(
                            "AWSLogs/11111111111{account}/CloudTrail/{region}/2024/03/0{day}/{i}.json.gz"
                        );
                        write(&root.join(&path));
                        all.push(file_key(&root.join(&path)));
                    }
                }
            }
        }
        all.sort();
        let held = 7;
        let mut source = LocalSource::new(&root, None).expect("source");
        source.max_held = held;
        let mut parts: Vec<Vec<ObjectMeta>> = Vec::new();
        source.list_days(&mut |part| {
            match part.expect("listing") {
                Listed::Objects(objects) => parts.push(objects),
                Listed::Unlisted(at, e) => panic!("{at}: {e}"),
            }
            true
        });
        // Every object once, each part of one day and sorted, the days in order.
        let mut listed: Vec<String> = parts.iter().flatten().map(|o| o.key.clone()).collect();
        listed.sort();
        assert_eq!(listed, all);
        let days: Vec<_> = parts.iter().map(|p| p[0].date).collect();
        assert!(days.is_sorted(), "{days:?}");
        for part in &parts {
            assert!(
                part.iter().all(|o| o.date == part[0].date),
                "one day a part"
            );
            assert!(part.is_sorted_by(|a, b| a.key < b.key), "sorted");
            // What was held, and one more round of folders read (3 objects each).
            assert!(
                part.len() < held + held * 3,
                "{} objects in a part",
                part.len()
            );
        }
        assert!(parts.len() >= 4, "{} parts", parts.len());
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
