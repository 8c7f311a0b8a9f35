//! The HTTP/1.1 exchange of an object GET, on connections of our own.
//!
//! A CloudTrail object is a few KB gzipped, so a GET's fixed cost decides how fast a bucket is
//! read. Through hyper's pooled client each GET crossed two tasks (the request's and the
//! connection's), a channel between them, the pool's bookkeeping and the SDK body wrapper;
//! profiles put that at more CPU than the system calls of the exchange. Here a GET is one
//! future that owns its connection while it runs: it writes the request in one call, reads
//! the response head and body into one buffer sized for the object (the body is handed on
//! without a copy when it came in whole), and puts the connection back on an idle stack.
//!
//! What it does: HTTP and HTTPS (rustls with the system's roots, as the SDK's client), keep-
//! alive with bodies framed by `Content-Length` or chunked encoding, bodies read to the end of
//! the connection when neither frames them, a connect timeout and a timeout on every read, and
//! one immediate second try on a fresh connection when a kept-alive one turns out to have been
//! closed by the server before answering (any client that reuses connections must). Anything
//! else (redirects, proxies, `Expect`) is not needed for a signed GET of an object and is left
//! to the SDK's client, which the caller keeps for those cases.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use rustls::pki_types::ServerName;

use crate::pipeline::error_chain;
use crate::s3::Attempt;

/// A kept-alive connection unused this long is closed rather than reused: servers close idle
/// connections after a few seconds (S3 after about 20), and a request on one they just closed
/// costs a round trip.
const IDLE_MAX: Duration = Duration::from_secs(4);

/// Room for the response head besides the body in the buffer of a GET.
const HEAD_ROOM: usize = 2048;

/// A response head larger than this is refused.
const HEAD_MAX: usize = 64 << 10;

/// Headers parsed in a response head at most.
const HEADERS_MAX: usize = 64;

/// Body bytes kept of a response that is not the object (an error document).
const ERROR_BODY_MAX: u64 = 64 << 10;

/// The buffer of a GET is allocated up to this size before the body arrives; larger bodies
/// grow it as they come.
const PREALLOCATE_MAX: u64 = 64 << 20;

/// Buffers given back (see [`Client::give_back`]) are kept up to this many bytes in all,
/// and only those of this size or less.
const SPARE_BYTES: usize = 8 << 20;
const SPARE_BUFFER_MAX: usize = 256 << 10;

/// Connections to one endpoint (scheme, host and port).
pub(crate) struct Client {
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    idle: Mutex<Vec<Connection>>,
    /// Buffers of bodies processed, for the next responses, and their bytes in all. With a
    /// thousand GETs in flight, a new buffer each time (freed by the worker, on another
    /// thread) kept glibc's allocator busy merging and splitting free blocks on the fetch
    /// thread, and touching new pages.
    spare: Mutex<(Vec<BytesMut>, usize)>,
    connect_timeout: Duration,
    read_timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// A response: its status, the headers a GET needs, and its body.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub content_length: Option<u64>,
    /// `x-amz-bucket-region`, which S3 sends with a wrong-region error.
    pub bucket_region: Option<String>,
    /// The whole body of a 2xx response (`None` when its length was not the expected one:
    /// then it was not read); at most 64 KiB of any other.
    pub body: Option<Bytes>,
}

/// The 2xx body a request expects.
#[derive(Clone, Copy)]
enum Body {
    /// An object of this many bytes.
    Exactly(u64),
    /// Any length up to this.
    AtMost(u64),
}

struct Connection {
    stream: Stream,
    idle_since: Instant,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(bytes).await,
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
        }
    }

    async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read_buf(buf).await,
            Stream::Tls(s) => s.read_buf(buf).await,
        }
    }
}

