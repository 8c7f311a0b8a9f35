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
//! - requests are signed by `aws-sigv4` with S3's settings (single URI encoding, no path
//!   normalization, `x-amz-content-sha256`), with credentials from the SDK's chain, cached
//!   until shortly before they expire;
//! - they go through the SDK's own HTTP connector (hyper, rustls with the system's roots,
//!   connection pool, connect and read timeouts).
//!
//! An endpoint that asks for another signing scheme than plain SigV4 is left to the SDK.

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

use crate::pipeline::error_chain;
use crate::s3::{Attempt, describe_failure};

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
}

/// GETs of one bucket's objects.
pub(crate) struct Getter {
    connector: aws_smithy_http_client::Connector,
    /// The bucket's endpoint, without a trailing `/`.
    base: String,
    /// Headers the endpoint rules ask for.
    headers: Vec<(String, String)>,
    /// `None`: unsigned requests (`--no-sign-request`).
    signer: Option<Signer>,
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
            .flat_map(|(k, vs)| vs.map(move |v| (k.to_string(), v.to_string())))
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
            })
        };
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(timeouts.0)
            .read_timeout(timeouts.1)
            .build();
        let connector = aws_smithy_http_client::Connector::builder()
            .connector_settings(settings)
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .build();
        Some(Getter {
            connector,
            base: endpoint.url().trim_end_matches('/').to_string(),
            headers,
            signer,
        })
    }

    /// The URL of `key`.
    fn url(&self, key: &str) -> String {
        format!("{}/{}", self.base, utf8_percent_encode(key, KEY_SAFE))
    }

    /// One attempt at the whole object `key`, which must be `expected` bytes long and, when
    /// `if_match` is set, still have that ETag.
    pub(crate) async fn get(
        &self,
        key: &str,
        if_match: Option<&str>,
        expected: u64,
    ) -> Result<Bytes, Attempt> {
        let mut request = http::Request::builder()
            .method("GET")
            .uri(self.url(key))
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
        if let Some(etag) = if_match {
            let value = http::HeaderValue::try_from(etag)
                .map_err(|e| Attempt::Permanent(format!("ETag {etag:?}: {e}")))?;
            request.headers_mut().insert(http::header::IF_MATCH, value);
        }
        if let Some(signer) = &self.signer {
            signer.sign(&mut request).await?;
        }
        let request = HttpRequest::try_from(request)
            .map_err(|e| Attempt::Permanent(format!("cannot build the request: {e}")))?;
        let response = self.connector.call(request).await.map_err(|e| {
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
            let (code, message) = error_xml(&body);
            let attempt = describe_failure(code.as_deref(), Some(status), &message, region);
            if let (Some(signer), Some("ExpiredToken" | "TokenRefreshRequired")) =
                (&self.signer, code.as_deref())
            {
                // Temporary credentials ran out mid-run: the next attempt asks the chain
                // again (SSO, role and instance credentials are renewed there).
                signer.credentials.forget().await;
                if let Attempt::Permanent(why) = attempt {
                    return Err(Attempt::Transient(why));
                }
            }
            return Err(attempt);
        }
        let length = response
            .headers()
            .get("content-length")
            .and_then(|l| l.parse::<u64>().ok());
        read_object(length, expected, ByteStream::new(response.into_body())).await
    }
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
    let length = length.unwrap_or(expected);
    if length != expected {
        return Err(Attempt::Permanent(format!(
            "changed since it was listed ({length} bytes, listed {expected}); it is read \
             again on the next run"
        )));
    }
    let buf = collect(body, expected).await.map_err(Attempt::Transient)?;
    if buf.len() as u64 != expected {
        return Err(Attempt::Transient(format!(
            "body ended after {} of {expected} bytes",
            buf.len()
        )));
    }
    Ok(buf)
}

impl Signer {
    async fn sign(&self, request: &mut http::Request<SdkBody>) -> Result<(), Attempt> {
        let credentials = self.credentials.get().await.map_err(|e| {
            Attempt::Transient(format!("no usable AWS credentials: {}", error_chain(&e)))
        })?;
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
        Some(unescape(&text[start..end]))
    };
    (element("Code"), element("Message").unwrap_or_default())
}

/// XML's predefined entities.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
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
