//! φ, the SVGD direction: which kernel serves each (n, d) ([`PhiLayout`], [`PhiVariant`]), its
//! per-(n, d) scratch ([`PhiScratch`]) and the recording of its passes. Kernels
//! `shaders/kernels/svgd_phi_*.wgsl`; f64 reference [`crate::cpu::svgd::phi`].

use anyhow::{ensure, Context, Result};

use super::plan::*;
use super::texture::{rgba32_texture, shuffle_texture_size, texture_bytes, SHUFFLE_TEXTURE_WIDTH};
use super::{check_nd, pair_params, Kernels};
use crate::gpu::context::PhiLayoutChoice;
use crate::gpu::params::PairParams;
use crate::gpu::shader;
use crate::gpu::{GpuContext, GpuVec, Recorder, UniformSlot};

/// The φ kernel used for a dimension: unrolled variants up to their `DMAX`, then the looped one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhiVariant {
    /// `svgd_phi_small`, d <= 4, 32 rows per invocation.
    Small,
    /// `svgd_phi_mid`, d <= 16, 12 rows per invocation.
    Mid,
    /// `svgd_phi_wide`, d <= 64, 4 rows per invocation.
    Wide,
    /// `svgd_phi_lane`, 5 <= d <= 64 on hardware GPUs, one row per invocation (the row-tiled
    /// variants spill registers there; see the generator).
    Lane,
    /// `svgd_phi_shuffle`, 5 <= d <= [`SHUFFLE_DMAX`] on CPU adapters with subgroups
    /// (llvmpipe), 8 rows per invocation up to d = 32 and 4 beyond, columns handed between
    /// lanes by subgroupShuffle (see the generator), after `svgd_phi_center` and
    /// `svgd_phi_pack` have written the centred column records into a texture
    /// ([`shuffle_texture_size`]); the subgroup size.
    Shuffle(u32),
    /// `svgd_phi_gemm`, any d >= 5 on hardware GPUs, and on CPU adapters past their unrolled
    /// kernels (d > [`SHUFFLE_DMAX`] with subgroups, d > 64 without): 64 × 64 tiles of pairs as two fused
    /// matrix products (‖xc_i‖² + ‖xc_j‖² − 2 xc_i·xc_j, then K·W) in workgroup memory, over
    /// the centred column records of `svgd_phi_center` and `svgd_phi_pack`; output dimensions
    /// in passes of [`gemm_dims_per_pass`].
    Gemm,
    /// `svgd_phi_kblock` + `svgd_phi_krho` + `svgd_phi_kacc`, any d: kernel values of a block
    /// of columns, each computed once, then their row sums and the accumulation over
    /// dimensions. Past d = 64 on devices without room for `svgd_phi_gemm`.
    General,
}

impl PhiVariant {
    /// The variant for dimension `d` and `n` particles under `layout`; `gemm`: the device runs
    /// `svgd_phi_gemm` ([`PhiLayout::gemm_fits`]), which then serves the CPU layouts past
    /// their unrolled kernels. On llvmpipe (2 cores, n = 16384) it runs d = 128 at 1.1e7
    /// pairs/s against the column blocks' 1.8e6 (n = 2048), and d = 784 at 6.5e5 against
    /// 2.8e5 (n = 2048): the column blocks read every coordinate through a lane loop.
    /// `texture_rows`: the device's largest 2-D texture side, which bounds the particles
    /// `svgd_phi_shuffle` takes ([`shuffle_texture_size`]; past it the tiled kernels or gemm
    /// serve, as without subgroups).
    pub fn for_dim(d: usize, n: usize, layout: PhiLayout, gemm: bool, texture_rows: usize) -> Self {
        match (d, layout) {
            (0..=4, _) => PhiVariant::Small,
            (5..=8, PhiLayout::Gemm) if n >= GEMM_ROW_TILED_MIN_N => PhiVariant::Mid,
            (_, PhiLayout::Gemm) => PhiVariant::Gemm,
            (5..=64, PhiLayout::Lane) if n < LANE_MAX_N => PhiVariant::Lane,
            (5..=SHUFFLE_DMAX, PhiLayout::Shuffle(sg))
                if shuffle_texture_size(n, d, sg).1 <= texture_rows =>
            {
                PhiVariant::Shuffle(sg)
            }
            (5..=16, _) => PhiVariant::Mid,
            (17..=64, _) => PhiVariant::Wide,
            (_, PhiLayout::Shuffle(_) | PhiLayout::Tiled) if gemm => PhiVariant::Gemm,
            _ => PhiVariant::General,
        }
    }

