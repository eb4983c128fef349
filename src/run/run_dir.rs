//! A training run's directory on disk: what makes a directory a run, the lock that keeps a
//! second process out of it, and the removal of exactly the files a run writes.
//!
//! A directory holds a run when it has `config.json` (the first file a run writes). The lock
//! is an OS advisory lock (`flock` on Unix, `LockFileEx` on Windows, through
//! [`std::fs::File::try_lock`]) on the file `lock` in the directory, held for as long as a job
//! writes there; the OS releases it when the process ends, however it ends, so a crashed run
//! leaves no stale lock. The file holds the pid of its last holder, for the message a second
//! process gets. It is never removed while a run may use it (removing a lock file lets two
//! processes lock two different files).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The lock file in a run directory.
pub(crate) const LOCK: &str = "lock";

/// The files a run writes in its directory (besides `lock` and the image grids in [`GRIDS`]).
/// A file that a run starts to write must be listed here: `--overwrite` removes these and
/// nothing else.
const RUN_FILES: [&str; 10] = [
    "config.json",
    "metrics.jsonl",
    super::plots::CURVES,
    "checkpoint.safetensors",
    "model.safetensors",
    "generator.safetensors",
    "valid.npy",
    "density.png",
    "model_samples.npy",
    "generator_samples.npy",
];

/// The directory of the image grids, `step_NNNNNNN_*.png`.
const GRIDS: &str = "grids";

/// What a would-be run directory holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Nothing there yet.
    Absent,
    /// An empty directory (a lock file, or temporary files of an interrupted write, aside).
    Empty,
    /// A run; `checkpoint` says whether it has one to resume from.
    Run { checkpoint: bool },
    /// A directory with other files and no run; one of them is named.
    Other(String),
}

/// Whether `name` is a file a run writes in its directory, or the temporary file of one
/// (`.NAME.tmp-PID`, left by a process killed while writing it).
fn is_run_file(name: &str) -> bool {
    let temp_of = |f: &str| {
        name.strip_prefix('.')
            .and_then(|n| n.strip_prefix(f))
            .is_some_and(|rest| rest.starts_with(".tmp-"))
    };
    RUN_FILES.iter().any(|f| name == *f || temp_of(f))
}

/// Whether `name` in `grids/` is an image grid a run wrote (or its temporary file).
fn is_grid_file(name: &str) -> bool {
    let n = name.strip_prefix('.').unwrap_or(name);
    n.starts_with("step_") && (n.ends_with(".png") || n.contains(".png.tmp-"))
}

/// What `dir` holds.
pub(crate) fn state(dir: &Path) -> Result<State> {
    if fs::symlink_metadata(dir).is_err() {
        return Ok(State::Absent);
    }
    if !dir.is_dir() {
        bail!("--out {} is a file; give a directory", dir.display());
    }
    if dir.join("config.json").exists() {
        return Ok(State::Run {
            checkpoint: dir.join("checkpoint.safetensors").exists(),
        });
    }
    let entries = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("reading {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = name == LOCK || is_run_file(&name) || (name == GRIDS && only_grids(&e.path()));
        if !ours {
            return Ok(State::Other(name));
        }
    }
    Ok(State::Empty)
}

/// Whether the directory `grids` holds image grids only.
fn only_grids(grids: &Path) -> bool {
    fs::read_dir(grids).is_ok_and(|entries| {
        entries
            .flatten()
            .all(|e| is_grid_file(&e.file_name().to_string_lossy()))
    })
}

/// Removes the files a run writes in `dir` (and `grids/` if that leaves it empty); other
/// files stay. `inputs` are the new run's input files (with their options): one that is a
/// file of the old run is refused before anything is removed.
pub(crate) fn remove_run(dir: &Path, inputs: &[(&str, &Path)]) -> Result<()> {
    let mut doomed: Vec<PathBuf> = Vec::new();
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e.with_context(|| format!("reading {}", dir.display()))?;
        if is_run_file(&e.file_name().to_string_lossy()) {
            doomed.push(e.path());
        }
    }
    let grids = dir.join(GRIDS);
    if grids.is_dir() {
        for e in fs::read_dir(&grids).with_context(|| format!("reading {}", grids.display()))? {
            let e = e.with_context(|| format!("reading {}", grids.display()))?;
            if is_grid_file(&e.file_name().to_string_lossy()) {
                doomed.push(e.path());
            }
        }
    }
    for (flag, input) in inputs {
        let Ok(input) = fs::canonicalize(input) else {
            continue;
        };
        if let Some(f) = doomed
            .iter()
            .find(|f| fs::canonicalize(f).is_ok_and(|c| c == input))
        {
            bail!(
                "{flag} {} is a file of the run that --overwrite would remove; copy it out of {} first",
                f.display(),
                dir.display()
            );
        }
    }
    for f in &doomed {
        fs::remove_file(f).with_context(|| {
            format!(
                "--overwrite: cannot remove {} of the old run; remove it by hand",
                f.display()
            )
        })?;
    }
    let _ = fs::remove_dir(&grids); // only if empty
    Ok(())
}

