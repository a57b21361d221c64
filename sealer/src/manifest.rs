//! C2PA manifests: a sidecar (`.c2pa`) bound to the original, which is never rewritten, and a
//! manifest embedded in each MP4 copy whose parent ingredient is the original with its sidecar,
//! so a viewer walks from the copy back to the camera file.
//!
//! Both carry the custom assertion [`ASSERTION_LABEL`] ([`RecordingAssertion`]): who recorded,
//! with what device, when, at which station, the original's BLAKE3 and SHA-256, and the
//! continuity verdict with the report's digests.
//!
//! Hard binding: MP4/MOV get `c2pa.hash.bmff`; AVI gets c2pa's RIFF binding; anything c2pa has
//! no handler for (MPEG-TS, Matroska, a file too broken to parse) gets a sidecar whose
//! `c2pa.hash.data` covers every byte, signed under the generic format [`GENERIC_FORMAT`]. When
//! even that fails the package says so and the signed seal record is the binding.
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
    c2pa::Context::new().with_settings(settings)
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

/// Signs a sidecar manifest for the original at `path`. Tries the format's own binding, then a
/// whole-file data hash. The original is only read.
///
/// # Errors
/// Both bindings failed (the message has both reasons).
pub fn sign_original(
    creds: &Credentials,
    path: &Path,
    file_name: &str,
    assertion: &RecordingAssertion,
) -> anyhow::Result<Sidecar> {
    let mut first_error = None;
    if let Some(format) = c2pa_format(file_name) {
        match sign_sidecar(creds, path, file_name, format, assertion) {
            Ok(s) => return Ok(s),
            Err(e) => {
                tracing::warn!(file = %path.display(), format, error = %e, "c2pa cannot bind the original by its format; binding every byte instead");
                first_error = Some(format!("{format}: {e}"));
            }
        }
    }
    sign_sidecar(creds, path, file_name, GENERIC_FORMAT, assertion).map_err(|e| match first_error {
        Some(f) => anyhow::anyhow!("{f}; whole-file binding: {e}"),
        None => anyhow::anyhow!("whole-file binding: {e}"),
    })
}

fn sign_sidecar(
    creds: &Credentials,
    path: &Path,
    file_name: &str,
    format: &str,
    assertion: &RecordingAssertion,
) -> anyhow::Result<Sidecar> {
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
    let ctx = context(None)?;
    let mut builder = c2pa::Builder::from_context(ctx).with_definition(definition(
        file_name,
        format,
        serde_json::json!([created]),
    ))?;
    builder.add_assertion(ASSERTION_LABEL, assertion)?;
    builder.set_no_embed(true);
    let signer = creds.c2pa_signer()?;
    let mut source = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    // In sidecar mode c2pa writes a copy of the source to its output; nothing needs it.
    let bytes = builder.sign(signer.as_ref(), format, &mut source, &mut Discard::default())?;
    let check = read_sidecar(path, format, &bytes, None);
    if let Some(e) = check.failures.first() {
        anyhow::bail!("the signed sidecar does not validate: {e}");
    }
    Ok(Sidecar {
        bytes,
        hash_binding: check.hash_binding,
        format: format.to_owned(),
        label: check.label,
        validation_results: check.validation_results,
    })
}

/// The manifest of a copy: `c2pa.opened` the original, then `c2pa.transcoded` by `profile`,
/// with the original and its sidecar as the parent ingredient.
fn copy_builder(
    title: &str,
    format: &str,
    profile: &str,
    original: &Path,
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
    let mut orig = std::fs::File::open(original).with_context(|| format!("open {}", original.display()))?;
    // The path that works in c2pa 0.90.22 for a sidecar-described parent: an ingredient built
    // from the original's stream info, given the sidecar as its manifest data and the sidecar's
    // validation results (no public setter: they go in through the ingredient's JSON form).
    let base = c2pa::Ingredient::from_stream_info(&mut orig, sidecar.format.as_str(), assertion.file_name.as_str());
    let mut json = serde_json::to_value(&base)?;
    json["relationship"] = "parentOf".into();
    json["label"] = "original".into();
    json["validation_results"] = sidecar.validation_results.clone();
    let mut ingredient = c2pa::Ingredient::from_json(&json.to_string())?;
    ingredient.set_manifest_data(sidecar.bytes.clone())?;
    builder.add_ingredient(ingredient);
    Ok(builder)
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
    original: &Path,
    sidecar: &Sidecar,
    assertion: &RecordingAssertion,
) -> anyhow::Result<ManifestCheck> {
    let title = copy_out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut builder = copy_builder(&title, copy_format, profile, original, sidecar, assertion)?;
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
#[allow(clippy::too_many_arguments)]
pub fn sign_copy_sidecar(
    creds: &Credentials,
    copy: &Path,
    title: &str,
    profile: &str,
    original: &Path,
    sidecar: &Sidecar,
    assertion: &RecordingAssertion,
) -> anyhow::Result<Sidecar> {
    let mut builder = copy_builder(title, GENERIC_FORMAT, profile, original, sidecar, assertion)?;
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
}
