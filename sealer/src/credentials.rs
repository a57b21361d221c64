//! The sealer's signing identity: an ES256 (P-256) private key in PKCS#8 PEM and its
//! certificate chain in PEM (signer first, then its issuing CA). The same identity signs the
//! C2PA manifests and the detached signatures over `seal.json` and ledger checkpoints, so a
//! court checks one certificate.
//!
//! C2PA (0.90.22) refuses a self-signed signer: the signer must be issued by a CA, must not be a
//! CA itself, and needs the digitalSignature key usage and an extended key usage
//! (emailProtection here). [`dev_ca`] makes such a pair for development and tests; production
//! takes its signer from the agency's PKI (see `sealer/README.md`).

use std::path::{Path, PathBuf};

pub use evidence_verify::signature::{SignerInfo, certificates, read_anchors, verify};

use anyhow::{Context, bail};
use base64::Engine as _;
use evidence_contracts::Sha256Digest;
use evidence_contracts::seal::{SignatureSchema, SignatureV1};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey as _;
use sha2::Digest as _;
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// Loaded signing identity.
pub struct Credentials {
    chain_pem: Vec<u8>,
    key_pem: Vec<u8>,
    key: SigningKey,
    chain: Vec<String>,
    subject: String,
    cert_sha256: String,
    tsa_url: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("subject", &self.subject).field("cert_sha256", &self.cert_sha256).finish()
    }
}

impl Credentials {
    /// Loads `cert_chain` (PEM, signer first) and `key` (PKCS#8 PEM, P-256).
    ///
    /// # Errors
    /// Unreadable files, a key that is not P-256 PKCS#8, a certificate whose public key is not
    /// the key's, a signer certificate that is a CA.
    pub fn load(cert_chain: &Path, key: &Path, tsa_url: Option<String>) -> anyhow::Result<Self> {
        let chain_pem = std::fs::read(cert_chain)
            .with_context(|| format!("read seal.certificate_chain {}", cert_chain.display()))?;
        let key_pem = std::fs::read(key).with_context(|| format!("read seal.private_key {}", key.display()))?;
        let key_text = std::str::from_utf8(&key_pem).with_context(|| format!("{} is not PEM text", key.display()))?;
        let signing = SigningKey::from_pkcs8_pem(key_text).map_err(|e| {
            anyhow::anyhow!("{}: not a PKCS#8 PEM P-256 private key ({e}); ES256 needs a P-256 key", key.display())
        })?;
        let certs = certificates(&chain_pem, cert_chain)?;
        let (_, leaf) = X509Certificate::from_der(&certs[0].1)
            .map_err(|e| anyhow::anyhow!("{}: first certificate does not parse: {e}", cert_chain.display()))?;
        let leaf_key = VerifyingKey::from_sec1_bytes(&leaf.public_key().subject_public_key.data)
            .map_err(|_| anyhow::anyhow!("{}: signer certificate key is not P-256", cert_chain.display()))?;
        if &leaf_key != signing.verifying_key() {
            bail!(
                "{} does not certify the key in {}: the first certificate must be the signer's",
                cert_chain.display(),
                key.display()
            );
        }
        if leaf.is_ca() {
            bail!(
                "{}: the signer certificate is a CA; C2PA requires an end-entity signer issued by a CA",
                cert_chain.display()
            );
        }
        let subject = leaf.subject().to_string();
        let cert_sha256 = hex::encode(sha2::Sha256::digest(&certs[0].1));
        Ok(Self {
            chain: certs.into_iter().map(|(p, _)| p).collect(),
            chain_pem,
            key_pem,
            key: signing,
            subject,
            cert_sha256,
            tsa_url,
        })
    }

