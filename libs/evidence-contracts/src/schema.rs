//! JSON Schemas of every message and document that leaves a process, generated from the types.
//! Checked in under `deploy/schemas/`; `tests/schemas.rs` fails when they drift
//! (`UPDATE_SCHEMAS=1 cargo test -p evidence-contracts` rewrites them).

use schemars::{JsonSchema, schema_for};

use crate::access::AccessApprovalV1;
use crate::compliance::{MatterCheckV1, MatterV1, PauseV1, RecordingFlagsV1};
use crate::events::{EvidenceRejectedV1, EvidenceSealedV1};
use crate::ingest::IngestRequestV1;
use crate::ledger::{LedgerCheckpointV1, LedgerRecordV1};
use crate::report::ScanReportV1;
use crate::seal::{SealJobV1, SealRecordV1, SignatureV1};
use crate::station::{DockingV1, ReceiptV1};
use crate::transcode::TranscodeJobV1;

/// Keys sorted at every level, whatever `serde_json` map order the build has (another crate in
/// the workspace may turn on `preserve_order`), so the files are the same in every build.
fn sorted(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut entries: Vec<(String, serde_json::Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn pretty<T: JsonSchema>() -> String {
    let value = serde_json::to_value(schema_for!(T)).expect("schemas serialise");
    let mut s = serde_json::to_string_pretty(&sorted(value)).expect("schemas serialise");
    s.push('\n');
    s
}

/// `(file name, schema text)` for every contract document.
pub fn all() -> Vec<(&'static str, String)> {
    vec![
        ("evidence.ingest.request.v1.schema.json", pretty::<IngestRequestV1>()),
        ("evidence.pipeline.transcode.v1.schema.json", pretty::<TranscodeJobV1>()),
        ("evidence.pipeline.seal.v1.schema.json", pretty::<SealJobV1>()),
        ("evidence.sealed.v1.schema.json", pretty::<EvidenceSealedV1>()),
        ("evidence.rejected.v1.schema.json", pretty::<EvidenceRejectedV1>()),
        ("evidence.seal.record.v1.schema.json", pretty::<SealRecordV1>()),
        ("evidence.scan.report.v1.schema.json", pretty::<ScanReportV1>()),
        ("evidence.signature.v1.schema.json", pretty::<SignatureV1>()),
        ("evidence.ledger.record.v1.schema.json", pretty::<LedgerRecordV1>()),
        ("evidence.ledger.checkpoint.v1.schema.json", pretty::<LedgerCheckpointV1>()),
        ("evidence.access.approval.v1.schema.json", pretty::<AccessApprovalV1>()),
        ("evidence.station.docking.v1.schema.json", pretty::<DockingV1>()),
        ("evidence.receipt.v1.schema.json", pretty::<ReceiptV1>()),
        ("evidence.matter.v1.schema.json", pretty::<MatterV1>()),
        ("evidence.pause.v1.schema.json", pretty::<PauseV1>()),
        ("evidence.compliance.matter.v1.schema.json", pretty::<MatterCheckV1>()),
        ("evidence.compliance.recording.v1.schema.json", pretty::<RecordingFlagsV1>()),
    ]
}
