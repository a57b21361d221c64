use clap::Parser;

/// Records a fixed camera over RTSP into segments handed to the pipeline as they close; outages
/// become gaps between segments. One process per camera; runs until SIGTERM or `--duration`.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    args: recorder::RecordArgs,
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
    rt.block_on(recorder::run(cli.args)).unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::ExitCode::FAILURE
    })
}
