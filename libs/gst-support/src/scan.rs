//! The demux-only pass: `filesrc ! typefind ! parsebin`, one `appsink` per elementary stream,
//! recording every buffer's PTS, DTS, duration and DISCONT flag, every caps change, the
//! container's own duration and its creation-time tag. Nothing is decoded.
//!
//! Memory: 24 bytes per buffer (≈6 MB per hour of 30 fps video with AAC audio), independent of
//! the file size. The data is read by GStreamer in blocks; nothing holds the file.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use evidence_contracts::report::StreamKind;
use gst::prelude::*;
use gstreamer as gst;
use tokio_util::sync::CancellationToken;

use crate::pipeline::{GstError, PipelineGuard, element_error};

/// How long the pass waits for the first media buffer. Demuxers find their index in
/// milliseconds even on multi-GB files (qtdemux reads the moov at the end by seeking).
pub const FIRST_DATA_TIMEOUT: Duration = Duration::from_secs(5);

pub use media_walk::Sample;

/// Everything the pass saw of one stream, in arrival (decode) order.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub kind: StreamKind,
    pub codec: String,
    /// Frame size of a video stream (from the first caps that state one).
    pub size: Option<(u32, u32)>,
    pub samples: Vec<Sample>,
    /// `(index of first sample with the new format, old description, new description)`.
    pub format_changes: Vec<(usize, String, String)>,
}

/// Result of the pass.
#[derive(Debug, Clone, Default)]
pub struct DemuxScan {
    /// `mp4`, `matroska`, `mpegts`, `avi`, … or the media type typefind reported.
    pub container: Option<String>,
    pub streams: Vec<Timeline>,
    /// Duration the container states, when it states one.
    pub container_duration_ns: Option<u64>,
    /// Creation time from the container's tags.
    pub recorded_start: Option<DateTime<Utc>>,
    /// Set when the pass ended in an error: what the element said.
    pub error: Option<String>,
    /// The container's structure as written (`media_walk`): its own timestamps for TS, PS, AVI
    /// and FLV, where it is cut short, what it marks.
    pub walk: Option<media_walk::Walk>,
    /// When `error` is set: whether a parser of one stream raised it (the demuxer read on).
    pub error_from_parser: Option<String>,
}

fn container_name(media: &str) -> String {
    match media {
        "video/quicktime" | "video/x-quicktime" | "audio/x-m4a" => "mp4".into(),
        "video/x-matroska" | "video/webm" | "audio/x-matroska" => "matroska".into(),
        "video/mpegts" => "mpegts".into(),
        "video/x-msvideo" => "avi".into(),
        "video/mpeg" => "mpeg-ps".into(),
        "application/ogg" => "ogg".into(),
        other => other.into(),
    }
}

/// The container, from the demuxer parsebin chose (typefind runs in pull mode with qtdemux and
/// keeps no caps we can read afterwards).
fn demuxer_container(parsebin: &gst::Element) -> Option<String> {
    let bin = parsebin.downcast_ref::<gst::Bin>()?;
    for el in bin.iterate_recurse().into_iter().flatten() {
        let Some(f) = el.factory() else { continue };
        let name = match f.name().as_str() {
            "qtdemux" => "mp4",
            "matroskademux" => "matroska",
            "tsdemux" => "mpegts",
            "avidemux" => "avi",
            "mpegpsdemux" => "mpeg-ps",
            "oggdemux" => "ogg",
            "flvdemux" => "flv",
            _ => continue,
        };
        return Some(name.to_owned());
    }
    None
}

/// What one caps event says: kind, codec, the "same format" key and the frame size.
struct CapsInfo {
    kind: StreamKind,
    codec: String,
    format: String,
    size: Option<(u32, u32)>,
}

fn describe_caps(caps: &gst::CapsRef) -> CapsInfo {
    let Some(s) = caps.structure(0) else {
        return CapsInfo { kind: StreamKind::Other, codec: "unknown".into(), format: String::new(), size: None };
    };
    let name = s.name().to_string();
    let kind = if name.starts_with("video/") || name.starts_with("image/") {
        StreamKind::Video
    } else if name.starts_with("audio/") {
        StreamKind::Audio
    } else {
        StreamKind::Other
    };
    let mut codec = name.clone();
    if let Ok(p) = s.get::<&str>("profile") {
        codec = format!("{codec} ({p})");
    }
    if name == "audio/mpeg"
        && let Ok(v) = s.get::<i32>("mpegversion")
    {
        codec = if v == 4 { "audio/aac".into() } else { format!("audio/mpeg v{v}") };
    }
    // What counts as "the same format": codec, profile and frame geometry or audio layout.
    let mut fmt = codec.clone();
    for f in ["width", "height", "rate", "channels"] {
        if let Ok(v) = s.get::<i32>(f) {
            fmt.push_str(&format!(" {f}={v}"));
        }
    }
    let dim = |f: &str| s.get::<i32>(f).ok().and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0);
    let size = if kind == StreamKind::Video { dim("width").zip(dim("height")) } else { None };
    CapsInfo { kind, codec, format: fmt, size }
}