/// The TLS settings of the SDK's default client: the system's root certificates (and
/// `SSL_CERT_FILE` / `SSL_CERT_DIR` when set), aws-lc-rs with its AEAD suites, TLS 1.2 and 1.3.
fn tls_config() -> Result<rustls::ClientConfig, String> {
    let base = rustls::crypto::aws_lc_rs::default_provider();
    let wanted = [
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    let suites = wanted
        .iter()
        .filter_map(|w| base.cipher_suites.iter().find(|s| s.suite() == *w).copied())
        .collect();
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites: suites,
        ..base
    };
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (valid, _) = roots.add_parsable_certificates(found.certs);
    if valid == 0 {
        return Err(format!(
            "no usable root certificates on this system{}",
            found
                .errors
                .first()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ));
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

impl Client {
    /// A client for `http://` or `https://` `host`:`port` (`host` without IPv6 brackets).
    pub(crate) fn new(
        https: bool,
        host: &str,
        port: u16,
        timeouts: (Duration, Duration),
    ) -> Result<Client, String> {
        let tls = if https {
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| format!("{host} is not a TLS server name: {e}"))?;
            Some((TlsConnector::from(Arc::new(tls_config()?)), name))
        } else {
            None
        };
        Ok(Client {
            host: host.to_string(),
            port,
            tls,
            idle: Mutex::new(Vec::new()),
            spare: Mutex::new((Vec::new(), 0)),
            connect_timeout: timeouts.0,
            read_timeout: timeouts.1,
        })
    }

    /// Sends `request` (a whole HTTP/1.1 request head, no body) and reads the response. A 2xx
    /// body is read only when it is `expected` bytes long (or its length is not announced),
    /// and never beyond `expected` bytes.
    pub(crate) async fn get(&self, request: &[u8], expected: u64) -> Result<Response, Attempt> {
        self.send(request, Body::Exactly(expected)).await
    }

    /// Sends `request` as [`Client::get`] does, for a 2xx body of any length up to `limit`
    /// bytes (a longer one is an error).
    pub(crate) async fn get_at_most(
        &self,
        request: &[u8],
        limit: u64,
    ) -> Result<Response, Attempt> {
        self.send(request, Body::AtMost(limit)).await
    }

    async fn send(&self, request: &[u8], expected: Body) -> Result<Response, Attempt> {
        loop {
            let (mut connection, reused) = match self.take_idle() {
                Some(c) => (c, true),
                None => (self.connect().await?, false),
            };
            match self.exchange(&mut connection, request, expected).await {
                Ok((response, keep)) => {
                    if keep {
                        connection.idle_since = Instant::now();
                        self.idle
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(connection);
                    }
                    return Ok(response);
                }
                // The server had closed this kept-alive connection before it read the
                // request: nothing was answered, so try once more on a new one.
                Err(Failure::Unanswered(_)) if reused => continue,
                Err(Failure::Unanswered(why) | Failure::Other(why)) => return Err(why),
            }
        }
    }

    /// Takes back the body of a response once it is used: its buffer serves a later one,
    /// when nothing else holds it and it is small enough.
    pub(crate) fn give_back(&self, body: Bytes) {
        let Ok(mut buf) = body.try_into_mut() else {
            return;
        };
        let capacity = buf.capacity();
        if capacity > SPARE_BUFFER_MAX {
            return;
        }
        buf.clear();
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        if spare.1 + capacity <= SPARE_BYTES {
            spare.1 += capacity;
            spare.0.push(buf);
        }
    }

    /// A buffer for a response, of `capacity` bytes at least: one given back, or a new one.
    fn buffer(&self, capacity: usize) -> BytesMut {
        let taken = {
            let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
            let taken = spare.0.pop();
            if let Some(buf) = &taken {
                spare.1 -= buf.capacity();
            }
            taken
        };
        match taken {
            Some(mut buf) => {
                buf.reserve(capacity);
                buf
            }
            None => BytesMut::with_capacity(capacity),
        }
    }

    fn take_idle(&self) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(c) = idle.pop() {
            if c.idle_since.elapsed() < IDLE_MAX {
                return Some(c);
            }
        }
        None
    }

    async fn connect(&self) -> Result<Connection, Attempt> {
        let what = || format!("{}:{}", self.host, self.port);
        let connecting = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| Attempt::Transient(format!("cannot connect to {}: {e}", what())))?;
            tcp.set_nodelay(true)
                .map_err(|e| Attempt::Transient(format!("cannot connect to {}: {e}", what())))?;
            let stream = match &self.tls {
                None => Stream::Plain(tcp),
                Some((connector, name)) => {
                    let tls = connector.connect(name.clone(), tcp).await.map_err(|e| {
                        let why = format!("TLS with {}: {}", what(), error_chain(&e));
                        // A certificate the system does not trust stays untrusted.
                        if is_certificate_error(&e) {
                            Attempt::Permanent(why)
                        } else {
                            Attempt::Transient(why)
                        }
                    })?;
                    Stream::Tls(Box::new(tls))
                }
            };
            Ok(Connection {
                stream,
                idle_since: Instant::now(),
            })
        };
        tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .unwrap_or_else(|_| {
                Err(Attempt::Transient(format!(
                    "cannot connect to {}: no answer in {:?}",
                    what(),
                    self.connect_timeout
                )))
            })
    }

    /// One request and its response on `connection`; the flag says whether the connection
    /// can carry another request.
    async fn exchange(
        &self,
        connection: &mut Connection,
        request: &[u8],
        expected: Body,
    ) -> Result<(Response, bool), Failure> {
        let stream = &mut connection.stream;
        stream
            .write_all(request)
            .await
            .map_err(|e| Failure::Unanswered(transient(format!("sending the request: {e}"))))?;
        let preallocate = match expected {
            Body::Exactly(length) => length.min(PREALLOCATE_MAX),
            Body::AtMost(_) => 0,
        };
        let capacity = usize::try_from(preallocate).unwrap_or(0) + HEAD_ROOM;
        let mut buf = self.buffer(capacity);
        // The head. Whatever is in the buffer is parsed before reading more: an interim
        // response (100 Continue) may come in one piece with the real one.
        let mut answered = false;
        let head = loop {
            if !buf.is_empty() {
                match parse_head(&buf)? {
                    Some(head) if (100..200).contains(&head.status) => {
                        buf.advance(head.length);
                        answered = true;
                        continue;
                    }
                    Some(head) => break head,
                    None if buf.len() > HEAD_MAX => {
                        return Err(Failure::Other(transient(format!(
                            "response head longer than {HEAD_MAX} bytes"
                        ))));
                    }
                    None => {}
                }
            }
            let unanswered = buf.is_empty() && !answered;
            let n = self.read(stream, &mut buf).await.map_err(|e| {
                let why = transient(format!("reading the response: {e}"));
                if unanswered {
                    Failure::Unanswered(why)
                } else {
                    Failure::Other(why)
                }
            })?;
            if n == 0 {
                let why = transient(if unanswered {
                    "the connection was closed without a response".to_string()
                } else {
                    format!(
                        "the connection was closed in the response head ({} bytes)",
                        buf.len()
                    )
                });
                return Err(if unanswered {
                    Failure::Unanswered(why)
                } else {
                    Failure::Other(why)
                });
            }
        };
        buf.advance(head.length);
        let ok = (200..300).contains(&head.status);
        let mut response = Response {
            status: head.status,
            content_length: head.content_length,
            bucket_region: head.bucket_region,
            body: None,
        };
        let limit = match expected {
            _ if !ok => ERROR_BODY_MAX,
            Body::Exactly(length) => {
                if head.content_length.is_some_and(|l| l != length) {
                    return Ok((response, false));
                }
                length
            }
            Body::AtMost(limit) => {
                if let Some(l) = head.content_length.filter(|l| *l > limit) {
                    return Err(Failure::Other(Attempt::Permanent(format!(
                        "a response of {l} bytes, more than the {limit} expected at most"
                    ))));
                }
                limit
            }
        };
        let (body, reusable) = match head.framing {
            Framing::Length(length) => self.read_length(stream, buf, length, limit).await?,
            Framing::Chunked => self.read_chunked(stream, buf, limit, ok).await?,
            Framing::UntilClose => (self.read_until_close(stream, buf, limit, ok).await?, false),
        };
        response.body = Some(body);
        Ok((response, reusable && head.keep_alive))
    }

    async fn read(&self, stream: &mut Stream, buf: &mut BytesMut) -> io::Result<usize> {
        if buf.capacity() == buf.len() {
            buf.reserve(HEAD_ROOM.max(buf.len()));
        }
        match tokio::time::timeout(self.read_timeout, stream.read_buf(buf)).await {
            Ok(read) => read,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("nothing for {}s", self.read_timeout.as_secs_f32()),
            )),
        }
    }

    /// A body of `length` bytes, of which `buf` holds the first ones. Beyond `limit` bytes it
    /// is an error for the object (`limit` = its size) and cut short for an error document.
    async fn read_length(
        &self,
        stream: &mut Stream,
        mut buf: BytesMut,
        length: u64,
        limit: u64,
    ) -> Result<(Bytes, bool), Failure> {
        let wanted = length.min(limit);
        let wanted_len = usize::try_from(wanted).unwrap_or(usize::MAX);
        while buf.len() < wanted_len {
            let missing = wanted_len - buf.len();
            if buf.capacity() - buf.len() < missing {
                buf.reserve(missing.min(PREALLOCATE_MAX as usize));
            }
            let n = self.read(stream, &mut buf).await.map_err(|e| {
                Failure::Other(transient(format!(
                    "body broke after {} of {length} bytes: {e}",
                    buf.len()
                )))
            })?;
            if n == 0 {
                return Err(Failure::Other(transient(format!(
                    "body ended after {} of {length} bytes",
                    buf.len()
                ))));
            }
        }
        // Bytes after the body: the server sent something nobody asked for.
        let extra = buf.len() > wanted_len;
        let body = buf.split_to(wanted_len).freeze();
        Ok((body, wanted == length && !extra))
    }

    async fn read_chunked(
        &self,
        stream: &mut Stream,
        mut buf: BytesMut,
        limit: u64,
        ok: bool,
    ) -> Result<(Bytes, bool), Failure> {
        let mut body = BytesMut::new();
        let mut decoder = Chunked::default();
        loop {
            let done = decoder
                .decode(&mut buf, &mut body)
                .map_err(|why| Failure::Other(transient(format!("chunked body: {why}"))))?;
            if done {
                let reusable = buf.is_empty();
                return Ok((body.freeze(), reusable));
            }
            if body.len() as u64 > limit {
                return past_limit(body, limit, ok).map(|body| (body, false));
            }
            let read = body.len();
            let n = self
                .read(stream, &mut buf)
                .await
                .map_err(|e| broke(read, e))?;
            if n == 0 {
                return Err(Failure::Other(transient(format!(
                    "body ended after {} bytes, before its last chunk",
                    body.len()
                ))));
            }
        }
    }

    async fn read_until_close(
        &self,
        stream: &mut Stream,
        mut buf: BytesMut,
        limit: u64,
        ok: bool,
    ) -> Result<Bytes, Failure> {
        loop {
            if buf.len() as u64 > limit {
                return past_limit(buf, limit, ok);
            }
            let read = buf.len();
            let n = self
                .read(stream, &mut buf)
                .await
                .map_err(|e| broke(read, e))?;
            if n == 0 {
                return Ok(buf.freeze());
            }
        }
    }
}

