//! One transcode job → every profile of the policy run, each copy verified and staged, then a
//! seal job. The only place that sequences these steps.
//!
//! A profile that fails on a recording does not fail the job: the seal job records why there
//! is no copy, and the original is sealed anyway. Idempotency: staging keys derive from the
//! evidence id and profile; a redelivered job overwrites its own staged copies and republishes
//! a seal job that JetStream drops as a duplicate.

use std::sync::Arc;

use evidence_contracts::events::Stage;
use evidence_contracts::keys::{self, ObjectRef};
use evidence_contracts::report::ScanReportV1;
use evidence_contracts::seal::{
    AccessMadeBy, AccessOf, AccessPlanV1, DerivativeV1, ProfileDecisionV1, SealJobSchema, SealJobV1,
};
use evidence_contracts::subjects;
use evidence_contracts::transcode::{ObjectV1, TranscodeJobV1};
use object_store::{PutOpts, Store};
use tokio_util::sync::CancellationToken;
use worker_runtime::{Delivery, Handler, Rejection};

use crate::config::Config;
use crate::copy::Method;
use crate::error::TranscodeError;
use crate::profile::Profile;
use crate::{access, copy, metrics};

#[derive(Clone)]
pub struct TranscodeHandler {
    cfg: Arc<Config>,
    profiles: Arc<Vec<Profile>>,
    store: Store,
    js: async_nats::jetstream::Context,
    shutdown: CancellationToken,
}

impl TranscodeHandler {
    pub fn new(
        cfg: Config,
        profiles: Vec<Profile>,
        store: Store,
        js: async_nats::jetstream::Context,
        shutdown: CancellationToken,
    ) -> Self {
        Self { cfg: Arc::new(cfg), profiles: Arc::new(profiles), store, js, shutdown }
    }
}

impl Handler for TranscodeHandler {
    type Input = TranscodeJobV1;
    type Error = TranscodeError;
    const STAGE: Stage = Stage::Transcode;
    const STREAM: &'static str = subjects::PIPELINE_STREAM;
    const CONSUMER: &'static str = subjects::TRANSCODE_CONSUMER;
    const FILTER: &'static str = subjects::TRANSCODE_JOBS;

    fn describe(job: &TranscodeJobV1) -> Rejection {
        Rejection {
            evidence_id: Some(job.evidence_id),
            station_id: Some(job.request.station_id.clone()),
            device_id: Some(job.request.device_id.clone()),
            file_name: Some(job.request.file_name.clone()),
        }
    }

