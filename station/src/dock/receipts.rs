//! Receipts: what the pipeline said about each published file, and the release of a sealed
//! file from the camera (only with `release = "delete_after_seal"`, only after the byte re-check).

use chrono::Utc;
use edge::ReceiptError;
use evidence_contracts::DeviceId;
use evidence_contracts::station::ReceiptStatus;

use super::Agent;
use super::files::{FileRecord, FileState};
use super::slots::{DEVICE_FILE, DeviceInfo};
use crate::config::Release;
use crate::metrics;
use worker_runtime::lock;

impl Agent {
    /// Looks up the receipt of every published file; stops at the first lookup that fails (the
    /// server is then asked again at the next interval).
    pub(super) async fn poll_receipts(&self) {
        let waiting: Vec<FileRecord> =
            lock(&self.files).records.values().filter(|r| r.state == FileState::Published).cloned().collect();
        for mut r in waiting {
            let Some(id) = r.evidence_id else { continue };
            let receipt = match self.edge.receipt(&id).await {
                Ok(Some(rc)) => rc,
                Ok(None) => continue,
                Err(e @ ReceiptError::Unreadable { .. }) => {
                    tracing::error!(file = %r.path.display(), error = %e, "unreadable receipt; the file stays published until a readable one arrives");
                    continue;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "receipt lookup failed; retrying later");
                    return;
                }
            };
            match receipt.status {
                ReceiptStatus::Sealed => {
                    r.state = FileState::Sealed;
                    r.reason = None;
                    tracing::info!(file = %r.path.display(), evidence_id = %id, package = receipt.package.as_deref().unwrap_or(""), "sealed; the file may be released from the device");
                    if self.cfg.dock.release == Release::DeleteAfterSeal {
                        self.release(&mut r).await;
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
                    metrics::refused(self.station(), "rejected");
                }
            }
            r.updated = Utc::now();
            self.save(&r);
        }
    }

    /// Deletes a sealed file from the camera if the slot still holds the same device and the
    /// file still holds the sealed bytes ([`edge::release`]); otherwise keeps it and says why.
    async fn release(&self, r: &mut FileRecord) {
        let checked = match (self.same_device_docked(r), DeviceId::new(&r.device), r.evidence_id) {
            (Err(why), _, _) => Err(why),
            (Ok(()), Ok(device), Some(id)) => {
                edge::release(&r.path, &device, &id, Some((r.size, r.mtime_ns))).await.map_err(|e| e.to_string())
            }
            (Ok(()), _, _) => Err("its state lacks a valid device or evidence id".to_owned()),
        };
        match checked {
            Ok(()) => {
                r.released = true;
                tracing::info!(file = %r.path.display(), "deleted from the device after sealing (its bytes checked against the seal)");
            }
            Err(why) => {
                tracing::warn!(file = %r.path.display(), reason = %why, "sealed, but the file on the device is not the one sealed (or could not be checked or deleted); it is kept");
                r.reason = Some(format!("sealed; not deleted from the device: {why}"));
            }
        }
    }

    /// Whether `r`'s slot still holds the device the file came from.
    fn same_device_docked(&self, r: &FileRecord) -> Result<(), String> {
        let slot = self.cfg.dock.all_slots().into_iter().find(|s| s.name == r.slot).ok_or("its slot is gone")?;
        let info = edge::load::<DeviceInfo>(&slot.path.join(DEVICE_FILE))
            .map_err(|e| format!("{e:#}"))?
            .ok_or("the device is no longer docked")?;
        if info.serial != r.device {
            return Err(format!("slot {} now holds device {}, not {}", r.slot, info.serial, r.device));
        }
        Ok(())
    }
}
