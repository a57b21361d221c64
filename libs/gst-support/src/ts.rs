//! A raw MPEG-TS timestamp pass (pure Rust, no GStreamer): PAT → PMT → per-PID PES DTS/PTS in
//! file order. `tsdemux` smooths clock jumps (two recordings concatenated come out as one
//! continuous timeline), so for MPEG-TS the continuity analysis also looks at the timestamps as
//! they are written in the file. Reads the file once in 1 MiB blocks; memory is per PID, not
//! per packet.

use std::collections::HashMap;
use std::io::Read;

use evidence_contracts::report::StreamKind;

const PACKET: usize = 188;
/// 33-bit PTS/DTS wrap in 90 kHz ticks.
const WRAP: i64 = 1 << 33;

/// A clock jump found in one elementary stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockJump {
    pub pid: u16,
    pub kind: StreamKind,
    /// Decode timestamp (90 kHz) before and after the jump, and the time elapsed on the raw
    /// clock from the PID's first timestamp to the one before the jump.
    pub from: i64,
    pub to: i64,
    pub elapsed_before: i64,
}

/// Packets lost or duplicated according to the continuity counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterError {
    pub pid: u16,
    pub offset: u64,
    /// Raw-clock time from the PID's first timestamp to its last one before the error, 90 kHz.
    pub elapsed: Option<i64>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TsScan {
    pub jumps: Vec<ClockJump>,
    pub counter_errors: Vec<CounterError>,
    pub packets: u64,
    /// Elementary streams found in the PMT: `(pid, kind)`.
    pub streams: Vec<(u16, StreamKind)>,
}

#[derive(Default)]
struct Pid {
    kind: Option<StreamKind>,
    first: Option<i64>,
    last: Option<i64>,
    cc: Option<u8>,
}

fn stream_kind(stream_type: u8) -> StreamKind {
    match stream_type {
        0x01 | 0x02 | 0x10 | 0x1b | 0x24 | 0x42 | 0xea => StreamKind::Video,
        0x03 | 0x04 | 0x0f | 0x11 | 0x81 | 0x87 => StreamKind::Audio,
        _ => StreamKind::Other,
    }
}

fn ts90(b: &[u8]) -> i64 {
    (i64::from(b[0] >> 1) & 0x07) << 30
        | i64::from(b[1]) << 22
        | (i64::from(b[2]) >> 1) << 15
        | i64::from(b[3]) << 7
        | i64::from(b[4]) >> 1
}

