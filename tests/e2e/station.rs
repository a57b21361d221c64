//! The docking-station agent (`station dock`) against the real pipeline: resumed uploads after
//! `kill -9`, a file changed between parts, many slots at once; and per-station NATS
//! permissions on a real nats-server with authorization.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use evidence_contracts::seal::ObjectRole;
use evidence_contracts::station::DockingV1;
use evidence_contracts::{decode, subjects};
use test_harness::media::{Spec, mp4};
use test_harness::{Worker, workspace_bin};

use crate::support::Pipeline;

pub(crate) const OFFICER: &str = "0123456";

/// A slot folder holding a docked camera: `device.json` (its clock `skew_s` ahead) and files.
pub(crate) fn docked_slot(root: &Path, slot: &str, serial: &str, skew_s: i64) -> PathBuf {
    let dir = root.join(slot);
    std::fs::create_dir_all(dir.join("DCIM/100MEDIA")).expect("slot dir");
    let now = chrono::Utc::now();
    let info = serde_json::json!({
        "serial": serial,
        "device_clock": (now + chrono::Duration::seconds(skew_s)).to_rfc3339(),
        "station_clock": now.to_rfc3339(),
        "battery_percent": 64,
    });
    std::fs::write(dir.join("device.json"), info.to_string()).expect("device.json");
    dir.join("DCIM/100MEDIA")
}

/// The station config of the pipeline plus a `[dock]` section.
pub(crate) fn dock_config(p: &Pipeline, station: &str, serials: &[&str]) -> PathBuf {
    let d = p.dir.path();
    let mut t = std::fs::read_to_string(p.config_path("station")).expect("station config");
    t.push_str(&format!(
        "\n[telemetry]\nlisten = \"127.0.0.1:0\"\n\n[dock]\nstation_id = \"{station}\"\nstate_dir = \"{}\"\n\
         slots_dir = \"{}\"\nsettle = \"0s\"\nscan_interval = \"200ms\"\nreceipt_interval = \"300ms\"\n\
         status_interval = \"2s\"\nbackoff_min = \"200ms\"\nbackoff_max = \"2s\"\n\n[dock.bindings]\n",
        d.join("station-state").display(),
        d.join("slots").display()
    ));
    for s in serials {
        t.push_str(&format!("\"{s}\" = \"{OFFICER}\"\n"));
    }
    let path = d.join("dock.toml");
    std::fs::write(&path, t).expect("write dock config");
    path
}

fn some_id(n: u8) -> evidence_contracts::EvidenceId {
    evidence_contracts::EvidenceId::derive(
        &evidence_contracts::DeviceId::new("DSJ-X").expect("id"),
        &evidence_contracts::Blake3Digest([n; 32]),
    )
}

fn random_file(path: &Path, size: usize, seed: u64) {
    test_harness::media::random_file(path, size, seed).expect("write file");
}

pub(crate) fn spawn_dock(cfg: &Path, once: bool) -> Worker {
    let bin = workspace_bin("station").expect("station binary");
    let cfg = cfg.display().to_string();
    let mut args = vec!["dock", "--config", cfg.as_str()];
    if once {
        args.push("--once");
    }
    Worker::spawn("station", &bin, &args, &[]).expect("spawn station dock")
}

/// Waits until some upload state file lists at least `parts` parts; returns its path.
pub(crate) fn wait_for_parts(state_dir: &Path, parts: usize, timeout: Duration) -> PathBuf {
    wait_for_parts_of(state_dir, None, parts, timeout)
}

