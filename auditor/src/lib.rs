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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use evidence_contracts::{Message, subjects};

pub use config::Config;

/// The config with the endpoint overrides applied.
///
/// # Errors
/// Unreadable or invalid config.
pub fn load(e: &worker_runtime::cli::Endpoints) -> anyhow::Result<Config> {
    let mut cfg: Config = worker_runtime::config::load_toml(e.config.as_deref())?;
    e.apply(&mut cfg.nats, &mut cfg.s3.endpoint);
    Ok(cfg)
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

/// What publishing a matter, pause or result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Published {
    New,
    Changed,
    Same,
}

/// Publishes `msg` unless the last message on its subject already says the same (ignoring
/// `checked_at`-like fields, through the content-derived message id).
async fn publish_if_changed<M: Message>(
    js: &async_nats::jetstream::Context,
    stream: &str,
    msg: &M,
) -> anyhow::Result<Published> {
    let last = worker_runtime::nats::last_on_subject(js, stream, &msg.subject()).await?;
    if let Some(last) = &last
        && let Ok(prev) = evidence_contracts::decode::<M>(&last.payload)
        && prev.msg_id() == msg.msg_id()
    {
        return Ok(Published::Same);
    }
    if worker_runtime::nats::publish(js, msg).await? {
        return Ok(Published::Same);
    }
    Ok(if last.is_some() { Published::Changed } else { Published::New })
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
    let mut tally: BTreeMap<(&str, Published), Vec<String>> = BTreeMap::new();
    for m in &ms {
        let r = publish_if_changed(&js, subjects::MATTERS_STREAM, m).await?;
        tally.entry(("matter", r)).or_default().push(m.matter_id.clone());
    }
    for p in &ps {
        let r = publish_if_changed(&js, subjects::MATTERS_STREAM, p).await?;
        tally.entry(("pause", r)).or_default().push(p.pause_id.clone());
    }
    eprintln!("imported {} matter(s) and {} pause(s):", ms.len(), ps.len());
    for ((what, r), ids) in &tally {
        let how = match r {
            Published::New => "new",
            Published::Changed => "changed (this version replaces the one stored before)",
            Published::Same => "already known, unchanged (nothing published)",
        };
        eprintln!("  {} {what}(s) {how}: {}", ids.len(), ids.join(", "));
    }
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
    let facts = checks::gather(&e.js, &e.store, &e.cal, e.rule).await?;
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
            published += usize::from(publish_if_changed(&e.js, subjects::EVENTS_STREAM, c).await? != Published::Same);
        }
        for f in &out.flags {
            published += usize::from(publish_if_changed(&e.js, subjects::EVENTS_STREAM, f).await? != Published::Same);
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
            // Flags for a person: one line each (three fields, so the matter lines stay the
            // only ones with JSON in the fourth).
            for f in &out.flags {
                for x in &f.flags {
                    println!("flag\t{}\t{}: {}", f.key, x.kind, x.detail);
                }
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
    pub lang: report::Lang,
    pub out: PathBuf,
}

/// Refuses what would give a wrong or half-written report, before anything is read.
///
/// # Errors
/// Names the argument and what to do.
pub fn check_audit_args(a: &AuditArgs) -> anyhow::Result<()> {
    if a.from > a.to {
        anyhow::bail!("--from {} is after --to {}: the period runs from its first day to its last", a.from, a.to);
    }
    if a.out.exists() && std::fs::read_dir(&a.out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        anyhow::bail!(
            "--out {} exists and is not empty: give a new folder (an audit report is never overwritten)",
            a.out.display()
        );
    }
    Ok(())
}

/// `auditor audit`: writes `audit.json`, `audit.md`, `audit.html` and `SHA256SUMS` into `out`.
///
/// # Errors
/// Bad arguments, unreachable servers, unwritable folder.
pub async fn audit(cfg: Config, a: AuditArgs) -> anyhow::Result<ExitCode> {
    check_audit_args(&a)?;
    let e = env(&cfg).await?;
    let (facts, out) = evaluate(&cfg, &e).await?;
    let r = report::build(
        &out.checks,
        &facts,
        &report::Period { first_day: a.from, last_day: a.to, offset: e.rule.offset },
        &cfg.policy.policy(),
        a.sample,
        a.seed,
        Utc::now(),
    );
    let files = report::write(&r, a.lang, &a.out)?;
    eprintln!(
        "audit of {} to {}: {} of {} matters sampled (seed {}), {} passed; written to {} ({})",
        a.from,
        a.to,
        r.sampled,
        r.population,
        a.seed,
        r.passed,
        a.out.display(),
        files.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
