//! The S3 client: building it from `[s3]`, the bucket check at start-up, and mapping every SDK
//! error to a [`StoreError`] (typed status, error code, who was asked with which key).

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::config::S3Config;
use crate::error::StoreError;

/// Metadata keys written on every object the pipeline stores, so a redelivered job can tell
/// from a HEAD whether an existing object is the one it would write.
pub const META_BLAKE3: &str = "blake3";
pub const META_SHA256: &str = "sha256";

/// What HEAD says about an object.
#[derive(Debug, Clone)]
pub struct Head {
    pub size: u64,
    pub metadata: HashMap<String, String>,
}

impl Head {
    pub fn blake3_hex(&self) -> Option<&str> {
        self.metadata.get(META_BLAKE3).map(String::as_str)
    }
}

/// A cheap-to-clone handle on the object store.
#[derive(Clone)]
pub struct Store {
    pub(crate) client: Client,
    pub(crate) cfg: Arc<S3Config>,
    pub(crate) endpoint: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("endpoint", &self.endpoint).finish()
    }
}

impl Store {
    /// Builds the client. Does no I/O except reading a secret file.
    ///
    /// # Errors
    /// Invalid config or unreadable secret file.
    pub async fn new(cfg: S3Config) -> anyhow::Result<Self> {
        cfg.validate()?;
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).region(Region::new(cfg.region.clone()));
        if let Some((id, secret)) = &cfg.static_credentials {
            loader = loader.credentials_provider(Credentials::from_keys(id, secret, None));
        } else if let (Some(id), Some(file)) = (&cfg.access_key_id, &cfg.secret_access_key_file) {
            // Read now so a wrong path stops start-up with its name; read again by the provider
            // whenever the SDK refreshes credentials, so a rotated secret needs no restart.
            std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("read s3.secret_access_key_file {}: {e}", file.display()))?;
            loader =
                loader.credentials_provider(crate::credentials::SecretFile { key_id: id.clone(), path: file.clone() });
        }
        if let Some(ca) = &cfg.ca_file {
            use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
            let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("read s3.ca_file {}: {e}", ca.display()))?;
            let tls = TlsContext::builder()
                .with_trust_store(TrustStore::default().with_pem_certificate(pem))
                .build()
                .map_err(|e| anyhow::anyhow!("s3.ca_file {}: {e}", ca.display()))?;
            let http = aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(tls)
                .build_https();
            loader = loader.http_client(http);
        }
        let shared = loader.load().await;
        let mut b = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(cfg.force_path_style)
            // Garage and others reject the SDK's default streaming-trailer checksums; we hash
            // every byte ourselves anyway.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(ep) = &cfg.endpoint {
            b = b.endpoint_url(ep);
        }
        let endpoint: Arc<str> = cfg.endpoint.clone().unwrap_or_else(|| "aws".into()).into();
        Ok(Self { client: Client::from_conf(b.build()), cfg: Arc::new(cfg), endpoint })
    }

    pub fn config(&self) -> &S3Config {
        &self.cfg
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn err<E>(&self, op: &'static str, bucket: &str, key: &str, e: SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match &e {
            SdkError::ServiceError(se) => {
                let status = Some(se.raw().status().as_u16());
                let code = se.err().code().unwrap_or("Unknown").to_owned();
                if matches!(code.as_str(), "NoSuchKey" | "NotFound") || status == Some(404) && code != "NoSuchBucket" {
                    return StoreError::NotFound { bucket: bucket.into(), key: key.into() };
                }
                StoreError::Service {
                    op,
                    bucket: bucket.into(),
                    key: key.into(),
                    message: se.err().message().unwrap_or("").into(),
                    code,
                    status,
                    asked: Box::new(self.asked()),
                }
            }
            _ => StoreError::Unreachable {
                endpoint: self.endpoint.to_string(),
                op,
                bucket: bucket.into(),
                key: key.into(),
                detail: format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&e)),
            },
        }
    }

    /// A store for `cfg` whose `bucket` is there (created when missing, if `create_buckets`):
    /// what a worker checks at start-up.
    ///
    /// # Errors
    /// Invalid config, unreadable secret, the bucket missing or refused, the server unreachable.
    pub async fn connect(cfg: &S3Config, bucket: &str) -> anyhow::Result<Self> {
        let store = Self::new(cfg.clone()).await?;
        anyhow::Context::with_context(store.ensure_bucket(bucket).await, || format!("check bucket {bucket}"))?;
        Ok(store)
    }

    /// Who a request goes to, and the access key id it is signed with.
    pub(crate) fn asked(&self) -> crate::error::Asked {
        crate::error::Asked {
            endpoint: self.endpoint.to_string(),
            key_id: self
                .cfg
                .access_key_id
                .clone()
                .or_else(|| self.cfg.static_credentials.as_ref().map(|(id, _)| id.clone())),
        }
    }

    /// Creates the bucket when missing (only if `create_buckets`).
    ///
    /// # Errors
    /// The bucket is missing and may not be created, or the server is unreachable.
    pub async fn ensure_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => return Ok(()),
            Err(SdkError::ServiceError(_)) if self.cfg.create_buckets => {}
            Err(e) => return Err(self.err("head bucket", bucket, "", e)),
        }
        match self.client.create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = e.code().unwrap_or_default().to_owned();
                if code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
                    Ok(())
                } else {
                    Err(self.err("create bucket", bucket, "", e))
                }
            }
        }
    }
}
