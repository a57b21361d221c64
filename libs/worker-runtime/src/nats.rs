//! NATS: connecting, creating the streams from the definitions in `deploy/nats/streams/`
//! (embedded at build time, so a worker and an operator apply the same JSON), and publishing
//! contract messages with their dedup id.

use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use evidence_contracts::{Message, encode};

use crate::config::{NatsConfig, read_secret_file};

/// The stream definitions, exactly the files under `deploy/nats/streams/`.
pub const STREAM_DEFINITIONS: [(&str, &str); 8] = [
    ("EVIDENCE_INGEST", include_str!("../../../deploy/nats/streams/EVIDENCE_INGEST.json")),
    ("EVIDENCE_PIPELINE", include_str!("../../../deploy/nats/streams/EVIDENCE_PIPELINE.json")),
    ("EVIDENCE_EVENTS", include_str!("../../../deploy/nats/streams/EVIDENCE_EVENTS.json")),
    ("EVIDENCE_LEDGER", include_str!("../../../deploy/nats/streams/EVIDENCE_LEDGER.json")),
    ("EVIDENCE_APPROVALS", include_str!("../../../deploy/nats/streams/EVIDENCE_APPROVALS.json")),
    ("EVIDENCE_STATIONS", include_str!("../../../deploy/nats/streams/EVIDENCE_STATIONS.json")),
    ("EVIDENCE_RECEIPTS", include_str!("../../../deploy/nats/streams/EVIDENCE_RECEIPTS.json")),
    ("EVIDENCE_MATTERS", include_str!("../../../deploy/nats/streams/EVIDENCE_MATTERS.json")),
];

/// Parses one embedded stream definition.
///
/// # Errors
/// The JSON is not a stream config (a build-time asset bug, caught by tests).
pub fn stream_config(name: &str) -> anyhow::Result<stream::Config> {
    let (_, text) = STREAM_DEFINITIONS
        .iter()
        .find(|(n, _)| *n == name)
        .with_context(|| format!("no stream definition named {name}"))?;
    serde_json::from_str(text).with_context(|| format!("parse deploy/nats/streams/{name}.json"))
}

