//! The ingest pipeline: list -> fetch (tokio, bounded by bytes in flight) -> decode, parse and
//! build Arrow batches (worker pool) -> staged Parquet -> commit.
//!
//! Each worker owns a transaction: the objects it processes land together when the
//! transaction's inflated input reaches [`IngestOptions::chunk_bytes`] or the run ends. An
//! object is atomic: either all its records land in one transaction, or it is recorded as
//! failed (and retried next run) with nothing written.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crosstrail_lake::batch::ObjectRows;
use crosstrail_lake::{BatchBuilder, Lake, ObjectEntry, ObjectStatus, RecordLimits, Table, Txn};
use futures::{FutureExt, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::decode::{self, Limits};
use crate::layout::ObjectKind;
use crate::source::{Listed, ObjectMeta, Source, SourceError, day_order};

/// How an ingest runs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Worker threads for decompression, parsing and encoding.
    pub threads: usize,
    /// Fetches in flight at once.
    pub fetch_concurrency: usize,
    /// Stored bytes fetched but not yet processed, at most (back-pressure on the fetcher).
    pub max_bytes_in_flight: u64,
    /// Inflated input bytes after which a worker commits its transaction.
    pub chunk_bytes: u64,
    /// Objects after which a worker commits its transaction, whatever their size: a
    /// transaction holds each object's manifest entry until it commits.
    pub chunk_objects: usize,
    /// Limits on one object's decompression.
    pub decode: Limits,
    /// Limits on one record.
    pub records: RecordLimits,
    /// Only this share of the objects (`--shard I/N`); the others are left to other runs.
    pub shard: Option<Shard>,
}

/// One of `count` disjoint shares of the objects, chosen by a stable hash of each object's key
/// (`s3://bucket/key`, or the local path): the same on every machine and every run, so `count`
/// runs with indexes `0..count` read every object exactly once between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This share, from 0 to `count - 1`.
    pub index: u32,
    /// How many shares.
    pub count: u32,
}

impl Shard {
    /// Whether the object with this key belongs to this share.
    pub fn owns(&self, key: &str) -> bool {
        fnv1a(key) % u64::from(self.count.max(1)) == u64::from(self.index)
    }
}

/// FNV-1a, 64 bits: stable across versions and platforms, unlike std's hasher.
fn fnv1a(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Default for IngestOptions {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        IngestOptions {
            threads,
            fetch_concurrency: 4 * threads,
            max_bytes_in_flight: 64 << 20,
            chunk_bytes: 512 << 20,
            chunk_objects: CHUNK_OBJECTS,
            decode: Limits::default(),
            records: RecordLimits::default(),
            shard: None,
        }
    }
}

/// One object that could not be ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The object (path or URL).
    pub object: String,
    /// Why, with its causes.
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Objects the sources listed.
    pub objects_listed: u64,
    /// Objects already in the lake at the same version.
    pub objects_unchanged: u64,
    /// Objects not parsed, by reason (`digest`, `insight`, `hidden`).
    pub objects_skipped: BTreeMap<&'static str, u64>,
    /// Objects whose records landed in this run.
    pub objects_ingested: u64,
    /// Objects that failed (see `failures`).
    pub objects_failed: u64,
    /// Places a source could not list (also in `failures`).
    pub list_errors: u64,
    /// The failures, in the order they happened.
    pub failures: Vec<Failure>,
    /// Stored bytes of the objects processed.
    pub bytes_read: u64,
    /// The same after decompression.
    pub bytes_inflated: u64,
    /// Records read from the objects that landed.
    pub records: u64,
    /// Rows written per table.
    pub rows: BTreeMap<Table, u64>,
    /// Transactions committed.
    pub commits: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Receives progress while a run goes on (called from worker threads).
