//! ingest-worker: the first stage after a docking station.
//!
//! Module map:
//! * [`config`]: `[ingest]` plus the shared sections; validation;
//! * [`handler`]: one `IngestRequestV1` → verified, scanned, `TranscodeJobV1` published;
//! * [`error`]: [`IngestError`](error::IngestError) with `kind()` and `disposition()`;
//! * [`metrics`]: the `evidence_ingest_*` series;
//! * [`scan_cli`]: `ingest-worker scan FILE…`, the same scan on local files.
//!
//! It only consumes: the producers (the station agent, the RTSP `recorder`) live in their own crates.

pub mod config;
pub mod error;
pub mod handler;
pub mod metrics;
pub mod scan_cli;

use anyhow::Context;
use evidence_contracts::subjects;
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// `ingest-worker run`: load config, start telemetry, consume until SIGTERM.
///
/// # Errors
/// Bad config, unreachable NATS or S3 at start-up.
pub async fn main_run(args: worker_runtime::cli::RunArgs) -> anyhow::Result<()> {
    worker_runtime::startup::main_run::<Config, _, _>(args, run).await
}

/// Runs the worker until `shutdown` is cancelled.
///
/// # Errors
/// Start-up failures (NATS, S3, streams); per-message failures are handled by the runtime.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    gst_support::init().context("initialise GStreamer")?;
    metrics::init();
    let (health, js) = worker_runtime::startup::serve_and_connect(
        "ingest-worker",
        &cfg.telemetry,
        &cfg.nats,
        &[
            subjects::INGEST_STREAM,
            subjects::PIPELINE_STREAM,
            subjects::EVENTS_STREAM,
            subjects::STATIONS_STREAM,
            subjects::RECEIPTS_STREAM,
        ],
        &shutdown,
    )
    .await?;
    let store = worker_runtime::startup::until_configured(
        "s3",
        &health,
        &shutdown,
        std::time::Duration::from_secs(2),
        |e| object_store::config_fault_in(e).map(worker_runtime::consume::ConfigFault::s3),
        || object_store::Store::connect(&cfg.s3, &cfg.s3.working_bucket),
    )
    .await?;
    health.set("s3", true, cfg.s3.endpoint.clone().unwrap_or_default());
    let mut cfg = cfg;
    cfg.ingest.spool_dir = worker_runtime::spool::claim(&cfg.ingest.spool_dir, "ingest.spool_dir")?;
    let calendar = work_calendar::Calendar::load(&cfg.deadline.calendars)?;
    let years: Vec<i32> = calendar.years().collect();
    if years.is_empty() {
        tracing::warn!(
            "no working-day calendar loaded (deadline.calendars): deadlines count weekends only and say calendar_covered = false"
        );
    } else {
        tracing::info!(?years, "working-day calendar loaded");
    }
    let rule = work_calendar::Rule {
        working_days: cfg.deadline.working_days,
        offset: work_calendar::parse_offset(&cfg.deadline.utc_offset)?,
    };
    let h = handler::IngestHandler::new(cfg.clone(), store, js.clone(), calendar, rule);
    worker_runtime::consume(h, js, cfg.consumer.clone(), shutdown).await
}
