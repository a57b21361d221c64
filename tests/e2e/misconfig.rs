//! An operator's mistake is never charged to a recording: a sealer whose S3 key is refused
//! (here: a secret that is not the key's, as after a botched rotation) stays up, names the
//! endpoint, bucket and key id in its metrics and health, rejects nothing, and seals the waiting
//! recording once the secret is fixed — without a restart.

use std::time::Duration;

use test_harness::media::{Spec, mp4};
use test_harness::{Worker, workspace_bin};

use crate::support::{Pipeline, http_get};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_s3_key_is_an_alert_not_a_rejection_and_the_recording_is_sealed_once_fixed() {
    let mut p = Pipeline::new().expect("servers start");
    let d = p.dir.path().to_path_buf();
    let wrong = d.join("sealer-secret");
    std::fs::write(&wrong, "not-the-secret-of-this-key").unwrap();
    let cfg = std::fs::read_to_string(p.config_path("sealer")).unwrap().replace(
        &format!("secret_access_key_file = \"{}/s3-secret\"", d.display()),
        &format!("secret_access_key_file = \"{}\"", wrong.display()),
    );
    assert!(cfg.contains("sealer-secret"));
    std::fs::write(p.config_path("sealer"), cfg).unwrap();
    p.start("ingest-worker").unwrap();
    p.start("transcoder").unwrap();
    let cfg = p.config_path("sealer").display().to_string();
    let mut sealer =
        Worker::spawn("sealer", &workspace_bin("sealer").unwrap(), &["run", "--config", &cfg], &[]).unwrap();
    sealer.wait_for_line("the configuration is refused at start-up", Duration::from_secs(30)).unwrap();
    let addr = sealer.metrics_addr().unwrap();
    let (_, metrics) = http_get(&addr, "/metrics").unwrap();
    let fault = metrics
        .lines()
        .find(|l| {
            l.starts_with("evidence_worker_config_fault{") && l.contains("subject=\"startup\"") && l.ends_with(" 1")
        })
        .unwrap_or_else(|| panic!("no configuration fault raised:\n{metrics}"));
    for needle in [
        format!("credential=\"{}\"", test_harness::S3_ACCESS_KEY),
        format!("resource=\"{}\"", p.s3cfg.evidence_bucket),
        format!("endpoint=\"{}\"", p.s3cfg.endpoint.clone().unwrap()),
        "service=\"s3\"".to_owned(),
    ] {
        assert!(fault.contains(&needle), "{needle} missing: {fault}");
    }
    let (code, health) = http_get(&addr, "/healthz").unwrap();
    assert_ne!(code, 200, "not healthy while the key is refused: {health}");
    assert!(health.contains("configuration fault"), "{health}");

    // A recording arrives meanwhile: verified and copied, then waiting for the sealer.
    let f = d.join("OF7_20261128100000_0001.MP4");
    mp4(&f, &Spec { seconds: 2, ..Default::default() }).unwrap();
    let out = p.push("CAM-M", &[f.as_path()]).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(p.sealed(1, Duration::from_secs(1)).await.unwrap().is_empty(), "nothing can be sealed yet");
    let rejected = p.events("evidence.rejected.v1.>", 1, Duration::from_secs(1)).await.unwrap();
    assert!(rejected.is_empty(), "a configuration fault rejected a recording");

    // The operator fixes the secret: the sealer goes on by itself and seals the recording.
    std::fs::write(&wrong, test_harness::S3_SECRET_KEY).unwrap();
    let sealed = p.sealed(1, Duration::from_secs(120)).await.unwrap();
    assert_eq!(sealed.len(), 1, "{}", sealer.log_text());
    let (_, metrics) = http_get(&addr, "/metrics").unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("evidence_worker_config_fault{")
            && l.contains("subject=\"startup\"")
            && l.ends_with(" 0")),
        "the fault clears once fixed:\n{metrics}"
    );
    let (code, _) = http_get(&addr, "/healthz").unwrap();
    assert_eq!(code, 200);
    assert!(p.events("evidence.rejected.v1.>", 1, Duration::from_secs(1)).await.unwrap().is_empty());
    p.workers.push(sealer);
    p.assert_no_unexpected_errors(&["the configuration is refused at start-up"]);
}

