//! C2PA manifests as a reader checks them: the original's sidecar (`.c2pa`, next to it) and the
//! manifest embedded in each MP4 copy, each carrying the custom assertion [`ASSERTION_LABEL`]
//! ([`RecordingAssertion`]): who recorded, with what device, when, at which station, the
//! original's BLAKE3 and SHA-256, and the continuity verdict with the report's digests.
//!
//! Validation is c2pa's own (the reference SDK, `c2pa` 0.90.22): signature, claim, assertion
//! hashes and the hard binding against the asset's bytes. The original's sidecar binds every byte
//! with `c2pa.hash.data` (its hash is the file's SHA-256: `sha256sum` shows it), so any C2PA reader
//! checks it against the file whatever its container. [`check_streamed_sidecar`] is the sealer's
//! check of a sidecar it signed from digests it computed while streaming the original, without the
//! file.

use std::path::Path;

use chrono::{DateTime, Utc};
use evidence_contracts::report::Verdict;
use evidence_contracts::{Blake3Digest, DeviceId, EvidenceId, OfficerId, Sha256Digest, StationId};
use serde::{Deserialize, Serialize};

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
    /// A fixed camera's segment: its recording session (since 2026-12-04).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Its index in the session (0, 1, 2, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_index: Option<u64>,
    /// BLAKE3 of the session's previous segment: each segment's manifest names the one before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_segment_blake3: Option<Blake3Digest>,
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

pub fn context(anchors_pem: Option<&str>) -> c2pa::Result<c2pa::Context> {
    c2pa::Context::new().with_settings(settings(anchors_pem))
}

pub fn settings(anchors_pem: Option<&str>) -> serde_json::Value {
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

pub const DATA_HASH_MISMATCH: &str = "assertion.dataHash.mismatch";

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
