//! Options of `<worker> run` shared by every worker. Only deployment endpoints may be
//! overridden from the environment; everything else comes from the TOML file.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::{NatsConfig, TelemetryConfig};

/// `run` options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// TOML config file (see deploy/config/). Without it the embedded defaults are used.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Override `nats.url`.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// Override `s3.endpoint`.
    #[arg(long, env = "S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// Override `telemetry.listen` (port 0 picks a free port).
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl RunArgs {
    /// Applies the overrides to the shared sections; returns the S3 endpoint override for the
    /// caller's `[s3]` section.
    pub fn apply(&self, nats: &mut NatsConfig, telemetry: &mut TelemetryConfig) -> Option<String> {
        if let Some(u) = &self.nats_url {
            nats.url.clone_from(u);
        }
        if let Some(a) = self.metrics_addr {
            telemetry.listen = a;
        }
        self.s3_endpoint.clone()
    }
}
