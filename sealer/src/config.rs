//! Configuration of the sealer: shared sections plus `[seal]`.

use serde::{Deserialize, Serialize};
use worker_runtime::config::{ConsumerConfig, NatsConfig, TelemetryConfig};

/// `[seal]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SealSection {
    /// Accept an evidence store that does not enforce write-once retention (S3 Object Lock).
    /// Until the WORM probe lands every store counts as not verified, so the default is true;
    /// production sets false once the probe exists. Default true.
    pub allow_non_worm: bool,
}

impl Default for SealSection {
    fn default() -> Self {
        Self { allow_non_worm: true }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub nats: NatsConfig,
    pub s3: object_store::S3Config,
    pub consumer: ConsumerConfig,
    pub telemetry: TelemetryConfig,
    pub seal: SealSection,
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
        self.s3.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_config_parses_and_validates() {
        let text = include_str!("../../deploy/config/sealer.toml");
        let cfg: Config = worker_runtime::config::parse_toml(text).expect("parses");
        cfg.validate().expect("valid");
    }
}
