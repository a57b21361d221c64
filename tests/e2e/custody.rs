//! The custody report as a prosecutor attaches it and a defence expert reads it: a sealed
//! recording, given a retention, an approved access and a classification, reported by
//! `sealer report` as HTML and PDF; its contents asserted, and the page rendered by headless
//! Chromium into a screenshot, as a person would look at it.

use std::process::Command;
use std::time::Duration;

use test_harness::media::{Spec, mp4};
use test_harness::workspace_bin;

use crate::support::Pipeline;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(workspace_bin("sealer").unwrap()).args(args).output().unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    (out.status.code().unwrap_or(-1), o, e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_custody_report_tells_a_court_the_facts_the_hashes_and_every_ledger_event() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let f = p.dir.path().join("OF0042_CAM21_20261128101500_0001.MP4");
    mp4(&f, &Spec { seconds: 3, audio: true, ..Default::default() }).unwrap();
    p.push("CAM21", &[&f]).unwrap();
    let ev = p.sealed(1, Duration::from_secs(180)).await.unwrap().remove(0);
    let id = ev.evidence_id.to_string();
    let cfg = p.config_path("sealer").display().to_string();
    let trust = p.dir.path().join("pki/ca.cert.pem").display().to_string();
    let sealer = |args: &[&str]| {
        let mut v = vec![args[0], "--config", cfg.as_str()];
        v.extend_from_slice(&args[1..]);
        let (code, out, err) = run(&v);
        assert_eq!(code, 0, "sealer {args:?}: {err}");
        out
    };
    sealer(&[
        "retain",
        "--case",
        "CASE-2026-117",
        "--until",
        "2036-12-30",
        "--reason",
        "案件立案 case opened",
        "--actor",
        "clerk-1",
        &id,
    ]);
    let approval =
        sealer(&["approve", "--approver", "director-wang", "--reason", "庭审 hearing", "--scope", "derivatives", &id]);
    let approval = approval.trim().to_owned();
    sealer(&["access", "--approval", &approval, "--actor", "defence-expert-li", "--reason", "质证 review", &id]);
    sealer(&["classify", "--class", "privacy", "--reason", "未成年人 a minor is filmed", "--actor", "chief-1", &id]);

    let out = p.dir.path().join("report");
    let written = sealer(&["report", "--trust", &trust, "--out", out.to_str().unwrap(), &id]);
    let files: Vec<&str> = written.lines().collect();
    assert_eq!(files.len(), 2, "{written}");
    let html = std::fs::read_to_string(files[0]).unwrap();
    assert!(files[0].ends_with(&format!("custody-{id}.html")) && files[1].ends_with(".pdf"), "{written}");

    // The facts, in both languages.
    let (officer, device, station) = (ev.officer_id.to_string(), ev.device_id.to_string(), ev.station_id.to_string());
    for needle in
        ["执法音视频证据保管报告", "Custody report", &officer, &device, &station, &ev.file_name, "记录核验通过"]
    {
        assert!(html.contains(needle), "report lacks {needle:?}");
    }
    assert!(html.contains("按时 met") || html.contains("逾期 late"), "the upload deadline is stated");
    // Every sealed object with its hashes.
    for o in &ev.objects {
        assert!(html.contains(&o.sha256.to_hex()) && html.contains(&o.blake3.to_hex()), "hashes of {}", o.key);
    }
    // The signer, and every ledger event in order with actor, approval and reason.
    assert!(html.contains("chain trusted"), "signer checked against the root");
    let pos = |s: &str| html.find(s).unwrap_or_else(|| panic!("report lacks {s:?}"));
    let (seal, retention, access, class) =
        (pos(">seal<"), pos(">retention<"), pos(">access<"), pos(">classification<"));
    assert!(seal < retention && retention < access && access < class, "ledger order");
    for needle in [
        "clerk-1",
        "CASE-2026-117",
        "案件立案 case opened",
        "defence-expert-li",
        "director-wang",
        &approval,
        "质证 review",
        "chief-1",
        "privacy",
    ] {
        assert!(html.contains(needle), "report lacks {needle:?}");
    }
    // The PDF is a PDF, and the page renders for a person (a screenshot by headless Chromium).
    let pdf = std::fs::read(files[1]).unwrap();
    assert!(pdf.starts_with(b"%PDF-") && pdf.len() > 10_000, "{} bytes", pdf.len());
    let shot = out.join("page.png");
    let profile = tempfile::tempdir().unwrap();
    let st = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1240,1754"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", files[0]))
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "{} bytes", png.len());
    if let Ok(keep) = std::env::var("KEEP_CUSTODY_REPORT") {
        for f in [files[0], files[1], shot.to_str().unwrap()] {
            std::fs::copy(f, std::path::Path::new(&keep).join(std::path::Path::new(f).file_name().unwrap())).unwrap();
        }
    }

    // A typo in the id is named; the HTML alone needs no Chromium.
    let (code, _, err) = run(&["report", "--config", &cfg, "--out", out.to_str().unwrap(), "not-an-id"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not-an-id"), "{err}");
    let only = sealer(&["report", "--no-pdf", "--out", p.dir.path().join("html-only").to_str().unwrap(), &id]);
    assert_eq!(only.lines().count(), 1, "{only}");
    p.assert_no_unexpected_errors(&[]);
}