/// [`wait_for_parts`] for the upload of `file` only, when given.
pub(crate) fn wait_for_parts_of(state_dir: &Path, file: Option<&Path>, parts: usize, timeout: Duration) -> PathBuf {
    let deadline = Instant::now() + timeout;
    let uploads = state_dir.join("uploads");
    while Instant::now() < deadline {
        if let Ok(rd) = std::fs::read_dir(&uploads) {
            for e in rd.filter_map(Result::ok) {
                if e.path().extension().is_some_and(|x| x == "json")
                    && let Ok(Some(st)) = object_store::read_state(&e.path())
                    && st.parts.len() >= parts
                    && st.completed_blake3.is_none()
                    && file.is_none_or(|f| st.file == f)
                {
                    return e.path();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    panic!("no upload reached {parts} parts within {timeout:?}");
}

async fn stream_last_seq(url: &str, stream: &str) -> u64 {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.expect("connect"));
    js.get_stream(stream).await.expect("stream").info().await.expect("info").state.last_sequence
}

/// `key=value` from a tracing line.
fn field(line: &str, key: &str) -> Option<String> {
    line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{key}="))).map(|v| v.trim_matches('"').to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_killed_mid_way_resumes_and_is_sealed_once() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    let media = docked_slot(&p.dir.path().join("slots"), "slot01", "DSJ-A0001", 0);
    let file = media.join(format!("{OFFICER}_20261128101500_0001.MP4"));
    random_file(&file, 400 << 20, 99);
    let cfg = dock_config(&p, "ST-0001", &["DSJ-A0001"]);
    let state_dir = p.dir.path().join("station-state");

    let mut agent = spawn_dock(&cfg, false);
    let upload_state = wait_for_parts(&state_dir, 3, Duration::from_secs(120));
    agent.kill9();
    let before = object_store::read_state(&upload_state).expect("state").expect("present");
    assert!(before.completed_blake3.is_none(), "killed before the upload completed");
    let sent_before: u64 = before.parts.iter().map(|p| p.size).sum();

    let mut again = spawn_dock(&cfg, true);
    let status = again.wait_exit(Duration::from_secs(600)).expect("agent exits");
    let log = again.log_text();
    assert!(status.success(), "agent failed: {status}\n{log}");
    let resumed = log.lines().find(|l| l.contains("resuming upload")).unwrap_or_else(|| panic!("no resume:\n{log}"));
    let resumed_bytes: u64 = field(resumed, "resumed_bytes").and_then(|v| v.parse().ok()).expect("resumed_bytes");
    assert!(resumed_bytes >= sent_before.min(3 * (5 << 20)), "{resumed}");
    let uploaded = log.lines().find(|l| l.contains(" uploaded")).expect("uploaded line");
    assert_eq!(field(uploaded, "resumed_bytes").and_then(|v| v.parse::<u64>().ok()), Some(resumed_bytes));
    assert!(log.contains("sealed; the file may be released"), "{log}");

    // One ingest request ever, one sealed event, and the stored original is the file.
    assert_eq!(stream_last_seq(&p.nats.url, subjects::INGEST_STREAM).await, 1);
    let sealed = p.sealed(1, Duration::from_secs(30)).await.expect("sealed");
    assert_eq!(sealed.len(), 1, "{sealed:#?}");
    let want = object_store::hash_file(&file).expect("hash");
    let orig = sealed[0]
        .objects
        .iter()
        .find(|o| o.role == evidence_contracts::seal::ObjectRole::Original)
        .expect("original object");
    assert_eq!(orig.blake3, want.blake3);
    let store = p.store().await.expect("store");
    let back = p.dir.path().join("back.bin");
    let got = store.download_to_file(&p.s3cfg.evidence_bucket, &orig.key, &back).await.expect("download");
    assert_eq!(got, want, "the sealed original is byte for byte the camera's file");
    assert_eq!(sealed[0].officer_id.as_str(), OFFICER);
    assert_eq!(sealed[0].device_id.as_str(), "DSJ-A0001");
    assert!(file.exists(), "release = keep: the file stays on the camera");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_between_parts_is_refused_and_never_announced() {
    let mut p = Pipeline::new().expect("servers start");
    p.start("ingest-worker").expect("ingest starts");
    let media = docked_slot(&p.dir.path().join("slots"), "slot01", "DSJ-A0002", 0);
    let file = media.join(format!("{OFFICER}_20261128111500_0002.MP4"));
    random_file(&file, 300 << 20, 7);
    let cfg = dock_config(&p, "ST-0002", &["DSJ-A0002"]);
    let state_dir = p.dir.path().join("station-state");

    let mut agent = spawn_dock(&cfg, false);
    wait_for_parts(&state_dir, 2, Duration::from_secs(120));
    agent.kill9();

    // Someone alters the first part on the camera and puts the time stamp back.
    let mtime = std::fs::metadata(&file).expect("meta").modified().expect("mtime");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&file).expect("open");
        f.seek(SeekFrom::Start(1000)).expect("seek");
        f.write_all(b"inserted footage").expect("write");
        f.set_modified(mtime).expect("restore mtime");
    }
    let mut again = spawn_dock(&cfg, true);
    let status = again.wait_exit(Duration::from_secs(300)).expect("agent exits");
    let log = again.log_text();
    assert_eq!(status.code(), Some(3), "a refused file makes --once exit 3\n{log}");
    let refused = log.lines().find(|l| l.contains("refused")).unwrap_or_else(|| panic!("no refusal:\n{log}"));
    assert!(refused.contains("part 1") && refused.contains("0002.MP4"), "{refused}");

    // Never announced, nothing completed in the landing area.
    assert_eq!(stream_last_seq(&p.nats.url, subjects::INGEST_STREAM).await, 0);
    let store = p.store().await.expect("store");
    let landed = store.list(&p.s3cfg.working_bucket, "landing/").await.expect("list");
    assert!(landed.is_empty(), "{landed:?}");
    let rec: serde_json::Value = std::fs::read_dir(state_dir.join("files"))
        .expect("files")
        .filter_map(Result::ok)
        .find(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| serde_json::from_slice(&std::fs::read(e.path()).expect("read")).expect("json"))
        .expect("a file record");
    assert_eq!(rec["state"], "refused", "{rec}");
    assert!(file.exists(), "a refused file stays on the camera");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_files_from_four_slots_are_all_sealed_once_with_docking_records() {
    let mut p = Pipeline::new().expect("servers start");
    p.start_all().expect("workers start");
    // Five different short recordings; each camera holds all five (20 distinct evidence ids,
    // since the device is part of the id).
    let clips_dir = p.dir.path().join("gen");
    std::fs::create_dir_all(&clips_dir).expect("dir");
    let mut clips = Vec::new();
    for i in 0..5u32 {
        let c = clips_dir.join(format!("c{i}.mp4"));
        mp4(&c, &Spec { seconds: 1, width: 160 + 16 * i, height: 120, ..Default::default() }).expect("generate");
        clips.push(c);
    }
    let serials = ["DSJ-B0001", "DSJ-B0002", "DSJ-B0003", "DSJ-B0004"];
    for (n, serial) in serials.iter().enumerate() {
        let media = docked_slot(&p.dir.path().join("slots"), &format!("slot{:02}", n + 1), serial, 90);
        for (i, c) in clips.iter().enumerate() {
            std::fs::copy(c, media.join(format!("{OFFICER}_2026112809{:02}00_{i:04}.MP4", 10 + i))).expect("copy");
        }
    }
    let cfg = dock_config(&p, "ST-0003", &serials);
    let mut agent = spawn_dock(&cfg, true);
    let status = agent.wait_exit(Duration::from_secs(900)).expect("agent exits");
    let log = agent.log_text();
    assert!(status.success(), "agent failed: {status}\n{log}");

    let sealed = p.sealed(20, Duration::from_secs(60)).await.expect("sealed");
    let ids: BTreeSet<_> = sealed.iter().map(|e| e.evidence_id).collect();
    assert_eq!(sealed.len(), 20, "one sealed event per recording");
    assert_eq!(ids.len(), 20, "no recording sealed twice");
    assert_eq!(stream_last_seq(&p.nats.url, subjects::INGEST_STREAM).await, 20);
    for e in &sealed {
        assert_eq!(e.officer_id.as_str(), OFFICER);
        assert!(serials.contains(&e.device_id.as_str()));
        assert!(e.recorded_start.is_some(), "start time read from the file name");
    }

    // One docking record per camera, listing its five files and the clock offset (+90 s).
    let dockings = test_harness::stream_messages(
        &p.nats.url,
        subjects::STATIONS_STREAM,
        subjects::DOCKINGS_ALL,
        4,
        Duration::from_secs(10),
    )
    .await
    .expect("dockings");
    assert_eq!(dockings.len(), 4);
    for m in &dockings {
        let d: DockingV1 = decode(&m.payload).expect("docking record");
        assert_eq!(d.files.len(), 5, "{d:#?}");
        assert_eq!(d.officer_id.as_ref().map(|o| o.as_str()), Some(OFFICER));
        let off = d.clock_offset_s.expect("offset");
        assert!((off - 90.0).abs() < 1.0, "{off}");
        assert_eq!(d.battery_percent, Some(64));
    }
}

/// Per-station permissions on a nats-server with authorization: station A publishes its own
/// requests and reads its own receipts; it cannot publish as B, read B's receipts, or listen
/// to the pipeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_cannot_publish_as_another_station() {
    use evidence_contracts::StationId;
    let a = StationId::new("ST-A").expect("id");
    let b = StationId::new("ST-B").expect("id");
    let ka = station::creds::new_station_key().expect("key");
    let kb = station::creds::new_station_key().expect("key");
    let auth = format!(
        "users = [\n{{ user: \"pipeline\", password: \"pipeline-secret\" }}\n{}{}]",
        station::creds::nats_user_entry(&a, &ka.public),
        station::creds::nats_user_entry(&b, &kb.public)
    );
    let nats = test_harness::NatsServer::start_with_auth(&auth).expect("nats with auth");

    // The pipeline's own user creates the streams, as a worker would.
    let pipeline = async_nats::ConnectOptions::new()
        .user_and_password("pipeline".into(), "pipeline-secret".into())
        .connect(&nats.url)
        .await
        .expect("pipeline connects");
    let pjs = async_nats::jetstream::new(pipeline);
    for s in [subjects::INGEST_STREAM, subjects::RECEIPTS_STREAM, subjects::STATIONS_STREAM] {
        let cfg = worker_runtime::nats::stream_config(s).expect("definition");
        pjs.get_or_create_stream(cfg).await.expect("create stream");
    }
    let receipt_b = subjects::receipt(&b, &some_id(1));
    pjs.publish(receipt_b.clone(), "{}".into()).await.expect("publish").await.expect("ack");
    let receipt_a = subjects::receipt(&a, &some_id(2));
    pjs.publish(receipt_a.clone(), "{\"mine\":true}".into()).await.expect("publish").await.expect("ack");

    // Station A, with its own key and inbox prefix; server errors collected.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let client = async_nats::ConnectOptions::new()
        .nkey(ka.seed.clone())
        .custom_inbox_prefix(station::creds::inbox_prefix(&a))
        .event_callback(move |ev| {
            let tx = tx.clone();
            async move {
                if let async_nats::Event::ServerError(e) = ev {
                    let _ = tx.send(e.to_string());
                }
            }
        })
        .connect(&nats.url)
        .await
        .expect("station A connects");
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(Duration::from_secs(2));

    // Its own subject: stored.
    let own = js.publish(subjects::ingest_request(&a), "{}".into()).await.expect("send").await;
    assert!(own.is_ok(), "A publishes its own requests: {own:?}");
    // B's subject: refused by the server, nothing stored.
    let other = async { js.publish(subjects::ingest_request(&b), "{}".into()).await?.await }.await;
    assert!(other.is_err(), "A must not publish as B");
    let violation = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("server error").expect("msg");
    assert!(violation.to_lowercase().contains("permissions violation") && violation.contains("ST-B"), "{violation}");
    let info = pjs.get_stream(subjects::INGEST_STREAM).await.expect("stream").info().await.expect("info").clone();
    assert_eq!(info.state.messages, 1, "only A's own request is stored");

    // Receipts: its own by direct get, not B's.
    let rs = js.get_stream_no_info(subjects::RECEIPTS_STREAM).await.expect("stream handle");
    let mine = rs.direct_get_last_for_subject(receipt_a).await.expect("A reads its receipt");
    assert_eq!(&mine.payload[..], b"{\"mine\":true}");
    assert!(rs.direct_get_last_for_subject(receipt_b).await.is_err(), "A must not read B's receipts");

    // Listening to the pipeline is refused too.
    let _sub = client.subscribe("evidence.>").await.expect("subscribe call");
    let denied = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match rx.recv().await {
                Some(m) if m.to_lowercase().contains("subscription") => return m,
                Some(_) => {}
                None => return String::new(),
            }
        }
    })
    .await
    .expect("subscription refused");
    assert!(denied.contains("evidence.>"), "{denied}");
}

