//! auditor: the recording rules, applied.
//!
//! * [`import`]: `auditor import` — matters and pauses from CSV/JSON onto `EVIDENCE_MATTERS`;
//! * [`checks`]: gathering the facts and evaluating every matter (window, officers, gaps vs
//!   pauses) and every recording (after-the-fact flags, files never uploaded);
//! * `auditor check` publishes the results on `evidence.compliance.v1.>` (only when they change)
//!   and, with `--every`, keeps the `evidence_compliance_*` metrics current;
//! * [`report`]: `auditor audit` — a seeded sample of a period's matters, as JSON, Markdown, HTML.

pub mod checks;
pub mod config;
pub mod import;
mod metrics;
pub mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use evidence_contracts::{Message, subjects};

pub use config::Config;

/// Options every command shares.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// TOML config (see deploy/config/auditor.toml). Without it the embedded defaults are used.
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
    #[arg(long, env = "NATS_URL", global = true)]
    pub nats_url: Option<String>,
    #[arg(long, env = "S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,
}

impl Common {
    /// # Errors
    /// Unreadable or invalid config.
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut cfg: Config = worker_runtime::config::load_toml(self.config.as_deref())?;
        if let Some(u) = &self.nats_url {
            cfg.nats.url.clone_from(u);
        }
        if let Some(e) = &self.s3_endpoint {
            cfg.s3.endpoint = Some(e.clone());
        }
        Ok(cfg)
    }
}

async fn connect(cfg: &Config) -> anyhow::Result<async_nats::jetstream::Context> {
    let client = worker_runtime::nats::connect(&cfg.nats, "auditor").await?;
    worker_runtime::nats::jetstream(
        &client,
        &cfg.nats,
        &[subjects::MATTERS_STREAM, subjects::EVENTS_STREAM, subjects::STATIONS_STREAM, subjects::LEDGER_STREAM],
    )
    .await
}

/// Publishes `msg` unless the last message on its subject already says the same (ignoring
/// `checked_at`-like fields, through the content-derived message id).
async fn publish_if_changed<M: Message>(
    js: &async_nats::jetstream::Context,
    stream: &str,
    msg: &M,
) -> anyhow::Result<bool> {
    if let Some(last) = worker_runtime::nats::last_on_subject(js, stream, &msg.subject()).await?
        && let Ok(prev) = evidence_contracts::decode::<M>(&last.payload)
        && prev.msg_id() == msg.msg_id()
    {
        return Ok(false);
    }
    Ok(!worker_runtime::nats::publish(js, msg).await?)
}

/// `auditor import`.
///
/// # Errors
/// Invalid files (nothing is imported), unreachable NATS.
pub async fn import(cfg: Config, matters: Option<PathBuf>, pauses: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let offset = work_calendar::parse_offset(&cfg.deadline.utc_offset)?;
    let ms = match &matters {
        Some(p) => import::matters(p, offset, &format!("import:{}", p.display()))?,
        None => Vec::new(),
    };
    let ps = match &pauses {
        Some(p) => import::pauses(p, offset, &format!("import:{}", p.display()))?,
        None => Vec::new(),
    };
    let js = connect(&cfg).await?;
    let (mut new, mut same) = (0, 0);
    for m in &ms {
        if publish_if_changed(&js, subjects::MATTERS_STREAM, m).await? { new += 1 } else { same += 1 }
    }
    for p in &ps {
        if publish_if_changed(&js, subjects::MATTERS_STREAM, p).await? { new += 1 } else { same += 1 }
    }
    eprintln!("imported {} matter(s) and {} pause(s): {new} new or changed, {same} already known", ms.len(), ps.len());
    Ok(ExitCode::SUCCESS)
}

struct Env {
    js: async_nats::jetstream::Context,
    store: object_store::Store,
    cal: work_calendar::Calendar,
    rule: work_calendar::Rule,
}

async fn env(cfg: &Config) -> anyhow::Result<Env> {
    let js = connect(cfg).await?;
    let store = object_store::Store::new(cfg.s3.clone()).await?;
    let cal = work_calendar::Calendar::load(&cfg.deadline.calendars)?;
    let rule = work_calendar::Rule {
        working_days: cfg.deadline.working_days,
        offset: work_calendar::parse_offset(&cfg.deadline.utc_offset)?,
    };
    Ok(Env { js, store, cal, rule })
}

