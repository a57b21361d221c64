//! `station dock`: the docking-station agent.
//!
//! Every `scan_interval` it looks at each slot. A slot holds a docked camera when its dock
//! driver has written `device.json` there (serial, the device clock and the station clock at
//! the moment it was read, battery). On a new docking the agent publishes a **docking record**
//! listing every file on the device. Each recording then goes through durable states, one JSON
//! file per recording under `<state_dir>/files/`:
//!
//! `new` → (resumable upload, BLAKE3 while reading) → `uploaded` → (ingest request, dedup id)
//! → `published` → (receipt) → `sealed` | `rejected`; or `refused` (the file changed between
//! parts, an invalid name) or `blocked` (no officer for the device).
//!
//! A kill at any point loses nothing: the upload resumes from its state file, the ingest request
//! is re-published with the same message id, the receipt is looked up again. Files are deleted
//! from the camera only with `release = "delete_after_seal"` and only once sealed.
//!
//! The protocol steps (state files, upload, request, receipt, release check) are [`edge`]'s;
//! this module is what is particular to a station, one room each: `slots.rs` (slots, devices,
//! docking records, which files are new), `files.rs` (a file's states: upload and announce),
//! `receipts.rs` (receipts and release), `status.rs` (metrics, status lines, the `--once` summary).

mod files;
mod receipts;
mod slots;
mod status;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use edge::{Backoff, Edge};
use evidence_contracts::StationId;
use tokio_util::sync::CancellationToken;
use worker_runtime::lock;

use crate::config::Config;
use crate::metrics;

pub use files::{FileRecord, FileState};
pub use slots::{DEVICE_FILE, DeviceInfo};

/// `station dock` options beyond the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct DockOptions {
    /// Exit once every file on the docked devices is sealed, rejected, refused or blocked.
    pub once: bool,
    /// Redraw a status block (one line per slot) instead of logging status lines.
    pub interactive: bool,
}

/// What the agent knows of the files, under one lock.
#[derive(Default)]
struct Files {
    /// Every file's record, by id (mirrors `<state_dir>/files/<id>.json`).
    records: BTreeMap<String, FileRecord>,
    /// Files being worked on right now.
    inflight: HashSet<String>,
    /// Upload progress of files in flight: (bytes done, total).
    progress: HashMap<String, (u64, u64)>,
    /// Files waiting out their own backoff (the device could not be read), by id.
    backoff: HashMap<String, Backoff>,
}

struct Agent {
    cfg: Config,
    edge: Edge,
    dirs: Dirs,
    name_re: regex::Regex,
    offset: chrono::FixedOffset,
    files: Mutex<Files>,
    /// The whole station's backoff (server unreachable, busy, full).
    backoff: Mutex<Backoff>,
    /// What each slot held at the last scan: device and its officer.
    slots_seen: Mutex<BTreeMap<String, (String, Option<String>)>>,
}

struct Dirs {
    files: PathBuf,
    uploads: PathBuf,
    slots: PathBuf,
    archive: PathBuf,
}

/// Runs the agent until a signal (or, with `once`, until every docked file is final).
///
/// # Errors
/// Invalid config, unreachable servers at start, an unwritable state folder.
pub async fn run(cfg: Config, opts: DockOptions) -> anyhow::Result<ExitCode> {
    cfg.dock.validate()?;
    let station = StationId::new(&cfg.dock.station_id).context("dock.station_id")?;
    let dirs = Dirs {
        files: cfg.dock.state_dir.join("files"),
        uploads: cfg.dock.state_dir.join("uploads"),
        slots: cfg.dock.state_dir.join("slots"),
        archive: cfg.dock.state_dir.join("files").join("archive"),
    };
    for d in [&dirs.files, &dirs.uploads, &dirs.slots, &dirs.archive] {
        std::fs::create_dir_all(d)
            .with_context(|| format!("create {} (dock.state_dir must be writable)", d.display()))?;
    }
    let shutdown = worker_runtime::shutdown::on_signal();
    metrics::init(station.as_str());
    let health = worker_runtime::telemetry::Health::default();
    worker_runtime::telemetry::serve(cfg.telemetry.listen, health.clone(), shutdown.clone()).await?;
    let store = object_store::Store::new(cfg.s3.clone()).await?;
    health.set("s3", true, cfg.s3.endpoint.clone().unwrap_or_default());
    let client = worker_runtime::nats::connect(&cfg.nats, &format!("station-{station}")).await?;
    health.set("nats", true, cfg.nats.url.clone());
    // No stream management: a station's credentials allow publishing and its receipts only.
    let edge = Edge::new(station.clone(), store, async_nats::jetstream::new(client));

    let mut records = BTreeMap::new();
    for e in std::fs::read_dir(&dirs.files)?.filter_map(Result::ok) {
        if e.path().extension().is_some_and(|x| x == "json")
            && let Some(r) = edge::load::<FileRecord>(&e.path())?
        {
            records.insert(r.id.clone(), r);
        }
    }
    tracing::info!(station = %station, known_files = records.len(), slots = cfg.dock.all_slots().len(), "station agent started");
    let agent = Arc::new(Agent {
        name_re: regex::Regex::new(&cfg.dock.name_pattern)?,
        offset: cfg.dock.utc_offset()?,
        cfg,
        edge,
        dirs,
        files: Mutex::new(Files { records, ..Files::default() }),
        backoff: Mutex::new(Backoff::default()),
        slots_seen: Mutex::new(BTreeMap::new()),
    });
    agent.main_loop(opts, shutdown).await
}

