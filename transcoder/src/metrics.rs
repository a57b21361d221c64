//! Every metric the transcoder emits (besides the runtime's `evidence_worker_*`).

use std::sync::LazyLock;

use prometheus::{GaugeVec, HistogramVec, IntCounterVec};
use worker_runtime::metrics as m;

struct Metrics {
    seconds: HistogramVec,
    realtime: HistogramVec,
    bytes: IntCounterVec,
    copies: IntCounterVec,
    progress: GaugeVec,
    running_rt: GaugeVec,
}

static M: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    seconds: m::histogram_vec(
        "evidence_transcode_seconds",
        "Wall time of one profile run.",
        &["profile"],
        m::duration_buckets(),
    ),
    realtime: m::histogram_vec(
        "evidence_transcode_realtime_factor",
        "Media seconds transcoded per wall second, per run.",
        &["profile"],
        vec![0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
    ),
    bytes: m::counter_vec("evidence_transcode_output_bytes_total", "Bytes of verified copies.", &["profile"]),
    copies: m::counter_vec(
        "evidence_transcode_copies_total",
        "Profile runs by result: produced, failed (pipeline error or verification), skipped (unreadable source, no variant), original_serves (the access profile not run: the original is playable as it is).",
        &["profile", "result"],
    ),
    progress: m::float_gauge_vec(
        "evidence_transcode_progress_ratio",
        "Position of the running profile run in its source (0..1); 0 when none runs.",
        &["profile"],
    ),
    running_rt: m::float_gauge_vec(
        "evidence_transcode_running_realtime_factor",
        "Media seconds per wall second of the running profile run so far; 0 when none runs.",
        &["profile"],
    ),
});

pub fn init(profiles: &[String]) {
    for p in profiles {
        M.seconds.with_label_values(&[p]);
        M.realtime.with_label_values(&[p]);
        M.bytes.with_label_values(&[p]);
        M.progress.with_label_values(&[p]);
        M.running_rt.with_label_values(&[p]);
        for r in ["produced", "failed", "skipped", "original_serves"] {
            M.copies.with_label_values(&[p, r]);
        }
    }
}

pub fn produced(profile: &str, secs: f64, media_secs: f64, bytes: u64) {
    M.seconds.with_label_values(&[profile]).observe(secs);
    if secs > 0.0 {
        M.realtime.with_label_values(&[profile]).observe(media_secs / secs);
    }
    M.bytes.with_label_values(&[profile]).inc_by(bytes);
    M.copies.with_label_values(&[profile, "produced"]).inc();
}

pub fn not_produced(profile: &str, result: &'static str) {
    M.copies.with_label_values(&[profile, result]).inc();
}

/// Progress of the running job (from the pipeline's position), for dashboards.
pub fn progress(profile: &str, fraction: f64, realtime: f64) {
    M.progress.with_label_values(&[profile]).set(fraction.clamp(0.0, 1.0));
    M.running_rt.with_label_values(&[profile]).set(realtime);
}

/// No run of `profile` in progress any more.
pub fn idle(profile: &str) {
    progress(profile, 0.0, 0.0);
}
