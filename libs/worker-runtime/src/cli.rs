//! Options of `<worker> run` shared by every worker. Only deployment endpoints may be
//! overridden from the environment; everything else comes from the TOML file.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::{NatsConfig, TelemetryConfig};

/// `run` options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub endpoints: Endpoints,
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
        let mut s3 = None;
        self.endpoints.apply(nats, &mut s3);
        if let Some(a) = self.metrics_addr {
            telemetry.listen = a;
        }
        s3
    }
}

/// Options of the one-shot commands that talk to the live servers (`sealer export`, `auditor
/// check`, …): the config file and the same endpoint overrides as `run`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Endpoints {
    /// TOML config file (see deploy/config/). Without it the embedded defaults are used.
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
    /// Override `nats.url` (e.g. nats://nats.example:4222).
    #[arg(long, env = "NATS_URL", global = true)]
    pub nats_url: Option<String>,
    /// Override `s3.endpoint` (e.g. https://s3.example:9000).
    #[arg(long, env = "S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,
}

impl Endpoints {
    /// The same overrides as `run` (no metrics address: one-shot commands serve none).
    pub fn run_args(&self) -> RunArgs {
        RunArgs { endpoints: self.clone(), ..Default::default() }
    }

    /// Applies `--nats-url` and `--s3-endpoint` to a config's `nats.url` and `s3.endpoint`.
    pub fn apply(&self, nats: &mut NatsConfig, s3_endpoint: &mut Option<String>) {
        if let Some(u) = &self.nats_url {
            nats.url.clone_from(u);
        }
        if let Some(e) = &self.s3_endpoint {
            *s3_endpoint = Some(e.clone());
        }
    }
}

/// A `clap` value parser for text a person must give (approver, actor, reason, case): refuses
/// an empty or blank value.
///
/// # Errors
/// Blank text.
pub fn non_empty(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("must not be empty: say who or why in words (it is recorded)".into());
    }
    Ok(t.to_owned())
}

/// The async runtime for a command's `main`; when it cannot start, the exit code after saying why.
///
/// # Errors
/// The exit code to return (the reason is printed).
pub fn runtime() -> Result<tokio::runtime::Runtime, std::process::ExitCode> {
    tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("error: start async runtime: {e}");
        std::process::ExitCode::FAILURE
    })
}

/// A command's result as its exit code: an error is printed as `error: …` with its causes.
pub fn exit(result: anyhow::Result<std::process::ExitCode>) -> std::process::ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::ExitCode::FAILURE
    })
}
