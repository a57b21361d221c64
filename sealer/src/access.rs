//! `sealer approve` and `sealer access`: retrieving sealed evidence only under an approval, with
//! every retrieval and every refusal in the custody ledger (contract: `evidence_contracts::access`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::Utc;
use evidence_contracts::access::{AccessApprovalSchema, AccessApprovalV1, AccessScope, Classification};
use evidence_contracts::ledger::LedgerKind;
use evidence_contracts::seal::ObjectRole;
use evidence_contracts::{EvidenceId, decode, subjects};

use crate::config::Config;
use crate::ledger::Ledger;

/// `sealer approve` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ApproveArgs {
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    #[arg(long)]
    pub approver: String,
    #[arg(long)]
    pub reason: String,
    #[arg(long, value_enum, default_value = "derivatives")]
    pub scope: Scope,
    /// Restricted classes the approval covers (repeat for several).
    #[arg(long = "class", value_enum)]
    pub classes: Vec<Class>,
    /// How long the approval holds.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub valid_for: Duration,
    #[arg(required = true)]
    pub evidence_ids: Vec<String>,
}

/// `sealer access` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct AccessArgs {
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// The approval id (from the case system or `sealer approve`).
    #[arg(long)]
    pub approval: Option<String>,
    #[arg(long)]
    pub reason: String,
    /// Who retrieves (recorded in the ledger).
    #[arg(long)]
    pub actor: String,
    #[arg(long, value_enum, default_value = "derivatives")]
    pub scope: Scope,
    /// Lifetime of the URLs (capped by the approval's expiry).
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub url_valid_for: Duration,
    pub evidence_id: String,
}

/// CLI form of [`Classification`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Class {
    Secret,
    Privacy,
}

impl From<Class> for Classification {
    fn from(c: Class) -> Self {
        match c {
            Class::Secret => Classification::Secret,
            Class::Privacy => Classification::Privacy,
        }
    }
}

/// `sealer classify` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ClassifyArgs {
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// The restricted class, or `none` to release the evidence from its class.
    #[arg(long, value_parser = ["secret", "privacy", "none"])]
    pub class: String,
    #[arg(long)]
    pub reason: String,
    /// Who classifies (recorded in the ledger).
    #[arg(long)]
    pub actor: String,
    pub evidence_id: String,
}

/// The evidence's current class: the last `classification` ledger record for it.
///
/// # Errors
/// The ledger cannot be read.
pub async fn current_class(
    js: &async_nats::jetstream::Context,
    id: &EvidenceId,
) -> anyhow::Result<Option<Classification>> {
    let subject = subjects::ledger(LedgerKind::Classification, id);
    let Some(m) = worker_runtime::nats::last_on_subject(js, subjects::LEDGER_STREAM, &subject).await? else {
        return Ok(None);
    };
    let rec: evidence_contracts::ledger::LedgerRecordV1 =
        serde_json::from_slice(&m.payload).context("a classification ledger record does not parse")?;
    Ok(rec.detail.get("class").and_then(|c| serde_json::from_value(c.clone()).ok()))
}

/// Records a classification (or its release) in the custody ledger.
///
/// # Errors
/// Unknown evidence, unreachable stores.
pub async fn classify(cfg: &Config, a: &ClassifyArgs) -> anyhow::Result<u64> {
    let id = parse_id(&a.evidence_id)?;
    let (js, store) = crate::export::connect(cfg).await?;
    let ev = crate::export::sealed_event(&js, &id).await?;
    let class: Option<Classification> = match a.class.as_str() {
        "secret" => Some(Classification::Secret),
        "privacy" => Some(Classification::Privacy),
        _ => None,
    };
    let creds = Arc::new(crate::identity(&cfg.seal)?.0);
    let ledger =
        Ledger::new(js.clone(), store.clone(), cfg.s3.evidence_bucket.clone(), creds, cfg.seal.checkpoint_every);
    let detail = serde_json::json!({ "class": class, "reason": a.reason });
    let rec = crate::ledger::package_record(LedgerKind::Classification, &ev, &a.actor, detail);
    let appended = ledger.append(rec, &format!("ledger:classification:{id}:{}", uuid::Uuid::new_v4().simple())).await?;
    ledger.checkpoint_if_due(appended.seq).await?;
    tracing::info!(evidence_id = %id, class = class.map_or("none", Classification::as_str), actor = %a.actor, ledger_seq = appended.seq, "evidence classified");
    Ok(appended.seq)
}