    /// The kernel that computes φ in d dimensions (the first of three for the column-block
    /// path) and its workgroup size.
    fn spec(self, d: usize) -> (&'static shader::ShaderSpec, u32) {
        match self {
            PhiVariant::Small => (&shader::SVGD_PHI_SMALL, 32),
            PhiVariant::Mid => (&shader::SVGD_PHI_MID, 32),
            PhiVariant::Wide => (&shader::SVGD_PHI_WIDE, 32),
            PhiVariant::Lane => (&shader::SVGD_PHI_LANE, 64),
            PhiVariant::Shuffle(_) if d <= SHUFFLE_64_DMAX => {
                (&shader::SVGD_PHI_SHUFFLE_64, SHUFFLE_WG)
            }
            PhiVariant::Shuffle(_) => (&shader::SVGD_PHI_SHUFFLE, SHUFFLE_WG),
            PhiVariant::Gemm => (&shader::SVGD_PHI_GEMM, 256),
            PhiVariant::General => (&shader::SVGD_PHI_KBLOCK, 64),
        }
    }

    /// The WGSL entry point that computes φ in d dimensions (the first of them for the
    /// column-block path).
    pub fn kernel_name(self, d: usize) -> &'static str {
        self.spec(d).0.name
    }

    /// Rows one workgroup of `wg` invocations owns.
    fn rows_per_group(self, d: usize, wg: u32) -> usize {
        let per_invocation = match self {
            PhiVariant::Small => 32,
            PhiVariant::Mid => 12,
            PhiVariant::Wide => 4,
            PhiVariant::Shuffle(_) => shuffle_rows(d),
            PhiVariant::Gemm => return GEMM_TILE,
            PhiVariant::Lane | PhiVariant::General => 1,
        };
        per_invocation * wg as usize
    }

    /// Particles the centred column records are padded to, for the variants that read them
    /// (after `svgd_phi_center` and `svgd_phi_pack`): whole subgroups for the shuffle kernel,
    /// whole tiles for the gemm kernel.
    fn record_rows(self, n: usize) -> Option<usize> {
        match self {
            PhiVariant::Shuffle(sg) => Some(shuffle_padded(n, sg)),
            PhiVariant::Gemm => Some(gemm_padded(n)),
            _ => None,
        }
    }
}

/// Which φ kernels serve d >= 5 (each layout's unrolled kernels up to their largest d; beyond,
/// the gemm kernel where it fits, else the column blocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhiLayout {
    /// One row per invocation ([`PhiVariant::Lane`], for n < [`LANE_MAX_N`]; the row-tiled
    /// kernels beyond; [`PhiVariant::General`] past d = 64): hardware GPUs without room for
    /// [`PhiLayout::Gemm`].
    Lane,
    /// Columns shared through subgroup shuffles ([`PhiVariant::Shuffle`], d <=
    /// [`SHUFFLE_DMAX`]; then [`PhiVariant::Gemm`] where it fits) with this fixed subgroup
    /// size: the default on CPU adapters with subgroups (llvmpipe: 8).
    Shuffle(u32),
    /// Rows tiled in registers, columns read at one shared address ([`PhiVariant::Mid`],
    /// [`PhiVariant::Wide`]; past d = 64 [`PhiVariant::Gemm`] where it fits): CPU adapters
    /// without subgroups.
    Tiled,
    /// Tiles of pairs as fused matrix products ([`PhiVariant::Gemm`], every d >= 5, except
    /// d <= 8 from [`GEMM_ROW_TILED_MIN_N`] particles: [`PhiVariant::Mid`]): the default on
    /// hardware GPUs that give a workgroup 256 invocations and 32 KiB.
    Gemm,
}

impl PhiLayout {
    /// The subgroup size `svgd_phi_shuffle` can run with on this device, if any: subgroups
    /// enabled and one fixed size that divides its workgroup of 64.
    pub fn shuffle_size(ctx: &GpuContext) -> Option<u32> {
        let (lo, hi) = (ctx.info.subgroup_min_size, ctx.info.subgroup_max_size);
        (ctx.device.features().contains(wgpu::Features::SUBGROUP)
            && lo == hi
            && lo >= 1
            && SHUFFLE_WG.is_multiple_of(lo))
        .then_some(lo)
    }

    /// Whether this device can run `svgd_phi_gemm`: 256 invocations and 32 KiB of workgroup
    /// memory per workgroup.
    pub fn gemm_fits(ctx: &GpuContext) -> bool {
        ctx.limits.max_compute_invocations_per_workgroup >= 256
            && ctx.limits.max_compute_workgroup_size_x >= 256
            && ctx.limits.max_compute_workgroup_storage_size >= GEMM_WORKGROUP_BYTES
    }

