//! Pure continuity analysis of demux timelines (no GStreamer calls; unit- and property-tested).
//!
//! Rules, per stream:
//! * **backwards**: in arrival order the decode timestamp (DTS, else PTS) goes back by more than
//!   one nominal interval. B-frames reorder PTS within a GOP but never DTS, so they never trip
//!   this. The timeline is split there and each piece is judged on its own.
//! * **gap**: within a piece, samples sorted by PTS; a step between consecutive PTS larger than
//!   the nominal interval plus the tolerance is a gap of `step - nominal` starting one nominal
//!   interval after the earlier sample. This catches both a jump in timestamps and the MP4 form
//!   of a hole: one very long sample (stts delta). Jitter below the tolerance never counts.
//! * **discontinuity**: a buffer flagged DISCONT (other than the first) that no gap or
//!   backwards finding already explains.
//! * **format_change**: the stream's caps (codec, profile, size, rate, channels) change mid-file.
//! * **truncated**: the streams end before the duration the container states, by more than
//!   the tolerance; or the demuxer stopped with an error after data had been read.
//!
//! `at_s` is measured from the file's first timestamp over all streams.

use evidence_contracts::report::{FileReport, Finding, FindingKind, StreamKind, StreamReport};
use evidence_contracts::{Blake3Digest, Sha256Digest};

use crate::scan::{DemuxScan, Sample, Timeline};

/// Default gap tolerance: 0.25 s. Large enough that frame-rate jitter, AAC priming and odd
/// first-fragment durations never count; small enough to find a cut of a few frames at 30 fps.
pub const DEFAULT_TOLERANCE_NS: u64 = 250_000_000;

const NS: f64 = 1e9;

fn secs(ns: u64) -> f64 {
    ns as f64 / NS
}

/// Median of the positive steps between consecutive PTS (sorted), else of the sample
/// durations; 0 when neither is known.
pub fn nominal_interval(pts_sorted: &[u64], durations: &[u64]) -> u64 {
    let mut steps: Vec<u64> = pts_sorted.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0).collect();
    if steps.is_empty() {
        steps = durations.iter().copied().filter(|d| *d > 0).collect();
    }
    if steps.is_empty() {
        return 0;
    }
    steps.sort_unstable();
    steps[steps.len() / 2]
}

