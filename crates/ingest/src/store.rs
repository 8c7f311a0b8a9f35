//! A lake in S3: an `object_store` client for `s3://bucket/prefix`, reached with the same
//! settings as [`S3Source`] (the standard credential chain, `--profile`, `--region`,
//! `--endpoint-url`, `--no-sign-request`), for writing the lake
//! ([`crosstrail_lake::Lake::open_store`]) and querying it (DataFusion reads through the same
//! `ObjectStore`).

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::client::CredentialProvider;

use crate::s3::{S3Options, S3Source};
use crate::s3_get::CachedCredentials;
use crate::source::SourceError;

/// An object store holding a lake.
#[derive(Debug, Clone)]
pub struct StoreLake {
    /// `s3://bucket[/prefix]` as given.
    pub url: String,
    /// The bucket's store; paths in it are keys.
    pub store: Arc<dyn ObjectStore>,
    /// `s3://bucket/`: the URL DataFusion registers the store under.
    pub store_url: String,
    /// The lake's prefix inside the bucket: empty, or ending with `/`.
    pub prefix: String,
}

/// Connects to the bucket of `url` (`s3://bucket[/prefix]`). Credentials and region are
/// resolved and checked here, so a missing or expired credential is one error up front.
pub async fn s3_lake(url: &str, options: &S3Options) -> Result<StoreLake, SourceError> {
    let source = S3Source::new(url, options.clone())?;
    let (sdk, region) = source.sdk_config().await?;
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(source.bucket())
        .with_region(region);
    if let Some(endpoint) = &options.endpoint_url {
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    if options.no_sign_request {
        builder = builder.with_skip_signature(true);
    } else if let Some(provider) = sdk.credentials_provider() {
        builder =
            builder.with_credentials(Arc::new(SdkCredentials(CachedCredentials::new(provider))));
    }
    let store = builder.build().map_err(|e| SourceError::S3 {
        url: url.to_string(),
        reason: format!("cannot set up the S3 client: {e}"),
    })?;
    Ok(StoreLake {
        url: url.trim_end_matches('/').to_string(),
        store: Arc::new(store),
        store_url: format!("s3://{}/", source.bucket()),
        prefix: source.prefix().to_string(),
    })
}

/// The SDK's credential chain as an `object_store` credential provider.
#[derive(Debug)]
struct SdkCredentials(CachedCredentials);

#[async_trait::async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let c = self
            .0
            .get()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(Arc::new(AwsCredential {
            key_id: c.access_key_id().to_string(),
            secret_key: c.secret_access_key().to_string(),
            token: c.session_token().map(str::to_string),
        }))
    }
}
