#[tokio::test]
async fn make() {
    for f in ["/tmp/t2.mp4", "/tmp/cut2.mp4", "/tmp/cut2.mp4", "/tmp/cut.mp4"] {
        let p = std::path::PathBuf::from(f);
        let t = std::time::Instant::now();
        let s =
            gst_support::scan::demux_scan(&p, &Default::default(), std::time::Duration::from_secs(3)).await.unwrap();
        eprintln!(
            "{f} took {:?} container={:?} err={:?} streams={}",
            t.elapsed(),
            s.container,
            s.error,
            s.streams.len()
        );
    }
}
