//! The one JetStream consume loop every worker runs.
//!
//! Guarantees, in order of importance:
//! * **at-least-once**: a message is acked only after its handler returned `Ok` (which means
//!   the handler's own output is durably published); anything else is redelivered;
//! * **nothing lost on rejection**: a message is terminated only after an
//!   `EvidenceRejectedV1` carrying its payload is stored on the events stream;
//! * **bounded work**: a slot is taken before a message is pulled, and messages are pulled one
//!   at a time, so no message waits in a local buffer while its ack timer runs;
//! * **liveness**: while a handler runs, a progress heartbeat goes every `ack_wait / 3`, so a
//!   long transcode is not redelivered, but a killed worker's job is, after `ack_wait`;
//! * **one log line per failed delivery**, written here and nowhere else.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{self, AckKind};
use evidence_contracts::events::{EvidenceRejectedSchema, EvidenceRejectedV1, RejectReason, Stage};
use evidence_contracts::station::{ReceiptSchema, ReceiptStatus, ReceiptV1};
use evidence_contracts::{DeviceId, EvidenceId, Message, StationId, decode};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::config::ConsumerConfig;
use crate::metrics;

/// What to do with a message whose handler failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Transient: redeliver after the configured backoff; after `max_deliver` deliveries the
    /// message is rejected (`retries_exhausted`).
    Retry,
    /// Not the message's fault: a dependency (object store, NATS, the spool disk) is down or
    /// full. Redelivered after the backoff **without limit** (an outage of any length never
    /// turns into a rejection), and the worker pauses pulling for the backoff (≤ 30 s) instead of
    /// cycling through its backlog.
    Unavailable,
    /// Not the message's fault either: a dependency refuses this worker's configuration
    /// (credentials rejected, access denied by a policy, a bucket that does not exist). Like
    /// [`Disposition::Unavailable`] — redelivered without limit, pulling paused — and, until the
    /// operator fixes it, `evidence_worker_config_fault` names the service, endpoint, resource
    /// and credential ([`HandlerError::config_fault`]).
    Misconfigured,
    /// The input is fine but waits for other work in progress (e.g. the same recording,
    /// submitted earlier, being sealed): redelivered after the backoff without limit, while the
    /// worker goes on with other messages.
    Wait,
    /// Permanent: publish a rejection event with this reason, then terminate the message.
    Reject(RejectReason),
}

/// A handler's error: a bounded kind for metrics and what to do about it.
pub trait HandlerError: std::error::Error + Send + Sync + 'static {
    /// Bounded value for the `error_kind` label.
    fn kind(&self) -> &'static str;
    fn disposition(&self) -> Disposition;
    /// What refuses the configuration, for [`Disposition::Misconfigured`].
    fn config_fault(&self) -> Option<ConfigFault> {
        None
    }
}

/// How one delivery ended: the `outcome` label of `evidence_worker_messages_completed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done and acknowledged.
    Ack,
    /// Will be retried (counts towards `max_deliver`).
    Retry,
    /// A dependency is down: retried without limit, pulling paused.
    Unavailable,
    /// The configuration is refused: retried without limit, pulling paused, fault raised.
    Misconfigured,
    /// Waits for other work: retried without limit.
    Wait,
    /// Rejected (rejection event stored, message terminated).
    Reject,
}

impl Outcome {
    pub const ALL: [Outcome; 6] =
        [Outcome::Ack, Outcome::Retry, Outcome::Unavailable, Outcome::Misconfigured, Outcome::Wait, Outcome::Reject];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ack => "ack",
            Outcome::Retry => "retry",
            Outcome::Unavailable => "unavailable",
            Outcome::Misconfigured => "misconfigured",
            Outcome::Wait => "wait",
            Outcome::Reject => "reject",
        }
    }

    /// Whether the worker should pause pulling: the next message would meet the same fault.
    pub fn pauses(self) -> bool {
        matches!(self, Outcome::Unavailable | Outcome::Misconfigured)
    }
}

/// A dependency refusing the worker's configuration: what to name in the alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFault {
    /// `s3`, `nats`, …
    pub service: &'static str,
    pub endpoint: String,
    /// The bucket (or stream) refused.
    pub resource: String,
    /// The credential used (an access key id; never a secret).
    pub credential: String,
}

impl ConfigFault {
    /// An S3 store refusing (endpoint, bucket, access key id).
    pub fn s3((endpoint, resource, credential): (String, String, String)) -> Self {
        Self { service: "s3", endpoint, resource, credential }
    }
}

/// Facts about one delivery, for the handler's logs and idempotency decisions.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub subject: String,
    pub stream_sequence: u64,
    /// 1 on first delivery.
    pub delivered: u64,
}

