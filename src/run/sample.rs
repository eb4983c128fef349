//! Samples of a trained model: block Gibbs (RBM only), unadjusted Langevin or SVGD, started at
//! N(0, I); or of a SteinGAN run's generator, x = G(z), z ~ U(−1, 1)^{n_z}.
//!
//! ```no_run
//! use std::path::Path;
//! use stein::gpu::{AdapterChoice, GpuContext};
//! use stein::model::spec::ModelSpec;
//! use stein::run::{sample, SampleMethod, SampleOptions};
//!
//! # fn main() -> anyhow::Result<()> {
//! let (spec, theta) = ModelSpec::load(Path::new("runs/ring8/model.safetensors"))?;
//! let options = SampleOptions { method: SampleMethod::Langevin, n: 1000, steps: 500, ..Default::default() };
//! options.check()?;
//! options.check_model(&spec)?;
//! let ctx = GpuContext::new(&AdapterChoice::default())?;
//! let x = sample::sample(&ctx, &spec, &theta, &options)?; // [n, d], row-major
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

use crate::gpu::{GpuContext, GpuVec};
use crate::io::target::SplitMix64;
use crate::kernels::Kernels;
use crate::model::generator::GenSpec;
use crate::model::spec::{ModelKernels, ModelSpec};
use crate::svgd::{Bandwidth, Optimizer, Svgd};

/// The sampler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SampleMethod {
    /// Block Gibbs sweeps (RBM only).
    #[default]
    Gibbs,
    /// Unadjusted Langevin (η: the step size).
    Langevin,
    /// SVGD with AdaGrad (ε: the step size) and the median bandwidth.
    Svgd,
}

impl SampleMethod {
    /// Lower-case name, as `stein sample` prints it.
    pub fn name(self) -> &'static str {
        match self {
            SampleMethod::Gibbs => "gibbs",
            SampleMethod::Langevin => "langevin",
            SampleMethod::Svgd => "svgd",
        }
    }
}

/// How to sample; [`Default`] gives `stein sample`'s defaults (n = 1, 1 step).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct SampleOptions {
    /// Sampler.
    pub method: SampleMethod,
    /// Number of samples (chains or particles).
    pub n: usize,
    /// Sweeps, Langevin steps or SVGD steps.
    pub steps: u64,
    /// Langevin η or SVGD ε.
    pub step_size: f64,
    /// Random seed (the N(0, I) start and the sampler's noise).
    pub seed: u64,
}

impl Default for SampleOptions {
    fn default() -> Self {
        Self {
            method: SampleMethod::Gibbs,
            n: 1,
            steps: 1,
            step_size: 0.01,
            seed: 0,
        }
    }
}

impl SampleOptions {
    /// Checks the numbers.
    pub fn check(&self) -> Result<()> {
        ensure!(self.n >= 1, "--n must be at least 1");
        ensure!(self.steps >= 1, "--steps must be at least 1");
        ensure!(
            self.step_size > 0.0 && self.step_size.is_finite(),
            "--step-size {} must be positive and finite",
            self.step_size
        );
        Ok(())
    }

    /// Checks that the sampler serves the model.
    pub fn check_model(&self, spec: &ModelSpec) -> Result<()> {
        ensure!(
            self.method != SampleMethod::Gibbs || spec.rbm().is_some(),
            "--method gibbs needs an RBM; use langevin or svgd for this model"
        );
        Ok(())
    }
}

/// Samples `[n, d]` of the model (`spec`, θ), started at N(0, I) drawn with the seed, in the
/// model's units ([`crate::io::data::Transform::to_data`] maps them to the data's).
pub fn sample(
    ctx: &GpuContext,
    spec: &ModelSpec,
    theta: &[f32],
    options: &SampleOptions,
) -> Result<Vec<f32>> {
    options.check()?;
    options.check_model(spec)?;
    let SampleOptions {
        method,
        n,
        steps,
        step_size,
        seed,
    } = *options;
    let d = spec.dim();
    ctx.check_binding("--n samples", (n as u64).saturating_mul(d as u64 * 4))?;
    let mut rng = SplitMix64::new(seed);
    let x0: Vec<f32> = (0..n * d).map(|_| rng.next_normal() as f32).collect();
    let k = Kernels::new(ctx)?;
    let mk = ModelKernels::new(ctx)?;
    let x = if method == SampleMethod::Svgd {
        let target = Box::new(crate::model::EnergyScore::new(
            ctx,
            spec.energy(ctx, &mk, theta, n)?,
        )?);
        let mut engine = Svgd::new(ctx, &k, target, &x0, n, Optimizer::Adagrad)?;
        for _ in 0..steps {
            engine.step(step_size, Bandwidth::Median)?;
        }
        engine.particles()?
    } else if let Some(shape) = spec.rbm().filter(|_| method == SampleMethod::Gibbs) {
        let rk = &mk.rbm;
        let theta = GpuVec::from_slice(ctx, "theta", theta)?;
        let xb = GpuVec::from_slice(ctx, "samples", &x0)?;
        let batch = crate::model::rbm::RbmBatch::new(ctx, shape, n)?;
        for s in 0..steps {
            let key = crate::cpu::hash::stream_key(seed, s);
            let mut enc = crate::gpu::Recorder::new(ctx);
            rk.record_hidden(ctx, &mut enc, shape, &theta, &xb, &batch)?;
            rk.record_gibbs(ctx, &mut enc, shape, &theta, &xb, &batch, key)?;
            enc.submit(ctx);
        }
        xb.read(ctx)?
    } else {
        let energy = spec.energy(ctx, &mk, theta, n)?;
        crate::model::langevin_samples(ctx, &k, energy.as_ref(), &x0, (steps, step_size, seed))?
    };
    if !x.iter().all(|v| v.is_finite()) {
        return Err(super::Diverged("samples diverged; lower --step-size".into()).into());
    }
    Ok(x)
}

