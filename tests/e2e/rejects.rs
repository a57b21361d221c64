//! Bad input: a clear rejection event, nothing lost, no redelivery loop.

use std::time::Duration;

use chrono::Utc;
use evidence_contracts::events::{EvidenceRejectedV1, RejectReason, Stage};
use evidence_contracts::ingest::{IngestRequestSchema, IngestRequestV1};
use evidence_contracts::keys::ObjectRef;
use evidence_contracts::{Blake3Digest, DeviceId, OfficerId, StationId, decode, subjects};
use object_store::PutOpts;
use test_harness::media::{Spec, mp4};

use crate::support::{Pipeline, consumer_backlog};

async fn rejected(p: &Pipeline, want: usize) -> Vec<EvidenceRejectedV1> {
    p.events(subjects::REJECTED_ALL, want, Duration::from_secs(60))
        .await
        .expect("events")
        .iter()
        .map(|m| decode::<EvidenceRejectedV1>(&m.payload).expect("rejection decodes"))
        .collect()
}

async fn assert_drained(p: &Pipeline) {
    // Give a redelivery loop (backoff 1 s) time to show itself.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (pending, unacked) =
        consumer_backlog(&p.nats.url, subjects::INGEST_STREAM, subjects::INGEST_CONSUMER).await.expect("consumer info");
    assert_eq!((pending, unacked), (0, 0), "rejected messages must not be redelivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_mismatch_is_rejected_with_the_field_named_and_the_upload_kept() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let rec = p.dir.path().join("rec.mp4");
    mp4(&rec, &Spec { seconds: 1, ..Default::default() }).expect("generate");
    let store = p.store().await.expect("store");
    store.ensure_bucket(&p.s3cfg.working_bucket).await.expect("bucket");
    let key = "landing/st-test/CAM05/0000000000000001/rec.mp4".to_string();
    let stored =
        store.upload_file(&p.s3cfg.working_bucket, &key, &rec, None, &PutOpts::default()).await.expect("upload");
    let req = IngestRequestV1 {
        schema: IngestRequestSchema,
        station_id: StationId::new("st-test").expect("id"),
        device_id: DeviceId::new("CAM05").expect("id"),
        officer_id: OfficerId::new("OF0001").expect("id"),
        file_name: "rec.mp4".into(),
        size_bytes: stored.digests.size,
        blake3: Blake3Digest(*blake3::hash(b"what the station claimed").as_bytes()),
        landing: ObjectRef { bucket: p.s3cfg.working_bucket.clone(), key: key.clone() },
        recorded_start: None,
        docked_at: Utc::now(),
        uploaded_at: Utc::now(),
        segment: None,
    };
    let client = async_nats::connect(&p.nats.url).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let _ = js
        .publish(evidence_contracts::subjects::ingest_request(&req.station_id), evidence_contracts::encode(&req).into())
        .await
        .expect("publish")
        .await
        .expect("ack");

    let r = rejected(&p, 1).await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].stage, Stage::Ingest);
    assert_eq!(r[0].reason, RejectReason::HashMismatch);
    assert!(r[0].detail.contains("field blake3") && r[0].detail.contains(&key), "{}", r[0].detail);
    assert_eq!(r[0].evidence_id, Some(req.evidence_id()));
    assert_eq!(decode::<IngestRequestV1>(r[0].payload.as_bytes()).expect("payload kept"), req);
    assert!(store.head(&p.s3cfg.working_bucket, &key).await.expect("head").is_some(), "the upload must be kept");
    assert_drained(&p).await;
    assert!(p.sealed(1, Duration::from_secs(1)).await.expect("events").is_empty());
    p.assert_no_unexpected_errors(&["message rejected"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_is_rejected_once_with_its_payload() {
    let mut p = Pipeline::new().expect("servers start");
    p.start("ingest-worker").expect("ingest");
    let client = async_nats::connect(&p.nats.url).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let payload = br#"{"schema":"evidence.ingest.request.v1","station_id":"st-test","size_bytes":"twelve"}"#;
    let _ = js
        .publish("evidence.ingest.request.v1.st-test", payload.as_slice().into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    let _ = js
        .publish("evidence.ingest.request.v1.st-test", "not json at all".into())
        .await
        .expect("publish")
        .await
        .expect("ack");

    let r = rejected(&p, 2).await;
    assert_eq!(r.len(), 2, "{r:#?}");
    assert!(r.iter().all(|e| e.reason == RejectReason::MalformedMessage && e.stage == Stage::Ingest));
    // Two deliveries may be handled concurrently: the rejections can come in either order.
    let first = r.iter().find(|e| e.payload.as_bytes() == payload.as_slice()).expect("first payload kept verbatim");
    assert!(first.detail.contains("evidence.ingest.request.v1"), "{}", first.detail);
    assert!(r.iter().any(|e| e.payload == "not json at all"), "second payload kept verbatim: {r:#?}");
    assert_drained(&p).await;
    p.assert_no_unexpected_errors(&["message rejected"]);
}

async fn receipts(p: &Pipeline, station: &str, want: usize, wait: u64) -> Vec<evidence_contracts::station::ReceiptV1> {
    test_harness::stream_messages(
        &p.nats_url,
        subjects::RECEIPTS_STREAM,
        &format!("evidence.receipt.v1.{station}.>"),
        want,
        Duration::from_secs(wait),
    )
    .await
    .expect("receipts")
    .iter()
    .map(|m| decode(&m.payload).expect("receipt decodes"))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_station_that_uploads_a_recording_gets_its_receipt_and_it_is_sealed_once() {
    use evidence_contracts::station::ReceiptStatus;
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let rec = p.dir.path().join("OF0001_20261128140000_0001.MP4");
    mp4(&rec, &Spec { seconds: 1, ..Default::default() }).expect("generate");
    // Docked at two stations one after the other while it is still in the pipeline, and at a
    // third after it was sealed.
    p.push_as("st-test", "CAM-2ST", &[rec.as_path()]).expect("push from st-test");
    p.push_as("st-two", "CAM-2ST", &[rec.as_path()]).expect("push from st-two");
    let first = p.sealed(1, Duration::from_secs(90)).await.expect("sealed");
    p.push_as("st-three", "CAM-2ST", &[rec.as_path()]).expect("push from st-three");
    for (station, first_station) in [("st-test", None), ("st-two", Some("st-test")), ("st-three", Some("st-test"))] {
        let r = receipts(&p, station, 1, 90).await;
        assert_eq!(r.len(), 1, "{station}: {r:?}");
        assert_eq!(r[0].status, ReceiptStatus::Sealed, "{station}");
        assert_eq!(r[0].evidence_id, first[0].evidence_id, "{station}");
        assert_eq!(r[0].package.as_deref(), Some(format!("{}/{}", first[0].bucket, first[0].prefix).as_str()));
        if let Some(s) = first_station {
            let d = r[0].detail.as_deref().unwrap_or_default();
            assert!(d.contains(s), "{station}: {d}");
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(p.sealed(2, Duration::from_secs(2)).await.expect("sealed").len(), 1, "sealed once");
    assert_drained(&p).await;
    // A request that waits for the seal is verified once, not at every redelivery; the one
    // that came after the seal is answered without a download.
    let id = first[0].evidence_id.to_string();
    let log = p.workers[0].log_text();
    let verified = log.lines().filter(|l| l.contains("verifying upload") && l.contains(&id)).count();
    let waits = log.lines().filter(|l| l.contains("waiting for other work in progress") && l.contains(&id)).count();
    assert!((1..=2).contains(&verified), "verified {verified} times (once per station at most)\n{log}");
    eprintln!("verified {verified} times, waited {waits} times for the seal");

    // A request that claims another station: its rejection receipt goes to the sender's
    // subject, never to the station it names.
    let store = p.store().await.expect("store");
    let key = "landing/st-test/CAM-2ST/x/claim.mp4".to_string();
    store
        .put_bytes(&p.s3cfg.working_bucket, &key, bytes::Bytes::from_static(b"x"), &PutOpts::default())
        .await
        .expect("put");
    let req = IngestRequestV1 {
        schema: IngestRequestSchema,
        station_id: StationId::new("st-test").expect("id"),
        device_id: DeviceId::new("CAM-CLAIM").expect("id"),
        officer_id: OfficerId::new("OF0001").expect("id"),
        file_name: "claim.mp4".into(),
        size_bytes: 1,
        blake3: Blake3Digest(*blake3::hash(b"x").as_bytes()),
        landing: ObjectRef { bucket: p.s3cfg.working_bucket.clone(), key },
        recorded_start: None,
        docked_at: Utc::now(),
        uploaded_at: Utc::now(),
        segment: None,
    };
    let js = async_nats::jetstream::new(async_nats::connect(&p.nats_url).await.expect("nats"));
    js.publish("evidence.ingest.request.v1.st-evil", evidence_contracts::encode(&req).into())
        .await
        .expect("publish")
        .await
        .expect("ack");
    let r = receipts(&p, "st-evil", 1, 60).await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, ReceiptStatus::Rejected);
    assert_eq!(r[0].reason, Some(RejectReason::InvalidField));
    assert_eq!(receipts(&p, "st-test", 2, 3).await.len(), 1, "st-test got nothing for a request it never sent");
}

/// The same recording docked at two stations, and the first one's job rejected after ingest
/// (its landing copy changed before the transcoder read it): the second station, waiting for the
/// seal, is answered with a rejection naming the first station and the stage, not kept waiting
/// forever; its own upload stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_waiting_for_a_seal_that_was_rejected_downstream_is_answered() {
    use evidence_contracts::station::ReceiptStatus;
    let mut p = Pipeline::new().expect("servers start");
    p.start("ingest-worker").expect("ingest starts");
    let rec = p.dir.path().join("OF0001_20261128150000_0001.MP4");
    mp4(&rec, &Spec { seconds: 1, ..Default::default() }).expect("generate");
    p.push_as("st-test", "CAM-REJ", &[rec.as_path()]).expect("push from st-test");
    p.workers[0].wait_for_line("upload verified and scanned", Duration::from_secs(60)).expect("st-test verified");
    let store = p.store().await.expect("store");
    let landing = store.list(&p.s3cfg.working_bucket, "landing/st-test/").await.expect("list");
    assert_eq!(landing.len(), 1, "{landing:?}");
    p.push_as("st-two", "CAM-REJ", &[rec.as_path()]).expect("push from st-two");
    p.workers[0].wait_for_line("waiting for other work in progress", Duration::from_secs(60)).expect("st-two waits");
    // st-test's landing copy changes before the transcoder reads it.
    store
        .put_bytes(&p.s3cfg.working_bucket, &landing[0].0, bytes::Bytes::from_static(b"changed"), &PutOpts::default())
        .await
        .expect("overwrite");
    p.start("transcoder").expect("transcoder starts");
    let first = receipts(&p, "st-test", 1, 60).await;
    assert_eq!(first[0].status, ReceiptStatus::Rejected, "{first:?}");
    assert_eq!(first[0].stage, Some(Stage::Transcode), "{first:?}");
    let second = receipts(&p, "st-two", 1, 60).await;
    assert_eq!(second.len(), 1, "st-two is answered: {second:?}");
    assert_eq!(second[0].status, ReceiptStatus::Rejected);
    assert_eq!(second[0].stage, Some(Stage::Transcode));
    let d = second[0].detail.as_deref().unwrap_or_default();
    assert!(d.contains("st-test") && d.contains("transcode") && d.contains("push it again"), "{d}");
    assert_drained(&p).await;
}
