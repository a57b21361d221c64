//! Per-station NATS credentials: an NKey per station and the permissions that let it publish
//! only its own ingest requests and docking records, read only its own receipts, and receive
//! replies only on its own inbox prefix. `station credentials` writes them; the server side is
//! an `authorization { users = [...] }` block (see `deploy/nats/README.md`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use evidence_contracts::{StationId, subjects};

/// A station's key pair: the seed stays on the station, the public key goes to the server.
pub struct StationKey {
    pub public: String,
    pub seed: String,
}

/// A fresh user NKey.
///
/// # Errors
/// The system random source fails.
pub fn new_station_key() -> anyhow::Result<StationKey> {
    let kp = nkeys::KeyPair::new_user();
    Ok(StationKey { public: kp.public_key(), seed: kp.seed().context("encode the nkey seed")? })
}

/// The reply-subject prefix a station uses (its `nats.inbox_prefix`).
pub fn inbox_prefix(station: &StationId) -> String {
    format!("_INBOX_{station}")
}

/// `(publish allow, subscribe allow)` for a station.
pub fn permissions(station: &StationId) -> (Vec<String>, Vec<String>) {
    let publish = vec![
        subjects::ingest_request(station),
        subjects::station_docking(station),
        // Direct get of the last receipt on one of its own subjects (and nothing else).
        format!("$JS.API.DIRECT.GET.{}.{}", subjects::RECEIPTS_STREAM, subjects::receipts_of(station)),
    ];
    let subscribe = vec![format!("{}.>", inbox_prefix(station))];
    (publish, subscribe)
}

/// The station's entry for the server's `authorization { users = [ … ] }` list.
pub fn nats_user_entry(station: &StationId, public_key: &str) -> String {
    let (publish, subscribe) = permissions(station);
    let list = |v: &[String]| v.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ");
    format!(
        "# station {station}\n{{ nkey: \"{public_key}\", permissions: {{ publish: {{ allow: [{}] }}, subscribe: {{ allow: [{}] }} }} }}\n",
        list(&publish),
        list(&subscribe)
    )
}

/// Writes `<dir>/<station>.nk` (seed, mode 0600, never overwritten) and
/// `<dir>/<station>.nats.conf` (the server entry); returns their paths.
///
/// # Errors
/// A seed for this station already exists, or the folder cannot be written.
pub fn write_station_credentials(dir: &Path, station: &StationId) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let seed_path = dir.join(format!("{station}.nk"));
    if seed_path.exists() {
        bail!("{} exists; a station keeps its key (remove the file only to rotate it)", seed_path.display());
    }
    let key = new_station_key()?;
    {
        use std::io::Write as _;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            o.mode(0o600);
        }
        let mut f = o.open(&seed_path).with_context(|| format!("create {}", seed_path.display()))?;
        f.write_all(key.seed.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    let conf_path = dir.join(format!("{station}.nats.conf"));
    std::fs::write(&conf_path, nats_user_entry(station, &key.public))
        .with_context(|| format!("write {}", conf_path.display()))?;
    Ok((seed_path, conf_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_station_may_publish_only_its_own_subjects() {
        let s = StationId::new("ST-07").expect("id");
        let (publish, subscribe) = permissions(&s);
        assert!(publish.contains(&"evidence.ingest.request.v1.ST-07".to_owned()));
        assert!(publish.iter().all(|p| p.contains("ST-07")), "{publish:?}");
        assert_eq!(subscribe, vec!["_INBOX_ST-07.>".to_owned()]);
        let key = new_station_key().expect("key");
        assert!(key.public.starts_with('U') && key.seed.starts_with("SU"));
        let entry = nats_user_entry(&s, &key.public);
        assert!(entry.contains(&key.public) && !entry.contains(&key.seed), "{entry}");
    }
}