    /// The default for this device; [`crate::gpu::GpuOptions::phi_layout`] overrides it (the
    /// command line's `STEIN_PHI_LAYOUT=lane|shuffle|tiled|gemm`, for benchmarks; shuffle
    /// falls back to tiled and gemm to lane where the device cannot run them).
    pub fn default_for(ctx: &GpuContext) -> Self {
        let shuffle = Self::shuffle_size(ctx).map_or(PhiLayout::Tiled, PhiLayout::Shuffle);
        let gemm = if Self::gemm_fits(ctx) {
            PhiLayout::Gemm
        } else {
            PhiLayout::Lane
        };
        match ctx.options.phi_layout {
            Some(PhiLayoutChoice::Lane) => PhiLayout::Lane,
            Some(PhiLayoutChoice::Shuffle) => shuffle,
            Some(PhiLayoutChoice::Tiled) => PhiLayout::Tiled,
            Some(PhiLayoutChoice::Gemm) => gemm,
            _ if ctx.info.device_type != wgpu::DeviceType::Cpu => gemm,
            _ => shuffle,
        }
    }
}

/// Rows per invocation of `svgd_phi_shuffle` (its override ROWS, at most SHUFFLE_ROWS in
/// src/gpu/generate.rs): 8 share each column load, but past d = 32 the compile time grows
/// steeply (llvmpipe, d = 64: 57 s with 8 rows, 14 s with 4) while φ gains nothing
/// (1.27e8 against 1.26e8 pairs/s at n = 16384); at d = 16 8 rows run 1.2x faster.
pub(crate) fn shuffle_rows(d: usize) -> usize {
    if d <= 32 {
        8
    } else {
        4
    }
}

/// Columns per pass of `svgd_phi_shuffle`'s lane loop (its override COLS): two share each
/// row value and each accumulator's blend, but double the loop body, which at large d
/// outgrows the instruction cache (at d = 64 the two-column body is 24 KB; four columns,
/// 45 KB, ran 1.65× slower with the same instructions per pair). On llvmpipe (n = 16384, one
/// against two columns, alternated) two columns won up to d = 88 and one from d = 96 on; the
/// figures are in docs/lavapipe.md.
pub(crate) fn shuffle_cols(d: usize) -> u32 {
    if d <= 92 {
        2
    } else {
        1
    }
}

/// Largest d of `svgd_phi_shuffle` (SHUFFLE_DMAX in src/gpu/generate.rs). Past d = 64 its
/// first build on llvmpipe takes longer (2 cores: about 30 s at d = 100, 50 s at d = 128; Mesa
/// caches the result on disk), for φ about 6x faster than `svgd_phi_gemm` there (n = 16384,
/// d = 100: 7.1e7 against 1.2e7 pairs/s; README, Benchmarks, Past d = 64).
pub const SHUFFLE_DMAX: usize = 128;

/// Largest d of `svgd_phi_shuffle_64` (SHUFFLE_64_DMAX in src/gpu/generate.rs), the same
/// kernel unrolled only that far, which serves d up to it: llvmpipe builds its pipeline in a
/// third of the time, even from Mesa's shader cache (d = 64: 0.55 against 1.7 s at every
/// process start).
pub const SHUFFLE_64_DMAX: usize = 64;

/// Workgroup size of `svgd_phi_shuffle` (a multiple of the subgroup size).
pub(crate) const SHUFFLE_WG: u32 = 64;

/// Largest n for which the lane layout uses [`PhiVariant::Lane`]. The row-tiled kernels give
/// a workgroup 384 (d <= 16) or 128 (d <= 64) rows, so below a few hundred thousand particles
/// they leave an H100's 132 multiprocessors short of workgroups; above, they win. Measured on
/// an H100 (Vulkan), d = 16: lane 7.0e10 against tiled 4.2e10 pairs/s at n = 65536, but
/// 4.7e10 against 1.35e11 at n = 262144 (README, Benchmarks).
pub const LANE_MAX_N: usize = 1 << 18;

/// From this n on, the gemm layout (hardware GPUs' default) hands d <= 8 to the row-tiled
/// [`PhiVariant::Mid`]: with enough workgroups its 12 register rows per invocation beat the
/// 64 × 64 tiles' staging where d is this small. Measured on an H200 (Vulkan) at n = 262144:
/// d = 8, tiled 3.8e11 against gemm 3.3e11 pairs/s; d = 12, 2.33e11 against 2.39e11; d = 16,
/// 1.37e11 against 2.03e11 (README, Benchmarks); d = 5..7 were not measured against it and
/// follow d = 8 (gemm barely gains below d = 8: 3.5e11 at d = 5).
/// Below 2^18 the row-tiled kernels leave the GPU short of workgroups (H100, above); gemm
/// was measured there against the lane kernel only (d = 8, n = 65536: 3.2e11 against 9.2e10).
pub const GEMM_ROW_TILED_MIN_N: usize = 1 << 18;

