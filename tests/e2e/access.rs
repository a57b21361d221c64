//! The access rendition by what the original is, through the whole pipeline on its default
//! policy: a body camera's H.264 + AAC MP4 is sealed as its own access rendition (nothing is
//! re-encoded), H.264 in MPEG-TS gets a remuxed MP4 whose pictures are the original's, and H.265
//! still gets an H.264 copy. The sealed event names the object to play.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use evidence_contracts::seal::{AccessMadeBy, AccessOf, ObjectRole};
use test_harness::media::{Spec, mp4};

use crate::support::Pipeline;

fn ffprobe_video_codec(path: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_original_gets_the_access_rendition_its_format_needs() {
    let mut p = Pipeline::new().expect("servers start");
    p.serve_playable_originals().expect("default access policy");
    p.start_all().expect("workers start");
    let d = p.dir.path().to_path_buf();

    // A body camera's file, a fixed camera's MPEG-TS export (ffmpeg-made), an H.265 camera.
    let body = d.join("OF5_20261128090000_0001.MP4");
    mp4(&body, &Spec { seconds: 3, audio: true, ..Default::default() }).expect("mp4");
    let ts = d.join("OF5_20261128091000_0002.TS");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=3"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3"])
        .args(["-c:v", "libx264", "-profile:v", "high", "-pix_fmt", "yuv420p", "-bf", "2", "-g", "30", "-c:a", "aac"])
        .arg(&ts)
        .output()
        .expect("ffmpeg");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hevc = d.join("OF5_20261128092000_0003.MP4");
    mp4(&hevc, &Spec { seconds: 2, hevc: true, width: 320, height: 240, ..Default::default() }).expect("hevc");
    let out = p.push("CAM-ACC", &[body.as_path(), ts.as_path(), hevc.as_path()]).expect("push");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sealed = p.sealed(3, Duration::from_secs(240)).await.expect("sealed");
    assert_eq!(sealed.len(), 3);
    // An outside validator agrees with the schemas, the new `access` field included.
    let raw = p.events(evidence_contracts::subjects::SEALED_ALL, 3, Duration::from_secs(10)).await.expect("events");
    let events: Vec<serde_json::Value> =
        raw.iter().map(|m| serde_json::from_slice(&m.payload).expect("event json")).collect();
    assert_eq!(events.len(), 3);
    crate::support::assert_valid_against_schema("evidence.sealed.v1.schema.json", &events);
    let store = p.store().await.expect("store");
    let mut records = Vec::new();
    for e in &sealed {
        records.push(
            serde_json::from_slice::<serde_json::Value>(
                &store.get_bytes(&e.bucket, &e.seal_record.key, 1 << 20).await.expect("record"),
            )
            .expect("record json"),
        );
    }
    crate::support::assert_valid_against_schema("evidence.seal.record.v1.schema.json", &records);
    let by_name = |n: &Path| {
        let n = n.file_name().unwrap().to_string_lossy().into_owned();
        sealed.iter().find(|e| e.file_name == n).cloned().unwrap_or_else(|| panic!("{n} not sealed"))
    };

    // The body camera's MP4: no copy at all; the original is what case systems play.
    let ev = by_name(&body);
    let access = ev.access.clone().expect("the sealed event names the access rendition");
    let original = ev.objects.iter().find(|o| o.role == ObjectRole::Original).expect("original");
    assert_eq!((access.of, access.key.as_str(), access.made_by), (AccessOf::Original, original.key.as_str(), None));
    assert!(ev.objects.iter().all(|o| o.role != ObjectRole::Derivative), "nothing re-encoded: {:?}", ev.objects);
    let rec: evidence_contracts::seal::SealRecordV1 =
        serde_json::from_slice(&store.get_bytes(&ev.bucket, &ev.seal_record.key, 1 << 20).await.expect("record"))
            .expect("record json");
    let decision = rec.decisions.iter().find(|d| d.profile == "access").expect("access decision");
    assert!(!decision.produced && decision.reason.contains("serves as the access rendition"), "{decision:?}");
    assert_eq!(rec.access, ev.access, "record and event agree");
    // Viewing it: there is no copy to approve; the sealer says to ask for the original.
    let cfg = p.config_path("sealer").display().to_string();
    let id = ev.evidence_id.to_string();
    let sealer = |args: &[&str]| {
        let mut v = vec![args[0], "--config", cfg.as_str()];
        v.extend_from_slice(&args[1..]);
        Command::new(test_harness::workspace_bin("sealer").expect("sealer")).args(&v).output().expect("sealer")
    };
    let approved = sealer(&["approve", "--approver", "sup-1", "--reason", "viewing", "--scope", "derivatives", &id]);
    assert!(approved.status.success(), "{}", String::from_utf8_lossy(&approved.stderr));
    let approval = String::from_utf8_lossy(&approved.stdout).trim().to_owned();
    let asked = sealer(&[
        "access",
        "--approval",
        &approval,
        "--actor",
        "clerk-1",
        "--reason",
        "viewing",
        "--scope",
        "derivatives",
        &id,
    ]);
    let err = String::from_utf8_lossy(&asked.stderr);
    assert!(!asked.status.success() && err.contains("no access copy") && err.contains("--scope original"), "{err}");

    // The MPEG-TS: a remuxed MP4 whose pictures were verified against the original's.
    let ev = by_name(&ts);
    let access = ev.access.clone().expect("access");
    let copy = ev.objects.iter().find(|o| o.role == ObjectRole::Derivative).expect("copy");
    assert_eq!(
        (access.of, access.key.as_str(), access.made_by),
        (AccessOf::Derivative, copy.key.as_str(), Some(AccessMadeBy::Remux))
    );
    let rec: evidence_contracts::seal::SealRecordV1 =
        serde_json::from_slice(&store.get_bytes(&ev.bucket, &ev.seal_record.key, 1 << 20).await.expect("record"))
            .expect("record json");
    let decision = rec.decisions.iter().find(|d| d.profile == "access").expect("access decision");
    assert!(
        decision.produced && decision.reason.contains("remuxed") && decision.reason.contains("picture for picture"),
        "{decision:?}"
    );
    let local = d.join("ts-copy.mp4");
    store.download_to_file(&ev.bucket, &copy.key, &local).await.expect("download copy");
    assert_eq!(ffprobe_video_codec(&local), "h264");

    // The H.265 camera: still an H.264 copy, transcoded.
    let ev = by_name(&hevc);
    let access = ev.access.clone().expect("access");
    let copy = ev.objects.iter().find(|o| o.role == ObjectRole::Derivative).expect("copy");
    assert_eq!((access.of, access.made_by), (AccessOf::Derivative, Some(AccessMadeBy::Transcode)));
    let local = d.join("hevc-copy.mp4");
    store.download_to_file(&ev.bucket, &copy.key, &local).await.expect("download copy");
    assert_eq!(ffprobe_video_codec(&local), "h264");
    p.assert_no_unexpected_errors(&[]);
}
