//! Pure continuity analysis of demux timelines (no GStreamer calls; unit- and property-tested).
//! The timestamp model per container family is in docs/continuity.md; in short, per stream:
//!
//! * **backwards**, streams with decode times (MP4, MPEG-TS/PS, FLV, AVI): in arrival order the
//!   decode time goes back by more than one nominal interval. B-frames reorder presentation
//!   times within a GOP but never decode times, so they never trip this.
//! * **backwards**, streams with presentation times only (Matroska/WebM blocks): a frame whose
//!   time lies more than [`MAX_REORDER`] frames before the latest one, or that lands on a moment
//!   the stream has already shown (within half a frame of an earlier frame). Reordered B-frames
//!   fill a moment not yet shown, so any B-frame depth up to 16 never trips this.
//! * **backwards**, clamped: many frames stamped with (nearly) one time — what a muxer writes
//!   when told to go back (ffmpeg clamps non-increasing times): the frames' true times are lost.
//! * The timeline is split where it goes back, and each piece is judged on its own for **gap**:
//!   samples sorted by PTS, a step larger than the nominal interval plus the tolerance is a gap
//!   of `step - nominal` starting one nominal interval after the earlier sample. This catches
//!   both a jump in timestamps and the MP4 form of a hole: one very long sample (stts delta).
//! * **discontinuity**: a buffer flagged DISCONT (other than the first) that no gap or backwards
//!   finding already explains; what the container marks (MPEG-TS continuity counter and
//!   `discontinuity_indicator`, bytes that are no packet).
//! * **format_change**: the stream's caps (codec, profile, size, rate, channels) change mid-file.
//! * **truncated**: the container's structure is cut short (`media_walk`), the streams end
//!   before the duration the container states by more than the tolerance, or the demuxer
//!   stopped with an error after data had been read.
//!
//! `at_s` is measured from the file's first timestamp over all streams.

use evidence_contracts::report::{FileReport, Finding, FindingKind, StreamKind, StreamReport};
use evidence_contracts::{Blake3Digest, Sha256Digest};
use media_walk::{Family, MarkKind, Walk};

use crate::scan::{DemuxScan, Sample, Timeline};

/// Default gap tolerance: 0.25 s. Large enough that frame-rate jitter, AAC priming and odd
/// first-fragment durations never count; small enough to find a cut of a few frames at 30 fps.
pub const DEFAULT_TOLERANCE_NS: u64 = 250_000_000;

/// The deepest frame reordering a decoder allows (H.264/H.265: 16 frames in the DPB).
pub const MAX_REORDER: u64 = 16;

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

/// Splits a stream (samples in arrival order, all with a PTS) where its clock goes back: the
/// indexes of the samples that start a new piece.
fn resets(samples: &[&Sample], nominal: u64) -> Vec<usize> {
    let mut out = Vec::new();
    let has_dts = samples.iter().any(|s| s.dts.is_some());
    if has_dts {
        let mut max: Option<u64> = None;
        let back = nominal.max(1_000_000);
        for (i, s) in samples.iter().enumerate() {
            let d = s.dts.or(s.pts).unwrap_or(0);
            match max {
                Some(m) if d + back < m => {
                    out.push(i);
                    max = Some(d);
                }
                _ => max = Some(max.map_or(d, |m| m.max(d))),
            }
        }
        return out;
    }
    // Presentation times only: replay the stream through a decoder's reorder buffer sized from
    // the stream's own reorder depth (the earliest of the buffered frames is shown next). A
    // frame that arrives earlier than one already shown went back in time: no reordering puts
    // it there. The buffer is then emptied, as a decoder does at a discontinuity.
    let pts: Vec<u64> = samples.iter().map(|s| s.pts.unwrap_or(0)).collect();
    let depth = reorder_depth(&pts) + 1;
    let back = nominal.max(1_000_000);
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<u64>> = Default::default();
    let mut shown: Option<u64> = None;
    for (i, p) in pts.iter().enumerate() {
        if let Some(s) = shown
            && p + back < s
        {
            out.push(i);
            heap.clear();
            shown = None;
        }
        heap.push(std::cmp::Reverse(*p));
        if heap.len() > depth
            && let Some(std::cmp::Reverse(v)) = heap.pop()
        {
            shown = Some(shown.map_or(v, |s| s.max(v)));
        }
    }
    out
}

