#![allow(clippy::unwrap_used)]
//! C2PA manifests on real recordings generated with GStreamer: a sidecar for the original signed
//! from its streamed digests (whole-file binding, any format), an embedded manifest in a copy with
//! the original as parent ingredient, and tampering caught.

use std::path::Path;

use chrono::Utc;
use evidence_contracts::report::Verdict;
use evidence_contracts::{Blake3Digest, DeviceId, EvidenceId, OfficerId, Sha256Digest, StationId};
use sealer::credentials::{Credentials, dev_ca};
use sealer::manifest::{self, RecordingAssertion};
use test_harness::media::{self, Container, Spec};

fn assertion(file_name: &str, path: &Path) -> RecordingAssertion {
    let d = object_store::hash_file(path).unwrap();
    let device = DeviceId::new("CAM1").unwrap();
    RecordingAssertion {
        evidence_id: EvidenceId::derive(&device, &d.blake3),
        station_id: StationId::new("ST1").unwrap(),
        device_id: device,
        officer_id: OfficerId::new("OF1").unwrap(),
        file_name: file_name.into(),
        recorded_start: Some(Utc::now()),
        recorded_end: None,
        docked_at: Utc::now(),
        ingested_at: Utc::now(),
        original_size: d.size,
        original_blake3: d.blake3,
        original_sha256: d.sha256,
        continuity_verdict: Verdict::Continuous,
        continuity_readable: true,
        continuity_findings: 0,
        continuity_report_blake3: Blake3Digest([7; 32]),
        continuity_report_sha256: Sha256Digest([8; 32]),
        session_id: None,
        segment_index: None,
        previous_segment_blake3: None,
    }
}

fn flip(path: &Path, at: u64) {
    let mut b = std::fs::read(path).unwrap();
    let i = usize::try_from(at).unwrap().min(b.len() - 1);
    b[i] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

#[test]
fn mp4_original_gets_a_whole_file_sidecar_and_the_copy_an_embedded_manifest_pointing_back() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dev_ca(&dir.path().join("pki"), "Test Agency", 30).unwrap();
    let creds = Credentials::load(&ca.chain, &ca.key, None).unwrap();
    let anchors = std::fs::read_to_string(&ca.ca_cert).unwrap();
    let original = dir.path().join("CAM1_0001.MP4");
    media::mp4(&original, &Spec::default()).unwrap();
    let before = object_store::hash_file(&original).unwrap();
    let a = assertion("CAM1_0001.MP4", &original);

    let sidecar = manifest::sign_original_from_digests(&creds, "CAM1_0001.MP4", &before.sha256, &a).unwrap();
    assert_eq!(object_store::hash_file(&original).unwrap(), before, "the original is untouched");
    assert_eq!(sidecar.hash_binding, "c2pa.hash.data");
    let check = manifest::read_sidecar(&original, &sidecar.format, &sidecar.bytes, Some(&anchors));
    assert!(check.failures.is_empty(), "{check:?}");
    assert!(!check.untrusted, "trusted with our root: {check:?}");
    assert_eq!(check.assertion.as_ref().unwrap(), &a);
    assert!(check.actions.iter().any(|x| x == "c2pa.created"), "{:?}", check.actions);
    let untrusted = manifest::read_sidecar(&original, &sidecar.format, &sidecar.bytes, None);
    assert!(untrusted.failures.is_empty() && untrusted.untrusted, "{untrusted:?}");

    // A copy (here: another MP4 made by GStreamer) with an embedded manifest.
    let copy_in = dir.path().join("staged.mp4");
    media::mp4(&copy_in, &Spec { container: Container::Mp4Faststart, ..Spec::default() }).unwrap();
    let copy_out = dir.path().join("access.mp4");
    let label = manifest::sign_copy(&creds, &copy_in, &copy_out, "video/mp4", "access", &sidecar, &a).unwrap().label;
    let embedded = manifest::read_embedded(&copy_out, "video/mp4", Some(&anchors));
    assert!(embedded.failures.is_empty(), "{embedded:?}");
    assert_eq!(embedded.label, label);
    assert!(embedded.actions.iter().any(|x| x == "c2pa.transcoded"), "{:?}", embedded.actions);
    assert_eq!(embedded.parent_manifest, sidecar.label, "the copy's parent is the original's manifest");
    assert_eq!(embedded.parent_title.as_deref(), Some("CAM1_0001.MP4"));
    assert_eq!(embedded.assertion.as_ref().unwrap().original_blake3, before.blake3);

    // Tampering: one byte of the original's media data, of the sidecar, of the copy.
    let tampered = dir.path().join("tampered.MP4");
    std::fs::copy(&original, &tampered).unwrap();
    flip(&tampered, before.size / 2);
    let bad = manifest::read_sidecar(&tampered, &sidecar.format, &sidecar.bytes, Some(&anchors));
    assert!(!bad.failures.is_empty(), "a flipped byte in the original is caught: {bad:?}");

    let mut side = sidecar.bytes.clone();
    let n = side.len();
    side[n - 40] ^= 0x01; // inside the signature box
    let bad = manifest::read_sidecar(&original, &sidecar.format, &side, Some(&anchors));
    assert!(!bad.failures.is_empty(), "a flipped byte in the sidecar is caught: {bad:?}");

    let len = std::fs::metadata(&copy_out).unwrap().len();
    flip(&copy_out, len / 2);
    let bad = manifest::read_embedded(&copy_out, "video/mp4", Some(&anchors));
    assert!(!bad.failures.is_empty(), "a flipped byte in the copy is caught: {bad:?}");
}

#[test]
fn formats_without_a_c2pa_handler_and_broken_files_are_still_bound() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dev_ca(&dir.path().join("pki"), "Test Agency", 30).unwrap();
    let creds = Credentials::load(&ca.chain, &ca.key, None).unwrap();
    let ts = dir.path().join("fixed.ts");
    media::mp4(&ts, &Spec { container: Container::MpegTs, ..Spec::default() }).unwrap();
    let broken = dir.path().join("cut.mp4");
    let full = dir.path().join("full.mp4");
    media::mp4(&full, &Spec::default()).unwrap();
    let bytes = std::fs::read(&full).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = dir.path().join("garbage.MP4");
    std::fs::write(&garbage, (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>())
        .unwrap();
    // Every byte is bound whatever the file is: a TS, random bytes named .MP4, a cut MP4. The
    // sidecar validates under its own format and under the generic one (what `sealer verify`
    // uses for a whole-file binding).
    for (path, name) in [(&ts, "fixed.ts"), (&garbage, "garbage.MP4"), (&broken, "cut.mp4")] {
        let a = assertion(name, path);
        let s = manifest::sign_original_from_digests(&creds, name, &a.original_sha256, &a).unwrap();
        assert_eq!(s.hash_binding, "c2pa.hash.data", "{name}");
        for format in [s.format.as_str(), manifest::GENERIC_FORMAT] {
            let ok = manifest::read_sidecar(path, format, &s.bytes, None);
            assert!(ok.failures.is_empty(), "{name} as {format}: {ok:?}");
        }
        let copy = dir.path().join(format!("t-{name}"));
        std::fs::copy(path, &copy).unwrap();
        flip(&copy, 1000);
        let bad = manifest::read_sidecar(&copy, &s.format, &s.bytes, None);
        assert!(!bad.failures.is_empty(), "{name}: flipped byte caught");
    }
}
