//! Gathering the facts (matters, pauses, sealed recordings with their continuity reports,
//! docking records, ledger access records) and evaluating the recording rules over them.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use compliance::{Interval, Recording};
use evidence_contracts::compliance::{
    FlagV1, MatterCheckV1, MatterV1, PauseV1, RecordingFlagsSchema, RecordingFlagsV1,
};
use evidence_contracts::events::EvidenceSealedV1;
use evidence_contracts::ledger::LedgerRecordV1;
use evidence_contracts::report::{FindingKind, ScanReportV1};
use evidence_contracts::seal::ObjectRole;
use evidence_contracts::station::DockingV1;
use evidence_contracts::{EvidenceId, Message, StationId, decode, subjects};
use worker_runtime::nats::read_all;

/// One retrieval (or refused attempt) of evidence, from the custody ledger.
#[derive(Debug, Clone)]
pub struct Access {
    pub evidence_id: EvidenceId,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// `access`, `export`, `verify` (records before purposes existed: `access`).
    pub purpose: String,
    pub approval_id: Option<String>,
    pub approver: Option<String>,
    pub reason: Option<String>,
    /// Why it was refused (nothing was read), in words.
    pub refused: Option<String>,
    /// The refusal's code (`no_approval`, `unknown_approval`, `expired`, …; docs/contracts.md).
    pub refusal: Option<String>,
}

/// Everything the checks look at.
#[derive(Debug, Default)]
pub struct Facts {
    pub matters: Vec<MatterV1>,
    pub pauses: Vec<PauseV1>,
    pub sealed: Vec<EvidenceSealedV1>,
    pub recordings: Vec<Recording>,
    pub dockings: Vec<DockingV1>,
    pub accesses: Vec<Access>,
    /// Sealed recordings that could not be placed in time (no start known, report unreadable).
    pub unplaced: Vec<(EvidenceId, String)>,
}

/// The last message per subject, decoded (newer versions of a matter replace older ones).
fn latest<M: Message>(msgs: Vec<worker_runtime::nats::Stored>) -> Vec<M> {
    let mut by: BTreeMap<String, M> = BTreeMap::new();
    for m in msgs {
        match decode::<M>(&m.payload) {
            Ok(v) => {
                by.insert(m.subject, v);
            }
            Err(e) => tracing::warn!(subject = %m.subject, seq = m.seq, error = %e, "skipping an undecodable message"),
        }
    }
    by.into_values().collect()
}

/// Reads every fact from the streams and the evidence bucket.
///
/// # Errors
/// Unreachable NATS or S3.
pub async fn gather(
    js: &async_nats::jetstream::Context,
    store: &object_store::Store,
    cal: &work_calendar::Calendar,
    rule: work_calendar::Rule,
) -> anyhow::Result<Facts> {
    let mut f = Facts {
        matters: latest(read_all(js, subjects::MATTERS_STREAM, subjects::MATTERS_ALL).await?),
        pauses: latest(read_all(js, subjects::MATTERS_STREAM, subjects::PAUSES_ALL).await?),
        sealed: latest(read_all(js, subjects::EVENTS_STREAM, subjects::SEALED_ALL).await?),
        dockings: read_all(js, subjects::STATIONS_STREAM, subjects::DOCKINGS_ALL)
            .await?
            .iter()
            .filter_map(|m| decode::<DockingV1>(&m.payload).ok())
            .collect(),
        ..Default::default()
    };
    for m in read_all(js, subjects::LEDGER_STREAM, "evidence.ledger.v1.access.>").await? {
        if let Ok(r) = serde_json::from_slice::<LedgerRecordV1>(&m.payload) {
            let s = |k: &str| r.detail.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            f.accesses.push(Access {
                evidence_id: r.evidence_id,
                at: r.at,
                actor: r.actor.clone(),
                purpose: s("purpose").unwrap_or_else(|| "access".into()),
                approval_id: s("approval_id"),
                approver: s("approver"),
                reason: s("reason"),
                refused: s("refused"),
                refusal: s("refusal"),
            });
        }
    }
    let offsets = clock_offsets(&f.dockings);
    for ev in &f.sealed {
        let offset = offsets.get(&(ev.device_id.to_string(), ev.file_name.clone())).copied();
        match report_of(store, ev).await.and_then(|rep| place(ev, &rep, offset, cal, rule)) {
            Ok(r) => f.recordings.push(r),
            Err(why) => f.unplaced.push((ev.evidence_id, why.to_string())),
        }
    }
    Ok(f)
}

/// Device clock offsets at docking per (device, file name), from the earliest docking record
/// that listed the file (the nearest to when it was recorded).
pub fn clock_offsets(dockings: &[DockingV1]) -> BTreeMap<(String, String), f64> {
    let mut by: BTreeMap<(String, String), (DateTime<Utc>, f64)> = BTreeMap::new();
    for d in dockings {
        let Some(off) = d.clock_offset_s else { continue };
        for file in &d.files {
            let name = file.path.rsplit('/').next().unwrap_or(&file.path).to_owned();
            let e = by.entry((d.device_id.to_string(), name)).or_insert((d.docked_at, off));
            if d.docked_at < e.0 {
                *e = (d.docked_at, off);
            }
        }
    }
    by.into_iter().map(|(k, (_, o))| (k, o)).collect()
}

