use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The recording rules, applied: matters and pauses in, checks and audit reports out.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    common: auditor::Common,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Import enforcement matters and registered pauses from CSV or JSON (all rows validated
    /// first; one bad row refuses the file, naming every problem).
    Import {
        #[arg(long)]
        matters: Option<PathBuf>,
        #[arg(long)]
        pauses: Option<PathBuf>,
    },
    /// Check every matter and recording; publish results that changed on evidence.compliance.v1.>
    /// and print one line per matter (exit 3 if any failed). `--every 10m` keeps running and
    /// serves the evidence_compliance_* metrics.
    Check {
        #[arg(long, value_parser = humantime::parse_duration)]
        every: Option<std::time::Duration>,
        #[arg(long, env = "METRICS_ADDR")]
        metrics_addr: Option<std::net::SocketAddr>,
    },
    /// Audit report for matters starting in a period: a reproducible sample (size or fraction,
    /// and a seed) → audit.json, audit.md, audit.html in --out.
    Audit {
        /// First day (agency time), YYYY-MM-DD.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last day, inclusive.
        #[arg(long)]
        to: chrono::NaiveDate,
        /// Number of matters to sample.
        #[arg(long, conflicts_with = "fraction")]
        sample: Option<usize>,
        /// Fraction of the period's matters to sample (0..1).
        #[arg(long)]
        fraction: Option<f64>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: start async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = cli.common.load().and_then(|cfg| {
        worker_runtime::telemetry::init_logging(&cfg.telemetry);
        match cli.cmd {
            Cmd::Import { matters, pauses } => {
                if matters.is_none() && pauses.is_none() {
                    return Err(anyhow::anyhow!("give --matters FILE and/or --pauses FILE"));
                }
                rt.block_on(auditor::import(cfg, matters, pauses))
            }
            Cmd::Check { every, metrics_addr } => rt.block_on(auditor::check(cfg, every, metrics_addr)),
            Cmd::Audit { from, to, sample, fraction, seed, out } => {
                let sample = match (sample, fraction) {
                    (Some(n), _) => auditor::report::Sample::Count(n),
                    (None, Some(f)) => auditor::report::Sample::Fraction(f),
                    (None, None) => auditor::report::Sample::Fraction(1.0),
                };
                rt.block_on(auditor::audit(cfg, auditor::AuditArgs { from, to, sample, seed, out }))
            }
        }
    });
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::ExitCode::FAILURE
    })
}
