//! Make one verified copy of a local file with one profile: select the variant for the
//! source's streams, run it, scan the result, verify it. Used by the worker and by
//! `transcoder transcode`.

use std::path::Path;
use std::time::Duration;

use evidence_contracts::report::FileReport;
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
}

/// Why no copy was made; `result` is the bounded metric label.
#[derive(Debug, Clone)]
pub struct NoCopy {
    pub result: &'static str,
    pub reason: String,
}

/// # Errors
/// [`NoCopy`] with a sentence for the job result.
pub async fn make(
    profile: &Profile,
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
        });
    }
    let kinds: Vec<_> = source.streams.iter().map(|s| s.kind).collect();
    let Some(variant) = profile.variant_for(&kinds) else {
        return Err(NoCopy {
            result: "skipped",
            reason: format!(
                "no {} copy: the profile has no pipeline for a source with streams {kinds:?}",
                profile.name
            ),
        });
    };
    let media_s = source.duration_ns as f64 / 1e9;
    let limits = Limits {
        timeout: cfg.timeout_base + cfg.timeout_per_media_second.mul_f64(media_s),
        stall: cfg.stall_timeout,
        threads: cfg.threads,
        media_duration_ns: source.duration_ns,
        progress_every: cfg.progress_interval,
    };
    let wall = pipeline::run(profile, variant, input, output, &limits, cancel, on_progress)
        .await
        .map_err(|e| NoCopy { result: "failed", reason: format!("no {} copy: {e}", profile.name) })?;

    let scan = gst_support::scan::demux_scan(output, cancel, cfg.stall_timeout).await.map_err(|e| NoCopy {
        result: "failed",
        reason: format!("no {} copy: scanning the copy failed: {e}", profile.name),
    })?;
    let digests = tokio::task::spawn_blocking({
        let p = output.to_owned();
        move || object_store::hash_file(&p)
    })
    .await
    .map_err(|e| NoCopy { result: "failed", reason: format!("hashing thread: {e}") })?
    .map_err(|e| NoCopy { result: "failed", reason: format!("read the copy {}: {e}", output.display()) })?;
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
    let problems = crate::verify::verify(source_report, &report, tolerance);
    if !problems.is_empty() {
        let _ = std::fs::remove_file(output);
        return Err(NoCopy {
            result: "failed",
            reason: format!("the {} copy failed verification: {}", profile.name, problems.join("; ")),
        });
    }
    Ok(Copy { report, wall })
}
