//! A whole pipeline for one test: its own servers, buckets, configs and worker processes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use evidence_contracts::events::EvidenceSealedV1;
use evidence_contracts::{decode, subjects};
use test_harness::{NatsServer, S3Server, Worker, workspace_bin};

pub struct Pipeline {
    pub nats: NatsServer,
    /// What the workers connect to: the server above, or a cluster's URL list ([`Self::use_nats`]).
    pub nats_url: String,
    nats_extra: String,
    /// The s3s-fs server (kept alive even when [`Self::use_s3`] points the workers elsewhere).
    #[allow(dead_code)]
    pub s3: S3Server,
    pub s3cfg: object_store::S3Config,
    pub dir: tempfile::TempDir,
    pub workers: Vec<Worker>,
    /// The transcoder's default access policy (a playable original serves as its own access
    /// rendition) instead of a copy of every recording; see [`Self::serve_playable_originals`].
    serve_playable: bool,
}

impl Pipeline {
    /// Servers up, configs written; no worker started yet.
    pub fn new() -> anyhow::Result<Self> {
        let nats = NatsServer::start()?;
        let s3 = S3Server::start()?;
        let s3cfg = s3.config();
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("s3-secret"), test_harness::S3_SECRET_KEY)?;
        let nats_url = nats.url.clone();
        let p = Self {
            nats,
            nats_url,
            nats_extra: String::new(),
            s3,
            s3cfg,
            dir,
            workers: Vec::new(),
            serve_playable: false,
        };
        for w in ["ingest-worker", "transcoder", "sealer", "station"] {
            std::fs::write(p.config_path(w), p.config_text(w))?;
        }
        Ok(p)
    }

    /// Points every worker at another S3 endpoint (e.g. the moto mock) and rewrites the configs.
    pub fn use_s3(&mut self, cfg: object_store::S3Config) -> anyhow::Result<()> {
        if let Some((_, secret)) = &cfg.static_credentials {
            std::fs::write(self.dir.path().join("s3-secret"), secret)?;
        }
        self.s3cfg = cfg;
        for w in ["ingest-worker", "transcoder", "sealer", "station"] {
            std::fs::write(self.config_path(w), self.config_text(w))?;
        }
        Ok(())
    }

    /// Points every process at other NATS servers (a cluster's URL list), with extra `[nats]`
    /// lines (e.g. `stream_replicas = 3`), and rewrites the configs.
    pub fn use_nats(&mut self, url: &str, extra: &str) -> anyhow::Result<()> {
        self.nats_url = url.to_owned();
        self.nats_extra = extra.to_owned();
        for w in ["ingest-worker", "transcoder", "sealer", "station"] {
            std::fs::write(self.config_path(w), self.config_text(w))?;
        }
        Ok(())
    }

    /// The transcoder runs its default access policy: a playable original is not copied.
    pub fn serve_playable_originals(&mut self) -> anyhow::Result<()> {
        self.serve_playable = true;
        std::fs::write(self.config_path("transcoder"), self.config_text("transcoder"))?;
        Ok(())
    }

    /// Appends `extra` to a worker's `[seal]`/`[…]` section text (the config is rewritten).
    pub fn config_append(&self, worker: &str, section: &str, extra: &str) -> anyhow::Result<()> {
        let text = self.config_text(worker).replace(&format!("[{section}]\n"), &format!("[{section}]\n{extra}\n"));
        std::fs::write(self.config_path(worker), text)?;
        Ok(())
    }

    pub fn config_path(&self, worker: &str) -> PathBuf {
        self.dir.path().join(format!("{worker}.toml"))
    }

    fn config_text(&self, worker: &str) -> String {
        let d = self.dir.path().display();
        let mut t = format!(
            "[nats]\nurl = \"{}\"\n{}\n[s3]\nendpoint = \"{}\"\nworking_bucket = \"{}\"\nevidence_bucket = \"{}\"\n\
             access_key_id = \"{}\"\nsecret_access_key_file = \"{d}/s3-secret\"\npart_size = 5242880\n",
            self.nats_url,
            self.nats_extra,
            self.s3cfg.endpoint.clone().unwrap_or_default(),
            self.s3cfg.working_bucket,
            self.s3cfg.evidence_bucket,
            self.s3cfg.static_credentials.as_ref().map_or(test_harness::S3_ACCESS_KEY, |(id, _)| id.as_str()),
        );
        if let Some(ca) = &self.s3cfg.ca_file {
            t.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
        }
        if worker == "station" {
            return t;
        }
        // Short ack wait so a killed worker's job comes back within seconds.
        t.push_str("\n[consumer]\nack_wait = \"4s\"\nretry_backoff = [\"1s\"]\ndrain_timeout = \"10s\"\n");
        t.push_str("\n[telemetry]\nlisten = \"127.0.0.1:0\"\n");
        match worker {
            "ingest-worker" => t.push_str(&format!("\n[ingest]\nspool_dir = \"{d}/spool-ingest\"\n")),
            "transcoder" => {
                t.push_str(&format!(
                    "\n[transcode]\nspool_dir = \"{d}/spool-transcode\"\npipelines_dir = \"{}\"\nthreads = 1\n",
                    test_harness::repo_path("pipelines").display()
                ));
                // Most tests are about what happens to copies (C2PA on them, holes kept, access
                // to them): they get an access copy of every recording. tests/e2e/access.rs runs
                // the default, where a playable original is its own access rendition.
                if !self.serve_playable {
                    t.push_str("\n[policy.access]\nplayable_original = \"copy\"\n");
                }
            }
            "sealer" => t.push_str(&format!(
                "\n[seal]\nspool_dir = \"{d}/spool-seal\"\ndev_identity_dir = \"{d}/pki\"\ncheckpoint_every = 3\n"
            )),
            _ => {}
        }
        t
    }

    /// Starts one worker binary with `run --config`, waits until it consumes.
    pub fn start(&mut self, worker: &str) -> anyhow::Result<usize> {
        self.start_with_env(worker, &[])
    }

    /// [`Self::start`] with extra environment (e.g. a sealer fault-injection point).
    pub fn start_with_env(&mut self, worker: &str, envs: &[(&str, &str)]) -> anyhow::Result<usize> {
        let bin = workspace_bin(worker)?;
        let cfg = self.config_path(worker).display().to_string();
        let mut w = Worker::spawn(worker, &bin, &["run", "--config", &cfg], envs)?;
        w.wait_for_line("consuming", Duration::from_secs(30))?;
        self.workers.push(w);
        Ok(self.workers.len() - 1)
    }

    pub fn start_all(&mut self) -> anyhow::Result<()> {
        for w in ["ingest-worker", "transcoder", "sealer"] {
            self.start(w)?;
        }
        Ok(())
    }

    /// `station push` of `files` from station `st-test`, without waiting.
    pub fn push(&self, device: &str, files: &[&Path]) -> anyhow::Result<std::process::Output> {
        self.push_as("st-test", device, files)
    }

    /// `station push` of `files` from `station`, without waiting.
    pub fn push_as(&self, station: &str, device: &str, files: &[&Path]) -> anyhow::Result<std::process::Output> {
        let bin = workspace_bin("station")?;
        let cfg = self.config_path("station");
        let out = std::process::Command::new(bin)
            .args(["push", "--config"])
            .arg(&cfg)
            .args(["--station", station, "--device", device, "--officer", "OF0001"])
            .args(files)
            .output()
            .context("run station push")?;
        anyhow::ensure!(out.status.success(), "station push failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(out)
    }

    /// Every event on `filter`, waiting up to `timeout` for at least `want`.
    pub async fn events(
        &self,
        filter: &str,
        want: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<async_nats::jetstream::Message>> {
        test_harness::events(&self.nats_url, filter, want, timeout).await
    }

    pub async fn sealed(&self, want: usize, timeout: Duration) -> anyhow::Result<Vec<EvidenceSealedV1>> {
        self.events(subjects::SEALED_ALL, want, timeout)
            .await?
            .iter()
            .map(|m| decode::<EvidenceSealedV1>(&m.payload).map_err(anyhow::Error::from))
            .collect()
    }

    pub async fn store(&self) -> anyhow::Result<object_store::Store> {
        object_store::Store::new(self.s3cfg.clone()).await
    }

    /// Fails if any worker logged at ERROR level (except lines containing one of `allowed`).
    pub fn assert_no_unexpected_errors(&mut self, allowed: &[&str]) {
        for w in &mut self.workers {
            let errs: Vec<String> =
                w.error_lines().into_iter().filter(|l| !allowed.iter().any(|a| l.contains(a))).collect();
            assert!(errs.is_empty(), "{} logged unexpected errors:\n{}", w.name, errs.join("\n"));
        }
    }
}

/// Plain HTTP GET on loopback (the workers' telemetry endpoint).
pub fn http_get(addr: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let status = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// Number of messages a durable consumer still has pending or unacknowledged.
pub async fn consumer_backlog(nats_url: &str, stream: &str, consumer: &str) -> anyhow::Result<(u64, usize)> {
    let client = async_nats::connect(nats_url).await?;
    let js = async_nats::jetstream::new(client);
    let mut c: async_nats::jetstream::consumer::Consumer<async_nats::jetstream::consumer::pull::Config> =
        js.get_stream(stream).await?.get_consumer(consumer).await.map_err(|e| anyhow::anyhow!("get consumer: {e}"))?;
    let info = c.info().await?;
    Ok((info.num_pending, info.num_ack_pending))
}

/// Validates `docs` against `deploy/schemas/<schema>` with an outside implementation (Python's
/// `jsonschema`, installed by scripts/setup); panics with the validator's words on a mismatch.
/// What a prosecutor's office does before a court: one approval of the whole packages
/// (`sealer approve --scope package`), then `sealer export` of each into `out/<evidence id>`.
/// Returns the approval id and the package folders, in the order of `ids`.
pub fn export_for_court(p: &Pipeline, ids: &[String], out: &Path) -> (String, Vec<PathBuf>) {
    let sealer = |args: &[&str]| {
        let o =
            std::process::Command::new(workspace_bin("sealer").expect("sealer")).args(args).output().expect("sealer");
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "sealer {}: {text}", args.join(" "));
        text
    };
    let cfg = p.config_path("sealer").display().to_string();
    let mut approve = vec!["approve", "--config", &cfg, "--approver", "prosecutor-1", "--reason", "court copy"];
    approve.extend(["--scope", "package", "--valid-for", "1h"]);
    approve.extend(ids.iter().map(String::as_str));
    let approval = sealer(&approve).trim().to_owned();
    let mut folders = Vec::new();
    for id in ids {
        let dir = out.join(id);
        let d = dir.display().to_string();
        sealer(&[
            "export",
            "--config",
            &cfg,
            "--approval",
            &approval,
            "--actor",
            "clerk-1",
            "--reason",
            "court copy",
            id,
            &d,
        ]);
        folders.push(dir);
    }
    (approval, folders)
}

/// The reference C2PA SDK's reading of assets (`tests/tools/c2pa_read.py`, c2pa-python): each
/// argument is `ASSET` (embedded manifest) or `ASSET=SIDECAR`. One JSON object per asset.
pub fn c2pa_read(trust: Option<&Path>, assets: &[String]) -> Vec<serde_json::Value> {
    let tools = std::env::var("EVIDENCE_TOOLS").unwrap_or_else(|_| "/opt/evidence-tools".into());
    let python = format!("{tools}/venv/bin/python");
    let mut cmd = std::process::Command::new(&python);
    cmd.arg(test_harness::repo_path("tests/tools/c2pa_read.py"));
    if let Some(t) = trust {
        cmd.arg("--trust").arg(t);
    }
    let out = cmd.args(assets).output().unwrap_or_else(|e| panic!("{python} (run scripts/setup): {e}"));
    assert!(out.status.success(), "c2pa_read.py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("c2pa_read.py output: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

pub fn assert_valid_against_schema(schema: &str, docs: &[serde_json::Value]) {
    let tools = std::env::var("EVIDENCE_TOOLS").unwrap_or_else(|_| "/opt/evidence-tools".into());
    let python = format!("{tools}/venv/bin/python");
    let schema_path = test_harness::repo_path(&format!("deploy/schemas/{schema}"));
    let script = "import json,sys,jsonschema\n\
                  s=json.load(open(sys.argv[1]))\n\
                  v=jsonschema.validators.validator_for(s)(s)\n\
                  bad=[(i,e.message) for i,d in enumerate(json.load(sys.stdin)) for e in v.iter_errors(d)]\n\
                  print(bad)\nsys.exit(1 if bad else 0)";
    let mut child = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&schema_path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python} (run scripts/setup): {e}"));
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), &serde_json::to_vec(docs).expect("json"))
        .expect("write");
    let out = child.wait_with_output().expect("jsonschema");
    assert!(
        out.status.success(),
        "{schema}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
