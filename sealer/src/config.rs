//! Configuration of the sealer: shared sections plus `[seal]`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use worker_runtime::config::{ConsumerConfig, NatsConfig, TelemetryConfig};

/// `[seal]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SealSection {
    /// Accept an evidence store that the start-up probe finds not write-once (S3 Object Lock
    /// not enforced: dev-s3, Garage, a bucket created without Object Lock). The embedded default
    /// is true so the pipeline runs on a development store; production sets false.
    pub allow_non_worm: bool,
    /// How long the WORM probe object is locked (it cannot be deleted before, on a WORM store).
    #[serde(with = "humantime_serde")]
    pub worm_probe_hold: Duration,
    /// Local scratch space: the original and each copy pass through it while manifests are
    /// signed (needs about twice the largest recording).
    pub spool_dir: PathBuf,
    /// PEM certificate chain of the signer (signer first, then its CA). With `private_key`;
    /// when both are unset the sealer uses (creating it once) the development identity in
    /// `dev_identity_dir`, and says so loudly.
    pub certificate_chain: Option<PathBuf>,
    /// PKCS#8 PEM P-256 private key of the signer.
    pub private_key: Option<PathBuf>,
    /// Where the development CA and signer live when no production identity is configured.
    pub dev_identity_dir: PathBuf,
    /// Refuse to start with the development identity (production: true).
    pub require_production_identity: bool,
    /// RFC 3161 timestamp authority for C2PA signatures (optional; needs network access).
    pub timestamp_authority: Option<String>,
    /// Write a signed ledger checkpoint every this many ledger records.
    pub checkpoint_every: u64,
}

impl Default for SealSection {
    fn default() -> Self {
        Self {
            allow_non_worm: true,
            worm_probe_hold: Duration::from_secs(60),
            spool_dir: std::env::temp_dir().join("evidence-seal"),
            certificate_chain: None,
            private_key: None,
            dev_identity_dir: std::env::temp_dir().join("evidence-dev-identity"),
            require_production_identity: false,
            timestamp_authority: None,
            checkpoint_every: 100,
        }
    }
}

/// `[retention]`: how long packages are locked (S3 Object Lock COMPLIANCE retain-until).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    /// Recordings not (yet) bound to a case: at least this many days from sealing. The rules
    /// ask for at least 6 months.
    pub recording_days: u32,
    /// Evidence bound to a case: this many days from the case system's request unless it gives
    /// a date (`sealer retain`), extended, never shortened.
    pub evidence_days: u32,
    /// Put every new package under legal hold.
    pub legal_hold: bool,
    /// The agency's UTC offset: `sealer retain --until YYYY-MM-DD` keeps until the end of that
    /// day here. Default `+08:00`.
    pub utc_offset: String,
}

impl Default for RetentionSection {
    fn default() -> Self {
        Self { recording_days: 184, evidence_days: 3653, legal_hold: false, utc_offset: "+08:00".into() }
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
    pub retention: RetentionSection,
}

impl Config {
    /// # Errors
    /// Names the offending key.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.consumer.validate()?;
        if self.seal.certificate_chain.is_some() != self.seal.private_key.is_some() {
            anyhow::bail!("seal.certificate_chain and seal.private_key go together: set both or neither");
        }
        if self.seal.require_production_identity && self.seal.certificate_chain.is_none() {
            anyhow::bail!(
                "seal.require_production_identity is true but seal.certificate_chain/private_key are not set (see sealer/README.md)"
            );
        }
        if self.seal.checkpoint_every == 0 {
            anyhow::bail!("seal.checkpoint_every must be at least 1");
        }
        if self.retention.recording_days < 183 {
            anyhow::bail!(
                "retention.recording_days = {} is shorter than the 6 months the rules require (183 days at least)",
                self.retention.recording_days
            );
        }
        work_calendar::parse_offset(&self.retention.utc_offset)
            .map_err(|e| anyhow::anyhow!("retention.utc_offset: {e}"))?;
        self.s3.validate()
    }
}

worker_runtime::worker_config!(Config);

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
