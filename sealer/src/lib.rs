//! sealer: the last stage. Stores each evidence package write-once, publishes the sealed event.
//!
//! Module map:
//! * [`config`]: `[seal]` and the shared sections;
//! * [`handler`]: one `SealJobV1` → package stored, read back, `seal.json`, `EvidenceSealedV1`;
//! * [`provenance`]: the seam where C2PA manifests and the record signature attach;
//! * [`local`]: `sealer seal` / `sealer verify` on local folders;
//! * [`error`], [`metrics`].
//!
//! Invariant: only this crate writes the evidence bucket, and only with put-if-absent.

pub mod config;
pub mod credentials;
pub mod error;
pub mod handler;
pub mod local;
pub mod manifest;
pub mod metrics;
pub mod provenance;

use std::sync::Arc;

use anyhow::{Context, bail};
use evidence_contracts::subjects;
use tokio_util::sync::CancellationToken;
use worker_runtime::telemetry::{self, Health};

pub use config::Config;

/// `sealer run`.
///
/// # Errors
/// Bad config, unreachable NATS or S3 at start-up.
pub async fn main_run(args: worker_runtime::cli::RunArgs) -> anyhow::Result<()> {
    let cfg = Config::load(&args)?;
    if args.print_config {
        println!("{}", worker_runtime::config::to_toml(&cfg));
        return Ok(());
    }
    telemetry::init_logging(&cfg.telemetry);
    let shutdown = worker_runtime::shutdown::on_signal();
    run(cfg, shutdown).await
}

/// Runs the worker until `shutdown`.
///
/// # Errors
/// Start-up failures.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    metrics::init();
    let health = Health::default();
    telemetry::serve(cfg.telemetry.listen, health.clone(), shutdown.clone()).await?;
    let client = worker_runtime::nats::connect(&cfg.nats, "sealer").await?;
    health.set("nats", true, cfg.nats.url.clone());
    let js = worker_runtime::nats::jetstream(&client, &cfg.nats, &[subjects::PIPELINE_STREAM, subjects::EVENTS_STREAM])
        .await?;
    let store = object_store::Store::new(cfg.s3.clone()).await?;
    store.ensure_bucket(&cfg.s3.evidence_bucket).await.context("check the evidence bucket")?;
    health.set("s3", true, cfg.s3.endpoint.clone().unwrap_or_default());
    // Write-once retention is not verified yet (the probe comes with the sealing issue): say so.
    let worm = false;
    metrics::worm(worm);
    if !cfg.seal.allow_non_worm {
        bail!("seal.allow_non_worm is false but the evidence store is not verified as write-once (WORM)");
    }
    tracing::warn!(bucket = %cfg.s3.evidence_bucket, "evidence store not verified as write-once (WORM); packages are put-if-absent only");
    health.set("storage_worm", true, "not verified; allowed by seal.allow_non_worm");
    let h = handler::SealHandler::new(cfg.clone(), store, js.clone(), Arc::new(provenance::Unsigned), worm);
    worker_runtime::consume(h, js, cfg.consumer.clone(), shutdown).await
}
