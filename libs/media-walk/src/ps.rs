//! MPEG program streams (ISO 11172-1 system streams and ISO 13818-1 program streams, as DVD
//! recorders and GB/T 28181 platforms store them: H.264/H.265 with G.711 or AAC): pack headers,
//! the program stream map (stream types), and every PES's PTS/DTS per stream id, with the 33-bit
//! wrap undone. Judged like MPEG-TS.
//!
//! A frame split over several PES, each stamped with the same time, counts once. Cut short: a
//! pack header or PES whose bytes the file does not hold.

use std::collections::HashMap;
use std::io::Read;

use evidence_contracts::report::StreamKind;

use crate::mpeg::{self, Clock};
use crate::{Family, Mark, RawStream, Truncation, Walk};

/// A reader that counts its position and reads through short reads.
struct Pos<R> {
    r: R,
    at: u64,
}

impl<R: Read> Pos<R> {
    /// Fills `buf`; returns how many bytes were there.
    fn fill(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = crate::read_full(&mut self.r, buf)?;
        self.at += n as u64;
        Ok(n)
    }
    fn byte(&mut self) -> std::io::Result<Option<u8>> {
        let mut b = [0u8];
        Ok((self.fill(&mut b)? == 1).then_some(b[0]))
    }
    fn skip(&mut self, n: u64) -> std::io::Result<u64> {
        let k = std::io::copy(&mut (&mut self.r).take(n), &mut std::io::sink())?;
        self.at += k;
        Ok(k)
    }
}

#[derive(Default)]
struct Es {
    stream: usize,
    clock: Clock,
    ticks: Vec<mpeg::Unit>,
    framing: Option<mpeg::Framing>,
    overhang: usize,
}

/// Walks a program stream read front to back.
///
/// # Errors
/// Read errors only.
pub fn walk(r: impl Read) -> std::io::Result<Walk> {
    let mut w = Walk::new(Family::MpegPs);
    let mut r = Pos { r, at: 0 };
    let mut types: HashMap<u8, u8> = HashMap::new(); // stream id → stream_type, from the PSM
    let mut es: HashMap<u8, Es> = HashMap::new();
    let mut anchor: Option<i64> = None;
    let mut code = 0xffff_ffffu32;
    let mut garbage: Option<(u64, u64)> = None;
    let mut pes = vec![0u8; 65_535];
    'walk: while let Some(b) = r.byte()? {
        code = code << 8 | u32::from(b);
        if code >> 8 != 1 {
            if r.at > 4 {
                let g = garbage.get_or_insert((r.at - 1, 0));
                g.1 += 1;
            }
            continue;
        }
        let id = (code & 0xff) as u8;
        let start = r.at - 4;
        if id < 0xb9 {
            // A start code inside elementary data (video slice, sequence header): not a
            // system structure; keep looking.
            continue;
        }
        if let Some((at, bytes)) = garbage.take() {
            // The 3 bytes of this start code were counted as garbage before we knew.
            let bytes = bytes.saturating_sub(3);
            if bytes > 0 {
                w.marks.push(Mark::garbage(at, bytes));
            }
        }
        code = 0xffff_ffff;
        match id {
            0xb9 => {} // program end
            0xba => {
                let mut h = [0u8; 10];
                let n = r.fill(&mut h[..8])?;
                if n < 8 {
                    cut(&mut w, start, 12 + (8 - n as u64), "a pack header");
                    break 'walk;
                }
                if h[0] >> 6 == 0b01 {
                    // MPEG-2: 14 bytes and stuffing.
                    let n = r.fill(&mut h[8..10])?;
                    if n < 2 {
                        cut(&mut w, start, 2 - n as u64, "a pack header");
                        break 'walk;
                    }
                    let stuffing = u64::from(h[9] & 0x07);
                    let k = r.skip(stuffing)?;
                    if k < stuffing {
                        cut(&mut w, start, stuffing - k, "a pack header");
                        break 'walk;
                    }
                }
            }
            _ => {
                let mut l = [0u8; 2];
                let n = r.fill(&mut l)?;
                if n < 2 {
                    cut(&mut w, start, 2 - n as u64, "a packet header");
                    break 'walk;
                }
                let len = usize::from(l[0]) << 8 | usize::from(l[1]);
                let want = match id {
                    0xbc | 0xc0..=0xef | 0xbd => len,
                    _ => 0,
                };
                let got = r.fill(&mut pes[..want])?;
                if got < want {
                    cut_pes(&mut w, &es, id, start, (want - got) as u64);
                    break 'walk;
                }
                if want == 0 {
                    let k = r.skip(len as u64)?;
                    if k < len as u64 {
                        cut(&mut w, start, len as u64 - k, "a packet");
                        break 'walk;
                    }
                    continue;
                }
                let body = &pes[..want];
                w.units += 1;
                if id == 0xbc {
                    psm(body, &mut types);
                    continue;
                }
                let (pts, dts) = if body.first().is_some_and(|b| b >> 6 == 0b10) {
                    let mut h = vec![0, 0, 1, id, l[0], l[1]];
                    h.extend_from_slice(&body[..body.len().min(20)]);
                    mpeg::pes2_times(&h)
                } else {
                    mpeg::pes1_times(body)
                };
                let e = match es.get_mut(&id) {
                    Some(e) => e,
                    None => {
                        let (kind, name) = match types.get(&id) {
                            Some(st) => mpeg::stream_type(*st),
                            None if (0xc0..=0xdf).contains(&id) => (StreamKind::Audio, "MPEG audio"),
                            None if (0xe0..=0xef).contains(&id) => (StreamKind::Video, "MPEG video"),
                            None => (StreamKind::Audio, "private stream 1"),
                        };
                        let payload = pes_payload(body);
                        let framing = match types.get(&id) {
                            Some(st) => mpeg::Framing::for_stream_type(*st),
                            None if (0xc0..=0xdf).contains(&id) => Some(mpeg::Framing::MpegAudio),
                            None => None,
                        };
                        // Without a stream map the stream id says only "video": the bitstream says which.
                        let name = if types.contains_key(&id) || kind != StreamKind::Video {
                            name
                        } else {
                            sniff_video(payload)
                        };
                        es.insert(id, Es { stream: w.streams.len(), framing, ..Default::default() });
                        w.streams.push(RawStream {
                            id: u32::from(id),
                            kind,
                            codec: name.into(),
                            program: 0,
                            samples: Vec::new(),
                        });
                        es.get_mut(&id).expect("inserted above")
                    }
                };
                // Audio frames run on from one PES into the next; the frame a PES times is the
                // first that starts in it.
                let (n, dur, over) = e.framing.map(|f| f.frames(pes_payload(body), e.overhang)).unwrap_or_default();
                if e.framing.is_some() {
                    e.overhang = if n == 0 { e.overhang.saturating_sub(pes_payload(body).len()) } else { over };
                }
                if let Some(t) = e.clock.push(pts, dts, anchor) {
                    anchor = Some(t.1.unwrap_or(t.0));
                    // PS packs carry whole audio frames per PES as a rule: each gets its time.
                    e.ticks.push((t.0, t.1, n, dur));
                }
            }
        }
    }
    if let Some((at, bytes)) = garbage.take() {
        w.marks.push(Mark::garbage(at, bytes));
    }
    let base = es.values().flat_map(|e| e.ticks.iter().map(|(p, d, ..)| d.unwrap_or(*p).min(*p))).min().unwrap_or(0);
    for e in es.values() {
        if let Some(s) = w.streams.get_mut(e.stream) {
            s.samples = mpeg::to_samples(&e.ticks, base);
        }
    }
    Ok(w)
}

