//! The one gate every read of evidence bytes goes through (`sealer access`, `sealer export`,
//! `sealer verify <evidence id> --approval …`, any future path): an approval that exists, names
//! the evidence, is in force, covers the objects asked for and the evidence's restricted class;
//! and an `access` record in the custody ledger (who, why, which approval, which objects, for
//! what) appended **before** any byte leaves the store. A refusal is appended too, with its
//! reason, and nothing is read.
//!
//! What needs no approval, by design: the seal record (`seal.json`), its signature, ledger
//! records and checkpoints. They hold digests, ids and times, no media; `sealer verify <id>`
//! without an approval checks exactly those (docs/contracts.md, "Access").

use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use evidence_contracts::access::{AccessApprovalV1, AccessScope, Classification};
use evidence_contracts::events::EvidenceSealedV1;
use evidence_contracts::ledger::LedgerKind;
use evidence_contracts::seal::{ObjectRole, PackageObjectV1};
use evidence_contracts::{EvidenceId, decode, subjects};
use object_store::Store;
use serde::Serialize;

use crate::config::Config;
use crate::ledger::Ledger;

/// What the bytes are read for (recorded as `detail.purpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Short-lived URLs (`sealer access`).
    Access,
    /// A self-contained copy of the package (`sealer export`).
    Export,
    /// Online verification of the whole package (`sealer verify <id> --approval …`).
    Verify,
}

/// A request to read evidence.
#[derive(Debug, Clone)]
pub struct Request {
    pub approval: Option<String>,
    pub actor: String,
    pub reason: String,
    pub scope: AccessScope,
    pub purpose: Purpose,
}

/// Why a read is refused: each a different case, named in the CLI's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `--approval` given.
    NoApproval,
    /// The id cannot be an approval id (typo, wildcard, spaces).
    MalformedApprovalId(String),
    /// No approval with this id was ever published.
    UnknownApproval(String),
    /// The approval names other evidence.
    OtherEvidence {
        approval: String,
    },
    /// Issued for later.
    NotYetValid {
        approval: String,
        from: DateTime<Utc>,
    },
    Expired {
        approval: String,
        at: DateTime<Utc>,
    },
    /// The approval covers less than what is asked for.
    Scope {
        approval: String,
        has: AccessScope,
        wants: AccessScope,
    },
    /// The evidence is in a restricted class the approval does not name.
    Class {
        approval: String,
        class: Classification,
    },
}

/// The CLI's words for a scope.
pub fn scope_words(s: AccessScope) -> &'static str {
    match s {
        AccessScope::Original => "the original recording and its C2PA sidecar (--scope original)",
        AccessScope::Derivatives => "the access copies (--scope derivatives)",
        AccessScope::Package => "the whole package (--scope package)",
    }
}

impl Refusal {
    /// Stable code, recorded as `detail.refusal` (docs/contracts.md).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoApproval => "no_approval",
            Self::MalformedApprovalId(_) | Self::UnknownApproval(_) => "unknown_approval",
            Self::OtherEvidence { .. } => "other_evidence",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::Expired { .. } => "expired",
            Self::Scope { .. } => "wrong_scope",
            Self::Class { .. } => "wrong_class",
        }
    }

    /// What is wrong and what to do, in words.
    pub fn message(&self, id: &EvidenceId) -> String {
        match self {
            Self::NoApproval => {
                "no approval given: pass --approval ID (the approval id from the case system, or from `sealer approve`)"
                    .into()
            }
            Self::MalformedApprovalId(a) => {
                format!("\"{a}\" is not an approval id (1 to 64 letters, digits, '-' or '_'): check it for a typo")
            }
            Self::UnknownApproval(a) => {
                format!(
                    "no approval with id {a} exists: check the id for a typo, or ask for an approval (sealer approve)"
                )
            }
            Self::OtherEvidence { approval } => {
                format!("approval {approval} does not cover evidence {id}: it was given for other recordings")
            }
            Self::NotYetValid { approval, from } => {
                format!("approval {approval} is valid only from {}", from.to_rfc3339())
            }
            Self::Expired { approval, at } => format!(
                "approval {approval} expired at {}: ask for a new approval (sealer approve --valid-for …)",
                at.to_rfc3339()
            ),
            Self::Scope { approval, has, wants } => format!(
                "approval {approval} covers {} only; this needs an approval for {}",
                scope_words(*has),
                scope_words(*wants)
            ),
            Self::Class { approval, class } => format!(
                "evidence {id} is classified {}; approval {approval} does not cover that class (an approval for it names the class: sealer approve --class {})",
                class.as_str(),
                class.as_str()
            ),
        }
    }
}

