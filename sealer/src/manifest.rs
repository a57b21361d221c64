//! C2PA manifests: a sidecar (`.c2pa`) bound to the original, which is never rewritten, and a
//! manifest embedded in each MP4 copy whose parent ingredient is the original with its sidecar,
//! so a viewer walks from the copy back to the camera file.
//!
//! Both carry the custom assertion [`ASSERTION_LABEL`] ([`RecordingAssertion`]): who recorded,
//! with what device, when, at which station, the original's BLAKE3 and SHA-256, and the
//! continuity verdict with the report's digests.
//!
//! Hard binding of the original (any format, a broken file included): `c2pa.hash.data` over every
//! byte, which is the file's SHA-256. The sealer computes it while the original streams into the
//! bucket, so signing and validating the sidecar never read the media again
//! ([`sign_original_from_digests`], [`check_streamed_sidecar`]); any C2PA reader checks it against
//! the file. Sidecars sealed before 2026-12-04 bind MP4/MOV with `c2pa.hash.bmff` and formats c2pa
//! has no handler for under [`GENERIC_FORMAT`]; [`reopen_sidecar`] still validates them. Copies:
//! an MP4 copy embeds its manifest (`c2pa.hash.bmff`); another copy gets a whole-file sidecar. When
//! c2pa cannot sign, the package says so and the signed seal record is the binding.
//!
//! All functions here are blocking (file I/O and hashing); callers run them on a blocking
//! thread. Memory stays flat: c2pa is told to spill to temporary files above 16 MiB.

use std::io::{Seek, Write};
use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use evidence_contracts::report::Verdict;
use evidence_contracts::{Blake3Digest, DeviceId, EvidenceId, OfficerId, Sha256Digest, StationId};
use serde::{Deserialize, Serialize};

use crate::credentials::Credentials;

/// Label of the custom assertion in every manifest the sealer writes. Documented in
/// `docs/contracts.md`.
pub const ASSERTION_LABEL: &str = "org.evidence-pipeline.recording";

/// Format under which files c2pa cannot parse are bound by a whole-file data hash.
pub const GENERIC_FORMAT: &str = "application/octet-stream";

/// The custom assertion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingAssertion {
    pub evidence_id: EvidenceId,
    pub station_id: StationId,
    pub device_id: DeviceId,
    pub officer_id: OfficerId,
    pub file_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_end: Option<DateTime<Utc>>,
    pub docked_at: DateTime<Utc>,
    pub ingested_at: DateTime<Utc>,
    pub original_size: u64,
    pub original_blake3: Blake3Digest,
    pub original_sha256: Sha256Digest,
    pub continuity_verdict: Verdict,
    pub continuity_readable: bool,
    pub continuity_findings: u32,
    pub continuity_report_blake3: Blake3Digest,
    pub continuity_report_sha256: Sha256Digest,
}

/// MIME type c2pa knows the file by, from its extension; `None` for formats without a c2pa
/// handler.
pub fn c2pa_format(file_name: &str) -> Option<&'static str> {
    let ext = file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    match ext.as_str() {
        "mp4" | "m4v" => Some("video/mp4"),
        "mov" => Some("video/quicktime"),
        "m4a" => Some("audio/mp4"),
        "avi" => Some("video/avi"),
        "wav" => Some("audio/wav"),
        _ => None,
    }
}

/// The sidecar key for an asset key: the extension replaced by `.c2pa` (where `c2patool` looks).
pub fn sidecar_key(asset_key: &str) -> String {
    let (dir, name) = asset_key.rsplit_once('/').map_or(("", asset_key), |(d, n)| (d, n));
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    if dir.is_empty() { format!("{stem}.c2pa") } else { format!("{dir}/{stem}.c2pa") }
}

fn context(anchors_pem: Option<&str>) -> c2pa::Result<c2pa::Context> {
    c2pa::Context::new().with_settings(settings(anchors_pem))
}

fn settings(anchors_pem: Option<&str>) -> serde_json::Value {
    let mut settings = serde_json::json!({
        "core": { "backing_store_memory_threshold_in_mb": 16 },
        "builder": {
            "claim_generator_info": { "name": "evidence-pipeline sealer", "version": env!("CARGO_PKG_VERSION") },
            "thumbnail": { "enabled": false },
        },
    });
    if let Some(pem) = anchors_pem {
        settings["trust"] = serde_json::json!({ "trust_anchors": pem });
    }
    settings
}

