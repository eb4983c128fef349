//! Workflows as library calls: an SVGD run, a training job with its run directory, evaluation,
//! sampling and energies of a trained model. The `stein` command line is a thin layer over
//! these; a Rust program (or a Python binding) calls them the same way.
//!
//! Each workflow takes its options as a plain struct with defaults, checks them before it
//! touches a device or writes a file ([`SvgdRun::check`], [`TrainJob::new`], ...), and returns
//! its results as a struct. Errors are one-line [`anyhow`] messages that name the command-line
//! option at fault, as `stein` prints them. Nothing here prints: progress goes to a
//! [`Progress`] observer, which may draw a bar ([`Silent`] draws nothing), and the same
//! observer may ask a long computation to stop between its steps ([`Progress::should_stop`]).
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
//! | posterior-predictive metrics of a Bayesian model's particles on test rows | [`predict::predict`], [`predict::PredictOptions`] | [`predict::Prediction`] |

pub mod check_target;
pub mod energy;
pub mod eval;
pub mod plots;
pub mod predict;
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

/// Observes a long computation: how far it is, a short status line, an estimate of its time,
/// and whether its caller wants it to stop. The library reports through this and never
/// prints; `stein` draws a progress bar on a terminal and prints plain lines elsewhere.
///
/// **Stopping.** A long computation asks [`Progress::should_stop`] between its steps (a
/// training update, an SVGD step, a batch of AIS temperatures, a bench measurement) and, on
/// `true`, ends after the step it is in:
///
/// | workflow | on a stop |
/// |---|---|
/// | [`TrainJob::run`] | writes `checkpoint.safetensors` at the update reached and returns `Ok` with [`TrainSummary::interrupted`] set; [`TrainJob::resume`] continues it |
/// | [`SvgdRun::run`] | returns `Ok` with the particles reached and [`SvgdResult::interrupted`] set; with an `out` path it writes them to a partial file ([`SvgdResult::partial`]), never to `out` |
/// | [`eval::evaluate`] (AIS), [`crate::bench::run_with`] | return the error [`Interrupted`]: an unfinished estimate is worth nothing, so nothing is kept |
///
/// The `stein` command sets the flag from SIGINT and SIGTERM; a Python binding can answer
/// from `PyErr_CheckSignals` so that Ctrl-C raises `KeyboardInterrupt` after the step.
pub trait Progress {
    /// `done` of `total` units (steps, updates, temperatures) are done.
    fn update(&mut self, _done: u64, _total: u64) {}
    /// A short status, e.g. the latest KSD² or energy gap.
    fn status(&mut self, _line: &str) {}
    /// An estimate of the whole computation's time, measured before it starts (SVGD runs
    /// long enough to be worth measuring, the bench sweep).
    fn estimate(&mut self, _estimate: &Estimate) {}
    /// Whether the computation should stop after the step it is in (see the trait's docs).
    /// Asked once a step; keep it cheap.
    fn should_stop(&mut self) -> bool {
        false
    }
    /// The computation is over (called before results are read back).
    fn finish(&mut self) {}
}

/// How long a computation will take, from the device's pair rate measured on a small probe
/// before it starts: n² · steps / (pairs per second).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Seconds of the whole computation.
    pub seconds: f64,
    /// Seconds of one step (an SVGD step at the run's n; for the bench, of its largest
    /// configuration).
    pub seconds_per_step: f64,
    /// Pair interactions per second measured by the probe.
    pub pairs_per_second: f64,
}

/// The error of a computation stopped by [`Progress::should_stop`] that keeps nothing
/// (AIS, the bench). `done` of `total` `unit`s were done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interrupted {
    /// Units done.
    pub done: u64,
    /// Units planned.
    pub total: u64,
    /// What a unit is, e.g. "AIS temperature steps".
    pub unit: &'static str,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stopped on request after {} of {} {}; nothing was kept",
            self.done, self.total, self.unit
        )
    }
}

impl std::error::Error for Interrupted {}

/// The error of a run whose numbers left the range where they mean anything: NaN or inf, or
/// past a documented limit (training: [`crate::train::DIVERGED_GAP`] and
/// [`crate::train::DIVERGED_THETA_NORM`]). Its message names the step, the value and what to
/// change; `stein` exits with code 3 on it, not 2 (the input was valid, the settings failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diverged(pub String);

impl std::fmt::Display for Diverged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Diverged {}

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
