//! Runtime metrics: the same names in every worker (the scrape `job` label tells them apart).
//! Labels are bounded: subject *filters* (not full subjects), outcome, error kind.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The process-wide registry every crate registers into.
pub fn registry() -> &'static Registry {
    static R: LazyLock<Registry> = LazyLock::new(Registry::new);
    &R
}

fn reg<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    // Registering the same static twice is a programming error caught by the first test.
    registry().register(Box::new(c.clone())).expect("metric names are unique");
    c
}

/// Counter with labels, registered in [`registry`].
pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    reg(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition"))
}

/// Gauge with labels, registered in [`registry`].
pub fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    reg(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition"))
}

/// Gauge with labels and a fractional value (ratios, rates), registered in [`registry`].
pub fn float_gauge_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::GaugeVec {
    reg(prometheus::GaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition"))
}

/// Counter, registered in [`registry`].
pub fn counter(name: &str, help: &str) -> prometheus::IntCounter {
    reg(prometheus::IntCounter::new(name, help).expect("valid metric definition"))
}

/// Gauge, registered in [`registry`].
pub fn gauge(name: &str, help: &str) -> IntGauge {
    reg(IntGauge::new(name, help).expect("valid metric definition"))
}

/// Histogram with labels, registered in [`registry`].
pub fn histogram_vec(name: &str, help: &str, labels: &[&str], buckets: Vec<f64>) -> HistogramVec {
    reg(HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid metric definition"))
}

/// Histogram, registered in [`registry`].
pub fn histogram(name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    reg(Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid metric definition"))
}

/// Buckets for job durations: 10 ms … ~3 h.
pub fn duration_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.01, 3.0, 14).expect("valid buckets")
}

struct Runtime {
    received: IntCounterVec,
    completed: IntCounterVec,
    handle_seconds: HistogramVec,
    inflight: IntGauge,
    errors: IntCounterVec,
    redeliveries: IntCounterVec,
    up: IntGaugeVec,
    config_fault: IntGaugeVec,
    backlog: IntGaugeVec,
    oldest_pending: IntGaugeVec,
}

static RT: LazyLock<Runtime> = LazyLock::new(|| Runtime {
    received: counter_vec("evidence_worker_messages_received_total", "Messages pulled from JetStream.", &["subject"]),
    completed: counter_vec(
        "evidence_worker_messages_completed_total",
        "Messages finished, by outcome: ack (done), retry (nak with delay), reject (terminated with a rejection event).",
        &["subject", "outcome"],
    ),
    handle_seconds: histogram_vec(
        "evidence_worker_handle_seconds",
        "Time spent handling one delivery.",
        &["subject"],
        duration_buckets(),
    ),
    inflight: gauge("evidence_worker_inflight_messages", "Deliveries being handled now."),
    errors: counter_vec("evidence_worker_errors_total", "Failed deliveries by error kind.", &["error_kind"]),
    redeliveries: counter_vec(
        "evidence_worker_redeliveries_total",
        "Deliveries that were not the first for their message.",
        &["subject"],
    ),
    up: gauge_vec("evidence_worker_up", "1 while the worker's consume loop runs.", &["subject"]),
    config_fault: gauge_vec(
        "evidence_worker_config_fault",
        "1 while a dependency refuses the worker's configuration (credentials, policy, missing bucket): service, endpoint, resource and credential id named; 0 once a delivery succeeds again.",
        &["subject", "service", "endpoint", "resource", "credential"],
    ),
    backlog: gauge_vec(
        "evidence_worker_consumer_pending_messages",
        "Messages waiting for the worker's durable consumer (not yet delivered), polled every 15 s: the queue depth.",
        &["consumer"],
    ),
    oldest_pending: gauge_vec(
        "evidence_worker_consumer_ack_pending_messages",
        "Messages delivered to the consumer's workers and not yet acknowledged, polled every 15 s.",
        &["consumer"],
    ),
});

/// Forces registration so every runtime series exists from start-up (at zero), not only after
/// the first message: dashboards and alert tests rely on that.
pub fn init(subject: &str) {
    let rt = &*RT;
    rt.received.with_label_values(&[subject]);
    for outcome in crate::consume::Outcome::ALL {
        rt.completed.with_label_values(&[subject, outcome.as_str()]);
    }
    rt.config_fault.with_label_values(&[subject, "none", "", "", ""]);
    rt.handle_seconds.with_label_values(&[subject]);
    rt.redeliveries.with_label_values(&[subject]);
    rt.up.with_label_values(&[subject]);
    rt.inflight.get();
}

/// Queue depth of a durable consumer (see [`crate::consume`]).
pub fn backlog(consumer: &str, pending: u64, ack_pending: usize) {
    RT.backlog.with_label_values(&[consumer]).set(i64::try_from(pending).unwrap_or(i64::MAX));
    RT.oldest_pending.with_label_values(&[consumer]).set(i64::try_from(ack_pending).unwrap_or(i64::MAX));
}

pub(crate) fn received(subject: &str, delivered: u64) {
    RT.received.with_label_values(&[subject]).inc();
    if delivered > 1 {
        RT.redeliveries.with_label_values(&[subject]).inc();
    }
}
pub(crate) fn completed(subject: &str, outcome: crate::consume::Outcome, took: Duration) {
    RT.completed.with_label_values(&[subject, outcome.as_str()]).inc();
    RT.handle_seconds.with_label_values(&[subject]).observe(took.as_secs_f64());
}
pub(crate) fn error(kind: &'static str) {
    RT.errors.with_label_values(&[kind]).inc();
}
/// Label sets of the configuration faults raised per subject, to clear them on the next success.
static FAULTS: LazyLock<std::sync::Mutex<std::collections::BTreeMap<String, Vec<[String; 4]>>>> =
    LazyLock::new(Default::default);

pub(crate) fn config_fault(subject: &str, f: &crate::consume::ConfigFault) {
    let labels = [f.service.to_owned(), f.endpoint.clone(), f.resource.clone(), f.credential.clone()];
    RT.config_fault.with_label_values(&[subject, &labels[0], &labels[1], &labels[2], &labels[3]]).set(1);
    let mut m = FAULTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let v = m.entry(subject.to_owned()).or_default();
    if !v.contains(&labels) {
        v.push(labels);
    }
}

pub(crate) fn config_fault_cleared(subject: &str) {
    let mut m = FAULTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for l in m.remove(subject).unwrap_or_default() {
        RT.config_fault.with_label_values(&[subject, &l[0], &l[1], &l[2], &l[3]]).set(0);
    }
}

pub(crate) fn inflight(delta: i64) {
    RT.inflight.add(delta);
}
pub(crate) fn up(subject: &str, v: bool) {
    RT.up.with_label_values(&[subject]).set(i64::from(v));
}

/// Prometheus text exposition of everything registered.
pub fn render() -> String {
    TextEncoder::new().encode_to_string(&registry().gather()).unwrap_or_else(|e| format!("# encode error: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_fault_is_named_until_the_next_success() {
        let f = crate::consume::ConfigFault::s3(("http://s3:9000".into(), "evidence".into(), "sealer-old".into()));
        let line = "evidence_worker_config_fault{credential=\"sealer-old\",endpoint=\"http://s3:9000\",resource=\"evidence\",service=\"s3\",subject=\"t.v1\"}";
        config_fault("t.v1", &f);
        assert!(render().contains(&format!("{line} 1")), "{}", render());
        config_fault_cleared("t.v1");
        assert!(render().contains(&format!("{line} 0")), "{}", render());
    }
}
