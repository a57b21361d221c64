//! `sealer seal` on local files: the same package as the worker writes to the evidence bucket
//! (original byte for byte with its C2PA sidecar, copies with embedded manifests, continuity
//! report, `seal.json`, `seal.sig`), in a folder, without a server and without a ledger record.
//! Operators use it to debug; `sealer verify <folder>` checks the result.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use evidence_contracts::keys::{PackageKeys, check_file_name};
use evidence_contracts::report::ScanReportV1;
use evidence_contracts::seal::{AccessOf, AccessPlanV1, ContinuityV1, ObjectRole, Placement};
use evidence_contracts::{DeviceId, EvidenceId, OfficerId, StationId};
use object_store::{Digests, StreamHasher};

use crate::credentials::Credentials;
use crate::manifest;
use crate::package::{self, Facts, binding, object as obj, unsigned};

/// `sealer seal` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct SealArgs {
    #[arg(long, default_value = "local")]
    pub station: String,
    #[arg(long)]
    pub device: String,
    #[arg(long)]
    pub officer: String,
    /// Recording start (RFC 3339), if known: it chooses the package's date folder.
    #[arg(long)]
    pub recorded_start: Option<DateTime<Utc>>,
    /// Continuity report of the original (`ingest-worker scan --json` output).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// A copy to include, as `<profile>=<file>` (repeatable).
    #[arg(long = "copy", value_parser = parse_copy)]
    pub copies: Vec<(String, PathBuf)>,
    /// Folder in which the package folder is created.
    #[arg(long)]
    pub out: PathBuf,
    /// Signer certificate chain (PEM); with --key. Default: the development identity in
    /// --dev-identity-dir (created on first use).
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Signer private key (PKCS#8 PEM, P-256).
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    #[arg(long, default_value_os_t = crate::config::SealSection::default().dev_identity_dir)]
    pub dev_identity_dir: PathBuf,
    /// The original recording (only read, never changed).
    pub original: PathBuf,
}

fn parse_copy(s: &str) -> Result<(String, PathBuf), String> {
    let (p, f) = s.split_once('=').ok_or("expected <profile>=<file>")?;
    Ok((p.to_owned(), PathBuf::from(f)))
}

/// Copies `src` to `dst` (create-new: never overwrites) while hashing it.
fn copy_hashing(src: &Path, dst: &Path) -> anyhow::Result<Digests> {
    if let Some(d) = dst.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
    }
    let mut input = std::fs::File::open(src).with_context(|| format!("open {}", src.display()))?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .with_context(|| format!("create {} (a package is never overwritten)", dst.display()))?;
    let mut h = StreamHasher::new();
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = input.read(&mut buf).with_context(|| format!("read {}", src.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n]).with_context(|| format!("write {}", dst.display()))?;
    }
    out.sync_all()?;
    Ok(h.finish())
}

