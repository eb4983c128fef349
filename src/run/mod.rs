//! Workflows as library calls: an SVGD run, a training job with its run directory, evaluation,
//! sampling and energies of a trained model. The `stein` command line is a thin layer over
//! these; a Rust program (or a Python binding) calls them the same way.
//!
//! Each workflow takes its options as a plain struct with defaults, checks them before it
//! touches a device or writes a file ([`SvgdRun::check`], [`TrainJob::new`], ...), and returns
//! its results as a struct. Errors are one-line [`anyhow`] messages that name the command-line
//! option at fault, as `stein` prints them. Nothing here prints: progress goes to a
//! [`Progress`] observer, which may draw a bar ([`Silent`] draws nothing).
//!
//! | workflow | options | result |
//! |---|---|---|
//! | SVGD from a target file or [`Target`](crate::io::target::Target) | [`SvgdRun`] | [`SvgdResult`] |
//! | one Stein direction φ | [`svgd::phi`] | φ and h |
//! | training job (run directory, resume, checkpoints, metrics, grids, density plot) | [`TrainOptions`], [`Schedule`] → [`TrainJob`] | [`TrainSummary`] |
//! | held-out log-likelihood (exact, quadrature, AIS) and MMD² | [`EvalOptions`] | [`EvalReport`] |
//! | samples of a trained model (Gibbs, Langevin, SVGD) or of a generator | [`SampleOptions`] | samples |
//! | f(x) of a trained model | [`energy::energies`] | f |
//! | a target's score against finite differences of its log-density | [`check_target::check_target`] | [`check_target::GradCheck`] |

pub mod check_target;
pub mod energy;
pub mod eval;
mod run_dir;
pub mod sample;
pub mod svgd;
pub mod train;

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};

pub use eval::{EvalMethod, EvalOptions, EvalReport};
pub use sample::{SampleMethod, SampleOptions};
pub use svgd::{Init, OptimizerKind, SvgdResult, SvgdRun};
pub use train::{ModelKind, RunConfig, Schedule, TrainJob, TrainOptions, TrainSummary};

/// Observes a long computation: how far it is, and a short status line. The library reports
/// through this and never prints; `stein` draws a progress bar on a terminal.
pub trait Progress {
    /// `done` of `total` units (steps, updates, temperatures) are done.
    fn update(&mut self, _done: u64, _total: u64) {}
    /// A short status, e.g. the latest KSD² or energy gap.
    fn status(&mut self, _line: &str) {}
    /// The computation is over (called before results are read back).
    fn finish(&mut self) {}
}

/// A [`Progress`] that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}

/// Fails early when an output file could not be written at the end of a long run: its
/// directory must exist and the path must not be a directory; and, unless `overwrite`, the
/// file must not exist (the rule of every `stein` command's outputs, stated in the command
/// line's `cli/output.rs`). `flag` names the option.
pub fn check_output(path: &Path, flag: &str, overwrite: bool) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    ensure!(
        dir.is_dir(),
        "{flag} {}: directory {} does not exist; create it first",
        path.display(),
        dir.display()
    );
    ensure!(
        !path.is_dir(),
        "{flag} {} is a directory; give a file name",
        path.display()
    );
    crate::io::output_target(path).with_context(|| format!("{flag} {}", path.display()))?;
    ensure!(
        overwrite || std::fs::symlink_metadata(path).is_err(),
        "{flag} {} exists; give --overwrite to replace it, or another path",
        path.display()
    );
    Ok(())
}

/// Fails unless `path` ends in .png: the plots and image grids are PNG files.
pub fn check_png(path: &Path, flag: &str) -> Result<()> {
    ensure!(
        path.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png")),
        "{flag} {} writes a PNG image; give a path ending in .png",
        path.display()
    );
    Ok(())
}

/// Fails when an output path names the same file as an input or as another output: writing
/// it would destroy the input, or one output would silently replace the other. Each path
/// comes with the option that named it.
pub fn check_distinct(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> Result<()> {
    // The canonical path, or for a file still to be made its directory's and its name.
    let canon = |p: &Path| -> Option<PathBuf> {
        if let Ok(c) = std::fs::canonicalize(p) {
            return Some(c);
        }
        let parent = p
            .parent()
            .filter(|q| !q.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Some(std::fs::canonicalize(parent).ok()?.join(p.file_name()?))
    };
    for (i, (flag, out)) in outputs.iter().enumerate() {
        let Some(o) = canon(out) else { continue };
        let others = inputs
            .iter()
            .map(|(f, p)| (f, p, "input"))
            .chain(outputs[..i].iter().map(|(f, p)| (f, p, "output")));
        for (other, path, kind) in others {
            if canon(path).as_ref() == Some(&o) {
                bail!(
                    "{flag} {} is also the {other} {kind}; give {flag} a different path",
                    out.display()
                );
            }
        }
    }
    Ok(())
}
