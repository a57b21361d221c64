//! Make one verified copy of a local file with one profile: select the variant for the
//! source's streams, run it, scan the result, verify it. Used by the worker and by
//! `transcoder transcode`.

use std::path::Path;
use std::time::Duration;

use evidence_contracts::report::{FileReport, StreamKind};
use gst_support::continuity;
use tokio_util::sync::CancellationToken;

use crate::config::TranscodeSection;
use crate::pipeline::{self, Limits};
use crate::profile::Profile;

/// A copy that passed verification.
#[derive(Debug, Clone)]
pub struct Copy {
    pub report: FileReport,
    pub wall: Duration,
    /// How the source's frames were sized, for profiles that size them.
    pub frame: Option<crate::frame::FramePlan>,
    /// The source's frame size, when known.
    pub source_size: Option<(u32, u32)>,
}

impl Copy {
    /// What happened to the frame size, as the start of a sentence ("" when nothing did).
    pub fn frame_note(&self, multiple: u32) -> String {
        match (self.frame, self.source_size) {
            (Some(plan), Some(src)) => plan.describe(src, multiple).map(|d| format!("{d}; ")).unwrap_or_default(),
            _ => String::new(),
        }
    }
}

/// Why no copy was made; `result` is the bounded metric label.
#[derive(Debug, Clone)]
pub struct NoCopy {
    pub result: &'static str,
    pub reason: String,
    /// Not the recording's fault (the spool disk is full): the job must be retried, not sealed
    /// without this copy.
    pub local: bool,
}

/// How a copy is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// Run the profile's pipeline (a transcode).
    Profile,
    /// Remux: the source's coded pictures unchanged (the profile is `access-remux`), then
    /// verified picture for picture.
    Remux(crate::access::Audio),
}

/// # Errors
/// [`NoCopy`] with a sentence for the job result.
#[allow(clippy::too_many_arguments)]
pub async fn make(
    profile: &Profile,
    method: &Method,
    source_report: &FileReport,
    input: &Path,
    output: &Path,
    cfg: &TranscodeSection,
    cancel: &CancellationToken,
    on_progress: &(dyn Fn(f64, f64) + Sync),
) -> Result<Copy, NoCopy> {
    let source = &continuity::summary(source_report);
    if !source.readable {
        return Err(NoCopy {
            result: "skipped",
            reason: format!(
                "no {} copy: the source cannot be demuxed ({}); the original is sealed as it is",
                profile.name,
                source.error.as_deref().unwrap_or("unknown error")
            ),
            local: false,
        });
    }
    let kinds: Vec<_> = source.streams.iter().map(|s| s.kind).collect();
    let mut extra = std::collections::BTreeMap::new();
    let variant = match method {
        Method::Profile => profile.variant_for(&kinds),
        Method::Remux(crate::access::Audio::ToAac(caps)) => {
            extra.insert("audio_caps".to_owned(), caps.clone());
            profile.variant_for_audio(&kinds, "aac")
        }
        Method::Remux(_) => {
            let mp3 = source.streams.iter().any(|s| s.kind == StreamKind::Audio && s.codec.starts_with("audio/mpeg"));
            extra.insert("audio_parser".to_owned(), if mp3 { "mpegaudioparse" } else { "aacparse" }.to_owned());
            profile.variant_for_audio(&kinds, "copy")
        }
    };
    let Some(variant) = variant else {
        return Err(NoCopy {
            result: "skipped",
            reason: format!(
                "no {} copy: the profile has no pipeline for a source with streams {kinds:?}",
                profile.name
            ),
            local: false,
        });
    };
    let source_size =
        source_report.streams.iter().find(|s| s.kind == StreamKind::Video).and_then(|s| s.width.zip(s.height));
    let frame = if Profile::sizes_frames(variant) {
        let Some((w, h)) = source_size else {
            return Err(NoCopy {
                result: "skipped",
                reason: format!(
                    "no {} copy: the demuxer does not state the video frame size, which the profile needs to size \
                     the copy; the original is sealed as it is",
                    profile.name
                ),
                local: false,
            });
        };
        Some(profile.frame.plan(w, h))
    } else {
        None
    };
    let media_s = source.duration_ns as f64 / 1e9;
    let limits = Limits {
        timeout: cfg.timeout_base + cfg.timeout_per_media_second.mul_f64(media_s),
        stall: cfg.stall_timeout,
        threads: cfg.threads,
        media_duration_ns: source.duration_ns,
        progress_every: cfg.progress_interval,
        frame,
        extra,
    };
    let wall = pipeline::run(profile, variant, input, output, &limits, cancel, on_progress).await.map_err(|e| {
        let local = matches!(e, pipeline::RunError::Gst(gst_support::GstError::NoSpace { .. }));
        NoCopy { result: "failed", reason: format!("no {} copy: {e}", profile.name), local }
    })?;

    let scan = gst_support::scan::demux_scan(output, cancel, cfg.stall_timeout).await.map_err(|e| NoCopy {
        result: "failed",
        reason: format!("no {} copy: scanning the copy failed: {e}", profile.name),
        local: false,
    })?;
    let digests = tokio::task::spawn_blocking({
        let p = output.to_owned();
        move || object_store::hash_file(&p)
    })
    .await
    .map_err(|e| NoCopy { result: "failed", reason: format!("hashing thread: {e}"), local: true })?
    .map_err(|e| NoCopy {
        result: "failed",
        reason: format!("read the copy {}: {e}", output.display()),
        local: true,
    })?;
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let report = continuity::file_report(
        &name,
        digests.size,
        digests.blake3,
        digests.sha256,
        &scan,
        continuity::DEFAULT_TOLERANCE_NS,
    );
    let tolerance = u64::try_from(cfg.duration_tolerance.as_nanos()).unwrap_or(u64::MAX);
    let mut problems = crate::verify::verify(source_report, &report, tolerance, frame);
    if matches!(method, Method::Remux(_)) && problems.is_empty() {
        problems.extend(same_pictures(input, output, cfg.stall_timeout).await);
    }
    if !problems.is_empty() {
        let _ = std::fs::remove_file(output);
        return Err(NoCopy {
            result: "failed",
            reason: format!("the {} copy failed verification: {}", profile.name, problems.join("; ")),
            local: false,
        });
    }
    Ok(Copy { report, wall, frame, source_size })
}

/// A remux's frame identity: the copy's coded H.264 pictures are the source's, same bytes, same
/// presentation times (within 1 ms: the MP4 time scale), same order.
async fn same_pictures(input: &Path, output: &Path, stall: Duration) -> Vec<String> {
    let (i, o) = (input.to_owned(), output.to_owned());
    let read = tokio::task::spawn_blocking(move || {
        Ok::<_, gst_support::GstError>((
            gst_support::packets::h264_pictures(&i, stall)?,
            gst_support::packets::h264_pictures(&o, stall)?,
        ))
    })
    .await;
    match read {
        Ok(Ok((src, copy))) => gst_support::packets::differences(&src, &copy, 1_000_000, 5),
        Ok(Err(e)) => vec![format!("the pictures of source and copy could not be compared: {e}")],
        Err(e) => vec![format!("comparing pictures: {e}")],
    }
}
