//! AVI (RIFF, with OpenDML `AVIX` extensions): frames carry no times; a chunk's time is its
//! index in its stream × the stream's `dwScale/dwRate` (or, for streams with a fixed sample size
//! such as PCM, the bytes before it). A zero-size chunk is a frame the recorder dropped (ffmpeg
//! and most DVRs write one per missing frame): it has no sample, so the timeline shows the hole
//! at its place and of its length.
//!
//! Cut short: a chunk or list whose declared size the file does not hold; fewer video frames
//! than the main header counts (`dwTotalFrames`: the time missing at the end is known).

use std::io::{BufReader, Read, Seek};

use evidence_contracts::report::StreamKind;

use crate::{Family, RawStream, Sample, Truncation, Walk, goto, read_full};

#[derive(Default, Clone)]
struct Strh {
    kind: Option<StreamKind>,
    handler: String,
    scale: u64,
    rate: u64,
    sample_size: u64,
    block_align: u64,
    /// Chunks (incl. empty ones) and bytes seen so far.
    chunks: u64,
    bytes: u64,
}

impl Strh {
    /// Time of the next chunk, ns.
    fn now(&self) -> Option<u64> {
        if self.rate == 0 || self.scale == 0 {
            return None;
        }
        let units =
            if self.sample_size > 0 { self.bytes / self.sample_size.max(self.block_align).max(1) } else { self.chunks };
        Some((u128::from(units) * u128::from(self.scale) * 1_000_000_000 / u128::from(self.rate)) as u64)
    }
    fn unit_ns(&self) -> Option<u64> {
        (self.rate > 0 && self.sample_size == 0)
            .then(|| (u128::from(self.scale) * 1_000_000_000 / u128::from(self.rate)) as u64)
    }
}

struct State {
    streams: Vec<Strh>,
    samples: Vec<Vec<Sample>>,
    total_frames: u64,
    len: u64,
}

/// Walks an AVI file.
///
/// # Errors
/// Read errors only.
pub fn walk<R: Read + Seek>(r: &mut BufReader<R>, len: u64) -> std::io::Result<Walk> {
    let mut w = Walk::new(Family::Avi);
    let mut st = State { streams: Vec::new(), samples: Vec::new(), total_frames: 0, len };
    let mut at = 0u64;
    // Top level: one RIFF 'AVI ' and any number of RIFF 'AVIX'.
    while at + 12 <= len {
        let mut h = [0u8; 12];
        if read_full(r, &mut h)? < 12 {
            break;
        }
        let size = u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
        if &h[..4] != b"RIFF" {
            break; // trailing bytes after the last RIFF: not ours to judge
        }
        let end = at + 8 + size;
        if list(r, &mut st, &mut w, at + 12, end.min(len))? {
            return Ok(finish(w, st));
        }
        if end > len {
            w.truncation.get_or_insert(Truncation {
                offset: at,
                missing_bytes: Some(end - len),
                missing_ns: None,
                what: format!("the RIFF chunk at byte {at} (declares {size} bytes)"),
            });
            break;
        }
        at = end + (end & 1);
        goto(r, at)?;
    }
    Ok(finish(w, st))
}

