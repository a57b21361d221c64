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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use evidence_contracts::ingest::{IngestRequestSchema, IngestRequestV1};
use evidence_contracts::keys::{self, ObjectRef, check_file_name};
use evidence_contracts::station::{DeviceFileV1, DockingSchema, DockingV1, ReceiptStatus, ReceiptV1};
use evidence_contracts::{Blake3Digest, DeviceId, EvidenceId, OfficerId, StationId, decode, subjects};
use object_store::{PutOpts, ResumeError, Store, StoreError};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Release, SlotConfig};
use crate::metrics;

/// What the dock driver writes into a slot when a camera is docked.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DeviceInfo {
    pub serial: String,
    /// The device's clock when the driver read it.
    #[serde(default)]
    pub device_clock: Option<DateTime<Utc>>,
    /// The station's clock at that same moment.
    #[serde(default)]
    pub station_clock: Option<DateTime<Utc>>,
    #[serde(default)]
    pub battery_percent: Option<u8>,
}

pub const DEVICE_FILE: &str = "device.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    New,
    Uploaded,
    Published,
    Sealed,
    Rejected,
    Refused,
    Blocked,
}

impl FileState {
    fn as_str(self) -> &'static str {
        match self {
            FileState::New => "new",
            FileState::Uploaded => "uploaded",
            FileState::Published => "published",
            FileState::Sealed => "sealed",
            FileState::Rejected => "rejected",
            FileState::Refused => "refused",
            FileState::Blocked => "blocked",
        }
    }
    fn is_final(self) -> bool {
        matches!(self, FileState::Sealed | FileState::Rejected | FileState::Refused | FileState::Blocked)
    }
}

/// One recording as the station tracks it (`<state_dir>/files/<id>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRecord {
    pub id: String,
    pub slot: String,
    pub device: String,
    pub officer: Option<String>,
    pub rel_path: String,
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i128,
    pub key: String,
    pub state: FileState,
    pub first_seen: DateTime<Utc>,
    pub docked_at: DateTime<Utc>,
    pub recorded_start: Option<DateTime<Utc>>,
    pub blake3: Option<Blake3Digest>,
    pub evidence_id: Option<EvidenceId>,
    /// Why the file is refused/rejected/blocked, or a note a person should read.
    pub reason: Option<String>,
    pub released: bool,
    pub updated: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SlotState {
    device: String,
    docked_at: DateTime<Utc>,
    recorded: bool,
}

/// `station dock` options beyond the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct DockOptions {
    /// Exit once every file on the docked devices is sealed, rejected, refused or blocked.
    pub once: bool,
    /// Redraw a status block (one line per slot) instead of logging status lines.
    pub interactive: bool,
}

/// Exponential backoff after failures: the whole station's (server unreachable, busy, full), or
/// one file's (the device cannot be read) so that one bad file does not hold the other slots up.
#[derive(Debug, Default)]
struct Backoff {
    until: Option<Instant>,
    level: u32,
    reason: String,
}

impl Backoff {
    fn active(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| now < u)
    }

    /// Records one more failure; returns how long to wait (`min` doubling up to `max`).
    fn fail(&mut self, now: Instant, min: Duration, max: Duration, reason: String) -> Duration {
        let wait = min.saturating_mul(1 << self.level.min(16)).min(max);
        self.level += 1;
        self.until = Some(now + wait);
        self.reason = reason;
        wait
    }
}

/// Whether a failed upload holds up the whole station or only its file.
#[derive(Debug, PartialEq, Eq)]
enum Scope {
    Station,
    /// The file on the device could not be read (a bad sector, the camera pulled mid-upload):
    /// other files and slots go on.
    File,
}

fn scope_of(e: &StoreError, file: &Path) -> Scope {
    match e {
        StoreError::Io { path, .. } if path == file => Scope::File,
        _ => Scope::Station,
    }
}

struct Agent {
    cfg: Config,
    station: StationId,
    store: Store,
    js: async_nats::jetstream::Context,
    receipts: async_nats::jetstream::stream::Stream<()>,
    dirs: Dirs,
    name_re: regex::Regex,
    offset: chrono::FixedOffset,
    records: Mutex<BTreeMap<String, FileRecord>>,
    inflight: Mutex<HashSet<String>>,
    progress: Mutex<HashMap<String, (u64, u64)>>,
    backoff: Mutex<Backoff>,
    /// Per-file backoff, by file id.
    file_backoff: Mutex<HashMap<String, Backoff>>,
    slots_seen: Mutex<BTreeMap<String, (String, Option<String>)>>,
}