/// Where [`Kernels::record_phi_columns`] writes the column records: a buffer (for
/// `svgd_phi_gemm`) or an rgba32float storage texture [`SHUFFLE_TEXTURE_WIDTH`] wide (for
/// `svgd_phi_shuffle`; `svgd_phi_pack` with its override TEXTURE).
#[derive(Clone, Copy)]
pub enum PhiRecords<'a> {
    /// `padded · (2⌈d/4⌉ + 1) · 4` floats.
    Buffer(&'a GpuVec<f32>),
    /// The texture and a view of it.
    Texture(&'a wgpu::Texture, &'a wgpu::TextureView),
}

/// Per-dispatch uniforms and device scratch of φ for one (n, d): O(n·d).
pub struct PhiScratch {
    variant: PhiVariant,
    chunks: Vec<(u32, u32, u32)>,
    scratch: GpuVec<f32>,
    kblock: GpuVec<f32>,
    rho: GpuVec<f32>,
    center: GpuVec<f32>,
    pack: GpuVec<f32>,
    /// `svgd_phi_shuffle`'s records (its only copy, written by `svgd_phi_pack`), and its view.
    records: Option<(wgpu::Texture, wgpu::TextureView)>,
    n: usize,
    d: usize,
}

impl PhiScratch {
    /// Plans the column chunks for `n` particles in `d` dimensions and allocates what they need.
    pub fn new(ctx: &GpuContext, k: &Kernels, n: usize, d: usize) -> Result<Self> {
        ensure!(n >= 1 && d >= 1, "svgd_phi: need n >= 1 and d >= 1");
        let variant = k.phi_variant(d, n);
        let general = variant == PhiVariant::General;
        let records = variant.record_rows(n);
        if let Some(padded) = records {
            ctx.check_loop(
                "svgd_phi_center (n / 256 rows per invocation)",
                n.div_ceil(256) as u64 + 10,
            )?;
            ctx.check_loop("svgd_phi_pack (one particle's record)", pack_passes(d))?;
            // Every index of the kernels that read the records fits in u32 (svgd_phi_gemm
            // runs without runtime checks).
            ensure!(
                (n * d + gemm_passes(d) * n) as u64 <= u64::from(u32::MAX)
                    && (padded * shuffle_record(d) * 4) as u64 <= u64::from(u32::MAX),
                "svgd_phi: n = {n}, d = {d} exceeds 2^32 elements per buffer"
            );
        }
        let cols = if general {
            // Blocks of 32..256 columns, at most 2^23 kernel values (32 MiB) at once.
            let tb = ((1usize << 23) / n).clamp(32, 256);
            ctx.check_loop("svgd_phi_kblock (d dimensions per pair)", d as u64 + 10)?;
            k.chunk_cap.map_or(tb, |c| tb.min(c.max(1)))
        } else {
            // Columns per unit, loop passes per unit and fixed passes per invocation (llvmpipe
            // counts every pass through a loop's end, the one that leaves it too); chunks
            // start at multiples of the unit, the column records the kernel reads at once.
            let (unit, per_unit, fixed) = match variant {
                // Per SG columns the group loop's pass and the lane loop's SG / COLS + 1,
                // and per BLOCK (128) columns two more (the block loop's pass, the group
                // loop's exit): SG / COLS + 3 per SG columns bounds them all.
                PhiVariant::Shuffle(sg) => (
                    sg as usize,
                    u64::from(sg / shuffle_cols(d)) + 3,
                    3 * d as u64 + 300,
                ),
                PhiVariant::Gemm => (GEMM_TILE, gemm_tile_passes(d), GEMM_FIXED_PASSES),
                // Per column the column loop's pass, and per BLOCK (128) columns the block
                // loop's pass and the column loop's exit: at most 2 · 60 000 / 128 + 2 < 940
                // more than one a column in any chunk llvmpipe allows.
                _ => (1, 1, 3 * d as u64 + 300 + 940),
            };
            let units = chunk_columns(ctx, variant.kernel_name(d), per_unit, fixed, None)?;
            unit * k
                .chunk_cap
                .map_or(units, |c| units.min(c.div_ceil(unit)).max(1))
        };
        let chunks = chunk_plan(n, cols);
        // Running sums between chunks: Σ_j k_ij w_j [n, d], then ρ (one copy per gemm pass).
        let rho_copies = if variant == PhiVariant::Gemm {
            gemm_passes(d)
        } else {
            1
        };
        let len = if general || chunks.len() > 1 {
            n * d + rho_copies * n
        } else {
            1
        };
        let kb = if general { n * cols.min(n) } else { 1 };
        // The centre and the column records of the kernels that read them: svgd_phi_gemm's
        // in a buffer, svgd_phi_shuffle's in a texture (svgd_phi_pack writes either), so that
        // they are held once.
        let texture = match variant {
            PhiVariant::Shuffle(sg) => Some(shuffle_texture_size(n, d, sg)),
            _ => None,
        };
        let (center, pack) = match (records, texture) {
            (Some(_), Some(_)) => (d, 1),
            (Some(padded), None) => (d, padded * shuffle_record(d) * 4),
            _ => (1, 1),
        };
        let records_texture = match texture {
            // for_dim checked the height against Kernels::texture_rows; rgba32_texture checks
            // the device itself (the field is public).
            Some(size) => Some(rgba32_texture(
                ctx,
                ("svgd_phi", "phi column records"),
                (n, d),
                size,
                wgpu::TextureUsages::empty(),
            )?),
            None => None,
        };
        Ok(Self {
            variant,
            chunks,
            scratch: GpuVec::zeros(ctx, "phi scratch", len)?,
            kblock: GpuVec::zeros(ctx, "phi kernel block", kb)?,
            rho: GpuVec::zeros(ctx, "phi rho", if general { n } else { 1 })?,
            center: GpuVec::zeros(ctx, "phi centre", center)?,
            pack: GpuVec::zeros(ctx, "phi column records", pack)?,
            records: records_texture,
            n,
            d,
        })
    }