struct StreamState {
    timeline: Timeline,
    format: String,
}

/// Runs the pass on a local file. A file GStreamer cannot read gives `Ok` with `error` set and
/// no streams; only a broken GStreamer installation or cancellation is an `Err`.
///
/// # Errors
/// Cancelled, stalled, or GStreamer missing elements.
pub async fn demux_scan(path: &Path, cancel: &CancellationToken, stall: Duration) -> Result<DemuxScan, GstError> {
    let first = demux_pass(path, cancel, stall, None).await?;
    // One stream's parser failed: the pass stopped there for every stream. Run it again with
    // that parser left out (its stream exposed as the demuxer gives it), so the rest is judged
    // to its end; the failure is kept for the report.
    let Some(parser) = first.error_from_parser.clone() else { return Ok(first) };
    let mut again = demux_pass(path, cancel, stall, Some(&parser)).await?;
    let count = |d: &DemuxScan| -> usize { d.streams.iter().map(|s| s.samples.len()).sum() };
    if count(&again) < count(&first) {
        return Ok(first);
    }
    // The file's structure does not depend on which parser GStreamer plugs: walked once.
    again.walk = first.walk;
    if again.error.is_none() {
        again.error.clone_from(&first.error);
    }
    again.error_from_parser = Some(parser);
    Ok(again)
}

