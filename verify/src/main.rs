//! `evidence-verify [--trust ROOT.pem] [--json] FOLDER`: checks an exported evidence package;
//! `evidence-verify --session [--session-id ID] FOLDER`: a fixed camera's session of packages.
//! Exit 0: verified; 2: a finding (each named on a FAIL line); 1: the folder cannot be read or
//! the command line is wrong.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser as _;

/// Checks an evidence package folder (from `sealer export` or `sealer seal`) with nothing but the
/// folder: seal.sig over seal.json, every object's size, BLAKE3 and SHA-256, no object added, the
/// continuity report, the C2PA manifests, and the custody-ledger extract when present.
#[derive(Debug, clap::Parser)]
#[command(name = "evidence-verify", version)]
struct Cli {
    /// The agency's root certificate(s) (PEM): the signer's chain must end in one. Without it the
    /// signatures are checked, the signer's identity is not.
    #[arg(long)]
    trust: Option<PathBuf>,
    /// The time-stamping authority's root certificate(s) (PEM), for a package's RFC 3161 time
    /// stamp (seal.tsr). Default: the --trust roots.
    #[arg(long)]
    tsa_trust: Option<PathBuf>,
    /// The report as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// FOLDER holds a fixed camera's segment packages (one folder each, at any depth): check each,
    /// then the session (every index once, each segment naming the file before it, no package of
    /// another session).
    #[arg(long)]
    session: bool,
    /// With --session: the session to check (default: the one most packages belong to).
    #[arg(long, requires = "session")]
    session_id: Option<String>,
    /// The package folder (the one holding seal.json), or with --session the folder of packages.
    package: PathBuf,
}

fn main() -> ExitCode {
    // Exit 2 means a finding: a usage mistake exits 1, never 2 (clap's own code).
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::from(e.use_stderr()));
        }
    };
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("evidence-verify: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<bool> {
    anyhow::ensure!(
        cli.package.is_dir(),
        "{} is not a folder: give the package folder (the one holding seal.json, as `sealer export` writes it)",
        cli.package.display()
    );
    let (anchors, anchors_pem) = evidence_verify::package::anchors(cli.trust.as_ref())?;
    if cli.session {
        let r = evidence_verify::session::verify_session(
            &cli.package,
            cli.session_id.as_deref(),
            &anchors,
            anchors_pem.as_deref(),
        )?;
        if cli.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            print!("{}", r.text());
        }
        return Ok(r.ok);
    }
    let tsa = match &cli.tsa_trust {
        Some(p) => evidence_verify::signature::read_anchors(p)?,
        None => anchors.clone(),
    };
    let report = evidence_verify::package::verify_folder_with(
        &cli.package,
        &anchors,
        anchors_pem.as_deref(),
        &tsa,
        evidence_verify::package::Mode::Full,
    )?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(report.ok)
}