async fn report_of(store: &object_store::Store, ev: &EvidenceSealedV1) -> anyhow::Result<ScanReportV1> {
    let rep = ev
        .objects
        .iter()
        .find(|o| o.role == ObjectRole::ContinuityReport)
        .context("the package lists no continuity report")?;
    let bytes = store
        .get_bytes(&ev.bucket, &rep.key, 8 << 20)
        .await
        .with_context(|| format!("its continuity report {} cannot be read", rep.key))?;
    serde_json::from_slice(&bytes).with_context(|| format!("its continuity report {} does not parse", rep.key))
}

/// A sealed recording in corrected wall-clock time: start from the event minus the device
/// clock offset, length and inner holes from its continuity report.
///
/// # Errors
/// No start time known, or the report lists no file.
pub fn place(
    ev: &EvidenceSealedV1,
    report: &ScanReportV1,
    clock_offset_s: Option<f64>,
    cal: &work_calendar::Calendar,
    rule: work_calendar::Rule,
) -> anyhow::Result<Recording> {
    let device_start =
        ev.recorded_start.context("the recording's start time is unknown (no time in the file name or metadata)")?;
    let ms = |s: f64| Duration::milliseconds((s * 1000.0).round() as i64);
    let start = device_start - ms(clock_offset_s.unwrap_or(0.0));
    let file = report.files.first().context("its continuity report lists no file")?;
    let gaps = file
        .findings
        .iter()
        .filter(|g| g.kind == FindingKind::Gap)
        .map(|g| Interval { from: start + ms(g.at_s), to: start + ms(g.at_s + g.duration_s) })
        .collect();
    let (late, late_by_s) = lateness(ev, clock_offset_s, cal, rule);
    Ok(Recording {
        evidence_id: ev.evidence_id,
        officer_id: ev.officer_id.to_string(),
        device_id: ev.device_id.to_string(),
        station_id: ev.station_id.clone(),
        late,
        late_by_s,
        start,
        end: start + ms(file.duration_s),
        gaps,
        clock_offset_s,
    })
}

/// Whether the upload was late, and by how much: as judged at ingest, or — when the device clock
/// was off and the deadline counts from the recording's end — judged again from the corrected end
/// (a camera running ahead near midnight can move the deadline by a day).
pub fn lateness(
    ev: &EvidenceSealedV1,
    clock_offset_s: Option<f64>,
    cal: &work_calendar::Calendar,
    rule: work_calendar::Rule,
) -> (bool, Option<f64>) {
    let Some(d) = &ev.deadline else { return (false, None) };
    match clock_offset_s {
        Some(o) if o != 0.0 && d.basis == evidence_contracts::transcode::DeadlineBasis::RecordingEnd => {
            let ended = d.work_ended - Duration::milliseconds((o * 1000.0).round() as i64);
            let (due, _) = work_calendar::deadline(cal, rule, ended);
            let by = (ev.ingested_at - due).num_milliseconds() as f64 / 1000.0;
            (by > 0.0, (by > 0.0).then_some(by))
        }
        _ => {
            let late = d.status == evidence_contracts::transcode::DeadlineStatus::Late;
            (late, d.late_by_s.filter(|_| late))
        }
    }
}

/// A file a station saw on a docked device that was never sealed.
#[derive(Debug, Clone)]
pub struct NotUploaded {
    pub station: StationId,
    pub device: String,
    pub path: String,
    pub due: DateTime<Utc>,
    pub left_s: f64,
}

/// What one evaluation concludes.
#[derive(Debug, Default)]
pub struct Outcome {
    pub checks: Vec<MatterCheckV1>,
    pub flags: Vec<RecordingFlagsV1>,
    pub not_uploaded: Vec<NotUploaded>,
}

