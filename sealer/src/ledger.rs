//! The custody ledger (contract in `evidence_contracts::ledger`): appending a hash-chained
//! record exactly once, signed checkpoints, and replaying a stretch of the chain.
//!
//! Appending is optimistic: read the head (last sequence and its payload's SHA-256), publish
//! with `Nats-Expected-Last-Sequence` = that sequence, retry when another sealer appended in
//! between. So the chain has one order even with several sealers. A record for an evidence id
//! and kind is appended once: its subject is looked up first, and its `Nats-Msg-Id` makes a
//! concurrent duplicate a no-op within the stream's duplicate window.

use std::sync::Arc;

use anyhow::Context as _;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind};
use bytes::Bytes;
use chrono::Utc;
use evidence_contracts::ledger::{
    self, GENESIS, LedgerCheckpointSchema, LedgerCheckpointV1, LedgerRecordV1, checkpoint_key, checkpoint_signature_key,
};
use evidence_contracts::subjects;
use object_store::{PutOpts, Store};

use crate::credentials::Credentials;
pub use evidence_verify::chain::{ChainCheck, Entry, check_chain};

/// Appends and reads the ledger.
#[derive(Clone)]
pub struct Ledger {
    js: jetstream::Context,
    store: Store,
    bucket: String,
    creds: Arc<Credentials>,
    every: u64,
}

/// Where a record sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub sha256: String,
    /// False when the record was already there (redelivery).
    pub fresh: bool,
}

impl Ledger {
    pub fn new(js: jetstream::Context, store: Store, bucket: String, creds: Arc<Credentials>, every: u64) -> Self {
        Self { js, store, bucket, creds, every }
    }

    async fn stream(&self) -> anyhow::Result<jetstream::stream::Stream> {
        self.js.get_stream(subjects::LEDGER_STREAM).await.context("get stream EVIDENCE_LEDGER")
    }

    /// Sequence and payload hash of the last record (0 and [`GENESIS`] when empty).
    async fn head(&self) -> anyhow::Result<(u64, String)> {
        let mut s = self.stream().await?;
        let last = s.info().await.context("read EVIDENCE_LEDGER state")?.state.last_sequence;
        if last == 0 {
            return Ok((0, GENESIS.to_owned()));
        }
        let m = s.get_raw_message(last).await.with_context(|| format!("read ledger record {last}"))?;
        Ok((last, ledger::record_sha256(&m.payload)))
    }

    /// Appends `rec` (its `prev_sha256` is filled in here) unless a record of the same kind
    /// for the same evidence id exists (seal records: one per package).
    ///
    /// # Errors
    /// NATS unreachable, or the head kept moving for 50 attempts.
    pub async fn append_once(&self, rec: LedgerRecordV1) -> anyhow::Result<Appended> {
        let subject = rec.subject();
        if let Some(m) = worker_runtime::nats::last_on_subject(&self.js, subjects::LEDGER_STREAM, &subject).await? {
            return Ok(Appended { seq: m.sequence, sha256: ledger::record_sha256(&m.payload), fresh: false });
        }
        let id = format!("ledger:{}:{}", rec.kind.as_str(), rec.evidence_id);
        self.append(rec, &id).await
    }

