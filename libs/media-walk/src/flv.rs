//! FLV: a 9-byte header, then tags (11-byte header: type, data size, 24+8-bit millisecond time,
//! stream id) each followed by its 4-byte back-pointer. A video tag's time is its decode time;
//! AVC/HEVC tags add a signed 24-bit composition time (presentation = decode + composition).
//! Sequence headers (codec configuration) carry no media and no sample.
//!
//! Cut short: a tag whose data the file does not hold.

use std::io::{BufReader, Read, Seek};

use evidence_contracts::report::StreamKind;

use crate::{Family, RawStream, Sample, Truncation, Walk, goto, read_full};

const MS: u64 = 1_000_000;

/// Walks an FLV file.
///
/// # Errors
/// Read errors only.
pub fn walk<R: Read + Seek>(r: &mut BufReader<R>, len: u64) -> std::io::Result<Walk> {
    let mut w = Walk::new(Family::Flv);
    let mut head = [0u8; 9];
    if read_full(r, &mut head)? < 9 {
        return Ok(w);
    }
    let data_offset = u64::from(u32::from_be_bytes([head[5], head[6], head[7], head[8]])).max(9);
    let (mut video, mut audio): (Vec<Sample>, Vec<Sample>) = (Vec::new(), Vec::new());
    let (mut vcodec, mut acodec) = (String::new(), String::new());
    let mut at = data_offset + 4; // PreviousTagSize0
    goto(r, at.min(len))?;
    while at + 11 <= len {
        let mut h = [0u8; 16];
        let n = read_full(r, &mut h)?;
        if n < 11 {
            break;
        }
        let kind = h[0] & 0x1f;
        let size = u64::from(h[1]) << 16 | u64::from(h[2]) << 8 | u64::from(h[3]);
        let ms = u64::from(h[7]) << 24 | u64::from(h[4]) << 16 | u64::from(h[5]) << 8 | u64::from(h[6]);
        let end = at + 11 + size;
        if !matches!(kind, 8 | 9 | 18) {
            // Not a tag: the rest is not FLV (or the file is damaged here).
            w.marks.push(crate::Mark::garbage(at, len - at));
            break;
        }
        if end > len {
            w.truncation = Some(Truncation {
                offset: at,
                missing_bytes: Some(end - len),
                missing_ns: None,
                what: format!(
                    "the {} tag at byte {at} ({} of {size} bytes)",
                    match kind {
                        8 => "audio",
                        9 => "video",
                        _ => "script",
                    },
                    len - at - 11
                ),
            });
            break;
        }
        let body = &h[11..n.min(16)];
        let t = ms * MS;
        match kind {
            9 if !body.is_empty() => {
                let codec_id = body[0] & 0x0f;
                let frame_type = body[0] >> 4;
                if vcodec.is_empty() {
                    vcodec = match codec_id {
                        2 => "Sorenson H.263",
                        4 | 5 => "VP6",
                        7 => "H.264",
                        12 => "H.265",
                        _ => "video",
                    }
                    .into();
                }
                if frame_type == 5 {
                    // video info / command frame: no picture
                } else if matches!(codec_id, 7 | 12) && body.len() >= 5 {
                    if body[1] == 1 {
                        let cts =
                            i32::from_be_bytes([if body[2] & 0x80 != 0 { 0xff } else { 0 }, body[2], body[3], body[4]]);
                        let pts = (i64::try_from(t).unwrap_or(0) + i64::from(cts) * 1_000_000).max(0) as u64;
                        video.push(Sample { pts: Some(pts), dts: Some(t), duration: None, discont: false });
                    }
                } else {
                    video.push(Sample { pts: Some(t), dts: Some(t), duration: None, discont: false });
                }
            }
            8 if !body.is_empty() => {
                let fmt = body[0] >> 4;
                if acodec.is_empty() {
                    acodec = match fmt {
                        2 | 14 => "MP3",
                        7 => "G.711 A-law",
                        8 => "G.711 µ-law",
                        10 => "AAC",
                        11 => "Speex",
                        0 | 3 => "PCM",
                        _ => "audio",
                    }
                    .into();
                }
                // AAC sequence header (AudioSpecificConfig) is not a sample.
                if !(fmt == 10 && body.get(1) == Some(&0)) {
                    audio.push(Sample { pts: Some(t), dts: Some(t), duration: None, discont: false });
                }
            }
            _ => {}
        }
        at = end + 4;
        goto(r, at.min(len))?;
    }
    if !video.is_empty() {
        w.streams.push(RawStream { id: 9, kind: StreamKind::Video, codec: vcodec, program: 0, samples: video });
    }
    if !audio.is_empty() {
        w.streams.push(RawStream { id: 8, kind: StreamKind::Audio, codec: acodec, program: 0, samples: audio });
    }
    Ok(w)
}