/// Evaluates every matter and flags every recording.
pub fn evaluate(
    f: &Facts,
    policy: &compliance::Policy,
    cal: &work_calendar::Calendar,
    rule: work_calendar::Rule,
    clock_offset_limit_s: f64,
    now: DateTime<Utc>,
) -> Outcome {
    let mut out = Outcome::default();
    for m in &f.matters {
        out.checks.push(compliance::check_matter(m, &f.recordings, &f.pauses, policy, now));
    }

    let mut flags: BTreeMap<EvidenceId, Vec<FlagV1>> = BTreeMap::new();
    for r in compliance::outside_every_matter(&f.recordings, &f.matters, policy) {
        flags.entry(r.evidence_id).or_default().push(FlagV1 {
            kind: "outside_every_matter".into(),
            detail: format!(
                "recorded {} .. {} by officer {}, within no registered matter of that officer",
                r.start, r.end, r.officer_id
            ),
        });
    }
    for (id, why) in &f.unplaced {
        flags.entry(*id).or_default().push(FlagV1 { kind: "unplaced".into(), detail: why.clone() });
    }
    // Device clocks at docking, and recordings that started after their device was docked.
    let sealed_by_file: BTreeMap<(String, String), &EvidenceSealedV1> =
        f.sealed.iter().map(|e| ((e.device_id.to_string(), e.file_name.clone()), e)).collect();
    let mut seen_files: BTreeSet<(String, String)> = BTreeSet::new();
    for d in &f.dockings {
        let offset = d.clock_offset_s.unwrap_or(0.0);
        for file in &d.files {
            let name = file.path.rsplit('/').next().unwrap_or(&file.path).to_owned();
            let key = (d.device_id.to_string(), name.clone());
            if !seen_files.insert((key.0.clone(), file.path.clone())) {
                continue;
            }
            let Some(ev) = sealed_by_file.get(&key) else {
                let basis = file.recorded_start.or(file.modified).unwrap_or(d.docked_at);
                let (due, _) = work_calendar::deadline(cal, rule, basis);
                out.not_uploaded.push(NotUploaded {
                    station: d.station_id.clone(),
                    device: d.device_id.to_string(),
                    path: file.path.clone(),
                    due,
                    left_s: (due - now).num_milliseconds() as f64 / 1000.0,
                });
                out.flags.push(RecordingFlagsV1 {
                    schema: RecordingFlagsSchema,
                    key: format!("{}.{}", d.device_id, &blake3::hash(file.path.as_bytes()).to_hex()[..16]),
                    evidence_id: None,
                    station_id: d.station_id.clone(),
                    device_id: d.device_id.clone(),
                    officer_id: d.officer_id.clone(),
                    file_name: name,
                    flags: vec![FlagV1 {
                        kind: "not_uploaded".into(),
                        detail: format!(
                            "on device {} when docked at {} ({}), never sealed; due {due}",
                            d.device_id, d.station_id, d.docked_at
                        ),
                    }],
                    checked_at: now,
                });
                continue;
            };
            if offset.abs() > clock_offset_limit_s {
                flags.entry(ev.evidence_id).or_default().push(FlagV1 {
                    kind: "device_clock_offset".into(),
                    detail: format!(
                        "device clock was {offset:+.0} s off the station's at docking ({}); times from the device are shifted",
                        d.docked_at
                    ),
                });
            }
            if let Some(start) = ev.recorded_start {
                let corrected = start - Duration::milliseconds((offset * 1000.0) as i64);
                if corrected > d.docked_at {
                    flags.entry(ev.evidence_id).or_default().push(FlagV1 {
                        kind: "started_after_docking".into(),
                        detail: format!(
                            "recording starts {corrected} (device time corrected by the clock offset), after the device was docked at {}",
                            d.docked_at
                        ),
                    });
                }
            }
        }
    }
    for ev in &f.sealed {
        if let Some(fl) = flags.remove(&ev.evidence_id) {
            out.flags.push(RecordingFlagsV1 {
                schema: RecordingFlagsSchema,
                key: ev.evidence_id.to_string(),
                evidence_id: Some(ev.evidence_id),
                station_id: ev.station_id.clone(),
                device_id: ev.device_id.clone(),
                officer_id: Some(ev.officer_id.clone()),
                file_name: ev.file_name.clone(),
                flags: fl,
                checked_at: now,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(work_ended: &str, ingested_at: &str, status: &str) -> EvidenceSealedV1 {
        let obj = serde_json::json!({"role": "original", "key": "k", "size_bytes": 1, "blake3": "00".repeat(32), "sha256": "00".repeat(32)});
        serde_json::from_value(serde_json::json!({
            "schema": "evidence.sealed.v1",
            "evidence_id": "360fb464-2b59-8e6d-9247-0fffbfb3a2db",
            "station_id": "ST", "device_id": "CAM", "officer_id": "A1", "file_name": "f.mp4",
            "docked_at": ingested_at, "ingested_at": ingested_at, "sealed_at": ingested_at,
            "bucket": "evidence", "prefix": "p/", "objects": [], "seal_record": obj,
            "verdict": "continuous", "readable": true, "worm": false,
            "deadline": {"working_days": 2, "work_ended": work_ended, "basis": "recording_end",
                         "due": "2026-12-02T16:00:00Z", "status": status, "calendar_covered": false},
        }))
        .expect("a sealed event")
    }

    #[test]
    fn lateness_is_judged_again_on_the_corrected_end_of_the_work() {
        let cal = work_calendar::Calendar::default();
        let rule =
            work_calendar::Rule { working_days: 2, offset: work_calendar::parse_offset("+08:00").expect("offset") };
        // Device clock 10 min ahead: the file says the work ended Tue 2026-12-01 00:05 local, it
        // really ended Mon 2026-11-30 23:55 local. Due: end of Wed 12-02 instead of Thu 12-03.
        let ev = sealed("2026-11-30T16:05:00Z", "2026-12-03T01:00:00Z", "on_time");
        assert_eq!(lateness(&ev, None, &cal, rule), (false, None), "as judged at ingest");
        let (late, by) = lateness(&ev, Some(600.0), &cal, rule);
        assert!(late, "late once the clock is corrected");
        assert_eq!(by, Some(9.0 * 3600.0), "due 2026-12-02T16:00Z, ingested 9 h later");
    }
}
