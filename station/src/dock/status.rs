//! What the agent shows: metrics, one status line per slot (or a redrawn block on a terminal),
//! and the `--once` summary with its exit code.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use chrono::Utc;

use super::Agent;
use super::files::FileState;
use crate::metrics;
use worker_runtime::lock;

impl Agent {
    /// Whether nothing is in flight and every present file is final.
    pub(super) fn all_final(&self, present: &[String]) -> bool {
        let files = lock(&self.files);
        files.inflight.is_empty() && present.iter().all(|id| files.records.get(id).is_none_or(|r| r.state.is_final()))
    }

    /// One line per present file on stdout (`state evidence_id path reason`); exit 0 only if all
    /// were sealed, 3 otherwise.
    pub(super) fn summary(&self, present: &[String]) -> ExitCode {
        let files = lock(&self.files);
        let mut bad = false;
        for id in present {
            if let Some(r) = files.records.get(id) {
                println!(
                    "{}\t{}\t{}\t{}",
                    r.state.as_str(),
                    r.evidence_id.map(|e| e.to_string()).unwrap_or_else(|| "-".into()),
                    r.path.display(),
                    r.reason.as_deref().unwrap_or("")
                );
                bad |= r.state != FileState::Sealed;
            }
        }
        if bad { ExitCode::from(3) } else { ExitCode::SUCCESS }
    }

    pub(super) fn publish_metrics(&self) {
        let files = lock(&self.files);
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        let mut oldest = 0i64;
        let now = Utc::now();
        for r in files.records.values() {
            let s = if files.inflight.contains(&r.id) && r.state == FileState::New {
                "uploading"
            } else {
                r.state.as_str()
            };
            *counts.entry(s).or_default() += 1;
            if !r.state.is_final() || r.state == FileState::Blocked {
                oldest = oldest.max((now - r.first_seen).num_seconds());
            }
        }
        let v: Vec<(&str, i64)> = counts.into_iter().collect();
        metrics::files(self.station(), &v, oldest);
    }

    /// One line per slot: device, officer, counts, the upload in progress; then what is backing off.
    pub(super) fn status_lines(&self) -> Vec<String> {
        let files = lock(&self.files);
        let seen = lock(&self.slots_seen);
        let mut lines = Vec::new();
        for slot in self.cfg.dock.all_slots() {
            let Some((device, officer)) = seen.get(&slot.name) else {
                lines.push(format!("{:<10} empty", slot.name));
                continue;
            };
            let mut c: BTreeMap<&str, usize> = BTreeMap::new();
            let mut current = String::new();
            for r in files.records.values().filter(|r| r.slot == slot.name && &r.device == device) {
                *c.entry(r.state.as_str()).or_default() += 1;
                if let Some((done, total)) = files.progress.get(&r.id) {
                    current = format!(" {} {}", bar(*done, *total), r.rel_path);
                }
            }
            let counts = c.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ");
            lines.push(format!(
                "{:<10} {device} ({}) {counts}{current}",
                slot.name,
                officer.as_deref().unwrap_or("UNBOUND")
            ));
        }
        let now = Instant::now();
        let backoff = lock(&self.backoff);
        if backoff.active(now) {
            lines.push(format!("backing off: {}", backoff.reason));
        }
        for b in files.backoff.values().filter(|b| b.active(now)) {
            lines.push(format!("waiting: {}", b.reason));
        }
        lines
    }

    /// Redraws the status block in place; returns how many lines it drew.
    pub(super) fn draw(&self, previous: usize) -> usize {
        use std::io::Write as _;
        let lines = self.status_lines();
        let mut err = std::io::stderr().lock();
        if previous > 0 {
            let _ = write!(err, "\x1b[{previous}A");
        }
        for l in &lines {
            let _ = writeln!(err, "\x1b[2K{l}");
        }
        lines.len()
    }
}

fn bar(done: u64, total: u64) -> String {
    let pct = done.saturating_mul(100).checked_div(total).unwrap_or(100);
    let filled = usize::try_from(pct / 5).unwrap_or(20).min(20);
    format!(
        "[{}{}] {pct:>3}% {:.1}/{:.1} MB",
        "#".repeat(filled),
        ".".repeat(20 - filled),
        done as f64 / 1e6,
        total as f64 / 1e6
    )
}