pub trait Observer: Send + Sync {
    /// More work is known: objects to process and their stored bytes (called as the listing
    /// goes, a day at a time; the totals are the sums).
    fn planned(&self, _objects: u64, _bytes: u64) {}
    /// One object is done; `error` is set when it failed.
    fn object_done(&self, _object: &str, _bytes: u64, _records: u64, _error: Option<&str>) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Silent;
impl Observer for Silent {}

/// A run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Listing a source failed before any work.
    #[error("listing {source_name}")]
    List {
        /// The source.
        source_name: String,
        /// The cause.
        #[source]
        source: SourceError,
    },
    /// Writing to the lake failed; committed transactions stay, the rest rolls back next run.
    #[error("writing to the lake")]
    Lake(#[source] crosstrail_lake::Error),
    /// The async runtime could not start.
    #[error("starting the I/O runtime")]
    Runtime(#[source] std::io::Error),
    /// A worker thread panicked (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

struct Fetched {
    meta: ObjectMeta,
    body: Body,
    /// How long a fetch that succeeded took, retries included (`None` when it failed, or
    /// when a worker reads it: some failures come without a request).
    took: Option<Duration>,
    /// Fetches started before this one in the run.
    seq: u64,
    /// The object's share of the bytes in flight, held until it is processed.
    _permit: Option<OwnedSemaphorePermit>,
}

/// An object's bytes as handed to a worker.
enum Body {
    /// Fetched from this source (which takes the bytes back when they are processed, see
    /// [`Source::give_back`]), or why not.
    Fetched(Arc<dyn Source>, Result<Bytes, SourceError>),
    /// To be read by the worker from this source (see [`Source::reads_in_worker`]).
    Read(Arc<dyn Source>),
}

/// Ingests every new or changed object of `sources` into `lake`.
pub fn ingest(
    lake: &Lake,
    sources: &[Arc<dyn Source>],
    options: &IngestOptions,
    observer: &dyn Observer,
) -> Result<Summary, IngestError> {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(IngestError::Runtime)?;
    let mut summary = Summary::default();

    // What is already in the lake, as hashes: a run checks each listed object against it.
    let done = lake.ingested().map_err(IngestError::Lake)?;
    let threads = options.threads.max(1);
    // Files on local disk are read by the workers when they take every core: a thread
    // reading ahead then only takes turns with them (300 MB bench, 2 cores: 2 threads 1.22 ->
    // 1.16 s). With a core to spare, the fetch thread reads ahead on it (1 thread: 2.06 ->
    // 1.9 s).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let read_in_workers = threads >= cores;
    let names_only = read_in_workers && sources.iter().all(|s| s.reads_in_worker());
    let handovers_ahead = if names_only {
        HANDOVERS_AHEAD_READ
    } else {
        HANDOVERS_AHEAD
    };
    let (tx, rx) = mpsc::channel::<Vec<Fetched>>(threads * handovers_ahead);
    let rx = Mutex::new(rx);
    let abort = AtomicBool::new(false);
    let results: Vec<Result<Summary, IngestError>> = std::thread::scope(|scope| {
        // The listing goes on beside the fetches: a run starts on the first day while later
        // ones are still being listed. Two parts (days) ahead at most.
        let fetcher = scope.spawn(|| {
            fetch_thread_yields();
            runtime.block_on(async {
                let (work_tx, work_rx) = mpsc::channel(2);
                let (listed, ()) = tokio::join!(
                    list_work(sources, &done, options, observer, work_tx),
                    fetch_all(sources, work_rx, tx, options, &abort, read_in_workers)
                );
                listed
            })
        });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("crosstrail-worker-{i}"))
            .build();
        let results = match pool {
            Ok(pool) => {
                let slots: Vec<Mutex<Option<Result<Summary, IngestError>>>> =
                    (0..threads).map(|_| Mutex::new(None)).collect();
                pool.scope(|s| {
                    for slot in &slots {
                        let (rx, abort) = (&rx, &abort);
                        s.spawn(move |_| {
                            let r = worker(lake, rx, options, observer, abort);
                            if r.is_err() {
                                abort.store(true, Ordering::SeqCst);
                            }
                            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                        });
                    }
                });
                slots
                    .into_iter()
                    .map(|s| {
                        s.into_inner()
                            .unwrap_or_else(|p| p.into_inner())
                            .unwrap_or_else(|| {
                                Err(IngestError::Internal("a worker did not finish".into()))
                            })
                    })
                    .collect()
            }
            Err(e) => {
                abort.store(true, Ordering::SeqCst);
                vec![Err(IngestError::Internal(format!(
                    "cannot start worker threads: {e}"
                )))]
            }
        };
        // Let a stopped fetcher finish: close the channel by dropping the receiver's items.
        abort.store(true, Ordering::SeqCst);
        rx.lock().unwrap_or_else(|p| p.into_inner()).close();
        match fetcher.join() {
            // The listing's own summary first: its failures came first.
            Ok(listed) => std::iter::once(listed).chain(results).collect(),
            Err(_) => vec![Err(IngestError::Internal(
                "the fetch thread panicked".into(),
            ))],
        }
    });
    for r in results {
        let part = r?;
        summary.objects_listed += part.objects_listed;
        summary.objects_unchanged += part.objects_unchanged;
        for (reason, n) in part.objects_skipped {
            *summary.objects_skipped.entry(reason).or_default() += n;
        }
        summary.list_errors += part.list_errors;
        summary.objects_ingested += part.objects_ingested;
        summary.objects_failed += part.objects_failed;
        summary.failures.extend(part.failures);
        summary.bytes_read += part.bytes_read;
        summary.bytes_inflated += part.bytes_inflated;
        summary.records += part.records;
        summary.commits += part.commits;
        for (t, n) in part.rows {
            *summary.rows.entry(t).or_default() += n;
        }
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Lists the sources day by day (see [`Source::list`]) and sends what is to be ingested, a
/// day at a time, to the fetcher: what is not in the lake at its version, not another
/// shard's, and not a digest or Insights file. Returns the listing's part of the summary.
///
/// Several sources are merged by day. Nothing is sent before every source has listed its
/// first day, so a source that cannot be listed at all stops the run before any work.
async fn list_work(
    sources: &[Arc<dyn Source>],
    done: &crosstrail_lake::Ingested,
    options: &IngestOptions,
    observer: &dyn Observer,
    work: mpsc::Sender<Vec<(usize, ObjectMeta)>>,
) -> Result<Summary, IngestError> {
    let mut summary = Summary::default();
    let mut streams: Vec<_> = sources.iter().map(|s| s.list()).collect();
    let mut heads: Vec<Option<Vec<ObjectMeta>>> = sources.iter().map(|_| None).collect();
    let mut ended = vec![false; sources.len()];
    // A key named twice (the same file through two paths on the command line) is read once:
    // both come in the same day, so the keys of one day are enough to tell. One source lists
    // each key once: no set to hold (a day of a wide trail is millions of keys).
    let named_twice_possible = sources.len() > 1;
    let mut day = None;
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let wanted: Vec<usize> = (0..sources.len())
            .filter(|&i| heads[i].is_none() && !ended[i])
            .collect();
        if !wanted.is_empty() {
            let next = streams
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| wanted.contains(i))
                .map(|(i, s)| async move { (i, s.next().await) });
            let items = tokio::select! {
                items = futures::future::join_all(next) => items,
                // The run stopped (a lake error): listing on would be for nothing.
                () = work.closed() => break,
            };
            for (i, item) in items {
                match item {
                    None => ended[i] = true,
                    Some(Err(source)) => {
                        return Err(IngestError::List {
                            source_name: sources[i].describe(),
                            source,
                        });
                    }
                    Some(Ok(Listed::Unlisted(at, e))) => {
                        let reason = format!("cannot list: {}", e.reason());
                        observer.object_done(&at, 0, 0, Some(&reason));
                        summary.list_errors += 1;
                        summary.failures.push(Failure { object: at, reason });
                    }
                    Some(Ok(Listed::Objects(objects))) => {
                        heads[i] = Some(objects).filter(|o| !o.is_empty());
                    }
                }
            }
            continue;
        }
        let first_day = |i: &usize| {
            heads[*i]
                .as_ref()
                .map(|o| day_order(o.first().and_then(|m| m.date)))
        };
        let Some(i) = (0..sources.len())
            .filter(|i| heads[*i].is_some())
            .min_by_key(first_day)
        else {
            break; // every source is listed
        };
        let objects = heads[i].take().unwrap_or_default();
        let mut batch = Vec::new();
        let mut bytes = 0;
        for meta in objects {
            // Keys never read (digests, Insights) may come after their day, between two parts
            // of a later one: they do not end the day whose keys are checked for repeats.
            if day != Some(meta.date) && meta.kind == ObjectKind::Log {
                day = Some(meta.date);
                seen.clear();
            }
            if named_twice_possible && !seen.insert(meta.key.clone()) {
                continue;
            }
            summary.objects_listed += 1;
            if options.shard.is_some_and(|s| !s.owns(&meta.key)) {
                *summary.objects_skipped.entry("other shards").or_default() += 1;
            } else if meta.kind != ObjectKind::Log {
                *summary.objects_skipped.entry(meta.kind.name()).or_default() += 1;
            } else if done.is_done(&meta.key, &meta.version) {
                summary.objects_unchanged += 1;
            } else {
                bytes += meta.size;
                batch.push((i, meta));
            }
        }
        if batch.is_empty() {
            continue;
        }
        observer.planned(batch.len() as u64, bytes);
        if work.send(batch).await.is_err() {
            break; // the run stopped
        }
    }
    Ok(summary)
}

async fn fetch_all(
    sources: &[Arc<dyn Source>],
    mut work: mpsc::Receiver<Vec<(usize, ObjectMeta)>>,
    tx: mpsc::Sender<Vec<Fetched>>,
    options: &IngestOptions,
    abort: &AtomicBool,
    read_in_workers: bool,
) {
    const UNIT: u64 = 1024;
    let total = u32::try_from(options.max_bytes_in_flight.div_ceil(UNIT))
        .unwrap_or(u32::MAX)
        .max(1);
    let budget = Arc::new(Semaphore::new(total as usize));
    // Each fetch is a task of its own: it sends its request and reads its response as soon as
    // its socket is ready, also while this loop waits for a worker to take what is ready (a
    // worker finishing a day's files takes a while). As futures polled by this loop only, the
    // fetches stood still meanwhile, and with a source's latency the workers then ran dry.
    let fetch = |(source, meta): (usize, ObjectMeta), seq: u64| {
        let source = sources[source].clone();
        if read_in_workers && source.reads_in_worker() {
            let read = Fetched {
                meta,
                body: Body::Read(source),
                took: None,
                seq,
                _permit: None,
            };
            return futures::future::Either::Left(std::future::ready(read));
        }
        let budget = budget.clone();
        let task = tokio::spawn(async move {
            let units = u32::try_from(meta.size.div_ceil(UNIT))
                .unwrap_or(u32::MAX)
                .clamp(1, total);
            let permit = budget
                .acquire_many_owned(units)
                .await
                .unwrap_or_else(|_| unreachable!("the budget semaphore is never closed"));
            let started = Instant::now();
            let result = source.fetch(&meta).await;
            let took = result.is_ok().then(|| started.elapsed());
            Fetched {
                meta,
                body: Body::Fetched(source, result),
                took,
                seq,
                _permit: Some(permit),
            }
        });
        futures::future::Either::Right(async move {
            match task.await {
                Ok(fetched) => fetched,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => unreachable!("fetch tasks are not cancelled while awaited"),
            }
        })
    };
    // The part of the listing being fetched, and whether more may come.
    let mut queued = Vec::new().into_iter();
    let mut listing = true;
    let mut running = futures::stream::FuturesUnordered::new();
    let mut limit = FetchLimit::new(options.fetch_concurrency.min(connection_room()));
    // Hand over what is ready together: a wake-up of a worker per object cost more than
    // reading a small local file. A share of the byte budget at most, so that no worker sits
    // on objects another one could be processing.
    let threads = options.threads.max(1) as u64;
    let handover_bytes = (options.max_bytes_in_flight / (4 * threads)).max(1 << 20);
    loop {
        // Take what the listing has ready.
        while listing && queued.len() == 0 {
            match work.try_recv() {
                Ok(part) => queued = part.into_iter(),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => listing = false,
            }
        }
        if running.is_empty() && (queued.len() == 0 || abort.load(Ordering::SeqCst)) {
            if !listing || abort.load(Ordering::SeqCst) {
                break;
            }
            match work.recv().await {
                Some(part) => queued = part.into_iter(),
                None => listing = false,
            }
            continue;
        }
        if limit.get() == 0 {
            // The slowest source's fastest listing.
            limit.start(sources.iter().filter_map(|s| s.round_trip()).max());
        }
        while running.len() < limit.get() && !abort.load(Ordering::SeqCst) {
            match queued.next() {
                Some(item) => running.push(fetch(item, limit.next_seq())),
                None => break,
            }
        }
        let (first, waited) = match running.next().now_or_never() {
            Some(first) => (first, Duration::ZERO),
            None if listing && queued.len() == 0 && running.len() < limit.get() => {
                // Room for more: wait for a fetch or the next part of the listing. The
                // listing, not the latency, limits here: no reason to grow.
                tokio::select! {
                    first = running.next() => (first, Duration::ZERO),
                    part = work.recv() => {
                        match part {
                            Some(part) => queued = part.into_iter(),
                            None => listing = false,
                        }
                        continue;
                    }
                }
            }
            None => {
                // Only the time this thread sat idle: the runtime also runs the listing
                // (parsing a page of 1,000 keys takes a few ms) while this waits.
                let (since, busy) = (Instant::now(), thread_cpu_time());
                let first = running.next().await;
                let busy = thread_cpu_time().saturating_sub(busy);
                (first, since.elapsed().saturating_sub(busy))
            }
        };
        let Some(first) = first else {
            break;
        };
        let mut bytes = first.meta.size;
        let mut fetched = vec![first];
        while fetched.len() < HANDOVER_OBJECTS && bytes < handover_bytes {
            match running.next().now_or_never() {
                Some(Some(more)) => {
                    bytes += more.meta.size;
                    fetched.push(more);
                }
                Some(None) | None => break,
            }
        }
        let starved = tx.capacity() == tx.max_capacity();
        let fetches: Vec<(u64, Option<Duration>)> =
            fetched.iter().map(|f| (f.seq, f.took)).collect();
        limit.handed_over(waited, starved, &fetches);
        if tx.send(fetched).await.is_err() {
            break; // workers stopped
        }
    }
}

/// Lets the calling thread (the fetch thread) wait for a worker's time slice to end instead of
/// preempting it each time a response arrives (Linux's `SCHED_BATCH`, same priority). The
/// fetch thread wakes for every response, and where it shares a core with a worker (one core,
/// or as many workers as cores) each wake-up took the core from the worker in the middle of
/// parsing: with batch scheduling, it handles what arrived in the meantime when its turn comes.
/// Measured on 2 cores, 10,687 objects from the loopback S3 bench server (one core) with
/// `--threads 1` on the other: involuntary context switches 5,600-6,300 -> 90-400, system time
/// 0.28-0.36 -> 0.16-0.31 s, wall time -9% (6 alternated pairs, each faster); with 50 ms added
/// to every request, and for local folders with 1 or 2 threads, no change beyond the noise.
/// For the whole process it made local ingest slower. Where it cannot be set, nothing changes.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn fetch_thread_yields() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sets the calling thread's policy (pid 0) from a valid parameter; a refusal
    // leaves the policy as it was.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

#[cfg(not(target_os = "linux"))]
fn fetch_thread_yields() {}

/// CPU time the calling thread has used.
#[cfg(unix)]
#[allow(unsafe_code)]
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct given, which lives on this stack frame.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    Duration::ZERO
}

/// Connections this process may open besides the files it needs: the open-file limit less
/// [`FILES_RESERVED`] (lake files, local reads, the runtime's own descriptors).
#[cfg(unix)]
#[allow(unsafe_code)]
fn connection_room() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct given, which lives on this stack frame.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return usize::MAX;
    }
    usize::try_from(limit.rlim_cur)
        .unwrap_or(usize::MAX)
        .saturating_sub(FILES_RESERVED)
        .max(16)
}

