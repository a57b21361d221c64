//! What MPEG-TS and MPEG-PS share: PES headers, stream types, and the 33-bit 90 kHz clock with
//! its wrap undone.

use evidence_contracts::report::StreamKind;

/// 33-bit PTS/DTS wrap in 90 kHz ticks (2^33 / 90 kHz ≈ 26.5 h).
pub const WRAP: i64 = 1 << 33;

/// 90 kHz ticks to nanoseconds (ticks ≥ 0).
pub fn ticks_ns(t: i64) -> u64 {
    u64::try_from(t).unwrap_or(0).saturating_mul(100_000) / 9
}

/// Decodes a 5-byte PTS/DTS field (marker bits ignored).
pub fn ts90(b: &[u8]) -> Option<i64> {
    let b = b.get(..5)?;
    Some(
        (i64::from(b[0] >> 1) & 0x07) << 30
            | i64::from(b[1]) << 22
            | (i64::from(b[2]) >> 1) << 15
            | i64::from(b[3]) << 7
            | i64::from(b[4]) >> 1,
    )
}

/// Places a raw 33-bit time on the unwrapped timeline next to `near` (an unwrapped time of the
/// same clock): the step between them is taken modulo 2^33 into (-2^32, 2^32]. A recording may
/// span the wrap (26.5 h of camera uptime); a jump of more than 13 h either way cannot be told
/// from a wrap, and is read as the shorter way round.
pub fn unwrap_near(raw: i64, near: i64) -> i64 {
    let mut d = (raw - near).rem_euclid(WRAP);
    if d > WRAP / 2 {
        d -= WRAP;
    }
    near + d
}

/// `(pts, dts)` from an MPEG-2 PES header (`data` starts at the `00 00 01` start code).
pub fn pes2_times(data: &[u8]) -> (Option<i64>, Option<i64>) {
    let Some(&flags) = data.get(7) else { return (None, None) };
    match flags >> 6 {
        0b11 => (data.get(9..).and_then(ts90), data.get(14..).and_then(ts90)),
        0b10 => (data.get(9..).and_then(ts90), None),
        _ => (None, None),
    }
}

/// `(pts, dts)` from an MPEG-1 (ISO 11172-1) packet header after the 6 bytes of start code and
/// length: stuffing `0xff`, an optional STD buffer field, then the time fields.
pub fn pes1_times(after_len: &[u8]) -> (Option<i64>, Option<i64>) {
    let mut i = 0;
    while after_len.get(i) == Some(&0xff) && i < 16 {
        i += 1;
    }
    if after_len.get(i).is_some_and(|b| b >> 6 == 0b01) {
        i += 2;
    }
    match after_len.get(i).map(|b| b >> 4) {
        Some(0b0010) => (after_len.get(i..).and_then(ts90), None),
        Some(0b0011) => (after_len.get(i..).and_then(ts90), after_len.get(i + 5..).and_then(ts90)),
        _ => (None, None),
    }
}

/// Kind and name of an ISO 13818-1 `stream_type` (plus the GB/T 28181 private audio types).
pub fn stream_type(st: u8) -> (StreamKind, &'static str) {
    match st {
        0x01 => (StreamKind::Video, "MPEG-1 video"),
        0x02 => (StreamKind::Video, "MPEG-2 video"),
        0x10 => (StreamKind::Video, "MPEG-4 Part 2"),
        0x1b => (StreamKind::Video, "H.264"),
        0x24 => (StreamKind::Video, "H.265"),
        0x42 => (StreamKind::Video, "AVS"),
        0xd2 => (StreamKind::Video, "AVS2"),
        0xea => (StreamKind::Video, "VC-1"),
        0x03 => (StreamKind::Audio, "MPEG-1 audio"),
        0x04 => (StreamKind::Audio, "MPEG-2 audio"),
        0x0f => (StreamKind::Audio, "AAC (ADTS)"),
        0x11 => (StreamKind::Audio, "AAC (LATM)"),
        0x80 => (StreamKind::Audio, "LPCM"),
        0x81 | 0x87 => (StreamKind::Audio, "AC-3"),
        0x90 => (StreamKind::Audio, "G.711 A-law"),
        0x91 => (StreamKind::Audio, "G.711 µ-law"),
        0x92 => (StreamKind::Audio, "G.722.1"),
        0x93 => (StreamKind::Audio, "G.723.1"),
        0x99 => (StreamKind::Audio, "G.729"),
        0x9b => (StreamKind::Audio, "SVAC audio"),
        0x81..=0xff => (StreamKind::Other, "private"),
        _ => (StreamKind::Other, ""),
    }
}