impl Agent {
    fn station(&self) -> &str {
        self.edge.station().as_str()
    }

    async fn main_loop(self: &Arc<Self>, opts: DockOptions, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
        let d = &self.cfg.dock;
        let interactive = opts.interactive && std::io::stderr().is_terminal();
        let mut last_receipts = Instant::now() - d.receipt_interval;
        let mut last_status = Instant::now();
        let mut drawn = 0usize;
        let tick = if interactive { Duration::from_millis(500).min(d.scan_interval) } else { d.scan_interval };
        let mut last_scan = Instant::now() - d.scan_interval;
        loop {
            if last_scan.elapsed() >= d.scan_interval {
                last_scan = Instant::now();
                let present = self.scan().await;
                self.schedule(&present);
                if opts.once && self.all_final(&present) {
                    self.publish_metrics();
                    return Ok(self.summary(&present));
                }
            }
            if last_receipts.elapsed() >= d.receipt_interval {
                last_receipts = Instant::now();
                self.poll_receipts().await;
            }
            self.publish_metrics();
            if interactive {
                drawn = self.draw(drawn);
            } else if last_status.elapsed() >= d.status_interval {
                last_status = Instant::now();
                for line in self.status_lines() {
                    tracing::info!("{line}");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => {
                    tracing::info!("stopping; uploads in flight resume from their state at the next start");
                    return Ok(ExitCode::SUCCESS);
                }
                () = tokio::time::sleep(tick) => {}
            }
        }
    }

    /// Starts work for files that need it, up to `parallel_uploads` at once.
    fn schedule(self: &Arc<Self>, present: &[String]) {
        if lock(&self.backoff).active(Instant::now()) {
            return;
        }
        let todo: Vec<String> = {
            let mut files = lock(&self.files);
            let now = Instant::now();
            let wanted: Vec<String> = present
                .iter()
                .filter(|id| {
                    files.records.get(*id).is_some_and(|r| matches!(r.state, FileState::New | FileState::Uploaded))
                })
                .filter(|id| !files.backoff.get(*id).is_some_and(|b| b.active(now)))
                .cloned()
                .collect();
            let mut todo = Vec::new();
            for id in wanted {
                if files.inflight.len() >= self.cfg.dock.parallel_uploads || files.inflight.contains(&id) {
                    continue;
                }
                files.inflight.insert(id.clone());
                todo.push(id);
            }
            todo
        };
        for id in todo {
            let me = self.clone();
            tokio::spawn(async move {
                me.process(&id).await;
                let mut files = lock(&me.files);
                files.inflight.remove(&id);
                files.progress.remove(&id);
            });
        }
    }

    /// Writes a file's record and keeps it in memory; a failed write is logged (the step is
    /// repeated after a restart, which is safe: every step is idempotent).
    fn save(&self, r: &FileRecord) {
        if let Err(e) = edge::save(&self.dirs.files.join(format!("{}.json", r.id)), r) {
            tracing::error!(file = %r.path.display(), error = %format!("{e:#}"), "could not save file state; the step will be repeated after a restart");
        }
        lock(&self.files).records.insert(r.id.clone(), r.clone());
    }

    fn back_off(&self, reason: &'static str, detail: &str) {
        let d = &self.cfg.dock;
        let wait =
            lock(&self.backoff).fail(Instant::now(), d.backoff_min, d.backoff_max, format!("{reason}: {detail}"));
        metrics::backoff(self.station(), reason);
        tracing::warn!(reason, detail, retry_in = ?wait, "backing off");
    }

    /// Only this file waits; the other files and slots go on.
    fn back_off_file(&self, id: &str, reason: &'static str, detail: &str) {
        let d = &self.cfg.dock;
        let wait = lock(&self.files).backoff.entry(id.to_owned()).or_default().fail(
            Instant::now(),
            d.backoff_min,
            d.backoff_max,
            format!("{reason}: {detail}"),
        );
        metrics::backoff(self.station(), reason);
        tracing::warn!(reason, detail, retry_in = ?wait, "backing off this file; the others go on");
    }

    fn succeeded(&self, id: &str) {
        *lock(&self.backoff) = Backoff::default();
        lock(&self.files).backoff.remove(id);
    }
}
