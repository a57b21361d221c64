//! Governance as an operator and an auditor meet it: recordings docked by the real station
//! agent (one camera whose clock ran 180 s ahead), then every way evidence could leave the store
//! without an approval, retention that must only grow on a store without Object Lock, a hold
//! that is not a date, mistyped input refused before anything is written, and the audit of a
//! matter that only the clock-shifted camera seemed to cover.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use evidence_contracts::compliance::MatterCheckV1;
use evidence_contracts::subjects;
use test_harness::media::{Spec, mp4};
use test_harness::workspace_bin;

use crate::station::{docked_slot, spawn_dock};
use crate::support::Pipeline;

fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(workspace_bin(bin).unwrap()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn stream_len(p: &Pipeline, stream: &str) -> u64 {
    let client = async_nats::connect(&p.nats.url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut s = js.get_stream(stream).await.unwrap();
    s.info().await.unwrap().state.messages
}

fn local(t: DateTime<Utc>, fmt: &str) -> String {
    t.with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap()).format(fmt).to_string()
}

/// A station with two cameras: CAM-GA (officer A1, clock right) and CAM-GB (officer B1, clock
/// 180 s ahead), each holding one 6 s recording whose name says it started at `t`.
fn dock_two_cameras(p: &Pipeline, t: DateTime<Utc>) -> std::path::PathBuf {
    let root = p.dir.path().join("slots");
    for (slot, serial, officer, skew, n) in [("s1", "CAM-GA", "A1", 0, 1u32), ("s2", "CAM-GB", "B1", 180, 2)] {
        let media = docked_slot(&root, slot, serial, skew);
        let f = media.join(format!("{officer}_{}_{n:04}.MP4", local(t, "%Y%m%d%H%M%S")));
        mp4(&f, &Spec { seconds: 6, width: 320 + 16 * n, height: 240, ..Default::default() }).unwrap();
    }
    let mut cfg = std::fs::read_to_string(p.config_path("station")).unwrap();
    cfg.push_str(&format!(
        "\n[telemetry]\nlisten = \"127.0.0.1:0\"\n\n[dock]\nstation_id = \"ST-G\"\nstate_dir = \"{}\"\n\
         slots_dir = \"{}\"\nsettle = \"0s\"\nscan_interval = \"200ms\"\nreceipt_interval = \"300ms\"\n\
         status_interval = \"2s\"\nbackoff_min = \"200ms\"\nbackoff_max = \"2s\"\n\n[dock.bindings]\n\
         \"CAM-GA\" = \"A1\"\n\"CAM-GB\" = \"B1\"\n",
        p.dir.path().join("station-state").display(),
        root.display()
    ));
    let path = p.dir.path().join("dock.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_leaves_only_under_approval_retention_only_grows_and_the_audit_uses_corrected_clocks() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let t = DateTime::<Utc>::from_timestamp(Utc::now().timestamp() / 60 * 60 - 3600, 0).unwrap();
    let dock = dock_two_cameras(&p, t);
    let mut agent = spawn_dock(&dock, true);
    let status = agent.wait_exit(Duration::from_secs(600)).expect("agent exits");
    assert!(status.success(), "agent failed: {status}\n{}", agent.log_text());
    let sealed = p.sealed(2, Duration::from_secs(60)).await.unwrap();
    assert_eq!(sealed.len(), 2);
    let a = sealed.iter().find(|e| e.device_id.as_str() == "CAM-GA").unwrap().evidence_id.to_string();
    let b = sealed.iter().find(|e| e.device_id.as_str() == "CAM-GB").unwrap().evidence_id.to_string();
    let cfg = p.config_path("sealer");
    let cfg = cfg.to_str().unwrap();
    let sealer = |args: &[&str]| {
        let mut v = vec![args[0], "--config", cfg];
        v.extend_from_slice(&args[1..]);
        run("sealer", &v)
    };

    // --- A restricted item cannot leave the store without an approval; every read is on its ledger.
    let (code, _, err) =
        sealer(&["classify", "--class", "privacy", "--reason", "a minor is filmed", "--actor", "chief-1", &a]);
    assert_eq!(code, 0, "{err}");
    let ledger0 = stream_len(&p, subjects::LEDGER_STREAM).await;
    let out = p.dir.path().join("export");
    let out_s = out.to_str().unwrap();
    let (code, _, err) = sealer(&["export", "--actor", "clerk-1", "--reason", "court", &a, out_s]);
    assert_eq!(code, 1, "an export without an approval is refused: {err}");
    assert!(err.contains("no approval given") && err.contains("--approval"), "{err}");
    assert!(!out.exists(), "nothing was written");
    // A mistyped approval id is its own refusal, not "no approval"; so is a wildcard.
    let (code, _, err) =
        sealer(&["export", "--approval", "0f3c9a2bTYPO", "--actor", "clerk-1", "--reason", "court", &a, out_s]);
    assert_eq!(code, 1);
    assert!(err.contains("no approval with id 0f3c9a2bTYPO exists") && err.contains("typo"), "{err}");
    let (code, _, err) = sealer(&["access", "--approval", "*", "--actor", "clerk-1", "--reason", "court", &a]);
    assert_eq!(code, 1);
    assert!(err.contains("is not an approval id"), "{err}");
    assert_eq!(stream_len(&p, subjects::LEDGER_STREAM).await, ledger0 + 3, "every refusal is on the ledger");
    // An approval of the access copies, without the class: refused for the whole package.
    let (code, approval, err) = sealer(&[
        "approve",
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
    assert_eq!(code, 0, "{err}");
    let (code, _, err) =
        sealer(&["export", "--approval", approval.trim(), "--actor", "clerk-1", "--reason", "court", &a, out_s]);
    assert_eq!(code, 1);
    assert!(err.contains("the access copies (--scope derivatives) only") && err.contains("--scope package"), "{err}");
    let (code, pkg_no_class, _) =
        sealer(&["approve", "--approver", "director", "--reason", "hearing", "--scope", "package", &a]);
    assert_eq!(code, 0);
    let (code, _, err) =
        sealer(&["export", "--approval", pkg_no_class.trim(), "--actor", "clerk-1", "--reason", "court", &a, out_s]);
    assert_eq!(code, 1);
    assert!(err.contains("classified privacy") && err.contains("--class privacy"), "{err}");
    // Online verification without an approval reads only the records: objects are named, not read.
    let (code, text, err) = sealer(&["verify", &a]);
    assert_eq!(code, 0, "{text}{err}");
    assert!(text.contains("objects were not read") && text.contains("not read: original/"), "{text}");
    let after_refusals = stream_len(&p, subjects::LEDGER_STREAM).await;
    assert_eq!(after_refusals, ledger0 + 5, "records-only verification reads no evidence and records nothing");
    // With the right approval: exported, and the export carries every record of the item.
    let (code, full, err) = sealer(&[
        "approve",
        "--approver",
        "director",
        "--reason",
        "hearing",
        "--class",
        "privacy",
        "--scope",
        "package",
        &a,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) =
        sealer(&["export", "--approval", full.trim(), "--actor", "clerk-1", "--reason", "court", &a, out_s]);
    assert_eq!(code, 0, "{err}");
    let (code, text, _) = run("sealer", &["verify", out_s]);
    assert_eq!(code, 0, "{text}");
    for needle in [
        "classified privacy",
        "export REFUSED",
        "(not found)",
        "export granted: package",
        "each linked to the one before",
    ] {
        assert!(text.contains(needle), "{needle} missing from the exported history:\n{text}");
    }
    // Leaving a record of the item out of the extract is caught.
    let cut = p.dir.path().join("export-cut");
    std::fs::create_dir_all(&cut).unwrap();
    copy_dir(&out, &cut);
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(cut.join("ledger.json")).unwrap()).unwrap();
    let entries = v["entries"].as_array_mut().unwrap();
    let classified = entries.iter().position(|e| e["subject"].as_str().unwrap().contains(".classification.")).unwrap();
    entries.remove(classified);
    std::fs::write(cut.join("ledger.json"), serde_json::to_vec(&v).unwrap()).unwrap();
    let (code, text, _) = run("sealer", &["verify", cut.to_str().unwrap()]);
    assert_eq!(code, 2, "{text}");
    // History for people, and as JSON.
    let (code, text, err) = sealer(&["history", &a]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("classified privacy") && text.contains("clerk-1") && text.contains("REFUSED"), "{text}");
    let (code, json, _) = sealer(&["history", "--json", &a]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let refusals: Vec<&str> = lines.iter().filter_map(|l| l["detail"]["refusal"].as_str()).collect();
    assert_eq!(refusals, ["no_approval", "unknown_approval", "unknown_approval", "wrong_scope", "wrong_class"]);
    let (code, _, err) = sealer(&["history", "not-an-id"]);
    assert_ne!(code, 0);
    assert!(err.contains("is not an evidence id"), "{err}");

    // --- Inputs refused before anything is written.
    let approvals0 = stream_len(&p, subjects::APPROVALS_STREAM).await;
    for (args, needle) in [
        (vec!["approve", "--approver", " ", "--reason", "r", &b], "--approver"),
        (vec!["approve", "--approver", "x", "--reason", "r", "--valid-for", "0s", &b], "--valid-for"),
        (vec!["approve", "--approver", "x", "--reason", "r", "--valid-for", "100000d", &b], "--valid-for"),
        (vec!["access", "--actor", "", "--reason", "r", &b], "--actor"),
    ] {
        let (code, _, err) = sealer(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let never = evidence_contracts::EvidenceId::derive(
        &evidence_contracts::DeviceId::new("CAM-GA").unwrap(),
        &evidence_contracts::Blake3Digest([7; 32]),
    )
    .to_string();
    let (code, _, err) = sealer(&["approve", "--approver", "x", "--reason", "r", &never]);
    assert_eq!(code, 1);
    assert!(err.contains("not sealed"), "{err}");
    assert_eq!(stream_len(&p, subjects::APPROVALS_STREAM).await, approvals0, "no approval was published");

    // --- Retention on a store without Object Lock: recorded with a warning, and it only grows.
    let ledger1 = stream_len(&p, subjects::LEDGER_STREAM).await;
    let (code, _, err) = sealer(&[
        "retain",
        "--case",
        "CASE-7",
        "--until",
        "2036-12-30",
        "--reason",
        "case opened",
        "--actor",
        "cms",
        &b,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning") && err.contains("does not enforce Object Lock"), "{err}");
    let (code, _, err) =
        sealer(&["retain", "--case", "CASE-7", "--until", "2036-06-29", "--reason", "typo", "--actor", "cms", &b]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("only ever grows") && err.contains("2036-12-30"), "{err}");
    let (code, _, err) =
        sealer(&["retain", "--case", "CASE-7", "--until", "30.12.2036", "--reason", "r", "--actor", "cms", &b]);
    assert_eq!(code, 1);
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    let (code, _, err) = sealer(&["retain", "--legal-hold", "on", "--reason", "litigation", "--actor", "legal", &b]);
    assert_eq!(code, 0, "a hold needs no case: {err}");
    assert_eq!(stream_len(&p, subjects::LEDGER_STREAM).await, ledger1 + 2, "the refusals recorded nothing");
    let (_, json, _) = sealer(&["history", "--json", &b]);
    let lines: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let hold = lines.last().unwrap();
    assert_eq!(hold["detail"]["legal_hold"], true);
    assert!(hold["detail"].get("retain_until").is_none(), "a hold sets no date: {hold}");
    assert_eq!(lines[1]["detail"]["retain_until"], "2036-12-30T15:59:59Z", "end of that day at +08:00");

    // --- The audit: a matter only the clock-shifted camera seemed to cover fails.
    std::fs::write(
        p.dir.path().join("auditor.toml"),
        format!(
            "{}\n[policy]\ntolerance_s = 1\n\n[deadline]\ncalendars = [\"{}\"]\n",
            std::fs::read_to_string(p.config_path("station")).unwrap(),
            test_harness::repo_path("deploy/calendar/CN-2026.toml").display()
        ),
    )
    .unwrap();
    let auditor = |args: &[&str]| {
        let cfg = p.dir.path().join("auditor.toml");
        let mut v = vec!["--config", cfg.to_str().unwrap()];
        v.extend_from_slice(args);
        run("auditor", &v)
    };
    let matters = p.dir.path().join("matters.csv");
    let line = |id: &str| {
        format!(
            "{id},inspection,A1;B1,{},{},DOC-{id}\n",
            local(t, "%Y-%m-%d %H:%M:%S"),
            local(t + chrono::Duration::seconds(6), "%Y-%m-%d %H:%M:%S")
        )
    };
    std::fs::write(&matters, format!("matter_id,kind,officers,start,end,document\n{}{}", line("MG-1"), line("MG-1")))
        .unwrap();
    let (code, _, err) = auditor(&["import", "--matters", matters.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("matters.csv:3: matter_id: MG-1 is already on") && err.contains("nothing was imported"),
        "{err}"
    );
    std::fs::write(&matters, format!("matter_id,kind,officers,start,end,document\n{}", line("MG-1"))).unwrap();
    let (code, _, err) = auditor(&["import", "--matters", matters.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 matter(s) new: MG-1"), "{err}");
    let (code, _, err) = auditor(&["import", "--matters", matters.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(err.contains("already known, unchanged"), "{err}");
    let (code, out, err) = auditor(&["check"]);
    assert_eq!(code, 3, "{out}{err}");
    let c: MatterCheckV1 = out
        .lines()
        .find(|l| l.contains("\tMG-1\t"))
        .and_then(|l| l.split('\t').nth(3))
        .map(|j| serde_json::from_str(j).unwrap())
        .expect("MG-1 checked");
    assert!(!c.passed && !c.enough_officers && c.officers_without_recording == ["B1"], "{c:#?}");
    let off = c.clock_offsets.iter().find(|o| o.device_id == "CAM-GB").expect("offset applied");
    assert!((off.offset_s - 180.0).abs() < 2.0 && !off.counted, "{off:?}");
    assert!(
        out.lines().any(|l| l.starts_with("flag\t") && l.contains("device_clock_offset")),
        "check prints its flags:\n{out}"
    );

    let day = local(t, "%Y-%m-%d");
    let dir = p.dir.path().join("audit");
    let d = dir.to_str().unwrap();
    for (args, needle) in [
        (vec!["audit", "--from", "2026-12-02", "--to", "2026-12-01", "--out", d], "after --to"),
        (vec!["audit", "--from", &day, "--to", &day, "--fraction", "1.5", "--out", d], "--fraction"),
        (vec!["audit", "--from", &day, "--to", &day, "--sample", "0", "--out", d], "--sample"),
        (vec!["audit", "--from", "2026/12/01", "--to", &day, "--out", d], "YYYY-MM-DD"),
    ] {
        let (code, _, err) = auditor(&args);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!dir.exists(), "{args:?} wrote something");
    }
    let (code, _, err) = auditor(&["audit", "--from", &day, "--to", &day, "--lang", "zh-CN", "--out", d]);
    assert_eq!(code, 0, "{err}");
    let md = std::fs::read_to_string(dir.join("audit.md")).unwrap();
    assert!(md.starts_with(&format!("# 全过程记录稽查报告 — {day}\n")), "{md}");
    assert!(md.contains("CAM-GB 的设备时钟偏差 +180 秒，校正后不在执法时间内"), "{md}");
    assert!(md.contains("已校正设备时钟偏差") && md.contains("DOC-MG-1"), "{md}");
    p.assert_no_unexpected_errors(&[]);
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}
