//! `[s3]`

use std::path::PathBuf;

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// `[s3]`: where objects go. Credentials: `access_key_id` + `secret_access_key_file` when set,
/// otherwise the AWS SDK's default chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, profile,
/// instance role).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint URL of an S3-compatible server (s3s-fs, Garage, MinIO, Ceph RGW); unset for AWS.
    /// Default `http://127.0.0.1:9000`. Env override: `S3_ENDPOINT`.
    pub endpoint: Option<String>,
    /// PEM file of the CA that signed the endpoint's certificate (a private PKI, or the TLS
    /// terminator in front of Garage), trusted in addition to the system's roots. Default: none.
    pub ca_file: Option<PathBuf>,
    /// Region name. Default `us-east-1` (Garage: `garage`).
    pub region: String,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most self-hosted servers.
    /// Default true.
    pub force_path_style: bool,
    /// Bucket for landing uploads and staging between stages. Default `evidence-work`.
    pub working_bucket: String,
    /// Bucket for sealed evidence, written only by the sealer. Default `evidence`.
    pub evidence_bucket: String,
    /// Static access key id. Default: none (SDK default chain).
    pub access_key_id: Option<String>,
    /// File holding the secret key for `access_key_id`. Default: none.
    pub secret_access_key_file: Option<PathBuf>,
    /// Multipart part size in bytes (also the memory bound per transfer). Default 16 MiB;
    /// at least 5 MiB (S3's minimum).
    pub part_size: u64,
    /// Create missing buckets at start-up (development). Default true.
    pub create_buckets: bool,
    /// Set in code only (tests, embedded default): static credentials.
    #[serde(skip)]
    pub static_credentials: Option<(String, String)>,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: Some("http://127.0.0.1:9000".into()),
            ca_file: None,
            region: "us-east-1".into(),
            force_path_style: true,
            working_bucket: "evidence-work".into(),
            evidence_bucket: "evidence".into(),
            access_key_id: None,
            secret_access_key_file: None,
            part_size: 16 * 1024 * 1024,
            create_buckets: true,
            static_credentials: None,
        }
    }
}

impl S3Config {
    /// # Errors
    /// Names the offending `[s3]` key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.part_size < 5 * 1024 * 1024 || self.part_size > 5 * 1024 * 1024 * 1024 {
            bail!("s3.part_size must be between 5 MiB and 5 GiB (S3 multipart limits), got {}", self.part_size);
        }
        if self.working_bucket.is_empty() || self.evidence_bucket.is_empty() {
            bail!("s3.working_bucket and s3.evidence_bucket must be set");
        }
        if self.working_bucket == self.evidence_bucket {
            bail!(
                "s3.working_bucket and s3.evidence_bucket must differ: evidence is write-once, the working bucket is not"
            );
        }
        if self.access_key_id.is_some() != self.secret_access_key_file.is_some() {
            bail!("s3.access_key_id and s3.secret_access_key_file must be set together");
        }
        if let Some(e) = &self.endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            bail!("s3.endpoint must be an http:// or https:// URL, got {e:?}");
        }
        Ok(())
    }
}
