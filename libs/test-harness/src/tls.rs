//! TLS for the tests: a throw-away PKI made with the `openssl` command line (a CA, a server
//! certificate for 127.0.0.1/localhost, a client certificate), nats-server with TLS (optionally
//! verifying clients), and a TLS terminator (`socat`) in front of a plain-HTTP S3 server, as
//! nginx or haproxy stand in front of Garage in production.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;

use crate::process::find_binary;
use crate::servers::{free_port, wait_port};

/// A CA and the certificates it signed, as PEM files in a temporary directory.
pub struct TestPki {
    pub dir: tempfile::TempDir,
}

impl TestPki {
    /// # Errors
    /// `openssl` is missing or fails (its output is in the message).
    pub fn generate() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        let ossl = |args: &[&str]| crate::tsa::openssl(d, args);
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        let mut ca =
            vec!["req", "-x509", "-days", "2", "-subj", "/CN=evidence test CA", "-keyout", "ca.key", "-out", "ca.pem"];
        ca.extend(ec);
        ca.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
        ossl(&ca)?;
        for (name, cn, ext) in [
            ("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
            ("client", "evidence-worker", "extendedKeyUsage=clientAuth\n"),
        ] {
            std::fs::write(d.join(format!("{name}.ext")), ext)?;
            let (key, csr, pem, extf) =
                (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
            let subj = format!("/CN={cn}");
            let mut req = vec!["req", "-new", "-subj", subj.as_str(), "-keyout", key.as_str(), "-out", csr.as_str()];
            req.extend(ec);
            ossl(&req)?;
            ossl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &extf,
            ])?;
        }
        Ok(Self { dir })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn ca(&self) -> PathBuf {
        self.path("ca.pem")
    }
}

/// `nats-server -js` with TLS; with `verify_clients`, clients need a certificate from the CA.
pub struct TlsNatsServer {
    child: Child,
    pub url: String,
    pub store: tempfile::TempDir,
}

impl TlsNatsServer {
    /// # Errors
    /// The binary is missing or does not start.
    pub fn start(pki: &TestPki, verify_clients: bool) -> anyhow::Result<Self> {
        let bin = find_binary("nats-server", "NATS_SERVER_BIN")?;
        let store = tempfile::tempdir()?;
        let port = free_port()?;
        let mut cmd = Command::new(&bin);
        cmd.args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "--tls"])
            .arg("--tlscert")
            .arg(pki.path("server.pem"))
            .arg("--tlskey")
            .arg(pki.path("server.key"))
            .arg("--store_dir")
            .arg(store.path());
        if verify_clients {
            cmd.arg("--tlsverify").arg("--tlscacert").arg(pki.ca());
        }
        let log = if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() };
        let mut child = cmd.stdout(Stdio::null()).stderr(log).spawn().context("spawn nats-server")?;
        wait_port(port, &mut child, "nats-server (TLS)")?;
        Ok(Self { child, url: format!("tls://127.0.0.1:{port}"), store })
    }
}

impl Drop for TlsNatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `socat` terminating TLS on a free port and forwarding to a plain TCP port on loopback.
pub struct TlsTerminator {
    child: Child,
    pub port: u16,
}

impl TlsTerminator {
    /// # Errors
    /// `socat` is missing (run scripts/setup) or does not start.
    pub fn start(pki: &TestPki, target_port: u16) -> anyhow::Result<Self> {
        let bin = find_binary("socat", "SOCAT_BIN")?;
        let port = free_port()?;
        let listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}",
            path_str(&pki.path("server.pem"))?,
            path_str(&pki.path("server.key"))?
        );
        let mut child = Command::new(bin)
            .arg(listen)
            .arg(format!("TCP:127.0.0.1:{target_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawn socat")?;
        wait_port(port, &mut child, "socat (TLS terminator)")?;
        Ok(Self { child, port })
    }
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().with_context(|| format!("{} is not UTF-8", p.display()))
}

impl Drop for TlsTerminator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
