//! `auditor import`: matters and pauses from CSV or JSON files, for agencies whose case system
//! does not publish them. The whole file is validated first; one bad row refuses the file with
//! every problem named (file, line, field, what to do), so nothing is half-imported.
//!
//! CSV (header row, UTF-8; times RFC 3339 or `YYYY-MM-DD HH:MM:SS` in `--utc-offset`):
//! * matters: `matter_id,kind,officers,start,end[,document]`, officers separated by `;`;
//! * pauses: `pause_id,officer_id,device_id,from,to,reason,approver[,matter_id]` (officer or device).
//!
//! JSON: an array of objects with the same field names (`officers` an array or a `;` string).

use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use evidence_contracts::compliance::{MatterSchema, MatterV1, PauseSchema, PauseV1, check_record_id};
use evidence_contracts::{DeviceId, OfficerId};

type Row = std::collections::BTreeMap<String, serde_json::Value>;

/// Rows of a CSV or JSON file, each with its line (CSV) or index (JSON) for messages.
fn rows(path: &Path) -> anyhow::Result<Vec<(String, Row)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let name = path.display().to_string();
    if text.trim_start().starts_with('[') {
        let v: Vec<Row> =
            serde_json::from_str(&text).with_context(|| format!("{name}: not a JSON array of objects"))?;
        return Ok(v.into_iter().enumerate().map(|(i, r)| (format!("{name}[{i}]"), r)).collect());
    }
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = rdr.headers().with_context(|| format!("{name}: no CSV header row"))?.clone();
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{name}:{}: not valid CSV", i + 2))?;
        let row: Row = headers
            .iter()
            .zip(rec.iter())
            .filter(|(_, v)| !v.is_empty())
            .map(|(h, v)| (h.to_owned(), serde_json::Value::String(v.to_owned())))
            .collect();
        out.push((format!("{name}:{}", i + 2), row));
    }
    Ok(out)
}

fn text(row: &Row, field: &str) -> Option<String> {
    match row.get(field)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn time(s: &str, offset: FixedOffset) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .ok()
        .and_then(|n| n.and_local_timezone(offset).single())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("\"{s}\" is not a time (RFC 3339, or YYYY-MM-DD HH:MM:SS local)"))
}

/// The row's `(begin, end)` times, both valid and end after begin; else each fault reported.
fn interval(
    row: &Row,
    (begin_field, end_field): (&str, &str),
    offset: FixedOffset,
    bad: &mut impl FnMut(&str, String),
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let at = |f: &str| text(row, f).ok_or_else(|| "missing".to_owned()).and_then(|s| time(&s, offset));
    match (at(begin_field), at(end_field)) {
        (Ok(b), Ok(e)) if e <= b => bad(end_field, format!("{e} is not after {begin_field} {b}")),
        (Ok(b), Ok(e)) => return Some((b, e)),
        (b, e) => {
            if let Err(why) = b {
                bad(begin_field, why);
            }
            if let Err(why) = e {
                bad(end_field, why);
            }
        }
    }
    None
}

