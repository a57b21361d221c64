//! Profile descriptors (`pipelines/<name>.toml`) and their `.gst` variants, loaded and checked
//! at start-up so a broken profile stops the worker, not a job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use evidence_contracts::report::StreamKind;
use gst_support::pipeline::Template;

use crate::frame::{self, FramePlan};
use serde::Deserialize;

/// Placeholders the transcoder fills itself; every other placeholder needs a `[params]` value.
pub const BUILTIN_PARAMS: [&str; 3] = ["input", "output", "threads"];

/// A plan used only to check that a template builds.
const CHECK_FRAME: FramePlan = FramePlan { scale: (640, 360), pad: (0, 0) };

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Descriptor {
    name: String,
    description: String,
    extension: String,
    container: String,
    #[serde(default)]
    params: BTreeMap<String, String>,
    variants: Vec<VariantDescriptor>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantDescriptor {
    streams: Vec<StreamKind>,
    /// For profiles that treat audio more than one way (`access-remux`): `copy` or `aac`.
    #[serde(default)]
    audio: Option<String>,
    pipeline: PathBuf,
}

/// One pipeline of a profile, for one set of source streams.
#[derive(Debug, Clone)]
pub struct Variant {
    pub streams: Vec<StreamKind>,
    /// How this variant treats audio (`copy`, `aac`), when the profile has several ways.
    pub audio: Option<String>,
    pub template: Template,
}

/// A loaded, checked profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub extension: String,
    pub container: String,
    pub params: BTreeMap<String, String>,
    pub variants: Vec<Variant>,
    /// Frame size limits from `max_width`, `max_height`, `frame_multiple`.
    pub frame: frame::Limits,
}

impl Profile {
    /// Loads `<dir>/<name>.toml` and its templates, applying `overrides` to the params.
    ///
    /// # Errors
    /// Missing or malformed descriptor or template, a placeholder without a value, an
    /// override of an unknown parameter, or a pipeline GStreamer cannot build.
    pub fn load(dir: &Path, name: &str, overrides: Option<&BTreeMap<String, String>>) -> anyhow::Result<Self> {
        let path = dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).with_context(|| format!("read profile {}", path.display()))?;
        let d: Descriptor = toml::from_str(&text).with_context(|| format!("parse profile {}", path.display()))?;
        if d.name != name {
            bail!("profile {}: name = {:?} but the file is named {name}.toml", path.display(), d.name);
        }
        let mut params = d.params.clone();
        for (k, v) in overrides.into_iter().flatten() {
            if !params.contains_key(k) {
                bail!("policy.params.{name}.{k}: profile {name} has no parameter {k} (it has: {:?})", params.keys());
            }
            params.insert(k.clone(), v.clone());
        }
        let mut variants = Vec::new();
        for v in &d.variants {
            let template = Template::load(&dir.join(&v.pipeline))?;
            for ph in template.placeholders() {
                if !BUILTIN_PARAMS.contains(&ph.as_str())
                    && !frame::PLACEHOLDERS.contains(&ph.as_str())
                    && !params.contains_key(&ph)
                {
                    bail!("profile {name}: {} uses {{{ph}}} but [params] has no {ph}", v.pipeline.display());
                }
            }
            let mut streams = v.streams.clone();
            streams.sort();
            variants.push(Variant { streams, audio: v.audio.clone(), template });
        }
        if variants.is_empty() {
            bail!("profile {name} has no [[variants]]");
        }
        let frame = frame::Limits::from_params(name, &params)?;
        let p = Profile {
            frame,
            name: d.name,
            description: d.description,
            extension: d.extension,
            container: d.container,
            params,
            variants,
        };
        p.check_builds()?;
        Ok(p)
    }

    /// Every variant must parse into a pipeline with this GStreamer installation.
    fn check_builds(&self) -> anyhow::Result<()> {
        gst_support::init()?;
        for v in &self.variants {
            let desc = v.template.render(&self.params_for(
                Path::new("/dev/null"),
                Path::new("/dev/null"),
                1,
                Some(&CHECK_FRAME),
            ))?;
            gst_support::pipeline::parse(&self.name, "(check)", &desc)
                .with_context(|| format!("profile {}: {} does not build", self.name, v.template.path.display()))?;
        }
        Ok(())
    }

    /// The variant for a source with exactly these stream kinds (`other` streams ignored).
    pub fn variant_for(&self, kinds: &[StreamKind]) -> Option<&Variant> {
        let mut k: Vec<StreamKind> = kinds.iter().copied().filter(|k| *k != StreamKind::Other).collect();
        k.sort();
        k.dedup();
        self.variants.iter().find(|v| v.streams == k)
    }

    /// The variant for these stream kinds that treats audio as `audio` says (`copy`, `aac`);
    /// a variant without an audio key serves any.
    pub fn variant_for_audio(&self, kinds: &[StreamKind], audio: &str) -> Option<&Variant> {
        let mut k: Vec<StreamKind> = kinds.iter().copied().filter(|k| *k != StreamKind::Other).collect();
        k.sort();
        k.dedup();
        self.variants.iter().find(|v| v.streams == k && v.audio.as_deref().is_none_or(|a| a == audio))
    }

    /// Whether a variant's template places the video frame (uses the frame placeholders).
    pub fn sizes_frames(variant: &Variant) -> bool {
        variant.template.placeholders().iter().any(|p| frame::PLACEHOLDERS.contains(&p.as_str()))
    }

    /// Template parameters for one run.
    pub fn params_for(
        &self,
        input: &Path,
        output: &Path,
        threads: u32,
        frame: Option<&FramePlan>,
    ) -> BTreeMap<String, String> {
        let mut p = self.params.clone();
        p.insert("input".into(), input.display().to_string());
        p.insert("output".into(), output.display().to_string());
        p.insert("threads".into(), threads.to_string());
        for (k, v) in frame.map(FramePlan::params).into_iter().flatten() {
            p.insert(k.into(), v);
        }
        p
    }
}

/// Loads every profile the policy names.
///
/// # Errors
/// See [`Profile::load`].
pub fn load_policy(cfg: &crate::config::Config) -> anyhow::Result<Vec<Profile>> {
    cfg.policy
        .all_profiles()
        .iter()
        .map(|name| Profile::load(&cfg.transcode.pipelines_dir, name, cfg.policy.params.get(name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_in_pipelines_loads_and_builds() {
        let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo test")).join("../pipelines");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("pipelines/ exists") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let name = path.file_stem().expect("stem").to_string_lossy().into_owned();
                let p = Profile::load(&dir, &name, None).unwrap_or_else(|e| panic!("{name}: {e:#}"));
                assert!(p.variant_for(&[StreamKind::Video, StreamKind::Audio]).is_some());
                n += 1;
            }
        }
        assert!(n >= 1, "no profiles found in {}", dir.display());
    }

    #[test]
    fn unknown_override_is_named() {
        let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo test")).join("../pipelines");
        let mut o = BTreeMap::new();
        o.insert("video_bitrate".to_string(), "1".to_string());
        let e = Profile::load(&dir, "access", Some(&o)).unwrap_err();
        assert!(format!("{e:#}").contains("policy.params.access.video_bitrate"), "{e:#}");
    }
}