    async fn handle(&self, job: TranscodeJobV1, _d: &Delivery) -> Result<(), TranscodeError> {
        let cfg = &self.cfg.transcode;
        let id = job.evidence_id;
        tracing::info!(evidence_id = %id, readable = job.scan.readable, duration_s = job.scan.duration_ns as f64 / 1e9, "transcode job started");
        let spool_err = |e| TranscodeError::Spool { dir: cfg.spool_dir.display().to_string(), source: e };
        let work = tempfile::Builder::new().prefix(&format!("{id}.")).tempdir_in(&cfg.spool_dir).map_err(spool_err)?;
        let mut decisions = Vec::new();
        let mut derivatives = Vec::new();
        // The full continuity report of the original (gaps the copies must keep).
        let report_bytes =
            self.store.get_bytes(&job.scan_report.object.bucket, &job.scan_report.object.key, 64 << 20).await?;
        let source_report = serde_json::from_slice::<ScanReportV1>(&report_bytes)
            .ok()
            .and_then(|r| r.files.into_iter().next())
            .ok_or_else(|| TranscodeError::BadReport { object: job.scan_report.object.to_string() })?;
        let source = work.path().join(format!("source.{}", ext_of(&job.request.file_name)));
        let codecs: Vec<String> = job.scan.streams.iter().map(|s| s.codec.clone()).collect();
        let selected = self.cfg.policy.select(&job.scan.container, &codecs);
        let access = &self.cfg.policy.access;
        let mut decision = job.scan.readable.then(|| access.decide(&source_report));
        // The original is read only if a profile will run on it: a playable original that is its
        // own access rendition (and needs no other profile) is not downloaded at all.
        let serves = matches!(decision, Some(access::Decision::Original(_)));
        let needed = selected.iter().any(|(p, _)| !(serves && *p == access.profile));
        if job.scan.readable && needed {
            let d = self.store.download_to_file(&job.original.object.bucket, &job.original.object.key, &source).await?;
            if d.blake3 != job.original.blake3 {
                return Err(TranscodeError::SourceChanged {
                    object: job.original.object.to_string(),
                    expected: job.original.blake3.to_hex(),
                    actual: d.blake3.to_hex(),
                });
            }
        }
        let mut access_plan = None;
        for profile in self.profiles.iter().filter(|p| p.name != access.remux_profile) {
            let Some((_, why)) = selected.iter().find(|(p, _)| *p == profile.name) else {
                decisions.push(ProfileDecisionV1 {
                    profile: profile.name.clone(),
                    produced: false,
                    reason: format!(
                        "not required by policy for a {} source with {}: the original is kept as its own master",
                        job.scan.container,
                        codecs.join(", ")
                    ),
                });
                continue;
            };
            let is_access = profile.name == access.profile;
            // What to try, in order: (profile run, method, how the access copy is made, reason).
            let mut attempts = vec![(profile, Method::Profile, AccessMadeBy::Transcode, why.clone())];
            if is_access {
                match decision.take() {
                    Some(access::Decision::Original(reason)) => {
                        tracing::info!(evidence_id = %id, profile = %profile.name, %reason, "the original serves as the access rendition; no copy");
                        metrics::not_produced(&profile.name, "original_serves");
                        decisions.push(ProfileDecisionV1 { profile: profile.name.clone(), produced: false, reason });
                        access_plan = Some(AccessPlanV1 { of: AccessOf::Original, profile: None, made_by: None });
                        continue;
                    }
                    Some(access::Decision::Remux { why: reason, audio }) => {
                        match self.profiles.iter().find(|p| p.name == access.remux_profile) {
                            Some(r) => {
                                attempts.insert(0, (r, Method::Remux(audio), AccessMadeBy::Remux, reason.clone()));
                                attempts[1].3 = reason;
                            }
                            None => {
                                attempts[0].3 = format!(
                                    "{reason}, but profile {} is not loaded; transcoded instead",
                                    access.remux_profile
                                );
                            }
                        }
                    }
                    Some(access::Decision::Transcode(reason)) => attempts[0].3 = reason,
                    None => {}
                }
            }
            let last = attempts.len() - 1;
            let mut failed: Option<String> = None;
            for (i, (run, method, made_by, why)) in attempts.into_iter().enumerate() {
                let why = match &failed {
                    Some(no) => format!("{why}, but the remux failed ({no}); transcoded instead"),
                    None => why,
                };
                match self.copy(&job, run, &method, &source_report, &source, work.path(), &profile.name).await? {
                    Made::Copy(d, note) => {
                        derivatives.push(d);
                        decisions.push(ProfileDecisionV1 {
                            profile: profile.name.clone(),
                            produced: true,
                            reason: format!("{why}; {note}"),
                        });
                        if is_access {
                            access_plan = Some(AccessPlanV1 {
                                of: AccessOf::Derivative,
                                profile: Some(profile.name.clone()),
                                made_by: Some(made_by),
                            });
                        }
                        break;
                    }
                    Made::None(reason) if i == last => {
                        decisions.push(ProfileDecisionV1 { profile: profile.name.clone(), produced: false, reason });
                    }
                    // A remux that does not verify is not handed on; the transcode after it is tried,
                    // and its decision says why.
                    Made::None(no) => {
                        tracing::warn!(evidence_id = %id, reason = %no, "remux failed; transcoding instead");
                        failed = Some(no);
                    }
                }
            }
        }
        let seal = SealJobV1 {
            schema: SealJobSchema,
            evidence_id: id,
            request: job.request,
            original: job.original,
            scan: job.scan,
            scan_report: job.scan_report,
            ingested_at: job.ingested_at,
            derivatives,
            decisions,
            deadline: job.deadline,
            access: access_plan,
        };
        worker_runtime::nats::publish(&self.js, &seal).await?;
        Ok(())
    }
}

