//! GStreamer helpers shared by ingest-worker and transcoder (neither depends on the other):
//!
//! * [`pipeline`]: init, `pipelines/*.gst` templates with `{placeholders}`, [`PipelineGuard`]
//!   (set to `Null` on drop), running a pipeline to EOS on the async bus with cancellation and
//!   a stall watchdog; errors name the element and the file;
//! * [`scan`]: the demux-only pass that collects every buffer's timestamps per stream;
//! * the container's own structure (times as written, where it is cut) comes from the pure
//!   `media-walk` crate, run by [`scan`] on the same file;
//! * [`packets`]: the coded H.264 pictures of a file (time + hash), for a remux's frame identity;
//! * [`record`]: capture of a live RTSP stream into fragmented-MP4 segments with wall-clock
//!   boundaries (the fixed-camera recorder);
//! * [`continuity`]: the pure analysis of those timelines into findings (gaps, backwards
//!   jumps, format changes, truncation) and the [`FileReport`](evidence_contracts::report::FileReport).

pub mod continuity;
pub mod decode;
pub mod packets;
pub mod pipeline;
pub mod record;
pub mod scan;

pub use pipeline::{GstError, PipelineGuard, init};