fn cut(w: &mut Walk, offset: u64, missing: u64, what: &str) {
    w.truncation = Some(Truncation {
        offset,
        missing_bytes: Some(missing),
        missing_ns: None,
        what: format!("{what} at byte {offset}"),
    });
}

fn cut_pes(w: &mut Walk, es: &HashMap<u8, Es>, id: u8, offset: u64, missing: u64) {
    let stream = es.get(&id).and_then(|e| w.streams.get(e.stream)).map(|s| s.kind.as_str()).unwrap_or("a");
    let what = format!("the {stream} PES packet (stream id 0x{id:02x})");
    cut(w, offset, missing, &what);
}

/// The elementary data of a PES body (after the length field): MPEG-2 header or MPEG-1 fields.
fn pes_payload(body: &[u8]) -> &[u8] {
    if body.first().is_some_and(|b| b >> 6 == 0b10) {
        let hl = body.get(2).map_or(0, |l| usize::from(*l));
        return body.get(3 + hl..).unwrap_or(&[]);
    }
    let mut i = 0;
    while body.get(i) == Some(&0xff) && i < 16 {
        i += 1;
    }
    if body.get(i).is_some_and(|b| b >> 6 == 0b01) {
        i += 2;
    }
    let n = match body.get(i).map(|b| b >> 4) {
        Some(0b0010) => 5,
        Some(0b0011) => 10,
        _ => 1,
    };
    body.get(i + n..).unwrap_or(&[])
}

/// H.264, H.265 or MPEG video, from the start codes in a first PES payload.
fn sniff_video(p: &[u8]) -> &'static str {
    for w in p.windows(4) {
        if w[..3] == [0, 0, 1] {
            match w[3] {
                0xb3 => return "MPEG video",
                0x40 | 0x42 | 0x44 | 0x46 | 0x4e | 0x26 | 0x02 => return "H.265",
                x if matches!(x & 0x1f, 5 | 7 | 8 | 9) && x & 0x80 == 0 => return "H.264",
                _ => {}
            }
        }
    }
    "MPEG video"
}

