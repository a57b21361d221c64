#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! RFC 3161 tokens made by a real TSA — OpenSSL's `openssl ts -reply` with its own test CA and a
//! TSA certificate for time stamping — checked by `evidence_verify::timestamp::check`, with
//! `openssl ts -verify` as the outside judge on the same token: a good token verifies (trusted
//! under the TSA root, untrusted without it or under another root); changed data, a changed token
//! and another root are each caught.

use std::path::Path;

use evidence_verify::timestamp::check;
use test_harness::tsa::OpensslTsa;

fn der(pem: &Path) -> Vec<u8> {
    pem::parse(std::fs::read(pem).unwrap()).unwrap().contents().to_vec()
}

#[test]
fn a_real_tsa_token_verifies_and_every_change_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let t = OpensslTsa::new(&dir.path().join("tsa"), "Test TSA").unwrap();
    let data = dir.path().join("seal.json");
    std::fs::write(&data, b"{\"evidence_id\":\"x\",\"objects\":[]}\n").unwrap();
    let token = t.stamp(&data).unwrap();
    let bytes = std::fs::read(&data).unwrap();
    let root = der(&t.root());
    let tsr = dir.path().join("seal.tsr");
    std::fs::write(&tsr, &token).unwrap();

    // The outside judge agrees the token is good.
    assert!(t.openssl_verifies(&data, &tsr, &t.root()).unwrap());
    let info = check(&token, &bytes, std::slice::from_ref(&root)).unwrap();
    assert!(info.trusted && info.tsa.contains("Test TSA"), "{info:?}");
    assert!(info.gen_time.ends_with('Z') && info.gen_time_rfc3339.starts_with("20"), "{info:?}");
    let now = chrono::Utc::now().format("%Y-%m-%dT%H").to_string();
    assert!(info.gen_time_rfc3339.starts_with(&now[..10]), "stamped today: {info:?}");
    assert!(!check(&token, &bytes, &[]).unwrap().trusted, "no root given: not trusted");

    // Another TSA's root does not make it trusted.
    let other = OpensslTsa::new(&dir.path().join("other"), "Other TSA").unwrap();
    assert!(!check(&token, &bytes, &[der(&other.root())]).unwrap().trusted);

    // seal.json changed after it was stamped.
    let mut changed = bytes.clone();
    changed[3] ^= 1;
    let e = check(&token, &changed, std::slice::from_ref(&root)).unwrap_err();
    assert!(e.contains("imprint is not the SHA-256 of this data"), "{e}");

    // The token changed: a byte of its signature, then a byte of the time it states.
    let mut bad_sig = token.clone();
    let n = bad_sig.len();
    bad_sig[n - 3] ^= 1;
    let e = check(&bad_sig, &bytes, std::slice::from_ref(&root)).unwrap_err();
    assert!(e.contains("signature") || e.contains("DER"), "{e}");
    let at = token.windows(4).position(|w| w == b"2026" || w == b"2027" || w == b"2028").unwrap();
    let mut bad_time = token.clone();
    bad_time[at + 5] ^= 1;
    let e = check(&bad_time, &bytes, std::slice::from_ref(&root)).unwrap_err();
    assert!(e.contains("altered"), "{e}");
    std::fs::write(&tsr, &bad_time).unwrap();
    assert!(!t.openssl_verifies(&data, &tsr, &t.root()).unwrap(), "openssl agrees the altered token fails");

    // Not a token at all.
    assert!(check(b"not a token", &bytes, &[]).is_err());
}
