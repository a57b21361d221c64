//! Object-key layout. Two buckets:
//!
//! * the **working bucket** holds what stations upload and what stages hand each other:
//!   - `landing/<station_id>/<device_id>/<upload_id>/<file_name>`: the upload, as pushed. The
//!     upload id is chosen by the station, stable across retries of the same file (see
//!     [`upload_id`]), so an interrupted push overwrites only its own half-upload;
//!   - `staging/<evidence_id>/<name>`: the continuity report and the copies, before sealing.
//!     Staging keys are deterministic, so a redelivered job overwrites its own half-work.
//! * the **evidence bucket** is written only by the sealer, put-if-absent, never overwritten:
//!   - `evidence/<officer_id>/<yyyy>/<mm>/<dd>/<evidence_id>/original/<file_name>`
//!   - `…/<evidence_id>/derivatives/<profile>.<ext>`
//!   - `…/<evidence_id>/continuity.json`
//!   - `…/<evidence_id>/original/<stem>.c2pa`: C2PA sidecar manifest bound to the original
//!   - `…/<evidence_id>/derivatives/<profile>.c2pa`: sidecar of a copy c2pa cannot embed into
//!   - `…/<evidence_id>/seal.json`: written after every object above; lists them all
//!   - `…/<evidence_id>/seal.sig`: detached ES256 signature over `seal.json`, written after it
//!   - `ledger/checkpoints/<seq:020>.json` and `.sig`: signed custody-ledger checkpoints
//!
//!   The date is the recording's start (UTC) when known, else the docking time.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{DeviceId, EvidenceId, OfficerId, StationId};

/// A bucket and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// Why a file name cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("file_name is empty")]
    Empty,
    #[error("file_name \"{0}\" contains a path separator or is a relative path component; give the bare file name")]
    NotBare(String),
    #[error("file_name \"{0}\" is longer than 255 bytes")]
    TooLong(String),
    #[error("file_name \"{0}\" contains a control character")]
    Control(String),
}

/// Checks that a recording's file name can be an object-key segment as it is. File names are
/// kept verbatim (they carry the recorder's officer/device/time naming), so bad ones are refused,
/// not rewritten.
///
/// # Errors
/// [`KeyError`] names what is wrong.
pub fn check_file_name(name: &str) -> Result<(), KeyError> {
    if name.is_empty() {
        return Err(KeyError::Empty);
    }
    if name.contains('/') || name.contains('\\') || name == "." || name == ".." {
        return Err(KeyError::NotBare(name.to_owned()));
    }
    if name.len() > 255 {
        return Err(KeyError::TooLong(name.to_owned()));
    }
    if name.chars().any(char::is_control) {
        return Err(KeyError::Control(name.to_owned()));
    }
    Ok(())
}

pub fn landing(station: &StationId, device: &DeviceId, upload_id: &str, file_name: &str) -> String {
    format!("landing/{station}/{device}/{upload_id}/{file_name}")
}

/// The upload id a station uses for a file: 16 hex digits of BLAKE3 over station, device, file
/// name, size and modification time. The same file retried gets the same key; a different
/// file with the same name (a camera that reuses names) gets another. The content hash cannot
/// be used: it is known only once the upload has read the whole file.
pub fn upload_id(station: &StationId, device: &DeviceId, file_name: &str, size: u64, mtime_ns: i128) -> String {
    let mut h = blake3::Hasher::new_derive_key("evidence-pipeline landing upload-id v1");
    for part in [station.as_str().as_bytes(), device.as_str().as_bytes(), file_name.as_bytes()] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(&size.to_le_bytes());
    h.update(&mtime_ns.to_le_bytes());
    h.finalize().to_hex()[..16].to_owned()
}

pub fn staging(evidence: &EvidenceId, name: &str) -> String {
    format!("staging/{evidence}/{name}")
}

/// The key prefix of one evidence package (ends with `/`).
pub fn evidence_prefix(officer: &OfficerId, day: DateTime<Utc>, evidence: &EvidenceId) -> String {
    format!("evidence/{officer}/{}/{evidence}/", day.format("%Y/%m/%d"))
}

/// The keys inside one evidence package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageKeys {
    pub prefix: String,
}

impl PackageKeys {
    pub fn new(officer: &OfficerId, day: DateTime<Utc>, evidence: &EvidenceId) -> Self {
        Self { prefix: evidence_prefix(officer, day, evidence) }
    }
    pub fn original(&self, file_name: &str) -> String {
        format!("{}original/{file_name}", self.prefix)
    }
    pub fn derivative(&self, profile: &str, ext: &str) -> String {
        format!("{}derivatives/{profile}.{ext}", self.prefix)
    }
    pub fn continuity_report(&self) -> String {
        format!("{}continuity.json", self.prefix)
    }
    pub fn seal_record(&self) -> String {
        format!("{}seal.json", self.prefix)
    }
    /// The detached signature over `seal.json`.
    pub fn seal_signature(&self) -> String {
        format!("{}seal.sig", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_kept_or_refused() {
        assert!(check_file_name("OF1234_CAM77_20261128093000_0001.MP4").is_ok());
        assert_eq!(check_file_name("../x"), Err(KeyError::NotBare("../x".into())));
        assert_eq!(check_file_name(""), Err(KeyError::Empty));
        assert!(check_file_name("a\nb").is_err());
    }

    #[test]
    fn package_layout() {
        let id: EvidenceId = "0190d7a8-0000-8000-8000-000000000001".parse().unwrap();
        let day = DateTime::parse_from_rfc3339("2026-11-28T09:30:00Z").unwrap().with_timezone(&Utc);
        let p = PackageKeys::new(&OfficerId::new("OF1").unwrap(), day, &id);
        assert_eq!(p.seal_record(), format!("evidence/OF1/2026/11/28/{id}/seal.json"));
        assert_eq!(p.derivative("access", "mp4"), format!("evidence/OF1/2026/11/28/{id}/derivatives/access.mp4"));
    }
}
