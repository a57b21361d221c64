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
    let rt = match worker_runtime::cli::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    worker_runtime::cli::exit(rt.block_on(recorder::run(cli.args)))
}
