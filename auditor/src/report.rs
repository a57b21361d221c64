//! The audit (稽查) report: a reproducible sample of the matters of a period, each judged on the
//! six things a supervisor checks, with what explains each finding (the registered pause of a
//! gap, the clock offsets applied, late uploads with their delay, every access with its
//! approval), the criteria used, the matters not sampled, and totals with the weakest stations
//! and matter kinds first. Written as JSON (`evidence.audit.report.v1`), Markdown and HTML
//! (print-ready, SVG charts), in English or Chinese (`--lang zh-CN|en`), with `SHA256SUMS`.
//! Every time shown is in the agency's time zone, to the second.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use evidence_contracts::EvidenceId;
use evidence_contracts::compliance::MatterCheckV1;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::checks::Facts;

/// Language of the Markdown and HTML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

/// The six criteria, in report order: (key, English title, Chinese title).
pub const CRITERIA: [(&str, &str, &str); 6] = [
    ("recordings_present", "Every officer recorded", "文书所列执法人员均有记录"),
    ("uploaded_on_time", "Uploaded on time", "按时上传"),
    ("window_consistent", "Start/end match the document", "起止时间与执法文书一致"),
    ("two_officers", "Officers recording", "记录人数达标"),
    ("pauses_registered", "Every gap has a registered pause", "中断均有登记的暂停"),
    ("accesses_approved", "Every access approved", "调阅均经审批"),
];

fn title(lang: Lang, en: &'static str, zh: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

/// A recording taken into account, in corrected time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowRecording {
    pub evidence_id: EvidenceId,
    pub officer_id: String,
    pub device_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Device clock offset subtracted from the device's times (seconds), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_s: Option<f64>,
    /// Seconds after its upload deadline, when late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_by_s: Option<f64>,
}

/// A registered pause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowPause {
    pub pause_id: String,
    pub reason: String,
    pub approver: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub seconds: f64,
}

/// A stretch of the window an officer did not record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowGap {
    pub officer_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub seconds: f64,
    /// The pause that explains it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<RowPause>,
}

/// One read of the matter's evidence (or a refused attempt), from the custody ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowAccess {
    pub evidence_id: EvidenceId,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `approved` (bytes read under an approval), `refused` (nothing read), `unapproved`
    /// (bytes read without an approval: only in records written before the access gate).
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub matter_id: String,
    pub kind: String,
    /// The enforcement document's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// Officers on the document, and those with recordings.
    #[serde(default)]
    pub officers: Vec<String>,
    #[serde(default)]
    pub officers_recording: Vec<String>,
    #[serde(default)]
    pub officers_without_recording: Vec<String>,
    pub min_officers: u32,
    pub stations: Vec<String>,
    pub recordings: usize,
    #[serde(default)]
    pub evidence: Vec<RowRecording>,
    /// Device clock corrections applied before judging (including recordings they moved out).
    #[serde(default)]
    pub clock_offsets: Vec<evidence_contracts::compliance::ClockOffsetV1>,
    /// Seconds from the document start to the first recording, and from the last recording's
    /// end to the document end (corrected times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_offset_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_offset_s: Option<f64>,
    pub start_covered: bool,
    pub end_covered: bool,
    #[serde(default)]
    pub unexplained_gaps: Vec<RowGap>,
    #[serde(default)]
    pub explained_gaps: Vec<RowGap>,
    #[serde(default)]
    pub accesses: Vec<RowAccess>,
    /// `none` (no access in the period), `approved` (every read approved), `unapproved`.
    pub access_state: String,
    /// Criterion key → passed.
    pub results: BTreeMap<String, bool>,
    /// What failed, in words (English; the Markdown and HTML use the report's language).
    pub notes: Vec<String>,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupLine {
    pub name: String,
    pub sampled: usize,
    pub failed: usize,
}

/// The criteria the matters were judged by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriteriaUsed {
    pub tolerance_s: u32,
    pub min_officers: u32,
    #[serde(default)]
    pub min_officers_by_kind: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    pub schema: String,
    /// The period as asked for: agency days, both inclusive.
    pub period_first_day: NaiveDate,
    pub period_last_day: NaiveDate,
    /// The same period as instants: `[from, to)`.
    pub period_from: DateTime<Utc>,
    pub period_to: DateTime<Utc>,
    /// The agency's UTC offset; the Markdown and HTML show every time in it.
    pub utc_offset: String,
    pub seed: u64,
    pub criteria: CriteriaUsed,
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
    /// Matters of the period that were not sampled.
    pub not_sampled: Vec<String>,
    /// Sealed recordings the rules could not place in time, with why.
    #[serde(default)]
    pub unplaced: Vec<(EvidenceId, String)>,
    pub generated_at: DateTime<Utc>,
    /// SHA-256 of this report: of `audit.json` written compactly without `sha256` and `files`
    /// (members in the order written). Shown in the Markdown and HTML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// SHA-256 of `audit.md` and `audit.html`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
}

/// How many to sample.
#[derive(Debug, Clone, Copy)]
pub enum Sample {
    Count(usize),
    Fraction(f64),
}

/// The period: agency days, both inclusive.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub offset: FixedOffset,
}

