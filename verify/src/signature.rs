//! Detached signatures (`seal.sig`, ledger checkpoints): ES256 over the exact bytes of the
//! signed object, with the signer's certificate chain (PEM, signer first), checked up to a trust
//! anchor when one is given. By hand: the signature is base64 of `r‖s` (P-256, SHA-256);
//! `openssl dgst -sha256 -verify signer.pub.pem -signature sig.der seal.json` checks it once `r‖s` is
//! put in DER (see README.md).

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine as _;
use evidence_contracts::seal::SignatureV1;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::Digest as _;
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// Splits a PEM bundle into its `CERTIFICATE` blocks (as PEM text) and their DER.
pub fn certificates(pem_text: &[u8], what: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let blocks = ::pem::parse_many(pem_text).with_context(|| format!("{} is not PEM", what.display()))?;
    let certs: Vec<(String, Vec<u8>)> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| (::pem::encode(&b), b.contents().to_vec()))
        .collect();
    if certs.is_empty() {
        bail!("{} holds no CERTIFICATE block; give the signer certificate followed by its CA", what.display());
    }
    Ok(certs)
}

/// What a verified signature says about its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerInfo {
    pub subject: String,
    pub cert_sha256: String,
    /// The chain ends in one of the given trust anchors (false when none were given).
    pub trusted: bool,
}

pub(crate) fn verify_issued_by(child: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Result<(), String> {
    let key = VerifyingKey::from_sec1_bytes(&issuer.public_key().subject_public_key.data)
        .map_err(|_| format!("issuer {} key is not P-256", issuer.subject()))?;
    let sig = Signature::from_der(&child.signature_value.data)
        .map_err(|e| format!("certificate {} signature is not ECDSA: {e}", child.subject()))?;
    key.verify(child.tbs_certificate.as_ref(), &sig)
        .map_err(|_| format!("certificate {} is not signed by {}", child.subject(), issuer.subject()))
}

/// Verifies a detached signature over `bytes`, and the certificate chain it carries up to one
/// of `anchors` (PEM or DER certificates) when given. Only P-256 chains are checked (what
/// [`dev_ca`] and the documented production setup produce).
///
/// # Errors
/// One sentence naming what does not hold.
pub fn verify(sig: &SignatureV1, bytes: &[u8], anchors: &[Vec<u8>]) -> Result<SignerInfo, String> {
    if sig.alg != "ES256" {
        return Err(format!("signature algorithm {} is not ES256", sig.alg));
    }
    if sig.signed_size != bytes.len() as u64 {
        return Err(format!("signed {} bytes, the object has {}", sig.signed_size, bytes.len()));
    }
    if sig.signed_sha256.0 != <[u8; 32]>::from(sha2::Sha256::digest(bytes)) {
        return Err("the object's SHA-256 differs from the one signed".into());
    }
    let ders: Vec<Vec<u8>> = sig
        .certificate_chain
        .iter()
        .map(|p| ::pem::parse(p).map(|b| b.contents().to_vec()).map_err(|e| format!("certificate_chain: {e}")))
        .collect::<Result<_, _>>()?;
    let Some(leaf_der) = ders.first() else {
        return Err("certificate_chain is empty".into());
    };
    let (_, leaf) = X509Certificate::from_der(leaf_der).map_err(|e| format!("signer certificate: {e}"))?;
    let key = VerifyingKey::from_sec1_bytes(&leaf.public_key().subject_public_key.data)
        .map_err(|_| "signer key is not P-256".to_owned())?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&sig.signature)
        .map_err(|e| format!("signature is not base64: {e}"))?;
    let s = Signature::from_slice(&raw).map_err(|_| "signature is not 64 bytes r||s".to_owned())?;
    key.verify(bytes, &s)
        .map_err(|_| "signature does not verify: the bytes or the signature were changed".to_owned())?;
    let mut parsed = Vec::new();
    for d in &ders {
        parsed.push(X509Certificate::from_der(d).map_err(|e| format!("certificate_chain: {e}"))?.1);
    }
    for pair in parsed.windows(2) {
        verify_issued_by(&pair[0], &pair[1])?;
    }
    let mut trusted = false;
    if !anchors.is_empty() {
        let last = parsed.last().unwrap_or(&leaf);
        for a in anchors {
            let Ok((_, anchor)) = X509Certificate::from_der(a) else { continue };
            if a == ders.last().unwrap_or(leaf_der) || verify_issued_by(last, &anchor).is_ok() {
                trusted = true;
                break;
            }
        }
    }
    Ok(SignerInfo {
        subject: leaf.subject().to_string(),
        cert_sha256: hex::encode(sha2::Sha256::digest(leaf_der)),
        trusted,
    })
}

/// Reads trust anchors (PEM bundle) into DER certificates.
///
/// # Errors
/// Unreadable or not PEM.
pub fn read_anchors(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let text = std::fs::read(path).with_context(|| format!("read trust anchors {}", path.display()))?;
    Ok(certificates(&text, path)?.into_iter().map(|(_, d)| d).collect())
}
