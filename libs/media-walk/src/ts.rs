//! MPEG-TS (ISO 13818-1; 188-byte packets, or 192-byte M2TS/BDAV packets with a 4-byte time
//! code in front): PAT → PMT → every PES's PTS/DTS per PID, in file order, with the 33-bit wrap
//! undone. `tsdemux` smooths clock jumps over (two recordings concatenated come out as one
//! continuous timeline) and treats the wrap as time, so the continuity check judges TS on these
//! times as written.
//!
//! Also reported: continuity-counter losses and `discontinuity_indicator` flags on elementary
//! streams, bytes without sync, and a file cut short: a partial last packet, or a PES whose
//! declared length was not reached (the last unfinished PES of each stream).

use std::collections::HashMap;
use std::io::Read;

use crate::mpeg::{self, Clock};
use crate::{Family, Mark, MarkKind, RawStream, Truncation, Walk, read_full};

const TS: usize = 188;

#[derive(Default)]
struct Pid {
    /// Index into the output streams, once the PMT named this PID.
    stream: Option<usize>,
    cc: Option<u8>,
    clock: Clock,
    ticks: Vec<mpeg::Unit>,
    /// Audio: how the payload divides into frames, the current PES's payload and time.
    framing: Option<mpeg::Framing>,
    payload: Vec<u8>,
    pes_time: Option<(i64, Option<i64>)>,
    /// Bytes of the last audio frame that run on into the next PES.
    overhang: usize,
    /// The PES being received: offset of its first packet, declared length (bytes after the
    /// length field; 0 = unbounded), bytes received after the length field.
    pes: Option<(u64, usize, usize)>,
    /// A discontinuity_indicator waiting for the next timestamp of this PID.
    counter_errors: u64,
    first_counter_error: Option<(u64, Option<i64>)>,
}

