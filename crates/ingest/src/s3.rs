//! CloudTrail straight from an S3 bucket: [`S3Source`] lists (pruned by the key layout) and
//! fetches objects with the AWS SDK's standard credential chain and endpoint rules. Listings
//! and GETs go over connections of our own (`s3_get`, with pages read by `s3_list`), or
//! through the SDK's client when a proxy is set or the endpoint wants another signature.
//!
//! - Listing: delimiter listings walk the key layout down to the regions (organization ids,
//!   accounts, regions), `LIST_CONCURRENCY` (32) folders at a time, and each region is listed
//!   flat: its keys come by day. Folders the layout makes likely (`AWSLogs/`, an account's
//!   `CloudTrail/`, and below it the regions found below other accounts' so far) are listed
//!   alongside their parent instead of after it (`guesses`): fewer round trips before the
//!   first GET. A [`LayoutFilter`] prunes the walk: accounts and regions
//!   it names are not even listed; with a day range, the months are named (both ends given) or
//!   discovered below the region, and each month is listed from the first day in range
//!   (`StartAfter`) until the listing passes the last one: reading one day of one account
//!   lists that day, not the bucket. The listing is handed out day by day while it goes on
//!   (see `Lister`): the first GETs start with the first complete day, and a run holds the
//!   days listed ahead, not the whole bucket's keys.
//! - Fetching: one GET per object with `If-Match` on the listed ETag, the body collected up to
//!   a size cap, through the lean path of `s3_get` (the SDK's endpoint rules and credentials,
//!   our own signer and HTTP/1.1 connections, without the SDK's per-operation pipeline). Transient failures (HTTP 500/502/503/504, SlowDown, timeouts, connection
//!   resets, a body that breaks or ends early) restart the whole object after an exponential,
//!   jittered backoff; an object is never half-read. What keeps failing is returned as an error
//!   naming the object, so the pipeline records it as failed and retries it next run.
//! - Before any work, [`Source::list`] checks the credentials and the first listing, and turns
//!   missing or expired credentials, a wrong secret, a wrong region, a missing bucket or
//!   AccessDenied into one error that says what was tried.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, ProvideCredentials, Region, RequestChecksumCalculation,
    ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};

use crate::layout::{self, LayoutFilter};
use crate::pipeline::error_chain;
use crate::s3_get::{Getter, read_object};
use crate::source::{ListStream, Listed, MAX_LISTED_AHEAD, ObjectMeta, Source, SourceError};

/// How to reach the bucket and what to read from it.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Region of the bucket [default: the standard chain (`AWS_REGION`, profile), else
    /// `us-east-1`].
    pub region: Option<String>,
    /// Named profile of the shared config and credentials files.
    pub profile: Option<String>,
    /// Endpoint of an S3-compatible store; path-style addressing is used with it.
    pub endpoint_url: Option<String>,
    /// Send unsigned requests (public buckets); no credentials are looked up.
    pub no_sign_request: bool,
    /// Which accounts, regions and days to list.
    pub filter: LayoutFilter,
    /// Largest object fetched, in stored bytes (larger ones fail without being read).
    pub max_object_bytes: u64,
    /// Attempts per request or object before it counts as failed.
    pub max_attempts: u32,
    /// First backoff between attempts; doubled each time (with full jitter) up to
    /// [`S3Options::max_backoff`].
    pub base_backoff: Duration,
    /// Longest backoff between attempts.
    pub max_backoff: Duration,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            region: None,
            profile: None,
            endpoint_url: None,
            no_sign_request: false,
            filter: LayoutFilter::default(),
            max_object_bytes: crate::decode::Limits::default().max_inflated_bytes,
            max_attempts: 8,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// Requests an [`S3Source`] made, for tests and summaries.
#[derive(Debug)]
pub struct S3Stats {
    /// ListObjectsV2 requests (retries included).
    pub list_requests: AtomicU64,
    /// GetObject requests (retries included).
    pub get_requests: AtomicU64,
    /// Attempts that failed transiently and were retried.
    pub retries: AtomicU64,
    /// The fastest listing request, in microseconds (`u64::MAX` before the first).
    pub fastest_list_us: AtomicU64,
}

impl Default for S3Stats {
    fn default() -> Self {
        S3Stats {
            list_requests: AtomicU64::new(0),
            get_requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            fastest_list_us: AtomicU64::new(u64::MAX),
        }
    }
}

/// An `s3://bucket[/prefix]` source.
pub struct S3Source {
    bucket: String,
    prefix: String,
    options: S3Options,
    client: tokio::sync::OnceCell<Client>,
    /// The lean GET path (see `s3_get`); `None` where the SDK does the GETs.
    getter: tokio::sync::OnceCell<Option<Getter>>,
    stats: Arc<S3Stats>,
}

impl std::fmt::Debug for S3Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Source")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Time to connect to S3, and to wait for a response to start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a command-line source names S3 (`s3://…`).
pub fn is_s3_url(source: &str) -> bool {
    source.starts_with("s3://")
}

/// One failed attempt: worth another try or not.
#[derive(Debug)]
pub(crate) enum Attempt {
    Transient(String),
    Permanent(String),
}

