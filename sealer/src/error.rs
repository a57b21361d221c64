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
                e if e.is_config_fault() => Disposition::Misconfigured,
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

    fn config_fault(&self) -> Option<worker_runtime::consume::ConfigFault> {
        match self {
            SealError::Store { source, .. } => source.config_fault().map(worker_runtime::consume::ConfigFault::s3),
            _ => None,
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
        // A refused key is the operator's to fix, never the recording's: kept and retried, and
        // the fault names endpoint, bucket and key id for the alert.
        let refused = SealError::Store {
            what: "original",
            source: StoreError::Service {
                op: "put",
                bucket: "evidence".into(),
                key: "k".into(),
                code: "InvalidAccessKeyId".into(),
                message: "The AWS Access Key Id you provided does not exist in our records.".into(),
                status: Some(403),
                asked: Box::new(object_store::Asked {
                    endpoint: "http://s3:9000".into(),
                    key_id: Some("sealer-old".into()),
                }),
            },
        };
        assert_eq!(refused.disposition(), Disposition::Misconfigured);
        let f = refused.config_fault().expect("a configuration fault");
        assert_eq!(
            (f.service, f.endpoint.as_str(), f.resource.as_str(), f.credential.as_str()),
            ("s3", "http://s3:9000", "evidence", "sealer-old")
        );
    }
}
