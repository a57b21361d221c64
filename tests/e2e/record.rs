//! A fixed camera over RTSP (`recorder`) against a live RTSP server started by the
//! test, with a camera outage in the middle: every segment is sealed, and the outage is one
//! `gap_between_files` finding whose length matches the time the camera was down.

use std::time::{Duration, Instant};

use evidence_contracts::report::{ScanReportV1, SessionFindingKind, StreamKind};
use evidence_contracts::seal::ObjectRole;
use test_harness::{Worker, workspace_bin};

use crate::support::Pipeline;

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub(crate) fn camera(port: u16) -> Worker {
    camera_with(port, &[])
}

/// [`camera`] with extra arguments (e.g. `--audio aac`).
pub(crate) fn camera_with(port: u16, extra: &[&str]) -> Worker {
    let bin = workspace_bin("rtsp-test-server").expect("rtsp-test-server binary (cargo build --workspace --bins)");
    let port = port.to_string();
    let mut args = vec!["--port", port.as_str()];
    args.extend_from_slice(extra);
    let mut w = Worker::spawn("camera", &bin, &args, &[]).expect("spawn camera");
    w.wait_for_line("ready", Duration::from_secs(20)).expect("camera ready");
    w
}

/// `recorder` on the test camera at `port`: 2 s segments, quick reconnects.
pub(crate) fn spawn_recorder(p: &Pipeline, port: u16, spool: &std::path::Path) -> Worker {
    spawn_recorder_with(p, port, spool, &[])
}

