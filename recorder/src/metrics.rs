//! Every metric the recorder emits (besides `/healthz`).

use std::sync::LazyLock;

use prometheus::Histogram;
use worker_runtime::metrics as m;

struct Metrics {
    segments: prometheus::IntCounter,
    outages: prometheus::IntCounter,
    gap_between: Histogram,
    kept: prometheus::IntCounter,
}

static M: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    segments: m::counter("evidence_record_segments_total", "RTSP segments closed and handed on (recorder)."),
    outages: m::counter(
        "evidence_record_outages_total",
        "Times the camera stream was lost (outage, network drop) and the recorder reconnected.",
    ),
    gap_between: m::histogram(
        "evidence_record_gap_between_segments_seconds",
        "Wall-clock hole between a segment and the previous one (0 for a planned split).",
        vec![0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0],
    ),
    kept: m::counter(
        "evidence_record_sealed_kept_total",
        "Sealed segments not deleted because their bytes on disk are no longer the sealed ones (or could not be read).",
    ),
});

/// Registers every series with zero values so dashboards see them before the first event.
pub fn init() {
    M.segments.inc_by(0);
    M.outages.inc_by(0);
    M.kept.inc_by(0);
}

pub fn segment(gap_s: f64) {
    M.segments.inc();
    M.gap_between.observe(gap_s.max(0.0));
}

pub fn outage() {
    M.outages.inc();
}

pub fn kept() {
    M.kept.inc();
}