#[cfg(not(unix))]
fn connection_room() -> usize {
    usize::MAX
}

/// Open files kept out of [`connection_room`].
const FILES_RESERVED: usize = 256;

/// Fetches in flight when a run starts (see `fetch_all`).
const INITIAL_FETCHES: usize = 64;

/// A wait this long for the next fetch, with the workers out of objects, is the source's
/// latency at work rather than a moment of scheduling. On one shared core, waits of 2 ms came
/// from the workers holding the CPU (the scheduler's slices are a few ms): with 2 ms, runs
/// against a loopback server grew to 450 connections instead of 80.
const LATENCY_BOUND: Duration = Duration::from_millis(5);

/// A wait for the next fetch longer than this many of the fastest fetch so far is not the
/// source's latency at work either, but the CPU or the server stalling: the limit stays. Nor
/// does the time the fetch thread spent running the listing meanwhile count as waiting.
/// Against the loopback bench server with no added latency, on a core shared with the
/// worker, waits past 5 ms took runs of the 35-day trail (47,910 objects) from 65 to 820-970
/// connections; with both rules, 490, and 86 µs of CPU per object against 96-105 in runs
/// that had grown. (The rest came from the server: its delimiter listings read every key
/// below, so runs started at 256 in flight, and each GET queued behind the others; see
/// [`SLOWER_BY`].) The fastest listing is no measure of the latency there: it included
/// parsing pages while other answers waited, 4 ms.
const LATENCY_WAITS: u32 = 10;

