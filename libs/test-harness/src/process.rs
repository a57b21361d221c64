//! Finding binaries and running worker processes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

/// Finds an external tool: `$ENV_VAR`, then `PATH`, then `/opt/evidence-tools`.
///
/// # Errors
/// Not found anywhere; the message says how to install it.
pub fn find_binary(name: &str, env_var: &str) -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os(env_var) {
        return Ok(PathBuf::from(p));
    }
    let mut candidates: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect()).unwrap_or_default();
    candidates.push(PathBuf::from(format!("/opt/evidence-tools/bin/{name}")));
    candidates.into_iter().find(|p| p.is_file()).with_context(|| {
        format!(
            "{name} not found (set {env_var}, or run scripts/setup which installs it under /opt/evidence-tools/bin)"
        )
    })
}

/// A file of the repository, found at run time from the package cargo runs the test for
/// (`CARGO_MANIFEST_DIR` is set by `cargo test`), not from where the test binary was built: a
/// binary reused from a shared target directory reads the checkout it runs in.
///
/// # Panics
/// Outside `cargo test`, or when no `Cargo.lock` is found above the package.
pub fn repo_path(rel: &str) -> PathBuf {
    let pkg =
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).expect("CARGO_MANIFEST_DIR (run under cargo test)");
    let root = pkg.ancestors().find(|d| d.join("Cargo.lock").exists()).expect("the workspace root above the package");
    root.join(rel)
}

/// A binary of this workspace, next to the test executable's `deps/` folder.
///
/// # Errors
/// Not built; the message says to run `cargo build --workspace --bins`.
pub fn workspace_bin(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().and_then(|d| d.parent()).context("test executable has no target dir")?;
    let p = dir.join(name);
    if !p.is_file() {
        bail!("{} is not built; run `cargo build --workspace --bins` first", p.display());
    }
    Ok(p)
}

/// A spawned worker. Its stderr is collected (and echoed with `TEST_LOG=1`); killed on drop.
pub struct Worker {
    pub name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Worker {
    /// Spawns `bin args…` with `envs`.
    ///
    /// # Errors
    /// The binary cannot be started.
    pub fn spawn(name: &str, bin: &PathBuf, args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut cmd = Command::new(bin);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        cmd.env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().with_context(|| format!("spawn {}", bin.display()))?;
        let stderr = child.stderr.take().context("stderr piped")?;
        let (tx, rx) = mpsc::channel();
        let echo = std::env::var_os("TEST_LOG").is_some();
        let tag = name.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("[{tag}] {line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { name: name.to_owned(), child, lines: rx, log: Vec::new() })
    }

    /// Bytes the process has read so far through read(2) and friends, files and sockets alike
    /// (`rchar` of `/proc/<pid>/io`): what it cost, counted by the kernel.
    ///
    /// # Errors
    /// The process is gone or /proc is unreadable.
    pub fn bytes_read(&self) -> anyhow::Result<u64> {
        proc_field(&format!("/proc/{}/io", self.child.id()), "rchar:", 1)
    }

    /// The process's peak resident set so far, in bytes (`VmHWM` of `/proc/<pid>/status`).
    ///
    /// # Errors
    /// The process is gone or /proc is unreadable.
    pub fn peak_rss(&self) -> anyhow::Result<u64> {
        proc_field(&format!("/proc/{}/status", self.child.id()), "VmHWM:", 1024)
    }

    /// Moves whatever the process logged so far into `self.log`.
    pub fn drain_log(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.log.push(l);
        }
    }

    /// Waits for a log line containing `needle`; returns it.
    ///
    /// # Errors
    /// Timeout or the process exited first.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        if let Some(l) = self.log.iter().find(|l| l.contains(needle)) {
            return Ok(l.clone());
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                bail!(
                    "{}: no log line containing {needle:?} within {timeout:?}; log:\n{}",
                    self.name,
                    self.log.join("\n")
                );
            }
            match self.lines.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(l) => {
                    self.log.push(l.clone());
                    if l.contains(needle) {
                        return Ok(l);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(s) = self.child.try_wait()? {
                        self.drain_log();
                        bail!("{} exited with {s} before logging {needle:?}; log:\n{}", self.name, self.log.join("\n"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("{} closed stderr before logging {needle:?}; log:\n{}", self.name, self.log.join("\n"));
                }
            }
        }
    }

    /// The telemetry address from the `listening addr=` line.
    ///
    /// # Errors
    /// The line never came.
    pub fn metrics_addr(&mut self) -> anyhow::Result<String> {
        let line = self.wait_for_line("listening addr=", Duration::from_secs(30))?;
        let addr = line.split("listening addr=").nth(1).context("addr")?.split_whitespace().next().context("addr")?;
        Ok(addr.trim_matches('"').to_owned())
    }

    /// SIGKILL, as a crash or power loss would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.drain_log();
    }

    /// SIGTERM and wait for exit; returns the exit code.
    ///
    /// # Errors
    /// It did not exit within `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> anyhow::Result<Option<i32>> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait()? {
                self.drain_log();
                return Ok(s.code());
            }
            if std::time::Instant::now() > deadline {
                bail!("{} did not exit within {timeout:?} after SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the process exits on its own; returns its exit status.
    ///
    /// # Errors
    /// Still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait()? {
                self.drain_log();
                return Ok(s);
            }
            if std::time::Instant::now() > deadline {
                self.drain_log();
                bail!("{} still running after {timeout:?}; log:\n{}", self.name, self.log.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything logged so far.
    pub fn log_text(&mut self) -> String {
        self.drain_log();
        self.log.join("\n")
    }

    /// Lines logged at ERROR level so far.
    pub fn error_lines(&mut self) -> Vec<String> {
        self.drain_log();
        self.log.iter().filter(|l| l.contains(" ERROR ")).cloned().collect()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proc_field(path: &str, name: &str, unit: u64) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    let v = text
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("{path}: no {name}"))?;
    Ok(v * unit)
}
