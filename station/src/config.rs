//! `station.toml`: where to push, and (for `station dock`) the station's slots, bindings and
//! behaviour. Every key has a default; `deploy/config/station.toml` is the reference.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use worker_runtime::config::{NatsConfig, TelemetryConfig};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub nats: NatsConfig,
    pub s3: object_store::S3Config,
    pub telemetry: TelemetryConfig,
    pub dock: DockConfig,
}

/// What to do with a file on the camera once its receipt says sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Release {
    /// Leave it; the camera's own housekeeping (or an operator) clears it. Default.
    #[default]
    Keep,
    /// Delete it from the camera, and only once it is sealed.
    DeleteAfterSeal,
}

/// One docking slot: the folder where the camera in that slot is mounted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotConfig {
    pub name: String,
    pub path: PathBuf,
}

/// `[dock]`: the station agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockConfig {
    /// This station's id (also its NATS subject token). Env override: `STATION_ID`.
    pub station_id: String,
    /// Where upload progress and per-file state survive restarts and power loss.
    /// Default `/var/lib/evidence-station`.
    pub state_dir: PathBuf,
    /// Slots listed one by one.
    pub slots: Vec<SlotConfig>,
    /// A folder whose every sub-folder is a slot (named after it), e.g. `/media/dock`.
    pub slots_dir: Option<PathBuf>,
    /// Device serial → officer id: the binding registered when a camera is issued.
    pub bindings: BTreeMap<String, String>,
    /// File extensions (case-insensitive) taken as recordings.
    pub extensions: Vec<String>,
    /// Regex over the file name with optional named groups `officer` and `start`.
    pub name_pattern: String,
    /// chrono format of the `start` group.
    pub name_time_format: String,
    /// The UTC offset cameras write local times in (`+08:00`).
    pub device_utc_offset: String,
    /// A file modified less than this long ago is left for the next scan (still being written).
    #[serde(with = "humantime_serde")]
    pub settle: Duration,
    #[serde(with = "humantime_serde")]
    pub scan_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub receipt_interval: Duration,
    /// Service mode: one status line per slot this often.
    #[serde(with = "humantime_serde")]
    pub status_interval: Duration,
    pub parallel_uploads: usize,
    #[serde(with = "humantime_serde")]
    pub backoff_min: Duration,
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    pub release: Release,
}

impl Default for DockConfig {
    fn default() -> Self {
        Self {
            station_id: String::new(),
            state_dir: PathBuf::from("/var/lib/evidence-station"),
            slots: Vec::new(),
            slots_dir: None,
            bindings: BTreeMap::new(),
            extensions: ["mp4", "mov", "avi", "ts", "mts", "m2ts", "mkv", "wav", "aac", "mp3"]
                .map(String::from)
                .to_vec(),
            name_pattern: r"^(?P<officer>[A-Za-z0-9]+)_(?P<start>\d{14})".into(),
            name_time_format: "%Y%m%d%H%M%S".into(),
            device_utc_offset: "+08:00".into(),
            settle: Duration::from_secs(5),
            scan_interval: Duration::from_secs(5),
            receipt_interval: Duration::from_secs(10),
            status_interval: Duration::from_secs(30),
            parallel_uploads: 4,
            backoff_min: Duration::from_secs(2),
            backoff_max: Duration::from_secs(300),
            release: Release::Keep,
        }
    }
}

impl DockConfig {
    /// Checks what `station dock` needs.
    ///
    /// # Errors
    /// Names the key and what to put there.
    pub fn validate(&self) -> anyhow::Result<()> {
        evidence_contracts::StationId::new(&self.station_id)
            .context("dock.station_id (or STATION_ID) must be this station's id")?;
        if self.slots.is_empty() && self.slots_dir.is_none() {
            bail!("dock.slots and dock.slots_dir are both empty: configure where docked cameras are mounted");
        }
        regex::Regex::new(&self.name_pattern).context("dock.name_pattern is not a valid regex")?;
        self.utc_offset()?;
        if self.parallel_uploads == 0 {
            bail!("dock.parallel_uploads must be at least 1");
        }
        for (dev, off) in &self.bindings {
            evidence_contracts::DeviceId::new(dev).with_context(|| format!("dock.bindings: device \"{dev}\""))?;
            evidence_contracts::OfficerId::new(off)
                .with_context(|| format!("dock.bindings.\"{dev}\": officer \"{off}\""))?;
        }
        Ok(())
    }

    /// # Errors
    /// Not `+HH:MM` / `-HH:MM`.
    pub fn utc_offset(&self) -> anyhow::Result<chrono::FixedOffset> {
        let s = &self.device_utc_offset;
        let parsed = chrono::DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{s}"))
            .with_context(|| format!("dock.device_utc_offset \"{s}\" is not like +08:00"))?;
        Ok(*parsed.offset())
    }

    /// The slots: listed ones plus every sub-folder of `slots_dir`.
    pub fn all_slots(&self) -> Vec<SlotConfig> {
        let mut v = self.slots.clone();
        if let Some(dir) = &self.slots_dir
            && let Ok(rd) = std::fs::read_dir(dir)
        {
            let mut found: Vec<SlotConfig> = rd
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| SlotConfig { name: e.file_name().to_string_lossy().into_owned(), path: e.path() })
                .collect();
            found.sort_by(|a, b| a.name.cmp(&b.name));
            v.extend(found);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_config_parses_and_validates() {
        let cfg: Config =
            worker_runtime::config::parse_toml(include_str!("../../deploy/config/station.toml")).expect("parses");
        cfg.s3.validate().expect("valid [s3]");
        cfg.dock.validate().expect("valid [dock]");
        assert!(cfg.nats.url.starts_with("nats://"));
        assert_eq!(cfg.dock.utc_offset().expect("offset").local_minus_utc(), 8 * 3600);
    }

    #[test]
    fn a_bad_binding_is_named() {
        let mut d = DockConfig { station_id: "S1".into(), slots_dir: Some("/x".into()), ..Default::default() };
        d.bindings.insert("CAM 1".into(), "O1".into());
        let e = format!("{:#}", d.validate().expect_err("invalid"));
        assert!(e.contains("dock.bindings") && e.contains("CAM 1"), "{e}");
    }
}
