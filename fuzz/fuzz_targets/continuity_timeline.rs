//! Arbitrary timelines (any order, any gaps, missing timestamps) through the pure analysis:
//! it must never panic, and every finding must lie within the timeline it describes.
#![no_main]

use evidence_contracts::report::StreamKind;
use gst_support::continuity::{DEFAULT_TOLERANCE_NS, analyse_stream};
use gst_support::scan::{Sample, Timeline};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let samples: Vec<Sample> = data
        .chunks_exact(9)
        .map(|c| {
            let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) >> 20;
            let f = c[8];
            Sample {
                pts: (f & 1 == 0).then_some(v),
                dts: (f & 2 == 0).then_some(v.saturating_sub(u64::from(f >> 4) * 1_000_000)),
                duration: (f & 4 == 0).then_some(u64::from(f) * 1_000_000),
                discont: f & 8 != 0,
            }
        })
        .collect();
    let t = Timeline { kind: StreamKind::Video, codec: "fuzz".into(), samples, format_changes: Vec::new() };
    let a = analyse_stream(&t, 0, DEFAULT_TOLERANCE_NS);
    for f in &a.findings {
        assert!(f.at_s.is_finite() && f.duration_s.is_finite() && f.duration_s >= 0.0);
    }
});
