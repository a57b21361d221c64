//! Pipelines from text templates, and running them to the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gst::prelude::*;
use gstreamer as gst;
use tokio_util::sync::CancellationToken;

/// Errors of building or running a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum GstError {
    #[error("GStreamer cannot start: {0} (install the GStreamer 1.22 runtime and plugins)")]
    Init(String),
    #[error("pipeline template {}: {detail}", path.display())]
    Template { path: PathBuf, detail: String },
    #[error("pipeline {name}: cannot parse: {detail}")]
    Parse { name: String, detail: String },
    #[error("pipeline {name}: element {element} failed on {file}: {message}{}", debug.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Element { name: String, element: String, file: String, message: String, debug: Option<String> },
    #[error(
        "pipeline {name}: element {element} cannot write while working on {file}: no space left on the device ({message}); free space in the spool or temporary directory"
    )]
    NoSpace { name: String, element: String, file: String, message: String },
    #[error("pipeline {name}: no progress for {stalled:?} on {file}; aborted")]
    Stalled { name: String, file: String, stalled: Duration },
    #[error("pipeline {name}: cancelled")]
    Cancelled { name: String },
    #[error("pipeline {name}: state change failed: {detail}")]
    State { name: String, detail: String },
}

/// Initialises GStreamer once.
///
/// # Errors
/// The GStreamer runtime is missing.
pub fn init() -> Result<(), GstError> {
    gst::init().map_err(|e| GstError::Init(e.to_string()))
}

/// Makes `decodebin` choose decoders that output the stream's native pixel format. GStreamer's
/// `jpegdec` converts 4:4:4 and 4:2:2 JPEG to I420 on output, which would make a "lossless"
/// preservation copy of an MJPEG recording lose chroma; libav's `avdec_mjpeg` does not. Process-wide;
/// call after [`init`].
pub fn prefer_native_decoders() {
    if let Some(f) = gst::ElementFactory::find("avdec_mjpeg") {
        f.set_rank(gst::Rank::PRIMARY + 1);
    }
}

/// A pipeline that is set to `Null` when dropped, whatever path the code takes.
pub struct PipelineGuard {
    pub pipeline: gst::Pipeline,
    pub name: String,
    /// The file the pipeline works on, for error messages.
    pub file: String,
}

impl Drop for PipelineGuard {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// A `.gst` template: gst-launch syntax with `{name}` placeholders.
#[derive(Debug, Clone)]
pub struct Template {
    pub path: PathBuf,
    pub text: String,
}

impl Template {
    /// # Errors
    /// The file cannot be read.
    pub fn load(path: &Path) -> Result<Self, GstError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GstError::Template { path: path.to_owned(), detail: format!("cannot read: {e}") })?;
        // Lines starting with '#' are comments.
        let text = text.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
        Ok(Self { path: path.to_owned(), text })
    }

    /// The placeholder names the template uses.
    pub fn placeholders(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = self.text.as_str();
        while let Some(i) = rest.find('{') {
            let after = &rest[i + 1..];
            if let Some(j) = after.find('}') {
                let name = &after[..j];
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    out.push(name.to_owned());
                }
                rest = &after[j + 1..];
            } else {
                break;
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Substitutes every placeholder. Values are escaped for use inside a double-quoted
    /// gst-launch string (templates write `location="{input}"`).
    ///
    /// # Errors
    /// A placeholder has no value.
    pub fn render(&self, params: &BTreeMap<String, String>) -> Result<String, GstError> {
        let mut text = self.text.clone();
        for name in self.placeholders() {
            let Some(v) = params.get(&name) else {
                return Err(GstError::Template {
                    path: self.path.clone(),
                    detail: format!("no value for placeholder {{{name}}}"),
                });
            };
            let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
            text = text.replace(&format!("{{{name}}}"), &escaped);
        }
        Ok(text)
    }
}

/// Parses a rendered pipeline description.
///
/// # Errors
/// Syntax errors or missing elements (plugins not installed).
pub fn parse(name: &str, file: &str, desc: &str) -> Result<PipelineGuard, GstError> {
    let el = gst::parse::launch(desc).map_err(|e| GstError::Parse { name: name.into(), detail: e.to_string() })?;
    let pipeline = el
        .downcast::<gst::Pipeline>()
        .map_err(|_| GstError::Parse { name: name.into(), detail: "description is not a pipeline".into() })?;
    Ok(PipelineGuard { pipeline, name: name.into(), file: file.into() })
}

/// Converts an error message from the bus into a [`GstError`] naming the element and file.
pub fn element_error(g: &PipelineGuard, err: &gst::message::Error) -> GstError {
    let element = err.src().map(|s| s.path_string().to_string()).unwrap_or_else(|| "?".into());
    if err.error().matches(gst::ResourceError::NoSpaceLeft) {
        return GstError::NoSpace {
            name: g.name.clone(),
            element,
            file: g.file.clone(),
            message: err.error().to_string(),
        };
    }
    GstError::Element {
        name: g.name.clone(),
        element,
        file: g.file.clone(),
        message: err.error().to_string(),
        debug: err.debug().map(|d| d.to_string()),
    }
}

/// Plays the pipeline until EOS. Aborts on an element error, on `cancel`, or when
/// `progress()` has not changed for `stall` (checked every second).
///
/// # Errors
/// See [`GstError`].
pub async fn run_to_eos(
    g: &PipelineGuard,
    cancel: &CancellationToken,
    stall: Duration,
    progress: impl Fn() -> u64,
) -> Result<(), GstError> {
    let bus = g
        .pipeline
        .bus()
        .ok_or_else(|| GstError::State { name: g.name.clone(), detail: "pipeline has no bus".into() })?;
    g.pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| GstError::State { name: g.name.clone(), detail: e.to_string() })?;
    let mut last = (progress(), tokio::time::Instant::now());
    loop {
        for msg in pending(&bus) {
            match msg.view() {
                gst::MessageView::Eos(_) => return Ok(()),
                gst::MessageView::Error(err) => return Err(element_error(g, err)),
                _ => {}
            }
        }
        let p = progress();
        if p != last.0 {
            last = (p, tokio::time::Instant::now());
        } else if last.1.elapsed() > stall {
            return Err(GstError::Stalled { name: g.name.clone(), file: g.file.clone(), stalled: stall });
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(GstError::Cancelled { name: g.name.clone() }),
            _ = tokio::time::sleep(BUS_POLL) => {}
        }
    }
}