/// Per-stream result of the analysis.
#[derive(Debug, Clone)]
pub struct StreamAnalysis {
    pub report: StreamReport,
    pub findings: Vec<Finding>,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// Analyses one stream. `t0` is the file's first timestamp (for `at_s`).
pub fn analyse_stream(t: &Timeline, t0: u64, tolerance: u64) -> StreamAnalysis {
    let kind = t.kind;
    let samples: Vec<&Sample> = t.samples.iter().filter(|s| s.pts.is_some()).collect();
    let mut findings = Vec::new();
    let label = kind.as_str();

    // Split into pieces where the decode clock goes back.
    let all_pts: Vec<u64> = {
        let mut v: Vec<u64> = samples.iter().filter_map(|s| s.pts).collect();
        v.sort_unstable();
        v
    };
    let durs: Vec<u64> = samples.iter().filter_map(|s| s.duration).collect();
    let nominal = nominal_interval(&all_pts, &durs);
    let back_threshold = nominal.max(1_000_000);
    let mut pieces: Vec<Vec<&Sample>> = vec![Vec::new()];
    let mut max_decode: Option<u64> = None;
    let mut resets = Vec::new();
    for s in &samples {
        let d = s.dts.or(s.pts).unwrap_or(0);
        if let Some(m) = max_decode
            && d + back_threshold < m
        {
            resets.push((m, d));
            pieces.push(Vec::new());
            max_decode = Some(d);
        } else {
            max_decode = Some(max_decode.map_or(d, |m| m.max(d)));
        }
        if let Some(p) = pieces.last_mut() {
            p.push(s);
        }
    }
    let mut explained: Vec<u64> = Vec::new();
    for (from, to) in &resets {
        let at = from.saturating_sub(t0);
        explained.push(*to);
        findings.push(Finding {
            kind: FindingKind::Backwards,
            stream: Some(kind),
            at_s: secs(at),
            duration_s: secs(from - to),
            detail: format!(
                "The {label} timestamps jump back by {:.3} s after {:.3} s (clock reset or pieces of several recordings joined).",
                secs(from - to),
                secs(at)
            ),
        });
    }

    let mut start = u64::MAX;
    let mut end = 0u64;
    for piece in &pieces {
        let mut pts: Vec<(u64, Option<u64>)> = piece.iter().filter_map(|s| s.pts.map(|p| (p, s.duration))).collect();
        if pts.is_empty() {
            continue;
        }
        pts.sort_unstable_by_key(|p| p.0);
        start = start.min(pts[0].0);
        let last = pts[pts.len() - 1];
        end = end.max(last.0 + last.1.filter(|d| *d <= nominal.saturating_mul(2).max(tolerance)).unwrap_or(nominal));
        for w in pts.windows(2) {
            let step = w[1].0 - w[0].0;
            if nominal > 0 && step > nominal + tolerance {
                let hole = step - nominal;
                let at = (w[0].0 + nominal).saturating_sub(t0);
                explained.push(w[1].0);
                findings.push(Finding {
                    kind: FindingKind::Gap,
                    stream: Some(kind),
                    at_s: secs(at),
                    duration_s: secs(hole),
                    detail: format!("{:.3} s of {label} are missing after {:.3} s.", secs(hole), secs(at)),
                });
            }
        }
    }
    if start == u64::MAX {
        start = 0;
    }

    // DISCONT flags not explained by a finding within a frame or two.
    let slack = nominal.saturating_mul(3).max(tolerance);
    for s in samples.iter().skip(1).filter(|s| s.discont) {
        let p = s.pts.unwrap_or(0);
        if explained.iter().any(|e| e.abs_diff(p) <= slack) {
            continue;
        }
        explained.push(p);
        let at = p.saturating_sub(t0);
        findings.push(Finding {
            kind: FindingKind::Discontinuity,
            stream: Some(kind),
            at_s: secs(at),
            duration_s: 0.0,
            detail: format!("The demuxer marks a break in the {label} stream at {:.3} s.", secs(at)),
        });
    }

    for (idx, old, new) in &t.format_changes {
        let p = t.samples.get(*idx).and_then(|s| s.pts).unwrap_or(end);
        let at = p.saturating_sub(t0);
        findings.push(Finding {
            kind: FindingKind::FormatChange,
            stream: Some(kind),
            at_s: secs(at),
            duration_s: 0.0,
            detail: format!("The {label} format changes at {:.3} s from {old} to {new}: footage from another source may be spliced in.", secs(at)),
        });
    }

    let report = StreamReport {
        kind,
        codec: t.codec.clone(),
        width: t.size.map(|s| s.0),
        height: t.size.map(|s| s.1),
        frames: t.samples.len() as u64,
        start_s: secs(start.saturating_sub(t0)),
        end_s: secs(end.saturating_sub(t0)),
        nominal_interval_s: secs(nominal),
    };
    StreamAnalysis { report, findings, start_ns: start, end_ns: end }
}

/// Builds the report of one file from its demux scan.
pub fn file_report(
    name: &str,
    bytes: u64,
    blake3: Blake3Digest,
    sha256: Sha256Digest,
    scan: &DemuxScan,
    tolerance: u64,
) -> FileReport {
    let has_samples = scan.streams.iter().any(|s| s.samples.iter().any(|x| x.pts.is_some()));
    if !has_samples {
        let why = scan.error.clone().unwrap_or_else(|| "the demuxer found no timed media in it".into());
        return FileReport {
            name: name.into(),
            bytes,
            blake3,
            sha256,
            readable: false,
            complete: false,
            container: scan.container.clone().unwrap_or_else(|| "unknown".into()),
            recorded_start: scan.recorded_start,
            duration_s: 0.0,
            streams: Vec::new(),
            findings: vec![Finding {
                kind: FindingKind::Unreadable,
                stream: None,
                at_s: 0.0,
                duration_s: 0.0,
                detail: format!(
                    "The file cannot be demuxed ({why}); it is kept and sealed byte for byte, and needs a person to examine it.",
                ),
            }],
            error: Some(why),
        };
    }
    let t0 = scan.streams.iter().flat_map(|s| s.samples.iter().filter_map(|x| x.pts)).min().unwrap_or(0);
    let mut streams = Vec::new();
    let mut findings = Vec::new();
    let mut end = 0u64;
    for t in &scan.streams {
        let a = analyse_stream(t, t0, tolerance);
        end = end.max(a.end_ns);
        streams.push(a.report);
        findings.extend(a.findings);
    }
    if let Some(ts) = &scan.ts {
        findings.extend(ts_findings(ts, &findings, tolerance));
    }
    let mut complete = true;
    let data_end = end.saturating_sub(t0);
    if let Some(err) = &scan.error {
        complete = false;
        let missing = scan.container_duration_ns.map_or(0, |d| d.saturating_sub(data_end));
        findings.push(Finding {
            kind: FindingKind::Truncated,
            stream: None,
            at_s: secs(data_end),
            duration_s: secs(missing),
            detail: format!("The data stops at {:.3} s with an error ({err}).", secs(data_end)),
        });
    } else if let Some(d) = scan.container_duration_ns
        && d > data_end + tolerance
    {
        complete = false;
        findings.push(Finding {
            kind: FindingKind::Truncated,
            stream: None,
            at_s: secs(data_end),
            duration_s: secs(d - data_end),
            detail: format!(
                "The container states {:.3} s but the data ends at {:.3} s: {:.3} s are missing at the end.",
                secs(d),
                secs(data_end),
                secs(d - data_end)
            ),
        });
    }
    findings.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    FileReport {
        name: name.into(),
        bytes,
        blake3,
        sha256,
        readable: true,
        complete,
        container: scan.container.clone().unwrap_or_else(|| "unknown".into()),
        recorded_start: scan.recorded_start,
        duration_s: secs(data_end),
        streams,
        findings,
        error: scan.error.clone(),
    }
}

/// Findings from the raw MPEG-TS pass that the demuxed timelines do not already show.
fn ts_findings(ts: &crate::ts::TsScan, existing: &[Finding], tolerance: u64) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let near = |list: &[Finding], kind: FindingKind, stream: StreamKind, at: f64| {
        list.iter().any(|f| f.kind == kind && f.stream == Some(stream) && (f.at_s - at).abs() < 1.0)
    };
    for j in &ts.jumps {
        let at = j.elapsed_before as f64 / 90_000.0;
        let back = (j.from - j.to) as f64 / 90_000.0;
        if near(existing, FindingKind::Backwards, j.kind, at) || near(&out, FindingKind::Backwards, j.kind, at) {
            continue;
        }
        out.push(Finding {
            kind: FindingKind::Backwards,
            stream: Some(j.kind),
            at_s: at,
            duration_s: back,
            detail: format!(
                "The {} clock written in the file (PID {}) jumps back by {back:.3} s after {at:.3} s: pieces of several \
                 recordings are joined here (the demuxer smooths this over on playback).",
                j.kind.as_str(),
                j.pid
            ),
        });
    }
    let mut by_pid: std::collections::BTreeMap<u16, Vec<&crate::ts::CounterError>> = Default::default();
    for c in &ts.counter_errors {
        by_pid.entry(c.pid).or_default().push(c);
    }
    let slack = (tolerance as f64 / NS).max(1.0);
    for (pid, errs) in by_pid {
        let kind = ts.streams.iter().find(|(p, _)| *p == pid).map(|(_, k)| *k);
        let unexplained: Vec<_> = errs
            .iter()
            .filter(|c| {
                let at = c.elapsed.unwrap_or(0) as f64 / 90_000.0;
                !ts.jumps.iter().any(|j| j.pid == pid && (j.elapsed_before as f64 / 90_000.0 - at).abs() <= slack)
            })
            .collect();
        if let Some(first) = unexplained.first() {
            let at = first.elapsed.unwrap_or(0) as f64 / 90_000.0;
            out.push(Finding {
                kind: FindingKind::Discontinuity,
                stream: kind,
                at_s: at,
                duration_s: 0.0,
                detail: format!(
                    "{} transport packet(s) of PID {pid} are missing or repeated (continuity counter), first at byte {} ({at:.3} s).",
                    unexplained.len(),
                    first.offset
                ),
            });
        }
    }
    out
}