/// A signed sidecar.
#[derive(Debug, Clone)]
pub struct Sidecar {
    pub bytes: Vec<u8>,
    /// `c2pa.hash.bmff`, `c2pa.hash.data`, ...
    pub hash_binding: String,
    /// The format it was signed under (needed to validate it).
    pub format: String,
    pub label: Option<String>,
    /// c2pa's validation results of the sidecar against the original, as JSON: a parent
    /// ingredient that carries a manifest must carry them (C2PA ingredient v3).
    pub validation_results: serde_json::Value,
}

/// A write target that keeps nothing: c2pa's sidecar mode copies the whole asset to its output
/// stream, which for a sidecar is useless (a 4 GB recording would be written once more for
/// nothing). Reads return end of file; nothing in sidecar signing reads the output back
/// (`verify.verify_after_sign` is off; the sidecar is validated against the original instead).
#[derive(Debug, Default)]
struct Discard {
    pos: u64,
    len: u64,
}

impl std::io::Write for Discard {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pos += buf.len() as u64;
        self.len = self.len.max(self.pos);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::io::Read for Discard {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Ok(0)
    }
}

impl std::io::Seek for Discard {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let base = match to {
            std::io::SeekFrom::Start(n) => {
                return Ok({
                    self.pos = n;
                    n
                });
            }
            std::io::SeekFrom::End(d) => self.len.cast_signed() + d,
            std::io::SeekFrom::Current(d) => self.pos.cast_signed() + d,
        };
        self.pos = u64::try_from(base).map_err(|_| std::io::Error::other("seek before start"))?;
        Ok(self.pos)
    }
}

fn definition(title: &str, format: &str, actions: serde_json::Value) -> String {
    serde_json::json!({
        "title": title,
        "format": format,
        "claim_generator_info": [{ "name": "evidence-pipeline sealer", "version": env!("CARGO_PKG_VERSION") }],
        "assertions": [{ "label": "c2pa.actions", "data": { "actions": actions } }],
    })
    .to_string()
}

/// The original's manifest: `c2pa.created` by the device, and the recording assertion.
fn original_builder(
    file_name: &str,
    format: &str,
    assertion: &RecordingAssertion,
    settings: serde_json::Value,
) -> anyhow::Result<c2pa::Builder> {
    let mut when = serde_json::Map::new();
    if let Some(t) = assertion.recorded_start {
        when.insert("when".into(), serde_json::Value::String(t.to_rfc3339()));
    }
    let mut created = serde_json::json!({
        "action": "c2pa.created",
        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
        "description": format!("recorded by device {} (officer {}); received at station {}; sealed unmodified",
            assertion.device_id, assertion.officer_id, assertion.station_id),
    });
    if let Some(m) = created.as_object_mut() {
        m.extend(when);
    }
    let ctx = c2pa::Context::new().with_settings(settings)?;
    let mut builder = c2pa::Builder::from_context(ctx).with_definition(definition(
        file_name,
        format,
        serde_json::json!([created]),
    ))?;
    builder.add_assertion(ASSERTION_LABEL, assertion)?;
    builder.set_no_embed(true);
    Ok(builder)
}

/// The hard binding of a sidecar whose asset is bound whole: `c2pa.hash.data` with SHA-256 and
/// no exclusions, which is the SHA-256 of the file itself.
fn whole_file_binding(sha256: &Sha256Digest) -> c2pa::assertions::DataHash {
    let mut dh = c2pa::assertions::DataHash::new("jumbf manifest", "sha256");
    dh.set_hash(sha256.0.to_vec());
    dh
}

