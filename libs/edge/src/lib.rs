//! The edge of the pipeline: what every producer of recordings does, once.
//!
//! A producer (the docking-station agent `station dock`, the RTSP recorder `recorder`) holds a
//! recording on its own disk and must get it sealed without ever losing it:
//!
//! 1. keep its own progress in small crash-safe state files ([`save`], [`load`]);
//! 2. upload the file to its landing prefix, resumably, BLAKE3 computed over the bytes sent
//!    ([`Edge::upload`]);
//! 3. announce it with an [`IngestRequestV1`] under a stable message id ([`Edge::announce`]);
//! 4. follow its receipt ([`Edge::receipt`]) until it says sealed or rejected;
//! 5. release its copy only if the bytes on disk are still the ones sealed ([`release`]).
//!
//! A kill between any two steps repeats the step: the upload resumes from its state file, the
//! request is published again under the same message id (JetStream drops the duplicate), the
//! receipt is looked up again. What is producer-specific (slots and bindings at a station, segments
//! and sessions at a camera) stays with the producer.

mod backoff;
mod release;

use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use evidence_contracts::ingest::{IngestRequestSchema, IngestRequestV1, SegmentV1};
use evidence_contracts::keys::{self, ObjectRef};
use evidence_contracts::station::ReceiptV1;
use evidence_contracts::{Blake3Digest, DeviceId, EvidenceId, OfficerId, StationId, decode, subjects};
use object_store::{PutOpts, ResumeError, Store, UploadOutcome};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use backoff::Backoff;
pub use release::{NotReleased, release, still_sealed};

/// Writes a state file so that a crash leaves the old or the new version, never a torn one
/// (temporary file, fsync, rename, fsync of the folder).
///
/// # Errors
/// The folder cannot be written; the message names the file.
pub fn save<T: Serialize>(path: &Path, v: &T) -> anyhow::Result<()> {
    object_store::write_json_durably(path, v).with_context(|| format!("write {}", path.display()))
}

/// Reads a state file written by [`save`]; `None` when there is none.
///
/// # Errors
/// Unreadable, or not what it should be; the message names the file.
pub fn load<T: DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    object_store::read_json(path).with_context(|| format!("read {}", path.display()))
}

/// One producer's connection to the pipeline: its station id, the landing area (the working
/// bucket) and JetStream.
#[derive(Clone)]
pub struct Edge {
    station: StationId,
    store: Store,
    bucket: String,
    js: async_nats::jetstream::Context,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge").field("station", &self.station).field("bucket", &self.bucket).finish()
    }
}

/// A recording ready to be announced: what the producer knows of it.
#[derive(Debug, Clone)]
pub struct Recording {
    pub device: DeviceId,
    pub officer: OfficerId,
    pub file_name: String,
    /// The landing key it was uploaded to ([`Edge::landing_key`]).
    pub key: String,
    pub size: u64,
    pub blake3: Blake3Digest,
    pub recorded_start: Option<DateTime<Utc>>,
    /// When the device was docked (a camera segment: when it closed).
    pub docked_at: DateTime<Utc>,
    pub uploaded_at: DateTime<Utc>,
    /// A fixed camera's segment: its place in the session.
    pub segment: Option<SegmentV1>,
}

/// What a receipt lookup found.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The receipts stream could not be asked (NATS down, no permission): try again later.
    #[error("look up receipt {subject}: {detail}")]
    Lookup { subject: String, detail: String },
    /// A receipt is there but is not a receipt this version reads.
    #[error("receipt {subject} is unreadable: {detail}")]
    Unreadable { subject: String, detail: String },
}

impl Edge {
    /// An edge over a store client (its `working_bucket` is the landing area) and JetStream.
    pub fn new(station: StationId, store: Store, js: async_nats::jetstream::Context) -> Self {
        let bucket = store.config().working_bucket.clone();
        Self { station, store, bucket, js }
    }

    /// The store client (for a producer's own start-up checks).
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn station(&self) -> &StationId {
        &self.station
    }

    pub fn jetstream(&self) -> &async_nats::jetstream::Context {
        &self.js
    }

