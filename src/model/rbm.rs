//! The Gaussian-Bernoulli RBM on the device. θ is one flat buffer [B (d×H, row-major), b (d),
//! c (H)]; the f64 reference is [`crate::cpu::rbm`].

use anyhow::{ensure, Result};

use crate::gpu::params::RbmParams;
use crate::gpu::pipeline::Kernel;
use crate::gpu::shader;
use crate::gpu::{GpuContext, GpuVec, Recorder};

/// Sizes of an RBM and the offsets of its parameters in the flat θ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RbmShape {
    /// Visible units.
    pub d: usize,
    /// Hidden units.
    pub h: usize,
}

impl RbmShape {
    /// Number of parameters d·H + d + H.
    pub fn len(self) -> usize {
        self.d * self.h + self.d + self.h
    }
    /// Always false: an RBM has at least one parameter.
    pub fn is_empty(self) -> bool {
        false
    }
    /// Index of `B[a, j]`.
    pub fn b_mat(self, a: usize, j: usize) -> usize {
        a * self.h + j
    }
    /// Index of `b[a]`.
    pub fn b(self, a: usize) -> usize {
        self.d * self.h + a
    }
    /// Index of `c[j]`.
    pub fn c(self, j: usize) -> usize {
        self.d * self.h + self.d + j
    }
}

/// The RBM's pipelines.
pub struct RbmKernels {
    hidden: Kernel,
    energy: Kernel,
    score: Kernel,
    grad: Kernel,
    gibbs_hidden: Kernel,
    gibbs_visible: Kernel,
    logz_terms: Kernel,
}

/// Per-batch device buffers for the hidden layer: scratch only (every uniform comes from the
/// [`Recorder`]'s arena), so one batch serves any number of records in one encoder, each
/// reading what the records before it wrote.
pub struct RbmBatch {
    /// Pre-activations y, `[n, H]`.
    pub y: GpuVec<f32>,
    /// tanh(y), `[n, H]`.
    pub t: GpuVec<f32>,
    /// Sampled hidden units ±1, `[n, H]` (Gibbs).
    pub hs: GpuVec<f32>,
    n: usize,
}

impl RbmBatch {
    /// Buffers for batches of `n` samples.
    pub fn new(ctx: &GpuContext, shape: RbmShape, n: usize) -> Result<Self> {
        ensure!(n >= 1, "rbm: empty batch");
        // rbm_energy walks the d visible and then the H hidden units of a sample in one
        // invocation (the other kernels one of the two), which llvmpipe cuts short past its
        // loop limit.
        ctx.check_loop(
            "rbm_energy (d + H units per sample)",
            (shape.d as u64).saturating_add(shape.h as u64) + 4,
        )?;
        Ok(Self {
            y: GpuVec::zeros(ctx, "rbm y", n * shape.h)?,
            t: GpuVec::zeros(ctx, "rbm tanh y", n * shape.h)?,
            hs: GpuVec::zeros(ctx, "rbm hidden sample", n * shape.h)?,
            n,
        })
    }
}

/// Checks that the exact log Z of `shape` fits one invocation of `rbm_logz_terms` on this
/// device: per state the H hidden units (H + 1 loop passes with the loop's exit), then for
/// each of the d visible units the H hidden ones again, and the outer loop's exit,
/// (d + 1)(H + 2) passes (checked only where the driver cuts loops short: llvmpipe).
pub fn check_exact_log_z(ctx: &GpuContext, shape: RbmShape) -> Result<()> {
    let per_state = (shape.d as u64 + 1).saturating_mul(shape.h as u64 + 2);
    ctx.check_loop(
        "rbm_logz_terms (the exact log Z: d + 1 times H + 2 passes)",
        per_state.saturating_add(2),
    )
}

