//! A fixed camera's recording session across its packages (`evidence-verify --session FOLDER`).
//! The recorder cuts a continuous recording into segments, each sealed alone; each segment's seal
//! record (and its C2PA recording assertion) carries the session id, its index and the BLAKE3 of
//! the previous segment's file. Given a folder of exported packages, this checks every package,
//! then the session: indices 0, 1, 2, … with none missing and none twice, each segment naming the
//! file before it, no package from another session among them. Outages stay what they are: holes
//! the continuity reports give with their length, not breaks in the chain.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use evidence_contracts::Blake3Digest;
use evidence_contracts::ingest::{EndedBy, SegmentV1};
use evidence_contracts::seal::SealRecordV1;
use serde::Serialize;

use crate::package;

/// One package of the folder, as the session check sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    /// Its folder, relative to the one given.
    pub folder: String,
    pub evidence_id: String,
    pub file_name: String,
    /// BLAKE3 of its original, as sealed.
    pub original_blake3: Option<Blake3Digest>,
    pub segment: Option<SegmentV1>,
    /// The package's own verification.
    pub verified: bool,
    pub problems: Vec<String>,
}

/// The whole session check.
#[derive(Debug, Clone, Serialize)]
pub struct SessionReport {
    pub session_id: Option<String>,
    pub ok: bool,
    /// Every package found, in session order (then the others).
    pub members: Vec<Member>,
    /// What breaks the session: each names the segment or package.
    pub findings: Vec<String>,
    pub notes: Vec<String>,
}

impl SessionReport {
    /// Human-readable text.
    pub fn text(&self) -> String {
        let mut s = format!("session {}\n", self.session_id.as_deref().unwrap_or("?"));
        for m in &self.members {
            let idx = m.segment.as_ref().map_or_else(|| "-".to_owned(), |g| g.index.to_string());
            s.push_str(&format!(
                "  {} segment {idx:>3} {} ({}, {})\n",
                if m.verified { "ok  " } else { "FAIL" },
                m.file_name,
                m.evidence_id,
                m.folder
            ));
            for p in &m.problems {
                s.push_str(&format!("         {p}\n"));
            }
        }
        for f in &self.findings {
            s.push_str(&format!("  FAIL {f}\n"));
        }
        for n in &self.notes {
            s.push_str(&format!("  note: {n}\n"));
        }
        s.push_str(if self.ok { "SESSION VERIFIED\n" } else { "SESSION NOT VERIFIED\n" });
        s
    }
}

fn package_folders(root: &Path, out: &mut Vec<PathBuf>) {
    if root.join("seal.json").is_file() {
        out.push(root.to_owned());
        return;
    }
    let Ok(rd) = std::fs::read_dir(root) else { return };
    let mut dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for d in dirs {
        package_folders(&d, out);
    }
}

/// Checks every package under `root` and the session they make up: `session` names it, else it
/// is the session most packages belong to.
///
/// # Errors
/// `root` holds no package.
pub fn verify_session(
    root: &Path,
    session: Option<&str>,
    anchors: &[Vec<u8>],
    anchors_pem: Option<&str>,
) -> anyhow::Result<SessionReport> {
    let mut folders = Vec::new();
    package_folders(root, &mut folders);
    anyhow::ensure!(
        !folders.is_empty(),
        "{} holds no package (no folder with a seal.json): give the folder the session's exports are in",
        root.display()
    );
    let mut members = Vec::new();
    for f in folders {
        let report = package::verify_folder(&f, anchors, anchors_pem)?;
        let record: Option<SealRecordV1> =
            std::fs::read(f.join("seal.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let rel = f.strip_prefix(root).unwrap_or(&f).display().to_string();
        members.push(Member {
            folder: if rel.is_empty() { ".".into() } else { rel },
            evidence_id: report.evidence_id.clone().unwrap_or_else(|| "?".into()),
            file_name: record.as_ref().map(|r| r.file_name.clone()).unwrap_or_default(),
            original_blake3: record.as_ref().and_then(|r| r.original().map(|o| o.blake3)),
            segment: record.and_then(|r| r.segment),
            verified: report.ok,
            problems: report.checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.subject, c.detail)).collect(),
        });
    }
    Ok(judge(members, session))
}

