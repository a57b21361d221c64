//! Test-only helpers, used as a dev-dependency:
//!
//! * [`NatsServer`]: a real `nats-server -js` on a free port with its own store dir;
//! * [`S3Server`]: a real S3 server (`dev-s3`, the `s3s-fs` library) on a free port with its own root;
//! * [`GarageCluster`]: a real 3-node Garage cluster (replication 3) on loopback;
//! * [`tls`]: a throw-away PKI, nats-server with TLS, a TLS terminator in front of S3;
//! * [`media`]: recordings generated with GStreamer (`videotestsrc`/`audiotestsrc`);
//! * [`Worker`]: a worker binary spawned as a child process, killed on drop;
//! * [`events`]: reading the events stream.
//!
//! Both servers are found on `PATH`, in `/opt/evidence-tools`, or through `NATS_SERVER_BIN` /
//! `S3S_FS_BIN`; `scripts/setup` installs them. Each is killed and its directory removed on drop.

mod garage;
pub mod media;
mod process;
mod servers;
pub mod tls;
pub mod tsa;

pub use garage::{GARAGE_KEY_ID, GarageCluster};
pub use process::{Worker, find_binary, repo_path, workspace_bin};
pub use servers::{MotoS3Mock, NatsCluster, NatsServer, S3_ACCESS_KEY, S3_SECRET_KEY, S3Server};

/// Collects every message on `filter` in the events stream, waiting until `want` arrived or
/// `timeout` passed.
///
/// # Errors
/// The stream cannot be read.
pub async fn events(
    nats_url: &str,
    filter: &str,
    want: usize,
    timeout: std::time::Duration,
) -> anyhow::Result<Vec<async_nats::jetstream::Message>> {
    stream_messages(nats_url, evidence_contracts::subjects::EVENTS_STREAM, filter, want, timeout).await
}

/// [`events`] for any stream.
///
/// # Errors
/// The stream cannot be read.
pub async fn stream_messages(
    nats_url: &str,
    stream_name: &str,
    filter: &str,
    want: usize,
    timeout: std::time::Duration,
) -> anyhow::Result<Vec<async_nats::jetstream::Message>> {
    let servers: Vec<&str> = nats_url.split(',').collect();
    let client = async_nats::connect(servers).await?;
    stream_messages_on(client, stream_name, filter, want, timeout).await
}

/// [`stream_messages`] over a client the caller connected (e.g. with TLS).
///
/// # Errors
/// The stream cannot be read.
pub async fn stream_messages_on(
    client: async_nats::Client,
    stream_name: &str,
    filter: &str,
    want: usize,
    timeout: std::time::Duration,
) -> anyhow::Result<Vec<async_nats::jetstream::Message>> {
    use async_nats::jetstream::consumer::{DeliverPolicy, pull};
    use futures::StreamExt;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(stream_name).await?;
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: filter.to_owned(),
            deliver_policy: DeliverPolicy::All,
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < want && tokio::time::Instant::now() < deadline {
        let mut batch = consumer.fetch().max_messages(100).messages().await?;
        let mut got = false;
        while let Some(m) = batch.next().await {
            out.push(m.map_err(|e| anyhow::anyhow!(e))?);
            got = true;
        }
        if !got {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    Ok(out)
}
