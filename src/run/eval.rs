//! Evaluating a trained model on data: the mean log-likelihood, exact for the RBM (a sum over
//! its 2^H hidden states), by quadrature for d <= 2, or with log Z from AIS; optionally the
//! unbiased MMD² between model samples and the data.
//!
//! ```no_run
//! use std::path::Path;
//! use stein::gpu::{AdapterChoice, GpuContext};
//! use stein::io::data::{load_for_model, DataOptions, Units};
//! use stein::model::spec::ModelSpec;
//! use stein::run::{eval, EvalOptions, Silent};
//!
//! # fn main() -> anyhow::Result<()> {
//! let model = Path::new("runs/ring8/model.safetensors");
//! let (spec, theta, transform) = ModelSpec::load_with_transform(model)?;
//! // In the model's units: the transform it was trained in (u8 scale, standardisation).
//! let data = load_for_model(
//!     Path::new("ring8-valid"),
//!     transform.as_ref(),
//!     DataOptions::default(),
//!     Units::Data,
//! )?;
//! let options = EvalOptions::default(); // exact for a small RBM, else quadrature, else AIS
//! options.check()?;
//! let ctx = GpuContext::new(&AdapterChoice::default())?;
//! let report = eval::evaluate(&ctx, &spec, &theta, &data, None, &options, &mut Silent)?;
//! println!("{} ({:?})", report.loglik, report.method);
//! # Ok(())
//! # }
//! ```

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

use super::Progress;
use crate::ais::AisConfig;
use crate::gpu::GpuContext;
use crate::io::data::Data;
use crate::mmd::Mmd;
use crate::model::spec::{ModelKernels, ModelSpec};

/// How the log partition function is found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum EvalMethod {
    /// Exact for the RBM with H <= 20 (when it fits the device), else quadrature for d <= 2,
    /// else AIS.
    #[default]
    Auto,
    /// The RBM's exact log Z, a sum over 2^H hidden states.
    Exact,
    /// The midpoint rule on a grid over the data's box (d <= 2).
    Quadrature,
    /// Annealed importance sampling.
    Ais,
}

/// What to evaluate and how; [`Default`] gives `stein eval`'s defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalOptions {
    /// Method.
    pub method: EvalMethod,
    /// AIS: temperatures, runs, chains, seed.
    pub ais: AisConfig,
    /// Quadrature: midpoint-rule points per axis.
    pub grid: usize,
    /// Quadrature: the data's bounding box widened by this fraction of its extent on each
    /// side (and by at least 5).
    pub margin: f64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            method: EvalMethod::Auto,
            ais: AisConfig::default(),
            grid: 512,
            margin: 0.5,
        }
    }
}

impl EvalOptions {
    /// Checks the numbers.
    pub fn check(&self) -> Result<()> {
        self.ais.validate()?;
        ensure!(
            (4..=16384).contains(&self.grid),
            "--grid must be between 4 and 16384 points per axis"
        );
        ensure!(
            self.margin >= 0.0 && self.margin.is_finite(),
            "--margin must be a non-negative fraction"
        );
        Ok(())
    }
}

/// How the reported log Z was found, with that method's figures.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum EvalDetail {
    /// The RBM's exact sum.
    Exact {
        /// Hidden units H.
        hidden: usize,
    },
    /// Quadrature.
    Quadrature {
        /// Points per axis.
        grid: usize,
        /// The box's lower corner.
        box_lo: Vec<f64>,
        /// The box's upper corner.
        box_hi: Vec<f64>,
        /// log Z against the grid with half the points per axis.
        grid_change: f64,
        /// Largest f on the box's border minus the largest f inside.
        border_gap: f64,
    },
    /// AIS.
    Ais {
        /// Standard error of log Z (the runs' spread / √runs).
        std_err: f64,
        /// Temperatures.
        temperatures: usize,
        /// Independent runs.
        runs: usize,
        /// Chains per run.
        chains: usize,
        /// Mean HMC acceptance.
        acceptance: f64,
        /// Wall-clock seconds of the AIS.
        seconds: f64,
    },
}

/// An evaluation's result, serialised as `stein eval` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// Data rows.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Mean log-likelihood of the data: mean f − log Z.
    pub loglik: f64,
    /// log Z.
    pub log_z: f64,
    /// The method used (never `auto`).
    pub method: EvalMethod,
    /// The method's figures.
    #[serde(flatten)]
    pub detail: EvalDetail,
    /// MMD² between the given samples and the data.
    pub mmd2: Option<Mmd>,
}

impl EvalReport {
    /// A warning when f on the quadrature box's border comes within 10 nats of its peak: mass
    /// outside the box may be missed.
    pub fn warning(&self) -> Option<String> {
        match self.detail {
            EvalDetail::Quadrature { border_gap, .. } if border_gap > -10.0 => Some(format!(
                "f on the quadrature box's border is within {:.1} nats of its peak; widen it with --margin",
                -border_gap
            )),
            _ => None,
        }
    }
}

/// Checks `n` model samples of dimension `d` for the MMD² against data of dimension `data_d`.
pub fn check_samples(n: usize, d: usize, data_d: usize) -> Result<()> {
    ensure!(
        d == data_d,
        "samples have d = {d} but the data has d = {data_d}"
    );
    ensure!(n >= 2, "MMD² needs at least 2 samples");
    Ok(())
}