/// Whether `s` can be an approval id (a NATS subject token; see `AccessApprovalV1`).
pub fn approval_id_ok(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Judges an approval (already looked up) for `id`, `scope` and the evidence's `class`, at `now`.
///
/// # Errors
/// The first refusal, in this order: none, other evidence, not yet valid, expired, scope, class.
pub fn judge(
    approval: Option<&AccessApprovalV1>,
    id: &EvidenceId,
    scope: AccessScope,
    class: Option<Classification>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let Some(a) = approval else { return Err(Refusal::NoApproval) };
    let name = a.approval_id.clone();
    if !a.evidence_ids.contains(id) {
        return Err(Refusal::OtherEvidence { approval: name });
    }
    if a.issued_at > now + chrono::Duration::minutes(5) {
        return Err(Refusal::NotYetValid { approval: name, from: a.issued_at });
    }
    if a.expires_at <= now {
        return Err(Refusal::Expired { approval: name, at: a.expires_at });
    }
    let allowed = a.scope == AccessScope::Package || a.scope == scope;
    if !allowed {
        return Err(Refusal::Scope { approval: name, has: a.scope, wants: scope });
    }
    if let Some(c) = class
        && !a.classes.contains(&c)
    {
        return Err(Refusal::Class { approval: name, class: c });
    }
    Ok(())
}

/// The objects a scope covers.
pub fn objects_in_scope(ev: &EvidenceSealedV1, scope: AccessScope) -> Vec<PackageObjectV1> {
    let mut v: Vec<PackageObjectV1> = ev
        .objects
        .iter()
        .filter(|o| match scope {
            AccessScope::Package => true,
            AccessScope::Original => {
                o.role == ObjectRole::Original || (o.role == ObjectRole::C2paSidecar && o.profile.is_none())
            }
            AccessScope::Derivatives => o.role == ObjectRole::Derivative,
        })
        .cloned()
        .collect();
    if scope == AccessScope::Package {
        v.push(ev.seal_record.clone());
        v.extend(ev.seal_signature.iter().cloned());
    }
    v
}

/// A refused read, after its ledger record was appended.
#[derive(Debug, thiserror::Error)]
#[error("{what} refused: {why} (recorded in the custody ledger, record {seq})")]
pub struct Refused {
    pub what: &'static str,
    pub why: String,
    pub code: &'static str,
    pub seq: u64,
}

/// A granted read: the ledger record is appended; the caller may now read `objects`.
pub struct Opened {
    pub js: async_nats::jetstream::Context,
    pub store: Store,
    pub ev: EvidenceSealedV1,
    pub objects: Vec<PackageObjectV1>,
    pub approval: AccessApprovalV1,
    /// The access record's ledger sequence.
    pub seq: u64,
}

/// Looks up an approval by id.
///
/// # Errors
/// The approvals stream cannot be read, or the stored approval does not parse.
pub async fn lookup_approval(
    js: &async_nats::jetstream::Context,
    approval_id: &str,
) -> anyhow::Result<Option<AccessApprovalV1>> {
    worker_runtime::nats::last_on_subject(js, subjects::APPROVALS_STREAM, &subjects::access_approval(approval_id))
        .await?
        .map(|m| decode::<AccessApprovalV1>(&m.payload))
        .transpose()
        .with_context(|| format!("approval {approval_id} is stored but does not parse"))
}

/// Opens evidence `id` for `req`: judges, appends the `access` record (granted or refused), and
/// returns what may be read. `url_expires_at` is recorded when the caller hands out URLs.
///
/// # Errors
/// [`Refused`] (recorded), unknown evidence, unreachable stores (nothing recorded).
pub async fn open(
    cfg: &Config,
    id: &EvidenceId,
    req: &Request,
    url_expires_at: Option<DateTime<Utc>>,
) -> anyhow::Result<Opened> {
    let (js, store) = crate::export::connect(cfg).await?;
    let ev = crate::export::sealed_event(&js, id).await?;
    let now = Utc::now();
    let class = crate::access::current_class(&js, id).await?;
    let (approval, verdict) = match req.approval.as_deref() {
        None => (None, Err(Refusal::NoApproval)),
        Some(a) if !approval_id_ok(a) => (None, Err(Refusal::MalformedApprovalId(a.to_owned()))),
        Some(a) => match lookup_approval(&js, a).await? {
            None => (None, Err(Refusal::UnknownApproval(a.to_owned()))),
            Some(ap) => {
                let v = judge(Some(&ap), id, req.scope, class, now);
                (Some(ap), v)
            }
        },
    };
    let objects = objects_in_scope(&ev, req.scope);
    if objects.is_empty() && req.scope == AccessScope::Derivatives {
        // Nothing would be read: said before anything is recorded.
        let why = match &ev.access {
            Some(a) if a.of == evidence_contracts::seal::AccessOf::Original => {
                "its original is its own access rendition (the sealed event's access.of is original: it plays as recorded, so no copy was made)"
            }
            _ => "none was made (the seal record's decisions say why)",
        };
        anyhow::bail!(
            "{id} has no access copy: {why}. To view it, ask for an approval with --scope original (sealer approve --scope original {id})"
        );
    }
    let creds = Arc::new(crate::identity(&cfg.seal)?.0);
    let ledger =
        Ledger::new(js.clone(), store.clone(), cfg.s3.evidence_bucket.clone(), creds, cfg.seal.checkpoint_every);
    let url_expires_at = url_expires_at.map(|t| approval.as_ref().map_or(t, |a| t.min(a.expires_at)));
    let detail = serde_json::json!({
        "purpose": req.purpose,
        "approval_id": req.approval,
        "approver": approval.as_ref().map(|a| a.approver.clone()),
        "approval_reason": approval.as_ref().map(|a| a.reason.clone()),
        "reason": req.reason,
        "scope": req.scope,
        "objects": objects.iter().map(|o| o.key.clone()).collect::<Vec<_>>(),
        "url_expires_at": url_expires_at.map(|t| t.to_rfc3339()),
        "refused": verdict.as_ref().err().map(|r| r.message(id)),
        "refusal": verdict.as_ref().err().map(Refusal::code),
        "class": class,
    });
    let rec = crate::ledger::package_record(LedgerKind::Access, &ev, &req.actor, detail);
    let appended = ledger.append(rec, &format!("ledger:access:{id}:{}", uuid::Uuid::new_v4().simple())).await?;
    ledger.checkpoint_if_due(appended.seq).await?;
    let what = match req.purpose {
        Purpose::Access => "access",
        Purpose::Export => "export",
        Purpose::Verify => "verification",
    };
    match (verdict, approval) {
        (Ok(()), Some(approval)) => {
            tracing::info!(evidence_id = %id, actor = %req.actor, purpose = what, ledger_seq = appended.seq, objects = objects.len(), "evidence read granted");
            Ok(Opened { js, store, ev, objects, approval, seq: appended.seq })
        }
        (Err(r), _) => {
            let why = r.message(id);
            tracing::warn!(evidence_id = %id, actor = %req.actor, purpose = what, ledger_seq = appended.seq, reason = %why, "evidence read refused");
            Err(Refused { what, why, code: r.code(), seq: appended.seq }.into())
        }
        (Ok(()), None) => unreachable!("a granted read has an approval"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evidence_contracts::access::AccessApprovalSchema;

    fn ids() -> (EvidenceId, EvidenceId) {
        let d = evidence_contracts::DeviceId::new("D").unwrap();
        (
            EvidenceId::derive(&d, &evidence_contracts::Blake3Digest([1; 32])),
            EvidenceId::derive(&d, &evidence_contracts::Blake3Digest([2; 32])),
        )
    }

    fn approval(id: EvidenceId, scope: AccessScope) -> AccessApprovalV1 {
        AccessApprovalV1 {
            schema: AccessApprovalSchema,
            approval_id: "a1".into(),
            evidence_ids: vec![id],
            approver: "chief".into(),
            reason: "court request".into(),
            scope,
            issued_at: Utc::now(),
            expires_at: Utc::now() + chrono::Duration::hours(1),
            classes: vec![],
        }
    }

    #[test]
    fn each_refusal_is_its_own_case_in_the_clis_words() {
        let (id, other) = ids();
        let now = Utc::now();
        let d = AccessScope::Derivatives;
        let ok = approval(id, d);
        assert_eq!(judge(None, &id, d, None, now), Err(Refusal::NoApproval));
        assert_eq!(judge(Some(&ok), &id, d, None, now), Ok(()));
        assert_eq!(judge(Some(&ok), &other, d, None, now).unwrap_err().code(), "other_evidence");
        let scope = judge(Some(&ok), &id, AccessScope::Package, None, now).unwrap_err();
        assert_eq!(scope.code(), "wrong_scope");
        let words = scope.message(&id);
        assert!(words.contains("--scope derivatives") && words.contains("--scope package"), "{words}");
        assert!(!words.contains("Derivatives") && !words.contains("Package"), "no internal names: {words}");
        let privacy = Some(Classification::Privacy);
        let class = judge(Some(&ok), &id, d, privacy, now).unwrap_err();
        assert_eq!(class.code(), "wrong_class");
        assert!(class.message(&id).contains("sealer approve --class privacy"));
        let covered = AccessApprovalV1 { classes: vec![Classification::Privacy], ..ok.clone() };
        assert_eq!(judge(Some(&covered), &id, d, privacy, now), Ok(()));
        assert!(judge(Some(&covered), &id, d, Some(Classification::Secret), now).is_err());
        let expired = AccessApprovalV1 { expires_at: now - chrono::Duration::seconds(1), ..ok.clone() };
        assert_eq!(judge(Some(&expired), &id, d, None, now).unwrap_err().code(), "expired");
        let later = AccessApprovalV1 { issued_at: now + chrono::Duration::days(1), ..ok.clone() };
        assert_eq!(judge(Some(&later), &id, d, None, now).unwrap_err().code(), "not_yet_valid");
        // A package approval covers every scope.
        let all = approval(id, AccessScope::Package);
        for s in [AccessScope::Original, AccessScope::Derivatives, AccessScope::Package] {
            assert_eq!(judge(Some(&all), &id, s, None, now), Ok(()));
        }
        // Unknown and malformed ids are named as such, not as "no approval".
        assert_eq!(Refusal::UnknownApproval("x".into()).code(), "unknown_approval");
        assert!(Refusal::MalformedApprovalId("a.b".into()).message(&id).contains("typo"));
    }

    #[test]
    fn approval_ids_are_subject_tokens_so_wildcards_cannot_match_another_approval() {
        assert!(approval_id_ok("0f3c9a2b_APR-7"));
        for bad in ["", "*", ">", "a.b", "a b", "a*", &"x".repeat(65)] {
            assert!(!approval_id_ok(bad), "{bad}");
        }
    }
}
