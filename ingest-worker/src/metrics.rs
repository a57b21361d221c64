//! Every metric ingest-worker emits (besides the runtime's `evidence_worker_*`).

use std::sync::LazyLock;

use evidence_contracts::report::{FileReport, Verdict};
use prometheus::{Histogram, IntCounterVec};
use worker_runtime::metrics as m;

struct Metrics {
    bytes: IntCounterVec,
    findings: IntCounterVec,
    verdicts: IntCounterVec,
    gap_seconds: Histogram,
    upload_delay: Histogram,
    rejected: IntCounterVec,
    deadlines: IntCounterVec,
    late_seconds: Histogram,
    last_seen: prometheus::IntGaugeVec,
    uncovered: prometheus::IntCounter,
}

static M: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    bytes: m::counter_vec(
        "evidence_ingest_verified_bytes_total",
        "Bytes of uploads read, hashed and verified.",
        &["station_kind"],
    ),
    findings: m::counter_vec(
        "evidence_ingest_findings_total",
        "Continuity findings by kind (gap, backwards, discontinuity, format_change, truncated, unreadable, stream_unreadable, no_samples, encrypted).",
        &["kind"],
    ),
    verdicts: m::counter_vec("evidence_ingest_scans_total", "Scanned recordings by verdict.", &["verdict"]),
    gap_seconds: m::histogram(
        "evidence_ingest_gap_seconds",
        "Length of each gap found in a recording.",
        vec![0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0],
    ),
    upload_delay: m::histogram(
        "evidence_ingest_upload_delay_seconds",
        "Calendar time from the end of the recording (start if the end is unknown, else docking) to verified ingest. \
         The rule is 2 working days; the working-day deadline status is added by the compliance stage.",
        vec![
            600.0,
            3600.0,
            4.0 * 3600.0,
            12.0 * 3600.0,
            86400.0,
            2.0 * 86400.0,
            3.0 * 86400.0,
            5.0 * 86400.0,
            10.0 * 86400.0,
        ],
    ),
    rejected: m::counter_vec(
        "evidence_ingest_rejected_total",
        "Uploads rejected by verification, by reason.",
        &["reason"],
    ),
    deadlines: m::counter_vec(
        "evidence_ingest_deadline_total",
        "Verified uploads by station and working-day deadline status (on_time, late).",
        &["station", "status"],
    ),
    late_seconds: m::histogram(
        "evidence_ingest_late_seconds",
        "How far past the working-day deadline late uploads arrived.",
        vec![3600.0, 4.0 * 3600.0, 86400.0, 2.0 * 86400.0, 5.0 * 86400.0, 10.0 * 86400.0, 30.0 * 86400.0],
    ),
    last_seen: m::gauge_vec(
        "evidence_ingest_station_last_upload_timestamp_seconds",
        "Unix time of the last verified upload from each station.",
        &["station"],
    ),
    uncovered: {
        let c = prometheus::IntCounter::new(
            "evidence_ingest_deadline_without_calendar_total",
            "Deadlines computed for a year without a calendar file (weekends only): load that year's file.",
        )
        .expect("valid metric");
        m::registry().register(Box::new(c.clone())).expect("unique metric");
        c
    },
});

/// Registers every series at zero.
pub fn init() {
    let m = &*M;
    m.bytes.with_label_values(&["dock"]);
    for k in evidence_contracts::report::FindingKind::ALL {
        m.findings.with_label_values(&[k.as_str()]);
    }
    for v in ["continuous", "discontinuous", "unreadable"] {
        m.verdicts.with_label_values(&[v]);
    }
    for r in ["size_mismatch", "hash_mismatch", "object_missing", "invalid_field"] {
        m.rejected.with_label_values(&[r]);
    }
    m.gap_seconds.get_sample_count();
    m.upload_delay.get_sample_count();
    m.late_seconds.get_sample_count();
    m.uncovered.get();
}

pub fn deadline(
    station: &evidence_contracts::StationId,
    d: &evidence_contracts::transcode::DeadlineV1,
    now: chrono::DateTime<chrono::Utc>,
) {
    M.deadlines.with_label_values(&[station.as_str(), d.status.as_str()]).inc();
    // The other status at zero, so rate() and absent() behave for a station from its first upload.
    use evidence_contracts::transcode::DeadlineStatus;
    let other = if d.status == DeadlineStatus::Late { DeadlineStatus::OnTime } else { DeadlineStatus::Late }.as_str();
    M.deadlines.with_label_values(&[station.as_str(), other]);
    if let Some(s) = d.late_by_s {
        M.late_seconds.observe(s);
    }
    if !d.calendar_covered {
        M.uncovered.inc();
    }
    M.last_seen.with_label_values(&[station.as_str()]).set(now.timestamp());
}

pub fn verified(bytes: u64) {
    M.bytes.with_label_values(&["dock"]).inc_by(bytes);
}

pub fn scanned(report: &FileReport, verdict: Verdict) {
    M.verdicts.with_label_values(&[verdict.as_str()]).inc();
    for f in &report.findings {
        M.findings.with_label_values(&[f.kind.as_str()]).inc();
        if f.kind == evidence_contracts::report::FindingKind::Gap {
            M.gap_seconds.observe(f.duration_s);
        }
    }
}

pub fn upload_delay(seconds: f64) {
    M.upload_delay.observe(seconds.max(0.0));
}

pub fn rejected(reason: &'static str) {
    M.rejected.with_label_values(&[reason]).inc();
}
