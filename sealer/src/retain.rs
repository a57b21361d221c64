//! `sealer retain`: the case system (or an operator acting for it) binds a package to a case
//! and sets or extends how long it is kept, and/or puts it under legal hold or releases it.
//!
//! * **Retention only ever grows, in our own records whatever the store does.** The current
//!   retention is the latest of the sealed one (`seal.json` → `retention.retain_until`), every
//!   `retention` ledger record's `retain_until`, and what the store reports per object. A date
//!   before it is refused (exit 1) before anything is changed or recorded.
//! * **A legal hold is a hold**: S3 legal hold on every object, no retention date. `--legal-hold`
//!   alone changes the hold only and needs no `--case`.
//! * On a store without Object Lock the change is still recorded (the ledger is then the only
//!   trace) and the command warns, naming the store's state; exit 0.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};
use evidence_contracts::EvidenceId;
use evidence_contracts::ledger::{LedgerKind, LedgerRecordV1};
use evidence_contracts::seal::SealRecordV1;
use evidence_contracts::subjects;
use worker_runtime::cli::{Endpoints, non_empty};

use crate::config::Config;
use crate::ledger::Ledger;

/// `sealer retain` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RetainArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
    /// The case the evidence belongs to (its retention class becomes `evidence`). Needed to set
    /// a date, unless an earlier record already bound it to a case; not needed to change a hold.
    #[arg(long, value_parser = non_empty)]
    pub case: Option<String>,
    /// Keep until this date: YYYY-MM-DD (the end of that day in `retention.utc_offset`) or RFC
    /// 3339 (2036-12-31T23:59:59+08:00). Default with --case: now + retention.evidence_days.
    /// Never earlier than the current retention.
    #[arg(long)]
    pub until: Option<String>,
    /// Put every object under S3 legal hold (`on`) or release it (`off`). A hold carries no
    /// date and is not a retention.
    #[arg(long, value_parser = ["on", "off"])]
    pub legal_hold: Option<String>,
    /// Why (recorded in the ledger).
    #[arg(long, value_parser = non_empty)]
    pub reason: String,
    /// Who asks (person or system; recorded in the ledger).
    #[arg(long, value_parser = non_empty)]
    pub actor: String,
    /// The evidence id.
    pub evidence_id: String,
}

/// Parses `--until`: a date (end of that day at `offset`) or an RFC 3339 time.
///
/// # Errors
/// Neither form.
pub fn parse_until(s: &str, offset: FixedOffset) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let end = d.and_hms_opt(23, 59, 59).context("end of day")?;
        return end
            .and_local_timezone(offset)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .with_context(|| format!("--until {s}: not a time at {offset}"));
    }
    if NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok()
        || NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").is_ok()
    {
        bail!("--until {s}: give a date (2036-12-31) or a time with its offset (2036-12-31T23:59:59+08:00)");
    }
    bail!("--until {s} is not a date: write YYYY-MM-DD (2036-12-31) or RFC 3339 (2036-12-31T23:59:59+08:00)")
}

fn secs(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What the ledger and the seal record say about the item's retention so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    /// Latest retain-until recorded anywhere, and where.
    pub until: Option<(DateTime<Utc>, String)>,
    pub case: Option<String>,
}

/// The current retention from the seal record and the item's retention ledger records.
pub fn current(seal: Option<&SealRecordV1>, records: &[(u64, LedgerRecordV1)]) -> Current {
    let mut c = Current::default();
    if let Some(r) = seal.and_then(|s| s.retention.as_ref()) {
        c.until = Some((r.retain_until, "the seal record".into()));
    }
    for (seq, rec) in records {
        if let Some(u) =
            rec.detail.get("retain_until").and_then(|v| serde_json::from_value::<DateTime<Utc>>(v.clone()).ok())
            && c.until.as_ref().is_none_or(|(have, _)| u > *have)
        {
            c.until = Some((u, format!("ledger record {seq}")));
        }
        if let Some(case) = rec.detail.get("case_id").and_then(|v| v.as_str()) {
            c.case = Some(case.to_owned());
        }
    }
    c
}

/// Decides the new retain-until date, or refuses.
///
/// # Errors
/// The date is earlier than the current retention.
pub fn decide(
    asked: Option<DateTime<Utc>>,
    default: DateTime<Utc>,
    current: &Current,
) -> anyhow::Result<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let prev = current.until.as_ref().map(|(u, _)| *u);
    match (asked, &current.until) {
        (Some(a), Some((have, from))) if a < *have => bail!(
            "refused: retention only ever grows (extended, never shortened). The evidence is kept until {} ({from}); --until {} is earlier. Give a date on or after {}. Nothing was changed or recorded.",
            secs(*have),
            secs(a),
            have.date_naive()
        ),
        (Some(a), _) => Ok((a, prev)),
        // The default never shortens either: the later of the two.
        (None, Some((have, _))) => Ok((default.max(*have), prev)),
        (None, None) => Ok((default, prev)),
    }
}

