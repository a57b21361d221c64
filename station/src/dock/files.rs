//! One recording's states at the station, and the two steps that move it on: the resumable
//! upload (`new` → `uploaded`) and the ingest request (`uploaded` → `published`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use edge::Recording;
use evidence_contracts::{Blake3Digest, DeviceId, EvidenceId, OfficerId};
use object_store::{ResumeError, StoreError};
use serde::{Deserialize, Serialize};

use super::Agent;
use crate::metrics;
use worker_runtime::lock;

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
    pub(super) fn as_str(self) -> &'static str {
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
    pub(super) fn is_final(self) -> bool {
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

/// The record id of a file: its device and path on the device.
pub(super) fn record_id(device: &str, rel_path: &str) -> String {
    let mut h = blake3::Hasher::new_derive_key("evidence-pipeline station file-record v1");
    h.update(device.as_bytes());
    h.update(&[0]);
    h.update(rel_path.as_bytes());
    h.finalize().to_hex()[..24].to_owned()
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
        _ if e.is_config_fault() => "refused_credentials",
        _ => "other",
    };
    (reason, e.to_string())
}

impl Agent {
    /// Moves one file on as far as it goes now: upload (if `new`), then announce (if `uploaded`).
    pub(super) async fn process(self: &Arc<Self>, id: &str) {
        let Some(mut r) = lock(&self.files).records.get(id).cloned() else { return };
        if r.state == FileState::New && !self.upload(id, &mut r).await {
            return;
        }
        if r.state == FileState::Uploaded {
            self.announce(id, &mut r).await;
        }
    }

    /// The resumable upload; false when the file did not get to `uploaded` (refused, or
    /// backing off: every such path is logged by [`Agent::back_off`] or here).
    async fn upload(self: &Arc<Self>, id: &str, r: &mut FileRecord) -> bool {
        let station = self.station();
        let progress = {
            let me = self.clone();
            let id = id.to_owned();
            move |done: u64, total: u64| {
                lock(&me.files).progress.insert(id.clone(), (done, total));
            }
        };
        let Ok(device) = DeviceId::new(&r.device) else {
            tracing::error!(file = %r.path.display(), device = %r.device, "the device id in this file's state is not valid; it stays new (check the state file)");
            return false;
        };
        let officer = r.officer.as_deref().and_then(|o| OfficerId::new(o).ok());
        let state_path = self.dirs.uploads.join(format!("{id}.json"));
        match self.edge.upload(&r.key, &r.path, &state_path, &device, officer.as_ref(), &progress).await {
            Ok(out) => {
                metrics::uploaded(station, out.sent_bytes, out.resumed_bytes);
                tracing::info!(file = %r.path.display(), bytes = out.size, resumed_bytes = out.resumed_bytes, blake3 = %out.blake3, "uploaded");
                r.blake3 = Some(out.blake3);
                r.state = FileState::Uploaded;
                r.updated = Utc::now();
                self.save(r);
                self.succeeded(id);
                true
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
                self.save(r);
                false
            }
            Err(ResumeError::Store(e)) if scope_of(&e, &r.path) == Scope::File => {
                self.back_off_file(id, "device_read", &format!("{e}; check the device in slot {}", r.slot));
                false
            }
            Err(ResumeError::Store(e)) => {
                let (reason, detail) = classify_store(&e);
                self.back_off(reason, &format!("upload {}: {detail}", r.path.display()));
                false
            }
            Err(e) => {
                self.back_off("other", &format!("upload {}: {e}", r.path.display()));
                false
            }
        }
    }

    /// The ingest request; the file stays `uploaded` (and the reason is logged) when it cannot go.
    async fn announce(&self, id: &str, r: &mut FileRecord) {
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
        let req = self.edge.request(Recording {
            device,
            officer,
            file_name: r.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            key: r.key.clone(),
            size: r.size,
            blake3: b3,
            recorded_start: r.recorded_start,
            docked_at: r.docked_at,
            uploaded_at: r.updated,
            segment: None,
        });
        match self.edge.announce(&req).await {
            Ok(duplicate) => {
                r.evidence_id = Some(req.evidence_id());
                r.state = FileState::Published;
                r.updated = Utc::now();
                tracing::info!(file = %r.path.display(), evidence_id = %req.evidence_id(), duplicate, "ingest request published");
                self.save(r);
                self.succeeded(id);
            }
            Err(e) => {
                self.back_off(e.reason(), &format!("publish the ingest request for {}: {e}", r.path.display()));
            }
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
    fn a_device_read_error_holds_up_its_file_only() {
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
    }

    #[test]
    fn storage_full_busy_and_a_refused_key_are_told_apart() {
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
        assert_eq!(classify_store(&svc(403, "AccessDenied")).0, "refused_credentials");
        assert_eq!(classify_store(&svc(400, "InvalidArgument")).0, "other");
    }
}
