//! The one rule for every command's outputs: nothing that exists is replaced unless asked.
//!
//! - **A file** (`--out`, `--plot`, `--grid`, `--json`, the files of `demo --out-dir`) that
//!   exists is refused: exit 2 and one line naming it and saying to give `--overwrite` or
//!   another path. With `--overwrite` it is replaced, atomically, when the run has succeeded.
//! - **A run directory** (`train --out`) that holds a run is refused, saying to continue it
//!   with `--resume` or to start again with `--overwrite`. `--overwrite` removes the old run's
//!   files, and only those a run writes, once the new run's inputs are checked. A non-empty
//!   directory that holds no run is refused even then: stein removes no file it did not write.
//! - **A snapshot directory** (`svgd --trace-dir`) holding snapshots is refused;
//!   `--overwrite` removes the old snapshots before the first step.
//! - Besides: an output may not name an input or another output, its directory must exist,
//!   and a run directory is written by one process at a time (`train` locks it).
//!
//! Every command that writes takes `--overwrite` ([`Overwrite`]) and checks all its output
//! files through [`check`] before it opens a device. The library applies the same rule and
//! refuses by default too: [`stein::run::check_output`], `SvgdRun::overwrite`,
//! `TrainJob::new` against `TrainJob::replacing`.

use std::path::Path;

use anyhow::Result;

use stein::run::{check_distinct, check_output};

/// `--overwrite`, as every command that writes files takes it.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct Overwrite {
    /// Replace output files that exist (by default they are refused).
    #[arg(long)]
    pub overwrite: bool,
}

/// Checks a command's output files by the rule above: each must be writable and, unless
/// `overwrite`, absent; none may name an input or another output. Each path comes with the
/// option that named it.
pub fn check(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)], overwrite: bool) -> Result<()> {
    // An output naming an input exists, but that is the thing to say.
    check_distinct(outputs, inputs)?;
    for (flag, path) in outputs {
        check_output(path, flag, overwrite)?;
    }
    Ok(())
}