/// One stream's timeline being built: consecutive PES with the same time are one access unit
/// (GB/T 28181 splits a frame over several PES, each stamped).
#[derive(Default)]
pub struct Clock {
    /// The last unwrapped decode time of this stream.
    last: Option<i64>,
    last_raw: Option<(i64, Option<i64>)>,
}

impl Clock {
    /// Adds one PES's times. `anchor` is the last unwrapped time on any stream of the file, so
    /// that a stream's first time is unwrapped into the same frame as the others. Returns the
    /// unwrapped `(pts, dts)` in ticks, or `None` when the PES carries no time or repeats the
    /// previous one.
    pub fn push(&mut self, pts: Option<i64>, dts: Option<i64>, anchor: Option<i64>) -> Option<(i64, Option<i64>)> {
        let pts_raw = pts?;
        if self.last_raw == Some((pts_raw, dts)) {
            return None;
        }
        self.last_raw = Some((pts_raw, dts));
        let near = self.last.or(anchor);
        let d = dts.map(|d| near.map_or(d, |n| unwrap_near(d, n)));
        let p = match d {
            Some(d) => unwrap_near(pts_raw, d),
            None => near.map_or(pts_raw, |n| unwrap_near(pts_raw, n)),
        };
        self.last = Some(d.unwrap_or(p));
        Some((p, d))
    }

    pub fn last(&self) -> Option<i64> {
        self.last
    }
}

/// One PES's access units: unwrapped PTS and DTS in ticks; for audio, how many frames it
/// carries and each one's duration in ns (0 frames: one unit of unknown duration, as video).
pub type Unit = (i64, Option<i64>, u32, u64);

/// Turns unwrapped tick timelines into nanosecond samples, shifted so that the earliest time of
/// the file is its own (non-negative) value on the clock. An audio PES gives one sample per
/// frame it carries (the header times only the first: the others follow at the frame rate),
/// unless the next PES starts before those frames would end: then the times of the frames
/// after the first are not what the file says, and the PES stays one sample of their length
/// (what a muxer writes when its clock was clamped back).
pub fn to_samples(units: &[Unit], base: i64) -> Vec<crate::Sample> {
    let mut out = Vec::with_capacity(units.len());
    for (i, (p, d, frames, frame_ns)) in units.iter().enumerate() {
        let pts = ticks_ns(p - base);
        let dts = d.map(|d| ticks_ns(d - base));
        let span = u64::from(*frames) * frame_ns;
        let next = units.get(i + 1).map(|(np, nd, _, _)| ticks_ns(nd.unwrap_or(*np) - base));
        // The next PES starts inside this one's frames (not after them, not before it: a
        // step back is judged as one): the frames' implied times are not the file's.
        let start = dts.unwrap_or(pts);
        let fits = next.is_none_or(|n| n + frame_ns >= start + span || n <= start);
        if *frames <= 1 || !fits {
            out.push(crate::Sample { pts: Some(pts), dts, duration: (*frames > 0).then_some(span), discont: false });
            continue;
        }
        for k in 0..u64::from(*frames) {
            let off = k * frame_ns;
            out.push(crate::Sample {
                pts: Some(pts + off),
                dts: dts.map(|d| d + off),
                duration: Some(*frame_ns),
                discont: false,
            });
        }
    }
    out
}

/// How an audio stream's PES payload divides into frames (so a PES carrying several frames,
/// as muxers write audio, gives each frame its time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Adts,
    MpegAudio,
}

impl Framing {
    pub fn for_stream_type(st: u8) -> Option<Framing> {
        match st {
            0x0f => Some(Framing::Adts),
            0x03 | 0x04 => Some(Framing::MpegAudio),
            _ => None,
        }
    }

