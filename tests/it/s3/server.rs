//! An S3-protocol server on loopback for tests and benchmarks: `s3s-fs` (buckets are folders
//! under a root, SigV4 checked against one key pair) behind a fault-injecting front end on its
//! own 127.0.0.1 port. The front end sees every request before the server does: it logs them
//! (so tests can assert which listings were made), adds latency, answers 503 SlowDown or 403
//! AccessDenied, resets connections, and cuts response bodies short. It also answers
//! conditional PUTs (`If-None-Match: *`) as S3 does, which s3s-fs alone does not.
//!
//! For benchmarks, [`Server::start_with`] can also answer GETs of objects and ListObjectsV2
//! from memory (after the same fault handling), so that the server's cost per request stays
//! small next to the client's: s3s-fs reads every object through tokio's blocking pool and
//! hashes it, for every GET and for every key it lists.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};

/// The key pair the server accepts.
pub const ACCESS_KEY: &str = "AKIACROSSTRAILTEST01";
/// The secret of [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "crosstrail/test/secret/key/0123456789abcd";

/// The server's listen queue; Linux caps it at `net.core.somaxconn` (4,096 by default).
const LISTEN_BACKLOG: u32 = 4096;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// Faults to inject, by request number (counted per kind, from 1): every `n`-th matching
/// request gets the fault; 0 turns it off.
#[derive(Debug, Default)]
pub struct Faults {
    /// Every n-th request (any kind) is answered 503 SlowDown without reaching the server.
    pub slow_down_every: AtomicU64,
    /// Every n-th GET of an object has its connection dropped before any response.
    pub reset_every: AtomicU64,
    /// Every n-th GET of an object gets its headers and half its body, then the connection
    /// drops.
    pub truncate_every: AtomicU64,
    /// Every n-th GET of an object is answered 400 ExpiredToken, as S3 answers a request signed
    /// with temporary credentials that ran out.
    pub expired_every: AtomicU64,
    /// Milliseconds added before every request is served.
    pub latency_ms: AtomicU64,
    /// GETs of objects are served one at a time, each holding the server this many
    /// milliseconds: a server that is the bottleneck, where a GET takes longer the more are
    /// in flight.
    pub one_at_a_time_ms: AtomicU64,
    /// Listings of exactly this prefix wait this many more milliseconds.
    pub slow_listing: Mutex<Option<(String, u64)>>,
    /// GETs of keys containing one of these strings are answered 403 AccessDenied.
    pub deny: Mutex<Vec<String>>,
}

