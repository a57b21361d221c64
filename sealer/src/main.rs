use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sealer::gate::Purpose;
use worker_runtime::cli::{Endpoints, non_empty};

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
    /// Verify a package: an exported or local folder (offline), or an evidence id in the live
    /// stores. By id without --approval only the seal record, its signature and the ledger are
    /// read (no approval needed); with --approval (scope package) the whole package is read
    /// through the access gate and the verification is on the ledger. Exit 0 verified, 2 not.
    Verify {
        #[command(flatten)]
        endpoints: Endpoints,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Trusted root certificate(s), PEM (e.g. the agency root, or the development
        /// `ca.cert.pem`). Without it the signer is reported as not checked.
        #[arg(long)]
        trust: Option<PathBuf>,
        /// The time-stamping authority's root(s), PEM, for a package's RFC 3161 time stamp
        /// (seal.tsr). Default: the --trust roots.
        #[arg(long)]
        tsa_trust: Option<PathBuf>,
        /// Approval id (scope package) to read and check the objects too (evidence id form).
        #[arg(long, requires_all = ["actor", "reason"])]
        approval: Option<String>,
        /// Who verifies (recorded in the ledger; with --approval).
        #[arg(long, value_parser = non_empty)]
        actor: Option<String>,
        /// Why (recorded in the ledger; with --approval).
        #[arg(long, value_parser = non_empty)]
        reason: Option<String>,
        /// The folder holds a fixed camera's segment packages (exported one by one): check each
        /// and the session's chain (evidence-verify --session).
        #[arg(long, conflicts_with = "approval")]
        session: bool,
        /// With --session: the session id to check (default: the one most packages belong to).
        #[arg(long, requires = "session")]
        session_id: Option<String>,
        /// A package folder, or an evidence id (with --session: a folder of packages).
        package: String,
    },
    /// Export one package and the ledger records that concern it into a new folder, for offline
    /// verification. Needs an approval of the whole package (sealer approve --scope package);
    /// the export is recorded in the ledger before anything is read.
    Export {
        #[command(flatten)]
        endpoints: Endpoints,
        /// The approval id (scope package; from the case system or `sealer approve`).
        #[arg(long)]
        approval: Option<String>,
        /// Who exports (recorded in the ledger).
        #[arg(long, value_parser = non_empty)]
        actor: String,
        /// Why (recorded in the ledger).
        #[arg(long, value_parser = non_empty)]
        reason: String,
        /// The evidence id.
        evidence_id: String,
        /// A new (or empty) folder.
        out: PathBuf,
    },
    /// The custody history of one item: every ledger record about it in order (sealed,
    /// retention and holds, accesses and refusals, classification), with actor, time, reason and
    /// approval. Reads only the ledger (no approval needed).
    History {
        #[command(flatten)]
        endpoints: Endpoints,
        /// Print the records as JSON.
        #[arg(long)]
        json: bool,
        /// The evidence id.
        evidence_id: String,
    },
    /// The custody report of one recording for people, in Chinese and English: its facts, the
    /// continuity findings with times, every object's hashes, signatures and manifests, and every
    /// custody-ledger record in order. Writes custody-<id>.html (print-ready) and custody-<id>.pdf
    /// (printed by headless Chromium). Reads records only (no media): no approval needed.
    Report {
        #[command(flatten)]
        endpoints: Endpoints,
        /// Trusted root certificate(s), PEM: the report then says whether the signer is trusted.
        #[arg(long)]
        trust: Option<PathBuf>,
        /// Folder to write the report into (created if needed).
        #[arg(long)]
        out: PathBuf,
        /// Write the HTML only (no Chromium needed).
        #[arg(long)]
        no_pdf: bool,
        /// The Chromium binary to print the PDF with (default: chromium on PATH).
        #[arg(long, conflicts_with = "no_pdf")]
        chromium: Option<PathBuf>,
        /// The evidence id.
        evidence_id: String,
    },
    /// Bind a package to a case and set or extend its retention (S3 Object Lock; never shortened,
    /// in the ledger or the store), and/or put it under legal hold or release it (a hold has no
    /// date); recorded in the custody ledger.
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
        /// Folder for the CA and signer files (created).
        #[arg(long)]
        out: PathBuf,
        /// Organisation name in the certificates.
        #[arg(long, default_value = "Evidence Pipeline Development")]
        organisation: String,
        /// Validity of the signer certificate in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
}

fn load_config(e: &Endpoints) -> anyhow::Result<sealer::Config> {
    <sealer::Config as worker_runtime::startup::WorkerConfig>::load(&e.run_args())
}

use sealer::access::parse_id;

struct VerifyArgs {
    endpoints: Endpoints,
    json: bool,
    trust: Option<PathBuf>,
    tsa_trust: Option<PathBuf>,
    approval: Option<String>,
    actor: Option<String>,
    reason: Option<String>,
    package: String,
}