/// How many fetches may be in flight: as many as keep the workers fed, up to a maximum
/// (`--concurrency`, and the open-file limit). Each one holds a connection, and a connection
/// costs more CPU than a small GET (and far more with TLS), so a run starts with few. When the
/// workers have nothing queued and the next fetch is long in coming, but not ten times longer
/// than the fastest fetch so far, its latency is what limits: the limit doubles, on trial (see
/// [`SLOWER_BY`] and [`RETRY_AFTER_LIMITS`]). Otherwise it stays.
struct FetchLimit {
    /// Zero until the run's first fetch (see [`FetchLimit::start`]).
    limit: usize,
    max: usize,
    /// The fastest fetch so far: the source's latency is this at least (see
    /// [`LATENCY_WAITS`]).
    fastest: Duration,
    /// Fetches started so far.
    started: u64,
    /// How long the last [`TRIAL_FETCHES`] fetches that succeeded took.
    recent: std::collections::VecDeque<Duration>,
    trial: Option<Trial>,
    /// The limit may grow again once this many fetches have started: after a doubling is
    /// undone, conditions may change in a long run (the CPU busy listing at the start, a
    /// source that was slow for a while).
    grow_from: u64,
    /// Fetches to wait after the next doubling undone: twice as many after each.
    grow_after: u64,
}