/// One request as the front end saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    /// HTTP method.
    pub method: String,
    /// Path, percent-decoded (`/bucket/key`).
    pub path: String,
    /// Query parameters, percent-decoded.
    pub query: Vec<(String, String)>,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Logged {
    /// Whether this is a ListObjectsV2 request.
    pub fn is_list(&self) -> bool {
        self.param("list-type") == Some("2")
    }

    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An object served from memory: its ETag (quoted, as s3s-fs computes it) and content.
struct Stored {
    etag: String,
    body: Bytes,
}

struct State {
    s3: S3Service,
    /// The buckets' folder (s3s-fs keeps `/bucket/key` at `root/bucket/key`).
    root: std::path::PathBuf,
    /// Held from the existence check to the write of a conditional PUT (`If-None-Match: *`,
    /// which s3s-fs ignores): S3 creates such an object at most once, and so does this server.
    create_only: tokio::sync::Mutex<()>,
    /// Held by a GET served one at a time (see [`Faults::one_at_a_time_ms`]).
    one_at_a_time: tokio::sync::Mutex<()>,
    /// `/bucket/key` -> object, when GETs and listings are served from memory.
    memory: BTreeMap<String, Stored>,
    faults: Arc<Faults>,
    log: Arc<Mutex<Vec<Logged>>>,
    requests: AtomicU64,
    gets: AtomicU64,
    /// GETs of objects being answered now, and the most at once.
    gets_in_flight: AtomicU64,
    most_gets_in_flight: Arc<AtomicU64>,
}

/// Counts a GET as in flight until it is answered.
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A running server; stops when dropped.
pub struct Server {
    /// `http://127.0.0.1:<port>`, for `--endpoint-url`.
    pub endpoint: String,
    /// Faults to inject (change them at any time).
    pub faults: Arc<Faults>,
    /// TCP connections accepted so far (shows whether clients reuse connections).
    #[allow(dead_code)] // read by benches/s3.rs
    pub connections: Arc<AtomicU64>,
    /// The most GETs of objects that were being answered at once (latency included).
    #[allow(dead_code)] // read by tests/it/s3.rs, not by benches/s3.rs
    pub most_gets_in_flight: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<Logged>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    /// Serves the buckets under `root` (each sub-folder is a bucket).
    pub fn start(root: &Path) -> Server {
        Server::start_with(root, 2, false)
    }

    /// [`Server::start`] on `threads` runtime threads; with `memory`, the objects under `root`
    /// are read now, and GETs of them and ListObjectsV2 of their buckets are answered from
    /// memory instead of by s3s-fs (everything else still goes to s3s-fs). For a bucket that
    /// does not change while the server runs.
    pub fn start_with(root: &Path, threads: usize, memory: bool) -> Server {
        Server::start_inner(root, threads, memory, None)
    }

    /// [`Server::start`] over HTTPS, with the certificate of `tests/fixtures/tls` (clients
    /// trust it with `SSL_CERT_FILE=tests/fixtures/tls/ca.pem`).
    #[allow(dead_code)] // used by tests/it/s3.rs, not by benches/s3.rs
    pub fn start_tls(root: &Path) -> Server {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
        let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
            .expect("server.pem")
            .collect::<Result<Vec<_>, _>>()
            .expect("server.pem certificates");
        let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("server.key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Server::start_inner(root, 2, false, Some(acceptor))
    }

    fn start_inner(
        root: &Path,
        threads: usize,
        memory: bool,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .enable_all()
            .build()
            .expect("server runtime");
        let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs root");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let faults = Arc::new(Faults::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        let most_gets_in_flight = Arc::new(AtomicU64::new(0));
        let state = Arc::new(State {
            s3: builder.build(),
            root: root.to_path_buf(),
            create_only: tokio::sync::Mutex::new(()),
            one_at_a_time: tokio::sync::Mutex::new(()),
            memory: if memory { load(root) } else { BTreeMap::new() },
            faults: faults.clone(),
            log: log.clone(),
            requests: AtomicU64::new(0),
            gets: AtomicU64::new(0),
            gets_in_flight: AtomicU64::new(0),
            most_gets_in_flight: most_gets_in_flight.clone(),
        });
        // A listen queue as long as the system allows (`somaxconn`), not std's 128: with
        // latency added, a run opens about 1,000 connections within a few ms, and a connection
        // the full queue turned away waits for the client's SYN to be sent again, a second later
        // (200-700 of them per run in the S3 bench with 50 ms, its last GETs taking 1.05-1.3 s).
        let listener = runtime
            .block_on(async {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(([127, 0, 0, 1], 0).into())?;
                socket.listen(LISTEN_BACKLOG)
            })
            .expect("bind 127.0.0.1");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let endpoint = format!("{scheme}://{}", listener.local_addr().expect("address"));
        let connections = Arc::new(AtomicU64::new(0));
        let accepted = connections.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                accepted.fetch_add(1, Ordering::Relaxed);
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let service = hyper::service::service_fn(move |req| {
                    let response: Pin<Box<dyn Future<Output = Served> + Send>> =
                        Box::pin(front(state.clone(), req));
                    response
                });
                // The connection future itself, not an async block around it: rustc's Send
                // check of such a block trips on hyper's higher-ranked error bounds.
                match &tls {
                    None => {
                        let connection = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service);
                        tokio::spawn(connection);
                    }
                    Some(acceptor) => {
                        let handshake = acceptor.accept(stream);
                        tokio::spawn(async move {
                            if let Ok(stream) = handshake.await {
                                // Spawned, not awaited here: see above.
                                let connection = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service);
                                tokio::spawn(connection);
                            }
                        });
                    }
                }
            }
        });
        Server {
            endpoint,
            faults,
            connections,
            most_gets_in_flight,
            log,
            runtime: Some(runtime),
        }
    }

    /// The requests seen so far.
    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().expect("log").clone()
    }

    /// Forgets the requests seen so far.
    pub fn clear_log(&self) {
        self.log.lock().expect("log").clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Every object of every bucket under `root`, by `/bucket/key`.
fn load(root: &Path) -> BTreeMap<String, Stored> {
    use s3s::crypto::Checksum as _;
    fn walk(dir: &Path, name: &str, out: &mut BTreeMap<String, Stored>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            let name = format!("{name}/{}", entry.file_name().to_string_lossy());
            if path.is_dir() {
                walk(&path, &name, out);
            } else {
                let body = Bytes::from(std::fs::read(&path).expect("read object"));
                let mut md5 = s3s::crypto::Md5::new();
                md5.update(&body);
                let hex: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
                out.insert(
                    name,
                    Stored {
                        etag: format!("\"{hex}\""),
                        body,
                    },
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    for bucket in std::fs::read_dir(root).expect("read_dir").flatten() {
        if bucket.path().is_dir() {
            let name = format!("/{}", bucket.file_name().to_string_lossy());
            walk(&bucket.path(), &name, &mut out);
        }
    }
    out
}

/// A GET of an object held in memory: 200 with the body, or 412 when `If-Match` names another
/// ETag. Signatures are not checked on this path.
fn from_memory(stored: &Stored, req: &Request<Incoming>) -> Response<Body> {
    let if_match = req.headers().get("if-match").and_then(|v| v.to_str().ok());
    if if_match.is_some_and(|m| m != "*" && m != stored.etag) {
        return error_response(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        );
    }
    let mut response = Response::new(
        Full::new(stored.body.clone())
            .map_err(|e| match e {})
            .boxed(),
    );
    let headers = response.headers_mut();
    headers.insert("content-length", stored.body.len().into());
    headers.insert(
        "etag",
        stored.etag.parse().expect("an ETag is a header value"),
    );
    headers.insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(
        "last-modified",
        hyper::header::HeaderValue::from_static("Wed, 01 Jul 2026 00:00:00 GMT"),
    );
    response
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// ListObjectsV2 of `bucket` from memory (`prefix`, `delimiter`, `start-after`,
/// `continuation-token`, `max-keys` up to 1000), or `None` for what it does not handle.
fn list_from_memory(
    memory: &BTreeMap<String, Stored>,
    bucket: &str,
    logged: &Logged,
) -> Option<Response<Body>> {
    if logged.param("encoding-type").is_some() {
        return None;
    }
    let prefix = logged.param("prefix").unwrap_or("");
    let delimiter = logged.param("delimiter").filter(|d| !d.is_empty());
    let max_keys = logged
        .param("max-keys")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(1000)
        .min(1000);
    let after = match (
        logged.param("continuation-token"),
        logged.param("start-after"),
    ) {
        (Some(token), _) => token,
        (None, Some(start)) => start,
        (None, None) => "",
    };
    let root = format!("/{bucket}/");
    let known = memory.range(root.clone()..).next();
    if !known.is_some_and(|(path, _)| path.starts_with(&root)) {
        return None; // not a bucket held in memory
    }
    let from = format!("{root}{}", after.max(prefix));
    let mut contents = String::new();
    let mut prefixes: Vec<String> = Vec::new();
    let (mut count, mut last, mut truncated) = (0, String::new(), false);
    let mut keys = memory.range(from..);
    while let Some((path, stored)) = keys.next() {
        let Some(key) = path.strip_prefix(&root) else {
            break;
        };
        if !key.starts_with(prefix) {
            break;
        }
        if key <= after {
            continue;
        }
        let common = delimiter.and_then(|d| {
            key[prefix.len()..]
                .find(d)
                .map(|at| key[..prefix.len() + at + d.len()].to_string())
        });
        if let Some(p) = &common
            && prefixes.last() == Some(p)
        {
            continue;
        }
        if count == max_keys {
            truncated = true;
            break;
        }
        count += 1;
        match common {
            Some(p) => {
                // Skip the rest of this common prefix, here and on the next page: like S3,
                // a delimiter listing costs what it answers, not the keys below.
                last = format!("{p}\u{10ffff}");
                keys = memory.range(format!("{root}{last}")..);
                prefixes.push(p);
            }
            None => {
                last = key.to_string();
                contents.push_str(&format!(
                    "<Contents><Key>{}</Key><LastModified>2026-07-01T00:00:00.000Z</LastModified>\
                     <ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass>\
                     </Contents>",
                    xml_escape(key),
                    xml_escape(&stored.etag),
                    stored.body.len()
                ));
            }
        }
    }
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult \
         xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{}</Name><Prefix>{}</Prefix>\
         <KeyCount>{count}</KeyCount><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}\
         </IsTruncated>",
        xml_escape(bucket),
        xml_escape(prefix)
    );
    if let Some(d) = delimiter {
        xml.push_str(&format!("<Delimiter>{}</Delimiter>", xml_escape(d)));
    }
    xml.push_str(&contents);
    for p in &prefixes {
        xml.push_str(&format!(
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            xml_escape(p)
        ));
    }
    if truncated {
        xml.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            xml_escape(&last)
        ));
    }
    xml.push_str("</ListBucketResult>");
    let mut response = Response::new(Full::new(Bytes::from(xml)).map_err(|e| match e {}).boxed());
    response
        .headers_mut()
        .insert("content-type", "application/xml".parse().expect("header"));
    Some(response)
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>crosstrail-test</RequestId></Error>"
    );
    let mut response = Response::new(Full::new(Bytes::from(xml)).map_err(|e| match e {}).boxed());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "application/xml".parse().expect("header"));
    response
}

