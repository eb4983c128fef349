//! Elementwise particle updates: SGD, AdaGrad and Adam along φ, and the unadjusted Langevin
//! step. Kernels `shaders/kernels/update_*.wgsl`, `langevin_step.wgsl`; f64 references
//! [`crate::cpu::update`].

use anyhow::{ensure, Result};

use super::Kernels;
use crate::gpu::params::{LangevinParams, UpdateParams};
use crate::gpu::{GpuContext, GpuVec, Recorder};

impl Kernels {
    /// Records one elementwise update of `x` along `phi`. `state` holds the optimizer's
    /// buffers: none (SGD), `[G]` (AdaGrad) or `[m, v]` (Adam).
    pub fn record_update(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        p: UpdateParams,
        phi: &GpuVec<f32>,
        x: &GpuVec<f32>,
        state: &[&GpuVec<f32>],
    ) -> Result<()> {
        let len = p.len as usize;
        for b in [phi, x].into_iter().chain(state.iter().copied()) {
            ensure!(
                b.len >= len,
                "update: buffer `{}` shorter than {len}",
                b.label
            );
        }
        let params = enc.uniform(ctx, &p);
        let kernel = match state.len() {
            0 => &self.update_sgd,
            1 => &self.update_adagrad,
            _ => &self.update_adam,
        };
        let mut bufs = vec![&phi.buffer, &x.buffer];
        bufs.extend(state.iter().map(|b| &b.buffer));
        let g = kernel.groups_for(ctx, len)?;
        kernel.record_with(ctx, enc, &params, &bufs, g)
    }

    /// Records one Langevin step x ← x + (η/2)·score + √η·ξ with ξ_e = normal(key, e)
    /// (`cpu::hash::normal`).
    pub fn record_langevin(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        (eta, key): (f64, u32),
        score: &GpuVec<f32>,
        x: &GpuVec<f32>,
    ) -> Result<()> {
        ensure!(
            eta > 0.0 && eta.is_finite(),
            "Langevin step size η = {eta} must be positive and finite"
        );
        ensure!(score.len >= x.len, "langevin_step: score shorter than x");
        let params = enc.uniform(
            ctx,
            &LangevinParams {
                len: x.len as u32,
                key,
                eta: eta as f32,
                _pad: 0,
            },
        );
        let g = self.langevin_step.groups_for(ctx, x.len)?;
        self.langevin_step
            .record_with(ctx, enc, &params, &[&score.buffer, &x.buffer], g)
    }
}