/// How often the bus is polled. Polling the bus queue (instead of `Bus::stream`, whose sync
/// handler we saw miss an early error under load) costs nothing measurable at this rate.
pub const BUS_POLL: Duration = Duration::from_millis(20);

/// Every queued message on the bus, without blocking.
pub fn pending(bus: &gst::Bus) -> Vec<gst::Message> {
    let mut out = Vec::new();
    while let Some(m) = bus.pop() {
        out.push(m);
    }
    out
}

/// Current position of the pipeline in nanoseconds (0 when unknown).
pub fn position_ns(p: &gst::Pipeline) -> u64 {
    p.query_position::<gst::ClockTime>().map(|t| t.nseconds()).unwrap_or(0)
}

/// Makes an element of `pipeline`'s, or says which package to install.
///
/// # Errors
/// The factory is not installed.
pub fn make_element(pipeline: &str, factory: &str) -> Result<gst::Element, GstError> {
    gst::ElementFactory::make(factory).build().map_err(|e| GstError::Parse {
        name: pipeline.into(),
        detail: format!("element {factory} is missing ({e}); install gstreamer1.0-plugins-base/-good/-bad/-libav"),
    })
}

/// Links a new `appsink` to `pad` (a demuxer's or decoder's output added while playing) and
/// hands every sample to `on_sample`. The sink never syncs, never prerolls (one streaming thread
/// feeds every sink of a demuxer: an async sink's preroll would block the others) and keeps no
/// last sample.
pub fn sink_for_pad(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    on_sample: impl Fn(&gst::Sample) + Send + Sync + 'static,
) {
    let sink = gstreamer_app::AppSink::builder().sync(false).build();
    sink.set_property("async", false);
    sink.set_property("enable-last-sample", false);
    sink.set_callbacks(
        gstreamer_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                on_sample(&sample);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let el: &gst::Element = sink.upcast_ref();
    if pipeline.add(el).is_err() {
        return;
    }
    let _ = el.sync_state_with_parent();
    if let Some(sinkpad) = el.static_pad("sink") {
        let _ = pad.link(&sinkpad);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_and_refuse_missing_values() {
        let t =
            Template { path: "x.gst".into(), text: "filesrc location=\"{input}\" ! fakesink name={sink_name}".into() };
        assert_eq!(t.placeholders(), vec!["input".to_string(), "sink_name".to_string()]);
        let mut p = BTreeMap::new();
        p.insert("input".to_string(), "/tmp/a \"b\".mp4".to_string());
        assert!(t.render(&p).unwrap_err().to_string().contains("{sink_name}"));
        p.insert("sink_name".to_string(), "s".to_string());
        assert_eq!(t.render(&p).unwrap(), "filesrc location=\"/tmp/a \\\"b\\\".mp4\" ! fakesink name=s");
    }
}
