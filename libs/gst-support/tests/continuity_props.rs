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

    #[test]
    fn presentation_times_only_b_frame_orders_of_depth_1_to_16_never_go_backwards(
        f in interval(),
        depth in 1usize..=16,
        gops in 3usize..40,
        hole in proptest::option::of((1usize..40, 300_000_000u64..5_000_000_000)),
    ) {
        // Matroska-style: presentation times only, in decode order. Each group is an anchor
        // (I/P) followed by `depth` B-frames shown before it, in a pyramid-like decode order
        // (the middle first), so every frame is shown before up to `depth` earlier ones.
        let mut samples = Vec::new();
        let mut shown = 0u64;
        let mut shift = 0u64;
        let mut expect_gap = None;
        for g in 0..gops {
            if let Some((at, len)) = hole && at == g {
                expect_gap = Some((shown * f + shift, len));
                shift += len;
            }
            let anchor = shown + depth as u64;
            let mut order = vec![anchor];
            let mut bs: Vec<u64> = (shown..anchor).collect();
            // middle-out: the frame in the middle is decoded first, then the halves.
            let mut out = Vec::new();
            while !bs.is_empty() {
                let m = bs.len() / 2;
                out.push(bs.remove(m));
                bs.reverse();
            }
            order.extend(out);
            for k in order {
                let p = k * f + shift;
                samples.push(Sample { pts: Some(p), dts: None, duration: None, discont: false });
            }
            shown = anchor + 1;
        }
        let a = analyse_stream(&timeline(StreamKind::Video, samples), 0, DEFAULT_TOLERANCE_NS);
        prop_assert!(a.findings.iter().all(|x| x.kind != FindingKind::Backwards), "depth {depth}: {:?}", a.findings);
        let gaps: Vec<_> = a.findings.iter().filter(|x| x.kind == FindingKind::Gap).collect();
        match expect_gap {
            Some((at, len)) if len > DEFAULT_TOLERANCE_NS => {
                prop_assert_eq!(gaps.len(), 1, "{:?}", a.findings);
                prop_assert!((gaps[0].at_s - at as f64 / 1e9).abs() < 1e-6);
                prop_assert!((gaps[0].duration_s - len as f64 / 1e9).abs() < 1e-6);
            }
            _ => prop_assert!(gaps.is_empty(), "{:?}", a.findings),
        }
    }

    #[test]
    fn presentation_times_only_a_step_back_is_found_once_at_any_b_frame_depth(
        f in interval(),
        depth in 0usize..=8,
        back_frames in 10u64..200,
    ) {
        // 300 frames, then the clock goes back by `back_frames` frames; decode order as above.
        let mut samples = Vec::new();
        let mut shown = 0u64;
        let mut base = 0i64;
        let mut expect_at = 0u64;
        while shown < 600 {
            if shown >= 300 && base == 0 {
                expect_at = shown * f;
                base = -((back_frames * f) as i64);
            }
            let anchor = shown + depth as u64;
            let mut order = vec![anchor];
            order.extend(shown..anchor);
            for k in order {
                let p = (k as i64 * f as i64 + base + 10_000 * f as i64) as u64;
                samples.push(Sample { pts: Some(p), dts: None, duration: None, discont: false });
            }
            shown = anchor + 1;
        }
        let a = analyse_stream(&timeline(StreamKind::Video, samples), 0, DEFAULT_TOLERANCE_NS);
        let back: Vec<_> = a.findings.iter().filter(|x| x.kind == FindingKind::Backwards).collect();
        prop_assert_eq!(back.len(), 1, "{:?}", a.findings);
        let t0 = 10_000 * f;
        prop_assert!((back[0].at_s - (expect_at + t0) as f64 / 1e9).abs() < 2.0 * f as f64 / 1e9, "{:?}", back[0]);
        prop_assert!((back[0].duration_s - (back_frames * f) as f64 / 1e9).abs() < 2.0 * f as f64 / 1e9, "{:?}", back[0]);
    }
}
