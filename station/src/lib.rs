//! The station-side client (`station push`): what a docking station runs for each file it
//! takes off a camera. Uploads the file to `landing/<station>/<device>/<upload_id>/<file>`
//! (multipart above the part size; BLAKE3 and SHA-256 computed while the file is read, so the
//! file is read once), then publishes `IngestRequestV1` with its dedup id. With `--wait` it
//! prints each recording's `EvidenceSealedV1` (one JSON document per line on stdout) — the
//! moment the station may release the file from the camera.
//!
//! Both speak the producer protocol of [`edge`] (landing upload, ingest request, receipts).
//! `station dock` ([`dock`]) is the long-running agent: slots, bindings, resumable uploads,
//! docking records, receipts. `station credentials` ([`creds`]) makes a station's NKey and its
//! server-side permissions.

pub mod config;
pub mod creds;
pub mod dock;
mod metrics;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use chrono::{DateTime, Utc};
use evidence_contracts::events::{EvidenceRejectedV1, EvidenceSealedV1};
use evidence_contracts::keys::check_file_name;
use evidence_contracts::{DeviceId, EvidenceId, OfficerId, StationId, decode, subjects};
use futures::StreamExt;

pub use config::Config;

/// `station dock` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct DockArgs {
    /// `--config` (a station config with [nats], [s3], [telemetry] and [dock], see
    /// deploy/config/station.toml), `--nats-url`, `--s3-endpoint`.
    #[command(flatten)]
    pub endpoints: worker_runtime::cli::Endpoints,
    /// Override `dock.station_id`.
    #[arg(long, env = "STATION_ID")]
    pub station: Option<String>,
    /// Override `telemetry.listen` (port 0 picks a free port).
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Exit once every file on the docked devices is sealed, rejected, refused or blocked
    /// (exit 0 only if all were sealed; one line per file on stdout).
    #[arg(long)]
    pub once: bool,
    /// Redraw one progress line per slot on the terminal instead of periodic log lines.
    #[arg(long)]
    pub interactive: bool,
}

/// Runs the station agent.
///
/// # Errors
/// Invalid config, unreachable servers at start.
pub async fn dock(a: DockArgs) -> anyhow::Result<ExitCode> {
    let mut cfg: Config = worker_runtime::config::load_toml(a.endpoints.config.as_deref())?;
    a.endpoints.apply(&mut cfg.nats, &mut cfg.s3.endpoint);
    if let Some(s) = &a.station {
        cfg.dock.station_id.clone_from(s);
    }
    if let Some(m) = a.metrics_addr {
        cfg.telemetry.listen = m;
    }
    worker_runtime::telemetry::init_logging(&cfg.telemetry);
    dock::run(cfg, dock::DockOptions { once: a.once, interactive: a.interactive }).await
}

