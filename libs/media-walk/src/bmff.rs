//! ISO BMFF (MP4, MOV, fragmented MP4): the top-level boxes by their sizes, to say where a file
//! is cut short (GStreamer's qtdemux reads the sample tables); also whether the samples are
//! encrypted (CENC: `encv`/`enca`/`sinf` in the movie box) and whether the file is only an
//! initialisation segment (a movie box, no sample in it, no media data).
//!
//! Cut short: a box that declares more bytes than the file holds (`mdat` of a camera whose
//! battery died, the last `moof`/`mdat` of a fragmented recording).

use std::io::{BufReader, Read, Seek};

use crate::{Family, Truncation, Walk, goto, read_full};

/// The movie box is read whole to look for encryption and samples, up to this size.
const MOOV_MAX: u64 = 64 << 20;

/// Walks an MP4/MOV file.
///
/// # Errors
/// Read errors only.
pub fn walk<R: Read + Seek>(r: &mut BufReader<R>, len: u64) -> std::io::Result<Walk> {
    let mut w = Walk::new(Family::Bmff);
    let mut at = 0u64;
    let (mut moov, mut media) = (false, false);
    let mut samples_in_moov = false;
    while at + 8 <= len {
        goto(r, at)?;
        let mut h = [0u8; 16];
        if read_full(r, &mut h[..8])? < 8 {
            break;
        }
        let mut size = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
        let fourcc = [h[4], h[5], h[6], h[7]];
        let mut hl = 8;
        if size == 1 {
            if read_full(r, &mut h[8..16])? < 8 {
                cut(&mut w, at, None, &fourcc, len - at);
                break;
            }
            size = u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
            hl = 16;
        } else if size == 0 {
            size = len - at; // to the end of the file
        }
        if size < hl || !fourcc.iter().all(|c| c.is_ascii_graphic() || *c == b' ' || *c >= 0xa9) {
            break; // not a box: trailing bytes or damage, not a cut
        }
        match &fourcc {
            b"moov" => {
                moov = true;
                w.index_after_media = media;
                if size <= MOOV_MAX {
                    let mut b = vec![0u8; usize::try_from(size - hl).unwrap_or(0)];
                    let n = read_full(r, &mut b)?;
                    b.truncate(n);
                    let has = |pat: &[u8]| b.windows(4).any(|x| x == pat);
                    w.encrypted = has(b"encv") || has(b"enca") || has(b"sinf");
                    samples_in_moov = has_samples(&b);
                    w.empty_edit_ns = leading_empty_edit(&b);
                }
            }
            b"mdat" if size > hl => media = true,
            b"moof" => media = true,
            _ => {}
        }
        w.units += 1;
        if at + size > len {
            cut(&mut w, at, Some(at + size - len), &fourcc, size);
            break;
        }
        at += size;
    }
    // Only a walk that reached the end cleanly may call a file an initialisation segment.
    w.init_only = moov && !media && !samples_in_moov && at == len;
    w.segment_only = !moov && media;
    if moov && samples_in_moov && !media && at == len && w.truncation.is_none() {
        // An index of samples and no media data: the file ends after its index.
        w.truncation = Some(Truncation {
            offset: len,
            missing_bytes: None,
            missing_ns: None,
            what: "the media data the movie box indexes (no 'mdat' follows it)".into(),
        });
    }
    Ok(w)
}

fn cut(w: &mut Walk, at: u64, missing: Option<u64>, fourcc: &[u8; 4], size: u64) {
    w.truncation = Some(Truncation {
        offset: at,
        missing_bytes: missing,
        missing_ns: None,
        what: format!("the '{}' box at byte {at} (declares {size} bytes)", String::from_utf8_lossy(fourcc)),
    });
}

/// Whether any sample size table (`stsz`/`stz2`) in the movie box counts a sample.
fn has_samples(moov: &[u8]) -> bool {
    let mut i = 0;
    while let Some(p) = moov.get(i..).and_then(|s| s.windows(4).position(|x| x == b"stsz" || x == b"stz2")) {
        let at = i + p;
        // stsz: fourcc, version/flags (4), sample_size (4), sample_count (4).
        if let Some(c) = moov.get(at + 12..at + 16)
            && u32::from_be_bytes([c[0], c[1], c[2], c[3]]) > 0
        {
            return true;
        }
        i = at + 4;
    }
    false
}

fn be32(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 4).map(|x| u64::from(u32::from_be_bytes([x[0], x[1], x[2], x[3]])))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).map(|x| u64::from_be_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]))
}

/// The longest run of empty edits (`media_time` -1) at the start of any track's edit list, in
/// ns of the movie timescale (`mvhd`).
fn leading_empty_edit(moov: &[u8]) -> u64 {
    let find = |pat: &[u8], from: usize| moov.get(from..)?.windows(4).position(|x| x == pat).map(|p| p + from);
    let Some(m) = find(b"mvhd", 0) else { return 0 };
    let v1 = moov.get(m + 4) == Some(&1);
    let Some(scale) = (if v1 { be32(moov, m + 24) } else { be32(moov, m + 16) }).filter(|s| *s > 0) else { return 0 };
    let mut best = 0u64;
    let mut from = 0;
    while let Some(e) = find(b"elst", from) {
        from = e + 4;
        let v1 = moov.get(e + 4) == Some(&1);
        let Some(n) = be32(moov, e + 8) else { break };
        let (size, mut at) = (if v1 { 20 } else { 12 }, e + 12);
        let mut empty = 0u64;
        for _ in 0..n.min(64) {
            let (dur, media) = if v1 {
                (be64(moov, at), be64(moov, at + 8).map(|t| t as i64))
            } else {
                (be32(moov, at), be32(moov, at + 4).map(|t| i64::from(t as u32 as i32)))
            };
            match (dur, media) {
                (Some(d), Some(-1)) => empty += d,
                _ => break,
            }
            at += size;
        }
        best = best.max((u128::from(empty) * 1_000_000_000 / u128::from(scale)) as u64);
    }
    best
}
