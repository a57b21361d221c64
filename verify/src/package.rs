//! Everything a court or auditor needs checked, from a package folder alone (an export, or a
//! local seal); `sealer verify <evidence id>` fetches the folder from the live stores first.
//!
//! Checks, each naming the object it concerns:
//! 1. `seal.sig` verifies over the exact bytes of `seal.json` (ES256), its certificate chain
//!    links up, and with `--trust` ends in a trusted root;
//! 2. every object listed in `seal.json` exists with its sealed size, BLAKE3 and SHA-256, and no
//!    file is in the package that the record does not list (inserted footage);
//! 3. the continuity report is the one whose digest the record carries;
//! 4. each C2PA manifest validates against its asset (sidecar of the original, manifest
//!    embedded in a copy or a copy's sidecar), carries the recording assertion for this evidence
//!    id and this original's digests (a swapped sidecar fails here), and each copy's parent
//!    ingredient is the original's manifest;
//! 5. with a ledger extract (`ledger.json`, written by `sealer export`): each stretch of the
//!    chain replays from a signed checkpoint or record 1 (no record removed, inserted or
//!    reordered), signed checkpoints match it, and it holds the seal record for this package
//!    with the digest of this `seal.json`; every record of the item is listed (`history`).
//!
//! [`Mode::RecordsOnly`] (`sealer verify <evidence id>` without an approval) checks 1 and 5 and
//! names the objects it did not read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use evidence_contracts::ledger::{self, LedgerCheckpointV1, LedgerKind, LedgerRecordV1};
use evidence_contracts::seal::{ObjectRole, SealRecordV1, SignatureV1, digests_of};
use serde::{Deserialize, Serialize};

use crate::chain::{Entry, check_chain};
use crate::manifest;
use crate::signature as credentials;

/// The ledger extract in an exported package.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerExtract {
    pub stream: String,
    /// Consecutive records, oldest first; starts at a checkpoint (or record 1).
    pub entries: Vec<Entry>,
    /// Sequences of the checkpoints copied under `ledger/checkpoints/`.
    pub checkpoints: Vec<u64>,
}

/// File name of the ledger extract in an exported package.
pub const LEDGER_FILE: &str = "ledger.json";

/// One verdict line.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The object (key relative to the package) or aspect checked.
    pub subject: String,
    pub ok: bool,
    pub detail: String,
}

/// What is in the folder to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A whole package (an export, a local seal).
    Full,
    /// Only the seal record, its signature and the ledger: the objects were not read (no
    /// approval); their digests are in the signed record, unchecked against bytes.
    RecordsOnly,
}

/// The whole verification.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub evidence_id: Option<String>,
    pub package: String,
    pub ok: bool,
    pub mode: Mode,
    pub signer: Option<String>,
    pub signer_trusted: bool,
    pub checks: Vec<Check>,
    pub notes: Vec<String>,
    /// Every ledger record of this evidence in the extract, in ledger order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<crate::history::Line>,
}

impl Report {
    fn push(&mut self, subject: impl Into<String>, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check { subject: subject.into(), ok, detail: detail.into() });
    }

    /// Human-readable text.
    pub fn text(&self) -> String {
        let mut s = format!(
            "package {}\nevidence {}\nsigner  {}{}\n",
            self.package,
            self.evidence_id.as_deref().unwrap_or("?"),
            self.signer.as_deref().unwrap_or("?"),
            if self.signer_trusted { " (trusted)" } else { " (not checked against a trust anchor)" }
        );
        for c in &self.checks {
            s.push_str(&format!("  {} {}: {}\n", if c.ok { "ok  " } else { "FAIL" }, c.subject, c.detail));
        }
        for n in &self.notes {
            s.push_str(&format!("  note: {n}\n"));
        }
        if !self.history.is_empty() {
            s.push_str("custody history (ledger):\n");
            for l in &self.history {
                s.push_str(&format!("  {}\n", l.text()));
            }
        }
        s.push_str(match (self.ok, self.mode) {
            (true, Mode::Full) => "VERIFIED\n",
            (true, Mode::RecordsOnly) => {
                "VERIFIED: seal record, signature and ledger only; the objects were not read (an approval is needed)\n"
            }
            (false, _) => "NOT VERIFIED\n",
        });
        s
    }
}

