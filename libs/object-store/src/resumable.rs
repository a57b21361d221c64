//! Resumable upload of a local file: what a docking station needs when a 4 GB recording is
//! half uploaded and the power goes.
//!
//! The upload is an S3 multipart upload whose progress is written to a small JSON **state
//! file** after every part (temporary name, fsync, rename: a crash leaves the old or the new
//! state, never half of one). After a crash the same call continues: it asks the server which
//! parts it holds (`ListParts`), keeps those the state file also knows with the same ETag and
//! size, **re-reads them locally** to check that the file still holds the bytes that were sent
//! (each part's BLAKE3 is in the state) and to rebuild the whole-file BLAKE3, then sends only the
//! remaining parts. A file that changed between parts (size, modification time, or the bytes of a
//! part already sent) is refused with [`ResumeError::Changed`] naming the part: the camera's file
//! is not what was uploaded, which a person must look at. Memory: one part.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use evidence_contracts::Blake3Digest;
use serde::{Deserialize, Serialize};

use crate::chunks::FileSource;
use crate::client::Store;
use crate::error::StoreError;
use crate::hashing::StreamHasher;
use crate::localfs::{file_identity, write_json_durably};
use crate::write::PutOpts;

/// Progress of one resumable upload, as kept on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadState {
    pub version: u32,
    pub bucket: String,
    pub key: String,
    pub file: PathBuf,
    pub size: u64,
    /// Modification time of the file when the upload began, ns since the epoch.
    pub mtime_ns: i128,
    pub part_size: u64,
    /// The S3 multipart upload id, once created.
    #[serde(default)]
    pub upload_id: Option<String>,
    /// Parts the server acknowledged, in order from 1.
    #[serde(default)]
    pub parts: Vec<PartState>,
    /// Set once the object is complete: its BLAKE3.
    #[serde(default)]
    pub completed_blake3: Option<Blake3Digest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartState {
    pub number: i32,
    pub size: u64,
    pub etag: String,
    /// BLAKE3 of the part's bytes, to check the local file on resume.
    pub blake3: Blake3Digest,
}

/// What a finished [`Store::upload_file_resumable`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadOutcome {
    pub size: u64,
    pub blake3: Blake3Digest,
    /// Bytes an earlier attempt had already sent (not sent again).
    pub resumed_bytes: u64,
    /// Bytes sent by this call.
    pub sent_bytes: u64,
}

/// Why a resumable upload stopped.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The local file is not what the upload began with. Retrying cannot help.
    #[error("{}: {detail}; the upload was abandoned. The file on the device differs from what was being uploaded: keep the device as it is and report it", path.display())]
    Changed { path: PathBuf, detail: String },
    /// The state file cannot be read or written.
    #[error("upload state {}: {detail} (check the station's state_dir: disk full or permissions?)", path.display())]
    State { path: PathBuf, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ResumeError {
    /// Whether trying again later may succeed (server unreachable, busy, disk I/O).
    pub fn is_transient(&self) -> bool {
        match self {
            ResumeError::Changed { .. } => false,
            ResumeError::State { .. } => true,
            ResumeError::Store(e) => e.is_transient(),
        }
    }
}

/// Reads a state file; `None` when there is none.
///
/// # Errors
/// Unreadable or not a state file.
pub fn read_state(path: &Path) -> Result<Option<UploadState>, ResumeError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| ResumeError::State { path: path.to_owned(), detail: format!("not an upload state: {e}") }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ResumeError::State { path: path.to_owned(), detail: e.to_string() }),
    }
}

/// Writes a state file atomically and durably.
///
/// # Errors
/// The state directory cannot be written.
pub fn write_state(path: &Path, st: &UploadState) -> Result<(), ResumeError> {
    write_json_durably(path, st).map_err(|e| ResumeError::State { path: path.to_owned(), detail: e.to_string() })
}

/// ETags compared without quotes; a server that lists parts without ETags (s3s-fs) is taken at
/// its word on number and size: the completion request carries our ETags and fails if they differ.
fn same_etag(server: &str, ours: &str) -> bool {
    let t = |s: &str| s.trim_matches('"').to_owned();
    server.is_empty() || t(server) == t(ours)
}

async fn hash_parts(whole: StreamHasher, data: Bytes) -> (StreamHasher, Blake3Digest) {
    tokio::task::spawn_blocking(move || {
        let mut whole = whole;
        whole.update(&data);
        let mut p = blake3::Hasher::new();
        if data.len() >= 1 << 20 {
            p.update_rayon(&data);
        } else {
            p.update(&data);
        }
        (whole, Blake3Digest(*p.finalize().as_bytes()))
    })
    .await
    .expect("hashing does not panic")
}

