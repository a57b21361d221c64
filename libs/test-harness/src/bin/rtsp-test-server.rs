//! A live RTSP camera for tests: `rtsp-test-server --port P [--path /cam] [--audio aac|aac-latm|pcma]`
//! serves H.264 from `videotestsrc is-live=true` (and a 440 Hz tone from `audiotestsrc` in the
//! given encoding: what an interview-room camera sends) until killed. Killing it
//! and starting it again on the same port is a camera outage. Prints `ready rtsp://…` when it
//! listens.

use gstreamer as gst;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let Some(port) = get("--port") else {
        eprintln!("usage: rtsp-test-server --port P [--path /cam] [--fps 25] [--audio aac|aac-latm|pcma]");
        return std::process::ExitCode::from(2);
    };
    let path = get("--path").unwrap_or_else(|| "/cam".into());
    let fps = get("--fps").unwrap_or_else(|| "25".into());
    let tone = "audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=48000,channels=1";
    let audio = match get("--audio").as_deref() {
        None => String::new(),
        Some("aac") => format!(" {tone} ! voaacenc bitrate=64000 ! rtpmp4gpay name=pay1 pt=97"),
        Some("aac-latm") => format!(" {tone} ! voaacenc bitrate=64000 ! rtpmp4apay name=pay1 pt=97"),
        Some("pcma") => " audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=8000,channels=1 ! \
                         alawenc ! rtppcmapay name=pay1 pt=8"
            .into(),
        Some(other) => {
            eprintln!("error: --audio {other}: aac, aac-latm or pcma");
            return std::process::ExitCode::from(2);
        }
    };
    if let Err(e) = gst::init() {
        eprintln!("error: GStreamer init: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let main_loop = gst::glib::MainLoop::new(None, false);
    let server = rtsp::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&port);
    let Some(mounts) = server.mount_points() else {
        eprintln!("error: no mount points");
        return std::process::ExitCode::FAILURE;
    };
    let factory = rtsp::RTSPMediaFactory::new();
    factory.set_launch(&format!(
        "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate={fps}/1 ! \
         x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} ! video/x-h264,profile=baseline ! \
         rtph264pay name=pay0 pt=96 config-interval=1{audio} )"
    ));
    factory.set_shared(true);
    mounts.add_factory(&path, factory);
    let id = match server.attach(None) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    eprintln!("ready rtsp://127.0.0.1:{port}{path}");
    main_loop.run();
    id.remove();
    std::process::ExitCode::SUCCESS
}