struct Dirs {
    files: PathBuf,
    uploads: PathBuf,
    slots: PathBuf,
    archive: PathBuf,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> anyhow::Result<()> {
    object_store::write_json_durably(path, v).with_context(|| format!("write {}", path.display()))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b).with_context(|| format!("parse {}", path.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("read {}", path.display()))),
    }
}

/// The record id of a file: its device and path on the device.
fn record_id(device: &str, rel_path: &str) -> String {
    let mut h = blake3::Hasher::new_derive_key("evidence-pipeline station file-record v1");
    h.update(device.as_bytes());
    h.update(&[0]);
    h.update(rel_path.as_bytes());
    h.finalize().to_hex()[..24].to_owned()
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
    let store = Store::new(cfg.s3.clone()).await?;
    health.set("s3", true, cfg.s3.endpoint.clone().unwrap_or_default());
    let client = worker_runtime::nats::connect(&cfg.nats, &format!("station-{station}")).await?;
    health.set("nats", true, cfg.nats.url.clone());
    // No stream management: a station's credentials allow publishing and its receipts only.
    let js = async_nats::jetstream::new(client);
    let receipts = js.get_stream_no_info(subjects::RECEIPTS_STREAM).await.context("open the receipts stream")?;

    let mut records = BTreeMap::new();
    for e in std::fs::read_dir(&dirs.files)?.filter_map(Result::ok) {
        if e.path().extension().is_some_and(|x| x == "json")
            && let Some(r) = read_json::<FileRecord>(&e.path())?
        {
            records.insert(r.id.clone(), r);
        }
    }
    tracing::info!(station = %station, known_files = records.len(), slots = cfg.dock.all_slots().len(), "station agent started");
    let agent = Arc::new(Agent {
        name_re: regex::Regex::new(&cfg.dock.name_pattern)?,
        offset: cfg.dock.utc_offset()?,
        cfg,
        station,
        store,
        js,
        receipts,
        dirs,
        records: Mutex::new(records),
        inflight: Mutex::new(HashSet::new()),
        progress: Mutex::new(HashMap::new()),
        backoff: Mutex::new(Backoff::default()),
        file_backoff: Mutex::new(HashMap::new()),
        slots_seen: Mutex::new(BTreeMap::new()),
    });
    agent.main_loop(opts, shutdown).await
}

impl Agent {
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

    /// Looks at every slot; returns the ids of the files currently on docked devices.
    async fn scan(self: &Arc<Self>) -> Vec<String> {
        let mut present = Vec::new();
        for slot in self.cfg.dock.all_slots() {
            match self.scan_slot(&slot).await {
                Ok(ids) => present.extend(ids),
                Err(e) => {
                    tracing::warn!(slot = %slot.name, error = %format!("{e:#}"), "slot scan failed; retrying at the next scan")
                }
            }
        }
        present
    }

