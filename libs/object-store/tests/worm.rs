#![allow(clippy::unwrap_used)]
//! The write-once probe and Object Lock, against s3s-fs (a real server that accepts the lock
//! headers and ignores them) and against moto (a **mock** of AWS S3 that enforces them).

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use object_store::{Lock, PutOpts, Store};
use test_harness::{MotoS3Mock, S3Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_says_s3s_fs_is_not_write_once_and_lock_headers_are_accepted() {
    let s3 = S3Server::start().unwrap();
    let cfg = s3.config();
    let store = Store::new(cfg.clone()).await.unwrap();
    store.ensure_bucket(&cfg.evidence_bucket).await.unwrap();
    let probe = store.probe_worm(&cfg.evidence_bucket, Duration::from_secs(60)).await.unwrap();
    assert!(!probe.worm, "{probe:?}");
    assert!(probe.detail.contains("not write-once"), "{probe:?}");
    // The sealer's puts carry lock headers; a server without Object Lock must still take them.
    let lock = Lock { retain_until: Utc::now() + chrono::Duration::days(1), legal_hold: true };
    let opts = PutOpts { if_absent: true, lock: Some(lock), ..Default::default() };
    store.put_bytes(&cfg.evidence_bucket, "k", Bytes::from_static(b"evidence"), &opts).await.unwrap();
    assert!(store.head(&cfg.evidence_bucket, "k").await.unwrap().is_some());
}

async fn locked_bucket(store: &Store, bucket: &str) {
    store.client().create_bucket().bucket(bucket).object_lock_enabled_for_bucket(true).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_mock_with_object_lock_refuses_deletes_and_the_probe_says_worm() {
    let moto = MotoS3Mock::start().unwrap();
    let cfg = moto.config();
    let store = Store::new(cfg.clone()).await.unwrap();

    // A bucket created without Object Lock: not WORM.
    store.ensure_bucket(&cfg.working_bucket).await.unwrap();
    let plain = store.probe_worm(&cfg.working_bucket, Duration::from_secs(60)).await.unwrap();
    assert!(!plain.worm, "{plain:?}");

    // A bucket created with Object Lock: WORM.
    locked_bucket(&store, &cfg.evidence_bucket).await;
    let probe = store.probe_worm(&cfg.evidence_bucket, Duration::from_secs(60)).await.unwrap();
    assert!(probe.worm, "{probe:?}");

    // An object put the way the sealer puts evidence cannot be deleted, and its retention can
    // be extended but not shortened (COMPLIANCE).
    let until = Utc::now() + chrono::Duration::days(1);
    let opts =
        PutOpts { if_absent: true, lock: Some(Lock { retain_until: until, legal_hold: false }), ..Default::default() };
    store.put_bytes(&cfg.evidence_bucket, "evidence/x/seal.json", Bytes::from_static(b"{}"), &opts).await.unwrap();
    let versions =
        store.client().list_object_versions().bucket(&cfg.evidence_bucket).prefix("evidence/x/").send().await.unwrap();
    let v = versions.versions()[0].version_id().unwrap().to_owned();
    let del = store
        .client()
        .delete_object()
        .bucket(&cfg.evidence_bucket)
        .key("evidence/x/seal.json")
        .version_id(&v)
        .send()
        .await;
    assert!(del.is_err(), "a locked evidence object was deleted");
    let key = "evidence/x/seal.json";
    store.extend_retention(&cfg.evidence_bucket, key, until + chrono::Duration::days(30)).await.unwrap();
    assert!(
        store.extend_retention(&cfg.evidence_bucket, key, Utc::now() + chrono::Duration::hours(1)).await.is_err(),
        "COMPLIANCE retention was shortened"
    );
    // A legal hold is a hold, not a date: setting and releasing it leaves the retention as it was.
    store.set_legal_hold(&cfg.evidence_bucket, key, true).await.unwrap();
    let (kept, hold) = store.lock_state(&cfg.evidence_bucket, key).await.unwrap();
    assert!(hold, "the hold is on");
    assert_eq!(kept.map(|t| t.timestamp()), Some((until + chrono::Duration::days(30)).timestamp()));
    store.set_legal_hold(&cfg.evidence_bucket, key, false).await.unwrap();
    let (kept_after, hold) = store.lock_state(&cfg.evidence_bucket, key).await.unwrap();
    assert!(!hold, "the hold is released");
    assert_eq!(kept_after, kept, "releasing a hold changes no date");
}
