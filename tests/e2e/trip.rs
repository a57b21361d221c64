//! The trip is I/O-bound: a 1 GB body-camera MP4 (H.264 High + AAC at 16 Mbit/s, playable) pushed
//! through the pipeline on its default policy is sealed as its own access rendition (no copy,
//! nothing re-encoded), and the sealer reads it once — the S3 body bytes it received
//! (`evidence_sealer_s3_received_bytes_total`, counted where the HTTP body is pulled) are one
//! original's worth, and the kernel counts (`rchar` of `/proc/<pid>/io`) almost no file reads: no
//! spool copy read back — with its peak memory under 128 MiB.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use evidence_contracts::seal::{AccessOf, ObjectRole};

use crate::support::{Pipeline, http_get};

fn received(addr: &str) -> u64 {
    let (code, body) = http_get(addr, "/metrics").unwrap();
    assert_eq!(code, 200, "{body}");
    body.lines()
        .find_map(|l| l.strip_prefix("evidence_sealer_s3_received_bytes_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no evidence_sealer_s3_received_bytes_total in:\n{body}"))
}

/// At least `bytes` of a body camera's MP4: a 20 s 720p30 clip (noise keeps x264 at its 16 Mbit/s)
/// concatenated by stream copy into one valid MP4.
fn body_camera_mp4(dir: &Path, out: &Path, bytes: u64) {
    let clip = dir.join("clip.mp4");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=20"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=20"])
        .args(["-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "high"])
        .args(["-pix_fmt", "yuv420p", "-b:v", "16M", "-maxrate", "16M", "-bufsize", "16M", "-g", "60"])
        .args(["-c:a", "aac", "-b:a", "128k"])
        .arg(&clip)
        .status()
        .expect("ffmpeg");
    assert!(st.success(), "ffmpeg could not make the clip");
    let n = bytes / std::fs::metadata(&clip).unwrap().len() + 1;
    let list = dir.join("clips.txt");
    std::fs::write(&list, format!("file '{}'\n", clip.display()).repeat(usize::try_from(n).unwrap())).unwrap();
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "concat", "-safe", "0", "-i"])
        .arg(&list)
        .args(["-c", "copy"])
        .arg(out)
        .status()
        .expect("ffmpeg");
    assert!(st.success(), "ffmpeg could not concatenate the clips");
    std::fs::remove_file(&clip).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_gb_body_camera_recording_is_read_once_by_the_sealer_in_flat_memory() {
    let mut p = Pipeline::new().expect("servers start");
    p.serve_playable_originals().expect("default access policy");
    p.start_all().expect("workers start");
    let rec = p.dir.path().join("OF7_20261128100000_0001.MP4");
    body_camera_mp4(p.dir.path(), &rec, 1 << 30);
    let size = std::fs::metadata(&rec).unwrap().len();
    assert!(size >= 1 << 30, "{size} bytes");

    let sealer = p.workers.iter().position(|w| w.name == "sealer").unwrap();
    let addr = p.workers[sealer].metrics_addr().unwrap();
    let (files_before, s3_before) = (p.workers[sealer].bytes_read().unwrap(), received(&addr));
    let out = p.push("CAM-TRIP", &[&rec]).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ev = p.sealed(1, Duration::from_secs(900)).await.unwrap().remove(0);
    let files = p.workers[sealer].bytes_read().unwrap() - files_before;
    let read = received(&addr) - s3_before;
    let peak = p.workers[sealer].peak_rss().unwrap();

    let original = ev.objects.iter().find(|o| o.role == ObjectRole::Original).unwrap();
    assert_eq!(original.size_bytes, size);
    let access = ev.access.as_ref().expect("the event names the access rendition");
    assert_eq!(access.of, AccessOf::Original, "a playable body-camera MP4 serves as itself: {ev:#?}");
    assert_eq!(access.key, original.key);
    assert!(!ev.objects.iter().any(|o| o.role == ObjectRole::Derivative), "no copy: {:#?}", ev.objects);
    #[allow(clippy::cast_precision_loss)]
    let times = read as f64 / size as f64;
    eprintln!(
        "sealer received {read} bytes from S3 for a {size}-byte original ({times:.3}x), read {files} bytes of files, peak RSS {} MiB",
        peak >> 20
    );
    assert!(read >= size, "the sealer must have received the original to hash it: {read} < {size}");
    assert!(times < 1.02, "the sealer read the original more than once: {read} bytes = {times:.2}x its size");
    assert!(files < size / 100, "the sealer read {files} bytes of local files: a spool copy read back?");
    assert!(peak < 128 << 20, "sealer peak RSS {} MiB, goal < 128 MiB", peak >> 20);
    p.assert_no_unexpected_errors(&[]);
}