    async fn scan_slot(self: &Arc<Self>, slot: &SlotConfig) -> anyhow::Result<Vec<String>> {
        let state_path = self.dirs.slots.join(format!("{}.json", slot.name));
        let info_path = slot.path.join(DEVICE_FILE);
        let Some(info) = read_json::<DeviceInfo>(&info_path)? else {
            if state_path.exists() {
                tracing::info!(slot = %slot.name, "device undocked");
                let _ = std::fs::remove_file(&state_path);
            }
            lock(&self.slots_seen).remove(&slot.name);
            return Ok(Vec::new());
        };
        let device = DeviceId::new(&info.serial)
            .with_context(|| format!("{}: serial \"{}\" is not a valid device id", info_path.display(), info.serial))?;
        let officer = self.cfg.dock.bindings.get(device.as_str()).cloned();
        lock(&self.slots_seen).insert(slot.name.clone(), (device.to_string(), officer.clone()));
        let mut st = match read_json::<SlotState>(&state_path)? {
            Some(s) if s.device == device.as_str() => s,
            _ => {
                tracing::info!(slot = %slot.name, device = %device, officer = officer.as_deref().unwrap_or("(unbound)"), "device docked");
                let s = SlotState { device: device.to_string(), docked_at: Utc::now(), recorded: false };
                write_json(&state_path, &s)?;
                s
            }
        };

        let now = Utc::now();
        let mut files = Vec::new();
        list_recordings(&slot.path, &self.cfg.dock.extensions, &mut files, 0);
        files.sort();
        let mut ids = Vec::new();
        let mut listed = Vec::new();
        let mut notes = Vec::new();
        for path in files {
            let rel = path.strip_prefix(&slot.path).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            let Ok((size, mtime_ns)) = object_store::file_identity(&path) else { continue };
            let modified = DateTime::<Utc>::from_timestamp_nanos(i64::try_from(mtime_ns).unwrap_or(0));
            // A modification time in the future (device clock ahead) counts as settled.
            if (now - modified).to_std().is_ok_and(|age| age < self.cfg.dock.settle) {
                continue; // still being written
            }
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let (name_officer, recorded_start) = self.parse_name(&name);
            if let (Some(bound), Some(named)) = (&officer, &name_officer)
                && bound != named
            {
                notes.push(format!(
                    "{rel}: officer in file name {named} differs from the binding {bound} of device {device}"
                ));
            }
            listed.push(DeviceFileV1 {
                path: rel.clone(),
                size_bytes: size,
                modified: Some(modified),
                recorded_start,
                officer_in_name: name_officer.clone(),
            });
            let id = record_id(device.as_str(), &rel);
            ids.push(id.clone());
            self.note_file(slot, &device, officer.as_ref(), &path, &rel, &name, size, mtime_ns, recorded_start, &st)?;
        }

        if !st.recorded {
            let (device_time, offset) = match (info.device_clock, info.station_clock) {
                (Some(d), Some(s)) => (Some(d), Some((d - s).num_milliseconds() as f64 / 1000.0)),
                (Some(d), None) => (Some(d), Some((d - st.docked_at).num_milliseconds() as f64 / 1000.0)),
                _ => (None, None),
            };
            if officer.is_none() {
                notes.push(format!("device {device} has no officer binding at this station"));
            }
            let rec = DockingV1 {
                schema: DockingSchema,
                station_id: self.station.clone(),
                slot: slot.name.clone(),
                device_id: device.clone(),
                officer_id: officer.as_deref().and_then(|o| OfficerId::new(o).ok()),
                docked_at: st.docked_at,
                device_time,
                clock_offset_s: offset,
                battery_percent: info.battery_percent,
                files: listed,
                notes,
            };
            match worker_runtime::nats::publish(&self.js, &rec).await {
                Ok(_) => {
                    st.recorded = true;
                    write_json(&state_path, &st)?;
                    metrics::docking(self.station.as_str());
                    if let Some(o) = offset
                        && o.abs() > 60.0
                    {
                        tracing::warn!(slot = %slot.name, device = %device, clock_offset_s = o, "device clock is off by more than a minute");
                    }
                    tracing::info!(slot = %slot.name, device = %device, files = rec.files.len(), "docking recorded");
                }
                Err(e) => {
                    self.back_off("unreachable", &format!("record docking of {device}: {e}"));
                }
            }
        }
        Ok(ids)
    }

    fn parse_name(&self, name: &str) -> (Option<String>, Option<DateTime<Utc>>) {
        let Some(c) = self.name_re.captures(name) else { return (None, None) };
        let officer = c.name("officer").map(|m| m.as_str().to_owned());
        let start = c.name("start").and_then(|m| {
            chrono::NaiveDateTime::parse_from_str(m.as_str(), &self.cfg.dock.name_time_format)
                .ok()
                .and_then(|n| n.and_local_timezone(self.offset).single())
                .map(|t| t.with_timezone(&Utc))
        });
        (officer, start)
    }

