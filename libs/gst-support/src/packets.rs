//! Frame identity of a remux: every coded H.264 picture of the copy must be the source's, byte
//! for byte, at the same presentation time, in the same order, with the same holes.
//!
//! Each file's video is parsed into access units (`h264parse`, Annex B, one picture per buffer)
//! and each unit reduced to its presentation time and the BLAKE3 of its VCL NAL units (the coded
//! slices, NAL types 1–5). Parameter sets, access unit delimiters and SEI are left out: a remux may
//! move SPS/PPS from the stream into the MP4 header (`avcC`) and drop delimiters without touching a
//! single picture. Memory: 48 bytes per picture (an hour at 30 fps: 5 MB).

use std::path::Path;
use std::time::Duration;

use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app::AppSink;

use crate::pipeline::GstError;

/// One coded picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Picture {
    /// Presentation time as the demuxer gives it (ns).
    pub pts_ns: Option<u64>,
    /// BLAKE3 over the picture's VCL NAL units, each as `length (u32 BE) || bytes`.
    pub vcl: [u8; 32],
}

/// The H.264 pictures of a file, in decoding order.
///
/// # Errors
/// The file has no H.264 stream, or GStreamer fails on it (the message names the element).
pub fn h264_pictures(path: &Path, stall: Duration) -> Result<Vec<Picture>, GstError> {
    crate::init()?;
    let name = "packets";
    let desc = format!(
        "filesrc location=\"{}\" ! parsebin name=p p. ! video/x-h264 ! h264parse ! \
         video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=v sync=false async=false \
         enable-last-sample=false",
        path.display().to_string().replace('\\', "\\\\").replace('"', "\\\"")
    );
    let guard = crate::pipeline::parse(name, &path.display().to_string(), &desc)?;
    let pipeline = guard.pipeline.clone();
    let sink = pipeline
        .by_name("v")
        .and_then(|e| e.downcast::<AppSink>().ok())
        .ok_or_else(|| GstError::State { name: name.into(), detail: "no appsink".into() })?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| GstError::State { name: name.into(), detail: format!("{e}: {}", path.display()) })?;
    let mut out = Vec::new();
    loop {
        match sink.try_pull_sample(gst::ClockTime::from_nseconds(u64::try_from(stall.as_nanos()).unwrap_or(u64::MAX))) {
            Some(sample) => {
                if let Some(buf) = sample.buffer()
                    && let Ok(map) = buf.map_readable()
                {
                    out.push(Picture {
                        pts_ns: buf.pts().map(gst::ClockTime::nseconds),
                        vcl: vcl_hash(map.as_slice()),
                    });
                }
            }
            None if sink.is_eos() => break,
            None => {
                let why = bus_error(&pipeline).unwrap_or_else(|| {
                    format!("no H.264 picture for {stall:?} (no H.264 stream, or the demuxer stalled)")
                });
                drop(guard);
                return Err(GstError::State { name: name.into(), detail: format!("{}: {why}", path.display()) });
            }
        }
    }
    if let Some(why) = bus_error(&pipeline) {
        return Err(GstError::State { name: name.into(), detail: format!("{}: {why}", path.display()) });
    }
    drop(guard);
    Ok(out)
}

fn bus_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    crate::pipeline::pending(&bus).into_iter().find_map(|m| match m.view() {
        gst::MessageView::Error(e) => {
            Some(format!("{}: {}", e.src().map(|s| s.name().to_string()).unwrap_or_default(), e.error()))
        }
        _ => None,
    })
}

/// BLAKE3 over the VCL NAL units (types 1–5) of one Annex B access unit.
pub fn vcl_hash(au: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    for nal in annex_b_nals(au) {
        if let Some(&first) = nal.first()
            && (1..=5).contains(&(first & 0x1f))
        {
            h.update(&u32::try_from(nal.len()).unwrap_or(u32::MAX).to_be_bytes());
            h.update(nal);
        }
    }
    *h.finalize().as_bytes()
}

/// The NAL units of an Annex B byte stream (start codes `00 00 01` or `00 00 00 01`), without
/// their start codes and trailing zero bytes.
fn annex_b_nals(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts.iter().skip(1).map(|s| s - 3).chain(std::iter::once(data.len())).collect();
    starts.into_iter().zip(ends).map(move |(s, e)| {
        let mut e = e;
        while e > s && data[e - 1] == 0 {
            e -= 1;
        }
        &data[s..e]
    })
}