/// What one profile run gave.
enum Made {
    /// A verified copy, staged, and the note for its decision ("copy verified", frame sizing).
    Copy(DerivativeV1, String),
    /// No copy, and why (the recording is sealed without it).
    None(String),
}

impl TranscodeHandler {
    /// Runs one profile on the source and stages the verified copy under `as_profile` (a remux
    /// is staged as the access profile's copy). A full spool, or a shutdown, retries the job.
    #[allow(clippy::too_many_arguments)]
    async fn copy(
        &self,
        job: &TranscodeJobV1,
        profile: &Profile,
        method: &Method,
        source_report: &evidence_contracts::report::FileReport,
        source: &std::path::Path,
        work: &std::path::Path,
        as_profile: &str,
    ) -> Result<Made, TranscodeError> {
        let cfg = &self.cfg.transcode;
        let id = job.evidence_id;
        let out = work.join(format!("{}.{}", profile.name, profile.extension));
        let name = profile.name.clone();
        let progress = move |frac: f64, rt: f64| {
            metrics::progress(&name, frac, rt);
            tracing::info!(profile = %name, progress = format!("{:.0}%", frac * 100.0), realtime_factor = format!("{rt:.2}"), "transcoding");
        };
        // A job abandoned on shutdown is redelivered; cancel its pipelines promptly.
        let made = copy::make(profile, method, source_report, source, &out, cfg, &self.shutdown, &progress).await;
        metrics::idle(&profile.name);
        match made {
            Ok(c) => {
                // Each attempt's copy under its own content-derived key: a redelivered job
                // (x264 output need not be byte-identical) never replaces the copy a seal job
                // already published names. (The copy was hashed while it was verified.)
                let key = keys::staging(
                    &id,
                    &format!("{as_profile}.{}.{}", &c.report.blake3.to_hex()[..16], profile.extension),
                );
                let opts = PutOpts { content_type: Some(format!("video/{}", profile.container)), ..Default::default() };
                let stored = self.store.upload_file(&self.cfg.s3.working_bucket, &key, &out, None, &opts).await?;
                metrics::produced(
                    &profile.name,
                    c.wall.as_secs_f64(),
                    job.scan.duration_ns as f64 / 1e9,
                    stored.digests.size,
                );
                tracing::info!(evidence_id = %id, profile = %profile.name, wall = ?c.wall, bytes = stored.digests.size, "copy made and verified");
                let note = match method {
                    Method::Remux(_) => "copy verified picture for picture against the original".to_owned(),
                    Method::Profile => format!("{}copy verified", c.frame_note(profile.frame.multiple)),
                };
                Ok(Made::Copy(
                    DerivativeV1 {
                        profile: as_profile.to_owned(),
                        extension: profile.extension.clone(),
                        object: ObjectV1 {
                            object: ObjectRef { bucket: self.cfg.s3.working_bucket.clone(), key },
                            size_bytes: stored.digests.size,
                            blake3: stored.digests.blake3,
                            sha256: stored.digests.sha256,
                        },
                        duration_ns: gst_support::continuity::duration_ns(&c.report),
                    },
                    note,
                ))
            }
            Err(no) if no.local => {
                // The spool is full (or our own copy unreadable): retry the whole job later
                // rather than seal the recording without this copy.
                metrics::not_produced(&profile.name, "failed");
                Err(TranscodeError::Spool {
                    dir: cfg.spool_dir.display().to_string(),
                    source: std::io::Error::other(no.reason),
                })
            }
            Err(_) if self.shutdown.is_cancelled() => {
                // Not the recording's fault: leave the job for redelivery.
                Err(TranscodeError::Spool {
                    dir: cfg.spool_dir.display().to_string(),
                    source: std::io::Error::other("shutting down"),
                })
            }
            Err(no) => {
                metrics::not_produced(&profile.name, no.result);
                tracing::warn!(evidence_id = %id, profile = %profile.name, reason = %no.reason, "no copy");
                Ok(Made::None(no.reason))
            }
        }
    }
}

fn ext_of(name: &str) -> String {
    std::path::Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .filter(|e| e.chars().all(|c| c.is_ascii_alphanumeric()) && e.len() <= 8)
        .unwrap_or_else(|| "bin".into())
}
