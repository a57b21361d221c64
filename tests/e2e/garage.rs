//! The pipeline on a 3-node Garage cluster (replication 3, consistent mode) as its object store:
//! a node is killed mid-run and the pipeline keeps going — every recording sealed once, every
//! stored original byte-exact — then the node comes back and serves the objects written while
//! it was down.

use std::collections::BTreeSet;
use std::time::Duration;

use evidence_contracts::seal::ObjectRole;
use test_harness::GarageCluster;
use test_harness::media::{Spec, mp4};

use crate::support::Pipeline;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_keeps_going_when_a_garage_node_dies() {
    let mut garage = GarageCluster::start().expect("3-node Garage cluster");
    let mut p = Pipeline::new().expect("servers start");
    p.use_s3(garage.config()).expect("configs");
    p.start_all().expect("workers start");

    let clip = |i: u32| {
        let f = p.dir.path().join(format!("OF0008_2026112812{i:02}00_{i:04}.MP4"));
        mp4(&f, &Spec { seconds: 1, width: 160 + 16 * i, height: 120, ..Default::default() }).expect("generate");
        f
    };
    let first: Vec<_> = (0..3).map(clip).collect();
    p.push("CAM-GA", &first.iter().map(|f| f.as_path()).collect::<Vec<_>>()).expect("push");
    assert_eq!(p.sealed(3, Duration::from_secs(120)).await.expect("sealed").len(), 3);

    // Node 3 dies (the workers talk to node 1): writes need 2 of 3 replicas and go on.
    garage.kill(2);
    let second: Vec<_> = (3..6).map(clip).collect();
    p.push("CAM-GA", &second.iter().map(|f| f.as_path()).collect::<Vec<_>>()).expect("push with a node down");
    let sealed = p.sealed(6, Duration::from_secs(180)).await.expect("sealed");
    let ids: BTreeSet<_> = sealed.iter().map(|e| e.evidence_id).collect();
    assert_eq!((sealed.len(), ids.len()), (6, 6), "every recording sealed once\n{}", garage.status());

    // Every original in the evidence bucket is the pushed file, byte for byte.
    let store = p.store().await.expect("store");
    let dl = p.dir.path().join("download");
    let pushed: BTreeSet<[u8; 32]> =
        first.iter().chain(&second).map(|f| *blake3::hash(&std::fs::read(f).expect("read")).as_bytes()).collect();
    let bucket = p.s3cfg.evidence_bucket.clone();
    let original = |e: &evidence_contracts::events::EvidenceSealedV1| {
        e.objects.iter().find(|o| o.role == ObjectRole::Original).expect("original listed").clone()
    };
    let mut stored = BTreeSet::new();
    for e in &sealed {
        let orig = original(e);
        let d = store.download_to_file(&bucket, &orig.key, &dl).await.expect("download original");
        assert_eq!(d.blake3, orig.blake3, "{}", orig.key);
        stored.insert(d.blake3.0);
    }
    assert_eq!(stored, pushed, "the stored originals are exactly the pushed files");

    // Node 3 comes back; through its own endpoint it serves what was sealed while it was down.
    garage.restart(2).expect("node restarts");
    let mut via3 = p.s3cfg.clone();
    via3.endpoint = Some(format!("http://127.0.0.1:{}", garage.s3_ports[2]));
    let store3 = object_store::Store::new(via3).await.expect("store via node 3");
    // (It reconnects to its peers from the list it persisted; until then it has no quorum.)
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    for e in &sealed[3..] {
        let orig = original(e);
        let d = loop {
            match store3.download_to_file(&bucket, &orig.key, &dl).await {
                Ok(d) => break d,
                Err(_) if std::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(500)).await,
                Err(err) => panic!("node 3 did not serve {} within 90 s: {err}\n{}", orig.key, garage.status()),
            }
        };
        assert_eq!(d.blake3, orig.blake3, "{} via node 3", orig.key);
    }
    p.assert_no_unexpected_errors(&["worm", "WORM", "object lock", "Object Lock"]);
}