    /// `(frames, duration of one in ns, bytes the last frame runs on into the next PES)` of the
    /// frames that start in `payload` after `skip` bytes (the previous PES's last frame) and
    /// follow each other; no frames when the payload does not start with one there.
    pub fn frames(self, payload: &[u8], skip: usize) -> (u32, u64, usize) {
        let mut out: Vec<u64> = Vec::new();
        let mut i = skip;
        let mut over = 0;
        while let Some(h) = payload.get(i..i + 7) {
            let (len, dur) = match self {
                Framing::Adts => {
                    if h[0] != 0xff || h[1] & 0xf6 != 0xf0 {
                        break;
                    }
                    const SR: [u64; 13] =
                        [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
                    let Some(sr) = SR.get(usize::from((h[2] >> 2) & 0x0f)) else { break };
                    let len = usize::from(h[3] & 3) << 11 | usize::from(h[4]) << 3 | usize::from(h[5] >> 5);
                    let blocks = u64::from(h[6] & 3) + 1;
                    (len, blocks * 1024 * 1_000_000_000 / sr)
                }
                Framing::MpegAudio => match mpeg_audio_frame(h) {
                    Some(x) => x,
                    None => break,
                },
            };
            if len < 7 {
                break;
            }
            out.push(dur);
            i += len;
            over = i.saturating_sub(payload.len());
        }
        // Frames of one stream have one duration; a change (a damaged header) ends the count.
        let first = out.first().copied().unwrap_or(0);
        let n = out.iter().take_while(|d| **d == first).count();
        if n < out.len() {
            over = 0;
        }
        (u32::try_from(n).unwrap_or(u32::MAX), first, over)
    }
}

/// `(frame length in bytes, duration in ns)` of an MPEG-1/2/2.5 audio frame header.
fn mpeg_audio_frame(h: &[u8]) -> Option<(usize, u64)> {
    if h[0] != 0xff || h[1] & 0xe0 != 0xe0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    let layer = (h[1] >> 1) & 3; // 3 = I, 2 = II, 1 = III
    let bri = usize::from(h[2] >> 4);
    let sri = usize::from((h[2] >> 2) & 3);
    let pad = u64::from((h[2] >> 1) & 1);
    if version == 1 || layer == 0 || bri == 0 || bri == 15 || sri == 3 {
        return None;
    }
    const SR: [[u64; 3]; 4] = [[11025, 12000, 8000], [0, 0, 0], [22050, 24000, 16000], [44100, 48000, 32000]];
    const BR_V1: [[u64; 15]; 3] = [
        [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320], // layer III
        [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384], // layer II
        [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448], // layer I
    ];
    const BR_V2: [[u64; 15]; 3] = [
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
        [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    ];
    let sr = SR[usize::from(version)][sri];
    let li = usize::from(layer - 1);
    let br = if version == 3 { BR_V1[li][bri] } else { BR_V2[li][bri] } * 1000;
    let (samples, len) = match layer {
        3 => (384u64, (12 * br / sr + pad) * 4),
        2 => (1152, 144 * br / sr + pad),
        _ if version == 3 => (1152, 144 * br / sr + pad),
        _ => (576, 72 * br / sr + pad),
    };
    Some((usize::try_from(len).ok()?, samples * 1_000_000_000 / sr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwrap_crosses_the_wrap_both_ways() {
        assert_eq!(unwrap_near(10, WRAP - 10), WRAP + 10);
        assert_eq!(unwrap_near(WRAP - 10, WRAP + 10), WRAP - 10);
        assert_eq!(unwrap_near(5_000, 1_000), 5_000);
        assert_eq!(unwrap_near(1_000, 5_000), 1_000);
    }

    #[test]
    fn timestamp_bits_decode() {
        let v: i64 = 0x1_2345_6789;
        let b = [
            0x21 | (((v >> 30) & 0x7) << 1) as u8,
            ((v >> 22) & 0xff) as u8,
            ((((v >> 15) & 0x7f) << 1) | 1) as u8,
            ((v >> 7) & 0xff) as u8,
            (((v & 0x7f) << 1) | 1) as u8,
        ];
        assert_eq!(ts90(&b), Some(v));
    }
}