impl RbmKernels {
    /// Builds the pipelines.
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        Ok(Self {
            hidden: Kernel::new(ctx, &shader::RBM_HIDDEN, 64)?,
            energy: Kernel::new(ctx, &shader::RBM_ENERGY, 64)?,
            score: Kernel::new(ctx, &shader::RBM_SCORE, 64)?,
            grad: Kernel::new(ctx, &shader::RBM_GRAD, 64)?,
            gibbs_hidden: Kernel::new(ctx, &shader::RBM_GIBBS_HIDDEN, 64)?,
            gibbs_visible: Kernel::new(ctx, &shader::RBM_GIBBS_VISIBLE, 64)?,
            logz_terms: Kernel::new(ctx, &shader::RBM_LOGZ_TERMS, 64)?,
        })
    }

    fn check(
        shape: RbmShape,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        batch: &RbmBatch,
    ) -> Result<()> {
        ensure!(shape.d >= 1 && shape.h >= 1, "rbm: need d >= 1 and H >= 1");
        ensure!(
            theta.len == shape.len(),
            "rbm: θ has {} values, the shape needs {}",
            theta.len,
            shape.len()
        );
        ensure!(
            x.len >= batch.n * shape.d,
            "rbm: batch of {} samples needs {} values",
            batch.n,
            batch.n * shape.d
        );
        Ok(())
    }

    /// The uniform of `batch`'s kernels with random stream `key` (read by the Gibbs kernels
    /// only).
    fn params(shape: RbmShape, batch: &RbmBatch, key: u32) -> RbmParams {
        RbmParams {
            n: batch.n as u32,
            d: shape.d as u32,
            h: shape.h as u32,
            key,
        }
    }

    /// Records y = Bᵀx + c and tanh(y) for the batch; every other record of the same x needs
    /// this first.
    pub fn record_hidden(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        shape: RbmShape,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        batch: &RbmBatch,
    ) -> Result<()> {
        Self::check(shape, theta, x, batch)?;
        let params = enc.uniform(ctx, &Self::params(shape, batch, 0));
        let g = self.hidden.groups_for(ctx, batch.n * shape.h)?;
        self.hidden.record_with(
            ctx,
            enc,
            &params,
            &[&theta.buffer, &x.buffer, &batch.y.buffer, &batch.t.buffer],
            g,
        )
    }

    /// Records f(x_i) into `f` (`[n]`).
    #[allow(clippy::too_many_arguments)]
    pub fn record_energy(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        shape: RbmShape,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        batch: &RbmBatch,
        f: &GpuVec<f32>,
    ) -> Result<()> {
        Self::check(shape, theta, x, batch)?;
        ensure!(
            f.len >= batch.n,
            "rbm_energy: output shorter than the batch"
        );
        let params = enc.uniform(ctx, &Self::params(shape, batch, 0));
        let g = self.energy.groups_for(ctx, batch.n)?;
        self.energy.record_with(
            ctx,
            enc,
            &params,
            &[&theta.buffer, &x.buffer, &batch.y.buffer, &f.buffer],
            g,
        )
    }

    /// Records s(x_i) = b − x_i + B tanh(y_i) into `score` (`[n, d]`).
    #[allow(clippy::too_many_arguments)]
    pub fn record_score(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        shape: RbmShape,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        batch: &RbmBatch,
        score: &GpuVec<f32>,
    ) -> Result<()> {
        Self::check(shape, theta, x, batch)?;
        ensure!(
            score.len >= batch.n * shape.d,
            "rbm_score: output shorter than n·d"
        );
        let params = enc.uniform(ctx, &Self::params(shape, batch, 0));
        let g = self.score.groups_for(ctx, batch.n * shape.d)?;
        self.score.record_with(
            ctx,
            enc,
            &params,
            &[&theta.buffer, &x.buffer, &batch.t.buffer, &score.buffer],
            g,
        )
    }

    /// Records g = Σ_i w_i ∇_θ f(x_i) into `g` (θ's length).
    #[allow(clippy::too_many_arguments)]
    pub fn record_grad(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        shape: RbmShape,
        x: &GpuVec<f32>,
        batch: &RbmBatch,
        w: &GpuVec<f32>,
        g: &GpuVec<f32>,
    ) -> Result<()> {
        ensure!(
            w.len >= batch.n && g.len == shape.len(),
            "rbm_grad: weights or gradient of the wrong length"
        );
        ensure!(
            x.len >= batch.n * shape.d,
            "rbm_grad: batch shorter than n·d"
        );
        ctx.check_loop("rbm_grad (one pass per batch row)", batch.n as u64 + 2)?;
        let params = enc.uniform(ctx, &Self::params(shape, batch, 0));
        let groups = self.grad.groups_for(ctx, shape.len())?;
        self.grad.record_with(
            ctx,
            enc,
            &params,
            &[&x.buffer, &batch.t.buffer, &w.buffer, &g.buffer],
            groups,
        )
    }

    /// Records one block-Gibbs sweep x → h → x in place, after [`RbmKernels::record_hidden`]
    /// of `x`: h_j = ±1 with p(+1) = sigmoid(2y_j) (uniforms of stream `key`), then
    /// x ~ N(b + Bh, I) (normals of stream `key ^ VISIBLE_STREAM`).
    #[allow(clippy::too_many_arguments)]
    pub fn record_gibbs(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        shape: RbmShape,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        batch: &RbmBatch,
        key: u32,
    ) -> Result<()> {
        Self::check(shape, theta, x, batch)?;
        let p = Self::params(shape, batch, key);
        let hidden = enc.uniform(ctx, &p);
        let visible = enc.uniform(
            ctx,
            &RbmParams {
                key: key ^ VISIBLE_STREAM,
                ..p
            },
        );
        let g = self.gibbs_hidden.groups_for(ctx, batch.n * shape.h)?;
        self.gibbs_hidden.record_with(
            ctx,
            enc,
            &hidden,
            &[&batch.y.buffer, &batch.hs.buffer],
            g,
        )?;
        let g = self.gibbs_visible.groups_for(ctx, batch.n * shape.d)?;
        self.gibbs_visible.record_with(
            ctx,
            enc,
            &visible,
            &[&theta.buffer, &batch.hs.buffer, &x.buffer],
            g,
        )
    }

    /// The exact log normaliser log Z: the 2^H terms on the device, their logsumexp on the
    /// host in f64 and in state order (submits and waits).
    pub fn log_partition(
        &self,
        ctx: &GpuContext,
        shape: RbmShape,
        theta: &GpuVec<f32>,
    ) -> Result<f64> {
        ensure!(
            shape.h <= MAX_EXACT_HIDDEN,
            "exact log-likelihood sums 2^H hidden states and supports H <= {MAX_EXACT_HIDDEN} (this model has H = {}); use AIS instead",
            shape.h
        );
        ensure!(
            theta.len == shape.len(),
            "rbm: θ has {} values, the shape needs {}",
            theta.len,
            shape.len()
        );
        check_exact_log_z(ctx, shape)?;
        let states = 1usize << shape.h;
        let terms = GpuVec::<f32>::nan_filled(ctx, "logz terms", states)?;
        let mut enc = Recorder::new(ctx);
        let params = enc.uniform(
            ctx,
            &RbmParams {
                n: states as u32,
                d: shape.d as u32,
                h: shape.h as u32,
                key: 0,
            },
        );
        let g = self.logz_terms.groups_for(ctx, states)?;
        self.logz_terms
            .record_with(ctx, &mut enc, &params, &[&theta.buffer, &terms.buffer], g)?;
        enc.submit(ctx);
        let t = terms.read(ctx)?;
        let mx = t
            .iter()
            .map(|&v| f64::from(v))
            .fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = t.iter().map(|&v| (f64::from(v) - mx).exp()).sum();
        Ok(0.5 * shape.d as f64 * (2.0 * std::f64::consts::PI).ln() + mx + sum.ln())
    }
}