/// Scans a TS byte stream. `jump_ticks`: a backwards step (or a forward step, modulo wrap) of
/// more than this many 90 kHz ticks counts as a clock jump when it goes backwards.
///
/// # Errors
/// Read errors only; malformed packets are skipped.
pub fn scan(mut r: impl Read, jump_ticks: i64) -> std::io::Result<TsScan> {
    let mut out = TsScan::default();
    let mut pids: HashMap<u16, Pid> = HashMap::new();
    let mut pmt_pids: Vec<u16> = Vec::new();
    let mut buf = vec![0u8; PACKET * 5577]; // ~1 MiB
    let mut carry = 0usize;
    let mut offset = 0u64;
    loop {
        let n = r.read(&mut buf[carry..])?;
        let avail = carry + n;
        let mut i = 0usize;
        // Resynchronise on the sync byte.
        while i + PACKET <= avail {
            if buf[i] != 0x47 {
                i += 1;
                continue;
            }
            let p = &buf[i..i + PACKET];
            out.packets += 1;
            let pusi = p[1] & 0x40 != 0;
            let pid = u16::from(p[1] & 0x1f) << 8 | u16::from(p[2]);
            let afc = (p[3] >> 4) & 0x3;
            let cc = p[3] & 0x0f;
            let mut payload = 4usize;
            if afc & 0x2 != 0 {
                payload += 1 + usize::from(p[4]);
            }
            let has_payload = afc & 0x1 != 0 && payload < PACKET;
            if pid != 0x1fff && has_payload {
                let e = pids.entry(pid).or_default();
                if let Some(prev) = e.cc
                    && cc != (prev + 1) & 0x0f
                    && cc != prev
                {
                    let elapsed = e.first.zip(e.last).map(|(f, l)| (l - f).rem_euclid(WRAP));
                    out.counter_errors.push(CounterError { pid, offset: offset + i as u64, elapsed });
                }
                e.cc = Some(cc);
            }
            if has_payload && pusi {
                let data = &p[payload..];
                if pid == 0 && data.len() > 1 {
                    // PAT: pointer field, then sections of (program, PMT PID).
                    let s = &data[1 + usize::from(data[0]).min(data.len() - 1)..];
                    if s.len() >= 8 {
                        let len = (usize::from(s[1] & 0x0f) << 8 | usize::from(s[2])).min(s.len().saturating_sub(3));
                        let mut k = 8;
                        while k + 4 <= 3 + len.saturating_sub(4) {
                            let prog = u16::from(s[k]) << 8 | u16::from(s[k + 1]);
                            let pmt = u16::from(s[k + 2] & 0x1f) << 8 | u16::from(s[k + 3]);
                            if prog != 0 && !pmt_pids.contains(&pmt) {
                                pmt_pids.push(pmt);
                            }
                            k += 4;
                        }
                    }
                } else if pmt_pids.contains(&pid) && data.len() > 1 {
                    let s = &data[1 + usize::from(data[0]).min(data.len() - 1)..];
                    if s.len() >= 12 {
                        let len = (usize::from(s[1] & 0x0f) << 8 | usize::from(s[2])).min(s.len().saturating_sub(3));
                        let info = usize::from(s[10] & 0x0f) << 8 | usize::from(s[11]);
                        let mut k = 12 + info;
                        while k + 5 <= 3 + len.saturating_sub(4) {
                            let st = s[k];
                            let es = u16::from(s[k + 1] & 0x1f) << 8 | u16::from(s[k + 2]);
                            let es_info = usize::from(s[k + 3] & 0x0f) << 8 | usize::from(s[k + 4]);
                            pids.entry(es).or_default().kind = Some(stream_kind(st));
                            k += 5 + es_info;
                        }
                    }
                } else if data.len() >= 14 && data[0] == 0 && data[1] == 0 && data[2] == 1 {
                    let flags = data[7] >> 6;
                    let ts = match flags {
                        0b11 => Some(ts90(&data[14.min(data.len() - 5)..])), // DTS
                        0b10 => Some(ts90(&data[9..])),
                        _ => None,
                    };
                    if let (Some(t), Some(e)) = (ts, pids.get_mut(&pid))
                        && let Some(kind) = e.kind
                    {
                        if let Some(last) = e.last {
                            let mut d = t - last;
                            if d < -WRAP / 2 {
                                d += WRAP; // a 33-bit wrap, not a jump
                            }
                            if d < -jump_ticks {
                                out.jumps.push(ClockJump {
                                    pid,
                                    kind,
                                    from: last,
                                    to: t,
                                    elapsed_before: (last - e.first.unwrap_or(last)).rem_euclid(WRAP),
                                });
                                e.first = Some(t - (last - e.first.unwrap_or(last)));
                            }
                        } else {
                            e.first = Some(t);
                        }
                        e.last = Some(t);
                    }
                }
            }
            i += PACKET;
        }
        offset += i as u64;
        buf.copy_within(i..avail, 0);
        carry = avail - i;
        if n == 0 {
            break;
        }
    }
    out.streams = pids.iter().filter_map(|(p, e)| e.kind.map(|k| (*p, k))).collect();
    out.streams.sort_unstable();
    // Counter errors only matter on elementary streams (PSI tables repeat by design).
    let es: Vec<u16> = out.streams.iter().map(|(p, _)| *p).collect();
    out.counter_errors.retain(|c| es.contains(&c.pid));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_never_panics() {
        let data: Vec<u8> =
            (0..100_000u32).map(|i| if i % 188 == 0 { 0x47 } else { ((i * 7919) >> 3) as u8 }).collect();
        let r = scan(&data[..], 45_000).expect("in-memory read");
        assert!(r.packets > 0);
        assert!(scan(&[][..], 45_000).expect("empty").jumps.is_empty());
    }

    #[test]
    fn timestamp_bits_decode() {
        // PTS 0x1_2345_6789 encoded with marker bits.
        let v: i64 = 0x1_2345_6789;
        let b = [
            0x21 | (((v >> 30) & 0x7) << 1) as u8,
            ((v >> 22) & 0xff) as u8,
            ((((v >> 15) & 0x7f) << 1) | 1) as u8,
            ((v >> 7) & 0xff) as u8,
            (((v & 0x7f) << 1) | 1) as u8,
        ];
        assert_eq!(ts90(&b), v);
    }
}