    /// Appends `rec`; `msg_id` makes a retry of the same request within the stream's duplicate
    /// window (24 h) a no-op (retention and access records: several per package).
    ///
    /// # Errors
    /// NATS unreachable, or the head kept moving for 50 attempts.
    pub async fn append(&self, mut rec: LedgerRecordV1, msg_id: &str) -> anyhow::Result<Appended> {
        let subject = rec.subject();
        let item = format!("evidence.ledger.v1.*.{}", rec.evidence_id);
        for _ in 0..50 {
            let (last, prev) = self.head().await?;
            rec.prev_sha256 = prev;
            // Read after the head: if another record about the item is appended in between,
            // the head moved too and this attempt is refused by the expected sequence.
            rec.prev_item = if rec.kind == ledger::LedgerKind::Seal {
                None
            } else {
                worker_runtime::nats::last_on_subject(&self.js, subjects::LEDGER_STREAM, &item)
                    .await?
                    .map(|m| ledger::ItemLinkV1 { seq: m.sequence, sha256: ledger::record_sha256(&m.payload) })
            };
            rec.at = Utc::now();
            let payload = serde_json::to_vec(&rec).context("encode ledger record")?;
            let mut h = HeaderMap::new();
            h.insert("Nats-Msg-Id", msg_id);
            h.insert("Nats-Expected-Last-Sequence", last.to_string().as_str());
            let sha = ledger::record_sha256(&payload);
            let ack = async { self.js.publish_with_headers(subject.clone(), h, Bytes::from(payload)).await?.await };
            match ack.await {
                Ok(a) if a.duplicate => {
                    // A concurrent or earlier attempt appended it: report the stored one.
                    let m =
                        self.stream().await?.get_raw_message(a.sequence).await.context("read the stored duplicate")?;
                    return Ok(Appended { seq: m.sequence, sha256: ledger::record_sha256(&m.payload), fresh: false });
                }
                Ok(a) => return Ok(Appended { seq: a.sequence, sha256: sha, fresh: true }),
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                    tracing::debug!(subject, "ledger head moved; retrying");
                }
                Err(e) => return Err(anyhow::Error::new(e).context(format!("append ledger record on {subject}"))),
            }
        }
        anyhow::bail!("ledger head kept moving for 50 attempts while appending {subject}")
    }

    /// Writes the checkpoint for `seq` if `seq` is a multiple of the interval and it is not
    /// there yet, then announces it (once: message id `ledger-checkpoint:<seq>`).
    ///
    /// # Errors
    /// Store or NATS failures.
    pub async fn checkpoint_if_due(&self, seq: u64) -> anyhow::Result<Option<LedgerCheckpointV1>> {
        if seq == 0 || !seq.is_multiple_of(self.every) {
            return Ok(None);
        }
        self.checkpoint(seq).await.map(Some)
    }

    /// Writes (if absent) and announces the signed checkpoint at `seq`.
    ///
    /// # Errors
    /// Store or NATS failures.
    pub async fn checkpoint(&self, seq: u64) -> anyhow::Result<LedgerCheckpointV1> {
        let key = checkpoint_key(seq);
        let sig_key = checkpoint_signature_key(seq);
        let body = if self.store.head(&self.bucket, &key).await?.is_some() {
            self.store.get_bytes(&self.bucket, &key, 1 << 20).await?
        } else {
            let s = self.stream().await?;
            let m = s.get_raw_message(seq).await.with_context(|| format!("read ledger record {seq}"))?;
            let cp = LedgerCheckpointV1 {
                schema: LedgerCheckpointSchema,
                stream: subjects::LEDGER_STREAM.into(),
                seq,
                head_sha256: ledger::record_sha256(&m.payload),
                at: Utc::now(),
                key: key.clone(),
                signature_key: sig_key.clone(),
            };
            let body = Bytes::from(serde_json::to_vec_pretty(&cp).context("encode checkpoint")?);
            let opts = PutOpts { if_absent: true, content_type: Some("application/json".into()), ..Default::default() };
            match self.store.put_bytes(&self.bucket, &key, body.clone(), &opts).await {
                Ok(_) => body,
                // A concurrent writer won with its own `at`: use what is stored.
                Err(object_store::StoreError::Conflict { .. }) => {
                    self.store.get_bytes(&self.bucket, &key, 1 << 20).await?
                }
                Err(e) => return Err(e.into()),
            }
        };
        let sig = self.creds.sign(&key, &body);
        let opts = PutOpts { if_absent: true, content_type: Some("application/json".into()), ..Default::default() };
        let sig_body = Bytes::from(serde_json::to_vec_pretty(&sig).context("encode signature")?);
        match self.store.put_bytes(&self.bucket, &sig_key, sig_body, &opts).await {
            Ok(_) | Err(object_store::StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let cp: LedgerCheckpointV1 = serde_json::from_slice(&body).context("stored checkpoint does not parse")?;
        worker_runtime::nats::publish(&self.js, &cp).await?;
        tracing::info!(seq, head = %cp.head_sha256, key, "ledger checkpoint written");
        Ok(cp)
    }
}

/// Records `from..=to` (clamped to the stream).
///
/// # Errors
/// NATS failures.
pub async fn read(js: &jetstream::Context, from: u64, to: u64) -> anyhow::Result<Vec<Entry>> {
    let mut s = js.get_stream(subjects::LEDGER_STREAM).await.context("get stream EVIDENCE_LEDGER")?;
    let last = s.info().await?.state.last_sequence;
    let mut out = Vec::new();
    for seq in from.max(1)..=to.min(last) {
        match s.get_raw_message(seq).await {
            Ok(m) => out.push(Entry {
                seq,
                subject: m.subject.to_string(),
                payload: String::from_utf8(m.payload.to_vec()).context("ledger payload is not UTF-8")?,
            }),
            // A missing sequence is reported by the verifier as a gap.
            Err(e) => tracing::warn!(seq, error = %e, "ledger record unreadable"),
        }
    }
    Ok(out)
}

/// Sequences of every checkpoint in the store, ascending.
///
/// # Errors
/// Store failures.
pub async fn checkpoint_seqs(store: &Store, bucket: &str) -> anyhow::Result<Vec<u64>> {
    let all = store.list(bucket, "ledger/checkpoints/").await?;
    let mut seqs: Vec<u64> = all
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("ledger/checkpoints/")?.strip_suffix(".json")?.parse().ok())
        .collect();
    seqs.sort_unstable();
    Ok(seqs)
}

