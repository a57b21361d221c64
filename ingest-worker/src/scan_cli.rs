//! `ingest-worker scan FILE…`: the worker's verification scan on local files, for operators
//! and benchmarks. The file is hashed (BLAKE3 + SHA-256) on one thread while GStreamer demuxes
//! it on others, side by side over the same (page-cached) data.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use gst_support::continuity;
use tokio_util::sync::CancellationToken;

/// Options of `ingest-worker scan`.
#[derive(Debug, Clone)]
pub struct Options {
    pub json: bool,
    pub tolerance: f64,
    pub session: bool,
    pub session_tolerance: f64,
    pub name_time_format: String,
    /// Run the decoding check too.
    pub decode: bool,
}

/// Expands folder arguments (session mode) into their files, sorted by name.
fn expand(files: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for f in files {
        if f.is_dir() {
            let mut inner: Vec<PathBuf> = std::fs::read_dir(&f)
                .with_context(|| format!("read folder {}", f.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            inner.sort();
            out.extend(inner);
        } else {
            out.push(f);
        }
    }
    Ok(out)
}

/// Scans `files` and prints the report. Exit status 0 when every scan ran (whatever it found);
/// an error when a file cannot be opened at all.
///
/// # Errors
/// GStreamer missing, or a file cannot be read.
pub async fn run(files: Vec<PathBuf>, o: &Options) -> anyhow::Result<ExitCode> {
    gst_support::init()?;
    let (json, tolerance_s) = (o.json, o.tolerance);
    anyhow::ensure!(tolerance_s > 0.0 && tolerance_s <= 0.5, "--tolerance must be above 0 and at most 0.5 seconds");
    let tolerance = (tolerance_s * 1e9) as u64;
    let files = if o.session { expand(files)? } else { files };
    let mut reports = Vec::new();
    for path in &files {
        std::fs::metadata(path).with_context(|| format!("open {}", path.display()))?;
        let p = path.clone();
        let hashing = tokio::task::spawn_blocking(move || object_store::hash_file(&p));
        let scan = gst_support::scan::demux_scan(path, &CancellationToken::new(), Duration::from_secs(60)).await?;
        let digests = hashing.await.context("hashing thread")?.with_context(|| format!("read {}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut report = continuity::file_report(&name, digests.size, digests.blake3, digests.sha256, &scan, tolerance);
        if o.decode {
            let dec =
                gst_support::decode::decode_scan(path, &CancellationToken::new(), Duration::from_secs(60)).await?;
            continuity::add_decode_findings(&mut report, &scan, &dec);
        }
        reports.push(report);
    }
    let mut session_findings = Vec::new();
    if o.session {
        let (order, source, findings, unplaced) =
            continuity::session(&reports, &o.name_time_format, o.session_tolerance);
        for name in &unplaced {
            eprintln!(
                "warning: {name}: no start time in the container or the file name; left out of the session order"
            );
        }
        if source.is_none() && !unplaced.is_empty() {
            eprintln!("warning: start times come from file names for some files only; gaps between files may be wrong");
        }
        let mut ordered: Vec<_> = order.iter().map(|i| reports[*i].clone()).collect();
        ordered.extend(reports.iter().filter(|r| unplaced.contains(&r.name)).cloned());
        reports = ordered;
        session_findings = findings;
    }
    let report = continuity::scan_report(
        &continuity::tool_string("ingest-worker", env!("CARGO_PKG_VERSION")),
        reports,
        session_findings,
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
        for f in &report.findings {
            let kind = match f.kind {
                evidence_contracts::report::SessionFindingKind::GapBetweenFiles => "gap between",
                evidence_contracts::report::SessionFindingKind::OverlapBetweenFiles => "overlap between",
            };
            println!("! {kind} {} and {}: {:.3} s", f.after, f.before, f.duration_s);
        }
        println!("verdict: {}", report.verdict.as_str());
    }
    Ok(ExitCode::SUCCESS)
}