/// Evaluates the model (`spec`, θ) on `data`; with `samples` (`[n, d]`, see
/// [`check_samples`]) also their MMD² against the data. Both are in the model's units
/// ([`crate::io::data::load_for_model`], [`crate::io::data::Transform::to_model`]), and so is
/// the log-likelihood.
pub fn evaluate(
    ctx: &GpuContext,
    spec: &ModelSpec,
    theta: &[f32],
    data: &Data,
    samples: Option<&[f32]>,
    options: &EvalOptions,
    progress: &mut dyn Progress,
) -> Result<EvalReport> {
    options.check()?;
    ensure!(
        data.d == spec.dim(),
        "data has d = {} but the model has d = {}; give data of the model's dimension",
        data.d,
        spec.dim()
    );
    let exact_ok = spec
        .rbm()
        .is_some_and(|s| s.h <= crate::model::rbm::MAX_EXACT_HIDDEN);
    // On llvmpipe the 2^H-state sum also needs (d + 1)(H + 2) loop passes an invocation.
    let exact_fits = spec
        .rbm()
        .is_some_and(|s| crate::model::rbm::check_exact_log_z(ctx, s).is_ok());
    let method = match options.method {
        EvalMethod::Auto if exact_ok && exact_fits => EvalMethod::Exact,
        EvalMethod::Auto if data.d <= 2 => EvalMethod::Quadrature,
        EvalMethod::Auto => EvalMethod::Ais,
        m => m,
    };
    match (method, spec.rbm()) {
        (EvalMethod::Exact, None) => {
            bail!("--method exact needs an RBM; use quadrature (d <= 2) or ais")
        }
        (EvalMethod::Exact, Some(s)) => {
            ensure!(
                exact_ok,
                "exact evaluation sums 2^H hidden states and supports H <= {}; this model has H = {}: use --method ais",
                crate::model::rbm::MAX_EXACT_HIDDEN,
                s.h
            );
            crate::model::rbm::check_exact_log_z(ctx, s)
                .context("--method exact does not fit this device; use --method ais")?;
        }
        (EvalMethod::Quadrature, _) => ensure!(
            data.d <= 2,
            "quadrature evaluation needs d <= 2 (this model has d = {})",
            data.d
        ),
        _ => {}
    }
    if let Some(s) = samples {
        ensure!(
            s.len().is_multiple_of(data.d),
            "samples: {} values are not rows of the data's d = {}",
            s.len(),
            data.d
        );
        check_samples(s.len() / data.d, data.d, data.d)?;
    }
    let mk = ModelKernels::new(ctx)?;
    let mmd2 = match samples {
        Some(s) => {
            let k = crate::kernels::Kernels::new(ctx)?;
            Some(crate::mmd::mmd2(ctx, &k, s, &data.x, data.d, None)?)
        }
        None => None,
    };
    let (n, d) = (data.n, data.d);
    match method {
        EvalMethod::Ais => {
            let ais = &options.ais;
            let kernels = crate::ais::AisKernels::new(ctx)?;
            let batch = crate::ais::wave_chains(ctx, ais, data.d);
            let energy = spec.energy(ctx, &mk, theta, batch)?;
            progress.update(0, 1);
            let r = crate::ais::ais_log_partition_with_progress(
                ctx,
                &kernels,
                energy.as_ref(),
                ais,
                &mut |done, total| {
                    progress.update(done as u64, total as u64);
                    if progress.should_stop() {
                        std::ops::ControlFlow::Break(())
                    } else {
                        std::ops::ControlFlow::Continue(())
                    }
                },
            )?;
            progress.finish();
            let eval_energy = spec.energy(ctx, &mk, theta, 4096.min(data.n))?;
            let mean_f = crate::eval::mean_energy(ctx, eval_energy.as_ref(), &data.x)?;
            Ok(EvalReport {
                n,
                d,
                loglik: mean_f - r.log_z,
                log_z: r.log_z,
                method,
                detail: EvalDetail::Ais {
                    std_err: r.std_err,
                    temperatures: ais.temperatures,
                    runs: ais.runs,
                    chains: ais.chains,
                    acceptance: r.acceptance,
                    seconds: r.seconds,
                },
                mmd2,
            })
        }
        EvalMethod::Quadrature => {
            let energy = spec.energy(ctx, &mk, theta, 4096)?;
            let (lo, hi) = crate::eval::data_box(&data.x, data.d, options.margin, 5.0);
            let q = crate::eval::log_partition_quadrature(
                ctx,
                energy.as_ref(),
                &lo,
                &hi,
                options.grid,
            )?;
            let mean_f = crate::eval::mean_energy(ctx, energy.as_ref(), &data.x)?;
            Ok(EvalReport {
                n,
                d,
                loglik: mean_f - q.log_z,
                log_z: q.log_z,
                method,
                detail: EvalDetail::Quadrature {
                    grid: options.grid,
                    box_lo: q.lo,
                    box_hi: q.hi,
                    grid_change: q.grid_change,
                    border_gap: q.border_gap,
                },
                mmd2,
            })
        }
        _ => {
            let shape = spec.rbm().expect("exact needs the RBM");
            let (loglik, log_z) = crate::train::rbm_loglik(ctx, &mk.rbm, shape, theta, &data.x)?;
            Ok(EvalReport {
                n,
                d,
                loglik,
                log_z,
                method,
                detail: EvalDetail::Exact { hidden: shape.h },
                mmd2,
            })
        }
    }
}