/// Applies the retention and/or hold and records it; prints a line per object.
///
/// # Errors
/// Nothing asked, an attempt to shorten, unknown evidence id, unreachable stores.
pub async fn retain(cfg: &Config, a: &RetainArgs) -> anyhow::Result<()> {
    let id: EvidenceId = crate::access::parse_id(&a.evidence_id)?;
    let offset = work_calendar::parse_offset(&cfg.retention.utc_offset).context("retention.utc_offset")?;
    let asked = a.until.as_deref().map(|u| parse_until(u, offset)).transpose()?;
    let hold = a.legal_hold.as_deref().map(|v| v == "on");
    let dated = asked.is_some() || a.case.is_some();
    if !dated && hold.is_none() {
        bail!("nothing to do: give --case (and --until) to set retention, and/or --legal-hold on|off");
    }
    let (js, store) = crate::export::connect(cfg).await?;
    let ev = crate::export::sealed_event(&js, &id).await?;
    let seal: Option<SealRecordV1> = store
        .get_bytes(&ev.bucket, &ev.seal_record.key, 8 << 20)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let records: Vec<(u64, LedgerRecordV1)> =
        worker_runtime::nats::read_all(&js, subjects::LEDGER_STREAM, &subjects::ledger(LedgerKind::Retention, &id))
            .await?
            .into_iter()
            .filter_map(|m| serde_json::from_slice(&m.payload).ok().map(|r| (m.seq, r)))
            .collect();
    let cur = current(seal.as_ref(), &records);
    let case = a.case.clone().or_else(|| cur.case.clone());
    if dated && case.is_none() {
        bail!("--until needs the case the evidence is kept for: give --case CASE-ID");
    }
    let default = Utc::now() + chrono::Duration::days(i64::from(cfg.retention.evidence_days));
    let mut keys: Vec<String> = ev.objects.iter().map(|o| o.key.clone()).collect();
    keys.push(ev.seal_record.key.clone());
    keys.extend(ev.seal_signature.iter().map(|s| s.key.clone()));

    // What the store holds now: it may be longer than our records (refuse), or not enforced.
    let mut store_until: Option<(DateTime<Utc>, String)> = None;
    for key in &keys {
        if let Ok((Some(u), _)) = store.lock_state(&ev.bucket, key).await
            && store_until.as_ref().is_none_or(|(have, _)| u > *have)
        {
            store_until = Some((u, format!("the store, object {key}")));
        }
    }
    let mut cur_all = cur.clone();
    if let Some(s) = store_until
        && cur_all.until.as_ref().is_none_or(|(have, _)| s.0 > *have)
    {
        cur_all.until = Some(s);
    }
    let until = if dated { Some(decide(asked, default, &cur_all)?) } else { None };

    let mut not_enforced: Option<String> = None;
    let mut applied = 0usize;
    for key in &keys {
        let mut done = Vec::new();
        if let Some((u, _)) = until {
            match store.extend_retention(&ev.bucket, key, u).await {
                Ok(()) => done.push(format!("kept until {}", secs(u))),
                Err(e @ object_store::StoreError::Retention { .. }) => return Err(e.into()),
                Err(e @ object_store::StoreError::Unreachable { .. }) => return Err(e.into()),
                Err(e) => not_enforced = Some(e.to_string()),
            }
        }
        if let Some(h) = hold {
            match store.set_legal_hold(&ev.bucket, key, h).await {
                Ok(()) => done.push(format!("legal hold {}", if h { "on" } else { "off" })),
                Err(e @ object_store::StoreError::Unreachable { .. }) => return Err(e.into()),
                Err(e) => not_enforced = Some(e.to_string()),
            }
        }
        if done.is_empty() {
            println!("not locked {key}");
        } else {
            applied += 1;
            println!("locked     {key}: {}", done.join(", "));
        }
    }
    // A store that accepted the calls but reports no lock does not enforce it either.
    if not_enforced.is_none() && until.is_some() {
        let (u, _) = store.lock_state(&ev.bucket, &ev.seal_record.key).await.unwrap_or_default();
        if u.is_none() {
            not_enforced = Some(format!("bucket {} reports no Object Lock retention after it was set", ev.bucket));
        }
    }
    let mut detail = serde_json::json!({
        "reason": a.reason,
        "object_lock": match &not_enforced { None => "applied".to_owned(), Some(e) => format!("not enforced by the store: {e}") },
        "objects": applied,
    });
    if let Some((u, prev)) = until {
        detail["class"] = "evidence".into();
        detail["case_id"] = case.clone().into();
        detail["retain_until"] = serde_json::to_value(u)?;
        detail["previous_retain_until"] = serde_json::to_value(prev)?;
    }
    if let Some(h) = hold {
        detail["legal_hold"] = h.into();
        if let Some(c) = &a.case {
            detail["case_id"] = c.clone().into();
        }
    }
    let creds = Arc::new(crate::identity(&cfg.seal)?.0);
    let ledger = Ledger::new(js, store, cfg.s3.evidence_bucket.clone(), creds, cfg.seal.checkpoint_every);
    let request = blake3::hash(detail.to_string().as_bytes()).to_hex();
    let rec = crate::ledger::package_record(LedgerKind::Retention, &ev, &a.actor, detail);
    let appended = ledger.append(rec, &format!("ledger:retention:{id}:{}", &request[..16])).await?;
    ledger.checkpoint_if_due(appended.seq).await?;
    println!("ledger record {} ({})", appended.seq, if appended.fresh { "appended" } else { "already recorded" });
    if let Some(e) = not_enforced {
        eprintln!(
            "warning: recorded in the custody ledger, but the evidence store does not enforce Object Lock ({e}); until the bucket has Object Lock, the ledger is the only record of this retention/hold"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn until_takes_a_date_at_the_end_of_the_local_day_or_rfc3339() {
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        assert_eq!(parse_until("2036-12-31", cst).unwrap(), t("2036-12-31T15:59:59Z"));
        assert_eq!(parse_until("2036-12-31T23:59:59+08:00", cst).unwrap(), t("2036-12-31T15:59:59Z"));
        let e = parse_until("31/12/2036", cst).unwrap_err().to_string();
        assert!(e.contains("YYYY-MM-DD"), "{e}");
        let e = parse_until("2036-12-31 10:00:00", cst).unwrap_err().to_string();
        assert!(e.contains("offset"), "{e}");
    }

    #[test]
    fn retention_only_grows_against_the_seal_record_and_every_ledger_record() {
        let rec = |until: &str| LedgerRecordV1 {
            schema: evidence_contracts::ledger::LedgerRecordSchema,
            kind: LedgerKind::Retention,
            evidence_id: EvidenceId::derive(
                &evidence_contracts::DeviceId::new("D").unwrap(),
                &evidence_contracts::Blake3Digest([1; 32]),
            ),
            at: Utc::now(),
            prev_sha256: evidence_contracts::ledger::GENESIS.into(),
            seal_record_key: "k".into(),
            seal_record_sha256: evidence_contracts::Sha256Digest([0; 32]),
            seal_record_blake3: evidence_contracts::Blake3Digest([0; 32]),
            actor: "a".into(),
            detail: serde_json::json!({ "retain_until": until, "case_id": "C-1" }),
            prev_item: None,
        };
        // 19: 2028-12-30, 20: 2028-06-29 (the defect: a later record shorter than an earlier one).
        let recs = vec![(19, rec("2028-12-30T00:00:00Z")), (20, rec("2028-06-29T00:00:00Z"))];
        let cur = current(None, &recs);
        assert_eq!(cur.until, Some((t("2028-12-30T00:00:00Z"), "ledger record 19".into())));
        assert_eq!(cur.case.as_deref(), Some("C-1"));
        let e = decide(Some(t("2028-06-29T00:00:00Z")), t("2036-01-01T00:00:00Z"), &cur).unwrap_err().to_string();
        assert!(e.contains("only ever grows") && e.contains("ledger record 19") && e.contains("2028-12-30"), "{e}");
        assert_eq!(
            decide(Some(t("2029-01-01T00:00:00Z")), t("2036-01-01T00:00:00Z"), &cur).unwrap().0,
            t("2029-01-01T00:00:00Z")
        );
        // The same date again is no shortening.
        assert!(decide(Some(t("2028-12-30T00:00:00Z")), t("2036-01-01T00:00:00Z"), &cur).is_ok());
        // A default shorter than what is recorded keeps what is recorded.
        assert_eq!(decide(None, t("2027-01-01T00:00:00Z"), &cur).unwrap().0, t("2028-12-30T00:00:00Z"));
        // No records: the sealed retention counts.
        let none = Current { until: Some((t("2027-06-01T00:00:00Z"), "the seal record".into())), case: None };
        assert!(
            decide(Some(t("2027-05-01T00:00:00Z")), t("2036-01-01T00:00:00Z"), &none)
                .unwrap_err()
                .to_string()
                .contains("the seal record")
        );
    }
}
