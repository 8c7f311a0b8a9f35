//! An S3-protocol server on loopback for tests and benchmarks: `s3s-fs` (buckets are folders
//! under a root, SigV4 checked against one key pair) behind a fault-injecting front end on its
//! own 127.0.0.1 port. The front end sees every request before the server does: it logs them
//! (so tests can assert which listings were made), adds latency, answers 503 SlowDown or 403
//! AccessDenied, resets connections, and cuts response bodies short.

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
    /// Milliseconds added before every request is served.
    pub latency_ms: AtomicU64,
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

struct State {
    s3: S3Service,
    faults: Arc<Faults>,
    log: Arc<Mutex<Vec<Logged>>>,
    requests: AtomicU64,
    gets: AtomicU64,
}

/// A running server; stops when dropped.
pub struct Server {
    /// `http://127.0.0.1:<port>`, for `--endpoint-url`.
    pub endpoint: String,
    /// Faults to inject (change them at any time).
    pub faults: Arc<Faults>,
    log: Arc<Mutex<Vec<Logged>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    /// Serves the buckets under `root` (each sub-folder is a bucket).
    pub fn start(root: &Path) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs root");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let faults = Arc::new(Faults::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(State {
            s3: builder.build(),
            faults: faults.clone(),
            log: log.clone(),
            requests: AtomicU64::new(0),
            gets: AtomicU64::new(0),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let service = hyper::service::service_fn(move |req| {
                    let response: Pin<Box<dyn Future<Output = Served> + Send>> =
                        Box::pin(front(state.clone(), req));
                    response
                });
                // The connection future itself, not an async block around it: rustc's Send
                // check of such a block trips on hyper's higher-ranked error bounds.
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                tokio::spawn(connection);
            }
        });
        Server {
            endpoint,
            faults,
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
    };
    let is_get_object = logged.method == "GET"
        && !logged.is_list()
        && logged.path.trim_start_matches('/').contains('/');
    state.log.lock().expect("log").push(logged.clone());
    let faults = &state.faults;
    let latency = faults.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
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
        if every(&faults.reset_every, g) {
            // No response: hyper drops the connection.
            return Err("injected connection reset".into());
        }
        truncate = every(&faults.truncate_every, g);
    }
    let response = state
        .s3
        .call(req.map(s3s::Body::from))
        .await
        .map_err(|e| -> BoxError { format!("{e:?}").into() })?;
    let (parts, body) = response.into_parts();
    if truncate {
        let collected: Result<_, s3s::StdError> = body.collect().await;
        let bytes = collected?.to_bytes();
        let half = bytes.slice(..bytes.len() / 2);
        let frames: Vec<Result<Frame<Bytes>, BoxError>> =
            vec![Ok(Frame::data(half)), Err("injected truncation".into())];
        let body = StreamBody::new(futures::stream::iter(frames)).boxed();
        return Ok(Response::from_parts(parts, body));
    }
    Ok(Response::from_parts(parts, body.boxed()))
}