/// Connects with the configured auth; retries the first connection until `connect_timeout`.
///
/// # Errors
/// Unreachable server (the message names the URL and what to check) or unreadable credentials.
pub async fn connect(cfg: &NatsConfig, name: &str) -> anyhow::Result<async_nats::Client> {
    let mut opts = if let Some(creds) = &cfg.creds_file {
        async_nats::ConnectOptions::with_credentials_file(creds.clone())
            .await
            .with_context(|| format!("read nats.creds_file {}", creds.display()))?
    } else if let Some(seed_file) = &cfg.nkey_seed_file {
        let seed = read_secret_file(seed_file).context("nats.nkey_seed_file")?;
        async_nats::ConnectOptions::new().nkey(seed)
    } else if let Some(user) = &cfg.user {
        let Some(pw_file) = &cfg.password_file else {
            bail!("nats.user is set but nats.password_file is not");
        };
        let pw = read_secret_file(pw_file)?;
        async_nats::ConnectOptions::new().user_and_password(user.clone(), pw)
    } else {
        async_nats::ConnectOptions::new()
    };
    if let Some(prefix) = &cfg.inbox_prefix {
        opts = opts.custom_inbox_prefix(prefix);
    }
    if cfg.tls_ca_file.is_some() || cfg.url.contains("tls://") {
        // Two rustls crypto providers are linked (ring via async-nats, aws-lc-rs via the AWS
        // SDK); rustls needs the process default chosen. A second call is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    if let Some(ca) = &cfg.tls_ca_file {
        std::fs::metadata(ca).with_context(|| format!("nats.tls_ca_file {}", ca.display()))?;
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    match (&cfg.tls_cert_file, &cfg.tls_key_file) {
        (Some(cert), Some(key)) => {
            for (what, f) in [("nats.tls_cert_file", cert), ("nats.tls_key_file", key)] {
                std::fs::metadata(f).with_context(|| format!("{what} {}", f.display()))?;
            }
            opts = opts.add_client_certificate(cert.clone(), key.clone());
        }
        (None, None) => {}
        _ => bail!("nats.tls_cert_file and nats.tls_key_file go together: set both (mutual TLS) or neither"),
    }
    let opts = opts
        .name(name)
        .connection_timeout(cfg.connect_timeout)
        .retry_on_initial_connect()
        .event_callback(|ev| async move {
            match ev {
                async_nats::Event::Disconnected => {
                    tracing::warn!("nats disconnected; reconnecting")
                }
                async_nats::Event::Connected => tracing::info!("nats connected"),
                async_nats::Event::ServerError(e) => {
                    // Permission violations arrive here, not as errors of the call that caused them.
                    tracing::error!(error = %e, "nats server reported an error (permissions of this client's credentials?)")
                }
                other => tracing::debug!(event = %other, "nats event"),
            }
        });
    let client = tokio::time::timeout(cfg.connect_timeout, opts.connect(server_list(&cfg.url)))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "could not reach NATS at {} within {:?}: is nats-server running with -js, and is nats.url (or NATS_URL) right?",
                cfg.url,
                cfg.connect_timeout
            )
        })?
        .with_context(|| format!("connect to NATS at {}", cfg.url))?;
    // With retry_on_initial_connect the future resolves before the connection is up.
    let deadline = tokio::time::Instant::now() + cfg.connect_timeout;
    while client.connection_state() != async_nats::connection::State::Connected {
        if tokio::time::Instant::now() > deadline {
            bail!(
                "could not reach NATS at {} within {:?}: is nats-server running with -js, and is nats.url (or NATS_URL) right?",
                cfg.url,
                cfg.connect_timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(client)
}

/// `nats.url` split into its servers (`nats://a:4222,nats://b:4222`).
pub fn server_list(url: &str) -> Vec<String> {
    url.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect()
}

/// Makes sure the named streams exist (creating them from the built-in definitions when
/// `create_streams` is on) and returns a JetStream context.
///
/// # Errors
/// JetStream is not enabled, or a stream is missing and may not be created.
pub async fn jetstream(
    client: &async_nats::Client,
    cfg: &NatsConfig,
    streams: &[&str],
) -> anyhow::Result<jetstream::Context> {
    let js = jetstream::new(client.clone());
    for name in streams {
        match js.get_stream(*name).await {
            Ok(mut existing) => {
                // A newer release may add subjects to a stream (never remove): add them.
                let want = stream_config(name)?;
                let have = existing.info().await.with_context(|| format!("read stream {name}"))?.config.clone();
                let missing: Vec<String> =
                    want.subjects.iter().filter(|s| !have.subjects.contains(s)).cloned().collect();
                if !missing.is_empty() {
                    if !cfg.create_streams {
                        bail!(
                            "stream {name} lacks subjects {missing:?} and nats.create_streams is false: apply deploy/nats/streams/{name}.json"
                        );
                    }
                    let mut conf = have;
                    conf.subjects.extend(missing.iter().cloned());
                    js.update_stream(conf)
                        .await
                        .with_context(|| format!("add subjects {missing:?} to stream {name}"))?;
                    tracing::info!(stream = name, ?missing, "stream subjects added");
                }
            }
            Err(e) if cfg.create_streams => {
                tracing::debug!(stream = name, error = %e, "stream missing; creating");
                let mut conf = stream_config(name)?;
                conf.num_replicas = cfg.stream_replicas;
                js.get_or_create_stream(conf)
                    .await
                    .with_context(|| format!("create stream {name} (is JetStream enabled: nats-server -js?)"))?;
            }
            Err(e) => {
                bail!(
                    "stream {name} does not exist ({e}) and nats.create_streams is false: apply deploy/nats/streams/{name}.json"
                );
            }
        }
    }
    Ok(js)
}

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publish {subject}: {source}")]
    Send { subject: String, source: async_nats::jetstream::context::PublishError },
}

impl PublishError {
    /// What the failure says about the server, from the error's type: `busy` (the stream
    /// answered but refused for now: too many pending acks, a limit or resource reached),
    /// `unreachable` (no ack: server down, no JetStream answering for the subject), `other`.
    pub fn reason(&self) -> &'static str {
        use async_nats::jetstream::context::PublishErrorKind as K;
        let PublishError::Send { source, .. } = self;
        // `Other` carries either the server's JetStream API error (it answered: a limit, no
        // resources) or a client-side send failure (the connection).
        let answered = || {
            std::error::Error::source(source)
                .is_some_and(|s| s.downcast_ref::<async_nats::jetstream::Error>().is_some())
        };
        match source.kind() {
            K::MaxAckPending => "busy",
            K::Other if answered() => "busy",
            K::Other | K::TimedOut | K::BrokenPipe | K::StreamNotFound => "unreachable",
            K::MaxPayloadExceeded | K::WrongLastMessageId | K::WrongLastSequence => "other",
        }
    }
}