    /// Bytes held.
    pub fn device_bytes(&self) -> u64 {
        self.scratch.bytes()
            + self.kblock.bytes()
            + self.rho.bytes()
            + self.center.bytes()
            + self.pack.bytes()
            + self.records.as_ref().map_or(0, |(t, _)| texture_bytes(t))
            // The chunks' uniforms (slots of the recorder's arena while a φ is recorded).
            + 32 * self.chunks.len() as u64
    }

    /// Number of column chunks (dispatches per φ).
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }
}

impl Kernels {
    /// The φ kernel these pipelines use for `n` particles in `d` dimensions.
    pub fn phi_variant(&self, d: usize, n: usize) -> PhiVariant {
        let variant = PhiVariant::for_dim(d, n, self.phi_layout, self.phi_gemm, self.texture_rows);
        // Where one 64-column tile of svgd_phi_gemm, or the packing of a record, is past the
        // loop limit (d over about 40 000 on llvmpipe), the column blocks (d + 10 passes a
        // pair) take over, to d = 59 990.
        let over =
            |limit: u64| gemm_tile_passes(d) + GEMM_FIXED_PASSES > limit || pack_passes(d) > limit;
        if variant == PhiVariant::Gemm && self.loop_limit.is_some_and(over) {
            return PhiVariant::General;
        }
        variant
    }

    /// Records `phi = φ(x)` for bandwidth `h`: one dispatch per column chunk of `scratch`'s
    /// plan, with the unrolled kernel for d <= 64 and the looped one beyond. Kernels
    /// `shaders/kernels/svgd_phi_*.wgsl`; reference [`crate::cpu::svgd::phi`].
    #[allow(clippy::too_many_arguments)]
    pub fn record_svgd_phi(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        scratch: &PhiScratch,
        phi: &GpuVec<f32>,
        (n, d): (usize, usize),
        h: f64,
    ) -> Result<()> {
        self.record_svgd_phi_with(
            ctx,
            enc,
            x,
            score,
            scratch,
            phi,
            (n, d),
            PhiBandwidth::Host(h),
        )
    }

    /// [`Kernels::record_svgd_phi`] with the bandwidth where it lives: on the host, or on the
    /// device as (h, 1/h) (as [`crate::median::BatchMedian`] writes it), 1/h then copied into
    /// each chunk's uniform slot inside the encoder, so no readback is needed.
    #[allow(clippy::too_many_arguments)]
    pub fn record_svgd_phi_with(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        scratch: &PhiScratch,
        phi: &GpuVec<f32>,
        (n, d): (usize, usize),
        h: PhiBandwidth,
    ) -> Result<()> {
        match h {
            PhiBandwidth::Host(h) => ensure!(
                h > 0.0 && h.is_finite(),
                "svgd_phi: bandwidth h = {h} must be positive and finite"
            ),
            PhiBandwidth::Device(h) => {
                ensure!(h.len >= 2, "svgd_phi: the bandwidth buffer holds (h, 1/h)")
            }
        }
        self.record_phi_passes(ctx, enc, (x, score, phi), scratch, (n, d), h)
    }