impl FetchLimit {
    fn new(max: usize) -> Self {
        FetchLimit {
            limit: 0,
            max: max.max(1),
            fastest: Duration::MAX,
            started: 0,
            recent: std::collections::VecDeque::with_capacity(TRIAL_FETCHES),
            trial: None,
            grow_from: 0,
            grow_after: 0,
        }
    }

    fn get(&self) -> usize {
        self.limit
    }

    /// Sets the first limit from the fastest listing. When even that took longer than
    /// [`LATENCY_BOUND`], the latency is known before the first GET: start where the first
    /// doublings would have led, two round trips later.
    fn start(&mut self, fastest_listing: Option<Duration>) {
        let slow = fastest_listing.is_some_and(|rtt| rtt > LATENCY_BOUND);
        let first = if slow {
            INITIAL_FETCHES * 4
        } else {
            INITIAL_FETCHES
        };
        self.limit = self.max.min(first);
    }

    /// The sequence number of a fetch being started.
    fn next_seq(&mut self) -> u64 {
        self.started += 1;
        self.started - 1
    }

    /// After a handover: the fetch thread sat idle for `waited` before its first fetch came,
    /// the workers had nothing queued (`starved`), and the fetches handed over, by sequence
    /// number with how long each took (`None` for a failure).
    fn handed_over(
        &mut self,
        waited: Duration,
        starved: bool,
        fetched: &[(u64, Option<Duration>)],
    ) {
        for took in fetched.iter().filter_map(|(_, took)| *took) {
            self.fastest = self.fastest.min(took);
            if self.recent.len() == TRIAL_FETCHES {
                self.recent.pop_front();
            }
            self.recent.push_back(took);
        }
        let waiting = starved
            && waited > LATENCY_BOUND
            && waited <= self.fastest.saturating_mul(LATENCY_WAITS);
        // How long a fetch takes at the present limit.
        let took_now;
        if let Some(t) = &mut self.trial {
            // The fetches started once the doubled number was in flight: as quick as
            // before, latency was what limited; much slower, the source, the bandwidth or
            // this machine's CPU (answers waiting to be read) was, and more in flight only
            // made each wait longer.
            t.waited |= waiting;
            let from = t.from;
            t.after.extend(
                (fetched.iter())
                    .filter(|(seq, _)| *seq >= from)
                    .filter_map(|(_, took)| *took),
            );
            if t.after.len() < TRIAL_FETCHES {
                return;
            }
            let Some(after) = median(&mut t.after) else {
                return;
            };
            let (before, limit, waited) = (t.took, t.limit, t.waited);
            self.trial = None;
            if after >= before.mul_f64(SLOWER_BY) {
                self.limit = limit;
                self.grow_after = (2 * self.grow_after).max(RETRY_AFTER_LIMITS * limit as u64);
                self.grow_from = self.started + self.grow_after;
                return;
            }
            // Kept. The workers waited on latency meanwhile: double again now, rather than
            // a round trip later at the next wait.
            if !waited {
                return;
            }
            took_now = after;
        } else {
            if !waiting {
                return;
            }
            let mut times: Vec<Duration> = self.recent.iter().copied().collect();
            match median(&mut times) {
                Some(median) => took_now = median,
                None => return,
            }
        }
        if self.started >= self.grow_from && self.limit < self.max {
            let doubled = (2 * self.limit).min(self.max);
            self.trial = Some(Trial {
                took: took_now,
                limit: self.limit,
                // Those started at once queue behind the ones already in flight; the next
                // ones have the doubled number ahead of them.
                from: self.started + (doubled - self.limit) as u64,
                after: Vec::new(),
                waited: false,
            });
            self.limit = doubled;
        }
    }
}

/// The middle one of `times` in order (the upper of the two middle ones when their number is
/// even), or `None` when there are none.
fn median(times: &mut [Duration]) -> Option<Duration> {
    if times.is_empty() {
        return None;
    }
    let middle = times.len() / 2;
    Some(*times.select_nth_unstable(middle).1)
}

/// A doubling of the fetches in flight is undone, and the limit grows no more for a while
/// (see [`RETRY_AFTER_LIMITS`]), when the fetches started after it take this many times as
/// long as those before it: the source, not the latency, limits (Little's law: twice as
/// many in flight, each takes twice as long). Where each GET waits behind the others at the source, more in flight only
/// makes each wait longer: against a bench server whose listings were slow, runs of the
/// 35-day trail with no added latency had doubled from 256 GETs in flight to 1,024 while
/// each GET went from 22-25 ms to 46-56 ms. With 50 ms added, the doublings stay: runs
/// reach 1,024 in flight as before, and as quickly, since a doubling kept while the workers
/// waited is followed by the next at once (default bench trail, 8 alternated runs: median
/// 1.230 s without trials, 1.295 s when the next doubling waited for a wait after the
/// verdict, 1.215 s). A slower GET after a doubling needs half again as long:
/// latency varies from one GET to the next, and a doubling undone for nothing would hold
/// the run at half the GETs it needs.
const SLOWER_BY: f64 = 1.5;

/// After a doubling is undone, the limit may grow again once this many times as many
/// fetches as it allows at once have started (twice that after the next one undone, and so
/// on): a run over millions of objects is not held for good by what held at its start, and a
/// source that stays the limit costs a trial ever more rarely.
const RETRY_AFTER_LIMITS: u64 = 16;

/// A doubling of the fetches in flight being tried.
struct Trial {
    /// How long a fetch took at the limit before: the median of the last fetches when the
    /// doubling was decided, or of those that kept the doubling before.
    took: Duration,
    /// The limit before.
    limit: usize,
    /// The fetches started from this one on had the doubled number in flight before them.
    from: u64,
    /// How long those of them that have come took.
    after: Vec<Duration>,
    /// Whether the workers waited on latency meanwhile (see [`FetchLimit::handed_over`]).
    waited: bool,
}