/// A body without a length that grew past `limit` bytes: an error for the object (`ok`), cut
/// at `limit` for an error document.
fn past_limit(mut body: BytesMut, limit: u64, ok: bool) -> Result<Bytes, Failure> {
    if ok {
        return Err(Failure::Other(transient(format!(
            "body longer than its {limit} bytes"
        ))));
    }
    body.truncate(limit as usize);
    Ok(body.freeze())
}

/// A body without a length that broke after `read` bytes.
fn broke(read: usize, e: io::Error) -> Failure {
    Failure::Other(transient(format!("body broke after {read} bytes: {e}")))
}

/// Why an exchange failed.
enum Failure {
    /// Before any byte of a response came.
    Unanswered(Attempt),
    Other(Attempt),
}

fn transient(why: String) -> Attempt {
    Attempt::Transient(why)
}

impl From<Attempt> for Failure {
    fn from(a: Attempt) -> Failure {
        Failure::Other(a)
    }
}

#[derive(Debug, PartialEq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

#[derive(Debug)]
struct Head {
    /// Bytes of the head, blank line included.
    length: usize,
    status: u16,
    content_length: Option<u64>,
    bucket_region: Option<String>,
    framing: Framing,
    keep_alive: bool,
}

/// The response head at the start of `buf`, or `None` when it is not complete yet.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, Attempt> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(buf) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(Attempt::Transient(format!(
                "not an HTTP/1.1 response ({e})"
            )));
        }
    };
    let status = response.code.unwrap_or(0);
    let mut keep_alive = response.version == Some(1);
    let mut content_length = None;
    let mut chunked = false;
    let mut bucket_region = None;
    for h in response.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let l = value
                .parse::<u64>()
                .map_err(|_| Attempt::Transient(format!("Content-Length {value:?}")))?;
            if content_length.is_some_and(|c| c != l) {
                return Err(Attempt::Transient("two different Content-Lengths".into()));
            }
            content_length = Some(l);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            if value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"))
            {
                keep_alive = false;
            }
        } else if h.name.eq_ignore_ascii_case("x-amz-bucket-region") {
            bucket_region = Some(value.to_string());
        }
    }
    // RFC 9112 6.3: no body for 1xx, 204 and 304; chunked wins over a length.
    let framing = if matches!(status, 100..=199 | 204 | 304) {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(l) = content_length {
        Framing::Length(l)
    } else {
        Framing::UntilClose
    };
    if chunked {
        content_length = None;
    }
    Ok(Some(Head {
        length,
        status,
        content_length,
        bucket_region,
        framing,
        keep_alive,
    }))
}

