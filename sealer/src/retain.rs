//! `sealer retain`: the case system (or an operator acting for it) binds a package to a case
//! and sets or extends how long it is kept, or puts it under legal hold or releases the hold.
//! Every object of the package gets the new S3 Object Lock retention (COMPLIANCE; extended,
//! never shortened) and legal-hold status, and a `retention` record is appended to the custody
//! ledger, also on stores without Object Lock (where the record is the only trace, and says so).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use evidence_contracts::EvidenceId;
use evidence_contracts::ledger::LedgerKind;
use object_store::Lock;

use crate::config::Config;
use crate::ledger::Ledger;

/// `sealer retain` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RetainArgs {
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Case the evidence belongs to (its class becomes `evidence`).
    #[arg(long)]
    pub case: String,
    /// Keep until this date (RFC 3339). Default: now + retention.evidence_days.
    #[arg(long)]
    pub until: Option<DateTime<Utc>>,
    /// Legal hold on or off (unchanged when not given).
    #[arg(long, value_parser = ["on", "off"])]
    pub legal_hold: Option<String>,
    /// Why (recorded in the ledger).
    #[arg(long)]
    pub reason: String,
    /// Who asks (person or system; recorded in the ledger).
    #[arg(long)]
    pub actor: String,
    pub evidence_id: String,
}

/// Applies the retention and records it; prints a one-line summary per object.
///
/// # Errors
/// Unknown evidence id, an attempt to shorten, unreachable stores.
pub async fn retain(cfg: &Config, a: &RetainArgs) -> anyhow::Result<()> {
    let id: EvidenceId =
        a.evidence_id.parse().map_err(|e| anyhow::anyhow!("{} is not an evidence id: {e}", a.evidence_id))?;
    let (js, store) = crate::export::connect(cfg).await?;
    let ev = crate::export::sealed_event(&js, &id).await?;
    let until = a.until.unwrap_or_else(|| Utc::now() + chrono::Duration::days(i64::from(cfg.retention.evidence_days)));
    let mut keys: Vec<String> = ev.objects.iter().map(|o| o.key.clone()).collect();
    keys.push(ev.seal_record.key.clone());
    keys.extend(ev.seal_signature.iter().map(|s| s.key.clone()));
    let mut applied = Vec::new();
    let mut unsupported = None;
    for key in &keys {
        let head = store.client().head_object().bucket(&ev.bucket).key(key).send().await.ok();
        let hold = match a.legal_hold.as_deref() {
            Some(v) => v == "on",
            None => head.as_ref().and_then(|h| h.object_lock_legal_hold_status()).is_some_and(|s| s.as_str() == "ON"),
        };
        match store.set_lock(&ev.bucket, key, &Lock { retain_until: until, legal_hold: hold }).await {
            Ok(()) => {
                println!("locked  {key} until {} legal_hold={}", until.to_rfc3339(), if hold { "on" } else { "off" });
                applied.push(key.clone());
            }
            Err(e @ object_store::StoreError::Retention { .. }) => return Err(e.into()),
            Err(e) => {
                println!("not locked {key}: {e}");
                unsupported = Some(e.to_string());
            }
        }
    }
    let creds = Arc::new(crate::identity(&cfg.seal)?.0);
    let ledger = Ledger::new(js, store, cfg.s3.evidence_bucket.clone(), creds, cfg.seal.checkpoint_every);
    let detail = serde_json::json!({
        "class": "evidence",
        "case_id": a.case,
        "retain_until": until,
        "legal_hold": a.legal_hold,
        "reason": a.reason,
        "object_lock": if unsupported.is_none() { "applied".to_owned() } else { format!("not supported by the store: {}", unsupported.clone().unwrap_or_default()) },
        "objects": applied.len(),
    });
    let request = blake3::hash(detail.to_string().as_bytes()).to_hex();
    let rec = crate::ledger::package_record(LedgerKind::Retention, &ev, &a.actor, detail);
    let appended = ledger.append(rec, &format!("ledger:retention:{id}:{}", &request[..16])).await?;
    ledger.checkpoint_if_due(appended.seq).await?;
    println!("ledger record {} ({})", appended.seq, if appended.fresh { "appended" } else { "already recorded" });
    if let Some(u) = unsupported {
        anyhow::bail!(
            "the evidence store does not support Object Lock ({u}); the retention is recorded in the ledger only"
        );
    }
    Ok(())
}