/// `station push` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// `--config` (a station config with [nats] and [s3], see deploy/config/station.toml),
    /// `--nats-url`, `--s3-endpoint`.
    #[command(flatten)]
    pub endpoints: worker_runtime::cli::Endpoints,
    /// This station's id.
    #[arg(long, env = "STATION_ID")]
    pub station: String,
    /// The camera's serial number.
    #[arg(long)]
    pub device: String,
    /// The officer the camera is bound to.
    #[arg(long)]
    pub officer: String,
    /// Recording start (RFC 3339), when the station knows it from the device.
    #[arg(long)]
    pub recorded_start: Option<DateTime<Utc>>,
    /// Wait for each recording's sealed (or rejected) event and print it.
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits for all events.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// The recordings to upload (only read; a file already sealed is not sealed twice).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Pushes every file; returns 0 when all were accepted (and, with `--wait`, sealed).
///
/// # Errors
/// Bad arguments, unreachable servers, unreadable files.
pub async fn push(a: PushArgs) -> anyhow::Result<ExitCode> {
    let mut cfg: Config = worker_runtime::config::load_toml(a.endpoints.config.as_deref())?;
    a.endpoints.apply(&mut cfg.nats, &mut cfg.s3.endpoint);
    let station = StationId::new(&a.station).context("--station")?;
    let device = DeviceId::new(&a.device).context("--device")?;
    let officer = OfficerId::new(&a.officer).context("--officer")?;
    let store = object_store::Store::new(cfg.s3.clone()).await?;
    store.ensure_bucket(&cfg.s3.working_bucket).await.context("check the working bucket")?;
    let client = worker_runtime::nats::connect(&cfg.nats, &format!("station-{station}")).await?;
    let js = worker_runtime::nats::jetstream(&client, &cfg.nats, &[subjects::INGEST_STREAM, subjects::EVENTS_STREAM])
        .await?;
    let edge = edge::Edge::new(station.clone(), store, js.clone());

    // Subscribe before publishing so no event can slip between push and wait.
    let events = if a.wait {
        let stream = js.get_stream(subjects::EVENTS_STREAM).await.context("open the events stream")?;
        Some(
            stream
                .create_consumer(pull::Config {
                    filter_subjects: vec![subjects::SEALED_ALL.into(), subjects::REJECTED_ALL.into()],
                    deliver_policy: DeliverPolicy::New,
                    ack_policy: AckPolicy::None,
                    inactive_threshold: Duration::from_secs(300),
                    ..Default::default()
                })
                .await
                .context("subscribe to events")?,
        )
    } else {
        None
    };

    let docked_at = Utc::now();
    let mut pending: BTreeMap<EvidenceId, String> = BTreeMap::new();
    for path in &a.files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        check_file_name(&name).with_context(|| format!("{}", path.display()))?;
        let (size, mtime) = object_store::file_identity(path).with_context(|| format!("open {}", path.display()))?;
        let key = edge.landing_key(&device, &name, size, mtime);
        let stored = edge.upload_once(&key, path, &device, &officer).await?;
        if stored.digests.size != size {
            bail!(
                "{} changed size while it was uploaded ({size} → {} bytes); push it again",
                path.display(),
                stored.digests.size
            );
        }
        let req = edge.request(edge::Recording {
            device: device.clone(),
            officer: officer.clone(),
            file_name: name.clone(),
            key,
            size: stored.digests.size,
            blake3: stored.digests.blake3,
            recorded_start: a.recorded_start,
            docked_at,
            uploaded_at: Utc::now(),
            segment: None,
        });
        let duplicate = edge.announce(&req).await?;
        let id = req.evidence_id();
        eprintln!(
            "pushed {} ({} bytes, blake3 {}) evidence_id={id}{}",
            path.display(),
            req.size_bytes,
            req.blake3,
            if duplicate { " (already pushed)" } else { "" }
        );
        pending.insert(id, name);
    }

    let Some(consumer) = events else {
        return Ok(ExitCode::SUCCESS);
    };
    let mut failed = false;
    // Already sealed by an earlier push of the same bytes?
    for id in pending.keys().copied().collect::<Vec<_>>() {
        if let Some(m) =
            worker_runtime::nats::last_on_subject(&js, subjects::EVENTS_STREAM, &subjects::sealed(&id)).await?
        {
            println!("{}", String::from_utf8_lossy(&m.payload));
            pending.remove(&id);
        }
    }
    let deadline = tokio::time::Instant::now() + a.timeout;
    let mut msgs = consumer.messages().await.context("read events")?;
    while !pending.is_empty() {
        let next = tokio::time::timeout_at(deadline, msgs.next()).await;
        let Ok(Some(m)) = next else {
            bail!(
                "timed out after {:?} waiting for {} recording(s): {:?}",
                a.timeout,
                pending.len(),
                pending.values().collect::<Vec<_>>()
            );
        };
        let m = m.map_err(|e| anyhow::anyhow!("read events: {e}"))?;
        if m.subject.starts_with("evidence.sealed.") {
            if let Ok(ev) = decode::<EvidenceSealedV1>(&m.payload)
                && pending.remove(&ev.evidence_id).is_some()
            {
                println!("{}", String::from_utf8_lossy(&m.payload));
            }
        } else if let Ok(ev) = decode::<EvidenceRejectedV1>(&m.payload)
            && let Some(id) = ev.evidence_id
            && let Some(name) = pending.remove(&id)
        {
            eprintln!("REJECTED {name} at {}: {} ({})", ev.stage.as_str(), ev.detail, ev.reason.as_str());
            println!("{}", String::from_utf8_lossy(&m.payload));
            failed = true;
        }
    }
    Ok(if failed { ExitCode::from(3) } else { ExitCode::SUCCESS })
}
