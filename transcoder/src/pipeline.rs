//! Running one profile variant on a local file: temporary output renamed on success, progress
//! and realtime factor in logs and metrics, overall timeout, stall watchdog, cancellation.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gst_support::GstError;
use gst_support::pipeline::{parse, position_ns, run_to_eos};
use tokio_util::sync::CancellationToken;

use crate::profile::{Profile, Variant};

/// How a run ended.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Gst(#[from] GstError),
    #[error("profile {profile} on {file}: not finished after {limit:?}; aborted")]
    Timeout { profile: String, file: String, limit: Duration },
    #[error("rename {} to {}: {source}", from.display(), to.display())]
    Rename { from: PathBuf, to: PathBuf, source: std::io::Error },
}

/// Limits of one run.
#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    pub stall: Duration,
    pub threads: u32,
    /// Duration of the source, for progress.
    pub media_duration_ns: u64,
    /// How often progress is reported.
    pub progress_every: Duration,
    /// Frame size of the copy, for templates that place the frame.
    pub frame: Option<crate::frame::FramePlan>,
    /// Placeholder values the transcoder chooses per source (a remux's audio parser or caps).
    pub extra: std::collections::BTreeMap<String, String>,
}

/// Runs `variant` of `profile` from `input` to `output`. The copy is written to
/// `<output>.part` and renamed only after EOS, so a crash or cancellation leaves no file that
/// looks finished. Returns the wall time.
///
/// # Errors
/// Pipeline error (names element and file), timeout, stall, cancellation.
pub async fn run(
    profile: &Profile,
    variant: &Variant,
    input: &Path,
    output: &Path,
    limits: &Limits,
    cancel: &CancellationToken,
    on_progress: &(dyn Fn(f64, f64) + Sync),
) -> Result<Duration, RunError> {
    let part = output.with_extension(format!("{}.part", profile.extension));
    let mut params = profile.params_for(input, &part, limits.threads, limits.frame.as_ref());
    params.extend(limits.extra.clone());
    let desc = variant.template.render(&params)?;
    let guard = parse(&profile.name, &input.display().to_string(), &desc)?;
    let started = Instant::now();
    let pipeline = guard.pipeline.clone();
    let last_log = std::sync::Mutex::new(Instant::now());
    let progress = || {
        let pos = position_ns(&pipeline);
        if let Ok(mut l) = last_log.lock()
            && l.elapsed() >= limits.progress_every
        {
            *l = Instant::now();
            let rt = pos as f64 / 1e9 / started.elapsed().as_secs_f64().max(1e-3);
            let frac = if limits.media_duration_ns > 0 { pos as f64 / limits.media_duration_ns as f64 } else { 0.0 };
            on_progress(frac, rt);
        }
        pos
    };
    let result = tokio::time::timeout(limits.timeout, run_to_eos(&guard, cancel, limits.stall, progress)).await;
    drop(guard);
    let outcome = match result {
        Err(_) => Err(RunError::Timeout {
            profile: profile.name.clone(),
            file: input.display().to_string(),
            limit: limits.timeout,
        }),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(())) => std::fs::rename(&part, output)
            .map_err(|e| RunError::Rename { from: part.clone(), to: output.to_owned(), source: e })
            .map(|()| started.elapsed()),
    };
    if outcome.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    outcome
}
