//! A real 3-node Garage cluster on loopback (replication 3, consistent mode): the distributed
//! object store the pipeline runs on in production-like tests. Needs the `garage` binary
//! (`scripts/setup` builds it: `cargo install garage --locked`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::process::find_binary;
use crate::servers::{Nodes, free_port, s3_config, wait_port};

/// Garage key ids are `GK` + 24 hex digits, secrets 64 hex digits.
pub const GARAGE_KEY_ID: &str = "GK0e1dbce0b1d5a0c3f2e6a901";
pub const GARAGE_SECRET: &str = "7c5b1f0e3d9a8c6b4e2f1a0d9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a3f2e1d0c9";
/// Shared secret of the nodes' RPC (encrypted node-to-node traffic).
const RPC_SECRET: &str = "3f1e5d7c9b2a4f6e8d0c1b3a5f7e9d2c4b6a8f0e1d3c5b7a9f2e4d6c8b0a1f3e";

/// Three `garage server` processes, each with its own metadata and data directory.
pub struct GarageCluster {
    nodes: Nodes,
    pub s3_ports: Vec<u16>,
    rpc_ports: Vec<u16>,
    pub dir: tempfile::TempDir,
    bin: PathBuf,
}

impl GarageCluster {
    /// Starts the nodes, connects them, gives each a role (one zone, 1 GB), applies the
    /// layout and imports the test key with the right to create buckets.
    ///
    /// # Errors
    /// The binary is missing or a step fails (the command and its output are in the message).
    pub fn start() -> anyhow::Result<Self> {
        let bin = find_binary("garage", "GARAGE_BIN")?;
        let dir = tempfile::tempdir()?;
        let s3_ports = (0..3).map(|_| free_port()).collect::<anyhow::Result<Vec<_>>>()?;
        let rpc_ports = (0..3).map(|_| free_port()).collect::<anyhow::Result<Vec<_>>>()?;
        let mut c = Self { nodes: Nodes::new(3), s3_ports, rpc_ports, dir, bin };
        for i in 0..3 {
            c.write_config(i)?;
            c.spawn(i)?;
        }
        let ids = (0..3).map(|i| c.node_id(i)).collect::<anyhow::Result<Vec<_>>>()?;
        for id in &ids[1..] {
            c.cli(0, &["node", "connect", id])?;
        }
        for id in &ids {
            let short = id.split('@').next().unwrap_or(id);
            c.cli(0, &["layout", "assign", "-z", "dc1", "-c", "1GB", short])?;
        }
        c.cli(0, &["layout", "apply", "--version", "1"])?;
        c.cli(0, &["key", "import", "--yes", GARAGE_KEY_ID, GARAGE_SECRET, "-n", "evidence-test"])?;
        c.cli(0, &["key", "allow", "--create-bucket", GARAGE_KEY_ID])?;
        Ok(c)
    }

    fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("n{}", i + 1))
    }

    fn config_path(&self, i: usize) -> PathBuf {
        self.node_dir(i).join("garage.toml")
    }

    fn write_config(&self, i: usize) -> anyhow::Result<()> {
        let d = self.node_dir(i);
        std::fs::create_dir_all(d.join("meta"))?;
        std::fs::create_dir_all(d.join("data"))?;
        let text = format!(
            "metadata_dir = \"{meta}\"\ndata_dir = \"{data}\"\ndb_engine = \"sqlite\"\n\
             replication_factor = 3\nconsistency_mode = \"consistent\"\n\
             rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{RPC_SECRET}\"\n\
             [s3_api]\ns3_region = \"us-east-1\"\napi_bind_addr = \"127.0.0.1:{s3}\"\nroot_domain = \".s3.garage.localhost\"\n",
            meta = d.join("meta").display(),
            data = d.join("data").display(),
            rpc = self.rpc_ports[i],
            s3 = self.s3_ports[i],
        );
        std::fs::write(self.config_path(i), text)?;
        Ok(())
    }

    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let log = if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() };
        let mut child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.config_path(i))
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", self.bin.display()))?;
        wait_port(self.rpc_ports[i], &mut child, "garage (RPC)")?;
        wait_port(self.s3_ports[i], &mut child, "garage (S3 API)")?;
        self.nodes.set(i, child);
        Ok(())
    }

    /// Runs the garage CLI against node `i`, retrying for a while (the RPC layer needs a
    /// moment after a start or a layout change).
    fn cli(&self, i: usize, args: &[&str]) -> anyhow::Result<String> {
        run_cli(&self.bin, &self.config_path(i), args)
    }

    fn node_id(&self, i: usize) -> anyhow::Result<String> {
        let out = self.cli(i, &["node", "id", "-q"])?;
        let id = out.lines().map(str::trim).find(|l| l.contains('@')).map(str::to_owned);
        id.with_context(|| format!("garage node id printed no id@address: {out}"))
    }

    /// An `[s3]` config on node 1's S3 endpoint with unique bucket names and the test key.
    pub fn config(&self) -> object_store::S3Config {
        let mut c = s3_config(&format!("http://127.0.0.1:{}", self.s3_ports[0]));
        c.static_credentials = Some((GARAGE_KEY_ID.into(), GARAGE_SECRET.into()));
        c
    }

    /// Kills node `i` (0-based) as a crash would.
    pub fn kill(&mut self, i: usize) {
        self.nodes.kill(i);
    }

    /// Starts node `i` again on its ports and directories.
    ///
    /// # Errors
    /// It does not come back.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.kill(i);
        self.spawn(i)
    }

    /// `garage status` as node 1 sees it (for failure messages).
    pub fn status(&self) -> String {
        self.cli(0, &["status"]).unwrap_or_else(|e| format!("{e:#}"))
    }
}

fn run_cli(bin: &Path, config: &Path, args: &[&str]) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(bin)
            .arg("-c")
            .arg(config)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .with_context(|| format!("run {}", bin.display()))?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if out.status.success() {
            return Ok(text);
        }
        if Instant::now() > deadline {
            bail!("garage {} failed: {text}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
