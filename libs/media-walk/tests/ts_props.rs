//! Property tests of the MPEG-TS walk on synthetic transport streams: timelines that cross the
//! 33-bit wrap, with and without holes, come out unwrapped with every step as written; a cut
//! anywhere is named.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use media_walk::mpeg::WRAP;
use proptest::prelude::*;

fn pts_field(flag: u8, t: i64) -> [u8; 5] {
    let t = t.rem_euclid(WRAP);
    [
        flag << 4 | (((t >> 30) & 0x7) << 1) as u8 | 1,
        ((t >> 22) & 0xff) as u8,
        ((((t >> 15) & 0x7f) << 1) | 1) as u8,
        ((t >> 7) & 0xff) as u8,
        (((t & 0x7f) << 1) | 1) as u8,
    ]
}

fn packet(pid: u16, pusi: bool, cc: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x47, (u8::from(pusi) << 6) | (pid >> 8) as u8, pid as u8];
    let room = 184;
    if payload.len() >= room {
        p.push(0x10 | (cc & 0xf));
        p.extend_from_slice(&payload[..room]);
    } else {
        // Adaptation field of stuffing before a short payload.
        let af = room - payload.len() - 1;
        p.push(0x30 | (cc & 0xf));
        p.push(af as u8);
        if af > 0 {
            p.push(0);
            p.extend(std::iter::repeat_n(0xff, af - 1));
        }
        p.extend_from_slice(payload);
    }
    p
}

/// A transport stream with one H.264 PID (0x100) carrying one PES per frame at `times` (90 kHz,
/// not wrapped: the writer wraps them).
fn stream(times: &[i64]) -> Vec<u8> {
    let mut out = Vec::new();
    let pat = [0u8, 0x00, 0xb0, 0x0d, 0, 1, 0xc1, 0, 0, 0, 1, 0xe0, 0x20, 0, 0, 0, 0];
    out.extend(packet(0, true, 0, &pat));
    let pmt = [0u8, 0x02, 0xb0, 0x12, 0, 1, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0, 0x1b, 0xe1, 0x00, 0xf0, 0, 0, 0, 0, 0];
    out.extend(packet(0x20, true, 0, &pmt));
    let mut cc = 0u8;
    for t in times {
        let mut pes = vec![0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5];
        pes.extend_from_slice(&pts_field(0b0010, *t));
        pes.extend_from_slice(&[0, 0, 0, 1, 9, 0xf0]);
        pes.resize(300, 0xaa);
        for (k, chunk) in pes.chunks(184).enumerate() {
            out.extend(packet(0x100, k == 0, cc, chunk));
            cc = cc.wrapping_add(1);
        }
    }
    out
}

const FRAME: i64 = 3000; // 30 fps in 90 kHz ticks

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_timeline_across_the_wrap_keeps_every_step(
        before in 1i64..200,
        n in 50usize..400,
        holes in proptest::collection::btree_map(1usize..400, 1i64..900_000, 0..4),
    ) {
        let start = WRAP - before * FRAME;
        let mut t = start;
        let mut times = Vec::new();
        for i in 0..n {
            if let Some(h) = holes.get(&i) {
                t += h;
            }
            times.push(t);
            t += FRAME;
        }
        let w = media_walk::ts::walk(&stream(&times)[..]).unwrap();
        prop_assert_eq!(w.streams.len(), 1);
        let got: Vec<u64> = w.streams[0].samples.iter().map(|s| s.pts.unwrap()).collect();
        prop_assert_eq!(got.len(), n);
        for (i, pair) in got.windows(2).enumerate() {
            let want = (times[i + 1] - times[i]) as u64 * 100_000 / 9;
            prop_assert!(pair[1].abs_diff(pair[0] + want) <= 1, "step {i}: {} then {}", pair[0], pair[1]);
        }
        prop_assert!(w.truncation.is_none() && w.marks.is_empty(), "{:?} {:?}", w.truncation, w.marks);
    }

    #[test]
    fn a_cut_anywhere_after_the_tables_is_named(n in 10usize..60, cut in 1usize..187, frame in 2usize..9) {
        let times: Vec<i64> = (0..n as i64).map(|i| WRAP - 5 * FRAME + i * FRAME).collect();
        let data = stream(&times);
        let end = (2 + frame * 2) * 188 + cut;
        let w = media_walk::ts::walk(&data[..end]).unwrap();
        let t = w.truncation.expect("cut short");
        prop_assert_eq!(t.missing_bytes.is_some(), true);
        prop_assert!(t.what.contains("transport packet"), "{}", t.what);
    }
}
