//! Slots: which camera is docked where, what is on it, its docking record, and which of its
//! files are new to the agent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use evidence_contracts::keys::check_file_name;
use evidence_contracts::station::{DeviceFileV1, DockingSchema, DockingV1};
use evidence_contracts::{DeviceId, OfficerId};
use serde::{Deserialize, Serialize};

use super::Agent;
use super::files::{FileRecord, FileState, record_id};
use crate::config::SlotConfig;
use crate::metrics;
use worker_runtime::lock;

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

/// A slot's docking as the agent recorded it (`<state_dir>/slots/<slot>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SlotState {
    device: String,
    pub(super) docked_at: DateTime<Utc>,
    recorded: bool,
}

/// One file found on a docked device.
struct Found<'a> {
    slot: &'a SlotConfig,
    device: &'a DeviceId,
    officer: Option<&'a String>,
    path: &'a Path,
    rel: &'a str,
    name: &'a str,
    size: u64,
    mtime_ns: i128,
    recorded_start: Option<DateTime<Utc>>,
    docked_at: DateTime<Utc>,
}

impl Agent {
    /// Looks at every slot; returns the ids of the files currently on docked devices.
    pub(super) async fn scan(self: &Arc<Self>) -> Vec<String> {
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
        let Some(info) = edge::load::<DeviceInfo>(&info_path)? else {
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
        let mut st = match edge::load::<SlotState>(&state_path)? {
            Some(s) if s.device == device.as_str() => s,
            _ => {
                tracing::info!(slot = %slot.name, device = %device, officer = officer.as_deref().unwrap_or("(unbound)"), "device docked");
                let s = SlotState { device: device.to_string(), docked_at: Utc::now(), recorded: false };
                edge::save(&state_path, &s)?;
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
            ids.push(record_id(device.as_str(), &rel));
            self.note_file(&Found {
                slot,
                device: &device,
                officer: officer.as_ref(),
                path: &path,
                rel: &rel,
                name: &name,
                size,
                mtime_ns,
                recorded_start,
                docked_at: st.docked_at,
            })?;
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
                station_id: self.edge.station().clone(),
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
            match worker_runtime::nats::publish(self.edge.jetstream(), &rec).await {
                Ok(_) => {
                    st.recorded = true;
                    edge::save(&state_path, &st)?;
                    metrics::docking(self.station());
                    if let Some(o) = offset
                        && o.abs() > 60.0
                    {
                        tracing::warn!(slot = %slot.name, device = %device, clock_offset_s = o, "device clock is off by more than a minute");
                    }
                    tracing::info!(slot = %slot.name, device = %device, files = rec.files.len(), "docking recorded");
                }
                Err(e) => {
                    self.back_off(e.reason(), &format!("record docking of {device}: {e}"));
                }
            }
        }
        Ok(ids)
    }

    /// Officer and recording start from the file name (`dock.name_pattern`), when it says.
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

    /// Takes note of a file on a docked device: a new record (`new`, or `refused`/`blocked`
    /// with the reason), or what a known record's state means for the file as it is now.
    fn note_file(&self, f: &Found<'_>) -> anyhow::Result<()> {
        let id = record_id(f.device.as_str(), f.rel);
        let mut files = lock(&self.files);
        if let Some(r) = files.records.get_mut(&id) {
            if (r.size, r.mtime_ns) == (f.size, f.mtime_ns) {
                if r.state == FileState::Blocked && f.officer.is_some() {
                    r.state = FileState::New;
                    r.officer = f.officer.cloned();
                    r.reason = None;
                    edge::save(&self.dirs.files.join(format!("{id}.json")), &*r)?;
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
                edge::save(&old, &*r)?;
            } else if r.state == FileState::New && !self.dirs.uploads.join(format!("{id}.json")).exists() {
                // Not yet started: take the file as it is now.
            } else {
                return Ok(()); // the upload notices the change and refuses the file
            }
        }
        let station = self.edge.station();
        let mut state = FileState::New;
        let mut reason = None;
        if let Err(e) = check_file_name(f.name) {
            state = FileState::Refused;
            reason = Some(format!("file name cannot be stored: {e}; rename is not allowed on evidence, report it"));
            metrics::refused(station.as_str(), "invalid_name");
        } else if f.officer.is_none() {
            state = FileState::Blocked;
            reason = Some(format!(
                "device {} is not bound to an officer: add it to dock.bindings (station {station}) and restart",
                f.device
            ));
            metrics::refused(station.as_str(), "unbound");
        }
        let now = Utc::now();
        let r = FileRecord {
            id: id.clone(),
            slot: f.slot.name.clone(),
            device: f.device.to_string(),
            officer: f.officer.cloned(),
            rel_path: f.rel.to_owned(),
            path: f.path.to_owned(),
            size: f.size,
            mtime_ns: f.mtime_ns,
            key: self.edge.landing_key(f.device, f.name, f.size, f.mtime_ns),
            state,
            first_seen: now,
            docked_at: f.docked_at,
            recorded_start: f.recorded_start,
            blake3: None,
            evidence_id: None,
            reason,
            released: false,
            updated: now,
        };
        edge::save(&self.dirs.files.join(format!("{id}.json")), &r)?;
        files.records.insert(id, r);
        Ok(())
    }
}

/// Recording files below a slot's mount point (hidden files and folders skipped, at most six
/// folders deep).
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
