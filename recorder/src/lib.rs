//! `recorder`: a fixed camera (interview room, hearing room, CCTV) recorded over
//! RTSP into segments that go through the same ingest path as a docking station's uploads.
//!
//! One recorder process per camera. The stream is cut into fragmented-MP4 segments of
//! `--segment` length without re-encoding ([`gst_support::record`]); each closed segment is
//! uploaded to `landing/<station>/<camera>/…` and announced with an ingest request that carries
//! its place in the **session** ([`SegmentV1`]): index, first and last frame in wall-clock
//! time, the previous segment and why it ended (`split`, `outage`, `restart`). Ingest turns a
//! hole between segments into a `gap_between_files` finding with its length: a camera outage or
//! a network drop is never a silent hole. The recorder reconnects with backoff.
//!
//! Each segment goes through the producer protocol of [`edge`], like a docking station's file:
//! resumable landing upload, ingest request, receipt. Segments stay on the recorder's disk until
//! their receipt says sealed; then they are deleted (unless `--keep-sealed`) only if their bytes
//! still derive the sealed evidence id ([`edge::release`]), else kept with the reason. A recorder killed mid-segment hands the leftover segment on at its
//! next start (its end is the file's last write) and continues the session, the next segment
//! saying `previous_ended_by: restart`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use edge::{Edge, Recording};
use evidence_contracts::ingest::{EndedBy, SegmentV1};
use evidence_contracts::station::ReceiptStatus;
use evidence_contracts::{DeviceId, EvidenceId, OfficerId, StationId};
use gst_support::record::{CaptureEnd, CaptureEvent, CaptureSpec};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use worker_runtime::lock;

mod metrics;

/// `recorder` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RecordArgs {
    /// `--config` (only its [nats] and [s3] sections are used: an ingest-worker or station
    /// config), `--nats-url`, `--s3-endpoint`.
    #[command(flatten)]
    pub endpoints: worker_runtime::cli::Endpoints,
    /// `/metrics` and `/healthz` address (port 0 picks a free port).
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:0")]
    pub metrics_addr: std::net::SocketAddr,
    /// The camera's RTSP URL (credentials, if any, from the URL; it is never logged).
    #[arg(long)]
    pub url: String,
    /// The camera's device id (its evidence is bound to it).
    #[arg(long)]
    pub camera: String,
    /// The recorder's station id (its ingest subject).
    #[arg(long, env = "STATION_ID")]
    pub station: String,
    /// The officer responsible for the room's recordings.
    #[arg(long)]
    pub officer: String,
    /// `h264` or `h265`.
    #[arg(long, default_value = "h264")]
    pub codec: String,
    /// The camera's audio, kept as sent: `aac` (RTP MPEG4-GENERIC) or `aac-latm` (MP4A-LATM).
    /// Without it only video is recorded (and a warning says so if the camera sends audio).
    /// G.711 cannot be kept unconverted in MP4 segments: set such a camera to AAC.
    #[arg(long, value_parser = ["aac", "aac-latm"])]
    pub audio: Option<String>,
    /// Segment length.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub segment: Duration,
    /// Where segments are written and kept until sealed.
    #[arg(long)]
    pub spool: PathBuf,
    #[arg(long, default_value_t = 200)]
    pub latency_ms: u32,
    /// No frame for this long counts as an outage.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub stall: Duration,
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    pub reconnect_min: Duration,
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub reconnect_max: Duration,
    /// Stop after this long (a planned session); default: until SIGTERM.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Keep segments on disk after they are sealed.
    #[arg(long)]
    pub keep_sealed: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Session {
    session_id: String,
    next_index: u32,
    last_file: Option<String>,
    last_end: Option<DateTime<Utc>>,
    /// BLAKE3 of the last segment handed on (the next segment's link to it).
    #[serde(default)]
    last_blake3: Option<evidence_contracts::Blake3Digest>,
    /// Segments handed on, waiting for their sealed receipt, by file name.
    waiting: BTreeMap<String, Waiting>,
    /// Set when the session ended as planned (`--duration`): the next start opens a new session
    /// instead of reporting the time in between as a hole in this one. A stop by signal or a
    /// crash leaves it unset: that interval *is* a hole in the camera's coverage.
    closed_at: Option<DateTime<Utc>>,
}

