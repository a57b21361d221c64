//! The custody ledger as exported (`ledger.json`): each record's `prev_sha256` is the SHA-256 of
//! the record before it, so a stretch replays from record 1 (the genesis hash) or from a signed
//! checkpoint; a removed, inserted or reordered record breaks it.

use evidence_contracts::ledger::{self, GENESIS, LedgerRecordV1};
use serde::{Deserialize, Serialize};

/// One stored ledger message, as exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub subject: String,
    /// The payload exactly as stored (UTF-8 JSON), so its SHA-256 can be recomputed.
    pub payload: String,
}

/// What replaying a stretch of the chain found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChainCheck {
    pub first: u64,
    pub last: u64,
    pub problems: Vec<String>,
}

/// Replays `entries` (sorted by the caller or not: order is checked): consecutive sequences,
/// each record's `prev_sha256` equal to the SHA-256 of the one before. `anchor` is the expected
/// hash before the first entry (from a checkpoint or [`GENESIS`] when it starts at 1).
pub fn check_chain(entries: &[Entry], anchor: Option<(u64, &str)>) -> ChainCheck {
    let mut c = ChainCheck {
        first: entries.first().map_or(0, |e| e.seq),
        last: entries.last().map_or(0, |e| e.seq),
        problems: Vec::new(),
    };
    let mut prev: Option<(u64, String)> = anchor.map(|(s, h)| (s, h.to_owned()));
    for e in entries {
        let rec: LedgerRecordV1 = match serde_json::from_str(&e.payload) {
            Ok(r) => r,
            Err(err) => {
                c.problems.push(format!("ledger record {}: does not parse ({err})", e.seq));
                prev = Some((e.seq, ledger::record_sha256(e.payload.as_bytes())));
                continue;
            }
        };
        if e.subject != rec.subject() {
            c.problems.push(format!("ledger record {}: stored on {} but says {}", e.seq, e.subject, rec.subject()));
        }
        match &prev {
            Some((ps, ph)) => {
                if e.seq != ps + 1 {
                    c.problems.push(format!(
                        "ledger record {} follows {}: records {}..{} are missing or out of order",
                        e.seq,
                        ps,
                        ps + 1,
                        e.seq.saturating_sub(1)
                    ));
                }
                if &rec.prev_sha256 != ph {
                    c.problems.push(format!(
                        "ledger record {}: prev_sha256 {} is not the hash of record {} ({}): the chain is broken here",
                        e.seq, rec.prev_sha256, ps, ph
                    ));
                }
            }
            None if e.seq == 1 && rec.prev_sha256 != GENESIS => {
                c.problems.push("ledger record 1 does not start from the genesis hash".into());
            }
            None => {}
        }
        prev = Some((e.seq, ledger::record_sha256(e.payload.as_bytes())));
    }
    c
}
