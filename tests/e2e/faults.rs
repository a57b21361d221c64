//! The fault suite: a stream of generated recordings through the real pipeline while faults are
//! injected at seeded random points — `kill -9` of each worker, nats-server killed and
//! restarted, a request delivered twice, a landing object that is not what was announced —
//! then every outcome is counted: pushed, sealed, rejected (with reasons), lost, sealed twice,
//! events published twice, orphaned objects. Goal: 0 lost, 0 twice, 0 orphans, every rejection
//! explained.
//!
//! Quick by default (CI). `scripts/faults` runs the long version:
//! `FAULT_SEED=… FAULT_BATCHES=… FAULT_BATCH=…` (recordings = batches × batch size).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use evidence_contracts::events::EvidenceRejectedV1;
use evidence_contracts::ingest::{IngestRequestSchema, IngestRequestV1};
use evidence_contracts::keys::ObjectRef;
use evidence_contracts::{Blake3Digest, DeviceId, EvidenceId, OfficerId, StationId, decode, subjects};
use test_harness::media::{Spec, mp4};

use crate::support::Pipeline;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const WORKERS: [&str; 3] = ["ingest-worker", "transcoder", "sealer"];

/// Kills worker `w` with SIGKILL and starts a fresh one in its place.
fn kill_and_restart(p: &mut Pipeline, w: &str) {
    let idx = p.workers.iter().position(|x| x.name == w).expect("worker running");
    p.workers[idx].kill9();
    let j = p.start(w).expect("restart worker");
    p.workers.swap(idx, j);
    p.workers.pop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_suite_loses_nothing_and_seals_nothing_twice() {
    let seed = env_u64("FAULT_SEED", 20_261_128);
    let batches = env_u64("FAULT_BATCHES", 6);
    let batch = env_u64("FAULT_BATCH", 3);
    let mut rng = Rng(seed | 1);
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let store = p.store().await.expect("store");
    let device = DeviceId::new("CAM-F").expect("id");

    let mut pushed: BTreeSet<EvidenceId> = BTreeSet::new();
    let mut expected_rejections: BTreeMap<EvidenceId, &'static str> = BTreeMap::new();
    let mut faults: Vec<String> = Vec::new();
    let mut n = 0u64;
    for b in 0..batches {
        let mut files = Vec::new();
        for _ in 0..batch {
            n += 1;
            let f = p.dir.path().join(format!("OF0009_20261128{:06}_{n:04}.MP4", 100_000 + n));
            let width = 160 + 8 * u32::try_from(n % 40).expect("small");
            let spec = Spec {
                seconds: 1,
                width,
                height: 96 + 8 * u32::try_from(n / 40).expect("small"),
                ..Default::default()
            };
            mp4(&f, &spec).expect("generate");
            let b3 = blake3::hash(&std::fs::read(&f).expect("read"));
            pushed.insert(EvidenceId::derive(&device, &Blake3Digest(*b3.as_bytes())));
            files.push(f);
        }
        p.push("CAM-F", &files.iter().map(|f| f.as_path()).collect::<Vec<_>>()).expect("push");
        // Remember one real request to deliver again later.
        let name = files[0].file_name().expect("name").to_string_lossy().into_owned();
        let bytes = std::fs::read(&files[0]).expect("read");
        let b3 = blake3::hash(&bytes);
        let landing = store.list(&p.s3cfg.working_bucket, "landing/st-test/CAM-F/").await.expect("list");
        let key = landing.iter().find(|(k, _)| k.ends_with(&name)).map(|(k, _)| k.clone()).expect("landing key");
        let last_request = Some(IngestRequestV1 {
            schema: IngestRequestSchema,
            station_id: StationId::new("st-test").expect("id"),
            device_id: device.clone(),
            officer_id: OfficerId::new("OF0001").expect("id"),
            file_name: name,
            size_bytes: bytes.len() as u64,
            blake3: Blake3Digest(*b3.as_bytes()),
            landing: ObjectRef { bucket: p.s3cfg.working_bucket.clone(), key },
            recorded_start: None,
            docked_at: chrono::Utc::now(),
            uploaded_at: chrono::Utc::now(),
            segment: None,
        });
        // Let some work start, then a fault at a random moment.
        tokio::time::sleep(Duration::from_millis(rng.below(1500))).await;
        let fault = rng.below(6);
        let what = match fault {
            0..=2 => {
                let w = WORKERS[usize::try_from(fault).expect("small")];
                kill_and_restart(&mut p, w);
                format!("kill -9 {w}")
            }
            3 => {
                p.nats.restart().expect("nats restarts");
                "nats-server killed and restarted".to_owned()
            }
            4 => {
                // The same request again, without a dedup id: a redelivery JetStream cannot drop.
                let req = last_request.clone().expect("a request");
                let client = async_nats::connect(&p.nats.url).await.expect("nats");
                let js = async_nats::jetstream::new(client);
                js.publish(subjects::ingest_request(&req.station_id), evidence_contracts::encode(&req).into())
                    .await
                    .expect("publish")
                    .await
                    .expect("ack");
                "a request delivered twice".to_owned()
            }
            _ => {
                // A landing object that is not what its request announces (changed after hashing).
                let announced = Bytes::from(format!("announced bytes {b}"));
                let mut altered = announced.to_vec();
                altered[0] ^= 0x20; // same size, one bit changed
                let stored = Bytes::from(altered);
                let key = format!("landing/st-test/CAM-F/tampered{b}/OF0009_tampered_{b}.MP4");
                store.put_bytes(&p.s3cfg.working_bucket, &key, stored, &Default::default()).await.expect("put");
                let b3 = blake3::hash(&announced);
                let req = IngestRequestV1 {
                    file_name: format!("OF0009_tampered_{b}.MP4"),
                    size_bytes: announced.len() as u64,
                    blake3: Blake3Digest(*b3.as_bytes()),
                    landing: ObjectRef { bucket: p.s3cfg.working_bucket.clone(), key },
                    ..last_request.clone().expect("a request")
                };
                let id = req.evidence_id();
                expected_rejections.insert(id, "hash_mismatch");
                let client = async_nats::connect(&p.nats.url).await.expect("nats");
                let js = async_nats::jetstream::new(client);
                worker_runtime::nats::publish(&js, &req).await.expect("publish");
                "a landing object changed after its hash was announced".to_owned()
            }
        };
        faults.push(format!("batch {b}: {what}"));
    }

    let want = pushed.len();
    p.sealed(want, Duration::from_secs(600)).await.expect("sealed");
    // Time for any duplicate: redelivery after ack_wait (4 s) plus work.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let sealed = p.sealed(want + 1, Duration::from_secs(3)).await.expect("sealed");
    let rejected: Vec<EvidenceRejectedV1> = p
        .events(subjects::REJECTED_ALL, expected_rejections.len(), Duration::from_secs(30))
        .await
        .expect("rejections")
        .iter()
        .map(|m| decode(&m.payload).expect("rejection json"))
        .collect();

    let sealed_ids: BTreeSet<EvidenceId> = sealed.iter().map(|e| e.evidence_id).collect();
    let twice = sealed.len() - sealed_ids.len();
    let mut rejected_reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut unexplained = Vec::new();
    for r in &rejected {
        *rejected_reasons.entry(r.reason.as_str().to_owned()).or_default() += 1;
        let expected =
            r.evidence_id.and_then(|id| expected_rejections.get(&id)).is_some_and(|w| *w == r.reason.as_str());
        if !expected {
            unexplained.push(format!("{} at {}: {}", r.reason.as_str(), r.stage.as_str(), r.detail));
        }
    }
    let lost: Vec<&EvidenceId> = pushed.iter().filter(|id| !sealed_ids.contains(id)).collect();
    // Ledger: one seal record per evidence id.
    let ledger = test_harness::stream_messages(
        &p.nats.url,
        subjects::LEDGER_STREAM,
        "evidence.ledger.v1.seal.>",
        sealed_ids.len(),
        Duration::from_secs(10),
    )
    .await
    .expect("ledger");
    // Orphans: objects in the evidence bucket no sealed event lists (checkpoints aside).
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    for e in &sealed {
        referenced.extend(e.objects.iter().map(|o| o.key.clone()));
        referenced.insert(e.seal_record.key.clone());
        referenced.extend(e.seal_signature.iter().map(|s| s.key.clone()));
    }
    let listed = store.list(&p.s3cfg.evidence_bucket, "").await.expect("list evidence");
    let orphans: Vec<&String> = listed
        .iter()
        .map(|(k, _)| k)
        .filter(|k| !k.starts_with("ledger/checkpoints/") && !referenced.contains(*k))
        .collect();

    let table = format!(
        "fault suite, seed {seed}, {batches} batches of {batch}\n{}\n\
         | pushed | sealed | rejected | lost | sealed twice | ledger records | orphans |\n\
         |---:|---:|---:|---:|---:|---:|---:|\n\
         | {} | {} | {} {:?} | {} | {} | {} | {} |\n",
        faults.join("\n"),
        pushed.len() + expected_rejections.len(),
        sealed_ids.len(),
        rejected.len(),
        rejected_reasons,
        lost.len(),
        twice,
        ledger.len(),
        orphans.len()
    );
    eprintln!("{table}");
    assert!(lost.is_empty(), "lost {lost:?}\n{table}");
    assert_eq!(twice, 0, "{table}");
    assert_eq!(ledger.len(), sealed_ids.len(), "one seal record per recording\n{table}");
    assert!(orphans.is_empty(), "orphans {orphans:?}\n{table}");
    assert!(unexplained.is_empty(), "rejections not caused by an injected fault: {unexplained:?}\n{table}");
    assert_eq!(rejected.len(), expected_rejections.len(), "every tampered object rejected once\n{table}");
}