impl Store {
    /// Uploads `path` to `bucket/key`, resuming from `state_path` if an earlier attempt left
    /// one; `progress(done, total)` is called after each part. On success the state file says
    /// `completed_blake3` (a later call returns at once); on [`ResumeError::Changed`] the
    /// multipart upload is aborted and the state file removed.
    ///
    /// # Errors
    /// See [`ResumeError`]; transient ones leave the state for the next attempt.
    pub async fn upload_file_resumable(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        state_path: &Path,
        opts: &PutOpts,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<UploadOutcome, ResumeError> {
        let io = |op: &'static str, e: std::io::Error| StoreError::Io { op, path: path.to_owned(), source: e };
        let (size, mtime_ns) = file_identity(path).map_err(|e| io("stat", e))?;
        let part_size = self.config().part_size.max(5 << 20);
        let mut st = match read_state(state_path)? {
            Some(st) if st.bucket == bucket && st.key == key && st.part_size == part_size => {
                if (st.size, st.mtime_ns) != (size, mtime_ns) {
                    let detail = format!(
                        "changed since its upload began (size {} → {size} bytes, modified {} → {mtime_ns} ns)",
                        st.size, st.mtime_ns
                    );
                    self.abandon(&st, state_path).await;
                    return Err(ResumeError::Changed { path: path.to_owned(), detail });
                }
                st
            }
            other => {
                if let Some(old) = other {
                    // Another target or part size: start over cleanly.
                    self.abandon(&old, state_path).await;
                }
                UploadState {
                    version: 1,
                    bucket: bucket.into(),
                    key: key.into(),
                    file: path.to_owned(),
                    size,
                    mtime_ns,
                    part_size,
                    upload_id: None,
                    parts: Vec::new(),
                    completed_blake3: None,
                }
            }
        };
        if let Some(b3) = st.completed_blake3 {
            progress(size, size);
            return Ok(UploadOutcome { size, blake3: b3, resumed_bytes: size, sent_bytes: 0 });
        }

        let file = tokio::fs::File::open(path).await.map_err(|e| io("open", e))?;
        let mut src = FileSource { file, path: path.to_owned() };
        let part = usize::try_from(part_size).unwrap_or(16 << 20);
        if size < part_size {
            // One PUT; nothing to resume.
            use crate::chunks::ChunkSource as _;
            let data = src.fill(part).await?;
            let mut h = StreamHasher::new();
            h.update(&data);
            let d = h.finish();
            if d.size != size {
                return Err(ResumeError::Changed {
                    path: path.to_owned(),
                    detail: format!("was {size} bytes when listed but {} bytes were read", d.size),
                });
            }
            self.put_known(bucket, key, data, d, opts).await?;
            st.completed_blake3 = Some(d.blake3);
            write_state(state_path, &st)?;
            progress(size, size);
            return Ok(UploadOutcome { size, blake3: d.blake3, resumed_bytes: 0, sent_bytes: size });
        }

        // Which parts does the server still hold?
        if let Some(id) = st.upload_id.clone() {
            match self.server_parts(bucket, key, &id).await {
                Ok(held) => {
                    let keep = st
                        .parts
                        .iter()
                        .enumerate()
                        .take_while(|(i, p)| {
                            p.number == i32::try_from(*i + 1).unwrap_or(-1)
                                && held.iter().any(|(n, e, s)| *n == p.number && *s == p.size && same_etag(e, &p.etag))
                        })
                        .count();
                    st.parts.truncate(keep);
                    if keep == 0 {
                        // Nothing usable left under the old upload id (the server restarted or
                        // expired it): start a new multipart upload rather than send parts to an
                        // id the server may no longer accept.
                        let _ =
                            self.client().abort_multipart_upload().bucket(bucket).key(key).upload_id(&id).send().await;
                        st.upload_id = None;
                    }
                }
                Err(e) if forgotten_upload(&e) => {
                    // The upload is gone: completed by a run that crashed before saying so, or
                    // expired/aborted on the server, or forgotten by a restarted server.
                    if let Some(h) = self.head(bucket, key).await?
                        && h.size == size
                    {
                        let b3 = self.local_blake3(path).await?;
                        st.completed_blake3 = Some(b3);
                        write_state(state_path, &st)?;
                        progress(size, size);
                        return Ok(UploadOutcome { size, blake3: b3, resumed_bytes: size, sent_bytes: 0 });
                    }
                    st.upload_id = None;
                    st.parts.clear();
                }
                Err(e) => return Err(e.into()),
            }
        }
        if st.upload_id.is_none() {
            let mut create = self.client().create_multipart_upload().bucket(bucket).key(key);
            for (k, v) in &opts.metadata {
                create = create.metadata(k, v);
            }
            if let Some(ct) = &opts.content_type {
                create = create.content_type(ct);
            }
            let out = create.send().await.map_err(|e| self.err("create multipart", bucket, key, e))?;
            st.upload_id = Some(out.upload_id().unwrap_or_default().to_owned());
            st.parts.clear();
            write_state(state_path, &st)?;
        }
        let upload_id = st.upload_id.clone().unwrap_or_default();

        // Re-read what was sent: same bytes? (and the whole-file hash so far)
        use crate::chunks::ChunkSource as _;
        let mut whole = StreamHasher::new();
        let mut done = 0u64;
        for p in st.parts.clone() {
            let data = src.fill(part).await?;
            let (w, b3) = hash_parts(whole, data.clone()).await;
            whole = w;
            if data.len() as u64 != p.size || b3 != p.blake3 {
                let detail = format!(
                    "bytes {}..{} (part {}) differ from what was uploaded before the interruption (BLAKE3 {} then, {} now)",
                    done,
                    done + p.size,
                    p.number,
                    p.blake3.to_hex(),
                    b3.to_hex()
                );
                self.abandon(&st, state_path).await;
                return Err(ResumeError::Changed { path: path.to_owned(), detail });
            }
            done += p.size;
        }
        let resumed = done;
        if resumed > 0 {
            tracing::info!(file = %path.display(), resumed_bytes = resumed, parts = st.parts.len(), "resuming upload");
        }
        progress(done, size);

        loop {
            let data = src.fill(part).await?;
            if data.is_empty() {
                break;
            }
            let len = data.len() as u64;
            let (w, b3) = hash_parts(whole, data.clone()).await;
            whole = w;
            let number = i32::try_from(st.parts.len() + 1).unwrap_or(i32::MAX);
            let out = self
                .client()
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(number)
                .body(ByteStream::from(data))
                .send()
                .await
                .map_err(|e| self.err("upload part", bucket, key, e));
            let out = match out {
                Ok(o) => o,
                Err(e) => {
                    if forgotten_upload(&e) {
                        // The server no longer knows this upload id (restarted, expired, aborted by
                        // a lifecycle rule): forget it, so the next attempt starts a new upload
                        // instead of failing the same way forever.
                        tracing::warn!(file = %path.display(), upload_id = %upload_id, error = %e, "the server forgot the multipart upload; the next attempt starts it again");
                        st.upload_id = None;
                        st.parts.clear();
                        write_state(state_path, &st)?;
                    }
                    return Err(e.into());
                }
            };
            st.parts.push(PartState {
                number,
                size: len,
                etag: out.e_tag().unwrap_or_default().to_owned(),
                blake3: b3,
            });
            write_state(state_path, &st)?;
            done += len;
            progress(done, size);
            if len < part_size {
                break;
            }
        }
        let d = whole.finish();
        let (size_now, mtime_now) = file_identity(path).map_err(|e| io("stat", e))?;
        if d.size != size || (size_now, mtime_now) != (size, mtime_ns) {
            let detail =
                format!("changed while it was uploaded ({size} bytes listed, {} read, {size_now} now)", d.size);
            self.abandon(&st, state_path).await;
            return Err(ResumeError::Changed { path: path.to_owned(), detail });
        }
        let parts: Vec<CompletedPart> =
            st.parts.iter().map(|p| CompletedPart::builder().part_number(p.number).e_tag(&p.etag).build()).collect();
        self.client()
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| self.err("complete multipart", bucket, key, e))?;
        st.completed_blake3 = Some(d.blake3);
        write_state(state_path, &st)?;
        Ok(UploadOutcome { size, blake3: d.blake3, resumed_bytes: resumed, sent_bytes: size - resumed })
    }

