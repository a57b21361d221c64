//! Real servers on free loopback ports, one per test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::process::find_binary;

pub const S3_ACCESS_KEY: &str = "evidence-test";
pub const S3_SECRET_KEY: &str = "evidence-test-secret";

pub(crate) fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

pub(crate) fn wait_port(port: u16, child: &mut Child, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited at start with {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{what} did not listen on port {port} within 20 s")
}

/// A real `nats-server -js` with its own store directory.
pub struct NatsServer {
    child: Child,
    pub port: u16,
    pub url: String,
    pub store: tempfile::TempDir,
    bin: PathBuf,
}

impl NatsServer {
    /// # Errors
    /// The binary is missing or does not start.
    pub fn start() -> anyhow::Result<Self> {
        let bin = find_binary("nats-server", "NATS_SERVER_BIN")?;
        let store = tempfile::tempdir()?;
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            let mut child = spawn_nats(&bin, port, store.path())?;
            match wait_port(port, &mut child, "nats-server") {
                Ok(()) => {
                    return Ok(Self { child, port, url: format!("nats://127.0.0.1:{port}"), store, bin });
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("nats-server did not start")))
    }

    /// A server whose `authorization { … }` block is `auth` (users, nkeys, permissions), as
    /// deploy/nats/auth.conf configures production.
    ///
    /// # Errors
    /// The binary is missing, the config is invalid, or the server does not start.
    pub fn start_with_auth(auth: &str) -> anyhow::Result<Self> {
        let bin = find_binary("nats-server", "NATS_SERVER_BIN")?;
        let store = tempfile::tempdir()?;
        let conf = store.path().join("auth.conf");
        std::fs::write(&conf, format!("authorization {{\n{auth}\n}}\n"))?;
        let (child, port) = spawn_on_free_port("nats-server", |port| {
            let mut c = Command::new(&bin);
            c.arg("-c")
                .arg(&conf)
                .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "--store_dir"])
                .arg(store.path());
            c
        })?;
        Ok(Self { child, port, url: format!("nats://127.0.0.1:{port}"), store, bin })
    }

    /// Kills the server (as a crash would) and starts it again on the same port and store.
    ///
    /// # Errors
    /// It does not come back.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_nats(&self.bin, self.port, self.store.path())?;
        wait_port(self.port, &mut self.child, "nats-server")
    }
}

fn spawn_nats(bin: &PathBuf, port: u16, store: &std::path::Path) -> anyhow::Result<Child> {
    let log = if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() };
    Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "--store_dir"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("spawn {}", bin.display()))
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A 3-node JetStream cluster on loopback (what deploy/nats/cluster/ configures for
/// production), each node with its own store. Nodes can be killed and restarted.
pub struct NatsCluster {
    nodes: Nodes,
    pub ports: Vec<u16>,
    cluster_ports: Vec<u16>,
    pub store: tempfile::TempDir,
    bin: PathBuf,
}

impl NatsCluster {
    /// # Errors
    /// The binary is missing or a node does not start.
    pub fn start() -> anyhow::Result<Self> {
        let bin = find_binary("nats-server", "NATS_SERVER_BIN")?;
        let store = tempfile::tempdir()?;
        let ports = (0..3).map(|_| free_port()).collect::<anyhow::Result<Vec<_>>>()?;
        let cluster_ports = (0..3).map(|_| free_port()).collect::<anyhow::Result<Vec<_>>>()?;
        let mut c = Self { nodes: Nodes::new(3), ports, cluster_ports, store, bin };
        for i in 0..3 {
            c.spawn(i)?;
        }
        for i in 0..3 {
            let port = c.ports[i];
            let child = c.nodes.get_mut(i).context("node")?;
            wait_port(port, child, "nats-server (cluster node)")?;
        }
        Ok(c)
    }

    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let routes: Vec<String> = self
            .cluster_ports
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| format!("nats://127.0.0.1:{p}"))
            .collect();
        let dir = self.store.path().join(format!("n{}", i + 1));
        std::fs::create_dir_all(&dir)?;
        let log = if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() };
        let child = Command::new(&self.bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &self.ports[i].to_string()])
            .args(["--server_name", &format!("n{}", i + 1), "--cluster_name", "evidence"])
            .args(["--cluster", &format!("nats://127.0.0.1:{}", self.cluster_ports[i])])
            .args(["--routes", &routes.join(",")])
            .arg("--store_dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", self.bin.display()))?;
        self.nodes.set(i, child);
        Ok(())
    }

    /// Every node's client URL, comma-separated (what `nats.url` takes).
    pub fn url(&self) -> String {
        self.ports.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect::<Vec<_>>().join(",")
    }

    /// Kills node `i` (0-based) as a crash would.
    pub fn kill(&mut self, i: usize) {
        self.nodes.kill(i);
    }

    /// Starts node `i` again on its ports and store.
    ///
    /// # Errors
    /// It does not come back.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.kill(i);
        self.spawn(i)?;
        let port = self.ports[i];
        let child = self.nodes.get_mut(i).context("node")?;
        wait_port(port, child, "nats-server (cluster node)")
    }
}

/// The processes of a cluster by node index; a killed node's slot is empty until it is started
/// again; every node is killed on drop.
pub(crate) struct Nodes(Vec<Option<Child>>);

impl Nodes {
    pub(crate) fn new(n: usize) -> Self {
        Self((0..n).map(|_| None).collect())
    }

