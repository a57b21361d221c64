//! Every metric the auditor emits (with `auditor check --every`). Labels are bounded: matter kind,
//! check, flag kind, station, and a time-left class; never matter, officer or file.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use prometheus::IntGaugeVec;
use worker_runtime::metrics as m;

use crate::checks::Outcome;

struct Metrics {
    matters: IntGaugeVec,
    failing: IntGaugeVec,
    flags: IntGaugeVec,
    not_uploaded: IntGaugeVec,
    last_run: prometheus::IntGauge,
}

static M: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    matters: m::gauge_vec(
        "evidence_compliance_matters",
        "Enforcement matters by kind and result of the last check (passed, failed).",
        &["kind", "result"],
    ),
    failing: m::gauge_vec(
        "evidence_compliance_failing_matters",
        "Matters failing each rule: window (start/end not recorded), officers (fewer than required), gaps (unexplained), late (an upload after its deadline).",
        &["check"],
    ),
    flags: m::gauge_vec(
        "evidence_compliance_flags",
        "Recordings flagged for a person to look at, by flag (outside_every_matter, device_clock_offset, started_after_docking, not_uploaded, unplaced).",
        &["flag"],
    ),
    not_uploaded: m::gauge_vec(
        "evidence_compliance_not_uploaded",
        "Files seen on docked devices and never sealed, by station and time left before their deadline (overdue, lt_1d, lt_2d, later).",
        &["station", "time_left"],
    ),
    last_run: m::gauge("evidence_compliance_last_run_timestamp_seconds", "When the checks last completed."),
});

pub const CHECKS: [&str; 4] = ["window", "officers", "gaps", "late"];
pub const FLAGS: [&str; 5] =
    ["outside_every_matter", "device_clock_offset", "started_after_docking", "not_uploaded", "unplaced"];

pub fn init() {
    for c in CHECKS {
        M.failing.with_label_values(&[c]).set(0);
    }
    for f in FLAGS {
        M.flags.with_label_values(&[f]).set(0);
    }
    M.last_run.set(0);
}

/// Sets every gauge from one evaluation.
pub fn publish(o: &Outcome, now: chrono::DateTime<chrono::Utc>) {
    M.matters.reset();
    let mut by_kind: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut failing: BTreeMap<&str, i64> = CHECKS.iter().map(|c| (*c, 0)).collect();
    for c in &o.checks {
        *by_kind.entry((c.kind.as_str(), if c.passed { "passed" } else { "failed" })).or_default() += 1;
        for (k, bad) in [
            ("window", !(c.start_covered && c.end_covered)),
            ("officers", !c.enough_officers),
            ("gaps", !c.unexplained_gaps.is_empty()),
            ("late", !c.late_uploads.is_empty()),
        ] {
            *failing.entry(k).or_default() += i64::from(bad);
        }
    }
    for ((k, r), n) in by_kind {
        M.matters.with_label_values(&[k, r]).set(n);
    }
    for (k, n) in failing {
        M.failing.with_label_values(&[k]).set(n);
    }
    let mut flags: BTreeMap<&str, i64> = FLAGS.iter().map(|f| (*f, 0)).collect();
    for f in o.flags.iter().flat_map(|r| &r.flags) {
        if let Some(n) = flags.get_mut(f.kind.as_str()) {
            *n += 1;
        }
    }
    for (k, n) in flags {
        M.flags.with_label_values(&[k]).set(n);
    }
    M.not_uploaded.reset();
    let mut nu: BTreeMap<(String, &str), i64> = BTreeMap::new();
    for f in &o.not_uploaded {
        let class = match f.left_s {
            s if s < 0.0 => "overdue",
            s if s < 86_400.0 => "lt_1d",
            s if s < 172_800.0 => "lt_2d",
            _ => "later",
        };
        *nu.entry((f.station.to_string(), class)).or_default() += 1;
    }
    for ((st, class), n) in nu {
        M.not_uploaded.with_label_values(&[st.as_str(), class]).set(n);
    }
    M.last_run.set(now.timestamp());
}
