//! Capture of a live RTSP stream into fragmented-MP4 segments, without re-encoding:
//! `rtspsrc ! rtp<codec>depay ! <codec>parse ! splitmuxsink (mp4mux, 1 s fragments)`.
//!
//! Each segment's first and last frame are given in wall-clock time, from the running time
//! splitmuxsink reports for the segment and the pipeline clock at that moment, so that the
//! recorder can state exactly how long a hole between segments (a camera outage, a network
//! drop) lasted. Fragmented MP4 keeps a segment readable up to its last complete fragment even
//! when the process dies mid-segment.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gstreamer as gst;
use gstreamer::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::pipeline::{GstError, PipelineGuard};

/// What to capture.
#[derive(Debug, Clone)]
pub struct CaptureSpec {
    pub url: String,
    /// `h264` or `h265`: the camera's codec (RTP depayloader and parser).
    pub codec: String,
    /// The camera's audio, kept as sent: `aac` (RTP MPEG4-GENERIC) or `aac-latm` (MP4A-LATM);
    /// `None`: video only.
    pub audio: Option<String>,
    pub dir: PathBuf,
    /// File names are `<prefix>_<index:05>.mp4`.
    pub prefix: String,
    /// Index of the first segment of this capture.
    pub start_index: u32,
    pub segment: Duration,
    /// rtspsrc jitter-buffer latency.
    pub latency_ms: u32,
    /// No data for this long ends the capture (the camera is gone).
    pub stall: Duration,
}

/// Segment boundaries, as they happen.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureEvent {
    Opened {
        path: PathBuf,
        start: DateTime<Utc>,
    },
    Closed {
        path: PathBuf,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// A segment file the muxer opened before any frame arrived (the camera never answered):
    /// it holds nothing from the camera and has been removed.
    Discarded {
        path: PathBuf,
    },
}

/// Why a capture ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureEnd {
    /// Shutdown was requested; the open segment was finished.
    Cancelled,
    /// The camera ended the stream or could not be reached / stopped sending: an outage.
    Lost(String),
    /// Audio was asked for (`CaptureSpec::audio`) but the camera offers none in that encoding:
    /// a configuration mismatch. What the camera offers is named.
    NoAudio(String),
}

/// The pipeline description for a spec (also what `--print-pipeline` shows).
pub fn describe(spec: &CaptureSpec) -> Result<String, GstError> {
    let (depay, parse) = match spec.codec.as_str() {
        "h264" => ("rtph264depay", "h264parse"),
        "h265" => ("rtph265depay", "h265parse"),
        other => {
            return Err(GstError::Parse {
                name: "record".into(),
                detail: format!("codec \"{other}\" is not supported for RTSP recording (h264 or h265)"),
            });
        }
    };
    let audio = match spec.audio.as_deref() {
        None => String::new(),
        Some(a) => {
            let (depay, _) = audio_branch(a)?;
            format!(" src. ! {depay} name=adepay ! aacparse ! queue ! mux.audio_0")
        }
    };
    let location = spec.dir.join(format!("{}_%05d.mp4", spec.prefix));
    Ok(format!(
        "splitmuxsink name=mux muxer-factory=mp4mux muxer-properties=\"properties,fragment-duration=1000\" \
         max-size-time={} start-index={} location=\"{}\" \
         rtspsrc name=src location=\"{}\" protocols=tcp latency={} ! {depay} name=vdepay ! {parse} name=parse ! queue ! mux.video{audio}",
        spec.segment.as_nanos(),
        spec.start_index,
        location.display(),
        spec.url,
        spec.latency_ms,
    ))
}

/// The RTP depayloader and SDP encoding name of an audio setting.
fn audio_branch(audio: &str) -> Result<(&'static str, &'static str), GstError> {
    match audio {
        "aac" => Ok(("rtpmp4gdepay", "MPEG4-GENERIC")),
        "aac-latm" => Ok(("rtpmp4adepay", "MP4A-LATM")),
        other => Err(GstError::Parse {
            name: "record".into(),
            detail: format!(
                "audio \"{other}\" cannot be kept as sent in MP4 segments (aac or aac-latm); a G.711 camera: \
                 set it to AAC, or record without --audio"
            ),
        }),
    }
}

/// What the camera announced, from rtspsrc's pads.
#[derive(Default)]
struct Offered {
    /// Encoding names of the audio streams.
    audio: Vec<String>,
    /// rtspsrc has added all its pads.
    complete: bool,
}