    /// Puts a started process in slot `i` (killing whatever ran there).
    pub(crate) fn set(&mut self, i: usize, child: Child) {
        self.kill(i);
        self.0[i] = Some(child);
    }

    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut Child> {
        self.0[i].as_mut()
    }

    /// SIGKILL, as a crash would.
    pub(crate) fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.0[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for i in 0..self.0.len() {
            self.kill(i);
        }
    }
}

/// Starts a server on a free loopback port, retrying on another port when it does not come up
/// (another test may take the port between probe and bind). `command` builds the command line.
fn spawn_on_free_port(what: &str, command: impl Fn(u16) -> Command) -> anyhow::Result<(Child, u16)> {
    let mut last = None;
    for _ in 0..5 {
        let port = free_port()?;
        let log = if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() };
        let mut child =
            command(port).stdout(Stdio::null()).stderr(log).spawn().with_context(|| format!("spawn {what}"))?;
        match wait_port(port, &mut child, what) {
            Ok(()) => return Ok((child, port)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("{what} did not start")))
}

/// An `[s3]` config for `endpoint` with unique bucket names and the test credentials.
pub(crate) fn s3_config(endpoint: &str) -> object_store::S3Config {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    object_store::S3Config {
        endpoint: Some(endpoint.to_owned()),
        working_bucket: format!("work-{}", &tag[..12]),
        evidence_bucket: format!("evidence-{}", &tag[..12]),
        static_credentials: Some((S3_ACCESS_KEY.into(), S3_SECRET_KEY.into())),
        ..Default::default()
    }
}

/// A real S3-compatible server (`dev-s3`: the `s3s-fs` library over a folder) with its own root directory.
pub struct S3Server {
    child: Child,
    pub port: u16,
    pub endpoint: String,
    pub root: tempfile::TempDir,
    bin: PathBuf,
    /// The secret requests must be signed with (changes with [`Self::rotate_secret`]).
    secret: String,
}

impl S3Server {
    /// # Errors
    /// The binary is missing or does not start.
    pub fn start() -> anyhow::Result<Self> {
        let bin = match std::env::var_os("DEV_S3_BIN") {
            Some(p) => PathBuf::from(p),
            None => crate::process::workspace_bin("dev-s3")?,
        };
        let root = tempfile::tempdir()?;
        let secret = S3_SECRET_KEY.to_owned();
        let (child, port) = spawn_on_free_port("dev-s3", |port| dev_s3_command(&bin, port, root.path(), &secret))?;
        Ok(Self { child, port, endpoint: format!("http://127.0.0.1:{port}"), root, bin, secret })
    }

    /// Starts the server again on the same port and root after [`Self::stop`] (the end of an
    /// outage).
    ///
    /// # Errors
    /// It does not come back (e.g. the port was taken meanwhile).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        let mut child = dev_s3_command(&self.bin, self.port, self.root.path(), &self.secret)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawn dev-s3")?;
        wait_port(self.port, &mut child, "dev-s3 (restart)")?;
        self.child = child;
        Ok(())
    }

    /// The access key's secret changes (a key rotation at the store): the server restarts on the
    /// same port and data, and refuses requests signed with the old secret from then on.
    ///
    /// # Errors
    /// It does not come back.
    pub fn rotate_secret(&mut self, secret: &str) -> anyhow::Result<()> {
        secret.clone_into(&mut self.secret);
        self.restart()
    }

    /// An `[s3]` config pointing at this server with unique bucket names.
    pub fn config(&self) -> object_store::S3Config {
        s3_config(&self.endpoint)
    }

    /// Stops the server (the data stays) — simulates an unreachable store.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn dev_s3_command(bin: &std::path::Path, port: u16, root: &std::path::Path, secret: &str) -> Command {
    let mut c = Command::new(bin);
    c.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", S3_ACCESS_KEY, "--secret-key", secret])
        .arg(root);
    c
}

/// `moto_server` (PyPI `moto[server]`): an in-memory **mock** of AWS S3 that, unlike s3s-fs and
/// Garage, enforces S3 Object Lock. Used only to show what the sealer does on a WORM store;
/// it is a mock, and tests that use it say so in their names.
pub struct MotoS3Mock {
    child: Child,
    pub endpoint: String,
}

impl MotoS3Mock {
    /// # Errors
    /// The binary is missing (run scripts/setup) or does not start.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(None)
    }

    /// The mock with IAM enforced: the first `setup_actions` requests are let through
    /// unauthenticated (to create a bucket, users, policies and keys); every later request must
    /// be signed by an IAM user whose policy allows the action on the resource (moto's
    /// `INITIAL_NO_AUTH_ACTION_COUNT`). Moto matches resource ARNs but knows no policy
    /// variables (`${aws:username}`): policies are given per user.
    ///
    /// # Errors
    /// As [`Self::start`].
    pub fn start_with_iam(setup_actions: u32) -> anyhow::Result<Self> {
        Self::start_with(Some(setup_actions))
    }

    fn start_with(no_auth: Option<u32>) -> anyhow::Result<Self> {
        let bin = find_binary("moto_server", "MOTO_SERVER_BIN")?;
        let (child, port) = spawn_on_free_port("moto_server", |port| {
            let mut c = Command::new(&bin);
            c.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            if let Some(n) = no_auth {
                c.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
            }
            c
        })?;
        Ok(Self { child, endpoint: format!("http://127.0.0.1:{port}") })
    }

    /// An `[s3]` config for the mock (any credentials are accepted).
    pub fn config(&self) -> object_store::S3Config {
        s3_config(&self.endpoint)
    }
}

impl Drop for MotoS3Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
