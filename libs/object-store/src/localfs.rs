//! Small files on the local disk that must survive a crash: the resumable upload's state file,
//! the station agent's and the recorder's per-file and per-session state. Not S3; here because
//! the resumable upload (the lowest user) lives in this crate.

use std::path::Path;

/// Size and modification time (ns) of a local file.
///
/// # Errors
/// The file cannot be stat'ed.
pub fn file_identity(path: &Path) -> std::io::Result<(u64, i128)> {
    let meta = std::fs::metadata(path)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    Ok((meta.len(), mtime))
}

/// Writes `v` as JSON to `path` so that a crash leaves either the old or the new content, never
/// a torn file: a temporary file beside it, fsync, rename, fsync of the folder. For the small
/// state files the station agent and the recorder keep across restarts.
///
/// # Errors
/// The file or its folder cannot be written.
pub fn write_json_durably<T: serde::Serialize>(path: &Path, v: &T) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(v).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a JSON file written by [`write_json_durably`]; `None` when there is none.
///
/// # Errors
/// Unreadable, or not the JSON of a `T` (the message names the file).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
