//! The optional decoding check (`ingest-worker scan --decode`, worker `ingest.decode_check`):
//! `filesrc ! decodebin`, one `appsink` per decoded stream, recording which presentation times
//! came out of the decoders, and every warning or error a decoder posts. Demuxing cannot see a
//! damaged bitstream; a decoder drops (or complains about) the frames it cannot decode, so the
//! frames the demuxer delivered and no decoder returned are the damaged regions.
//!
//! Costs a full decode (measured in docs/benchmarks.md); off by default. Memory: 16 bytes per
//! decoded buffer.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evidence_contracts::report::StreamKind;
use gst::prelude::*;
use gstreamer as gst;
use tokio_util::sync::CancellationToken;

use crate::pipeline::{GstError, PipelineGuard, element_error};

/// One decoded stream: `(pts, duration)` of every buffer that came out of its decoder.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    pub kind: Option<StreamKind>,
    pub buffers: Vec<(u64, u64)>,
}

/// What the decoders said and returned.
#[derive(Debug, Clone, Default)]
pub struct DecodeScan {
    pub streams: Vec<Decoded>,
    /// `(element, message, position on the pipeline clock when posted)` of decoder warnings and
    /// errors.
    pub messages: Vec<(String, String, Option<u64>)>,
    /// The pass stopped with this error, raised by an element of this factory.
    pub error: Option<String>,
    pub error_factory: Option<String>,
    /// GStreamer has no decoder for one of the streams (`gst-plugins-*` missing, or a codec
    /// GStreamer 1.22 does not decode): the check says nothing about it.
    pub missing_plugin: bool,
}

/// Decodes every stream of a local file.
///
/// # Errors
/// Cancelled, or GStreamer missing elements. A file that does not decode is a result.
pub async fn decode_scan(path: &Path, cancel: &CancellationToken, stall: Duration) -> Result<DecodeScan, GstError> {
    crate::init()?;
    let file = path.display().to_string();
    let mk = |factory: &str| crate::pipeline::make_element("decode", factory);
    let pipeline = gst::Pipeline::with_name("decode");
    let src = mk("filesrc")?;
    src.set_property("location", &file);
    let decodebin = mk("decodebin")?;
    pipeline
        .add_many([&src, &decodebin])
        .map_err(|e| GstError::Parse { name: "decode".into(), detail: e.to_string() })?;
    src.link(&decodebin).map_err(|e| GstError::Parse { name: "decode".into(), detail: e.to_string() })?;
    let guard = PipelineGuard { pipeline: pipeline.clone(), name: "decode".into(), file: file.clone() };
    let streams: Arc<Mutex<Vec<Arc<Mutex<Decoded>>>>> = Arc::default();
    let count = Arc::new(AtomicU64::new(0));
    {
        let streams = streams.clone();
        let count = count.clone();
        let weak = pipeline.downgrade();
        decodebin.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else { return };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let kind = caps.structure(0).map(|s| {
                if s.name().starts_with("video/") {
                    StreamKind::Video
                } else if s.name().starts_with("audio/") {
                    StreamKind::Audio
                } else {
                    StreamKind::Other
                }
            });
            let state = Arc::new(Mutex::new(Decoded { kind, buffers: Vec::new() }));
            if let Ok(mut s) = streams.lock() {
                s.push(state.clone());
            }
            let count = count.clone();
            crate::pipeline::sink_for_pad(&pipeline, pad, move |sample| {
                if let Some(buf) = sample.buffer()
                    && let Some(pts) = buf.pts()
                    && let Ok(mut st) = state.lock()
                {
                    st.buffers.push((pts.nseconds(), buf.duration().map_or(0, |d| d.nseconds())));
                }
                count.fetch_add(1, Ordering::Relaxed);
            });
        });
    }
    let bus = pipeline.bus().ok_or_else(|| GstError::State { name: "decode".into(), detail: "no bus".into() })?;
    let mut out = DecodeScan::default();
    let _ = pipeline.set_state(gst::State::Playing);
    let mut last = (0u64, tokio::time::Instant::now());
    let from_decoder = |src: Option<&gst::Object>| {
        src.and_then(|s| s.downcast_ref::<gst::Element>())
            .and_then(|e| e.factory())
            .is_some_and(|f| f.metadata(gst::ELEMENT_METADATA_KLASS).is_some_and(|k| k.contains("Decoder")))
    };
    'run: loop {
        for msg in crate::pipeline::pending(&bus) {
            let pos = pipeline.query_position::<gst::ClockTime>().map(|p| p.nseconds());
            match msg.view() {
                gst::MessageView::Eos(_) => break 'run,
                gst::MessageView::Element(e) if e.structure().is_some_and(|s| s.name() == "missing-plugin") => {
                    out.missing_plugin = true;
                }
                gst::MessageView::Error(err) if err.error().matches(gst::CoreError::MissingPlugin) => {
                    out.missing_plugin = true;
                    out.error = Some(element_error(&guard, err).to_string());
                    break 'run;
                }
                gst::MessageView::Error(err) => {
                    if from_decoder(err.src()) {
                        let el = err.src().map(|s| s.name().to_string()).unwrap_or_default();
                        out.messages.push((el, err.error().to_string(), pos));
                    }
                    out.error = Some(element_error(&guard, err).to_string());
                    out.error_factory = err
                        .src()
                        .and_then(|s| s.downcast_ref::<gst::Element>().and_then(|e| e.factory()))
                        .map(|f| f.name().to_string());
                    break 'run;
                }
                gst::MessageView::Warning(w) if w.error().matches(gst::CoreError::MissingPlugin) => {
                    out.missing_plugin = true;
                }
                gst::MessageView::Warning(w) if from_decoder(w.src()) => {
                    let el = w.src().map(|s| s.name().to_string()).unwrap_or_default();
                    out.messages.push((el, w.error().to_string(), pos));
                }
                _ => {}
            }
        }
        let n = count.load(Ordering::Relaxed);
        if n != last.0 {
            last = (n, tokio::time::Instant::now());
        } else if last.1.elapsed() > stall {
            out.error = Some(format!("no decoded output for {stall:?}; the decoder stalled"));
            break;
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(GstError::Cancelled { name: "decode".into() }),
            _ = tokio::time::sleep(crate::pipeline::BUS_POLL) => {}
        }
    }
    drop(guard);
    out.streams =
        streams.lock().map(|v| v.iter().filter_map(|s| s.lock().ok().map(|s| s.clone())).collect()).unwrap_or_default();
    Ok(out)
}