impl S3Source {
    /// A source for `url` (`s3://bucket` or `s3://bucket/prefix`). Nothing is contacted until
    /// [`Source::list`].
    pub fn new(url: &str, options: S3Options) -> Result<Self, SourceError> {
        let bad = |why: &str| SourceError::S3 {
            url: url.to_string(),
            reason: why.to_string(),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("not an s3:// URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket name"));
        }
        let mut prefix = prefix.trim_start_matches('/').to_string();
        // A prefix names a folder: `s3://b/logs` must not match `logs-old/`.
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(S3Source {
            bucket: bucket.to_string(),
            prefix,
            options,
            client: tokio::sync::OnceCell::new(),
            getter: tokio::sync::OnceCell::new(),
            stats: Arc::new(S3Stats::default()),
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The prefix inside the bucket: empty, or ending with `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The requests made so far.
    pub fn stats(&self) -> Arc<S3Stats> {
        self.stats.clone()
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// What was tried, for error messages: region, endpoint, credentials.
    fn tried(&self, region: &str) -> String {
        let mut out = format!("region {region}");
        if let Some(e) = &self.options.endpoint_url {
            out.push_str(&format!(", endpoint {e}"));
        }
        if self.options.no_sign_request {
            out.push_str(", unsigned requests");
        } else if let Some(p) = &self.options.profile {
            out.push_str(&format!(", profile {p}"));
        }
        out
    }

    /// Loads the SDK configuration and checks the credentials: the SDK client (listings) and
    /// the GET path.
    async fn connect(&self) -> Result<(Client, Option<Getter>), SourceError> {
        let (sdk, region) = self.sdk_config().await?;
        let getter = Getter::new(
            &sdk,
            &region,
            &self.bucket,
            self.options.endpoint_url.is_some(),
            self.options.no_sign_request,
            (CONNECT_TIMEOUT, READ_TIMEOUT),
        )
        .await;
        // Per-request cost matters (CloudTrail objects are small and many): no checksum
        // headers or response checksums. A GET's bytes are still checked: the length against
        // the listing here, and every gzip member's CRC-32 when it is inflated. Stalled-stream
        // protection stays on: it is what stops a body that stops arriving.
        let config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(self.options.endpoint_url.is_some())
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .disable_s3_express_session_auth(true)
            .build();
        Ok((Client::from_conf(config), getter))
    }

    /// The SDK configuration of the standard chain with our options, and its region; the
    /// credentials are checked (one clear error saying what was tried) unless unsigned.
    pub(crate) async fn sdk_config(&self) -> Result<(aws_config::SdkConfig, String), SourceError> {
        let o = &self.options;
        let region = RegionProviderChain::first_try(o.region.clone().map(Region::new))
            .or_default_provider()
            .or_else(Region::from_static("us-east-1"));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .operation_attempt_timeout(Duration::from_secs(120))
            .build();
        // Retries are ours (see `retrying`): the same policy for listings, GETs and bodies
        // that break mid-stream, without the SDK's retry quota cutting a long run short.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts);
        if let Some(p) = &o.profile {
            loader = loader.profile_name(p);
        }
        if let Some(e) = &o.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        if o.no_sign_request {
            loader = loader.no_credentials();
        }
        let sdk = loader.load().await;
        let region = sdk
            .region()
            .map_or("us-east-1".to_string(), |r| r.to_string());
        if !o.no_sign_request {
            self.check_credentials(&sdk, &region).await?;
        }
        Ok((sdk, region))
    }

    async fn check_credentials(
        &self,
        sdk: &aws_config::SdkConfig,
        region: &str,
    ) -> Result<(), SourceError> {
        let fail = |reason: String| SourceError::S3 {
            url: self.url(&self.prefix),
            reason,
        };
        let chain = match &self.options.profile {
            Some(p) => format!("profile {p} of the shared config and credentials files"),
            None => "environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), the \
                     default profile of the shared config and credentials files (or \
                     AWS_PROFILE), SSO, web identity (AWS_WEB_IDENTITY_TOKEN_FILE), container \
                     and EC2 instance metadata"
                .to_string(),
        };
        let Some(provider) = sdk.credentials_provider() else {
            return Err(fail(format!(
                "no credentials provider ({})",
                self.tried(region)
            )));
        };
        match provider.provide_credentials().await {
            Err(e) => Err(fail(format!(
                "no usable AWS credentials: {}; tried {chain} ({}); use --profile, set \
                 credentials, or --no-sign-request for a public bucket",
                error_chain(&e),
                self.tried(region)
            ))),
            Ok(c) if c.expiry().is_some_and(|t| t <= SystemTime::now()) => Err(fail(format!(
                "the AWS credentials have expired (access key {}; {}); refresh them (e.g. \
                 `aws sso login`)",
                c.access_key_id(),
                self.tried(region)
            ))),
            Ok(_) => Ok(()),
        }
    }

    fn client(&self) -> Result<&Client, SourceError> {
        self.client.get().ok_or_else(|| SourceError::S3 {
            url: self.url(&self.prefix),
            reason: "fetched before the bucket was listed".to_string(),
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let o = &self.options;
        let cap = o
            .base_backoff
            .saturating_mul(1 << attempt.min(16))
            .min(o.max_backoff);
        // Full jitter: uniform in [0, cap), so clients that failed together retry apart.
        cap.mul_f64(jitter())
    }

    /// Runs `op` until it succeeds, fails permanently, or `max_attempts` transient failures.
    async fn retrying<T, F, Fut>(&self, mut op: F) -> Result<T, String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Attempt>>,
    {
        let max = self.options.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match op().await {
                Ok(v) => return Ok(v),
                Err(Attempt::Permanent(reason)) => return Err(reason),
                Err(Attempt::Transient(reason)) if attempt >= max => {
                    return Err(format!("{reason} (gave up after {attempt} attempts)"));
                }
                Err(Attempt::Transient(_)) => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
            }
        }
    }

    /// One page of a listing.
    async fn list_page(&self, query: PageQuery<'_>) -> Result<Page, String> {
        if let Some(Some(getter)) = self.getter.get()
            && getter.lists()
        {
            return self
                .retrying(|| {
                    self.stats.list_requests.fetch_add(1, Ordering::Relaxed);
                    self.timed(getter.list(query))
                })
                .await;
        }
        let client = self.client().map_err(|e| e.reason())?.clone();
        self.retrying(|| {
            let client = client.clone();
            self.stats.list_requests.fetch_add(1, Ordering::Relaxed);
            let request = client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(query.prefix)
                .set_delimiter(query.delimiter.then(|| "/".to_string()))
                .set_start_after(query.start_after.map(str::to_string))
                .set_continuation_token(query.token.map(str::to_string));
            self.timed(async move {
                let page = request.send().await.map_err(|e| classify(&e))?;
                Ok(Page::from(page))
            })
        })
        .await
    }

    /// One listing attempt, its duration kept when it is the fastest yet (see
    /// [`Source::round_trip`]).
    async fn timed(
        &self,
        attempt: impl std::future::Future<Output = Result<Page, Attempt>>,
    ) -> Result<Page, Attempt> {
        let started = std::time::Instant::now();
        let page = attempt.await?;
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.stats.fastest_list_us.fetch_min(us, Ordering::Relaxed);
        Ok(page)
    }

    async fn get(&self, object: &ObjectMeta) -> Result<Bytes, SourceError> {
        let key = object
            .key
            .strip_prefix("s3://")
            .and_then(|k| k.strip_prefix(self.bucket.as_str()))
            .and_then(|k| k.strip_prefix('/'))
            .ok_or_else(|| SourceError::S3 {
                url: object.key.clone(),
                reason: "not an object of this bucket".to_string(),
            })?;
        let client = self.client()?.clone();
        let limit = self.options.max_object_bytes;
        if object.size > limit {
            return Err(SourceError::S3 {
                url: object.key.clone(),
                reason: format!("{} bytes, more than the limit of {limit}", object.size),
            });
        }
        // The listed version: a GET that finds other content fails instead of recording
        // new bytes under the old version.
        let if_match = object
            .version
            .strip_prefix("etag ")
            .and_then(|v| v.rsplit_once(" size "))
            .map(|(etag, _)| ["\"", etag, "\""].concat());
        if let Some(Some(getter)) = self.getter.get() {
            return self
                .retrying(|| {
                    self.stats.get_requests.fetch_add(1, Ordering::Relaxed);
                    getter.get(key, if_match.as_deref(), object.size)
                })
                .await
                .map_err(|reason| SourceError::S3 {
                    url: object.key.clone(),
                    reason,
                });
        }
        self.retrying(|| {
            self.stats.get_requests.fetch_add(1, Ordering::Relaxed);
            let request = client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .set_if_match(if_match.clone());
            let expected = object.size;
            async move {
                let out = request.send().await.map_err(|e| classify(&e))?;
                let length = out.content_length().and_then(|l| u64::try_from(l).ok());
                read_object(length, expected, out.body).await
            }
        })
        .await
        .map_err(|reason| SourceError::S3 {
            url: object.key.clone(),
            reason,
        })
    }
}

/// What a listing uses of one ListObjectsV2 page.
#[derive(Debug, Default)]
pub(crate) struct Page {
    pub(crate) objects: Vec<Entry>,
    /// The folders beside them (a delimiter listing).
    pub(crate) prefixes: Vec<String>,
    /// The continuation token of the next page, when the listing goes on.
    pub(crate) next: Option<String>,
}

/// One object of a [`Page`].
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) size: u64,
    /// As listed, quotes included (S3 always sends one; some compatible stores do not).
    pub(crate) etag: Option<String>,
    /// Nanoseconds since the epoch.
    pub(crate) modified_ns: i128,
}

impl From<ListObjectsV2Output> for Page {
    fn from(page: ListObjectsV2Output) -> Page {
        let next = match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => Some(t.to_string()),
            _ => None,
        };
        Page {
            prefixes: page
                .common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string))
                .collect(),
            objects: page
                .contents
                .unwrap_or_default()
                .into_iter()
                .filter_map(|o| {
                    Some(Entry {
                        size: o.size().map_or(0, |s| u64::try_from(s).unwrap_or(0)),
                        modified_ns: o.last_modified().map_or(0, |t| t.as_nanos()),
                        etag: o.e_tag,
                        key: o.key?,
                    })
                })
                .collect(),
            next,
        }
    }
}

/// The object `e` of bucket `bucket`, delivered on `date` (from the key, parsed once by the
/// caller).
fn meta(bucket: &str, e: &Entry, date: Option<layout::Day>) -> ObjectMeta {
    let size = e.size;
    let version = match &e.etag {
        Some(etag) => format!("etag {} size {size}", etag.trim_matches('"')),
        None => format!("size {size} modified {}", e.modified_ns),
    };
    ObjectMeta {
        key: format!("s3://{bucket}/{}", e.key),
        version,
        size,
        kind: layout::classify(&e.key),
        date,
    }
}

/// One ListObjectsV2 request: the keys under `prefix` (with `/` as delimiter, or flat), after
/// `start_after` or from the continuation `token`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageQuery<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) delimiter: bool,
    pub(crate) start_after: Option<&'a str>,
    pub(crate) token: Option<&'a str>,
}

/// Where a [`Lister`] gets its pages: the bucket, or a stand-in in tests.
trait Pages: Sync {
    /// The bucket's name.
    fn bucket(&self) -> &str;
    /// One page of a listing.
    fn page<'a>(&'a self, query: PageQuery<'a>) -> BoxFuture<'a, Result<Page, String>>;
}

impl Pages for S3Source {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    fn page<'a>(&'a self, query: PageQuery<'a>) -> BoxFuture<'a, Result<Page, String>> {
        Box::pin(self.list_page(query))
    }
}

/// A folder being listed, a page at a time.
struct Cursor {
    dir: String,
    plan: Plan,
    token: Option<String>,
    /// A month listed from the first day in range.
    start_after: Option<String>,
    /// A month's keys come by day: every key still to come is of this day or later.
    frontier: layout::Day,
    /// It lists a folder of objects that are never read (digests, Insights): how far it has
    /// come does not decide which days are complete. Its keys of a day already handed out go
    /// out on their own (see `Lister::hold`), and the pipeline counts them as skipped. A year
    /// of one account's digests is about 150 pages listed one after another: the days of the
    /// trail do not wait for them.
    never_read: bool,
}

impl Cursor {
    /// Whether its keys come in day order (a month listed flat), so that the days before its
    /// frontier are complete as far as it is concerned.
    fn ordered(&self) -> bool {
        self.plan == Plan::Days
    }
}

/// The listing of one bucket prefix as a stream of days (see [`Source::list`]).
///
/// Delimiter listings walk the layout down to the regions, or the months in a day range
/// (`LIST_CONCURRENCY` requests in flight); each is then listed flat, a page at a time, and
/// its keys come in day order. So once no folder is left to discover, every day before the
/// smallest frontier of the flat listings still going (those of digests and Insights aside,
/// whose objects are never read) is complete and is handed out, while
/// later pages are still being asked for. The next page goes to the listing furthest behind,
/// so that days complete early and few objects wait.
struct Lister<'a> {
    pages: &'a dyn Pages,
    filter: &'a LayoutFilter,
    /// Objects held at most (see [`MAX_LISTED_AHEAD`]), give or take a page per listing in
    /// flight. Past it, only the listings furthest behind ask for pages, and the day they are
    /// on is handed out as far as it is listed. 32 listings of 1,000 keys fit three times over.
    max_held: usize,
    /// Folders found and not yet planned.
    queue: Vec<String>,
    /// Folders queued so far: a guessed one is not listed again when its parent shows it.
    seen: HashSet<String>,
    /// Regions found below accounts' `CloudTrail/` folders so far, with how many of those
    /// showed each, and how many were listed: the `CloudTrail/` folders listed afterwards
    /// have the regions of at least half of them listed alongside (see [`guesses`]).
    regions: BTreeMap<String, u32>,
    trail_folders: u32,
    /// The `CloudTrail/` folders asked for and not answered yet: those asked before any
    /// region was known get the regions found meanwhile listed alongside, without waiting
    /// for their answer.
    unanswered_trails: BTreeSet<u64>,
    /// The likely regions when those were last queued: unchanged, there is nothing to add.
    likely_queued: BTreeSet<String>,
    next_id: u64,
    /// Listings not finished, in flight or waiting for their next page.
    cursors: HashMap<u64, Cursor>,
    waiting_ordered: BinaryHeap<Reverse<(layout::Day, u64)>>,
    waiting_other: Vec<u64>,
    running: FuturesUnordered<BoxFuture<'a, (u64, Result<Page, String>)>>,
    dated: BTreeMap<layout::Day, Vec<ObjectMeta>>,
    undated: Vec<ObjectMeta>,
    buffered: usize,
    /// The most objects held at once.
    #[cfg(test)]
    peak: usize,
    /// The last day handed out whole.
    emitted: Option<layout::Day>,
    /// Keys of the page being read whose day was handed out already, by day.
    late: BTreeMap<layout::Day, Vec<ObjectMeta>>,
    out: VecDeque<Result<Listed, SourceError>>,
    listed_once: bool,
    finished: bool,
}

impl<'a> Lister<'a> {
    fn new(pages: &'a dyn Pages, prefix: &str, filter: &'a LayoutFilter, max_held: usize) -> Self {
        Lister {
            pages,
            filter,
            max_held,
            queue: vec![prefix.to_string()],
            seen: [prefix.to_string()].into_iter().collect(),
            regions: BTreeMap::new(),
            trail_folders: 0,
            unanswered_trails: BTreeSet::new(),
            likely_queued: BTreeSet::new(),
            next_id: 0,
            cursors: HashMap::new(),
            waiting_ordered: BinaryHeap::new(),
            waiting_other: Vec::new(),
            running: FuturesUnordered::new(),
            dated: BTreeMap::new(),
            undated: Vec::new(),
            buffered: 0,
            #[cfg(test)]
            peak: 0,
            emitted: None,
            late: BTreeMap::new(),
            out: VecDeque::new(),
            listed_once: false,
            finished: false,
        }
    }

    /// The next part of the listing, or `None` when it is over.
    async fn next_part(&mut self) -> Option<Result<Listed, SourceError>> {
        loop {
            if let Some(part) = self.out.pop_front() {
                return Some(part);
            }
            if self.finished {
                return None;
            }
            self.start_requests();
            let Some((id, page)) = self.running.next().await else {
                // Nothing in flight and nothing left to ask: all is listed.
                self.hand_out_all();
                self.finished = true;
                continue;
            };
            self.on_page(id, page).await;
            if !self.finished {
                self.hand_out_listed();
            }
        }
    }

    /// The regions found below at least half of the accounts' `CloudTrail/` folders listed so
    /// far. Some regions are used by a few accounts of an organization only: guessed for
    /// every other account, each would be an empty listing.
    fn likely_regions(&self) -> BTreeSet<String> {
        self.regions
            .iter()
            .filter(|(_, shown)| 2 * **shown >= self.trail_folders)
            .map(|(region, _)| region.clone())
            .collect()
    }

    /// Queues the likely regions of the `CloudTrail/` folders still to answer. An
    /// organization's accounts sit a level deeper than account trails: their `CloudTrail/`
    /// folders are often asked for before any region is known, and their regions would
    /// otherwise wait a round trip for their answer.
    fn guess_for_unanswered_trails(&mut self) {
        if self.unanswered_trails.is_empty() {
            return;
        }
        let likely = self.likely_regions();
        if likely == self.likely_queued {
            return; // those asked for since had these listed alongside
        }
        let dirs: Vec<String> = (self.unanswered_trails.iter())
            .filter_map(|id| self.cursors.get(id))
            .map(|c| c.dir.clone())
            .collect();
        for dir in dirs {
            for g in guesses(&dir, &likely) {
                self.enqueue(g);
            }
        }
        self.likely_queued = likely;
    }

    /// Hands out the days listed in full, and more when too much is held.
    fn hand_out_listed(&mut self) {
        let complete = self.complete_before();
        if let Some(day) = complete {
            self.hand_out_before(day);
        }
        if self.buffered < self.max_held {
            return;
        }
        // Too much held for the days still to complete. Keys outside the layout come in no
        // order: they go first. Then what is listed of the first day goes now (the listings
        // furthest behind are on it), the rest of it later. While folders are still being
        // discovered no day is known complete, and the first day held goes likewise.
        self.hand_out_undated();
        if self.buffered >= self.max_held {
            let first = complete.or_else(|| self.dated.keys().next().copied());
            if let Some(day) = first {
                self.hand_out_part(day);
            }
        }
    }

    fn start_requests(&mut self) {
        let filter = self.filter;
        while self.running.len() < LIST_CONCURRENCY {
            if let Some(dir) = self.queue.pop() {
                match plan(&dir, filter) {
                    Plan::Children(children) => {
                        for c in children {
                            self.enqueue(c);
                        }
                    }
                    plan => {
                        let trail = plan == Plan::Delimited && is_trail_folder(&dir);
                        if plan == Plan::Delimited {
                            // Regions are guessed below a `CloudTrail/` folder only.
                            let likely = if trail {
                                self.likely_regions()
                            } else {
                                BTreeSet::new()
                            };
                            for g in guesses(&dir, &likely) {
                                self.enqueue(g);
                            }
                        }
                        let id = self.add_cursor(dir, plan);
                        if trail {
                            self.unanswered_trails.insert(id);
                        }
                        self.request(id);
                    }
                }
                continue;
            }
            if let Some(id) = self.waiting_other.pop() {
                self.request(id);
                continue;
            }
            let Some(&Reverse((frontier, id))) = self.waiting_ordered.peek() else {
                break;
            };
            if self.buffered >= self.max_held
                && self.complete_before().is_none_or(|day| frontier > day)
            {
                break; // a listing further behind is in flight: let it catch up
            }
            self.waiting_ordered.pop();
            self.request(id);
        }
    }

    /// Queues a folder to list, unless the filter leaves it out or it is queued already.
    fn enqueue(&mut self, dir: String) {
        if self.filter.admits_dir(&dir) && self.seen.insert(dir.clone()) {
            self.queue.push(dir);
        }
    }

    fn add_cursor(&mut self, dir: String, plan: Plan) -> u64 {
        let filter = self.filter;
        let mut frontier = (0, 0, 0);
        let mut start_after = None;
        if plan == Plan::Days
            && let Some((rest, _)) = below_awslogs(&dir)
            && let (Some(y), Some(m)) = (
                rest.get(3).and_then(|y| y.parse().ok()),
                rest.get(4).and_then(|m| m.parse().ok()),
            )
        {
            frontier = (y, m, 0);
            // Keys sort by day under a month: start at the first day in range.
            start_after = filter
                .from
                .filter(|(fy, fm, _)| (*fy, *fm) == (y, m))
                .map(|(_, _, d)| format!("{dir}{d:02}"));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.cursors.insert(
            id,
            Cursor {
                never_read: layout::classify(&dir) != layout::ObjectKind::Log,
                dir,
                plan,
                token: None,
                start_after,
                frontier,
            },
        );
        id
    }

    fn request(&mut self, id: u64) {
        let Some(c) = self.cursors.get(&id) else {
            return;
        };
        let (dir, delimiter) = (c.dir.clone(), c.plan == Plan::Delimited);
        let (start_after, token) = (c.start_after.clone(), c.token.clone());
        let pages = self.pages;
        self.running.push(
            async move {
                let query = PageQuery {
                    prefix: &dir,
                    delimiter,
                    start_after: start_after.as_deref(),
                    token: token.as_deref(),
                };
                let page = pages.page(query).await;
                (id, page)
            }
            .boxed(),
        );
    }

    async fn on_page(&mut self, id: u64, page: Result<Page, String>) {
        let Some(mut cursor) = self.cursors.remove(&id) else {
            return;
        };
        self.unanswered_trails.remove(&id);
        let page = match page {
            Ok(page) => page,
            Err(reason) => {
                let url = format!("s3://{}/{}", self.pages.bucket(), cursor.dir);
                let error = SourceError::S3 {
                    url: url.clone(),
                    reason,
                };
                if !self.listed_once {
                    // Nothing could be listed yet: the bucket, the credentials or the region
                    // is wrong, and every other listing would fail the same way. Those already
                    // sent (a guess beside its parent) are let finish, so that what a run asks
                    // of the bucket does not depend on which answer came first.
                    while self.running.next().await.is_some() {}
                    self.out.clear();
                    self.out.push_back(Err(error));
                    self.finished = true;
                } else {
                    self.out.push_back(Ok(Listed::Unlisted(url, error)));
                }
                return;
            }
        };
        self.listed_once = true;
        let filter = self.filter;
        let regions_below = cursor.plan == Plan::Delimited && is_trail_folder(&cursor.dir);
        if regions_below && cursor.token.is_none() {
            self.trail_folders += 1; // its first page
        }
        for p in page.prefixes {
            if regions_below
                && let Some(region) = p
                    .strip_prefix(cursor.dir.as_str())
                    .and_then(|r| r.strip_suffix('/'))
                    .filter(|r| !r.is_empty() && !r.contains('/'))
            {
                *self.regions.entry(region.to_string()).or_default() += 1;
            }
            self.enqueue(p);
        }
        if regions_below {
            self.guess_for_unanswered_trails();
        }
        let mut stopped = false;
        for o in &page.objects {
            let key = o.key.as_str();
            let info = layout::parse_key(key);
            let date = info.date;
            if cursor.ordered()
                && let (Some(day), Some(to)) = (date, filter.to)
                && day > to
            {
                stopped = true; // past the last day in range
                break;
            }
            if key.ends_with('/') {
                continue; // a "folder" placeholder object
            }
            if !filter.admits_info(&info) {
                continue;
            }
            let meta = meta(self.pages.bucket(), o, date);
            if cursor.ordered()
                && let Some(day) = meta.date
            {
                cursor.frontier = cursor.frontier.max(day);
            }
            self.hold(meta);
        }
        for (_, late) in std::mem::take(&mut self.late) {
            self.out.push_back(Ok(Listed::sorted(late)));
        }
        match page.next {
            Some(t) if !stopped => {
                cursor.token = Some(t);
                if cursor.ordered() {
                    self.waiting_ordered.push(Reverse((cursor.frontier, id)));
                } else {
                    self.waiting_other.push(id);
                }
                self.cursors.insert(id, cursor);
            }
            _ => {} // this folder is listed
        }
    }

    fn hold(&mut self, meta: ObjectMeta) {
        match meta.date {
            // A key that sorts after its day was handed out (not laid out as CloudTrail does):
            // handed out with the others of its page and day.
            Some(day) if self.emitted.is_some_and(|e| day <= e) => {
                self.late.entry(day).or_default().push(meta);
            }
            Some(day) => {
                self.dated.entry(day).or_default().push(meta);
                self.buffered += 1;
            }
            None => {
                self.undated.push(meta);
                self.buffered += 1;
            }
        }
        #[cfg(test)]
        {
            self.peak = self.peak.max(self.buffered);
        }
    }

    /// Days before this one are listed in full; `None` while folders that may hold any day
    /// are still to be listed.
    fn complete_before(&self) -> Option<layout::Day> {
        let read = |id: &u64| self.cursors.get(id).is_none_or(|c| !c.never_read);
        if !self.queue.is_empty() || self.waiting_other.iter().any(read) {
            return None;
        }
        let mut before = (u32::MAX, u32::MAX, u32::MAX);
        for c in self.cursors.values().filter(|c| !c.never_read) {
            if !c.ordered() {
                return None;
            }
            before = before.min(c.frontier);
        }
        Some(before)
    }

    /// Hands out what is held of `day`, which is not complete yet: more of it may follow.
    fn hand_out_part(&mut self, day: layout::Day) {
        if let Some(objects) = self.dated.remove(&day) {
            self.push_part(objects);
        }
    }

    /// Hands out `objects`, no longer held, sorted by key.
    fn push_part(&mut self, objects: Vec<ObjectMeta>) {
        self.buffered -= objects.len();
        self.out.push_back(Ok(Listed::sorted(objects)));
    }

    /// Hands out the keys held that are outside the layout (no delivery day).
    fn hand_out_undated(&mut self) {
        if !self.undated.is_empty() {
            let objects = std::mem::take(&mut self.undated);
            self.push_part(objects);
        }
    }

    /// Hands out the held days before `complete`, each whole.
    fn hand_out_before(&mut self, complete: layout::Day) {
        while let Some(entry) = self.dated.first_entry() {
            if *entry.key() >= complete {
                break;
            }
            let (day, objects) = entry.remove_entry();
            self.emitted = Some(day);
            self.push_part(objects);
        }
    }

    /// Hands out everything held: the listing is over.
    fn hand_out_all(&mut self) {
        self.hand_out_before((u32::MAX, u32::MAX, u32::MAX));
        self.hand_out_undated();
    }
}

/// How to list one folder of the key layout.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// The folders below are known without listing (named accounts, regions, months).
    Children(Vec<String>),
    /// List with a delimiter: discover the folders below (organization ids, accounts,
    /// regions, years, months, or the way down to `AWSLogs/`), and the keys beside them.
    Delimited,
    /// A month folder, or a region without a day range: list its keys flat, which come by
    /// day, from the first day in range to the last.
    Days,
    /// List every key below (a folder below the day level, or not laid out as a trail).
    Flat,
}

/// Folders listed at once. A trail is split down to its months, so that a large bucket is
/// listed by many requests in flight rather than page after page.
const LIST_CONCURRENCY: usize = 32;

/// Months enumerated without a listing when `--from` and `--to` are both given; a longer
/// range is discovered with delimiter listings.
const MAX_ENUMERATED_MONTHS: u32 = 36;

/// The folders of `dir` below `AWSLogs/` and an organization id (`None` for a folder outside
/// `AWSLogs/`), and whether there is an organization id.
fn below_awslogs(dir: &str) -> Option<(Vec<&str>, bool)> {
    let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    let at = parts.iter().position(|p| *p == "AWSLogs")?;
    let mut rest = &parts[at + 1..];
    let organization = rest.first().is_some_and(|p| p.starts_with("o-"));
    if organization {
        rest = &rest[1..];
    }
    Some((rest.to_vec(), organization))
}

/// Folders listed together with the delimiter listing of `dir`, before that listing shows
/// them, because CloudTrail's layout makes them likely: each level known ahead saves a round
/// trip before the first GET. The listing of `dir` still runs, so nothing is missed when a
/// guess is wrong (a guess that does not exist costs one empty listing; a right one costs
/// nothing, as it is not listed again when `dir`'s listing shows it).
/// - above `AWSLogs/`: `AWSLogs/`;
/// - an account: its `CloudTrail/`;
/// - an account's `CloudTrail/`: the `regions` found below most other accounts' so far. The
///   accounts of one trail log mostly the same regions, and an organization's accounts are
///   one level deeper than an account trail's: an organization trail beside account trails
///   (or the accounts of a large organization listed after the first ones) start on their
///   days a round trip sooner.
///
/// Not a year's twelve months: that multiplies the listings of a trail by up to twelve, and
/// with `LIST_CONCURRENCY` in flight the listing took longer (measured: a listing-only run at
/// 50 ms of latency went from 0.54 to 0.67 s on the benchmark's 1 GB trail).
fn guesses(dir: &str, regions: &BTreeSet<String>) -> Vec<String> {
    if !(dir.is_empty() || dir.ends_with('/')) {
        return Vec::new();
    }
    match below_awslogs(dir) {
        None => vec![format!("{dir}AWSLogs/")],
        Some((rest, _)) => match rest.as_slice() {
            [account] if layout::is_account(account) => vec![format!("{dir}CloudTrail/")],
            [account, "CloudTrail"] if layout::is_account(account) => {
                regions.iter().map(|r| format!("{dir}{r}/")).collect()
            }
            _ => Vec::new(),
        },
    }
}

/// Whether `dir` is an account's `CloudTrail/` folder, whose folders are its regions.
fn is_trail_folder(dir: &str) -> bool {
    dir.ends_with('/')
        && below_awslogs(dir).is_some_and(
            |(rest, _)| matches!(rest.as_slice(), [a, "CloudTrail"] if layout::is_account(a)),
        )
}

fn plan(dir: &str, filter: &LayoutFilter) -> Plan {
    let Some((rest, in_organization)) = below_awslogs(dir) else {
        return Plan::Delimited;
    };
    let rest = rest.as_slice();
    let names = |set: &BTreeSet<String>| set.iter().map(|n| format!("{dir}{n}/")).collect();
    let trail = rest.get(1) == Some(&"CloudTrail");
    let number = |i: usize, len: usize| {
        rest.get(i)
            .is_some_and(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
    };
    match rest.len() {
        0 => match &filter.accounts {
            // `AWSLogs/` itself holds the organization ids as well: list it.
            Some(accounts) if in_organization => Plan::Children(names(accounts)),
            _ => Plan::Delimited,
        },
        // Everything is read: digests and Insights are listed too (and counted as skipped).
        1 if filter.is_empty() => Plan::Delimited,
        1 => Plan::Children(vec![format!("{dir}CloudTrail/")]),
        2 if trail => match &filter.regions {
            Some(regions) => Plan::Children(names(regions)),
            None => Plan::Delimited,
        },
        3 if trail => match (filter.from, filter.to) {
            (Some(from), Some(to)) => match months(from, to) {
                Some(months) => Plan::Children(
                    months
                        .into_iter()
                        .map(|(y, m)| format!("{dir}{y:04}/{m:02}/"))
                        .collect(),
                ),
                None => Plan::Delimited,
            },
            // Every day is read: the region is listed flat, its keys come by day. Discovering
            // its years and months first cost two round trips before the first GET; the
            // month listings they allowed in parallel are not needed, since GETs start with
            // the first day and one listing of a region (1,000 keys a page) keeps ahead of
            // the ingest of its objects.
            (None, None) => Plan::Days,
            _ => Plan::Delimited,
        },
        4 if trail && number(3, 4) => Plan::Delimited,
        5 if trail && number(3, 4) && number(4, 2) => Plan::Days,
        _ => Plan::Flat,
    }
}

/// The months from `from` to `to`, when there are few enough to name them all.
fn months(from: layout::Day, to: layout::Day) -> Option<Vec<(u32, u32)>> {
    let index = |(y, m, _): layout::Day| y.checked_mul(12)?.checked_add(m.checked_sub(1)?);
    let (first, last) = (index(from)?, index(to)?);
    if last.saturating_sub(first) >= MAX_ENUMERATED_MONTHS {
        return None;
    }
    Some((first..=last).map(|i| (i / 12, i % 12 + 1)).collect())
}

/// A number in [0, 1) that differs between calls and processes (backoff jitter).
fn jitter() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = nanos
        ^ COUNTER
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(u64::from(std::process::id()) << 32);
    // SplitMix64 finalizer.
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Sorts an SDK error into worth retrying or not, with a reason people can act on.
fn classify<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Attempt
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::TimeoutError(_) => return Attempt::Transient("timed out".to_string()),
        SdkError::DispatchFailure(d) => {
            let why = error_chain(e);
            return if d.is_user() {
                Attempt::Permanent(why)
            } else {
                Attempt::Transient(why)
            };
        }
        SdkError::ResponseError(_) => return Attempt::Transient(error_chain(e)),
        SdkError::ConstructionFailure(_) => return Attempt::Permanent(error_chain(e)),
        _ => {}
    }
    let status = e.raw_response().map(|r| r.status().as_u16());
    let region = e
        .raw_response()
        .and_then(|r| r.headers().get("x-amz-bucket-region"))
        .map(str::to_string);
    if e.code().is_none() && status.is_none() {
        return Attempt::Permanent(error_chain(e));
    }
    describe_failure(e.code(), status, e.message().unwrap_or_default(), region)
}

/// Sorts an S3 error response (its error code, HTTP status, message and the bucket's region
/// header) into worth retrying or not, with a reason people can act on.
pub(crate) fn describe_failure(
    code: Option<&str>,
    status: Option<u16>,
    message: &str,
    region: Option<String>,
) -> Attempt {
    let head = match (code, status) {
        (Some(c), Some(s)) => format!("{c} (HTTP {s})"),
        (Some(c), None) => c.to_string(),
        (None, Some(s)) => format!("HTTP {s}"),
        (None, None) => "failed".to_string(),
    };
    let head = if message.is_empty() {
        head
    } else {
        format!("{head}: {message}")
    };
    let hint = match code {
        Some("InvalidAccessKeyId") => Some("the access key id is not known to S3"),
        Some("SignatureDoesNotMatch") => {
            Some("the secret access key does not belong to the access key id")
        }
        Some("ExpiredToken" | "TokenRefreshRequired" | "RequestExpired") => {
            Some("the credentials have expired; refresh them (e.g. `aws sso login`)")
        }
        Some("InvalidToken") => Some("the session token is not valid"),
        Some("AccessDenied" | "AllAccessDisabled") => {
            Some("these credentials may not read it (s3:ListBucket / s3:GetObject)")
        }
        Some("NoSuchBucket") => Some("no such bucket"),
        Some("PreconditionFailed") => {
            Some("it changed since it was listed; it is read again on the next run")
        }
        _ => None,
    };
    let wrong_region = matches!(
        code,
        Some(
            "PermanentRedirect"
                | "AuthorizationHeaderMalformed"
                | "IllegalLocationConstraintException"
        )
    ) || status == Some(301);
    let text = match (hint, wrong_region) {
        (_, true) => match region {
            Some(r) => format!("{head}; the bucket is in region {r}: pass --region {r}"),
            None => format!("{head}; the bucket is in another region: pass --region"),
        },
        (Some(h), _) => format!("{head}; {h}"),
        (None, _) => head,
    };
    let transient = matches!(status, Some(500 | 502 | 503 | 504 | 408 | 429))
        || matches!(
            code,
            Some(
                "SlowDown"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "RequestTimeout"
                    | "Throttling"
                    | "ThrottlingException"
                    | "RequestTimeTooSkewed"
            )
        );
    if transient {
        Attempt::Transient(text)
    } else {
        Attempt::Permanent(text)
    }
}

impl Source for S3Source {
    fn describe(&self) -> String {
        self.url(&self.prefix)
    }

    fn list(&self) -> ListStream<'_> {
        enum State<'a> {
            Start,
            Listing(Box<Lister<'a>>, String),
            Done,
        }
        let with_tried = move |e: SourceError, region: &str| match e {
            SourceError::S3 { url, reason } => SourceError::S3 {
                url,
                reason: format!("{reason} ({})", self.tried(region)),
            },
            other => other,
        };
        futures::stream::unfold(State::Start, move |state| async move {
            let (mut lister, region) = match state {
                State::Done => return None,
                State::Listing(lister, region) => (lister, region),
                State::Start => {
                    let (client, getter) = match self.connect().await {
                        Ok(connected) => connected,
                        Err(e) => return Some((Err(e), State::Done)),
                    };
                    let region = client
                        .config()
                        .region()
                        .map_or("us-east-1".to_string(), |r| r.to_string());
                    let _ = self.client.set(client);
                    let _ = self.getter.set(getter);
                    let lister =
                        Lister::new(self, &self.prefix, &self.options.filter, MAX_LISTED_AHEAD);
                    (Box::new(lister), region)
                }
            };
            match lister.next_part().await? {
                Err(e) => Some((Err(with_tried(e, &region)), State::Done)),
                Ok(part) => Some((Ok(part), State::Listing(lister, region))),
            }
        })
        .boxed()
    }

    fn fetch<'a>(&'a self, object: &'a ObjectMeta) -> BoxFuture<'a, Result<Bytes, SourceError>> {
        Box::pin(self.get(object))
    }

    fn round_trip(&self) -> Option<Duration> {
        match self.stats.fastest_list_us.load(Ordering::Relaxed) {
            u64::MAX => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    fn give_back(&self, body: Bytes) {
        if let Some(Some(getter)) = self.getter.get() {
            getter.give_back(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(accounts: &[&str], regions: &[&str]) -> LayoutFilter {
        let set = |v: &[&str]| {
            (!v.is_empty()).then(|| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>())
        };
        LayoutFilter {
            accounts: set(accounts),
            regions: set(regions),
            from: Some((2024, 3, 1)),
            to: Some((2024, 3, 1)),
        }
    }

    #[test]
    fn plans_follow_the_layout() {
        let f = filter(&["111122223333"], &["us-east-1"]);
        assert_eq!(plan("", &f), Plan::Delimited);
        assert_eq!(plan("logs/", &f), Plan::Delimited);
        assert_eq!(
            plan("logs/AWSLogs/", &f),
            Plan::Delimited,
            "org ids live here"
        );
        assert_eq!(
            plan("AWSLogs/o-abc/", &f),
            Plan::Children(vec!["AWSLogs/o-abc/111122223333/".into()])
        );
        assert_eq!(
            plan("AWSLogs/111122223333/", &f),
            Plan::Children(vec!["AWSLogs/111122223333/CloudTrail/".into()])
        );
        assert_eq!(
            plan("AWSLogs/111122223333/CloudTrail/", &f),
            Plan::Children(vec!["AWSLogs/111122223333/CloudTrail/us-east-1/".into()])
        );
        // --from and --to name the months.
        assert_eq!(
            plan("AWSLogs/111122223333/CloudTrail/us-east-1/", &f),
            Plan::Children(vec![
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/".into()
            ])
        );
        let mut span = f.clone();
        span.from = Some((2023, 11, 20));
        span.to = Some((2024, 2, 3));
        let Plan::Children(months) = plan("AWSLogs/1/CloudTrail/r/", &span) else {
            panic!("months are named")
        };
        assert_eq!(
            months,
            ["2023/11/", "2023/12/", "2024/01/", "2024/02/"]
                .map(|m| format!("AWSLogs/1/CloudTrail/r/{m}"))
        );
        span.from = Some((2010, 1, 1));
        assert_eq!(plan("AWSLogs/1/CloudTrail/r/", &span), Plan::Delimited);
        span.from = Some((2024, 3, 1));
        assert_eq!(
            plan("AWSLogs/1/CloudTrail/r/", &span),
            Plan::Children(vec![]),
            "from after to: nothing"
        );

        let open = filter(&[], &[]);
        assert_eq!(plan("AWSLogs/o-abc/", &open), Plan::Delimited);
        assert_eq!(
            plan("AWSLogs/111122223333/CloudTrail/", &open),
            Plan::Delimited
        );
        assert_eq!(
            plan("AWSLogs/111122223333/CloudTrail/us-east-1/", &open),
            Plan::Children(vec![
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/".into()
            ])
        );
        assert_eq!(
            plan(
                "AWSLogs/111122223333/CloudTrail/us-east-1/",
                &LayoutFilter::default()
            ),
            Plan::Days,
            "every day: the region flat"
        );
        assert_eq!(
            plan("AWSLogs/111122223333/CloudTrail/us-east-1/2024/", &open),
            Plan::Delimited,
            "months"
        );
        assert_eq!(
            plan("AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/", &open),
            Plan::Days
        );
        assert_eq!(
            plan(
                "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/",
                &open
            ),
            Plan::Flat
        );
        assert_eq!(
            plan("AWSLogs/111122223333/CloudTrail/us-east-1/exports/", &open),
            Plan::Flat
        );

        // Without any filter, every folder is discovered: digests and Insights too.
        let all = LayoutFilter::default();
        assert_eq!(plan("AWSLogs/111122223333/", &all), Plan::Delimited);
        assert_eq!(
            plan("AWSLogs/111122223333/CloudTrail-Digest/", &all),
            Plan::Flat
        );
    }

    #[test]
    fn guesses_follow_the_layout() {
        let none = BTreeSet::new();
        assert_eq!(guesses("", &none), ["AWSLogs/"]);
        assert_eq!(guesses("logs/", &none), ["logs/AWSLogs/"]);
        assert!(guesses("logs", &none).is_empty(), "not a folder");
        assert!(guesses("AWSLogs/", &none).is_empty());
        assert!(guesses("AWSLogs/o-abc/", &none).is_empty());
        assert_eq!(
            guesses("logs/AWSLogs/111122223333/", &none),
            ["logs/AWSLogs/111122223333/CloudTrail/"]
        );
        assert_eq!(
            guesses("AWSLogs/o-abc/111122223333/", &none),
            ["AWSLogs/o-abc/111122223333/CloudTrail/"]
        );
        assert!(guesses("AWSLogs/111122223333/CloudTrail/", &none).is_empty());
        // The regions found so far, below an account's `CloudTrail/` only.
        let regions: BTreeSet<String> = ["eu-west-1", "us-east-1"].map(String::from).into();
        assert_eq!(
            guesses("AWSLogs/o-abc/111122223333/CloudTrail/", &regions),
            [
                "AWSLogs/o-abc/111122223333/CloudTrail/eu-west-1/",
                "AWSLogs/o-abc/111122223333/CloudTrail/us-east-1/"
            ]
        );
        for dir in [
            "AWSLogs/111122223333/CloudTrail-Digest/",
            "AWSLogs/111122223333/CloudTrail/us-east-1/",
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/",
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/",
            "AWSLogs/o-abc/CloudTrail/",
        ] {
            assert!(guesses(dir, &regions).is_empty(), "{dir}");
        }
        assert_eq!(guesses("AWSLogs/111122223333/", &regions).len(), 1);
        assert!(is_trail_folder("x/AWSLogs/o-abc/111122223333/CloudTrail/"));
        assert!(!is_trail_folder("AWSLogs/111122223333/CloudTrail"));
        assert!(!is_trail_folder("AWSLogs/111122223333/"));
    }

    #[test]
    fn urls() {
        let s = S3Source::new("s3://bucket/logs", S3Options::default()).expect("url");
        assert_eq!((s.bucket.as_str(), s.prefix.as_str()), ("bucket", "logs/"));
        assert_eq!(s.describe(), "s3://bucket/logs/");
        let s = S3Source::new("s3://bucket", S3Options::default()).expect("url");
        assert_eq!(s.prefix, "");
        assert!(S3Source::new("s3:///x", S3Options::default()).is_err());
        assert!(is_s3_url("s3://b") && !is_s3_url("./s3"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let s = S3Source::new("s3://b", S3Options::default()).expect("url");
        for attempt in 1..30 {
            assert!(s.backoff(attempt) <= Duration::from_secs(10));
        }
        let j: Vec<f64> = (0..100).map(|_| jitter()).collect();
        assert!(j.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(j.iter().any(|x| *x != j[0]));
    }

    /// A bucket in memory that lists as S3 does: keys in order, `page_size` entries a page
    /// (a folder counts as one), `/` folders with a delimiter, `StartAfter` and tokens.
    /// Listings of the folders in `slow` answer after the others that are in flight
    /// (yielding to them many times first), as S3's answers come in any order.
    #[derive(Default)]
    struct Bucket {
        keys: Vec<String>,
        page_size: usize,
        slow: Vec<String>,
        /// Answered later still (3,000 yields).
        slower: Vec<String>,
        /// What happened, in order: `ask <prefix>` when a listing is sent, `got <prefix>`
        /// when its answer comes.
        log: std::sync::Mutex<Vec<String>>,
    }

    impl Bucket {
        fn log(&self, event: String) {
            self.log.lock().expect("log").push(event);
        }

        fn events(&self) -> Vec<String> {
            self.log.lock().expect("log").clone()
        }
    }

    /// Where `event` is in `events` (see [`Bucket::events`]).
    fn position(events: &[String], event: &str) -> usize {
        events
            .iter()
            .position(|e| e == event)
            .unwrap_or_else(|| panic!("no {event:?} in {events:#?}"))
    }

    impl Pages for Bucket {
        fn bucket(&self) -> &str {
            "wide"
        }

        fn page<'a>(&'a self, query: PageQuery<'a>) -> BoxFuture<'a, Result<Page, String>> {
            let (prefix, delimiter) = (query.prefix, query.delimiter);
            let after = query.token.or(query.start_after).unwrap_or("");
            let mut page = Page::default();
            let mut last = String::new();
            for key in self.keys.iter().filter(|k| k.starts_with(prefix)) {
                // Past `after`, and not inside the folder the last page ended with.
                if key.as_str() <= after || (after.ends_with('/') && key.starts_with(after)) {
                    continue;
                }
                let folder = delimiter
                    .then(|| key[prefix.len()..].find('/'))
                    .flatten()
                    .map(|i| key[..prefix.len() + i + 1].to_string());
                if let Some(folder) = &folder
                    && page.prefixes.last() == Some(folder)
                {
                    continue;
                }
                if page.objects.len() + page.prefixes.len() == self.page_size {
                    page.next = Some(last);
                    break;
                }
                last = match folder {
                    Some(folder) => {
                        page.prefixes.push(folder.clone());
                        folder
                    }
                    None => {
                        page.objects.push(Entry {
                            key: key.clone(),
                            size: 1,
                            etag: Some("\"e\"".to_string()),
                            modified_ns: 0,
                        });
                        key.clone()
                    }
                };
            }
            let yields = if self.slower.iter().any(|s| s == prefix) {
                3_000
            } else if self.slow.iter().any(|s| s == prefix) {
                1_000
            } else {
                1
            };
            self.log(format!("ask {prefix}"));
            Box::pin(async move {
                for _ in 0..yields {
                    tokio::task::yield_now().await;
                }
                self.log(format!("got {prefix}"));
                Ok(page)
            })
        }
    }

    #[tokio::test]
    async fn a_wide_day_comes_in_parts_and_the_listing_holds_a_bounded_number_of_keys() {
        // An organization trail of 4 accounts x 5 regions, 150 objects each a day, 3 days: a
        // day is 3,000 keys, more than the 500 the listing may hold.
        let mut keys = Vec::new();
        for account in 0..4 {
            for region in [
                "eu-west-1",
                "us-east-1",
                "us-east-2",
                "us-west-1",
                "us-west-2",
            ] {
                for day in 1..=3 {
                    for i in 0..150 {
                        keys.push(format!(
                            "AWSLogs/o-abc/11112222333{account}/CloudTrail/{region}/2024/03/\
                             {day:02}/11112222333{account}_CloudTrail_{region}_202403{day:02}T\
                             {:02}{:02}Z_{i:04}.json.gz",
                            i / 10,
                            i % 10 * 5
                        ));
                    }
                }
            }
        }
        keys.sort();
        let bucket = Bucket {
            keys: keys.clone(),
            page_size: 100,
            slow: Vec::new(),
            ..Bucket::default()
        };
        let filter = LayoutFilter::default();
        let held = 500;
        let mut lister = Lister::new(&bucket, "", &filter, held);
        let mut parts: Vec<Vec<ObjectMeta>> = Vec::new();
        while let Some(part) = lister.next_part().await {
            match part.expect("listed") {
                Listed::Objects(objects) => parts.push(objects),
                Listed::Unlisted(at, e) => panic!("{at}: {e}"),
            }
        }
        // Every key once, in parts of one day each, sorted, the days in order.
        let mut listed: Vec<String> = parts.iter().flatten().map(|m| m.key.clone()).collect();
        let count = listed.len();
        listed.sort();
        listed.dedup();
        assert_eq!(listed.len(), count, "a key listed twice");
        let all: Vec<String> = keys.iter().map(|k| format!("s3://wide/{k}")).collect();
        assert_eq!(listed, all);
        let mut last_day = (0, 0, 0);
        let mut parts_of_day = BTreeMap::<layout::Day, usize>::new();
        for part in &parts {
            let day = part[0].date.expect("dated");
            assert!(part.iter().all(|m| m.date == Some(day)), "one day a part");
            assert!(part.is_sorted_by(|a, b| a.key < b.key), "sorted");
            assert!(day >= last_day, "{day:?} after {last_day:?}");
            last_day = day;
            *parts_of_day.entry(day).or_default() += 1;
        }
        assert!(
            parts_of_day.values().all(|&n| n > 1),
            "each day in several parts: {parts_of_day:?}"
        );
        // Held at most: the limit, and a page from each of the 20 region listings.
        assert!(
            lister.peak <= held + 20 * 100,
            "{} keys held at once, a day is 3,000",
            lister.peak
        );

        // With room for everything, each day comes whole.
        let mut lister = Lister::new(&bucket, "", &filter, MAX_LISTED_AHEAD);
        let mut days = Vec::new();
        while let Some(part) = lister.next_part().await {
            if let Ok(Listed::Objects(objects)) = part {
                assert_eq!(objects.len(), 3_000);
                days.push(objects[0].date);
            }
        }
        assert_eq!(
            days,
            [Some((2024, 3, 1)), Some((2024, 3, 2)), Some((2024, 3, 3))]
        );
    }

    /// Fails unless `parts` hold each of `keys` (of the bucket `wide`) exactly once, and each
    /// part keys of one day.
    #[track_caller]
    fn assert_every_key_once_one_day_a_part(parts: &[Vec<ObjectMeta>], keys: &[String]) {
        for part in parts {
            assert!(
                part.iter().all(|m| m.date == part[0].date),
                "one day a part: {part:?}"
            );
        }
        let mut listed: Vec<String> = parts.iter().flatten().map(|m| m.key.clone()).collect();
        listed.sort();
        let mut all: Vec<String> = keys.iter().map(|k| format!("s3://wide/{k}")).collect();
        all.sort();
        assert_eq!(listed, all);
    }

    /// Sorted keys of two days of logs in each of the regions of each account folder.
    fn trail_keys(accounts: &[(&str, &[&str])]) -> Vec<String> {
        let mut keys = Vec::new();
        for (account, regions) in accounts {
            for region in *regions {
                for day in 1..=2 {
                    keys.push(format!(
                        "{account}CloudTrail/{region}/2024/03/{day:02}/\
                         x_CloudTrail_{region}_202403{day:02}T0000Z_x.json.gz"
                    ));
                }
            }
        }
        keys.sort();
        keys
    }

    /// Lists `bucket` from its root; every part of the listing.
    async fn list_parts(bucket: &Bucket, held: usize) -> Vec<Vec<ObjectMeta>> {
        let filter = LayoutFilter::default();
        let mut lister = Lister::new(bucket, "", &filter, held);
        let mut parts = Vec::new();
        while let Some(part) = lister.next_part().await {
            match part.expect("listed") {
                Listed::Objects(objects) => parts.push(objects),
                Listed::Unlisted(at, e) => panic!("{at}: {e}"),
            }
        }
        parts
    }

    #[tokio::test]
    async fn each_day_comes_whole_and_in_order_whatever_order_the_listings_answer_in() {
        // Two accounts, one of them also in an organization trail, with digests; the listings
        // of the second and third accounts' `CloudTrail/` answer last, after the first
        // account's regions are listed. Their days are not complete before.
        let mut keys = Vec::new();
        let accounts = [
            "AWSLogs/111122223333/",
            "AWSLogs/444455556666/",
            "AWSLogs/o-abc/444455556666/",
        ];
        for account in accounts {
            let id = &account[account.len() - 13..account.len() - 1];
            for region in ["eu-west-1", "us-east-1"] {
                for day in 1..=3 {
                    for i in 0..4 {
                        keys.push(format!(
                            "{account}CloudTrail/{region}/2024/03/{day:02}/\
                             {id}_CloudTrail_{region}_202403{day:02}T00{i}0Z_x.json.gz"
                        ));
                    }
                }
            }
            keys.push(format!(
                "{account}CloudTrail-Digest/us-east-1/2024/03/02/\
                 {id}_CloudTrail-Digest_us-east-1_t_us-east-1_20240302T010000Z.json.gz"
            ));
        }
        keys.sort();
        let bucket = Bucket {
            keys: keys.clone(),
            page_size: 1_000,
            slow: accounts[1..]
                .iter()
                .map(|a| format!("{a}CloudTrail/"))
                .collect(),
            ..Bucket::default()
        };
        let parts = list_parts(&bucket, MAX_LISTED_AHEAD).await;
        let days: Vec<_> = parts.iter().map(|p| (p[0].date, p.len())).collect();
        // 3 listings of an account x 2 regions x 4 objects a day, and a digest each on the 2nd.
        assert_eq!(
            days,
            [
                (Some((2024, 3, 1)), 24),
                (Some((2024, 3, 2)), 27),
                (Some((2024, 3, 3)), 24)
            ]
        );
        assert_every_key_once_one_day_a_part(&parts, &keys);

        // Past the bound while folders are still being discovered, the first day held goes in
        // parts: the listing holds a bounded number of keys, each key comes once.
        let parts = list_parts(&bucket, 10).await;
        assert_every_key_once_one_day_a_part(&parts, &keys);
        assert!(parts.len() > 3, "{} parts", parts.len());
    }

    #[tokio::test]
    async fn days_do_not_wait_for_a_long_listing_of_digests() {
        // An account's digests take many pages (a year of them, about 150), listed slowly:
        // the trail's days go out as they are complete, the digests after them.
        let account = "AWSLogs/111122223333/";
        let mut keys = Vec::new();
        for day in 1..=3 {
            for i in 0..4 {
                keys.push(format!(
                    "{account}CloudTrail/us-east-1/2024/03/{day:02}/\
                     111122223333_CloudTrail_us-east-1_202403{day:02}T00{i}0Z_x.json.gz"
                ));
            }
            for hour in 0..10 {
                keys.push(format!(
                    "{account}CloudTrail-Digest/us-east-1/2024/03/{day:02}/111122223333_\
                     CloudTrail-Digest_us-east-1_t_us-east-1_202403{day:02}T{hour:02}0000Z.json.gz"
                ));
            }
        }
        keys.sort();
        let bucket = Bucket {
            keys: keys.clone(),
            page_size: 2,
            slow: vec![format!("{account}CloudTrail-Digest/")],
            ..Bucket::default()
        };
        let parts = list_parts(&bucket, MAX_LISTED_AHEAD).await;
        assert_every_key_once_one_day_a_part(&parts, &keys);
        let trail = |p: &Vec<ObjectMeta>| {
            p.iter()
                .filter(|o| o.kind == layout::ObjectKind::Log)
                .count()
        };
        // The trail's three days first, whole and alone; the digests' days after them.
        let first: Vec<_> = parts[..3]
            .iter()
            .map(|p| (p[0].date, p.len(), trail(p)))
            .collect();
        assert_eq!(
            first,
            [
                (Some((2024, 3, 1)), 4, 4),
                (Some((2024, 3, 2)), 4, 4),
                (Some((2024, 3, 3)), 4, 4)
            ]
        );
        assert!(parts[3..].iter().all(|p| trail(p) == 0));
    }

    #[tokio::test]
    async fn keys_that_sort_after_their_day_come_in_parts_of_one_day() {
        // Month folders written `3` rather than `03` sort after December: by the time they are
        // listed, their days have been handed out. Each such day still comes in a part of
        // its own, as every part is one day.
        let region = "AWSLogs/111122223333/CloudTrail/us-east-1/2024";
        let mut keys: Vec<String> = [
            "03/01/a", "03/02/a", "03/03/a", "12/01/a", "3/01/b", "3/02/b",
        ]
        .iter()
        .map(|k| format!("{region}/{k}.json.gz"))
        .collect();
        keys.sort();
        let bucket = Bucket {
            keys: keys.clone(),
            page_size: 3,
            slow: Vec::new(),
            ..Bucket::default()
        };
        let parts = list_parts(&bucket, MAX_LISTED_AHEAD).await;
        assert_every_key_once_one_day_a_part(&parts, &keys);
    }

    #[tokio::test]
    async fn regions_found_below_one_account_are_listed_alongside_the_next_accounts() {
        // Account trails of two accounts, and an organization trail one level deeper, whose
        // account also logs a region the others do not.
        let keys = trail_keys(&[
            ("AWSLogs/111122223333/", &["eu-west-1", "us-east-1"][..]),
            ("AWSLogs/444455556666/", &["us-east-1"][..]),
            (
                "AWSLogs/o-abc/777788889999/",
                &["ap-south-1", "eu-west-1", "us-east-1"][..],
            ),
        ]);
        let bucket = Bucket {
            keys: keys.clone(),
            page_size: 1_000,
            ..Bucket::default()
        };
        let parts = list_parts(&bucket, MAX_LISTED_AHEAD).await;
        assert_every_key_once_one_day_a_part(&parts, &keys);
        assert_eq!(parts.len(), 2, "each day whole");
        let events = bucket.events();
        let at = |event: &str| position(&events, event);
        let org = "AWSLogs/o-abc/777788889999/CloudTrail/";
        // The regions the account trails showed are asked for with the organization
        // account's `CloudTrail/`, before its answer; the one only it has, after.
        for region in ["eu-west-1", "us-east-1"] {
            assert!(
                at(&format!("ask {org}{region}/")) < at(&format!("got {org}")),
                "{region}: {events:#?}"
            );
        }
        assert!(at(&format!("ask {org}ap-south-1/")) > at(&format!("got {org}")));
        // Every folder is listed once (a right guess is not listed again when shown), and a
        // wrong one costs one empty listing: 444455556666 has no eu-west-1 (it may or may
        // not be guessed, depending on which account's answer came first).
        let asked: Vec<&String> = events.iter().filter(|e| e.starts_with("ask")).collect();
        let unique: HashSet<&&String> = asked.iter().collect();
        assert_eq!(unique.len(), asked.len(), "{events:#?}");
        let wrong = asked
            .iter()
            .filter(|e| e.contains("444455556666/CloudTrail/eu-west-1/"))
            .count();
        // "", AWSLogs/, o-abc/, 3 accounts and their CloudTrail/, 6 regions, and the guess.
        assert_eq!(asked.len(), 3 + 6 + 6 + wrong, "{events:#?}");
    }

    #[tokio::test]
    async fn a_region_few_accounts_show_is_not_guessed_for_the_others() {
        // Four account trails log us-east-1, one of them ap-south-1 too; the organization's
        // account, listed after them all (its organization folder answers last), logs
        // us-east-1 only. Only the region most accounts showed is guessed for it.
        let keys = trail_keys(&[
            ("AWSLogs/111111111111/", &["ap-south-1", "us-east-1"][..]),
            ("AWSLogs/222222222222/", &["us-east-1"][..]),
            ("AWSLogs/333333333333/", &["us-east-1"][..]),
            ("AWSLogs/444444444444/", &["us-east-1"][..]),
            ("AWSLogs/o-abc/555555555555/", &["us-east-1"][..]),
        ]);
        let bucket = Bucket {
            keys: keys.clone(),
            page_size: 1_000,
            slow: vec!["AWSLogs/o-abc/".to_string()],
            ..Bucket::default()
        };
        let parts = list_parts(&bucket, MAX_LISTED_AHEAD).await;
        assert_every_key_once_one_day_a_part(&parts, &keys);
        let events = bucket.events();
        let at = |event: &str| events.iter().position(|e| e == event);
        let org = "AWSLogs/o-abc/555555555555/CloudTrail/";
        let asked = at(&format!("ask {org}us-east-1/")).expect("asked");
        assert!(
            asked < at(&format!("got {org}")).expect("got"),
            "{events:#?}"
        );
        assert_eq!(at(&format!("ask {org}ap-south-1/")), None, "{events:#?}");
    }

    #[tokio::test]
    async fn regions_found_later_are_listed_for_trail_folders_already_asked() {
        // The organization folder answers before any account's `CloudTrail/`: its account's
        // `CloudTrail/` is asked for while no region is known yet, and answers last.
        let keys = trail_keys(&[
            ("AWSLogs/111122223333/", &["eu-west-1", "us-east-1"][..]),
            (
                "AWSLogs/o-abc/777788889999/",
                &["eu-west-1", "us-east-1"][..],
            ),
        ]);
        let org = "AWSLogs/o-abc/777788889999/CloudTrail/";
        let bucket = Bucket {
            keys: keys.clone(),
            page_size: 1_000,
            slow: vec!["AWSLogs/111122223333/CloudTrail/".to_string()],
            slower: vec![org.to_string()],
            ..Bucket::default()
        };
        let parts = list_parts(&bucket, MAX_LISTED_AHEAD).await;
        assert_every_key_once_one_day_a_part(&parts, &keys);
        let events = bucket.events();
        let at = |event: &str| position(&events, event);
        // Asked before any region was known...
        assert!(at(&format!("ask {org}")) < at("got AWSLogs/111122223333/CloudTrail/"));
        // ...its regions are asked as soon as the account trail shows them, not after its
        // own answer.
        for region in ["eu-west-1", "us-east-1"] {
            assert!(
                at(&format!("ask {org}{region}/")) < at(&format!("got {org}")),
                "{region}: {events:#?}"
            );
        }
        let asked: Vec<&String> = events.iter().filter(|e| e.starts_with("ask")).collect();
        let unique: HashSet<&&String> = asked.iter().collect();
        assert_eq!(unique.len(), asked.len(), "{events:#?}");
        // "", AWSLogs/, o-abc/, 2 accounts and their CloudTrail/, 4 regions.
        assert_eq!(asked.len(), 3 + 4 + 4, "{events:#?}");
    }
}
