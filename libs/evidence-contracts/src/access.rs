//! Access to sealed evidence needs an approval. A case system (or `sealer approve`, for agencies
//! without integration) publishes an [`AccessApprovalV1`] on
//! `evidence.access.approval.v1.<approval_id>` (stream `EVIDENCE_APPROVALS`, no delete, no purge).
//! `sealer access` checks the approval (exists, names the evidence id, covers the requested
//! objects, not expired, names the evidence's restricted class if it has one), hands out short-lived URLs, and appends an `access` record to the custody
//! ledger; a refusal is recorded there too.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{EvidenceId, Message, schema_field, subjects};

schema_field!(AccessApprovalSchema, "evidence.access.approval.v1");

/// What an approval lets the holder retrieve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessScope {
    /// The original recording (and its sidecar).
    Original,
    /// The copies made for viewing.
    Derivatives,
    /// Everything in the package.
    Package,
}

/// An approval to retrieve evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AccessApprovalV1 {
    pub schema: AccessApprovalSchema,
    /// 1–64 of `[A-Za-z0-9_-]` (a subject token).
    pub approval_id: String,
    pub evidence_ids: Vec<EvidenceId>,
    /// Who approved (person or system) and why.
    pub approver: String,
    pub reason: String,
    pub scope: AccessScope,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Restricted classes the approval covers (`secret`, `privacy`). Evidence classified in a
    /// class the approval does not name is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<Classification>,
}

/// Restricted classes of evidence. Set by `sealer classify` (a `classification` ledger record);
/// retrieval then needs an approval naming the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Involves state or work secrets.
    Secret,
    /// Involves personal privacy (minors, victims, medical, …).
    Privacy,
}

impl Classification {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Privacy => "privacy",
        }
    }
}

impl Message for AccessApprovalV1 {
    const SCHEMA: &'static str = AccessApprovalSchema::VALUE;
    fn subject(&self) -> String {
        subjects::access_approval(&self.approval_id)
    }
    fn msg_id(&self) -> String {
        format!("approval:{}", self.approval_id)
    }
}