fn every(n: &AtomicU64, count: u64) -> bool {
    let n = n.load(Ordering::Relaxed);
    n > 0 && count.is_multiple_of(n)
}

type Served = Result<Response<Body>, BoxError>;

async fn front(state: Arc<State>, req: Request<Incoming>) -> Served {
    let path = decode(req.uri().path());
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    let logged = Logged {
        method: req.method().to_string(),
        path,
        query,
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
    };
    let is_get_object = logged.method == "GET"
        && !logged.is_list()
        && logged.path.trim_start_matches('/').contains('/');
    state.log.lock().expect("log").push(logged.clone());
    let _in_flight = is_get_object.then(|| {
        let now = state.gets_in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        state.most_gets_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(&state.gets_in_flight)
    });
    let faults = &state.faults;
    let mut latency = faults.latency_ms.load(Ordering::Relaxed);
    if let Some((prefix, ms)) = &*faults.slow_listing.lock().expect("slow listing")
        && logged.is_list()
        && logged.param("prefix") == Some(prefix)
    {
        latency += ms;
    }
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let alone = faults.one_at_a_time_ms.load(Ordering::Relaxed);
    let _alone = if is_get_object && alone > 0 {
        let held = state.one_at_a_time.lock().await;
        tokio::time::sleep(Duration::from_millis(alone)).await;
        Some(held)
    } else {
        None
    };
    let n = state.requests.fetch_add(1, Ordering::Relaxed) + 1;
    if every(&faults.slow_down_every, n) {
        return Ok(error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.",
        ));
    }
    let mut truncate = false;
    if is_get_object {
        let denied = faults
            .deny
            .lock()
            .expect("deny list")
            .iter()
            .any(|d| logged.path.contains(d.as_str()));
        if denied {
            return Ok(error_response(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Access Denied",
            ));
        }
        let g = state.gets.fetch_add(1, Ordering::Relaxed) + 1;
        if every(&faults.expired_every, g) {
            return Ok(error_response(
                StatusCode::BAD_REQUEST,
                "ExpiredToken",
                "The provided token has expired.",
            ));
        }
        if every(&faults.reset_every, g) {
            // No response: hyper drops the connection.
            return Err("injected connection reset".into());
        }
        truncate = every(&faults.truncate_every, g);
    }
    let stored = is_get_object
        .then(|| state.memory.get(&logged.path))
        .flatten();
    let bucket = logged.path.trim_matches('/');
    let listed = (logged.method == "GET" && logged.is_list() && !state.memory.is_empty())
        .then(|| list_from_memory(&state.memory, bucket, &logged))
        .flatten();
    let create_only = logged.method == "PUT"
        && req
            .headers()
            .get("if-none-match")
            .is_some_and(|v| v.as_bytes() == b"*");
    let _creating = if create_only {
        let guard = state.create_only.lock().await;
        if state
            .root
            .join(logged.path.trim_start_matches('/'))
            .exists()
        {
            return Ok(error_response(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
            ));
        }
        Some(guard)
    } else {
        None
    };
    let response = match (stored, listed) {
        (Some(stored), _) => from_memory(stored, &req),
        (None, Some(listed)) => listed,
        (None, None) => state
            .s3
            .call(req.map(s3s::Body::from))
            .await
            .map_err(|e| -> BoxError { format!("{e:?}").into() })?
            .map(BodyExt::boxed),
    };
    let (parts, body) = response.into_parts();
    if truncate {
        let bytes = body.collect().await?.to_bytes();
        let half = bytes.slice(..bytes.len() / 2);
        let frames: Vec<Result<Frame<Bytes>, BoxError>> =
            vec![Ok(Frame::data(half)), Err("injected truncation".into())];
        let body = StreamBody::new(futures::stream::iter(frames)).boxed();
        return Ok(Response::from_parts(parts, body));
    }
    Ok(Response::from_parts(parts, body))
}
