//! Energy models p(x|θ) ∝ exp(f(x; θ)) (algorithms.md §2): f, its score ∇ₓf and the
//! parameter gradient of a weighted batch sum, on the device, with θ in one flat buffer.
//!
//! [`Energy`] is what samplers and evaluators (Langevin, SVGD, AIS, quadrature) need of a model:
//! f and ∇ₓf for a batch of a fixed size, recorded into an encoder, with θ on the device.

use anyhow::{bail, Result};

use crate::gpu::{GpuContext, GpuVec, Recorder};

pub mod gaussian;
pub mod generator;
pub mod mlp;
pub mod rbm;
pub mod spec;

/// A model's f and ∇ₓf for batches of a fixed size `batch()`, with its θ on the device.
pub trait Energy {
    /// Dimension d of x.
    fn dim(&self) -> usize;
    /// Rows per evaluation (the workspace was sized for it).
    fn batch(&self) -> usize;
    /// Records `f[i] = f(x_i)` (`[n]`) and `score[i] = ∇ₓf(x_i)` (`[n, d]`) for the first
    /// n = `batch()` rows of `x`. Only what is recorded before submit counts: nothing is read
    /// back.
    fn record_energy_score(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        f: &GpuVec<f32>,
        score: &GpuVec<f32>,
    ) -> Result<()>;
    /// Bytes of device memory held.
    fn device_bytes(&self) -> u64 {
        0
    }
}

/// What the trainer (algorithms.md §3) needs of a model, with θ in a flat device buffer owned
/// by the trainer: a per-batch workspace, the score, f with the weighted parameter gradient
/// Σ_i w_i ∇θ f(x_i) (eq. 23 with w = ±1/m), and optionally a block-Gibbs sweep.
pub trait Trainable {
    /// Per-batch device workspace: scratch buffers only (every uniform comes from the
    /// [`Recorder`]'s arena), so one workspace serves any number of records in one encoder,
    /// each reading what the records before it wrote.
    type Work;
    /// Dimension d of x.
    fn dim(&self) -> usize;
    /// Length of θ.
    fn n_params(&self) -> usize;
    /// A workspace for batches of `n` rows.
    fn work(&self, ctx: &GpuContext, n: usize) -> Result<Self::Work>;
    /// Records `score = ∇ₓf(x)` for the workspace's rows.
    #[allow(clippy::too_many_arguments)]
    fn record_score(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        work: &Self::Work,
        score: &GpuVec<f32>,
    ) -> Result<()>;
    /// Records `g = Σ_i w_i ∇θ f(x_i)` and, when given, `f[i] = f(x_i)`.
    #[allow(clippy::too_many_arguments)]
    fn record_grad(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        work: &Self::Work,
        weights: &GpuVec<f32>,
        g: &GpuVec<f32>,
        f: Option<&GpuVec<f32>>,
    ) -> Result<()>;
    /// Records one block-Gibbs sweep of `x` in place with random stream `key`, where the model
    /// has one.
    #[allow(clippy::too_many_arguments)]
    fn record_gibbs(
        &self,
        _ctx: &GpuContext,
        _enc: &mut Recorder,
        _theta: &GpuVec<f32>,
        _x: &GpuVec<f32>,
        _work: &Self::Work,
        _key: u32,
    ) -> Result<()> {
        bail!("this model has no block-Gibbs sampler; use --sampler langevin")
    }
}

/// A model's score as an SVGD target ([`crate::svgd::Score`]) for a fixed particle count.
pub struct EnergyScore<'a> {
    energy: Box<dyn Energy + 'a>,
    f: GpuVec<f32>,
}

impl<'a> EnergyScore<'a> {
    /// Wraps `energy` (its batch size is the particle count).
    pub fn new(ctx: &GpuContext, energy: Box<dyn Energy + 'a>) -> Result<Self> {
        let f = GpuVec::zeros(ctx, "energy f", energy.batch())?;
        Ok(Self { energy, f })
    }
}

impl crate::svgd::Score for EnergyScore<'_> {
    fn dim(&self) -> usize {
        self.energy.dim()
    }
    fn record(
        &self,
        ctx: &GpuContext,
        _k: &crate::kernels::Kernels,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        n: usize,
    ) -> Result<()> {
        anyhow::ensure!(
            n == self.energy.batch(),
            "model score planned for {} particles, asked for {n}",
            self.energy.batch()
        );
        self.energy.record_energy_score(ctx, enc, x, &self.f, score)
    }
    fn device_bytes(&self) -> u64 {
        self.energy.device_bytes() + self.f.bytes()
    }
}

/// Unadjusted Langevin x ← x + (η/2)∇ₓf(x) + √η·ξ for `steps` steps on the device, from `x0`
/// (`[n, d]`, n = the energy's batch); step s draws its noise from `stream_key(seed, s)`
/// (one submit per step). Returns the final x.
pub fn langevin_samples(
    ctx: &GpuContext,
    k: &crate::kernels::Kernels,
    energy: &dyn Energy,
    x0: &[f32],
    (steps, eta, seed): (u64, f64, u64),
) -> Result<Vec<f32>> {
    let (n, d) = (energy.batch(), energy.dim());
    anyhow::ensure!(
        x0.len() == n * d,
        "langevin: x0 does not hold {n}×{d} values"
    );
    let xb = GpuVec::from_slice(ctx, "langevin samples", x0)?;
    let score = GpuVec::<f32>::zeros(ctx, "langevin score", n * d)?;
    let f = GpuVec::<f32>::zeros(ctx, "langevin f", n)?;
    for s in 0..steps {
        let key = crate::cpu::hash::stream_key(seed, s);
        let mut enc = Recorder::new(ctx);
        energy.record_energy_score(ctx, &mut enc, &xb, &f, &score)?;
        k.record_langevin(ctx, &mut enc, (eta, key), &score, &xb)?;
        enc.submit(ctx);
    }
    xb.read(ctx)
}
