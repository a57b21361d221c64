//! A real RFC 3161 time-stamping authority for tests: OpenSSL's `openssl ts -reply` with its own
//! test CA and a TSA certificate for time stamping (EC P-256, `extendedKeyUsage = critical,
//! timeStamping`), as the issue of trusted time asks. [`OpensslTsa::stamp`] answers a query made
//! by `openssl ts -query` over a file.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// A test TSA in a folder: `ca.pem` (its root, to trust), `tsa.pem`, `tsa.key`, `tsa.cnf`.
#[derive(Debug, Clone)]
pub struct OpensslTsa {
    pub dir: PathBuf,
}

/// Runs `openssl ARGS` in `dir` (the test PKIs: TLS here and in `tls.rs`, the TSA).
pub(crate) fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("openssl").args(args).current_dir(dir).output().context("run openssl")?;
    if !out.status.success() {
        bail!("openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

impl OpensslTsa {
    /// Creates the CA, the TSA certificate named `name` and the `openssl ts` configuration.
    ///
    /// # Errors
    /// openssl missing or failing.
    pub fn new(dir: &Path, name: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"])?;
        let subj = format!("/CN={name} root");
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-subj",
                &subj,
                "-days",
                "30",
                "-out",
                "ca.pem",
                "-addext",
                "basicConstraints=critical,CA:true",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        )?;
        openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "tsa.key"])?;
        let subj = format!("/CN={name}");
        openssl(dir, &["req", "-new", "-key", "tsa.key", "-subj", &subj, "-out", "tsa.csr"])?;
        std::fs::write(
            dir.join("ext.cnf"),
            "extendedKeyUsage=critical,timeStamping\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:false\n",
        )?;
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "30",
                "-extfile",
                "ext.cnf",
                "-out",
                "tsa.pem",
            ],
        )?;
        std::fs::write(dir.join("serial"), "01\n")?;
        std::fs::write(
            dir.join("tsa.cnf"),
            "[ tsa ]\ndefault_tsa = t\n[ t ]\ndir = .\nserial = $dir/serial\ncrypto_device = builtin\n\
             signer_cert = $dir/tsa.pem\ncerts = $dir/ca.pem\nsigner_key = $dir/tsa.key\nsigner_digest = sha256\n\
             default_policy = 1.2.3.4.1\nother_policies = 1.2.3.4.5\ndigests = sha256\naccuracy = secs:1\n\
             ordering = yes\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
        )?;
        Ok(Self { dir: dir.to_owned() })
    }

    /// The TSA's root certificate (PEM file), to trust.
    pub fn root(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A `TimeStampResp` (DER) over the SHA-256 of `data`'s bytes.
    ///
    /// # Errors
    /// openssl failing.
    pub fn stamp(&self, data: &Path) -> anyhow::Result<Vec<u8>> {
        let d = data.canonicalize()?.display().to_string();
        openssl(&self.dir, &["ts", "-query", "-data", &d, "-sha256", "-cert", "-out", "q.tsq"])?;
        openssl(&self.dir, &["ts", "-reply", "-queryfile", "q.tsq", "-config", "tsa.cnf", "-out", "r.tsr"])?;
        Ok(std::fs::read(self.dir.join("r.tsr"))?)
    }

    /// `openssl ts -verify -data DATA -in TSR -CAfile <this TSA's root>` (the outside judge).
    ///
    /// # Errors
    /// openssl missing.
    pub fn openssl_verifies(&self, data: &Path, tsr: &Path, root: &Path) -> anyhow::Result<bool> {
        let out = Command::new("openssl")
            .args(["ts", "-verify", "-data"])
            .arg(data)
            .arg("-in")
            .arg(tsr)
            .arg("-CAfile")
            .arg(root)
            .output()
            .context("run openssl")?;
        Ok(out.status.success())
    }
}