/// [`spawn_recorder`] with extra arguments (e.g. `--duration`).
pub(crate) fn spawn_recorder_with(p: &Pipeline, port: u16, spool: &std::path::Path, extra: &[&str]) -> Worker {
    let cfg = p.config_path("station").display().to_string();
    let url = format!("rtsp://127.0.0.1:{port}/cam");
    let spool_s = spool.display().to_string();
    let bin = workspace_bin("recorder").expect("recorder binary");
    let mut args = vec![
        "--config",
        &cfg,
        "--url",
        &url,
        "--camera",
        "ROOM-101",
        "--station",
        "REC-01",
        "--officer",
        "0123456",
        "--segment",
        "2s",
        "--spool",
        &spool_s,
        "--latency-ms",
        "100",
        "--stall",
        "2s",
        "--reconnect-min",
        "300ms",
        "--reconnect-max",
        "1s",
    ];
    args.extend_from_slice(extra);
    Worker::spawn("recorder", &bin, &args, &[]).expect("spawn recorder")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtsp_segments_are_sealed_and_an_outage_is_a_gap_of_its_length() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let port = free_port();
    let mut cam = camera(port);
    let spool = p.dir.path().join("recorder");
    let mut rec = spawn_recorder(&p, port, &spool);
    rec.wait_for_line("segment handed on", Duration::from_secs(60)).expect("first segment");
    std::thread::sleep(Duration::from_secs(3));

    // The camera goes down for about four seconds.
    cam.kill9();
    let down = Instant::now();
    rec.wait_for_line("camera stream lost", Duration::from_secs(20)).expect("outage noticed");
    std::thread::sleep(Duration::from_secs(4).saturating_sub(down.elapsed()));
    let mut cam = camera(port);
    let outage = down.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(6));
    let code = rec.terminate(Duration::from_secs(30)).expect("recorder stops");
    let log = rec.log_text();
    assert_eq!(code, Some(0), "recorder exit\n{log}");
    cam.kill9();

    let handed = log.lines().filter(|l| l.contains("segment handed on")).count();
    assert!(handed >= 5, "segments handed on: {handed}\n{log}");
    let sealed = p.sealed(handed, Duration::from_secs(240)).await.expect("sealed");
    assert_eq!(sealed.len(), handed, "every segment sealed once");

    let store = p.store().await.expect("store");
    let mut gaps = Vec::new();
    for ev in &sealed {
        assert_eq!(ev.device_id.as_str(), "ROOM-101");
        assert_eq!(ev.station_id.as_str(), "REC-01");
        assert!(ev.readable, "{} unreadable\n{log}", ev.file_name);
        let rep = ev.objects.iter().find(|o| o.role == ObjectRole::ContinuityReport).expect("report object");
        let rep: ScanReportV1 =
            serde_json::from_slice(&store.get_bytes(&ev.bucket, &rep.key, 1 << 20).await.expect("report"))
                .expect("report json");
        for f in &rep.findings {
            assert_eq!(f.kind, SessionFindingKind::GapBetweenFiles, "{f:?}");
            assert_eq!(f.before, ev.file_name);
            gaps.push(f.duration_s);
        }
    }
    assert_eq!(gaps.len(), 1, "exactly one hole (the outage): {gaps:?}\n{log}");
    // The hole runs from the last frame before the camera died to the first frame after it came
    // back: at least the time it was down (less the jitter buffer), at most that plus the
    // reconnect delay and the stream set-up.
    let gap = gaps[0];
    eprintln!("outage {outage:.2} s → gap between segments {gap:.2} s");
    assert!(gap >= outage - 0.5 && gap <= outage + 3.5, "gap {gap:.2} s for an outage of {outage:.2} s");

    // The recorder deleted what was sealed (default) — none of the segments is lost on the way.
    let left: Vec<_> = std::fs::read_dir(spool.join("ROOM-101"))
        .expect("spool")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "mp4"))
        .collect();
    assert!(left.len() <= handed, "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_session_end_starts_a_new_session_and_reports_no_hole() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let port = free_port();
    let mut cam = camera(port);
    let spool = p.dir.path().join("recorder");
    let mut handed = 0;
    let mut logs = String::new();
    for run in 0..2 {
        let mut rec = spawn_recorder_with(&p, port, &spool, &["--duration", "5s"]);
        let status = rec.wait_exit(Duration::from_secs(60)).expect("recorder ends after --duration");
        let log = rec.log_text();
        assert!(status.success(), "run {run}: {status}\n{log}");
        assert!(log.contains("session closed as planned"), "run {run}\n{log}");
        // A planned end hands on every segment the muxer opened, the last one included.
        assert!(!log.contains("left by an interrupted recorder"), "run {run}\n{log}");
        handed += log.lines().filter(|l| l.contains("segment handed on")).count();
        logs.push_str(&log);
        // Three seconds between the two planned sessions: not a hole in either.
        std::thread::sleep(Duration::from_secs(3));
    }
    cam.kill9();
    assert!(handed >= 2, "segments handed on: {handed}\n{logs}");
    let sealed = p.sealed(handed, Duration::from_secs(180)).await.expect("sealed");
    assert_eq!(sealed.len(), handed, "every segment sealed once");
    let store = p.store().await.expect("store");
    let mut sessions = std::collections::BTreeSet::new();
    for ev in &sealed {
        sessions.insert(ev.file_name.rsplit_once('_').map(|(s, _)| s.to_owned()).expect("session prefix"));
        let rep = ev.objects.iter().find(|o| o.role == ObjectRole::ContinuityReport).expect("report object");
        let rep: ScanReportV1 =
            serde_json::from_slice(&store.get_bytes(&ev.bucket, &rep.key, 1 << 20).await.expect("report"))
                .expect("report json");
        assert!(rep.findings.is_empty(), "{}: {:?}\n{logs}", ev.file_name, rep.findings);
    }
    assert_eq!(sessions.len(), 2, "two planned sessions, two session ids: {sessions:?}");
    sessions_are_chained_for_a_court(&p, &sealed);
}

fn run(bin: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(workspace_bin(bin).expect(bin)).args(args).output().expect(bin);
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &t)
        } else {
            std::fs::copy(e.path(), &t).expect("copy");
        }
    }
}

