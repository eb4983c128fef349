//! File input and output: NumPy `.npy` arrays, Gaussian-mixture target files
//! and PNG plots.
//!
//! Every writer in this module goes through [`write_atomic`], so an output file
//! is either absent, the old version, or the complete new version — never a
//! half-written file.

pub mod bayes;
pub mod data;
pub mod npy;
pub mod plot;
pub mod safetensors;
pub mod target;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Writes `bytes` to `path` atomically.
///
/// The bytes go to a temporary file `.<filename>.tmp-<pid>` in the same
/// directory, which is flushed to disk and then renamed over `path`. On any
/// error the temporary file is removed and `path` is left untouched.
///
/// The parent directory must already exist; it is not created. A symbolic link is followed:
/// the file it names is replaced and the link kept. A path that names anything but a regular
/// file (a device, a FIFO, a socket, a link to one, or a link to nothing) is refused, since
/// renaming over it would replace it instead of writing to it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let resolved = output_target(path)?;
    let path = resolved.as_path();
    let file_name = match path.file_name() {
        Some(name) => name.to_string_lossy().into_owned(),
        None => bail!(
            "cannot write {}: the path does not name a file; give a file path such as out/result.npy",
            path.display()
        ),
    };
    let dir: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        bail!(
            "cannot write {}: directory {} does not exist; create it first",
            path.display(),
            dir.display()
        );
    }
    if path.is_dir() {
        bail!(
            "cannot write {}: it is a directory; give a file path instead",
            path.display()
        );
    }

    let tmp = dir.join(format!(".{}.tmp-{}", file_name, std::process::id()));
    let result = write_and_sync(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path).context("cannot rename the temporary file"));
    if let Err(err) = result {
        let _ = fs::remove_file(&tmp);
        bail!("cannot write {}: {:#}", path.display(), err);
    }
    sync_dir(&dir);
    Ok(())
}

/// Removes from `dir` the temporary files that [`write_atomic`] leaves when its process is
/// killed between creating one and renaming it (`.<name>.tmp-<pid>`, never a complete output).
/// For a directory no other process writes, such as a run directory being resumed. Returns how
/// many were removed.
pub fn remove_stale_temporaries(dir: &Path) -> anyhow::Result<usize> {
    let mut removed = 0;
    let entries = fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_temporary = name.starts_with('.')
            && name.rsplit_once(".tmp-").is_some_and(|(stem, pid)| {
                stem.len() > 1 && !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
            });
        if is_temporary && entry.file_type().is_ok_and(|t| t.is_file()) {
            fs::remove_file(entry.path())
                .with_context(|| format!("cannot remove {}", entry.path().display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Where a write to `path` lands: `path` itself when it does not exist or is a regular file,
/// the file a symbolic link names when that is a regular file; anything else is an error
/// saying what the path is and what to give instead.
pub fn output_target(path: &Path) -> anyhow::Result<PathBuf> {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(path.to_path_buf()); // absent: created
    };
    let target = if meta.file_type().is_symlink() {
        match fs::canonicalize(path) {
            Ok(t) => t,
            Err(_) => bail!(
                "cannot write {}: it is a symbolic link to a missing file; remove the link or give another path",
                path.display()
            ),
        }
    } else {
        path.to_path_buf()
    };
    match fs::metadata(&target) {
        Ok(m) if m.is_file() => Ok(target),
        Ok(m) if m.is_dir() => bail!(
            "cannot write {}: it is a directory; give a file path instead",
            path.display()
        ),
        Ok(_) => bail!(
            "cannot write {}: it is not a regular file (a device, FIFO or socket); give a file path",
            path.display()
        ),
        Err(e) => bail!("cannot write {}: {e}", path.display()),
    }
}

/// Creates `tmp`, writes `bytes` and fsyncs it.
fn write_and_sync(tmp: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut file = File::create(tmp)
        .with_context(|| format!("cannot create temporary file {}", tmp.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write temporary file {}", tmp.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot flush temporary file {} to disk", tmp.display()))?;
    Ok(())
}

/// Best-effort fsync of a directory so that a rename inside it is durable.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn follows_links_and_refuses_special_files() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.npy");
        fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.npy");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&real).unwrap(), b"new");
        // A link to nothing is refused and left as it was.
        let dangling = dir.path().join("dangling.npy");
        std::os::unix::fs::symlink(dir.path().join("missing"), &dangling).unwrap();
        let err = write_atomic(&dangling, b"x").unwrap_err().to_string();
        assert!(err.contains("symbolic link to a missing file"), "{err}");
        assert!(fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
        // A FIFO in the temporary directory (never a real device: a regression would
        // replace it).
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(
            made.is_ok_and(|s| s.success()),
            "mkfifo (coreutils) is needed"
        );
        {
            let err = write_atomic(&fifo, b"x").unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
            assert!(!fs::symlink_metadata(&fifo).unwrap().is_file());
        }
    }

    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        write_atomic(&p, b"hello").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        write_atomic(&p, b"world!").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"world!");
        // no temporary files left behind
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a.bin".to_string()]);
    }

    #[test]
    fn stale_temporaries_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".checkpoint.safetensors.tmp-4242",
            ".metrics.jsonl.tmp-7",
            "checkpoint.safetensors",
            ".hidden",
            ".x.tmp-",
            ".x.tmp-12a",
            "a.tmp-12",
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        fs::create_dir(dir.path().join(".d.tmp-1")).unwrap();
        assert_eq!(remove_stale_temporaries(dir.path()).unwrap(), 2);
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".d.tmp-1",
                ".hidden",
                ".x.tmp-",
                ".x.tmp-12a",
                "a.tmp-12",
                "checkpoint.safetensors"
            ]
        );
    }

    #[test]
    fn missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope").join("a.bin");
        let err = write_atomic(&p, b"x").unwrap_err().to_string();
        assert!(err.contains("cannot write"), "{err}");
        assert!(err.contains("does not exist"), "{err}");
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn directory_target_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let err = write_atomic(&sub, b"x").unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