    #[allow(clippy::too_many_arguments)]
    fn note_file(
        &self,
        slot: &SlotConfig,
        device: &DeviceId,
        officer: Option<&String>,
        path: &Path,
        rel: &str,
        name: &str,
        size: u64,
        mtime_ns: i128,
        recorded_start: Option<DateTime<Utc>>,
        slot_state: &SlotState,
    ) -> anyhow::Result<()> {
        let id = record_id(device.as_str(), rel);
        let mut records = lock(&self.records);
        if let Some(r) = records.get_mut(&id) {
            if (r.size, r.mtime_ns) == (size, mtime_ns) {
                if r.state == FileState::Blocked && officer.is_some() {
                    r.state = FileState::New;
                    r.officer = officer.cloned();
                    r.reason = None;
                    write_json(&self.dirs.files.join(format!("{id}.json")), &*r)?;
                }
                return Ok(());
            }
            if r.state == FileState::Refused {
                // A refused file stays refused until a person clears its record, whatever it
                // looks like now (a changed file usually has a new modification time).
                return Ok(());
            }
            if r.state.is_final() {
                // The camera reused the name for another recording: archive the old record.
                let old = self.dirs.archive.join(format!("{id}-{}.json", r.updated.timestamp_millis()));
                write_json(&old, &*r)?;
            } else if r.state == FileState::New && !self.dirs.uploads.join(format!("{id}.json")).exists() {
                // Not yet started: take the file as it is now.
            } else {
                return Ok(()); // the upload notices the change and refuses the file
            }
        }
        let station = &self.station;
        let mut state = FileState::New;
        let mut reason = None;
        if let Err(e) = check_file_name(name) {
            state = FileState::Refused;
            reason = Some(format!("file name cannot be stored: {e}; rename is not allowed on evidence, report it"));
            metrics::refused(station.as_str(), "invalid_name");
        } else if officer.is_none() {
            state = FileState::Blocked;
            reason = Some(format!(
                "device {device} is not bound to an officer: add it to dock.bindings (station {station}) and restart"
            ));
            metrics::refused(station.as_str(), "unbound");
        }
        let key = keys::landing(station, device, &keys::upload_id(station, device, name, size, mtime_ns), name);
        let now = Utc::now();
        let r = FileRecord {
            id: id.clone(),
            slot: slot.name.clone(),
            device: device.to_string(),
            officer: officer.cloned(),
            rel_path: rel.to_owned(),
            path: path.to_owned(),
            size,
            mtime_ns,
            key,
            state,
            first_seen: now,
            docked_at: slot_state.docked_at,
            recorded_start,
            blake3: None,
            evidence_id: None,
            reason,
            released: false,
            updated: now,
        };
        write_json(&self.dirs.files.join(format!("{id}.json")), &r)?;
        records.insert(id, r);
        Ok(())
    }

    fn save(&self, r: &FileRecord) {
        if let Err(e) = write_json(&self.dirs.files.join(format!("{}.json", r.id)), r) {
            tracing::error!(error = %format!("{e:#}"), "could not save file state; the step will be repeated after a restart");
        }
        lock(&self.records).insert(r.id.clone(), r.clone());
    }

    fn backing_off(&self) -> bool {
        lock(&self.backoff).active(Instant::now())
    }

    fn back_off(&self, reason: &'static str, detail: &str) {
        let d = &self.cfg.dock;
        let wait =
            lock(&self.backoff).fail(Instant::now(), d.backoff_min, d.backoff_max, format!("{reason}: {detail}"));
        metrics::backoff(self.station.as_str(), reason);
        tracing::warn!(reason, detail, retry_in = ?wait, "backing off");
    }

    /// Only this file waits; the other files and slots go on.
    fn back_off_file(&self, id: &str, reason: &'static str, detail: &str) {
        let d = &self.cfg.dock;
        let wait = lock(&self.file_backoff).entry(id.to_owned()).or_default().fail(
            Instant::now(),
            d.backoff_min,
            d.backoff_max,
            format!("{reason}: {detail}"),
        );
        metrics::backoff(self.station.as_str(), reason);
        tracing::warn!(reason, detail, retry_in = ?wait, "backing off this file; the others go on");
    }

    fn succeeded(&self, id: &str) {
        *lock(&self.backoff) = Backoff::default();
        lock(&self.file_backoff).remove(id);
    }

