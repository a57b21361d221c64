//! `sealer approve`, `sealer access` and `sealer classify`: approvals, retrieval under an
//! approval through the one gate (`crate::gate`), and restricted classes; every retrieval, every
//! refusal and every classification is in the custody ledger (contract:
//! `evidence_contracts::access`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use evidence_contracts::access::{AccessApprovalSchema, AccessApprovalV1, AccessScope, Classification};
use evidence_contracts::ledger::LedgerKind;
use evidence_contracts::{EvidenceId, subjects};
use worker_runtime::cli::{Endpoints, non_empty};

use crate::config::Config;
use crate::gate::{self, Purpose};
use crate::ledger::Ledger;

/// Shortest and longest approval validity `sealer approve` accepts.
pub const VALID_FOR: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(366 * 86_400));

fn valid_for(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 30m, 8h, 7d)"))?;
    if d < VALID_FOR.0 || d > VALID_FOR.1 {
        return Err(format!("{s} is outside 1m..366d: an approval holds at least a minute and at most a year"));
    }
    Ok(d)
}

fn url_valid_for(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 15m, 1h)"))?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(7 * 86_400) {
        return Err(format!("{s} is outside 1s..7d (S3 presigned URLs last at most 7 days)"));
    }
    Ok(d)
}

/// `sealer approve` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ApproveArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// Who approves (a person or the case system; recorded in the approval).
    #[arg(long, value_parser = non_empty)]
    pub approver: String,
    /// Why (e.g. the court's request number; recorded in the approval).
    #[arg(long, value_parser = non_empty)]
    pub reason: String,
    /// What may be read: the access copies, the original (+ its C2PA sidecar), or the whole
    /// package (needed for `sealer export` and `sealer verify --approval`).
    #[arg(long, value_enum, default_value = "derivatives")]
    pub scope: Scope,
    /// Restricted class the approval covers (secret, privacy; repeat for both). Evidence in a
    /// class is refused under an approval that does not name it.
    #[arg(long = "class", value_enum)]
    pub classes: Vec<Class>,
    /// How long the approval holds, 1m..366d (e.g. 8h, 7d).
    #[arg(long, default_value = "24h", value_parser = valid_for)]
    pub valid_for: Duration,
    /// The evidence ids the approval covers (each must be sealed).
    #[arg(required = true)]
    pub evidence_ids: Vec<String>,
}

