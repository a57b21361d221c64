//! The recording rules on real sealed recordings: matters imported from CSV, checked by
//! `auditor check` (one officer only, an unexplained hole, the same hole under a registered
//! pause, a late start, a recording outside every matter), and the audit report's counts
//! against what the scenario was built to contain.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use evidence_contracts::compliance::{MatterCheckV1, RecordingFlagsV1};
use evidence_contracts::decode;
use test_harness::media::{Spec, mp4};
use test_harness::workspace_bin;

use crate::support::Pipeline;

fn push_at(p: &Pipeline, device: &str, officer: &str, start: DateTime<Utc>, file: &Path) {
    let out = Command::new(workspace_bin("station").expect("station"))
        .args(["push", "--config"])
        .arg(p.config_path("station"))
        .args(["--station", "ST-C", "--device", device, "--officer", officer, "--recorded-start", &start.to_rfc3339()])
        .arg(file)
        .output()
        .expect("run station push");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn auditor(p: &Pipeline, args: &[&str]) -> (i32, String, String) {
    let cfg = p.dir.path().join("auditor.toml");
    let out = Command::new(workspace_bin("auditor").expect("auditor binary"))
        .arg("--config")
        .arg(&cfg)
        .args(args)
        .output()
        .expect("run auditor");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&FixedOffset::east_opt(8 * 3600).expect("offset")).format("%Y-%m-%d %H:%M:%S").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matters_are_checked_against_sealed_recordings_and_audited() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let station_cfg = std::fs::read_to_string(p.config_path("station")).expect("station config");
    std::fs::write(
        p.dir.path().join("auditor.toml"),
        format!(
            "{station_cfg}\n[policy]\ntolerance_s = 1\n\n[deadline]\ncalendars = [\"{}\"]\n",
            test_harness::repo_path("deploy/calendar/CN-2026.toml").display()
        ),
    )
    .expect("auditor config");

    // Five matters one minute apart, an hour ago, each 6 s long; officers A1 and B1.
    let base = DateTime::<Utc>::from_timestamp(Utc::now().timestamp() / 60 * 60 - 3600, 0).expect("time");
    let t = |m: i64, s: i64| base + chrono::Duration::seconds(60 * m + s);
    let mut n = 0u32;
    let mut clip = |hole: bool| {
        n += 1;
        let f = p.dir.path().join(format!("A1_2026112800000{n}_{n:04}.MP4"));
        let hole = hole.then_some((2.0, 2.0));
        mp4(&f, &Spec { seconds: 6, width: 304 + 16 * n, height: 240, hole, ..Default::default() }).expect("generate");
        f
    };
    let r: Vec<_> = (0..10).map(|i| clip(i == 4 || i == 6)).collect();
    push_at(&p, "DEV-A", "A1", t(1, 0), &r[0]); // M1: both officers, whole window
    push_at(&p, "DEV-B", "B1", t(1, 0), &r[1]);
    push_at(&p, "DEV-A", "A1", t(2, 0), &r[2]); // M2: only A1
    push_at(&p, "DEV-A", "A1", t(3, 0), &r[3]); // M3: B1's recording has a 2 s hole
    push_at(&p, "DEV-B", "B1", t(3, 0), &r[4]);
    push_at(&p, "DEV-A", "A1", t(4, 0), &r[5]); // M4: the same hole, under a registered pause
    push_at(&p, "DEV-B", "B1", t(4, 0), &r[6]);
    push_at(&p, "DEV-A", "A1", t(5, 3), &r[7]); // M5: both start 3 s late
    push_at(&p, "DEV-B", "B1", t(5, 3), &r[8]);
    push_at(&p, "DEV-A", "A1", t(8, 0), &r[9]); // within no matter
    let sealed = p.sealed(10, Duration::from_secs(300)).await.expect("sealed");
    assert_eq!(sealed.len(), 10);
    let id_of = |file: &Path| {
        let name = file.file_name().expect("name").to_string_lossy().into_owned();
        sealed.iter().find(|e| e.file_name == name).expect("sealed file").evidence_id
    };

    // M1's first recording is retrieved once without an approval: refused, and in the ledger.
    let refused = Command::new(workspace_bin("sealer").expect("sealer"))
        .args(["access", "--config"])
        .arg(p.config_path("sealer"))
        .args(["--approval", "APR-NONE", "--reason", "curiosity", "--actor", "clerk-9", &id_of(&r[0]).to_string()])
        .output()
        .expect("run sealer access");
    assert!(!refused.status.success(), "access without a valid approval must be refused");

    let matters = p.dir.path().join("matters.csv");
    let mut csv = String::from("matter_id,kind,officers,start,end,document\n");
    for m in 1..=5 {
        csv.push_str(&format!("M{m},inspection,A1;B1,{},{},DOC-{m}\n", local(t(m, 0)), local(t(m, 6))));
    }
    std::fs::write(&matters, csv).expect("matters.csv");
    let pauses = p.dir.path().join("pauses.csv");
    std::fs::write(
        &pauses,
        format!(
            "pause_id,officer_id,device_id,from,to,reason,approver,matter_id\nP4,,DEV-B,{},{},battery swap,chief-1,M4\n",
            local(t(4, 1)),
            local(t(4, 5))
        ),
    )
    .expect("pauses.csv");
    // A bad file is refused whole, naming the line and field.
    let bad = p.dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "matter_id,kind,officers,start,end\nM 9,inspection,A1,2026-11-28 09:00:00,2026-11-28 08:00:00\n",
    )
    .expect("bad.csv");
    let (code, _, err) = auditor(&p, &["import", "--matters", &bad.display().to_string()]);
    assert_ne!(code, 0);
    assert!(err.contains("bad.csv:2: matter_id") && err.contains("bad.csv:2: end"), "{err}");

    let (code, _, err) = auditor(
        &p,
        &["import", "--matters", &matters.display().to_string(), "--pauses", &pauses.display().to_string()],
    );
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = auditor(&p, &["check"]);
    assert_eq!(code, 3, "some matters fail\n{out}\n{err}");
    let checks: BTreeMap<String, MatterCheckV1> = out
        .lines()
        .filter_map(|l| l.split('\t').nth(3))
        .map(|j| serde_json::from_str::<MatterCheckV1>(j).expect("check json"))
        .map(|c| (c.matter_id.clone(), c))
        .collect();
    assert_eq!(checks.len(), 5, "{out}");
    let m1 = &checks["M1"];
    assert!(m1.passed && m1.recordings.len() == 2, "{m1:#?}");
    let m2 = &checks["M2"];
    assert!(!m2.passed && !m2.enough_officers && m2.officers_without_recording == ["B1"], "{m2:#?}");
    let m3 = &checks["M3"];
    assert!(!m3.passed && m3.unexplained_gaps.len() == 1, "{m3:#?}");
    let g = &m3.unexplained_gaps[0];
    assert_eq!(g.officer_id, "B1");
    assert!((g.seconds - 2.0).abs() < 0.2, "{g:?}");
    assert!((g.from - t(3, 2)).num_milliseconds().abs() < 200, "{g:?}");
    let m4 = &checks["M4"];
    assert!(m4.passed && m4.explained_gaps.len() == 1, "{m4:#?}");
    assert!(m4.explained_gaps[0].pause.as_deref().is_some_and(|s| s.contains("battery swap")));
    let m5 = &checks["M5"];
    assert!(!m5.passed && !m5.start_covered && m5.end_covered, "{m5:#?}");
    assert!((m5.start_offset_s.expect("offset") - 3.0).abs() < 0.2, "{m5:#?}");

    // Results are events; a second run with nothing new publishes nothing.
    let events = p.events("evidence.compliance.v1.matter.>", 5, Duration::from_secs(10)).await.expect("events");
    assert_eq!(events.len(), 5);
    let (code, _, _) = auditor(&p, &["check"]);
    assert_eq!(code, 3);
    let again = p.events("evidence.compliance.v1.matter.>", 6, Duration::from_secs(2)).await.expect("events");
    assert_eq!(again.len(), 5, "an unchanged result is not published again");
    let flags = p.events("evidence.compliance.v1.recording.>", 1, Duration::from_secs(10)).await.expect("flags");
    let outside: Vec<RecordingFlagsV1> = flags.iter().map(|m| decode(&m.payload).expect("flags json")).collect();
    assert!(
        outside
            .iter()
            .any(|f| f.evidence_id == Some(id_of(&r[9])) && f.flags.iter().any(|x| x.kind == "outside_every_matter")),
        "{outside:#?}"
    );

    // The audit of the period, everything sampled: counts as the scenario was built.
    let day =
        |d: DateTime<Utc>| d.with_timezone(&FixedOffset::east_opt(8 * 3600).expect("offset")).date_naive().to_string();
    let dir = p.dir.path().join("audit");
    let (from, to) = (day(t(0, 0) - chrono::Duration::days(1)), day(Utc::now() + chrono::Duration::days(1)));
    let (code, _, err) = auditor(
        &p,
        &["audit", "--from", &from, "--to", &to, "--fraction", "1", "--seed", "7", "--out", &dir.display().to_string()],
    );
    assert_eq!(code, 0, "{err}");
    let rep: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("audit.json")).expect("audit.json")).expect("json");
    assert_eq!(rep["population"], 5);
    assert_eq!(rep["sampled"], 5);
    let expect = [
        ("recordings_present", 1), // M2: no recording of B1
        ("uploaded_on_time", 0),
        ("window_consistent", 1), // M5
        ("two_officers", 1),      // M2
        ("pauses_registered", 2), // M3's hole; M5's unrecorded first 3 s
        ("accesses_approved", 0), // M1's attempt was refused: nothing was read
    ];
    for (k, v) in expect {
        assert_eq!(rep["failures"][k], v, "{k}: {}", rep["failures"]);
    }
    assert_eq!(rep["passed"], 2, "M1 and M4 pass every check");
    let row =
        |m: &str| rep["rows"].as_array().expect("rows").iter().find(|r| r["matter_id"] == m).expect("row").clone();
    let m1 = row("M1");
    assert_eq!(m1["access_state"], "none", "a refused attempt is not an access: {m1}");
    assert_eq!(m1["accesses"][0]["outcome"], "refused", "{m1}");
    assert!(m1["accesses"][0]["refused"].as_str().expect("why").contains("no approval with id APR-NONE"), "{m1}");
    assert_eq!(row("M2")["access_state"], "none");
    let m4 = row("M4");
    assert_eq!(m4["explained_gaps"][0]["pause"]["pause_id"], "P4", "{m4}");
    assert_eq!(m4["explained_gaps"][0]["pause"]["approver"], "chief-1", "{m4}");
    assert_eq!(m4["document"], "DOC-4");
    assert_eq!(rep["period_first_day"], from.as_str());
    assert_eq!(rep["criteria"]["tolerance_s"], 1);
    assert!(rep["sha256"].as_str().is_some_and(|h| h.len() == 64));
    let sums = Command::new("sha256sum").arg("-c").arg("SHA256SUMS").current_dir(&dir).output().expect("sha256sum");
    assert!(sums.status.success(), "{}", String::from_utf8_lossy(&sums.stdout));
    // An outsider recomputes the report's own SHA-256 as documented (Python's json, not ours).
    let outside = Command::new("python3")
        .arg("-c")
        .arg(
            "import json,hashlib,sys; d=json.load(open(sys.argv[1])); w=d.pop('sha256'); d.pop('files',None); \
             print(hashlib.sha256(json.dumps(d,separators=(',',':'),ensure_ascii=False).encode()).hexdigest()==w)",
        )
        .arg(dir.join("audit.json"))
        .output()
        .expect("python3");
    assert_eq!(String::from_utf8_lossy(&outside.stdout).trim(), "True", "{}", String::from_utf8_lossy(&outside.stderr));
    let md = std::fs::read_to_string(dir.join("audit.md")).expect("audit.md");
    let html = std::fs::read_to_string(dir.join("audit.html")).expect("audit.html");
    for m in ["M1", "M2", "M3", "M4", "M5"] {
        assert!(md.contains(&format!("| {m} |")) && html.contains(&format!("<td class=\"nowrap\">{m}</td>")), "{m}");
    }
    assert!(html.contains("<svg") && md.contains("Where it fails"));
    assert!(md.starts_with(&format!("# Audit of whole-process recording — {from} to {to}")), "{md}");
    assert!(md.contains("pause P4: battery swap, approved by chief-1"), "{md}");

    // The same report in Chinese.
    let dir_zh = p.dir.path().join("audit-zh");
    let (code, _, err) = auditor(
        &p,
        &[
            "audit",
            "--from",
            &from,
            "--to",
            &to,
            "--fraction",
            "1",
            "--seed",
            "7",
            "--lang",
            "zh-CN",
            "--out",
            &dir_zh.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let zh = std::fs::read_to_string(dir_zh.join("audit.md")).expect("audit.md");
    assert!(zh.starts_with(&format!("# 全过程记录稽查报告 — {from} 至 {to}")), "{zh}");
    assert!(zh.contains("暂停 P4: battery swap, 审批人 chief-1"), "{zh}");
    assert!(zh.contains("执法文书") && zh.contains("不合格"), "{zh}");
    let zh_html = std::fs::read_to_string(dir_zh.join("audit.html")).expect("audit.html");
    assert!(zh_html.contains("<html lang=\"zh-CN\">"));
    // The same folder again is refused, and nothing in it changes.
    let before = std::fs::read(dir_zh.join("audit.json")).expect("json");
    let (code, _, err) = auditor(&p, &["audit", "--from", &from, "--to", &to, "--out", &dir_zh.display().to_string()]);
    assert_ne!(code, 0);
    assert!(err.contains("--out") && err.contains("not empty"), "{err}");
    assert_eq!(std::fs::read(dir_zh.join("audit.json")).expect("json"), before);

    // A sample of 3 with seed 7: the matters first in BLAKE3(seed ‖ id) order, computed here.
    let dir3 = p.dir.path().join("audit3");
    let (code, _, _) = auditor(
        &p,
        &["audit", "--from", &from, "--to", &to, "--sample", "3", "--seed", "7", "--out", &dir3.display().to_string()],
    );
    assert_eq!(code, 0);
    let rep3: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir3.join("audit.json")).expect("audit.json")).expect("json");
    let mut order: Vec<(String, [u8; 32])> = (1..=5)
        .map(|m| {
            let mut h = blake3::Hasher::new();
            h.update(&7u64.to_le_bytes());
            h.update(format!("M{m}").as_bytes());
            (format!("M{m}"), *h.finalize().as_bytes())
        })
        .collect();
    order.sort_by_key(|e| e.1);
    let mut want: Vec<String> = order.into_iter().take(3).map(|(m, _)| m).collect();
    want.sort();
    let mut got: Vec<String> = rep3["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["matter_id"].as_str().expect("id").to_owned())
        .collect();
    got.sort();
    assert_eq!(got, want);
}
