//! The access rendition by what the original is (`[policy.access]`): a body camera's H.264 + AAC
//! MP4 already plays in every browser and court player, so it serves as its own access rendition
//! and nothing is re-encoded; the same codecs in another container are remuxed into a faststart
//! MP4 (audio MP4 players cannot play is re-encoded to AAC alone); everything else is transcoded.
//! Pure: the decision is a function of the original's continuity report and the policy.

use evidence_contracts::report::{FileReport, StreamKind};
use serde::{Deserialize, Serialize};

/// What to do with a playable original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlayableOriginal {
    /// The original is the access rendition; no copy is made. Default.
    #[default]
    Serve,
    /// Make the access copy anyway (an agency that wants one uniform copy per recording).
    Copy,
}

/// `[policy.access]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessPolicy {
    /// The profile whose copy is the access rendition. Default `access`.
    pub profile: String,
    /// The profile that remuxes playable codecs from other containers. Default `access-remux`.
    pub remux_profile: String,
    /// `serve` (default) or `copy`.
    pub playable_original: PlayableOriginal,
    /// Containers (as the scan names them) whose files play as they are. Default `["mp4"]` (MP4
    /// and MOV).
    pub playable_containers: Vec<String>,
    /// Containers whose playable codecs are remuxed into MP4. Default MPEG-TS, MPEG-PS, Matroska,
    /// FLV. (Not AVI: GStreamer 1.22 gives its B-frame H.264 no presentation times to keep, so
    /// an AVI is transcoded.) A remux that does not verify picture for picture falls back to a
    /// transcode.
    pub remux_containers: Vec<String>,
    /// Video codecs players take as they are (the scan's codec names, with profile). Default
    /// H.264 constrained baseline, baseline, main and high: 8-bit 4:2:0 by definition of these
    /// profiles (High 10, 4:2:2 and 4:4:4 are other profiles and are transcoded).
    pub playable_video: Vec<String>,
    /// Audio codecs MP4 players take as they are. Default AAC and MPEG-1 audio (MP3).
    pub playable_audio: Vec<String>,
    /// Above this average bitrate (whole file, kbit/s) the original is not served or remuxed but
    /// transcoded to the access profile's bitrate. Default 20000.
    pub max_bitrate_kbps: u64,
    /// A playable MP4/MOV whose index is at the end (not faststart: a browser must fetch the end
    /// of the file before it plays) is remuxed into a faststart MP4 — packets copied, never
    /// re-encoded — instead of served as it is. Default false (browsers and court players play
    /// it with range requests).
    pub faststart_remux: bool,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self {
            profile: "access".into(),
            remux_profile: "access-remux".into(),
            playable_original: PlayableOriginal::Serve,
            playable_containers: vec!["mp4".into()],
            remux_containers: ["mpegts", "mpeg-ps", "matroska", "flv"].map(String::from).to_vec(),
            playable_video: ["constrained-baseline", "baseline", "main", "high"]
                .map(|p| format!("video/x-h264 ({p})"))
                .to_vec(),
            playable_audio: vec!["audio/aac".into(), "audio/mpeg v1".into()],
            max_bitrate_kbps: 20_000,
            faststart_remux: false,
        }
    }
}

/// What becomes of the audio in a remux.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audio {
    /// No audio stream.
    None,
    /// Copied as it is.
    Copy,
    /// Re-encoded to AAC alone; the source's caps name (e.g. `audio/x-alaw`) picks the branch.
    ToAac(String),
}

/// The access decision for one original, with the sentence recorded in the seal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The original is the access rendition.
    Original(String),
    /// Remux with the access-remux profile.
    Remux { why: String, audio: Audio },
    /// Transcode with the access profile.
    Transcode(String),
}

