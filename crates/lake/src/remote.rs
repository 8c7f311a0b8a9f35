//! A lake in an object store (`s3://bucket/prefix`), through the `object_store` crate.
//!
//! The layout is the local one under the prefix, so Athena, Trino, Spark and DuckDB read the
//! tables in place:
//!
//! ```text
//! <prefix>/events/event_date=YYYY-MM-DD/part-<txn>-NNNN.parquet
//! <prefix>/sessions/event_date=YYYY-MM-DD/part-<txn>-NNNN.parquet
//! <prefix>/_crosstrail/lake.json                   format marker
//! <prefix>/_crosstrail/fingerprint.key             HMAC key for External-ID fingerprints
//! <prefix>/_crosstrail/staging/<txn>/...           files of transactions being committed
//! <prefix>/_crosstrail/manifest/<ns>-<txn>.json    one commit record per transaction
//! ```
//!
//! Object stores have no rename, so the commit protocol is the local one with copies:
//! 1. a transaction writes its Parquet files on local disk (a temporary directory), then
//!    uploads them under `_crosstrail/staging/<txn>/` (invisible to readers: `_` prefix);
//! 2. the commit record is PUT into `_crosstrail/manifest/`: a PUT is atomic, and this PUT is
//!    the commit point;
//! 3. each staged object is copied (server side) to its table path, then staging is deleted.
//!
//! A writer that opens the lake finishes step 3 for every committed transaction whose staging
//! is still there, and deletes staging without a commit record once it is an hour old (a
//! transaction uploads its files right before its commit record, so such staging belongs to a
//! writer that died). There is no writer lock: several writers (`--shard I/N` on several
//! machines) may write one lake at once, each committing its own transactions.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::Error;

/// Staging without a commit record older than this belongs to a writer that died.
const ABANDONED_AFTER: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// Requests in flight for uploads, copies, deletes and manifest reads.
const PARALLEL_REQUESTS: usize = 8;
/// Files up to this size are uploaded in one PUT; larger ones in parts.
const SINGLE_PUT_BYTES: usize = 8 << 20;

/// An object store holding a lake under a prefix.
pub(crate) struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    url: String,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish()
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Dropping a runtime inside another one's async context panics; this does not.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// An object in a listing: its path relative to the lake prefix, and when it was written.
pub(crate) struct Listed {
    pub rel: String,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

impl Remote {
    /// `url` is the lake's URL (`s3://bucket/prefix`), used in messages; `prefix` the path of
    /// the lake inside `store`.
    pub(crate) fn new(url: &str, store: Arc<dyn ObjectStore>, prefix: &str) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("crosstrail-lake-io")
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start the lake's I/O runtime: {e}")))?;
        Ok(Remote {
            store,
            prefix: StorePath::from(prefix.trim_matches('/')),
            url: url.trim_end_matches('/').to_string(),
            runtime: Some(runtime),
        })
    }

    /// The lake's URL, without a trailing `/`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// `s3://bucket/prefix/<rel>`, for messages.
    pub(crate) fn display(&self, rel: &str) -> std::path::PathBuf {
        format!("{}/{rel}", self.url).into()
    }

