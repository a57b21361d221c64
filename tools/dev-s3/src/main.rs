//! `dev-s3`: an S3 server over a local folder, for the demo and the tests only.
//!
//! It is the `s3s-fs` library (objects are plain files under `ROOT/<bucket>/<key>`) served with the
//! HTTP stack this workspace already builds, so a fresh checkout compiles it in seconds instead of
//! `cargo install`ing a second copy of hyper and tokio. Requests are signed with SigV4 against one
//! access key. It keeps no Object Lock, versions or replicas: never store evidence on it
//! (docs/storage.md lists the servers that can).
//!
//!     dev-s3 --host 127.0.0.1 --port 9000 --access-key K --secret-key S ROOT

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

#[derive(Debug, Parser)]
#[command(version, about = "S3 over a local folder, for the demo and the tests (not for evidence in production)")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, default_value_t = 9000)]
    port: u16,
    /// The one access key requests must be signed with.
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    access_key: String,
    /// Its secret.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_key: String,
    /// Folder holding the buckets (created if missing).
    root: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the runtime")?.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.root).with_context(|| format!("create the data folder {}", args.root.display()))?;
    let fs = s3s_fs::FileSystem::new(&args.root)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .with_context(|| format!("open the data folder {}", args.root.display()))?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(args.access_key, args.secret_key));
    let service = builder.build();

    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await.with_context(|| {
        format!("listen on {}:{} (is the port taken? choose another with --port)", args.host, args.port)
    })?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, root = %args.root.display(), "dev-s3 listening (development and tests only)");

    let http = Builder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        };
        let conn = graceful.watch(http.serve_connection(TokioIo::new(socket), service.clone()).into_owned());
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    // Requests in flight finish (for at most 10 s); then the process ends.
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
    }
    tracing::info!("dev-s3 stopped");
    Ok(())
}
