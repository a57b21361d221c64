//! Continuity on every container an agency receives, on recordings ffmpeg makes here: for each
//! of MP4, MOV, fragmented MP4, Matroska, WebM, MPEG-TS, MPEG-PS, AVI and FLV a clean file with
//! B-frames, a hole in both streams, an audio-only dropout, a step back and a file cut short.
//! Every finding is asserted with kind, stream, position and size; clean files have none.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use evidence_contracts::report::{FileReport, Finding, FindingKind, StreamKind};
use evidence_contracts::{Blake3Digest, Sha256Digest};
use gst_support::continuity::{DEFAULT_TOLERANCE_NS, file_report};
use gst_support::scan::demux_scan;
use tokio_util::sync::CancellationToken;

const SECONDS: u32 = 12;

#[derive(Clone, Copy)]
struct Family {
    ext: &'static str,
    args: &'static [&'static str],
    /// The container carries times per frame (everything but AVI): a step back is visible.
    timed: bool,
    /// The index is at the end: a cut file has none and cannot be demuxed.
    index_at_end: bool,
}

const H264: &[&str] = &["-c:v", "libx264", "-preset", "ultrafast", "-bf", "3", "-g", "30"];

fn families() -> Vec<Family> {
    let f = |ext, args, timed, index_at_end| Family { ext, args, timed, index_at_end };
    vec![
        f("mp4", &["-c:a", "aac", "-f", "mp4"], true, true),
        f("mov", &["-c:a", "aac", "-f", "mov"], true, true),
        f(
            "fmp4.mp4",
            &["-c:a", "aac", "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4"],
            true,
            false,
        ),
        f("mkv", &["-c:a", "aac", "-f", "matroska"], true, false),
        f("webm", &["-c:a", "libopus", "-f", "webm"], true, false),
        f("ts", &["-c:a", "aac", "-f", "mpegts"], true, false),
        f("mpg", &["-c:a", "mp2", "-f", "vob"], true, false),
        f("avi", &["-c:a", "libmp3lame", "-f", "avi"], false, false),
        f("flv", &["-c:a", "aac", "-f", "flv"], true, false),
    ]
}

/// ffmpeg's generated test card and tone, `SECONDS` long, with filters, into `out`.
fn make(fam: &Family, out: &Path, vf: Option<&str>, af: Option<&str>) {
    let mut c = Command::new("ffmpeg");
    c.args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi"]);
    c.args(["-i", "sine=frequency=440:sample_rate=48000", "-t", &SECONDS.to_string(), "-fps_mode", "passthrough"]);
    if let Some(vf) = vf {
        c.args(["-vf", vf]);
    }
    if let Some(af) = af {
        c.args(["-af", af]);
    }
    if fam.ext == "webm" {
        c.args(["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"]);
    } else {
        c.args(H264);
    }
    c.args(fam.args).arg(out);
    let o = c.output().expect("ffmpeg runs (scripts/setup installs it)");
    assert!(o.status.success(), "ffmpeg for {}: {}", out.display(), String::from_utf8_lossy(&o.stderr));
}

async fn report(path: &Path) -> FileReport {
    let scan = demux_scan(path, &CancellationToken::new(), Duration::from_secs(30)).await.expect("scan runs");
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    file_report("f", len, Blake3Digest([0; 32]), Sha256Digest([0; 32]), &scan, DEFAULT_TOLERANCE_NS)
}

fn find(r: &FileReport, kind: FindingKind, stream: Option<StreamKind>) -> Vec<&Finding> {
    r.findings.iter().filter(|f| f.kind == kind && f.stream == stream).collect()
}

/// Exactly one finding of `kind` on `stream`, at `at` s of `size` s (± 0.1 s).
fn one(name: &str, r: &FileReport, kind: FindingKind, stream: StreamKind, at: f64, size: f64) {
    let f = find(r, kind, Some(stream));
    assert_eq!(f.len(), 1, "{name}: one {kind:?} in {stream:?} expected: {:#?}", r.findings);
    assert!((f[0].at_s - at).abs() < 0.1, "{name}: {kind:?} {stream:?} at {} (expected {at})", f[0].at_s);
    assert!(
        (f[0].duration_s - size).abs() < 0.1,
        "{name}: {kind:?} {stream:?} of {} s (expected {size})",
        f[0].duration_s
    );
}

