//! The recording rules, checked for one enforcement matter (a case of on-site work with an
//! enforcement document): pure functions over matters, registered pauses and recordings, so the
//! same checks run in the pipeline, in the `audit` command and in tests.
//!
//! Every time is the corrected one: a recording's `start`/`end`/`gaps` are its device times
//! minus the device clock offset found at docking (`Recording::clock_offset_s`), and the check
//! lists the offsets it applied.
//!
//! For a matter with document window `[start, end]` and officers `O`:
//! * **window covered**: some recording of the matter's officers starts by `start + tolerance`
//!   and some ends at or after `end - tolerance`;
//! * **officers**: at least `min_officers` (2 by default, per matter kind configurable) of `O`
//!   have recordings overlapping the window; an officer of `O` without any is named;
//! * **gaps**: for every recording officer, every interval of the window not covered by one of
//!   their recordings (between files, or a hole inside a file found by the continuity scan) longer
//!   than the tolerance must lie within a registered pause of that officer or device; the others
//!   are flagged with their times;
//! * **after the fact** (flags for a person, not verdicts): recordings that overlap no matter
//!   window at all ([`outside_every_matter`]).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use evidence_contracts::compliance::{ClockOffsetV1, MatterCheckSchema, MatterCheckV1, MatterV1, PauseV1, UncoveredV1};
use evidence_contracts::{EvidenceId, StationId};
use serde::{Deserialize, Serialize};

/// A time interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Interval {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Interval {
    fn secs(&self) -> f64 {
        (self.to - self.from).num_milliseconds() as f64 / 1000.0
    }
}

/// A sealed recording, in wall-clock time, with the holes the continuity scan found in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub evidence_id: EvidenceId,
    pub officer_id: String,
    pub device_id: String,
    pub station_id: StationId,
    /// Uploaded after its working-day deadline.
    #[serde(default)]
    pub late: bool,
    /// Seconds past the deadline, when late (on the corrected end of the work).
    #[serde(default)]
    pub late_by_s: Option<f64>,
    /// Corrected times (device time − `clock_offset_s`).
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(default)]
    pub gaps: Vec<Interval>,
    /// The device clock offset already subtracted from the times above, when one is known.
    #[serde(default)]
    pub clock_offset_s: Option<f64>,
}

/// How strictly to judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Slack on the document times and on gaps, seconds.
    pub tolerance_s: u32,
    pub min_officers: u32,
    /// `min_officers` per matter kind, where it differs.
    #[serde(default)]
    pub min_officers_by_kind: BTreeMap<String, u32>,
}

impl Default for Policy {
    fn default() -> Self {
        Self { tolerance_s: 60, min_officers: 2, min_officers_by_kind: BTreeMap::new() }
    }
}

fn overlaps(a: &Interval, b: &Interval) -> bool {
    a.from < b.to && b.from < a.to
}

/// Parts of `window` not covered by `covered` (sorted or not).
fn holes(window: Interval, mut covered: Vec<Interval>) -> Vec<Interval> {
    covered.sort();
    let mut out = Vec::new();
    let mut at = window.from;
    for c in covered {
        if c.to <= at || c.from >= window.to {
            continue;
        }
        if c.from > at {
            out.push(Interval { from: at, to: c.from.min(window.to) });
        }
        at = at.max(c.to);
        if at >= window.to {
            break;
        }
    }
    if at < window.to {
        out.push(Interval { from: at, to: window.to });
    }
    out
}