    /// Starts work for files that need it, up to `parallel_uploads` at once.
    fn schedule(self: &Arc<Self>, present: &[String]) {
        if self.backing_off() {
            return;
        }
        let todo: Vec<String> = {
            let records = lock(&self.records);
            let waiting = lock(&self.file_backoff);
            let now = Instant::now();
            present
                .iter()
                .filter(|id| records.get(*id).is_some_and(|r| matches!(r.state, FileState::New | FileState::Uploaded)))
                .filter(|id| !waiting.get(*id).is_some_and(|b| b.active(now)))
                .cloned()
                .collect()
        };
        for id in todo {
            {
                let mut inflight = lock(&self.inflight);
                if inflight.len() >= self.cfg.dock.parallel_uploads || inflight.contains(&id) {
                    continue;
                }
                inflight.insert(id.clone());
            }
            let me = self.clone();
            tokio::spawn(async move {
                me.process(&id).await;
                lock(&me.inflight).remove(&id);
                lock(&me.progress).remove(&id);
            });
        }
    }

    async fn process(self: &Arc<Self>, id: &str) {
        let Some(mut r) = lock(&self.records).get(id).cloned() else { return };
        let station = self.station.as_str();
        if r.state == FileState::New {
            let progress = {
                let me = self.clone();
                let id = id.to_owned();
                move |done: u64, total: u64| {
                    lock(&me.progress).insert(id.clone(), (done, total));
                }
            };
            let opts = PutOpts {
                metadata: vec![
                    ("station".into(), station.to_owned()),
                    ("device".into(), r.device.clone()),
                    ("officer".into(), r.officer.clone().unwrap_or_default()),
                ],
                ..Default::default()
            };
            let state_path = self.dirs.uploads.join(format!("{id}.json"));
            let bucket = self.cfg.s3.working_bucket.clone();
            match self.store.upload_file_resumable(&bucket, &r.key, &r.path, &state_path, &opts, &progress).await {
                Ok(out) => {
                    metrics::uploaded(station, out.sent_bytes, out.resumed_bytes);
                    tracing::info!(file = %r.path.display(), bytes = out.size, resumed_bytes = out.resumed_bytes, blake3 = %out.blake3, "uploaded");
                    r.blake3 = Some(out.blake3);
                    r.state = FileState::Uploaded;
                    r.updated = Utc::now();
                    self.save(&r);
                    self.succeeded(id);
                }
                Err(ResumeError::Changed { path, detail }) => {
                    r.state = FileState::Refused;
                    r.reason = Some(format!(
                        "{} {detail}; it was not stored. Keep the device as it is and report it",
                        path.display()
                    ));
                    r.updated = Utc::now();
                    tracing::error!(file = %path.display(), detail, "file changed during its upload; refused");
                    metrics::refused(station, "changed");
                    self.save(&r);
                    return;
                }
                Err(ResumeError::Store(e)) if scope_of(&e, &r.path) == Scope::File => {
                    self.back_off_file(id, "device_read", &format!("{e}; check the device in slot {}", r.slot));
                    return;
                }
                Err(ResumeError::Store(e)) => {
                    let (reason, detail) = classify_store(&e);
                    self.back_off(reason, &format!("upload {}: {detail}", r.path.display()));
                    return;
                }
                Err(e) => {
                    self.back_off("other", &format!("upload {}: {e}", r.path.display()));
                    return;
                }
            }
        }
        if r.state == FileState::Uploaded {
            let (Some(b3), Some(officer)) = (r.blake3, r.officer.clone()) else {
                tracing::error!(file = %r.path.display(), blake3 = r.blake3.is_some(), officer = r.officer.is_some(),
                    "uploaded but cannot be announced: its state lacks the BLAKE3 or the officer; it stays uploaded (check the state file and the device's binding)");
                return;
            };
            let (device, officer) = match (DeviceId::new(&r.device), OfficerId::new(&officer)) {
                (Ok(d), Ok(o)) => (d, o),
                (d, o) => {
                    tracing::error!(file = %r.path.display(), device = %r.device, %officer,
                        device_error = d.err().map(|e| e.to_string()), officer_error = o.err().map(|e| e.to_string()),
                        "uploaded but cannot be announced: the device or officer id is not valid; it stays uploaded (fix [dock.bindings] or the device serial)");
                    return;
                }
            };
            let file_name = r.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let req = IngestRequestV1 {
                schema: IngestRequestSchema,
                station_id: self.station.clone(),
                device_id: device,
                officer_id: officer,
                file_name,
                size_bytes: r.size,
                blake3: b3,
                landing: ObjectRef { bucket: self.cfg.s3.working_bucket.clone(), key: r.key.clone() },
                recorded_start: r.recorded_start,
                docked_at: r.docked_at,
                uploaded_at: r.updated,
                segment: None,
            };
            match worker_runtime::nats::publish(&self.js, &req).await {
                Ok(duplicate) => {
                    r.evidence_id = Some(req.evidence_id());
                    r.state = FileState::Published;
                    r.updated = Utc::now();
                    tracing::info!(file = %r.path.display(), evidence_id = %req.evidence_id(), duplicate, "ingest request published");
                    self.save(&r);
                    self.succeeded(id);
                }
                Err(e) => {
                    self.back_off(e.reason(), &format!("publish the ingest request for {}: {e}", r.path.display()));
                }
            }
        }
    }

