//! The S3 adapter, the only code that talks to object storage.
//!
//! Owns: building the client from `[s3]`, streaming downloads to a local spool file and
//! uploads from one (multipart above `part_size`), with BLAKE3 and SHA-256 computed over exactly
//! the bytes that pass, put-if-absent, small objects, and mapping SDK errors to [`StoreError`]
//! with a transient/permanent split. Memory per transfer is bounded by one part.
//!
//! Does not own: which keys are used (evidence-contracts::keys) or what a mismatch means for a
//! job (the workers decide).

mod config;
mod error;
mod hashing;
mod resumable;
mod store;

pub use config::S3Config;
pub use error::{Asked, StoreError, config_fault_in};
pub use hashing::{Digests, StreamHasher, blake3_file, hash_file};
pub use resumable::{
    PartState, ResumeError, UploadOutcome, UploadState, file_identity, read_state, write_json_durably, write_state,
};
pub use store::{Head, Lock, PutOpts, Store, Stored, WormProbe};