    /// The chunk uniforms of one φ (one slot each, `aux` in every chunk), with 1/h copied in
    /// from the device where it lives there, then the passes.
    fn record_phi_passes(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        (x, score, phi): (&GpuVec<f32>, &GpuVec<f32>, &GpuVec<f32>),
        scratch: &PhiScratch,
        (n, d): (usize, usize),
        h: PhiBandwidth,
    ) -> Result<()> {
        check_nd("svgd_phi", n, d, &[x, score, phi])?;
        ensure!(
            scratch.n == n && scratch.d == d,
            "svgd_phi: scratch planned for n = {}, d = {}",
            scratch.n,
            scratch.d
        );
        let general = scratch.variant == PhiVariant::General;
        // svgd_phi_shuffle and svgd_phi_gemm read the centred column records (the shuffle
        // kernel from a texture).
        let records = scratch.variant.record_rows(n);
        let aux = if general {
            0
        } else {
            records.unwrap_or(0) as u32
        };
        let host_h = match h {
            PhiBandwidth::Host(h) => h,
            // A placeholder, overwritten by the copies below before any pass reads it.
            PhiBandwidth::Device(_) => 1.0,
        };
        let params: Vec<UniformSlot> = scratch
            .chunks
            .iter()
            .map(|&(j_begin, j_end, flags)| {
                enc.uniform(
                    ctx,
                    &PairParams {
                        j_begin,
                        j_end,
                        flags,
                        aux,
                        ..pair_params(n, d, host_h)
                    },
                )
            })
            .collect();
        if let PhiBandwidth::Device(h) = h {
            // h holds (h, 1/h): 1/h into PairParams::inv_h of every slot. The arena's upload
            // lands before the encoder runs, so the copies are what the passes read.
            let inv_h = std::mem::offset_of!(PairParams, inv_h) as u64;
            for u in &params {
                enc.copy_buffer_to_buffer(&h.buffer, 4, u.buffer(), u.offset() + inv_h, 4);
            }
        }
        if general {
            let nd = n
                .checked_mul(d)
                .filter(|&v| v <= u32::MAX as usize)
                .context("svgd_phi: n·d too large")?;
            let g_acc = self.svgd_phi_kacc.groups_for(ctx, nd)?;
            let g_rho = self.svgd_phi_krho.groups_for(ctx, n)?;
            for (&(j_begin, j_end, _), params) in scratch.chunks.iter().zip(&params) {
                let g_k = self
                    .svgd_phi_kblock
                    .groups_for(ctx, n * (j_end - j_begin) as usize)?;
                self.svgd_phi_kblock.record_with(
                    ctx,
                    enc,
                    params,
                    &[&x.buffer, &scratch.kblock.buffer],
                    g_k,
                )?;
                self.svgd_phi_krho.record_with(
                    ctx,
                    enc,
                    params,
                    &[&scratch.kblock.buffer, &scratch.rho.buffer],
                    g_rho,
                )?;
                self.svgd_phi_kacc.record_with(
                    ctx,
                    enc,
                    params,
                    &[
                        &x.buffer,
                        &score.buffer,
                        &scratch.kblock.buffer,
                        &scratch.rho.buffer,
                        &scratch.scratch.buffer,
                        &phi.buffer,
                    ],
                    g_acc,
                )?;
            }
            return Ok(());
        }
        let (spec, wg) = scratch.variant.spec(d);
        let extra = match scratch.variant {
            PhiVariant::Shuffle(sg) => {
                vec![
                    ("SG", f64::from(sg)),
                    ("ROWS", shuffle_rows(d) as f64),
                    ("COLS", f64::from(shuffle_cols(d))),
                ]
            }
            PhiVariant::Gemm => vec![
                ("DV", gemm_dims_per_pass(d) as f64),
                ("SP", gemm_subpasses(d) as f64),
            ],
            _ => vec![],
        };
        let kernel = self.by_dim_with(ctx, spec, wg, d, &extra)?;
        let g = ctx.check_groups(
            spec.name,
            n.div_ceil(scratch.variant.rows_per_group(d, wg)) as u64,
        )?;
        // svgd_phi_gemm's output dimensions beyond one pass go to dispatch y.
        let passes = if scratch.variant == PhiVariant::Gemm {
            ctx.check_groups(spec.name, gemm_passes(d) as u64)?
        } else {
            1
        };
        if records.is_some() {
            // The centre, then the column records, both from the first chunk's uniform
            // (every chunk holds the same n, d, h and n_pad).
            let target = match &scratch.records {
                Some((texture, view)) => PhiRecords::Texture(texture, view),
                None => PhiRecords::Buffer(&scratch.pack),
            };
            self.record_phi_columns(
                ctx,
                enc,
                &params[0],
                (x, score),
                &scratch.center,
                target,
                (n, d, aux as usize),
            )?;
        }
        for u in &params {
            let (x, out) = (&x.buffer, &scratch.scratch.buffer);
            let resources: Vec<wgpu::BindingResource> = match records {
                Some(_) => vec![
                    u.binding(),
                    x.as_entire_binding(),
                    scratch.center.buffer.as_entire_binding(),
                    match &scratch.records {
                        Some((_, view)) => wgpu::BindingResource::TextureView(view),
                        None => scratch.pack.buffer.as_entire_binding(),
                    },
                    out.as_entire_binding(),
                    phi.buffer.as_entire_binding(),
                ],
                None => vec![
                    u.binding(),
                    x.as_entire_binding(),
                    score.buffer.as_entire_binding(),
                    out.as_entire_binding(),
                    phi.buffer.as_entire_binding(),
                ],
            };
            kernel.record_resources(ctx, enc, &resources, (g, passes, 1))?;
        }
        Ok(())
    }