/// A segment handed on: its evidence id, and its size and modification time when uploaded (for
/// the release check). A session file written before the check existed holds only the id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum Waiting {
    /// (`mtime_ns` as i64: serde's untagged enums cannot buffer 128-bit integers.)
    Uploaded {
        evidence_id: EvidenceId,
        size: u64,
        mtime_ns: i64,
    },
    IdOnly(EvidenceId),
}

impl Waiting {
    fn evidence_id(&self) -> EvidenceId {
        match self {
            Waiting::Uploaded { evidence_id, .. } | Waiting::IdOnly(evidence_id) => *evidence_id,
        }
    }
    fn identity(&self) -> Option<(u64, i128)> {
        match self {
            Waiting::Uploaded { size, mtime_ns, .. } => Some((*size, i128::from(*mtime_ns))),
            Waiting::IdOnly(_) => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sidecar {
    index: u32,
    start: DateTime<Utc>,
}

enum Rec {
    Capture(CaptureEvent),
    /// The stream broke (outage) before the next segment.
    Break(EndedBy),
}

struct Ctx {
    args: RecordArgs,
    camera: DeviceId,
    officer: OfficerId,
    edge: Edge,
    dir: PathBuf,
    session: Mutex<Session>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Endpoints {
    nats: worker_runtime::config::NatsConfig,
    s3: object_store::S3Config,
}

/// Runs the recorder until SIGTERM or `--duration`.
///
/// # Errors
/// Bad arguments, unreachable servers at start, a pipeline GStreamer cannot build.
pub async fn run(args: RecordArgs) -> anyhow::Result<std::process::ExitCode> {
    let text = match &args.endpoints.config {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?,
        None => String::new(),
    };
    // Only the endpoint sections are read; the rest of the file belongs to its worker.
    let value: toml::Value = toml::from_str(&text).context("config is not TOML")?;
    let pick = |k: &str| value.get(k).cloned().unwrap_or(toml::Value::Table(Default::default()));
    let mut ends: Endpoints =
        Endpoints { nats: pick("nats").try_into().context("[nats]")?, s3: pick("s3").try_into().context("[s3]")? };
    args.endpoints.apply(&mut ends.nats, &mut ends.s3.endpoint);
    worker_runtime::telemetry::init_logging(&worker_runtime::config::TelemetryConfig::default());
    gst_support::init().context("initialise GStreamer")?;
    let station = StationId::new(&args.station).context("--station")?;
    let camera = DeviceId::new(&args.camera).context("--camera")?;
    let officer = OfficerId::new(&args.officer).context("--officer")?;
    let shutdown = worker_runtime::shutdown::on_signal();
    let planned_end = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(d) = args.duration {
        let s = shutdown.clone();
        let planned = planned_end.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            planned.store(true, std::sync::atomic::Ordering::SeqCst);
            s.cancel();
        });
    }
    let health = worker_runtime::telemetry::Health::default();
    worker_runtime::telemetry::serve(args.metrics_addr, health.clone(), shutdown.clone()).await?;
    metrics::init();
    let store = object_store::Store::new(ends.s3.clone()).await?;
    store.ensure_bucket(&ends.s3.working_bucket).await.context("check the working bucket")?;
    let client = worker_runtime::nats::connect(&ends.nats, &format!("recorder-{camera}")).await?;
    let edge = Edge::new(station, store, async_nats::jetstream::new(client));

    let dir = args.spool.join(camera.as_str());
    std::fs::create_dir_all(dir.join("uploads")).with_context(|| format!("create {}", dir.display()))?;
    let session_path = dir.join("session.json");
    let existing: Option<Session> = match std::fs::read(&session_path) {
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(s) => Some(s),
            Err(e) => {
                // Recording matters more than the old session: keep the file for a person, start anew.
                let aside = session_path.with_extension(format!("broken-{}", Utc::now().timestamp()));
                tracing::error!(file = %session_path.display(), error = %e, moved_to = %aside.display(), "session state unreadable; starting a new session");
                let _ = std::fs::rename(&session_path, &aside);
                None
            }
        },
        Err(_) => None,
    };
    // The last session ended as planned: a new one starts (after that session's own leftovers
    // are handed on, under its name); receipts still awaited carry over.
    let closed = existing.as_ref().is_some_and(|s| s.closed_at.is_some());
    let resumed = existing.is_some() && !closed;
    let session = existing.unwrap_or_else(|| new_session(&camera));
    let ctx = Arc::new(Ctx { args, camera, officer, edge, dir, session: Mutex::new(session) });

    // Segments a killed recorder left behind go first, in order, in the session they belong to.
    let mut ended_by: Option<EndedBy> = resumed.then_some(EndedBy::Restart);
    for (path, side) in ctx.leftovers() {
        let end = std::fs::metadata(&path).and_then(|m| m.modified()).map(DateTime::<Utc>::from).unwrap_or(side.start);
        tracing::warn!(file = %path.display(), "segment left by an interrupted recorder; handing it on");
        ctx.hand_off_until_done(&path, side.index, side.start, end, EndedBy::Split, &shutdown).await;
    }
    if closed {
        let mut s = lock(&ctx.session);
        *s = Session { waiting: std::mem::take(&mut s.waiting), ..new_session(&ctx.camera) };
    }
    tracing::info!(camera = %ctx.camera, session = %lock(&ctx.session).session_id, resumed, "recorder started");

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Rec>();
    let handler = {
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut opened: BTreeMap<PathBuf, DateTime<Utc>> = BTreeMap::new();
            while let Some(ev) = rx.recv().await {
                match ev {
                    Rec::Break(why) => ended_by = Some(why),
                    Rec::Capture(CaptureEvent::Opened { path, start }) => {
                        let index = index_of(&path).unwrap_or_else(|| lock(&ctx.session).next_index);
                        write_sidecar(&path, &Sidecar { index, start });
                        let mut s = lock(&ctx.session);
                        s.next_index = s.next_index.max(index + 1);
                        opened.insert(path, start);
                    }
                    Rec::Capture(CaptureEvent::Discarded { path }) => {
                        opened.remove(&path);
                        let _ = std::fs::remove_file(sidecar_path(&path));
                    }
                    Rec::Capture(CaptureEvent::Closed { path, start, end }) => {
                        opened.remove(&path);
                        let index = read_sidecar(&path).map(|s| s.index).or_else(|| index_of(&path)).unwrap_or_else(|| {
                            let n = lock(&ctx.session).next_index;
                            tracing::warn!(file = %path.display(), index = n, "segment without metadata or index in its name: numbered as the next segment");
                            n
                        });
                        let why = ended_by.take().unwrap_or(EndedBy::Split);
                        ctx.hand_off_until_done(&path, index, start, end, why, &shutdown).await;
                    }
                }
            }
        })
    };
    let receipts = {
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { ctx.watch_receipts(shutdown).await })
    };

    let mut backoff = ctx.args.reconnect_min;
    let mut audio = ctx.args.audio.clone();
    while !shutdown.is_cancelled() {
        // Never reuse a segment file name: segments still on disk (waiting for their receipt,
        // or not yet handed on) would be overwritten.
        let start_index = lock(&ctx.session).next_index.max(next_free_index(&ctx.dir));
        let spec = CaptureSpec {
            url: ctx.args.url.clone(),
            codec: ctx.args.codec.clone(),
            audio: audio.clone(),
            dir: ctx.dir.clone(),
            prefix: lock(&ctx.session).session_id.clone(),
            start_index,
            segment: ctx.args.segment,
            latency_ms: ctx.args.latency_ms,
            stall: ctx.args.stall,
        };
        let tx2 = tx.clone();
        let cancel = shutdown.clone();
        let produced = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let p2 = produced.clone();
        let end = tokio::task::spawn_blocking(move || {
            gst_support::record::capture(
                &spec,
                &move |ev| {
                    p2.store(true, std::sync::atomic::Ordering::Relaxed);
                    // The sidecar exists before anything else happens to the segment, so a
                    // segment left by a kill is always found and handed on.
                    if let CaptureEvent::Opened { path, start } = &ev
                        && let Some(index) = index_of(path)
                    {
                        write_sidecar(path, &Sidecar { index, start: *start });
                    }
                    let _ = tx2.send(Rec::Capture(ev));
                },
                &cancel,
            )
        })
        .await
        .context("capture thread")??;
        match end {
            CaptureEnd::Cancelled => break,
            CaptureEnd::NoAudio(why) => {
                // Video matters more than a configuration mismatch: record it, say so loudly.
                metrics::outage();
                let _ = tx.send(Rec::Break(EndedBy::Outage));
                tracing::error!(camera = %ctx.camera, reason = %why, "the camera does not send the audio asked for (--audio); recording video only until restarted — fix the camera's or the recorder's audio setting");
                audio = None;
            }
            CaptureEnd::Lost(why) => {
                metrics::outage();
                let _ = tx.send(Rec::Break(EndedBy::Outage));
                if produced.load(std::sync::atomic::Ordering::Relaxed) {
                    backoff = ctx.args.reconnect_min;
                }
                tracing::warn!(camera = %ctx.camera, reason = %why, retry_in = ?backoff, "camera stream lost; reconnecting (the hole will be reported as a gap)");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ctx.args.reconnect_max);
            }
        }
    }
    drop(tx);
    let _ = handler.await;
    receipts.abort();
    if planned_end.load(std::sync::atomic::Ordering::SeqCst) {
        let mut s = lock(&ctx.session);
        s.closed_at = Some(Utc::now());
        edge::save(&ctx.dir.join("session.json"), &*s).context("close the session")?;
        tracing::info!(camera = %ctx.camera, session = %s.session_id, "session closed as planned (--duration); the next start opens a new session");
    }
    tracing::info!(camera = %ctx.camera, "recorder stopped");
    Ok(std::process::ExitCode::SUCCESS)
}

