//! Arbitrary bytes through the GStreamer demux path with a time limit: the scan must end
//! (report, unreadable, or stall error) and never crash the process.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("input.bin");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let cancel = tokio_util::sync::CancellationToken::new();
    let scan = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), gst_support::scan::demux_scan(&path, &cancel, Duration::from_secs(5))).await
    });
    if let Ok(Ok(scan)) = scan {
        let r = gst_support::continuity::file_report(
            "fuzz",
            data.len() as u64,
            evidence_contracts::Blake3Digest([0; 32]),
            evidence_contracts::Sha256Digest([0; 32]),
            &scan,
            gst_support::continuity::DEFAULT_TOLERANCE_NS,
        );
        assert_eq!(r.readable, r.error.is_none() || !r.streams.is_empty());
    }
});