/// Each session's segment packages, exported under an approval, are checked as a session by the
/// standalone verifier: the whole session verifies; one package removed, one replaced by another
/// session's, one of another session added — each is named, exit 2. The reference C2PA SDK reads
/// the chain from the manifests: each segment's recording assertion names its session, its index
/// and the BLAKE3 of the segment before it.
fn sessions_are_chained_for_a_court(p: &Pipeline, sealed: &[evidence_contracts::events::EvidenceSealedV1]) {
    let trust = p.dir.path().join("pki/ca.cert.pem").display().to_string();
    let ids: Vec<String> = sealed.iter().map(|e| e.evidence_id.to_string()).collect();
    let exports = p.dir.path().join("exports");
    let (_, folders) = crate::support::export_for_court(p, &ids, &exports.join("all"));
    // session id → [(index, folder, original BLAKE3)]
    let mut by_session: std::collections::BTreeMap<String, Vec<(u64, std::path::PathBuf, String)>> = Default::default();
    for out in folders {
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("seal.json")).expect("seal.json")).expect("json");
        let seg = &rec["segment"];
        let session = seg["session_id"].as_str().expect("the seal record names the segment's session").to_owned();
        let b3 = rec["objects"][0]["blake3"].as_str().expect("original").to_owned();
        by_session.entry(session).or_default().push((seg["index"].as_u64().expect("index"), out, b3));
    }
    assert_eq!(by_session.len(), 2, "{by_session:?}");
    let mut it = by_session.iter_mut();
    let (a, a_pkgs) = it.next().expect("a");
    let (b, b_pkgs) = it.next().expect("b");
    a_pkgs.sort();
    b_pkgs.sort();
    assert!(a_pkgs.len() >= 2 && b_pkgs.len() >= 2, "two segments each: {a_pkgs:?} {b_pkgs:?}");
    let session_dir = |name: &str, pkgs: &[&(u64, std::path::PathBuf, String)]| {
        let d = exports.join(name);
        for (i, f, _) in pkgs {
            copy_tree(f, &d.join(format!("segment-{i}")));
        }
        d
    };
    let verify =
        |d: &std::path::Path| run("evidence-verify", &["--session", "--trust", &trust, d.to_str().expect("utf-8")]);

    let whole = session_dir("whole", &a_pkgs.iter().collect::<Vec<_>>());
    let (code, text) = verify(&whole);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("session {a}")) && text.contains("SESSION VERIFIED"), "{text}");

    let (code, text) = verify(&session_dir("whole-b", &b_pkgs.iter().collect::<Vec<_>>()));
    assert_eq!(code, Some(0), "the second session verifies on its own: {text}");

    let removed = session_dir("removed", &a_pkgs.iter().skip(1).collect::<Vec<_>>());
    let (code, text) = verify(&removed);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains(&format!("FAIL the segments of session {a} before segment 1 are missing")), "{text}");
    let (code, same) = run("sealer", &["verify", "--session", "--trust", &trust, removed.to_str().expect("utf-8")]);
    assert_eq!((code, same.as_str()), (Some(2), text.as_str()), "sealer verify --session runs the same check");

    let mut swapped: Vec<&(u64, std::path::PathBuf, String)> = a_pkgs.iter().collect();
    swapped[1] = &b_pkgs[1];
    let swapped = session_dir("swapped", &swapped);
    let (code, text) = verify(&swapped);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains(&format!("of session {b}) belongs to another session, not {a}")), "{text}");
    if a_pkgs.len() >= 3 {
        assert!(text.contains(&format!("a segment of session {a} is missing between")), "{text}");
    }

    let inserted = session_dir("inserted", &a_pkgs.iter().collect::<Vec<_>>());
    copy_tree(&b_pkgs[0].1, &inserted.join("extra"));
    let (code, text) = verify(&inserted);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("package extra (") && text.contains("belongs to another session"), "{text}");

    // The chain as an outside C2PA reader sees it in the manifests.
    let originals: Vec<String> = a_pkgs
        .iter()
        .map(|(_, f, _)| {
            let dir = f.join("original");
            let files: Vec<std::path::PathBuf> =
                std::fs::read_dir(&dir).expect("original/").flatten().map(|e| e.path()).collect();
            let media = files.iter().find(|p| p.extension().is_some_and(|e| e != "c2pa")).expect("media");
            let side = files.iter().find(|p| p.extension().is_some_and(|e| e == "c2pa")).expect("sidecar");
            format!("{}={}", media.display(), side.display())
        })
        .collect();
    let read = crate::support::c2pa_read(Some(std::path::Path::new(&trust)), &originals);
    for (k, r) in read.iter().enumerate() {
        assert_eq!(r["state"], "Trusted", "{r:#}");
        assert_eq!(r["recording"]["session_id"], a.as_str(), "{r:#}");
        assert_eq!(r["recording"]["segment_index"], a_pkgs[k].0, "{r:#}");
        if k > 0 {
            assert_eq!(r["recording"]["previous_segment_blake3"], a_pkgs[k - 1].2.as_str(), "{r:#}");
        }
    }
}