/// Checks one matter.
pub fn check_matter(
    m: &MatterV1,
    recordings: &[Recording],
    pauses: &[PauseV1],
    policy: &Policy,
    now: DateTime<Utc>,
) -> MatterCheckV1 {
    let tol = Duration::seconds(i64::from(policy.tolerance_s));
    let window = Interval { from: m.start, to: m.end };
    let officers: BTreeSet<&str> = m.officers.iter().map(|o| o.as_str()).collect();
    let near = Interval { from: m.start - tol, to: m.end + tol };
    let mine: Vec<&Recording> = recordings
        .iter()
        .filter(|r| officers.contains(r.officer_id.as_str()))
        .filter(|r| overlaps(&Interval { from: r.start, to: r.end }, &near))
        .collect();
    let first = mine.iter().map(|r| r.start).min();
    let last = mine.iter().map(|r| r.end).max();
    let recording_officers: BTreeSet<String> = mine.iter().map(|r| r.officer_id.clone()).collect();
    let min = policy.min_officers_by_kind.get(&m.kind).copied().unwrap_or(policy.min_officers);

    let mut unexplained = Vec::new();
    let mut explained = Vec::new();
    for officer in &recording_officers {
        // What this officer recorded: each file minus its inner holes.
        let mut covered = Vec::new();
        for r in mine.iter().filter(|r| &r.officer_id == officer) {
            let file = Interval { from: r.start, to: r.end };
            covered.extend(holes(file, r.gaps.clone()));
        }
        for h in holes(window, covered) {
            if h.to - h.from <= tol {
                continue;
            }
            let devices: BTreeSet<&str> =
                mine.iter().filter(|r| &r.officer_id == officer).map(|r| r.device_id.as_str()).collect();
            let pause = pauses.iter().find(|p| {
                let whose = p.officer_id.as_ref().is_some_and(|o| o.as_str() == officer.as_str())
                    || p.device_id.as_ref().is_some_and(|d| devices.contains(d.as_str()));
                whose && p.from - tol <= h.from && h.to <= p.to + tol
            });
            let u = UncoveredV1 {
                officer_id: officer.clone(),
                from: h.from,
                to: h.to,
                seconds: h.secs(),
                pause: pause.map(|p| format!("{} (approved by {})", p.reason, p.approver)),
                pause_id: pause.map(|p| p.pause_id.clone()),
            };
            if u.pause.is_some() { explained.push(u) } else { unexplained.push(u) }
        }
    }
    let start_covered = first.is_some_and(|f| f <= m.start + tol);
    let end_covered = last.is_some_and(|l| l >= m.end - tol);
    let enough = u32::try_from(recording_officers.len()).unwrap_or(u32::MAX) >= min;
    let stations: BTreeSet<StationId> = mine.iter().map(|r| r.station_id.clone()).collect();
    MatterCheckV1 {
        schema: MatterCheckSchema,
        matter_id: m.matter_id.clone(),
        kind: m.kind.clone(),
        window_start: m.start,
        window_end: m.end,
        tolerance_s: policy.tolerance_s,
        late_uploads: mine.iter().filter(|r| r.late).map(|r| r.evidence_id).collect(),
        stations: stations.into_iter().collect(),
        clock_offsets: recordings
            .iter()
            .filter(|r| officers.contains(r.officer_id.as_str()))
            .filter_map(|r| {
                let o = r.clock_offset_s.filter(|o| *o != 0.0)?;
                let shift = Duration::milliseconds((o * 1000.0).round() as i64);
                let device = Interval { from: r.start + shift, to: r.end + shift };
                let counted = mine.iter().any(|m| m.evidence_id == r.evidence_id);
                (counted || overlaps(&device, &near)).then(|| ClockOffsetV1 {
                    evidence_id: r.evidence_id,
                    device_id: r.device_id.clone(),
                    offset_s: o,
                    counted,
                })
            })
            .collect(),
        checked_at: now,
        start_offset_s: first.map(|f| (f - m.start).num_milliseconds() as f64 / 1000.0),
        end_offset_s: last.map(|l| (m.end - l).num_milliseconds() as f64 / 1000.0),
        start_covered,
        end_covered,
        officers_without_recording: officers
            .iter()
            .filter(|o| !recording_officers.contains(**o))
            .map(|o| (*o).to_owned())
            .collect(),
        officers_recording: recording_officers.into_iter().collect(),
        min_officers: min,
        enough_officers: enough,
        passed: start_covered && end_covered && enough && unexplained.is_empty(),
        unexplained_gaps: unexplained,
        explained_gaps: explained,
        recordings: mine.iter().map(|r| r.evidence_id).collect(),
    }
}

