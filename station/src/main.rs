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
    /// Run the docking-station agent: watch slots, upload (resumable), publish, await receipts.
    Dock(station::DockArgs),
    /// Create this station's NKey (seed, 0600) and the server entry with its permissions.
    Credentials {
        /// The station id.
        #[arg(long)]
        station: String,
        /// Folder for `<station>.nk` and `<station>.nats.conf`.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match worker_runtime::cli::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = match cli.cmd {
        Cmd::Push(args) => rt.block_on(station::push(args)),
        Cmd::Dock(args) => rt.block_on(station::dock(args)),
        Cmd::Credentials { station, out } => credentials(&station, &out),
    };
    worker_runtime::cli::exit(result)
}

fn credentials(station: &str, out: &std::path::Path) -> anyhow::Result<std::process::ExitCode> {
    let id = evidence_contracts::StationId::new(station).map_err(|e| anyhow::anyhow!("--station: {e}"))?;
    let (seed, conf) = station::creds::write_station_credentials(out, &id)?;
    print!("{}", std::fs::read_to_string(&conf)?);
    eprintln!(
        "seed: {} (copy to the station, set nats.nkey_seed_file and nats.inbox_prefix = \"{}\")\nserver entry: {} (add to the users list of deploy/nats/auth.conf)",
        seed.display(),
        station::creds::inbox_prefix(&id),
        conf.display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}