/// Publishes a contract message with `Nats-Msg-Id` and waits for the stream's ack.
/// Returns whether JetStream saw it as a duplicate.
///
/// # Errors
/// No stream ack (server down, no stream for the subject).
pub async fn publish<M: Message>(js: &jetstream::Context, msg: &M) -> Result<bool, PublishError> {
    let subject = msg.subject();
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", msg.msg_id().as_str());
    let ack = async { js.publish_with_headers(subject.clone(), headers, encode(msg).into()).await?.await }
        .await
        .map_err(|source| PublishError::Send { subject: subject.clone(), source })?;
    Ok(ack.duplicate)
}

/// The last message stored on `subject` in `stream`, if any.
///
/// # Errors
/// The stream cannot be queried.
pub async fn last_on_subject(
    js: &jetstream::Context,
    stream: &str,
    subject: &str,
) -> anyhow::Result<Option<async_nats::jetstream::message::StreamMessage>> {
    let s = js.get_stream(stream).await.with_context(|| format!("get stream {stream}"))?;
    match s.get_last_raw_message_by_subject(subject).await {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("look up last message on {subject}"))),
    }
}

/// One stored message: subject, payload, stream sequence.
#[derive(Debug, Clone)]
pub struct Stored {
    pub subject: String,
    pub payload: bytes::Bytes,
    pub seq: u64,
}

/// Every message on `filter` in `stream`, in stream order, read with an ephemeral consumer
/// (batches of 500; memory grows with the number of messages, not with media).
///
/// # Errors
/// The stream cannot be read.
pub async fn read_all(js: &jetstream::Context, stream: &str, filter: &str) -> anyhow::Result<Vec<Stored>> {
    use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
    use futures::StreamExt as _;
    let s = js.get_stream(stream).await.with_context(|| format!("open stream {stream}"))?;
    let mut consumer = s
        .create_consumer(pull::Config {
            filter_subject: filter.to_owned(),
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .with_context(|| format!("read {filter} from {stream}"))?;
    let mut pending = consumer.info().await.context("consumer info")?.num_pending;
    let mut out = Vec::new();
    while pending > 0 {
        let mut batch = consumer
            .fetch()
            .max_messages(500)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .map_err(|e| anyhow::anyhow!("fetch from {stream}: {e}"))?;
        let mut got = 0u64;
        while let Some(m) = batch.next().await {
            let m = m.map_err(|e| anyhow::anyhow!("read from {stream}: {e}"))?;
            let info = m.info().map_err(|e| anyhow::anyhow!("message info: {e}"))?;
            pending = info.pending;
            out.push(Stored { subject: m.subject.to_string(), payload: m.payload.clone(), seq: info.stream_sequence });
            got += 1;
        }
        if got == 0 {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_failures_are_classified_by_type_not_text() {
        use async_nats::jetstream::context::{PublishError as Nats, PublishErrorKind as K};
        let e = |k| PublishError::Send { subject: "s".into(), source: Nats::new(k) };
        assert_eq!(e(K::MaxAckPending).reason(), "busy");
        assert_eq!(e(K::TimedOut).reason(), "unreachable");
        assert_eq!(e(K::StreamNotFound).reason(), "unreachable");
        assert_eq!(e(K::MaxPayloadExceeded).reason(), "other");
        assert_eq!(e(K::Other).reason(), "unreachable", "a client-side send failure");
        let api: async_nats::jetstream::Error =
            serde_json::from_str(r#"{"code":503,"err_code":10023,"description":"insufficient resources"}"#).unwrap();
        let full = PublishError::Send { subject: "s".into(), source: Nats::with_source(K::Other, api) };
        assert_eq!(full.reason(), "busy", "the server answered: a limit or no resources");
    }

    #[test]
    fn embedded_stream_definitions_parse() {
        for (name, _) in STREAM_DEFINITIONS {
            let c = stream_config(name).expect("parses");
            assert_eq!(c.name, name);
            assert!(!c.subjects.is_empty());
        }
        let ev = stream_config("EVIDENCE_EVENTS").expect("parses");
        assert!(ev.deny_delete && ev.deny_purge, "events must not be deletable");
        assert_eq!(stream_config("EVIDENCE_INGEST").expect("parses").retention, stream::RetentionPolicy::WorkQueue);
    }
}