    /// `(part number, etag, size)` of every part the server holds for an upload.
    async fn server_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<(i32, String, u64)>, StoreError> {
        let mut held = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client()
                .list_parts()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.err("list parts", bucket, key, e))?;
            for p in out.parts() {
                held.push((
                    p.part_number().unwrap_or(0),
                    p.e_tag().unwrap_or_default().to_owned(),
                    u64::try_from(p.size().unwrap_or(0)).unwrap_or(0),
                ));
            }
            if out.is_truncated() == Some(true) && out.next_part_number_marker().is_some() {
                marker = out.next_part_number_marker().map(str::to_owned);
            } else {
                return Ok(held);
            }
        }
    }

    async fn local_blake3(&self, path: &Path) -> Result<Blake3Digest, StoreError> {
        let p = path.to_owned();
        tokio::task::spawn_blocking(move || crate::hashing::blake3_file(&p))
            .await
            .expect("hashing does not panic")
            .map_err(|e| StoreError::Io { op: "read", path: path.to_owned(), source: e })
    }

    /// Aborts a recorded multipart upload (best effort) and forgets its state.
    async fn abandon(&self, st: &UploadState, state_path: &Path) {
        if let Some(id) = &st.upload_id {
            let _ = self.client().abort_multipart_upload().bucket(&st.bucket).key(&st.key).upload_id(id).send().await;
        }
        let _ = std::fs::remove_file(state_path);
    }
}

/// Whether an upload-part error means the server does not know the upload id any more. AWS says
/// `NoSuchUpload` (404); s3s-fs, after a restart, `AccessDenied`.
fn forgotten_upload(e: &StoreError) -> bool {
    match e {
        StoreError::Service { code, status, .. } => {
            matches!(code.as_str(), "NoSuchUpload" | "AccessDenied") || *status == Some(404)
        }
        StoreError::NotFound { .. } => true,
        _ => false,
    }
}
