//! Release: a producer deletes its copy of a recording only once it is sealed, and only if the
//! bytes on its disk are still the ones that were sealed.
//!
//! The check is the evidence id itself: ids are derived from the device and the BLAKE3 of the
//! bytes (`EvidenceId::derive`), so the file's BLAKE3, read again now, must derive the id the
//! sealed receipt names. Size and modification time, when known, are compared first (cheap, and a
//! clearer message). A file that fails the check is kept, with the reason.

use std::path::Path;

use evidence_contracts::{DeviceId, EvidenceId};

/// Why a sealed file was not released; it stays where it is.
#[derive(Debug, thiserror::Error)]
pub enum NotReleased {
    #[error("{path}: cannot be read to check it ({detail})")]
    Unreadable { path: String, detail: String },
    #[error("{path}: its size or modification time changed since the upload")]
    Changed { path: String },
    #[error("{path}: its content is not what was sealed as {sealed} (it hashes to evidence id {now})")]
    Different { path: String, sealed: EvidenceId, now: EvidenceId },
    #[error("{path}: sealed and checked, but could not be deleted ({detail})")]
    NotDeleted { path: String, detail: String },
}

/// Whether `path` still holds the bytes sealed as `sealed` for `device`: size and modification
/// time equal `identity` (when given), and its BLAKE3 derives the same evidence id. Reads the
/// whole file once (on a blocking thread, in blocks: memory stays flat).
///
/// # Errors
/// [`NotReleased`] naming the file and what differs.
pub async fn still_sealed(
    path: &Path,
    device: &DeviceId,
    sealed: &EvidenceId,
    identity: Option<(u64, i128)>,
) -> Result<(), NotReleased> {
    let shown = path.display().to_string();
    let unreadable = |detail: String| NotReleased::Unreadable { path: shown.clone(), detail };
    if let Some(expected) = identity {
        let now = object_store::file_identity(path).map_err(|e| unreadable(e.to_string()))?;
        if now != expected {
            return Err(NotReleased::Changed { path: shown });
        }
    }
    let owned = path.to_owned();
    let b3 = tokio::task::spawn_blocking(move || object_store::blake3_file(&owned))
        .await
        .map_err(|e| unreadable(e.to_string()))?
        .map_err(|e| unreadable(e.to_string()))?;
    let now = EvidenceId::derive(device, &b3);
    if now != *sealed {
        return Err(NotReleased::Different { path: shown, sealed: *sealed, now });
    }
    Ok(())
}

/// Deletes `path` after [`still_sealed`] says it holds the sealed bytes.
///
/// # Errors
/// [`NotReleased`]: the check failed (the file is kept) or the delete did.
pub async fn release(
    path: &Path,
    device: &DeviceId,
    sealed: &EvidenceId,
    identity: Option<(u64, i128)>,
) -> Result<(), NotReleased> {
    still_sealed(path, device, sealed, identity).await?;
    std::fs::remove_file(path)
        .map_err(|e| NotReleased::NotDeleted { path: path.display().to_string(), detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
    }

    #[test]
    fn only_the_sealed_bytes_are_released() {
        let d = tempfile::tempdir().expect("tmp");
        let f = d.path().join("ROOM-1_00001.mp4");
        std::fs::write(&f, b"segment bytes as sealed").expect("write");
        let device = DeviceId::new("ROOM-1").expect("id");
        let sealed = EvidenceId::derive(&device, &object_store::blake3_file(&f).expect("hash"));
        let identity = object_store::file_identity(&f).expect("stat");

        // Rewritten with other bytes of the same length: size check passes without identity,
        // the content check does not.
        std::fs::write(&f, b"segment bytes NOT sealed").expect("write");
        let e = rt().block_on(release(&f, &device, &sealed, None)).expect_err("different bytes");
        assert!(matches!(e, NotReleased::Different { .. }), "{e}");
        assert!(f.exists(), "a file that is not the sealed one is kept");
        let e = rt().block_on(release(&f, &device, &sealed, Some(identity))).expect_err("changed");
        assert!(matches!(e, NotReleased::Changed { .. } | NotReleased::Different { .. }), "{e}");

        // Another device's id for the same bytes is not this recording either.
        std::fs::write(&f, b"segment bytes as sealed").expect("write");
        let other = DeviceId::new("ROOM-2").expect("id");
        assert!(rt().block_on(release(&f, &other, &sealed, None)).is_err());
        assert!(f.exists());

        rt().block_on(release(&f, &device, &sealed, None)).expect("the sealed bytes are released");
        assert!(!f.exists());
        let e = rt().block_on(release(&f, &device, &sealed, None)).expect_err("gone");
        assert!(matches!(e, NotReleased::Unreadable { .. }), "{e}");
    }
}
