//! RFC 3161 time-stamp tokens: proof from a time-stamping authority (TSA) that a digest existed at a
//! time. A package's `seal.tsr` is a `TimeStampResp` over the SHA-256 of the exact `seal.json` bytes.
//! [`check`] reads it with a minimal DER reader and checks what `openssl ts -verify -data seal.json
//! -in seal.tsr -CAfile tsa-root.pem` checks: the TSA granted it, the imprint is SHA-256 of the data,
//! the CMS signature (ECDSA P-256/SHA-256) over the signed attributes verifies with the TSA's
//! certificate, whose message-digest attribute is the digest of the TSTInfo, the certificate is for
//! time stamping (extended key usage), and its chain ends in a trusted root when one is given.
//! RSA-signed tokens are reported as not checked here (check them with `openssl ts -verify`).

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::Digest as _;
use x509_parser::prelude::{FromDer as _, X509Certificate};

const ID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const ID_CT_TST_INFO: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04];
const ID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const ID_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
const ID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const ID_KP_TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";

/// One DER element: its tag byte, its value, and its whole encoding.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
    whole: &'a [u8],
}

fn tlv(b: &[u8]) -> Result<(Tlv<'_>, &[u8]), String> {
    let bad = || "the token is not well-formed DER".to_owned();
    let tag = *b.first().ok_or_else(bad)?;
    if tag & 0x1f == 0x1f {
        return Err("the token uses a high tag number this reader does not know".into());
    }
    let first = *b.get(1).ok_or_else(bad)?;
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(bad());
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i).ok_or_else(bad)?);
        }
        (len, 2 + n)
    };
    let end = head.checked_add(len).filter(|e| *e <= b.len()).ok_or_else(bad)?;
    Ok((Tlv { tag, value: &b[head..end], whole: &b[..end] }, &b[end..]))
}

fn children(mut b: &[u8]) -> Result<Vec<Tlv<'_>>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (t, rest) = tlv(b)?;
        out.push(t);
        b = rest;
    }
    Ok(out)
}

fn expect<'a>(t: Option<&Tlv<'a>>, tag: u8, what: &str) -> Result<Tlv<'a>, String> {
    match t {
        Some(t) if t.tag == tag => Ok(*t),
        _ => Err(format!("the token has no {what} where RFC 3161 puts it")),
    }
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampInfo {
    /// The TSA's time (`genTime`), as written (`YYYYMMDDhhmmss[.f]Z`), and as RFC 3339.
    pub gen_time: String,
    pub gen_time_rfc3339: String,
    /// Subject of the TSA's signing certificate.
    pub tsa: String,
    /// Its chain ends in one of the given trust anchors (false when none were given).
    pub trusted: bool,
}

fn rfc3339(g: &str) -> String {
    let digits: String = g.chars().take(14).collect();
    if digits.len() < 14 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return g.to_owned();
    }
    let frac = g.get(14..).unwrap_or("").trim_end_matches('Z');
    format!(
        "{}-{}-{}T{}:{}:{}{}Z",
        &digits[0..4],
        &digits[4..6],
        &digits[6..8],
        &digits[8..10],
        &digits[10..12],
        &digits[12..14],
        frac
    )
}