/// Where the wall-clock start of each file of a session came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// The container's creation time (UTC), for every file.
    Container,
    /// The time in the file name (device-local time, the same zone for every file of a device).
    FileName,
}

/// Finds a time written in a file name with a chrono `format` (default `%Y%m%d%H%M%S`, as in
/// `<officer>_<device>_<YYYYMMDDhhmmss>_<seq>.MP4`): the first substring of the formatted length
/// that parses.
pub fn time_in_name(name: &str, format: &str) -> Option<chrono::NaiveDateTime> {
    let width = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)?.and_hms_opt(0, 0, 0)?.format(format).to_string().len();
    let b = name.as_bytes();
    (0..=b.len().saturating_sub(width)).find_map(|i| {
        let sub = name.get(i..i + width)?;
        // Do not cut a longer digit run in the middle.
        let digit = |j: usize| b.get(j).is_some_and(u8::is_ascii_digit);
        if (i > 0 && digit(i - 1) && digit(i)) || (digit(i + width) && digit(i + width - 1)) {
            return None;
        }
        chrono::NaiveDateTime::parse_from_str(sub, format).ok()
    })
}

/// Orders the files of one device's session by wall-clock start and reports what lies between
/// consecutive files. Container creation times are used when every file has one, else times in
/// the file names when every file has one; files without a usable start are left out of the
/// comparison (and named in the returned list). Returns `(order, source, findings, unplaced)`.
pub fn session(
    files: &[FileReport],
    name_format: &str,
    tolerance_s: f64,
) -> (Vec<usize>, Option<TimeSource>, Vec<evidence_contracts::report::SessionFinding>, Vec<String>) {
    use evidence_contracts::report::{SessionFinding, SessionFindingKind};
    let container: Vec<Option<chrono::NaiveDateTime>> =
        files.iter().map(|f| f.recorded_start.map(|t| t.naive_utc())).collect();
    let named: Vec<Option<chrono::NaiveDateTime>> = files.iter().map(|f| time_in_name(&f.name, name_format)).collect();
    let (starts, source) = if container.iter().all(Option::is_some) {
        (container, Some(TimeSource::Container))
    } else if named.iter().all(Option::is_some) {
        (named, Some(TimeSource::FileName))
    } else {
        (named, None)
    };
    let mut order: Vec<usize> = (0..files.len()).filter(|i| starts[*i].is_some()).collect();
    order.sort_by(|a, b| starts[*a].cmp(&starts[*b]).then_with(|| files[*a].name.cmp(&files[*b].name)));
    let unplaced = (0..files.len()).filter(|i| starts[*i].is_none()).map(|i| files[i].name.clone()).collect();
    let mut findings = Vec::new();
    for w in order.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (Some(sa), Some(sb)) = (starts[a], starts[b]) else { continue };
        let end_a = sa + chrono::Duration::milliseconds((files[a].duration_s * 1000.0).round() as i64);
        let d = (sb - end_a).num_milliseconds() as f64 / 1000.0;
        let kind = if d > tolerance_s {
            SessionFindingKind::GapBetweenFiles
        } else if d < -tolerance_s {
            SessionFindingKind::OverlapBetweenFiles
        } else {
            continue;
        };
        findings.push(SessionFinding {
            kind,
            after: files[a].name.clone(),
            before: files[b].name.clone(),
            duration_s: d.abs(),
        });
    }
    (order, source, findings, unplaced)
}