/// An interview-room camera that sends AAC audio: the recorder keeps it as sent (every sealed
/// segment has its audio stream, no gap in it); without `--audio` it warns that audio is being
/// left out; asked for audio a camera does not send, it says so and records the video.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_with_audio_is_recorded_with_its_audio_and_mismatches_are_named() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let spool = p.dir.path().join("recorder");
    let run = |cam_args: &[&str], rec_args: &[&str]| {
        let port = free_port();
        let mut cam = camera_with(port, cam_args);
        let mut args = vec!["--duration", "5s"];
        args.extend_from_slice(rec_args);
        let mut rec = spawn_recorder_with(&p, port, &spool, &args);
        let status = rec.wait_exit(Duration::from_secs(60)).expect("recorder ends after --duration");
        let log = rec.log_text();
        cam.kill9();
        assert!(status.success(), "{status}\n{log}");
        let handed = log.lines().filter(|l| l.contains("segment handed on")).count();
        assert!(handed >= 2, "segments handed on: {handed}\n{log}");
        (log, handed)
    };
    let (with_audio, n1) = run(&["--audio", "aac"], &["--audio", "aac"]);
    assert!(!with_audio.contains("not being recorded") && !with_audio.contains("does not send"), "{with_audio}");
    let (left_out, n2) = run(&["--audio", "aac"], &[]);
    assert!(left_out.contains("the camera also sends audio, which is not being recorded"), "{left_out}");
    assert!(left_out.contains("MPEG4-GENERIC"), "the encoding is named\n{left_out}");
    let (mismatch, n3) = run(&[], &["--audio", "aac"]);
    assert!(
        mismatch.contains("does not send the audio asked for") && mismatch.contains("camera offers no audio"),
        "{mismatch}"
    );

    let sealed = p.sealed(n1 + n2 + n3, Duration::from_secs(240)).await.expect("sealed");
    assert_eq!(sealed.len(), n1 + n2 + n3, "every segment sealed once");
    let store = p.store().await.expect("store");
    let first_session = sealed.iter().map(|e| e.file_name.clone()).min().expect("a segment");
    let first_session = first_session.rsplit_once('_').expect("prefix").0.to_owned();
    let mut with_audio_segments = 0;
    for ev in &sealed {
        assert!(ev.readable, "{} unreadable\n{with_audio}\n{left_out}\n{mismatch}", ev.file_name);
        let rep = ev.objects.iter().find(|o| o.role == ObjectRole::ContinuityReport).expect("report object");
        let rep: ScanReportV1 =
            serde_json::from_slice(&store.get_bytes(&ev.bucket, &rep.key, 1 << 20).await.expect("report"))
                .expect("report json");
        let kinds: Vec<StreamKind> = rep.files[0].streams.iter().map(|s| s.kind).collect();
        assert!(kinds.contains(&StreamKind::Video), "{}: {kinds:?}", ev.file_name);
        if ev.file_name.starts_with(&first_session) {
            with_audio_segments += 1;
            let audio = rep.files[0].streams.iter().find(|s| s.kind == StreamKind::Audio);
            let audio = audio.unwrap_or_else(|| panic!("{}: no audio stream: {kinds:?}", ev.file_name));
            assert!(audio.codec.contains("aac"), "{}: {}", ev.file_name, audio.codec);
            assert!(
                rep.files[0].findings.iter().all(|f| f.stream != Some(StreamKind::Audio)),
                "{}: {:?}",
                ev.file_name,
                rep.files[0].findings
            );
        } else {
            assert!(!kinds.contains(&StreamKind::Audio), "{}: audio only when asked for: {kinds:?}", ev.file_name);
        }
    }
    assert_eq!(with_audio_segments, n1, "the first session's segments all carry audio");
}

