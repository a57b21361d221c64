use clap::{Parser, Subcommand};

/// Docking-station client: push recordings into the evidence pipeline.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Upload recordings to the landing area and publish their ingest requests.
    Push(station::PushArgs),
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
    match cli.cmd {
        Cmd::Push(args) => match rt.block_on(station::push(args)) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}
