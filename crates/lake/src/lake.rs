//! A lake on local disk: layout, the writer lock, the fingerprint key, transactions and the
//! ingest manifest.
//!
//! ```text
//! <lake>/events/event_date=YYYY-MM-DD/part-<txn>-NNNN.parquet
//! <lake>/sessions/event_date=YYYY-MM-DD/part-<txn>-NNNN.parquet
//! <lake>/_crosstrail/lake.json              format marker
//! <lake>/_crosstrail/fingerprint.key        HMAC key for External-ID fingerprints (0600)
//! <lake>/_crosstrail/lock                   held by the one writer
//! <lake>/_crosstrail/staging/<txn>/...      files of transactions in flight
//! <lake>/_crosstrail/manifest/<seq>-<txn>.json   one commit record per transaction
//! <lake>/_crosstrail/manifest/<seq>-~checkpoint-<fold>-NNNNNN.json
//!                                           the records folded, latest entry per object, in parts
//! ```
//!
//! Commit protocol (crash-safe at every step, `kill -9` included):
//! 1. a transaction writes its Parquet files under `staging/<txn>/` and fsyncs them;
//! 2. the commit record (objects, their status and files) is written to a temporary file,
//!    fsynced and renamed into `manifest/`: this rename is the commit point;
//! 3. the staged files are renamed into the table directories, then `staging/<txn>` is removed.
//!
//! On open, the writer rolls every staged transaction forward (commit record present) or back
//! (absent). Readers never see staged files: `_`-prefixed paths are ignored by DataFusion,
//! Athena, Trino, Spark and DuckDB alike.
//!
//! A lake can also live in an object store ([`Lake::open_store`], e.g. `s3://bucket/prefix`):
//! the same layout and commit protocol, with copies for renames (see the `remote` module).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::normalize::Fingerprinter;
use crate::remote::Remote;
use crate::write::{ChunkWriter, StagedFile};

/// Directory of crosstrail's own files inside a lake.
pub const INTERNAL_DIR: &str = "_crosstrail";
const FORMAT_VERSION: u32 = 1;
/// Commit records above this count are folded into one checkpoint when a writer opens the lake.
const CHECKPOINT_AFTER: usize = 256;
/// Entries in one part of a checkpoint (about 400 bytes each as JSON, more when parsed).
const CHECKPOINT_PART_OBJECTS: usize = 50_000;
/// Commit records fetched at once from an object store.
const RECORDS_AT_ONCE: usize = 16;

/// What happened to one source object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectStatus {
    /// All its records are in the lake.
    Ingested,
    /// Could not be read; retried on the next run.
    Failed,
}

/// The manifest entry of one source object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    /// Stable identity: `file:///abs/path` or `s3://bucket/key`.
    pub key: String,
    /// Version of the content: size and modification time, or the S3 ETag.
    pub version: String,
    /// Bytes as stored (compressed).
    pub size: u64,
    /// Outcome.
    pub status: ObjectStatus,
    /// Records read (0 when failed).
    pub records: u64,
    /// Lake files holding its rows, relative to the lake root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CommitRecord {
    txn: String,
    committed_at_ns: u128,
    #[serde(default)]
    files: Vec<StagedFile>,
    objects: Vec<ObjectEntry>,
}

/// Every object the lake knows of, latest entry per key.
#[derive(Debug, Default, Clone)]
pub struct Manifest {
    /// Entries by object key.
    pub objects: HashMap<String, ObjectEntry>,
}

impl Manifest {
    /// True when `key` at `version` is already in the lake: nothing to do.
    pub fn is_done(&self, key: &str, version: &str) -> bool {
        self.objects
            .get(key)
            .is_some_and(|e| e.status == ObjectStatus::Ingested && e.version == version)
    }
}

/// What a run needs of the manifest to skip the objects already in the lake: for each object
/// whose latest entry says ingested, the version it was ingested at. Keys and versions are
/// kept as hashes, 24 bytes an object instead of its whole entry (key, version, files: about
/// 400 bytes), and the commit records are read entry by entry rather than held whole, so a
/// lake of millions of objects is checked in tens of MiB.
#[derive(Debug, Default)]
pub struct Ingested {
    versions: HashMap<[u64; 2], u64>,
}

