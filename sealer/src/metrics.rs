//! Every metric the sealer emits (besides the runtime's `evidence_worker_*`).

use std::sync::LazyLock;

use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge};
use worker_runtime::metrics as m;

struct Metrics {
    hashed: IntCounter,
    received: IntCounter,
    put_seconds: Histogram,
    packages: IntCounterVec,
    manifests: IntCounterVec,
    worm: IntGauge,
    ingest_to_seal: Histogram,
    ledger_records: IntCounterVec,
    ledger_head: IntGauge,
    dev_identity: IntGauge,
}

static M: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    hashed: {
        let c = IntCounter::new(
            "evidence_sealer_hashed_bytes_total",
            "Bytes hashed (BLAKE3 + SHA-256) while storing evidence.",
        )
        .expect("valid metric");
        m::registry().register(Box::new(c.clone())).expect("unique metric");
        c
    },
    received: {
        let c = IntCounter::new(
            "evidence_sealer_s3_received_bytes_total",
            "Object body bytes received from S3 (every GET: originals streamed into the bucket, copies fetched, records and sidecars read). About one original's size per sealed recording without copies: the sealer reads an original once.",
        )
        .expect("valid metric");
        m::registry().register(Box::new(c.clone())).expect("unique metric");
        c
    },
    put_seconds: m::histogram(
        "evidence_sealer_s3_put_seconds",
        "Time to store one evidence object.",
        m::duration_buckets(),
    ),
    packages: m::counter_vec(
        "evidence_sealer_packages_total",
        "Seal jobs finished: sealed (new package), already_sealed (redelivery of a finished package).",
        &["result"],
    ),
    manifests: m::counter_vec(
        "evidence_sealer_manifests_signed_total",
        "C2PA manifests attached to package objects: ok (signed or an earlier attempt's reused and validated), failed (stored without one; the reason is in the seal record).",
        &["result"],
    ),
    worm: m::gauge(
        "evidence_sealer_storage_worm",
        "1 when the evidence bucket was verified to enforce write-once retention, else 0.",
    ),
    ingest_to_seal: m::histogram(
        "evidence_sealer_ingest_to_seal_seconds",
        "Time from verified ingest to sealed package.",
        m::duration_buckets(),
    ),
    ledger_records: m::counter_vec(
        "evidence_sealer_ledger_records_total",
        "Custody-ledger records: appended, or already_present (redelivery).",
        &["result"],
    ),
    ledger_head: m::gauge(
        "evidence_sealer_ledger_last_seq",
        "Sequence of the last ledger record this sealer wrote or found.",
    ),
    dev_identity: m::gauge(
        "evidence_sealer_development_identity",
        "1 when packages are signed with the development CA (not for production), else 0.",
    ),
});

pub fn init() {
    let m = &*M;
    for r in ["sealed", "already_sealed"] {
        m.packages.with_label_values(&[r]);
    }
    for r in ["ok", "failed"] {
        m.manifests.with_label_values(&[r]);
    }
    for r in ["appended", "already_present"] {
        m.ledger_records.with_label_values(&[r]);
    }
    m.hashed.get();
    m.put_seconds.get_sample_count();
    m.ingest_to_seal.get_sample_count();
}

/// Brings `evidence_sealer_s3_received_bytes_total` up to what the S3 client has received.
pub fn s3_received() {
    let now = object_store::received_bytes();
    M.received.inc_by(now.saturating_sub(M.received.get()));
}

pub fn stored(bytes: u64, secs: f64) {
    M.hashed.inc_by(bytes);
    M.put_seconds.observe(secs);
}

pub fn package(result: &'static str) {
    M.packages.with_label_values(&[result]).inc();
}

pub fn manifest(result: &'static str) {
    M.manifests.with_label_values(&[result]).inc();
}

pub fn ledger(seq: u64, fresh: bool) {
    M.ledger_records.with_label_values(&[if fresh { "appended" } else { "already_present" }]).inc();
    M.ledger_head.set(i64::try_from(seq).unwrap_or(i64::MAX));
}

pub fn development_identity(v: bool) {
    M.dev_identity.set(i64::from(v));
}

pub fn worm(v: bool) {
    M.worm.set(i64::from(v));
}

pub fn ingest_to_seal(secs: f64) {
    M.ingest_to_seal.observe(secs.max(0.0));
}