/// CLI form of [`AccessScope`].
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Scope {
    Original,
    Derivatives,
    Package,
}

impl From<Scope> for AccessScope {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Original => AccessScope::Original,
            Scope::Derivatives => AccessScope::Derivatives,
            Scope::Package => AccessScope::Package,
        }
    }
}

fn parse_id(s: &str) -> anyhow::Result<EvidenceId> {
    s.parse().map_err(|e| anyhow::anyhow!("{s} is not an evidence id: {e}"))
}

/// Publishes an approval; prints its id.
///
/// # Errors
/// Bad ids, NATS unreachable.
pub async fn approve(cfg: &Config, a: &ApproveArgs) -> anyhow::Result<String> {
    let ids = a.evidence_ids.iter().map(|s| parse_id(s)).collect::<anyhow::Result<Vec<_>>>()?;
    let (js, _) = crate::export::connect(cfg).await?;
    let now = Utc::now();
    let approval = AccessApprovalV1 {
        schema: AccessApprovalSchema,
        approval_id: uuid::Uuid::new_v4().simple().to_string(),
        evidence_ids: ids,
        approver: a.approver.clone(),
        reason: a.reason.clone(),
        scope: a.scope.into(),
        issued_at: now,
        expires_at: now + chrono::Duration::from_std(a.valid_for).context("--valid-for too long")?,
        classes: a.classes.iter().map(|c| (*c).into()).collect(),
    };
    worker_runtime::nats::publish(&js, &approval).await?;
    Ok(approval.approval_id)
}

/// Why an access is refused, checked in this order.
fn judge(
    approval: Option<&AccessApprovalV1>,
    id: &EvidenceId,
    scope: AccessScope,
    class: Option<Classification>,
) -> Result<(), String> {
    let Some(a) = approval else {
        return Err("no approval: an approval id from the case system (or `sealer approve`) is required".into());
    };
    if !a.evidence_ids.contains(id) {
        return Err(format!("approval {} does not cover evidence {id}", a.approval_id));
    }
    if a.expires_at <= Utc::now() {
        return Err(format!("approval {} expired at {}", a.approval_id, a.expires_at.to_rfc3339()));
    }
    let allowed = match a.scope {
        AccessScope::Package => true,
        AccessScope::Original => scope == AccessScope::Original,
        AccessScope::Derivatives => scope == AccessScope::Derivatives,
    };
    if !allowed {
        return Err(format!("approval {} allows {:?}, not {scope:?}", a.approval_id, a.scope));
    }
    if let Some(c) = class
        && !a.classes.contains(&c)
    {
        return Err(format!(
            "evidence {id} is classified {}; approval {} does not cover that class (an approval for it names the class: sealer approve --class {})",
            c.as_str(),
            a.approval_id,
            c.as_str()
        ));
    }
    Ok(())
}

