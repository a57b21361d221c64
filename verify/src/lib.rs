//! evidence-verify: what a court's expert needs to check an exported evidence package, and
//! nothing else — no NATS, no S3, no GStreamer; the folder alone. `sealer verify` runs this code.
//!
//! * [`package`]: the whole verification of a folder ([`package::verify_folder`]) and its report;
//! * [`signature`]: ES256 detached signatures (`seal.sig`, ledger checkpoints) and their chains;
//! * [`manifest`]: C2PA manifests read and validated by the reference SDK (`c2pa`);
//! * [`digest`]: size, BLAKE3 and SHA-256 of a file in one read;
//! * [`chain`]: the custody-ledger extract replayed (hash chain, checkpoints);
//! * [`history`]: the ledger records of the item in words;
//! * [`session`]: a fixed camera's session across its segment packages (`--session`).
//!
//! How to reproduce each check by hand: `verify/README.md`.

pub mod chain;
pub mod digest;
pub mod history;
pub mod manifest;
pub mod package;
pub mod session;
pub mod signature;
pub mod timestamp;
