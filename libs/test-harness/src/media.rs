//! Recordings generated with real GStreamer encoders for the tests: H.264 (x264enc) + AAC
//! (avenc_aac) in MP4, with optional B-frames and an optional hole (timestamps shifted after a
//! point, so the muxer writes one long sample exactly as a recorder that lost data does).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use gst::prelude::*;
use gstreamer as gst;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub seconds: u32,
    pub fps: u32,
    pub width: u32,
    pub height: u32,
    pub audio: bool,
    pub bframes: u32,
    /// `(at seconds, missing seconds)`: every buffer from `at` on is shifted later.
    pub hole: Option<(f64, f64)>,
}

impl Default for Spec {
    fn default() -> Self {
        Self { seconds: 3, fps: 30, width: 320, height: 240, audio: true, bframes: 0, hole: None }
    }
}

fn shift_after(pad: &gst::Pad, at_ns: u64, by_ns: u64) {
    // Encoders may offset their output clock (x264enc starts at 1000 h to keep DTS positive),
    // so `at` is measured from the first buffer on the pad.
    let first = std::sync::Mutex::new(None::<u64>);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer_mut() {
            let buf = buf.make_mut();
            let Some(pts) = buf.pts().map(|p| p.nseconds()) else {
                return gst::PadProbeReturn::Ok;
            };
            let base = match first.lock() {
                Ok(mut f) => *f.get_or_insert(pts),
                Err(_) => return gst::PadProbeReturn::Ok,
            };
            if pts >= base + at_ns {
                if let Some(p) = buf.pts() {
                    buf.set_pts(gst::ClockTime::from_nseconds(p.nseconds() + by_ns));
                }
                if let Some(d) = buf.dts() {
                    buf.set_dts(gst::ClockTime::from_nseconds(d.nseconds() + by_ns));
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// Writes an MP4 recording to `path`.
///
/// # Errors
/// A GStreamer element is missing or the pipeline fails.
pub fn mp4(path: &Path, spec: &Spec) -> anyhow::Result<()> {
    gst::init()?;
    let frames = spec.seconds * spec.fps;
    let x264 = if spec.bframes > 0 {
        format!("x264enc speed-preset=ultrafast key-int-max={} bframes={} b-adapt=false", spec.fps, spec.bframes)
    } else {
        format!("x264enc speed-preset=ultrafast tune=zerolatency key-int-max={}", spec.fps)
    };
    let mut desc = format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,width={w},height={h},framerate={fps}/1 ! \
         {x264} ! video/x-h264,profile=high ! h264parse name=vp ! queue ! mp4mux name=mux ! filesink location=\"{p}\"",
        w = spec.width,
        h = spec.height,
        fps = spec.fps,
        p = path.display()
    );
    if spec.audio {
        let buffers = spec.seconds * 48_000 / 1024;
        desc.push_str(&format!(
            " audiotestsrc num-buffers={buffers} samplesperbuffer=1024 wave=sine ! audio/x-raw,rate=48000,channels=1 ! \
             avenc_aac ! aacparse name=ap ! queue ! mux."
        ));
    }
    let pipeline = gst::parse::launch(&desc)
        .with_context(|| format!("build generator pipeline: {desc}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    if let Some((at, len)) = spec.hole {
        let (at, by) = ((at * 1e9) as u64, (len * 1e9) as u64);
        for name in ["vp", "ap"] {
            if let Some(pad) = pipeline.by_name(name).and_then(|e| e.static_pad("src")) {
                shift_after(&pad, at, by);
            }
        }
    }
    run(&pipeline, Duration::from_secs(120))
}

fn run(pipeline: &gst::Pipeline, timeout: Duration) -> anyhow::Result<()> {
    let bus = pipeline.bus().context("bus")?;
    pipeline.set_state(gst::State::Playing)?;
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let _ = pipeline.set_state(gst::State::Null);
    match msg {
        Some(m) => match m.view() {
            gst::MessageView::Eos(_) => Ok(()),
            gst::MessageView::Error(e) => {
                bail!("generator failed: {} ({:?})", e.error(), e.debug())
            }
            _ => bail!("unexpected message"),
        },
        None => bail!("generator did not finish within {timeout:?}"),
    }
}

/// Decodes a file completely and returns `(video frames, audio buffers, last video end ns)`,
/// proving that it plays.
///
/// # Errors
/// It does not decode.
pub fn decode_counts(path: &Path) -> anyhow::Result<(u64, u64, u64)> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    gst::init()?;
    let desc = format!(
        "filesrc location=\"{}\" ! decodebin name=d d. ! queue ! videoconvert ! fakesink name=v sync=false async=false \
         d. ! queue ! audioconvert ! fakesink name=a sync=false async=false",
        path.display()
    );
    let pipeline =
        gst::parse::launch(&desc)?.downcast::<gst::Pipeline>().map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    let counts: Arc<[AtomicU64; 3]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    for (i, name) in ["v", "a"].iter().enumerate() {
        let sink = pipeline.by_name(name).context("sink")?;
        let pad = sink.static_pad("sink").context("pad")?;
        let c = counts.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer() {
                c[i].fetch_add(1, Ordering::Relaxed);
                if i == 0
                    && let Some(p) = b.pts()
                {
                    let end = p.nseconds() + b.duration().map_or(0, |d| d.nseconds());
                    c[2].fetch_max(end, Ordering::Relaxed);
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
    run(&pipeline, Duration::from_secs(120))?;
    Ok((counts[0].load(Ordering::Relaxed), counts[1].load(Ordering::Relaxed), counts[2].load(Ordering::Relaxed)))
}