/// Assembles the report document of one or more files.
pub fn scan_report(
    tool: &str,
    files: Vec<FileReport>,
    findings: Vec<evidence_contracts::report::SessionFinding>,
    tolerance: u64,
) -> evidence_contracts::report::ScanReportV1 {
    let verdict = evidence_contracts::report::ScanReportV1::compute_verdict(&files, &findings);
    evidence_contracts::report::ScanReportV1 {
        schema: evidence_contracts::report::ScanReportSchema,
        tool: tool.to_owned(),
        gap_tolerance_s: secs(tolerance),
        files,
        findings,
        verdict,
    }
}

/// The short form carried in jobs and events.
pub fn summary(r: &FileReport) -> evidence_contracts::transcode::ScanSummaryV1 {
    let verdict = evidence_contracts::report::ScanReportV1::compute_verdict(std::slice::from_ref(r), &[]);
    evidence_contracts::transcode::ScanSummaryV1 {
        verdict,
        readable: r.readable,
        complete: r.complete,
        container: r.container.clone(),
        duration_ns: duration_ns(r),
        streams: r
            .streams
            .iter()
            .map(|s| evidence_contracts::transcode::StreamSummaryV1 {
                kind: s.kind,
                codec: s.codec.clone(),
                frames: s.frames,
                start_ns: (s.start_s * NS).round() as u64,
                end_ns: (s.end_s * NS).round() as u64,
            })
            .collect(),
        findings: u32::try_from(r.findings.len()).unwrap_or(u32::MAX),
        error: r.error.clone(),
    }
}

/// `ingest-worker 0.1.0 (GStreamer 1.22.0)`-style tool string.
pub fn tool_string(name: &str, version: &str) -> String {
    format!("{name} {version} ({})", gstreamer::version_string())
}

/// Duration over all streams, in nanoseconds.
pub fn duration_ns(r: &FileReport) -> u64 {
    (r.duration_s * NS).round() as u64
}

