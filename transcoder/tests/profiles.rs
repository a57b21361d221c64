//! Every profile on generated sources, through the real `transcoder transcode` binary, checked
//! with ffprobe/ffmpeg (independent of GStreamer) and with the continuity scan of the copy.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::Command;

use evidence_contracts::report::{FileReport, FindingKind, StreamKind};
use test_harness::media::{Container, HoleIn, Spec, mp4};

fn transcode(profile: &str, input: &Path, output: &Path) -> Result<FileReport, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_transcoder"))
        .args(["transcode", "--profile", profile, "--threads", "2"])
        .arg(input)
        .arg(output)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Ok(serde_json::from_value(v["copy"].clone()).unwrap())
}

/// `(codec_name, profile, frames)` per stream, from ffprobe.
fn ffprobe(path: &Path) -> Vec<(String, String, u64)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,profile,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_owned(),
                f.get(1).copied().unwrap_or("").to_owned(),
                f.last().and_then(|n| n.parse().ok()).unwrap_or(0),
            )
        })
        .collect()
}

fn framemd5(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap_or("").trim().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn access_copy_is_h264_high_and_aac_with_every_frame_and_the_hole_kept() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mp4");
    mp4(&src, &Spec { seconds: 4, bframes: 2, hole: Some((1.5, 1.0)), ..Default::default() }).unwrap();
    let out = dir.path().join("access.mp4");
    let copy = transcode("access", &src, &out).unwrap();
    let streams = ffprobe(&out);
    assert_eq!(streams.len(), 2, "{streams:?}");
    let v = streams.iter().find(|s| s.0 == "h264").unwrap();
    assert_eq!(v.1, "High");
    assert_eq!(v.2, 120, "every source frame is in the copy, none duplicated into the hole");
    assert!(streams.iter().any(|s| s.0 == "aac"));
    // Every gap the scan finds in the source is in the copy, same stream, place and size.
    let source = source_report(&src);
    let source_gaps: Vec<_> = source.findings.iter().filter(|f| f.kind == FindingKind::Gap).collect();
    assert_eq!(source_gaps.len(), 2, "{:#?}", source.findings);
    for g in source_gaps {
        assert!(
            copy.findings.iter().any(|c| c.kind == FindingKind::Gap
                && c.stream == g.stream
                && (c.at_s - g.at_s).abs() < 0.1
                && (c.duration_s - g.duration_s).abs() < 0.1),
            "source gap {g:?} missing from the copy: {:#?}",
            copy.findings
        );
    }
    // The index is at the front (faststart): 'moov' comes before 'mdat'.
    let bytes = std::fs::read(&out).unwrap();
    let pos = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
    assert!(pos(b"moov") < pos(b"mdat"));
}

#[test]
fn preservation_of_mjpeg_avi_is_lossless_ffv1_and_flac_in_matroska() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("cheap.avi");
    mp4(&src, &Spec { seconds: 3, container: Container::AviMjpeg, ..Default::default() }).unwrap();
    let out = dir.path().join("master.mkv");
    let copy = transcode("preservation", &src, &out).unwrap();
    assert_eq!(copy.container, "matroska");
    let streams = ffprobe(&out);
    assert!(streams.iter().any(|s| s.0 == "ffv1" && s.2 == 90), "{streams:?}");
    assert!(streams.iter().any(|s| s.0 == "flac"), "{streams:?}");
    // Lossless: every decoded frame is bit-identical to the source's, as ffmpeg decodes both.
    let (a, b) = (framemd5(&src), framemd5(&out));
    assert_eq!(a.lines().count(), 90);
    assert_eq!(a, b, "preservation copy is not lossless");
}

fn source_report(path: &Path) -> FileReport {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let scan = rt
        .block_on(gst_support::scan::demux_scan(path, &Default::default(), std::time::Duration::from_secs(30)))
        .unwrap();
    let z = (evidence_contracts::Blake3Digest([0; 32]), evidence_contracts::Sha256Digest([0; 32]));
    gst_support::continuity::file_report("src", 0, z.0, z.1, &scan, gst_support::continuity::DEFAULT_TOLERANCE_NS)
}

#[test]
fn preservation_keeps_an_audio_only_hole() {
    // (AVI cannot hold an audio hole at all: its audio has no timestamps. MP4 can.)
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mp4");
    mp4(&src, &Spec { seconds: 4, hole: Some((2.0, 1.0)), hole_in: HoleIn::AudioOnly, ..Default::default() }).unwrap();
    let copy = transcode("preservation", &src, &dir.path().join("m.mkv")).unwrap();
    let g = copy.findings.iter().find(|f| f.kind == FindingKind::Gap).unwrap_or_else(|| panic!("{:#?}", copy.findings));
    assert_eq!(g.stream, Some(StreamKind::Audio));
    assert!((g.at_s - 2.0).abs() < 0.2 && (g.duration_s - 1.0).abs() < 0.2, "{g:?}");
}

#[test]
fn video_only_and_audio_only_sources_get_their_variant() {
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join("v.mp4");
    mp4(&v, &Spec { seconds: 2, audio: false, ..Default::default() }).unwrap();
    let copy = transcode("access", &v, &dir.path().join("v-access.mp4")).unwrap();
    assert_eq!(copy.streams.iter().map(|s| s.kind).collect::<Vec<_>>(), [StreamKind::Video]);
    assert_eq!(ffprobe(&dir.path().join("v-access.mp4")).len(), 1);
}

#[test]
fn an_unreadable_source_gets_no_copy_and_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.mp4");
    std::fs::write(&junk, (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8).collect::<Vec<_>>())
        .unwrap();
    let out = dir.path().join("never.mp4");
    let err = transcode("access", &junk, &out).unwrap_err();
    assert!(err.contains("cannot be demuxed") && err.contains("sealed as it is"), "{err}");
    assert!(!out.exists());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".part"))
    );
}