/// Checks the approval, records the access (or the refusal) in the ledger, and returns the URLs
/// as `(key, url)`.
///
/// # Errors
/// Refused (after recording it), unknown evidence, unreachable stores.
pub async fn access(cfg: &Config, a: &AccessArgs) -> anyhow::Result<serde_json::Value> {
    let id = parse_id(&a.evidence_id)?;
    let (js, store) = crate::export::connect(cfg).await?;
    let ev = crate::export::sealed_event(&js, &id).await?;
    let approval = match &a.approval {
        Some(aid) => {
            worker_runtime::nats::last_on_subject(&js, subjects::APPROVALS_STREAM, &subjects::access_approval(aid))
                .await?
                .map(|m| decode::<AccessApprovalV1>(&m.payload))
                .transpose()
                .context("the approval does not parse")?
        }
        None => None,
    };
    let scope: AccessScope = a.scope.into();
    let class = current_class(&js, &id).await?;
    let verdict = judge(approval.as_ref(), &id, scope, class);
    let creds = Arc::new(crate::identity(&cfg.seal)?.0);
    let ledger =
        Ledger::new(js.clone(), store.clone(), cfg.s3.evidence_bucket.clone(), creds, cfg.seal.checkpoint_every);
    let wanted: Vec<&evidence_contracts::seal::PackageObjectV1> = ev
        .objects
        .iter()
        .filter(|o| match scope {
            AccessScope::Package => true,
            AccessScope::Original => {
                o.role == ObjectRole::Original || (o.role == ObjectRole::C2paSidecar && o.profile.is_none())
            }
            AccessScope::Derivatives => o.role == ObjectRole::Derivative,
        })
        .collect();
    let expires = approval
        .as_ref()
        .map(|ap| (ap.expires_at - Utc::now()).to_std().unwrap_or_default())
        .map_or(a.url_valid_for, |left| left.min(a.url_valid_for));
    let detail = serde_json::json!({
        "approval_id": a.approval,
        "approver": approval.as_ref().map(|ap| ap.approver.clone()),
        "reason": a.reason,
        "scope": scope,
        "objects": wanted.iter().map(|o| o.key.clone()).collect::<Vec<_>>(),
        "url_expires_at": (Utc::now() + chrono::Duration::from_std(expires).unwrap_or_default()).to_rfc3339(),
        "refused": verdict.as_ref().err(),
        "class": class,
    });
    let rec = crate::ledger::package_record(LedgerKind::Access, &ev, &a.actor, detail);
    let appended = ledger.append(rec, &format!("ledger:access:{id}:{}", uuid::Uuid::new_v4().simple())).await?;
    ledger.checkpoint_if_due(appended.seq).await?;
    if let Err(why) = verdict {
        tracing::warn!(evidence_id = %id, actor = %a.actor, ledger_seq = appended.seq, reason = %why, "evidence access refused");
        bail!("access refused: {why} (recorded in the custody ledger, record {})", appended.seq);
    }
    let mut urls = Vec::new();
    for o in wanted {
        let url = store.presign_get(&ev.bucket, &o.key, expires).await?;
        urls.push(serde_json::json!({ "key": o.key, "sha256": o.sha256, "url": url }));
    }
    tracing::info!(evidence_id = %id, actor = %a.actor, ledger_seq = appended.seq, objects = urls.len(), "evidence access granted");
    Ok(
        serde_json::json!({ "evidence_id": id, "ledger_seq": appended.seq, "expires_in_s": expires.as_secs(), "objects": urls }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvals_are_judged_on_id_expiry_and_scope() {
        let id = EvidenceId::derive(
            &evidence_contracts::DeviceId::new("D").unwrap(),
            &evidence_contracts::Blake3Digest([1; 32]),
        );
        let other = EvidenceId::derive(
            &evidence_contracts::DeviceId::new("D").unwrap(),
            &evidence_contracts::Blake3Digest([2; 32]),
        );
        let ok = AccessApprovalV1 {
            schema: AccessApprovalSchema,
            approval_id: "a1".into(),
            evidence_ids: vec![id],
            approver: "chief".into(),
            reason: "court request".into(),
            scope: AccessScope::Derivatives,
            issued_at: Utc::now(),
            expires_at: Utc::now() + chrono::Duration::hours(1),
            classes: vec![],
        };
        let d = AccessScope::Derivatives;
        assert!(judge(None, &id, d, None).is_err());
        assert!(judge(Some(&ok), &id, d, None).is_ok());
        assert!(judge(Some(&ok), &other, d, None).unwrap_err().contains("does not cover"));
        assert!(judge(Some(&ok), &id, AccessScope::Original, None).unwrap_err().contains("allows"));
        // Restricted classes need an approval that names them.
        let privacy = Some(Classification::Privacy);
        assert!(judge(Some(&ok), &id, d, privacy).unwrap_err().contains("classified privacy"));
        let covered = AccessApprovalV1 { classes: vec![Classification::Privacy], ..ok.clone() };
        assert!(judge(Some(&covered), &id, d, privacy).is_ok());
        assert!(judge(Some(&covered), &id, d, Some(Classification::Secret)).is_err());
        let expired = AccessApprovalV1 { expires_at: Utc::now() - chrono::Duration::seconds(1), ..ok };
        assert!(judge(Some(&expired), &id, d, None).unwrap_err().contains("expired"));
    }
}
