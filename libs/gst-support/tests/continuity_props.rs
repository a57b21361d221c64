//! Property tests of the pure continuity analysis: random timelines with injected holes and
//! clock resets are found exactly (position and size); jitter below the tolerance never is.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use evidence_contracts::report::{FindingKind, StreamKind};
use gst_support::continuity::{DEFAULT_TOLERANCE_NS, analyse_stream};
use gst_support::scan::{Sample, Timeline};
use proptest::prelude::*;

fn timeline(kind: StreamKind, samples: Vec<Sample>) -> Timeline {
    Timeline { kind, codec: "test".into(), size: None, samples, format_changes: Vec::new() }
}

/// Frame interval in ns for common rates (video 15/25/30/60 fps, AAC 1024 @ 48 kHz).
fn interval() -> impl Strategy<Value = u64> {
    prop_oneof![Just(66_666_667u64), Just(40_000_000), Just(33_333_333), Just(16_666_667), Just(21_333_333)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn jitter_below_tolerance_is_never_a_gap(f in interval(), n in 50usize..600, seed in any::<u64>(), amp in 0u64..80_000_000) {
        // Each timestamp moves by up to `amp` around its nominal place; steps stay positive.
        let amp = amp.min(f / 2).min(DEFAULT_TOLERANCE_NS / 3);
        let mut x = seed | 1;
        let samples = (0..n as u64).map(|i| {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            let j = if amp == 0 { 0 } else { x % amp };
            let p = i * f + j;
            Sample { pts: Some(p), dts: Some(p), duration: Some(f), discont: false }
        }).collect();
        let a = analyse_stream(&timeline(StreamKind::Video, samples), 0, DEFAULT_TOLERANCE_NS);
        prop_assert!(a.findings.is_empty(), "{:?}", a.findings);
    }

    #[test]
    fn every_injected_hole_is_found_with_its_position_and_size(
        f in interval(),
        holes in proptest::collection::btree_map(5usize..400, 300_000_000u64..20_000_000_000, 1..5),
        n in 420usize..600,
    ) {
        let mut shift = 0u64;
        let mut expect = Vec::new();
        let mut samples = Vec::new();
        for i in 0..n {
            if let Some(h) = holes.get(&i) {
                expect.push(((i as u64) * f + shift, *h));
                shift += h;
            }
            let p = i as u64 * f + shift;
            samples.push(Sample { pts: Some(p), dts: Some(p), duration: Some(f), discont: false });
        }
        let a = analyse_stream(&timeline(StreamKind::Audio, samples), 0, DEFAULT_TOLERANCE_NS);
        let gaps: Vec<_> = a.findings.iter().filter(|x| x.kind == FindingKind::Gap).collect();
        prop_assert_eq!(gaps.len(), expect.len(), "{:?}", a.findings);
        for (g, (at, len)) in gaps.iter().zip(&expect) {
            prop_assert!((g.at_s - *at as f64 / 1e9).abs() < 1e-6, "at {} expected {}", g.at_s, *at as f64 / 1e9);
            prop_assert!((g.duration_s - *len as f64 / 1e9).abs() < 1e-6, "len {} expected {}", g.duration_s, *len as f64 / 1e9);
        }
    }

    #[test]
    fn every_clock_reset_is_found_even_with_b_frames(
        f in interval(),
        resets in proptest::collection::btree_set(10usize..300, 1..4),
        n in 320usize..500,
    ) {
        // Decode order I P B B per group of 4; PTS reorder within the group, DTS monotonic.
        let mut base = 0i64;
        let mut samples = Vec::new();
        let mut expect = 0;
        for g in 0..(n / 4) {
            if resets.contains(&g) && g > 0 {
                base -= (g as i64 * 4) * f as i64 / 2; // jump back by half the elapsed time
                expect += 1;
            }
            for (k, off) in [0i64, 3, 1, 2].iter().enumerate() {
                let dts = base + ((g * 4 + k) as i64) * f as i64 + 10 * f as i64 * 1000;
                let pts = dts + (off + 1) * f as i64 - k as i64 * f as i64;
                samples.push(Sample { pts: Some(pts as u64), dts: Some(dts as u64), duration: Some(f), discont: false });
            }
        }
        let a = analyse_stream(&timeline(StreamKind::Video, samples), 0, DEFAULT_TOLERANCE_NS);
        let back = a.findings.iter().filter(|x| x.kind == FindingKind::Backwards).count();
        prop_assert_eq!(back, expect, "{:?}", a.findings);
        prop_assert!(a.findings.iter().all(|x| x.kind == FindingKind::Backwards), "{:?}", a.findings);
    }
}