/// A session starting now.
fn new_session(camera: &DeviceId) -> Session {
    Session { session_id: format!("{camera}-{}", Utc::now().format("%Y%m%dT%H%M%SZ")), ..Default::default() }
}

/// The segment index in a file name `<prefix>_<NNNNN>.mp4`.
fn index_of(path: &Path) -> Option<u32> {
    let stem = path.file_stem()?.to_str()?;
    stem.rsplit_once('_')?.1.parse().ok()
}

/// One past the highest segment index of any segment file in `dir`.
fn next_free_index(dir: &Path) -> u32 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
                .filter_map(|p| index_of(&p))
                .map(|i| i + 1)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Marker of a segment whose receipt was final (kept with `--keep-sealed`, or rejected).
fn done_path(segment: &Path) -> PathBuf {
    segment.with_extension("mp4.done")
}

fn sidecar_path(segment: &Path) -> PathBuf {
    segment.with_extension("mp4.json")
}

/// Writes a segment's sidecar; a failure is logged (the segment is then found by its name and
/// file times, [`sidecar_or_fallback`]), never ignored silently.
fn write_sidecar(segment: &Path, side: &Sidecar) {
    if let Err(e) = edge::save(&sidecar_path(segment), side) {
        tracing::error!(file = %segment.display(), error = %format!("{e:#}"),
            "could not write the segment's metadata (index, start); if the recorder stops before handing it on, it is found by its name and its file times instead");
    }
}

