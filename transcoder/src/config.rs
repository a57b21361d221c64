//! Configuration of the transcoder: shared sections plus `[transcode]` and `[policy]`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use worker_runtime::config::{ConsumerConfig, NatsConfig, TelemetryConfig};

/// `[transcode]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscodeSection {
    /// Directory with the profile descriptors and `.gst` templates. Default: `pipelines/` next
    /// to the working directory, else `/usr/share/evidence-pipeline/pipelines`.
    pub pipelines_dir: PathBuf,
    /// Local directory for the source and the copy while a job runs. Default
    /// `<tmp>/evidence-transcode`.
    pub spool_dir: PathBuf,
    /// Encoder threads per job; 0 = automatic. Default 0.
    pub threads: u32,
    /// A job may take `timeout_base + timeout_per_media_second × source duration`. Defaults
    /// `120s` and `10s` (i.e. 10× slower than real time before it is aborted).
    #[serde(with = "humantime_serde")]
    pub timeout_base: Duration,
    #[serde(with = "humantime_serde")]
    pub timeout_per_media_second: Duration,
    /// Abort a pipeline whose position has not moved for this long. Default `60s`.
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
    /// The copy's duration may differ from the source's by at most this. Default `150ms`
    /// (AAC priming and the last frame's duration account for up to ~0.1 s).
    #[serde(with = "humantime_serde")]
    pub duration_tolerance: Duration,
    /// How often a running job logs its position and realtime factor. Default `5s`.
    #[serde(with = "humantime_serde")]
    pub progress_interval: Duration,
}

impl Default for TranscodeSection {
    fn default() -> Self {
        Self {
            pipelines_dir: default_pipelines_dir(),
            spool_dir: std::env::temp_dir().join("evidence-transcode"),
            threads: 0,
            timeout_base: Duration::from_secs(120),
            timeout_per_media_second: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(60),
            duration_tolerance: Duration::from_millis(150),
            progress_interval: Duration::from_secs(5),
        }
    }
}

/// The profiles directory used when none is configured.
pub fn default_pipelines_dir() -> PathBuf {
    let local = PathBuf::from("pipelines");
    if local.join("access.toml").is_file() {
        return local;
    }
    let in_repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pipelines");
    if in_repo.join("access.toml").is_file() {
        return in_repo;
    }
    PathBuf::from("/usr/share/evidence-pipeline/pipelines")
}

/// `[policy]`: which profiles run for a recording.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Profiles run for every readable recording. Default `["access"]`.
    pub profiles: Vec<String>,
    /// Extra profiles for sources whose container or codec matches a rule (every matching rule
    /// adds its profiles). Default: one rule adding `preservation` for formats at risk.
    pub rules: Vec<Rule>,
    /// Per-profile parameter overrides, e.g. `[policy.params.access] video_bitrate_kbps = "4000"`.
    pub params: BTreeMap<String, BTreeMap<String, String>>,
    /// The access rendition by what the original is: served as it is, remuxed, or transcoded.
    pub access: crate::access::AccessPolicy,
}

/// `[[policy.rules]]`: when the source's container is one of `containers` or any stream's codec
/// starts with one of `codecs`, also run `profiles`, for `reason`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub containers: Vec<String>,
    #[serde(default)]
    pub codecs: Vec<String>,
    pub profiles: Vec<String>,
    pub reason: String,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            profiles: vec!["access".into()],
            rules: vec![Rule {
                containers: ["avi", "mpeg-ps", "flv", "unknown"].map(String::from).to_vec(),
                codecs: ["image/jpeg", "video/mpeg", "video/x-divx", "video/x-xvid", "video/x-msmpeg", "video/x-h263"]
                    .map(String::from)
                    .to_vec(),
                profiles: vec!["preservation".into()],
                reason: "the source's container or codec is at risk of becoming unplayable: a lossless FFV1/FLAC master is kept \
                         beside the original"
                    .into(),
            }],
            params: BTreeMap::new(),
            access: crate::access::AccessPolicy::default(),
        }
    }
}

impl Policy {
    /// Every profile the policy can run (for loading at start-up).
    pub fn all_profiles(&self) -> Vec<String> {
        let mut v = self.profiles.clone();
        if v.contains(&self.access.profile) {
            v.push(self.access.remux_profile.clone());
        }
        for r in &self.rules {
            for p in &r.profiles {
                if !v.contains(p) {
                    v.push(p.clone());
                }
            }
        }
        v
    }

    /// The profiles to run for a source, each with the reason.
    pub fn select(&self, container: &str, codecs: &[String]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .profiles
            .iter()
            .map(|p| (p.clone(), format!("policy runs {p} for every readable recording")))
            .collect();
        for r in &self.rules {
            let by_container = r.containers.iter().any(|c| c == container);
            let by_codec = codecs.iter().any(|c| r.codecs.iter().any(|rc| c.starts_with(rc.as_str())));
            if by_container || by_codec {
                let what = if by_container {
                    format!("container {container}")
                } else {
                    format!("codec {}", codecs.join(", "))
                };
                for p in &r.profiles {
                    if !out.iter().any(|(q, _)| q == p) {
                        out.push((p.clone(), format!("{what}: {}", r.reason)));
                    }
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub nats: NatsConfig,
    pub s3: object_store::S3Config,
    pub consumer: ConsumerConfig,
    pub telemetry: TelemetryConfig,
    pub transcode: TranscodeSection,
    pub policy: Policy,
}

impl Config {
    /// # Errors
    /// Names the offending key.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.consumer.validate()?;
        self.s3.validate()?;
        if self.policy.profiles.is_empty() {
            bail!("policy.profiles must name at least one profile");
        }
        self.policy.access.validate()?;
        let all = self.policy.all_profiles();
        for p in self.policy.params.keys() {
            if !all.contains(p) {
                bail!("policy.params.{p} configures a profile that neither policy.profiles nor policy.rules runs");
            }
        }
        for (i, r) in self.policy.rules.iter().enumerate() {
            if r.profiles.is_empty() || (r.containers.is_empty() && r.codecs.is_empty()) {
                bail!("policy.rules[{i}] needs profiles and at least one of containers or codecs");
            }
        }
        Ok(())
    }
}

worker_runtime::worker_config!(Config);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_keeps_masters_only_for_formats_at_risk() {
        let p = Policy::default();
        let mjpeg = p.select("avi", &["image/jpeg".into(), "audio/x-raw".into()]);
        assert_eq!(mjpeg.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["access", "preservation"]);
        assert!(mjpeg[1].1.contains("container avi"), "{}", mjpeg[1].1);
        let h264 = p.select("mp4", &["video/x-h264 (high)".into(), "audio/aac".into()]);
        assert_eq!(h264.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["access"]);
        let mpeg2 = p.select("mpegts", &["video/mpeg".into()]);
        assert_eq!(mpeg2.len(), 2);
    }

    #[test]
    fn reference_config_parses_and_validates() {
        let text = include_str!("../../deploy/config/transcoder.toml");
        let cfg: Config = worker_runtime::config::parse_toml(text).expect("parses");
        cfg.validate().expect("valid");
    }
}
