//! Local spool folders. A worker killed with `kill -9` cannot remove its half-written job files,
//! so each process works in `<spool_dir>/p<pid>/` and, at start, removes the folders of
//! processes that no longer run. Several workers may share one `spool_dir`.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Creates `<dir>/p<pid>` for this process and removes `p<pid>` folders of dead processes.
/// Returns this process's folder.
///
/// # Errors
/// The folder cannot be created.
pub fn claim(dir: &Path, what: &str) -> anyhow::Result<PathBuf> {
    let mine = dir.join(format!("p{}", std::process::id()));
    std::fs::create_dir_all(&mine).with_context(|| format!("create {what} {}", mine.display()))?;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix('p').and_then(|p| p.parse::<u32>().ok()) else { continue };
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                match std::fs::remove_dir_all(e.path()) {
                    Ok(()) => tracing::info!(path = %e.path().display(), "removed the spool of a worker that is gone"),
                    Err(err) => tracing::warn!(path = %e.path().display(), error = %err, "cannot remove a stale spool"),
                }
            }
        }
    }
    Ok(mine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_spools_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A pid that cannot be running (above the kernel's pid_max).
        let dead = dir.path().join("p4194305");
        std::fs::create_dir_all(dead.join("job")).expect("create");
        std::fs::write(dead.join("job/half.mp4"), b"half").expect("write");
        let other = dir.path().join("not-a-spool");
        std::fs::create_dir_all(&other).expect("create");
        let mine = claim(dir.path(), "spool").expect("claim");
        assert!(mine.is_dir());
        assert!(!dead.exists(), "a dead worker's spool is removed");
        assert!(other.exists(), "other folders are left alone");
    }
}
