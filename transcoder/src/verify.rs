//! Checks a copy against its source before it is handed to the sealer: it demuxes, it has the
//! same kinds of stream, its duration matches, it has no gap the source does not have, and its
//! frames have the planned size.
//! (Every gap of the source must also stay in the copy: the pipelines keep timestamps as they
//! are, and the issue that deepens the transcoder tests that rule gap by gap.)

use evidence_contracts::report::{FileReport, FindingKind, StreamKind};

/// Problems found; empty when the copy is good.
pub fn verify(
    source_report: &FileReport,
    copy: &FileReport,
    tolerance_ns: u64,
    frame: Option<crate::frame::FramePlan>,
) -> Vec<String> {
    let source = &gst_support::continuity::summary(source_report);
    let mut problems = Vec::new();
    if !copy.readable {
        problems.push(format!("the copy cannot be demuxed: {}", copy.error.as_deref().unwrap_or("unknown error")));
        return problems;
    }
    let kinds = |it: &mut dyn Iterator<Item = StreamKind>| {
        let mut v: Vec<StreamKind> = it.filter(|k| *k != StreamKind::Other).collect();
        v.sort();
        v.dedup();
        v
    };
    let src_kinds = kinds(&mut source.streams.iter().map(|s| s.kind));
    let copy_kinds = kinds(&mut copy.streams.iter().map(|s| s.kind));
    if src_kinds != copy_kinds {
        problems.push(format!("the source has streams {src_kinds:?} but the copy has {copy_kinds:?}"));
    }
    let copy_ns = gst_support::continuity::duration_ns(copy);
    if copy_ns.abs_diff(source.duration_ns) > tolerance_ns {
        problems.push(format!(
            "the copy lasts {:.3} s but the source {:.3} s",
            copy_ns as f64 / 1e9,
            source.duration_ns as f64 / 1e9
        ));
    }
    let copy_gaps =
        copy.findings.iter().filter(|f| matches!(f.kind, FindingKind::Gap | FindingKind::Backwards)).count();
    if copy_gaps > source.findings as usize {
        problems.push(format!(
            "the copy has {copy_gaps} gap(s) but the source only {} finding(s): the copy lost footage",
            source.findings
        ));
    }
    // Every gap of the source must still be in the copy, same stream, same place, same size
    // (within two of the copy's frames, at least 0.15 s: audio encoders frame differently).
    for g in source_report.findings.iter().filter(|f| f.kind == FindingKind::Gap) {
        let interval = copy.streams.iter().find(|s| Some(s.kind) == g.stream).map_or(0.0, |s| s.nominal_interval_s);
        let slack = (2.0 * interval).max(0.15);
        let kept = copy.findings.iter().any(|c| {
            c.kind == FindingKind::Gap
                && c.stream == g.stream
                && (c.at_s - g.at_s).abs() <= slack
                && (c.duration_s - g.duration_s).abs() <= slack
        });
        if !kept {
            problems.push(format!(
                "the source's {:.3} s gap in {} at {:.3} s is not in the copy: a copy may not hide a hole",
                g.duration_s,
                g.stream.map_or("a stream", StreamKind::as_str),
                g.at_s
            ));
        }
    }
    problems.extend(frame.and_then(|plan| frame_size(copy, plan)));
    problems
}

/// The copy's video frames must have the size planned for them (limits and padding applied).
fn frame_size(copy: &FileReport, plan: crate::frame::FramePlan) -> Option<String> {
    let want = plan.output();
    let got = copy.streams.iter().find(|s| s.kind == StreamKind::Video).map(|s| (s.width, s.height));
    match got {
        Some((Some(w), Some(h))) if (w, h) == want => None,
        Some((Some(w), Some(h))) => {
            Some(format!("the copy's frames are {w}x{h}, but {}x{} were planned", want.0, want.1))
        }
        _ => Some(format!("the copy's frame size is unknown; {}x{} were planned", want.0, want.1)),
    }
}