/// The session rules over the packages found (pure).
pub fn judge(mut members: Vec<Member>, session: Option<&str>) -> SessionReport {
    let id = session.map(str::to_owned).or_else(|| {
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for m in &members {
            if let Some(s) = &m.segment {
                *count.entry(s.session_id.as_str()).or_default() += 1;
            }
        }
        count.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(s, _)| (*s).to_owned())
    });
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    let Some(id) = id else {
        return SessionReport {
            session_id: None,
            ok: false,
            findings: vec!["no package in the folder is a segment of a fixed camera's session".into()],
            members,
            notes,
        };
    };
    let of_session = |m: &Member| m.segment.as_ref().is_some_and(|s| s.session_id == id);
    members.sort_by_key(|m| (!of_session(m), m.segment.as_ref().map_or(u64::MAX, |s| s.index), m.folder.clone()));
    for m in &members {
        if !m.verified {
            findings.push(format!("package {} ({}) does not verify on its own", m.folder, m.file_name));
        }
        match &m.segment {
            None => findings.push(format!(
                "package {} ({}) is not a segment of a session: it does not belong among session {id}'s packages",
                m.folder, m.file_name
            )),
            Some(s) if s.session_id != id => findings.push(format!(
                "package {} ({}, segment {} of session {}) belongs to another session, not {id}: it was inserted",
                m.folder, m.file_name, s.index, s.session_id
            )),
            Some(_) => {}
        }
    }
    let mine: Vec<&Member> = members.iter().filter(|m| of_session(m)).collect();
    let mut by_index: BTreeMap<u64, Vec<&Member>> = BTreeMap::new();
    for m in &mine {
        if let Some(s) = &m.segment {
            by_index.entry(s.index).or_default().push(m);
        }
    }
    for (i, ms) in &by_index {
        if ms.len() > 1 {
            let names: Vec<String> = ms.iter().map(|m| format!("{} ({})", m.file_name, m.folder)).collect();
            findings.push(format!("segment {i} is claimed by {} packages: {}", ms.len(), names.join(", ")));
        }
    }
    // The session starts at the segment that names no file before it (the recorder numbers
    // segments on across the sessions of one camera, so the first index need not be 0).
    let first = by_index.keys().next().copied().unwrap_or(0);
    let last = by_index.keys().next_back().copied().unwrap_or(0);
    if let Some(m) = by_index.get(&first).and_then(|v| v.first())
        && let Some(seg) = &m.segment
        && (seg.previous_file.is_some() || seg.previous_blake3.is_some())
    {
        findings.push(format!(
            "the segments of session {id} before segment {first} are missing: {} was recorded after {}, which is \
             not in the folder",
            m.file_name,
            seg.previous_file.as_deref().unwrap_or("an earlier segment")
        ));
    }
    // Consecutive segments by index: the link (the BLAKE3 of the file recorded before) decides;
    // an index may be unused (a reconnect that produced no frame), which the link shows.
    let present: Vec<(u64, &Member)> = by_index.iter().filter_map(|(i, v)| v.first().map(|m| (*i, *m))).collect();
    for w in present.windows(2) {
        let ((pi, p), (i, m)) = (w[0], w[1]);
        let seg = m.segment.as_ref().expect("of the session");
        match seg.previous_blake3 {
            Some(b) if Some(b) == p.original_blake3 => {
                if i > pi + 1 {
                    notes.push(format!(
                        "segment indices {}..={} are unused: {} was recorded right after {} (the recorder skips an \
                         index when a reconnect yields no frame)",
                        pi + 1,
                        i - 1,
                        m.file_name,
                        p.file_name
                    ));
                }
            }
            Some(b) if i == pi + 1 => findings.push(format!(
                "segment {i} ({}) does not follow segment {pi} ({}): it was recorded after a file with BLAKE3 {b}, \
                 the package at segment {pi} holds {}: that segment was replaced",
                m.file_name,
                p.file_name,
                p.original_blake3.map_or_else(|| "no original".into(), |x| x.to_string())
            )),
            Some(b) => findings.push(format!(
                "a segment of session {id} is missing between {} (segment {pi}) and {} (segment {i}): {} was recorded \
                 after {} (BLAKE3 {b}), which is not in the folder",
                p.file_name,
                m.file_name,
                m.file_name,
                seg.previous_file.as_deref().unwrap_or("a file")
            )),
            None => {
                notes.push(format!(
                    "segment {i} ({}) carries no link to the segment before it (sealed before 2026-12-04): its order \
                     is taken from its index alone",
                    m.file_name
                ));
                if i > pi + 1 {
                    findings.push(format!(
                        "segments {}..={} of session {id} are missing (after {}, before {})",
                        pi + 1,
                        i - 1,
                        p.file_name,
                        m.file_name
                    ));
                }
            }
        }
    }
    for (i, m) in &present {
        let seg = m.segment.as_ref().expect("of the session");
        if seg.previous_ended_by == Some(EndedBy::Outage) {
            notes.push(format!(
                "a hole of {:.1} s before segment {i} ({}): the camera or the network was down; the continuity \
                 report gives it; not a break in the chain",
                seg.gap_before_s(),
                m.file_name
            ));
        }
    }
    notes.push(format!(
        "segments {first}..={last} of session {id} checked; a segment after {last} would not be noticed if it is \
         missing (the session's last segment names no successor)"
    ));
    SessionReport { session_id: Some(id), ok: findings.is_empty(), members, findings, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(session: &str, index: u64, b3: u8, prev: Option<u8>, name: &str) -> Member {
        let t = "2026-12-04T10:00:00Z".parse().unwrap();
        Member {
            folder: format!("{session}-{index}"),
            evidence_id: format!("id-{session}-{index}"),
            file_name: name.into(),
            original_blake3: Some(Blake3Digest([b3; 32])),
            segment: Some(SegmentV1 {
                session_id: session.into(),
                index,
                start: t,
                end: t,
                previous_file: None,
                previous_end: None,
                previous_ended_by: None,
                previous_blake3: prev.map(|p| Blake3Digest([p; 32])),
            }),
            verified: true,
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_whole_chain_verifies_and_each_break_is_named() {
        let whole =
            vec![member("A", 0, 1, None, "a0"), member("A", 1, 2, Some(1), "a1"), member("A", 2, 3, Some(2), "a2")];
        let r = judge(whole.clone(), None);
        assert!(r.ok, "{}", r.text());
        assert_eq!(r.session_id.as_deref(), Some("A"));

        let mut first_gone = whole.clone();
        first_gone.remove(0);
        let r = judge(first_gone, None);
        assert!(r.findings.iter().any(|f| f.contains("before segment 1 are missing")), "{}", r.text());
        // A session that starts at another index (the recorder numbers on across sessions).
        let later = vec![member("C", 3, 1, None, "c3"), member("C", 4, 2, Some(1), "c4")];
        assert!(judge(later, None).ok);

        let mut removed = whole.clone();
        removed.remove(1);
        let r = judge(removed, None);
        assert!(
            !r.ok
                && r.findings
                    .iter()
                    .any(|f| f.contains("a segment of session A is missing between a0 (segment 0) and a2 (segment 2)")),
            "{}",
            r.text()
        );
        // An index the recorder skipped (no frame in a reconnect attempt) is not a missing segment.
        let skipped = vec![member("A", 0, 1, None, "a0"), member("A", 2, 3, Some(1), "a2")];
        let r = judge(skipped, None);
        assert!(r.ok && r.notes.iter().any(|n| n.contains("indices 1..=1 are unused")), "{}", r.text());

        // Segment 1 replaced by another recording claiming the same place: its bytes are not the ones segment 2 follows.
        let mut replaced = whole.clone();
        replaced[1] = member("A", 1, 9, Some(1), "a1-other");
        let r = judge(replaced, None);
        assert!(
            r.findings.iter().any(|f| f.contains("segment 2 (a2) does not follow segment 1 (a1-other)")),
            "{}",
            r.text()
        );

        let mut inserted = whole.clone();
        inserted.push(member("B", 1, 7, Some(6), "b1"));
        let r = judge(inserted, None);
        assert!(
            r.findings.iter().any(|f| f.contains("b1") && f.contains("belongs to another session")),
            "{}",
            r.text()
        );

        let mut twice = whole;
        twice.push(member("A", 2, 3, Some(2), "a2-copy"));
        let r = judge(twice, Some("A"));
        assert!(r.findings.iter().any(|f| f.contains("segment 2 is claimed by 2 packages")), "{}", r.text());
    }
}