    /// Records `svgd_phi_center` (the particles' mean into `center`, d values) and
    /// `svgd_phi_pack` (the column records of `svgd_phi_gemm` or `svgd_phi_shuffle`,
    /// `padded · (2⌈d/4⌉ + 1)` vec4, `padded` = [`gemm_padded`] or [`shuffle_padded`]
    /// particles, into a buffer or, texel by texel, a texture [`SHUFFLE_TEXTURE_WIDTH`] wide),
    /// both reading n, d, 1/h and aux = `padded` from the [`PairParams`] in `params`.
    /// Kernels `svgd_phi_center.wgsl`, `svgd_phi_pack.wgsl`; references
    /// [`crate::cpu::svgd::centre`], [`crate::cpu::svgd::shuffle_records`].
    #[allow(clippy::too_many_arguments)]
    pub fn record_phi_columns(
        &self,
        ctx: &GpuContext,
        enc: &mut crate::gpu::Recorder,
        params: &UniformSlot,
        (x, score): (&GpuVec<f32>, &GpuVec<f32>),
        center: &GpuVec<f32>,
        records: PhiRecords,
        (n, d, padded): (usize, usize, usize),
    ) -> Result<()> {
        check_nd("svgd_phi_pack", n, d, &[x, score])?;
        let vec4s = padded * shuffle_record(d);
        let room = match records {
            PhiRecords::Buffer(pack) => pack.len / 4,
            PhiRecords::Texture(t, _) => {
                ensure!(
                    t.width() as usize == SHUFFLE_TEXTURE_WIDTH
                        && t.format() == wgpu::TextureFormat::Rgba32Float,
                    "svgd_phi_pack: the records texture must be rgba32float, \
                     {SHUFFLE_TEXTURE_WIDTH} texels wide"
                );
                texture_bytes(t) as usize / 16
            }
        };
        ensure!(
            center.len >= d && padded >= n && room >= vec4s,
            "svgd_phi_pack: room for {room} record vec4s, not the {vec4s} of {padded} records"
        );
        self.svgd_phi_center.record_with(
            ctx,
            enc,
            params,
            &[&x.buffer, &center.buffer],
            (ctx.check_groups("svgd_phi_center", d as u64)?, 1, 1),
        )?;
        ctx.check_loop("svgd_phi_pack (one particle's record)", pack_passes(d))?;
        // The binding not written gets a placeholder.
        let (texture, pack, view) = match records {
            PhiRecords::Buffer(pack) => (0.0, pack, &self.pack_placeholder.1 .1),
            PhiRecords::Texture(_, view) => (1.0, &self.pack_placeholder.0, view),
        };
        let kernel =
            self.by_dim_with(ctx, &shader::SVGD_PHI_PACK, 64, d, &[("TEXTURE", texture)])?;
        let groups = kernel.groups_for(ctx, padded)?;
        kernel.record_resources(
            ctx,
            enc,
            &[
                params.binding(),
                x.buffer.as_entire_binding(),
                score.buffer.as_entire_binding(),
                center.buffer.as_entire_binding(),
                pack.buffer.as_entire_binding(),
                wgpu::BindingResource::TextureView(view),
            ],
            groups,
        )
    }
}