/// How many frames a stream with presentation times only reorders by (its B-frame depth): the
/// largest number of earlier frames (of the last [`MAX_REORDER`]) that a frame is shown before,
/// counted only when it recurs (at least twice and in 0.5 % of frames). A step back also makes
/// frames shown before many earlier ones, but once, not at every group of pictures.
pub fn reorder_depth(pts: &[u64]) -> usize {
    let mut hist = [0usize; MAX_REORDER as usize + 1];
    for (i, p) in pts.iter().enumerate() {
        let lo = i.saturating_sub(MAX_REORDER as usize);
        let d = pts[lo..i].iter().filter(|q| *q > p).count();
        hist[d] += 1;
    }
    let need = (pts.len() / 200).max(2);
    (1..hist.len()).rev().find(|d| hist[*d] >= need).unwrap_or(0)
}

/// Analyses one stream. `t0` is the file's first timestamp (for `at_s`).
pub fn analyse_stream(t: &Timeline, t0: u64, tolerance: u64) -> StreamAnalysis {
    let kind = t.kind;
    // A video frame without a time after timed ones: its parser dropped a time that repeated
    // the previous one (matroskademux/h264parse do, when a muxer clamped times going back).
    // It stands at the previous frame's time, so a run of them shows as clamped.
    let filled: Vec<Sample>;
    let source: &[Sample] =
        if kind == StreamKind::Video && t.samples.iter().skip_while(|s| s.pts.is_none()).any(|s| s.pts.is_none()) {
            let mut last = None;
            filled = t
                .samples
                .iter()
                .map(|s| {
                    let mut s = *s;
                    if s.pts.is_none() {
                        s.pts = last;
                    }
                    last = s.pts;
                    s
                })
                .collect();
            &filled
        } else {
            &t.samples
        };
    let samples: Vec<&Sample> = source.iter().filter(|s| s.pts.is_some()).collect();
    let mut findings = Vec::new();
    let label = kind.as_str();

    let all_pts: Vec<u64> = {
        let mut v: Vec<u64> = samples.iter().filter_map(|s| s.pts).collect();
        v.sort_unstable();
        v
    };
    let durs: Vec<u64> = samples.iter().filter_map(|s| s.duration).collect();
    let nominal = nominal_interval(&all_pts, &durs);
    let resets = resets(&samples, nominal);
    let mut pieces: Vec<&[&Sample]> = Vec::new();
    let mut from = 0;
    for r in &resets {
        pieces.push(&samples[from..*r]);
        from = *r;
    }
    pieces.push(&samples[from..]);

    let mut explained: Vec<u64> = Vec::new();
    for i in 0..resets.len() {
        let (old, piece) = (pieces[i], pieces[i + 1]);
        // Where the new piece starts in presentation order: its earliest time among the first
        // frames (a reordered stream may begin with a later frame); where the old one ended:
        // the latest time it showed (not the decode clock, which lags behind reordering).
        let lead = piece.len().min(MAX_REORDER as usize + 1);
        let to = piece[..lead].iter().filter_map(|s| s.pts).min().unwrap_or(0);
        let from_p = old.iter().filter_map(|s| s.pts).max().unwrap_or(0);
        let back = (from_p + nominal).saturating_sub(to);
        let at = (from_p + nominal).saturating_sub(t0);
        explained.push(to);
        findings.push(Finding {
            kind: FindingKind::Backwards,
            stream: Some(kind),
            at_s: secs(at),
            duration_s: secs(back),
            detail: format!(
                "The {label} timestamps jump back by {:.3} s after {:.3} s (clock reset or pieces of several recordings joined).",
                secs(back),
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
        pts.sort_by_key(|p| p.0);
        start = start.min(pts[0].0);
        let last = pts[pts.len() - 1];
        end = end.max(last.0 + last.1.filter(|d| *d <= nominal.saturating_mul(2).max(tolerance)).unwrap_or(nominal));
        let mut run = 0u64; // consecutive steps of (nearly) no time
        let mut squeezed = 0u64; // the time those frames stand for
        for (k, w) in pts.windows(2).enumerate() {
            let step = w[1].0 - w[0].0;
            if nominal > 0 && step < nominal / 4 {
                run += 1;
                // The time a clamped frame stands for: its duration when the container says.
                squeezed += w[0].1.unwrap_or(nominal).max(nominal);
            }
            let run_ends = nominal > 0 && (step >= nominal / 4 || k + 2 == pts.len());
            if run_ends && run > 0 {
                if squeezed > tolerance {
                    let first = pts[k + 1 - run as usize + usize::from(step < nominal / 4)].0;
                    let at = first.saturating_sub(t0);
                    explained.push(first);
                    findings.push(Finding {
                        kind: FindingKind::Backwards,
                        stream: Some(kind),
                        at_s: secs(at),
                        duration_s: secs(squeezed),
                        detail: format!(
                            "{} {label} frames carry (nearly) the same time at {:.3} s: the clock went back by about {:.3} s \
                             there and the muxer clamped the times, so these frames' own times are lost.",
                            run + 1,
                            secs(at),
                            secs(squeezed)
                        ),
                    });
                }
                run = 0;
                squeezed = 0;
            }
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
        // A demuxer flags the first buffers of a stream (start, reordered first frames).
        if p <= start.saturating_add(slack) || explained.iter().any(|e| e.abs_diff(p) <= slack) {
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

    // Subtitles, captions and data are sparse by nature: reported, never judged.
    if kind == StreamKind::Other {
        findings.clear();
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

/// The timelines to judge: for the families whose own times are the evidence (MPEG-TS/PS, AVI,
/// FLV) the times as written replace the demuxer's (which smooths jumps, undoes no wrap, or
/// invents times), paired with the demuxer's streams of the same kind in order for codec, size
/// and format changes; a stream only the walk found (its parser failed) is kept with the
/// container's codec name.
pub fn timelines(scan: &DemuxScan) -> Vec<(Timeline, u16)> {
    let Some(walk) = scan.walk.as_ref().filter(|w| {
        matches!(w.family, Family::MpegTs | Family::MpegPs | Family::Avi | Family::Flv)
            && w.streams.iter().any(|s| !s.samples.is_empty())
    }) else {
        return scan.streams.iter().map(|t| (t.clone(), 0)).collect();
    };
    let mut out = Vec::new();
    let mut used = vec![false; scan.streams.len()];
    for raw in walk.streams.iter().filter(|s| !s.samples.is_empty()) {
        let pair = scan.streams.iter().enumerate().position(|(i, g)| !used[i] && g.kind == raw.kind);
        let t = match pair {
            Some(i) => {
                used[i] = true;
                let g = &scan.streams[i];
                let scale = |idx: usize| {
                    if g.samples.is_empty() { idx } else { idx * raw.samples.len() / g.samples.len().max(1) }
                };
                // GStreamer's parser of this stream failed: the container's codec name is the
                // better one (an MPEG-PS without a stream map calls H.264 "MPEG video").
                let failed = scan.error_from_parser.as_deref().and_then(parser_stream) == Some(raw.kind);
                Timeline {
                    kind: raw.kind,
                    codec: if failed && !raw.codec.is_empty() { raw.codec.clone() } else { g.codec.clone() },
                    size: g.size,
                    samples: raw.samples.clone(),
                    format_changes: g
                        .format_changes
                        .iter()
                        .map(|(i, a, b)| (scale(*i), a.clone(), b.clone()))
                        .collect(),
                }
            }
            None => Timeline {
                kind: raw.kind,
                codec: if raw.codec.is_empty() { "unknown".into() } else { raw.codec.clone() },
                size: None,
                samples: raw.samples.clone(),
                format_changes: Vec::new(),
            },
        };
        out.push((t, raw.program));
    }
    // Audio/video the demuxer found and the walk did not (a stream map the walk cannot read):
    // judged on the demuxer's times, on a clock of their own.
    out.extend(
        scan.streams
            .iter()
            .enumerate()
            .filter(|(i, g)| !used[*i] && g.kind != StreamKind::Other)
            .map(|(_, g)| (g.clone(), u16::MAX)),
    );
    out
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
    let streams_in = timelines(scan);
    let container = scan.container.clone().unwrap_or_else(|| "unknown".into());
    let walk = scan.walk.as_ref();
    let timed = |s: &Timeline| s.samples.iter().any(|x| x.pts.is_some());
    let has_samples = streams_in.iter().any(|(s, _)| timed(s));
    let mpeg = walk.is_some_and(|w| matches!(w.family, Family::MpegTs | Family::MpegPs) && w.units > 0);
    let av = streams_in.iter().any(|(s, _)| s.kind != StreamKind::Other && timed(s));
    if mpeg && !av {
        // A multiplex that is read packet by packet but carries no audio or video (tables,
        // teletext, data carousels, private streams this scan cannot time).
        let w = walk.expect("checked above");
        let mut findings = mark_findings(w, &[], 0, tolerance);
        findings.insert(
            0,
            Finding {
                kind: FindingKind::NoSamples,
                stream: None,
                at_s: 0.0,
                duration_s: 0.0,
                detail: format!(
                    "The {} is read ({} {}) but carries no audio or video this scan can time: only tables, data or \
                     private streams. Nothing recorded to judge.",
                    family_name(w.family),
                    w.units,
                    if w.family == Family::MpegTs { "packets" } else { "packets of the program stream" }
                ),
            },
        );
        let complete = w.truncation.is_none();
        if let Some(t) = &w.truncation {
            findings.push(Finding {
                kind: FindingKind::Truncated,
                stream: None,
                at_s: 0.0,
                duration_s: 0.0,
                detail: format!("The file is cut short: {}.", cut_text(t)),
            });
        }
        return FileReport {
            name: name.into(),
            bytes,
            blake3,
            sha256,
            readable: true,
            complete,
            container: family_name(w.family).to_lowercase().replace("mpeg-ts", "mpegts"),
            recorded_start: scan.recorded_start,
            duration_s: 0.0,
            streams: streams_in.iter().map(|(t, _)| analyse_stream(t, 0, tolerance).report).collect(),
            findings,
            error: scan.error.clone(),
            index_at_end: w.index_after_media,
        };
    }
    if !has_samples {
        let mut report = FileReport {
            name: name.into(),
            bytes,
            blake3,
            sha256,
            readable: false,
            complete: false,
            container,
            recorded_start: scan.recorded_start,
            duration_s: 0.0,
            streams: Vec::new(),
            findings: Vec::new(),
            error: None,
            index_at_end: false,
        };
        if walk.is_some_and(|w| w.init_only) {
            // A movie box that describes streams and holds no sample: legal, and not a recording.
            report.readable = true;
            report.complete = walk.is_some_and(|w| w.truncation.is_none());
            report.streams = scan.streams.iter().map(|t| analyse_stream(t, 0, tolerance).report).collect();
            report.findings.push(Finding {
                kind: FindingKind::NoSamples,
                stream: None,
                at_s: 0.0,
                duration_s: 0.0,
                detail:
                    "The file is an initialisation segment: it describes the streams but holds no frame; the footage \
                         is in other files (media segments) or was never written."
                        .into(),
            });
            return report;
        }
        let why = scan.error.clone().unwrap_or_else(|| "the demuxer found no timed media in it".into());
        let mut cut = walk
            .and_then(|w| w.truncation.as_ref())
            .map(|t| format!(" It is cut short: {}.", cut_text(t)))
            .unwrap_or_default();
        if walk.is_some_and(|w| w.segment_only) {
            cut.push_str(
                " It is a media segment (fragments without a movie box): the codec setup is in its initialisation \
                 segment, another file, and the two must be read together.",
            );
        }
        if walk.is_some_and(|w| w.encrypted) {
            cut.push_str(
                " Its samples are encrypted (Common Encryption): GStreamer does not demux them without the key.",
            );
        }
        report.findings.push(Finding {
            kind: FindingKind::Unreadable,
            stream: None,
            at_s: 0.0,
            duration_s: 0.0,
            detail: format!(
                "The file cannot be demuxed ({why}); it is kept and sealed byte for byte, and needs a person to examine it.{cut}",
            ),
        });
        report.error = Some(why);
        return report;
    }
    // Each program of a multiplex on its own clock (`at_s` from its own first time); a file's
    // duration is its longest program's.
    let first = |prog: u16| {
        streams_in.iter().filter(|(_, p)| *p == prog).flat_map(|(s, _)| s.samples.iter().filter_map(|x| x.pts)).min()
    };
    let t0 = streams_in.iter().flat_map(|(s, _)| s.samples.iter().filter_map(|x| x.pts)).min().unwrap_or(0);
    let mut streams = Vec::new();
    let mut findings = Vec::new();
    let mut end = 0u64;
    let mut span = 0u64;
    // The file's extent comes from its audio and video (sparse subtitles end anywhere), or from
    // whatever it holds when it holds nothing else.
    let judged = |k: StreamKind| k != StreamKind::Other || !av;
    for (t, prog) in &streams_in {
        let p0 = first(*prog).unwrap_or(t0);
        let a = analyse_stream(t, p0, tolerance);
        if judged(t.kind) {
            end = end.max(a.end_ns);
            span = span.max(a.end_ns.saturating_sub(p0));
        }
        streams.push(a.report);
        findings.extend(a.findings);
    }
    if walk.is_some_and(|w| matches!(w.family, Family::Bmff | Family::Matroska)) {
        // These containers have no break flag: a DISCONT there is the demuxer's own (a new
        // fragment), and the timeline tells whether anything is missing.
        findings.retain(|f| f.kind != FindingKind::Discontinuity);
    }
    if let Some(w) = walk {
        findings.extend(mark_findings(w, &findings, t0, tolerance));
        if w.encrypted {
            findings.push(Finding {
                kind: FindingKind::Encrypted,
                stream: None,
                at_s: 0.0,
                duration_s: 0.0,
                detail:
                    "The samples are encrypted (Common Encryption): their timing is judged, their pictures and sound \
                         cannot be checked without the key."
                        .into(),
            });
        }
    }
    // A parser that failed on one stream: that stream is named, the rest is judged. Where the
    // walk times that stream from the container itself, only GStreamer's reading of its
    // content failed (often a codec the container does not name): the timing is judged in full.
    let parser_failed = scan.error_from_parser.is_some() && scan.error.is_some();
    let timed_by_walk = |kind: Option<StreamKind>| {
        walk.is_some_and(|w| {
            matches!(w.family, Family::MpegTs | Family::MpegPs | Family::Avi | Family::Flv)
                && w.streams.iter().any(|s| kind.is_none_or(|k| k == s.kind) && !s.samples.is_empty())
        })
    };
    if let (Some(parser), Some(err)) = (&scan.error_from_parser, &scan.error)
        && !timed_by_walk(parser_stream(parser))
    {
        findings.push(Finding {
            kind: FindingKind::StreamUnreadable,
            stream: parser_stream(parser),
            at_s: 0.0,
            duration_s: 0.0,
            detail: format!(
                "GStreamer's {parser} cannot parse one stream ({err}); its timing is judged from the container, its content \
                 is not checked."
            ),
        });
    }
    let mut complete = true;
    let data_end = span;
    // MPEG-TS/PS state no duration: what GStreamer answers is its estimate from the clock
    // (which counts a joined file's pieces twice, or a wrap as a day).
    let stated = scan
        .container_duration_ns
        .filter(|_| !walk.is_some_and(|w| matches!(w.family, Family::MpegTs | Family::MpegPs)))
        .map(|d| d.saturating_sub(walk.map_or(0, |w| w.empty_edit_ns)));
    // The stated duration counts from the container's zero (an edit list may start the media
    // later): compare it with where the data ends on that clock.
    let stated_missing = stated.map(|d| d.saturating_sub(end.max(data_end))).filter(|m| *m > tolerance);
    if let Some(t) = walk.and_then(|w| w.truncation.as_ref()) {
        complete = false;
        let missing = t.missing_ns.or(stated_missing).unwrap_or(0);
        let how_much = if missing > 0 {
            format!("{:.3} s are missing at the end", secs(missing))
        } else {
            "how much time is missing the container does not say".into()
        };
        findings.push(Finding {
            kind: FindingKind::Truncated,
            stream: None,
            at_s: secs(data_end),
            duration_s: secs(missing),
            detail: format!("The file is cut short at {:.3} s: {}; {how_much}.", secs(data_end), cut_text(t)),
        });
    } else if let Some(err) = scan.error.as_ref().filter(|_| !parser_failed) {
        complete = false;
        let missing = stated.map_or(0, |d| d.saturating_sub(end.max(data_end)));
        findings.push(Finding {
            kind: FindingKind::Truncated,
            stream: None,
            at_s: secs(data_end),
            duration_s: secs(missing),
            detail: format!("The data stops at {:.3} s with an error ({err}).", secs(data_end)),
        });
    } else if let Some(missing) = stated_missing {
        complete = false;
        let d = end.max(data_end) + missing;
        findings.push(Finding {
            kind: FindingKind::Truncated,
            stream: None,
            at_s: secs(data_end),
            duration_s: secs(missing),
            detail: format!(
                "The container states {:.3} s but the data ends at {:.3} s: {:.3} s are missing at the end.",
                secs(d),
                secs(data_end),
                secs(missing)
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
        container,
        recorded_start: scan.recorded_start,
        duration_s: secs(data_end),
        streams,
        findings,
        error: scan.error.clone(),
        index_at_end: walk.is_some_and(|w| w.index_after_media),
    }
}

fn cut_text(t: &media_walk::Truncation) -> String {
    match t.missing_bytes {
        Some(b) => format!("{} is {b} bytes short", t.what),
        None => format!("{} is incomplete", t.what),
    }
}

/// The kind of stream a GStreamer parser handles, from its name.
fn parser_stream(parser: &str) -> Option<StreamKind> {
    let audio = ["audio", "aac", "mpegaudio", "ac3", "dca", "flac", "opus", "amr", "wav", "sbc", "mlp", "dts"];
    let video = ["video", "h264", "h265", "jpeg", "vc1", "av1", "vp9", "png", "dirac"];
    if audio.iter().any(|a| parser.contains(a)) {
        Some(StreamKind::Audio)
    } else if video.iter().any(|v| parser.contains(v)) {
        Some(StreamKind::Video)
    } else {
        None
    }
}

/// Findings from what the container marks that the timelines do not already show.
fn mark_findings(w: &Walk, existing: &[Finding], t0: u64, tolerance: u64) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let slack = secs(tolerance).max(1.0);
    let kind_of = |i: Option<usize>| i.and_then(|i| w.streams.get(i)).map(|s| s.kind);
    let explained = |at: f64, kind: Option<StreamKind>| {
        existing.iter().any(|f| {
            matches!(f.kind, FindingKind::Gap | FindingKind::Backwards)
                && (kind.is_none() || f.stream == kind)
                && (f.at_s - at).abs() <= slack
        })
    };
    let garbage: Vec<&media_walk::Mark> = w.marks.iter().filter(|m| m.kind == MarkKind::Garbage).collect();
    if let Some(g) = garbage.first() {
        let bytes: u64 = garbage.iter().map(|m| m.count).sum();
        let places = if garbage.len() > 1 { format!("{} places, the first ", garbage.len()) } else { String::new() };
        out.push(Finding {
            kind: FindingKind::Discontinuity,
            stream: None,
            at_s: 0.0,
            duration_s: 0.0,
            detail: format!(
                "{bytes} bytes are no part of any {} structure ({places}at byte {}): the file is damaged there, or pieces \
                 were joined.",
                family_name(w.family),
                g.offset
            ),
        });
    }
    for m in w.marks.iter().filter(|m| m.kind != MarkKind::Garbage) {
        let at = m.before_ns.map(|t| secs(t.saturating_sub(t0)));
        let kind = kind_of(m.stream);
        let detail = match m.kind {
            MarkKind::DiscontinuityFlag => {
                // The first packets of a stream are often flagged (a muxer starting): not a break.
                let Some(at) = at else { continue };
                if explained(at, kind) {
                    continue;
                }
                format!(
                    "The transport stream marks a discontinuity (discontinuity_indicator) on PID {} at {at:.3} s, byte {}: \
                     the muxer says its clock or packet count breaks here.",
                    m.id, m.offset
                )
            }
            MarkKind::CounterLoss => {
                if at.is_some_and(|a| explained(a, kind)) {
                    continue;
                }
                let what = if kind.is_some() { "" } else { " (tables or data)" };
                let when = at.map(|a| format!(" ({a:.3} s)")).unwrap_or_default();
                format!(
                    "{} transport packet(s) of PID {}{what} are missing or repeated (continuity counter), first at byte {}{when}.",
                    m.count, m.id, m.offset,
                )
            }
            MarkKind::Garbage => continue,
        };
        out.push(Finding {
            kind: FindingKind::Discontinuity,
            stream: kind,
            at_s: at.unwrap_or(0.0),
            duration_s: 0.0,
            detail,
        });
    }
    out
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::MpegTs => "MPEG-TS",
        Family::MpegPs => "MPEG-PS",
        Family::Matroska => "Matroska",
        Family::Avi => "AVI",
        Family::Flv => "FLV",
        Family::Bmff => "MP4",
        Family::Unknown => "container",
    }
}

/// Findings of the decoding check: the frames the demuxer delivered that no decoder returned,
/// as regions per stream, and what the decoders said. Compared on GStreamer's own clock (the
/// demux and decode passes use the same demuxer); `at_s` from the first demuxed time.
pub fn decode_findings(scan: &DemuxScan, dec: &crate::decode::DecodeScan) -> Vec<Finding> {
    const MAX_REGIONS: usize = 20;
    let mut out = Vec::new();
    let t0 = scan.streams.iter().flat_map(|s| s.samples.iter().filter_map(|x| x.pts)).min().unwrap_or(0);
    let mut used = vec![false; dec.streams.len()];
    // A stream whose parser already failed in the demux pass (an MPEG-PS without a stream map
    // calls H.264 "MPEG video") cannot be decoded here: the demux report says how it was timed.
    let failed = scan.error_from_parser.as_deref().and_then(parser_stream);
    if scan.error_from_parser.is_some() && scan.error_from_parser == dec.error_factory {
        return out; // the decode pass stopped where the demux pass's parser did: nothing to add
    }
    if dec.missing_plugin {
        // This installation has no decoder for a stream: nothing can be said about its frames
        // here, and that is no fault of the recording (the worker logs it).
        return out;
    }
    if let Some(e) = &dec.error {
        // The pass stopped: what it saw before that is judged, and the stop is said.
        let stop = dec.streams.iter().flat_map(|d| d.buffers.iter().map(|b| b.0)).max().unwrap_or(t0);
        out.push(Finding {
            kind: FindingKind::DecodeError,
            stream: None,
            at_s: secs(stop.saturating_sub(t0)),
            duration_s: 0.0,
            detail: format!("The decoding check stopped at {:.3} s: {e}", secs(stop.saturating_sub(t0))),
        });
    }
    let stop =
        dec.error.as_ref().map(|_| dec.streams.iter().flat_map(|d| d.buffers.iter().map(|b| b.0)).max().unwrap_or(0));
    for t in scan.streams.iter().filter(|t| t.kind != StreamKind::Other && Some(t.kind) != failed) {
        let label = t.kind.as_str();
        let mut pts: Vec<u64> = t.samples.iter().filter_map(|s| s.pts).collect();
        if pts.is_empty() {
            continue;
        }
        pts.sort_unstable();
        let durs: Vec<u64> = t.samples.iter().filter_map(|s| s.duration).collect();
        let nominal = nominal_interval(&pts, &durs).max(1);
        if let Some(stop) = stop {
            pts.retain(|p| *p <= stop);
            if pts.is_empty() {
                continue;
            }
        }
        let Some(d) = dec.streams.iter().enumerate().position(|(i, d)| !used[i] && d.kind == Some(t.kind)) else {
            let why = dec.error.clone().unwrap_or_else(|| "no decoder output".into());
            out.push(Finding {
                kind: FindingKind::DecodeError,
                stream: Some(t.kind),
                at_s: 0.0,
                duration_s: 0.0,
                detail: format!("The {label} stream ({}) gave no decoded frame here ({why}).", t.codec),
            });
            continue;
        };
        used[d] = true;
        let mut got: Vec<(u64, u64)> = dec.streams[d].buffers.clone();
        // Decoders drop a few frames at the start (audio priming, leading frames of an open
        // GOP): not damage.
        let priming = 200_000_000;
        if walk_family(scan).is_some_and(|f| matches!(f, Family::MpegTs | Family::MpegPs)) {
            // tsdemux/mpegpsdemux smooth clock jumps differently from pass to pass: only the
            // counts compare.
            let missing = (pts.len() as u64).saturating_sub(got.len() as u64);
            if missing * nominal > priming {
                out.push(Finding {
                    kind: FindingKind::DecodeError,
                    stream: Some(t.kind),
                    at_s: 0.0,
                    duration_s: secs(missing * nominal),
                    detail: format!(
                        "{missing} of {} {label} frames do not decode (damaged bitstream, or a reference frame missing); \
                         where, this container's demuxer does not let the check say.",
                        pts.len()
                    ),
                });
            }
            continue;
        }
        got.sort_unstable();
        // A demuxed frame is decoded when a decoded buffer starts within half a frame of it, or
        // (audio, whose decoders may merge frames) covers it.
        let half = nominal / 2;
        let mut k = 0;
        let mut regions: Vec<(u64, u64)> = Vec::new(); // (first pts, frames)
        let mut run: Option<(u64, u64)> = None;
        for p in &pts {
            while k < got.len() && got[k].0 + got[k].1.max(half) < *p && got[k].0 + half < *p {
                k += 1;
            }
            let ok = got[k.saturating_sub(1)..got.len().min(k + 2)]
                .iter()
                .any(|(g, gd)| g.abs_diff(*p) <= half || (*g <= *p && *p < g + gd));
            match (ok, run.as_mut()) {
                (false, Some(r)) => r.1 += 1,
                (false, None) => run = Some((*p, 1)),
                (true, Some(_)) => regions.extend(run.take()),
                (true, None) => {}
            }
        }
        regions.extend(run.take());
        let last = pts[pts.len() - 1];
        regions.retain(|(first, n)| {
            let short = n * nominal <= priming;
            // …and the last frames at the end (a decoder's delay left unflushed).
            !(short && (first - pts[0] < priming || last.saturating_sub(*first) < priming))
        });
        let total: u64 = regions.iter().map(|r| r.1).sum();
        for (first, n) in regions.iter().take(MAX_REGIONS) {
            let at = first.saturating_sub(t0);
            out.push(Finding {
                kind: FindingKind::DecodeError,
                stream: Some(t.kind),
                at_s: secs(at),
                duration_s: secs(n * nominal),
                detail: format!(
                    "{n} {label} frame(s) from {:.3} s do not decode: the demuxer delivers them, the decoder returns \
                     nothing for them (damaged bitstream, or a reference frame missing).",
                    secs(at)
                ),
            });
        }
        if regions.len() > MAX_REGIONS {
            out.push(Finding {
                kind: FindingKind::DecodeError,
                stream: Some(t.kind),
                at_s: secs(regions[MAX_REGIONS].0.saturating_sub(t0)),
                duration_s: 0.0,
                detail: format!(
                    "{} more regions of {label} frames do not decode ({total} frames in all).",
                    regions.len() - MAX_REGIONS
                ),
            });
        }
    }
    let mut said: Vec<(&str, &str)> = Vec::new();
    for (el, msg, pos) in &dec.messages {
        if said.contains(&(el.as_str(), msg.as_str())) {
            continue;
        }
        said.push((el, msg));
        out.push(Finding {
            kind: FindingKind::DecodeError,
            stream: parser_stream(el),
            at_s: pos.map_or(0.0, |p| secs(p.saturating_sub(t0))),
            duration_s: 0.0,
            detail: format!("The decoder {el} reports: {msg}"),
        });
    }
    out
}

fn walk_family(scan: &DemuxScan) -> Option<Family> {
    scan.walk.as_ref().map(|w| w.family)
}

/// Adds the decoding check's findings to a report (and marks it as checked in `tool`'s sense:
/// the findings say so).
pub fn add_decode_findings(report: &mut FileReport, scan: &DemuxScan, dec: &crate::decode::DecodeScan) {
    if !report.readable || report.findings.iter().any(|f| f.kind == FindingKind::NoSamples) {
        return;
    }
    // Where the timeline already goes back or skips, the frames' times are not theirs: what
    // does not match there is said by that finding.
    let timing: Vec<(Option<StreamKind>, f64, f64)> = report
        .findings
        .iter()
        .filter(|f| matches!(f.kind, FindingKind::Backwards | FindingKind::Gap))
        .map(|f| (f.stream, f.at_s - 0.1, f.at_s + f.duration_s + 0.1))
        .collect();
    let found = decode_findings(scan, dec).into_iter().filter(|f| {
        !timing
            .iter()
            .any(|(s, a, b)| *s == f.stream && f.at_s + f.duration_s >= *a && f.at_s <= *b && f.duration_s > 0.0)
    });
    report.findings.extend(found);
    report.findings.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
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
        findings.extend(between_files(&files[a].name, &files[b].name, d, tolerance_s));
    }
    (order, source, findings, unplaced)
}

/// The session rule between two consecutive files: `hole_s` seconds from the end of `after` to
/// the start of `before` is a gap beyond `tolerance_s`, an overlap below `-tolerance_s`, and
/// nothing within it. Used for a session scanned at once ([`session`]) and for a recorder's
/// segment, whose hole before it is known from its predecessor.
pub fn between_files(
    after: &str,
    before: &str,
    hole_s: f64,
    tolerance_s: f64,
) -> Option<evidence_contracts::report::SessionFinding> {
    use evidence_contracts::report::{SessionFinding, SessionFindingKind};
    let kind = if hole_s > tolerance_s {
        SessionFindingKind::GapBetweenFiles
    } else if hole_s < -tolerance_s {
        SessionFindingKind::OverlapBetweenFiles
    } else {
        return None;
    };
    Some(SessionFinding { kind, after: after.to_owned(), before: before.to_owned(), duration_s: hole_s.abs() })
}

/// The report of one file with the session findings before it (a segment's hole since its
/// predecessor), and its short form: the file's figures, the report's verdict, every finding
/// counted.
pub fn file_with_findings(
    tool: &str,
    file: FileReport,
    before: Vec<evidence_contracts::report::SessionFinding>,
    tolerance: u64,
) -> (evidence_contracts::report::ScanReportV1, evidence_contracts::transcode::ScanSummaryV1) {
    let mut short = summary(&file);
    short.findings = short.findings.saturating_add(u32::try_from(before.len()).unwrap_or(u32::MAX));
    let report = scan_report(tool, vec![file], before, tolerance);
    short.verdict = report.verdict;
    (report, short)
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
    #[test]
    fn between_files_is_a_gap_or_an_overlap_only_beyond_the_tolerance() {
        use evidence_contracts::report::SessionFindingKind as K;
        let kind = |hole: f64| between_files("a", "b", hole, 1.0).map(|f| (f.kind, f.duration_s));
        assert_eq!(kind(0.0), None);
        assert_eq!(kind(1.0), None);
        assert_eq!(kind(-1.0), None);
        assert_eq!(kind(4.25), Some((K::GapBetweenFiles, 4.25)));
        assert_eq!(kind(-2.5), Some((K::OverlapBetweenFiles, 2.5)));
        let f = between_files("a.mp4", "b.mp4", 3.0, 1.0).expect("gap");
        assert_eq!((f.after.as_str(), f.before.as_str()), ("a.mp4", "b.mp4"));
    }

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
        // The last frame shown before the reset ends at (n + 1) frames (PTS are one frame after
        // the DTS); the next frame says 0: the clock jumps back by that much.
        assert!((a.findings[0].duration_s - secs((n + 1) * F)).abs() < 0.001, "{:?}", a.findings[0]);
        assert!((a.findings[0].at_s - secs((n + 1) * F)).abs() < 0.001, "{:?}", a.findings[0]);
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