    fn path(&self, rel: &str) -> StorePath {
        let mut p = self.prefix.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.join(part);
        }
        p
    }

    fn rel(&self, p: &StorePath) -> String {
        let parts: Vec<String> = p
            .prefix_match(&self.prefix)
            .map(|it| it.map(|part| part.as_ref().to_string()).collect())
            .unwrap_or_default();
        parts.join("/")
    }

    fn error(&self, rel: &str, source: object_store::Error) -> Error {
        store_error(&self.url, rel, source)
    }

    /// Runs `fut` on the lake's runtime and waits for it, from any thread (also from inside
    /// another runtime).
    fn run<F>(&self, fut: F) -> Result<F::Output, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let Some(rt) = &self.runtime else {
            return Err(Error::Internal("the lake's I/O runtime is gone".into()));
        };
        let handle = rt.spawn(fut);
        futures::executor::block_on(handle)
            .map_err(|e| Error::Internal(format!("lake I/O task failed: {e}")))
    }

    /// The content of `rel`, or `None` when there is no such object.
    pub(crate) fn get(&self, rel: &str) -> Result<Option<Bytes>, Error> {
        let (store, path) = (self.store.clone(), self.path(rel));
        let r = self.run(async move {
            match store.get(&path).await {
                Ok(got) => got.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        r.map_err(|e| self.error(rel, e))
    }

    /// Writes `rel` atomically; with `create_only`, keeps an object already there and returns
    /// false (on stores that cannot tell, the write happens and true is returned).
    pub(crate) fn put(&self, rel: &str, bytes: Vec<u8>, create_only: bool) -> Result<bool, Error> {
        let (store, path) = (self.store.clone(), self.path(rel));
        let r = self.run(async move {
            let payload = PutPayload::from(bytes);
            if create_only {
                let opts = PutOptions::from(PutMode::Create);
                match store.put_opts(&path, payload.clone(), opts).await {
                    Ok(_) => return Ok(true),
                    Err(object_store::Error::AlreadyExists { .. }) => return Ok(false),
                    Err(object_store::Error::NotImplemented { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            store.put(&path, payload).await.map(|_| true)
        })?;
        r.map_err(|e| self.error(rel, e))
    }

    /// Every object under `rel` (recursively).
    pub(crate) fn list(&self, rel: &str) -> Result<Vec<Listed>, Error> {
        let (store, path) = (self.store.clone(), self.path(rel));
        let r = self.run(async move { store.list(Some(&path)).try_collect::<Vec<_>>().await })?;
        let metas = r.map_err(|e| self.error(rel, e))?;
        Ok(metas
            .into_iter()
            .map(|m| Listed {
                rel: self.rel(&m.location),
                last_modified: m.last_modified,
            })
            .collect())
    }

    /// The names directly under the lake prefix (folders and objects).
    pub(crate) fn top_level(&self) -> Result<Vec<String>, Error> {
        let (store, path) = (self.store.clone(), self.prefix.clone());
        let r = self.run(async move {
            let prefix = (path.parts_count() > 0).then_some(path);
            store.list_with_delimiter(prefix.as_ref()).await
        })?;
        let listing = r.map_err(|e| self.error("", e))?;
        Ok(listing
            .common_prefixes
            .iter()
            .chain(listing.objects.iter().map(|o| &o.location))
            .map(|p| self.rel(p))
            .collect())
    }

    /// Reads many small objects at once, in the order given.
    pub(crate) fn get_many(&self, rels: &[String]) -> Result<Vec<Bytes>, Error> {
        let store = self.store.clone();
        let paths: Vec<(String, StorePath)> =
            rels.iter().map(|r| (r.clone(), self.path(r))).collect();
        let r = self.run(async move {
            futures::stream::iter(paths)
                .map(|(rel, path)| {
                    let store = store.clone();
                    async move {
                        let got = async { store.get(&path).await?.bytes().await }.await;
                        got.map_err(|e| (rel, e))
                    }
                })
                .buffered(PARALLEL_REQUESTS)
                .try_collect::<Vec<_>>()
                .await
        })?;
        r.map_err(|(rel, e)| self.error(&rel, e))
    }

    /// Runs `op` on every job, [`PARALLEL_REQUESTS`] at a time; the first failure is returned.
    fn each<J, F, Fut>(&self, jobs: Vec<J>, op: F) -> Result<(), Error>
    where
        J: Send + 'static,
        F: Fn(Arc<dyn ObjectStore>, J) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        let store = self.store.clone();
        self.run(async move {
            futures::stream::iter(jobs)
                .map(|job| op(store.clone(), job))
                .buffer_unordered(PARALLEL_REQUESTS)
                .try_collect::<Vec<()>>()
                .await
        })?
        .map(|_| ())
    }

    /// Uploads local files: `(local path, rel)` pairs.
    pub(crate) fn upload(&self, files: Vec<(std::path::PathBuf, String)>) -> Result<(), Error> {
        let url = self.url.clone();
        let jobs: Vec<_> = files
            .into_iter()
            .map(|(local, rel)| (local, self.path(&rel), rel))
            .collect();
        self.each(jobs, move |store, (local, path, rel)| {
            let url = url.clone();
            async move {
                upload_file(store, &local, &path)
                    .await
                    .map_err(|e| match e {
                        UploadError::Io(path, e) => Error::io(&path, e),
                        UploadError::Store(e) => store_error(&url, &rel, e),
                    })
            }
        })
    }

    /// Server-side copies, `(from, to)` pairs of rel paths; a missing source is skipped (it
    /// was copied and deleted before an interruption).
    pub(crate) fn copy(&self, pairs: Vec<(String, String)>) -> Result<(), Error> {
        let url = self.url.clone();
        let jobs: Vec<_> = pairs
            .into_iter()
            .map(|(from, to)| (self.path(&from), self.path(&to), to))
            .collect();
        self.each(jobs, move |store, (from, to, rel)| {
            let url = url.clone();
            async move { missing_is_done(store.copy(&from, &to).await, &url, &rel) }
        })
    }

    /// Deletes objects (missing ones are fine).
    pub(crate) fn delete(&self, rels: Vec<String>) -> Result<(), Error> {
        let url = self.url.clone();
        let jobs: Vec<_> = rels.into_iter().map(|r| (self.path(&r), r)).collect();
        self.each(jobs, move |store, (path, rel)| {
            let url = url.clone();
            async move { missing_is_done(store.delete(&path).await, &url, &rel) }
        })
    }

    /// Whether a staging listing entry is old enough to belong to a dead writer.
    pub(crate) fn abandoned(listed: &Listed) -> bool {
        chrono::Utc::now() - listed.last_modified > ABANDONED_AFTER
    }
}

fn store_error(url: &str, rel: &str, source: object_store::Error) -> Error {
    Error::Store {
        url: format!("{url}/{rel}"),
        source,
    }
}

/// A copy or delete whose object is already gone was done before an interruption.
fn missing_is_done(r: object_store::Result<()>, url: &str, rel: &str) -> Result<(), Error> {
    match r {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(store_error(url, rel, e)),
    }
}

enum UploadError {
    Io(std::path::PathBuf, std::io::Error),
    Store(object_store::Error),
}

async fn upload_file(
    store: Arc<dyn ObjectStore>,
    local: &std::path::Path,
    path: &StorePath,
) -> Result<(), UploadError> {
    use tokio::io::AsyncWriteExt;
    let io = |e| UploadError::Io(local.to_path_buf(), e);
    let size = tokio::fs::metadata(local).await.map_err(io)?.len();
    if size <= SINGLE_PUT_BYTES as u64 {
        let bytes = tokio::fs::read(local).await.map_err(io)?;
        store
            .put(path, PutPayload::from(bytes))
            .await
            .map_err(UploadError::Store)?;
        return Ok(());
    }
    let mut file = tokio::fs::File::open(local).await.map_err(io)?;
    let mut writer =
        object_store::buffered::BufWriter::with_capacity(store, path.clone(), SINGLE_PUT_BYTES);
    let copied = tokio::io::copy(&mut file, &mut writer).await;
    let shut = match copied {
        Ok(_) => writer.shutdown().await,
        Err(e) => Err(e),
    };
    if let Err(e) = shut {
        let _ = writer.abort().await;
        return Err(io(e));
    }
    Ok(())
}
