//! Typed host wrappers, one per WGSL kernel, and [`Kernels`], the pipelines they share. They
//! check sizes and limits, put each dispatch's uniform in its own slot of the
//! [`Recorder`](crate::gpu::Recorder)'s arena and **record** the dispatch; they never submit
//! or read back, so an algorithm can put a whole step (score, median passes, φ, update) into
//! one encoder, and record one kernel twice in it. Each wrapper names its shader file and its
//! f64 reference in `crate::cpu`.

mod ksd;
mod pairs;
mod phi;
mod plan;
mod scores;
mod texture;
mod update;
pub mod wgsl_target;

pub use ksd::*;
pub use pairs::*;
pub use phi::*;
pub use plan::*;
pub use scores::*;
pub use texture::*;

use anyhow::{ensure, Result};

use crate::gpu::params::PairParams;
use crate::gpu::pipeline::Kernel;
use crate::gpu::shader;
use crate::gpu::{GpuContext, GpuVec};
pub(crate) use texture::rgba32_texture;

/// Cache key of [`Kernels::cached`]: kernel, workgroup size, overrides.
type DimKey = (&'static str, u32, String);

/// Every pipeline the SVGD engine uses, built once per device.
pub struct Kernels {
    /// Gaussian-mixture score.
    pub gmm_score: Kernel,
    /// Full-covariance Gaussian score.
    pub gaussian_score: Kernel,
    /// SVGD direction for d > 64: kernel values of a column block.
    pub svgd_phi_kblock: Kernel,
    /// Their running row sums.
    pub svgd_phi_krho: Kernel,
    /// The accumulation of φ.
    pub svgd_phi_kacc: Kernel,
    /// The particles' mean (the centre of `svgd_phi_shuffle`).
    pub svgd_phi_center: Kernel,
    /// What `svgd_phi_pack` binds where it does not write: a one-vec4 buffer and a 1×1
    /// texture (with its view).
    pack_placeholder: (GpuVec<f32>, (wgpu::Texture, wgpu::TextureView)),
    /// The particle records of `ksd_shuffle` (CPU adapters).
    pub ksd_pack: Kernel,
    /// Pipelines built on first use ([`Kernels::cached`]): those specialised on d (override
    /// D: the unrolled φ variants, `pair_bracket`, ...) and `batch_median`.
    by_dim: std::sync::Mutex<std::collections::HashMap<DimKey, std::sync::Arc<Kernel>>>,
    /// Largest column chunk (tests lower it to exercise multi-chunk paths).
    pub chunk_cap: Option<usize>,
    /// The φ kernel for d >= 5 ([`PhiLayout::default_for`]; tests set it directly).
    pub phi_layout: PhiLayout,
    /// Whether the device runs `svgd_phi_gemm` ([`PhiLayout::gemm_fits`]).
    pub phi_gemm: bool,
    /// The device's largest 2-D texture side, which bounds the particles `svgd_phi_shuffle`
    /// takes (its column records are a texture).
    pub texture_rows: usize,
    /// The device's per-invocation loop limit, where it has one ([`GpuContext::loop_limit`]).
    pub loop_limit: Option<u64>,
    /// KSD row sums.
    pub ksd_rows: Kernel,
    /// MMD row sums.
    pub mmd_rows: Kernel,
    /// Sampled pair distances.
    pub pair_sample: Kernel,
    /// Sampled pair distances from the x texture.
    pub pair_sample_texture: Kernel,
    /// The particles into the x texture.
    pub x_texture_pack: Kernel,
    /// Plain step.
    pub update_sgd: Kernel,
    /// AdaGrad with momentum.
    pub update_adagrad: Kernel,
    /// Adam.
    pub update_adam: Kernel,
    /// Unadjusted Langevin step.
    pub langevin_step: Kernel,
}

impl Kernels {
    /// Builds all pipelines.
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        Ok(Self {
            gmm_score: Kernel::new(ctx, &shader::GMM_SCORE, 64)?,
            gaussian_score: Kernel::new(ctx, &shader::GAUSSIAN_SCORE, 64)?,
            svgd_phi_kblock: Kernel::new(ctx, &shader::SVGD_PHI_KBLOCK, 64)?,
            svgd_phi_krho: Kernel::new(ctx, &shader::SVGD_PHI_KRHO, 64)?,
            svgd_phi_kacc: Kernel::new(ctx, &shader::SVGD_PHI_KACC, 64)?,
            svgd_phi_center: Kernel::new(ctx, &shader::SVGD_PHI_CENTER, 256)?,
            pack_placeholder: (
                GpuVec::zeros(ctx, "phi records placeholder", 4)?,
                rgba32_texture(
                    ctx,
                    ("svgd_phi_pack", "phi records placeholder"),
                    (1, 1),
                    (1, 1),
                    wgpu::TextureUsages::empty(),
                )?,
            ),
            ksd_pack: Kernel::new(ctx, &shader::KSD_PACK, 64)?,
            by_dim: Default::default(),
            chunk_cap: None,
            phi_layout: PhiLayout::default_for(ctx),
            phi_gemm: PhiLayout::gemm_fits(ctx),
            texture_rows: ctx.limits.max_texture_dimension_2d as usize,
            loop_limit: ctx.loop_limit(),
            ksd_rows: Kernel::new(ctx, &shader::KSD_ROWS, 64)?,
            mmd_rows: Kernel::new(ctx, &shader::MMD_ROWS, 64)?,
            pair_sample: Kernel::new(ctx, &shader::PAIR_SAMPLE, 64)?,
            pair_sample_texture: Kernel::new(ctx, &shader::PAIR_SAMPLE_TEXTURE, 64)?,
            x_texture_pack: Kernel::new(ctx, &shader::X_TEXTURE_PACK, 64)?,
            update_sgd: Kernel::new(ctx, &shader::UPDATE_SGD, 256)?,
            update_adagrad: Kernel::new(ctx, &shader::UPDATE_ADAGRAD, 256)?,
            update_adam: Kernel::new(ctx, &shader::UPDATE_ADAM, 256)?,
            langevin_step: Kernel::new(ctx, &shader::LANGEVIN_STEP, 256)?,
        })
    }
}