/// Recordings that overlap no matter window (with tolerance): flags for a person to look at
/// (recorded outside any registered work, or a matter not yet registered).
pub fn outside_every_matter<'a>(
    recordings: &'a [Recording],
    matters: &[MatterV1],
    policy: &Policy,
) -> Vec<&'a Recording> {
    let tol = Duration::seconds(i64::from(policy.tolerance_s));
    recordings
        .iter()
        .filter(|r| {
            !matters.iter().any(|m| {
                m.officers.iter().any(|o| o.as_str() == r.officer_id)
                    && overlaps(
                        &Interval { from: r.start, to: r.end },
                        &Interval { from: m.start - tol, to: m.end + tol },
                    )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use evidence_contracts::compliance::{MatterSchema, PauseSchema};
    use evidence_contracts::{Blake3Digest, DeviceId, OfficerId};

    use super::*;

    fn t(hm: &str) -> DateTime<Utc> {
        format!("2026-11-28T{hm}:00Z").parse().expect("time")
    }

    fn id(n: &str) -> EvidenceId {
        let mut b = [0u8; 32];
        b[..n.len()].copy_from_slice(n.as_bytes());
        EvidenceId::derive(&DeviceId::new("D").expect("id"), &Blake3Digest(b))
    }

    fn rec(n: &str, officer: &str, from: &str, to: &str) -> Recording {
        Recording {
            evidence_id: id(n),
            officer_id: officer.into(),
            device_id: format!("CAM-{officer}"),
            station_id: StationId::new("ST").expect("id"),
            late: false,
            late_by_s: None,
            start: t(from),
            end: t(to),
            gaps: Vec::new(),
            clock_offset_s: None,
        }
    }

    fn matter() -> MatterV1 {
        MatterV1 {
            schema: MatterSchema,
            matter_id: "M1".into(),
            kind: "inspection".into(),
            officers: vec![OfficerId::new("A").expect("id"), OfficerId::new("B").expect("id")],
            start: t("09:00"),
            end: t("10:00"),
            document: None,
            source: "test".into(),
        }
    }

    fn pause(officer: Option<&str>, device: Option<&str>, from: &str, to: &str, reason: &str) -> PauseV1 {
        PauseV1 {
            schema: PauseSchema,
            pause_id: format!("P-{from}"),
            officer_id: officer.map(|o| OfficerId::new(o).expect("id")),
            device_id: device.map(|d| DeviceId::new(d).expect("id")),
            from: t(from),
            to: t(to),
            reason: reason.into(),
            approver: "chief".into(),
            matter_id: None,
            source: "test".into(),
        }
    }

    fn check(r: &[Recording], p: &[PauseV1], policy: &Policy) -> MatterCheckV1 {
        check_matter(&matter(), r, p, policy, t("12:00"))
    }

    #[test]
    fn two_officers_recording_the_whole_window_pass() {
        let mut r = vec![rec("1", "A", "08:59", "10:01"), rec("2", "B", "09:00", "10:00")];
        r[1].late = true;
        let c = check(&r, &[], &Policy::default());
        assert!(c.passed, "{c:#?}");
        assert_eq!(c.officers_recording, vec!["A", "B"]);
        assert_eq!(c.late_uploads, vec![id("2")], "lateness is reported, judged by the audit");
    }

    #[test]
    fn one_officer_only_fails_and_names_the_other() {
        let r = vec![rec("1", "A", "09:00", "10:00")];
        let c = check(&r, &[], &Policy::default());
        assert!(!c.passed && !c.enough_officers);
        assert_eq!(c.officers_without_recording, vec!["B"]);
        let lenient = Policy { min_officers_by_kind: [("inspection".to_owned(), 1)].into(), ..Policy::default() };
        assert!(check(&r, &[], &lenient).passed, "kind-specific minimum");
    }

    #[test]
    fn a_late_start_is_flagged_with_its_offset() {
        let r = vec![rec("1", "A", "09:05", "10:00"), rec("2", "B", "09:06", "10:00")];
        let c = check(&r, &[], &Policy::default());
        assert!(!c.start_covered && !c.passed);
        assert_eq!(c.start_offset_s, Some(300.0));
    }

    #[test]
    fn gaps_need_a_registered_pause() {
        // A: two files with 10 minutes between them; B: one file with a 3-minute hole inside.
        let mut b = rec("3", "B", "09:00", "10:00");
        b.gaps.push(Interval { from: t("09:40"), to: t("09:43") });
        let r = vec![rec("1", "A", "09:00", "09:20"), rec("2", "A", "09:30", "10:00"), b];
        let c = check(&r, &[], &Policy::default());
        assert!(!c.passed);
        assert_eq!(c.unexplained_gaps.len(), 2, "{c:#?}");
        assert_eq!(c.unexplained_gaps[0].seconds, 600.0);
        assert_eq!(c.unexplained_gaps[1].officer_id, "B");
        // A registered pause for A's gap (by officer) and B's (by device) explains both.
        let pauses = vec![
            pause(Some("A"), None, "09:20", "09:30", "private conversation with the party"),
            pause(None, Some("CAM-B"), "09:39", "09:44", "battery swap"),
        ];
        let c = check(&r, &pauses, &Policy::default());
        assert!(c.passed, "{c:#?}");
        assert_eq!(c.explained_gaps.len(), 2);
        // A pause of another officer explains nothing.
        let other = vec![pause(Some("Z"), None, "09:20", "09:30", "x"), pauses[1].clone()];
        assert_eq!(check(&r, &other, &Policy::default()).unexplained_gaps.len(), 1);
    }

    #[test]
    fn a_recording_covering_the_window_only_on_a_clock_that_ran_ahead_does_not_count() {
        // B's camera ran 180 s ahead: its file says 09:00-10:00, it was 08:57-09:57 (corrected).
        let mut b = rec("2", "B", "08:57", "09:57");
        b.clock_offset_s = Some(180.0);
        let r = vec![rec("1", "A", "09:00", "10:00"), b];
        let c = check(&r, &[], &Policy::default());
        assert!(!c.end_covered || !c.passed, "{c:#?}");
        assert_eq!(c.clock_offsets.len(), 1);
        assert!(c.clock_offsets[0].counted, "still overlaps, but ends 3 min early");
        // Far enough that the corrected recording leaves the window: B no longer records it.
        let mut far = rec("3", "B", "08:00", "08:59");
        far.clock_offset_s = Some(3600.0);
        let r = vec![rec("1", "A", "09:00", "10:00"), far];
        let c = check(&r, &[], &Policy::default());
        assert!(!c.passed && !c.enough_officers && c.officers_without_recording == ["B"], "{c:#?}");
        assert_eq!(c.clock_offsets.len(), 1, "the offset that moved it out is named");
        assert!(!c.clock_offsets[0].counted);
        assert_eq!(c.clock_offsets[0].offset_s, 3600.0);
    }

    #[test]
    fn recordings_outside_every_matter_are_flagged() {
        let r = vec![rec("1", "A", "09:00", "10:00"), rec("2", "A", "14:00", "14:10"), rec("3", "C", "09:00", "10:00")];
        let out: Vec<EvidenceId> =
            outside_every_matter(&r, &[matter()], &Policy::default()).iter().map(|r| r.evidence_id).collect();
        assert_eq!(out, vec![id("2"), id("3")]);
    }
}
