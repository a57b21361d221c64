//! Errors of one ingest delivery, and what the runtime does with each.

use evidence_contracts::events::RejectReason;
use worker_runtime::{Disposition, HandlerError};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("field {field}: {detail}")]
    InvalidField { field: &'static str, detail: String },
    #[error("landing object {object} does not exist: the station must upload it again (nothing else was changed)")]
    ObjectMissing { object: String },
    #[error(
        "landing object {object} is {actual} bytes but field size_bytes says {expected}: the upload is incomplete or another file; re-push it from the station"
    )]
    SizeMismatch { object: String, expected: u64, actual: u64 },
    #[error(
        "landing object {object} has BLAKE3 {actual} but field blake3 says {expected}: the bytes changed between the station and the store; re-push it from the station (the landing object is kept for examination)"
    )]
    HashMismatch { object: String, expected: String, actual: String },
    #[error(transparent)]
    Store(#[from] object_store::StoreError),
    #[error("spool file in {dir}: {source}")]
    Spool { dir: String, source: std::io::Error },
    #[error("scan: {0}")]
    Scan(#[from] gst_support::GstError),
    #[error(transparent)]
    Publish(#[from] worker_runtime::nats::PublishError),
    #[error("reading the events stream: {0:#}")]
    Events(anyhow::Error),
    #[error(
        "recording {evidence_id} is already in the pipeline (the same bytes from the same camera were submitted earlier, here or at another station); this request waits for its seal to answer station {station} with a receipt"
    )]
    InProgress { evidence_id: String, station: String },
}

impl HandlerError for IngestError {
    fn kind(&self) -> &'static str {
        match self {
            IngestError::InvalidField { .. } => "invalid_field",
            IngestError::ObjectMissing { .. } => "object_missing",
            IngestError::SizeMismatch { .. } => "size_mismatch",
            IngestError::HashMismatch { .. } => "hash_mismatch",
            IngestError::Store(e) => e.kind(),
            IngestError::Spool { .. } => "spool_io",
            IngestError::Scan(_) => "scan",
            IngestError::Publish(_) => "publish",
            IngestError::Events(_) => "events",
            IngestError::InProgress { .. } => "in_progress",
        }
    }

    fn disposition(&self) -> Disposition {
        match self {
            IngestError::InvalidField { .. } => Disposition::Reject(RejectReason::InvalidField),
            IngestError::ObjectMissing { .. } => Disposition::Reject(RejectReason::ObjectMissing),
            IngestError::SizeMismatch { .. } => Disposition::Reject(RejectReason::SizeMismatch),
            IngestError::HashMismatch { .. } => Disposition::Reject(RejectReason::HashMismatch),
            IngestError::Store(e) if e.is_transient() => Disposition::Unavailable,
            IngestError::Store(e) if e.is_config_fault() => Disposition::Misconfigured,
            IngestError::Store(_) => Disposition::Reject(RejectReason::InvalidField),
            IngestError::Scan(_) => Disposition::Retry,
            IngestError::Spool { .. } | IngestError::Publish(_) | IngestError::Events(_) => Disposition::Unavailable,
            IngestError::InProgress { .. } => Disposition::Wait,
        }
    }

    fn config_fault(&self) -> Option<worker_runtime::consume::ConfigFault> {
        match self {
            IngestError::Store(e) => e.config_fault().map(worker_runtime::consume::ConfigFault::s3),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions() {
        let cases: Vec<(IngestError, Disposition)> = vec![
            (
                IngestError::HashMismatch { object: "o".into(), expected: "a".into(), actual: "b".into() },
                Disposition::Reject(RejectReason::HashMismatch),
            ),
            (IngestError::ObjectMissing { object: "o".into() }, Disposition::Reject(RejectReason::ObjectMissing)),
            (
                IngestError::Store(object_store::StoreError::Unreachable {
                    endpoint: "e".into(),
                    op: "get",
                    bucket: "b".into(),
                    key: "k".into(),
                    detail: "refused".into(),
                }),
                Disposition::Unavailable,
            ),
            (
                IngestError::Spool { dir: "/x".into(), source: std::io::Error::other("disk full") },
                Disposition::Unavailable,
            ),
        ];
        for (e, d) in cases {
            assert_eq!(e.disposition(), d, "{e}");
        }
    }
}