/// The generator file a `--generator` model path stands for: the file itself if it holds a
/// generator, else the `generator.safetensors` beside a run's `model.safetensors`.
pub fn generator_path(model: &Path) -> Result<PathBuf> {
    Ok(
        match crate::io::safetensors::Tensors::read(model)?
            .metadata
            .get("model")
            .map(String::as_str)
        {
            Some("generator") => model.to_path_buf(),
            _ => {
                let g = model.with_file_name("generator.safetensors");
                ensure!(
                    g.is_file(),
                    "--generator: {} is not a generator and {} does not exist; give the generator.safetensors of a `stein train --algo stein-gan` or `--algo hybrid` run",
                    model.display(),
                    g.display()
                );
                g
            }
        },
    )
}

/// `n` samples x = G(z; η) `[n, d]` of a generator, z ~ U(−1, 1)^{n_z} from the counter-based
/// hash (stream `stream_key(seed, 0)`), on the device, in the model's units.
pub fn sample_generator(
    ctx: &GpuContext,
    spec: &GenSpec,
    eta: &[f32],
    n: usize,
    seed: u64,
) -> Result<Vec<f32>> {
    ensure!(n >= 1, "--n must be at least 1");
    let widest = spec.net.widths.iter().copied().max().unwrap_or(1);
    ctx.check_binding("--n samples", (n as u64).saturating_mul(widest as u64 * 4))?;
    let mlp = crate::model::mlp::MlpKernels::new(ctx)?;
    let gk = crate::model::generator::GenKernels::new(ctx)?;
    let key = crate::cpu::hash::stream_key(seed, 0);
    let x = crate::model::generator::sample(ctx, &gk, &mlp, spec, eta, n, key)?;
    ensure!(
        x.iter().all(|v| v.is_finite()),
        "the generator's samples are not finite; the run diverged"
    );
    Ok(x)
}

/// The visible means of a Gaussian-Bernoulli RBM given its hidden units, averaged over the
/// hidden units given each sample: E[x | x's hidden units] = b + B·tanh(Bᵀx + c), per row of
/// `x` (`[n, d]`, the model's units). The RBM's samples are these means plus N(0, I) noise,
/// which at the scale of an image's pixels hides what the model learned; image grids of an
/// RBM show both ([`write_grid`]).
pub fn rbm_visible_means(theta: &[f32], shape: crate::model::rbm::RbmShape, x: &[f32]) -> Vec<f32> {
    let theta: Vec<f64> = theta.iter().map(|&v| v as f64).collect();
    let xs: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let y = crate::cpu::rbm::hidden(&theta, shape, &xs);
    let (d, h) = (shape.d, shape.h);
    let mut out = vec![0f32; x.len()];
    for (i, row) in out.chunks_exact_mut(d).enumerate() {
        let t: Vec<f64> = y[i * h..(i + 1) * h].iter().map(|v| v.tanh()).collect();
        for (a, o) in row.iter_mut().enumerate() {
            let bt: f64 = (0..h).map(|j| theta[shape.b_mat(a, j)] * t[j]).sum();
            *o = (theta[shape.b(a)] + bt) as f32;
        }
    }
    out
}

/// Writes samples `x` of `spec` (the model's units) as an image grid titled `title`, after
/// `shown` maps them to the units shown (the data's): for a Gaussian-Bernoulli RBM, beside the
/// grid of their visible means ([`rbm_visible_means`]), with a line saying why.
pub fn write_grid(
    path: &Path,
    spec: &ModelSpec,
    theta: &[f32],
    x: &[f32],
    shown: &dyn Fn(&mut [f32]),
    shape: (usize, usize),
    title: &str,
) -> Result<()> {
    let mut samples = x.to_vec();
    shown(&mut samples);
    let Some(rbm) = spec.rbm() else {
        return crate::io::plot::write_image_grid(path, &samples, shape, title);
    };
    let mut means = rbm_visible_means(theta, rbm, x);
    shown(&mut means);
    crate::io::plot::write_image_grids(
        path,
        &[
            ("samples x", &samples),
            ("their visible means b + B·tanh(Bᵀx + c)", &means),
        ],
        shape,
        title,
        &[
            "An RBM's samples are its visible means plus N(0, I) noise, which hides the images;",
            "the right grid is E[x | h] averaged over the hidden units h given each sample.",
        ],
    )
}