/// Signs the original's sidecar from the digests computed while the original streamed into the
/// bucket: the media is not read again. The binding is `c2pa.hash.data` over every byte
/// ([`whole_file_binding`]), so any C2PA reader checks it against the file whatever its
/// container, a broken one included. c2pa validates the signed store (claim, signature,
/// assertion hashes) before it returns; [`check_streamed_sidecar`] then checks the binding
/// names exactly `sha256`.
///
/// # Errors
/// c2pa cannot sign, or what it signed does not validate.
pub fn sign_original_from_digests(
    creds: &Credentials,
    file_name: &str,
    sha256: &Sha256Digest,
    assertion: &RecordingAssertion,
) -> anyhow::Result<Sidecar> {
    let format = c2pa_format(file_name).unwrap_or(GENERIC_FORMAT);
    let mut settings = settings(None);
    settings["verify"] = serde_json::json!({ "verify_after_sign": true });
    let mut builder = original_builder(file_name, format, assertion, settings)?;
    let dh = whole_file_binding(sha256);
    builder.add_assertion(c2pa::assertions::labels::DATA_HASH, &dh)?;
    let signer = creds.c2pa_signer()?;
    let bytes = builder.sign_data_hashed_embeddable(signer.as_ref(), &dh, "application/c2pa")?;
    check_streamed_sidecar(bytes, format, sha256)
        .map_err(|e| anyhow::anyhow!("the signed sidecar does not validate: {e}"))
}

/// The manifest of a copy: `c2pa.opened` the original, then `c2pa.transcoded` by `profile`,
/// with the original and its sidecar as the parent ingredient.
fn copy_builder(
    title: &str,
    format: &str,
    profile: &str,
    sidecar: &Sidecar,
    assertion: &RecordingAssertion,
) -> anyhow::Result<c2pa::Builder> {
    let ctx = context(None)?;
    let actions = serde_json::json!([
        { "action": "c2pa.opened", "parameters": { "ingredientIds": ["original"] } },
        { "action": "c2pa.transcoded", "description": format!("transcoded by profile {profile} (pipelines/{profile}.toml)"),
          "parameters": { "ingredientIds": ["original"] } },
    ]);
    let mut builder = c2pa::Builder::from_context(ctx).with_definition(definition(title, format, actions))?;
    builder.add_assertion(ASSERTION_LABEL, assertion)?;
    // The path that works in c2pa 0.90.22 for a sidecar-described parent: an ingredient with the
    // original's name and format (its instance id derived from its SHA-256: the original has no
    // XMP of its own to give one, and is not read here), given the sidecar as its manifest data
    // and the sidecar's validation results (no public setter: they go in through the
    // ingredient's JSON form).
    let base = c2pa::Ingredient::new(
        assertion.file_name.as_str(),
        sidecar.format.as_str(),
        &instance_id(&assertion.original_sha256),
    );
    let mut json = serde_json::to_value(&base)?;
    json["relationship"] = "parentOf".into();
    json["label"] = "original".into();
    json["validation_results"] = sidecar.validation_results.clone();
    let mut ingredient = c2pa::Ingredient::from_json(&json.to_string())?;
    ingredient.set_manifest_data(sidecar.bytes.clone())?;
    builder.add_ingredient(ingredient);
    Ok(builder)
}

