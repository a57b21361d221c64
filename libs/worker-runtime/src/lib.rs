//! Process plumbing shared by every worker, written once:
//!
//! * [`config`]: the `[nats]`, `[consumer]` and `[telemetry]` sections and TOML loading;
//! * [`telemetry`]: tracing setup and the HTTP endpoint with `/metrics` and `/healthz`;
//! * [`metrics`]: the runtime metrics every worker exports under the same names;
//! * [`nats`]: connecting, creating the streams from `deploy/nats/streams/*.json`, publishing
//!   with a dedup id;
//! * [`consume`]: the JetStream consume loop (bounded concurrency, progress heartbeats,
//!   ack / nak-with-delay / term, rejection events, graceful drain);
//! * [`cli`]: the `run` options every worker shares (config path, endpoint overrides);
//! * [`shutdown`]: SIGTERM/SIGINT → cancellation token.
//!
//! It does not own any stage's business rules, nor S3 or GStreamer.

pub mod cli;
pub mod config;
pub mod consume;
pub mod metrics;
pub mod nats;
pub mod shutdown;
pub mod spool;
pub mod startup;
pub mod telemetry;

pub use consume::{Delivery, Disposition, Handler, HandlerError, Rejection, consume};

/// A mutex's guard, also after a panic elsewhere poisoned it (the data behind it is plain state
/// that stays usable; a worker must not stop taking recordings because one task panicked).
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
