//! `sealer export <evidence id> <folder>`: a self-contained copy of one package for a
//! prosecutor or an offline archive, read out through the gate (an approval of the whole
//! package; the export is on the ledger before the first byte is read): every object under the
//! package prefix, plus the custody ledger as it concerns the item — every record of this
//! evidence id up to the export itself, each with the stretch of the chain that binds it to a
//! signed checkpoint, and those checkpoints with their signatures. `sealer verify <folder>`
//! checks it without network access.
//!
//! [`fetch_records`] writes only what needs no approval (seal record, signature, ledger), for
//! `sealer verify <evidence id>` without one.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context as _, bail};
use evidence_contracts::access::AccessScope;
use evidence_contracts::events::EvidenceSealedV1;
use evidence_contracts::ledger;
use evidence_contracts::{EvidenceId, decode, subjects};
use object_store::Store;

use crate::config::Config;
use crate::gate::{self, Purpose};
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
        .with_context(|| {
            format!("no sealed event for evidence {id}: it is not sealed (yet), or the id has a typo (check it against the sealed event or `sealer history`)")
        })?;
    decode(&m.payload).context("the sealed event does not parse")
}

/// Makes `out` (new, or existing and empty); returns whether it was made here.
fn new_folder(out: &Path) -> anyhow::Result<bool> {
    if out.exists() {
        if std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
            bail!("{} exists and is not empty; export into a new folder (nothing was read)", out.display());
        }
        return Ok(false);
    }
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    Ok(true)
}

async fn download(store: &Store, bucket: &str, key: &str, path: &Path) -> anyhow::Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("create {}", p.display()))?;
    }
    store.download_to_file(bucket, key, path).await?;
    Ok(())
}

/// Writes the package of `id` into `out` (which must not exist or be empty) under an approval
/// of the whole package; returns the ledger sequence of the export's access record.
///
/// # Errors
/// Refused (recorded in the ledger), unknown evidence id, unreachable stores, local I/O.
pub async fn export(
    cfg: &Config,
    id: &EvidenceId,
    out: &Path,
    approval: Option<String>,
    actor: &str,
    reason: &str,
    purpose: Purpose,
) -> anyhow::Result<u64> {
    let made = new_folder(out)?;
    let req = gate::Request {
        approval,
        actor: actor.to_owned(),
        reason: reason.to_owned(),
        scope: AccessScope::Package,
        purpose,
    };
    let opened = match gate::open(cfg, id, &req, None).await {
        Ok(o) => o,
        Err(e) => {
            // Leave no folder behind that this export made, when it is refused or fails.
            if made {
                let _ = std::fs::remove_dir(out);
            }
            return Err(e);
        }
    };
    let ev = &opened.ev;
    for (key, _) in opened.store.list(&ev.bucket, &ev.prefix).await? {
        let rel = key.strip_prefix(&ev.prefix).unwrap_or(&key);
        download(&opened.store, &ev.bucket, &key, &out.join(rel)).await?;
    }
    write_ledger(&opened.js, &opened.store, &ev.bucket, id, out).await?;
    Ok(opened.seq)
}

/// Writes what needs no approval: `seal.json`, `seal.sig` and the ledger extract.
///
/// # Errors
/// Unknown evidence id, unreachable stores, local I/O.
pub async fn fetch_records(cfg: &Config, id: &EvidenceId, out: &Path) -> anyhow::Result<EvidenceSealedV1> {
    new_folder(out)?;
    let (js, store) = connect(cfg).await?;
    let ev = sealed_event(&js, id).await?;
    for o in std::iter::once(&ev.seal_record).chain(ev.seal_signature.iter()) {
        let rel = o.key.strip_prefix(&ev.prefix).unwrap_or(&o.key);
        download(&store, &ev.bucket, &o.key, &out.join(rel)).await?;
    }
    write_ledger(&js, &store, &ev.bucket, id, out).await?;
    Ok(ev)
}

/// Every ledger record of `id`, in order (sequence and stored message).
///
/// # Errors
/// The ledger cannot be read.
pub async fn item_records(
    js: &async_nats::jetstream::Context,
    id: &EvidenceId,
) -> anyhow::Result<Vec<worker_runtime::nats::Stored>> {
    worker_runtime::nats::read_all(js, subjects::LEDGER_STREAM, &format!("evidence.ledger.v1.*.{id}")).await
}

/// The stretches of the chain that bind each of `items` (sequences) to signed checkpoints:
/// from the newest checkpoint at or before it (or record 1) to the oldest after it (or the
/// record itself when none is signed yet). Merged, sorted.
pub fn stretches(items: &[u64], checkpoints: &[u64]) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = items
        .iter()
        .map(|&s| {
            let from = checkpoints.iter().copied().filter(|c| *c <= s).max().unwrap_or(1);
            let to = checkpoints.iter().copied().filter(|c| *c > s).min().unwrap_or(s);
            (from, to)
        })
        .collect();
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

async fn write_ledger(
    js: &async_nats::jetstream::Context,
    store: &Store,
    bucket: &str,
    id: &EvidenceId,
    out: &Path,
) -> anyhow::Result<()> {
    let items: Vec<u64> = item_records(js, id).await?.iter().map(|m| m.seq).collect();
    if items.is_empty() {
        bail!("no ledger record for evidence {id}");
    }
    let all = crate::ledger::checkpoint_seqs(store, bucket).await?;
    let parts = stretches(&items, &all);
    let mut entries = Vec::new();
    for (from, to) in &parts {
        entries.extend(crate::ledger::read(js, *from, *to).await?);
    }
    let used: BTreeSet<u64> = all.iter().copied().filter(|c| parts.iter().any(|(a, b)| (a..=b).contains(&c))).collect();
    for seq in &used {
        for key in [ledger::checkpoint_key(*seq), ledger::checkpoint_signature_key(*seq)] {
            download(store, bucket, &key, &out.join(&key)).await?;
        }
    }
    let extract =
        LedgerExtract { stream: subjects::LEDGER_STREAM.into(), entries, checkpoints: used.into_iter().collect() };
    std::fs::write(out.join(LEDGER_FILE), serde_json::to_vec_pretty(&extract)?)
        .with_context(|| format!("write {}", out.join(LEDGER_FILE).display()))?;
    Ok(())
}

/// `sealer history`: the item's ledger records.
///
/// # Errors
/// Not an evidence id, never sealed, unreachable NATS.
pub async fn history(
    cfg: &crate::Config,
    id: &evidence_contracts::EvidenceId,
) -> anyhow::Result<Vec<crate::history::Line>> {
    let (js, _) = connect(cfg).await?;
    let recs = item_records(&js, id).await?;
    if recs.is_empty() {
        anyhow::bail!(
            "the custody ledger holds no record of evidence {id}: it is not sealed (yet), or the id has a typo"
        );
    }
    Ok(crate::history::lines(recs.iter().map(|m| (m.seq, m.payload.as_ref()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_record_gets_the_stretch_to_the_checkpoint_that_binds_it() {
        // Checkpoints every 100; records of the item at 5 (seal), 150 and 420 (after the last).
        let cps = [100, 200, 300, 400];
        assert_eq!(stretches(&[5, 150, 420], &cps), vec![(1, 200), (400, 420)]);
        // Records in one stretch, and a record at a checkpoint itself.
        assert_eq!(stretches(&[110, 120], &cps), vec![(100, 200)]);
        assert_eq!(stretches(&[200], &cps), vec![(200, 300)]);
        // No checkpoint yet: from record 1 to the newest record.
        assert_eq!(stretches(&[3, 9], &[]), vec![(1, 9)]);
    }
}