/// Program stream map: elementary stream id → stream_type.
fn psm(b: &[u8], types: &mut HashMap<u8, u8>) {
    if b.len() < 6 {
        return;
    }
    let info = usize::from(b[2]) << 8 | usize::from(b[3]);
    let Some(m) = b.get(4 + info..) else { return };
    if m.len() < 2 {
        return;
    }
    let map_len = usize::from(m[0]) << 8 | usize::from(m[1]);
    let mut k = 2;
    while k + 4 <= (2 + map_len).min(m.len()) {
        let st = m[k];
        let id = m[k + 1];
        let il = usize::from(m[k + 2]) << 8 | usize::from(m[k + 3]);
        types.insert(id, st);
        k += 4 + il;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts_field(prefix: u8, t: i64) -> [u8; 5] {
        [
            prefix << 4 | (((t >> 30) & 0x7) << 1) as u8 | 1,
            ((t >> 22) & 0xff) as u8,
            ((((t >> 15) & 0x7f) << 1) | 1) as u8,
            ((t >> 7) & 0xff) as u8,
            (((t & 0x7f) << 1) | 1) as u8,
        ]
    }

    /// A GB/T 28181-style program stream: pack header, PSM (H.264 0xe0, G.711 A-law 0xc0),
    /// video frames split over two PES stamped alike, audio every 40 ms.
    pub(crate) fn gb28181(frames: u32, start: i64, hole_at: Option<(u32, i64)>) -> Vec<u8> {
        let mut out = Vec::new();
        for f in 0..frames {
            let mut t = start + i64::from(f) * 3600; // 25 fps
            if let Some((at, by)) = hole_at
                && f >= at
            {
                t += by;
            }
            let t = t.rem_euclid(mpeg::WRAP);
            out.extend_from_slice(&[0, 0, 1, 0xba, 0x44, 0, 4, 0, 4, 1, 0, 0, 3, 0xf8]);
            if f == 0 {
                let map = [0x1b, 0xe0, 0, 0, 0x90, 0xc0, 0, 0];
                let mut psm = vec![0xe0, 0xff, 0, 0, 0, map.len() as u8];
                psm.extend_from_slice(&map);
                psm.extend_from_slice(&[0, 0, 0, 0]); // CRC (not checked)
                out.extend_from_slice(&[0, 0, 1, 0xbc, 0, psm.len() as u8]);
                out.extend_from_slice(&psm);
            }
            for _ in 0..2 {
                let mut body = vec![0x80, 0x80, 5];
                body.extend_from_slice(&ts_field(0b0010, t));
                body.extend_from_slice(&[0u8; 300]);
                out.extend_from_slice(&[0, 0, 1, 0xe0, (body.len() >> 8) as u8, body.len() as u8]);
                out.extend_from_slice(&body);
            }
            let mut body = vec![0x80, 0x80, 5];
            body.extend_from_slice(&ts_field(0b0010, t));
            body.extend_from_slice(&[0xd5u8; 320]);
            out.extend_from_slice(&[0, 0, 1, 0xc0, (body.len() >> 8) as u8, body.len() as u8]);
            out.extend_from_slice(&body);
        }
        out
    }

    #[test]
    fn a_gb28181_stream_reads_with_its_stream_types_and_one_sample_per_frame() {
        let w = walk(&gb28181(50, 0, None)[..]).expect("read");
        assert_eq!(w.streams.len(), 2);
        assert_eq!((w.streams[0].kind, w.streams[0].codec.as_str()), (StreamKind::Video, "H.264"));
        assert_eq!((w.streams[1].kind, w.streams[1].codec.as_str()), (StreamKind::Audio, "G.711 A-law"));
        assert_eq!(w.streams[0].samples.len(), 50);
        assert_eq!(w.streams[1].samples.len(), 50);
        assert!(w.truncation.is_none() && w.marks.is_empty(), "{:?} {:?}", w.truncation, w.marks);
    }

    #[test]
    fn the_wrap_is_undone_and_a_cut_is_named() {
        let data = gb28181(50, mpeg::WRAP - 3600 * 10, None);
        let w = walk(&data[..]).expect("read");
        let v: Vec<u64> = w.streams[0].samples.iter().filter_map(|s| s.pts).collect();
        assert!(v.windows(2).all(|p| p[1] - p[0] == 40_000_000), "{v:?}");
        let w = walk(&data[..data.len() - 100]).expect("read");
        let t = w.truncation.expect("cut");
        assert_eq!(t.missing_bytes, Some(100));
        assert!(t.what.contains("audio PES"), "{}", t.what);
    }
}
