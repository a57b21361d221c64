//! Every metric the sealer emits (besides the runtime's `evidence_worker_*`).

use std::sync::LazyLock;

use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge};
use worker_runtime::metrics as m;

struct Metrics {
    hashed: IntCounter,
    put_seconds: Histogram,
    packages: IntCounterVec,
    manifests: IntCounterVec,
    worm: IntGauge,
    ingest_to_seal: Histogram,
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
        "C2PA manifests signed, by result (none until signing is configured).",
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
});

pub fn init() {
    let m = &*M;
    for r in ["sealed", "already_sealed"] {
        m.packages.with_label_values(&[r]);
    }
    for r in ["ok", "failed", "none"] {
        m.manifests.with_label_values(&[r]);
    }
    m.hashed.get();
    m.put_seconds.get_sample_count();
    m.ingest_to_seal.get_sample_count();
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

pub fn worm(v: bool) {
    M.worm.set(i64::from(v));
}

pub fn ingest_to_seal(secs: f64) {
    M.ingest_to_seal.observe(secs.max(0.0));
}