    async fn poll_receipts(&self) {
        let waiting: Vec<FileRecord> =
            lock(&self.records).values().filter(|r| r.state == FileState::Published).cloned().collect();
        for mut r in waiting {
            let Some(id) = r.evidence_id else { continue };
            let subject = subjects::receipt(&self.station, &id);
            let msg = match self.receipts.direct_get_last_for_subject(subject.clone()).await {
                Ok(m) => m,
                Err(e) if e.kind() == async_nats::jetstream::stream::DirectGetErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::debug!(error = %e, %subject, "receipt lookup failed; retrying later");
                    return;
                }
            };
            let receipt = match decode::<ReceiptV1>(&msg.payload) {
                Ok(rc) => rc,
                Err(e) => {
                    tracing::error!(%subject, error = %e, "unreadable receipt; ignoring it");
                    continue;
                }
            };
            match receipt.status {
                ReceiptStatus::Sealed => {
                    r.state = FileState::Sealed;
                    r.reason = None;
                    tracing::info!(file = %r.path.display(), evidence_id = %id, package = receipt.package.as_deref().unwrap_or(""), "sealed; the file may be released from the device");
                    if self.cfg.dock.release == Release::DeleteAfterSeal {
                        match self.still_the_sealed_file(&r).await {
                            Ok(()) => {}
                            Err(why) => {
                                tracing::warn!(file = %r.path.display(), reason = %why, "sealed, but the file on the device is not the one sealed; it is kept");
                                r.reason = Some(format!("sealed; not deleted from the device: {why}"));
                                r.updated = Utc::now();
                                self.save(&r);
                                continue;
                            }
                        }
                        match std::fs::remove_file(&r.path) {
                            Ok(()) => {
                                r.released = true;
                                tracing::info!(file = %r.path.display(), "deleted from the device after sealing");
                            }
                            Err(e) => {
                                tracing::warn!(file = %r.path.display(), error = %e, "could not delete the sealed file from the device")
                            }
                        }
                    }
                }
                ReceiptStatus::Rejected => {
                    r.state = FileState::Rejected;
                    r.reason = Some(format!(
                        "rejected at {}: {} ({})",
                        receipt.stage.map_or("?", |s| s.as_str()),
                        receipt.detail.unwrap_or_default(),
                        receipt.reason.map_or("?", |x| x.as_str())
                    ));
                    tracing::error!(file = %r.path.display(), evidence_id = %id, reason = r.reason.as_deref().unwrap_or(""), "the pipeline rejected this recording; the file stays on the device");
                    metrics::refused(self.station.as_str(), "rejected");
                }
            }
            r.updated = Utc::now();
            self.save(&r);
        }
    }

    /// Whether the file at `r.path` is still exactly what was sealed: the slot holds the same
    /// device, and size, modification time and BLAKE3 are those uploaded. Only then may it be
    /// deleted from the camera.
    async fn still_the_sealed_file(&self, r: &FileRecord) -> Result<(), String> {
        let slot = self.cfg.dock.all_slots().into_iter().find(|s| s.name == r.slot).ok_or("its slot is gone")?;
        let info = read_json::<DeviceInfo>(&slot.path.join(DEVICE_FILE))
            .map_err(|e| format!("{e:#}"))?
            .ok_or("the device is no longer docked")?;
        if info.serial != r.device {
            return Err(format!("slot {} now holds device {}, not {}", r.slot, info.serial, r.device));
        }
        let (size, mtime) = object_store::file_identity(&r.path).map_err(|e| e.to_string())?;
        if (size, mtime) != (r.size, r.mtime_ns) {
            return Err("its size or modification time changed since the upload".into());
        }
        let path = r.path.clone();
        let b3 = tokio::task::spawn_blocking(move || object_store::blake3_file(&path))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if Some(b3) != r.blake3 {
            return Err("its content differs from what was uploaded".into());
        }
        Ok(())
    }

    fn all_final(&self, present: &[String]) -> bool {
        let records = lock(&self.records);
        lock(&self.inflight).is_empty() && present.iter().all(|id| records.get(id).is_none_or(|r| r.state.is_final()))
    }

    fn summary(&self, present: &[String]) -> ExitCode {
        let records = lock(&self.records);
        let mut bad = false;
        for id in present {
            if let Some(r) = records.get(id) {
                println!(
                    "{}\t{}\t{}\t{}",
                    r.state.as_str(),
                    r.evidence_id.map(|e| e.to_string()).unwrap_or_else(|| "-".into()),
                    r.path.display(),
                    r.reason.as_deref().unwrap_or("")
                );
                bad |= r.state != FileState::Sealed;
            }
        }
        if bad { ExitCode::from(3) } else { ExitCode::SUCCESS }
    }

    fn publish_metrics(&self) {
        let records = lock(&self.records);
        let inflight = lock(&self.inflight);
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        let mut oldest = 0i64;
        let now = Utc::now();
        for r in records.values() {
            let s = if inflight.contains(&r.id) && r.state == FileState::New { "uploading" } else { r.state.as_str() };
            *counts.entry(s).or_default() += 1;
            if !r.state.is_final() || r.state == FileState::Blocked {
                oldest = oldest.max((now - r.first_seen).num_seconds());
            }
        }
        let v: Vec<(&str, i64)> = counts.into_iter().collect();
        metrics::files(self.station.as_str(), &v, oldest);
    }

    /// One line per slot: device, officer, counts, the upload in progress.
    fn status_lines(&self) -> Vec<String> {
        let records = lock(&self.records);
        let progress = lock(&self.progress);
        let seen = lock(&self.slots_seen);
        let backoff = lock(&self.backoff);
        let mut lines = Vec::new();
        for slot in self.cfg.dock.all_slots() {
            let Some((device, officer)) = seen.get(&slot.name) else {
                lines.push(format!("{:<10} empty", slot.name));
                continue;
            };
            let mut c: BTreeMap<&str, usize> = BTreeMap::new();
            let mut current = String::new();
            for r in records.values().filter(|r| r.slot == slot.name && &r.device == device) {
                *c.entry(r.state.as_str()).or_default() += 1;
                if let Some((done, total)) = progress.get(&r.id) {
                    current = format!(" {} {}", bar(*done, *total), r.rel_path);
                }
            }
            let counts = c.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ");
            lines.push(format!(
                "{:<10} {device} ({}) {counts}{current}",
                slot.name,
                officer.as_deref().unwrap_or("UNBOUND")
            ));
        }
        let now = Instant::now();
        if backoff.active(now) {
            lines.push(format!("backing off: {}", backoff.reason));
        }
        for b in lock(&self.file_backoff).values().filter(|b| b.active(now)) {
            lines.push(format!("waiting: {}", b.reason));
        }
        lines
    }

    fn draw(&self, previous: usize) -> usize {
        use std::io::Write as _;
        let lines = self.status_lines();
        let mut err = std::io::stderr().lock();
        if previous > 0 {
            let _ = write!(err, "\x1b[{previous}A");
        }
        for l in &lines {
            let _ = writeln!(err, "\x1b[2K{l}");
        }
        lines.len()
    }
}