/// Walks a transport stream read front to back in 1 MiB blocks.
///
/// # Errors
/// Read errors only.
pub fn walk(mut r: impl Read) -> std::io::Result<Walk> {
    let mut w = Walk::new(Family::MpegTs);
    let mut pids: HashMap<u16, Pid> = HashMap::new();
    let mut pmt_pids: Vec<(u16, u16)> = Vec::new(); // (PMT PID, program number)
    let mut packets = 0u64;
    let mut buf = vec![0u8; 192 * 5461]; // ~1 MiB, a multiple of both packet sizes
    let mut carry = 0usize;
    let mut offset = 0u64; // file offset of buf[0]
    let mut anchor: HashMap<u16, i64> = HashMap::new(); // last time per program
    let mut garbage: Option<(u64, u64)> = None; // (offset, bytes) of unsynced data being skipped
    let mut pkt = 0usize; // packet size, once known
    let mut prefix = 0usize;
    let mut tail;
    loop {
        let n = read_full(&mut r, &mut buf[carry..])?;
        let avail = carry + n;
        let eof = n == 0 || avail < buf.len();
        if pkt == 0 {
            (pkt, prefix) = if buf.get(4) == Some(&0x47) && buf.get(196) == Some(&0x47) && buf[0] != 0x47 {
                (192, 4)
            } else {
                (TS, 0)
            };
        }
        let mut i = 0usize;
        while i + pkt <= avail {
            let p = &buf[i + prefix..i + pkt];
            // In sync when this packet starts with 0x47 and so does the next (or the file ends).
            let next_ok = i + pkt == avail || buf.get(i + pkt + prefix).is_none_or(|b| *b == 0x47);
            if p[0] != 0x47 || !next_ok {
                let g = garbage.get_or_insert((offset + i as u64, 0));
                g.1 += 1;
                i += 1;
                continue;
            }
            if let Some((at, bytes)) = garbage.take() {
                w.marks.push(Mark::garbage(at, bytes));
            }
            packet(p, offset + i as u64, &mut pids, &mut pmt_pids, &mut w, &mut anchor);
            packets += 1;
            i += pkt;
        }
        if eof {
            tail = avail - i;
            if tail > prefix && buf[i + prefix] != 0x47 {
                w.marks.push(Mark::garbage(offset + i as u64, tail as u64));
                tail = 0;
            }
            offset += i as u64;
            break;
        }
        offset += i as u64;
        buf.copy_within(i..avail, 0);
        carry = avail - i;
    }
    if let Some((at, bytes)) = garbage.take() {
        w.marks.push(Mark::garbage(at, bytes));
    }
    if tail > 0 {
        w.truncation = Some(Truncation {
            offset,
            missing_bytes: Some((pkt - tail) as u64),
            missing_ns: None,
            what: format!("the last transport packet ({tail} of {pkt} bytes)"),
        });
    }
    // A PES whose declared length was not reached when the file ends: cut in the middle of it.
    let mut unfinished: Vec<(u64, usize, usize, u16)> = pids
        .iter()
        .filter_map(|(pid, p)| {
            let (at, len, got) = p.pes?;
            (p.stream.is_some() && len > 0 && got < len).then_some((at, len, got, *pid))
        })
        .collect();
    unfinished.sort_unstable();
    if let Some((at, len, got, pid)) = unfinished.first().copied()
        && w.truncation.as_ref().is_none_or(|t| t.offset >= at)
    {
        let before = w.truncation.take();
        w.truncation = Some(Truncation {
            offset: at,
            missing_bytes: Some((len - got) as u64),
            missing_ns: None,
            what: format!(
                "the PES packet of PID {pid} at byte {at} ({got} of {len} bytes){}",
                before.map(|t| format!(", and {}", t.what)).unwrap_or_default()
            ),
        });
    }
    for p in pids.values_mut() {
        p.finish_pes();
    }
    // Unwrapped times of every stream shifted by the same base, so they stay comparable.
    let base = pids.values().flat_map(|p| p.ticks.iter().map(|(p, d, ..)| d.unwrap_or(*p).min(*p))).min().unwrap_or(0);
    // Each program's streams on their own base: a multiplex's programs run on unrelated clocks.
    let mut bases: HashMap<u16, i64> = HashMap::new();
    for p in pids.values() {
        if let Some(s) = p.stream.and_then(|s| w.streams.get(s))
            && let Some(m) = p.ticks.iter().map(|(p, d, ..)| d.unwrap_or(*p).min(*p)).min()
        {
            let b = bases.entry(s.program).or_insert(m);
            *b = (*b).min(m);
        }
    }
    let mut by_pid: Vec<(u16, &Pid)> = pids.iter().filter(|(k, _)| **k != 0x1fff).map(|(k, p)| (*k, p)).collect();
    by_pid.sort_unstable_by_key(|(k, _)| *k);
    for (pid, p) in by_pid {
        let program = p.stream.and_then(|s| w.streams.get(s)).map(|s| s.program);
        let base = program.and_then(|g| bases.get(&g).copied()).unwrap_or(base);
        if let Some(out) = p.stream.and_then(|s| w.streams.get_mut(s)) {
            out.samples = mpeg::to_samples(&p.ticks, base);
        }
        if let Some((at, before)) = p.first_counter_error {
            w.marks.push(Mark {
                kind: MarkKind::CounterLoss,
                stream: p.stream,
                offset: at,
                before_ns: before.map(|t| mpeg::ticks_ns(t - base)),
                count: p.counter_errors,
                id: u32::from(pid),
            });
        }
    }
    for m in &mut w.marks {
        if m.kind == MarkKind::DiscontinuityFlag {
            let program = m.stream.and_then(|s| w.streams.get(s)).map(|s| s.program);
            let base = program.and_then(|g| bases.get(&g).copied()).unwrap_or(base);
            m.before_ns = m.before_ns.map(|t| mpeg::ticks_ns(i64::try_from(t).unwrap_or(0) - base));
        }
    }
    w.units = packets;
    Ok(w)
}