fn verify(a: VerifyArgs, rt: &tokio::runtime::Runtime) -> anyhow::Result<ExitCode> {
    let (anchors, anchors_pem) = sealer::verify::anchors(a.trust.as_ref())?;
    let folder = PathBuf::from(&a.package);
    let tmp;
    let (dir, mode) = if folder.is_dir() {
        anyhow::ensure!(a.approval.is_none(), "--approval is for an evidence id; a folder is verified as it is");
        (folder, sealer::verify::Mode::Full)
    } else {
        let id =
            parse_id(&a.package).map_err(|e| e.context(format!("{} is not a package folder either", a.package)))?;
        let cfg = load_config(&a.endpoints)?;
        tmp = tempfile::tempdir()?;
        let out = tmp.path().join(id.to_string());
        if let Some(approval) = a.approval.clone() {
            let (actor, reason) = (a.actor.unwrap_or_default(), a.reason.unwrap_or_default());
            rt.block_on(sealer::export::export(&cfg, &id, &out, Some(approval), &actor, &reason, Purpose::Verify))?;
            (out, sealer::verify::Mode::Full)
        } else {
            rt.block_on(sealer::export::fetch_records(&cfg, &id, &out))?;
            (out, sealer::verify::Mode::RecordsOnly)
        }
    };
    let tsa = match &a.tsa_trust {
        Some(p) => sealer::credentials::read_anchors(p)?,
        None => anchors.clone(),
    };
    let report = sealer::verify::verify_folder_with(&dir, &anchors, anchors_pem.as_deref(), &tsa, mode)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match worker_runtime::cli::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = match cli.cmd {
        Cmd::Run(args) => rt.block_on(sealer::main_run(args)).map(|()| ExitCode::SUCCESS),
        Cmd::Seal(args) => sealer::local::seal(&args).map(|()| ExitCode::SUCCESS),
        Cmd::Verify { json, trust, session: true, session_id, package, .. } => (|| {
            let dir = PathBuf::from(&package);
            anyhow::ensure!(
                dir.is_dir(),
                "{package} is not a folder: --session checks a folder of exported packages (sealer export each segment)"
            );
            let (anchors, anchors_pem) = sealer::verify::anchors(trust.as_ref())?;
            let r = evidence_verify::session::verify_session(
                &dir,
                session_id.as_deref(),
                &anchors,
                anchors_pem.as_deref(),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", r.text());
            }
            Ok(if r.ok { ExitCode::SUCCESS } else { ExitCode::from(2) })
        })(),
        Cmd::Verify { endpoints, json, trust, tsa_trust, approval, actor, reason, package, .. } => {
            verify(VerifyArgs { endpoints, json, trust, tsa_trust, approval, actor, reason, package }, &rt)
        }
        Cmd::Export { endpoints, approval, actor, reason, evidence_id, out } => (|| {
            let id = parse_id(&evidence_id)?;
            let cfg = load_config(&endpoints)?;
            let seq =
                rt.block_on(sealer::export::export(&cfg, &id, &out, approval, &actor, &reason, Purpose::Export))?;
            println!("{}", out.display());
            eprintln!("exported under ledger record {seq}");
            Ok(ExitCode::SUCCESS)
        })(),
        Cmd::History { endpoints, json, evidence_id } => (|| {
            let id = parse_id(&evidence_id)?;
            let cfg = load_config(&endpoints)?;
            let lines = rt.block_on(sealer::export::history(&cfg, &id))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&lines)?);
            } else {
                print!("{}", sealer::history::text(&evidence_id, &lines));
            }
            Ok(ExitCode::SUCCESS)
        })(),
        Cmd::Report { endpoints, trust, out, no_pdf, chromium, evidence_id } => (|| {
            let id = parse_id(&evidence_id)?;
            let cfg = load_config(&endpoints)?;
            let pdf = (!no_pdf).then_some(chromium);
            for f in rt.block_on(sealer::report::report(&cfg, &id, &out, trust.as_ref(), pdf))? {
                println!("{}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        })(),
        Cmd::Retain(a) => (|| {
            let cfg = load_config(&a.endpoints)?;
            rt.block_on(sealer::retain::retain(&cfg, &a))?;
            Ok(ExitCode::SUCCESS)
        })(),
        Cmd::Approve(a) => (|| {
            let cfg = load_config(&a.endpoints)?;
            println!("{}", rt.block_on(sealer::access::approve(&cfg, &a))?);
            Ok(ExitCode::SUCCESS)
        })(),
        Cmd::Access(a) => (|| {
            let cfg = load_config(&a.endpoints)?;
            let out = rt.block_on(sealer::access::access(&cfg, &a))?;
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        })(),
        Cmd::Classify(a) => (|| {
            let cfg = load_config(&a.endpoints)?;
            if let Some(seq) = rt.block_on(sealer::access::classify(&cfg, &a))? {
                println!("ledger record {seq}");
            }
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
    worker_runtime::cli::exit(result)
}