/// The stream kinds present.
pub fn kinds(r: &FileReport) -> Vec<StreamKind> {
    let mut k: Vec<StreamKind> = r.streams.iter().map(|s| s.kind).collect();
    k.sort();
    k.dedup();
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(pts: impl IntoIterator<Item = u64>, dur: u64) -> Timeline {
        Timeline {
            size: None,
            kind: StreamKind::Video,
            codec: "video/x-h264".into(),
            samples: pts
                .into_iter()
                .map(|p| Sample { pts: Some(p), dts: Some(p), duration: Some(dur), discont: false })
                .collect(),
            format_changes: Vec::new(),
        }
    }

    const F: u64 = 33_333_333;

    #[test]
    fn times_are_found_in_recorder_file_names() {
        let t = time_in_name("OF1001_CAM0042_20261128093000_0001.MP4", "%Y%m%d%H%M%S").expect("found");
        assert_eq!(t.to_string(), "2026-11-28 09:30:00");
        assert!(time_in_name("clip_1234.mp4", "%Y%m%d%H%M%S").is_none());
        assert!(time_in_name("x_220261128093000_1.mp4", "%Y%m%d%H%M%S").is_none(), "inside a longer digit run");
        let t = time_in_name("REC_2026-11-28_09-30-00.mp4", "%Y-%m-%d_%H-%M-%S").expect("custom format");
        assert_eq!(t.to_string(), "2026-11-28 09:30:00");
    }

    #[test]
    fn clean_stream_has_no_findings() {
        let a = analyse_stream(&video((0..300).map(|i| i * F), F), 0, DEFAULT_TOLERANCE_NS);
        assert!(a.findings.is_empty(), "{:?}", a.findings);
        assert_eq!(a.report.frames, 300);
        assert!((a.report.end_s - 10.0).abs() < 0.001);
    }

    #[test]
    fn a_jump_is_a_gap_of_the_right_size_and_place() {
        let pts = (0..150).map(|i| i * F).chain((150..300).map(|i| i * F + 2_000_000_000));
        let a = analyse_stream(&video(pts, F), 0, DEFAULT_TOLERANCE_NS);
        assert_eq!(a.findings.len(), 1, "{:?}", a.findings);
        let g = &a.findings[0];
        assert_eq!(g.kind, FindingKind::Gap);
        assert!((g.at_s - 5.0).abs() < 0.001, "{}", g.at_s);
        assert!((g.duration_s - 2.0).abs() < 0.001, "{}", g.duration_s);
    }

    #[test]
    fn b_frames_are_not_backwards_but_a_dts_reset_is() {
        // Decode order I P B B: PTS 0, 3, 1, 2 with monotonic DTS.
        let mut t = video([], F);
        for gop in 0..20u64 {
            for (k, off) in [0u64, 3, 1, 2].iter().enumerate() {
                let dts = (gop * 4 + k as u64) * F;
                t.samples.push(Sample {
                    pts: Some((gop * 4 + off) * F + F),
                    dts: Some(dts),
                    duration: Some(F),
                    discont: false,
                });
            }
        }
        assert!(analyse_stream(&t, 0, DEFAULT_TOLERANCE_NS).findings.is_empty());
        let n = t.samples.len() as u64;
        for i in 0..30u64 {
            t.samples.push(Sample { pts: Some(i * F), dts: Some(i * F), duration: Some(F), discont: false });
        }
        let a = analyse_stream(&t, 0, DEFAULT_TOLERANCE_NS);
        assert_eq!(a.findings.len(), 1, "{:?}", a.findings);
        assert_eq!(a.findings[0].kind, FindingKind::Backwards);
        assert!((a.findings[0].duration_s - secs((n - 1) * F)).abs() < 0.05, "{:?}", a.findings[0]);
    }

    #[test]
    fn one_long_sample_is_a_gap() {
        let mut pts: Vec<u64> = (0..100).map(|i| i * F).collect();
        let after: Vec<u64> = (0..100).map(|i| 100 * F + 3_000_000_000 + i * F).collect();
        pts.extend(after);
        let mut t = video(pts, F);
        t.samples[99].duration = Some(F + 3_000_000_000);
        let a = analyse_stream(&t, 0, DEFAULT_TOLERANCE_NS);
        assert_eq!(a.findings.len(), 1);
        assert!((a.findings[0].duration_s - 3.0).abs() < 0.001);
    }

    #[test]
    fn jitter_below_tolerance_is_not_a_gap() {
        let mut p = 0u64;
        let mut v = Vec::new();
        for i in 0..1000u64 {
            v.push(p);
            p += F + (i * 7919 % 13) * 5_000_000; // up to +60 ms of jitter
        }
        assert!(analyse_stream(&video(v, F), 0, DEFAULT_TOLERANCE_NS).findings.is_empty());
    }
}