fn packet(
    p: &[u8],
    at: u64,
    pids: &mut HashMap<u16, Pid>,
    pmt_pids: &mut Vec<(u16, u16)>,
    w: &mut Walk,
    anchor: &mut HashMap<u16, i64>,
) {
    let pusi = p[1] & 0x40 != 0;
    let pid = u16::from(p[1] & 0x1f) << 8 | u16::from(p[2]);
    let afc = (p[3] >> 4) & 0x3;
    let cc = p[3] & 0x0f;
    let mut payload = 4usize;
    if afc & 0x2 != 0 {
        let af_len = usize::from(p[4]);
        if af_len > 0 && p[5] & 0x80 != 0 {
            // discontinuity_indicator: the muxer says the clock or the counter break here.
            if let Some(e) = pids.get(&pid)
                && let Some(s) = e.stream
            {
                w.marks.push(Mark {
                    kind: MarkKind::DiscontinuityFlag,
                    stream: Some(s),
                    offset: at,
                    // Raw unwrapped ticks for now; shifted to ns by the caller.
                    before_ns: e.clock.last().and_then(|t| u64::try_from(t).ok()),
                    count: 1,
                    id: u32::from(pid),
                });
            }
        }
        payload += 1 + af_len;
    }
    let has_payload = afc & 0x1 != 0 && payload < TS;
    if pid == 0x1fff || !has_payload {
        return;
    }
    let data = &p[payload..];
    let e = pids.entry(pid).or_default();
    if let Some(prev) = e.cc
        && cc != (prev + 1) & 0x0f
        && cc != prev
    {
        e.counter_errors += 1;
        if e.first_counter_error.is_none() {
            e.first_counter_error = Some((at, e.clock.last()));
        }
    }
    let repeated = e.cc == Some(cc);
    e.cc = Some(cc);
    if repeated && !pusi {
        return; // a duplicate packet (allowed once by the standard): its payload is not new
    }
    if pid == 0 && pusi {
        pat(data, pmt_pids);
        return;
    }
    if let Some((_, program)) = pmt_pids.iter().find(|(p, _)| *p == pid).copied()
        && pusi
    {
        pmt(data, program, pids, w);
        return;
    }
    let Some(e) = pids.get_mut(&pid) else { return };
    if e.stream.is_none() {
        return;
    }
    if pusi && data.len() >= 9 && data[..3] == [0, 0, 1] {
        e.finish_pes();
        let len = usize::from(data[4]) << 8 | usize::from(data[5]);
        e.pes = Some((at, len, data.len() - 6));
        let (pts, dts) = mpeg::pes2_times(data);
        // A program's streams share its clock: a stream's first time is unwrapped next to the
        // program's latest (other programs run on their own clocks).
        let program = e.stream.and_then(|s| w.streams.get(s)).map_or(0, |s| s.program);
        if let Some(t) = e.clock.push(pts, dts, anchor.get(&program).copied()) {
            anchor.insert(program, t.1.unwrap_or(t.0));
            if e.framing.is_some() {
                e.pes_time = Some(t);
                let start = (9 + usize::from(data[8])).min(data.len());
                e.payload.extend_from_slice(&data[start..]);
            } else {
                e.ticks.push((t.0, t.1, 0, 0));
            }
        }
    } else if let Some((_, _, got)) = &mut e.pes {
        *got += data.len();
        if e.pes_time.is_some() && e.payload.len() < 1 << 20 {
            e.payload.extend_from_slice(data);
        }
    }
}

impl Pid {
    /// Closes the PES being received: an audio PES gives one unit per frame it carries.
    fn finish_pes(&mut self) {
        let Some((p, d)) = self.pes_time.take() else { return };
        let (n, dur, over) = self.framing.map(|f| f.frames(&self.payload, self.overhang)).unwrap_or_default();
        self.overhang = if n == 0 { self.overhang.saturating_sub(self.payload.len()) } else { over };
        self.payload.clear();
        self.ticks.push((p, d, n, dur));
    }
}

fn section(data: &[u8]) -> Option<&[u8]> {
    let ptr = usize::from(*data.first()?);
    data.get(1 + ptr..)
}

fn pat(data: &[u8], pmt_pids: &mut Vec<(u16, u16)>) {
    let Some(s) = section(data) else { return };
    if s.len() < 8 {
        return;
    }
    let len = (usize::from(s[1] & 0x0f) << 8 | usize::from(s[2])).min(s.len().saturating_sub(3));
    let mut k = 8;
    while k + 4 <= 3 + len.saturating_sub(4) {
        let prog = u16::from(s[k]) << 8 | u16::from(s[k + 1]);
        let pmt = u16::from(s[k + 2] & 0x1f) << 8 | u16::from(s[k + 3]);
        if prog != 0 && !pmt_pids.iter().any(|(p, _)| *p == pmt) {
            pmt_pids.push((pmt, prog));
        }
        k += 4;
    }
}

fn pmt(data: &[u8], program: u16, pids: &mut HashMap<u16, Pid>, w: &mut Walk) {
    let Some(s) = section(data) else { return };
    if s.len() < 12 {
        return;
    }
    let len = (usize::from(s[1] & 0x0f) << 8 | usize::from(s[2])).min(s.len().saturating_sub(3));
    let info = usize::from(s[10] & 0x0f) << 8 | usize::from(s[11]);
    let mut k = 12 + info;
    while k + 5 <= 3 + len.saturating_sub(4) {
        let st = s[k];
        let es = u16::from(s[k + 1] & 0x1f) << 8 | u16::from(s[k + 2]);
        let es_info = usize::from(s[k + 3] & 0x0f) << 8 | usize::from(s[k + 4]);
        let (kind, name) = mpeg::stream_type(st);
        let e = pids.entry(es).or_default();
        if e.stream.is_none() && !name.is_empty() {
            e.framing = mpeg::Framing::for_stream_type(st);
            e.stream = Some(w.streams.len());
            w.streams.push(RawStream { id: u32::from(es), kind, codec: name.into(), program, samples: Vec::new() });
        }
        k += 5 + es_info;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_never_panics() {
        let data: Vec<u8> =
            (0..100_000u32).map(|i| if i % 188 == 0 { 0x47 } else { ((i * 7919) >> 3) as u8 }).collect();
        let w = walk(&data[..]).expect("in-memory read");
        assert!(w.streams.is_empty());
        assert!(walk(&[][..]).expect("empty").truncation.is_none());
    }
}
