//! The GET of one object, without the SDK's per-operation machinery.
//!
//! CloudTrail objects are small and many (a few KB to a few hundred KB each), so what a GET
//! costs in CPU besides its bytes decides how fast a bucket is read. The SDK's operation
//! pipeline (interceptors, a config bag, S3's endpoint rules evaluated again for every request,
//! retry and checksum bookkeeping) measured more CPU per object than parsing the object. Here
//! the same pieces are used once per run and then directly per object:
//! - the endpoint is resolved once for the bucket by the SDK's own S3 endpoint rules (region,
//!   `--endpoint-url` with path-style, FIPS and dual-stack settings, dotted bucket names); the
//!   key is appended to it;
//! - requests are signed as `aws-sigv4` signs them with S3's settings (single URI encoding, no
//!   path normalization, `x-amz-content-sha256`; `sign_parts` writes the same signature for a
//!   fraction of the CPU, and the tests hold the two to the same output), with credentials from
//!   the SDK's chain, cached until shortly before they expire;
//! - they go over connections of our own (`http1.rs`: HTTP/1.1 keep-alive, rustls with the
//!   system's roots, connect and read timeouts), their heads written straight into one buffer,
//!   or through the SDK's own HTTP connector (hyper) when a proxy is set in the environment.
//!
//! An endpoint that asks for another signing scheme than plain SigV4 is left to the SDK.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_sdk_s3::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::Document;
use bytes::{Bytes, BytesMut};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::http1;
use crate::pipeline::error_chain;
use crate::s3::{Attempt, Page, PageQuery, describe_failure};
use crate::s3_list::{NotAPage, parse_page, unescape_into};

/// Credentials are fetched again this long before they expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// Who reads the bucket, as S3 server access logs and CloudTrail data events show it.
const USER_AGENT: &str = concat!("crosstrail/", env!("CARGO_PKG_VERSION"));

/// A body that sends nothing for this long has stalled: the attempt fails and is retried.
const BODY_STALL: Duration = Duration::from_secs(30);

/// Characters of a key sent as they are: RFC 3986 unreserved, and `/` between segments.
const KEY_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Characters of a query parameter sent as they are: RFC 3986 unreserved, as SigV4's canonical
/// query string has them.
const QUERY_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Largest listing page read (1,000 keys of CloudTrail take about 350 KB).
const LIST_BODY_MAX: u64 = 16 << 20;