async fn demux_pass(
    path: &Path,
    cancel: &CancellationToken,
    stall: Duration,
    without_parser: Option<&str>,
) -> Result<DemuxScan, GstError> {
    crate::init()?;
    let file = path.display().to_string();
    // The structural walk reads the same (page-cached) bytes on another thread meanwhile (on
    // the first pass only: a second pass reuses it).
    let walk = without_parser.is_none().then(|| {
        let p = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let f = std::fs::File::open(&p)?;
            let len = f.metadata()?.len();
            media_walk::walk(f, len)
        })
    });
    let mk = |factory: &str| crate::pipeline::make_element("scan", factory);
    let pipeline = gst::Pipeline::with_name("scan");
    let src = mk("filesrc")?;
    src.set_property("location", &file);
    let typefind = mk("typefind")?;
    let parsebin = mk("parsebin")?;
    if let Some(skip) = without_parser.map(str::to_owned)
        && let Some(ty) = gst::glib::Type::from_name("GstAutoplugSelectResult")
    {
        // GST_AUTOPLUG_SELECT_TRY = 0, _EXPOSE = 1: the failed parser's stream is exposed as
        // the demuxer gives it.
        parsebin.connect("autoplug-select", false, move |args| {
            let skip_it =
                args.get(3).and_then(|v| v.get::<gst::ElementFactory>().ok()).is_some_and(|f| f.name() == skip);
            gst::glib::EnumClass::with_type(ty)?.to_value(i32::from(skip_it))
        });
    }
    pipeline
        .add_many([&src, &typefind, &parsebin])
        .map_err(|e| GstError::Parse { name: "scan".into(), detail: e.to_string() })?;
    gst::Element::link_many([&src, &typefind, &parsebin])
        .map_err(|e| GstError::Parse { name: "scan".into(), detail: e.to_string() })?;
    let guard = PipelineGuard { pipeline: pipeline.clone(), name: "scan".into(), file: file.clone() };

    let streams: Arc<Mutex<Vec<Arc<Mutex<StreamState>>>>> = Arc::default();
    let buffers = Arc::new(AtomicU64::new(0));
    {
        let streams = streams.clone();
        let buffers = buffers.clone();
        let pipeline_weak = pipeline.downgrade();
        parsebin.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline_weak.upgrade() else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let CapsInfo { kind, codec, format, size } = describe_caps(&caps);
            let state = Arc::new(Mutex::new(StreamState {
                timeline: Timeline { kind, codec, size, samples: Vec::new(), format_changes: Vec::new() },
                format,
            }));
            if let Ok(mut s) = streams.lock() {
                s.push(state.clone());
            }
            let buffers = buffers.clone();
            crate::pipeline::sink_for_pad(&pipeline, pad, move |sample| {
                let Some(buf) = sample.buffer() else { return };
                buffers.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut st) = state.lock() {
                    if let Some(caps) = sample.caps() {
                        let CapsInfo { codec, format: fmt, size, .. } = describe_caps(caps);
                        if st.timeline.size.is_none() {
                            st.timeline.size = size;
                        }
                        if fmt != st.format {
                            let idx = st.timeline.samples.len();
                            if idx > 0 {
                                let old = std::mem::replace(&mut st.format, fmt.clone());
                                st.timeline.format_changes.push((idx, old, fmt));
                            } else {
                                st.format = fmt;
                                st.timeline.codec = codec;
                            }
                        }
                    }
                    st.timeline.samples.push(Sample {
                        pts: buf.pts().map(|t| t.nseconds()),
                        dts: buf.dts().map(|t| t.nseconds()),
                        duration: buf.duration().map(|t| t.nseconds()),
                        discont: buf.flags().contains(gst::BufferFlags::DISCONT),
                    });
                }
            });
        });
    }

    let bus = pipeline.bus().ok_or_else(|| GstError::State { name: "scan".into(), detail: "no bus".into() })?;
    let mut recorded_start = None;
    let mut error = None;
    let mut error_from_parser = None;
    let _ = pipeline.set_state(gst::State::Playing); // a failure arrives on the bus as an error
    let mut last = (0u64, tokio::time::Instant::now());
    'run: loop {
        for msg in crate::pipeline::pending(&bus) {
            match msg.view() {
                gst::MessageView::Eos(_) => break 'run,
                gst::MessageView::Error(err) => {
                    error = Some(element_error(&guard, err).to_string());
                    error_from_parser = err
                        .src()
                        .and_then(|s| s.downcast_ref::<gst::Element>().and_then(|e| e.factory()))
                        .filter(|f| f.metadata(gst::ELEMENT_METADATA_KLASS).is_some_and(|k| k.contains("Parser")))
                        .map(|f| f.name().to_string());
                    break 'run;
                }
                gst::MessageView::Tag(t) => {
                    if recorded_start.is_none()
                        && let Some(dt) = t.tags().get::<gst::tags::DateTime>()
                        && let Ok(s) = dt.get().to_iso8601_string()
                    {
                        recorded_start = parse_gst_datetime(s.as_str());
                    }
                }
                _ => {}
            }
        }
        let n = buffers.load(Ordering::Relaxed);
        if n != last.0 {
            last = (n, tokio::time::Instant::now());
        } else if n == 0 && last.1.elapsed() > FIRST_DATA_TIMEOUT.min(stall) {
            // parsebin sometimes swallows a demuxer's error while it is still autoplugging
            // (seen with qtdemux on an MP4 cut before its index): no data and no error.
            error = Some(format!(
                "the demuxer produced no media within {:?} and reported no error; the file is most likely damaged",
                FIRST_DATA_TIMEOUT.min(stall)
            ));
            break;
        } else if last.1.elapsed() > stall {
            error = Some(format!("no progress for {stall:?}; the demuxer stalled"));
            break;
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(GstError::Cancelled { name: "scan".into() }),
            _ = tokio::time::sleep(crate::pipeline::BUS_POLL) => {}
        }
    }
    let container_duration_ns = pipeline.query_duration::<gst::ClockTime>().map(|d| d.nseconds()).filter(|d| *d > 0);
    let container = demuxer_container(&parsebin).or_else(|| {
        typefind
            .property::<Option<gst::Caps>>("caps")
            .and_then(|c| c.structure(0).map(|s| container_name(s.name().as_str())))
    });
    drop(guard);
    let streams = streams
        .lock()
        .map(|v| v.iter().filter_map(|s| s.lock().ok().map(|s| s.timeline.clone())).collect())
        .unwrap_or_default();
    let walk = match walk {
        Some(w) => w.await.ok().and_then(Result::ok),
        None => None,
    };
    Ok(DemuxScan { container, streams, container_duration_ns, recorded_start, error, walk, error_from_parser })
}

fn parse_gst_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|d| d.with_timezone(&Utc)).or_else(|| {
        // GStreamer may omit seconds or the zone.
        chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| n.and_utc())
    })
}