impl Ingested {
    /// True when `key` at `version` is already in the lake: nothing to do.
    pub fn is_done(&self, key: &str, version: &str) -> bool {
        self.versions.get(&key_hash(key)) == Some(&hash(2, version))
    }

    /// Objects whose latest entry says ingested.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// True when no object is ingested.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    fn apply(&mut self, entry: EntryHead) {
        let key = key_hash(&entry.key);
        match entry.status {
            ObjectStatus::Ingested => {
                self.versions.insert(key, hash(2, &entry.version));
            }
            ObjectStatus::Failed => {
                self.versions.remove(&key);
            }
        }
    }

    /// Reads one commit record into `self`, entry by entry.
    fn read(&mut self, record: &[u8]) -> Result<(), RecordError> {
        visit_entries(record, |entry| self.apply(entry))?;
        Ok(())
    }
}

/// Hands each entry of a commit record to `each`, in order, without holding the record;
/// returns the record's commit time.
fn visit_entries(
    record: &[u8],
    mut each: impl FnMut(EntryHead),
) -> Result<u128, serde_json::Error> {
    let mut committed_at_ns = 0;
    serde::Deserializer::deserialize_map(
        &mut serde_json::Deserializer::from_slice(record),
        RecordObjects {
            each: &mut each,
            committed_at_ns: &mut committed_at_ns,
        },
    )?;
    Ok(committed_at_ns)
}

/// 128 bits of the key: with 10^8 objects, a collision has a chance below 10^-22.
fn key_hash(key: &str) -> [u64; 2] {
    [hash(0, key), hash(1, key)]
}

/// SipHash of `text` in domain `domain` (stable within a process, which is all it needs).
fn hash(domain: u8, text: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    h.write_u8(domain);
    h.write(text.as_bytes());
    h.finish()
}

/// The part of an entry [`Ingested`] reads; the rest is skipped by the parser.
#[derive(Deserialize)]
struct EntryHead {
    key: String,
    version: String,
    status: ObjectStatus,
}

/// Visits a commit record, handing each entry of its `objects` to `each`.
struct RecordObjects<'a, F> {
    each: &'a mut F,
    committed_at_ns: &'a mut u128,
}

impl<'de, F: FnMut(EntryHead)> serde::de::Visitor<'de> for RecordObjects<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a commit record")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(field) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if field == "objects" {
                map.next_value_seed(EntryList(&mut *self.each))?;
            } else if field == "committed_at_ns" {
                *self.committed_at_ns = map.next_value()?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct EntryList<'a, F>(&'a mut F);

impl<'de, F: FnMut(EntryHead)> serde::de::DeserializeSeed<'de> for EntryList<'_, F> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(EntryHead)> serde::de::Visitor<'de> for EntryList<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of object entries")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<EntryHead>()? {
            (self.0)(entry);
        }
        Ok(())
    }
}

/// A transaction: one chunk of objects that lands at once.
#[derive(Debug)]
pub struct Txn {
    id: String,
    staging: PathBuf,
}

impl Txn {
    /// Its id (unique, sortable by start time).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A writer for its files.
    pub fn writer(&self) -> ChunkWriter {
        ChunkWriter::new(self.staging.clone(), self.id.clone())
    }
}

/// A lake opened for writing: on local disk it holds the lock until dropped.
#[derive(Debug)]
pub struct Lake {
    /// Local disk: the lake directory. Object store: the local directory where transactions
    /// write their files before they are uploaded.
    root: PathBuf,
    internal: PathBuf,
    location: String,
    _lock: Option<File>,
    _scratch: Option<tempfile::TempDir>,
    remote: Option<Remote>,
    fingerprints: Arc<Fingerprinter>,
    /// The key's text as this writer read or created it (lakes in object stores: checked
    /// before each commit, see [`remote_key`]).
    key_text: String,
}

