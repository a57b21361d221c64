//! Every metric the station agent emits. Labels are bounded: the station (one per agent) and
//! small fixed sets; never officer, device or file.

use std::sync::LazyLock;

use prometheus::{IntCounterVec, IntGaugeVec};
use worker_runtime::metrics as m;

struct Metrics {
    uploaded: IntCounterVec,
    resumed: IntCounterVec,
    files: IntGaugeVec,
    oldest: IntGaugeVec,
    backoffs: IntCounterVec,
    dockings: IntCounterVec,
    refused: IntCounterVec,
}

static M: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    uploaded: m::counter_vec(
        "evidence_station_uploaded_bytes_total",
        "Bytes this station sent to the landing area.",
        &["station"],
    ),
    resumed: m::counter_vec(
        "evidence_station_resumed_bytes_total",
        "Bytes an interrupted upload did not have to send again when it resumed.",
        &["station"],
    ),
    files: m::gauge_vec(
        "evidence_station_files",
        "Files this station knows by state (new, uploading, uploaded, published, sealed, rejected, refused, blocked).",
        &["station", "state"],
    ),
    oldest: m::gauge_vec(
        "evidence_station_oldest_pending_seconds",
        "Age (since first seen on a docked device) of the oldest file not yet sealed; 0 when none.",
        &["station"],
    ),
    backoffs: m::counter_vec(
        "evidence_station_backoffs_total",
        "Times the agent backed off (busy, storage_full, unreachable, refused_credentials, device_read, other).",
        &["station", "reason"],
    ),
    dockings: m::counter_vec("evidence_station_dockings_total", "Devices docked and recorded.", &["station"]),
    refused: m::counter_vec(
        "evidence_station_refused_total",
        "Files that will not be stored as they are (changed, invalid_name, unbound, rejected).",
        &["station", "reason"],
    ),
});

pub fn uploaded(station: &str, sent: u64, resumed: u64) {
    M.uploaded.with_label_values(&[station]).inc_by(sent);
    M.resumed.with_label_values(&[station]).inc_by(resumed);
}

pub const STATES: [&str; 8] = ["new", "uploading", "uploaded", "published", "sealed", "rejected", "refused", "blocked"];

pub fn files(station: &str, counts: &[(&str, i64)], oldest_s: i64) {
    for s in STATES {
        let n = counts.iter().find(|(k, _)| *k == s).map_or(0, |(_, n)| *n);
        M.files.with_label_values(&[station, s]).set(n);
    }
    M.oldest.with_label_values(&[station]).set(oldest_s);
}

pub fn backoff(station: &str, reason: &str) {
    M.backoffs.with_label_values(&[station, reason]).inc();
}

pub fn docking(station: &str) {
    M.dockings.with_label_values(&[station]).inc();
}

pub fn refused(station: &str, reason: &str) {
    M.refused.with_label_values(&[station, reason]).inc();
}

/// Registers every series with zero values so dashboards see them before the first event.
pub fn init(station: &str) {
    uploaded(station, 0, 0);
    files(station, &[], 0);
    M.dockings.with_label_values(&[station]).inc_by(0);
    for r in ["busy", "storage_full", "unreachable", "refused_credentials", "device_read", "other"] {
        M.backoffs.with_label_values(&[station, r]).inc_by(0);
    }
    for r in ["changed", "invalid_name", "unbound", "rejected"] {
        M.refused.with_label_values(&[station, r]).inc_by(0);
    }
}
