//! Errors of one transcode delivery. A profile that fails on a recording is *not* an error:
//! the job goes on to the sealer with the reason recorded (the original must not wait on a
//! copy). Errors here are about the job itself.

use evidence_contracts::events::RejectReason;
use worker_runtime::{Disposition, HandlerError};

#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error(
        "landing object {object} changed after ingest: BLAKE3 {actual}, ingest verified {expected}; it will not be copied or sealed from here, re-push from the station"
    )]
    SourceChanged { object: String, expected: String, actual: String },
    #[error(
        "the continuity report {object} is not an evidence.scan.report.v1 with one file; re-run ingest for this recording"
    )]
    BadReport { object: String },
    #[error(transparent)]
    Store(#[from] object_store::StoreError),
    #[error("spool {dir}: {source}")]
    Spool { dir: String, source: std::io::Error },
    #[error(transparent)]
    Publish(#[from] worker_runtime::nats::PublishError),
}

impl HandlerError for TranscodeError {
    fn kind(&self) -> &'static str {
        match self {
            TranscodeError::SourceChanged { .. } => "hash_mismatch",
            TranscodeError::BadReport { .. } => "bad_report",
            TranscodeError::Store(e) => e.kind(),
            TranscodeError::Spool { .. } => "spool_io",
            TranscodeError::Publish(_) => "publish",
        }
    }

    fn disposition(&self) -> Disposition {
        match self {
            TranscodeError::SourceChanged { .. } => Disposition::Reject(RejectReason::HashMismatch),
            TranscodeError::BadReport { .. } => Disposition::Reject(RejectReason::InvalidField),
            TranscodeError::Store(object_store::StoreError::NotFound { .. }) => {
                Disposition::Reject(RejectReason::ObjectMissing)
            }
            TranscodeError::Store(e) if e.is_transient() => Disposition::Unavailable,
            TranscodeError::Store(e) if e.is_config_fault() => Disposition::Misconfigured,
            TranscodeError::Store(_) => Disposition::Reject(RejectReason::InvalidField),
            TranscodeError::Spool { .. } | TranscodeError::Publish(_) => Disposition::Unavailable,
        }
    }

    fn config_fault(&self) -> Option<worker_runtime::consume::ConfigFault> {
        match self {
            TranscodeError::Store(e) => e.config_fault().map(worker_runtime::consume::ConfigFault::s3),
            _ => None,
        }
    }
}
