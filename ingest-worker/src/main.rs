use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Verifies recordings pushed by docking stations and scans them for continuity.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the NATS worker: consume ingest requests, verify, scan, hand on to the transcoder.
    Run(worker_runtime::cli::RunArgs),
    /// Scan local files (one read: BLAKE3 + SHA-256 + continuity) and print the report.
    Scan {
        /// Print the JSON report (evidence.scan.report.v1) instead of text.
        #[arg(long)]
        json: bool,
        /// Gap tolerance in seconds, within a file (at most 0.5).
        #[arg(long, default_value_t = 0.25)]
        tolerance: f64,
        /// The files are one device's session (a recording split into files): order them by
        /// wall-clock start and report gaps and overlaps between them. A folder argument means
        /// every file in it.
        #[arg(long)]
        session: bool,
        /// Tolerance between files of a session, seconds (start times have 1 s resolution).
        #[arg(long, default_value_t = 1.0)]
        session_tolerance: f64,
        /// chrono format of the time in file names, used when a file has no container time.
        #[arg(long, default_value = "%Y%m%d%H%M%S")]
        name_time_format: String,
        /// Also decode every frame and report the regions that do not decode (`decode_error`):
        /// damage demuxing cannot see. Costs a full decode (docs/benchmarks.md).
        #[arg(long)]
        decode: bool,
        /// Recordings, or folders of recordings, to scan (only read).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Working-day calendar files: `calendar check FILE...` validates them and prints each year
    /// (working days, holidays, make-up days) to compare with the official notice.
    Calendar {
        /// What to do: `check` (validate and print each year).
        #[arg(value_parser = ["check"])]
        action: String,
        /// Calendar files (deploy/calendar/CN-2026.toml …).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn calendar_check(files: &[PathBuf]) -> anyhow::Result<std::process::ExitCode> {
    let mut cal = work_calendar::Calendar::default();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("read {}: {e}", f.display()))?;
        let year = work_calendar::YearFile::parse(&text, &f.display().to_string())?;
        println!("{} {} ({}): source {}", f.display(), year.year, year.region, year.source);
        for h in &year.holidays {
            println!("  off  {} .. {}  {}", h.from, h.to, h.name);
        }
        for w in &year.workdays {
            println!("  on   {} ({:?})  {}", w.date, chrono::Datelike::weekday(&w.date), w.name);
        }
        let y = year.year;
        cal.add(year)?;
        println!("  {} working days in {y}", cal.working_days_in(y));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match worker_runtime::cli::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = match cli.cmd {
        Cmd::Run(args) => rt.block_on(ingest_worker::main_run(args)).map(|()| std::process::ExitCode::SUCCESS),
        Cmd::Scan { json, tolerance, session, session_tolerance, name_time_format, decode, files } => {
            let opts = ingest_worker::scan_cli::Options {
                json,
                tolerance,
                session,
                session_tolerance,
                name_time_format,
                decode,
            };
            rt.block_on(ingest_worker::scan_cli::run(files, &opts))
        }
        Cmd::Calendar { action: _, files } => calendar_check(&files),
    };
    worker_runtime::cli::exit(result)
}