/// Builds a package folder `<out>/<evidence prefix>` and prints its path.
///
/// # Errors
/// Bad ids or names, unreadable inputs, an existing package.
pub fn seal(a: &SealArgs) -> anyhow::Result<()> {
    let station = StationId::new(&a.station)?;
    let device = DeviceId::new(&a.device)?;
    let officer = OfficerId::new(&a.officer)?;
    let name = a.original.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    check_file_name(&name)?;
    // The one read of the original: copied into the output folder while it is hashed, then moved
    // to its place in the package (whose folder is named by the evidence id, known only now).
    std::fs::create_dir_all(&a.out).with_context(|| format!("create {}", a.out.display()))?;
    let staged = tempfile::Builder::new()
        .prefix(".sealing-")
        .tempfile_in(&a.out)
        .with_context(|| format!("temporary file in {}", a.out.display()))?
        .into_temp_path();
    std::fs::remove_file(&staged).ok();
    let digests = copy_hashing(&a.original, &staged)?;
    let id = EvidenceId::derive(&device, &digests.blake3);
    let now = Utc::now();
    let keys = PackageKeys::new(&officer, a.recorded_start.unwrap_or(now), &id);
    let root = a.out.join(&keys.prefix);
    let rel = |key: &str| root.join(key.strip_prefix(&keys.prefix).unwrap_or(key));
    let mut objects = Vec::new();
    let original_path = rel(&keys.original(&name));
    if original_path.exists() {
        bail!(
            "{} exists: this recording is already sealed in {} (a package is never overwritten)",
            original_path.display(),
            a.out.display()
        );
    }
    if let Some(d) = original_path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("create {}", d.display()))?;
    }
    std::fs::hard_link(&staged, &original_path)
        .with_context(|| format!("move the copy into {} (a package is never overwritten)", original_path.display()))?;
    objects.push(obj(ObjectRole::Original, None, keys.original(&name), digests));
    let (continuity, decisions) = match &a.report {
        Some(path) => {
            let text = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            let report: ScanReportV1 = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not an evidence.scan.report.v1", path.display()))?;
            let f = report.files.iter().find(|f| f.blake3 == digests.blake3).with_context(|| {
                format!("{} has no entry with the original's BLAKE3 {}", path.display(), digests.blake3)
            })?;
            let d = copy_hashing(path, &rel(&keys.continuity_report()))?;
            objects.push(obj(ObjectRole::ContinuityReport, None, keys.continuity_report(), d));
            let verdict = ScanReportV1::compute_verdict(std::slice::from_ref(f), &[]);
            (
                ContinuityV1 {
                    verdict,
                    readable: f.readable,
                    complete: f.complete,
                    findings: u32::try_from(f.findings.len()).unwrap_or(u32::MAX),
                    report_blake3: d.blake3,
                },
                Vec::new(),
            )
        }
        None => bail!(
            "--report is required: a package always carries the continuity report (run `ingest-worker scan --json FILE > report.json`)"
        ),
    };
    let creds = match (&a.cert, &a.key) {
        (Some(c), Some(k)) => Credentials::load(c, k, None)?,
        _ => {
            let seal =
                crate::config::SealSection { dev_identity_dir: a.dev_identity_dir.clone(), ..Default::default() };
            let (c, _) = crate::identity(&seal)?;
            eprintln!(
                "note: signed with the development identity; verify with --trust {}",
                a.dev_identity_dir.join("ca.cert.pem").display()
            );
            c
        }
    };
    let facts = Facts {
        evidence_id: id,
        station_id: station,
        device_id: device,
        officer_id: officer,
        file_name: name.clone(),
        recorded_start: a.recorded_start,
        recorded_end: None,
        docked_at: now,
        uploaded_at: now,
        ingested_at: now,
        sealed_at: now,
        sealed_by: format!("sealer {} (local)", env!("CARGO_PKG_VERSION")),
        continuity,
        decisions,
        retention: None,
        deadline: None,
        // A local package carries what it was given: a copy named `access` is the access
        // rendition; without one, the original.
        access: Some(if a.copies.iter().any(|(p, _)| p == "access") {
            AccessPlanV1 { of: AccessOf::Derivative, profile: Some("access".into()), made_by: None }
        } else {
            AccessPlanV1 { of: AccessOf::Original, profile: None, made_by: None }
        }),
        segment: None,
    };
    let report =
        objects.iter().find(|o| o.role == ObjectRole::ContinuityReport).cloned().context("the report object")?;
    let assertion = facts.assertion(&digests, &report);
    let mut manifests = Vec::new();
    let side_key = manifest::sidecar_key(&keys.original(&name));
    let sidecar = match manifest::sign_original_from_digests(&creds, &name, &digests.sha256, &assertion) {
        Ok(s) => {
            write_new(&rel(&side_key), &s.bytes)?;
            objects.push(obj(
                ObjectRole::C2paSidecar,
                None,
                side_key.clone(),
                object_store::hash_file(&rel(&side_key))?,
            ));
            manifests.push(binding(
                &keys.original(&name),
                Placement::Sidecar,
                Some(side_key),
                &s.hash_binding,
                s.label.clone(),
            ));
            Some(s)
        }
        Err(e) => {
            manifests.push(unsigned(&keys.original(&name), format!("{e:#}")));
            None
        }
    };
    for (profile, file) in &a.copies {
        let ext = file.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "bin".into());
        let key = keys.derivative(profile, &ext);
        let format = manifest::c2pa_format(&format!("x.{ext}")).filter(|f| f.starts_with("video/mp4"));
        if let Some(dir) = rel(&key).parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        match (&sidecar, format) {
            (Some(side), Some(format)) => {
                let check = manifest::sign_copy(&creds, file, &rel(&key), format, profile, side, &assertion)?;
                manifests.push(binding(&key, Placement::Embedded, None, &check.hash_binding, check.label));
                objects.push(obj(
                    ObjectRole::Derivative,
                    Some(profile.clone()),
                    key.clone(),
                    object_store::hash_file(&rel(&key))?,
                ));
            }
            (Some(side), None) => {
                let d = copy_hashing(file, &rel(&key))?;
                objects.push(obj(ObjectRole::Derivative, Some(profile.clone()), key.clone(), d));
                let title = key.rsplit('/').next().unwrap_or(&key).to_owned();
                let s = manifest::sign_copy_sidecar(&creds, &rel(&key), &title, profile, side, &assertion)?;
                let sk = manifest::sidecar_key(&key);
                write_new(&rel(&sk), &s.bytes)?;
                objects.push(obj(
                    ObjectRole::C2paSidecar,
                    Some(profile.clone()),
                    sk.clone(),
                    object_store::hash_file(&rel(&sk))?,
                ));
                manifests.push(binding(&key, Placement::Sidecar, Some(sk), &s.hash_binding, s.label));
            }
            (None, _) => {
                let d = copy_hashing(file, &rel(&key))?;
                objects.push(obj(ObjectRole::Derivative, Some(profile.clone()), key.clone(), d));
                manifests.push(unsigned(&key, "the original has no manifest".into()));
            }
        }
    }
    let signer = package::Signer { subject: creds.subject().to_owned(), cert_sha256: creds.cert_sha256().to_owned() };
    let record = package::seal_record(facts, &keys, "", objects, manifests, &signer);
    let body = serde_json::to_vec_pretty(&record)?;
    write_new(&rel(&keys.seal_record()), &body)?;
    let sig = creds.sign(&keys.seal_record(), &body);
    write_new(&rel(&keys.seal_signature()), &serde_json::to_vec_pretty(&sig)?)?;
    println!("{}", root.display());
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("create {} (a package is never overwritten)", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
