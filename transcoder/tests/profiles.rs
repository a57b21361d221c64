//! Every profile on generated sources, through the real `transcoder transcode` binary, checked
//! with ffprobe/ffmpeg (independent of GStreamer) and with the continuity scan of the copy.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::Command;

use evidence_contracts::report::{FileReport, FindingKind, StreamKind};
use test_harness::media::{Container, HoleIn, Spec, mp4};

fn transcode(profile: &str, input: &Path, output: &Path) -> Result<FileReport, String> {
    transcode_with(profile, &[], input, output).map(|(r, _)| r)
}

/// Runs `transcoder transcode` with `--param` overrides; returns the copy's report and the whole
/// JSON result.
fn transcode_with(
    profile: &str,
    params: &[&str],
    input: &Path,
    output: &Path,
) -> Result<(FileReport, serde_json::Value), String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_transcoder"));
    cmd.args(["transcode", "--profile", profile, "--threads", "2"]);
    for p in params {
        cmd.args(["--param", p]);
    }
    let out = cmd.arg(input).arg(output).output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Ok((serde_json::from_value(v["copy"].clone()).unwrap(), v))
}

/// One ffprobe value per video stream line: `width,height,r_frame_rate,bit_rate`.
fn probe_video(path: &Path) -> (u32, u32, u64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,bit_rate",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let f: Vec<&str> = line.split(',').collect();
    (f[0].parse().unwrap(), f[1].parse().unwrap(), f.get(2).and_then(|b| b.parse().ok()).unwrap_or(0))
}

/// Container duration in seconds, from ffprobe.
fn probe_duration(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
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

#[test]
fn every_source_kind_gets_an_access_copy_with_all_its_frames() {
    // What body cameras, phones, fixed cameras and cheap recorders write.
    let kinds: [(&str, Spec); 6] = [
        ("mp4 h264", Spec { seconds: 2, bframes: 2, ..Default::default() }),
        ("mov h264", Spec { seconds: 2, container: Container::Mov, ..Default::default() }),
        ("ts h264", Spec { seconds: 2, container: Container::MpegTs, ..Default::default() }),
        ("fmp4 h264", Spec { seconds: 2, container: Container::Mp4Fragmented, ..Default::default() }),
        ("mp4 h265", Spec { seconds: 2, hevc: true, ..Default::default() }),
        ("avi mjpeg", Spec { seconds: 2, container: Container::AviMjpeg, ..Default::default() }),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (what, spec)) in kinds.iter().enumerate() {
        let src = dir.path().join(format!("src{i}.{}", if what.starts_with("ts") { "ts" } else { "bin" }));
        mp4(&src, spec).unwrap();
        let source_frames = ffprobe(&src).iter().find(|s| s.0 != "aac" && s.0 != "mp3").map(|s| s.2).unwrap();
        assert_eq!(source_frames, 60, "{what}: generated source");
        let out = dir.path().join(format!("access{i}.mp4"));
        let copy = transcode("access", &src, &out).unwrap_or_else(|e| panic!("{what}: {e}"));
        let streams = ffprobe(&out);
        let v = streams.iter().find(|s| s.0 == "h264").unwrap_or_else(|| panic!("{what}: {streams:?}"));
        assert_eq!((v.1.as_str(), v.2), ("High", source_frames), "{what}: every frame, H.264 High");
        assert!(streams.iter().any(|s| s.0 == "aac"), "{what}: {streams:?}");
        assert_eq!(probe_video(&out).0, 320, "{what}");
        assert!((probe_duration(&out) - 2.0).abs() < 0.1, "{what}: {} s", probe_duration(&out));
        assert!(copy.findings.iter().all(|f| f.kind != FindingKind::Gap), "{what}: {:#?}", copy.findings);
    }
}

#[test]
fn odd_frame_sizes_get_a_border_in_the_access_copy_and_stay_exact_in_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("odd.avi");
    mp4(&src, &Spec { seconds: 2, width: 321, height: 241, container: Container::AviMjpeg, ..Default::default() })
        .unwrap();
    let out = dir.path().join("access.mp4");
    let (_, result) = transcode_with("access", &[], &src, &out).unwrap();
    let (w, h, _) = probe_video(&out);
    assert_eq!((w, h), (322, 242), "padded to even, never cropped");
    let note = result["frames"].as_str().unwrap();
    assert!(note.contains("321x241") && note.contains("322x242") && note.contains("nothing cropped"), "{note}");
    let master = dir.path().join("master.mkv");
    transcode("preservation", &src, &master).unwrap();
    let (w, h, _) = probe_video(&master);
    assert_eq!((w, h), (321, 241), "the master keeps the exact size");
    assert_eq!(framemd5(&src), framemd5(&master), "and every pixel");
}

#[test]
fn frames_above_the_size_cap_are_scaled_to_fit_and_the_bitrate_stays_under_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.mp4");
    mp4(&src, &Spec { seconds: 4, width: 1280, height: 720, ..Default::default() }).unwrap();
    let out = dir.path().join("small.mp4");
    let (_, result) = transcode_with(
        "access",
        &["max_width=640", "max_height=640", "video_bitrate_kbps=300", "vbv_buffer_ms=500"],
        &src,
        &out,
    )
    .unwrap();
    let (w, h, bitrate) = probe_video(&out);
    assert_eq!((w, h), (640, 360), "fits 640x640, 16:9 kept");
    assert!(result["frames"].as_str().unwrap().contains("scaled from 1280x720 to 640x360"), "{result}");
    assert!(bitrate > 0 && bitrate <= 300_000 * 11 / 10, "video bitrate {bitrate} b/s over the 300 kb/s cap");
    // A bad override is named, not ignored.
    let err = transcode_with("access", &["max_width=wide"], &src, &dir.path().join("x.mp4")).unwrap_err();
    assert!(err.contains("max_width") && err.contains("wide"), "{err}");
}

#[test]
fn a_variable_frame_rate_source_keeps_its_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("vfr.mp4");
    mp4(&src, &Spec { seconds: 3, jitter_ms: 20, ..Default::default() }).unwrap();
    let source = source_report(&src);
    let out = dir.path().join("vfr-access.mp4");
    let copy = transcode("access", &src, &out).unwrap();
    let frames = |r: &FileReport| r.streams.iter().find(|s| s.kind == StreamKind::Video).unwrap().frames;
    assert_eq!(frames(&copy), frames(&source), "no frame dropped or duplicated to make the rate constant");
    assert_eq!(ffprobe(&out).iter().find(|s| s.0 == "h264").unwrap().2, 90);
    // Frame times: each copy frame within 1 ms of its source frame.
    let pts = |p: &Path| -> Vec<f64> {
        let o = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0"])
            .arg(p)
            .output()
            .unwrap();
        let mut v: Vec<f64> =
            String::from_utf8_lossy(&o.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect();
        v.sort_by(f64::total_cmp);
        let t0 = v[0];
        v.iter().map(|t| t - t0).collect()
    };
    let (a, b) = (pts(&src), pts(&out));
    assert_eq!(a.len(), b.len());
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(worst < 0.002, "a frame moved by {worst} s");
    let jitter = a.windows(2).map(|w| w[1] - w[0]).fold((f64::MAX, 0.0f64), |(lo, hi), d| (lo.min(d), hi.max(d)));
    assert!(jitter.1 - jitter.0 > 0.01, "the source is not variable-rate: {jitter:?}");
}