/// An XMP instance id for a file, from its SHA-256 (the first 16 bytes as a UUID).
fn instance_id(sha256: &Sha256Digest) -> String {
    let h: String = sha256.0[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("xmp:iid:{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Writes `copy_out`: `copy_in` with an embedded manifest (see [`copy_builder`]). Written to a
/// temporary name in the same folder and renamed: c2pa leaves a 0-byte output when signing
/// fails. Returns the validation of the signed copy.
///
/// # Errors
/// The copy's format has no c2pa handler, or signing fails.
#[allow(clippy::too_many_arguments)]
pub fn sign_copy(
    creds: &Credentials,
    copy_in: &Path,
    copy_out: &Path,
    copy_format: &str,
    profile: &str,
    sidecar: &Sidecar,
    assertion: &RecordingAssertion,
) -> anyhow::Result<ManifestCheck> {
    let title = copy_out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut builder = copy_builder(&title, copy_format, profile, sidecar, assertion)?;
    let signer = creds.c2pa_signer()?;
    let dir = copy_out.parent().unwrap_or(Path::new("."));
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("temporary file in {}", dir.display()))?;
    let mut source = std::fs::File::open(copy_in).with_context(|| format!("open {}", copy_in.display()))?;
    builder.sign(signer.as_ref(), copy_format, &mut source, tmp.as_file_mut())?;
    tmp.as_file_mut().flush()?;
    tmp.as_file_mut().rewind()?;
    tmp.as_file().sync_all()?;
    tmp.persist(copy_out).with_context(|| format!("rename into {}", copy_out.display()))?;
    let check = read_embedded(copy_out, copy_format, None);
    if let Some(e) = check.failures.first() {
        anyhow::bail!("the signed copy does not validate: {e}");
    }
    Ok(check)
}

/// A sidecar for a copy c2pa cannot embed into (Matroska): same manifest as [`sign_copy`],
/// bound by a whole-file data hash. The copy is only read.
///
/// # Errors
/// Signing fails.
pub fn sign_copy_sidecar(
    creds: &Credentials,
    copy: &Path,
    title: &str,
    profile: &str,
    sidecar: &Sidecar,
    assertion: &RecordingAssertion,
) -> anyhow::Result<Sidecar> {
    let mut builder = copy_builder(title, GENERIC_FORMAT, profile, sidecar, assertion)?;
    builder.set_no_embed(true);
    let signer = creds.c2pa_signer()?;
    let mut source = std::fs::File::open(copy).with_context(|| format!("open {}", copy.display()))?;
    let bytes = builder.sign(signer.as_ref(), GENERIC_FORMAT, &mut source, &mut Discard::default())?;
    let check = read_sidecar(copy, GENERIC_FORMAT, &bytes, None);
    if let Some(e) = check.failures.first() {
        anyhow::bail!("the signed sidecar of the copy does not validate: {e}");
    }
    Ok(Sidecar {
        bytes,
        hash_binding: check.hash_binding,
        format: GENERIC_FORMAT.to_owned(),
        label: check.label,
        validation_results: check.validation_results,
    })
}

/// Validates a whole-file-bound sidecar without reading its asset (see
/// [`sign_original_from_digests`]). c2pa validates everything but the binding with no asset
/// behind it (its only failure must then be the binding's "no data to hash"); the binding
/// itself, read from the sidecar's JUMBF, must be SHA-256 over every byte, equal to `sha256`:
/// the digest computed while the original streamed. The result is what c2pa reports when it
/// reads the file itself (`assertion.dataHash.match`), which a copy's parent ingredient carries.
///
/// # Errors
/// What is wrong, in c2pa's words or naming the binding's field.
pub fn check_streamed_sidecar(bytes: Vec<u8>, format: &str, sha256: &Sha256Digest) -> Result<Sidecar, String> {
    let reader = context(None).and_then(|ctx| {
        c2pa::Reader::from_context(ctx).with_manifest_data_and_stream(&bytes, format, std::io::Cursor::new(Vec::new()))
    });
    let mut check = check_reader(reader);
    let unbound = |f: &String| f.starts_with(DATA_HASH_MISMATCH);
    if let Some(f) = check.failures.iter().find(|f| !unbound(f)) {
        return Err(f.clone());
    }
    if check.hash_binding != c2pa::assertions::labels::DATA_HASH {
        return Err(format!("bound by {:?}, not by a whole-file c2pa.hash.data", check.hash_binding));
    }
    let dh = jumbf::data_hash(&bytes)?;
    if dh.exclusions.as_ref().is_some_and(|e| !e.is_empty()) {
        return Err("c2pa.hash.data excludes byte ranges: it does not bind every byte".into());
    }
    if dh.alg.as_deref().is_some_and(|a| a != "sha256") {
        return Err(format!("c2pa.hash.data alg is {:?}, not sha256", dh.alg));
    }
    if dh.hash != sha256.0 {
        return Err(format!(
            "c2pa.hash.data hash is {}, the original's SHA-256 is {sha256}",
            dh.hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
    }
    match &check.assertion {
        Some(a) if a.original_sha256 == *sha256 => {}
        Some(a) => return Err(format!("the recording assertion names SHA-256 {}, not {sha256}", a.original_sha256)),
        None => return Err(format!("the {ASSERTION_LABEL} assertion is missing")),
    }
    check.failures.clear();
    mark_data_hash_matched(&mut check.validation_results);
    Ok(Sidecar {
        bytes,
        hash_binding: check.hash_binding,
        format: format.to_owned(),
        label: check.label,
        validation_results: check.validation_results,
    })
}

/// Whether a sidecar's binding is a `c2pa.hash.data` (so [`check_streamed_sidecar`] is the whole
/// check; a failure there is final).
pub fn is_whole_file_bound(sidecar: &[u8]) -> bool {
    jumbf::data_hash(sidecar).is_ok()
}

const DATA_HASH_MISMATCH: &str = "assertion.dataHash.mismatch";

/// In c2pa's validation results of a sidecar read without its asset, the binding's "no data
/// to hash" becomes the match it is (checked by [`check_streamed_sidecar`]), worded as c2pa
/// words it when it hashes the file itself.
fn mark_data_hash_matched(results: &mut serde_json::Value) {
    let Some(active) = results.get_mut("activeManifest").and_then(|a| a.as_object_mut()) else { return };
    let mut moved = Vec::new();
    if let Some(failures) = active.get_mut("failure").and_then(|f| f.as_array_mut()) {
        failures.retain(|f| {
            let hit = f.get("code").and_then(|c| c.as_str()) == Some(DATA_HASH_MISMATCH);
            if hit {
                moved.push(serde_json::json!({
                    "code": "assertion.dataHash.match",
                    "url": f.get("url").cloned().unwrap_or_default(),
                    "explanation": "data hash valid",
                }));
            }
            !hit
        });
    }
    if let Some(success) = active.get_mut("success").and_then(|s| s.as_array_mut()) {
        success.extend(moved);
    }
}

/// Just enough of ISO/IEC 19566-5 (JUMBF) to read a sidecar's `c2pa.hash.data` assertion:
/// boxes are `[u32 size][4-byte type]` (size 1: a u64 follows), a superbox (`jumb`) starts with
/// a description box (`jumd`: 16-byte type, toggles, then the label when toggles bit 1 is set),
/// and a CBOR assertion's content is a `cbor` box.
mod jumbf {
    /// A box: its 4-byte type and its payload.
    type JBox<'a> = ([u8; 4], &'a [u8]);

    fn boxes(mut b: &[u8]) -> Result<Vec<JBox<'_>>, String> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let bad = || "a JUMBF box runs past the end of the sidecar".to_string();
            let head: [u8; 8] = b.get(..8).and_then(|h| h.try_into().ok()).ok_or_else(bad)?;
            let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let kind = [head[4], head[5], head[6], head[7]];
            let (header, size) = match size {
                0 => (8, b.len()),
                1 => {
                    let x: [u8; 8] = b.get(8..16).and_then(|h| h.try_into().ok()).ok_or_else(bad)?;
                    (16, usize::try_from(u64::from_be_bytes(x)).map_err(|_| bad())?)
                }
                n => (8, n),
            };
            let body = b.get(header..size).ok_or_else(bad)?;
            out.push((kind, body));
            b = &b[size..];
        }
        Ok(out)
    }

    fn label(jumd: &[u8]) -> Option<&str> {
        let toggles = *jumd.get(16)?;
        if toggles & 0x02 == 0 {
            return None;
        }
        let rest = jumd.get(17..)?;
        let end = rest.iter().position(|&c| c == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    }

    fn find<'a>(b: &'a [u8], found: &mut Vec<&'a [u8]>) -> Result<(), String> {
        for (kind, body) in boxes(b)? {
            if &kind == b"jumb" {
                find_in_superbox(body, found)?;
            }
        }
        Ok(())
    }

    fn find_in_superbox<'a>(body: &'a [u8], found: &mut Vec<&'a [u8]>) -> Result<(), String> {
        let children = boxes(body)?;
        let is_hash =
            children.first().is_some_and(|(k, d)| k == b"jumd" && label(d).is_some_and(|l| l == "c2pa.hash.data"));
        if is_hash {
            found.extend(children.iter().filter(|(k, _)| k == b"cbor").map(|(_, d)| *d));
            return Ok(());
        }
        for (k, d) in children.iter().skip(1) {
            if k == b"jumb" {
                find_in_superbox(d, found)?;
            }
        }
        Ok(())
    }

    /// The one `c2pa.hash.data` assertion of a single-manifest sidecar.
    pub(super) fn data_hash(sidecar: &[u8]) -> Result<c2pa::assertions::DataHash, String> {
        let mut found = Vec::new();
        find(sidecar, &mut found)?;
        match found.as_slice() {
            [one] => c2pa_cbor::from_slice(one).map_err(|e| format!("c2pa.hash.data is not readable CBOR: {e}")),
            [] => Err("the sidecar has no c2pa.hash.data assertion".into()),
            more => Err(format!("the sidecar has {} c2pa.hash.data assertions, expected one", more.len())),
        }
    }
}