/// A segment's sidecar, or what its name and file times say: the index from the name, the start
/// from the file's creation time (its last write when the file system keeps none).
fn sidecar_or_fallback(segment: &Path) -> Option<Sidecar> {
    read_sidecar(segment).or_else(|| {
        let m = std::fs::metadata(segment).ok()?;
        let start = m.created().or_else(|_| m.modified()).ok().map(DateTime::<Utc>::from)?;
        Some(Sidecar { index: index_of(segment)?, start })
    })
}

fn read_sidecar(segment: &Path) -> Option<Sidecar> {
    serde_json::from_slice(&std::fs::read(sidecar_path(segment)).ok()?).ok()
}

impl Ctx {
    /// Segments on disk with a sidecar that were never handed on, by index.
    fn leftovers(&self) -> Vec<(PathBuf, Sidecar)> {
        let waiting = lock(&self.session).waiting.clone();
        let mut v: Vec<(PathBuf, Sidecar)> = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
                    .filter(|p| {
                        !waiting.contains_key(&p.file_name().unwrap_or_default().to_string_lossy().into_owned())
                    })
                    .filter(|p| !done_path(p).exists())
                    .filter_map(|p| sidecar_or_fallback(&p).map(|side| (p, side)))
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by_key(|(_, s)| s.index);
        v
    }

