//! What operations staff rely on: the alert rules pass `promtool check` and their unit tests,
//! and every metric a rule or the dashboard uses is served by the running workers (a renamed
//! metric would otherwise silently blank a panel or mute an alert).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use test_harness::media::{Spec, mp4};

use crate::support::{Pipeline, http_get};

fn deploy() -> PathBuf {
    test_harness::repo_path("deploy")
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let promtool = test_harness::find_binary("promtool", "PROMTOOL_BIN").expect("promtool (Debian package prometheus)");
    let dir = deploy().join("prometheus");
    for args in [["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]] {
        let out = Command::new(&promtool).args(args).current_dir(&dir).output().expect("run promtool");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "promtool {args:?}:\n{text}");
        assert!(text.contains("SUCCESS"), "{text}");
    }
}

/// Metric names (`evidence_…`) referenced in a text.
fn referenced(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("evidence_") {
        let start = i + pos;
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase() || bytes[end].is_ascii_digit() || bytes[end] == b'_')
        {
            end += 1;
        }
        let name = &text[start..end];
        // Subjects and stream names share the prefix in label values (`evidence.pipeline…` has a dot).
        if start == 0 || !matches!(bytes[start - 1], b'.' | b'"' | b'-') {
            out.insert(name.to_owned());
        }
        i = end;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_used_by_alerts_and_dashboards_is_served_by_the_workers() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    // A camera docked at a station agent, and a fixed camera with its recorder: every process
    // whose metrics the dashboards and alerts use.
    let media = crate::station::docked_slot(&p.dir.path().join("slots"), "slot01", "CAM12", 0);
    mp4(&media.join("0123456_20261128160000_0001.MP4"), &Spec { seconds: 2, ..Default::default() }).unwrap();
    let cfg = crate::station::dock_config(&p, "ST-OBS", &["CAM12"]);
    let agent = crate::station::spawn_dock(&cfg, false);
    let port = crate::record::free_port();
    let mut cam = crate::record::camera(port);
    let mut recorder = crate::record::spawn_recorder(&p, port, &p.dir.path().join("recorder"));
    recorder.wait_for_line("segment handed on", Duration::from_secs(60)).unwrap();
    // A camera without an officer binding: its file is blocked, listed at docking, never sealed.
    let unbound = crate::station::docked_slot(&p.dir.path().join("slots"), "slot02", "CAM-UNBOUND", 0);
    std::fs::write(unbound.join("0123456_20261128150000_0001.MP4"), b"not uploaded").unwrap();
    let events = p.sealed(1, Duration::from_secs(120)).await.unwrap();
    // The compliance checker, with one matter imported.
    let station_cfg = std::fs::read_to_string(p.config_path("station")).unwrap();
    let auditor_cfg = p.dir.path().join("auditor.toml");
    std::fs::write(&auditor_cfg, format!("{station_cfg}\n[telemetry]\nlisten = \"127.0.0.1:0\"\n")).unwrap();
    let matters = p.dir.path().join("matters.json");
    std::fs::write(
        &matters,
        r#"[{"matter_id":"OBS-1","kind":"inspection","officers":"0123456;0123457","start":"2026-11-28T08:00:00Z","end":"2026-11-28T08:10:00Z"}]"#,
    )
    .unwrap();
    let auditor = test_harness::workspace_bin("auditor").unwrap();
    let cfg_s = auditor_cfg.display().to_string();
    let imported = std::process::Command::new(&auditor)
        .args(["--config", &cfg_s, "import", "--matters", &matters.display().to_string()])
        .output()
        .unwrap();
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    // The docking record of the unbound camera must be in before the checker runs.
    test_harness::stream_messages(
        &p.nats.url,
        "EVIDENCE_STATIONS",
        "evidence.station.v1.>",
        2,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let mut checker =
        test_harness::Worker::spawn("auditor", &auditor, &["--config", &cfg_s, "check", "--every", "1s"], &[]).unwrap();
    checker.wait_for_line("compliance checked", Duration::from_secs(60)).unwrap();
    let d = events[0].deadline.as_ref().expect("the sealed event carries the upload deadline");
    assert_eq!(d.working_days, 2);
    assert!(d.due > d.work_ended, "{d:?}");

    p.workers.push(agent);
    p.workers.push(recorder);
    p.workers.push(checker);
    let mut served = BTreeSet::new();
    for w in &mut p.workers {
        let addr = w.metrics_addr().unwrap();
        let (code, body) = http_get(&addr, "/metrics").unwrap();
        assert_eq!(code, 200);
        for l in body.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                let mut it = rest.split_whitespace();
                let (Some(name), Some(kind)) = (it.next(), it.next()) else { continue };
                served.insert(name.to_owned());
                if kind == "histogram" {
                    for s in ["_bucket", "_sum", "_count"] {
                        served.insert(format!("{name}{s}"));
                    }
                }
            }
        }
    }
    let rules = std::fs::read_to_string(deploy().join("prometheus/alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(deploy().join("grafana/evidence-pipeline.json")).unwrap();
    let used: BTreeSet<String> = referenced(&rules).into_iter().chain(referenced(&dashboard)).collect();
    assert!(used.len() >= 15, "too few metric names found, the extraction is broken: {used:?}");
    let missing: Vec<&String> = used.iter().filter(|n| !served.contains(*n)).collect();
    assert!(missing.is_empty(), "used by alerts/dashboards but served by no worker: {missing:?}");
    cam.kill9();
}