/// Finds the format under which an existing sidecar validates against `asset` (its own
/// format first, then the whole-file binding).
pub fn reopen_sidecar(asset: &Path, file_name: &str, bytes: Vec<u8>) -> Result<Sidecar, String> {
    let mut reasons = Vec::new();
    for format in c2pa_format(file_name).into_iter().chain([GENERIC_FORMAT]) {
        let check = read_sidecar(asset, format, &bytes, None);
        if check.failures.is_empty() {
            return Ok(Sidecar {
                bytes,
                hash_binding: check.hash_binding,
                format: format.to_owned(),
                label: check.label,
                validation_results: check.validation_results,
            });
        }
        reasons.push(format!("{format}: {}", check.failures.join("; ")));
    }
    Err(reasons.join(" | "))
}

/// What validating one manifest found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ManifestCheck {
    pub label: Option<String>,
    pub hash_binding: String,
    /// `Valid`, `Trusted`, `Invalid` as c2pa says.
    pub state: String,
    /// Validation status codes that are failures (excluding an untrusted signer).
    pub failures: Vec<String>,
    /// `signingCredential.untrusted` was reported (no anchor given, or not ours).
    pub untrusted: bool,
    /// The custom assertion, if present and parseable.
    #[serde(skip)]
    pub assertion: Option<RecordingAssertion>,
    /// Label of the parent ingredient's active manifest (copies).
    pub parent_manifest: Option<String>,
    /// Title of the parent ingredient.
    pub parent_title: Option<String>,
    pub actions: Vec<String>,
    #[serde(skip)]
    pub validation_results: serde_json::Value,
}

