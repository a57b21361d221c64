//! Write-once storage as the sealer sees it at start-up and while sealing: refused on a store
//! that does not enforce Object Lock when told to; sealing with `worm: true` on the moto
//! **mock** of S3, which enforces Object Lock (s3s-fs and Garage do not).

use std::time::Duration;

use test_harness::media::{Spec, mp4};
use test_harness::{MotoS3Mock, Worker, workspace_bin};

use crate::support::{Pipeline, http_get};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealer_refuses_a_store_that_is_not_write_once_when_non_worm_is_not_allowed() {
    let p = Pipeline::new().expect("servers start");
    p.config_append("sealer", "seal", "allow_non_worm = false").expect("config");
    let cfg = p.config_path("sealer").display().to_string();
    let mut w = Worker::spawn("sealer", &workspace_bin("sealer").unwrap(), &["run", "--config", &cfg], &[]).unwrap();
    let status = w.wait_exit(Duration::from_secs(60)).expect("exits");
    assert!(!status.success());
    w.drain_log();
    let log = w.error_lines().join("\n") + &w.log_text();
    assert!(log.contains("not write-once") && log.contains("allow_non_worm"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_on_moto_mock_with_object_lock_seals_with_worm_true() {
    let moto = MotoS3Mock::start().expect("moto_server (scripts/setup installs it)");
    let mut p = Pipeline::new().expect("servers start");
    let cfg = moto.config();
    let store = object_store::Store::new(cfg.clone()).await.unwrap();
    store
        .client()
        .create_bucket()
        .bucket(&cfg.evidence_bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    p.use_s3(cfg.clone()).unwrap();
    p.config_append("sealer", "seal", "allow_non_worm = false").unwrap();
    p.start_all().expect("workers start on the mock");
    let sealer = p.workers.len() - 1;
    p.workers[sealer].wait_for_line("evidence store is write-once (WORM)", Duration::from_secs(10)).unwrap();
    let addr = p.workers[sealer].metrics_addr().unwrap();
    let (_, health) = http_get(&addr, "/healthz").unwrap();
    assert!(health.contains("storage_worm"), "{health}");
    let (_, metrics) = http_get(&addr, "/metrics").unwrap();
    assert!(metrics.contains("evidence_sealer_storage_worm 1"), "{metrics}");

    let rec = p.dir.path().join("OF0001_CAM09_20261128140000_0001.MP4");
    mp4(&rec, &Spec { seconds: 2, ..Default::default() }).unwrap();
    p.push("CAM09", &[&rec]).unwrap();
    let events = p.sealed(1, Duration::from_secs(180)).await.unwrap();
    let ev = &events[0];
    assert!(ev.worm, "sealed on a store verified write-once: {ev:#?}");
    // Every object of the package is locked: deleting its version is refused.
    for o in &ev.objects {
        let versions =
            store.client().list_object_versions().bucket(&cfg.evidence_bucket).prefix(&o.key).send().await.unwrap();
        let v = versions.versions()[0].version_id().unwrap().to_owned();
        let del = store.client().delete_object().bucket(&cfg.evidence_bucket).key(&o.key).version_id(v).send().await;
        assert!(del.is_err(), "{} could be deleted", o.key);
        let head = store.client().head_object().bucket(&cfg.evidence_bucket).key(&o.key).send().await.unwrap();
        assert!(head.object_lock_retain_until_date().is_some(), "{} has no retention", o.key);
    }

    // A legal hold alone is a hold: no case needed, and no date set (the sealed ~6 months stay).
    let sealed_until: Vec<i64> = {
        let mut v = Vec::new();
        for o in &ev.objects {
            let head = store.client().head_object().bucket(&cfg.evidence_bucket).key(&o.key).send().await.unwrap();
            v.push(head.object_lock_retain_until_date().unwrap().secs());
        }
        v
    };
    let out = std::process::Command::new(workspace_bin("sealer").unwrap())
        .args(["retain", "--config", p.config_path("sealer").to_str().unwrap(), "--legal-hold", "on"])
        .args(["--reason", "litigation expected", "--actor", "legal-office"])
        .arg(ev.evidence_id.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (o, was) in ev.objects.iter().zip(&sealed_until) {
        let head = store.client().head_object().bucket(&cfg.evidence_bucket).key(&o.key).send().await.unwrap();
        assert_eq!(head.object_lock_retain_until_date().unwrap().secs(), *was, "{}: a hold set a date", o.key);
        assert!(*was < (chrono::Utc::now() + chrono::Duration::days(400)).timestamp(), "no 10-year lock");
        assert_eq!(head.object_lock_legal_hold_status().map(|s| s.as_str().to_owned()).as_deref(), Some("ON"));
    }

    // The case system binds it to a case for ten years, under legal hold.
    let until = chrono::Utc::now() + chrono::Duration::days(3650);
    let cfg_path = p.config_path("sealer");
    let out = std::process::Command::new(workspace_bin("sealer").unwrap())
        .args(["retain", "--config", cfg_path.to_str().unwrap(), "--case", "CASE-2026-0042", "--legal-hold", "on"])
        .args(["--until", &until.to_rfc3339(), "--reason", "bound to case", "--actor", "case-system"])
        .arg(ev.evidence_id.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for o in &ev.objects {
        let head = store.client().head_object().bucket(&cfg.evidence_bucket).key(&o.key).send().await.unwrap();
        assert_eq!(head.object_lock_retain_until_date().unwrap().secs(), until.timestamp(), "{}", o.key);
        assert_eq!(head.object_lock_legal_hold_status().map(|s| s.as_str().to_owned()).as_deref(), Some("ON"));
    }
    // Shortening is refused.
    let out = std::process::Command::new(workspace_bin("sealer").unwrap())
        .args(["retain", "--config", cfg_path.to_str().unwrap(), "--case", "CASE-2026-0042"])
        .args(["--until", &(chrono::Utc::now() + chrono::Duration::days(200)).to_rfc3339()])
        .args(["--reason", "mistake", "--actor", "case-system"])
        .arg(ev.evidence_id.to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("never shortened"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client = async_nats::connect(&p.nats.url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut ledger = js.get_stream(evidence_contracts::subjects::LEDGER_STREAM).await.unwrap();
    assert_eq!(ledger.info().await.unwrap().state.messages, 3, "seal record + hold + one retention record");

    // Releasing the hold needs no case and sets no date: the retention stays where it was.
    let out = std::process::Command::new(workspace_bin("sealer").unwrap())
        .args(["retain", "--config", cfg_path.to_str().unwrap(), "--legal-hold", "off"])
        .args(["--reason", "hold lifted by the court", "--actor", "case-system"])
        .arg(ev.evidence_id.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for o in &ev.objects {
        let head = store.client().head_object().bucket(&cfg.evidence_bucket).key(&o.key).send().await.unwrap();
        assert_eq!(head.object_lock_retain_until_date().unwrap().secs(), until.timestamp(), "{}", o.key);
        assert_eq!(head.object_lock_legal_hold_status().map(|s| s.as_str().to_owned()).as_deref(), Some("OFF"));
    }
    assert_eq!(ledger.info().await.unwrap().state.messages, 4, "the release is recorded");
}
