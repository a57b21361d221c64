//! The fault suite: a stream of generated recordings through the real pipeline while faults are
//! injected at seeded random points — `kill -9` of each worker and of the station agent
//! mid-upload, nats-server killed and restarted, the S3 server unreachable for a minute, the
//! transcoder's spool disk full, a request delivered twice, a segment arriving before its
//! predecessor, a landing object that is not what was announced — then every outcome is
//! counted: pushed, sealed, rejected (with reasons), lost, sealed twice, events published twice,
//! orphaned objects. Goal: 0 lost, 0 twice, 0 orphans, every rejection explained.
//!
//! The first batches inject each kind of fault once, in order; later ones pick at random.
//! Quick by default (CI). `scripts/faults` runs the long version:
//! `FAULT_SEED=… FAULT_BATCHES=… FAULT_BATCH=…` (recordings = batches × batch size),
//! `FAULT_S3_DOWN_S` (default 60). The spool-full fault mounts a small tmpfs: it needs root
//! (as `.ci/run` runs); without root it is reported as not injected.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
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
/// Kinds of fault; the first `KINDS` batches inject one each, in this order.
const KINDS: u64 = 10;

/// A small tmpfs mounted over a worker's spool directory, so "disk full" is a real ENOSPC.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// `None` when mounting is not allowed (not root).
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).expect("spool dir");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self { dir: dir.to_owned() })
    }

    /// Writes a filler file until the device is full; returns its size in MB.
    fn fill(&self) -> u64 {
        use std::io::Write;
        let mut f = std::fs::File::create(self.dir.join("filler")).expect("filler");
        let block = vec![0u8; 1 << 20];
        let mut n = 0;
        while f.write_all(&block).is_ok() {
            n += 1;
        }
        let _ = f.flush();
        n
    }

    fn unfill(&self) {
        std::fs::remove_file(self.dir.join("filler")).expect("remove filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// A generated 1 s clip; a different frame size per `n` makes every file distinct.
fn clip(path: &Path, n: u64) {
    let spec = Spec {
        seconds: 1,
        width: 160 + 8 * u32::try_from(n % 40).expect("small"),
        height: 96 + 8 * u32::try_from(n / 40 % 40).expect("small"),
        ..Default::default()
    };
    mp4(path, &spec).expect("generate");
}

fn evidence_id_of(device: &DeviceId, path: &Path) -> (EvidenceId, Blake3Digest, u64) {
    let bytes = std::fs::read(path).expect("read");
    let b3 = Blake3Digest(*blake3::hash(&bytes).as_bytes());
    (EvidenceId::derive(device, &b3), b3, bytes.len() as u64)
}

/// Lines in the running transcoder's log that report a full disk.
fn no_space_lines(p: &mut Pipeline) -> usize {
    p.workers
        .iter_mut()
        .filter(|w| w.name == "transcoder")
        .map(|w| w.log_text().to_lowercase().matches("no space left").count())
        .sum()
}

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
    let batches = env_u64("FAULT_BATCHES", KINDS);
    let batch = env_u64("FAULT_BATCH", 2);
    let s3_down = env_u64("FAULT_S3_DOWN_S", 60);
    let mut rng = Rng(seed | 1);
    let mut p = Pipeline::new().expect("servers start");
    // Declared after `p`: unmounted before the pipeline's directory is removed.
    let spool = Tmpfs::mount(&p.dir.path().join("spool-transcode"), "128m");
    p.start_all().expect("workers start");
    let serials: Vec<String> = (0..batches).map(|b| format!("DSJ-F{b}")).collect();
    let dock_cfg = crate::station::dock_config(&p, "st-test", &serials.iter().map(String::as_str).collect::<Vec<_>>());
    let mut agent: Option<test_harness::Worker> = None;
    let mut not_injected: Vec<String> = Vec::new();
    let mut discontinuous_expected: BTreeSet<EvidenceId> = BTreeSet::new();
    let store = p.store().await.expect("store");
    let device = DeviceId::new("CAM-F").expect("id");

    let mut pushed: BTreeSet<EvidenceId> = BTreeSet::new();
    let mut expected_rejections: BTreeMap<EvidenceId, &'static str> = BTreeMap::new();
    let mut faults: Vec<String> = Vec::new();
    let mut n = 0u64;
    for b in 0..batches {
        let fault = if b < KINDS { b } else { rng.below(KINDS) };
        // The spool fills before the batch arrives, so the transcoder meets a full disk (counted
        // from here: an earlier fill's log lines do not count).
        let nospace_before = if fault == 7 { no_space_lines(&mut p) } else { 0 };
        let filled = if fault == 7 { spool.as_ref().map(Tmpfs::fill) } else { None };
        let mut files = Vec::new();
        for _ in 0..batch {
            n += 1;
            let f = p.dir.path().join(format!("OF0009_20261128{:06}_{n:04}.MP4", 100_000 + n));
            clip(&f, n);
            pushed.insert(evidence_id_of(&device, &f).0);
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
            6 => {
                p.s3.stop();
                tokio::time::sleep(Duration::from_secs(s3_down)).await;
                p.s3.restart().expect("S3 server back on its port");
                format!("S3 server unreachable for {s3_down} s")
            }
            7 => match filled {
                Some(mb) => {
                    // Full until the transcoder has met it (at most 60 s), then 5 s more.
                    let started = std::time::Instant::now();
                    let mut hit = false;
                    while !hit && started.elapsed() < Duration::from_secs(60) {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        hit = no_space_lines(&mut p) > nospace_before;
                    }
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    let full_for = started.elapsed().as_secs();
                    spool.as_ref().expect("mounted").unfill();
                    assert!(hit, "the transcoder never met the full spool disk");
                    format!(
                        "transcoder spool disk full for {full_for} s ({mb} MB filler; the transcoder met ENOSPC and kept its jobs)"
                    )
                }
                None => {
                    not_injected.push("spool disk full (mounting a tmpfs needs root)".to_owned());
                    "spool disk full: NOT injected (needs root)".to_owned()
                }
            },
            8 => {
                // Two segments of one recorded session; the second is published first.
                let cam = DeviceId::new("CAM-SEG").expect("id");
                let t0 = chrono::Utc::now() - chrono::Duration::minutes(5);
                let mut reqs = Vec::new();
                for i in 0..2u64 {
                    n += 1;
                    let name = format!("seg{b}_{i}.mp4");
                    let f = p.dir.path().join(&name);
                    clip(&f, n);
                    let (id, b3, size) = evidence_id_of(&cam, &f);
                    pushed.insert(id);
                    let key = format!("landing/st-test/CAM-SEG/seg{b}/{name}");
                    store
                        .upload_file(&p.s3cfg.working_bucket, &key, &f, None, &Default::default())
                        .await
                        .expect("upload");
                    let start = t0 + chrono::Duration::seconds(i64::try_from(i).expect("small") * 3);
                    let segment = evidence_contracts::ingest::SegmentV1 {
                        session_id: format!("CAM-SEG-{b}"),
                        index: i,
                        start,
                        end: start + chrono::Duration::seconds(1),
                        // A 2 s outage between the two segments.
                        previous_file: (i == 1).then(|| format!("seg{b}_0.mp4")),
                        previous_end: (i == 1).then(|| t0 + chrono::Duration::seconds(1)),
                        previous_ended_by: (i == 1).then_some(evidence_contracts::ingest::EndedBy::Outage),
                        previous_blake3: None,
                    };
                    if i == 1 {
                        discontinuous_expected.insert(id);
                    }
                    reqs.push(IngestRequestV1 {
                        device_id: cam.clone(),
                        file_name: name,
                        size_bytes: size,
                        blake3: b3,
                        landing: ObjectRef { bucket: p.s3cfg.working_bucket.clone(), key },
                        recorded_start: Some(start),
                        segment: Some(segment),
                        ..last_request.clone().expect("a request")
                    });
                }
                let client = async_nats::connect(&p.nats.url).await.expect("nats");
                let js = async_nats::jetstream::new(client);
                for r in reqs.iter().rev() {
                    worker_runtime::nats::publish(&js, r).await.expect("publish");
                }
                "segment 1 of a session published before segment 0".to_owned()
            }
            9 => {
                // The station agent uploads a 24 MB recording in 5 MB parts and is killed mid-way.
                let serial = format!("DSJ-F{b}");
                let media =
                    crate::station::docked_slot(&p.dir.path().join("slots"), &format!("slot{b:02}"), &serial, 0);
                let f = media.join(format!("{}_20261128{:06}_0001.MP4", crate::station::OFFICER, 120_000 + b));
                // Written aside and moved in whole, as a docked camera's files appear: the agent
                // (already running in a long run, settle 0 s here) must not list it half-written.
                let part = media.join(".incoming.part");
                test_harness::media::random_file(&part, 24 << 20, seed ^ b).expect("write");
                std::fs::rename(&part, &f).expect("move into place");
                pushed.insert(evidence_id_of(&DeviceId::new(&serial).expect("id"), &f).0);
                if agent.is_none() {
                    agent = Some(crate::station::spawn_dock(&dock_cfg, false));
                }
                crate::station::wait_for_parts_of(
                    &p.dir.path().join("station-state"),
                    Some(f.as_path()),
                    1,
                    Duration::from_secs(60),
                );
                if let Some(a) = agent.as_mut() {
                    a.kill9();
                }
                agent = Some(crate::station::spawn_dock(&dock_cfg, false));
                "station agent killed mid-upload (24 MB, after its first part) and restarted".to_owned()
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
    p.sealed(want, Duration::from_secs(900)).await.unwrap_or_else(|e| panic!("{e:#}\nfaults:\n{}", faults.join("\n")));
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
    // A segment that arrived before its predecessor still carries the outage between them.
    let out_of_order_ok = sealed
        .iter()
        .filter(|e| discontinuous_expected.contains(&e.evidence_id))
        .all(|e| e.verdict == evidence_contracts::report::Verdict::Discontinuous);
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
    let table = if not_injected.is_empty() { table } else { format!("{table}not injected: {not_injected:?}\n") };
    eprintln!("{table}");
    assert!(out_of_order_ok, "a segment published before its predecessor lost its gap finding\n{table}");
    assert!(lost.is_empty(), "lost {lost:?}\n{table}");
    assert_eq!(twice, 0, "{table}");
    assert_eq!(ledger.len(), sealed_ids.len(), "one seal record per recording\n{table}");
    assert!(orphans.is_empty(), "orphans {orphans:?}\n{table}");
    assert!(unexplained.is_empty(), "rejections not caused by an injected fault: {unexplained:?}\n{table}");
    assert_eq!(rejected.len(), expected_rejections.len(), "every tampered object rejected once\n{table}");
}