impl AccessPolicy {
    /// # Errors
    /// Names the offending key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.max_bitrate_kbps == 0 {
            anyhow::bail!("policy.access.max_bitrate_kbps must be above 0");
        }
        if self.profile == self.remux_profile {
            anyhow::bail!("policy.access.remux_profile must differ from policy.access.profile");
        }
        Ok(())
    }

    /// What the access rendition of `f` is.
    pub fn decide(&self, f: &FileReport) -> Decision {
        let video: Vec<&str> =
            f.streams.iter().filter(|s| s.kind == StreamKind::Video).map(|s| s.codec.as_str()).collect();
        let audio: Vec<&str> =
            f.streams.iter().filter(|s| s.kind == StreamKind::Audio).map(|s| s.codec.as_str()).collect();
        let kbps = if f.duration_s > 0.0 { (f.bytes as f64 * 8.0 / 1000.0 / f.duration_s).round() as u64 } else { 0 };
        let what = describe(&video, &audio, &f.container, kbps);
        let transcode = |why: String| Decision::Transcode(format!("{what}: {why}; transcoded to H.264 + AAC"));
        if !f.readable || !f.complete {
            return transcode("the original is damaged or cut short, so it is not served as it is".into());
        }
        let [v] = video.as_slice() else {
            return transcode(format!("{} video streams (one is needed to serve or remux)", video.len()));
        };
        if !self.playable_video.iter().any(|p| p == v) {
            return transcode(format!("{v} does not play in browsers and court players as it is"));
        }
        if audio.len() > 1 {
            return transcode(format!("{} audio streams (MP4 players play one)", audio.len()));
        }
        if kbps > self.max_bitrate_kbps {
            return transcode(format!(
                "{kbps} kbit/s is above policy.access.max_bitrate_kbps = {}",
                self.max_bitrate_kbps
            ));
        }
        let audio_ok = audio.iter().all(|a| self.playable_audio.iter().any(|p| p == a));
        if self.playable_containers.contains(&f.container) {
            if audio_ok && f.index_at_end && self.faststart_remux {
                let audio = if audio.is_empty() { Audio::None } else { Audio::Copy };
                return Decision::Remux {
                    why: format!(
                        "{what}: plays as it is but its index is at the end of the file; remuxed into a faststart \
                         MP4 (policy.access.faststart_remux), video and audio packets copied as they are"
                    ),
                    audio,
                };
            }
            if audio_ok {
                return match self.playable_original {
                    PlayableOriginal::Serve => Decision::Original(format!(
                        "{what}: plays as it is in browsers and court players; the original serves as the access \
                         rendition, nothing is re-encoded"
                    )),
                    PlayableOriginal::Copy => {
                        transcode("playable, but policy.access.playable_original = \"copy\"".into())
                    }
                };
            }
            // Playable video, audio that needs re-encoding: remux with AAC.
        } else if !self.remux_containers.contains(&f.container) {
            return transcode(format!("container {} is not one this policy remuxes", f.container));
        }
        let audio_plan = match audio.first() {
            None => Audio::None,
            Some(_) if audio_ok => Audio::Copy,
            Some(a) => Audio::ToAac(a.split(' ').next().unwrap_or(a).to_owned()),
        };
        let how = match &audio_plan {
            Audio::None | Audio::Copy => "video and audio packets copied as they are".to_owned(),
            Audio::ToAac(a) => format!("video packets copied as they are, {a} audio re-encoded to AAC"),
        };
        Decision::Remux { why: format!("{what}: remuxed into a faststart MP4, {how}"), audio: audio_plan }
    }
}

