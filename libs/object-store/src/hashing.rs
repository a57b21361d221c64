//! BLAKE3 + SHA-256 over a byte stream in one pass. SHA-256 uses the CPU's SHA extensions
//! when present (the `sha2` crate detects them at run time).

use std::io::Read;
use std::path::Path;

use evidence_contracts::{Blake3Digest, Sha256Digest};
use sha2::Digest as _;

/// Size and digests of exactly the bytes that passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digests {
    pub size: u64,
    pub blake3: Blake3Digest,
    pub sha256: Sha256Digest,
}

/// Incremental hasher for both digests.
#[derive(Clone, Default)]
pub struct StreamHasher {
    b3: blake3::Hasher,
    sha: sha2::Sha256,
    size: u64,
}

impl StreamHasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk. Large chunks use BLAKE3's multi-threaded mode and hash SHA-256 on this
    /// thread at the same time.
    pub fn update(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        if data.len() >= 1 << 20 {
            let (b3, sha) = (&mut self.b3, &mut self.sha);
            std::thread::scope(|s| {
                s.spawn(|| {
                    b3.update_rayon(data);
                });
                sha.update(data);
            });
        } else {
            self.b3.update(data);
            self.sha.update(data);
        }
    }

    pub fn finish(self) -> Digests {
        Digests {
            size: self.size,
            blake3: Blake3Digest(*self.b3.finalize().as_bytes()),
            sha256: Sha256Digest(self.sha.finalize().into()),
        }
    }
}

/// BLAKE3 alone of a local file (memory-mapped, all cores): for checks against a BLAKE3 recorded
/// earlier, where computing SHA-256 too would make the read several times slower. Blocking.
///
/// # Errors
/// The file cannot be read.
pub fn blake3_file(path: &Path) -> std::io::Result<Blake3Digest> {
    let mut h = blake3::Hasher::new();
    h.update_mmap_rayon(path)?;
    Ok(Blake3Digest(*h.finalize().as_bytes()))
}

/// Hashes a local file: the calling thread reads 8 MiB blocks; one thread runs SHA-256 and
/// another BLAKE3 over the same blocks, so SHA-256 (which cannot be split across cores) never
/// waits for BLAKE3 and the total is close to SHA-256 alone. Memory: at most 2 × 4 blocks in
/// flight (64 MiB), whatever the file size. Blocking: call from a blocking thread.
///
/// # Errors
/// The file cannot be read.
pub fn hash_file(path: &Path) -> std::io::Result<Digests> {
    use std::sync::mpsc::sync_channel;
    const BLOCK: usize = 8 << 20;
    let mut f = std::fs::File::open(path)?;
    let (to_sha, sha_rx) = sync_channel::<bytes::Bytes>(4);
    let (to_b3, b3_rx) = sync_channel::<bytes::Bytes>(4);
    let sha = std::thread::spawn(move || {
        let mut h = sha2::Sha256::new();
        for b in sha_rx {
            h.update(&b);
        }
        Sha256Digest(h.finalize().into())
    });
    let b3 = std::thread::spawn(move || {
        let mut h = blake3::Hasher::new();
        for b in b3_rx {
            h.update(&b);
        }
        Blake3Digest(*h.finalize().as_bytes())
    });
    let mut size = 0u64;
    let read = (|| {
        loop {
            let mut buf = bytes::BytesMut::zeroed(BLOCK);
            let mut filled = 0;
            while filled < BLOCK {
                let n = f.read(&mut buf[filled..])?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                return Ok(());
            }
            buf.truncate(filled);
            size += filled as u64;
            let block = buf.freeze();
            // A hasher thread only stops receiving if it panicked; join reports that below.
            let _ = to_sha.send(block.clone());
            let _ = to_b3.send(block);
            if filled < BLOCK {
                return Ok(());
            }
        }
    })();
    drop((to_sha, to_b3));
    let sha256 = sha.join().map_err(|_| std::io::Error::other("SHA-256 thread panicked"))?;
    let blake3 = b3.join().map_err(|_| std::io::Error::other("BLAKE3 thread panicked"))?;
    read.map(|()| Digests { size, blake3, sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_digests_match_reference_values_whatever_the_chunking() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut one = StreamHasher::new();
        one.update(&data);
        let mut many = StreamHasher::new();
        for c in data.chunks(7777) {
            many.update(c);
        }
        let (a, b) = (one.finish(), many.finish());
        assert_eq!(a, b);
        assert_eq!(a.size, 3_000_000);
        assert_eq!(a.blake3.0, *blake3::hash(&data).as_bytes());
        let dir = std::env::temp_dir().join(format!("hash-file-test-{}", std::process::id()));
        std::fs::write(&dir, &data).expect("write");
        let f = hash_file(&dir).expect("hash");
        let _ = std::fs::remove_file(&dir);
        assert_eq!(f, a);
        let empty = StreamHasher::new().finish();
        assert_eq!(empty.sha256.to_hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