/// A ledger record about a sealed package (retention change, access), from its sealed event.
pub fn package_record(
    kind: evidence_contracts::ledger::LedgerKind,
    ev: &evidence_contracts::events::EvidenceSealedV1,
    actor: &str,
    detail: serde_json::Value,
) -> LedgerRecordV1 {
    LedgerRecordV1 {
        schema: evidence_contracts::ledger::LedgerRecordSchema,
        kind,
        evidence_id: ev.evidence_id,
        at: Utc::now(),
        prev_sha256: GENESIS.into(),
        seal_record_key: ev.seal_record.key.clone(),
        seal_record_sha256: ev.seal_record.sha256,
        seal_record_blake3: ev.seal_record.blake3,
        actor: actor.to_owned(),
        detail,
        prev_item: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evidence_contracts::ledger::{LedgerKind, LedgerRecordSchema};
    use evidence_contracts::{Blake3Digest, Sha256Digest};

    fn chain(n: u64) -> Vec<Entry> {
        let mut prev = GENESIS.to_owned();
        let mut out = Vec::new();
        for seq in 1..=n {
            let id = evidence_contracts::EvidenceId::derive(
                &evidence_contracts::DeviceId::new("D").unwrap(),
                &Blake3Digest([u8::try_from(seq).unwrap(); 32]),
            );
            let rec = LedgerRecordV1 {
                schema: LedgerRecordSchema,
                kind: LedgerKind::Seal,
                evidence_id: id,
                at: Utc::now(),
                prev_sha256: prev.clone(),
                seal_record_key: format!("k{seq}"),
                seal_record_sha256: Sha256Digest([1; 32]),
                seal_record_blake3: Blake3Digest([2; 32]),
                actor: "test".into(),
                detail: serde_json::Value::Null,
                prev_item: None,
            };
            let payload = serde_json::to_string(&rec).unwrap();
            prev = ledger::record_sha256(payload.as_bytes());
            out.push(Entry { seq, subject: rec.subject(), payload });
        }
        out
    }

    #[test]
    fn an_intact_chain_passes_and_removal_reordering_and_edits_are_caught() {
        let c = chain(5);
        assert!(check_chain(&c, None).problems.is_empty());
        let mut removed = c.clone();
        removed.remove(2);
        assert!(!check_chain(&removed, None).problems.is_empty());
        let mut swapped = c.clone();
        swapped.swap(1, 2);
        assert!(!check_chain(&swapped, None).problems.is_empty());
        let mut edited = c.clone();
        edited[3].payload = edited[3].payload.replace("\"k4\"", "\"k9\"");
        let p = check_chain(&edited, None).problems;
        assert!(p.iter().any(|x| x.contains("record 5")), "{p:?}");
        // From a checkpoint: the anchor must match.
        let anchor = ledger::record_sha256(c[1].payload.as_bytes());
        assert!(check_chain(&c[2..], Some((2, &anchor))).problems.is_empty());
        assert!(!check_chain(&c[2..], Some((2, GENESIS))).problems.is_empty());
    }
}
