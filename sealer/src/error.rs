//! Errors of one seal delivery.

use evidence_contracts::events::RejectReason;
use object_store::StoreError;
use worker_runtime::{Disposition, HandlerError};

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("storing {what}: {source}")]
    Store { what: &'static str, source: StoreError },
    #[error(
        "{what}: SHA-256 {actual} differs from the {expected} computed at ingest; the bytes changed between stages"
    )]
    Sha256Mismatch { what: &'static str, expected: String, actual: String },
    #[error(
        "the existing seal record s3://{bucket}/{key} cannot be read as evidence.seal.record.v1: {detail}; examine the package by hand"
    )]
    BadRecord { bucket: String, key: String, detail: String },
    #[error("after storing, {what} s3://{bucket}/{key} reads back as {detail}")]
    ReadBack { what: &'static str, bucket: String, key: String, detail: String },
    #[error("event stream: {0:#}")]
    Events(anyhow::Error),
    #[error("custody ledger: {0:#}")]
    Ledger(anyhow::Error),
    #[error("{what}: {detail} (check seal.spool_dir: free space and permissions)")]
    Local { what: &'static str, detail: String },
    #[error(transparent)]
    Publish(#[from] worker_runtime::nats::PublishError),
}

impl HandlerError for SealError {
    fn kind(&self) -> &'static str {
        match self {
            SealError::Store { source, .. } => source.kind(),
            SealError::Sha256Mismatch { .. } => "hash_mismatch",
            SealError::BadRecord { .. } => "bad_seal_record",
            SealError::ReadBack { .. } => "read_back",
            SealError::Events(_) => "events_stream",
            SealError::Ledger(_) => "ledger",
            SealError::Local { .. } => "local_io",
            SealError::Publish(_) => "publish",
        }
    }

    fn disposition(&self) -> Disposition {
        match self {
            SealError::Store { source, .. } => match source {
                StoreError::Mismatch { .. } => Disposition::Reject(RejectReason::HashMismatch),
                StoreError::NotFound { .. } => Disposition::Reject(RejectReason::ObjectMissing),
                StoreError::Conflict { .. } => Disposition::Reject(RejectReason::EvidenceConflict),
                e if e.is_transient() => Disposition::Unavailable,
                _ => Disposition::Reject(RejectReason::InvalidField),
            },
            SealError::Sha256Mismatch { .. } => Disposition::Reject(RejectReason::HashMismatch),
            SealError::BadRecord { .. } => Disposition::Reject(RejectReason::EvidenceConflict),
            SealError::ReadBack { .. } => Disposition::Retry,
            SealError::Events(_) | SealError::Ledger(_) | SealError::Local { .. } | SealError::Publish(_) => {
                Disposition::Unavailable
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions() {
        let mismatch = SealError::Store {
            what: "original",
            source: StoreError::Mismatch {
                bucket: "b".into(),
                key: "k".into(),
                what: "BLAKE3",
                expected: "a".into(),
                actual: "b".into(),
            },
        };
        assert_eq!(mismatch.disposition(), Disposition::Reject(RejectReason::HashMismatch));
        let conflict = SealError::Store {
            what: "original",
            source: StoreError::Conflict { bucket: "b".into(), key: "k".into(), detail: "x".into() },
        };
        assert_eq!(conflict.disposition(), Disposition::Reject(RejectReason::EvidenceConflict));
        let down = SealError::Store {
            what: "original",
            source: StoreError::Unreachable {
                endpoint: "e".into(),
                op: "put",
                bucket: "b".into(),
                key: "k".into(),
                detail: "refused".into(),
            },
        };
        assert_eq!(down.disposition(), Disposition::Unavailable);
    }
}
