use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Seal local files into a package folder (original + C2PA sidecar, signed copies, report,
    /// seal.json, seal.sig). No server, no ledger record.
    Seal(sealer::local::SealArgs),
    /// Verify a package: an exported or local folder, or an evidence id looked up in the live
    /// stores (exported to a temporary folder first). Exit 0 verified, 2 not verified.
    Verify {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Trusted root certificate(s), PEM (e.g. the agency root, or the development
        /// `ca.cert.pem`). Without it the signer is reported as not checked.
        #[arg(long)]
        trust: Option<PathBuf>,
        /// Config for the online lookup (evidence id form).
        #[arg(long)]
        config: Option<PathBuf>,
        /// A package folder, or an evidence id.
        package: String,
    },
    /// Export one package and its ledger stretch into a new folder, for offline verification.
    Export {
        #[arg(long)]
        config: Option<PathBuf>,
        evidence_id: String,
        out: PathBuf,
    },
    /// Bind a package to a case and set or extend its retention (S3 Object Lock, never
    /// shortened) and legal hold; recorded in the custody ledger.
    Retain(sealer::retain::RetainArgs),
    /// Approve access to sealed evidence (for agencies whose case system does not publish
    /// approvals itself); prints the approval id.
    Approve(sealer::access::ApproveArgs),
    /// Retrieve evidence under an approval: prints short-lived URLs as JSON; the access, or the
    /// refusal (exit 1), is recorded in the custody ledger.
    Access(sealer::access::AccessArgs),
    /// Put sealed evidence into a restricted class (secret, privacy) or release it (`none`);
    /// recorded in the custody ledger. Access then needs an approval naming the class.
    Classify(sealer::access::ClassifyArgs),
    /// Create a development CA and a signer issued by it (PEM files). Not for production: see
    /// sealer/README.md for the production identity.
    DevCa {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "Evidence Pipeline Development")]
        organisation: String,
        /// Validity of the signer certificate in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
}

fn load_config(path: Option<PathBuf>) -> anyhow::Result<sealer::Config> {
    let args = worker_runtime::cli::RunArgs { config: path, ..Default::default() };
    sealer::Config::load(&args)
}

fn verify(
    json: bool,
    trust: Option<PathBuf>,
    config: Option<PathBuf>,
    package: &str,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    let (anchors, anchors_pem) = sealer::verify::anchors(trust.as_ref())?;
    let folder = PathBuf::from(package);
    let tmp;
    let dir = if folder.is_dir() {
        folder
    } else {
        let id: evidence_contracts::EvidenceId = package
            .parse()
            .map_err(|e| anyhow::anyhow!("{package} is neither a package folder nor an evidence id: {e}"))?;
        let cfg = load_config(config)?;
        tmp = tempfile::tempdir()?;
        let out = tmp.path().join(id.to_string());
        rt.block_on(sealer::export::export(&cfg, &id, &out))?;
        out
    };
    let report = sealer::verify::verify_folder(&dir, &anchors, anchors_pem.as_deref())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: start async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.cmd {
        Cmd::Run(args) => rt.block_on(sealer::main_run(args)).map(|()| ExitCode::SUCCESS),
        Cmd::Seal(args) => sealer::local::seal(&args).map(|()| ExitCode::SUCCESS),
        Cmd::Verify { json, trust, config, package } => verify(json, trust, config, &package, &rt),
        Cmd::Export { config, evidence_id, out } => (|| {
            let id: evidence_contracts::EvidenceId =
                evidence_id.parse().map_err(|e| anyhow::anyhow!("{evidence_id} is not an evidence id: {e}"))?;
            let cfg = load_config(config)?;
            rt.block_on(sealer::export::export(&cfg, &id, &out))?;
            println!("{}", out.display());
            Ok(ExitCode::SUCCESS)
        })(),
        Cmd::Retain(a) => (|| {
            let cfg = load_config(a.config.clone())?;
            rt.block_on(sealer::retain::retain(&cfg, &a))?;
            Ok(ExitCode::SUCCESS)
        })(),
        Cmd::Approve(a) => (|| {
            let cfg = load_config(a.config.clone())?;
            println!("{}", rt.block_on(sealer::access::approve(&cfg, &a))?);
            Ok(ExitCode::SUCCESS)
        })(),
        Cmd::Access(a) => (|| {
            let cfg = load_config(a.config.clone())?;
            let out = rt.block_on(sealer::access::access(&cfg, &a))?;
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        })(),
        Cmd::Classify(a) => (|| {
            let cfg = load_config(a.config.clone())?;
            let seq = rt.block_on(sealer::access::classify(&cfg, &a))?;
            println!("ledger record {seq}");
            Ok(ExitCode::SUCCESS)
        })(),
        Cmd::DevCa { out, organisation, days } => sealer::credentials::dev_ca(&out, &organisation, days).map(|f| {
            println!("trust anchor (give to verifiers): {}", f.ca_cert.display());
            println!("signer chain:  {}", f.chain.display());
            println!("signer key:    {} (mode 0600)", f.key.display());
            println!(
                "configure: [seal] certificate_chain = \"{}\", private_key = \"{}\"",
                f.chain.display(),
                f.key.display()
            );
            ExitCode::SUCCESS
        }),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}