/// The SDK's credential chain, cached until shortly before expiry (the chain itself may ask
/// SSO, STS or instance metadata each time it is called).
#[derive(Debug)]
pub(crate) struct CachedCredentials {
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl CachedCredentials {
    pub(crate) fn new(provider: SharedCredentialsProvider) -> Self {
        CachedCredentials {
            provider,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// Credentials valid for a while yet.
    pub(crate) async fn get(
        &self,
    ) -> Result<Credentials, aws_credential_types::provider::error::CredentialsError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = &*cached {
            let fresh = c
                .expiry()
                .is_none_or(|t| t > SystemTime::now() + REFRESH_BEFORE_EXPIRY);
            if fresh {
                return Ok(c.clone());
            }
        }
        let c = self.provider.provide_credentials().await?;
        *cached = Some(c.clone());
        Ok(c)
    }

    /// Forgets the cached credentials (S3 said they expired): the next call asks the chain.
    async fn forget(&self) {
        *self.cached.lock().await = None;
    }
}

/// How GETs are signed.
struct Signer {
    credentials: CachedCredentials,
    region: String,
    name: String,
    settings: SigningSettings,
    /// The path is signed as sent (S3's single encoding): such requests are signed here, with
    /// the signing key derived once a day; others by `aws-sigv4`.
    single_encoding: bool,
    key: std::sync::Mutex<Option<SigningKey>>,
}

/// GETs of one bucket's objects.
pub(crate) struct Getter {
    transport: Transport,
    /// The bucket's endpoint, without a trailing `/`.
    base: String,
    /// The Host header of `base`, as it is signed.
    host: String,
    /// The path of `base` (`/bucket` for path-style addressing, else empty).
    path: String,
    /// Headers the endpoint rules ask for: lower-case names, values valid in a header.
    headers: Vec<(String, String)>,
    /// `None`: unsigned requests (`--no-sign-request`).
    signer: Option<Signer>,
}

/// How requests reach the endpoint.
enum Transport {
    Direct(http1::Client),
    /// The SDK's connector (hyper), which knows proxies.
    Sdk(aws_smithy_http_client::Connector),
}

/// Whether the environment names a proxy for HTTP(S) (as curl and the SDK's client read it).
fn proxy_in_environment() -> bool {
    [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
}

/// The Host header of `uri`, as it is signed: without the scheme's default port.
fn host_header(uri: &http::Uri) -> Option<&str> {
    match (uri.scheme_str(), uri.port_u16()) {
        (Some("http"), Some(80)) | (Some("https"), Some(443)) | (_, None) => uri.host(),
        _ => uri.authority().map(|a| a.as_str()),
    }
}

/// The Host header (as signed) and the path (without a trailing `/`) of the endpoint `base`.
fn host_and_path(base: &str) -> Option<(String, String)> {
    let uri = http::Uri::try_from(base).ok()?;
    let host = host_header(&uri)?.to_string();
    Some((host, uri.path().trim_end_matches('/').to_string()))
}

/// The direct client for the endpoint `base`, when its scheme is HTTP or HTTPS.
fn direct_client(base: &str, timeouts: (Duration, Duration)) -> Option<http1::Client> {
    let uri = http::Uri::try_from(base).ok()?;
    let https = match uri.scheme_str()? {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    http1::Client::new(https, host, port, timeouts).ok()
}

/// The URL of a ListObjectsV2 request of the bucket at `base`, its query in canonical form
/// (see [`list_query`]), so that it is signed as sent.
fn list_url(base: &str, query: PageQuery<'_>) -> String {
    // A bucket in the host name lists `/`; a path-style one lists `/bucket`.
    let path_style = http::Uri::try_from(base).is_ok_and(|u| !matches!(u.path(), "" | "/"));
    let mut url = base.to_string();
    url.push_str(if path_style { "?" } else { "/?" });
    url.push_str(&list_query(query));
    url
}

/// The query of a ListObjectsV2 request in canonical form: names in order, values encoded as
/// SigV4 signs them.
fn list_query(query: PageQuery<'_>) -> String {
    let mut params = Vec::with_capacity(5);
    if let Some(token) = query.token {
        params.push(("continuation-token", token));
    }
    if query.delimiter {
        params.push(("delimiter", "/"));
    }
    params.push(("list-type", "2"));
    params.push(("prefix", query.prefix));
    if let Some(start_after) = query.start_after {
        params.push(("start-after", start_after));
    }
    let mut out = String::with_capacity(64 + query.prefix.len() * 3);
    for (i, (name, value)) in params.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.extend(utf8_percent_encode(value, QUERY_SAFE));
    }
    out
}

/// The HTTP/1.1 head of `request` (a GET without a body).
fn request_head(request: &http::Request<SdkBody>) -> Result<Vec<u8>, Attempt> {
    let uri = request.uri();
    let mut head = Vec::with_capacity(768);
    head.extend_from_slice(b"GET ");
    head.extend_from_slice(uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    if !request.headers().contains_key(http::header::HOST) {
        let host =
            host_header(uri).ok_or_else(|| Attempt::Permanent(format!("no host in {uri}")))?;
        head.extend_from_slice(b"host: ");
        head.extend_from_slice(host.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    for (name, value) in request.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    Ok(head)
}

impl std::fmt::Debug for Getter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Getter")
            .field("base", &self.base)
            .field("signed", &self.signer.is_some())
            .finish_non_exhaustive()
    }
}

impl Getter {
    /// A getter for `bucket` as the SDK configuration `sdk` reaches it, or `None` when the
    /// endpoint wants something this path does not do (then the SDK does the GETs).
    pub(crate) async fn new(
        sdk: &aws_config::SdkConfig,
        region: &str,
        bucket: &str,
        force_path_style: bool,
        unsigned: bool,
        timeouts: (Duration, Duration),
    ) -> Option<Getter> {
        let params = Params::builder()
            .bucket(bucket)
            .region(region)
            .use_fips(sdk.use_fips().unwrap_or(false))
            .use_dual_stack(sdk.use_dual_stack().unwrap_or(false))
            .set_endpoint(sdk.endpoint_url().map(str::to_string))
            .force_path_style(force_path_style)
            .build()
            .ok()?;
        let endpoint = DefaultResolver::new()
            .resolve_endpoint(&params)
            .await
            .ok()?;
        let headers = endpoint
            .headers()
            .flat_map(|(k, vs)| vs.map(move |v| (k.to_ascii_lowercase(), v.to_string())))
            .filter(|(k, v)| {
                http::HeaderName::try_from(k.as_str()).is_ok() && header_value(v).is_ok()
            })
            .collect();
        let signer = if unsigned {
            None
        } else {
            let scheme = sigv4_scheme(endpoint.properties().get("authSchemes"))?;
            Some(Signer {
                credentials: CachedCredentials::new(sdk.credentials_provider()?),
                region: scheme.region.unwrap_or_else(|| region.to_string()),
                name: scheme.name.unwrap_or_else(|| "s3".to_string()),
                settings: s3_signing_settings(scheme.disable_double_encoding),
                single_encoding: scheme.disable_double_encoding,
                key: std::sync::Mutex::new(None),
            })
        };
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(timeouts.0)
            .read_timeout(timeouts.1)
            .build();
        let base = endpoint.url().trim_end_matches('/').to_string();
        let (host, path) = host_and_path(&base)?;
        let transport = match direct_client(&base, timeouts) {
            Some(client) if !proxy_in_environment() => Transport::Direct(client),
            _ => Transport::Sdk(
                aws_smithy_http_client::Connector::builder()
                    .connector_settings(settings)
                    .proxy_config(aws_smithy_http_client::proxy::ProxyConfig::from_env())
                    .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                    .build(),
            ),
        };
        Some(Getter {
            transport,
            base,
            host,
            path,
            headers,
            signer,
        })
    }

    /// The URL of `key`.
    fn url(&self, key: &str) -> String {
        let mut url = String::with_capacity(self.base.len() + 1 + key.len() + 16);
        url.push_str(&self.base);
        url.push('/');
        url.extend(utf8_percent_encode(key, KEY_SAFE));
        url
    }

    /// The path of `key` in requests, encoded as S3 signs it (single encoding).
    fn key_path(&self, key: &str) -> String {
        let mut path = String::with_capacity(self.path.len() + key.len() + 32);
        path.push_str(&self.path);
        path.push('/');
        path.extend(utf8_percent_encode(key, KEY_SAFE));
        path
    }

    /// The path a listing of the bucket requests: `/` for a bucket in the host name,
    /// `/bucket` path-style.
    fn list_path(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            &self.path
        }
    }

    /// Takes back a body this getter fetched, once it is used (see [`http1::Client::give_back`]).
    pub(crate) fn give_back(&self, body: Bytes) {
        if let Transport::Direct(client) = &self.transport {
            client.give_back(body);
        }
    }

    /// Whether listings go this way too ([`Getter::list`]): over our own connections.
    pub(crate) fn lists(&self) -> bool {
        matches!(self.transport, Transport::Direct(_))
    }

    /// One attempt at a ListObjectsV2 page. Only where [`Getter::lists`].
    pub(crate) async fn list(&self, query: PageQuery<'_>) -> Result<Page, Attempt> {
        let Transport::Direct(client) = &self.transport else {
            return Err(Attempt::Permanent(
                "listings through a proxy go through the SDK".to_string(),
            ));
        };
        let head = if self.writes_heads() {
            self.head(self.list_path(), &list_query(query), None)
                .await?
        } else {
            let request = self.request(&list_url(&self.base, query))?;
            request_head(&self.signed(request).await?)?
        };
        let response = client.get_at_most(&head, LIST_BODY_MAX).await?;
        let body = response.body.unwrap_or_default();
        if !(200..300).contains(&response.status) {
            return Err(self
                .failure(response.status, response.bucket_region, &body)
                .await);
        }
        match parse_page(&body) {
            Ok(page) => Ok(page),
            Err(NotAPage::Error(code, message)) => Err(self
                .failure_of(code.as_deref(), response.status, None, &message)
                .await),
            Err(NotAPage::Malformed(why)) => Err(Attempt::Transient(format!(
                "the listing's response cannot be read: {why}"
            ))),
        }
    }

    /// Whether requests over the direct transport are written by [`Getter::head`]: unsigned,
    /// or signed as S3 signs (single encoding), which `sign_parts` does. Other signing
    /// settings go through `aws-sigv4` on an `http::Request`.
    fn writes_heads(&self) -> bool {
        matches!(self.transport, Transport::Direct(_))
            && self.signer.as_ref().is_none_or(|s| s.single_encoding)
    }

    /// The HTTP/1.1 head of a GET of `path` (encoded) and `query` (canonical, may be empty),
    /// signed unless requests go unsigned, written straight into one buffer: a GET is made
    /// for every small object, and an `http::Request` with its header map, URI parsing and
    /// the header values' checks cost more CPU than the signature.
    async fn head(
        &self,
        path: &str,
        query: &str,
        if_match: Option<&str>,
    ) -> Result<Vec<u8>, Attempt> {
        let credentials = match &self.signer {
            Some(signer) => Some(signer.credentials().await?),
            None => None,
        };
        self.write_head(
            path,
            query,
            if_match,
            credentials.as_ref(),
            SystemTime::now(),
        )
    }

    /// [`Getter::head`] with these credentials (`None` when unsigned), signed at `time`.
    fn write_head(
        &self,
        path: &str,
        query: &str,
        if_match: Option<&str>,
        credentials: Option<&Credentials>,
        time: SystemTime,
    ) -> Result<Vec<u8>, Attempt> {
        let if_match = if_match
            .map(|etag| {
                header_value(etag)
                    .map_err(|why| Attempt::Permanent(format!("ETag {etag:?}: {why}")))
            })
            .transpose()?;
        let signed = match (&self.signer, credentials) {
            (Some(signer), Some(credentials)) => {
                let mut headers: Vec<(&str, Cow<'_, str>)> =
                    Vec::with_capacity(self.headers.len() + 5);
                headers.push(("host", self.host.as_str().into()));
                if let Some(etag) = if_match {
                    headers.push(("if-match", trim_all(etag)));
                }
                for (name, value) in self.sent_headers() {
                    if !UNSIGNED_HEADERS.contains(&name) {
                        headers.push((name, trim_all(value)));
                    }
                }
                let mut key = signer.key.lock().unwrap_or_else(|p| p.into_inner());
                Some(sign_parts(
                    path,
                    query,
                    headers,
                    credentials,
                    time,
                    signer.scope(),
                    &mut key,
                ))
            }
            _ => None,
        };
        let token = credentials.and_then(|c| c.session_token());
        if let Some(token) = token {
            header_value(token)
                .map_err(|why| Attempt::Permanent(format!("cannot sign: session token: {why}")))?;
        }
        let mut head = Vec::with_capacity(
            path.len() + query.len() + self.host.len() + token.map_or(0, str::len) + 640,
        );
        head.extend_from_slice(b"GET ");
        head.extend_from_slice(path.as_bytes());
        if !query.is_empty() {
            head.push(b'?');
            head.extend_from_slice(query.as_bytes());
        }
        head.extend_from_slice(b" HTTP/1.1\r\n");
        let mut line = |name: &str, value: &str| {
            head.extend_from_slice(name.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        };
        line("host", &self.host);
        line("user-agent", USER_AGENT);
        for (name, value) in self.sent_headers() {
            line(name, value);
        }
        if let Some(etag) = if_match {
            line("if-match", etag);
        }
        if let Some(signed) = &signed {
            line("x-amz-date", &signed.amz_date);
            line("x-amz-content-sha256", EMPTY_SHA256);
            if let Some(token) = token {
                line("x-amz-security-token", token);
            }
            line("authorization", &signed.authorization);
        }
        head.extend_from_slice(b"\r\n");
        Ok(head)
    }

    /// The endpoint's headers a request carries: all but those the request line and the
    /// signature set.
    fn sent_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .filter(|(n, _)| !SET_HEADERS.contains(n))
    }

    /// A GET of `url` with our User-Agent and the headers the endpoint rules ask for.
    fn request(&self, url: &str) -> Result<http::Request<SdkBody>, Attempt> {
        let mut request = http::Request::builder()
            .method("GET")
            .uri(url)
            .header(http::header::USER_AGENT, USER_AGENT)
            .body(SdkBody::empty())
            .map_err(|e| Attempt::Permanent(format!("cannot build the request: {e}")))?;
        for (name, value) in &self.headers {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::try_from(name.as_str()),
                http::HeaderValue::try_from(value.as_str()),
            ) {
                request.headers_mut().append(n, v);
            }
        }
        Ok(request)
    }

    /// `request`, signed unless requests go unsigned.
    async fn signed(
        &self,
        mut request: http::Request<SdkBody>,
    ) -> Result<http::Request<SdkBody>, Attempt> {
        if let Some(signer) = &self.signer {
            signer.sign(&mut request).await?;
        }
        Ok(request)
    }

    /// One attempt at the whole object `key`, which must be `expected` bytes long and, when
    /// `if_match` is set, still have that ETag.
    pub(crate) async fn get(
        &self,
        key: &str,
        if_match: Option<&str>,
        expected: u64,
    ) -> Result<Bytes, Attempt> {
        let get_request = || {
            let mut request = self.request(&self.url(key))?;
            if let Some(etag) = if_match {
                let value = http::HeaderValue::try_from(etag)
                    .map_err(|e| Attempt::Permanent(format!("ETag {etag:?}: {e}")))?;
                request.headers_mut().insert(http::header::IF_MATCH, value);
            }
            Ok::<_, Attempt>(request)
        };
        let connector = match &self.transport {
            Transport::Direct(client) => {
                let head = if self.writes_heads() {
                    self.head(&self.key_path(key), "", if_match).await?
                } else {
                    request_head(&self.signed(get_request()?).await?)?
                };
                let response = client.get(&head, expected).await?;
                if !(200..300).contains(&response.status) {
                    let body = response.body.unwrap_or_default();
                    return Err(self
                        .failure(response.status, response.bucket_region, &body)
                        .await);
                }
                same_length(response.content_length, expected)?;
                return whole(response.body.unwrap_or_default(), expected);
            }
            Transport::Sdk(connector) => connector,
        };
        let request = self.signed(get_request()?).await?;
        let request = HttpRequest::try_from(request)
            .map_err(|e| Attempt::Permanent(format!("cannot build the request: {e}")))?;
        let response = connector.call(request).await.map_err(|e| {
            let why = error_chain(&e);
            if e.is_user() {
                Attempt::Permanent(why)
            } else {
                Attempt::Transient(why)
            }
        })?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let region = response
                .headers()
                .get("x-amz-bucket-region")
                .map(str::to_string);
            let body = collect(ByteStream::new(response.into_body()), 64 << 10)
                .await
                .unwrap_or_default();
            return Err(self.failure(status, region, &body).await);
        }
        let length = response
            .headers()
            .get("content-length")
            .and_then(|l| l.parse::<u64>().ok());
        read_object(length, expected, ByteStream::new(response.into_body())).await
    }

    /// The failure an error response means; expired credentials are forgotten, so that the
    /// next attempt asks the chain again.
    async fn failure(&self, status: u16, region: Option<String>, body: &[u8]) -> Attempt {
        let (code, message) = error_xml(body);
        self.failure_of(code.as_deref(), status, region, &message)
            .await
    }

    /// [`Getter::failure`] of an error document already read.
    async fn failure_of(
        &self,
        code: Option<&str>,
        status: u16,
        region: Option<String>,
        message: &str,
    ) -> Attempt {
        let attempt = describe_failure(code, Some(status), message, region);
        if let (Some(signer), Some("ExpiredToken" | "TokenRefreshRequired")) = (&self.signer, code)
        {
            // Temporary credentials ran out mid-run: the next attempt asks the chain
            // again (SSO, role and instance credentials are renewed there).
            signer.credentials.forget().await;
            if let Attempt::Permanent(why) = attempt {
                return Attempt::Transient(why);
            }
        }
        attempt
    }
}

/// A response that announced `length` bytes (when it did) for an object listed with
/// `expected` bytes: another length means the object changed since the listing (read again on
/// the next run).
fn same_length(length: Option<u64>, expected: u64) -> Result<(), Attempt> {
    match length {
        Some(length) if length != expected => Err(Attempt::Permanent(format!(
            "changed since it was listed ({length} bytes, listed {expected}); it is read \
             again on the next run"
        ))),
        _ => Ok(()),
    }
}

/// The object's `body`, when it has the listed `expected` bytes; a shorter one is worth
/// another attempt.
fn whole(body: Bytes, expected: u64) -> Result<Bytes, Attempt> {
    if body.len() as u64 != expected {
        return Err(Attempt::Transient(format!(
            "body ended after {} of {expected} bytes",
            body.len()
        )));
    }
    Ok(body)
}

/// The whole body of a GET whose response announced `length` bytes (when it did) for an object
/// listed with `expected` bytes: another length means the object changed since the listing
/// (read again on the next run); a body that breaks, stalls, or ends short or long is worth
/// another attempt.
pub(crate) async fn read_object(
    length: Option<u64>,
    expected: u64,
    body: ByteStream,
) -> Result<Bytes, Attempt> {
    same_length(length, expected)?;
    whole(
        collect(body, expected).await.map_err(Attempt::Transient)?,
        expected,
    )
}

impl Signer {
    async fn credentials(&self) -> Result<Credentials, Attempt> {
        self.credentials.get().await.map_err(|e| {
            Attempt::Transient(format!("no usable AWS credentials: {}", error_chain(&e)))
        })
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            region: &self.region,
            service: &self.name,
        }
    }

    async fn sign(&self, request: &mut http::Request<SdkBody>) -> Result<(), Attempt> {
        let credentials = self.credentials().await?;
        if self.single_encoding {
            let mut key = self.key.lock().unwrap_or_else(|p| p.into_inner());
            let scope = self.scope();
            return sign_get(request, &credentials, SystemTime::now(), scope, &mut key);
        }
        let expiry = credentials.expiry();
        let identity = Identity::new(credentials, expiry);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.name)
            .time(SystemTime::now())
            .settings(self.settings.clone())
            .build()
            .map_err(|e| Attempt::Permanent(format!("cannot sign: {e}")))?
            .into();
        let uri = request.uri().to_string();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
            .collect();
        let signable =
            SignableRequest::new("GET", &uri, headers.into_iter(), SignableBody::empty())
                .map_err(|e| Attempt::Permanent(format!("cannot sign: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Attempt::Permanent(format!("cannot sign: {e}")))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// The SigV4 signing key of one day, region, service and secret.
struct SigningKey {
    date: String,
    secret: String,
    key: [u8; 32],
}

/// Where a signature is valid.
#[derive(Clone, Copy)]
struct Scope<'a> {
    region: &'a str,
    service: &'a str,
}

/// SHA-256 of an empty payload, hex.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Headers set from the endpoint (`host`) and by a signature, replacing any the request or
/// the endpoint rules have.
const SET_HEADERS: &[&str] = &[
    "host",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "authorization",
];

/// Headers `aws-sigv4` leaves out of a signature by default.
const UNSIGNED_HEADERS: &[&str] = &[
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "transfer-encoding",
];

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// `YYYYMMDDTHHMMSSZ` (UTC), as SigV4 writes times, without a format string to parse.
fn amz_date(time: SystemTime) -> String {
    use chrono::{Datelike, Timelike};
    fn digits(out: &mut String, n: u32, width: u32) {
        for i in (0..width).rev() {
            out.push(char::from(b'0' + (n / 10u32.pow(i) % 10) as u8));
        }
    }
    let now = chrono::DateTime::<chrono::Utc>::from(time);
    let mut out = String::with_capacity(16);
    digits(&mut out, u32::try_from(now.year()).unwrap_or(0), 4);
    digits(&mut out, now.month(), 2);
    digits(&mut out, now.day(), 2);
    out.push('T');
    digits(&mut out, now.hour(), 2);
    digits(&mut out, now.minute(), 2);
    digits(&mut out, now.second(), 2);
    out.push('Z');
    out
}

/// Header values as SigV4 canonicalizes them: spaces trimmed, runs of spaces made one.
fn trim_all(value: &str) -> Cow<'_, str> {
    if !value.starts_with(' ') && !value.ends_with(' ') && !value.contains("  ") {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    for word in value.split(' ').filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    Cow::Owned(out)
}

/// `value` if it can be sent as a header value as it is (no control characters), else why
/// not; the same rule as `http::HeaderValue`.
fn header_value(value: &str) -> Result<&str, String> {
    match value
        .bytes()
        .find(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        None => Ok(value),
        Some(b) => Err(format!("control character {b:#04x} in a header value")),
    }
}

/// Signs the GET `request` as [`sign_parts`] does, setting the headers the signature adds.
fn sign_get(
    request: &mut http::Request<SdkBody>,
    credentials: &Credentials,
    time: SystemTime,
    scope: Scope<'_>,
    cache: &mut Option<SigningKey>,
) -> Result<(), Attempt> {
    let uri = request.uri();
    let host = host_header(uri)
        .ok_or_else(|| Attempt::Permanent(format!("cannot sign {uri}: no host")))?;
    let path = uri.path();
    // Sent in canonical form already (see `list_url`).
    let query = uri.query().unwrap_or("");
    let mut headers: Vec<(&str, Cow<'_, str>)> = request
        .headers()
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !UNSIGNED_HEADERS.contains(&name) && !SET_HEADERS.contains(&name)
        })
        .map(|(name, value)| {
            let value = value
                .to_str()
                .map_err(|e| Attempt::Permanent(format!("cannot sign header {name}: {e}")))?;
            Ok((name.as_str(), trim_all(value)))
        })
        .collect::<Result<_, Attempt>>()?;
    headers.push(("host", host.into()));
    let signed = sign_parts(path, query, headers, credentials, time, scope, cache);
    let value = |v: &str| {
        http::HeaderValue::try_from(v)
            .map_err(|e| Attempt::Permanent(format!("cannot sign: header value: {e}")))
    };
    let amz_date = value(&signed.amz_date)?;
    let mut authorization = value(&signed.authorization)?;
    let headers = request.headers_mut();
    headers.insert("x-amz-date", amz_date);
    headers.insert(
        "x-amz-content-sha256",
        http::HeaderValue::from_static(EMPTY_SHA256),
    );
    if let Some(token) = credentials.session_token() {
        let mut token = value(token)?;
        token.set_sensitive(true);
        headers.insert("x-amz-security-token", token);
    }
    authorization.set_sensitive(true);
    headers.insert(http::header::AUTHORIZATION, authorization);
    Ok(())
}

/// The values of the headers a signature adds.
struct Signed {
    amz_date: String,
    authorization: String,
}

/// Signs a GET without a body the way `aws-sigv4` does with S3's settings (headers, single
/// encoding, no path normalization, `x-amz-content-sha256`), for a fraction of its CPU: the
/// canonical request is written directly and the signing key is derived once a day.
/// `path` and `query` are as sent (encoded, the query in canonical order); `headers` are the
/// signed ones besides those the signature adds (`host` among them): lower-case names, values
/// canonical ([`trim_all`]). `tests::signatures_match_aws_sigv4` holds this to `aws-sigv4`.
fn sign_parts<'a>(
    path: &str,
    query: &str,
    mut headers: Vec<(&'a str, Cow<'a, str>)>,
    credentials: &'a Credentials,
    time: SystemTime,
    scope: Scope<'_>,
    cache: &mut Option<SigningKey>,
) -> Signed {
    use sha2::Digest;
    let amz_date = amz_date(time);
    let date = &amz_date[..8];
    let path = if path.is_empty() { "/" } else { path };
    // Canonical headers: lower-case names in order, the values of one name joined by commas.
    headers.push(("x-amz-date", Cow::Owned(amz_date.clone())));
    headers.push(("x-amz-content-sha256", Cow::Borrowed(EMPTY_SHA256)));
    if let Some(token) = credentials.session_token() {
        headers.push(("x-amz-security-token", trim_all(token)));
    }
    headers.sort_by(|a, b| a.0.cmp(b.0));
    // Built by pushes into buffers sized once: a GET is signed for every small object.
    let values: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
    let mut canonical = String::with_capacity(path.len() + query.len() + 2 * values + 96);
    canonical.push_str("GET\n");
    canonical.push_str(path);
    canonical.push('\n');
    canonical.push_str(query);
    canonical.push('\n');
    let mut signed = String::with_capacity(values);
    let mut previous: Option<&str> = None;
    for (name, value) in &headers {
        if previous == Some(name) {
            canonical.push(',');
        } else {
            if previous.is_some() {
                canonical.push('\n');
                signed.push(';');
            }
            canonical.push_str(name);
            canonical.push(':');
            signed.push_str(name);
        }
        canonical.push_str(value);
        previous = Some(name);
    }
    canonical.push_str("\n\n");
    canonical.push_str(&signed);
    canonical.push('\n');
    canonical.push_str(EMPTY_SHA256);
    let credential_scope = [date, "/", scope.region, "/", scope.service, "/aws4_request"].concat();
    let string_to_sign = [
        "AWS4-HMAC-SHA256\n",
        &amz_date,
        "\n",
        &credential_scope,
        "\n",
        &hex(&sha2::Sha256::digest(canonical.as_bytes())),
    ]
    .concat();
    let secret = credentials.secret_access_key();
    let key = match cache {
        Some(k) if k.date == date && k.secret == secret => k.key,
        _ => {
            let k = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
            let k = hmac_sha256(&k, scope.region.as_bytes());
            let k = hmac_sha256(&k, scope.service.as_bytes());
            let k = hmac_sha256(&k, b"aws4_request");
            *cache = Some(SigningKey {
                date: date.to_string(),
                secret: secret.to_string(),
                key: k,
            });
            k
        }
    };
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
    let authorization = [
        "AWS4-HMAC-SHA256 Credential=",
        credentials.access_key_id(),
        "/",
        &credential_scope,
        ", SignedHeaders=",
        &signed,
        ", Signature=",
        &signature,
    ]
    .concat();
    Signed {
        amz_date,
        authorization,
    }
}

/// S3's SigV4 settings, as the SDK signs S3 requests.
fn s3_signing_settings(disable_double_encoding: bool) -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = if disable_double_encoding {
        PercentEncodingMode::Single
    } else {
        PercentEncodingMode::Double
    };
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings
}

/// The endpoint's SigV4 auth scheme.
#[derive(Debug, Default, PartialEq)]
struct Scheme {
    name: Option<String>,
    region: Option<String>,
    disable_double_encoding: bool,
}

/// The endpoint's first auth scheme if it is plain SigV4 (or none is named: S3's default);
/// `None` for anything else (SigV4a, S3 Express sessions), which the SDK handles.
fn sigv4_scheme(schemes: Option<&Document>) -> Option<Scheme> {
    let Some(schemes) = schemes else {
        return Some(Scheme {
            disable_double_encoding: true,
            ..Scheme::default()
        });
    };
    let Document::Array(list) = schemes else {
        return None;
    };
    let Some(Document::Object(first)) = list.first() else {
        return None;
    };
    let text = |k: &str| match first.get(k) {
        Some(Document::String(s)) => Some(s.clone()),
        _ => None,
    };
    if text("name").as_deref() != Some("sigv4") {
        return None;
    }
    Some(Scheme {
        name: text("signingName"),
        region: text("signingRegion"),
        disable_double_encoding: matches!(
            first.get("disableDoubleEncoding"),
            Some(Document::Bool(true))
        ),
    })
}

/// Reads a body whole, up to `limit` bytes; an error says how far it got.
async fn collect(mut body: ByteStream, limit: u64) -> Result<Bytes, String> {
    let mut buf = BytesMut::with_capacity(usize::try_from(limit.min(64 << 20)).unwrap_or(0));
    loop {
        let next = tokio::time::timeout(BODY_STALL, body.try_next())
            .await
            .map_err(|_| {
                format!(
                    "body stalled after {} of {limit} bytes (nothing for {}s)",
                    buf.len(),
                    BODY_STALL.as_secs()
                )
            })?;
        match next {
            Ok(Some(chunk)) => {
                if (buf.len() + chunk.len()) as u64 > limit {
                    return Err(format!("body longer than its {limit} bytes"));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => {
                return Err(format!(
                    "body broke after {} of {limit} bytes: {}",
                    buf.len(),
                    error_chain(&e)
                ));
            }
        }
    }
}

/// `Code` and `Message` of an S3 error document (empty when the body is not one).
fn error_xml(body: &[u8]) -> (Option<String>, String) {
    let text = String::from_utf8_lossy(body);
    let element = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        let raw = &text[start..end];
        let mut value = String::with_capacity(raw.len());
        // A reference that is not XML's is kept as sent.
        Some(match unescape_into(raw, &mut value) {
            Ok(()) => value,
            Err(_) => raw.to_string(),
        })
    };
    (element("Code"), element("Message").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn keys_are_encoded_as_s3_signs_them() {
        let enc = |k: &str| utf8_percent_encode(k, KEY_SAFE).to_string();
        assert_eq!(
            enc("AWSLogs/o-ab12/1111/CloudTrail/us-east-1/2024/03/01/x_20240301T0000Z_a.json.gz"),
            "AWSLogs/o-ab12/1111/CloudTrail/us-east-1/2024/03/01/x_20240301T0000Z_a.json.gz"
        );
        assert_eq!(enc("a b+c=d:é~"), "a%20b%2Bc%3Dd%3A%C3%A9~");
    }

    /// A GET signed by `aws-sigv4` with S3's settings, as the SDK signs it.
    fn reference(
        mut request: http::Request<SdkBody>,
        credentials: &Credentials,
        time: SystemTime,
    ) -> http::Request<SdkBody> {
        let identity = Identity::new(credentials.clone(), credentials.expiry());
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("s3")
            .time(time)
            .settings(s3_signing_settings(true))
            .build()
            .unwrap()
            .into();
        let uri = request.uri().to_string();
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        let signable =
            SignableRequest::new("GET", &uri, headers.into_iter(), SignableBody::empty()).unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut request);
        request
    }

    /// A getter of the endpoint `base` over the direct transport, as [`Getter::new`] makes
    /// it, signing for eu-west-1 when `signed`.
    fn test_getter(base: &str, headers: &[(&str, &str)], signed: bool) -> Getter {
        let (host, path) = host_and_path(base).unwrap();
        let timeouts = (Duration::from_secs(1), Duration::from_secs(1));
        let provider = SharedCredentialsProvider::new(Credentials::for_tests());
        Getter {
            // Never connected: only its kind matters here.
            transport: Transport::Direct(
                http1::Client::new(false, "127.0.0.1", 9, timeouts).unwrap(),
            ),
            base: base.to_string(),
            host,
            path,
            headers: headers
                .iter()
                .map(|&(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            signer: signed.then(|| Signer {
                credentials: CachedCredentials::new(provider),
                region: "eu-west-1".to_string(),
                name: "s3".to_string(),
                settings: s3_signing_settings(true),
                single_encoding: true,
                key: std::sync::Mutex::new(None),
            }),
        }
    }

    /// The request line and the header lines (sorted) of a request head.
    fn head_lines(head: &[u8]) -> (String, Vec<String>) {
        let text = std::str::from_utf8(head).unwrap();
        let text = text
            .strip_suffix("\r\n\r\n")
            .expect("a head ends with an empty line");
        let mut lines = text.split("\r\n").map(str::to_string);
        let first = lines.next().unwrap();
        let mut headers: Vec<_> = lines.collect();
        headers.sort();
        (first, headers)
    }

    #[test]
    fn signatures_match_aws_sigv4() {
        let request = |url: &str, if_match: Option<&str>, extra: Option<(&str, &str)>| {
            let mut b = http::Request::builder()
                .method("GET")
                .uri(url)
                .header(http::header::USER_AGENT, USER_AGENT);
            if let Some(etag) = if_match {
                b = b.header(http::header::IF_MATCH, etag);
            }
            if let Some((k, v)) = extra {
                b = b.header(k, v);
            }
            b.body(SdkBody::empty()).unwrap()
        };
        let long_term = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "t",
        );
        let session = Credentials::new(
            "ASIAEXAMPLE",
            "secret/with+chars",
            Some("FwoGZXIvYXdzE//token=".to_string()),
            None,
            "t",
        );
        let key = |k: &str| utf8_percent_encode(k, KEY_SAFE).to_string();
        // (endpoint, key or listing)
        let cases = [
            (
                "https://trail.s3.eu-west-1.amazonaws.com",
                Ok("AWSLogs/1/CloudTrail/eu-west-1/2024/03/01/a_20240301T0000Z_x.json.gz"),
            ),
            ("http://127.0.0.1:9000/b", Ok("odd key/a b+c=d:é~%.json.gz")),
            ("https://s3.eu-west-1.amazonaws.com:443/my.trail", Ok("k")),
            (
                "https://trail.s3.eu-west-1.amazonaws.com",
                Err(PageQuery {
                    prefix: "AWSLogs/o-abc/",
                    delimiter: true,
                    start_after: None,
                    token: None,
                }),
            ),
            (
                "http://127.0.0.1:9000/b",
                Err(PageQuery {
                    prefix: "odd key/a b+c=d:é~%/",
                    delimiter: false,
                    start_after: Some("odd key/a b+c=d:é~%/2024/03/01"),
                    token: Some("1ueGcx+LPRx/1Tr=="),
                }),
            ),
        ];
        let mut cache = None;
        let day = Duration::from_secs(86_400);
        for (i, &(base, what)) in cases.iter().enumerate() {
            let url = &match what {
                Ok(k) => format!("{base}/{}", key(k)),
                Err(query) => list_url(base, query),
            };
            for credentials in [&long_term, &session] {
                for if_match in [None, Some("\"9b2cf535f27731c974343645a3985328\"")] {
                    for extra in [
                        None,
                        Some(("x-amz-expected-bucket-owner", "  111122223333  ")),
                    ] {
                        // Across a day boundary too: the cached key must follow the date.
                        let time = SystemTime::UNIX_EPOCH
                            + Duration::from_secs(1_709_251_199)
                            + day * u32::try_from(i).unwrap();
                        for time in [time, time + Duration::from_secs(1)] {
                            let ours = {
                                let mut r = request(url, if_match, extra);
                                let scope = Scope {
                                    region: "eu-west-1",
                                    service: "s3",
                                };
                                assert!(
                                    sign_get(&mut r, credentials, time, scope, &mut cache).is_ok()
                                );
                                r
                            };
                            let theirs =
                                reference(request(url, if_match, extra), credentials, time);
                            for h in [
                                "authorization",
                                "x-amz-date",
                                "x-amz-content-sha256",
                                "x-amz-security-token",
                            ] {
                                assert_eq!(
                                    ours.headers().get(h),
                                    theirs.headers().get(h),
                                    "{h} of {url} at {time:?}"
                                );
                            }
                            assert_eq!(ours.headers().len(), theirs.headers().len(), "{url}");
                            // The head written directly is the one of the request signed by
                            // aws-sigv4, and so is an unsigned one.
                            let extra: Vec<_> = extra.into_iter().collect();
                            for signed in [true, false] {
                                let getter = test_getter(base, &extra, signed);
                                let (path, query) = match what {
                                    Ok(k) => (getter.key_path(k), String::new()),
                                    Err(q) => (getter.list_path().to_string(), list_query(q)),
                                };
                                let ours = getter
                                    .write_head(
                                        &path,
                                        &query,
                                        if_match,
                                        signed.then_some(credentials),
                                        time,
                                    )
                                    .unwrap();
                                let theirs = if signed {
                                    reference(
                                        request(url, if_match, extra.first().copied()),
                                        credentials,
                                        time,
                                    )
                                } else {
                                    request(url, if_match, extra.first().copied())
                                };
                                assert_eq!(
                                    head_lines(&ours),
                                    head_lines(&request_head(&theirs).unwrap()),
                                    "{url} signed: {signed}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn header_values_with_control_characters_are_not_sent() {
        let getter = test_getter("http://127.0.0.1:9000/b", &[], true);
        let etag = "\"9b2c\"\r\nx-amz-evil: 1";
        let credentials = Credentials::for_tests();
        let written = getter.write_head(
            "/b/k",
            "",
            Some(etag),
            Some(&credentials),
            SystemTime::now(),
        );
        assert!(
            matches!(&written, Err(Attempt::Permanent(why)) if why.contains("control character 0x0d")),
            "{written:?}"
        );
        assert_eq!(header_value("a\tb \"c\""), Ok("a\tb \"c\""));
        assert!(header_value("a\u{7f}").is_err());
    }

    #[test]
    fn times_are_written_as_sigv4_writes_them() {
        for secs in [
            0,
            1_709_251_199,
            1_709_251_200,
            1_735_689_599,
            4_102_444_800,
        ] {
            let time = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            let expected = chrono::DateTime::<chrono::Utc>::from(time)
                .format("%Y%m%dT%H%M%SZ")
                .to_string();
            assert_eq!(amz_date(time), expected);
        }
    }

    #[test]
    fn error_documents_give_code_and_message() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>\
                     <Message>Access &amp; more denied</Message></Error>";
        assert_eq!(
            error_xml(body),
            (
                Some("AccessDenied".to_string()),
                "Access & more denied".to_string()
            )
        );
        assert_eq!(error_xml(b""), (None, String::new()));
    }

    #[test]
    fn only_plain_sigv4_endpoints_are_taken() {
        let scheme = |name: &str| {
            let mut m = HashMap::new();
            m.insert("name".to_string(), Document::String(name.to_string()));
            m.insert("signingName".to_string(), Document::String("s3".into()));
            m.insert(
                "signingRegion".to_string(),
                Document::String("eu-west-1".into()),
            );
            m.insert("disableDoubleEncoding".to_string(), Document::Bool(true));
            Document::Array(vec![Document::Object(m)])
        };
        assert_eq!(
            sigv4_scheme(Some(&scheme("sigv4"))),
            Some(Scheme {
                name: Some("s3".into()),
                region: Some("eu-west-1".into()),
                disable_double_encoding: true
            })
        );
        assert_eq!(sigv4_scheme(Some(&scheme("sigv4a"))), None);
        assert_eq!(sigv4_scheme(Some(&scheme("sigv4-s3express"))), None);
        assert!(sigv4_scheme(None).is_some());
    }

    #[tokio::test]
    async fn the_sdk_rules_give_the_bucket_endpoint() {
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .build();
        let t = (Duration::from_secs(1), Duration::from_secs(1));
        let g = Getter::new(&sdk, "eu-west-1", "my-trail", false, true, t)
            .await
            .expect("getter");
        assert_eq!(
            g.url("AWSLogs/1/x.json.gz"),
            "https://my-trail.s3.eu-west-1.amazonaws.com/AWSLogs/1/x.json.gz"
        );
        // A dotted bucket name cannot be a TLS host name: path-style.
        let g = Getter::new(&sdk, "eu-west-1", "my.trail", false, true, t)
            .await
            .expect("getter");
        assert_eq!(g.url("k"), "https://s3.eu-west-1.amazonaws.com/my.trail/k");
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9000")
            .build();
        let g = Getter::new(&sdk, "us-east-1", "b", true, true, t)
            .await
            .expect("getter");
        assert_eq!(g.url("a/b"), "http://127.0.0.1:9000/b/a/b");
    }
}
