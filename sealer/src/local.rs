//! `sealer seal` and `sealer verify` on local folders: the same package layout and seal record
//! as in the evidence bucket, without a server. Operators use it to debug; `sealer verify` is
//! also what a recipient of an exported package runs.
//!
//! Folder layout (keys relative to the package prefix): `original/<file>`,
//! `derivatives/<profile>.<ext>`, `continuity.json`, `seal.json`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use evidence_contracts::keys::{PackageKeys, check_file_name};
use evidence_contracts::report::{ScanReportV1, Verdict};
use evidence_contracts::seal::{ContinuityV1, ObjectRole, PackageObjectV1, SealRecordSchema, SealRecordV1, digests_of};
use evidence_contracts::{DeviceId, EvidenceId, OfficerId, StationId};
use object_store::{Digests, StreamHasher};

use crate::provenance::{Provenance, Unsigned};

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

fn obj(role: ObjectRole, profile: Option<String>, key: String, d: Digests) -> PackageObjectV1 {
    PackageObjectV1 { role, profile, key, size_bytes: d.size, blake3: d.blake3, sha256: d.sha256 }
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
    let digests = object_store::hash_file(&a.original).with_context(|| format!("read {}", a.original.display()))?;
    let id = EvidenceId::derive(&device, &digests.blake3);
    let now = Utc::now();
    let keys = PackageKeys::new(&officer, a.recorded_start.unwrap_or(now), &id);
    let root = a.out.join(&keys.prefix);
    let rel = |key: &str| root.join(key.strip_prefix(&keys.prefix).unwrap_or(key));
    let mut objects = Vec::new();
    let d = copy_hashing(&a.original, &rel(&keys.original(&name)))?;
    if d != digests {
        bail!("{} changed while it was being sealed; seal it again", a.original.display());
    }
    objects.push(obj(ObjectRole::Original, None, keys.original(&name), d));
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
    for (profile, file) in &a.copies {
        let ext = file.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_else(|| "bin".into());
        let key = keys.derivative(profile, &ext);
        let d = copy_hashing(file, &rel(&key))?;
        objects.push(obj(ObjectRole::Derivative, Some(profile.clone()), key, d));
    }
    let record = SealRecordV1 {
        schema: SealRecordSchema,
        evidence_id: id,
        station_id: station,
        device_id: device,
        officer_id: officer,
        file_name: name,
        recorded_start: a.recorded_start,
        docked_at: now,
        uploaded_at: now,
        ingested_at: now,
        sealed_at: now,
        sealed_by: format!("sealer {} (local)", env!("CARGO_PKG_VERSION")),
        bucket: String::new(),
        prefix: keys.prefix.clone(),
        objects,
        continuity,
        decisions,
        provenance: Unsigned.describe(),
        retention: None,
    };
    let seal_path = rel(&keys.seal_record());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&seal_path)
        .with_context(|| format!("create {}", seal_path.display()))?;
    f.write_all(&serde_json::to_vec_pretty(&record)?)?;
    f.sync_all()?;
    println!("{}", root.display());
    Ok(())
}

/// Result of checking one object.
#[derive(Debug, serde::Serialize)]
struct Check {
    key: String,
    ok: bool,
    problem: Option<String>,
}

/// Recomputes every digest of a package folder against its `seal.json`.
///
/// # Errors
/// No readable seal record.
pub fn verify(package: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let seal_path = package.join("seal.json");
    let text = std::fs::read(&seal_path).with_context(|| format!("read {}", seal_path.display()))?;
    let record: SealRecordV1 = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not an evidence.seal.record.v1", seal_path.display()))?;
    let mut checks = Vec::new();
    for o in &record.objects {
        let rel = o.key.strip_prefix(&record.prefix).unwrap_or(&o.key);
        let path = package.join(rel);
        let problem = match object_store::hash_file(&path) {
            Err(e) => Some(format!("cannot read {}: {e}", path.display())),
            Ok(d) if d.size != o.size_bytes => Some(format!("{} bytes, sealed as {}", d.size, o.size_bytes)),
            Ok(d) if d.blake3 != o.blake3 => Some(format!("BLAKE3 {} differs from sealed {}", d.blake3, o.blake3)),
            Ok(d) if d.sha256 != o.sha256 => Some(format!("SHA-256 {} differs from sealed {}", d.sha256, o.sha256)),
            Ok(_) => None,
        };
        checks.push(Check { key: rel.to_owned(), ok: problem.is_none(), problem });
    }
    if let Some(r) = record.objects.iter().find(|o| o.role == ObjectRole::ContinuityReport)
        && r.blake3 != record.continuity.report_blake3
    {
        checks.push(Check {
            key: "seal.json".into(),
            ok: false,
            problem: Some("continuity.report_blake3 does not match the report object listed".into()),
        });
    }
    if record.original().is_none() {
        checks.push(Check { key: "seal.json".into(), ok: false, problem: Some("lists no original".into()) });
    }
    let ok = checks.iter().all(|c| c.ok);
    if json {
        let (b3, sha) = digests_of(&text);
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "evidence_id": record.evidence_id,
                "ok": ok,
                "seal_record": {"blake3": b3, "sha256": sha},
                "continuity_verdict": record.continuity.verdict,
                "provenance": record.provenance,
                "objects": checks,
            }))?
        );
    } else {
        println!("evidence {}  sealed {} by {}", record.evidence_id, record.sealed_at.to_rfc3339(), record.sealed_by);
        for c in &checks {
            println!(
                "  {} {}{}",
                if c.ok { "ok  " } else { "FAIL" },
                c.key,
                c.problem.as_deref().map(|p| format!(": {p}")).unwrap_or_default()
            );
        }
        if record.continuity.verdict != Verdict::Continuous {
            println!("  note: continuity verdict is {} (see continuity.json)", record.continuity.verdict.as_str());
        }
        println!("  note: provenance c2pa={} (digests only)", record.provenance.c2pa);
        println!("{}", if ok { "VERIFIED" } else { "NOT VERIFIED" });
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