fn files_under(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let Ok(r) = p.strip_prefix(root) {
                out.push(r.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Verifies a package folder. `anchors` are trusted root certificates (DER); empty = signer
/// not checked against a root (reported, and C2PA's `signingCredential.untrusted` tolerated).
///
/// # Errors
/// Only when the folder cannot be read at all; every finding is in the report.
pub fn verify_folder(dir: &Path, anchors: &[Vec<u8>], anchors_pem: Option<&str>) -> anyhow::Result<Report> {
    verify_folder_as(dir, anchors, anchors_pem, Mode::Full)
}

/// [`verify_folder`] for a folder of the given [`Mode`]; a time stamp (`seal.tsr`) is checked
/// against the same roots.
///
/// # Errors
/// Only when the folder cannot be read at all.
pub fn verify_folder_as(
    dir: &Path,
    anchors: &[Vec<u8>],
    anchors_pem: Option<&str>,
    mode: Mode,
) -> anyhow::Result<Report> {
    verify_folder_with(dir, anchors, anchors_pem, anchors, mode)
}

/// File name of the RFC 3161 time stamp over `seal.json` in a package.
pub const TIMESTAMP_FILE: &str = "seal.tsr";

/// [`verify_folder_as`] with the time-stamping authority's roots apart (`--tsa-trust`).
///
/// # Errors
/// Only when the folder cannot be read at all.
pub fn verify_folder_with(
    dir: &Path,
    anchors: &[Vec<u8>],
    anchors_pem: Option<&str>,
    tsa_anchors: &[Vec<u8>],
    mode: Mode,
) -> anyhow::Result<Report> {
    let mut r = Report {
        evidence_id: None,
        package: dir.display().to_string(),
        ok: false,
        mode,
        signer: None,
        signer_trusted: false,
        checks: Vec::new(),
        notes: Vec::new(),
        history: Vec::new(),
    };
    anyhow::ensure!(dir.is_dir(), "{} is not a folder", dir.display());
    let seal_path = dir.join("seal.json");
    let Ok(seal_bytes) = std::fs::read(&seal_path) else {
        r.push("seal.json", false, "missing: this is not a sealed package (or it was removed)");
        return Ok(r);
    };
    let record: SealRecordV1 = match serde_json::from_slice(&seal_bytes) {
        Ok(x) => x,
        Err(e) => {
            r.push("seal.json", false, format!("does not parse as evidence.seal.record.v1: {e}"));
            return Ok(r);
        }
    };
    r.evidence_id = Some(record.evidence_id.to_string());
    let rel = |key: &str| key.strip_prefix(&record.prefix).unwrap_or(key).to_owned();

    // 1. Signature.
    match std::fs::read(dir.join("seal.sig")) {
        Err(_) => r.push("seal.sig", false, "missing: the seal record is unsigned"),
        Ok(b) => match serde_json::from_slice::<SignatureV1>(&b) {
            Err(e) => r.push("seal.sig", false, format!("does not parse as evidence.signature.v1: {e}")),
            Ok(sig) => match credentials::verify(&sig, &seal_bytes, anchors) {
                Ok(info) => {
                    r.signer = Some(info.subject.clone());
                    r.signer_trusted = info.trusted;
                    if !anchors.is_empty() && !info.trusted {
                        r.push(
                            "seal.sig",
                            false,
                            format!("valid signature by {}, but not issued by a trusted root", info.subject),
                        );
                    } else if record.provenance.signer_sha256.as_deref().is_some_and(|s| s != info.cert_sha256) {
                        r.push("seal.sig", false, "signed by a certificate other than the one the record names");
                    } else {
                        r.push("seal.sig", true, format!("ES256 signature over seal.json by {}", info.subject));
                    }
                }
                Err(e) => r.push("seal.sig", false, e),
            },
        },
    }
    match std::fs::read(dir.join(TIMESTAMP_FILE)) {
        Err(_) => r
            .notes
            .push(format!("no RFC 3161 time stamp ({TIMESTAMP_FILE}): the package's times are the sealer's own clock")),
        Ok(tsr) => match crate::timestamp::check(&tsr, &seal_bytes, tsa_anchors) {
            Ok(i) if !tsa_anchors.is_empty() && !i.trusted => r.push(
                TIMESTAMP_FILE,
                false,
                format!(
                    "time stamp over seal.json by {} at {}, but its TSA is not issued by a trusted root",
                    i.tsa, i.gen_time_rfc3339
                ),
            ),
            Ok(i) => r.push(
                TIMESTAMP_FILE,
                true,
                format!(
                    "RFC 3161 time stamp over seal.json by {} at {}{}",
                    i.tsa,
                    i.gen_time_rfc3339,
                    if i.trusted { " (TSA trusted)" } else { " (TSA not checked against a trust anchor)" }
                ),
            ),
            Err(e) => r.push(TIMESTAMP_FILE, false, e),
        },
    }

    if mode == Mode::RecordsOnly {
        r.notes.push(format!(
            "{} object(s) not read: their bytes need an approval of the whole package (sealer verify --approval ID --actor A --reason R {})",
            record.objects.len(),
            record.evidence_id
        ));
        for o in &record.objects {
            r.notes.push(format!("not read: {} ({} bytes, SHA-256 {} as sealed)", rel(&o.key), o.size_bytes, o.sha256));
        }
        if record.original().is_none() {
            r.push("seal.json", false, "lists no original");
        }
        match std::fs::read(dir.join(LEDGER_FILE)) {
            Err(_) => r.push(LEDGER_FILE, false, "missing: the ledger was not fetched"),
            Ok(b) => verify_ledger(dir, &b, &record, &seal_bytes, anchors, &mut r),
        }
        r.ok = r.checks.iter().all(|c| c.ok) && !r.checks.is_empty();
        return Ok(r);
    }

    // 2. Objects.
    let mut listed: BTreeSet<String> = BTreeSet::new();
    for o in &record.objects {
        let k = rel(&o.key);
        listed.insert(k.clone());
        let (ok, detail) = match crate::digest::hash_file(&dir.join(&k)) {
            Err(e) => (false, format!("missing or unreadable: {e}")),
            Ok(d) if d.size != o.size_bytes => (false, format!("{} bytes, sealed as {}", d.size, o.size_bytes)),
            Ok(d) if d.blake3 != o.blake3 => {
                (false, format!("BLAKE3 {} differs from the sealed {}", d.blake3, o.blake3))
            }
            Ok(d) if d.sha256 != o.sha256 => {
                (false, format!("SHA-256 {} differs from the sealed {}", d.sha256, o.sha256))
            }
            Ok(d) => (true, format!("{} bytes, BLAKE3 and SHA-256 as sealed", d.size)),
        };
        r.push(k, ok, detail);
    }
    for f in files_under(dir) {
        let extra =
            f == "seal.json" || f == "seal.sig" || f == TIMESTAMP_FILE || f == LEDGER_FILE || f.starts_with("ledger/");
        if !extra && !listed.contains(&f) {
            r.push(f, false, "not listed in seal.json: something was added to the package");
        }
    }
    if record.original().is_none() {
        r.push("seal.json", false, "lists no original");
    }

    // 3. Continuity report.
    match record.objects.iter().find(|o| o.role == ObjectRole::ContinuityReport) {
        Some(o) if o.blake3 == record.continuity.report_blake3 => {}
        Some(o) => r.push(rel(&o.key), false, "is not the report whose BLAKE3 seal.json's continuity section carries"),
        None => r.push("seal.json", false, "lists no continuity report"),
    }

    // 4. C2PA manifests.
    let original = record.original().cloned();
    let mut original_label = None;
    for b in &record.provenance.manifests {
        let asset = rel(&b.asset_key);
        let asset_path = dir.join(&asset);
        let is_original = original.as_ref().is_some_and(|o| o.key == b.asset_key);
        let check = match b.placement.as_str() {
            "none" => {
                r.notes.push(format!(
                    "{asset} carries no C2PA manifest ({}); the signed seal record binds it",
                    b.reason.as_deref().unwrap_or("no reason recorded")
                ));
                continue;
            }
            "sidecar" => {
                let mk = b.manifest_key.as_deref().map(rel).unwrap_or_default();
                let Ok(bytes) = std::fs::read(dir.join(&mk)) else {
                    r.push(mk, false, "sidecar manifest missing");
                    continue;
                };
                let format = if b.hash_binding == evidence_contracts::seal::HashBinding::Data {
                    manifest::GENERIC_FORMAT
                } else {
                    manifest::c2pa_format(&asset).unwrap_or(manifest::GENERIC_FORMAT)
                };
                (mk, manifest::read_sidecar(&asset_path, format, &bytes, anchors_pem))
            }
            _ => {
                let format = manifest::c2pa_format(&asset).unwrap_or("video/mp4");
                (format!("{asset} (embedded manifest)"), manifest::read_embedded(&asset_path, format, anchors_pem))
            }
        };
        let (name, c) = check;
        let mut problems = c.failures.clone();
        if anchors_pem.is_some() && c.untrusted {
            problems.push("signingCredential.untrusted: not signed under the given trust anchor".into());
        }
        if let Some(a) = &c.assertion {
            if a.evidence_id != record.evidence_id {
                problems.push(format!(
                    "its recording assertion is for evidence {}, not {}",
                    a.evidence_id, record.evidence_id
                ));
            }
            if let Some(o) = &original
                && (a.original_blake3 != o.blake3 || a.original_sha256 != o.sha256)
            {
                problems.push("its recording assertion names another original (digests differ)".into());
            }
        }
        if b.manifest_label.is_some() && c.label.is_some() && b.manifest_label != c.label {
            problems.push(format!(
                "manifest {} is not the {} the seal record names",
                c.label.clone().unwrap_or_default(),
                b.manifest_label.clone().unwrap_or_default()
            ));
        }
        if is_original {
            original_label = c.label.clone();
        } else if c.parent_manifest.is_none() {
            problems.push("the copy's manifest has no parent ingredient".into());
        } else if original_label.is_some() && c.parent_manifest != original_label {
            problems.push(format!(
                "the copy's parent ingredient is manifest {}, not the original's {}",
                c.parent_manifest.clone().unwrap_or_default(),
                original_label.clone().unwrap_or_default()
            ));
        }
        if problems.is_empty() {
            r.push(
                name,
                true,
                format!("C2PA {} manifest valid ({}), actions {:?}", b.placement, c.hash_binding, c.actions),
            );
        } else {
            r.push(name, false, problems.join("; "));
        }
    }

    // 5. Ledger extract.
    match std::fs::read(dir.join(LEDGER_FILE)) {
        Err(_) => r.notes.push(
            "no ledger extract in this folder: the custody-ledger chain was not checked (use `sealer export` or `sealer verify <evidence id>`)".into(),
        ),
        Ok(b) => verify_ledger(dir, &b, &record, &seal_bytes, anchors, &mut r),
    }
    r.ok = r.checks.iter().all(|c| c.ok) && !r.checks.is_empty();
    Ok(r)
}

fn verify_ledger(
    dir: &Path,
    bytes: &[u8],
    record: &SealRecordV1,
    seal_bytes: &[u8],
    anchors: &[Vec<u8>],
    r: &mut Report,
) {
    let extract: LedgerExtract = match serde_json::from_slice(bytes) {
        Ok(x) => x,
        Err(e) => return r.push(LEDGER_FILE, false, format!("does not parse: {e}")),
    };
    // Verified checkpoints: seq → head hash.
    let mut signed: std::collections::BTreeMap<u64, String> = std::collections::BTreeMap::new();
    let mut cp_ok = true;
    for seq in &extract.checkpoints {
        let (k, sk) = (ledger::checkpoint_key(*seq), ledger::checkpoint_signature_key(*seq));
        let (Ok(cb), Ok(sb)) = (std::fs::read(dir.join(&k)), std::fs::read(dir.join(&sk))) else {
            r.push(k, false, "checkpoint or its signature missing");
            cp_ok = false;
            continue;
        };
        let cp: LedgerCheckpointV1 = match serde_json::from_slice(&cb) {
            Ok(c) => c,
            Err(e) => {
                r.push(k, false, format!("does not parse: {e}"));
                cp_ok = false;
                continue;
            }
        };
        let sig_ok = serde_json::from_slice::<SignatureV1>(&sb)
            .map_err(|e| e.to_string())
            .and_then(|s| credentials::verify(&s, &cb, anchors).map(|_| ()));
        if let Err(e) = sig_ok {
            r.push(k, false, format!("checkpoint signature: {e}"));
            cp_ok = false;
            continue;
        }
        if cp.seq != *seq {
            r.push(k, false, format!("is stored as checkpoint {seq} but says {}", cp.seq));
            cp_ok = false;
            continue;
        }
        match extract.entries.iter().find(|e| e.seq == cp.seq) {
            Some(e) if ledger::record_sha256(e.payload.as_bytes()) != cp.head_sha256 => {
                r.push(k, false, format!("ledger record {} differs from the signed checkpoint", cp.seq));
                cp_ok = false;
            }
            _ => {
                signed.insert(cp.seq, cp.head_sha256);
            }
        }
    }
    let mut sorted = extract.entries.clone();
    sorted.sort_by_key(|e| e.seq);
    if sorted.windows(2).any(|w| w[0].seq == w[1].seq) {
        r.push(LEDGER_FILE, false, "a ledger sequence appears twice in the extract");
    }
    // This evidence's records, parsed once: (seq, payload SHA-256, record, payload).
    let items: Vec<(u64, String, LedgerRecordV1, &str)> = sorted
        .iter()
        .filter_map(|e| {
            let x: LedgerRecordV1 = serde_json::from_str(&e.payload).ok()?;
            (x.evidence_id == record.evidence_id)
                .then(|| (e.seq, ledger::record_sha256(e.payload.as_bytes()), x, e.payload.as_str()))
        })
        .collect();
    let is_item = |seq: u64| items.iter().any(|(s, ..)| *s == seq);
    // Stretches of consecutive records; each starts at record 1 or at a signed checkpoint.
    let mut runs: Vec<&[Entry]> = Vec::new();
    let mut start = 0;
    for i in 1..=sorted.len() {
        if i == sorted.len() || sorted[i].seq != sorted[i - 1].seq + 1 {
            if start < i {
                runs.push(&sorted[start..i]);
            }
            start = i;
        }
    }
    let mut problems = Vec::new();
    let mut unbound = Vec::new();
    for run in &runs {
        let first = run[0].seq;
        // `signed` holds only checkpoints whose record in the extract has the signed hash.
        let chain = match signed.get(&first) {
            _ if first == 1 => check_chain(run, None),
            Some(h) => check_chain(&run[1..], Some((first, h))),
            None => {
                problems.push(format!(
                    "the stretch of records {first}..{} starts neither at record 1 nor at a signed checkpoint: records before it are missing from the extract",
                    run[run.len() - 1].seq
                ));
                continue;
            }
        };
        problems.extend(chain.problems);
        let end = run[run.len() - 1].seq;
        if !std::ptr::eq(*run, runs[runs.len() - 1]) && !signed.contains_key(&end) {
            problems.push(format!(
                "the stretch of records {first}..{end} ends neither at a signed checkpoint nor at the end of the extract: records after {end} were left out"
            ));
        }
        let last_signed = signed.keys().copied().filter(|c| *c >= first && *c <= run[run.len() - 1].seq).max();
        unbound.extend(run.iter().map(|e| e.seq).filter(|s| last_signed.is_none_or(|c| *s > c) && is_item(*s)));
    }
    if problems.is_empty() {
        let spans: Vec<String> = runs
            .iter()
            .map(|run| {
                let (a, b) = (run[0].seq, run[run.len() - 1].seq);
                if a == 1 {
                    format!("{a}..{b} (from record 1)")
                } else {
                    format!("{a}..{b} (from signed checkpoint {a})")
                }
            })
            .collect();
        r.push("ledger", cp_ok, format!("chain replays over records {}", spans.join(", ")));
    } else {
        r.push("ledger", false, problems.join("; "));
    }
    if !unbound.is_empty() {
        r.notes.push(format!(
            "ledger record(s) {unbound:?} of this evidence come after the last signed checkpoint in the extract: in the chain, not yet signed"
        ));
    }
    let mut links_ok = true;
    let mut unlinked = Vec::new();
    // The item's own chain: each record links to the previous record about this evidence.
    for (i, (seq, _, x, _)) in items.iter().enumerate() {
        let want = i.checked_sub(1).map(|j| (items[j].0, items[j].1.as_str()));
        match (&x.prev_item, want) {
            (None, None) if x.kind == LedgerKind::Seal => {}
            (None, None) => {
                links_ok = false;
                r.push(format!("ledger record {seq}"), false, "is the first record of this evidence in the extract but not its seal record: earlier records were left out");
            }
            (None, Some(_)) => unlinked.push(*seq),
            (Some(l), Some((ps, ph))) if l.seq == ps && l.sha256 == ph => {}
            (Some(l), _) => {
                links_ok = false;
                r.push(
                    format!("ledger record {seq}"),
                    false,
                    format!(
                        "links to record {} as the previous record of this evidence, but the extract has {}: a record about this evidence was left out or changed",
                        l.seq,
                        want.map_or_else(|| "none".to_owned(), |(ps, _)| format!("record {ps}"))
                    ),
                );
            }
        }
    }
    if links_ok && !items.is_empty() {
        r.push("ledger (this evidence)", true, format!("{} record(s), each linked to the one before", items.len()));
    }
    if !unlinked.is_empty() {
        r.notes.push(format!(
            "ledger record(s) {unlinked:?} carry no link to the previous record of this evidence (written by an older sealer): that no record was left out is not proven for them"
        ));
    }
    r.history = crate::history::lines(items.iter().map(|(seq, _, _, payload)| (*seq, payload.as_bytes())));
    let (_, sha) = digests_of(seal_bytes);
    let mine = items.iter().find(|(_, _, x, _)| x.kind == LedgerKind::Seal).map(|(seq, _, x, _)| (*seq, x));
    match mine {
        None => r.push("ledger", false, format!("no seal record for evidence {} in the extract", record.evidence_id)),
        Some((seq, rec)) if rec.seal_record_sha256 == sha => {
            r.push(format!("ledger record {seq}"), true, "holds the SHA-256 of this seal.json")
        }
        Some((seq, _)) => {
            r.push(format!("ledger record {seq}"), false, "holds a different seal.json digest: seal.json was replaced")
        }
    }
}

/// Reads `--trust` into DER anchors and PEM text.
///
/// # Errors
/// Unreadable file.
pub fn anchors(trust: Option<&PathBuf>) -> anyhow::Result<(Vec<Vec<u8>>, Option<String>)> {
    match trust {
        None => Ok((Vec::new(), None)),
        Some(p) => Ok((
            credentials::read_anchors(p)?,
            Some(std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?),
        )),
    }
}