    /// Hands a segment on, retrying (with backoff) until it is done or shutdown is requested;
    /// the segment stays on disk either way.
    async fn hand_off_until_done(
        &self,
        path: &Path,
        index: u32,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        ended_by: EndedBy,
        shutdown: &CancellationToken,
    ) {
        let mut wait = Duration::from_millis(500);
        loop {
            match self.hand_off(path, index, start, end, ended_by).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %format!("{e:#}"), retry_in = ?wait, "could not hand the segment on; it stays on disk and is retried");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    async fn hand_off(
        &self,
        path: &Path,
        index: u32,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        ended_by: EndedBy,
    ) -> anyhow::Result<()> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (size, mtime_ns) = object_store::file_identity(path).with_context(|| format!("stat {}", path.display()))?;
        let key = self.edge.landing_key(&self.camera, &name, size, mtime_ns);
        let state = self.dir.join("uploads").join(format!("{name}.json"));
        let stored = self
            .edge
            .upload(&key, path, &state, &self.camera, Some(&self.officer), &|_, _| {})
            .await
            .map_err(|e| anyhow::anyhow!("upload {}: {e}", path.display()))?;
        let (session_id, previous_file, previous_end, previous_blake3) = {
            let s = lock(&self.session);
            (s.session_id.clone(), s.last_file.clone(), s.last_end, s.last_blake3)
        };
        let segment = SegmentV1 {
            session_id,
            index: u64::from(index),
            start,
            end,
            previous_ended_by: previous_file.as_ref().map(|_| ended_by),
            previous_file,
            previous_end,
            previous_blake3,
        };
        let gap = segment.gap_before_s();
        let req = self.edge.request(Recording {
            device: self.camera.clone(),
            officer: self.officer.clone(),
            file_name: name.clone(),
            key,
            size: stored.size,
            blake3: stored.blake3,
            recorded_start: Some(start),
            docked_at: end,
            uploaded_at: Utc::now(),
            segment: Some(segment),
        });
        self.edge.announce(&req).await?;
        let id = req.evidence_id();
        {
            let mut s = lock(&self.session);
            s.last_file = Some(name.clone());
            s.last_end = Some(end);
            s.last_blake3 = Some(stored.blake3);
            s.next_index = s.next_index.max(index + 1);
            let w = match i64::try_from(mtime_ns) {
                Ok(mtime_ns) => Waiting::Uploaded { evidence_id: id, size, mtime_ns },
                Err(_) => Waiting::IdOnly(id),
            };
            s.waiting.insert(name.clone(), w);
            edge::save(&self.dir.join("session.json"), &*s)?;
        }
        metrics::segment(gap);
        tracing::info!(file = %name, index, evidence_id = %id, start = %start, end = %end, gap_before_s = gap, previous_ended_by = %ended_by, "segment handed on");
        Ok(())
    }