fn check_reader(result: c2pa::Result<c2pa::Reader>) -> ManifestCheck {
    let reader = match result {
        Ok(r) => r,
        Err(e) => return ManifestCheck { failures: vec![format!("no readable manifest: {e}")], ..Default::default() },
    };
    let mut out = ManifestCheck {
        state: format!("{:?}", reader.validation_state()),
        validation_results: reader.validation_results().and_then(|r| serde_json::to_value(r).ok()).unwrap_or_default(),
        ..Default::default()
    };
    if let Some(results) = reader.validation_results()
        && let Some(active) = results.active_manifest()
    {
        for s in active.failure() {
            if s.code() == "signingCredential.untrusted" {
                out.untrusted = true;
            } else {
                out.failures.push(format!(
                    "{}{}",
                    s.code(),
                    s.explanation().map(|e| format!(": {e}")).unwrap_or_default()
                ));
            }
        }
    }
    if let Some(statuses) = reader.validation_status() {
        for s in statuses {
            if s.code() == "signingCredential.untrusted" {
                out.untrusted = true;
            }
        }
    }
    if format!("{:?}", reader.validation_state()) == "Invalid" && out.failures.is_empty() {
        out.failures.push("c2pa reports the manifest store invalid".into());
    }
    let Some(m) = reader.active_manifest() else {
        out.failures.push("no active manifest".into());
        return out;
    };
    out.label = m.label().map(str::to_owned);
    out.assertion = m.find_assertion::<RecordingAssertion>(ASSERTION_LABEL).ok();
    if out.assertion.is_none() {
        out.failures.push(format!("the {ASSERTION_LABEL} assertion is missing or unreadable"));
    }
    for r in m.assertion_references() {
        let url = r.url();
        let label = url.rsplit('/').next().unwrap_or(&url);
        if label.starts_with("c2pa.hash.") {
            out.hash_binding = label.split(".v").next().unwrap_or(label).to_owned();
        }
    }
    for a in m.assertions() {
        let l = a.label();
        if l.starts_with("c2pa.actions")
            && let Ok(v) = a.to_assertion::<serde_json::Value>()
            && let Some(list) = v.get("actions").and_then(|x| x.as_array())
        {
            out.actions.extend(list.iter().filter_map(|x| x.get("action")?.as_str().map(str::to_owned)));
        }
    }
    if let Some(p) = m.ingredients().iter().find(|i| i.is_parent()) {
        out.parent_manifest = p.active_manifest().map(str::to_owned);
        out.parent_title = p.title().map(str::to_owned);
    }
    out
}