/// Checks an RFC 3161 `TimeStampResp` over `data` (see the module text). `anchors`: DER
/// certificates of the TSA roots to trust.
///
/// # Errors
/// One sentence naming what does not hold.
pub fn check(tsr: &[u8], data: &[u8], anchors: &[Vec<u8>]) -> Result<TimestampInfo, String> {
    let (resp, _) = tlv(tsr)?;
    let resp = children(expect(Some(&resp), 0x30, "TimeStampResp")?.value)?;
    let status = children(expect(resp.first(), 0x30, "PKIStatusInfo")?.value)?;
    let code = expect(status.first(), 0x02, "status")?.value;
    if !matches!(code, [0] | [1]) {
        return Err(format!("the TSA did not grant this token (PKIStatus {code:?})"));
    }
    let content_info = children(expect(resp.get(1), 0x30, "timeStampToken")?.value)?;
    if expect(content_info.first(), 0x06, "content type")?.value != ID_SIGNED_DATA {
        return Err("the token is not CMS SignedData".into());
    }
    let signed_data = children(expect(content_info.get(1), 0xa0, "SignedData")?.value)?;
    let signed_data = children(expect(signed_data.first(), 0x30, "SignedData")?.value)?;
    let encap = children(expect(signed_data.get(2), 0x30, "encapContentInfo")?.value)?;
    if expect(encap.first(), 0x06, "eContentType")?.value != ID_CT_TST_INFO {
        return Err("the token's content is not a TSTInfo".into());
    }
    let econtent = children(expect(encap.get(1), 0xa0, "eContent")?.value)?;
    let tst_der = expect(econtent.first(), 0x04, "TSTInfo")?.value;
    let (tst, _) = tlv(tst_der)?;
    let tst = children(expect(Some(&tst), 0x30, "TSTInfo")?.value)?;
    let imprint = children(expect(tst.get(2), 0x30, "messageImprint")?.value)?;
    let alg = children(expect(imprint.first(), 0x30, "hashAlgorithm")?.value)?;
    if expect(alg.first(), 0x06, "hashAlgorithm")?.value != ID_SHA256 {
        return Err("the token's imprint is not SHA-256".into());
    }
    let hashed = expect(imprint.get(1), 0x04, "hashedMessage")?.value;
    if hashed != sha2::Sha256::digest(data).as_slice() {
        return Err("the token's imprint is not the SHA-256 of this data: the data changed after it was stamped, \
                    or the token is another's"
            .into());
    }
    let gen_time = String::from_utf8_lossy(expect(tst.get(4), 0x18, "genTime")?.value).into_owned();

    // The certificates ([0] IMPLICIT) and the signer.
    let rest = &signed_data[3..];
    let certs: Vec<&[u8]> = match rest.first() {
        Some(t) if t.tag == 0xa0 => children(t.value)?.iter().map(|c| c.whole).collect(),
        _ => Vec::new(),
    };
    let infos = expect(rest.last(), 0x31, "signerInfos")?;
    let infos = children(infos.value)?;
    let info = children(expect(infos.first(), 0x30, "SignerInfo")?.value)?;
    let attrs = expect(info.get(3), 0xa0, "signed attributes")?;
    let sig_alg = children(expect(info.get(4), 0x30, "signatureAlgorithm")?.value)?;
    let sig_alg = expect(sig_alg.first(), 0x06, "signatureAlgorithm")?.value;
    let signature = expect(info.get(5), 0x04, "signature")?.value;
    let mut digest_ok = false;
    for a in children(attrs.value)? {
        let a = children(a.value)?;
        if a.first().is_some_and(|o| o.tag == 0x06 && o.value == ID_MESSAGE_DIGEST) {
            let vals = children(expect(a.get(1), 0x31, "messageDigest value")?.value)?;
            digest_ok =
                vals.first().is_some_and(|v| v.tag == 0x04 && v.value == sha2::Sha256::digest(tst_der).as_slice());
        }
    }
    if !digest_ok {
        return Err("the token's signed message digest is not the digest of its TSTInfo: the token was altered".into());
    }
    if sig_alg != ID_ECDSA_SHA256 {
        return Err("the token is not signed with ECDSA P-256/SHA-256, which is all this version checks: verify it \
                    with `openssl ts -verify -data seal.json -in seal.tsr -CAfile <TSA root>`"
            .into());
    }
    // The signed attributes are signed as a SET (tag 0x31), not as the [0] they are stored under.
    let mut signed = attrs.whole.to_vec();
    signed[0] = 0x31;
    let sig =
        Signature::from_der(signature).map_err(|_| "the token's signature is not a DER ECDSA signature".to_owned())?;
    let mut signer = None;
    for der in &certs {
        let Ok((_, c)) = X509Certificate::from_der(der) else { continue };
        let Ok(key) = VerifyingKey::from_sec1_bytes(&c.public_key().subject_public_key.data) else { continue };
        if key.verify(&signed, &sig).is_ok() {
            signer = Some(c);
            break;
        }
    }
    let signer = signer.ok_or_else(|| {
        "the token's signature does not verify with any certificate it carries: the token was altered".to_owned()
    })?;
    let for_time_stamping = signer.extended_key_usage().ok().flatten().is_some_and(|e| {
        e.value.time_stamping || e.value.other.iter().any(|o| o.to_id_string() == ID_KP_TIME_STAMPING)
    });
    if !for_time_stamping {
        return Err(format!(
            "{} is not a time-stamping certificate (no timeStamping extended key usage)",
            signer.subject()
        ));
    }
    let mut trusted = false;
    if !anchors.is_empty() {
        let chain: Vec<X509Certificate<'_>> =
            certs.iter().filter_map(|d| X509Certificate::from_der(d).ok().map(|(_, c)| c)).collect();
        for a in anchors {
            let Ok((_, anchor)) = X509Certificate::from_der(a) else { continue };
            let direct = crate::signature::verify_issued_by(&signer, &anchor).is_ok();
            let via = chain.iter().any(|i| {
                crate::signature::verify_issued_by(&signer, i).is_ok()
                    && crate::signature::verify_issued_by(i, &anchor).is_ok()
            });
            if direct || via {
                trusted = true;
                break;
            }
        }
    }
    Ok(TimestampInfo { gen_time_rfc3339: rfc3339(&gen_time), gen_time, tsa: signer.subject().to_string(), trusted })
}
