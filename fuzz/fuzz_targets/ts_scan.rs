//! Arbitrary bytes through every structural walk (MPEG-TS/PS, Matroska, AVI, FLV, MP4): never
//! panics, never loops. The first byte picks the family's magic so each walker sees the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((pick, rest)) = data.split_first() else { return };
    let magic: &[u8] = match pick % 6 {
        0 => &[0x47],
        1 => &[0, 0, 1, 0xba],
        2 => &[0x1a, 0x45, 0xdf, 0xa3],
        3 => b"RIFF\0\0\0\0AVI ",
        4 => b"FLV",
        _ => b"\0\0\0\x08ftyp",
    };
    let mut bytes = magic.to_vec();
    bytes.extend_from_slice(rest);
    let len = bytes.len() as u64;
    let _ = media_walk::walk(std::io::Cursor::new(bytes), len);
});