    /// Follows the receipts of segments handed on; deletes a sealed one (unless `--keep-sealed`)
    /// only if its bytes are still the sealed ones.
    async fn watch_receipts(&self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            let waiting = lock(&self.session).waiting.clone();
            for (name, w) in waiting {
                let id = w.evidence_id();
                let r = match self.edge.receipt(&id).await {
                    Ok(Some(r)) => r,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::debug!(file = %name, error = %e, "receipt lookup failed; retrying later");
                        continue;
                    }
                };
                let path = self.dir.join(&name);
                let note = match r.status {
                    ReceiptStatus::Sealed if self.args.keep_sealed => {
                        tracing::info!(file = %name, evidence_id = %id, "segment sealed; kept (--keep-sealed)");
                        "sealed, kept (--keep-sealed)".to_owned()
                    }
                    ReceiptStatus::Sealed => match edge::release(&path, &self.camera, &id, w.identity()).await {
                        Ok(()) => {
                            let _ = std::fs::remove_file(sidecar_path(&path));
                            let _ = std::fs::remove_file(self.dir.join("uploads").join(format!("{name}.json")));
                            tracing::info!(file = %name, evidence_id = %id, "segment sealed; deleted after its bytes were checked against the seal");
                            String::new()
                        }
                        Err(e) => {
                            metrics::kept();
                            tracing::error!(file = %name, evidence_id = %id, reason = %e, "segment sealed, but not deleted: it is kept for a person to look at");
                            format!("sealed, not deleted: {e}")
                        }
                    },
                    ReceiptStatus::Rejected => {
                        tracing::error!(file = %name, evidence_id = %id, detail = r.detail.as_deref().unwrap_or(""), "segment rejected by the pipeline; it stays on disk");
                        format!("rejected: {}", r.detail.as_deref().unwrap_or(""))
                    }
                };
                // Final either way: never handed on again at a restart.
                if path.exists() {
                    let _ = std::fs::write(done_path(&path), format!("{:?} {id} {note}\n", r.status));
                }
                let mut s = lock(&self.session);
                s.waiting.remove(&name);
                if let Err(e) = edge::save(&self.dir.join("session.json"), &*s) {
                    tracing::error!(error = %format!("{e:#}"), "could not save the session state; the receipt is looked up again after a restart");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_state_of_either_version_is_read() {
        let id = EvidenceId::derive(&DeviceId::new("ROOM-1").expect("id"), &evidence_contracts::Blake3Digest([7; 32]));
        let old = format!(
            r#"{{"session_id":"ROOM-1-x","next_index":3,"last_file":null,"last_end":null,"waiting":{{"a.mp4":"{id}"}},"closed_at":null}}"#
        );
        let s: Session = serde_json::from_str(&old).expect("a session file from before the release check");
        assert_eq!(s.waiting["a.mp4"].evidence_id(), id);
        assert_eq!(s.waiting["a.mp4"].identity(), None);
        let mut s = s;
        s.waiting.insert(
            "b.mp4".into(),
            Waiting::Uploaded { evidence_id: id, size: 42, mtime_ns: 1_764_000_000_123_456_789 },
        );
        let back: Session = serde_json::from_str(&serde_json::to_string(&s).expect("json")).expect("round trip");
        assert_eq!(back.waiting["b.mp4"].identity(), Some((42, 1_764_000_000_123_456_789)));
        assert_eq!(back.waiting["a.mp4"].identity(), None);
    }

    #[test]
    fn a_new_capture_never_reuses_a_segment_name_still_on_disk() {
        let d = tempfile::tempdir().expect("tmp");
        assert_eq!(next_free_index(d.path()), 0);
        for i in [0u32, 3, 7] {
            std::fs::write(d.path().join(format!("ROOM-1-20261128T000000Z_{i:05}.mp4")), b"x").expect("write");
        }
        std::fs::write(d.path().join("ROOM-1-20261128T000000Z_00009.mp4.json"), b"{}").expect("write");
        assert_eq!(next_free_index(d.path()), 8);
        assert_eq!(index_of(Path::new("/x/ROOM-1-20261128T000000Z_00042.mp4")), Some(42));
    }

    #[test]
    fn a_segment_whose_metadata_was_never_written_is_still_placed_by_name_and_creation_time() {
        let d = tempfile::tempdir().expect("tmp");
        let seg = d.path().join("ROOM-1-20261128T000000Z_00004.mp4");
        std::fs::write(&seg, b"first frames").expect("write");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let mut f = std::fs::OpenOptions::new().append(true).open(&seg).expect("open");
        std::io::Write::write_all(&mut f, b" and later ones").expect("append");
        drop(f);
        let side = sidecar_or_fallback(&seg).expect("placed");
        assert_eq!(side.index, 4);
        let modified: DateTime<Utc> = std::fs::metadata(&seg).expect("meta").modified().expect("mtime").into();
        if std::fs::metadata(&seg).expect("meta").created().is_ok() {
            assert!(side.start < modified, "the start is when the file was created, not its last write");
        }
        // A sidecar, when there is one, wins.
        let start = "2026-11-28T00:00:00Z".parse().expect("t");
        write_sidecar(&seg, &Sidecar { index: 9, start });
        let side = sidecar_or_fallback(&seg).expect("placed");
        assert_eq!((side.index, side.start), (9, start));
    }
}