/// Where φ's bandwidth comes from.
#[derive(Clone, Copy)]
pub enum PhiBandwidth<'a> {
    /// Given by the host.
    Host(f64),
    /// (h, 1/h) in a device buffer.
    Device(&'a GpuVec<f32>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{unrolled_dmax, x_texture_size};

    /// The host never hands a generated kernel a d past what its file unrolls (raising
    /// SHUFFLE_DMAX without regenerating svgd_phi_shuffle, say, would drop dimensions).
    #[test]
    fn every_phi_variant_covers_the_dimensions_it_is_given() {
        let layouts = [
            PhiLayout::Lane,
            PhiLayout::Shuffle(8),
            PhiLayout::Tiled,
            PhiLayout::Gemm,
        ];
        for d in 1..=300 {
            for layout in layouts {
                for (gemm, rows) in [(false, 16384), (true, 16384), (false, 1), (true, 1)] {
                    for n in [1000, LANE_MAX_N, GEMM_ROW_TILED_MIN_N] {
                        let v = PhiVariant::for_dim(d, n, layout, gemm, rows);
                        // The tiles and the column blocks loop over any d.
                        if matches!(v, PhiVariant::Gemm | PhiVariant::General) {
                            continue;
                        }
                        let (spec, _) = v.spec(d);
                        let dmax = unrolled_dmax(spec)
                            .unwrap_or_else(|| panic!("{}: no \"D = d (1..N)\" header", spec.name));
                        assert!(
                            d <= dmax,
                            "{layout:?} gemm={gemm} rows={rows} n={n}: d = {d} to {v:?} (1..{dmax})"
                        );
                        assert!(gemm || v != PhiVariant::Gemm || layout == PhiLayout::Gemm);
                    }
                }
            }
        }
        assert_eq!(unrolled_dmax(&shader::SVGD_PHI_SHUFFLE), Some(SHUFFLE_DMAX));
        assert_eq!(
            unrolled_dmax(&shader::SVGD_PHI_SHUFFLE_64),
            Some(SHUFFLE_64_DMAX)
        );
    }

    /// `svgd_phi_shuffle` gets only particles whose records fit the device's textures, and
    /// the host's texture width is the kernel's.
    #[test]
    fn the_shuffle_kernel_gets_only_records_that_fit_a_texture() {
        let src = shader::SVGD_PHI_SHUFFLE.source();
        // One texture width for every kernel that addresses a texture by a texel index: the
        // records of φ and the KSD, and the x texture of the median's passes.
        let textured: Vec<_> = shader::ALL
            .iter()
            .filter(|spec| spec.source().contains("const TEX_W: u32 ="))
            .collect();
        assert!(
            textured.len() >= 9,
            "kernels with TEX_W: {}",
            textured.len()
        );
        for spec in textured {
            assert!(
                spec.source()
                    .contains(&format!("const TEX_W: u32 = {SHUFFLE_TEXTURE_WIDTH}u;")),
                "{}",
                spec.name
            );
        }
        // The columns per pass the host asks for are ones the file generates and divide the
        // subgroup.
        let at = src.find("COLS (1..").expect("COLS header") + "COLS (1..".len();
        let cols_max: u32 = src[at..].split(')').next().unwrap().parse().unwrap();
        for d in 5..=SHUFFLE_DMAX {
            let c = shuffle_cols(d);
            assert!(
                (1..=cols_max).contains(&c) && 8 % c == 0,
                "d = {d}: COLS = {c}"
            );
        }
        // n = 16384, d = 64: 16384 records of 33 texels, 132 rows of 4096, rounded up to 256.
        assert_eq!(shuffle_texture_size(16384, 64, 8), (4096, 256));
        assert_eq!(shuffle_texture_size(1, 5, 8), (4096, 1));
        // The x texture: ceil(d / 4) texels a particle.
        assert_eq!(x_texture_size(16384, 64), (4096, 64));
        assert_eq!(x_texture_size(4097, 1), (4096, 2));
        assert_eq!(x_texture_size(1, 5), (4096, 1));
        let layout = PhiLayout::Shuffle(8);
        for d in [5, 64, 128] {
            for n in [1, 1000, 16384, 1 << 20] {
                let rows = shuffle_texture_size(n, d, 8).1;
                assert_eq!(
                    PhiVariant::for_dim(d, n, layout, true, rows),
                    PhiVariant::Shuffle(8)
                );
                let v = PhiVariant::for_dim(d, n, layout, true, rows - 1);
                assert!(
                    !matches!(v, PhiVariant::Shuffle(_)),
                    "d = {d}, n = {n}: {v:?}"
                );
            }
        }
    }
}