fn watch_pads(pipeline: &gst::Pipeline) -> std::sync::Arc<std::sync::Mutex<Offered>> {
    let offered = std::sync::Arc::new(std::sync::Mutex::new(Offered::default()));
    let Some(src) = pipeline.by_name("src") else { return offered };
    let o = offered.clone();
    src.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().or_else(|| Some(pad.query_caps(None)));
        if let Some(st) = caps.as_ref().and_then(|c| c.structure(0))
            && st.get::<&str>("media").ok() == Some("audio")
        {
            let enc = st.get::<&str>("encoding-name").unwrap_or("?").to_owned();
            o.lock().unwrap_or_else(std::sync::PoisonError::into_inner).audio.push(enc);
        }
    });
    let o = offered.clone();
    src.connect_no_more_pads(move |_| {
        o.lock().unwrap_or_else(std::sync::PoisonError::into_inner).complete = true;
    });
    offered
}

/// The URL without credentials (`rtsp://user:pass@host/…` → `rtsp://***@host/…`), for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s + 3 && !url[s + 3..at].contains('/') => {
            format!("{}***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn wall_of(pipeline: &gst::Pipeline, running_ns: u64) -> DateTime<Utc> {
    let now = Utc::now();
    let (Some(clock), Some(base)) = (pipeline.clock(), pipeline.base_time()) else { return now };
    let clock_now = clock.time();
    let running_now = clock_now.nseconds().saturating_sub(base.nseconds());
    let behind = i64::try_from(running_now.saturating_sub(running_ns)).unwrap_or(0);
    now - chrono::Duration::nanoseconds(behind)
}

fn fragment_message(s: &gst::StructureRef) -> Option<(bool, PathBuf, u64)> {
    let opened = match s.name().as_str() {
        "splitmuxsink-fragment-opened" => true,
        "splitmuxsink-fragment-closed" => false,
        _ => return None,
    };
    let location = s.get::<String>("location").ok()?;
    let rt = s
        .get::<u64>("running-time")
        .ok()
        .or_else(|| s.get::<gst::ClockTime>("running-time").ok().map(|t| t.nseconds()))?;
    Some((opened, PathBuf::from(location), rt))
}

