use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Seals evidence packages and verifies them.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the NATS worker: consume seal jobs, store the package, publish the sealed event.
    Run(worker_runtime::cli::RunArgs),
    /// Seal local files into a package folder (original + copies + report + seal.json).
    Seal(sealer::local::SealArgs),
    /// Verify a package folder: recompute every digest against its seal.json.
    Verify {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        package: PathBuf,
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
    let result = match cli.cmd {
        Cmd::Run(args) => rt.block_on(sealer::main_run(args)).map(|()| std::process::ExitCode::SUCCESS),
        Cmd::Seal(args) => sealer::local::seal(&args).map(|()| std::process::ExitCode::SUCCESS),
        Cmd::Verify { json, package } => sealer::local::verify(&package, json),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::ExitCode::FAILURE
    })
}
