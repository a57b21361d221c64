//! transcoder: makes verified copies of recordings with the GStreamer profiles in `pipelines/`.
//!
//! Module map:
//! * [`config`]: `[transcode]`, `[policy]` and the shared sections;
//! * [`profile`]: profile descriptors and `.gst` variants, loaded and checked at start-up;
//! * [`frame`]: the copy's frame size (limits, even sizes by padding, never cropping);
//! * [`pipeline`]: running one variant (temp name + rename, progress, timeout, stall);
//! * [`copy`]: select → run → scan → verify, shared by the worker and the CLI;
//! * [`verify`]: the copy-versus-source checks;
//! * [`handler`]: one `TranscodeJobV1` → staged copies → `SealJobV1`;
//! * [`error`], [`metrics`].

pub mod access;
pub mod config;
pub mod copy;
pub mod error;
pub mod frame;
pub mod handler;
pub mod metrics;
pub mod pipeline;
pub mod profile;
pub mod verify;

use std::path::{Path, PathBuf};

use anyhow::Context;
use evidence_contracts::report::StreamKind;
use evidence_contracts::subjects;
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// `transcoder run`.
///
/// # Errors
/// Bad config or profiles, unreachable NATS or S3 at start-up.
pub async fn main_run(args: worker_runtime::cli::RunArgs) -> anyhow::Result<()> {
    worker_runtime::startup::main_run::<Config, _, _>(args, run).await
}

/// Runs the worker until `shutdown`.
///
/// # Errors
/// Start-up failures.
pub async fn run(cfg: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    gst_support::init().context("initialise GStreamer")?;
    gst_support::pipeline::prefer_native_decoders();
    let profiles = profile::load_policy(&cfg)?;
    metrics::init(&cfg.policy.all_profiles());
    let (health, js) = worker_runtime::startup::serve_and_connect(
        "transcoder",
        &cfg.telemetry,
        &cfg.nats,
        &[subjects::PIPELINE_STREAM, subjects::EVENTS_STREAM, subjects::RECEIPTS_STREAM],
        &shutdown,
    )
    .await?;
    let store = worker_runtime::startup::until_configured(
        "s3",
        &health,
        &shutdown,
        std::time::Duration::from_secs(2),
        |e| object_store::config_fault_in(e).map(worker_runtime::consume::ConfigFault::s3),
        || object_store::Store::connect(&cfg.s3, &cfg.s3.working_bucket),
    )
    .await?;
    health.set("s3", true, cfg.s3.endpoint.clone().unwrap_or_default());
    let mut cfg = cfg;
    cfg.transcode.spool_dir = worker_runtime::spool::claim(&cfg.transcode.spool_dir, "transcode.spool_dir")?;
    let h = handler::TranscodeHandler::new(cfg.clone(), profiles, store, js.clone(), shutdown.clone());
    worker_runtime::consume(h, js, cfg.consumer.clone(), shutdown).await
}

/// `transcoder transcode --profile P IN OUT`: scan the source, make and verify the copy, print
/// the result as JSON.
///
/// # Errors
/// Unknown profile, unreadable input, or the copy failed (the reason is the message).
pub async fn transcode_cli(
    profile: &str,
    pipelines: Option<PathBuf>,
    threads: u32,
    params: std::collections::BTreeMap<String, String>,
    input: &Path,
    output: &Path,
) -> anyhow::Result<()> {
    gst_support::init()?;
    gst_support::pipeline::prefer_native_decoders();
    let mut section = config::TranscodeSection {
        threads,
        progress_interval: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    if let Some(p) = pipelines {
        section.pipelines_dir = p;
    }
    let profile = profile::Profile::load(&section.pipelines_dir, profile, Some(&params))?;
    let cancel = worker_runtime::shutdown::on_signal();
    let scan = gst_support::scan::demux_scan(input, &cancel, section.stall_timeout).await?;
    let digests = object_store::hash_file(input).with_context(|| format!("read {}", input.display()))?;
    let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let src = gst_support::continuity::file_report(
        &name,
        digests.size,
        digests.blake3,
        digests.sha256,
        &scan,
        gst_support::continuity::DEFAULT_TOLERANCE_NS,
    );
    let summary = gst_support::continuity::summary(&src);
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = move |frac: f64, rt: f64| {
        let width = 40usize;
        let done = (frac.clamp(0.0, 1.0) * width as f64) as usize;
        let bar =
            format!("[{}{}] {:>3.0}%  {rt:.2}x realtime", "#".repeat(done), ".".repeat(width - done), frac * 100.0);
        if tty {
            eprint!("\r{bar}");
        } else {
            eprintln!("{bar}");
        }
    };
    // `--profile access-remux`: the remux the access policy would choose (its audio plan); an
    // original only a transcode can serve is refused with the policy's reason.
    let access = access::AccessPolicy::default();
    let method = if profile.name == access.remux_profile {
        match access.decide(&src) {
            access::Decision::Remux { audio, .. } => copy::Method::Remux(audio),
            access::Decision::Original(_) if src.streams.iter().any(|s| s.kind == StreamKind::Audio) => {
                copy::Method::Remux(access::Audio::Copy)
            }
            access::Decision::Original(_) => copy::Method::Remux(access::Audio::None),
            access::Decision::Transcode(why) => anyhow::bail!("{} cannot be remuxed: {why}", input.display()),
        }
    } else {
        copy::Method::Profile
    };
    let c = copy::make(&profile, &method, &src, input, output, &section, &cancel, &progress).await;
    if tty {
        eprintln!();
    }
    let c = c.map_err(|n| anyhow::anyhow!(n.reason))?;
    let out = serde_json::json!({
        "profile": profile.name,
        "method": if matches!(method, copy::Method::Remux(_)) { "remux" } else { "transcode" },
        "input": input.display().to_string(),
        "output": output.display().to_string(),
        "source_duration_s": summary.duration_ns as f64 / 1e9,
        "wall_s": c.wall.as_secs_f64(),
        "realtime_factor": summary.duration_ns as f64 / 1e9 / c.wall.as_secs_f64().max(1e-6),
        "frames": c.frame_note(profile.frame.multiple).trim_end_matches("; "),
        "copy": c.report,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