/// Validates a sidecar against the asset it claims to describe.
pub fn read_sidecar(asset: &Path, format: &str, sidecar: &[u8], anchors_pem: Option<&str>) -> ManifestCheck {
    let file = match std::fs::File::open(asset) {
        Ok(f) => f,
        Err(e) => {
            return ManifestCheck { failures: vec![format!("open {}: {e}", asset.display())], ..Default::default() };
        }
    };
    let reader = context(anchors_pem)
        .and_then(|ctx| c2pa::Reader::from_context(ctx).with_manifest_data_and_stream(sidecar, format, file));
    check_reader(reader)
}

/// Validates the manifest embedded in an asset.
pub fn read_embedded(asset: &Path, format: &str, anchors_pem: Option<&str>) -> ManifestCheck {
    let file = match std::fs::File::open(asset) {
        Ok(f) => f,
        Err(e) => {
            return ManifestCheck { failures: vec![format!("open {}: {e}", asset.display())], ..Default::default() };
        }
    };
    let reader = context(anchors_pem).and_then(|ctx| c2pa::Reader::from_context(ctx).with_stream(format, file));
    check_reader(reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_keys_sit_next_to_their_asset() {
        assert_eq!(
            sidecar_key("evidence/o/2026/11/28/id/original/CAM1_0001.MP4"),
            "evidence/o/2026/11/28/id/original/CAM1_0001.c2pa"
        );
        assert_eq!(sidecar_key("a/b/noext"), "a/b/noext.c2pa");
        assert_eq!(c2pa_format("X.MP4"), Some("video/mp4"));
        assert_eq!(c2pa_format("x.ts"), None);
    }

    fn assertion(sha256: Sha256Digest) -> RecordingAssertion {
        let day = "2026-01-01T00:00:00Z".parse().unwrap();
        RecordingAssertion {
            evidence_id: EvidenceId::derive(&DeviceId::new("CAM1").unwrap(), &Blake3Digest([1; 32])),
            station_id: StationId::new("S1").unwrap(),
            device_id: DeviceId::new("CAM1").unwrap(),
            officer_id: OfficerId::new("OF1").unwrap(),
            file_name: "x.mp4".into(),
            recorded_start: None,
            recorded_end: None,
            docked_at: day,
            ingested_at: day,
            original_size: 24,
            original_blake3: Blake3Digest([1; 32]),
            original_sha256: sha256,
            continuity_verdict: Verdict::Continuous,
            continuity_readable: true,
            continuity_findings: 0,
            continuity_report_blake3: Blake3Digest([2; 32]),
            continuity_report_sha256: Sha256Digest([3; 32]),
        }
    }

    /// A sidecar signed from a streamed digest is what c2pa finds valid when it reads the file
    /// itself (same results), and the check without the file catches another file's digest.
    #[test]
    fn a_sidecar_signed_from_digests_validates_against_the_file_and_without_it() {
        use sha2::Digest as _;
        let dir = tempfile::tempdir().unwrap();
        let ca = crate::credentials::dev_ca(dir.path(), "T", 30).unwrap();
        let creds = Credentials::load(&ca.chain, &ca.key, None).unwrap();
        let file = dir.path().join("x.mp4");
        std::fs::write(&file, b"not even an mp4: bound byte for byte").unwrap();
        let sha = Sha256Digest(sha2::Sha256::digest(std::fs::read(&file).unwrap()).into());
        let s = sign_original_from_digests(&creds, "x.mp4", &sha, &assertion(sha)).unwrap();
        assert_eq!(s.hash_binding, "c2pa.hash.data");
        let full = read_sidecar(&file, "video/mp4", &s.bytes, None);
        assert!(full.failures.is_empty(), "{:?}", full.failures);
        assert_eq!(full.validation_results, s.validation_results, "same results as c2pa reading the file");
        let other = Sha256Digest([9; 32]);
        let e = check_streamed_sidecar(s.bytes.clone(), "video/mp4", &other).unwrap_err();
        assert!(e.contains("c2pa.hash.data hash is"), "{e}");
        std::fs::write(&file, b"not even an mp4: bound byte for bytE").unwrap();
        let changed = read_sidecar(&file, "video/mp4", &s.bytes, None);
        assert!(changed.failures.iter().any(|f| f.starts_with(DATA_HASH_MISMATCH)), "{:?}", changed.failures);
    }
}
