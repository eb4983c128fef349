//! The Gaussian-Bernoulli RBM on the device. θ is one flat buffer [B (d×H, row-major), b (d),
//! c (H)]; the f64 reference is [`crate::cpu::rbm`].

use anyhow::{ensure, Result};

use crate::gpu::params::RbmParams;
use crate::gpu::pipeline::{Binding, Kernel};
use crate::gpu::shader;
use crate::gpu::{GpuContext, GpuUniform, GpuVec};

use Binding::{ReadOnly as R, ReadWrite as W, Uniform as U};

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
    /// Index of B[a, j].
    pub fn b_mat(self, a: usize, j: usize) -> usize {
        a * self.h + j
    }
    /// Index of b[a].
    pub fn b(self, a: usize) -> usize {
        self.d * self.h + a
    }
    /// Index of c[j].
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
}

/// Per-batch device buffers for the hidden layer.
pub struct RbmBatch {
    /// Pre-activations y, `[n, H]`.
    pub y: GpuVec<f32>,
    /// tanh(y), `[n, H]`.
    pub t: GpuVec<f32>,
    params: GpuUniform<RbmParams>,
    n: usize,
}

impl RbmBatch {
    /// Buffers for batches of `n` samples.
    pub fn new(ctx: &GpuContext, shape: RbmShape, n: usize) -> Result<Self> {
        ensure!(n >= 1, "rbm: empty batch");
        Ok(Self {
            y: GpuVec::zeros(ctx, "rbm y", n * shape.h)?,
            t: GpuVec::zeros(ctx, "rbm tanh y", n * shape.h)?,
            params: GpuUniform::new(ctx, "rbm params", &RbmParams::default()),
            n,
        })
    }
}

impl RbmKernels {
    /// Builds the pipelines.
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        Ok(Self {
            hidden: Kernel::new(ctx, &shader::RBM_HIDDEN, &[U, R, R, W, W], 64)?,
            energy: Kernel::new(ctx, &shader::RBM_ENERGY, &[U, R, R, R, W], 64)?,
            score: Kernel::new(ctx, &shader::RBM_SCORE, &[U, R, R, R, W], 64)?,
            grad: Kernel::new(ctx, &shader::RBM_GRAD, &[U, R, R, R, W], 64)?,
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

    /// Records y = Bᵀx + c and tanh(y) for the batch; every other record needs this first.
    pub fn record_hidden(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        shape: RbmShape,
        theta: &GpuVec<f32>,
        x: &GpuVec<f32>,
        batch: &RbmBatch,
    ) -> Result<()> {
        Self::check(shape, theta, x, batch)?;
        batch.params.set(
            ctx,
            &RbmParams {
                n: batch.n as u32,
                d: shape.d as u32,
                h: shape.h as u32,
                _pad: 0,
            },
        );
        let g = self.hidden.groups_for(ctx, batch.n * shape.h)?;
        self.hidden.record(
            ctx,
            enc,
            &[
                &batch.params.buffer,
                &theta.buffer,
                &x.buffer,
                &batch.y.buffer,
                &batch.t.buffer,
            ],
            (g, 1, 1),
        )
    }

    /// Records f(x_i) into `f` (`[n]`).
    #[allow(clippy::too_many_arguments)]
    pub fn record_energy(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
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
        let g = self.energy.groups_for(ctx, batch.n)?;
        self.energy.record(
            ctx,
            enc,
            &[
                &batch.params.buffer,
                &theta.buffer,
                &x.buffer,
                &batch.y.buffer,
                &f.buffer,
            ],
            (g, 1, 1),
        )
    }

    /// Records s(x_i) = b − x_i + B tanh(y_i) into `score` (`[n, d]`).
    #[allow(clippy::too_many_arguments)]
    pub fn record_score(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
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
        let g = self.score.groups_for(ctx, batch.n * shape.d)?;
        self.score.record(
            ctx,
            enc,
            &[
                &batch.params.buffer,
                &theta.buffer,
                &x.buffer,
                &batch.t.buffer,
                &score.buffer,
            ],
            (g, 1, 1),
        )
    }

    /// Records g = Σ_i w_i ∇_θ f(x_i) into `g` (θ's length).
    #[allow(clippy::too_many_arguments)]
    pub fn record_grad(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
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
        let groups = self.grad.groups_for(ctx, shape.len())?;
        self.grad.record(
            ctx,
            enc,
            &[
                &batch.params.buffer,
                &x.buffer,
                &batch.t.buffer,
                &w.buffer,
                &g.buffer,
            ],
            (groups, 1, 1),
        )
    }
}