    /// The landing key of a file: `landing/<station>/<device>/<upload id>/<name>`, the upload id
    /// derived from station, device, name, size and modification time (the same file gets the
    /// same key after a restart; a new recording under a reused name gets another).
    pub fn landing_key(&self, device: &DeviceId, file_name: &str, size: u64, mtime_ns: i128) -> String {
        keys::landing(
            &self.station,
            device,
            &keys::upload_id(&self.station, device, file_name, size, mtime_ns),
            file_name,
        )
    }

    /// Uploads `path` to `key` in the landing area, resumably: progress is kept in
    /// `state_path`, a restarted upload re-checks the parts already sent and refuses a file that
    /// changed ([`ResumeError::Changed`]). `progress(done, total)` is called after each part.
    ///
    /// # Errors
    /// See [`ResumeError`]: the file changed, the device or the store cannot be read or written.
    pub async fn upload(
        &self,
        key: &str,
        path: &Path,
        state_path: &Path,
        device: &DeviceId,
        officer: Option<&OfficerId>,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<UploadOutcome, ResumeError> {
        let opts = self.put_opts(device, officer);
        self.store.upload_file_resumable(&self.bucket, key, path, state_path, &opts, progress).await
    }

    /// Uploads `path` to `key` in one go, without a state file (`station push`: a person runs it
    /// again if it fails).
    ///
    /// # Errors
    /// The file cannot be read, the store refuses or cannot be reached.
    pub async fn upload_once(
        &self,
        key: &str,
        path: &Path,
        device: &DeviceId,
        officer: &OfficerId,
    ) -> Result<object_store::Stored, object_store::StoreError> {
        self.store.upload_file(&self.bucket, key, path, None, &self.put_opts(device, Some(officer))).await
    }

    /// Every landing object carries who made it: station, device and officer as metadata.
    fn put_opts(&self, device: &DeviceId, officer: Option<&OfficerId>) -> PutOpts {
        PutOpts {
            metadata: vec![
                ("station".into(), self.station.to_string()),
                ("device".into(), device.to_string()),
                ("officer".into(), officer.map(ToString::to_string).unwrap_or_default()),
            ],
            ..Default::default()
        }
    }

    /// The ingest request for an uploaded recording.
    pub fn request(&self, r: Recording) -> IngestRequestV1 {
        IngestRequestV1 {
            schema: IngestRequestSchema,
            station_id: self.station.clone(),
            device_id: r.device,
            officer_id: r.officer,
            file_name: r.file_name,
            size_bytes: r.size,
            blake3: r.blake3,
            landing: ObjectRef { bucket: self.bucket.clone(), key: r.key },
            recorded_start: r.recorded_start,
            docked_at: r.docked_at,
            uploaded_at: r.uploaded_at,
            segment: r.segment,
        }
    }

    /// Publishes an ingest request (message id derived from the evidence id, so a repeat after a
    /// kill is dropped by JetStream); returns whether it was such a duplicate.
    ///
    /// # Errors
    /// No ack from the stream; [`worker_runtime::nats::PublishError::reason`] says whether the
    /// server was busy or unreachable.
    pub async fn announce(&self, req: &IngestRequestV1) -> Result<bool, worker_runtime::nats::PublishError> {
        worker_runtime::nats::publish(&self.js, req).await
    }

    /// The newest receipt for `id` at this station; `None` while there is none.
    ///
    /// # Errors
    /// The stream cannot be asked, or the receipt cannot be read.
    pub async fn receipt(&self, id: &EvidenceId) -> Result<Option<ReceiptV1>, ReceiptError> {
        let subject = subjects::receipt(&self.station, id);
        let lookup = |detail: String| ReceiptError::Lookup { subject: subject.clone(), detail };
        let stream = self.js.get_stream_no_info(subjects::RECEIPTS_STREAM).await.map_err(|e| lookup(e.to_string()))?;
        let msg = match stream.direct_get_last_for_subject(subject.clone()).await {
            Ok(m) => m,
            Err(e) if e.kind() == async_nats::jetstream::stream::DirectGetErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(lookup(e.to_string())),
        };
        decode::<ReceiptV1>(&msg.payload)
            .map(Some)
            .map_err(|e| ReceiptError::Unreadable { subject: subject.clone(), detail: e.to_string() })
    }
}