impl Period {
    /// `[start of first day, start of the day after the last)` as instants.
    pub fn instants(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let at = |d: NaiveDate| -> DateTime<Utc> {
            let midnight = d.and_hms_opt(0, 0, 0).expect("midnight exists");
            (midnight - self.offset).and_utc()
        };
        (at(self.first_day), at(self.last_day + chrono::Days::new(1)))
    }
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

fn row(c: &MatterCheckV1, facts: &Facts) -> AuditRow {
    let matter = facts.matters.iter().find(|m| m.matter_id == c.matter_id);
    let evidence: Vec<RowRecording> = c
        .recordings
        .iter()
        .filter_map(|id| facts.recordings.iter().find(|r| r.evidence_id == *id))
        .map(|r| RowRecording {
            evidence_id: r.evidence_id,
            officer_id: r.officer_id.clone(),
            device_id: r.device_id.clone(),
            start: r.start,
            end: r.end,
            clock_offset_s: r.clock_offset_s,
            late_by_s: r.late.then(|| r.late_by_s.unwrap_or(0.0)),
        })
        .collect();
    let gap = |g: &evidence_contracts::compliance::UncoveredV1| RowGap {
        officer_id: g.officer_id.clone(),
        from: g.from,
        to: g.to,
        seconds: g.seconds,
        pause: g.pause_id.as_ref().and_then(|pid| facts.pauses.iter().find(|p| &p.pause_id == pid)).map(|p| RowPause {
            pause_id: p.pause_id.clone(),
            reason: p.reason.clone(),
            approver: p.approver.clone(),
            from: p.from,
            to: p.to,
            seconds: (p.to - p.from).num_milliseconds() as f64 / 1000.0,
        }),
    };
    let accesses: Vec<RowAccess> = facts
        .accesses
        .iter()
        .filter(|a| c.recordings.contains(&a.evidence_id))
        .map(|a| RowAccess {
            evidence_id: a.evidence_id,
            at: a.at,
            actor: a.actor.clone(),
            purpose: a.purpose.clone(),
            approval_id: a.approval_id.clone(),
            approver: a.approver.clone(),
            reason: a.reason.clone(),
            outcome: match (&a.refused, &a.approval_id) {
                (Some(_), _) => "refused",
                (None, Some(_)) => "approved",
                (None, None) => "unapproved",
            }
            .into(),
            refused: a.refused.clone(),
            refusal: a.refusal.clone(),
        })
        .collect();
    let unapproved = accesses.iter().any(|a| a.outcome == "unapproved");
    let read = accesses.iter().any(|a| a.outcome != "refused");
    let access_state = if unapproved {
        "unapproved"
    } else if read {
        "approved"
    } else {
        "none"
    };
    let present = !c.recordings.is_empty() && c.officers_without_recording.is_empty();
    let results: BTreeMap<String, bool> = [
        ("recordings_present", present),
        ("uploaded_on_time", !c.recordings.is_empty() && c.late_uploads.is_empty()),
        ("window_consistent", c.start_covered && c.end_covered),
        ("two_officers", c.enough_officers),
        ("pauses_registered", c.unexplained_gaps.is_empty()),
        ("accesses_approved", !unapproved),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut r = AuditRow {
        matter_id: c.matter_id.clone(),
        kind: c.kind.clone(),
        document: matter.and_then(|m| m.document.clone()),
        window_start: c.window_start,
        window_end: c.window_end,
        officers: matter.map_or_else(
            || c.officers_recording.iter().chain(&c.officers_without_recording).cloned().collect(),
            |m| m.officers.iter().map(ToString::to_string).collect(),
        ),
        officers_recording: c.officers_recording.clone(),
        officers_without_recording: c.officers_without_recording.clone(),
        min_officers: c.min_officers,
        stations: c.stations.iter().map(ToString::to_string).collect(),
        recordings: c.recordings.len(),
        evidence,
        clock_offsets: c.clock_offsets.clone(),
        start_offset_s: c.start_offset_s,
        end_offset_s: c.end_offset_s,
        start_covered: c.start_covered,
        end_covered: c.end_covered,
        unexplained_gaps: c.unexplained_gaps.iter().map(gap).collect(),
        explained_gaps: c.explained_gaps.iter().map(gap).collect(),
        accesses,
        access_state: access_state.into(),
        passed: results.values().all(|v| *v),
        results,
        notes: Vec::new(),
    };
    r.notes = findings(&r, Lang::En, FixedOffset::east_opt(0).expect("utc"));
    r
}

fn hms(t: DateTime<Utc>, tz: FixedOffset) -> String {
    t.with_timezone(&tz).format("%H:%M:%S").to_string()
}

fn ymd_hms(t: DateTime<Utc>, tz: FixedOffset) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Seconds as people read them: `42 s`, `3 min 05 s`, `2 h 10 min`, `1 d 4 h`.
fn span(s: f64, lang: Lang) -> String {
    let s = s.abs().round() as i64;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    match lang {
        Lang::En if d > 0 => format!("{d} d {h} h"),
        Lang::En if h > 0 => format!("{h} h {m:02} min"),
        Lang::En if m > 0 => format!("{m} min {sec:02} s"),
        Lang::En => format!("{sec} s"),
        Lang::Zh if d > 0 => format!("{d}天{h}小时"),
        Lang::Zh if h > 0 => format!("{h}小时{m:02}分"),
        Lang::Zh if m > 0 => format!("{m}分{sec:02}秒"),
        Lang::Zh => format!("{sec}秒"),
    }
}

/// What failed, in words, in `lang`, times in `tz`.
fn findings(r: &AuditRow, lang: Lang, tz: FixedOffset) -> Vec<String> {
    let mut out = Vec::new();
    let zh = lang == Lang::Zh;
    if r.recordings == 0 {
        out.push(if zh { "本事项无任何记录".into() } else { "no recording of this matter".into() });
    } else if !r.officers_without_recording.is_empty() {
        let who = r.officers_without_recording.join(", ");
        out.push(if zh { format!("执法人员 {who} 无记录") } else { format!("no recording from officer {who}") });
    }
    for e in &r.evidence {
        if let Some(late) = e.late_by_s {
            let id = e.evidence_id;
            out.push(if zh {
                format!("{id}（{}）超过上传期限 {}", e.officer_id, span(late, lang))
            } else {
                format!("{id} ({}) uploaded {} after its deadline", e.officer_id, span(late, lang))
            });
        }
    }
    if !r.start_covered {
        out.push(match (r.start_offset_s, zh) {
            (Some(s), false) => format!("the first recording starts {} after the document's start", span(s, lang)),
            (Some(s), true) => format!("首段记录晚于执法文书开始时间 {}", span(s, lang)),
            (None, false) => "no recording covers the document's start".into(),
            (None, true) => "无记录覆盖执法文书开始时间".into(),
        });
    }
    if !r.end_covered {
        out.push(match (r.end_offset_s, zh) {
            (Some(s), false) => format!("the last recording ends {} before the document's end", span(s, lang)),
            (Some(s), true) => format!("末段记录早于执法文书结束时间 {}", span(s, lang)),
            (None, false) => "no recording covers the document's end".into(),
            (None, true) => "无记录覆盖执法文书结束时间".into(),
        });
    }
    for o in r.clock_offsets.iter().filter(|o| !o.counted) {
        out.push(if zh {
            format!("{} 的设备时钟偏差 {:+.0} 秒，校正后不在执法时间内", o.device_id, o.offset_s)
        } else {
            format!(
                "{}'s clock was {:+.0} s off: corrected, its recording is outside the window",
                o.device_id, o.offset_s
            )
        });
    }
    if !r.results.get("two_officers").copied().unwrap_or(false) {
        let (n, min) = (r.officers_recording.len(), r.min_officers);
        out.push(if zh {
            format!("仅 {n} 名执法人员记录，要求至少 {min} 名")
        } else {
            format!("{n} of the {min} required officers recorded")
        });
    }
    for g in &r.unexplained_gaps {
        let (a, b, len) = (hms(g.from, tz), hms(g.to, tz), span(g.seconds, lang));
        out.push(if zh {
            format!("{}：{a}–{b} 中断 {len}，无登记的暂停", g.officer_id)
        } else {
            format!("{}: {len} unrecorded {a}–{b}, no registered pause", g.officer_id)
        });
    }
    for a in r.accesses.iter().filter(|a| a.outcome == "unapproved") {
        let at = ymd_hms(a.at, tz);
        out.push(if zh {
            format!("{at} {} 未经审批调阅", a.actor)
        } else {
            format!("read by {} at {at} without an approval", a.actor)
        });
    }
    out
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

/// Builds the report for matters whose window starts in the period.
pub fn build(
    checks: &[MatterCheckV1],
    facts: &Facts,
    period: &Period,
    policy: &compliance::Policy,
    n: Sample,
    seed: u64,
    now: DateTime<Utc>,
) -> AuditReport {
    let (from, to) = period.instants();
    let in_period: Vec<MatterCheckV1> =
        checks.iter().filter(|c| c.window_start >= from && c.window_start < to).cloned().collect();
    let picked = sample(&in_period, seed, n);
    let rows: Vec<AuditRow> = picked.iter().map(|c| row(c, facts)).collect();
    let mut not_sampled: Vec<String> = in_period
        .iter()
        .filter(|c| !rows.iter().any(|r| r.matter_id == c.matter_id))
        .map(|c| c.matter_id.clone())
        .collect();
    not_sampled.sort();
    let failures = CRITERIA
        .iter()
        .map(|(k, _, _)| {
            ((*k).to_owned(), rows.iter().filter(|r| !r.results.get(*k).copied().unwrap_or(false)).count())
        })
        .collect();
    AuditReport {
        schema: "evidence.audit.report.v1".into(),
        period_first_day: period.first_day,
        period_last_day: period.last_day,
        period_from: from,
        period_to: to,
        utc_offset: period.offset.to_string(),
        seed,
        criteria: CriteriaUsed {
            tolerance_s: policy.tolerance_s,
            min_officers: policy.min_officers,
            min_officers_by_kind: policy.min_officers_by_kind.clone(),
        },
        population: in_period.len(),
        sampled: rows.len(),
        passed: rows.iter().filter(|r| r.passed).count(),
        failures,
        by_station: groups(&rows, |r| r.stations.clone()),
        by_kind: groups(&rows, |r| vec![r.kind.clone()]),
        rows,
        not_sampled,
        unplaced: facts.unplaced.clone(),
        generated_at: now,
        sha256: None,
        files: BTreeMap::new(),
    }
}

fn tz_of(r: &AuditReport) -> FixedOffset {
    chrono::DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{}", r.utc_offset))
        .map_or_else(|_| FixedOffset::east_opt(0).expect("zero offset"), |t| *t.offset())
}

fn window(r: &AuditReport, row: &AuditRow) -> String {
    let tz = tz_of(r);
    format!("{} – {}", ymd_hms(row.window_start, tz), hms(row.window_end, tz))
}

fn row_findings(r: &AuditReport, row: &AuditRow, lang: Lang) -> Vec<String> {
    findings(row, lang, tz_of(r))
}

/// A refusal code in words.
fn refusal_words(code: Option<&str>, lang: Lang) -> &'static str {
    match (code.unwrap_or(""), lang) {
        ("no_approval", Lang::En) => "no approval given",
        ("no_approval", Lang::Zh) => "未提供审批",
        ("unknown_approval", Lang::En) => "no such approval id",
        ("unknown_approval", Lang::Zh) => "审批号不存在",
        ("other_evidence", Lang::En) => "approval is for other evidence",
        ("other_evidence", Lang::Zh) => "审批不含此证据",
        ("not_yet_valid", Lang::En) => "approval not yet valid",
        ("not_yet_valid", Lang::Zh) => "审批尚未生效",
        ("expired", Lang::En) => "approval expired",
        ("expired", Lang::Zh) => "审批已过期",
        ("wrong_scope", Lang::En) => "approval covers less than was asked for",
        ("wrong_scope", Lang::Zh) => "审批范围不符",
        ("wrong_class", Lang::En) => "approval does not cover the restricted class",
        ("wrong_class", Lang::Zh) => "审批未涵盖该密级",
        (_, Lang::En) => "refused",
        (_, Lang::Zh) => "被拒",
    }
}

/// The cell of one criterion: a mark, and for accesses whether there were any.
fn cell(row: &AuditRow, key: &str, lang: Lang) -> (bool, String) {
    let ok = row.results.get(key).copied().unwrap_or(false);
    if key == "accesses_approved" {
        let read = row.accesses.iter().filter(|a| a.outcome != "refused").count();
        let refused = row.accesses.len() - read;
        let mut t = match (row.access_state.as_str(), lang) {
            ("none", Lang::En) => "— no access".to_owned(),
            ("none", Lang::Zh) => "—（无调阅）".to_owned(),
            ("approved", Lang::En) => format!("✓ {read} approved"),
            ("approved", Lang::Zh) => format!("✓ {read} 次均经审批"),
            (_, Lang::En) => "✗ unapproved read".to_owned(),
            (_, Lang::Zh) => "✗ 有未经审批的调阅".to_owned(),
        };
        if refused > 0 {
            t.push_str(&match lang {
                Lang::En => format!(" ({refused} refused)"),
                Lang::Zh => format!("（{refused} 次被拒）"),
            });
        }
        return (ok, t);
    }
    (ok, (if ok { "✓" } else { "✗" }).to_owned())
}

fn result_word(ok: bool, lang: Lang) -> &'static str {
    match (ok, lang) {
        (true, Lang::En) => "PASS",
        (false, Lang::En) => "FAIL",
        (true, Lang::Zh) => "合格",
        (false, Lang::Zh) => "不合格",
    }
}

/// The words of the report, per language.
struct Words {
    title: &'static str,
    to: &'static str,
    criteria: &'static str,
    tolerance: &'static str,
    min_officers: &'static str,
    by_kind_min: &'static str,
    where_fails: &'static str,
    check: &'static str,
    failed: &'static str,
    of: &'static str,
    weakest_stations: &'static str,
    weakest_kinds: &'static str,
    sampled_col: &'static str,
    matters: &'static str,
    matter: &'static str,
    kind: &'static str,
    document: &'static str,
    window: &'static str,
    result: &'static str,
    findings: &'static str,
    details: &'static str,
    officers_doc: &'static str,
    officers_rec: &'static str,
    recordings: &'static str,
    offset_applied: &'static str,
    no_offset: &'static str,
    clock_right: &'static str,
    s: &'static str,
    moved_out: &'static str,
    late: &'static str,
    pauses: &'static str,
    unexplained: &'static str,
    accesses: &'static str,
    no_access: &'static str,
    not_sampled: &'static str,
    none: &'static str,
    unplaced: &'static str,
    integrity: &'static str,
    generated: &'static str,
}

fn words(lang: Lang) -> Words {
    match lang {
        Lang::En => Words {
            title: "Audit of whole-process recording",
            to: "to",
            criteria: "Criteria used",
            tolerance: "tolerance on document times and gaps",
            min_officers: "officers recording at least",
            by_kind_min: "per matter kind",
            where_fails: "Where it fails",
            check: "Check",
            failed: "Failed",
            of: "of",
            weakest_stations: "Weakest stations",
            weakest_kinds: "Weakest matter kinds",
            sampled_col: "Sampled",
            matters: "Matters",
            matter: "Matter",
            kind: "Kind",
            document: "Document",
            window: "Window",
            result: "Result",
            findings: "Findings",
            details: "Details per matter",
            officers_doc: "Officers on the document",
            officers_rec: "recording",
            recordings: "Recordings (corrected times)",
            offset_applied: "device clock offset applied",
            no_offset: "no docking record: device time as recorded",
            clock_right: "device clock right at docking (no correction)",
            s: "s",
            moved_out: "Recordings outside the window once their device clock is corrected (not counted)",
            late: "late by",
            pauses: "Registered pauses explaining gaps",
            unexplained: "Gaps without a registered pause",
            accesses: "Accesses (custody ledger)",
            no_access: "no access in the period",
            not_sampled: "Matters of the period not sampled",
            none: "none",
            unplaced: "Sealed recordings that could not be placed in time",
            integrity: "Integrity: SHA-256 of audit.json (compact, without sha256 and files)",
            generated: "Generated",
        },
        Lang::Zh => Words {
            title: "全过程记录稽查报告",
            to: "至",
            criteria: "稽查标准",
            tolerance: "执法文书时间与中断的容差",
            min_officers: "记录的执法人员至少",
            by_kind_min: "按事项类型",
            where_fails: "问题分布",
            check: "检查项",
            failed: "不合格",
            of: "抽查数",
            weakest_stations: "问题最多的采集站",
            weakest_kinds: "问题最多的事项类型",
            sampled_col: "抽查",
            matters: "执法事项",
            matter: "事项",
            kind: "类型",
            document: "执法文书",
            window: "执法时间",
            result: "结论",
            findings: "问题",
            details: "各事项明细",
            officers_doc: "执法文书所列执法人员",
            officers_rec: "有记录",
            recordings: "记录（已校正时间）",
            offset_applied: "已校正设备时钟偏差",
            no_offset: "无入站记录：按设备时间",
            clock_right: "入站时设备时钟准确（无需校正）",
            s: "秒",
            moved_out: "校正设备时钟后不在执法时间内的记录（不计入）",
            late: "超期",
            pauses: "说明中断的登记暂停",
            unexplained: "无登记暂停的中断",
            accesses: "调阅记录（监管链）",
            no_access: "期间内无调阅",
            not_sampled: "期间内未抽中的事项",
            none: "无",
            unplaced: "无法确定时间的已封存记录",
            integrity: "完整性：audit.json 的 SHA-256（紧凑格式，不含 sha256 与 files 字段）",
            generated: "生成时间",
        },
    }
}

/// Everything below the summary, shared by Markdown and HTML as (heading, lines) blocks.
fn detail_lines(r: &AuditReport, row: &AuditRow, lang: Lang) -> Vec<String> {
    let w = words(lang);
    let tz = tz_of(r);
    let mut v = Vec::new();
    v.push(format!(
        "{}: {} ({}: {})",
        w.officers_doc,
        if row.officers.is_empty() { w.none.to_owned() } else { row.officers.join(", ") },
        w.officers_rec,
        if row.officers_recording.is_empty() { w.none.to_owned() } else { row.officers_recording.join(", ") }
    ));
    v.push(format!("{}:", w.recordings));
    if row.evidence.is_empty() {
        v.push(format!("  {}", w.none));
    }
    for e in &row.evidence {
        let off = match e.clock_offset_s {
            Some(o) if o.abs() >= 0.5 => format!("{} {o:+.0} {}", w.offset_applied, w.s),
            Some(_) => w.clock_right.to_owned(),
            None => w.no_offset.to_owned(),
        };
        let late = e.late_by_s.map(|l| format!("; {} {}", w.late, span(l, lang))).unwrap_or_default();
        v.push(format!(
            "  {} — {} / {} — {} – {} ({off}{late})",
            e.evidence_id,
            e.officer_id,
            e.device_id,
            ymd_hms(e.start, tz),
            hms(e.end, tz)
        ));
    }
    let moved: Vec<&evidence_contracts::compliance::ClockOffsetV1> =
        row.clock_offsets.iter().filter(|o| !o.counted).collect();
    if !moved.is_empty() {
        v.push(format!("{}:", w.moved_out));
        for o in moved {
            v.push(format!("  {} / {} ({} {:+.0} {})", o.evidence_id, o.device_id, w.offset_applied, o.offset_s, w.s));
        }
    }
    if !row.explained_gaps.is_empty() {
        v.push(format!("{}:", w.pauses));
        for g in &row.explained_gaps {
            let p = g.pause.as_ref();
            v.push(format!(
                "  {} {}–{} ({}) ← {} {}: {}, {} {}",
                g.officer_id,
                hms(g.from, tz),
                hms(g.to, tz),
                span(g.seconds, lang),
                if lang == Lang::Zh { "暂停" } else { "pause" },
                p.map_or("?", |p| p.pause_id.as_str()),
                p.map_or("?", |p| p.reason.as_str()),
                if lang == Lang::Zh { "审批人" } else { "approved by" },
                p.map_or("?", |p| p.approver.as_str()),
            ));
        }
    }
    if !row.unexplained_gaps.is_empty() {
        v.push(format!("{}:", w.unexplained));
        for g in &row.unexplained_gaps {
            v.push(format!("  {} {}–{} ({})", g.officer_id, hms(g.from, tz), hms(g.to, tz), span(g.seconds, lang)));
        }
    }
    v.push(format!("{}:", w.accesses));
    if row.accesses.is_empty() {
        v.push(format!("  {}", w.no_access));
    }
    for a in &row.accesses {
        let outcome = match (a.outcome.as_str(), lang) {
            ("approved", Lang::En) => "approved".to_owned(),
            ("approved", Lang::Zh) => "经审批".to_owned(),
            ("refused", Lang::En) => format!("refused ({}), nothing read", refusal_words(a.refusal.as_deref(), lang)),
            ("refused", Lang::Zh) => format!("被拒（{}），未读取", refusal_words(a.refusal.as_deref(), lang)),
            (_, Lang::En) => "WITHOUT APPROVAL".to_owned(),
            (_, Lang::Zh) => "未经审批".to_owned(),
        };
        v.push(format!(
            "  {} {} ({}) {} — {}{}{}",
            ymd_hms(a.at, tz),
            a.actor,
            a.purpose,
            a.evidence_id,
            outcome,
            a.approval_id
                .as_ref()
                .map(|id| format!(
                    "; {} {id}{}",
                    if lang == Lang::Zh { "审批" } else { "approval" },
                    a.approver.as_ref().map(|b| format!(" ({b})")).unwrap_or_default()
                ))
                .unwrap_or_default(),
            a.reason
                .as_ref()
                .map(|x| format!("; {}: {x}", if lang == Lang::Zh { "事由" } else { "reason" }))
                .unwrap_or_default()
        ));
    }
    v
}

fn criteria_lines(r: &AuditReport, lang: Lang) -> Vec<String> {
    let w = words(lang);
    let mut v = vec![
        format!("{}: {} {}", w.tolerance, r.criteria.tolerance_s, w.s),
        format!("{}: {}", w.min_officers, r.criteria.min_officers),
    ];
    if !r.criteria.min_officers_by_kind.is_empty() {
        let k: Vec<String> = r.criteria.min_officers_by_kind.iter().map(|(k, n)| format!("{k} = {n}")).collect();
        v.push(format!("{}: {}", w.by_kind_min, k.join(", ")));
    }
    v
}

fn period_title(r: &AuditReport, lang: Lang) -> String {
    let w = words(lang);
    if r.period_first_day == r.period_last_day {
        format!("{} — {}", w.title, r.period_first_day)
    } else {
        format!("{} — {} {} {}", w.title, r.period_first_day, w.to, r.period_last_day)
    }
}

fn summary(r: &AuditReport, lang: Lang) -> String {
    let tz = tz_of(r);
    match lang {
        Lang::En => format!(
            "Sample: {} of {} matters (seed {}; the same seed and data give the same sample). {} passed, {} failed. Generated {}. Times are UTC{}.",
            r.sampled,
            r.population,
            r.seed,
            r.passed,
            r.sampled - r.passed,
            ymd_hms(r.generated_at, tz),
            r.utc_offset
        ),
        Lang::Zh => format!(
            "抽查：{} 个执法事项中抽取 {} 个（随机种子 {}；相同种子与数据得到相同样本）。合格 {} 个，不合格 {} 个。生成时间 {}。时间均为 UTC{}。",
            r.population,
            r.sampled,
            r.seed,
            r.passed,
            r.sampled - r.passed,
            ymd_hms(r.generated_at, tz),
            r.utc_offset
        ),
    }
}

/// The report in Markdown.
pub fn markdown(r: &AuditReport, lang: Lang) -> String {
    let w = words(lang);
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n\n{}\n", period_title(r, lang), summary(r, lang));
    let _ = writeln!(s, "## {}\n", w.criteria);
    for l in criteria_lines(r, lang) {
        let _ = writeln!(s, "- {l}");
    }
    let _ = writeln!(s, "\n## {}\n\n| {} | {} | {} |\n|---|---:|---:|", w.where_fails, w.check, w.failed, w.of);
    for (k, en, zh) in CRITERIA {
        let _ =
            writeln!(s, "| {} | {} | {} |", title(lang, en, zh), r.failures.get(k).copied().unwrap_or(0), r.sampled);
    }
    for (t, g) in [(w.weakest_stations, &r.by_station), (w.weakest_kinds, &r.by_kind)] {
        let _ = writeln!(s, "\n## {t}\n\n| | {} | {} |\n|---|---:|---:|", w.failed, w.sampled_col);
        for l in g.iter().take(10) {
            let _ = writeln!(s, "| {} | {} | {} |", l.name, l.failed, l.sampled);
        }
    }
    let _ = writeln!(s, "\n## {}\n", w.matters);
    let _ = write!(s, "| {} | {} | {} | {} |", w.matter, w.kind, w.document, w.window);
    for (_, en, zh) in CRITERIA {
        let _ = write!(s, " {} |", title(lang, en, zh));
    }
    let _ = writeln!(s, " {} | {} |\n|---|---|---|---|{}---|---|", w.result, w.findings, "---|".repeat(CRITERIA.len()));
    for row in &r.rows {
        let _ = write!(
            s,
            "| {} | {} | {} | {} |",
            row.matter_id,
            row.kind,
            row.document.as_deref().unwrap_or("—"),
            window(r, row)
        );
        for (k, _, _) in CRITERIA {
            let _ = write!(s, " {} |", cell(row, k, lang).1);
        }
        let _ = writeln!(
            s,
            " **{}** | {} |",
            result_word(row.passed, lang),
            row_findings(r, row, lang).join("; ").replace('|', "/")
        );
    }
    let _ = writeln!(s, "\n## {}\n", w.details);
    for row in &r.rows {
        let _ = writeln!(s, "### {} ({})\n", row.matter_id, result_word(row.passed, lang));
        for l in detail_lines(r, row, lang) {
            match l.strip_prefix("  ") {
                Some(sub) => {
                    let _ = writeln!(s, "  - {sub}");
                }
                None => {
                    let _ = writeln!(s, "- {l}");
                }
            }
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "## {}\n\n{}\n",
        w.not_sampled,
        if r.not_sampled.is_empty() { w.none.to_owned() } else { r.not_sampled.join(", ") }
    );
    if !r.unplaced.is_empty() {
        let _ = writeln!(s, "## {}\n", w.unplaced);
        for (id, why) in &r.unplaced {
            let _ = writeln!(s, "- {id}: {why}");
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "---\n{}: `{}`", w.integrity, r.sha256.as_deref().unwrap_or("?"));
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

/// The report as one self-contained, print-ready HTML page.
pub fn html(r: &AuditReport, lang: Lang) -> String {
    let w = words(lang);
    let mut s = format!(
        "<!doctype html><html lang=\"{}\"><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:\"Noto Sans CJK SC\",\"Source Han Sans SC\",\"Microsoft YaHei\",sans-serif;max-width:1200px;margin:2em auto;color:#111}}\
         table{{border-collapse:collapse;margin:.5em 0}}td,th{{border:1px solid #bbb;padding:4px 8px;font-size:13px;vertical-align:top}}\
         th{{background:#f2f2f2}}.bad{{color:#b71c1c;font-weight:bold}}.ok{{color:#1b5e20}}.mono{{font-family:monospace;font-size:12px}}\
         section.matter{{break-inside:avoid;border-top:1px solid #ccc;margin-top:1em}}ul{{margin:.2em 0}}\
         .nowrap{{white-space:nowrap}}th.crit{{min-width:4em;max-width:6em}}td:last-child{{min-width:24em}}ul.findings{{padding-left:1.1em;margin:0}}td.window{{white-space:nowrap}}\
         @media print{{body{{margin:0;max-width:none}}@page{{size:A4 landscape;margin:12mm}}h2{{break-after:avoid}}}}</style><body>",
        if lang == Lang::Zh { "zh-CN" } else { "en" },
        esc(&period_title(r, lang))
    );
    let _ = write!(s, "<h1>{}</h1><p>{}</p>", esc(&period_title(r, lang)), esc(&summary(r, lang)));
    let _ = write!(s, "<h2>{}</h2><ul>", esc(w.criteria));
    for l in criteria_lines(r, lang) {
        let _ = write!(s, "<li>{}</li>", esc(&l));
    }
    s.push_str("</ul>");
    let crit: Vec<(String, usize, usize)> = CRITERIA
        .iter()
        .map(|(k, en, zh)| (title(lang, en, zh).to_owned(), r.failures.get(*k).copied().unwrap_or(0), r.sampled))
        .collect();
    let _ = write!(s, "<h2>{}</h2>", esc(w.where_fails));
    s.push_str(&svg_bars(title(lang, "Sampled matters failing each check", "各检查项不合格的抽查事项数"), &crit));
    let st: Vec<(String, usize, usize)> =
        r.by_station.iter().take(10).map(|g| (g.name.clone(), g.failed, g.sampled)).collect();
    s.push_str("<br>");
    s.push_str(&svg_bars(w.weakest_stations, &st));
    let kd: Vec<(String, usize, usize)> =
        r.by_kind.iter().take(10).map(|g| (g.name.clone(), g.failed, g.sampled)).collect();
    s.push_str("<br>");
    s.push_str(&svg_bars(w.weakest_kinds, &kd));
    let _ = write!(
        s,
        "<h2>{}</h2><table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>",
        esc(w.matters),
        esc(w.matter),
        esc(w.kind),
        esc(w.document),
        esc(w.window)
    );
    for (_, en, zh) in CRITERIA {
        let _ = write!(s, "<th class=\"crit\">{}</th>", esc(title(lang, en, zh)));
    }
    let _ = write!(s, "<th class=\"nowrap\">{}</th><th>{}</th></tr>", esc(w.result), esc(w.findings));
    for row in &r.rows {
        let _ = write!(
            s,
            "<tr><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td><td class=\"window\">{}</td>",
            esc(&row.matter_id),
            esc(&row.kind),
            esc(row.document.as_deref().unwrap_or("—")),
            esc(&window(r, row))
        );
        for (k, _, _) in CRITERIA {
            let (ok, t) = cell(row, k, lang);
            let _ = write!(s, "<td class=\"{}\">{}</td>", if ok { "ok" } else { "bad" }, esc(&t));
        }
        let found: String = row_findings(r, row, lang).iter().map(|f| format!("<li>{}</li>", esc(f))).collect();
        let _ = write!(
            s,
            "<td class=\"{} nowrap\">{}</td><td><ul class=\"findings\">{found}</ul></td></tr>",
            if row.passed { "ok" } else { "bad" },
            result_word(row.passed, lang),
        );
    }
    s.push_str("</table>");
    let _ = write!(s, "<h2>{}</h2>", esc(w.details));
    for row in &r.rows {
        let _ = write!(
            s,
            "<section class=\"matter\"><h3>{} <span class=\"{}\">{}</span></h3><ul>",
            esc(&row.matter_id),
            if row.passed { "ok" } else { "bad" },
            result_word(row.passed, lang)
        );
        let mut open = false;
        for l in detail_lines(r, row, lang) {
            match l.strip_prefix("  ") {
                Some(sub) => {
                    if !open {
                        s.push_str("<ul>");
                        open = true;
                    }
                    let _ = write!(s, "<li class=\"mono\">{}</li>", esc(sub));
                }
                None => {
                    if open {
                        s.push_str("</ul>");
                        open = false;
                    }
                    let _ = write!(s, "<li>{}</li>", esc(&l));
                }
            }
        }
        if open {
            s.push_str("</ul>");
        }
        s.push_str("</ul></section>");
    }
    let _ = write!(
        s,
        "<h2>{}</h2><p>{}</p>",
        esc(w.not_sampled),
        esc(&if r.not_sampled.is_empty() { w.none.to_owned() } else { r.not_sampled.join(", ") })
    );
    if !r.unplaced.is_empty() {
        let _ = write!(s, "<h2>{}</h2><ul>", esc(w.unplaced));
        for (id, why) in &r.unplaced {
            let _ = write!(s, "<li><span class=\"mono\">{id}</span>: {}</li>", esc(why));
        }
        s.push_str("</ul>");
    }
    let _ = writeln!(
        s,
        "<hr><p>{}: <span class=\"mono\">{}</span></p><p>{} {}</p></body></html>",
        esc(w.integrity),
        esc(r.sha256.as_deref().unwrap_or("?")),
        esc(w.generated),
        esc(&ymd_hms(r.generated_at, tz_of(r)))
    );
    s
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// The report's own SHA-256: of its compact JSON without `sha256` and `files`.
///
/// # Errors
/// Never in practice (the report serialises).
pub fn own_sha256(r: &AuditReport) -> anyhow::Result<String> {
    let mut bare = r.clone();
    bare.sha256 = None;
    bare.files.clear();
    Ok(sha256_hex(&serde_json::to_vec(&bare).context("serialise the report")?))
}

/// Writes `audit.json`, `audit.md`, `audit.html` and `SHA256SUMS` (checked with `sha256sum -c`)
/// into `out` (new or empty). Returns the file names.
///
/// # Errors
/// Unwritable folder.
pub fn write(r: &AuditReport, lang: Lang, out: &Path) -> anyhow::Result<Vec<String>> {
    let mut r = r.clone();
    r.sha256 = Some(own_sha256(&r)?);
    let md = markdown(&r, lang);
    let page = html(&r, lang);
    r.files.insert("audit.md".into(), sha256_hex(md.as_bytes()));
    r.files.insert("audit.html".into(), sha256_hex(page.as_bytes()));
    let json = serde_json::to_vec_pretty(&r).context("serialise the report")?;
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let sums = format!(
        "{}  audit.json\n{}  audit.md\n{}  audit.html\n",
        sha256_hex(&json),
        sha256_hex(md.as_bytes()),
        sha256_hex(page.as_bytes())
    );
    for (name, bytes) in [
        ("audit.json", json.as_slice()),
        ("audit.md", md.as_bytes()),
        ("audit.html", page.as_bytes()),
        ("SHA256SUMS", sums.as_bytes()),
    ] {
        std::fs::write(out.join(name), bytes).with_context(|| format!("write {}", out.join(name).display()))?;
    }
    Ok(vec!["audit.json".into(), "audit.md".into(), "audit.html".into(), "SHA256SUMS".into()])
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
            clock_offsets: vec![],
            passed,
            checked_at: "2026-11-28T03:00:00Z".parse().expect("t"),
        }
    }

    fn cst() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).expect("offset")
    }

    fn period(a: &str, b: &str) -> Period {
        Period { first_day: a.parse().expect("day"), last_day: b.parse().expect("day"), offset: cst() }
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
    fn the_title_shows_the_days_asked_for_in_both_languages() {
        // 2026-11-01 00:00 at +08:00 is 2026-10-31 16:00 UTC: the title must still say 11-01.
        let f = Facts::default();
        let r = build(
            &[],
            &f,
            &period("2026-11-01", "2026-11-30"),
            &compliance::Policy::default(),
            Sample::Count(5),
            1,
            Utc::now(),
        );
        assert_eq!(r.period_from, "2026-10-31T16:00:00Z".parse::<DateTime<Utc>>().expect("t"));
        let md = markdown(&r, Lang::En);
        assert!(md.starts_with("# Audit of whole-process recording — 2026-11-01 to 2026-11-30"), "{md}");
        assert!(!md.contains("2026-10-31"), "{md}");
        let zh = markdown(&r, Lang::Zh);
        assert!(zh.starts_with("# 全过程记录稽查报告 — 2026-11-01 至 2026-11-30"), "{zh}");
        let one = build(
            &[],
            &f,
            &period("2026-11-01", "2026-11-01"),
            &compliance::Policy::default(),
            Sample::Count(5),
            1,
            Utc::now(),
        );
        assert!(markdown(&one, Lang::En).starts_with("# Audit of whole-process recording — 2026-11-01\n"));
        assert_eq!(one.period_to - one.period_from, chrono::Duration::days(1), "--from = --to is one whole day");
    }

    #[test]
    fn html_escapes_charts_and_names_no_access_apart_from_approved_access() {
        let f = Facts::default();
        let r = build(
            &[check("M<1>", false)],
            &f,
            &period("2026-11-01", "2026-11-30"),
            &compliance::Policy::default(),
            Sample::Count(5),
            1,
            Utc::now(),
        );
        let h = html(&r, Lang::En);
        assert!(h.contains("M&lt;1&gt;") && h.contains("<svg"), "{h}");
        assert!(h.contains("— no access"), "{h}");
        assert!(html(&r, Lang::Zh).contains("—（无调阅）"));
        assert_eq!(r.failures["window_consistent"], 1);
        assert_eq!(r.failures["recordings_present"], 1, "no recording at all");
        assert_eq!(r.failures["accesses_approved"], 0, "no access is not a failure");
        assert_eq!(r.rows[0].access_state, "none");
    }

    #[test]
    fn the_report_carries_its_own_sha256_and_the_files_check_with_sha256sum() {
        let f = Facts::default();
        let r = build(
            &[check("M1", true), check("M2", false)],
            &f,
            &period("2026-11-01", "2026-11-30"),
            &compliance::Policy::default(),
            Sample::Count(1),
            3,
            Utc::now(),
        );
        assert_eq!(r.not_sampled.len(), 1, "the matter left out is named");
        let d = tempfile::tempdir().expect("tmp");
        write(&r, Lang::Zh, d.path()).expect("write");
        let json: AuditReport =
            serde_json::from_slice(&std::fs::read(d.path().join("audit.json")).expect("read")).expect("parse");
        assert_eq!(json.sha256.as_deref(), Some(own_sha256(&json).expect("sha").as_str()));
        let md = std::fs::read_to_string(d.path().join("audit.md")).expect("md");
        assert!(md.contains(json.sha256.as_deref().expect("sha")), "the page shows the report's SHA-256");
        let out = std::process::Command::new("sha256sum").arg("-c").arg("SHA256SUMS").current_dir(d.path()).output();
        if let Ok(out) = out {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        }
    }

    #[test]
    fn spans_read_as_people_read_them() {
        assert_eq!(span(2.04, Lang::En), "2 s");
        assert_eq!(span(185.0, Lang::En), "3 min 05 s");
        assert_eq!(span(185.0, Lang::Zh), "3分05秒");
        assert_eq!(span(90_000.0, Lang::Zh), "1天1小时");
    }
}
