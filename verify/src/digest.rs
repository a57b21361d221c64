//! Size, BLAKE3 and SHA-256 of a file in one read (what `b3sum` and `sha256sum` print).

use std::io::Read;
use std::path::Path;

use evidence_contracts::{Blake3Digest, Sha256Digest};
use sha2::Digest as _;

/// What one read of a file gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileDigests {
    pub size: u64,
    pub blake3: Blake3Digest,
    pub sha256: Sha256Digest,
}

/// Reads `path` once in 4 MiB blocks; memory does not grow with the file.
///
/// # Errors
/// The file cannot be opened or read.
pub fn hash_file(path: &Path) -> std::io::Result<FileDigests> {
    let mut f = std::fs::File::open(path)?;
    let (mut b3, mut sha, mut size) = (blake3::Hasher::new(), sha2::Sha256::new(), 0u64);
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        b3.update(&buf[..n]);
        sha.update(&buf[..n]);
        size += n as u64;
    }
    Ok(FileDigests {
        size,
        blake3: Blake3Digest(*b3.finalize().as_bytes()),
        sha256: Sha256Digest(sha.finalize().into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_those_of_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"abc").unwrap();
        let d = hash_file(&p).unwrap();
        assert_eq!(d.size, 3);
        // FIPS 180-2's test vector for "abc", and BLAKE3's hash of the same bytes.
        assert_eq!(d.sha256.to_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(d.blake3.to_hex(), blake3::hash(b"abc").to_hex().as_str());
    }
}