/// Facts a rejection event carries about the input, when it could be decoded.
#[derive(Debug, Clone, Default)]
pub struct Rejection {
    pub evidence_id: Option<EvidenceId>,
    pub station_id: Option<StationId>,
    pub device_id: Option<DeviceId>,
    pub file_name: Option<String>,
}

/// One stage's message handler. Must be idempotent: it may run again for the same message
/// after a crash, a lost ack or a redelivery, and must then produce the same result and no
/// second output.
pub trait Handler: Clone + Send + Sync + 'static {
    type Input: Message + Send + Sync + 'static;
    type Error: HandlerError;
    const STAGE: Stage;
    const STREAM: &'static str;
    const CONSUMER: &'static str;
    const FILTER: &'static str;

    fn handle(&self, input: Self::Input, delivery: &Delivery) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// What the rejection event should say about this input.
    fn describe(input: &Self::Input) -> Rejection;

    /// The station that gets the rejection receipt, if any. Default: the station the payload
    /// names. A stage whose subjects carry the sender (ingest) answers the real sender instead,
    /// so a payload claiming another station never reaches that station's receipts.
    fn receipt_station(_subject: &str, facts: &Rejection) -> Option<StationId> {
        facts.station_id.clone()
    }
}

/// The worker's durable consumer, created if missing. A JetStream API call that times out (a
/// cluster electing a leader, a loaded server at start-up) is retried for up to two minutes; any
/// other refusal is returned at once.
async fn create_consumer<H: Handler>(
    js: &jetstream::Context,
    cfg: &ConsumerConfig,
    shutdown: &CancellationToken,
) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
    use async_nats::jetstream::context::GetStreamErrorKind;
    use async_nats::jetstream::stream::ConsumerErrorKind;
    let give_up = std::time::Instant::now() + Duration::from_secs(120);
    let mut wait = Duration::from_millis(500);
    loop {
        let timed_out = match js.get_stream(H::STREAM).await {
            Ok(stream) => match stream
                .get_or_create_consumer(
                    H::CONSUMER,
                    pull::Config {
                        durable_name: Some(H::CONSUMER.to_owned()),
                        filter_subject: H::FILTER.to_owned(),
                        ack_policy: AckPolicy::Explicit,
                        ack_wait: cfg.ack_wait,
                        // Unlimited at the server: exhaustion is decided here, where a rejection
                        // event with the payload can be published first. A server-side limit would
                        // silently stop delivering.
                        max_deliver: -1,
                        max_ack_pending: i64::try_from(cfg.concurrency * 4).unwrap_or(i64::MAX),
                        ..Default::default()
                    },
                )
                .await
            {
                Ok(c) => return Ok(c),
                Err(e) if e.kind() == ConsumerErrorKind::TimedOut => anyhow::Error::new(e),
                Err(e) => {
                    return Err(anyhow::Error::new(e))
                        .with_context(|| format!("create consumer {} on {}", H::CONSUMER, H::STREAM));
                }
            },
            Err(e) if e.kind() == GetStreamErrorKind::Request => anyhow::Error::new(e),
            Err(e) => return Err(anyhow::Error::new(e)).with_context(|| format!("get stream {}", H::STREAM)),
        };
        if std::time::Instant::now() + wait > give_up || shutdown.is_cancelled() {
            return Err(timed_out).with_context(|| format!("create consumer {} on {}", H::CONSUMER, H::STREAM));
        }
        tracing::warn!(stream = H::STREAM, consumer = H::CONSUMER, error = %timed_out, retry_in = ?wait,
            "JetStream did not answer in time (a cluster electing a leader, or a loaded server); trying again");
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// Runs the consume loop until `shutdown`, then drains in-flight deliveries within
/// `cfg.drain_timeout`.
///
/// # Errors
/// The consumer cannot be created or the message stream fails for good.
pub async fn consume<H: Handler>(
    h: H,
    js: jetstream::Context,
    cfg: ConsumerConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    cfg.validate()?;
    let consumer = create_consumer::<H>(&js, &cfg, &shutdown).await?;
    metrics::init(H::FILTER);
    metrics::up(H::FILTER, true);
    metrics::backlog(H::CONSUMER, 0, 0);
    {
        // Queue depth for dashboards and the "queue growing" alert.
        let mut c = consumer.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {
                        if let Ok(info) = c.info().await {
                            metrics::backlog(H::CONSUMER, info.num_pending, info.num_ack_pending);
                        }
                    }
                }
            }
        });
    }
    tracing::info!(stream = H::STREAM, consumer = H::CONSUMER, concurrency = cfg.concurrency, "consuming");

    let cfg = Arc::new(cfg);
    let slots = Arc::new(Semaphore::new(cfg.concurrency));
    let tasks = TaskTracker::new();
    let mut pull_errors = 0u32;
    'outer: loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => p.context("slot semaphore closed")?,
        };
        // Pull exactly one message, waiting up to a few seconds; loop until one arrives.
        let msg = loop {
            let batch = tokio::select! {
                _ = shutdown.cancelled() => break 'outer,
                b = consumer.batch().max_messages(1).expires(Duration::from_secs(5)).messages() => b,
            };
            let mut batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    pull_errors += 1;
                    tracing::warn!(error = %e, attempt = pull_errors, "pull request failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(pull_errors.min(10)))).await;
                    continue;
                }
            };
            let next = tokio::select! {
                _ = shutdown.cancelled() => break 'outer,
                m = batch.next() => m,
            };
            match next {
                Some(Ok(m)) => {
                    pull_errors = 0;
                    break m;
                }
                Some(Err(e)) => {
                    pull_errors += 1;
                    tracing::warn!(error = %e, attempt = pull_errors, "pull failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(pull_errors.min(10)))).await;
                }
                None => {}
            }
        };
        let (h, js, cfg) = (h.clone(), js.clone(), cfg.clone());
        let (seq, delivered) = msg.info().map(|i| (i.stream_sequence, i.delivered.max(1) as u64)).unwrap_or((0, 1));
        let span = tracing::info_span!(
            "deliver",
            subject = %msg.subject,
            stream_seq = seq,
            delivered,
            evidence_id = tracing::field::Empty
        );
        tasks.spawn(
            async move {
                deliver(&h, &js, &cfg, msg, seq, delivered).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    metrics::up(H::FILTER, false);
    tasks.close();
    tracing::info!(in_flight = tasks.len(), "stopped pulling; draining");
    if tokio::time::timeout(cfg.drain_timeout, tasks.wait()).await.is_err() {
        tracing::warn!("drain timed out; unacked messages will be redelivered");
    }
    Ok(())
}

async fn deliver<H: Handler>(
    h: &H,
    js: &jetstream::Context,
    cfg: &ConsumerConfig,
    msg: jetstream::Message,
    seq: u64,
    delivered: u64,
) {
    let started = Instant::now();
    let subject = msg.subject.to_string();
    metrics::received(H::FILTER, delivered);
    metrics::inflight(1);
    let outcome = run_one(h, js, cfg, &msg, &subject, seq, delivered).await;
    metrics::inflight(-1);
    metrics::completed(H::FILTER, outcome, started.elapsed());
    if outcome == Outcome::Ack {
        metrics::config_fault_cleared(H::FILTER);
    }
    if outcome.pauses() {
        // Hold this slot: the next message would meet the same outage.
        tokio::time::sleep(cfg.backoff_for(delivered).min(Duration::from_secs(30))).await;
    }
}

async fn run_one<H: Handler>(
    h: &H,
    js: &jetstream::Context,
    cfg: &ConsumerConfig,
    msg: &jetstream::Message,
    subject: &str,
    seq: u64,
    delivered: u64,
) -> Outcome {
    let input = match decode::<H::Input>(&msg.payload) {
        Ok(i) => i,
        Err(e) => {
            metrics::error("malformed_message");
            let rej = Rejection::default();
            return reject::<H>(
                js,
                cfg,
                msg,
                subject,
                seq,
                delivered,
                RejectReason::MalformedMessage,
                e.to_string(),
                rej,
            )
            .await;
        }
    };
    let facts = H::describe(&input);
    if let Some(id) = &facts.evidence_id {
        tracing::Span::current().record("evidence_id", tracing::field::display(id));
    }
    let delivery = Delivery { subject: subject.to_owned(), stream_sequence: seq, delivered };
    let fut = h.handle(input, &delivery);
    tokio::pin!(fut);
    let beat = cfg.ack_wait / 3;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
    let result = loop {
        tokio::select! {
            r = &mut fut => break r,
            _ = ticker.tick() => {
                if let Err(e) = msg.ack_with(AckKind::Progress).await {
                    tracing::debug!(error = %e, "progress heartbeat failed");
                }
            }
        }
    };
    match result {
        Ok(()) => {
            if let Err(e) = msg.double_ack().await {
                // The work is done and its output published; a lost ack only means a
                // redelivery, which the idempotent handler absorbs.
                tracing::warn!(error = %e, "ack failed; the message will be redelivered and handled idempotently");
            }
            Outcome::Ack
        }
        Err(e) => {
            metrics::error(e.kind());
            match e.disposition() {
                Disposition::Retry if cfg.max_deliver > 0 && delivered >= cfg.max_deliver => {
                    let detail = format!(
                        "gave up after {delivered} deliveries; last error: {e}. Fix the cause, then re-publish the payload."
                    );
                    reject::<H>(js, cfg, msg, subject, seq, delivered, RejectReason::RetriesExhausted, detail, facts)
                        .await
                }
                Disposition::Unavailable => {
                    let after = cfg.backoff_for(delivered);
                    tracing::warn!(error = %e, error_kind = e.kind(), retry_in = ?after,
                        "a dependency is unavailable; the job is kept and retried until it is back");
                    nak(msg, after).await;
                    Outcome::Unavailable
                }
                Disposition::Misconfigured => {
                    let after = cfg.backoff_for(delivered);
                    let fault = e.config_fault();
                    if let Some(f) = &fault {
                        metrics::config_fault(H::FILTER, f);
                    }
                    tracing::error!(error = %e, error_kind = e.kind(), retry_in = ?after,
                        service = fault.as_ref().map(|f| f.service), endpoint = fault.as_ref().map(|f| f.endpoint.as_str()),
                        resource = fault.as_ref().map(|f| f.resource.as_str()), credential = fault.as_ref().map(|f| f.credential.as_str()),
                        "the configuration is refused (not the recording's fault); the job is kept and retried until it is fixed");
                    nak(msg, after).await;
                    Outcome::Misconfigured
                }
                Disposition::Wait => {
                    let after = cfg.backoff_for(delivered);
                    tracing::info!(reason = %e, retry_in = ?after, "waiting for other work in progress; the job is kept");
                    nak(msg, after).await;
                    Outcome::Wait
                }
                Disposition::Retry => {
                    let after = cfg.backoff_for(delivered);
                    tracing::warn!(error = %e, error_kind = e.kind(), retry_in = ?after, "delivery failed; will retry");
                    nak(msg, after).await;
                    Outcome::Retry
                }
                Disposition::Reject(reason) => {
                    reject::<H>(js, cfg, msg, subject, seq, delivered, reason, e.to_string(), facts).await
                }
            }
        }
    }
}

/// Keeps the message for redelivery after `after` (a lost nak means redelivery after `ack_wait`).
async fn nak(msg: &jetstream::Message, after: Duration) {
    if let Err(e) = msg.ack_with(AckKind::Nak(Some(after))).await {
        tracing::debug!(error = %e, "nak failed; redelivery after ack_wait");
    }
}

#[allow(clippy::too_many_arguments)]
async fn reject<H: Handler>(
    js: &jetstream::Context,
    cfg: &ConsumerConfig,
    msg: &jetstream::Message,
    subject: &str,
    seq: u64,
    delivered: u64,
    reason: RejectReason,
    detail: String,
    facts: Rejection,
) -> Outcome {
    let receipt_to = H::receipt_station(subject, &facts);
    let event = EvidenceRejectedV1 {
        schema: EvidenceRejectedSchema,
        stage: H::STAGE,
        reason,
        detail: detail.clone(),
        evidence_id: facts.evidence_id,
        station_id: facts.station_id,
        device_id: facts.device_id,
        file_name: facts.file_name,
        source_subject: subject.to_owned(),
        source_sequence: Some(seq),
        payload: String::from_utf8_lossy(&msg.payload).into_owned(),
        rejected_at: chrono::Utc::now(),
    };
    let published = async {
        crate::nats::publish(js, &event).await?;
        // The station that uploaded learns it on its own receipt subject.
        if let (Some(station), Some(id)) = (&receipt_to, event.evidence_id) {
            let receipt = ReceiptV1 {
                schema: ReceiptSchema,
                station_id: station.clone(),
                evidence_id: id,
                status: ReceiptStatus::Rejected,
                device_id: event.device_id.clone(),
                file_name: event.file_name.clone(),
                package: None,
                stage: Some(event.stage),
                reason: Some(reason),
                detail: Some(detail.clone()),
                at: event.rejected_at,
            };
            crate::nats::publish(js, &receipt).await?;
        }
        anyhow::Ok(())
    };
    match published.await {
        Ok(()) => {
            tracing::error!(reason = reason.as_str(), detail = %detail, "message rejected; rejection event published with its payload");
            if let Err(e) = msg.ack_with(AckKind::Term).await {
                tracing::debug!(error = %e, "term failed; the message will come back and be rejected again (same event id)");
            }
            Outcome::Reject
        }
        Err(e) => {
            let after = cfg.backoff_for(delivered);
            tracing::error!(reason = reason.as_str(), detail = %detail, error = %e, retry_in = ?after,
                "message must be rejected but the rejection event could not be stored; keeping the message");
            nak(msg, after).await;
            Outcome::Retry
        }
    }
}
