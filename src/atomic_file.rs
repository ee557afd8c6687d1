//! Files written whole or not at all: every file balgan writes for a user
//! (checkpoints, run files, images, exports) goes through [`write_atomic`], so
//! an interrupted write leaves the old file, never half a new one; and
//! [`remove_stale_temporaries`] clears what a killed process left behind.
//!
//! # Example
//!
//! ```
//! use std::io::Write;
//!
//! use balgan::atomic_file::write_atomic;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("balgan-atomic-{}", std::process::id()));
//! let path = dir.join("run").join("notes.txt"); // missing parent folders are created
//! write_atomic(&path, |w| writeln!(w, "epoch 3"))?;
//! assert_eq!(std::fs::read_to_string(&path)?, "epoch 3\n");
//!
//! // A write that fails halfway leaves the old file, and no temporary file beside it.
//! let failed = write_atomic(&path, |w| {
//!     write!(w, "epoch")?;
//!     Err(std::io::Error::other("interrupted"))
//! });
//! assert!(failed.is_err());
//! assert_eq!(std::fs::read_to_string(&path)?, "epoch 3\n");
//! assert_eq!(std::fs::read_dir(dir.join("run"))?.count(), 1);
//! std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Writes `path` atomically: `write` fills a temporary file next to it
/// (`.<name>.tmp-<pid>-<n>`), which is flushed, synced and renamed onto
/// `path`; on any error the temporary file is removed and `path` is left as
/// it was. Parent folders are created.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| Error::io(path, io::Error::new(io::ErrorKind::InvalidInput, "not a file path")))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> io::Result<()> {
        let mut w = BufWriter::new(File::create(&tmp)?);
        write(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable; not every platform can open a
        // directory, and the data is already safe, so failures are ignored.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Remove the temporary files [`write_atomic`] leaves in `dir` when its
/// process is killed mid-write (`.NAME.tmp-PID-N`): those untouched for ten
/// minutes (a write takes seconds) whose process is no longer running (where
/// `/proc` tells; elsewhere, and for a process of another PID namespace
/// sharing the folder, the age alone decides). Returns what was removed.
pub fn remove_stale_temporaries(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let me = std::process::id();
    let proc_fs = Path::new("/proc/self").exists();
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = temporary_owner(&name) else {
            continue;
        };
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() >= 600);
        let dead = !proc_fs || !Path::new("/proc").join(pid.to_string()).exists();
        let stale = pid != me && old && dead;
        if stale && e.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    removed.sort();
    removed
}

/// The PID in a temporary file name `.NAME.tmp-PID-N`.
fn temporary_owner(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, tail) = name.rsplit_once(".tmp-")?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}
