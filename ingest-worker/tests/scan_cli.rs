//! `ingest-worker scan` as an operator runs it: the real binary on generated files.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::Command;

use evidence_contracts::report::{ScanReportV1, SessionFindingKind, Verdict};
use test_harness::media::{Container, Spec, mp4, with_creation_time};

fn scan(args: &[&str], files: &[&Path]) -> ScanReportV1 {
    let out = Command::new(env!("CARGO_BIN_EXE_ingest-worker")).arg("scan").args(args).args(files).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn tool_digest(tool: &str, args: &[&str], file: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e} (scripts/setup installs it)"));
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

#[test]
fn digests_equal_b3sum_and_sha256sum() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.mp4");
    mp4(&p, &Spec { seconds: 2, ..Default::default() }).unwrap();
    let r = scan(&["--json"], &[&p]);
    assert_eq!(r.files[0].blake3.to_hex(), tool_digest("b3sum", &[], &p));
    assert_eq!(r.files[0].sha256.to_hex(), tool_digest("sha256sum", &[], &p));
    assert_eq!(r.files[0].bytes, std::fs::metadata(&p).unwrap().len());
    assert_eq!(r.verdict, Verdict::Continuous);
}

#[test]
fn a_session_is_ordered_by_start_and_gaps_and_overlaps_between_files_are_measured() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.mp4");
    mp4(&base, &Spec { seconds: 4, container: Container::Mp4Faststart, ..Default::default() }).unwrap();
    let session = dir.path().join("session");
    std::fs::create_dir(&session).unwrap();
    // 4 s files starting at :00, :04 (seamless), :11 (3 s missing), :13 (2 s overlap).
    // Names deliberately out of order: ordering must come from the start times.
    for (name, t) in [("d.mp4", "09:30:00"), ("c.mp4", "09:30:04"), ("b.mp4", "09:30:11"), ("a.mp4", "09:30:13")] {
        with_creation_time(&base, &session.join(name), &format!("2026-11-28T{t}Z")).unwrap();
    }
    let r = scan(&["--json", "--session"], &[&session]);
    let order: Vec<&str> = r.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(order, ["d.mp4", "c.mp4", "b.mp4", "a.mp4"]);
    assert_eq!(r.findings.len(), 2, "{:#?}", r.findings);
    let gap = &r.findings[0];
    assert_eq!(
        (gap.kind, gap.after.as_str(), gap.before.as_str()),
        (SessionFindingKind::GapBetweenFiles, "c.mp4", "b.mp4")
    );
    let dur = r.files[1].duration_s;
    assert!((gap.duration_s - (7.0 - dur)).abs() < 0.01, "{gap:?} (file lasts {dur})");
    let ov = &r.findings[1];
    assert_eq!(
        (ov.kind, ov.after.as_str(), ov.before.as_str()),
        (SessionFindingKind::OverlapBetweenFiles, "b.mp4", "a.mp4")
    );
    assert!((ov.duration_s - (dur - 2.0)).abs() < 0.01, "{ov:?}");
    assert_eq!(r.verdict, Verdict::Discontinuous);
}

#[test]
fn file_name_times_order_a_session_when_containers_have_none() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.ts");
    mp4(&base, &Spec { seconds: 3, container: Container::MpegTs, ..Default::default() }).unwrap();
    let session = dir.path().join("s");
    std::fs::create_dir(&session).unwrap();
    for name in
        ["OF1_CAM9_20261128093000_0001.ts", "OF1_CAM9_20261128093003_0002.ts", "OF1_CAM9_20261128093010_0003.ts"]
    {
        std::fs::copy(&base, session.join(name)).unwrap();
    }
    let r = scan(&["--json", "--session"], &[&session]);
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    assert_eq!(r.findings[0].kind, SessionFindingKind::GapBetweenFiles);
    assert_eq!(r.findings[0].after, "OF1_CAM9_20261128093003_0002.ts");
    assert!((r.findings[0].duration_s - (7.0 - r.files[1].duration_s)).abs() < 0.01, "{:?}", r.findings[0]);
}

#[test]
fn text_output_names_findings_for_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("hole.mp4");
    mp4(&p, &Spec { seconds: 3, hole: Some((1.0, 2.0)), ..Default::default() }).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ingest-worker")).arg("scan").arg(&p).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2.000 s of video are missing after 1.000 s"), "{text}");
    assert!(text.contains("verdict: discontinuous"), "{text}");
}