/// Walks the chunks of a list from `from` to `end`; returns true when the file ended inside.
fn list<R: Read + Seek>(
    r: &mut BufReader<R>,
    st: &mut State,
    w: &mut Walk,
    from: u64,
    end: u64,
) -> std::io::Result<bool> {
    let mut at = from;
    while at + 8 <= end {
        let mut h = [0u8; 8];
        if read_full(r, &mut h)? < 8 {
            return Ok(true);
        }
        let fcc = [h[0], h[1], h[2], h[3]];
        let size = u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]]));
        let body = at + 8;
        let chunk_end = body + size;
        if chunk_end > st.len {
            // Cut inside this chunk: the frame (or list) is short by what it declares.
            w.truncation = Some(Truncation {
                offset: at,
                missing_bytes: Some(chunk_end - st.len),
                missing_ns: None,
                what: format!(
                    "the '{}' chunk at byte {at} ({} of {size} bytes)",
                    String::from_utf8_lossy(&fcc),
                    st.len - body
                ),
            });
            if &fcc == b"LIST" && size >= 4 {
                let mut t = [0u8; 4];
                if read_full(r, &mut t)? == 4 {
                    let kept = w.truncation.take();
                    list(r, st, w, body + 4, st.len)?;
                    // The innermost cut is the more precise one.
                    if w.truncation.is_none() {
                        w.truncation = kept;
                    }
                    return Ok(true);
                }
            }
            return Ok(true);
        }
        match &fcc {
            b"LIST" if size >= 4 => {
                let mut t = [0u8; 4];
                if read_full(r, &mut t)? < 4 {
                    return Ok(true);
                }
                if list(r, st, w, body + 4, chunk_end)? {
                    return Ok(true);
                }
            }
            b"avih" => {
                let mut b = [0u8; 20];
                let n = read_full(r, &mut b)?;
                if n >= 20 {
                    st.total_frames = u64::from(u32::from_le_bytes([b[16], b[17], b[18], b[19]]));
                }
            }
            b"strh" => {
                let mut b = [0u8; 48];
                let n = read_full(r, &mut b)?;
                let u = |i: usize| u64::from(u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]));
                let kind = match &b[..4] {
                    b"vids" => Some(StreamKind::Video),
                    b"auds" => Some(StreamKind::Audio),
                    _ => Some(StreamKind::Other),
                };
                if n >= 48 {
                    st.streams.push(Strh {
                        kind,
                        handler: String::from_utf8_lossy(&b[4..8]).trim_matches(char::from(0)).trim().to_owned(),
                        scale: u(20),
                        rate: u(24),
                        sample_size: u(44),
                        ..Default::default()
                    });
                    st.samples.push(Vec::new());
                }
            }
            b"strf" => {
                // WAVEFORMATEX: nBlockAlign at 12 (audio only).
                let mut b = [0u8; 14];
                let n = read_full(r, &mut b)?;
                if let Some(s) = st.streams.last_mut()
                    && s.kind == Some(StreamKind::Audio)
                    && n >= 14
                {
                    s.block_align = u64::from(u16::from_le_bytes([b[12], b[13]]));
                }
            }
            _ if fcc[0].is_ascii_digit() && fcc[1].is_ascii_digit() => {
                // '##dc', '##db', '##wb', ...: one chunk of stream ##.
                let n = usize::from(fcc[0] - b'0') * 10 + usize::from(fcc[1] - b'0');
                if let (Some(s), Some(out)) = (st.streams.get_mut(n), st.samples.get_mut(n)) {
                    let t = s.now();
                    if size > 0
                        && let Some(t) = t
                    {
                        out.push(Sample { pts: Some(t), dts: Some(t), duration: s.unit_ns(), discont: false });
                    }
                    s.chunks += 1;
                    s.bytes += size;
                }
            }
            _ => {}
        }
        at = chunk_end + (chunk_end & 1);
        goto(r, at)?;
    }
    Ok(false)
}

fn finish(mut w: Walk, st: State) -> Walk {
    let video = st.streams.iter().position(|s| s.kind == Some(StreamKind::Video));
    for (i, (s, samples)) in st.streams.iter().zip(st.samples).enumerate() {
        let codec = if s.handler.is_empty() { String::new() } else { s.handler.clone() };
        w.streams.push(RawStream {
            id: i as u32,
            kind: s.kind.unwrap_or(StreamKind::Other),
            codec,
            program: 0,
            samples,
        });
    }
    // The main header counts the frames the recorder meant to write.
    if let Some(v) = video.and_then(|i| st.streams.get(i))
        && st.total_frames > v.chunks
        && let Some(unit) = v.unit_ns()
        && w.truncation.is_some()
    {
        let missing = st.total_frames - v.chunks;
        if let Some(t) = &mut w.truncation {
            t.missing_ns = Some(missing * unit);
            t.what.push_str(&format!(
                "; the header counts {} video frames, {} are in the file",
                st.total_frames, v.chunks
            ));
        }
    }
    w
}