const MARKER: &str = "lake.json";
const KEY_FILE: &str = "fingerprint.key";

fn marker_text() -> String {
    format!(
        "{{\"format_version\":{FORMAT_VERSION},\"created_by\":\"crosstrail {}\"}}\n",
        env!("CARGO_PKG_VERSION")
    )
}

impl Lake {
    /// Opens (creating if needed) the lake at `root` for writing, takes the writer lock and
    /// finishes or rolls back whatever an interrupted run left in staging.
    pub fn open(root: &Path) -> Result<Lake, Error> {
        let internal = root.join(INTERNAL_DIR);
        if !internal.exists()
            && let Ok(mut entries) = fs::read_dir(root)
            && entries.next().is_some()
        {
            return Err(Error::NotALake {
                path: root.to_path_buf(),
            });
        }
        for dir in [internal.join("staging"), internal.join("manifest")] {
            fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        let lock_path = internal.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: root.to_path_buf(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let marker = internal.join(MARKER);
        if !marker.exists() {
            write_atomic(&marker, marker_text().as_bytes())?;
        }
        for dir in [internal.clone(), internal.join("manifest")] {
            remove_stale_temp_files(&dir)?;
        }
        let fingerprints = Arc::new(load_or_create_key(&internal)?);
        let lake = Lake {
            root: root.to_path_buf(),
            internal,
            location: root.display().to_string(),
            _lock: Some(lock),
            _scratch: None,
            remote: None,
            fingerprints,
            key_text: String::new(),
        };
        lake.recover()?;
        Ok(lake)
    }

    /// Opens (creating if needed) the lake under `prefix` of an object store; `url` names it
    /// in messages (`s3://bucket/prefix`). Finishes the commits of interrupted writers and
    /// deletes their abandoned uploads. There is no lock: several writers may share the lake
    /// (each commits its own transactions), but two writers ingesting the same objects write
    /// their rows twice (the `events` and `sessions` views still show each eventID once).
    pub fn open_store(
        url: &str,
        store: Arc<dyn object_store::ObjectStore>,
        prefix: &str,
    ) -> Result<Lake, Error> {
        let remote = Remote::new(url, store, prefix)?;
        let top = remote.top_level()?;
        if !top.is_empty() && !top.iter().any(|t| t == INTERNAL_DIR) {
            return Err(Error::NotALake {
                path: remote.url().into(),
            });
        }
        let marker = format!("{INTERNAL_DIR}/{MARKER}");
        if remote.get(&marker)?.is_none() {
            remote.put(&marker, marker_text().into_bytes(), true)?;
        }
        let (key, key_text) = remote_key(&remote)?;
        let fingerprints = Arc::new(key);
        let scratch = tempfile::Builder::new()
            .prefix("crosstrail-lake-")
            .tempdir()
            .map_err(|e| Error::io(&std::env::temp_dir(), e))?;
        let internal = scratch.path().join(INTERNAL_DIR);
        let staging = internal.join("staging");
        fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
        let lake = Lake {
            root: scratch.path().to_path_buf(),
            internal,
            location: remote.url().to_string(),
            _lock: None,
            _scratch: Some(scratch),
            remote: Some(remote),
            fingerprints,
            key_text,
        };
        lake.recover()?;
        Ok(lake)
    }

    /// The lake directory on local disk; `None` for a lake in an object store.
    pub fn local_root(&self) -> Option<&Path> {
        self.remote.is_none().then_some(self.root.as_path())
    }

    /// Where the lake is: its directory or URL, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The External-ID fingerprinter keyed for this lake.
    pub fn fingerprints(&self) -> Arc<Fingerprinter> {
        self.fingerprints.clone()
    }

    fn manifest_dir(&self) -> PathBuf {
        self.internal.join("manifest")
    }

    fn staging_dir(&self) -> PathBuf {
        self.internal.join("staging")
    }

    /// Starts a transaction.
    pub fn begin(&self) -> Result<Txn, Error> {
        let id = format!(
            "{:x}-{}",
            now_ns() / 1_000_000,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let staging = self.staging_dir().join(&id);
        fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
        Ok(Txn { id, staging })
    }

    /// Commits a transaction: its files become visible and its objects enter the manifest.
    pub fn commit(
        &self,
        txn: Txn,
        files: Vec<StagedFile>,
        objects: Vec<ObjectEntry>,
    ) -> Result<(), Error> {
        let committed_at_ns = now_ns();
        let record = CommitRecord {
            txn: txn.id.clone(),
            committed_at_ns,
            files,
            objects,
        };
        let name = format!("{committed_at_ns:020}-{}.json", txn.id);
        let text = serde_json::to_vec(&record).map_err(|e| Error::Internal(e.to_string()))?;
        let Some(remote) = &self.remote else {
            write_atomic(&self.manifest_dir().join(name), &text)?;
            return self.roll_forward(&txn.staging, &record.files);
        };
        let uploads = record
            .files
            .iter()
            .map(|f| (txn.staging.join(&f.path), remote_staged(&txn.id, &f.path)))
            .collect();
        remote.upload(uploads)?;
        // On a store without conditional writes, two writers creating the lake at once could
        // each have made a key: commit nothing fingerprinted with a key that is not the lake's.
        let key_rel = format!("{INTERNAL_DIR}/{KEY_FILE}");
        let stored = remote.get(&key_rel)?.unwrap_or_default();
        if stored.as_ref() != self.key_text.as_bytes() {
            return Err(Error::KeyChanged {
                url: remote.url().to_string(),
            });
        }
        remote.put(&format!("{INTERNAL_DIR}/manifest/{name}"), text, false)?;
        let paths: Vec<String> = record.files.iter().map(|f| f.path.clone()).collect();
        remote_roll_forward(remote, &txn.id, &paths)?;
        remove_dir_all(&txn.staging)
    }

    /// Drops a transaction that will not be committed.
    pub fn abort(&self, txn: Txn) -> Result<(), Error> {
        remove_dir_all(&txn.staging)
    }

    fn roll_forward(&self, staging: &Path, files: &[StagedFile]) -> Result<(), Error> {
        let mut dirs = Vec::new();
        for f in files {
            let from = staging.join(&f.path);
            let to = self.root.join(&f.path);
            if !from.exists() {
                continue; // moved before an interruption
            }
            if let Some(dir) = to.parent() {
                fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                if !dirs.iter().any(|d: &PathBuf| d == dir) {
                    dirs.push(dir.to_path_buf());
                }
            }
            fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
        }
        for dir in dirs {
            sync_dir(&dir)?;
        }
        remove_dir_all(staging)
    }

    /// What a run needs to skip the objects already in the lake (see [`Ingested`]): the same
    /// answers as [`Lake::manifest`]'s `is_done`, without holding the manifest.
    pub fn ingested(&self) -> Result<Ingested, Error> {
        let mut done = Ingested::default();
        self.each_record(&self.record_names()?, |text| done.read(text))?;
        Ok(done)
    }

    /// The names of the commit records (checkpoint parts included), in commit order.
    fn record_names(&self) -> Result<Vec<String>, Error> {
        if let Some(remote) = &self.remote {
            let rels = remote_record_rels(remote)?;
            return Ok(rels.iter().map(|r| record_name(r).to_string()).collect());
        }
        let dir = self.manifest_dir();
        let mut names: Vec<String> = fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json"))
            // `.tmp-*` files are commit records a killed writer did not finish: not commits.
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Calls `f` with each of the commit records `names`, in order, one at a time (a few at a
    /// time from an object store): a record holds one transaction's objects or one part of a
    /// checkpoint, so memory is bounded by a record, not by the manifest.
    fn each_record(
        &self,
        names: &[String],
        mut f: impl FnMut(&[u8]) -> Result<(), RecordError>,
    ) -> Result<(), Error> {
        let named = |path: PathBuf| {
            move |e| match e {
                RecordError::Parse(source) => Error::Manifest { path, source },
                RecordError::Lake(e) => e,
            }
        };
        if let Some(remote) = &self.remote {
            for window in names.chunks(RECORDS_AT_ONCE) {
                let rels: Vec<String> = window.iter().map(|n| record_rel(n)).collect();
                for (rel, text) in rels.iter().zip(remote.get_many(&rels)?) {
                    f(&text).map_err(named(remote.display(rel)))?;
                }
            }
            return Ok(());
        }
        let dir = self.manifest_dir();
        for name in names {
            let path = dir.join(name);
            let text = fs::read(&path).map_err(|e| Error::io(&path, e))?;
            f(&text).map_err(named(path))?;
        }
        Ok(())
    }

    /// The transactions that committed, with the files each one lands.
    fn committed_files(&self) -> Result<HashMap<String, Vec<StagedFile>>, Error> {
        /// The part of a record that says what it lands; its objects are skipped.
        #[derive(Deserialize)]
        struct Landed {
            txn: String,
            #[serde(default)]
            files: Vec<StagedFile>,
        }
        let mut landed = HashMap::new();
        self.each_record(&self.record_names()?, |text| {
            let record: Landed = serde_json::from_slice(text)?;
            landed.insert(record.txn, record.files);
            Ok(())
        })?;
        Ok(landed)
    }

    fn recover(&self) -> Result<(), Error> {
        if let Some(remote) = &self.remote {
            return self.recover_remote(remote);
        }
        let staging = self.staging_dir();
        let pending: Vec<PathBuf> = fs::read_dir(&staging)
            .map_err(|e| Error::io(&staging, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        if !pending.is_empty() {
            let committed = self.committed_files()?;
            for dir in pending {
                let txn = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                match committed.get(txn) {
                    Some(files) => self.roll_forward(&dir, files)?,
                    None => remove_dir_all(&dir)?,
                }
            }
        }
        self.checkpoint_if_large()
    }

    fn recover_remote(&self, remote: &Remote) -> Result<(), Error> {
        let prefix = format!("{INTERNAL_DIR}/staging/");
        let staged = remote.list(&prefix)?;
        if !staged.is_empty() {
            let committed = self.committed_files()?;
            let mut by_txn: HashMap<String, Vec<crate::remote::Listed>> = HashMap::new();
            for l in staged {
                let txn = l.rel[prefix.len()..].split('/').next().unwrap_or_default();
                by_txn.entry(txn.to_string()).or_default().push(l);
            }
            for (txn, listed) in by_txn {
                match committed.get(&txn) {
                    Some(files) => {
                        let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
                        remote_roll_forward(remote, &txn, &paths)?;
                    }
                    None if listed.iter().all(Remote::abandoned) => {
                        remote.delete(listed.into_iter().map(|l| l.rel).collect())?;
                    }
                    None => {} // another writer may be committing it right now
                }
            }
        }
        self.checkpoint_if_large()
    }

    fn checkpoint_if_large(&self) -> Result<(), Error> {
        // Count before reading: each open of a lake comes here. The parts of the last
        // checkpoint do not count: a manifest of millions of objects has hundreds of them.
        let names = self.record_names()?;
        let commits = names.iter().filter(|n| !is_checkpoint(n)).count();
        if commits <= CHECKPOINT_AFTER {
            return Ok(());
        }
        self.fold(&names, CHECKPOINT_PART_OBJECTS)
    }

    /// Folds the commit records `names` into a checkpoint: the latest entry of each object,
    /// in parts of `part_objects` entries, then removes the records folded. Two passes, a
    /// record at a time: the first finds where each key's latest entry is (24 bytes an
    /// object), the second writes those entries out. A fold cut short leaves the records it
    /// folds and some parts, which repeat their latest entries: the same manifest.
    fn fold(&self, names: &[String], part_objects: usize) -> Result<(), Error> {
        let mut latest: HashMap<[u64; 2], (u32, u32)> = HashMap::new();
        let mut last_ns = 0;
        let mut record = 0u32;
        self.each_record(names, |text| {
            let mut entry = 0u32;
            let ns = visit_entries(text, |e| {
                latest.insert(key_hash(&e.key), (record, entry));
                entry += 1;
            })?;
            last_ns = last_ns.max(ns);
            record += 1;
            Ok(())
        })?;
        // Parts sort after every record they fold in, before any later commit (same ns, then
        // `~`). Their names are new: a part of an earlier fold cut short may be among the
        // records still to read.
        let fold = &uuid::Uuid::new_v4().simple().to_string()[..12];
        let part_name = |n: usize| format!("{last_ns:020}-~checkpoint-{fold}-{n:06}.json");
        let mut written = Vec::new();
        let mut part = Vec::new();
        let mut record = 0u32;
        self.each_record(names, |text| {
            let r: CommitRecord = serde_json::from_slice(text)?;
            for (entry, o) in (0u32..).zip(r.objects) {
                if latest.get(&key_hash(&o.key)) == Some(&(record, entry)) {
                    part.push(o);
                }
                if part.len() >= part_objects {
                    let name = part_name(written.len());
                    self.write_checkpoint_part(&name, last_ns, std::mem::take(&mut part))
                        .map_err(RecordError::Lake)?;
                    written.push(name);
                }
            }
            record += 1;
            Ok(())
        })?;
        if !part.is_empty() || written.is_empty() {
            let name = part_name(written.len());
            self.write_checkpoint_part(&name, last_ns, part)?;
            written.push(name);
        }
        let folded = names.iter().filter(|n| !written.contains(n));
        if let Some(remote) = &self.remote {
            // Concurrent writers may fold at once: each checkpoint holds all it deletes.
            return remote.delete(folded.map(|n| record_rel(n)).collect());
        }
        for n in folded {
            let path = self.manifest_dir().join(n);
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
        sync_dir(&self.manifest_dir())
    }

    fn write_checkpoint_part(
        &self,
        name: &str,
        committed_at_ns: u128,
        objects: Vec<ObjectEntry>,
    ) -> Result<(), Error> {
        let record = CommitRecord {
            txn: "checkpoint".into(),
            committed_at_ns,
            files: Vec::new(),
            objects,
        };
        let text = serde_json::to_vec(&record).map_err(|e| Error::Internal(e.to_string()))?;
        match &self.remote {
            Some(remote) => remote.put(&record_rel(name), text, false).map(drop),
            None => write_atomic(&self.manifest_dir().join(name), &text),
        }
    }

    /// Reads the manifest: the latest entry of every object.
    pub fn manifest(&self) -> Result<Manifest, Error> {
        let mut m = Manifest::default();
        self.each_record(&self.record_names()?, |text| {
            let r: CommitRecord = serde_json::from_slice(text)?;
            for o in r.objects {
                m.objects.insert(o.key.clone(), o);
            }
            Ok(())
        })?;
        Ok(m)
    }
}

/// Why a commit record could not be taken in.
enum RecordError {
    /// It is not a commit record.
    Parse(serde_json::Error),
    /// What was done with it failed.
    Lake(Error),
}

impl From<serde_json::Error> for RecordError {
    fn from(e: serde_json::Error) -> Self {
        RecordError::Parse(e)
    }
}

/// A commit record's name, from its path relative to the lake.
fn record_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or_default()
}

/// A commit record's path relative to the lake, from its name.
fn record_rel(name: &str) -> String {
    format!("{INTERNAL_DIR}/manifest/{name}")
}

/// Whether a commit record is a part of a checkpoint (`~checkpoint.json` before parts).
fn is_checkpoint(name: &str) -> bool {
    name.contains("-~checkpoint")
}

/// The commit records in an object store, relative to the lake, in commit order.
fn remote_record_rels(remote: &Remote) -> Result<Vec<String>, Error> {
    let mut rels: Vec<String> = remote
        .list(&format!("{INTERNAL_DIR}/manifest/"))?
        .into_iter()
        .map(|l| l.rel)
        .filter(|r| r.ends_with(".json"))
        .collect();
    rels.sort();
    Ok(rels)
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn remove_dir_all(dir: &Path) -> Result<(), Error> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// Removes `.tmp-*` files left by a writer that was killed mid-write (we hold the lock).
fn remove_stale_temp_files(dir: &Path) -> Result<(), Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.flatten() {
        let stale = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(".tmp-"));
        if stale {
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Writes a file so that readers see the old content or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    sync_dir(dir)
}

/// Where a transaction's file `rel` is uploaded before its commit record.
fn remote_staged(txn: &str, rel: &str) -> String {
    format!("{INTERNAL_DIR}/staging/{txn}/{rel}")
}

/// Step 3 of a commit in an object store: staged objects to their table paths, then staging
/// deleted. Safe to repeat, and to run by two writers at once.
fn remote_roll_forward(remote: &Remote, txn: &str, files: &[String]) -> Result<(), Error> {
    remote.copy(
        files
            .iter()
            .map(|f| (remote_staged(txn, f), f.clone()))
            .collect(),
    )?;
    remote.delete(files.iter().map(|f| remote_staged(txn, f)).collect())
}

fn parse_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

fn new_key() -> Result<([u8; 32], String), Error> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    Ok((key, hex))
}

/// The key of a lake in an object store, and its text as stored; the first writer creates it
/// (conditional PUT, so writers starting at once agree on one key). Who may read it is the
/// bucket's policy.
fn remote_key(remote: &Remote) -> Result<(Fingerprinter, String), Error> {
    let rel = format!("{INTERNAL_DIR}/{KEY_FILE}");
    let read = |bytes: &[u8]| {
        let text = std::str::from_utf8(bytes).unwrap_or_default();
        parse_key(text)
            .map(|k| (Fingerprinter::new(k), text.to_string()))
            .ok_or_else(|| Error::BadKey {
                path: remote.display(&rel),
            })
    };
    if let Some(bytes) = remote.get(&rel)? {
        return read(&bytes);
    }
    let (key, hex) = new_key()?;
    let text = format!("{hex}\n");
    if remote.put(&rel, text.clone().into_bytes(), true)? {
        return Ok((Fingerprinter::new(key), text));
    }
    match remote.get(&rel)? {
        Some(bytes) => read(&bytes),
        None => Err(Error::Internal(format!(
            "{} vanished while it was created",
            remote.display(&rel).display()
        ))),
    }
}

fn load_or_create_key(internal: &Path) -> Result<Fingerprinter, Error> {
    let path = internal.join(KEY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => parse_key(&text)
            .map(Fingerprinter::new)
            .ok_or_else(|| Error::BadKey { path: path.clone() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (key, hex) = new_key()?;
            // Created readable by the owner only, before the secret is written into it.
            let tmp = internal.join(".tmp-fingerprint.key");
            let mut options = File::options();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp).map_err(|e| Error::io(&tmp, e))?;
            f.write_all(format!("{hex}\n").as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::io(&tmp, e))?;
            fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
            sync_dir(internal)?;
            Ok(Fingerprinter::new(key))
        }
        Err(e) => Err(Error::io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, version: &str, status: ObjectStatus) -> ObjectEntry {
        ObjectEntry {
            key: key.to_string(),
            version: version.to_string(),
            size: 1,
            status,
            records: 0,
            files: vec!["events/event_date=2024-03-01/part-x-0000.parquet".into()],
            error: (status == ObjectStatus::Failed).then(|| "truncated gzip".to_string()),
        }
    }

    #[test]
    fn ingested_answers_as_the_manifest_does() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let lake = Lake::open(tmp.path()).expect("lake");
        use ObjectStatus::{Failed, Ingested as Done};
        // Commit order decides: the latest entry of a key is what counts.
        let commits = [
            vec![
                entry("a", "v1", Done),
                entry("b", "v1", Done),
                entry("c", "v1", Failed),
            ],
            vec![
                entry("b", "v2", Done),
                entry("c", "v1", Done),
                entry("d", "v1", Done),
            ],
            vec![entry("d", "v2", Failed)],
        ];
        for objects in commits {
            let txn = lake.begin().expect("txn");
            lake.commit(txn, Vec::new(), objects).expect("commit");
        }
        let manifest = lake.manifest().expect("manifest");
        let ingested = lake.ingested().expect("ingested");
        let mut answers = Vec::new();
        for key in ["a", "b", "c", "d", "e"] {
            for version in ["v1", "v2"] {
                let done = ingested.is_done(key, version);
                assert_eq!(done, manifest.is_done(key, version), "{key} {version}");
                if done {
                    answers.push(format!("{key} {version}"));
                }
            }
        }
        assert_eq!(answers, ["a v1", "b v2", "c v1"]);
        assert_eq!(ingested.len(), 3);
        // A record that is not JSON is an error naming its file, as for the manifest.
        std::fs::write(
            lake.manifest_dir().join("99999999999999999999-z.json"),
            b"{\"objects\":[",
        )
        .expect("write");
        let error = lake.ingested().expect_err("broken record").to_string();
        assert!(error.contains("99999999999999999999-z.json"), "{error}");
    }

    #[test]
    fn a_checkpoint_in_parts_holds_the_same_manifest() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let lake = Lake::open(tmp.path()).expect("lake");
        use ObjectStatus::{Failed, Ingested as Done};
        let commit = |c: usize| {
            // 5 entries over 23 keys: keys come back with new versions, some fail.
            let objects = (0..5)
                .map(|i| {
                    let status = if (c + i).is_multiple_of(4) {
                        Failed
                    } else {
                        Done
                    };
                    entry(
                        &format!("k{}", (c * 7 + i * 3) % 23),
                        &format!("v{c}"),
                        status,
                    )
                })
                .collect();
            let txn = lake.begin().expect("txn");
            lake.commit(txn, Vec::new(), objects).expect("commit");
        };
        (0..40).for_each(commit);
        let before = lake.manifest().expect("manifest").objects;
        assert_eq!(before.len(), 23);
        let answers = |lake: &Lake| {
            let ingested = lake.ingested().expect("ingested");
            (0..23)
                .flat_map(|k| (0..41).map(move |v| (format!("k{k}"), format!("v{v}"))))
                .filter(|(k, v)| ingested.is_done(k, v))
                .collect::<Vec<_>>()
        };
        let done = answers(&lake);
        assert!(done.len() > 10, "{done:?}");

        // A fold cut short: two parts written beside the records it folds.
        let names = lake.record_names().expect("names");
        let all: Vec<ObjectEntry> = before.values().cloned().collect();
        let last_ns = names
            .iter()
            .map(|n| n[..20].parse::<u128>().expect("ns"))
            .max();
        for (n, part) in all.chunks(7).take(2).enumerate() {
            let ns = last_ns.expect("records");
            let name = format!("{ns:020}-~checkpoint-cutshort0000-{n:06}.json");
            lake.write_checkpoint_part(&name, 0, part.to_vec())
                .expect("part");
        }
        assert_eq!(lake.manifest().expect("manifest").objects, before);
        assert_eq!(answers(&lake), done);

        // The fold itself: 23 objects in parts of 7 are 4 parts, nothing else left.
        lake.fold(&lake.record_names().expect("names"), 7)
            .expect("fold");
        let names = lake.record_names().expect("names");
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(names.iter().all(|n| is_checkpoint(n)), "{names:?}");
        assert_eq!(lake.manifest().expect("manifest").objects, before);
        assert_eq!(answers(&lake), done);

        // Later commits come after the checkpoint, and the next fold replaces its parts.
        (40..45).for_each(commit);
        let before = lake.manifest().expect("manifest").objects;
        lake.fold(&lake.record_names().expect("names"), 10)
            .expect("fold");
        let names = lake.record_names().expect("names");
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(lake.manifest().expect("manifest").objects, before);
    }
}