/// Every row, or none of them with every problem named.
fn all_or_nothing<T>(rows: Vec<T>, problems: &[String]) -> anyhow::Result<Vec<T>> {
    if !problems.is_empty() {
        bail!(
            "{} problem(s); nothing was imported. Fix the file and import it again:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(rows)
}

/// Parses and validates a matters file.
///
/// # Errors
/// Every invalid row, named.
pub fn matters(path: &Path, offset: FixedOffset, source: &str) -> anyhow::Result<Vec<MatterV1>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for (at, row) in rows(path)? {
        let mut bad = |field: &str, what: String| problems.push(format!("{at}: {field}: {what}"));
        let id = text(&row, "matter_id").unwrap_or_default();
        if let Err(e) = check_record_id("matter_id", &id) {
            bad("matter_id", e);
        } else if let Some(first) = seen.insert(id.clone(), at.clone()) {
            bad(
                "matter_id",
                format!("{id} is already on {first}: one row per matter (merge the two rows, or correct the id)"),
            );
        }
        let kind = text(&row, "kind").unwrap_or_default();
        if kind.is_empty() {
            bad("kind", "missing (the matter's kind selects its rules)".into());
        }
        let officers: Vec<String> = match row.get("officers") {
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => text(&row, "officers")
                .map(|s| s.split(';').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
                .unwrap_or_default(),
        };
        let mut ids = Vec::new();
        if officers.is_empty() {
            bad("officers", "missing: list the officers on the enforcement document, separated by ';'".into());
        }
        for o in officers {
            match OfficerId::new(&o) {
                Ok(v) => ids.push(v),
                Err(e) => bad("officers", format!("\"{o}\": {e}")),
            }
        }
        if let Some((start, end)) = interval(&row, ("start", "end"), offset, &mut bad) {
            out.push(MatterV1 {
                schema: MatterSchema,
                matter_id: id,
                kind,
                officers: ids,
                start,
                end,
                document: text(&row, "document"),
                source: source.to_owned(),
            });
        }
    }
    all_or_nothing(out, &problems)
}

/// Parses and validates a pauses file.
///
/// # Errors
/// Every invalid row, named.
pub fn pauses(path: &Path, offset: FixedOffset, source: &str) -> anyhow::Result<Vec<PauseV1>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for (at, row) in rows(path)? {
        let mut bad = |field: &str, what: String| problems.push(format!("{at}: {field}: {what}"));
        let id = text(&row, "pause_id").unwrap_or_default();
        if let Err(e) = check_record_id("pause_id", &id) {
            bad("pause_id", e);
        } else if let Some(first) = seen.insert(id.clone(), at.clone()) {
            bad(
                "pause_id",
                format!("{id} is already on {first}: one row per pause (merge the two rows, or correct the id)"),
            );
        }
        let officer = text(&row, "officer_id").map(|o| OfficerId::new(&o).map_err(|e| format!("\"{o}\": {e}")));
        let device = text(&row, "device_id").map(|d| DeviceId::new(&d).map_err(|e| format!("\"{d}\": {e}")));
        if officer.is_none() && device.is_none() {
            bad("officer_id", "a pause names the officer or the device (or both)".into());
        }
        if let Some(Err(e)) = &officer {
            bad("officer_id", e.clone());
        }
        if let Some(Err(e)) = &device {
            bad("device_id", e.clone());
        }
        let reason = text(&row, "reason").unwrap_or_default();
        if reason.is_empty() {
            bad("reason", "missing: a pause needs its registered reason".into());
        }
        let approver = text(&row, "approver").unwrap_or_default();
        if approver.is_empty() {
            bad("approver", "missing: who approved the pause".into());
        }
        if let Some((from, to)) = interval(&row, ("from", "to"), offset, &mut bad) {
            out.push(PauseV1 {
                schema: PauseSchema,
                pause_id: id,
                officer_id: officer.and_then(Result::ok),
                device_id: device.and_then(Result::ok),
                from,
                to,
                reason,
                approver,
                matter_id: text(&row, "matter_id"),
                source: source.to_owned(),
            });
        }
    }
    all_or_nothing(out, &problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).expect("offset")
    }

    #[test]
    fn csv_matters_parse_with_local_times() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("m.csv");
        std::fs::write(
            &p,
            "matter_id,kind,officers,start,end,document\nM-1,inspection,0123456;0123457,2026-11-28 09:00:00,2026-11-28T02:00:00Z,DOC 12\n",
        )
        .expect("write");
        let m = matters(&p, offset(), "import:m.csv").expect("valid");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].start.to_rfc3339(), "2026-11-28T01:00:00+00:00");
        assert_eq!(m[0].officers.len(), 2);
        assert_eq!(m[0].document.as_deref(), Some("DOC 12"));
    }

    #[test]
    fn every_bad_row_is_named_and_nothing_is_returned() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("m.csv");
        std::fs::write(
            &p,
            "matter_id,kind,officers,start,end\nM 1,inspection,A,2026-11-28T01:00:00Z,2026-11-28T02:00:00Z\nM-2,,B,2026-11-28T03:00:00Z,2026-11-28T02:00:00Z\n",
        )
        .expect("write");
        let e = format!("{:#}", matters(&p, offset(), "t").expect_err("invalid"));
        assert!(e.contains("m.csv:2: matter_id"), "{e}");
        assert!(e.contains("m.csv:3: kind"), "{e}");
        assert!(e.contains("m.csv:3: end"), "{e}");
        assert!(e.contains("nothing was imported"), "{e}");
    }

    #[test]
    fn an_id_twice_in_one_file_is_refused_naming_both_lines() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("m.csv");
        std::fs::write(
            &p,
            "matter_id,kind,officers,start,end\nM-1,inspection,A,2026-11-28T01:00:00Z,2026-11-28T02:00:00Z\nM-1,inspection,A,2026-11-28T03:00:00Z,2026-11-28T04:00:00Z\n",
        )
        .expect("write");
        let e = format!("{:#}", matters(&p, offset(), "t").expect_err("duplicate"));
        assert!(e.contains("m.csv:3: matter_id: M-1 is already on") && e.contains("m.csv:2"), "{e}");
        assert!(e.contains("nothing was imported"), "{e}");
    }

    #[test]
    fn json_pauses_need_a_reason_and_an_approver() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("p.json");
        std::fs::write(
            &p,
            r#"[{"pause_id":"P1","device_id":"CAM-1","from":"2026-11-28T01:00:00Z","to":"2026-11-28T01:05:00Z","reason":"battery","approver":"chief"},
               {"pause_id":"P2","officer_id":"A","from":"2026-11-28T01:00:00Z","to":"2026-11-28T01:05:00Z"},
               {"pause_id":"P3","device_id":"CAM-1","from":"noon","reason":"battery","approver":"chief"}]"#,
        )
        .expect("write");
        let e = format!("{:#}", pauses(&p, offset(), "t").expect_err("invalid"));
        assert!(e.contains("p.json[1]: reason") && e.contains("p.json[1]: approver"), "{e}");
        // Both ends of a bad interval are named, not only the first.
        assert!(e.contains("p.json[2]: from: \"noon\" is not a time") && e.contains("p.json[2]: to: missing"), "{e}");
    }
}