/// `sealer access` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct AccessArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// The approval id (from the case system or `sealer approve`).
    #[arg(long)]
    pub approval: Option<String>,
    /// Why (recorded in the ledger).
    #[arg(long, value_parser = non_empty)]
    pub reason: String,
    /// Who retrieves (recorded in the ledger).
    #[arg(long, value_parser = non_empty)]
    pub actor: String,
    /// What to retrieve: the access copies, the original (+ its C2PA sidecar), or the whole
    /// package; the approval must cover it.
    #[arg(long, value_enum, default_value = "derivatives")]
    pub scope: Scope,
    /// Lifetime of the URLs, 1s..7d (capped by the approval's expiry).
    #[arg(long, default_value = "15m", value_parser = url_valid_for)]
    pub url_valid_for: Duration,
    /// The evidence id (from the sealed event, or `sealer history`).
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
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// The restricted class (secret: state or work secrets; privacy: minors, victims,
    /// medical, …), or `none` to release the evidence from its class.
    #[arg(long, value_parser = ["secret", "privacy", "none"])]
    pub class: String,
    /// Why (recorded in the ledger).
    #[arg(long, value_parser = non_empty)]
    pub reason: String,
    /// Who classifies (recorded in the ledger).
    #[arg(long, value_parser = non_empty)]
    pub actor: String,
    /// The evidence id.
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
pub async fn classify(cfg: &Config, a: &ClassifyArgs) -> anyhow::Result<Option<u64>> {
    let id = parse_id(&a.evidence_id)?;
    let (js, store) = crate::export::connect(cfg).await?;
    let ev = crate::export::sealed_event(&js, &id).await?;
    let class: Option<Classification> = match a.class.as_str() {
        "secret" => Some(Classification::Secret),
        "privacy" => Some(Classification::Privacy),
        _ => None,
    };
    let current = current_class(&js, &id).await?;
    if current == class {
        eprintln!(
            "evidence {id} is already {}; nothing recorded",
            class.map_or("in no restricted class".to_owned(), |c| format!("classified {}", c.as_str()))
        );
        return Ok(None);
    }
    let creds = Arc::new(crate::identity(&cfg.seal)?.0);
    let ledger =
        Ledger::new(js.clone(), store.clone(), cfg.s3.evidence_bucket.clone(), creds, cfg.seal.checkpoint_every);
    let detail = serde_json::json!({ "class": class, "previous_class": current, "reason": a.reason });
    let rec = crate::ledger::package_record(LedgerKind::Classification, &ev, &a.actor, detail);
    let appended = ledger.append(rec, &format!("ledger:classification:{id}:{}", uuid::Uuid::new_v4().simple())).await?;
    ledger.checkpoint_if_due(appended.seq).await?;
    tracing::info!(evidence_id = %id, class = class.map_or("none", Classification::as_str), actor = %a.actor, ledger_seq = appended.seq, "evidence classified");
    Ok(Some(appended.seq))
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

/// Parses an evidence id given on the command line, saying where to find the right one.
///
/// # Errors
/// Not an evidence id.
pub fn parse_id(s: &str) -> anyhow::Result<EvidenceId> {
    s.parse().map_err(|e| {
        anyhow::anyhow!("\"{s}\" is not an evidence id ({e}): copy it from the sealed event or `sealer history`")
    })
}

/// Publishes an approval; prints its id.
///
/// # Errors
/// Bad or unsealed evidence ids, NATS unreachable.
pub async fn approve(cfg: &Config, a: &ApproveArgs) -> anyhow::Result<String> {
    let mut ids = a.evidence_ids.iter().map(|s| parse_id(s)).collect::<anyhow::Result<Vec<_>>>()?;
    ids.sort();
    ids.dedup();
    let (js, _) = crate::export::connect(cfg).await?;
    for id in &ids {
        crate::export::sealed_event(&js, id)
            .await
            .with_context(|| format!("cannot approve access to evidence {id}"))?;
    }
    let now = Utc::now();
    let approval = AccessApprovalV1 {
        schema: AccessApprovalSchema,
        approval_id: uuid::Uuid::new_v4().simple().to_string(),
        evidence_ids: ids,
        approver: a.approver.clone(),
        reason: a.reason.clone(),
        scope: a.scope.into(),
        issued_at: now,
        expires_at: now + chrono::Duration::from_std(a.valid_for).context("--valid-for")?,
        classes: a.classes.iter().map(|c| (*c).into()).collect(),
    };
    worker_runtime::nats::publish(&js, &approval).await?;
    tracing::info!(approval_id = %approval.approval_id, approver = %approval.approver, "access approved");
    Ok(approval.approval_id)
}

/// Checks the approval through the gate (which records the access, or the refusal), and
/// returns short-lived URLs as JSON.
///
/// # Errors
/// Refused (after recording it), unknown evidence, unreachable stores.
pub async fn access(cfg: &Config, a: &AccessArgs) -> anyhow::Result<serde_json::Value> {
    let id = parse_id(&a.evidence_id)?;
    let req = gate::Request {
        approval: a.approval.clone(),
        actor: a.actor.clone(),
        reason: a.reason.clone(),
        scope: a.scope.into(),
        purpose: Purpose::Access,
    };
    let wanted = Utc::now() + chrono::Duration::from_std(a.url_valid_for).context("--url-valid-for")?;
    let opened = gate::open(cfg, &id, &req, Some(wanted)).await?;
    let left = (opened.approval.expires_at - Utc::now()).to_std().unwrap_or_default();
    let expires = left.min(a.url_valid_for);
    let mut urls = Vec::new();
    for o in &opened.objects {
        let url = opened.store.presign_get(&opened.ev.bucket, &o.key, expires).await?;
        urls.push(serde_json::json!({ "key": o.key, "sha256": o.sha256, "url": url }));
    }
    Ok(serde_json::json!({
        "evidence_id": id,
        "ledger_seq": opened.seq,
        "approval_id": opened.approval.approval_id,
        "expires_in_s": expires.as_secs(),
        "objects": urls,
    }))
}
