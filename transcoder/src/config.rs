//! Configuration of the transcoder: shared sections plus `[transcode]` and `[policy]`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use worker_runtime::config::{ConsumerConfig, NatsConfig, TelemetryConfig};

/// `[transcode]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscodeSection {
    /// Directory with the profile descriptors and `.gst` templates. Default: `pipelines/` next
    /// to the working directory, else `/usr/share/evidence-pipeline/pipelines`.
    pub pipelines_dir: PathBuf,
    /// Local directory for the source and the copy while a job runs. Default
    /// `<tmp>/evidence-transcode`.
    pub spool_dir: PathBuf,
    /// Encoder threads per job; 0 = automatic. Default 0.
    pub threads: u32,
    /// A job may take `timeout_base + timeout_per_media_second × source duration`. Defaults
    /// `120s` and `10s` (i.e. 10× slower than real time before it is aborted).
    #[serde(with = "humantime_serde")]
    pub timeout_base: Duration,
    #[serde(with = "humantime_serde")]
    pub timeout_per_media_second: Duration,
    /// Abort a pipeline whose position has not moved for this long. Default `60s`.
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
    /// The copy's duration may differ from the source's by at most this. Default `150ms`
    /// (AAC priming and the last frame's duration account for up to ~0.1 s).
    #[serde(with = "humantime_serde")]
    pub duration_tolerance: Duration,
}

impl Default for TranscodeSection {
    fn default() -> Self {
        Self {
            pipelines_dir: default_pipelines_dir(),
            spool_dir: std::env::temp_dir().join("evidence-transcode"),
            threads: 0,
            timeout_base: Duration::from_secs(120),
            timeout_per_media_second: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(60),
            duration_tolerance: Duration::from_millis(150),
        }
    }
}

/// The profiles directory used when none is configured.
pub fn default_pipelines_dir() -> PathBuf {
    let local = PathBuf::from("pipelines");
    if local.join("access.toml").is_file() {
        return local;
    }
    let in_repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pipelines");
    if in_repo.join("access.toml").is_file() {
        return in_repo;
    }
    PathBuf::from("/usr/share/evidence-pipeline/pipelines")
}

/// `[policy]`: which profiles run for a recording.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Profiles run for every readable recording. Default `["access"]`.
    pub profiles: Vec<String>,
    /// Per-profile parameter overrides, e.g. `[policy.params.access] video_bitrate_kbps = "4000"`.
    pub params: BTreeMap<String, BTreeMap<String, String>>,
}

impl Default for Policy {
    fn default() -> Self {
        Self { profiles: vec!["access".into()], params: BTreeMap::new() }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub nats: NatsConfig,
    pub s3: object_store::S3Config,
    pub consumer: ConsumerConfig,
    pub telemetry: TelemetryConfig,
    pub transcode: TranscodeSection,
    pub policy: Policy,
}

impl Config {
    /// # Errors
    /// Unreadable file, unknown key, invalid value (named).
    pub fn load(args: &worker_runtime::cli::RunArgs) -> anyhow::Result<Self> {
        let mut cfg: Config = worker_runtime::config::load_toml(args.config.as_deref())?;
        if let Some(ep) = args.apply(&mut cfg.nats, &mut cfg.telemetry) {
            cfg.s3.endpoint = Some(ep);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// # Errors
    /// Names the offending key.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.consumer.validate()?;
        self.s3.validate()?;
        if self.policy.profiles.is_empty() {
            bail!("policy.profiles must name at least one profile");
        }
        for p in self.policy.params.keys() {
            if !self.policy.profiles.contains(p) {
                bail!("policy.params.{p} configures a profile that policy.profiles does not run");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_config_parses_and_validates() {
        let text = include_str!("../../deploy/config/transcoder.toml");
        let cfg: Config = worker_runtime::config::parse_toml(text).expect("parses");
        cfg.validate().expect("valid");
    }
}
