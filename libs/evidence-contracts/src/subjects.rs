//! NATS stream names and subjects. The stream definitions themselves (retention, limits) are
//! JSON files under `deploy/nats/streams/`, applied by operators and loaded by the test harness.
//!
//! | stream | subjects | retention | fed by | read by |
//! |---|---|---|---|---|
//! | `EVIDENCE_INGEST` | `evidence.ingest.request.v1.<station_id>` | work queue | stations | ingest-worker |
//! | `EVIDENCE_PIPELINE` | `evidence.pipeline.transcode.v1`, `evidence.pipeline.seal.v1` | work queue | ingest-worker, transcoder | transcoder, sealer |
//! | `EVIDENCE_EVENTS` | `evidence.sealed.v1.<evidence_id>`, `evidence.rejected.v1.<stage>`, `evidence.ledger.checkpoint.v1`, `evidence.compliance.v1.>` | limits, no delete, no purge | sealer, every worker | case systems, stations |
//! | `EVIDENCE_APPROVALS` | `evidence.access.approval.v1.<approval_id>` | limits, no delete, no purge | case systems, `sealer approve` | `sealer access` |
//! | `EVIDENCE_STATIONS` | `evidence.station.v1.<station_id>.docking` | limits, no delete, no purge | stations | compliance checks, auditors |
//! | `EVIDENCE_RECEIPTS` | `evidence.receipt.v1.<station_id>.<evidence_id>` | limits, 400 days, direct get | sealer, any worker rejecting | the station (only its own) |
//! | `EVIDENCE_MATTERS` | `evidence.matter.v1.<matter_id>`, `evidence.pause.v1.<pause_id>` | limits, no delete, no purge | case systems, `auditor import` | `auditor check`, `auditor audit` |
//! | `EVIDENCE_LEDGER` | `evidence.ledger.v1.<kind>.<evidence_id>` | limits, no delete, no purge, hash-chained | sealer | verifiers, auditors |

use crate::{EvidenceId, StationId};

pub const INGEST_STREAM: &str = "EVIDENCE_INGEST";
pub const PIPELINE_STREAM: &str = "EVIDENCE_PIPELINE";
pub const EVENTS_STREAM: &str = "EVIDENCE_EVENTS";
pub const LEDGER_STREAM: &str = "EVIDENCE_LEDGER";
pub const APPROVALS_STREAM: &str = "EVIDENCE_APPROVALS";
pub const STATIONS_STREAM: &str = "EVIDENCE_STATIONS";
pub const MATTERS_STREAM: &str = "EVIDENCE_MATTERS";
/// Filters of the matters stream.
pub const MATTERS_ALL: &str = "evidence.matter.v1.>";
pub const PAUSES_ALL: &str = "evidence.pause.v1.>";
/// Filter matching every compliance result (events stream).
pub const COMPLIANCE_ALL: &str = "evidence.compliance.v1.>";
pub const RECEIPTS_STREAM: &str = "EVIDENCE_RECEIPTS";
/// Filter matching every docking record.
pub const DOCKINGS_ALL: &str = "evidence.station.v1.>";
/// Filter matching every receipt.
pub const RECEIPTS_ALL: &str = "evidence.receipt.v1.>";
/// Filter matching every ledger record.
pub const LEDGER_ALL: &str = "evidence.ledger.v1.>";
/// Ledger checkpoint announcements (events stream).
pub const LEDGER_CHECKPOINTS: &str = "evidence.ledger.checkpoint.v1";

/// Filter matching every station's ingest requests.
pub const INGEST_REQUESTS_ALL: &str = "evidence.ingest.request.v1.>";
pub const TRANSCODE_JOBS: &str = "evidence.pipeline.transcode.v1";
pub const SEAL_JOBS: &str = "evidence.pipeline.seal.v1";
/// Filter matching every sealed-evidence event.
pub const SEALED_ALL: &str = "evidence.sealed.v1.>";
/// Filter matching every rejection event.
pub const REJECTED_ALL: &str = "evidence.rejected.v1.>";

/// Durable consumer names, one per worker kind; several instances of a worker share it.
pub const INGEST_CONSUMER: &str = "ingest-worker";
pub const TRANSCODE_CONSUMER: &str = "transcoder";
pub const SEAL_CONSUMER: &str = "sealer";

/// Prefix of every ingest request subject; the station id follows.
pub const INGEST_REQUEST_PREFIX: &str = "evidence.ingest.request.v1.";

pub fn ingest_request(station: &StationId) -> String {
    format!("{INGEST_REQUEST_PREFIX}{station}")
}

pub fn station_docking(station: &StationId) -> String {
    format!("evidence.station.v1.{station}.docking")
}

pub fn receipt(station: &StationId, evidence: &EvidenceId) -> String {
    format!("evidence.receipt.v1.{station}.{evidence}")
}

/// Every receipt for one station: what its credentials may read.
pub fn receipts_of(station: &StationId) -> String {
    format!("evidence.receipt.v1.{station}.>")
}

pub fn matter(matter_id: &str) -> String {
    format!("evidence.matter.v1.{matter_id}")
}

pub fn pause(pause_id: &str) -> String {
    format!("evidence.pause.v1.{pause_id}")
}

pub fn matter_check(matter_id: &str) -> String {
    format!("evidence.compliance.v1.matter.{matter_id}")
}

pub fn recording_flags(key: &str) -> String {
    format!("evidence.compliance.v1.recording.{key}")
}

pub fn sealed(evidence: &EvidenceId) -> String {
    format!("evidence.sealed.v1.{evidence}")
}

pub fn ledger(kind: crate::ledger::LedgerKind, evidence: &EvidenceId) -> String {
    format!("evidence.ledger.v1.{}.{evidence}", kind.as_str())
}

pub fn access_approval(approval_id: &str) -> String {
    format!("evidence.access.approval.v1.{approval_id}")
}

pub fn rejected(stage: crate::events::Stage) -> String {
    format!("evidence.rejected.v1.{}", stage.as_str())
}
