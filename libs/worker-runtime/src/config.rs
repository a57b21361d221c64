//! Config sections shared by every worker, and TOML loading with key-naming errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// `[nats]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated. Default `nats://127.0.0.1:4222`. Env override: `NATS_URL`.
    pub url: String,
    /// Credentials file (`.creds`, JWT + nkey seed) for this process. Default: none.
    pub creds_file: Option<PathBuf>,
    /// File holding this client's NKey seed (`SU…`), e.g. a station's own key. Default: none.
    pub nkey_seed_file: Option<PathBuf>,
    /// Reply-subject prefix instead of `_INBOX`, so that a client whose permissions allow it to
    /// subscribe only to `_INBOX_<station>.>` still gets its replies. Default: none.
    pub inbox_prefix: Option<String>,
    /// User name for user/password auth. Default: none.
    pub user: Option<String>,
    /// File holding the password (never the password itself in config). Default: none.
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA that signed the servers' certificates; setting it requires TLS on
    /// every connection (`tls://` URLs do too). Default: none (the system's roots for `tls://`).
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) when the servers verify clients (mutual TLS). Both or
    /// neither. Default: none.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Replicas for the streams this process creates when they are missing. Default 1.
    pub stream_replicas: usize,
    /// Create the streams from the built-in definitions when missing. Default true.
    pub create_streams: bool,
    /// How long to wait for the first connection. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            creds_file: None,
            nkey_seed_file: None,
            inbox_prefix: None,
            user: None,
            password_file: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            stream_replicas: 1,
            create_streams: true,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// `[consumer]`: how a worker pulls its jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerConfig {
    /// Jobs handled at once by this process. Default 2.
    pub concurrency: usize,
    /// How long the server waits for an ack or a progress heartbeat before redelivering.
    /// Heartbeats are sent every third of it while a job runs. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub ack_wait: Duration,
    /// Redelivery delays after a transient failure, by attempt; the last repeats.
    /// Default `[2s, 10s, 30s, 2m, 5m]`.
    pub retry_backoff: Vec<humantime_serde::Serde<Duration>>,
    /// Deliveries after which a job that keeps failing transiently is rejected (with its
    /// payload in the rejection event, so nothing is lost). 0 = never. Default 50.
    pub max_deliver: u64,
    /// On shutdown, how long in-flight jobs may run before the process exits anyway (they are
    /// then redelivered). Default `60s`.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            concurrency: 2,
            ack_wait: Duration::from_secs(30),
            retry_backoff: [2, 10, 30, 120, 300].into_iter().map(|s| Duration::from_secs(s).into()).collect(),
            max_deliver: 50,
            drain_timeout: Duration::from_secs(60),
        }
    }
}

impl ConsumerConfig {
    /// # Errors
    /// Names the offending `[consumer]` key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.concurrency == 0 {
            bail!("consumer.concurrency must be at least 1");
        }
        if self.ack_wait < Duration::from_secs(3) {
            bail!("consumer.ack_wait must be at least 3s (heartbeats go every third of it)");
        }
        if self.retry_backoff.is_empty() {
            bail!("consumer.retry_backoff must list at least one delay");
        }
        Ok(())
    }

    /// Delay before redelivery after the `delivered`-th attempt failed (1-based).
    pub fn backoff_for(&self, delivered: u64) -> Duration {
        let i = usize::try_from(delivered.saturating_sub(1)).unwrap_or(usize::MAX);
        self.retry_backoff.get(i).or(self.retry_backoff.last()).map_or(Duration::from_secs(5), |d| **d)
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[telemetry]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Address of the HTTP endpoint serving `/metrics` and `/healthz`. Port 0 picks a free port
    /// (logged as `listening addr=…`). Default `127.0.0.1:0`; each reference config sets a port.
    pub listen: SocketAddr,
    /// `text` or `json`. Default `text`.
    pub log_format: LogFormat,
    /// tracing filter (`RUST_LOG` syntax) used when `RUST_LOG` is unset. Default `info`.
    pub log_filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 0)), log_format: LogFormat::Text, log_filter: "info".into() }
    }
}

/// Reads and parses a TOML config file. An absent path yields the embedded defaults.
///
/// # Errors
/// The file cannot be read, or a key is unknown or has the wrong type (the error names it).
pub fn load_toml<T: DeserializeOwned + Default>(path: Option<&Path>) -> anyhow::Result<T> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("read config file {}", path.display()))?;
    parse_toml(&text).with_context(|| format!("parse config file {}", path.display()))
}

/// # Errors
/// A key is unknown or has the wrong type; the message names the key and line.
pub fn parse_toml<T: DeserializeOwned>(text: &str) -> anyhow::Result<T> {
    Ok(toml::from_str(text)?)
}

/// The effective configuration as TOML, for `--print-config`. Secrets never live in config
/// structs (only paths to secret files), so nothing needs redacting beyond that.
pub fn to_toml<T: Serialize>(v: &T) -> String {
    toml::to_string_pretty(v).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
}

/// Reads a secret from a file, trimming one trailing newline.
///
/// # Errors
/// The file cannot be read.
pub fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    let s = std::fs::read_to_string(path).with_context(|| format!("read secret file {}", path.display()))?;
    Ok(s.trim_end_matches(['\n', '\r']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields, default)]
        #[allow(dead_code)]
        struct F {
            consumer: ConsumerConfig,
        }
        let e = parse_toml::<F>("[consumer]\nconcurency = 3\n").err().expect("must fail");
        assert!(format!("{e:#}").contains("concurency"), "{e:#}");
        let f: F = parse_toml("[consumer]\nack_wait = \"45s\"\nretry_backoff = [\"1s\", \"1m\"]\n").expect("ok");
        assert_eq!(f.consumer.ack_wait, Duration::from_secs(45));
        assert_eq!(f.consumer.backoff_for(1), Duration::from_secs(1));
        assert_eq!(f.consumer.backoff_for(9), Duration::from_secs(60));
    }

    #[test]
    fn validation_names_the_key() {
        let c = ConsumerConfig { concurrency: 0, ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("consumer.concurrency"));
        let c = ConsumerConfig { ack_wait: Duration::from_secs(1), ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("consumer.ack_wait"));
    }
}