fn bar(done: u64, total: u64) -> String {
    let pct = done.saturating_mul(100).checked_div(total).unwrap_or(100);
    let filled = usize::try_from(pct / 5).unwrap_or(20).min(20);
    format!(
        "[{}{}] {pct:>3}% {:.1}/{:.1} MB",
        "#".repeat(filled),
        ".".repeat(20 - filled),
        done as f64 / 1e6,
        total as f64 / 1e6
    )
}

/// What a store error means for the station: the backoff reason and the words to show.
fn classify_store(e: &StoreError) -> (&'static str, String) {
    let reason = match e {
        StoreError::Unreachable { .. } => "unreachable",
        StoreError::Service { status, code, .. }
            if *status == Some(507)
                || matches!(code.as_str(), "InsufficientStorage" | "XMinioStorageFull" | "QuotaExceeded") =>
        {
            "storage_full"
        }
        StoreError::Service { status, code, .. }
            if *status == Some(503) || matches!(code.as_str(), "SlowDown" | "ServiceUnavailable") =>
        {
            "busy"
        }
        _ => "other",
    };
    (reason, e.to_string())
}

fn list_recordings(dir: &Path, exts: &[String], out: &mut Vec<PathBuf>, depth: u32) {
    if depth > 6 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            list_recordings(&e.path(), exts, out, depth + 1);
        } else if t.is_file()
            && let Some(ext) = e.path().extension()
            && exts.iter().any(|x| x.eq_ignore_ascii_case(&ext.to_string_lossy()))
        {
            out.push(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_are_stable_per_device_and_path() {
        assert_eq!(record_id("D1", "DCIM/A.MP4"), record_id("D1", "DCIM/A.MP4"));
        assert_ne!(record_id("D1", "DCIM/A.MP4"), record_id("D2", "DCIM/A.MP4"));
        assert_ne!(record_id("D1", "DCIM/A.MP4"), record_id("D1", "DCIM/B.MP4"));
    }

    #[test]
    fn a_device_read_error_holds_up_its_file_only_and_backoff_doubles_to_its_cap() {
        let file = Path::new("/media/dock/slot1/DCIM/A.MP4");
        let read = |p: &Path| StoreError::Io {
            op: "read",
            path: p.to_owned(),
            source: std::io::Error::from_raw_os_error(5), // EIO
        };
        assert_eq!(scope_of(&read(file), file), Scope::File);
        // The station's own state or another path is the station's problem.
        assert_eq!(scope_of(&read(Path::new("/var/lib/station/uploads/x.json")), file), Scope::Station);
        let down = StoreError::Unreachable {
            endpoint: "http://s3".into(),
            op: "put",
            bucket: "b".into(),
            key: "k".into(),
            detail: "refused".into(),
        };
        assert_eq!(scope_of(&down, file), Scope::Station);

        let t0 = Instant::now();
        let (min, max) = (Duration::from_secs(2), Duration::from_secs(10));
        let mut b = Backoff::default();
        assert!(!b.active(t0));
        let waits: Vec<u64> = (0..5).map(|_| b.fail(t0, min, max, "device_read: x".into()).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 10, 10]);
        assert!(b.active(t0 + Duration::from_secs(9)));
        assert!(!b.active(t0 + Duration::from_secs(10)));
        assert_eq!(b.reason, "device_read: x");
    }

    #[test]
    fn storage_full_and_busy_are_told_apart() {
        let svc = |status, code: &str| StoreError::Service {
            op: "put",
            bucket: "b".into(),
            key: "k".into(),
            code: code.into(),
            message: "".into(),
            status: Some(status),
            asked: Box::default(),
        };
        assert_eq!(classify_store(&svc(507, "InsufficientStorage")).0, "storage_full");
        assert_eq!(classify_store(&svc(503, "SlowDown")).0, "busy");
        assert_eq!(classify_store(&svc(403, "AccessDenied")).0, "other");
    }

    #[test]
    fn recordings_are_found_below_the_mount_and_hidden_files_skipped() {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(d.path().join("DCIM/100MEDIA")).expect("mkdir");
        std::fs::write(d.path().join("DCIM/100MEDIA/O1_20261128101500_0001.MP4"), b"x").expect("write");
        std::fs::write(d.path().join("DCIM/100MEDIA/.hidden.mp4"), b"x").expect("write");
        std::fs::write(d.path().join("device.json"), b"{}").expect("write");
        std::fs::write(d.path().join("notes.txt"), b"x").expect("write");
        let mut out = Vec::new();
        list_recordings(d.path(), &["mp4".into()], &mut out, 0);
        assert_eq!(out.len(), 1, "{out:?}");
    }
}