async fn evaluate(cfg: &Config, e: &Env) -> anyhow::Result<(checks::Facts, checks::Outcome)> {
    let facts = checks::gather(&e.js, &e.store).await?;
    let out = checks::evaluate(&facts, &cfg.policy.policy(), &e.cal, e.rule, cfg.flags.clock_offset_s, Utc::now());
    Ok((facts, out))
}

/// `auditor check`: evaluates, publishes what changed, prints a summary line per matter.
/// With `every`, repeats and serves metrics until SIGTERM.
///
/// # Errors
/// Unreachable servers.
pub async fn check(
    cfg: Config,
    every: Option<Duration>,
    metrics_addr: Option<std::net::SocketAddr>,
) -> anyhow::Result<ExitCode> {
    let e = env(&cfg).await?;
    let shutdown = worker_runtime::shutdown::on_signal();
    if every.is_some() {
        metrics::init();
        let health = worker_runtime::telemetry::Health::default();
        let addr = metrics_addr.unwrap_or(cfg.telemetry.listen);
        worker_runtime::telemetry::serve(addr, health, shutdown.clone()).await?;
    }
    loop {
        let (facts, out) = evaluate(&cfg, &e).await?;
        let mut published = 0;
        for c in &out.checks {
            published += usize::from(publish_if_changed(&e.js, subjects::EVENTS_STREAM, c).await?);
        }
        for f in &out.flags {
            published += usize::from(publish_if_changed(&e.js, subjects::EVENTS_STREAM, f).await?);
        }
        metrics::publish(&out, Utc::now());
        let failed = out.checks.iter().filter(|c| !c.passed).count();
        tracing::info!(
            matters = out.checks.len(),
            failed,
            flagged = out.flags.len(),
            not_uploaded = out.not_uploaded.len(),
            recordings = facts.recordings.len(),
            published,
            "compliance checked"
        );
        let Some(period) = every else {
            for c in &out.checks {
                println!(
                    "{}\t{}\t{}\t{}",
                    if c.passed { "passed" } else { "FAILED" },
                    c.matter_id,
                    c.kind,
                    serde_json::to_string(c).unwrap_or_default()
                );
            }
            return Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(3) });
        };
        tokio::select! {
            () = shutdown.cancelled() => return Ok(ExitCode::SUCCESS),
            () = tokio::time::sleep(period) => {}
        }
    }
}

/// `auditor audit` arguments beyond the config.
#[derive(Debug, Clone)]
pub struct AuditArgs {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub sample: report::Sample,
    pub seed: u64,
    pub out: PathBuf,
}

/// `auditor audit`: writes `audit.json`, `audit.md`, `audit.html` into `out`.
///
/// # Errors
/// Unreachable servers, unwritable folder.
pub async fn audit(cfg: Config, a: AuditArgs) -> anyhow::Result<ExitCode> {
    let e = env(&cfg).await?;
    let (facts, out) = evaluate(&cfg, &e).await?;
    let day = |d: NaiveDate| -> DateTime<Utc> {
        d.and_hms_opt(0, 0, 0)
            .and_then(|n| n.and_local_timezone(e.rule.offset).single())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc))
    };
    // `--to` is inclusive: the whole last day.
    let r = report::build(
        &out.checks,
        &facts,
        e.rule.offset,
        day(a.from),
        day(a.to + chrono::Days::new(1)),
        a.sample,
        a.seed,
        Utc::now(),
    );
    std::fs::create_dir_all(&a.out).with_context(|| format!("create {}", a.out.display()))?;
    std::fs::write(a.out.join("audit.json"), serde_json::to_vec_pretty(&r).expect("report serialises"))?;
    std::fs::write(a.out.join("audit.md"), report::markdown(&r))?;
    std::fs::write(a.out.join("audit.html"), report::html(&r))?;
    eprintln!(
        "audit of {} to {}: {} of {} matters sampled (seed {}), {} passed; written to {}/audit.{{json,md,html}}",
        a.from,
        a.to,
        r.sampled,
        r.population,
        a.seed,
        r.passed,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
