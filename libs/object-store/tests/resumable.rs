#![allow(clippy::unwrap_used)]
//! Resumable uploads against a real S3 server (s3s-fs): interrupted uploads continue where they
//! stopped, and a file that changed between parts is refused with the part named.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use object_store::{PutOpts, ResumeError, Store, read_state};
use test_harness::S3Server;

const PART: u64 = 5 << 20;

fn file_of(path: &Path, size: usize, seed: u64) {
    test_harness::media::random_file(path, size, seed).expect("write file");
}

async fn store(s3: &S3Server) -> (Store, String) {
    let mut cfg = s3.config();
    cfg.part_size = PART;
    let store = Store::new(cfg.clone()).await.unwrap();
    store.ensure_bucket(&cfg.working_bucket).await.unwrap();
    (store, cfg.working_bucket)
}

/// Runs an upload until `parts` parts are acknowledged, then drops it mid-flight (what a
/// crash does to the process's view: nothing after that point happens).
async fn interrupted(store: &Store, bucket: &str, key: &str, file: &Path, state: &Path, parts: u64) {
    let seen = Arc::new(AtomicU64::new(0));
    let s2 = seen.clone();
    let progress = move |done: u64, _total: u64| s2.store(done, Ordering::SeqCst);
    let opts = PutOpts::default();
    let up = store.upload_file_resumable(bucket, key, file, state, &opts, &progress);
    tokio::select! {
        r = up => panic!("upload finished before it could be interrupted: {r:?}"),
        () = async {
            while seen.load(Ordering::SeqCst) < parts * PART {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        } => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_continues_where_it_stopped() {
    let s3 = S3Server::start().unwrap();
    let (store, bucket) = store(&s3).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("CAM1_20261128_101500.MP4");
    let size = (8 * PART + 12345) as usize;
    file_of(&file, size, 7);
    let state = dir.path().join("state.json");
    let key = "landing/S1/D1/u1/CAM1_20261128_101500.MP4";

    interrupted(&store, &bucket, key, &file, &state, 3).await;
    let st = read_state(&state).unwrap().expect("state written");
    assert!(st.parts.len() >= 3, "{st:?}");
    assert!(st.completed_blake3.is_none());
    assert!(store.head(&bucket, key).await.unwrap().is_none(), "no object before completion");

    let out = store.upload_file_resumable(&bucket, key, &file, &state, &PutOpts::default(), &|_, _| {}).await.unwrap();
    let expected = object_store::hash_file(&file).unwrap();
    assert_eq!(out.blake3, expected.blake3);
    assert_eq!(out.size, size as u64);
    assert!(out.resumed_bytes >= 3 * PART, "{out:?}");
    assert_eq!(out.sent_bytes + out.resumed_bytes, size as u64);
    let stored = store.hash_object(&bucket, key).await.unwrap();
    assert_eq!(stored, expected, "the object holds exactly the file's bytes");

    // Once complete, a repeat does nothing.
    let again =
        store.upload_file_resumable(&bucket, key, &file, &state, &PutOpts::default(), &|_, _| {}).await.unwrap();
    assert_eq!(again.sent_bytes, 0);
    assert_eq!(again.blake3, expected.blake3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_whose_uploaded_bytes_changed_is_refused_with_the_part_named() {
    let s3 = S3Server::start().unwrap();
    let (store, bucket) = store(&s3).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("CAM2.MP4");
    file_of(&file, (6 * PART) as usize, 11);
    let state = dir.path().join("state.json");
    let key = "landing/S1/D2/u2/CAM2.MP4";
    interrupted(&store, &bucket, key, &file, &state, 2).await;

    // Flip bytes inside part 2 and put the modification time back: only the content tells.
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    {
        let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.seek(SeekFrom::Start(PART + 100)).unwrap();
        f.write_all(b"tampered").unwrap();
        f.set_modified(mtime).unwrap();
    }
    let err = store.upload_file_resumable(&bucket, key, &file, &state, &PutOpts::default(), &|_, _| {}).await;
    let Err(e @ ResumeError::Changed { .. }) = err else { panic!("expected Changed, got {err:?}") };
    let msg = e.to_string();
    assert!(msg.contains("part 2") && msg.contains("CAM2.MP4"), "{msg}");
    assert!(!e.is_transient());
    assert!(!state.exists(), "the abandoned upload's state is gone");
    assert!(store.head(&bucket, key).await.unwrap().is_none(), "nothing was completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_grew_after_the_upload_began_is_refused() {
    let s3 = S3Server::start().unwrap();
    let (store, bucket) = store(&s3).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("CAM3.MP4");
    file_of(&file, (6 * PART) as usize, 13);
    let state = dir.path().join("state.json");
    let key = "landing/S1/D3/u3/CAM3.MP4";
    interrupted(&store, &bucket, key, &file, &state, 1).await;
    std::fs::OpenOptions::new().append(true).open(&file).unwrap().write_all(b"inserted").unwrap();
    let err = store.upload_file_resumable(&bucket, key, &file, &state, &PutOpts::default(), &|_, _| {}).await;
    let Err(e @ ResumeError::Changed { .. }) = err else { panic!("expected Changed, got {err:?}") };
    assert!(e.to_string().contains("changed since its upload began"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_server_forgot_is_started_again_not_retried_forever() {
    // Found by the long fault run: after a station agent was killed mid-upload and the S3 server
    // was down and restarted, the server refused every part of the old upload id, and the agent
    // retried the same refused request forever. The same happens when a lifecycle rule
    // (AbortIncompleteMultipartUpload) aborts an upload a station has not finished: here the
    // upload is aborted behind the uploader's back.
    let s3 = S3Server::start().unwrap();
    let (store, bucket) = store(&s3).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("CAM1_20261128_111500.MP4");
    let size = (6 * PART + 777) as usize;
    file_of(&file, size, 11);
    let state = dir.path().join("state.json");
    let key = "landing/S1/D1/u3/CAM1_20261128_111500.MP4";
    interrupted(&store, &bucket, key, &file, &state, 2).await;
    let old_id = read_state(&state).unwrap().expect("state").upload_id;
    store
        .client()
        .abort_multipart_upload()
        .bucket(&bucket)
        .key(key)
        .upload_id(old_id.clone().unwrap())
        .send()
        .await
        .unwrap();

    // At most one failed attempt (which forgets the old id), then a new upload that completes.
    let mut attempts = 0;
    let out = loop {
        attempts += 1;
        match store.upload_file_resumable(&bucket, key, &file, &state, &PutOpts::default(), &|_, _| {}).await {
            Ok(o) => break o,
            Err(e) if attempts < 2 => eprintln!("attempt {attempts}: {e}"),
            Err(e) => panic!("still failing after {attempts} attempts: {e}"),
        }
    };
    let st = read_state(&state).unwrap().expect("state");
    assert_ne!(st.upload_id, old_id, "a new multipart upload");
    assert_eq!(out.size, size as u64);
    assert_eq!(store.hash_object(&bucket, key).await.unwrap(), object_store::hash_file(&file).unwrap());
}