/// Largest H for the exact log-likelihood (2^H states).
pub const MAX_EXACT_HIDDEN: usize = 20;

/// Mixed into a Gibbs sweep's key for the visible noise, so it differs from the hidden
/// uniforms' stream.
pub const VISIBLE_STREAM: u32 = 0x5bd1_e995;

/// The RBM as an [`Energy`](super::Energy): θ uploaded once, workspace for `n` rows.
pub struct RbmEnergy<'a> {
    kernels: &'a RbmKernels,
    shape: RbmShape,
    theta: GpuVec<f32>,
    batch: RbmBatch,
}

impl<'a> RbmEnergy<'a> {
    /// Uploads θ for batches of `n` rows.
    pub fn new(
        ctx: &GpuContext,
        kernels: &'a RbmKernels,
        shape: RbmShape,
        theta: &[f32],
        n: usize,
    ) -> Result<Self> {
        ensure!(
            theta.len() == shape.len(),
            "rbm: θ has {} values, the shape needs {}",
            theta.len(),
            shape.len()
        );
        Ok(Self {
            kernels,
            shape,
            theta: GpuVec::from_slice(ctx, "theta", theta)?,
            batch: RbmBatch::new(ctx, shape, n)?,
        })
    }
}

impl super::Energy for RbmEnergy<'_> {
    fn dim(&self) -> usize {
        self.shape.d
    }
    fn batch(&self) -> usize {
        self.batch.n
    }
    fn record_energy_score(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        f: &GpuVec<f32>,
        score: &GpuVec<f32>,
    ) -> Result<()> {
        let k = self.kernels;
        k.record_hidden(ctx, enc, self.shape, &self.theta, x, &self.batch)?;
        k.record_energy(ctx, enc, self.shape, &self.theta, x, &self.batch, f)?;
        k.record_score(ctx, enc, self.shape, &self.theta, x, &self.batch, score)
    }
    fn device_bytes(&self) -> u64 {
        self.theta.bytes() + self.batch.y.bytes() * 3
    }
}