/// Captures until the stream is lost or `cancel` fires, sending segment boundaries to `events`.
/// Blocking: run it on a blocking thread.
///
/// # Errors
/// The pipeline cannot be built (missing plugin, bad codec) — a configuration problem.
pub fn capture(
    spec: &CaptureSpec,
    events: &(dyn Fn(CaptureEvent) + Send + Sync),
    cancel: &CancellationToken,
) -> Result<CaptureEnd, GstError> {
    std::fs::create_dir_all(&spec.dir).map_err(|e| GstError::Template {
        path: spec.dir.clone(),
        detail: format!("cannot create the segment folder: {e}"),
    })?;
    let desc = describe(spec)?;
    let g: PipelineGuard = crate::pipeline::parse("record", &redact(&spec.url), &desc)?;
    let bus = g.pipeline.bus().expect("a pipeline has a bus");
    let offered = watch_pads(&g.pipeline);
    let wanted_audio = spec.audio.as_deref().map(audio_branch).transpose()?.map(|(_, enc)| enc);
    let mut audio_checked = false;
    // Asked for audio: hold the camera's data back from the muxer until its streams are known,
    // so a mismatch leaves no half-made segment (the hold is released at once when they match).
    let mut held: Vec<(gst::Pad, gst::PadProbeId)> = Vec::new();
    if wanted_audio.is_some() {
        for name in ["vdepay", "adepay"] {
            if let Some(pad) = g.pipeline.by_name(name).and_then(|e| e.static_pad("src"))
                && let Some(id) = pad.add_probe(gst::PadProbeType::BLOCK_DOWNSTREAM, |_, _| gst::PadProbeReturn::Ok)
            {
                held.push((pad, id));
            }
        }
    }
    let release = |held: &mut Vec<(gst::Pad, gst::PadProbeId)>| {
        for (pad, id) in held.drain(..) {
            pad.remove_probe(id);
        }
    };
    let started = std::time::Instant::now();
    if g.pipeline.set_state(gst::State::Playing).is_err() {
        let why = crate::pipeline::pending(&bus)
            .iter()
            .find_map(|m| match m.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "the pipeline refused to start".into());
        return Ok(CaptureEnd::Lost(why));
    }
    // Wall-clock arrival of the last frame, kept by a probe on the parser: a sign of life, and
    // the end of a segment the muxer could not close.
    let last_frame =
        std::sync::Arc::new(std::sync::atomic::AtomicI64::new(Utc::now().timestamp_nanos_opt().unwrap_or(0)));
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    if let Some(pad) = g.pipeline.by_name("parse").and_then(|p| p.static_pad("src")) {
        let lf = last_frame.clone();
        let n = frames.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            lf.store(Utc::now().timestamp_nanos_opt().unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
            n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    }
    let last_seen = || DateTime::<Utc>::from_timestamp_nanos(last_frame.load(std::sync::atomic::Ordering::Relaxed));
    let no_frame = || frames.load(std::sync::atomic::Ordering::Relaxed) == 0;
    let mut open: Option<(PathBuf, DateTime<Utc>)> = None;
    let mut ending: Option<(CaptureEnd, std::time::Instant)> = None;
    loop {
        if ending.is_none() {
            if cancel.is_cancelled() {
                // Finish the open segment properly.
                g.pipeline.send_event(gst::event::Eos::new());
                ending = Some((CaptureEnd::Cancelled, std::time::Instant::now()));
            } else if let Some(audio) = (!audio_checked).then(|| offered_audio(&offered)).flatten() {
                // The camera's streams are known: is the audio asked for among them?
                audio_checked = true;
                match wanted_audio {
                    Some(enc) if !audio.iter().any(|a| a.eq_ignore_ascii_case(enc)) => {
                        let has = if audio.is_empty() { "no audio".to_owned() } else { audio.join(", ") };
                        ending = Some((
                            CaptureEnd::NoAudio(format!("{enc} audio was asked for; the camera offers {has}")),
                            std::time::Instant::now(),
                        ));
                        finish_mux(&g);
                    }
                    Some(_) => release(&mut held),
                    None if !audio.is_empty() => tracing::warn!(
                        offered = %audio.join(", "),
                        "the camera also sends audio, which is not being recorded; start the recorder with --audio to keep it"
                    ),
                    _ => {}
                }
            } else if !held.is_empty() && started.elapsed() > spec.stall {
                // The camera never said which streams it has: record what comes rather than nothing.
                tracing::warn!("the camera's streams were not announced in time; recording without checking its audio");
                release(&mut held);
                // The hold is not the camera's silence: the stall clock starts now.
                last_frame.store(Utc::now().timestamp_nanos_opt().unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
            } else if (Utc::now() - last_seen()).to_std().unwrap_or_default() > spec.stall {
                ending = Some((
                    CaptureEnd::Lost(format!("no data from the camera for {:?}", spec.stall)),
                    std::time::Instant::now(),
                ));
                finish_mux(&g);
            }
        }
        // Once ending: the muxer has been sent EOS; the pipeline's EOS message says it has
        // closed its file (a segment it opened just before, whose message is still queued,
        // included). Stop at once if no frame ever arrived, else give it at most 3 s.
        if let Some((_, since)) = &ending
            && (no_frame() || since.elapsed() > Duration::from_secs(3))
        {
            break;
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else { continue };
        match msg.view() {
            gst::MessageView::Element(_) => on_fragment(&msg, &g, &mut open, no_frame(), events),
            gst::MessageView::Eos(_) => {
                if ending.is_none() {
                    ending = Some((CaptureEnd::Lost("the camera ended the stream".into()), std::time::Instant::now()));
                }
                break;
            }
            gst::MessageView::Error(err) if ending.is_none() => {
                let src = err.src().map(|s| s.path_string().to_string()).unwrap_or_default();
                ending = Some((
                    CaptureEnd::Lost(format!("{src}: {} ({:?})", err.error(), err.debug())),
                    std::time::Instant::now(),
                ));
                finish_mux(&g);
            }
            _ => {}
        }
    }
    // Boundaries still queued (a segment opened or closed as the capture ended) are not lost.
    while let Some(msg) = bus.pop() {
        on_fragment(&msg, &g, &mut open, no_frame(), events);
    }
    // A segment still open (the muxer did not close it): report it with what is known, unless
    // no frame ever arrived in this capture (a reconnect attempt the camera did not answer).
    drop(g);
    if no_frame() {
        // The only file this capture can have made is its first, whether or not its message
        // came before the pipeline stopped.
        let first = spec.dir.join(format!("{}_{:05}.mp4", spec.prefix, spec.start_index));
        if open.take().is_some() || first.exists() {
            discard(first, events);
        }
    } else if let Some((path, start)) = open.take() {
        let end = last_seen().max(start);
        events(CaptureEvent::Closed { path, start, end });
    }
    let end = ending.map_or(CaptureEnd::Lost("the pipeline stopped".into()), |(e, _)| e);
    Ok(match end {
        CaptureEnd::Lost(why) => CaptureEnd::Lost(why.replace(&spec.url, &redact(&spec.url))),
        other => other,
    })
}

/// The camera's audio encodings, once rtspsrc has added all its pads.
fn offered_audio(offered: &std::sync::Mutex<Offered>) -> Option<Vec<String>> {
    let o = offered.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    o.complete.then(|| o.audio.clone())
}

/// A splitmuxsink boundary message, turned into an event in wall-clock time.
fn on_fragment(
    msg: &gst::Message,
    g: &PipelineGuard,
    open: &mut Option<(PathBuf, DateTime<Utc>)>,
    no_frame: bool,
    events: &(dyn Fn(CaptureEvent) + Send + Sync),
) {
    let gst::MessageView::Element(e) = msg.view() else { return };
    let Some((opened, path, rt)) = e.structure().and_then(fragment_message) else { return };
    let at = wall_of(&g.pipeline, rt);
    if opened {
        *open = Some((path.clone(), at));
        events(CaptureEvent::Opened { path, start: at });
    } else if no_frame {
        // The muxer was sent EOS before any frame came (a reconnect the camera did not answer):
        // it opened and closed a file that holds nothing from the camera.
        open.take();
        discard(path, events);
    } else {
        let start = open.take().map_or(at, |(_, s)| s);
        events(CaptureEvent::Closed { path, start, end: at });
    }
}

fn discard(path: PathBuf, events: &(dyn Fn(CaptureEvent) + Send + Sync)) {
    let _ = std::fs::remove_file(&path);
    tracing::info!(file = %path.display(), "no frame arrived; the empty segment file is removed");
    events(CaptureEvent::Discarded { path });
}

/// Pushes EOS straight into the muxer so the open segment is finalised although the source
/// upstream has failed.
fn finish_mux(g: &PipelineGuard) {
    if let Some(mux) = g.pipeline.by_name("mux") {
        for pad in mux.sink_pads() {
            pad.send_event(gst::event::Eos::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(codec: &str) -> CaptureSpec {
        CaptureSpec {
            url: "rtsp://127.0.0.1:8554/cam".into(),
            codec: codec.into(),
            audio: Some("aac".into()),
            dir: PathBuf::from("/tmp/rec test"),
            prefix: "ROOM-1-20261128T000000Z".into(),
            start_index: 7,
            segment: Duration::from_secs(60),
            latency_ms: 200,
            stall: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_capture_pipeline_builds_for_both_codecs_and_names_segments() {
        crate::init().expect("gstreamer");
        for codec in ["h264", "h265"] {
            let desc = describe(&spec(codec)).expect("describe");
            let g = crate::pipeline::parse("record", "test", &desc).expect("parses");
            let mux = g.pipeline.by_name("mux").expect("mux");
            assert_eq!(mux.property::<i32>("start-index"), 7);
            assert_eq!(mux.property::<u64>("max-size-time"), 60_000_000_000);
            assert!(
                mux.property::<Option<String>>("location")
                    .expect("location")
                    .ends_with("ROOM-1-20261128T000000Z_%05d.mp4")
            );
            assert!(g.pipeline.by_name("parse").is_some());
            assert!(mux.static_pad("audio_0").is_some(), "the audio branch is linked to the muxer");
        }
        assert!(describe(&spec("mjpeg")).is_err(), "unsupported codecs are refused by name");
        let g711 = CaptureSpec { audio: Some("pcma".into()), ..spec("h264") };
        let e = describe(&g711).expect_err("G.711 cannot go into MP4 as sent").to_string();
        assert!(e.contains("pcma") && e.contains("aac"), "{e}");
        assert_eq!(redact("rtsp://admin:s3cret@10.0.0.7:554/ch1"), "rtsp://***@10.0.0.7:554/ch1");
        assert_eq!(redact("rtsp://10.0.0.7/a@b"), "rtsp://10.0.0.7/a@b");
    }
}