/// Fetches whose median time a doubling is judged on, before and after it: the time of a
/// GET varies from one to the next, and a median of this many is steadier than a handover's
/// (a doubling undone for nothing holds a run at half the GETs it needs).
const TRIAL_FETCHES: usize = 32;

/// Fetched objects handed to a worker at most at once.
const HANDOVER_OBJECTS: usize = 32;

/// Handovers queued for the workers, per worker, when the fetch thread fetches or reads ahead
/// (S3, or a core to spare): enough for it to keep ahead. What the queue holds is bounded by
/// the bytes in flight (`max_bytes_in_flight`) in any case; a deeper one only let it hold more
/// read ahead (1 thread, 300 MB bench: +4.7 MiB peak, same wall time; S3 with 2 threads: same
/// speed in the S3 bench's shared mode).
const HANDOVERS_AHEAD: usize = 2;

/// Handovers queued per worker when the workers read every file themselves (local sources
/// only): such a handover is names, not bytes. With every core taken by a worker, the fetch
/// thread (batch scheduled, see [`fetch_thread_yields`]) runs only when a worker's time slice
/// ends, a scheduler tick (4 ms) or more later; with 2 handovers per worker queued (128 small
/// files for 2 workers, about 6 ms of their work), the workers ran dry in between. 300 MB
/// bench, 2 threads on 2 cores, time each worker waited for a handover, 5 runs: 23-58 ms with
/// 2, 6-15 ms with 8, 2-8 ms with 32; wall time (medians of 11 alternated runs) 0.590 ->
/// 0.560 s.
const HANDOVERS_AHEAD_READ: usize = 32;

/// A read buffer larger than this (a large object was read) is given back rather than kept.
const READ_KEEP_BYTES: usize = 16 << 20;

/// Objects in one transaction, at most. Each holds its manifest entry (key, version, files:
/// 300-600 bytes) until the commit, which writes them out as JSON: with small objects the
/// entries, not the data, filled memory. Measured on 403,200 objects of 530 bytes (127 MB)
/// with 2 threads: peak RSS 644 MiB with transactions bounded by bytes alone.
const CHUNK_OBJECTS: usize = 16 * 1024;

/// Rows a worker gathers (across objects) before handing them to the Parquet writers, at most.
const FLUSH_ROWS: usize = 16 * 1024;

/// Inflated JSON a worker gathers before handing its rows to the Parquet writers, at most. The
/// column builders take about as much, so this bounds them whatever the records' sizes (16k
/// rows of large records would be hundreds of MiB), and batches alike in bytes let the next
/// batch's builders, sized like the last one's, rarely have to grow (a grown buffer doubles).
/// Measured on the bench trails (1.6 kB records, about 5k rows a batch), against 16k rows
/// alone: peak RSS with 2 threads 200 -> 158 MiB at 300 MB of input and 242 -> 163 MiB at
/// 1 GB (now flat), with 1 thread 158 -> 109 and 145 -> 112 MiB; wall time unchanged.
const FLUSH_BYTES: u64 = 8 << 20;

/// The open transaction of one worker.
struct Chunk {
    txn: Txn,
    writer: crosstrail_lake::write::ChunkWriter,
    /// Objects whose rows were written, and failed objects.
    entries: Vec<ObjectEntry>,
    /// Objects whose rows are still in the batch builder.
    pending: Vec<(ObjectEntry, ObjectRows)>,
    inflated: u64,
    /// Inflated bytes of the objects in `pending`.
    pending_inflated: u64,
}

fn display(key: &str) -> String {
    match key.strip_prefix("file://") {
        Some(path) => path.to_string(),
        None if key.starts_with("file+bytes://") => {
            crate::source::key_path(key).to_string_lossy().into_owned()
        }
        None => key.to_string(),
    }
}