/// A key rotated at the store while the pipeline runs: the sealer, still holding the old secret,
/// is refused on the job in hand. That is a configuration fault raised with the endpoint, bucket
/// and key id, never a rejection; once the operator writes the new secret into the sealer's
/// secret file, the running sealer reads it (no restart) and seals the recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_while_running_waits_for_the_new_secret_and_then_seals_without_a_restart() {
    let mut p = Pipeline::new().expect("servers start");
    let d = p.dir.path().to_path_buf();
    let sealer_secret = d.join("sealer-secret");
    std::fs::write(&sealer_secret, test_harness::S3_SECRET_KEY).unwrap();
    let cfg = std::fs::read_to_string(p.config_path("sealer")).unwrap().replace(
        &format!("secret_access_key_file = \"{}/s3-secret\"", d.display()),
        &format!("secret_access_key_file = \"{}\"", sealer_secret.display()),
    );
    std::fs::write(p.config_path("sealer"), cfg).unwrap();
    p.start_all().unwrap();
    let sealer_addr = p.workers[2].metrics_addr().unwrap();

    // The store's secret changes; the station and the first two workers get the new one, the
    // sealer's file is forgotten.
    p.s3.rotate_secret("rotated-secret-2026-12").unwrap();
    std::fs::write(d.join("s3-secret"), "rotated-secret-2026-12").unwrap();
    let f = d.join("OF8_20261128110000_0001.MP4");
    mp4(&f, &Spec { seconds: 2, ..Default::default() }).unwrap();
    let out = p.push("CAM-R", &[f.as_path()]).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The sealer is refused on the job: an alert, not a rejection.
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    let fault = loop {
        let (_, metrics) = http_get(&sealer_addr, "/metrics").unwrap();
        if let Some(l) = metrics.lines().find(|l| {
            l.starts_with("evidence_worker_config_fault{") && !l.contains("subject=\"startup\"") && l.ends_with(" 1")
        }) {
            break l.to_owned();
        }
        assert!(std::time::Instant::now() < deadline, "no configuration fault raised:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for needle in [
        format!("credential=\"{}\"", test_harness::S3_ACCESS_KEY),
        format!("endpoint=\"{}\"", p.s3cfg.endpoint.clone().unwrap()),
    ] {
        assert!(fault.contains(&needle), "{needle} missing: {fault}");
    }
    assert!(p.sealed(1, Duration::from_secs(1)).await.unwrap().is_empty(), "nothing can be sealed yet");
    assert!(p.events("evidence.rejected.v1.>", 1, Duration::from_secs(1)).await.unwrap().is_empty());

    // The operator writes the new secret: the running sealer reads it and seals.
    std::fs::write(&sealer_secret, "rotated-secret-2026-12").unwrap();
    let sealed = p.sealed(1, Duration::from_secs(180)).await.unwrap();
    assert_eq!(sealed.len(), 1, "{}", p.workers[2].log_text());
    assert_eq!(sealed[0].device_id.as_str(), "CAM-R");
    assert!(p.events("evidence.rejected.v1.>", 1, Duration::from_secs(1)).await.unwrap().is_empty());
    let (_, metrics) = http_get(&sealer_addr, "/metrics").unwrap();
    assert!(
        !metrics.lines().any(|l| l.starts_with("evidence_worker_config_fault{") && l.ends_with(" 1")),
        "the fault clears once fixed:\n{metrics}"
    );
    p.assert_no_unexpected_errors(&["refused", "SignatureDoesNotMatch", "configuration"]);
}
