//! Arbitrary bytes through the raw MPEG-TS timestamp pass: never panics, never loops.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gst_support::ts::scan(data, 45_000);
});
