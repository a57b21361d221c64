//! Every metric the transcoder emits (besides the runtime's `evidence_worker_*`).

use std::sync::LazyLock;

use prometheus::{HistogramVec, IntCounterVec};
use worker_runtime::metrics as m;

struct Metrics {
    seconds: HistogramVec,
    realtime: HistogramVec,
    bytes: IntCounterVec,
    copies: IntCounterVec,
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
        "Profile runs by result: produced, failed (pipeline error or verification), skipped (unreadable source, no variant).",
        &["profile", "result"],
    ),
});

pub fn init(profiles: &[String]) {
    for p in profiles {
        M.seconds.with_label_values(&[p]);
        M.realtime.with_label_values(&[p]);
        M.bytes.with_label_values(&[p]);
        for r in ["produced", "failed", "skipped"] {
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
