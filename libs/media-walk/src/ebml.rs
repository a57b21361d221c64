//! Matroska / WebM: an EBML walk of the element sizes, to say where a file is cut short (the
//! block times themselves come from GStreamer's demuxer, which reports them as written:
//! presentation times, no decode times). Known-size elements are skipped by their size; an
//! unknown-size Segment or Cluster (live recorders) is walked into.
//!
//! Cut short: an element (Cluster, SimpleBlock, BlockGroup, Cues, …) whose declared size the file
//! does not hold; the innermost such element is named, with the bytes it still needed.

use std::io::{BufReader, Read, Seek};

use crate::{Family, Truncation, Walk, goto, read_full};

const SEGMENT: u32 = 0x1853_8067;
const CLUSTER: u32 = 0x1f43_b675;
const BLOCK_GROUP: u32 = 0xa0;

fn name(id: u32) -> &'static str {
    match id {
        0x1a45_dfa3 => "EBML header",
        SEGMENT => "Segment",
        CLUSTER => "Cluster",
        0x114d_9b74 => "SeekHead",
        0x1549_a966 => "Info",
        0x1654_ae6b => "Tracks",
        0x1c53_bb6b => "Cues",
        0x1941_a469 => "Attachments",
        0x1043_a770 => "Chapters",
        0x1254_c367 => "Tags",
        0xa3 => "SimpleBlock",
        BLOCK_GROUP => "BlockGroup",
        0xa1 => "Block",
        0xe7 => "Timecode",
        0xec => "Void",
        _ => "element",
    }
}

/// Reads an EBML element id (1–4 bytes, marker kept) and size (1–8 bytes; `None` = unknown).
/// Returns `(id, size, header length)`, or `None` when the bytes are no element header.
fn header(r: &mut impl Read) -> std::io::Result<Option<(u32, Option<u64>, u64)>> {
    let mut b = [0u8; 1];
    if read_full(r, &mut b)? < 1 {
        return Ok(None);
    }
    let ilen = b[0].leading_zeros() as usize + 1;
    if ilen > 4 {
        return Ok(None);
    }
    let mut id = u32::from(b[0]);
    let mut rest = [0u8; 3];
    if read_full(r, &mut rest[..ilen - 1])? < ilen - 1 {
        return Ok(None);
    }
    for x in &rest[..ilen - 1] {
        id = id << 8 | u32::from(*x);
    }
    if read_full(r, &mut b)? < 1 {
        return Ok(None);
    }
    let slen = b[0].leading_zeros() as usize + 1;
    if slen > 8 {
        return Ok(None);
    }
    let mut size = u64::from(b[0]) & (0xff >> slen);
    let mut all_ones = size == (0xff >> slen);
    let mut more = [0u8; 7];
    if read_full(r, &mut more[..slen - 1])? < slen - 1 {
        return Ok(None);
    }
    for x in &more[..slen - 1] {
        size = size << 8 | u64::from(*x);
        all_ones &= *x == 0xff;
    }
    Ok(Some((id, (!all_ones).then_some(size), (ilen + slen) as u64)))
}

/// Walks a Matroska/WebM file.
///
/// # Errors
/// Read errors only.
pub fn walk<R: Read + Seek>(r: &mut BufReader<R>, len: u64) -> std::io::Result<Walk> {
    let mut w = Walk::new(Family::Matroska);
    children(r, &mut w, 0, len, len, 0)?;
    Ok(w)
}

/// Walks the elements from `from` to `end` (`end` = file length for unknown sizes). Returns
/// the offset where the walk stopped.
fn children<R: Read + Seek>(
    r: &mut BufReader<R>,
    w: &mut Walk,
    from: u64,
    end: u64,
    len: u64,
    depth: u32,
) -> std::io::Result<u64> {
    let mut at = from;
    while at < end && w.truncation.is_none() {
        goto(r, at)?;
        let Some((id, size, hl)) = header(r)? else {
            if at + 12 > len && depth > 0 {
                // Cut inside an element header.
                w.truncation = Some(Truncation {
                    offset: at,
                    missing_bytes: None,
                    missing_ns: None,
                    what: format!("an element header at byte {at}"),
                });
            }
            return Ok(at);
        };
        let body = at + hl;
        // An unknown-size Cluster ends where the next Cluster (or top-level element) begins.
        if depth >= 2 && matches!(id, CLUSTER | 0x1c53_bb6b | 0x1254_c367 | 0x114d_9b74) {
            return Ok(at);
        }
        match size {
            Some(size) if body + size > len => {
                let missing = body + size - len;
                w.truncation = Some(Truncation {
                    offset: at,
                    missing_bytes: Some(missing),
                    missing_ns: None,
                    what: format!("the {} at byte {at} ({} of {size} bytes)", name(id), len - body),
                });
                if matches!(id, SEGMENT | CLUSTER | BLOCK_GROUP) {
                    // Name the innermost element that is cut, keep the outer one if none is.
                    let outer = w.truncation.take();
                    children(r, w, body, len, len, depth + 1)?;
                    if w.truncation.is_none() {
                        w.truncation = outer;
                    }
                }
                return Ok(len);
            }
            Some(size) => {
                if id == SEGMENT || (id == CLUSTER && depth <= 1) {
                    children(r, w, body, body + size, len, depth + 1)?;
                }
                at = body + size;
            }
            None if matches!(id, SEGMENT | CLUSTER) => {
                at = children(r, w, body, len, len, depth + 1)?;
                if at <= body {
                    at = body;
                    return Ok(at);
                }
            }
            None => return Ok(at), // unknown size on an element that cannot have one
        }
    }
    Ok(at)
}
