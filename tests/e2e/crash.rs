//! A worker killed with SIGKILL in the middle of a job: the job comes back and exactly one
//! sealed event and one package result.

use std::time::Duration;

use evidence_contracts::{Message, subjects};
use test_harness::media::{Spec, mp4};

use crate::support::Pipeline;

async fn killed_mid_job(worker: &str, started_line: &str) {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let idx = ["ingest-worker", "transcoder", "sealer"].iter().position(|w| *w == worker).expect("worker");
    let rec = p.dir.path().join("OF0001_CAM03_20261128110000_0001.MP4");
    mp4(&rec, &Spec { seconds: 6, width: 640, height: 360, ..Default::default() }).expect("generate");
    p.push("CAM03", &[&rec]).expect("push");

    p.workers[idx].wait_for_line(started_line, Duration::from_secs(60)).expect("job started");
    p.workers[idx].kill9();
    let _ = p.start(worker).expect("restart");

    let events = p.sealed(1, Duration::from_secs(180)).await.expect("events");
    assert_eq!(events.len(), 1, "{events:#?}");
    // Give any duplicate time to appear: redelivery after ack_wait (4 s) plus work.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let again = p.sealed(2, Duration::from_secs(2)).await.expect("events");
    assert_eq!(again.len(), 1, "a second sealed event appeared: {again:#?}");

    // Exactly the package's objects exist under its prefix, once each.
    let ev = &events[0];
    let store = p.store().await.expect("store");
    let listed = store
        .client()
        .list_objects_v2()
        .bucket(&p.s3cfg.evidence_bucket)
        .prefix(&ev.prefix)
        .send()
        .await
        .expect("list");
    let mut keys: Vec<String> = listed.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
    keys.sort();
    let mut expected: Vec<String> = ev
        .objects
        .iter()
        .map(|o| o.key.clone())
        .chain([ev.seal_record.key.clone()])
        .chain(ev.seal_signature.iter().map(|s| s.key.clone()))
        .collect();
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(ev.subject(), subjects::sealed(&ev.evidence_id));
    p.assert_no_unexpected_errors(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_worker_killed_mid_job() {
    killed_mid_job("ingest-worker", "verifying upload").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcoder_killed_mid_job() {
    killed_mid_job("transcoder", "transcode job started").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealer_killed_mid_job() {
    killed_mid_job("sealer", "seal job started").await;
}

/// A seal job delivered again after its package was finished and its event published (a lost
/// ack, or a redelivery after the dedup window): no second event, no second package.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seal_job_redelivered_after_sealing_changes_nothing() {
    let mut p = Pipeline::new().expect("servers start");
    p.start("ingest-worker").expect("ingest");
    p.start("transcoder").expect("transcoder");
    let rec = p.dir.path().join("OF0001_CAM04_20261128120000_0001.MP4");
    mp4(&rec, &Spec { seconds: 2, ..Default::default() }).expect("generate");
    p.push("CAM04", &[&rec]).expect("push");

    // Capture the seal job as the transcoder published it.
    let client = async_nats::connect(&p.nats.url).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let job = loop {
        if let Some(m) = worker_runtime_last(&js, subjects::PIPELINE_STREAM, subjects::SEAL_JOBS).await {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "no seal job published");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    p.start("sealer").expect("sealer");
    assert_eq!(p.sealed(1, Duration::from_secs(60)).await.expect("events").len(), 1);

    // Redeliver it under a fresh message id, so JetStream's dedup cannot help.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "replay-after-dedup-window");
    js.publish_with_headers(subjects::SEAL_JOBS, headers, job).await.expect("publish").await.expect("ack");
    let sealer = p.workers.len() - 1;
    p.workers[sealer].wait_for_line("fresh=false", Duration::from_secs(60)).expect("redelivered job handled");
    assert_eq!(p.sealed(2, Duration::from_secs(3)).await.expect("events").len(), 1, "duplicate sealed event");
    let addr = p.workers[sealer].metrics_addr().expect("addr");
    let (_, body) = crate::support::http_get(&addr, "/metrics").expect("scrape");
    assert!(body.contains("evidence_sealer_packages_total{result=\"already_sealed\"} 1"), "{body}");
    p.assert_no_unexpected_errors(&[]);
}

async fn worker_runtime_last(js: &async_nats::jetstream::Context, stream: &str, subject: &str) -> Option<bytes::Bytes> {
    let s = js.get_stream(stream).await.ok()?;
    s.get_last_raw_message_by_subject(subject).await.ok().map(|m| m.payload)
}

/// The sealer stopped dead (SIGABRT, no ack) after each step of a seal in turn: after the
/// original is stored, after its sidecar, after the copies, after `seal.json`, after `seal.sig`,
/// after the ledger record. Each time the restarted sealer finishes the same package: one
/// event, one ledger record, exactly the package's objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealer_aborted_at_every_step_finishes_one_package_each_time() {
    if !sealer::handler::HAS_FAILPOINTS {
        panic!(
            "the fault injection is compiled only with `--features sealer/failpoints` (scripts/test builds with it)"
        );
    }
    let mut p = Pipeline::new().expect("servers start");
    p.start("ingest-worker").expect("ingest");
    p.start("transcoder").expect("transcoder");
    for (i, point) in sealer::handler::FAILPOINTS.iter().enumerate() {
        let idx = p.start_with_env("sealer", &[("SEALER_FAILPOINT", point)]).expect("sealer");
        let rec = p.dir.path().join(format!("OF0001_CAM05_202611281300{i:02}_000{i}.MP4"));
        mp4(&rec, &Spec { seconds: 2, ..Default::default() }).expect("generate");
        p.push("CAM05", &[&rec]).expect("push");
        let status = p.workers[idx].wait_exit(Duration::from_secs(120)).expect("sealer aborts at the failpoint");
        assert!(!status.success(), "{point}: the sealer was meant to abort");
        let restarted = p.start("sealer").expect("restart");
        let events = p.sealed(i + 1, Duration::from_secs(120)).await.expect("events");
        assert_eq!(events.len(), i + 1, "{point}: {events:#?}");
        p.workers[restarted].terminate(Duration::from_secs(20)).expect("stop");
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let events = p.sealed(FAILPOINTS_LEN + 1, Duration::from_secs(2)).await.expect("events");
    assert_eq!(events.len(), FAILPOINTS_LEN, "a duplicate sealed event appeared");
    let store = p.store().await.expect("store");
    let mut seqs = Vec::new();
    for ev in &events {
        let mut keys: Vec<String> =
            store.list(&p.s3cfg.evidence_bucket, &ev.prefix).await.expect("list").into_iter().map(|(k, _)| k).collect();
        keys.sort();
        let mut expected: Vec<String> = ev
            .objects
            .iter()
            .map(|o| o.key.clone())
            .chain([ev.seal_record.key.clone()])
            .chain(ev.seal_signature.iter().map(|s| s.key.clone()))
            .collect();
        expected.sort();
        assert_eq!(keys, expected, "{}", ev.file_name);
        assert_eq!(ev.c2pa.map(|c| c.as_str()), Some("c2pa"));
        seqs.push(ev.ledger_seq.expect("ledger seq"));
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=FAILPOINTS_LEN as u64).collect::<Vec<_>>(), "one ledger record per package, none twice");
    let client = async_nats::connect(&p.nats.url).await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let mut ledger = js.get_stream(subjects::LEDGER_STREAM).await.expect("ledger stream");
    assert_eq!(ledger.info().await.expect("info").state.messages, FAILPOINTS_LEN as u64);
}

const FAILPOINTS_LEN: usize = sealer::handler::FAILPOINTS.len();