/// Where the copy's pictures differ from the source's: count, bytes, order, or presentation time
/// (relative to each file's first picture, within `tolerance_ns`, which covers the MP4 time
/// scale's rounding). Empty when they are the same pictures at the same times. At most `limit`
/// differences are described.
pub fn differences(source: &[Picture], copy: &[Picture], tolerance_ns: u64, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    if source.len() != copy.len() {
        out.push(format!("the copy has {} video pictures, the source {}", copy.len(), source.len()));
    }
    let base = |v: &[Picture]| v.iter().filter_map(|p| p.pts_ns).min().unwrap_or(0);
    let (bs, bc) = (base(source), base(copy));
    for (i, (s, c)) in source.iter().zip(copy).enumerate() {
        if out.len() >= limit {
            break;
        }
        if s.vcl != c.vcl {
            out.push(format!("video picture {i} differs from the source's (its coded slices are not the same bytes)"));
            continue;
        }
        match (s.pts_ns, c.pts_ns) {
            (Some(a), Some(b)) => {
                let (ra, rb) = (a.saturating_sub(bs), b.saturating_sub(bc));
                if ra.abs_diff(rb) > tolerance_ns {
                    out.push(format!(
                        "video picture {i} is presented at {:.3} s in the copy, {:.3} s in the source",
                        rb as f64 / 1e9,
                        ra as f64 / 1e9
                    ));
                }
            }
            (Some(_), None) => out.push(format!("video picture {i} has no presentation time in the copy")),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_coded_slices_count_and_start_code_lengths_do_not() {
        // AUD (9), SPS (7), PPS (8), SEI (6), IDR slice (5) with 4-byte start codes...
        let a: Vec<u8> = [
            &[0, 0, 0, 1, 0x09, 0xf0][..],
            &[0, 0, 0, 1, 0x67, 1, 2, 3],
            &[0, 0, 1, 0x68, 4, 5],
            &[0, 0, 1, 0x06, 9, 9, 0x80],
            &[0, 0, 1, 0x65, 0xaa, 0xbb, 0xcc, 0x00],
        ]
        .concat();
        // ...and the same slice with a 3-byte start code, no AUD, other parameter sets.
        let b: Vec<u8> = [&[0, 0, 1, 0x67, 7, 7][..], &[0, 0, 0, 1, 0x65, 0xaa, 0xbb, 0xcc]].concat();
        assert_eq!(vcl_hash(&a), vcl_hash(&b));
        let c: Vec<u8> = [&[0, 0, 1, 0x65, 0xaa, 0xbb, 0xcd][..]].concat();
        assert_ne!(vcl_hash(&a), vcl_hash(&c), "one slice byte differs");
        // Two slices are not one slice with their bytes joined.
        let two: Vec<u8> = [&[0, 0, 1, 0x41, 1, 2][..], &[0, 0, 1, 0x41, 3]].concat();
        let one: Vec<u8> = [&[0, 0, 1, 0x41, 1, 2, 0x41, 3][..]].concat();
        assert_ne!(vcl_hash(&two), vcl_hash(&one));
    }

    #[test]
    fn differences_name_count_bytes_and_times() {
        let p = |pts: u64, b: u8| Picture { pts_ns: Some(pts), vcl: [b; 32] };
        let src = vec![p(10_000_000_000, 1), p(10_033_000_000, 2), p(12_000_000_000, 3)];
        // Same pictures, times rebased to 0: identical (the hole of ~2 s is kept).
        let same = vec![p(0, 1), p(33_000_000, 2), p(1_990_000_000, 3)];
        assert!(differences(&src, &same, 1_000_000, 5).len() == 1, "a 10 ms shift is named");
        let exact = vec![p(0, 1), p(33_000_000, 2), p(2_000_000_000, 3)];
        assert!(differences(&src, &exact, 1_000_000, 5).is_empty());
        let other = vec![p(0, 1), p(33_000_000, 9), p(2_000_000_000, 3)];
        assert!(differences(&src, &other, 1_000_000, 5)[0].contains("picture 1 differs"));
        let short = vec![p(0, 1), p(33_000_000, 2)];
        assert!(differences(&src, &short, 1_000_000, 5)[0].contains("2 video pictures, the source 3"));
    }
}