/// The state of a chunked body being decoded.
#[derive(Default)]
struct Chunked {
    /// Data bytes of the current chunk still to come, then its CRLF.
    in_chunk: Option<u64>,
    /// The last chunk was seen: trailer lines until an empty one.
    trailers: bool,
}

impl Chunked {
    /// Moves the decoded data of `input` to `out`, consuming what it decoded; `true` when the
    /// body is complete.
    fn decode(&mut self, input: &mut BytesMut, out: &mut BytesMut) -> Result<bool, String> {
        loop {
            if self.trailers {
                let Some(end) = memchr::memchr(b'\n', input) else {
                    return Ok(false);
                };
                let empty = input[..end].iter().all(|&b| b == b'\r');
                input.advance(end + 1);
                if empty {
                    return Ok(true);
                }
                continue;
            }
            match self.in_chunk {
                Some(0) => {
                    if input.len() < 2 {
                        return Ok(false);
                    }
                    if &input[..2] != b"\r\n" {
                        return Err("a chunk does not end with CRLF".into());
                    }
                    input.advance(2);
                    self.in_chunk = None;
                }
                Some(left) => {
                    if input.is_empty() {
                        return Ok(false);
                    }
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..n]);
                    input.advance(n);
                    self.in_chunk = Some(left - n as u64);
                }
                None => {
                    let Some(end) = memchr::memchr(b'\n', input) else {
                        if input.len() > 1024 {
                            return Err("a chunk size line longer than 1 KiB".into());
                        }
                        return Ok(false);
                    };
                    let line = std::str::from_utf8(&input[..end])
                        .map_err(|_| "a chunk size that is not text".to_string())?;
                    let size = line.trim_end_matches('\r');
                    let size = size.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size, 16)
                        .map_err(|_| format!("chunk size {size:?}"))?;
                    input.advance(end + 1);
                    if size == 0 {
                        self.trailers = true;
                    } else {
                        self.in_chunk = Some(size);
                    }
                }
            }
        }
    }
}