/// A segment whose bytes on the recorder's disk change after it was handed on is still sealed
/// (the sealed bytes are the uploaded ones), but the recorder does not delete it: its bytes no
/// longer derive the sealed evidence id. The untouched segments are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_changed_on_disk_after_its_upload_is_sealed_but_not_deleted() {
    let mut p = Pipeline::new().expect("servers start");
    let port = free_port();
    let mut cam = camera(port);
    let spool = p.dir.path().join("recorder");
    // No sealer yet: the segments are verified and copied, then wait for their receipts.
    p.start("ingest-worker").expect("ingest");
    p.start("transcoder").expect("transcoder");
    let mut rec = spawn_recorder(&p, port, &spool);
    rec.wait_for_line("segment handed on", Duration::from_secs(60)).expect("first segment");
    let dir = spool.join("ROOM-101");
    // Two segments handed on and waiting for their receipts.
    let give_up = Instant::now() + Duration::from_secs(60);
    let waiting: Vec<String> = loop {
        let text = std::fs::read_to_string(dir.join("session.json")).expect("session state");
        let session: serde_json::Value = serde_json::from_str(&text).expect("session json");
        let w: Vec<String> = session["waiting"].as_object().expect("waiting segments").keys().cloned().collect();
        if w.len() >= 2 {
            break w;
        }
        assert!(Instant::now() < give_up, "a second segment was never handed on: {text}");
        std::thread::sleep(Duration::from_millis(300));
    };
    // Same size, same modification time, one byte different: a bit flip on the recorder's disk
    // that only the content check can see.
    let tampered = dir.join(&waiting[0]);
    let mtime = std::fs::metadata(&tampered).and_then(|m| m.modified()).expect("mtime");
    let mut bytes = std::fs::read(&tampered).expect("segment");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&tampered, &bytes).expect("tamper");
    std::fs::File::options().write(true).open(&tampered).and_then(|f| f.set_modified(mtime)).expect("restore mtime");

    p.start("sealer").expect("sealer");
    rec.wait_for_line("segment sealed, but not deleted", Duration::from_secs(180)).expect("kept");
    let deleted_other = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if !dir.join(&waiting[1]).exists() || Instant::now() > deadline {
                break !dir.join(&waiting[1]).exists();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let code = rec.terminate(Duration::from_secs(30)).expect("recorder stops");
    let log = rec.log_text();
    cam.kill9();
    assert_eq!(code, Some(0), "{log}");
    assert!(tampered.exists(), "a segment that is not the sealed bytes is kept\n{log}");
    let done = std::fs::read_to_string(dir.join(format!("{}.done", waiting[0]))).expect("done marker");
    assert!(done.starts_with("Sealed") && done.contains("not what was sealed"), "{done}");
    assert!(deleted_other, "the untouched segment {} is deleted after sealing\n{log}", waiting[1]);
}
