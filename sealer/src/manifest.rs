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
use evidence_contracts::Sha256Digest;

pub use evidence_verify::manifest::*;

use crate::credentials::Credentials;

/// A write target that keeps nothing: c2pa's sidecar mode copies the whole asset to its output
/// stream, which for a sidecar is useless (a copy would be written once more for nothing). Reads
/// return end of file; nothing in sidecar signing reads the output back (`verify.verify_after_sign`
/// is off there; the copy's sidecar is validated against the copy instead). The original's sidecar
/// does not go through c2pa's asset path at all ([`sign_original_from_digests`]).
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

#[cfg(test)]
mod tests {
    use super::*;
    use evidence_contracts::report::Verdict;
    use evidence_contracts::{Blake3Digest, DeviceId, EvidenceId, OfficerId, StationId};

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
            session_id: None,
            segment_index: None,
            previous_segment_blake3: None,
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
