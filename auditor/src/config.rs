//! `auditor.toml`. Every key has a default; `deploy/config/auditor.toml` is the reference.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use worker_runtime::config::{NatsConfig, TelemetryConfig};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub nats: NatsConfig,
    /// Read access to the evidence bucket (continuity reports of sealed packages).
    pub s3: object_store::S3Config,
    pub telemetry: TelemetryConfig,
    pub policy: PolicySection,
    pub deadline: DeadlineSection,
    pub flags: FlagsSection,
}

/// `[policy]`: how strictly matters are judged.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySection {
    /// Slack on document times and on gaps, seconds. Default 60.
    pub tolerance_s: u32,
    /// Officers whose recordings must overlap the window. Default 2.
    pub min_officers: u32,
    /// Per matter kind, where it differs (e.g. `{ "notice" = 1 }`).
    pub min_officers_by_kind: BTreeMap<String, u32>,
}

impl Default for PolicySection {
    fn default() -> Self {
        Self { tolerance_s: 60, min_officers: 2, min_officers_by_kind: BTreeMap::new() }
    }
}

impl PolicySection {
    pub fn policy(&self) -> compliance::Policy {
        compliance::Policy {
            tolerance_s: self.tolerance_s,
            min_officers: self.min_officers,
            min_officers_by_kind: self.min_officers_by_kind.clone(),
        }
    }
}

/// `[deadline]`: as in the ingest-worker (files never uploaded get their deadline from it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeadlineSection {
    pub working_days: u32,
    pub utc_offset: String,
    pub calendars: Vec<PathBuf>,
}

impl Default for DeadlineSection {
    fn default() -> Self {
        Self { working_days: 2, utc_offset: "+08:00".into(), calendars: Vec::new() }
    }
}

/// `[flags]`: thresholds of the after-the-fact flags.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlagsSection {
    /// A device clock further off than this at docking is flagged, seconds. Default 60.
    pub clock_offset_s: f64,
}

impl Default for FlagsSection {
    fn default() -> Self {
        Self { clock_offset_s: 60.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_config_parses() {
        let cfg: Config =
            worker_runtime::config::parse_toml(include_str!("../../deploy/config/auditor.toml")).expect("parses");
        assert_eq!(cfg.policy.min_officers, 2);
        assert_eq!(cfg.policy.min_officers_by_kind.get("notice"), Some(&1));
    }
}
