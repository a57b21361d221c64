//! Errors of the S3 adapter.

use std::path::PathBuf;

/// Why an object-store operation failed. [`StoreError::is_transient`] tells whether a retry can
/// help.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("s3://{bucket}/{key} does not exist")]
    NotFound { bucket: String, key: String },
    #[error(
        "object store at {endpoint} is unreachable during {op} s3://{bucket}/{key}: {detail} (check that the S3 server runs and s3.endpoint is right)"
    )]
    Unreachable { endpoint: String, op: &'static str, bucket: String, key: String, detail: String },
    #[error("object store refused {op} s3://{bucket}/{key}: {code}: {message}{}", config_hint(*.status, .code, .asked, .bucket))]
    Service {
        op: &'static str,
        bucket: String,
        key: String,
        code: String,
        message: Box<str>,
        status: Option<u16>,
        /// Who was asked, with which key.
        asked: Box<Asked>,
    },
    #[error("{op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("s3://{bucket}/{key} already exists with different content ({detail}); evidence is never overwritten")]
    Conflict { bucket: String, key: String, detail: String },
    #[error("s3://{bucket}/{key}: {what} is {actual} but {expected} was announced")]
    Mismatch { bucket: String, key: String, what: &'static str, expected: String, actual: String },
    #[error("s3://{bucket}/{key}: {detail}")]
    Retention { bucket: String, key: String, detail: String },
    #[error("s3://{bucket}/{key} is {size} bytes, more than the {limit} allowed for this kind of object")]
    TooLarge { bucket: String, key: String, size: u64, limit: u64 },
}

/// The endpoint a request went to and the access key id it was signed with (never the secret).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asked {
    pub endpoint: String,
    pub key_id: Option<String>,
}

/// S3 error codes that mean the store refuses this client's configuration (credentials, policy,
/// bucket), not the object: retrying the job is right, rejecting the recording is wrong.
const CONFIG_CODES: [&str; 11] = [
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "NoSuchBucket",
    "AllAccessDisabled",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AccountProblem",
    "InvalidSecurity",
    "NotSignedUp",
];

fn is_config(status: Option<u16>, code: &str) -> bool {
    matches!(status, Some(401 | 403)) || CONFIG_CODES.contains(&code)
}

fn config_hint(status: Option<u16>, code: &str, asked: &Asked, bucket: &str) -> String {
    let (endpoint, key_id) = (&asked.endpoint, asked.key_id.as_deref());
    if !is_config(status, code) {
        return String::new();
    }
    format!(
        " — a configuration fault, not the recording's: the store at {endpoint} refuses access key {} for bucket {bucket}. Check s3.access_key_id and s3.secret_access_key_file, the key's policy, and that the bucket exists; the job is kept and retried until it works",
        key_id.unwrap_or("(from the environment)")
    )
}

/// The configuration fault (endpoint, bucket, access key id) somewhere in an error's chain.
pub fn config_fault_in(e: &anyhow::Error) -> Option<(String, String, String)> {
    e.chain().find_map(|c| c.downcast_ref::<StoreError>()).and_then(StoreError::config_fault)
}

impl StoreError {
    /// Whether the store refuses this client's configuration (credentials rejected, access
    /// denied by a policy, a missing bucket): not transient, not the input's fault either.
    pub fn is_config_fault(&self) -> bool {
        matches!(self, StoreError::Service { status, code, .. } if is_config(*status, code))
    }

    /// For a configuration fault: (endpoint, bucket, access key id).
    pub fn config_fault(&self) -> Option<(String, String, String)> {
        match self {
            StoreError::Service { asked, bucket, .. } if self.is_config_fault() => Some((
                asked.endpoint.clone(),
                bucket.clone(),
                asked.key_id.clone().unwrap_or_else(|| "(from the environment)".into()),
            )),
            _ => None,
        }
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unreachable { .. } | StoreError::Io { .. } => true,
            StoreError::Service { status, code, .. } if is_config(*status, code) => false,
            StoreError::Service { status, code, .. } => {
                status.is_none_or(|s| s >= 500 || s == 429 || s == 408)
                    || matches!(code.as_str(), "SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable")
            }
            StoreError::NotFound { .. }
            | StoreError::Conflict { .. }
            | StoreError::Mismatch { .. }
            | StoreError::Retention { .. }
            | StoreError::TooLarge { .. } => false,
        }
    }

    /// Bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "s3_not_found",
            StoreError::Unreachable { .. } => "s3_unreachable",
            e @ StoreError::Service { .. } if e.is_config_fault() => "s3_config",
            StoreError::Service { .. } => "s3_service",
            StoreError::Io { .. } => "local_io",
            StoreError::Conflict { .. } => "s3_conflict",
            StoreError::Mismatch { .. } => "content_mismatch",
            StoreError::TooLarge { .. } => "object_too_large",
            StoreError::Retention { .. } => "retention_refused",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str) -> StoreError {
        StoreError::Service {
            op: "put",
            bucket: "evidence".into(),
            key: "k".into(),
            code: code.into(),
            message: "m".into(),
            status: Some(status),
            asked: Box::new(Asked { endpoint: "http://s3.example:9000".into(), key_id: Some("AKIA-SEALER".into()) }),
        }
    }

    #[test]
    fn refused_credentials_policies_and_missing_buckets_are_configuration_faults() {
        for (status, code) in [
            (403, "AccessDenied"),
            (403, "SignatureDoesNotMatch"),
            (403, "InvalidAccessKeyId"),
            (404, "NoSuchBucket"),
            (401, "Unknown"),
        ] {
            let e = service(status, code);
            assert!(e.is_config_fault() && !e.is_transient(), "{code}");
            assert_eq!(e.kind(), "s3_config");
            let text = e.to_string();
            assert!(
                text.contains("AKIA-SEALER")
                    && text.contains("http://s3.example:9000")
                    && text.contains("bucket evidence"),
                "{text}"
            );
            assert_eq!(
                e.config_fault(),
                Some(("http://s3.example:9000".into(), "evidence".into(), "AKIA-SEALER".into()))
            );
        }
        for (status, code) in [(412, "PreconditionFailed"), (400, "InvalidRequest"), (503, "SlowDown")] {
            let e = service(status, code);
            assert!(!e.is_config_fault(), "{code}");
            assert!(!e.to_string().contains("configuration fault"));
        }
    }
}
