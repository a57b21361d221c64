use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Makes verified copies of recordings with the GStreamer profiles in pipelines/.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the NATS worker: consume transcode jobs, make and verify copies, hand on to the sealer.
    Run(worker_runtime::cli::RunArgs),
    /// Transcode one local file with a profile, verify the copy, print the result.
    Transcode {
        /// Profile name (a descriptor `<name>.toml` in the pipelines directory).
        #[arg(long, default_value = "access")]
        profile: String,
        /// Directory holding the profiles. Default: `pipelines/` of this checkout, else
        /// /usr/share/evidence-pipeline/pipelines.
        #[arg(long, env = "EVIDENCE_PIPELINES_DIR")]
        pipelines: Option<PathBuf>,
        /// Encoder threads (0 = automatic).
        #[arg(long, default_value_t = 0)]
        threads: u32,
        /// Override a profile parameter, e.g. `--param video_bitrate_kbps=4000` (as
        /// `[policy.params.<profile>]` does for the worker). Repeatable.
        #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// The source recording (only read).
        input: PathBuf,
        /// Where to write the copy (a new file).
        output: PathBuf,
    },
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE"))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match worker_runtime::cli::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = match cli.cmd {
        Cmd::Run(args) => rt.block_on(transcoder::main_run(args)),
        Cmd::Transcode { profile, pipelines, threads, params, input, output } => rt.block_on(
            transcoder::transcode_cli(&profile, pipelines, threads, params.into_iter().collect(), &input, &output),
        ),
    };
    worker_runtime::cli::exit(result.map(|()| std::process::ExitCode::SUCCESS))
}