/// The lock on a run directory, held until dropped.
#[derive(Debug)]
pub(crate) struct RunLock {
    file: File,
}

impl RunLock {
    /// Locks `dir` (which must exist), writing this process's pid into the lock file, or fails
    /// with one line naming the process that holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => bail!("{}", in_use(dir, &mut file)),
            Err(fs::TryLockError::Error(e)) => {
                bail!("cannot lock {}: {e}", path.display())
            }
        }
        // The pid is only for the message above: a failure to write it is no reason to stop.
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| write!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        Ok(Self { file })
    }

    /// Fails, as [`RunLock::acquire`] would, when another process holds the lock of `dir`;
    /// creates nothing (a directory without a lock file is not in use).
    pub(crate) fn check_free(dir: &Path) -> Result<()> {
        let path = dir.join(LOCK);
        let Ok(mut file) = OpenOptions::new().read(true).write(true).open(&path) else {
            return Ok(());
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                Ok(())
            }
            Err(fs::TryLockError::WouldBlock) => bail!("{}", in_use(dir, &mut file)),
            Err(fs::TryLockError::Error(_)) => Ok(()), // acquire says what is wrong
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// "DIR is in use by another stein process (pid N)", the pid read from the lock file.
fn in_use(dir: &Path, file: &mut File) -> String {
    let mut text = String::new();
    // Windows locks the bytes themselves: the pid cannot be read there while locked.
    let pid = match file.read_to_string(&mut text) {
        Ok(_) if text.trim().parse::<u32>().is_ok() => format!("pid {}", text.trim()),
        _ => "pid unknown".into(),
    };
    format!(
        "{} is in use by another stein process ({pid}); wait for it to finish or stop it",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_a_run_empty_or_other() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("run");
        assert_eq!(state(&d).unwrap(), State::Absent);
        fs::create_dir(&d).unwrap();
        fs::write(d.join(LOCK), "1").unwrap();
        fs::write(d.join(".metrics.jsonl.tmp-77"), "").unwrap();
        fs::create_dir(d.join(GRIDS)).unwrap();
        fs::write(d.join(GRIDS).join("step_0000010_langevin.png"), "").unwrap();
        assert_eq!(state(&d).unwrap(), State::Empty);
        fs::write(d.join("config.json"), "{}").unwrap();
        assert_eq!(state(&d).unwrap(), State::Run { checkpoint: false });
        fs::write(d.join("checkpoint.safetensors"), "").unwrap();
        assert_eq!(state(&d).unwrap(), State::Run { checkpoint: true });
        fs::write(d.join("notes.txt"), "mine").unwrap();
        fs::write(d.join(GRIDS).join("mine.png"), "mine").unwrap();
        remove_run(&d, &[]).unwrap();
        let mut left: Vec<String> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [GRIDS, LOCK, "notes.txt"]);
        assert!(d.join(GRIDS).join("mine.png").exists());
        // grids/ holds mine.png: the first foreign entry found is either.
        let State::Other(name) = state(&d).unwrap() else {
            panic!("not Other");
        };
        assert!(name == "notes.txt" || name == GRIDS, "{name}");
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        assert!(state(&file).is_err());
    }

    #[test]
    fn an_input_of_the_new_run_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("config.json"), "{}").unwrap();
        let valid = dir.path().join("valid.npy");
        fs::write(&valid, "rows").unwrap();
        let e = remove_run(dir.path(), &[("--data", &valid)]).unwrap_err();
        assert!(format!("{e:#}").contains("--data"), "{e:#}");
        assert!(valid.exists() && dir.path().join("config.json").exists());
    }

    #[test]
    fn a_held_lock_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = RunLock::acquire(dir.path()).unwrap();
        // A second handle on the same file conflicts like a second process would.
        let e = format!("{:#}", RunLock::acquire(dir.path()).unwrap_err());
        assert!(e.contains("in use by another stein process"), "{e}");
        #[cfg(unix)]
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(RunLock::check_free(dir.path()).is_err());
        drop(held);
        RunLock::check_free(dir.path()).unwrap();
        drop(RunLock::acquire(dir.path()).unwrap());
    }
}