fn worker(
    lake: &Lake,
    rx: &Mutex<mpsc::Receiver<Vec<Fetched>>>,
    options: &IngestOptions,
    observer: &dyn Observer,
    abort: &AtomicBool,
) -> Result<Summary, IngestError> {
    let mut summary = Summary::default();
    let mut builder = BatchBuilder::new(lake.fingerprints(), options.records);
    let mut chunk: Option<Chunk> = None;
    // Inflated content of the object being read, reused from object to object.
    let mut inflate_buf = Vec::new();
    // The object as stored, when the worker reads it (local files), reused likewise.
    let mut read_buf = Vec::new();
    let mut batch: std::vec::IntoIter<Fetched> = Vec::new().into_iter();
    loop {
        if abort.load(Ordering::SeqCst) {
            break;
        }
        let fetched = match batch.next() {
            Some(f) => f,
            None => {
                let next = rx.lock().unwrap_or_else(|p| p.into_inner()).blocking_recv();
                let Some(next) = next else { break };
                batch = next.into_iter();
                continue;
            }
        };
        let current = match &mut chunk {
            Some(c) => c,
            None => {
                let txn = lake.begin().map_err(IngestError::Lake)?;
                // The workers share the writers' memory budget.
                let writer = txn.writer().with_concurrent_writers(options.threads);
                chunk.insert(Chunk {
                    txn,
                    writer,
                    entries: Vec::new(),
                    pending: Vec::new(),
                    inflated: 0,
                    pending_inflated: 0,
                })
            }
        };
        let meta = &fetched.meta;
        let name = display(&meta.key);
        let name = name.as_str();
        builder.start_object(name);
        let outcome = match &fetched.body {
            Body::Fetched(_, Ok(bytes)) => process(bytes, &mut builder, options, &mut inflate_buf),
            Body::Fetched(_, Err(e)) => Err(e.reason()),
            Body::Read(source) => {
                if read_buf.capacity() > READ_KEEP_BYTES {
                    read_buf = Vec::new();
                }
                match source.read(meta, &mut read_buf) {
                    Ok(()) => process(&read_buf, &mut builder, options, &mut inflate_buf),
                    Err(e) => Err(e.reason()),
                }
            }
        };
        summary.bytes_read += meta.size;
        let mut entry = ObjectEntry {
            key: meta.key.clone(),
            version: meta.version.clone(),
            size: meta.size,
            status: ObjectStatus::Ingested,
            records: 0,
            files: Vec::new(),
            error: None,
        };
        match outcome {
            Ok(inflated) => {
                let rows = builder.end_object();
                current.inflated += inflated;
                current.pending_inflated += inflated;
                summary.bytes_inflated += inflated;
                summary.records += rows.records;
                summary.objects_ingested += 1;
                observer.object_done(name, meta.size, rows.records, None);
                current.pending.push((entry, rows));
            }
            Err(reason) => {
                builder
                    .abort_object()
                    .map_err(|e| IngestError::Internal(format!("rolling back {name}: {e}")))?;
                entry.status = ObjectStatus::Failed;
                entry.error = Some(reason.clone());
                summary.objects_failed += 1;
                observer.object_done(name, meta.size, 0, Some(&reason));
                summary.failures.push(Failure {
                    object: name.to_string(),
                    reason,
                });
                current.entries.push(entry);
            }
        }
        // Done with the object: its share of the bytes in flight is free, and its buffer may
        // serve a later fetch.
        let Fetched {
            body,
            _permit: permit,
            ..
        } = fetched;
        drop(permit);
        if let Body::Fetched(source, Ok(bytes)) = body {
            source.give_back(bytes);
        }
        let full = current.inflated >= options.chunk_bytes
            || current.entries.len() + current.pending.len() >= options.chunk_objects;
        if builder.pending_rows() >= FLUSH_ROWS || current.pending_inflated >= FLUSH_BYTES || full {
            flush(&mut builder, current, &mut summary)?;
        }
        if full && let Some(done) = chunk.take() {
            commit(lake, done)?;
            summary.commits += 1;
        }
    }
    // Even when another worker failed, what this one finished is whole: commit it.
    if let Some(mut done) = chunk.take() {
        flush(&mut builder, &mut done, &mut summary)?;
        commit(lake, done)?;
        summary.commits += 1;
    }
    Ok(summary)
}

/// Writes the builder's pending rows and settles the files of the objects they came from.
fn flush(
    builder: &mut BatchBuilder,
    chunk: &mut Chunk,
    summary: &mut Summary,
) -> Result<(), IngestError> {
    if chunk.pending.is_empty() {
        return Ok(());
    }
    chunk.pending_inflated = 0;
    let batches = builder
        .finish()
        .map_err(|e| IngestError::Internal(format!("building batches: {e}")))?;
    let mut files: HashMap<(Table, i64), String> = HashMap::new();
    for table in Table::TRAIL {
        for (day, batch) in batches.table(table) {
            if let Some(path) = chunk
                .writer
                .write(table, *day, batch)
                .map_err(IngestError::Lake)?
            {
                files.insert((table, *day), path);
            }
            *summary.rows.entry(table).or_default() += batch.num_rows() as u64;
        }
    }
    for (mut entry, rows) in chunk.pending.drain(..) {
        let days = rows
            .event_days
            .iter()
            .map(|d| (Table::Events, *d))
            .chain(rows.session_days.iter().map(|d| (Table::Sessions, *d)));
        let paths: BTreeSet<String> = days.filter_map(|k| files.get(&k).cloned()).collect();
        entry.records = rows.records;
        entry.files = paths.into_iter().collect();
        chunk.entries.push(entry);
    }
    Ok(())
}

fn commit(lake: &Lake, chunk: Chunk) -> Result<(), IngestError> {
    debug_assert!(chunk.pending.is_empty(), "flush before commit");
    let files = chunk.writer.finish().map_err(IngestError::Lake)?;
    lake.commit(chunk.txn, files, chunk.entries)
        .map_err(IngestError::Lake)
}

/// Decodes and parses one object into the builder; returns its inflated size, or why it failed.
fn process(
    bytes: &[u8],
    builder: &mut BatchBuilder,
    options: &IngestOptions,
    scratch: &mut Vec<u8>,
) -> Result<u64, String> {
    if bytes.is_empty() {
        return Err("empty object (0 bytes)".to_string());
    }
    let decoded =
        decode::decode_reusing(bytes, &options.decode, scratch).map_err(|e| error_chain(&e))?;
    crosstrail_lake::read_document(&decoded.bytes, builder).map_err(|e| error_chain(&e))?;
    Ok(decoded.bytes.len() as u64)
}

