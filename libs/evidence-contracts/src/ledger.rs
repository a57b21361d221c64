//! The custody ledger: an append-only JetStream stream (`EVIDENCE_LEDGER`, no delete, no purge)
//! of records, each carrying the SHA-256 of the previous record's exact bytes, so removing,
//! inserting or reordering a record breaks the chain at that point.
//!
//! * Record subject: `evidence.ledger.v1.<kind>.<evidence_id>`; the stream sequence is the
//!   record's position. The first record's `prev_sha256` is 64 zeros.
//! * `record_sha256` of a record = SHA-256 of its message payload, byte for byte as stored.
//! * Every `checkpoint_every` records the sealer writes a checkpoint (head sequence + head hash)
//!   to `ledger/checkpoints/<seq:020>.json` in the evidence bucket with a detached signature
//!   `…/<seq:020>.sig`, and announces it on `evidence.ledger.checkpoint.v1`. A verifier replays
//!   the chain from any checkpoint.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Blake3Digest, EvidenceId, Message, Sha256Digest, schema_field, subjects};

schema_field!(LedgerRecordSchema, "evidence.ledger.record.v1");
schema_field!(LedgerCheckpointSchema, "evidence.ledger.checkpoint.v1");

/// SHA-256 "previous hash" of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a ledger record attests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// A package was sealed.
    Seal,
    /// Retention of a package was set or extended, or a legal hold changed.
    Retention,
    /// Evidence was retrieved (compliance issue).
    Access,
    /// Evidence was classified into a restricted class (secret, privacy) or released from it;
    /// `detail.class` is the class (`null`: none), `detail.reason` why.
    Classification,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Seal => "seal",
            Self::Retention => "retention",
            Self::Access => "access",
            Self::Classification => "classification",
        }
    }
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LedgerRecordV1 {
    pub schema: LedgerRecordSchema,
    pub kind: LedgerKind,
    pub evidence_id: EvidenceId,
    pub at: DateTime<Utc>,
    /// SHA-256 (hex) of the previous record's payload; [`GENESIS`] for the first.
    pub prev_sha256: String,
    /// Key of the package's seal record in the evidence bucket.
    pub seal_record_key: String,
    /// Digests of `seal.json` as stored.
    pub seal_record_sha256: Sha256Digest,
    pub seal_record_blake3: Blake3Digest,
    /// Who wrote the record (`sealer <version>`, or the operator for retention changes).
    pub actor: String,
    /// Kind-specific details (retention: class, retain_until, legal_hold, reason).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
    /// The previous record about the same evidence id (absent on its seal record, and on
    /// records written before item links existed). The item's records thus form their own
    /// chain inside the ledger's: an extract that left one out is caught.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_item: Option<ItemLinkV1>,
}

/// A link from a ledger record to the previous record about the same evidence id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ItemLinkV1 {
    pub seq: u64,
    /// SHA-256 (hex) of that record's payload.
    pub sha256: String,
}

impl LedgerRecordV1 {
    pub fn subject(&self) -> String {
        subjects::ledger(self.kind, &self.evidence_id)
    }
}

/// A signed statement of the ledger head; object `ledger/checkpoints/<seq:020>.json`, announced
/// on `evidence.ledger.checkpoint.v1` (events stream).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LedgerCheckpointV1 {
    pub schema: LedgerCheckpointSchema,
    pub stream: String,
    /// Sequence of the last record covered.
    pub seq: u64,
    /// SHA-256 (hex) of that record's payload.
    pub head_sha256: String,
    pub at: DateTime<Utc>,
    /// Keys of the checkpoint object and its detached signature in the evidence bucket.
    pub key: String,
    pub signature_key: String,
}

impl Message for LedgerCheckpointV1 {
    const SCHEMA: &'static str = LedgerCheckpointSchema::VALUE;
    fn subject(&self) -> String {
        subjects::LEDGER_CHECKPOINTS.to_owned()
    }
    fn msg_id(&self) -> String {
        format!("ledger-checkpoint:{}", self.seq)
    }
}

/// Checkpoint object key for a sequence.
pub fn checkpoint_key(seq: u64) -> String {
    format!("ledger/checkpoints/{seq:020}.json")
}

/// Detached signature key for a checkpoint.
pub fn checkpoint_signature_key(seq: u64) -> String {
    format!("ledger/checkpoints/{seq:020}.sig")
}

/// SHA-256 hex of a record payload.
pub fn record_sha256(payload: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(payload))
}
