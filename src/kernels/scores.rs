//! Target scores ∇ log p: the Gaussian mixture and the full-covariance Gaussian, their loop
//! checks and the mixture's packing. Kernels `shaders/kernels/{gmm,gaussian}_score.wgsl`; f64
//! references [`crate::cpu::gmm`].

use anyhow::{ensure, Result};

use super::{check_nd, Kernels};
use crate::gpu::params::GmmParams;
use crate::gpu::{GpuContext, GpuVec, Recorder};

/// Checks that `gmm_score`'s loops fit one invocation on this adapter: it walks the K
/// components twice (their logits, then the weighted pulls), each pass d dimensions, so
/// 3Kd + 5K + 2d + 4 loop passes counting every loop's exit (llvmpipe cuts them short past
/// 65 535; refused past 60 000, e.g. K = 10 components at d = 2200).
pub fn check_gmm_score_loops(ctx: &GpuContext, k: usize, d: usize) -> Result<()> {
    let (k, d) = (k as u64, d as u64);
    let passes = k
        .saturating_mul(d.saturating_mul(3).saturating_add(5))
        .saturating_add(2 * d + 4);
    ctx.check_loop(&format!("gmm_score ({k} components at d = {d})"), passes)
}

/// Checks that `gaussian_score`'s loop (d passes and its exit, one invocation per particle
/// and dimension) fits one invocation on this adapter.
pub fn check_gaussian_score_loops(ctx: &GpuContext, d: usize) -> Result<()> {
    ctx.check_loop("gaussian_score (d per output)", d as u64 + 2)
}

/// Packs a mixture for `gmm_score`: means `[k, d]`, then 1/σ² `[k, d]`, then
/// log w_k − ½ Σ_c log(2πσ_kc²) `[k]`, all computed in f64 and rounded once.
pub fn pack_gmm(gmm: &crate::io::target::Gmm) -> Vec<f32> {
    let (k, d) = (gmm.components(), gmm.dim());
    let mut out = Vec::with_capacity(2 * k * d + k);
    for c in 0..k {
        out.extend(gmm.means[c].iter().map(|&m| m as f32));
    }
    for c in 0..k {
        out.extend(gmm.stds[c].iter().map(|&s| (1.0 / (s * s)) as f32));
    }
    for c in 0..k {
        let logdet: f64 = gmm.stds[c]
            .iter()
            .map(|&s| (2.0 * std::f64::consts::PI * s * s).ln())
            .sum();
        out.push((gmm.weights[c].ln() - 0.5 * logdet) as f32);
    }
    out
}

impl Kernels {
    /// Records `score = ∇ log p(x)` for the packed mixture `mix` with `k` components.
    pub fn record_gmm_score(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        mix: &GpuVec<f32>,
        score: &GpuVec<f32>,
        (n, d, k): (usize, usize, usize),
    ) -> Result<()> {
        check_nd("gmm_score", n, d, &[x, score])?;
        ensure!(
            mix.len == 2 * k * d + k,
            "gmm_score: packed mixture has the wrong length"
        );
        check_gmm_score_loops(ctx, k, d)?;
        let params = enc.uniform(
            ctx,
            &GmmParams {
                n: n as u32,
                d: d as u32,
                k: k as u32,
                _pad: 0,
            },
        );
        let g = self.gmm_score.groups_for(ctx, n)?;
        self.gmm_score.record_with(
            ctx,
            enc,
            &params,
            &[&x.buffer, &mix.buffer, &score.buffer],
            g,
        )
    }

    /// Records `score = P(μ − x)` for the packed `pm = [P (d×d), μ (d)]`.
    pub fn record_gaussian_score(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        pm: &GpuVec<f32>,
        score: &GpuVec<f32>,
        (n, d): (usize, usize),
    ) -> Result<()> {
        check_nd("gaussian_score", n, d, &[x, score])?;
        ensure!(
            pm.len == d * d + d,
            "gaussian_score: packed precision has the wrong length"
        );
        check_gaussian_score_loops(ctx, d)?;
        let params = enc.uniform(
            ctx,
            &GmmParams {
                n: n as u32,
                d: d as u32,
                k: 1,
                _pad: 0,
            },
        );
        let g = self.gaussian_score.groups_for(ctx, n * d)?;
        self.gaussian_score.record_with(
            ctx,
            enc,
            &params,
            &[&x.buffer, &pm.buffer, &score.buffer],
            g,
        )
    }
}
