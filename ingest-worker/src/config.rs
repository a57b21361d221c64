//! Configuration of ingest-worker: `[nats]`, `[s3]`, `[consumer]`, `[telemetry]`, `[ingest]`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use worker_runtime::config::{ConsumerConfig, NatsConfig, TelemetryConfig};

/// `[ingest]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSection {
    /// Local directory where a landing object is streamed while it is hashed and scanned; one
    /// file per job, removed afterwards. Needs room for the largest recording × concurrency.
    /// Default `<tmp>/evidence-ingest`.
    pub spool_dir: PathBuf,
    /// A stream's timeline may skip forward by this much beyond one frame before it counts as
    /// a gap. Default `250ms`; at most `500ms`.
    #[serde(with = "humantime_serde")]
    pub gap_tolerance: Duration,
    /// Abort a scan that makes no progress for this long. Default `60s`.
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
    /// Also decode every frame and report the regions that do not decode (`decode_error`).
    /// Costs a full decode per recording (docs/benchmarks.md: several times the demux scan).
    /// Default `false`.
    pub decode_check: bool,
}

impl Default for IngestSection {
    fn default() -> Self {
        Self {
            spool_dir: std::env::temp_dir().join("evidence-ingest"),
            gap_tolerance: Duration::from_millis(250),
            stall_timeout: Duration::from_secs(60),
            decode_check: false,
        }
    }
}

/// `[deadline]`: the upload-deadline rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeadlineSection {
    /// Recordings must be in the store within this many working days after the work ends.
    pub working_days: u32,
    /// The agency's UTC offset, in which days are counted (`+08:00`).
    pub utc_offset: String,
    /// Working-day calendar files, one per year (format: deploy/calendar/README.md). Years
    /// without a file count weekends only, and every deadline says `calendar_covered: false`.
    pub calendars: Vec<PathBuf>,
}

impl Default for DeadlineSection {
    fn default() -> Self {
        Self { working_days: 2, utc_offset: "+08:00".into(), calendars: Vec::new() }
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub nats: NatsConfig,
    pub s3: object_store::S3Config,
    pub consumer: ConsumerConfig,
    pub telemetry: TelemetryConfig,
    pub ingest: IngestSection,
    pub deadline: DeadlineSection,
}

impl Config {
    /// # Errors
    /// Names the offending key.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.consumer.validate()?;
        self.s3.validate()?;
        if self.ingest.gap_tolerance > Duration::from_millis(500) || self.ingest.gap_tolerance.is_zero() {
            bail!("ingest.gap_tolerance must be above 0 and at most 500ms, got {:?}", self.ingest.gap_tolerance);
        }
        work_calendar::parse_offset(&self.deadline.utc_offset).map_err(|e| anyhow::anyhow!("deadline.{e}"))?;
        if self.deadline.working_days == 0 {
            bail!("deadline.working_days must be at least 1");
        }
        Ok(())
    }
}

worker_runtime::worker_config!(Config);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_config_parses_and_validates() {
        let text = include_str!("../../deploy/config/ingest-worker.toml");
        let cfg: Config = worker_runtime::config::parse_toml(text).expect("parses");
        cfg.validate().expect("valid");
    }

    #[test]
    fn tolerance_is_bounded() {
        let mut c = Config::default();
        c.ingest.gap_tolerance = Duration::from_secs(2);
        assert!(c.validate().unwrap_err().to_string().contains("ingest.gap_tolerance"));
    }
}
