//! Sealing as a court sees it: packages sealed by the running pipeline, exported, and verified
//! offline by `sealer verify`; then tampered with in every way the sealing issue lists, each
//! caught with the object named.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use evidence_contracts::events::EvidenceSealedV1;
use evidence_contracts::seal::ObjectRole;
use test_harness::media::{Spec, mp4};
use test_harness::workspace_bin;

use crate::support::Pipeline;

fn sealer(args: &[&str]) -> (i32, String) {
    let out = Command::new(workspace_bin("sealer").unwrap()).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&t).unwrap();
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

fn flip_byte(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let i = b.len() / 2;
    b[i] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

fn rel(ev: &EvidenceSealedV1, role: ObjectRole) -> String {
    let o = ev.objects.iter().find(|o| o.role == role && o.profile.is_none()).unwrap();
    o.key.strip_prefix(&ev.prefix).unwrap().to_owned()
}

/// Verifies a tampered copy of `pkg`: must exit 2 and name `needle` on a FAIL line.
fn caught(pkg: &Path, work: &Path, what: &str, trust: &str, needle: &str, tamper: impl FnOnce(&Path)) {
    let dir = work.join(what);
    std::fs::create_dir_all(&dir).unwrap();
    copy_dir(pkg, &dir);
    tamper(&dir);
    let (code, out) = sealer(&["verify", "--trust", trust, dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{what}: tampering not caught:\n{out}");
    assert!(
        out.lines().any(|l| l.contains("FAIL") && l.contains(needle)),
        "{what}: no FAIL line naming {needle}:\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_packages_export_and_verify_offline_and_every_tampering_is_caught() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let mut files = Vec::new();
    for i in 1..=3 {
        let f = p.dir.path().join(format!("OF0001_CAM07_2026112809{i:02}00_000{i}.MP4"));
        mp4(&f, &Spec { seconds: 2 + i, ..Default::default() }).unwrap();
        files.push(f);
    }
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    p.push("CAM07", &refs).unwrap();
    let mut events = p.sealed(3, Duration::from_secs(240)).await.unwrap();
    assert_eq!(events.len(), 3);
    events.sort_by_key(|e| e.ledger_seq);
    for ev in &events {
        assert_eq!(ev.c2pa.map(|c| c.as_str()), Some("c2pa"), "every object carries a manifest: {ev:#?}");
        assert!(ev.seal_signature.is_some() && ev.ledger_seq.is_some());
        assert!(ev.objects.iter().any(|o| o.role == ObjectRole::C2paSidecar), "sidecar listed");
        assert!(!ev.worm, "s3s-fs does not enforce Object Lock; the event must not claim WORM");
    }
    let seqs: Vec<u64> = events.iter().filter_map(|e| e.ledger_seq).collect();
    assert_eq!(seqs, vec![1, 2, 3], "one ledger record per package, in order");
    // checkpoint_every = 3: a signed checkpoint for record 3 is in the evidence bucket.
    let store = p.store().await.unwrap();
    assert!(
        store.head(&p.s3cfg.evidence_bucket, "ledger/checkpoints/00000000000000000003.json").await.unwrap().is_some()
    );

    let cfg = p.config_path("sealer");
    let cfg = cfg.to_str().unwrap();
    let trust = p.dir.path().join("pki/ca.cert.pem");
    let trust = trust.to_str().unwrap();
    let work = p.dir.path().join("exports");
    let ids: Vec<String> = events.iter().map(|e| e.evidence_id.to_string()).collect();
    let (approval, pkgs) = crate::support::export_for_court(&p, &ids, &work);
    for out in &pkgs {
        let (code, text) = sealer(&["verify", "--trust", trust, out.to_str().unwrap()]);
        assert_eq!(code, 0, "an untouched export verifies:\n{text}");
        assert!(text.contains("(trusted)") && text.contains("chain replays over records"), "{text}");
        assert!(text.contains("export granted"), "the export itself is in the exported history:\n{text}");
    }
    // Online by evidence id, and JSON output: without an approval the records only, with one
    // the whole package (and that verification is on the ledger).
    let (code, text) = sealer(&["verify", "--json", "--config", cfg, "--trust", trust, &ids[1]]);
    assert_eq!(code, 0, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["mode"], "records_only");
    let (code, text) = sealer(&[
        "verify",
        "--json",
        "--config",
        cfg,
        "--trust",
        trust,
        "--approval",
        &approval,
        "--actor",
        "auditor-2",
        "--reason",
        "yearly sample",
        &ids[1],
    ]);
    assert_eq!(code, 0, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!((v["ok"].as_bool(), v["mode"].as_str()), (Some(true), Some("full")), "{text}");
    let purposes: Vec<&str> =
        v["history"].as_array().unwrap().iter().filter_map(|l| l["detail"]["purpose"].as_str()).collect();
    assert_eq!(purposes, ["export", "verify"], "{text}");
    // Without the root: verified, signer reported as not checked.
    let (code, text) = sealer(&["verify", pkgs[0].to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("not checked against a trust anchor"), "{text}");
    // Another root: not trusted.
    let other = p.dir.path().join("other-pki");
    assert_eq!(sealer(&["dev-ca", "--out", other.to_str().unwrap()]).0, 0);
    let (code, text) =
        sealer(&["verify", "--trust", other.join("ca.cert.pem").to_str().unwrap(), pkgs[0].to_str().unwrap()]);
    assert_eq!(code, 2, "a foreign root must not make the package trusted:\n{text}");

    let ev = &events[0];
    let pkg = &pkgs[0];
    standalone_verifier_agrees(pkg, trust, &p.dir.path().join("standalone"));
    c2pa_python_cross_check(ev, pkg, Path::new(trust));
    c2patool_cross_check(ev, pkg, trust);
    let t = p.dir.path().join("tampered");
    let original = rel(ev, ObjectRole::Original);
    let sidecar = rel(ev, ObjectRole::C2paSidecar);
    let copy = ev.objects.iter().find(|o| o.role == ObjectRole::Derivative).unwrap();
    let copy = copy.key.strip_prefix(&ev.prefix).unwrap().to_owned();
    caught(pkg, &t, "original", trust, &original, |d| flip_byte(&d.join(&original)));
    caught(pkg, &t, "sidecar", trust, &sidecar, |d| flip_byte(&d.join(&sidecar)));
    caught(pkg, &t, "copy", trust, &copy, |d| flip_byte(&d.join(&copy)));
    caught(pkg, &t, "report", trust, "continuity.json", |d| flip_byte(&d.join("continuity.json")));
    caught(pkg, &t, "record", trust, "seal.sig", |d| {
        let s = std::fs::read_to_string(d.join("seal.json")).unwrap();
        std::fs::write(d.join("seal.json"), s.replacen("\"sealed_by\": \"sealer", "\"sealed_by\": \"Sealer", 1))
            .unwrap();
    });
    caught(pkg, &t, "signature", trust, "seal.sig", |d| {
        let s = std::fs::read_to_string(d.join("seal.sig")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let sig = v["signature"].as_str().unwrap();
        let flipped = format!("{}{}", if sig.starts_with('A') { "B" } else { "A" }, &sig[1..]);
        std::fs::write(d.join("seal.sig"), s.replace(sig, &flipped)).unwrap();
    });
    caught(pkg, &t, "inserted", trust, "derivatives/extra.mp4", |d| {
        std::fs::copy(d.join(&copy), d.join("derivatives/extra.mp4")).unwrap();
    });
    caught(pkg, &t, "ledger-removed", trust, "ledger", |d| {
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("ledger.json")).unwrap()).unwrap();
        v["entries"].as_array_mut().unwrap().remove(1);
        std::fs::write(d.join("ledger.json"), serde_json::to_vec(&v).unwrap()).unwrap();
    });
    caught(pkg, &t, "ledger-reordered", trust, "ledger", |d| {
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("ledger.json")).unwrap()).unwrap();
        let e = v["entries"].as_array_mut().unwrap();
        let (a, b) = (e[0]["payload"].clone(), e[1]["payload"].clone());
        e[0]["payload"] = b;
        e[1]["payload"] = a;
        std::fs::write(d.join("ledger.json"), serde_json::to_vec(&v).unwrap()).unwrap();
    });
    // The sidecar of another recording in place of this one's.
    let other_ev = &events[1];
    let other_sidecar = pkgs[1].join(rel(other_ev, ObjectRole::C2paSidecar));
    caught(pkg, &t, "swapped-sidecar", trust, &sidecar, |d| {
        std::fs::copy(&other_sidecar, d.join(&sidecar)).unwrap();
    });
    p.assert_no_unexpected_errors(&[]);
}

/// `evidence-verify` (the standalone verifier, no NATS/S3/GStreamer) on the export: verified with
/// our root (text and JSON), exit 2 naming the object for a flipped byte of the original.
fn standalone_verifier_agrees(pkg: &Path, trust: &str, work: &Path) {
    let bin = workspace_bin("evidence-verify").unwrap();
    let out = Command::new(&bin).args(["--trust", trust]).arg(pkg).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("VERIFIED") && text.contains("(trusted)"), "{text}");
    let out = Command::new(&bin).args(["--json", "--trust", trust]).arg(pkg).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["ok"].as_bool(), v["signer_trusted"].as_bool()), (Some(true), Some(true)), "{v:#}");
    std::fs::create_dir_all(work).unwrap();
    copy_dir(pkg, work);
    let original = std::fs::read_dir(work.join("original"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e != "c2pa"))
        .unwrap();
    flip_byte(&original);
    let out = Command::new(&bin).args(["--trust", trust]).arg(work).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    let name = original.file_name().unwrap().to_string_lossy().into_owned();
    assert!(text.lines().any(|l| l.contains("FAIL") && l.contains(&name)), "{text}");
    let out = Command::new(&bin).arg(work.join("no-such-folder")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a folder"));
}

/// The reference C2PA SDK (c2pa-python) on the exported package: the original with its sidecar
/// and the copy with its embedded manifest are `Trusted` under our root with no failure, the
/// original's binding checked over its bytes (`assertion.dataHash.match`), the copy's parent
/// ingredient is the original's manifest, and both carry the recording assertion with the
/// original's SHA-256; one flipped byte of the original is a data hash mismatch.
fn c2pa_python_cross_check(ev: &EvidenceSealedV1, pkg: &Path, trust: &Path) {
    let original = pkg.join(rel(ev, ObjectRole::Original));
    let sidecar = pkg.join(rel(ev, ObjectRole::C2paSidecar));
    let copy = ev.objects.iter().find(|o| o.role == ObjectRole::Derivative).unwrap();
    let copy = pkg.join(copy.key.strip_prefix(&ev.prefix).unwrap());
    let sha = ev.objects.iter().find(|o| o.role == ObjectRole::Original).unwrap().sha256.to_hex();
    let with_sidecar = format!("{}={}", original.display(), sidecar.display());
    let read = crate::support::c2pa_read(Some(trust), &[with_sidecar.clone(), copy.display().to_string()]);
    let (o, c) = (&read[0], &read[1]);
    for r in [o, c] {
        assert_eq!(r["state"], "Trusted", "c2pa-python: {r:#}");
        assert_eq!(r["failures"], serde_json::json!([]), "c2pa-python: {r:#}");
        assert_eq!(r["recording"]["original_sha256"], sha, "c2pa-python: {r:#}");
    }
    assert!(o["successes"].as_array().unwrap().iter().any(|s| s == "assertion.dataHash.match"), "{o:#}");
    assert_eq!(c["parent_manifest"], o["label"], "the copy's parent is the original's manifest: {c:#}");
    let tampered = pkg.parent().unwrap().join("c2pa-python-tampered.MP4");
    std::fs::copy(&original, &tampered).unwrap();
    flip_byte(&tampered);
    let bad = crate::support::c2pa_read(Some(trust), &[format!("{}={}", tampered.display(), sidecar.display())]);
    assert!(
        bad[0]["failures"].as_array().unwrap().iter().any(|f| f == "assertion.dataHash.mismatch"),
        "c2pa-python must catch a flipped byte of the original: {:#}",
        bad[0]
    );
}

/// The reference implementation's view of our manifests: `c2patool` 0.27.22 must find the
/// original's sidecar and the copy's embedded manifest valid, with only the untrusted-signer
/// status without our root, and trusted with it. c2patool takes ~17 min to build, so CI runs
/// without it unless it is installed (`WITH_C2PATOOL=1 scripts/setup`); the skip is printed.
fn c2patool_cross_check(ev: &EvidenceSealedV1, pkg: &Path, trust: &str) {
    let Ok(tool) = test_harness::find_binary("c2patool", "C2PATOOL_BIN") else {
        eprintln!("SKIPPED c2patool cross-check: c2patool not installed (WITH_C2PATOOL=1 scripts/setup installs it)");
        return;
    };
    let original = pkg.join(rel(ev, ObjectRole::Original));
    let copy = ev.objects.iter().find(|o| o.role == ObjectRole::Derivative).unwrap();
    let copy = pkg.join(copy.key.strip_prefix(&ev.prefix).unwrap());
    for asset in [&original, &copy] {
        let out = Command::new(&tool).arg(asset).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("c2patool {}: {e}: {text}", asset.display()));
        let failures: Vec<String> = v["validation_results"]["activeManifest"]["failure"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["code"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        assert!(
            failures.iter().all(|c| c == "signingCredential.untrusted"),
            "c2patool finds {} invalid: {failures:?}\n{text}",
            asset.display()
        );
        assert_eq!(v["validation_state"], "Valid", "{}: {text}", asset.display());
        let out = Command::new(&tool).arg(asset).args(["trust", "--trust_anchors", trust]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(v["validation_state"], "Trusted", "{} with our root: {text}", asset.display());
    }
}

/// `sealer seal` on local files (what operators and the benchmark run): the package it writes
/// verifies with `sealer verify`, C2PA included, and a changed copy is caught.
#[test]
fn local_seal_of_a_recording_and_its_copy_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("OF0002_CAM11_20261128150000_0001.MP4");
    mp4(&rec, &Spec { seconds: 3, ..Default::default() }).unwrap();
    let copy = dir.path().join("access.mp4");
    mp4(&copy, &Spec { seconds: 3, container: test_harness::media::Container::Mp4Faststart, ..Default::default() })
        .unwrap();
    let report =
        Command::new(workspace_bin("ingest-worker").unwrap()).args(["scan", "--json"]).arg(&rec).output().unwrap();
    assert!(report.status.success());
    std::fs::write(dir.path().join("report.json"), &report.stdout).unwrap();
    let pki = dir.path().join("pki");
    let d = |p: &Path| p.to_str().unwrap().to_owned();
    let (code, text) = sealer(&["dev-ca", "--out", &d(&pki)]);
    assert_eq!(code, 0, "{text}");
    let out = dir.path().join("out");
    let (code, text) = sealer(&[
        "seal",
        "--device",
        "CAM11",
        "--officer",
        "OF0002",
        "--report",
        &d(&dir.path().join("report.json")),
        "--copy",
        &format!("access={}", d(&copy)),
        "--cert",
        &d(&pki.join("signer.chain.pem")),
        "--key",
        &d(&pki.join("signer.key.pem")),
        "--out",
        &d(&out),
        &d(&rec),
    ]);
    assert_eq!(code, 0, "{text}");
    let pkg = PathBuf::from(text.lines().last().unwrap().trim());
    let trust = d(&pki.join("ca.cert.pem"));
    let (code, text) = sealer(&["verify", "--trust", &trust, &d(&pkg)]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("embedded manifest") && text.contains("C2PA sidecar manifest valid"), "{text}");
    timestamped_by_a_real_tsa(&pkg, &trust, dir.path());
    flip_byte(&pkg.join("derivatives/access.mp4"));
    let (code, text) = sealer(&["verify", "--trust", &trust, &d(&pkg)]);
    assert_eq!(code, 2, "{text}");
    assert!(text.lines().any(|l| l.contains("FAIL") && l.contains("derivatives/access.mp4")), "{text}");
}

/// A package's `seal.tsr` from a real TSA (OpenSSL's `openssl ts -reply`, its own root): the
/// outside judge (`openssl ts -verify`) and `evidence-verify --tsa-trust` both accept it; under
/// the wrong root, with the token changed, or with seal.json changed after it was stamped, it is a
/// FAIL naming seal.tsr.
fn timestamped_by_a_real_tsa(pkg: &Path, trust: &str, work: &Path) {
    let tsa = test_harness::tsa::OpensslTsa::new(&work.join("tsa"), "Test TSA").unwrap();
    let (seal, tsr) = (pkg.join("seal.json"), pkg.join("seal.tsr"));
    std::fs::write(&tsr, tsa.stamp(&seal).unwrap()).unwrap();
    assert!(tsa.openssl_verifies(&seal, &tsr, &tsa.root()).unwrap(), "openssl ts -verify");
    let verify = |dir: &Path, tsa_root: &Path| {
        let out = Command::new(workspace_bin("evidence-verify").unwrap())
            .args(["--trust", trust, "--tsa-trust"])
            .arg(tsa_root)
            .arg(dir)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, text) = verify(pkg, &tsa.root());
    assert_eq!(code, Some(0), "{text}");
    let root = tsa.root().display().to_string();
    let (code, same) = sealer(&["verify", "--trust", trust, "--tsa-trust", &root, pkg.to_str().unwrap()]);
    assert_eq!(code, 0, "sealer verify checks the time stamp the same way: {same}");
    assert!(same.contains("ok   seal.tsr: RFC 3161 time stamp over seal.json"), "{same}");
    assert!(
        text.contains("ok   seal.tsr: RFC 3161 time stamp over seal.json by CN=Test TSA")
            && text.contains("(TSA trusted)"),
        "{text}"
    );
    let (code, text) = verify(pkg, Path::new(trust));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.lines().any(|l| l.contains("FAIL seal.tsr") && l.contains("not issued by a trusted root")), "{text}");
    for (what, tamper) in [("token", "seal.tsr"), ("record", "seal.json")] {
        let copy = work.join(format!("tsa-tampered-{what}"));
        std::fs::create_dir_all(&copy).unwrap();
        copy_dir(pkg, &copy);
        let f = copy.join(tamper);
        if tamper == "seal.json" {
            // Still a valid record, one fact changed after it was stamped.
            let t = std::fs::read_to_string(&f).unwrap();
            assert!(t.contains("\"station_id\": \"local\""), "{t}");
            std::fs::write(&f, t.replacen("\"station_id\": \"local\"", "\"station_id\": \"lokal\"", 1)).unwrap();
        } else {
            let mut b = std::fs::read(&f).unwrap();
            let i = b.len() - 3;
            b[i] ^= 0x01;
            std::fs::write(&f, b).unwrap();
        }
        let (code, text) = verify(&copy, &tsa.root());
        assert_eq!(code, Some(2), "{what}: {text}");
        assert!(text.lines().any(|l| l.contains("FAIL seal.tsr")), "{what}: {text}");
    }
    std::fs::remove_file(&tsr).unwrap();
}

/// Evidence is retrieved only under an approval: without one, or with one for another recording
/// or of another scope, the access is refused and the refusal is in the ledger; with one, the
/// short-lived URL serves exactly the sealed bytes, and the access is in the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_needs_an_approval_and_every_access_and_refusal_is_in_the_ledger() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let mut files = Vec::new();
    for i in 1..=2 {
        let f = p.dir.path().join(format!("OF0003_CAM13_2026112810{i:02}00_000{i}.MP4"));
        // Different lengths: two identical files are one recording (same evidence id).
        mp4(&f, &Spec { seconds: 1 + i, ..Default::default() }).unwrap();
        files.push(f);
    }
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    p.push("CAM13", &refs).unwrap();
    let events = p.sealed(2, Duration::from_secs(180)).await.unwrap();
    if events.len() < 2 {
        let logs: Vec<String> = p
            .workers
            .iter_mut()
            .map(|w| {
                let t = w.log_text();
                format!("== {}\n{t}", w.name)
            })
            .collect();
        panic!("only {} of 2 sealed:\n{}", events.len(), logs.join("\n"));
    }
    let (a, b) = (events[0].evidence_id.to_string(), events[1].evidence_id.to_string());
    let cfg = p.config_path("sealer");
    let cfg = cfg.to_str().unwrap();
    let access = |extra: &[&str], id: &str| {
        let mut args = vec!["access", "--config", cfg, "--reason", "court hearing", "--actor", "clerk-7"];
        args.extend_from_slice(extra);
        args.push(id);
        sealer(&args)
    };
    let ledger_len = || async {
        let client = async_nats::connect(&p.nats.url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let mut s = js.get_stream(evidence_contracts::subjects::LEDGER_STREAM).await.unwrap();
        s.info().await.unwrap().state.messages
    };
    assert_eq!(ledger_len().await, 2, "two seal records");

    let (code, text) = access(&[], &a);
    assert_ne!(code, 0, "no approval must be refused: {text}");
    assert!(text.contains("access refused") && text.contains("no approval"), "{text}");
    assert_eq!(ledger_len().await, 3, "the refusal is recorded");

    let (code, approval) = sealer(&[
        "approve",
        "--config",
        cfg,
        "--approver",
        "chief-1",
        "--reason",
        "hearing 2026-12-01",
        "--scope",
        "derivatives",
        "--valid-for",
        "1h",
        &a,
    ]);
    assert_eq!(code, 0, "{approval}");
    let approval = approval.trim().to_owned();
    let (code, text) = access(&["--approval", &approval], &b);
    assert_ne!(code, 0, "an approval for another recording: {text}");
    assert!(text.contains("does not cover"), "{text}");
    let (code, text) = access(&["--approval", &approval, "--scope", "original"], &a);
    assert_ne!(code, 0, "an approval of another scope: {text}");
    assert_eq!(ledger_len().await, 5, "every refusal is recorded");

    let (code, text) = access(&["--approval", &approval], &a);
    assert_eq!(code, 0, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let obj = &v["objects"][0];
    let url = obj["url"].as_str().unwrap();
    let body = Command::new("curl").args(["-sf", url]).output().unwrap();
    assert!(body.status.success(), "the presigned URL works");
    let sha = evidence_contracts::seal::digests_of(&body.stdout).1;
    assert_eq!(serde_json::to_value(sha).unwrap(), obj["sha256"], "the URL serves exactly the sealed copy");
    assert_eq!(ledger_len().await, 6, "the access is recorded");
    assert_eq!(v["ledger_seq"], 6);

    // A restricted class: once `a` is classified `privacy`, the same approval no longer opens
    // it; an approval naming the class does. Classification and refusal are both in the ledger.
    let (code, text) = sealer(&[
        "classify",
        "--config",
        cfg,
        "--class",
        "privacy",
        "--reason",
        "a minor is filmed",
        "--actor",
        "chief-1",
        &a,
    ]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(ledger_len().await, 7, "the classification is recorded");
    let (code, text) = access(&["--approval", &approval], &a);
    assert_ne!(code, 0, "a privacy recording with an approval that does not name the class: {text}");
    assert!(text.contains("classified privacy") && text.contains("--class privacy"), "{text}");
    assert_eq!(ledger_len().await, 8, "the refusal is recorded");
    let (code, restricted) = sealer(&[
        "approve",
        "--config",
        cfg,
        "--approver",
        "director",
        "--reason",
        "hearing",
        "--class",
        "privacy",
        "--valid-for",
        "1h",
        &a,
    ]);
    assert_eq!(code, 0, "{restricted}");
    let (code, text) = access(&["--approval", restricted.trim()], &a);
    assert_eq!(code, 0, "{text}");
    assert_eq!(ledger_len().await, 9);
    // The chain still replays with the new record kinds: the exported package verifies.
    let out = p.dir.path().join("export-a");
    let (code, text) =
        sealer(&["export", "--config", cfg, "--actor", "clerk-7", "--reason", "copy", &a, out.to_str().unwrap()]);
    assert_ne!(code, 0, "an export without an approval is refused: {text}");
    assert!(!out.exists(), "a refused export leaves no folder");
    let (code, text) = sealer(&[
        "export",
        "--config",
        cfg,
        "--approval",
        restricted.trim(),
        "--actor",
        "clerk-7",
        "--reason",
        "copy",
        &a,
        out.to_str().unwrap(),
    ]);
    assert_ne!(code, 0, "an approval of the derivatives does not export the package: {text}");
    assert!(text.contains("--scope package"), "{text}");
    let (code, pkg_approval) = sealer(&[
        "approve",
        "--config",
        cfg,
        "--approver",
        "director",
        "--reason",
        "hearing",
        "--class",
        "privacy",
        "--scope",
        "package",
        "--valid-for",
        "1h",
        &a,
    ]);
    assert_eq!(code, 0, "{pkg_approval}");
    let (code, text) = sealer(&[
        "export",
        "--config",
        cfg,
        "--approval",
        pkg_approval.trim(),
        "--actor",
        "clerk-7",
        "--reason",
        "copy",
        &a,
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(ledger_len().await, 12, "both refused exports and the export are recorded");
    let (code, text) = sealer(&["verify", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
}
