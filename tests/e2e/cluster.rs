//! The pipeline on a 3-node JetStream cluster (streams with 3 replicas): the node leading the
//! ingest stream is killed mid-run and the pipeline keeps going — every recording sealed once,
//! the custody ledger unbroken.

use std::collections::BTreeSet;
use std::time::Duration;

use evidence_contracts::subjects;
use test_harness::NatsCluster;
use test_harness::media::{Spec, mp4};

use crate::support::Pipeline;

async fn js(url: &str) -> async_nats::jetstream::Context {
    let servers: Vec<&str> = url.split(',').collect();
    async_nats::jetstream::new(async_nats::connect(servers).await.expect("connect to the cluster"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_keeps_going_when_a_cluster_node_dies() {
    let mut cluster = NatsCluster::start().expect("3-node cluster");
    let mut p = Pipeline::new().expect("servers start");
    p.use_nats(&cluster.url(), "stream_replicas = 3\nconnect_timeout = \"30s\"\n").expect("configs");
    p.start_all().expect("workers start");

    let clip = |i: u32| {
        let f = p.dir.path().join(format!("OF0007_2026112811{i:02}00_{i:04}.MP4"));
        mp4(&f, &Spec { seconds: 1, width: 160 + 16 * i, height: 120, ..Default::default() }).expect("generate");
        f
    };
    let first: Vec<_> = (0..3).map(clip).collect();
    p.push("CAM-CL", &first.iter().map(|f| f.as_path()).collect::<Vec<_>>()).expect("push");
    assert_eq!(p.sealed(3, Duration::from_secs(120)).await.expect("sealed").len(), 3);

    // The streams are replicated on all three nodes; kill the one leading the ingest stream.
    let c = js(&cluster.url()).await;
    let info = c.get_stream(subjects::INGEST_STREAM).await.expect("stream").info().await.expect("info").clone();
    assert_eq!(info.config.num_replicas, 3, "{info:?}");
    let leader = info.cluster.as_ref().and_then(|c| c.leader.clone()).expect("a leader");
    let idx: usize = leader.trim_start_matches('n').parse::<usize>().expect("node name n1..n3") - 1;
    cluster.kill(idx);

    let second: Vec<_> = (3..6).map(clip).collect();
    p.push("CAM-CL", &second.iter().map(|f| f.as_path()).collect::<Vec<_>>()).expect("push with a node down");
    let sealed = p.sealed(6, Duration::from_secs(180)).await.expect("sealed");
    let ids: BTreeSet<_> = sealed.iter().map(|e| e.evidence_id).collect();
    assert_eq!((sealed.len(), ids.len()), (6, 6), "every recording sealed once");
    let mut seqs: Vec<u64> = sealed.iter().filter_map(|e| e.ledger_seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=6).collect::<Vec<u64>>(), "the ledger has one unbroken order");

    // The node comes back and catches up; the ingest stream has a leader again among three peers.
    cluster.restart(idx).expect("node restarts");
    let info = c.get_stream(subjects::INGEST_STREAM).await.expect("stream").info().await.expect("info").clone();
    assert!(info.cluster.as_ref().and_then(|c| c.leader.clone()).is_some());
    p.assert_no_unexpected_errors(&["nats", "disconnected", "connection"]);
}