/// `message: cause: cause`, the way people read errors.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{FetchLimit, INITIAL_FETCHES, Shard, TRIAL_FETCHES};
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    /// Starts `n` fetches and hands them over, each having taken `took`, after a wait of
    /// `waited` with the workers out of objects.
    fn hand_over(limit: &mut FetchLimit, n: usize, took: Duration, waited: Duration) {
        let fetches: Vec<(u64, Option<Duration>)> =
            (0..n).map(|_| (limit.next_seq(), Some(took))).collect();
        limit.handed_over(waited, true, &fetches);
    }

    /// Runs `rounds` of the fetch loop against a source where a fetch with `ahead` fetches
    /// in flight before it (itself included) takes `took(ahead)`, and each handover of
    /// `TRIAL_FETCHES` (the oldest ones) came after a wait of `waited`. Returns the limit.
    fn run(
        limit: &mut FetchLimit,
        rounds: usize,
        waited: Duration,
        took: impl Fn(usize) -> Duration,
    ) -> usize {
        *run_limits(limit, rounds, waited, took)
            .last()
            .unwrap_or(&limit.get())
    }

    /// As [`run`], with the limit after each round.
    fn run_limits(
        limit: &mut FetchLimit,
        rounds: usize,
        waited: Duration,
        took: impl Fn(usize) -> Duration,
    ) -> Vec<usize> {
        let mut limits = Vec::new();
        let mut in_flight = std::collections::VecDeque::new();
        for _ in 0..rounds {
            while in_flight.len() < limit.get() {
                in_flight.push_back((limit.next_seq(), took(in_flight.len() + 1)));
            }
            let done: Vec<(u64, Option<Duration>)> = (0..TRIAL_FETCHES)
                .filter_map(|_| in_flight.pop_front())
                .map(|(seq, took)| (seq, Some(took)))
                .collect();
            limit.handed_over(waited, true, &done);
            limits.push(limit.get());
        }
        limits
    }

    #[test]
    fn a_fetch_limit_doubles_while_latency_limits() {
        // 50 ms a fetch however many are in flight: the limit doubles up to the maximum.
        let mut limit = FetchLimit::new(1_000);
        limit.start(Some(2 * MS));
        assert_eq!(limit.get(), INITIAL_FETCHES);
        assert_eq!(run(&mut limit, 400, 10 * MS, |_| 50 * MS), 1_000);
        // So it does when each fetch takes anything from 20 to 60 ms.
        let mut limit = FetchLimit::new(1_000);
        limit.start(None);
        let n = std::cell::Cell::new(0u32);
        let jittery = |_| {
            n.set(n.get() + 1);
            MS * (20 + (n.get().wrapping_mul(2_654_435_761) >> 16) % 41)
        };
        assert_eq!(run(&mut limit, 400, 10 * MS, jittery), 1_000);
        // A doubling is tried on the fetches started with the doubled number ahead of them;
        // kept, and the workers still waiting, it is followed by the next at once.
        for (waited, next) in [
            (10 * MS, 4 * INITIAL_FETCHES),
            (Duration::ZERO, 2 * INITIAL_FETCHES),
        ] {
            let mut limit = FetchLimit::new(1_000);
            limit.start(None);
            hand_over(&mut limit, 4, 50 * MS, 10 * MS);
            assert_eq!(limit.get(), 2 * INITIAL_FETCHES);
            // The 64 more started at once queue behind the first ones: not what decides.
            for _ in 0..INITIAL_FETCHES {
                limit.next_seq();
            }
            hand_over(&mut limit, TRIAL_FETCHES, 50 * MS, waited);
            assert_eq!(limit.get(), next, "waited {waited:?}");
        }
        // A listing slower than 5 ms already shows the latency: a run starts higher.
        let mut limit = FetchLimit::new(1_000);
        limit.start(Some(50 * MS));
        assert_eq!(limit.get(), 4 * INITIAL_FETCHES);
        // No wait, or a wait far longer than the fastest fetch (a stall), or workers that
        // still have objects queued: no reason to grow.
        let mut limit = FetchLimit::new(1_000);
        limit.start(None);
        hand_over(&mut limit, 4, 2 * MS, Duration::ZERO);
        hand_over(&mut limit, 4, 2 * MS, 30 * MS);
        let fetches = [(limit.next_seq(), Some(10 * MS))];
        limit.handed_over(10 * MS, false, &fetches);
        assert_eq!(limit.get(), INITIAL_FETCHES);
    }

    #[test]
    fn a_doubling_that_makes_each_fetch_wait_longer_is_undone() {
        // The source serves one fetch at a time, 6 ms each: a fetch takes 6 ms for each one
        // in flight before it. The first doubling is undone, and the limit stays for 16
        // times as many fetches as it allows (1,024).
        let mut limit = FetchLimit::new(1_000);
        limit.start(None);
        let one_at_a_time = |ahead: usize| 6 * MS * ahead as u32;
        let limits = run_limits(&mut limit, 130, 6 * MS, one_at_a_time);
        let (first, then) = limits.split_at(30);
        assert_eq!(first.last(), Some(&INITIAL_FETCHES), "{first:?}");
        // Tried at once, undone a few rounds later.
        assert_eq!(first[0], 2 * INITIAL_FETCHES, "{first:?}");
        assert!(
            first[8..].iter().all(|l| *l == INITIAL_FETCHES),
            "{first:?}"
        );
        // Then a doubling is tried again, and undone again while the source stays the limit.
        assert_eq!(then.iter().max(), Some(&(2 * INITIAL_FETCHES)), "{then:?}");
        assert_eq!(then.last(), Some(&INITIAL_FETCHES), "{then:?}");
        // Once latency is what limits (the source quick again), the limit grows.
        assert_eq!(run(&mut limit, 400, 10 * MS, |_| 50 * MS), 1_000);
        // Fetches that got quicker after a doubling (a source busy at first) keep it.
        let mut limit = FetchLimit::new(1_000);
        limit.start(None);
        hand_over(&mut limit, 4, 20 * MS, 12 * MS);
        assert_eq!(limit.get(), 2 * INITIAL_FETCHES);
        assert_eq!(run(&mut limit, 30, MS, |_| 4 * MS), 2 * INITIAL_FETCHES);
    }

    #[test]
    fn shards_split_keys_exactly_once_and_evenly() {
        let keys: Vec<String> = (0..3000)
            .map(|i| {
                format!("s3://b/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/{i}.json.gz")
            })
            .collect();
        let count = 3;
        let mut owners = vec![0u32; keys.len()];
        let mut sizes = [0usize; 3];
        for index in 0..count {
            let shard = Shard { index, count };
            for (i, k) in keys.iter().enumerate() {
                if shard.owns(k) {
                    owners[i] += 1;
                    sizes[index as usize] += 1;
                }
            }
        }
        assert!(
            owners.iter().all(|&n| n == 1),
            "each key in exactly one shard"
        );
        assert!(sizes.iter().all(|&n| (800..1200).contains(&n)), "{sizes:?}");
        // Stable: the published FNV-1a test vector, so machines and versions agree.
        assert_eq!(super::fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
