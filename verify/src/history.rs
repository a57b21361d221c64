//! `sealer history <evidence id>`: an item's custody history — every ledger record about it in
//! ledger order (sealed, retention and holds, every access and refusal, classification), with
//! actor, time, reason and approval, in words for people and as JSON for programs. The same
//! lines appear in `sealer verify`'s report of an export. The ledger holds no media, so reading
//! it needs no approval.

use evidence_contracts::ledger::{LedgerKind, LedgerRecordV1};
use serde::Serialize;

/// One ledger record about the item.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub seq: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub kind: LedgerKind,
    pub actor: String,
    /// The record in words.
    pub summary: String,
    /// The record's `detail`, as stored.
    pub detail: serde_json::Value,
}

fn s<'a>(d: &'a serde_json::Value, k: &str) -> Option<&'a str> {
    d.get(k).and_then(serde_json::Value::as_str).filter(|v| !v.is_empty())
}

/// The record in words.
pub fn summary(rec: &LedgerRecordV1) -> String {
    let d = &rec.detail;
    let reason = s(d, "reason").map(|r| format!("; reason: {r}")).unwrap_or_default();
    match rec.kind {
        LedgerKind::Seal => format!("sealed (seal.json SHA-256 {})", rec.seal_record_sha256),
        LedgerKind::Retention => {
            let mut parts = Vec::new();
            if let Some(c) = s(d, "case_id") {
                parts.push(format!("bound to case {c}"));
            }
            if let Some(u) = s(d, "retain_until") {
                parts.push(match s(d, "previous_retain_until") {
                    Some(p) => format!("kept until {u} (was {p})"),
                    None => format!("kept until {u}"),
                });
            }
            match d.get("legal_hold") {
                Some(serde_json::Value::Bool(true)) => parts.push("legal hold on".into()),
                Some(serde_json::Value::Bool(false)) => parts.push("legal hold released".into()),
                Some(serde_json::Value::String(v)) => parts.push(format!("legal hold {v}")),
                _ => {}
            }
            if let Some(l) = s(d, "object_lock")
                && l != "applied"
            {
                parts.push(format!("store: {l}"));
            }
            format!("retention: {}{reason}", if parts.is_empty() { "unchanged".into() } else { parts.join(", ") })
        }
        LedgerKind::Access => {
            let purpose = s(d, "purpose").unwrap_or("access");
            let scope = s(d, "scope").unwrap_or("?");
            let approval = match (s(d, "approval_id"), s(d, "approver")) {
                (Some(a), Some(by)) => format!("approval {a} by {by}"),
                (Some(a), None) => format!("approval {a} (not found)"),
                _ => "no approval".into(),
            };
            match s(d, "refused") {
                Some(why) => format!("{purpose} REFUSED ({scope}; {approval}): {why}{reason}"),
                None => {
                    let n = d.get("objects").and_then(serde_json::Value::as_array).map_or(0, Vec::len);
                    format!("{purpose} granted: {scope}, {n} object(s), {approval}{reason}")
                }
            }
        }
        LedgerKind::Classification => {
            let class = s(d, "class").unwrap_or("none (released)");
            match s(d, "previous_class") {
                Some(p) => format!("classified {class} (was {p}){reason}"),
                None => format!("classified {class}{reason}"),
            }
        }
    }
}

/// Lines from stored ledger messages (sequence, payload); records that do not parse are named.
pub fn lines<'a>(records: impl IntoIterator<Item = (u64, &'a [u8])>) -> Vec<Line> {
    records
        .into_iter()
        .map(|(seq, payload)| match serde_json::from_slice::<LedgerRecordV1>(payload) {
            Ok(rec) => Line {
                seq,
                at: rec.at,
                kind: rec.kind,
                actor: rec.actor.clone(),
                summary: summary(&rec),
                detail: rec.detail.clone(),
            },
            Err(e) => Line {
                seq,
                at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                kind: LedgerKind::Seal,
                actor: String::new(),
                summary: format!("record does not parse: {e}"),
                detail: serde_json::Value::Null,
            },
        })
        .collect()
}

impl Line {
    /// One line of text: sequence, time, kind, actor, the record in words.
    pub fn text(&self) -> String {
        format!(
            "#{:<6} {}  {:<14} {:<20} {}",
            self.seq,
            self.at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.kind.as_str(),
            self.actor,
            self.summary
        )
    }
}

/// The history as text, one line per record.
pub fn text(id: &str, lines: &[Line]) -> String {
    let mut out = format!("custody history of evidence {id} ({} ledger records)\n", lines.len());
    for l in lines {
        out.push_str(&l.text());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use evidence_contracts::ledger::{GENESIS, LedgerRecordSchema};
    use evidence_contracts::{Blake3Digest, DeviceId, EvidenceId, Sha256Digest};

    fn rec(kind: LedgerKind, detail: serde_json::Value) -> LedgerRecordV1 {
        LedgerRecordV1 {
            schema: LedgerRecordSchema,
            kind,
            evidence_id: EvidenceId::derive(&DeviceId::new("D").unwrap(), &Blake3Digest([1; 32])),
            at: chrono::Utc::now(),
            prev_sha256: GENESIS.into(),
            seal_record_key: "k".into(),
            seal_record_sha256: Sha256Digest([3; 32]),
            seal_record_blake3: Blake3Digest([2; 32]),
            actor: "clerk-7".into(),
            detail,
            prev_item: None,
        }
    }

    #[test]
    fn every_kind_reads_in_words() {
        let refused = rec(
            LedgerKind::Access,
            serde_json::json!({"purpose":"export","scope":"package","approval_id":"a1x","refused":"no approval with id a1x exists","reason":"court"}),
        );
        let t = summary(&refused);
        assert!(t.contains("export REFUSED") && t.contains("a1x (not found)") && t.contains("reason: court"), "{t}");
        let granted = rec(
            LedgerKind::Access,
            serde_json::json!({"purpose":"access","scope":"derivatives","approval_id":"a1","approver":"chief","objects":["x"]}),
        );
        assert_eq!(summary(&granted), "access granted: derivatives, 1 object(s), approval a1 by chief");
        let hold = rec(LedgerKind::Retention, serde_json::json!({"legal_hold": true, "reason": "litigation"}));
        assert_eq!(summary(&hold), "retention: legal hold on; reason: litigation");
        let class = rec(LedgerKind::Classification, serde_json::json!({"class": null, "previous_class": "privacy"}));
        assert_eq!(summary(&class), "classified none (released) (was privacy)");
    }
}
