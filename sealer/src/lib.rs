//! sealer: the last stage. Stores each evidence package write-once, publishes the sealed event.
//!
//! Module map:
//! * [`config`]: `[seal]` and the shared sections;
//! * [`handler`]: one `SealJobV1` → package stored, read back, `seal.json`, `EvidenceSealedV1`;
//! * [`credentials`]: the ES256 signing identity, `sealer dev-ca`, detached signatures;
//! * [`manifest`]: C2PA sidecar and embedded manifests, and their validation;
//! * [`ledger`]: the hash-chained custody ledger and its checkpoints;
//! * [`gate`]: the one gate every read of evidence bytes passes (approval + ledger record);
//! * [`access`], [`export`], [`retain`], [`report`] (the custody report for people): the operator commands; [`verify`] and [`history`] are the
//!   standalone verifier's (`verify/`, crate `evidence-verify`), re-exported;
//! * [`local`]: `sealer seal` / `sealer verify` on local folders;
//! * [`error`], [`metrics`].
//!
//! Invariant: only this crate writes the evidence bucket, and only with put-if-absent.

pub mod access;
mod bucket;
pub mod config;
pub mod credentials;
pub mod error;
pub mod export;
pub mod gate;
pub mod handler;
pub mod ledger;
pub mod local;
pub mod manifest;
pub mod metrics;
pub mod package;
mod provenance;
pub mod report;
pub mod retain;

use std::sync::Arc;

use anyhow::{Context, bail};
use evidence_contracts::subjects;
use tokio_util::sync::CancellationToken;

pub use config::Config;
/// What a court's expert runs is the `evidence-verify` crate; `sealer verify` is the same code.
pub use evidence_verify::{history, package as verify};

/// `sealer run`.
///
/// # Errors
/// Bad config, unreachable NATS or S3 at start-up.
pub async fn main_run(args: worker_runtime::cli::RunArgs) -> anyhow::Result<()> {
    worker_runtime::startup::main_run::<Config, _, _>(args, run).await
}

/// Runs the worker until `shutdown`.
///
/// # Errors
/// Start-up failures.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    metrics::init();
    if !handler::HAS_FAILPOINTS && std::env::var_os("SEALER_FAILPOINT").is_some() {
        tracing::warn!(
            "SEALER_FAILPOINT is set but this sealer is built without failpoints (a production build): ignored"
        );
    }
    let (health, js) = worker_runtime::startup::serve_and_connect(
        "sealer",
        &cfg.telemetry,
        &cfg.nats,
        &[subjects::PIPELINE_STREAM, subjects::EVENTS_STREAM, subjects::LEDGER_STREAM, subjects::RECEIPTS_STREAM],
        &shutdown,
    )
    .await?;
    // A refused key or a missing bucket keeps the sealer up and waiting (startup.rs); the store is
    // made again on each attempt, so a corrected secret file is read.
    let (store, probe) = worker_runtime::startup::until_configured(
        "s3",
        &health,
        &shutdown,
        std::time::Duration::from_secs(2),
        |e| object_store::config_fault_in(e).map(worker_runtime::consume::ConfigFault::s3),
        || async {
            let store = object_store::Store::connect(&cfg.s3, &cfg.s3.evidence_bucket).await?;
            let probe = store
                .probe_worm(&cfg.s3.evidence_bucket, cfg.seal.worm_probe_hold)
                .await
                .context("probe the evidence bucket for write-once retention")?;
            Ok((store, probe))
        },
    )
    .await?;
    health.set("s3", true, cfg.s3.endpoint.clone().unwrap_or_default());

    let (creds, development) = identity(&cfg.seal)?;
    metrics::development_identity(development);
    health.set(
        "signing_identity",
        !(development && cfg.seal.require_production_identity),
        format!("{}{}", creds.subject(), if development { " (development CA: not for production)" } else { "" }),
    );

    metrics::worm(probe.worm);
    if probe.worm {
        tracing::info!(bucket = %cfg.s3.evidence_bucket, detail = %probe.detail, "evidence store is write-once (WORM)");
        health.set("storage_worm", true, probe.detail.clone());
    } else if cfg.seal.allow_non_worm {
        tracing::warn!(bucket = %cfg.s3.evidence_bucket, detail = %probe.detail, "evidence store is NOT write-once (WORM); sealing anyway because seal.allow_non_worm = true: packages are protected by put-if-absent, signatures and the ledger only");
        health.set("storage_worm", true, format!("NOT WORM, allowed by seal.allow_non_worm: {}", probe.detail));
    } else {
        health.set("storage_worm", false, probe.detail.clone());
        bail!(
            "the evidence store is not write-once: {}. Enable S3 Object Lock on bucket {} (it must be created with it), or set seal.allow_non_worm = true to accept this",
            probe.detail,
            cfg.s3.evidence_bucket
        );
    }
    let mut cfg = cfg;
    cfg.seal.spool_dir = worker_runtime::spool::claim(&cfg.seal.spool_dir, "seal.spool_dir")?;
    let h = handler::SealHandler::new(cfg.clone(), store, js.clone(), Arc::new(creds), probe.worm);
    worker_runtime::consume(h, js, cfg.consumer.clone(), shutdown).await
}

/// The configured signing identity, or the development one (created once in
/// `seal.dev_identity_dir`). Returns whether it is the development one.
///
/// # Errors
/// Unreadable or inconsistent key and certificate files.
pub fn identity(seal: &config::SealSection) -> anyhow::Result<(credentials::Credentials, bool)> {
    if let (Some(chain), Some(key)) = (&seal.certificate_chain, &seal.private_key) {
        let c = credentials::Credentials::load(chain, key, seal.timestamp_authority.clone())?;
        tracing::info!(signer = c.subject(), cert_sha256 = c.cert_sha256(), "signing identity loaded");
        return Ok((c, false));
    }
    let dir = &seal.dev_identity_dir;
    let chain = dir.join("signer.chain.pem");
    if !chain.exists() {
        // Created in a sibling folder and renamed, so concurrent first starts agree on one.
        let parent = dir.parent().unwrap_or(std::path::Path::new("."));
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
        let tmp = tempfile::Builder::new().prefix(".dev-identity-").tempdir_in(parent)?;
        credentials::dev_ca(tmp.path(), "Evidence Pipeline Development", 3650)?;
        let tmp = tmp.keep();
        if std::fs::rename(&tmp, dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    let c = credentials::Credentials::load(&chain, &dir.join("signer.key.pem"), seal.timestamp_authority.clone())?;
    tracing::warn!(
        signer = c.subject(),
        trust_anchor = %dir.join("ca.cert.pem").display(),
        "signing with the DEVELOPMENT identity: packages verify only against this development CA; set seal.certificate_chain and seal.private_key for production"
    );
    Ok((c, true))
}