    /// A C2PA signer over the same identity.
    ///
    /// # Errors
    /// c2pa refuses the certificate (its message says why).
    pub fn c2pa_signer(&self) -> c2pa::Result<c2pa::BoxedSigner> {
        c2pa::create_signer::from_keys(&self.chain_pem, &self.key_pem, c2pa::SigningAlg::Es256, self.tsa_url.clone())
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn cert_sha256(&self) -> &str {
        &self.cert_sha256
    }

    /// Signs the exact bytes stored under `key`. ECDSA with RFC 6979 nonces: the same bytes and
    /// key always give the same signature, so a retried seal writes an identical `seal.sig`.
    pub fn sign(&self, key: &str, bytes: &[u8]) -> SignatureV1 {
        let sig: Signature = self.key.sign(bytes);
        SignatureV1 {
            schema: SignatureSchema,
            alg: "ES256".into(),
            signed_key: key.to_owned(),
            signed_size: bytes.len() as u64,
            signed_sha256: Sha256Digest(sha2::Sha256::digest(bytes).into()),
            signature: base64::engine::general_purpose::STANDARD.encode(sig.to_bytes()),
            certificate_chain: self.chain.clone(),
        }
    }
}

/// Files written by [`dev_ca`].
#[derive(Debug, Clone)]
pub struct DevCa {
    pub ca_cert: PathBuf,
    pub chain: PathBuf,
    pub key: PathBuf,
}

/// Creates a development CA and a signer issued by it, as PEM files in `dir`:
/// `ca.cert.pem` (the trust anchor to give verifiers), `signer.chain.pem` (signer then CA) and
/// `signer.key.pem` (PKCS#8, mode 0600). Refuses to overwrite existing files.
///
/// # Errors
/// Existing files, unwritable folder.
pub fn dev_ca(dir: &Path, organisation: &str, days: u32) -> anyhow::Result<DevCa> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let out = DevCa {
        ca_cert: dir.join("ca.cert.pem"),
        chain: dir.join("signer.chain.pem"),
        key: dir.join("signer.key.pem"),
    };
    for p in [&out.ca_cert, &out.chain, &out.key] {
        if p.exists() {
            bail!("{} exists; a signing identity is never overwritten (remove it deliberately)", p.display());
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let start = now - time::Duration::days(1);
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(DnType::OrganizationName, organisation);
    ca.distinguished_name.push(DnType::CommonName, format!("{organisation} evidence development CA"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca.not_before = start;
    ca.not_after = now + time::Duration::days(i64::from(days) + 365);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut leaf = CertificateParams::new(Vec::<String>::new())?;
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.distinguished_name.push(DnType::OrganizationName, organisation);
    leaf.distinguished_name.push(DnType::CommonName, format!("{organisation} evidence sealer (development)"));
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = start;
    leaf.not_after = now + time::Duration::days(i64::from(days));
    let leaf_cert = leaf.signed_by(&key, &issuer)?;

    std::fs::write(&out.ca_cert, ca_cert.pem()).with_context(|| format!("write {}", out.ca_cert.display()))?;
    std::fs::write(&out.chain, format!("{}{}", leaf_cert.pem(), ca_cert.pem()))
        .with_context(|| format!("write {}", out.chain.display()))?;
    write_private(&out.key, key.serialize_pem().as_bytes())?;
    Ok(out)
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_identity_signs_and_verifies_and_catches_changes() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dev_ca(dir.path(), "Test Agency", 30).unwrap();
        assert!(dev_ca(dir.path(), "Test Agency", 30).is_err(), "never overwrites");
        let creds = Credentials::load(&ca.chain, &ca.key, None).unwrap();
        assert!(creds.subject().contains("Test Agency"));
        let sig = creds.sign("x/seal.json", b"{\"a\":1}");
        assert_eq!(sig, creds.sign("x/seal.json", b"{\"a\":1}"), "deterministic");
        let anchors = read_anchors(&ca.ca_cert).unwrap();
        let info = verify(&sig, b"{\"a\":1}", &anchors).unwrap();
        assert!(info.trusted);
        assert!(!verify(&sig, b"{\"a\":1}", &[]).unwrap().trusted);
        assert!(verify(&sig, b"{\"a\":2}", &anchors).is_err());
        let mut forged = sig.clone();
        forged.signed_sha256 = Sha256Digest(sha2::Sha256::digest(b"{\"a\":2}").into());
        assert!(verify(&forged, b"{\"a\":2}", &anchors).unwrap_err().contains("does not verify"));
        // Another CA's anchor does not make it trusted.
        let other = tempfile::tempdir().unwrap();
        let other_ca = dev_ca(other.path(), "Other", 30).unwrap();
        assert!(!verify(&sig, b"{\"a\":1}", &read_anchors(&other_ca.ca_cert).unwrap()).unwrap().trusted);
        // c2pa accepts the identity.
        creds.c2pa_signer().unwrap();
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_refused() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let ca_a = dev_ca(a.path(), "A", 30).unwrap();
        let ca_b = dev_ca(b.path(), "B", 30).unwrap();
        let e = Credentials::load(&ca_a.chain, &ca_b.key, None).unwrap_err().to_string();
        assert!(e.contains("does not certify"), "{e}");
    }
}
