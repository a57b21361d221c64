use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The recording rules, applied: matters and pauses in, checks and audit reports out.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    common: worker_runtime::cli::Endpoints,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Import enforcement matters and registered pauses from CSV or JSON (all rows validated
    /// first; one bad row, or one id twice in a file, refuses the file, naming every problem).
    /// Prints what is new, what changed and what was already known.
    Import {
        /// Matters file: matter_id,kind,officers,start,end[,document] (auditor/README.md).
        #[arg(long)]
        matters: Option<PathBuf>,
        /// Pauses file: pause_id,officer_id,device_id,from,to,reason,approver[,matter_id].
        #[arg(long)]
        pauses: Option<PathBuf>,
    },
    /// Check every matter and recording; publish results that changed on evidence.compliance.v1.>
    /// and print one line per matter and per flagged recording (exit 3 if any matter failed).
    /// `--every 10m` keeps running and serves the evidence_compliance_* metrics.
    Check {
        /// Repeat every this long (e.g. 10m) until SIGTERM, serving metrics.
        #[arg(long, value_parser = humantime::parse_duration)]
        every: Option<std::time::Duration>,
        /// Where to serve /metrics and /healthz with --every (default: telemetry.listen).
        #[arg(long, env = "METRICS_ADDR")]
        metrics_addr: Option<std::net::SocketAddr>,
    },
    /// Audit (稽查) report for matters starting in a period: a reproducible sample (size or
    /// fraction, and a seed) → audit.json, audit.md, audit.html and SHA256SUMS in a new --out folder.
    Audit {
        /// First day (agency time, deadline.utc_offset), YYYY-MM-DD.
        #[arg(long, value_parser = day)]
        from: chrono::NaiveDate,
        /// Last day, inclusive, YYYY-MM-DD.
        #[arg(long, value_parser = day)]
        to: chrono::NaiveDate,
        /// Number of matters to sample (at least 1).
        #[arg(long, conflicts_with = "fraction", value_parser = clap::value_parser!(u32).range(1..))]
        sample: Option<u32>,
        /// Fraction of the period's matters to sample, more than 0 and at most 1 (e.g. 0.1).
        #[arg(long, value_parser = fraction)]
        fraction: Option<f64>,
        /// Seed of the sample: the same seed and data give the same sample.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Language of audit.md and audit.html: zh-CN (中文) or en.
        #[arg(long, default_value = "en", value_parser = ["zh-CN", "en"])]
        lang: String,
        /// A new (or empty) folder for the report files.
        #[arg(long)]
        out: PathBuf,
    },
}

fn day(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("\"{s}\" is not a day: write YYYY-MM-DD (2026-11-01)"))
}

fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        Ok(_) => Err(format!("{s} is not a fraction of the matters: give more than 0 and at most 1 (0.1 = 10 %)")),
        Err(_) => Err(format!("\"{s}\" is not a number: give e.g. 0.1 for 10 %")),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match worker_runtime::cli::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = auditor::load(&cli.common).and_then(|cfg| {
        worker_runtime::telemetry::init_logging(&cfg.telemetry);
        match cli.cmd {
            Cmd::Import { matters, pauses } => {
                if matters.is_none() && pauses.is_none() {
                    return Err(anyhow::anyhow!("give --matters FILE and/or --pauses FILE"));
                }
                rt.block_on(auditor::import(cfg, matters, pauses))
            }
            Cmd::Check { every, metrics_addr } => rt.block_on(auditor::check(cfg, every, metrics_addr)),
            Cmd::Audit { from, to, sample, fraction, seed, lang, out } => {
                let sample = match (sample, fraction) {
                    (Some(n), _) => auditor::report::Sample::Count(n as usize),
                    (None, Some(f)) => auditor::report::Sample::Fraction(f),
                    (None, None) => auditor::report::Sample::Fraction(1.0),
                };
                let lang = if lang == "zh-CN" { auditor::report::Lang::Zh } else { auditor::report::Lang::En };
                rt.block_on(auditor::audit(cfg, auditor::AuditArgs { from, to, sample, seed, lang, out }))
            }
        }
    });
    worker_runtime::cli::exit(result)
}
