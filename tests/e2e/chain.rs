//! The walking skeleton end to end: dock → ingest → transcode → seal → event.

use std::time::Duration;

use evidence_contracts::events::EvidenceSealedV1;
use evidence_contracts::report::{ScanReportV1, Verdict};
use evidence_contracts::seal::{ObjectRole, SealRecordV1};
use evidence_contracts::{DeviceId, EvidenceId};
use test_harness::media::{Spec, decode_counts, mp4};

use crate::support::{Pipeline, http_get};

fn object(ev: &EvidenceSealedV1, role: ObjectRole) -> &evidence_contracts::seal::PackageObjectV1 {
    ev.objects.iter().find(|o| o.role == role).unwrap_or_else(|| panic!("no {role:?} object in {ev:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_recordings_are_sealed_with_verified_playable_copies() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let clean = p.dir.path().join("OF0001_CAM01_20261128093000_0001.MP4");
    mp4(&clean, &Spec { seconds: 4, bframes: 2, ..Default::default() }).expect("generate clean");
    let holed = p.dir.path().join("OF0001_CAM01_20261128093100_0002.MP4");
    mp4(&holed, &Spec { seconds: 4, hole: Some((2.0, 1.0)), ..Default::default() }).expect("generate holed");
    p.push("CAM01", &[&clean, &holed]).expect("push");

    let events = p.sealed(2, Duration::from_secs(180)).await.expect("events");
    assert_eq!(events.len(), 2, "{events:#?}");
    let store = p.store().await.expect("store");
    let bucket = p.s3cfg.evidence_bucket.clone();
    let work = p.dir.path().join("check");
    std::fs::create_dir_all(&work).expect("dir");

    for (path, expect_verdict) in [(&clean, Verdict::Continuous), (&holed, Verdict::Discontinuous)] {
        let bytes = std::fs::read(path).expect("read");
        let b3 = blake3::hash(&bytes);
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        let ev = events.iter().find(|e| e.file_name == name).unwrap_or_else(|| panic!("no event for {name}"));
        let id =
            EvidenceId::derive(&DeviceId::new("CAM01").expect("id"), &evidence_contracts::Blake3Digest(*b3.as_bytes()));
        assert_eq!(ev.evidence_id, id);
        assert_eq!(ev.verdict, expect_verdict, "{name}");
        assert!(ev.readable);

        // The stored original is exactly the pushed file: hash what the server returns.
        let orig = object(ev, ObjectRole::Original);
        assert_eq!(orig.blake3.0, *b3.as_bytes());
        assert_eq!(orig.size_bytes, bytes.len() as u64);
        let back = work.join(format!("{id}.orig"));
        let d = store.download_to_file(&bucket, &orig.key, &back).await.expect("download original");
        assert_eq!(d.blake3.0, *b3.as_bytes(), "stored original differs from the pushed file");

        // The continuity report in the package describes this very file.
        let rep = object(ev, ObjectRole::ContinuityReport);
        let rep: ScanReportV1 =
            serde_json::from_slice(&store.get_bytes(&bucket, &rep.key, 1 << 20).await.expect("report"))
                .expect("report json");
        assert_eq!(rep.files[0].blake3.0, *b3.as_bytes());
        assert_eq!(rep.verdict, expect_verdict);

        // The seal record lists the same objects as the event.
        let rec: SealRecordV1 =
            serde_json::from_slice(&store.get_bytes(&bucket, &ev.seal_record.key, 1 << 20).await.expect("seal.json"))
                .expect("record");
        assert_eq!(rec.objects, ev.objects);
        assert_eq!(rec.evidence_id, id);

        // The access copy decodes, and lasts as long as the original.
        let copy = object(ev, ObjectRole::Derivative);
        assert_eq!(copy.profile.as_deref(), Some("access"));
        let local = work.join(format!("{id}.mp4"));
        let d = store.download_to_file(&bucket, &copy.key, &local).await.expect("download copy");
        assert_eq!(d.blake3, copy.blake3);
        let (frames, audio, end_ns) = decode_counts(&local).expect("the copy decodes");
        assert_eq!(frames, 120, "{name}: video frames in the copy");
        assert!(audio > 0);
        let expected_end = if expect_verdict == Verdict::Continuous { 4.0 } else { 5.0 };
        assert!((end_ns as f64 / 1e9 - expected_end).abs() < 0.1, "{name}: copy ends at {} s", end_ns as f64 / 1e9);
    }

    // The hole survives into the copy: scan the holed copy with the real ingest-worker binary.
    let ev = events.iter().find(|e| e.verdict == Verdict::Discontinuous).expect("holed event");
    let copy = work.join(format!("{}.mp4", ev.evidence_id));
    let out = std::process::Command::new(test_harness::workspace_bin("ingest-worker").expect("bin"))
        .args(["scan", "--json"])
        .arg(&copy)
        .output()
        .expect("scan the copy");
    let rep: ScanReportV1 = serde_json::from_slice(&out.stdout).expect("scan json");
    let gap = rep.files[0]
        .findings
        .iter()
        .find(|f| f.kind == evidence_contracts::report::FindingKind::Gap)
        .expect("gap kept in copy");
    assert!((gap.at_s - 2.0).abs() < 0.1 && (gap.duration_s - 1.0).abs() < 0.1, "{gap:?}");

    // Pushing the same file again is absorbed: still one event per recording.
    p.push("CAM01", &[&clean]).expect("re-push");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(p.sealed(3, Duration::from_secs(3)).await.expect("events").len(), 2);

    // Every worker serves its metrics and health; the runtime series count the work.
    for w in &mut p.workers {
        let addr = w.metrics_addr().expect("metrics addr");
        let (code, body) = http_get(&addr, "/metrics").expect("scrape");
        assert_eq!(code, 200);
        assert!(body.contains("evidence_worker_messages_completed_total"), "{}: {body}", w.name);
        let acks: f64 = body
            .lines()
            .filter(|l| l.starts_with("evidence_worker_messages_completed_total") && l.contains("outcome=\"ack\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(acks >= 2.0, "{} acked {acks} messages", w.name);
        let (code, health) = http_get(&addr, "/healthz").expect("healthz");
        assert_eq!(code, 200, "{}: {health}", w.name);
    }
    p.assert_no_unexpected_errors(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_recording_is_sealed_anyway_with_a_report_that_says_why() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let junk = p.dir.path().join("OF0001_CAM02_20261128100000_0001.MP4");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    std::fs::write(&junk, &bytes).expect("write");
    p.push("CAM02", &[&junk]).expect("push");
    let events = p.sealed(1, Duration::from_secs(120)).await.expect("events");
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert!(!ev.readable);
    assert_eq!(ev.verdict, Verdict::Unreadable);
    assert!(ev.objects.iter().all(|o| o.role != ObjectRole::Derivative), "no copy of an unreadable file");
    assert_eq!(object(ev, ObjectRole::Original).blake3.0, *blake3::hash(&bytes).as_bytes());

    let store = p.store().await.expect("store");
    let rec: SealRecordV1 = serde_json::from_slice(
        &store.get_bytes(&p.s3cfg.evidence_bucket, &ev.seal_record.key, 1 << 20).await.expect("seal.json"),
    )
    .expect("record");
    let d = rec.decisions.iter().find(|d| d.profile == "access").expect("access decision");
    assert!(!d.produced);
    assert!(d.reason.contains("cannot be demuxed"), "{}", d.reason);
    let rep = object(ev, ObjectRole::ContinuityReport);
    let rep: ScanReportV1 =
        serde_json::from_slice(&store.get_bytes(&p.s3cfg.evidence_bucket, &rep.key, 1 << 20).await.expect("report"))
            .expect("json");
    assert!(!rep.files[0].readable);
    assert!(rep.files[0].error.is_some());
    p.assert_no_unexpected_errors(&[]);
}
