//! `ingest-worker scan FILE…`: the worker's verification scan on local files, for operators
//! and benchmarks. The file is hashed (BLAKE3 + SHA-256) on one thread while GStreamer demuxes
//! it on others, side by side over the same (page-cached) data.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use gst_support::continuity;
use tokio_util::sync::CancellationToken;

/// Scans `files` and prints the report. Exit status 0 when every scan ran (whatever it found),
/// 1 when a file could not be opened at all.
///
/// # Errors
/// GStreamer missing, or a file cannot be read.
pub async fn run(files: Vec<PathBuf>, json: bool, tolerance_s: f64) -> anyhow::Result<ExitCode> {
    gst_support::init()?;
    anyhow::ensure!(tolerance_s > 0.0 && tolerance_s <= 0.5, "--tolerance must be above 0 and at most 0.5 seconds");
    let tolerance = (tolerance_s * 1e9) as u64;
    let mut reports = Vec::new();
    for path in &files {
        std::fs::metadata(path).with_context(|| format!("open {}", path.display()))?;
        let p = path.clone();
        let hashing = tokio::task::spawn_blocking(move || object_store::hash_file(&p));
        let scan = gst_support::scan::demux_scan(path, &CancellationToken::new(), Duration::from_secs(60)).await?;
        let digests = hashing.await.context("hashing thread")?.with_context(|| format!("read {}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        reports.push(continuity::file_report(&name, digests.size, digests.blake3, digests.sha256, &scan, tolerance));
    }
    let report = continuity::scan_report(
        &continuity::tool_string("ingest-worker", env!("CARGO_PKG_VERSION")),
        reports,
        Vec::new(),
        tolerance,
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&report).context("render report")?);
    } else {
        for f in &report.files {
            println!("{}  {} bytes  {}", f.name, f.bytes, if f.readable { &f.container } else { "UNREADABLE" });
            println!("  blake3 {}\n  sha256 {}", f.blake3, f.sha256);
            if let Some(s) = f.recorded_start {
                println!("  recorded start {}", s.to_rfc3339());
            }
            for s in &f.streams {
                println!(
                    "  {:<5} {:<28} {:>7} frames  {:>9.3}..{:<9.3} s  interval {:.4} s",
                    s.kind.as_str(),
                    s.codec,
                    s.frames,
                    s.start_s,
                    s.end_s,
                    s.nominal_interval_s
                );
            }
            for x in &f.findings {
                println!("  ! {:<14} at {:>9.3} s  {:>8.3} s  {}", x.kind.as_str(), x.at_s, x.duration_s, x.detail);
            }
        }
        println!("verdict: {}", report.verdict.as_str());
    }
    Ok(ExitCode::SUCCESS)
}
