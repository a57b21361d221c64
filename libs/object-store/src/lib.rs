//! The S3 adapter, the only code that talks to object storage.
//!
//! Owns: building the client from `[s3]`, streaming downloads to a local spool file and
//! uploads from one (multipart above `part_size`), with BLAKE3 and SHA-256 computed over exactly
//! the bytes that pass, put-if-absent, small objects, and mapping SDK errors to [`StoreError`]
//! with a transient/permanent split. Memory per transfer is bounded by one part.
//!
//! One file per job: `client.rs` (the client, error mapping), `credentials.rs` (the secret file,
//! re-read so a rotation needs no restart), `read.rs`, `write.rs` (put-if-absent,
//! multipart), `resumable.rs`, `object_lock.rs` (retention, legal hold, the WORM probe), `chunks.rs`
//! (block sources), `hashing.rs`, `localfs.rs` (crash-safe local state files).
//!
//! Does not own: which keys are used (evidence-contracts::keys) or what a mismatch means for a
//! job (the workers decide).

mod chunks;
mod client;
mod config;
mod credentials;
mod error;
mod hashing;
mod localfs;
mod object_lock;
mod read;
mod resumable;
mod write;

pub use chunks::received_bytes;
pub use client::{Head, Store};
pub use config::S3Config;
pub use error::{Asked, StoreError, config_fault_in};
pub use hashing::{Digests, StreamHasher, blake3_file, hash_file};
pub use localfs::{file_identity, read_json, write_json_durably};
pub use object_lock::{Lock, WormProbe};
pub use resumable::{PartState, ResumeError, UploadOutcome, UploadState, read_state, write_state};
pub use write::{Expected, PutOpts, Stored};
