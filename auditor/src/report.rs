//! The audit (稽查) report: a reproducible sample of the matters of a period, each judged on the
//! six things a supervisor checks, with totals and the weakest stations and matter kinds first.
//! Written as JSON (`evidence.audit.report.v1`), Markdown and HTML (with an SVG chart).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, Utc};
use evidence_contracts::compliance::MatterCheckV1;
use serde::{Deserialize, Serialize};

use crate::checks::{Access, Facts};

/// The six criteria, in report order: (key, column title).
pub const CRITERIA: [(&str, &str); 6] = [
    ("recordings_present", "Recordings present"),
    ("uploaded_on_time", "Uploaded on time"),
    ("window_consistent", "Start/end match the document"),
    ("two_officers", "Officers recording"),
    ("pauses_registered", "Every gap has a registered pause"),
    ("accesses_approved", "Every access approved"),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub matter_id: String,
    pub kind: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub stations: Vec<String>,
    pub recordings: usize,
    /// Criterion key → passed.
    pub results: BTreeMap<String, bool>,
    /// What failed, in words.
    pub notes: Vec<String>,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupLine {
    pub name: String,
    pub sampled: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    pub schema: String,
    pub period_from: DateTime<Utc>,
    pub period_to: DateTime<Utc>,
    pub seed: u64,
    /// Matters whose document window starts in the period.
    pub population: usize,
    pub sampled: usize,
    pub passed: usize,
    /// Criterion key → number of sampled matters failing it.
    pub failures: BTreeMap<String, usize>,
    /// Weakest first (most failures, then largest failure share).
    pub by_station: Vec<GroupLine>,
    pub by_kind: Vec<GroupLine>,
    pub rows: Vec<AuditRow>,
    pub generated_at: DateTime<Utc>,
    /// The agency's UTC offset; the Markdown and HTML show times in it.
    pub utc_offset: String,
}

/// How many to sample.
#[derive(Debug, Clone, Copy)]
pub enum Sample {
    Count(usize),
    Fraction(f64),
}

/// A reproducible sample: matters ordered by BLAKE3(seed ‖ matter id), the first n taken.
pub fn sample(checks: &[MatterCheckV1], seed: u64, n: Sample) -> Vec<&MatterCheckV1> {
    let mut v: Vec<(&MatterCheckV1, [u8; 32])> = checks
        .iter()
        .map(|c| {
            let mut h = blake3::Hasher::new();
            h.update(&seed.to_le_bytes());
            h.update(c.matter_id.as_bytes());
            (c, *h.finalize().as_bytes())
        })
        .collect();
    v.sort_by_key(|e| e.1);
    let take = match n {
        Sample::Count(k) => k,
        Sample::Fraction(f) => ((checks.len() as f64) * f.clamp(0.0, 1.0)).ceil() as usize,
    };
    let mut out: Vec<&MatterCheckV1> = v.into_iter().take(take).map(|(c, _)| c).collect();
    out.sort_by(|a, b| a.window_start.cmp(&b.window_start).then(a.matter_id.cmp(&b.matter_id)));
    out
}

fn row(c: &MatterCheckV1, facts: &Facts, tz: FixedOffset) -> AuditRow {
    let lt = |t: DateTime<Utc>| t.with_timezone(&tz).format("%H:%M:%S").to_string();
    let accesses: Vec<&Access> = facts.accesses.iter().filter(|a| c.recordings.contains(&a.evidence_id)).collect();
    let refused: Vec<&&Access> = accesses.iter().filter(|a| a.refused.is_some() || a.approval_id.is_none()).collect();
    let mut notes = Vec::new();
    let present = !c.recordings.is_empty() && c.officers_without_recording.is_empty();
    if c.recordings.is_empty() {
        notes.push("no recording of this matter".to_owned());
    } else if !c.officers_without_recording.is_empty() {
        notes.push(format!("no recording from {}", c.officers_without_recording.join(", ")));
    }
    let on_time = !c.recordings.is_empty() && c.late_uploads.is_empty();
    if !c.late_uploads.is_empty() {
        notes.push(format!("{} recording(s) uploaded after the deadline", c.late_uploads.len()));
    }
    let window = c.start_covered && c.end_covered;
    if !c.start_covered {
        notes.push(match c.start_offset_s {
            Some(s) => format!("recording starts {s:.0} s after the document's start"),
            None => "the document's start is not recorded".into(),
        });
    }
    if !c.end_covered {
        notes.push(match c.end_offset_s {
            Some(s) => format!("recording ends {s:.0} s before the document's end"),
            None => "the document's end is not recorded".into(),
        });
    }
    if !c.enough_officers {
        notes.push(format!("{} of {} required officers recorded", c.officers_recording.len(), c.min_officers));
    }
    for g in &c.unexplained_gaps {
        notes.push(format!(
            "{}: {:.0} s unrecorded {} – {} with no registered pause",
            g.officer_id,
            g.seconds,
            lt(g.from),
            lt(g.to)
        ));
    }
    for a in &refused {
        notes.push(format!(
            "access by {} at {} without approval{}",
            a.actor,
            a.at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S"),
            a.refused.as_deref().map(|r| format!(" (refused: {r})")).unwrap_or_default()
        ));
    }
    let results: BTreeMap<String, bool> = [
        ("recordings_present", present),
        ("uploaded_on_time", on_time),
        ("window_consistent", window),
        ("two_officers", c.enough_officers),
        ("pauses_registered", c.unexplained_gaps.is_empty()),
        ("accesses_approved", refused.is_empty()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    AuditRow {
        matter_id: c.matter_id.clone(),
        kind: c.kind.clone(),
        window_start: c.window_start,
        window_end: c.window_end,
        stations: c.stations.iter().map(ToString::to_string).collect(),
        recordings: c.recordings.len(),
        passed: results.values().all(|v| *v),
        results,
        notes,
    }
}

fn groups(rows: &[AuditRow], key: impl Fn(&AuditRow) -> Vec<String>) -> Vec<GroupLine> {
    let mut m: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in rows {
        let mut names = key(r);
        if names.is_empty() {
            names.push("(no recording)".into());
        }
        for n in names {
            let e = m.entry(n).or_default();
            e.0 += 1;
            e.1 += usize::from(!r.passed);
        }
    }
    let mut v: Vec<GroupLine> =
        m.into_iter().map(|(name, (sampled, failed))| GroupLine { name, sampled, failed }).collect();
    v.sort_by(|a, b| {
        b.failed
            .cmp(&a.failed)
            .then((b.failed as f64 / b.sampled as f64).total_cmp(&(a.failed as f64 / a.sampled as f64)))
            .then(a.name.cmp(&b.name))
    });
    v
}

/// Builds the report for matters whose window starts in `[from, to)`.
#[allow(clippy::too_many_arguments)]
pub fn build(
    checks: &[MatterCheckV1],
    facts: &Facts,
    tz: FixedOffset,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    n: Sample,
    seed: u64,
    now: DateTime<Utc>,
) -> AuditReport {
    let in_period: Vec<MatterCheckV1> =
        checks.iter().filter(|c| c.window_start >= from && c.window_start < to).cloned().collect();
    let picked = sample(&in_period, seed, n);
    let rows: Vec<AuditRow> = picked.iter().map(|c| row(c, facts, tz)).collect();
    let failures = CRITERIA
        .iter()
        .map(|(k, _)| ((*k).to_owned(), rows.iter().filter(|r| !r.results.get(*k).copied().unwrap_or(false)).count()))
        .collect();
    AuditReport {
        schema: "evidence.audit.report.v1".into(),
        period_from: from,
        period_to: to,
        seed,
        population: in_period.len(),
        sampled: rows.len(),
        passed: rows.iter().filter(|r| r.passed).count(),
        failures,
        by_station: groups(&rows, |r| r.stations.clone()),
        by_kind: groups(&rows, |r| vec![r.kind.clone()]),
        rows,
        generated_at: now,
        utc_offset: tz.to_string(),
    }
}

fn tz_of(r: &AuditReport) -> FixedOffset {
    chrono::DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{}", r.utc_offset))
        .map_or_else(|_| FixedOffset::east_opt(0).expect("zero offset"), |t| *t.offset())
}

fn window(r: &AuditReport, row: &AuditRow) -> String {
    let tz = tz_of(r);
    format!(
        "{} – {}",
        row.window_start.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S"),
        row.window_end.with_timezone(&tz).format("%H:%M:%S")
    )
}

fn mark(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

/// The report in Markdown.
pub fn markdown(r: &AuditReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Audit of whole-process recording — {} to {}\n",
        r.period_from.date_naive(),
        r.period_to.date_naive()
    );
    let _ = writeln!(
        s,
        "Sample: **{} of {}** matters (seed {}; the same seed and data give the same sample). **{} passed, {} failed.** Generated {}. Times are UTC{}.\n",
        r.sampled,
        r.population,
        r.seed,
        r.passed,
        r.sampled - r.passed,
        r.generated_at.format("%Y-%m-%d %H:%M UTC"),
        r.utc_offset
    );
    let _ = writeln!(s, "## Where it fails\n\n| Check | Failed | of |\n|---|---:|---:|");
    for (k, title) in CRITERIA {
        let _ = writeln!(s, "| {title} | {} | {} |", r.failures.get(k).copied().unwrap_or(0), r.sampled);
    }
    for (title, g) in [("Weakest stations", &r.by_station), ("Weakest matter kinds", &r.by_kind)] {
        let _ = writeln!(s, "\n## {title}\n\n| | Failed | Sampled |\n|---|---:|---:|");
        for l in g.iter().take(10) {
            let _ = writeln!(s, "| {} | {} | {} |", l.name, l.failed, l.sampled);
        }
    }
    let _ = writeln!(s, "\n## Matters\n");
    let _ = write!(s, "| Matter | Kind | Window |");
    for (_, t) in CRITERIA {
        let _ = write!(s, " {t} |");
    }
    let _ = writeln!(s, " Findings |\n|---|---|---|{}---|", "---|".repeat(CRITERIA.len()));
    for row in &r.rows {
        let _ = write!(s, "| {} | {} | {} |", row.matter_id, row.kind, window(r, row));
        for (k, _) in CRITERIA {
            let _ = write!(s, " {} |", mark(row.results.get(k).copied().unwrap_or(false)));
        }
        let _ = writeln!(s, " {} |", row.notes.join("; ").replace('|', "/"));
    }
    s
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A horizontal bar chart: one bar per (label, value, of).
fn svg_bars(title: &str, bars: &[(String, usize, usize)]) -> String {
    let row_h = 26;
    let label_w = 260;
    let bar_w = 360;
    let h = 30 + row_h * bars.len();
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{h}\" role=\"img\" aria-label=\"{}\">\
         <text x=\"0\" y=\"18\" font-weight=\"bold\">{}</text>",
        label_w + bar_w + 80,
        esc(title),
        esc(title)
    );
    for (i, (label, v, of)) in bars.iter().enumerate() {
        let y = 30 + i * row_h;
        let w = if *of == 0 { 0 } else { bar_w * v / of };
        let color = if *v == 0 { "#2e7d32" } else { "#c62828" };
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"{label_w}\" y=\"{}\" width=\"{bar_w}\" height=\"16\" fill=\"#eee\"/>\
             <rect x=\"{label_w}\" y=\"{}\" width=\"{w}\" height=\"16\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{v} / {of}</text>",
            y + 13,
            esc(label),
            y,
            y,
            label_w + bar_w + 8,
            y + 13
        );
    }
    s.push_str("</svg>");
    s
}

/// The report as one self-contained HTML page.
pub fn html(r: &AuditReport) -> String {
    let mut s = String::from(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Audit of whole-process recording</title>\
         <style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px}.bad{color:#c62828}.ok{color:#2e7d32}</style><body>",
    );
    let _ = write!(
        s,
        "<h1>Audit of whole-process recording — {} to {}</h1><p>Sample: <b>{} of {}</b> matters (seed {}). <b>{} passed, {} failed.</b> Generated {}. Times are UTC{}.</p>",
        r.period_from.date_naive(),
        r.period_to.date_naive(),
        r.sampled,
        r.population,
        r.seed,
        r.passed,
        r.sampled - r.passed,
        r.generated_at.format("%Y-%m-%d %H:%M UTC"),
        r.utc_offset
    );
    let crit: Vec<(String, usize, usize)> =
        CRITERIA.iter().map(|(k, t)| ((*t).to_owned(), r.failures.get(*k).copied().unwrap_or(0), r.sampled)).collect();
    s.push_str(&svg_bars("Sampled matters failing each check", &crit));
    let st: Vec<(String, usize, usize)> =
        r.by_station.iter().take(10).map(|g| (g.name.clone(), g.failed, g.sampled)).collect();
    s.push_str("<br>");
    s.push_str(&svg_bars("Failed matters by station (weakest first)", &st));
    let kd: Vec<(String, usize, usize)> =
        r.by_kind.iter().take(10).map(|g| (g.name.clone(), g.failed, g.sampled)).collect();
    s.push_str("<br>");
    s.push_str(&svg_bars("Failed matters by kind", &kd));
    s.push_str("<h2>Matters</h2><table><tr><th>Matter</th><th>Kind</th><th>Window</th>");
    for (_, t) in CRITERIA {
        let _ = write!(s, "<th>{}</th>", esc(t));
    }
    s.push_str("<th>Findings</th></tr>");
    for row in &r.rows {
        let _ = write!(s, "<tr><td>{}</td><td>{}</td><td>{}</td>", esc(&row.matter_id), esc(&row.kind), window(r, row));
        for (k, _) in CRITERIA {
            let ok = row.results.get(k).copied().unwrap_or(false);
            let _ = write!(s, "<td class=\"{}\">{}</td>", if ok { "ok" } else { "bad" }, mark(ok));
        }
        let _ = write!(s, "<td>{}</td></tr>", esc(&row.notes.join("; ")));
    }
    s.push_str("</table></body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use evidence_contracts::compliance::MatterCheckSchema;

    fn check(id: &str, passed: bool) -> MatterCheckV1 {
        MatterCheckV1 {
            schema: MatterCheckSchema,
            matter_id: id.into(),
            kind: "inspection".into(),
            window_start: "2026-11-28T01:00:00Z".parse().expect("t"),
            window_end: "2026-11-28T02:00:00Z".parse().expect("t"),
            tolerance_s: 60,
            start_offset_s: None,
            end_offset_s: None,
            start_covered: passed,
            end_covered: true,
            officers_recording: vec![],
            officers_without_recording: vec![],
            min_officers: 2,
            enough_officers: true,
            unexplained_gaps: vec![],
            explained_gaps: vec![],
            recordings: vec![],
            late_uploads: vec![],
            stations: vec![],
            passed,
            checked_at: "2026-11-28T03:00:00Z".parse().expect("t"),
        }
    }

    #[test]
    fn sampling_is_reproducible_and_depends_on_the_seed() {
        let checks: Vec<MatterCheckV1> = (0..50).map(|i| check(&format!("M{i}"), true)).collect();
        let a: Vec<&str> = sample(&checks, 7, Sample::Count(10)).iter().map(|c| c.matter_id.as_str()).collect();
        let b: Vec<&str> = sample(&checks, 7, Sample::Count(10)).iter().map(|c| c.matter_id.as_str()).collect();
        let c: Vec<&str> = sample(&checks, 8, Sample::Count(10)).iter().map(|c| c.matter_id.as_str()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(sample(&checks, 7, Sample::Fraction(0.1)).len(), 5);
    }

    #[test]
    fn html_escapes_and_charts() {
        let f = Facts::default();
        let r = build(
            &[check("M<1>", false)],
            &f,
            FixedOffset::east_opt(8 * 3600).expect("offset"),
            "2026-11-01T00:00:00Z".parse().expect("t"),
            "2026-12-01T00:00:00Z".parse().expect("t"),
            Sample::Count(5),
            1,
            Utc::now(),
        );
        let h = html(&r);
        assert!(h.contains("M&lt;1&gt;") && h.contains("<svg"), "{h}");
        assert_eq!(r.failures["window_consistent"], 1);
        assert_eq!(r.failures["recordings_present"], 1, "no recording at all");
    }
}
