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
    #[error("object store refused {op} s3://{bucket}/{key}: {code}: {message}")]
    Service { op: &'static str, bucket: String, key: String, code: String, message: String, status: Option<u16> },
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

impl StoreError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unreachable { .. } | StoreError::Io { .. } => true,
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
            StoreError::Service { .. } => "s3_service",
            StoreError::Io { .. } => "local_io",
            StoreError::Conflict { .. } => "s3_conflict",
            StoreError::Mismatch { .. } => "content_mismatch",
            StoreError::TooLarge { .. } => "object_too_large",
            StoreError::Retention { .. } => "retention_refused",
        }
    }
}