/// The reference authorization block in deploy/nats/ is a valid nats-server configuration.
#[test]
fn the_reference_nats_authorization_is_valid() {
    let bin = test_harness::find_binary("nats-server", "NATS_SERVER_BIN").expect("nats-server");
    let dir = tempfile::tempdir().expect("tmp");
    let auth = test_harness::repo_path("deploy/nats/auth.conf");
    // nats-server resolves includes relative to the including file.
    std::fs::copy(&auth, dir.path().join("auth.conf")).expect("copy auth.conf");
    let conf = dir.path().join("server.conf");
    std::fs::write(
        &conf,
        format!(
            "listen: 127.0.0.1:-1\njetstream {{ store_dir: \"{}\" }}\ninclude ./auth.conf\n",
            dir.path().join("js").display()
        ),
    )
    .expect("write conf");
    let out = std::process::Command::new(bin)
        .args(["-t", "-c"])
        .arg(&conf)
        .envs([("INGEST_WORKER_PASSWORD", "a"), ("TRANSCODER_PASSWORD", "b"), ("SEALER_PASSWORD", "c")])
        .output()
        .expect("run nats-server -t");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("is valid"), "{text}");

    // The cluster node configs include it the same way (../auth.conf).
    let cluster = dir.path().join("cluster");
    std::fs::create_dir_all(&cluster).expect("dir");
    let pki = test_harness::tls::TestPki::generate().expect("test PKI");
    for n in 1..=3 {
        let src = test_harness::repo_path(&format!("deploy/nats/cluster/n{n}.conf"));
        let text = std::fs::read_to_string(src)
            .expect("node conf")
            .replace("/var/lib/nats/jetstream", &dir.path().join(format!("js{n}")).display().to_string())
            .replace("/etc/nats/tls", &pki.dir.path().display().to_string());
        assert!(text.contains("verify: true"), "n{n}: clients and routes must present certificates");
        let conf = cluster.join(format!("n{n}.conf"));
        std::fs::write(&conf, text).expect("write");
        let out = std::process::Command::new(test_harness::find_binary("nats-server", "NATS_SERVER_BIN").expect("bin"))
            .args(["-t", "-c"])
            .arg(&conf)
            .envs([("INGEST_WORKER_PASSWORD", "a"), ("TRANSCODER_PASSWORD", "b"), ("SEALER_PASSWORD", "c")])
            .output()
            .expect("run nats-server -t");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && text.contains("is valid"), "n{n}: {text}");
    }
}

