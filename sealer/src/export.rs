//! `sealer export <evidence id> <folder>`: a self-contained copy of one package for a
//! prosecutor or an offline archive: every object under the package prefix, plus the stretch of
//! the custody ledger from the signed checkpoint at or before the package's record to the next
//! one (or the record when no later checkpoint exists yet), with those checkpoints and their
//! signatures. `sealer verify <folder>` checks it without network access.

use std::path::Path;

use anyhow::{Context as _, bail};
use evidence_contracts::events::EvidenceSealedV1;
use evidence_contracts::ledger::{self, LedgerKind};
use evidence_contracts::{EvidenceId, decode, subjects};
use object_store::Store;

use crate::config::Config;
use crate::verify::{LEDGER_FILE, LedgerExtract};

/// Connects to the configured stores, for the online commands.
///
/// # Errors
/// Unreachable servers.
pub async fn connect(cfg: &Config) -> anyhow::Result<(async_nats::jetstream::Context, Store)> {
    let client = worker_runtime::nats::connect(&cfg.nats, "sealer-cli").await?;
    let js = worker_runtime::nats::jetstream(
        &client,
        &cfg.nats,
        &[subjects::EVENTS_STREAM, subjects::LEDGER_STREAM, subjects::APPROVALS_STREAM],
    )
    .await?;
    let store = Store::new(cfg.s3.clone()).await?;
    Ok((js, store))
}

/// The sealed event of `id`: where its package is and what it holds.
///
/// # Errors
/// Not sealed (yet), or the events stream cannot be read.
pub async fn sealed_event(js: &async_nats::jetstream::Context, id: &EvidenceId) -> anyhow::Result<EvidenceSealedV1> {
    let m = worker_runtime::nats::last_on_subject(js, subjects::EVENTS_STREAM, &subjects::sealed(id))
        .await?
        .with_context(|| format!("no sealed event for evidence {id}: it is not sealed (yet), or the id is wrong"))?;
    decode(&m.payload).context("the sealed event does not parse")
}

/// Writes the package of `id` into `out` (which must not exist or be empty).
///
/// # Errors
/// Unknown evidence id, unreachable stores, local I/O.
pub async fn export(cfg: &Config, id: &EvidenceId, out: &Path) -> anyhow::Result<()> {
    if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} exists and is not empty; export into a new folder", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let (js, store) = connect(cfg).await?;
    let ev = sealed_event(&js, id).await?;
    let bucket = &ev.bucket;
    for (key, _) in store.list(bucket, &ev.prefix).await? {
        let rel = key.strip_prefix(&ev.prefix).unwrap_or(&key);
        let path = out.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p)?;
        }
        store.download_to_file(bucket, &key, &path).await?;
    }
    // The ledger stretch around the package's record.
    let rec =
        worker_runtime::nats::last_on_subject(&js, subjects::LEDGER_STREAM, &subjects::ledger(LedgerKind::Seal, id))
            .await?
            .with_context(|| format!("no ledger record for evidence {id}"))?;
    let (before, after) = crate::ledger::checkpoints_around(&store, bucket, rec.sequence).await?;
    let from = before.unwrap_or(1);
    let to = after.unwrap_or(rec.sequence);
    let entries = crate::ledger::read(&js, from, to).await?;
    let mut checkpoints = Vec::new();
    for seq in before.into_iter().chain(after) {
        for key in [ledger::checkpoint_key(seq), ledger::checkpoint_signature_key(seq)] {
            let path = out.join(&key);
            if let Some(p) = path.parent() {
                std::fs::create_dir_all(p)?;
            }
            store.download_to_file(bucket, &key, &path).await?;
        }
        checkpoints.push(seq);
    }
    let extract = LedgerExtract { stream: subjects::LEDGER_STREAM.into(), entries, checkpoints };
    std::fs::write(out.join(LEDGER_FILE), serde_json::to_vec_pretty(&extract)?)?;
    Ok(())
}
