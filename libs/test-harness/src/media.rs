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
    /// Which streams get the hole: `Both`, `VideoOnly`, `AudioOnly`.
    pub hole_in: HoleIn,
    /// Shift every video frame's timestamps by a pseudo-random 0..=`jitter_ms` (variable frame rate).
    pub jitter_ms: u32,
    pub container: Container,
    /// Encode video as H.265 (x265enc) instead of H.264 (MP4, MOV and MPEG-TS only).
    pub hevc: bool,
}

/// Streams a hole applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HoleIn {
    #[default]
    Both,
    VideoOnly,
    AudioOnly,
}

/// Output container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Container {
    /// MP4 with the index (moov) at the end, as most cameras write it.
    #[default]
    Mp4,
    /// MP4 with the index at the front.
    Mp4Faststart,
    /// Fragmented MP4, 1 s fragments.
    Mp4Fragmented,
    /// MPEG-TS (fixed cameras, NVR exports).
    MpegTs,
    /// QuickTime MOV (some body cameras and phones).
    Mov,
    /// Motion-JPEG in AVI (cheap recorders); H.264 settings are ignored.
    AviMjpeg,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            seconds: 3,
            fps: 30,
            width: 320,
            height: 240,
            audio: true,
            bframes: 0,
            hole: None,
            hole_in: HoleIn::Both,
            jitter_ms: 0,
            container: Container::Mp4,
            hevc: false,
        }
    }
}

fn jitter(pad: &gst::Pad, max_ms: u32) {
    let n = std::sync::atomic::AtomicU64::new(0);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer_mut() {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let j = (i.wrapping_mul(2_654_435_761) >> 7) % (u64::from(max_ms) + 1) * 1_000_000;
            let buf = buf.make_mut();
            if let Some(p) = buf.pts() {
                buf.set_pts(gst::ClockTime::from_nseconds(p.nseconds() + j));
            }
        }
        gst::PadProbeReturn::Ok
    });
}

fn shift_after(pad: &gst::Pad, at_ns: u64, by_ns: u64) {
    // Encoders may offset their output clock (x264enc starts at 1000 h to keep DTS positive),
    // so `at` is measured from the first buffer on the pad. The shift starts at the first
    // keyframe at or after `at` (in decode order) and then applies to every later buffer, so no
    // group of pictures is split: a recorder that loses data resumes on a keyframe too.
    let state = std::sync::Mutex::new((None::<u64>, false));
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buf) = info.buffer_mut() {
            let buf = buf.make_mut();
            let Some(t) = buf.dts().or(buf.pts()).map(|p| p.nseconds()) else { return gst::PadProbeReturn::Ok };
            let Ok(mut st) = state.lock() else { return gst::PadProbeReturn::Ok };
            let base = *st.0.get_or_insert(t);
            if !st.1 && t >= base + at_ns && !buf.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                st.1 = true;
            }
            if st.1 {
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
    let (mux, venc, vparse, aparse) = match spec.container {
        Container::Mp4 => ("mp4mux name=mux", None, "h264parse", "aacparse"),
        Container::Mp4Faststart => ("mp4mux name=mux faststart=true", None, "h264parse", "aacparse"),
        Container::Mp4Fragmented => ("mp4mux name=mux fragment-duration=1000", None, "h264parse", "aacparse"),
        Container::MpegTs => ("mpegtsmux name=mux", None, "h264parse", "aacparse"),
        Container::Mov => ("qtmux name=mux", None, "h264parse", "aacparse"),
        Container::AviMjpeg => ("avimux name=mux", Some("jpegenc"), "jpegparse", "aacparse"),
    };
    if spec.hevc && venc.is_some() {
        bail!("H.265 in {:?} is not generated", spec.container);
    }
    let (vparse, vcaps) = if spec.hevc { ("h265parse", "video/x-h265") } else { (vparse, "video/x-h264,profile=high") };
    let x264 = if let Some(e) = venc {
        e.to_owned()
    } else if spec.hevc {
        // x265 needs 4:2:0 at sizes that are multiples of its minimum coding unit (8).
        format!("x265enc speed-preset=ultrafast key-int-max={} option-string=bframes={}", spec.fps, spec.bframes)
    } else if spec.bframes > 0 {
        format!("x264enc speed-preset=ultrafast key-int-max={} bframes={} b-adapt=false", spec.fps, spec.bframes)
    } else {
        format!("x264enc speed-preset=ultrafast tune=zerolatency key-int-max={}", spec.fps)
    };
    let mut desc = format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,width={w},height={h},framerate={fps}/1 ! \
         {x264} ! {caps}{vparse} name=vp ! queue ! {mux} ! filesink location=\"{p}\"",
        caps = if venc.is_some() { String::new() } else { format!("{vcaps} ! ") },
        w = spec.width,
        h = spec.height,
        fps = spec.fps,
        p = path.display()
    );
    if spec.audio {
        let buffers = spec.seconds * 48_000 / 1024;
        desc.push_str(&format!(
            " audiotestsrc num-buffers={buffers} samplesperbuffer=1024 wave=sine ! audio/x-raw,rate=48000,channels=1 ! \
             avenc_aac ! {aparse} name=ap ! queue ! mux."
        ));
    }
    let pipeline = gst::parse::launch(&desc)
        .with_context(|| format!("build generator pipeline: {desc}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    if let Some((at, len)) = spec.hole {
        let (at, by) = ((at * 1e9) as u64, (len * 1e9) as u64);
        let names: &[&str] = match spec.hole_in {
            HoleIn::Both => &["vp", "ap"],
            HoleIn::VideoOnly => &["vp"],
            HoleIn::AudioOnly => &["ap"],
        };
        for name in names {
            if let Some(pad) = pipeline.by_name(name).and_then(|e| e.static_pad("src")) {
                shift_after(&pad, at, by);
            }
        }
    }
    if spec.jitter_ms > 0
        && let Some(pad) = pipeline.by_name("vp").and_then(|e| e.static_pad("src"))
    {
        jitter(&pad, spec.jitter_ms);
    }
    run(&pipeline, Duration::from_secs(120))
}

/// Writes a recording as [`mp4`] does, for any [`Container`] (alias for readability).
///
/// # Errors
/// See [`mp4`].
pub fn recording(path: &Path, spec: &Spec) -> anyhow::Result<()> {
    mp4(path, spec)
}

/// Copies `src` to `dst` with ffmpeg, stream copy, setting the container creation time (as a
/// camera that starts a file at that wall-clock time would).
///
/// # Errors
/// ffmpeg missing or failing.
pub fn with_creation_time(src: &Path, dst: &Path, rfc3339: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(src)
        .args(["-c", "copy", "-metadata", &format!("creation_time={rfc3339}")])
        .arg(dst)
        .output()
        .context("run ffmpeg (apt install ffmpeg)")?;
    anyhow::ensure!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
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

/// `size` pseudo-random, incompressible, reproducible bytes (xorshift from `seed`) written to
/// `path`: a large "recording" no demuxer can read, made in milliseconds.
///
/// # Errors
/// The file cannot be written.
pub fn random_file(path: &Path, size: usize, seed: u64) -> std::io::Result<()> {
    let mut x = seed | 1;
    let mut buf = Vec::with_capacity(size);
    while buf.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf.extend_from_slice(&x.to_le_bytes());
    }
    buf.truncate(size);
    std::fs::write(path, buf)
}