/// `release = "delete_after_seal"`: a file is deleted from the camera only once its receipt says
/// sealed and only if it is still, byte for byte, what was sealed. A file whose bytes changed on
/// the camera after its upload (its size and time put back) is kept, with the reason in its state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_after_seal_deletes_only_what_was_sealed() {
    use std::io::{Seek as _, Write as _};
    let mut p = Pipeline::new().expect("servers start");
    p.start("ingest-worker").expect("ingest");
    p.start("transcoder").expect("transcoder");
    let serial = "DSJ-DEL01";
    let media = docked_slot(&p.dir.path().join("slots"), "slot01", serial, 0);
    let (kept_clean, altered) = (
        media.join(format!("{OFFICER}_20261128091000_0001.MP4")),
        media.join(format!("{OFFICER}_20261128092000_0002.MP4")),
    );
    mp4(&kept_clean, &Spec { seconds: 1, ..Default::default() }).expect("generate");
    mp4(&altered, &Spec { seconds: 1, width: 176, ..Default::default() }).expect("generate");
    let original_b3 = object_store::blake3_file(&altered).expect("hash");
    let cfg = dock_config(&p, "ST-DEL", &[serial]);
    let text = std::fs::read_to_string(&cfg).expect("cfg");
    std::fs::write(&cfg, text.replace("[dock.bindings]", "release = \"delete_after_seal\"\n\n[dock.bindings]"))
        .expect("cfg");
    let mut agent = spawn_dock(&cfg, false);
    // Both announced; nothing sealed yet (no sealer), so nothing may be deleted.
    let deadline = Instant::now() + Duration::from_secs(60);
    while agent.log_text().lines().filter(|l| l.contains("ingest request published")).count() < 2 {
        assert!(Instant::now() < deadline, "not announced\n{}", agent.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(kept_clean.exists() && altered.exists(), "nothing deleted before the seal");
    // Someone changes a byte of the second file on the camera and puts its time back.
    let mtime = std::fs::metadata(&altered).and_then(|m| m.modified()).expect("mtime");
    {
        let mut f = std::fs::OpenOptions::new().write(true).open(&altered).expect("open");
        f.seek(std::io::SeekFrom::Start(100)).expect("seek");
        f.write_all(b"\xff").expect("write");
        f.set_modified(mtime).expect("restore mtime");
    }
    assert_ne!(object_store::blake3_file(&altered).expect("hash"), original_b3);

    p.start("sealer").expect("sealer");
    let sealed = p.sealed(2, Duration::from_secs(120)).await.expect("sealed");
    assert_eq!(sealed.len(), 2);
    agent
        .wait_for_line(
            "is not the one sealed (or could not be checked or deleted); it is kept",
            Duration::from_secs(60),
        )
        .expect("the altered file is kept");
    agent
        .wait_for_line("deleted from the device after sealing", Duration::from_secs(60))
        .expect("the clean one deleted");
    let code = agent.terminate(Duration::from_secs(30)).expect("agent stops");
    let log = agent.log_text();
    assert_eq!(code, Some(0), "{log}");
    assert!(!kept_clean.exists(), "the sealed, unchanged file is deleted from the camera\n{log}");
    assert!(altered.exists(), "the changed file stays on the camera\n{log}");
    // Its state says why; the evidence holds the bytes as uploaded, not as changed.
    let states = std::fs::read_dir(p.dir.path().join("station-state/files")).expect("states");
    let why: Vec<String> = states
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter(|t| t.contains("not deleted from the device"))
        .collect();
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].contains("content is not what was sealed"), "{}", why[0]);
    let ev = sealed.iter().find(|e| e.file_name.ends_with("_0002.MP4")).expect("the altered file's seal");
    let orig = ev.objects.iter().find(|o| o.role == ObjectRole::Original).expect("original in the package");
    assert_eq!(orig.blake3, original_b3, "sealed as uploaded");
    let stored = p.store().await.expect("store").get_bytes(&ev.bucket, &orig.key, 64 << 20).await.expect("original");
    assert_eq!(blake3::hash(&stored).as_bytes(), &original_b3.0, "the stored original is the uploaded bytes");
}