fn path(dir: &Path, what: &str, fam: &Family) -> PathBuf {
    dir.join(format!("{what}.{}", fam.ext))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_container_clean_with_b_frames_has_no_findings() {
    let dir = tempfile::tempdir().unwrap();
    for fam in families() {
        let p = path(dir.path(), "clean", &fam);
        make(&fam, &p, None, None);
        let r = report(&p).await;
        assert!(r.readable && r.complete, "{}: {r:#?}", fam.ext);
        assert!(r.findings.is_empty(), "{}: a clean file has no finding: {:#?}", fam.ext, r.findings);
        assert!((r.duration_s - f64::from(SECONDS)).abs() < 0.2, "{}: duration {}", fam.ext, r.duration_s);
        for kind in [StreamKind::Video, StreamKind::Audio] {
            assert!(r.streams.iter().any(|s| s.kind == kind), "{}: no {kind:?} stream: {:#?}", fam.ext, r.streams);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_container_a_hole_in_both_streams_is_found_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    for fam in families() {
        let p = path(dir.path(), "hole", &fam);
        make(&fam, &p, Some("select='not(between(t,5,8))'"), Some("aselect='not(between(t,5,8))'"));
        let r = report(&p).await;
        let name = format!("hole.{}", fam.ext);
        one(&name, &r, FindingKind::Gap, StreamKind::Video, 5.0, 3.0);
        one(&name, &r, FindingKind::Gap, StreamKind::Audio, 5.0, 3.0);
        assert_eq!(r.findings.len(), 2, "{name}: {:#?}", r.findings);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_container_an_audio_only_dropout_is_found_in_audio_only() {
    let dir = tempfile::tempdir().unwrap();
    for fam in families() {
        let p = path(dir.path(), "adrop", &fam);
        make(&fam, &p, None, Some("aselect='not(between(t,3,4))'"));
        let r = report(&p).await;
        let name = format!("adrop.{}", fam.ext);
        one(&name, &r, FindingKind::Gap, StreamKind::Audio, 3.0, 1.0);
        assert_eq!(r.findings.len(), 1, "{name}: {:#?}", r.findings);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_timed_container_a_step_back_is_found_with_its_size() {
    let dir = tempfile::tempdir().unwrap();
    for fam in families() {
        let p = path(dir.path(), "back", &fam);
        make(&fam, &p, Some("setpts='if(gte(T,5),PTS-2/TB,PTS)'"), Some("asetpts='if(gte(T,5),PTS-2*SR,PTS)'"));
        let r = report(&p).await;
        let name = format!("back.{}", fam.ext);
        if !fam.timed {
            // AVI carries no times: frames the encoder got with earlier times are stored in order,
            // indistinguishable from new footage. Nothing can be claimed, and nothing is.
            assert!(find(&r, FindingKind::Backwards, Some(StreamKind::Video)).is_empty(), "{name}: {:#?}", r.findings);
            continue;
        }
        // ffmpeg clamps times that go back: 2 s of frames stamped at 5 s.
        for kind in [StreamKind::Video, StreamKind::Audio] {
            let b = find(&r, FindingKind::Backwards, Some(kind));
            assert_eq!(b.len(), 1, "{name}: one step back in {kind:?}: {:#?}", r.findings);
            assert!((b[0].at_s - 5.0).abs() < 0.15, "{name}: {kind:?} step back at {}", b[0].at_s);
            assert!((b[0].duration_s - 2.0).abs() < 0.15, "{name}: {kind:?} step back of {}", b[0].duration_s);
        }
        assert!(r.findings.iter().all(|f| f.kind == FindingKind::Backwards), "{name}: {:#?}", r.findings);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_container_cut_short_is_truncated_or_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    for fam in families() {
        let p = path(dir.path(), "whole", &fam);
        make(&fam, &p, None, None);
        let data = std::fs::read(&p).unwrap();
        // Cut mid-structure: 60 % of the bytes, plus an odd offset so no packet ends there.
        let cut = dir.path().join(format!("cut.{}", fam.ext));
        std::fs::write(&cut, &data[..data.len() * 6 / 10 + 77]).unwrap();
        let r = report(&cut).await;
        let name = format!("cut.{}", fam.ext);
        if fam.index_at_end {
            assert!(!r.readable, "{name}: without its index the file cannot be demuxed: {r:#?}");
            continue;
        }
        assert!(!r.complete, "{name}: {r:#?}");
        let t = find(&r, FindingKind::Truncated, None);
        assert_eq!(t.len(), 1, "{name}: {:#?}", r.findings);
        assert!(t[0].detail.contains("short"), "{name}: the detail names the structure cut short: {}", t[0].detail);
        assert!((t[0].at_s - r.duration_s).abs() < 0.001, "{name}: {:?}", t[0]);
        assert!(r.duration_s > 5.0 && r.duration_s < 9.0, "{name}: data ends at {}", r.duration_s);
        assert!(r.findings.iter().all(|f| f.kind == FindingKind::Truncated), "{name}: {:#?}", r.findings);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faststart_mp4_whose_mdat_runs_past_the_end_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let fam = Family {
        ext: "mp4",
        args: &["-c:a", "aac", "-movflags", "+faststart", "-f", "mp4"],
        timed: true,
        index_at_end: false,
    };
    let p = path(dir.path(), "fs", &fam);
    make(&fam, &p, None, None);
    let data = std::fs::read(&p).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &data[..data.len() * 7 / 10]).unwrap();
    let r = report(&cut).await;
    let t = find(&r, FindingKind::Truncated, None);
    assert_eq!(t.len(), 1, "{:#?}", r.findings);
    assert!(t[0].detail.contains("'mdat' box"), "{}", t[0].detail);
    let missing = data.len() - data.len() * 7 / 10;
    assert!(t[0].detail.contains(&format!("{missing} bytes short")), "{}", t[0].detail);
    assert!((t[0].at_s + t[0].duration_s - f64::from(SECONDS)).abs() < 0.2, "{:?}", t[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mpeg_ts_across_the_33_bit_wrap_and_joined_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let fam = Family { ext: "ts", args: &["-c:a", "aac", "-f", "mpegts"], timed: true, index_at_end: false };
    // Start 5 s before the 90 kHz clock wraps (2^33 ticks); a 3 s hole at 5 s.
    let wrap = (1u64 << 33) as f64 / 90_000.0;
    let offset = format!("{:.3}", wrap - 5.0);
    let p = dir.path().join("wrap.ts");
    let mut c = Command::new("ffmpeg");
    c.args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi"]);
    c.args(["-i", "sine=frequency=440:sample_rate=48000", "-t", "12", "-fps_mode", "passthrough"]);
    c.args(["-vf", "select='not(between(t,5,8))'", "-af", "aselect='not(between(t,5,8))'"]);
    c.args(H264).args(fam.args).args(["-output_ts_offset", &offset]).arg(&p);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = report(&p).await;
    one("wrap.ts", &r, FindingKind::Gap, StreamKind::Video, 5.0, 3.0);
    one("wrap.ts", &r, FindingKind::Gap, StreamKind::Audio, 5.0, 3.0);
    assert_eq!(r.findings.len(), 2, "{:#?}", r.findings);
    assert!((r.duration_s - 12.0).abs() < 0.2, "the wrap is no time: {}", r.duration_s);

    // Two recordings joined byte for byte: the clock goes back to the start.
    let a = dir.path().join("a.ts");
    make(&fam, &a, None, None);
    let joined = dir.path().join("joined.ts");
    let mut bytes = std::fs::read(&a).unwrap();
    bytes.extend(std::fs::read(&a).unwrap());
    std::fs::write(&joined, bytes).unwrap();
    let r = report(&joined).await;
    for kind in [StreamKind::Video, StreamKind::Audio] {
        let b = find(&r, FindingKind::Backwards, Some(kind));
        assert_eq!(b.len(), 1, "{kind:?}: {:#?}", r.findings);
        assert!((b[0].at_s - 12.0).abs() < 0.15 && (b[0].duration_s - 12.0).abs() < 0.15, "{:?}", b[0]);
    }
    assert!(r.complete, "the pieces are whole: {:#?}", r.findings);
}

async fn decoded(path: &Path) -> FileReport {
    let cancel = CancellationToken::new();
    let scan = demux_scan(path, &cancel, Duration::from_secs(30)).await.expect("scan runs");
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut r = file_report("f", len, Blake3Digest([0; 32]), Sha256Digest([0; 32]), &scan, DEFAULT_TOLERANCE_NS);
    let dec = gst_support::decode::decode_scan(path, &cancel, Duration::from_secs(30)).await.expect("decode runs");
    gst_support::continuity::add_decode_findings(&mut r, &scan, &dec);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decoding_check_finds_damaged_frames_and_nothing_in_clean_files() {
    let dir = tempfile::tempdir().unwrap();
    for fam in families() {
        let p = path(dir.path(), "clean", &fam);
        make(&fam, &p, None, None);
        let r = decoded(&p).await;
        assert!(r.findings.is_empty(), "{}: a clean file decodes whole: {:#?}", fam.ext, r.findings);
    }
    // Damage inside the media data, the container intact: 4 KB of noise at 40 % of `mdat`.
    let fam = families()[0];
    let p = path(dir.path(), "whole", &fam);
    make(&fam, &p, None, None);
    let mut data = std::fs::read(&p).unwrap();
    let mdat = data.windows(4).position(|w| w == b"mdat").unwrap();
    let size = u32::from_be_bytes([data[mdat - 4], data[mdat - 3], data[mdat - 2], data[mdat - 1]]) as usize;
    let at = mdat + 4 + size * 4 / 10;
    let mut x = 0x9e37_79b9u32;
    for b in &mut data[at..at + 4096] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let bad = dir.path().join("damaged.mp4");
    std::fs::write(&bad, &data).unwrap();
    let plain = report(&bad).await;
    assert!(plain.findings.is_empty(), "demuxing alone cannot see it: {:#?}", plain.findings);
    let r = decoded(&bad).await;
    let d = find(&r, FindingKind::DecodeError, Some(StreamKind::Video));
    assert!(!d.is_empty(), "{:#?}", r.findings);
    for f in &d {
        // Bytes at 40 % of the media data are about 40 % into the recording.
        assert!((f.at_s - 0.4 * f64::from(SECONDS)).abs() < 2.0, "{f:?}");
        assert!(f.duration_s > 0.0 && f.detail.contains("do not decode"), "{f:?}");
    }
    assert!(r.findings.iter().all(|f| f.kind == FindingKind::DecodeError), "{:#?}", r.findings);
}