/// The RBM as a [`Trainable`](super::Trainable) model.
#[derive(Clone, Copy)]
pub struct RbmModel<'a> {
    /// Pipelines.
    pub kernels: &'a RbmKernels,
    /// Shape.
    pub shape: RbmShape,
}

impl super::Trainable for RbmModel<'_> {
    type Work = RbmBatch;
    fn dim(&self) -> usize {
        self.shape.d
    }
    fn n_params(&self) -> usize {
        self.shape.len()
    }
    fn work(&self, ctx: &GpuContext, n: usize) -> Result<RbmBatch> {
        RbmBatch::new(ctx, self.shape, n)
    }
    fn record_score(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        work: &RbmBatch,
        score: &GpuVec<f32>,
    ) -> Result<()> {
        let (k, s) = (self.kernels, self.shape);
        k.record_hidden(ctx, enc, s, theta, x, work)?;
        k.record_score(ctx, enc, s, theta, x, work, score)
    }
    fn record_grad(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        work: &RbmBatch,
        weights: &GpuVec<f32>,
        g: &GpuVec<f32>,
        f: Option<&GpuVec<f32>>,
    ) -> Result<()> {
        let (k, s) = (self.kernels, self.shape);
        k.record_hidden(ctx, enc, s, theta, x, work)?;
        k.record_grad(ctx, enc, s, x, work, weights, g)?;
        if let Some(f) = f {
            k.record_energy(ctx, enc, s, theta, x, work, f)?;
        }
        Ok(())
    }
    fn record_gibbs(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        work: &RbmBatch,
        key: u32,
    ) -> Result<()> {
        let (k, s) = (self.kernels, self.shape);
        k.record_hidden(ctx, enc, s, theta, x, work)?;
        k.record_gibbs(ctx, enc, s, theta, x, work, key)
    }
}