fn is_certificate_error(e: &io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| {
            matches!(
                r,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn decode_all(pieces: &[&[u8]]) -> Result<(Vec<u8>, bool, usize), String> {
        let mut decoder = Chunked::default();
        let mut input = BytesMut::new();
        let mut out = BytesMut::new();
        for piece in pieces {
            input.extend_from_slice(piece);
            if decoder.decode(&mut input, &mut out)? {
                return Ok((out.to_vec(), true, input.len()));
            }
        }
        Ok((out.to_vec(), false, input.len()))
    }

    #[test]
    fn chunked_bodies_are_decoded_whatever_the_pieces_they_arrive_in() {
        let body = b"5\r\nhello\r\na;ext=1\r\n, world!!!\r\n0\r\nx-trailer: 1\r\n\r\n";
        assert_eq!(
            decode_all(&[body]).unwrap(),
            (b"hello, world!!!".to_vec(), true, 0)
        );
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(
            decode_all(&bytes).unwrap(),
            (b"hello, world!!!".to_vec(), true, 0)
        );
        // Cut before the end: not complete.
        let (data, done, _) = decode_all(&[&body[..20]]).unwrap();
        assert!(!done);
        assert_eq!(data, b"hello,");
        assert!(decode_all(&[b"zz\r\nab\r\n"]).is_err());
        assert!(decode_all(&[b"2\r\nabXY0\r\n\r\n"]).is_err());
    }

    /// A one-connection-at-a-time server on loopback: for each accepted connection, reads
    /// requests and answers the next of `answers` to each; an answer of `None` closes the
    /// connection instead, and so does the end of the last answer.
    async fn serve(answers: Vec<Option<&'static [u8]>>) -> (u16, tokio::task::JoinHandle<usize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut answers = answers.into_iter();
            let mut connections = 0;
            'accept: while let Ok((mut socket, _)) = listener.accept().await {
                connections += 1;
                let mut request = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        continue 'accept;
                    }
                    request.extend_from_slice(&chunk[..n]);
                    if !request.ends_with(b"\r\n\r\n") {
                        continue;
                    }
                    request.clear();
                    match answers.next() {
                        Some(Some(answer)) => socket.write_all(answer).await.unwrap(),
                        Some(None) => continue 'accept,
                        None => break 'accept,
                    }
                    if answers.len() == 0 {
                        break 'accept; // the last answer: the connection is closed
                    }
                }
            }
            connections
        });
        (port, task)
    }

    fn client(port: u16) -> Client {
        let timeouts = (Duration::from_secs(5), Duration::from_secs(5));
        Client::new(false, "127.0.0.1", port, timeouts).unwrap()
    }

    const GET: &[u8] = b"GET /b/k HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";

    #[tokio::test]
    async fn a_body_given_back_holds_the_next_response() {
        const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        let answers = [&b"hello"[..], b"again", b"third", b"fifth"]
            .map(|body| Some(&*[OK, body].concat().leak()));
        let (port, _server) = serve(answers.to_vec()).await;
        let c = client(port);
        let first = c.get(GET, 5).await.unwrap().body.unwrap();
        let at = first.as_ptr();
        c.give_back(first);
        // The same buffer, whose head was read in the same place.
        let second = c.get(GET, 5).await.unwrap().body.unwrap();
        assert_eq!((&second[..], second.as_ptr()), (&b"again"[..], at));
        // A body still held elsewhere is not taken back.
        let held = second.clone();
        c.give_back(second);
        let third = c.get(GET, 5).await.unwrap().body.unwrap();
        assert_eq!(&third[..], b"third");
        assert_ne!(third.as_ptr(), at);
        assert_eq!(&held[..], b"again");
        // Nor a large one, nor more than the bytes kept in all.
        c.give_back(Bytes::from(vec![0; SPARE_BUFFER_MAX + 1]));
        assert_eq!(c.spare.lock().unwrap().1, 0);
        for _ in 0..SPARE_BYTES / SPARE_BUFFER_MAX + 2 {
            c.give_back(Bytes::from(vec![0; SPARE_BUFFER_MAX]));
        }
        let spare = c.spare.lock().unwrap();
        assert_eq!(spare.1, SPARE_BYTES);
        assert_eq!(
            spare.0.iter().map(BytesMut::capacity).sum::<usize>(),
            SPARE_BYTES
        );
    }

    #[tokio::test]
    async fn interim_responses_chunked_bodies_and_closed_connections() {
        let (port, server) = serve(vec![
            // 100 Continue and the response in one write.
            Some(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
            // Chunked, on the same (kept-alive) connection.
            Some(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
            // The server closes the kept-alive connection instead of answering: the client
            // tries once more on a new one.
            None,
            Some(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain"),
            // An error document, then the connection is closed by the server.
            Some(b"HTTP/1.1 503 Slow Down\r\nContent-Length: 9\r\nConnection: close\r\n\r\n<Error/>\n"),
            // A body cut short.
            Some(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"),
        ])
        .await;
        let c = client(port);
        let r = c.get(GET, 5).await.unwrap();
        assert_eq!((r.status, r.body.as_deref()), (200, Some(&b"hello"[..])));
        let r = c.get(GET, 5).await.unwrap();
        assert_eq!((r.status, r.body.as_deref()), (200, Some(&b"abcde"[..])));
        let r = c.get(GET, 5).await.unwrap();
        assert_eq!(r.body.as_deref(), Some(&b"again"[..]));
        let r = c.get(GET, 5).await.unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.body.as_deref(), Some(&b"<Error/>\n"[..]));
        // A new connection (the last one was closed), and a body that ends early.
        let e = c.get(GET, 5).await.unwrap_err();
        match e {
            Attempt::Transient(why) => assert!(why.contains("body ended after 2 of 5"), "{why}"),
            Attempt::Permanent(why) => panic!("permanent: {why}"),
        }
        drop(c);
        // One connection for the first three answers, one for the retried one and the
        // error document, one for the short body.
        assert_eq!(server.await.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_length_other_than_the_listed_one_is_not_read() {
        let (port, _server) = serve(vec![Some(
            b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nchanged",
        )])
        .await;
        let r = client(port).get(GET, 5).await.unwrap();
        assert_eq!((r.status, r.content_length, r.body), (200, Some(7), None));
    }

    #[test]
    fn heads_give_status_length_framing_and_keep_alive() {
        let head = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nETag: \"x\"\r\n\r\nbody")
            .unwrap()
            .unwrap();
        assert_eq!(
            (head.status, head.content_length, head.keep_alive),
            (200, Some(12), true)
        );
        assert_eq!(head.framing, Framing::Length(12));
        assert_eq!(head.length, 50);
        let head = parse_head(
            b"HTTP/1.1 301 Moved\r\nx-amz-bucket-region: eu-west-1\r\nConnection: close\r\n\
              Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.framing, Framing::Chunked);
        assert_eq!(head.bucket_region.as_deref(), Some("eu-west-1"));
        assert_eq!((head.keep_alive, head.content_length), (false, None));
        let head = parse_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!(
            (head.framing, head.keep_alive),
            (Framing::UntilClose, false)
        );
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le")
                .unwrap()
                .is_none()
        );
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .is_err()
        );
    }
}