fn describe(video: &[&str], audio: &[&str], container: &str, kbps: u64) -> String {
    let mut s: Vec<&str> = video.to_vec();
    s.extend_from_slice(audio);
    let streams = if s.is_empty() { "no streams".to_owned() } else { s.join(" + ") };
    format!("{streams} in {container} at {kbps} kbit/s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use evidence_contracts::report::StreamReport;

    fn stream(kind: StreamKind, codec: &str) -> StreamReport {
        StreamReport {
            kind,
            codec: codec.into(),
            width: None,
            height: None,
            frames: 300,
            start_s: 0.0,
            end_s: 10.0,
            nominal_interval_s: 0.033,
        }
    }

    fn file(container: &str, kbps: u64, streams: Vec<StreamReport>) -> FileReport {
        FileReport {
            name: "x".into(),
            bytes: kbps * 1000 / 8 * 10,
            blake3: evidence_contracts::Blake3Digest([0; 32]),
            sha256: evidence_contracts::Sha256Digest([0; 32]),
            readable: true,
            complete: true,
            container: container.into(),
            recorded_start: None,
            duration_s: 10.0,
            streams,
            findings: Vec::new(),
            error: None,
            index_at_end: false,
        }
    }

    const H264: &str = "video/x-h264 (high)";

    #[test]
    fn a_body_camera_mp4_is_its_own_access_rendition() {
        let p = AccessPolicy::default();
        let f = file("mp4", 8000, vec![stream(StreamKind::Video, H264), stream(StreamKind::Audio, "audio/aac")]);
        let Decision::Original(why) = p.decide(&f) else { panic!("{:?}", p.decide(&f)) };
        assert!(why.contains("video/x-h264 (high) + audio/aac in mp4 at 8000 kbit/s"), "{why}");
        // Video only, or MP3, is just as playable.
        assert!(matches!(p.decide(&file("mp4", 2000, vec![stream(StreamKind::Video, H264)])), Decision::Original(_)));
        let mp3 = file("mp4", 2000, vec![stream(StreamKind::Video, H264), stream(StreamKind::Audio, "audio/mpeg v1")]);
        assert!(matches!(p.decide(&mp3), Decision::Original(_)));
        // An agency that wants a uniform copy gets one.
        let copy = AccessPolicy { playable_original: PlayableOriginal::Copy, ..AccessPolicy::default() };
        assert!(matches!(copy.decide(&f), Decision::Transcode(_)));
    }

    #[test]
    fn an_mp4_with_its_index_at_the_end_is_served_or_remuxed_by_the_setting_never_re_encoded() {
        let mut f = file("mp4", 8000, vec![stream(StreamKind::Video, H264), stream(StreamKind::Audio, "audio/aac")]);
        f.index_at_end = true;
        assert!(matches!(AccessPolicy::default().decide(&f), Decision::Original(_)), "served by default");
        let p = AccessPolicy { faststart_remux: true, ..AccessPolicy::default() };
        let Decision::Remux { why, audio } = p.decide(&f) else { panic!("{:?}", p.decide(&f)) };
        assert_eq!(audio, Audio::Copy);
        assert!(why.contains("index is at the end") && why.contains("faststart_remux"), "{why}");
        f.index_at_end = false;
        assert!(matches!(p.decide(&f), Decision::Original(_)), "a faststart MP4 is served whatever the setting");
    }

    #[test]
    fn playable_codecs_in_other_containers_are_remuxed_and_only_unplayable_audio_is_encoded() {
        let p = AccessPolicy::default();
        for c in ["mpegts", "mpeg-ps", "matroska", "flv"] {
            let f = file(c, 4000, vec![stream(StreamKind::Video, H264), stream(StreamKind::Audio, "audio/aac")]);
            assert_eq!(
                p.decide(&f),
                Decision::Remux {
                    why: format!(
                        "video/x-h264 (high) + audio/aac in {c} at 4000 kbit/s: remuxed into a faststart MP4, video and audio packets copied as they are"
                    ),
                    audio: Audio::Copy
                }
            );
        }
        for a in ["audio/x-alaw", "audio/x-mulaw", "audio/x-raw", "audio/x-opus"] {
            let f = file("matroska", 4000, vec![stream(StreamKind::Video, H264), stream(StreamKind::Audio, a)]);
            let Decision::Remux { audio, why } = p.decide(&f) else { panic!("{a}") };
            assert_eq!(audio, Audio::ToAac(a.into()));
            assert!(why.contains(&format!("{a} audio re-encoded to AAC")), "{why}");
        }
        // An MP4 with G.711 audio: the video is playable, the audio is not.
        let f = file("mp4", 4000, vec![stream(StreamKind::Video, H264), stream(StreamKind::Audio, "audio/x-mulaw")]);
        assert!(matches!(p.decide(&f), Decision::Remux { audio: Audio::ToAac(_), .. }));
        let v = file("mpegts", 4000, vec![stream(StreamKind::Video, H264)]);
        assert!(matches!(p.decide(&v), Decision::Remux { audio: Audio::None, .. }));
    }

    #[test]
    fn everything_else_is_transcoded_and_says_why() {
        let p = AccessPolicy::default();
        let cases = [
            (file("mp4", 4000, vec![stream(StreamKind::Video, "video/x-h265 (main)")]), "does not play"),
            (file("avi", 4000, vec![stream(StreamKind::Video, "image/jpeg")]), "does not play"),
            (file("mpeg-ps", 4000, vec![stream(StreamKind::Video, "video/mpeg")]), "does not play"),
            (file("mp4", 4000, vec![stream(StreamKind::Video, "video/x-h264 (high-10)")]), "does not play"),
            (file("mp4", 45_000, vec![stream(StreamKind::Video, H264)]), "above policy.access.max_bitrate_kbps"),
            (file("unknown", 4000, vec![stream(StreamKind::Video, H264)]), "not one this policy remuxes"),
            (file("avi", 4000, vec![stream(StreamKind::Video, H264)]), "not one this policy remuxes"),
            (file("mp4", 4000, vec![stream(StreamKind::Audio, "audio/aac")]), "0 video streams"),
        ];
        for (f, expect) in cases {
            let Decision::Transcode(why) = p.decide(&f) else { panic!("{expect}: {:?}", p.decide(&f)) };
            assert!(why.contains(expect) && why.ends_with("transcoded to H.264 + AAC"), "{why}");
        }
        let mut cut = file("mp4", 4000, vec![stream(StreamKind::Video, H264)]);
        cut.complete = false;
        assert!(matches!(p.decide(&cut), Decision::Transcode(_)), "a cut-short original is not served as it is");
    }
}