/// Checks `n, d >= 1` and the `[n, d]` buffers' lengths; returns `n·d` as u32.
pub fn check_nd(what: &str, n: usize, d: usize, bufs: &[&GpuVec<f32>]) -> Result<u32> {
    ensure!(
        n >= 1 && d >= 1,
        "{what}: need at least one particle and one dimension (n = {n}, d = {d})"
    );
    let len = n
        .checked_mul(d)
        .filter(|&l| l <= u32::MAX as usize)
        .ok_or_else(|| anyhow::anyhow!("{what}: n·d = {n}·{d} exceeds 2^32 elements"))?;
    for b in bufs {
        ensure!(
            b.len >= len,
            "{what}: buffer `{}` holds {} values, need n·d = {len}",
            b.label,
            b.len
        );
    }
    Ok(len as u32)
}

/// The uniform for pairwise passes.
pub fn pair_params(n: usize, d: usize, h: f64) -> PairParams {
    PairParams {
        n: n as u32,
        d: d as u32,
        inv_h: (1.0 / h) as f32,
        inv_n: (1.0 / n as f64) as f32,
        j_begin: 0,
        j_end: n as u32,
        flags: 3,
        aux: 0,
    }
}

impl Kernels {
    /// The pipeline of `spec` specialised on `D = d` (cached).
    pub fn by_dim(
        &self,
        ctx: &GpuContext,
        spec: &shader::ShaderSpec,
        wg: u32,
        d: usize,
    ) -> Result<std::sync::Arc<Kernel>> {
        self.by_dim_with(ctx, spec, wg, d, &[])
    }

    /// [`Kernels::by_dim`] with further overrides (part of the cache key).
    pub fn by_dim_with(
        &self,
        ctx: &GpuContext,
        spec: &shader::ShaderSpec,
        wg: u32,
        d: usize,
        extra: &[(&str, f64)],
    ) -> Result<std::sync::Arc<Kernel>> {
        self.cached(ctx, spec, wg, &[&[("D", d as f64)], extra].concat())
    }

    /// The pipeline of `spec` with the override values `constants` (cached; built on first
    /// use, for kernels only some runs need).
    pub fn cached(
        &self,
        ctx: &GpuContext,
        spec: &shader::ShaderSpec,
        wg: u32,
        constants: &[(&str, f64)],
    ) -> Result<std::sync::Arc<Kernel>> {
        let mut map = self
            .by_dim
            .lock()
            .map_err(|_| anyhow::anyhow!("{}: pipeline cache poisoned", spec.name))?;
        let key = (spec.name, wg, format!("{constants:?}"));
        if let Some(k) = map.get(&key) {
            return Ok(k.clone());
        }
        let k = std::sync::Arc::new(Kernel::with_constants(ctx, spec, wg, constants)?);
        map.insert(key, k.clone());
        Ok(k)
    }
}

/// The largest d a generated kernel unrolls, from its header ("D = d (1..N)").
#[cfg(test)]
pub(crate) fn unrolled_dmax(spec: &shader::ShaderSpec) -> Option<usize> {
    let src = spec.source();
    let at = src.find("D = d (1..")? + "D = d (1..".len();
    src[at..].split(')').next()?.parse().ok()
}
