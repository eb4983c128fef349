//! Typed host wrappers, one per WGSL kernel. They check sizes and limits, fill the uniform
//! and **record** a dispatch; they never submit or read back, so an algorithm can put a whole
//! step (score, median passes, φ, update) into one encoder.

use anyhow::{ensure, Context, Result};

use crate::gpu::params::{GmmParams, LangevinParams, PairParams, SelectParams, UpdateParams};
use crate::gpu::pipeline::{Binding, Kernel};
use crate::gpu::shader;
use crate::gpu::{GpuContext, GpuUniform, GpuVec};

use Binding::{ReadOnly as R, ReadWrite as W, Uniform as U};

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

    /// The default for this device; `STEIN_PHI_LAYOUT=lane|shuffle|tiled|gemm` overrides it
    /// (for benchmarks; shuffle falls back to tiled and gemm to lane where the device cannot
    /// run them).
    pub fn default_for(ctx: &GpuContext) -> Self {
        let shuffle = Self::shuffle_size(ctx).map_or(PhiLayout::Tiled, PhiLayout::Shuffle);
        let gemm = if Self::gemm_fits(ctx) {
            PhiLayout::Gemm
        } else {
            PhiLayout::Lane
        };
        match std::env::var("STEIN_PHI_LAYOUT").as_deref() {
            Ok("lane") => PhiLayout::Lane,
            Ok("shuffle") => shuffle,
            Ok("tiled") => PhiLayout::Tiled,
            Ok("gemm") => gemm,
            _ if ctx.info.device_type != wgpu::DeviceType::Cpu => gemm,
            _ => shuffle,
        }
    }
}

/// Rows per invocation of `svgd_phi_shuffle` (its override ROWS, at most SHUFFLE_ROWS in
/// tools/gen_svgd_phi.py): 8 share each column load, but past d = 32 the compile time grows
/// steeply (llvmpipe, d = 64: 57 s with 8 rows, 14 s with 4) while φ gains nothing
/// (1.27e8 against 1.26e8 pairs/s at n = 16384); at d = 16 8 rows run 1.2x faster.
fn shuffle_rows(d: usize) -> usize {
    if d <= 32 {
        8
    } else {
        4
    }
}

/// Columns per pass of `svgd_phi_shuffle`'s lane loop (its override COLS): two share each
/// row value and each accumulator's blend, but double the loop body, which at large d
/// outgrows the instruction cache (at d = 64 the two-column body is 24 KB; four columns,
/// 45 KB, ran 1.65× slower with the same instructions per pair). llvmpipe, n = 16384,
/// pairs/s, one against two columns, alternated, two rounds, with the records in a read-only
/// storage texture (late 2026-11-30): d = 88 8.3e7–1.08e8 / 1.25e8–1.31e8, d = 96
/// 1.07e8–1.12e8 / 1.00e8–1.09e8, d = 100 1.10e8–1.17e8 / 8.0e7–8.2e7, d = 112
/// 9.8e7–1.03e8 / 7.1e7–8.3e7, d = 128 7.8e7–8.7e7 / 7.1e7–7.4e7. (With the sampled texture
/// before it two columns still won at d = 100: 8.6e7 / 9.5e7.)
fn shuffle_cols(d: usize) -> u32 {
    if d <= 92 {
        2
    } else {
        1
    }
}

/// Largest d of `svgd_phi_shuffle` (SHUFFLE_DMAX in tools/gen_svgd_phi.py). Past d = 64 its
/// first build on llvmpipe takes longer (2 cores: about 30 s at d = 100, 50 s at d = 128; Mesa
/// caches the result on disk), for φ about 6x faster than `svgd_phi_gemm` there (n = 16384,
/// d = 100: 7.1e7 against 1.2e7 pairs/s; README, Benchmarks, Past d = 64).
pub const SHUFFLE_DMAX: usize = 128;

/// Largest d of `svgd_phi_shuffle_64` (SHUFFLE_64_DMAX in tools/gen_svgd_phi.py), the same
/// kernel unrolled only that far, which serves d up to it: llvmpipe builds its pipeline in a
/// third of the time, even from Mesa's shader cache (d = 64: 0.55 against 1.7 s at every
/// process start).
pub const SHUFFLE_64_DMAX: usize = 64;

/// Workgroup size of `svgd_phi_shuffle` (a multiple of the subgroup size).
const SHUFFLE_WG: u32 = 64;

/// Rows per invocation of `pair_bracket_shuffle` (4 · BRACKET_SHUFFLE_GROUPS in
/// tools/gen_svgd_phi.py).
const BRACKET_SHUFFLE_ROWS: usize = 8;

/// Largest d of `pair_bracket_shuffle` (BRACKET_SHUFFLE_DMAX in tools/gen_svgd_phi.py): past
/// d = 64 the looped `pair_bracket` reads every coordinate through llvmpipe's lane loop (the
/// median took 23 s of a 27 s step at n = 16384, d = 100, before the shuffle pass served it).
pub const BRACKET_SHUFFLE_DMAX: usize = 128;

/// Rows per invocation of `ksd_shuffle` (4 · KSD_SHUFFLE_GROUPS in tools/gen_svgd_phi.py).
const KSD_SHUFFLE_ROWS: usize = 8;

/// Largest d of `ksd_shuffle` (KSD_SHUFFLE_DMAX in tools/gen_svgd_phi.py). The looped
/// `ksd_rows` reads both coordinates of every pair through llvmpipe's lane loop: a KSD took
/// 13 s at n = 8192, d = 64 (ten SVGD steps' worth) before.
pub const KSD_SHUFFLE_DMAX: usize = 128;

/// The subgroup size `ksd_shuffle` runs with under `layout` for d, where it serves d: d <=
/// [`KSD_SHUFFLE_DMAX`] on the shuffle layout (CPU adapters with subgroups); elsewhere
/// `ksd_rows`.
pub fn ksd_shuffle_size(layout: PhiLayout, d: usize) -> Option<u32> {
    match layout {
        PhiLayout::Shuffle(sg) if d <= KSD_SHUFFLE_DMAX => Some(sg),
        _ => None,
    }
}

/// The subgroup size `pair_bracket_shuffle` runs with under `layout` for d, where it serves
/// d: d <= [`BRACKET_SHUFFLE_DMAX`] on the shuffle layout (CPU adapters with subgroups).
pub fn bracket_shuffle_size(layout: PhiLayout, d: usize) -> Option<u32> {
    match layout {
        PhiLayout::Shuffle(sg) if d <= BRACKET_SHUFFLE_DMAX => Some(sg),
        _ => None,
    }
}

/// Rows and columns of one `svgd_phi_gemm` tile (its workgroup owns GEMM_TILE rows; chunks
/// start at multiples of GEMM_TILE columns).
pub const GEMM_TILE: usize = 64;

/// Workgroup memory of `svgd_phi_gemm` (two arrays of 1024 vec4).
const GEMM_WORKGROUP_BYTES: u32 = 32 * 1024;

/// Output vec4s per sub-pass of `svgd_phi_gemm` (its override DV, a power of two dividing
/// 16): the smallest that covers d, at most 16 (64 dimensions).
pub fn gemm_dims_per_pass(d: usize) -> usize {
    d.div_ceil(4).next_power_of_two().clamp(2, 16)
}

/// Passes (dispatch y) of `svgd_phi_gemm` over the output dimensions, each recomputing the
/// kernel values: one up to d = 256 (four sub-passes of 64 dimensions at most).
pub fn gemm_passes(d: usize) -> usize {
    d.div_ceil(4).div_ceil(4 * gemm_dims_per_pass(d))
}

/// Loop passes of `svgd_phi_gemm` per 64-column tile, at most ⌈d / 32⌉ 46 + 20 + 71 SP.
fn gemm_tile_passes(d: usize) -> u64 {
    d.div_ceil(32) as u64 * 46 + 20 + 71 * gemm_subpasses(d) as u64
}

/// Loop passes of `svgd_phi_gemm` outside its tiles (the kernel's header).
const GEMM_FIXED_PASSES: u64 = 400;

/// Loop passes of one `svgd_phi_pack` invocation: 2⌈d/4⌉ + 1 record vec4, each of the first
/// ⌈d/4⌉ from a loop of 4 coordinates (5 passes with its exit), so 6⌈d/4⌉ + 1, and one spare.
fn pack_passes(d: usize) -> u64 {
    6 * d.div_ceil(4) as u64 + 2
}

/// Sub-passes of `svgd_phi_gemm` sharing one kernel tile (its override SP, 1..4): the
/// output vec4s spread evenly over [`gemm_passes`] (d = 300: two passes of three).
pub fn gemm_subpasses(d: usize) -> usize {
    d.div_ceil(4)
        .div_ceil(gemm_dims_per_pass(d) * gemm_passes(d))
        .clamp(1, 4)
}

/// Particles padded to whole tiles: the column records `svgd_phi_gemm` reads.
pub fn gemm_padded(n: usize) -> usize {
    n.div_ceil(GEMM_TILE) * GEMM_TILE
}

/// Particles padded to whole subgroups: the column records `svgd_phi_shuffle` reads.
pub fn shuffle_padded(n: usize, sg: u32) -> usize {
    n.div_ceil(sg as usize) * sg as usize
}

/// vec4s per column record of `svgd_phi_pack`: u and w (⌈d/4⌉ each), then (e, 0, 0, 0).
pub fn shuffle_record(d: usize) -> usize {
    2 * d.div_ceil(4) + 1
}

/// Texels per row of `svgd_phi_shuffle`'s record texture (its const TEX_W,
/// SHUFFLE_TEXTURE_WIDTH in tools/gen_svgd_phi.py). WebGPU guarantees 8192.
pub const SHUFFLE_TEXTURE_WIDTH: usize = 4096;

/// (width, height) in texels of `x_texture_pack`'s texture for `n` particles in `d`
/// dimensions: ceil(d / 4) texels a particle, row by row, SHUFFLE_TEXTURE_WIDTH wide.
pub fn x_texture_size(n: usize, d: usize) -> (usize, usize) {
    texture_shape(n * d.div_ceil(4))
}

/// (width, height) of a texture that holds `texels` row by row, SHUFFLE_TEXTURE_WIDTH wide.
fn texture_shape(texels: usize) -> (usize, usize) {
    (
        SHUFFLE_TEXTURE_WIDTH,
        texels.div_ceil(SHUFFLE_TEXTURE_WIDTH).max(1),
    )
}

/// The particles as an rgba32float texture, four coordinates a texel (`x_texture_pack`),
/// which the median's sample and bracket passes read on CPU adapters
/// ([`Kernels::median_x_texture`]): there a storage-buffer load whose index differs between
/// lanes is a loop over the lanes, a texel load one gather. The KSD's kernels read such
/// textures too: of x and the score, or of `ksd_pack`'s records (n rows of
/// [`ksd_record_floats`] values; [`KsdRecords`]).
pub struct XTexture {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    n: usize,
    d: usize,
}

impl XTexture {
    /// A texture for `n` particles in `d` dimensions (checked against the device's
    /// max_texture_dimension_2d).
    pub fn new(ctx: &GpuContext, n: usize, d: usize) -> Result<Self> {
        Self::labelled(ctx, ("median", "x texture"), n, d)
    }

    /// The same, named `label` and, in the device-limit error, `what`.
    fn labelled(ctx: &GpuContext, (what, label): (&str, &str), n: usize, d: usize) -> Result<Self> {
        let (texture, view) = rgba32_texture(
            ctx,
            (what, label),
            (n, d),
            x_texture_size(n, d),
            wgpu::TextureUsages::COPY_SRC,
        )?;
        Ok(Self {
            texture,
            view,
            n,
            d,
        })
    }

    /// Bytes of device memory held.
    pub fn bytes(&self) -> u64 {
        texture_bytes(&self.texture)
    }

    /// Checks that the texture was made for `n` particles in `d` dimensions.
    fn holds(&self, what: &str, n: usize, d: usize) -> Result<()> {
        ensure!(
            (self.n, self.d) == (n, d),
            "{what}: the texture holds n = {}, d = {}, not n = {n}, d = {d}",
            self.n,
            self.d
        );
        Ok(())
    }

    /// Reads the texture back: n·ceil(d / 4) texels, 4 floats each, in texel order.
    pub fn read(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        read_rgba32(ctx, &self.texture, 4 * self.n * self.d.div_ceil(4))
    }
}

/// The first `floats` floats of an rgba32float texture made with `COPY_SRC`, texel by texel
/// and row by row, as the kernels address it (submits and waits; for tests and readbacks).
pub fn read_rgba32(ctx: &GpuContext, texture: &wgpu::Texture, floats: usize) -> Result<Vec<f32>> {
    let (width, height) = (texture.width(), texture.height());
    let all = GpuVec::<f32>::zeros(ctx, "texture readback", 4 * (width * height) as usize)?;
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    enc.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &all.buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(16 * width),
                rows_per_image: Some(height),
            },
        },
        texture.size(),
    );
    ctx.queue.submit([enc.finish()]);
    all.read_prefix(ctx, floats)
}

/// Floats of one particle record of `ksd_pack` (2⌈d/4⌉ + 1 vec4: see
/// [`crate::cpu::ksd::ksd_records`]).
pub fn ksd_record_floats(d: usize) -> usize {
    4 * (2 * d.div_ceil(4) + 1)
}

/// Which kernel and form a KSD pass ran ([`Kernels::ksd_rows`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KsdForm {
    /// `ksd_rows`, looped over the dimensions (hardware GPUs).
    Looped,
    /// `ksd_shuffle`: two dot products a pair from `ksd_pack`'s records (CPU adapters).
    Bilinear,
    /// `ksd_shuffle_diff`: the difference form, for particles far from their mean against h.
    Difference,
}

/// Largest max_i ‖x_i − mean‖² / (h·d) for which a KSD on CPU adapters takes the bilinear
/// form. Its rounding is about 1e-7·(2/h)²·‖xc‖² a pair against the Stein kernel's 2d/h, so
/// about 2e-7 ‖xc‖²/(h d) relative; measured (n = 4096 .. 16384, llvmpipe), the KSD² of
/// normal clouds under the median bandwidth (max ‖xc‖²/(h d) ≈ 40 at d = 2, ≈ 0.1 at d = 64)
/// agreed with the difference form to 2.5e-6, and that of two clusters 60 apart holding 80 %
/// and 20 % (the median inside the big one: 1.4e4 at d = 2) differed by 1–3 %.
pub const KSD_BILINEAR_MAX: f64 = 100.0;

/// The form a KSD on CPU adapters takes for particles whose largest squared distance from
/// their mean is `max_nrm`, at bandwidth h in d dimensions ([`KSD_BILINEAR_MAX`]).
pub fn ksd_form(max_nrm: f64, h: f64, d: usize) -> KsdForm {
    if max_nrm <= KSD_BILINEAR_MAX * h * d as f64 {
        KsdForm::Bilinear
    } else {
        KsdForm::Difference
    }
}

/// What one KSD pass ([`Kernels::ksd_rows`]) uses besides x and the score: a uniform per
/// column chunk, the row sums and diagonal terms (NaN-filled when made), and where
/// `ksd_shuffle` serves (n, d) the particle records of its bilinear form (`ksd_pack`'s
/// texture, with the particles' mean, their squared norms and the packing's uniform) and the
/// textures of x and the score its difference form reads.
pub struct KsdBuffers {
    n: usize,
    d: usize,
    params: Vec<GpuUniform<PairParams>>,
    rows: GpuVec<f32>,
    diag: GpuVec<f32>,
    records: Option<KsdRecords>,
    /// The difference form's textures of x and the score, made on its first use: the guard
    /// ([`ksd_form`]) takes it only for clouds far from their mean against h, and at
    /// n = 65 536, d = 64 the two textures hold 33.5 MB.
    diff: Option<KsdDiffTextures>,
    force: Option<KsdForm>,
}

/// `ksd_shuffle_diff`'s textures of x and the score, and the uniforms that pack them.
struct KsdDiffTextures {
    x: XTexture,
    score: XTexture,
    pack: GpuUniform<SelectParams>,
}

impl KsdDiffTextures {
    fn new(ctx: &GpuContext, n: usize, d: usize) -> Result<Self> {
        Ok(Self {
            x: XTexture::labelled(ctx, ("ksd", "ksd x texture"), n, d)?,
            score: XTexture::labelled(ctx, ("ksd", "ksd score texture"), n, d)?,
            pack: GpuUniform::new(ctx, "ksd texture pack", &SelectParams::default()),
        })
    }
}

/// `ksd_shuffle`'s particle records and what packing them takes.
pub struct KsdRecords {
    /// The records, as an [`XTexture`] of n rows of [`ksd_record_floats`] values.
    pub texture: XTexture,
    /// The particles' mean (`svgd_phi_center`), d values.
    pub center: GpuVec<f32>,
    /// n, d and 1/h for `svgd_phi_center` and `ksd_pack`.
    pub params: GpuUniform<PairParams>,
    /// ‖xc_i‖², n values, which the host reads to choose the form ([`ksd_form`]).
    pub norms: GpuVec<f32>,
}

impl KsdRecords {
    /// The records of `n` particles in `d` dimensions (checked against the device's limits).
    pub fn new(ctx: &GpuContext, n: usize, d: usize) -> Result<Self> {
        ctx.check_loop(
            "svgd_phi_center (n / 256 rows per invocation)",
            n.div_ceil(256) as u64 + 10,
        )?;
        ctx.check_loop("ksd_pack (d dimensions per record)", d as u64 + 2)?;
        Ok(Self {
            texture: XTexture::labelled(ctx, ("ksd", "ksd records"), n, ksd_record_floats(d))?,
            center: GpuVec::zeros(ctx, "ksd center", d)?,
            params: GpuUniform::new(ctx, "ksd pack", &PairParams::default()),
            norms: GpuVec::nan_filled(ctx, "ksd norms", n)?,
        })
    }
}

impl KsdBuffers {
    /// The buffers for `n` particles in `d` dimensions on `k`'s device.
    pub fn new(ctx: &GpuContext, k: &Kernels, n: usize, d: usize) -> Result<Self> {
        // The records' texture (n rows of ksd_record_floats(d) >= d values) is checked
        // against the device here; the difference form's textures, of n rows of d values,
        // are no larger, so making them later cannot fail on the device's texture size.
        let records = match k.ksd_shuffle(n, d) {
            Some(_) => Some(KsdRecords::new(ctx, n, d)?),
            None => None,
        };
        Ok(Self {
            n,
            d,
            params: (0..k.ksd_plan(ctx, n, d)?.len())
                .map(|_| GpuUniform::new(ctx, "ksd params", &PairParams::default()))
                .collect(),
            rows: GpuVec::nan_filled(ctx, "ksd rows", n)?,
            diag: GpuVec::nan_filled(ctx, "ksd diag", n)?,
            records,
            diff: None,
            force: None,
        })
    }

    /// Makes later passes on CPU adapters take `form` (Bilinear or Difference) whatever the
    /// particles, for tests and benchmarks; `None` restores the choice by [`ksd_form`].
    pub fn force_form(&mut self, form: Option<KsdForm>) {
        self.force = form;
    }

    /// Bytes of device memory held: O(n·d).
    pub fn device_bytes(&self) -> u64 {
        self.rows.bytes()
            + self.diag.bytes()
            + 32 * self.params.len() as u64
            + self.records.as_ref().map_or(0, |r| {
                r.texture.bytes() + r.center.bytes() + r.norms.bytes() + 32
            })
            + self
                .diff
                .as_ref()
                .map_or(0, |t| t.x.bytes() + t.score.bytes() + 32)
    }

    /// The last pass's row sums `Σ_j u_ij` and diagonal terms `u_ii`.
    pub fn read(&self, ctx: &GpuContext) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((self.rows.read(ctx)?, self.diag.read(ctx)?))
    }
}

/// An rgba32float storage texture of `(width, height)` texels (and `usage` besides storage),
/// after checking the size against the device's max_texture_dimension_2d; `what` names the
/// caller and the texture, `(n, d)` the problem, for the error.
fn rgba32_texture(
    ctx: &GpuContext,
    (what, label): (&str, &str),
    (n, d): (usize, usize),
    (width, height): (usize, usize),
    usage: wgpu::TextureUsages,
) -> Result<(wgpu::Texture, wgpu::TextureView)> {
    let max = ctx.limits.max_texture_dimension_2d as usize;
    ensure!(
        width <= max && height <= max,
        "{what}: n = {n}, d = {d} needs a {width}x{height} texture, over this adapter's \
         max_texture_dimension_2d = {max}; use fewer particles"
    );
    let texture = ctx.device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width: width as u32,
            height: height as u32,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba32Float,
        usage: wgpu::TextureUsages::STORAGE_BINDING | usage,
        view_formats: &[],
    });
    let view = texture.create_view(&Default::default());
    Ok((texture, view))
}

/// Bytes of an rgba32float texture.
fn texture_bytes(t: &wgpu::Texture) -> u64 {
    16 * u64::from(t.width()) * u64::from(t.height())
}

/// (width, height) in texels of `svgd_phi_shuffle`'s rgba32float record texture for `n`
/// particles in `d` dimensions and subgroup size `sg`: the column records row by row, the
/// last row's tail unwritten (zero). `svgd_phi_pack` writes them there (override TEXTURE), and
/// `svgd_phi_shuffle` reads them as a read-only storage texture: llvmpipe fetches texels with
/// a branch-free gather, where a storage-buffer vec4 costs a loop of 32 bounds-checked scalar
/// loads (see the generator).
pub fn shuffle_texture_size(n: usize, d: usize, sg: u32) -> (usize, usize) {
    texture_shape(shuffle_padded(n, sg) * shuffle_record(d))
}

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

/// Bins of `pair_histogram` (its const BINS).
pub const HISTOGRAM_BINS: usize = 1024;

/// Column chunks `[j_begin, j_end)` of at most `cols` columns, with first/last flags.
pub fn chunk_plan(n: usize, cols: usize) -> Vec<(u32, u32, u32)> {
    let cols = cols.max(1);
    let count = n.div_ceil(cols).max(1);
    (0..count)
        .map(|c| {
            let b = c * cols;
            let e = (b + cols).min(n);
            let flags = u32::from(c == 0) | (u32::from(c + 1 == count) << 1);
            (b as u32, e as u32, flags)
        })
        .collect()
}

/// Columns per chunk so one invocation of `what` stays within the device's loop budget.
/// `per_column` counts passes through loop ends, as llvmpipe's limiter does: the column
/// loop's own pass, every inner iteration, and each inner loop's exit pass (its last check
/// runs the body's end once more with no lane active). Refused where even one column does
/// not fit (at d past about 30 000 to 60 000 on llvmpipe, by kernel), which before
/// 2026-12-01 went ahead with one column a chunk and came back truncated.
pub fn chunk_columns(
    ctx: &GpuContext,
    what: &str,
    per_column: u64,
    fixed: u64,
    cap: Option<usize>,
) -> Result<usize> {
    ctx.check_loop(what, fixed.saturating_add(per_column))?;
    let budget = ctx.loop_budget().saturating_sub(fixed);
    let cols = (budget / per_column.max(1)).max(1) as usize;
    Ok(cap.map_or(cols, |c| cols.min(c.max(1))))
}

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

/// Per-dispatch uniforms and device scratch of φ for one (n, d): O(n·d).
pub struct PhiScratch {
    variant: PhiVariant,
    chunks: Vec<(u32, u32, u32)>,
    params: Vec<GpuUniform<PairParams>>,
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
        let params = (0..chunks.len())
            .map(|_| GpuUniform::new(ctx, "phi params", &PairParams::default()))
            .collect();
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
            params,
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
            + 32 * self.params.len() as u64
    }

    /// Number of column chunks (dispatches per φ).
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }
}

/// Cache key of [`Kernels::by_dim_with`]: kernel, d, further overrides.
type DimKey = (&'static str, usize, String);

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
    /// Pipelines specialised on d (override D), built on first use: the unrolled φ
    /// variants and `pair_bracket`.
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
            gmm_score: Kernel::new(ctx, &shader::GMM_SCORE, &[U, R, R, W], 64)?,
            gaussian_score: Kernel::new(ctx, &shader::GAUSSIAN_SCORE, &[U, R, R, W], 64)?,
            svgd_phi_kblock: Kernel::new(ctx, &shader::SVGD_PHI_KBLOCK, &[U, R, W], 64)?,
            svgd_phi_krho: Kernel::new(ctx, &shader::SVGD_PHI_KRHO, &[U, R, W], 64)?,
            svgd_phi_kacc: Kernel::new(ctx, &shader::SVGD_PHI_KACC, &[U, R, R, R, R, W, W], 64)?,
            svgd_phi_center: Kernel::new(ctx, &shader::SVGD_PHI_CENTER, &[U, R, W], 256)?,
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
            ksd_pack: Kernel::new(
                ctx,
                &shader::KSD_PACK,
                &[U, R, R, R, Binding::TextureWrite, W],
                64,
            )?,
            by_dim: Default::default(),
            chunk_cap: None,
            phi_layout: PhiLayout::default_for(ctx),
            phi_gemm: PhiLayout::gemm_fits(ctx),
            texture_rows: ctx.limits.max_texture_dimension_2d as usize,
            loop_limit: ctx.loop_limit(),
            ksd_rows: Kernel::new(ctx, &shader::KSD_ROWS, &[U, R, R, W, W], 64)?,
            mmd_rows: Kernel::new(ctx, &shader::MMD_ROWS, &[U, R, W], 64)?,
            pair_sample: Kernel::new(ctx, &shader::PAIR_SAMPLE, &[U, R, W], 64)?,
            pair_sample_texture: Kernel::new(
                ctx,
                &shader::PAIR_SAMPLE_TEXTURE,
                &[U, Binding::Texture, W],
                64,
            )?,
            x_texture_pack: Kernel::new(
                ctx,
                &shader::X_TEXTURE_PACK,
                &[U, R, Binding::TextureWrite],
                64,
            )?,
            update_sgd: Kernel::new(ctx, &shader::UPDATE_SGD, &[U, R, W], 256)?,
            update_adagrad: Kernel::new(ctx, &shader::UPDATE_ADAGRAD, &[U, R, W, W], 256)?,
            update_adam: Kernel::new(ctx, &shader::UPDATE_ADAM, &[U, R, W, W, W], 256)?,
            langevin_step: Kernel::new(ctx, &shader::LANGEVIN_STEP, &[U, R, W], 256)?,
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

    /// Records `score = ∇ log p(x)` for the packed mixture `mix` with `k` components.
    #[allow(clippy::too_many_arguments)]
    pub fn record_gmm_score(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        params: &GpuUniform<GmmParams>,
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
        params.set(
            ctx,
            &GmmParams {
                n: n as u32,
                d: d as u32,
                k: k as u32,
                _pad: 0,
            },
        );
        let g = self.gmm_score.groups_for(ctx, n)?;
        self.gmm_score.record(
            ctx,
            enc,
            &[&params.buffer, &x.buffer, &mix.buffer, &score.buffer],
            g,
        )
    }

    /// Records `score = P(μ − x)` for the packed `pm = [P (d×d), μ (d)]`.
    #[allow(clippy::too_many_arguments)]
    pub fn record_gaussian_score(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        params: &GpuUniform<GmmParams>,
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
        params.set(
            ctx,
            &GmmParams {
                n: n as u32,
                d: d as u32,
                k: 1,
                _pad: 0,
            },
        );
        let g = self.gaussian_score.groups_for(ctx, n * d)?;
        self.gaussian_score.record(
            ctx,
            enc,
            &[&params.buffer, &x.buffer, &pm.buffer, &score.buffer],
            g,
        )
    }

    /// The pipeline of `spec` specialised on `D = d` (cached).
    pub fn by_dim(
        &self,
        ctx: &GpuContext,
        spec: &shader::ShaderSpec,
        bindings: &[Binding],
        wg: u32,
        d: usize,
    ) -> Result<std::sync::Arc<Kernel>> {
        self.by_dim_with(ctx, spec, bindings, wg, d, &[])
    }

    /// [`Kernels::by_dim`] with further overrides (part of the cache key).
    pub fn by_dim_with(
        &self,
        ctx: &GpuContext,
        spec: &shader::ShaderSpec,
        bindings: &[Binding],
        wg: u32,
        d: usize,
        extra: &[(&str, f64)],
    ) -> Result<std::sync::Arc<Kernel>> {
        let mut map = self
            .by_dim
            .lock()
            .map_err(|_| anyhow::anyhow!("{}: pipeline cache poisoned", spec.name))?;
        let key = (spec.name, d, format!("{extra:?}"));
        if let Some(k) = map.get(&key) {
            return Ok(k.clone());
        }
        let k = std::sync::Arc::new(Kernel::with_constants(
            ctx,
            spec,
            bindings,
            wg,
            &[&[("D", d as f64)], extra].concat(),
        )?);
        map.insert(key, k.clone());
        Ok(k)
    }

    /// Records `phi = φ(x)` for bandwidth `h`: one dispatch per column chunk of `scratch`'s
    /// plan, with the unrolled kernel for d <= 64 and the looped one beyond.
    #[allow(clippy::too_many_arguments)]
    pub fn record_svgd_phi(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        scratch: &PhiScratch,
        phi: &GpuVec<f32>,
        (n, d): (usize, usize),
        h: f64,
    ) -> Result<()> {
        check_nd("svgd_phi", n, d, &[x, score, phi])?;
        ensure!(
            h > 0.0 && h.is_finite(),
            "svgd_phi: bandwidth h = {h} must be positive and finite"
        );
        ensure!(
            scratch.n == n && scratch.d == d,
            "svgd_phi: scratch planned for n = {}, d = {}",
            scratch.n,
            scratch.d
        );
        if scratch.variant == PhiVariant::General {
            let nd = n
                .checked_mul(d)
                .filter(|&v| v <= u32::MAX as usize)
                .context("svgd_phi: n·d too large")?;
            let g_acc = self.svgd_phi_kacc.groups_for(ctx, nd)?;
            let g_rho = self.svgd_phi_krho.groups_for(ctx, n)?;
            for (&(j_begin, j_end, flags), params) in scratch.chunks.iter().zip(&scratch.params) {
                params.set(
                    ctx,
                    &PairParams {
                        j_begin,
                        j_end,
                        flags,
                        ..pair_params(n, d, h)
                    },
                );
                let g_k = self
                    .svgd_phi_kblock
                    .groups_for(ctx, n * (j_end - j_begin) as usize)?;
                self.svgd_phi_kblock.record(
                    ctx,
                    enc,
                    &[&params.buffer, &x.buffer, &scratch.kblock.buffer],
                    g_k,
                )?;
                self.svgd_phi_krho.record(
                    ctx,
                    enc,
                    &[&params.buffer, &scratch.kblock.buffer, &scratch.rho.buffer],
                    g_rho,
                )?;
                self.svgd_phi_kacc.record(
                    ctx,
                    enc,
                    &[
                        &params.buffer,
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
        // svgd_phi_shuffle and svgd_phi_gemm read the centred column records (the shuffle
        // kernel from a texture).
        let records = scratch.variant.record_rows(n);
        let bindings: &[Binding] = match (records, &scratch.records) {
            (Some(_), Some(_)) => &[U, R, R, Binding::Texture, W, W],
            (Some(_), None) => &[U, R, R, R, W, W],
            _ => &[U, R, R, W, W],
        };
        let kernel = self.by_dim_with(ctx, spec, bindings, wg, d, &extra)?;
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
        let aux = records.unwrap_or(0) as u32;
        for (&(j_begin, j_end, flags), params) in scratch.chunks.iter().zip(&scratch.params) {
            params.set(
                ctx,
                &PairParams {
                    j_begin,
                    j_end,
                    flags,
                    aux,
                    ..pair_params(n, d, h)
                },
            );
        }
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
                &scratch.params[0],
                x,
                score,
                &scratch.center,
                target,
                (n, d, aux as usize),
            )?;
        }
        for params in &scratch.params {
            let (u, x, out) = (&params.buffer, &x.buffer, &scratch.scratch.buffer);
            let resources: Vec<wgpu::BindingResource> = match records {
                Some(_) => vec![
                    u.as_entire_binding(),
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
                    u.as_entire_binding(),
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
    /// both reading n, d, 1/h and aux = `padded` from `params`. References: [`crate::cpu::svgd::centre`],
    /// [`crate::cpu::svgd::shuffle_records`].
    #[allow(clippy::too_many_arguments)]
    pub fn record_phi_columns(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        params: &GpuUniform<PairParams>,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
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
        self.svgd_phi_center.record(
            ctx,
            enc,
            &[&params.buffer, &x.buffer, &center.buffer],
            (ctx.check_groups("svgd_phi_center", d as u64)?, 1, 1),
        )?;
        ctx.check_loop("svgd_phi_pack (one particle's record)", pack_passes(d))?;
        // The binding not written gets a placeholder.
        let (texture, pack, view) = match records {
            PhiRecords::Buffer(pack) => (0.0, pack, &self.pack_placeholder.1 .1),
            PhiRecords::Texture(_, view) => (1.0, &self.pack_placeholder.0, view),
        };
        let kernel = self.by_dim_with(
            ctx,
            &shader::SVGD_PHI_PACK,
            &[U, R, R, R, W, Binding::TextureWrite],
            64,
            d,
            &[("TEXTURE", texture)],
        )?;
        let groups = kernel.groups_for(ctx, padded)?;
        kernel.record_resources(
            ctx,
            enc,
            &[
                params.buffer.as_entire_binding(),
                x.buffer.as_entire_binding(),
                score.buffer.as_entire_binding(),
                center.buffer.as_entire_binding(),
                pack.buffer.as_entire_binding(),
                wgpu::BindingResource::TextureView(view),
            ],
            groups,
        )
    }

    /// [`Kernels::record_svgd_phi`] with the bandwidth taken from the device: `h` holds
    /// (h, 1/h) (as [`crate::median::BatchMedian`] writes it), copied into each chunk's
    /// uniform inside the encoder, so no readback is needed.
    #[allow(clippy::too_many_arguments)]
    pub fn record_svgd_phi_device_h(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        scratch: &PhiScratch,
        phi: &GpuVec<f32>,
        (n, d): (usize, usize),
        h: &GpuVec<f32>,
    ) -> Result<()> {
        ensure!(h.len >= 2, "svgd_phi: the bandwidth buffer holds (h, 1/h)");
        // PairParams.inv_h sits at byte 8; the queue's uniform writes of this submit land
        // before the encoder runs, so the copies override the placeholder bandwidth.
        for u in &scratch.params {
            enc.copy_buffer_to_buffer(&h.buffer, 4, &u.buffer, 8, 4);
        }
        self.record_svgd_phi(ctx, enc, x, score, scratch, phi, (n, d), 1.0)
    }

    /// Runs the KSD row sums `rows[i] = Σ_j u_ij` and diagonal terms `diag[i] = u_ii` into
    /// `bufs` (made for the same n and d), one dispatch per column chunk (see
    /// [`Kernels::ksd_plan`]), after what `enc` holds (the score, say); submits. On CPU adapters
    /// it first packs `ksd_pack`'s records and reads back the particles' squared norms to
    /// choose the form ([`ksd_form`]): one more submit and a readback of n floats.
    pub fn ksd_rows(
        &self,
        ctx: &GpuContext,
        mut enc: wgpu::CommandEncoder,
        bufs: &mut KsdBuffers,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        h: f64,
    ) -> Result<KsdForm> {
        let (n, d) = (bufs.n, bufs.d);
        check_nd("ksd_rows", n, d, &[x, score])?;
        ensure!(
            h > 0.0 && h.is_finite(),
            "ksd: bandwidth h = {h} must be positive and finite"
        );
        let plan = self.ksd_plan(ctx, n, d)?;
        ensure!(
            bufs.params.len() >= plan.len(),
            "ksd_rows: {} uniforms for {} chunks",
            bufs.params.len(),
            plan.len()
        );
        // On CPU adapters with subgroups ksd_shuffle (bilinear, from ksd_pack's records) or
        // ksd_shuffle_diff (from textures of x and the score); else the looped ksd_rows.
        let (form, kernel, textures) = match (self.ksd_shuffle(n, d), &bufs.records) {
            (Some(sg), Some(r)) => {
                // Unless a form is forced, the records are packed first: the form depends on
                // their norms.
                let mut packed = false;
                let form = match bufs.force {
                    Some(f) if f != KsdForm::Looped => f,
                    _ => {
                        self.record_ksd_pack(ctx, &mut enc, r, x, score, h)?;
                        packed = true;
                        ctx.queue.submit([enc.finish()]);
                        enc = ctx.device.create_command_encoder(&Default::default());
                        let max = r.norms.read(ctx)?.iter().fold(0.0f64, |m, &v| {
                            if v.is_nan() {
                                f64::INFINITY
                            } else {
                                m.max(f64::from(v))
                            }
                        });
                        ksd_form(max, h, d)
                    }
                };
                let sg = [("SG", f64::from(sg))];
                if form == KsdForm::Bilinear {
                    if !packed {
                        self.record_ksd_pack(ctx, &mut enc, r, x, score, h)?;
                    }
                    let k = self.by_dim_with(
                        ctx,
                        &shader::KSD_SHUFFLE,
                        &[U, Binding::Texture, W, W],
                        64,
                        d,
                        &sg,
                    )?;
                    (form, Some(k), vec![&r.texture.view])
                } else {
                    if bufs.diff.is_none() {
                        bufs.diff = Some(KsdDiffTextures::new(ctx, n, d)?);
                    }
                    let t = bufs
                        .diff
                        .as_ref()
                        .context("ksd: difference-form textures")?;
                    let (xt, st) = (&t.x, &t.score);
                    self.record_x_texture(ctx, &mut enc, &t.pack, x, xt)?;
                    self.record_x_texture(ctx, &mut enc, &t.pack, score, st)?;
                    let k = self.by_dim_with(
                        ctx,
                        &shader::KSD_SHUFFLE_DIFF,
                        &[U, R, R, W, W, Binding::Texture, Binding::Texture],
                        64,
                        d,
                        &sg,
                    )?;
                    (form, Some(k), vec![&xt.view, &st.view])
                }
            }
            (None, None) => (KsdForm::Looped, None, vec![]),
            _ => anyhow::bail!("ksd_rows: the buffers were made for another device"),
        };
        let g = match &kernel {
            Some(_) => (
                ctx.check_groups("ksd_shuffle", n.div_ceil(KSD_SHUFFLE_ROWS * 64) as u64)?,
                1,
                1,
            ),
            None => self.ksd_rows.groups_for(ctx, n)?,
        };
        for (&(j_begin, j_end, flags), u) in plan.iter().zip(&bufs.params) {
            u.set(
                ctx,
                &PairParams {
                    j_begin,
                    j_end,
                    flags,
                    ..pair_params(n, d, h)
                },
            );
            // Bindings: the bilinear kernel reads the records texture in place of x and the
            // score; the difference form reads both and their textures.
            let (rows, diag) = (
                bufs.rows.buffer.as_entire_binding(),
                bufs.diag.buffer.as_entire_binding(),
            );
            let view = |i: usize| wgpu::BindingResource::TextureView(textures[i]);
            let res = match form {
                KsdForm::Bilinear => vec![u.buffer.as_entire_binding(), view(0), rows, diag],
                KsdForm::Difference | KsdForm::Looped => {
                    let mut res = vec![
                        u.buffer.as_entire_binding(),
                        x.buffer.as_entire_binding(),
                        score.buffer.as_entire_binding(),
                        rows,
                        diag,
                    ];
                    res.extend((0..textures.len()).map(view));
                    res
                }
            };
            match &kernel {
                Some(k) => k.record_resources(ctx, &mut enc, &res, g)?,
                None => self.ksd_rows.record_resources(ctx, &mut enc, &res, g)?,
            }
        }
        ctx.queue.submit([enc.finish()]);
        Ok(form)
    }

    /// Records `svgd_phi_center` and `ksd_pack`: the particle records of `ksd_shuffle` for x,
    /// the score and bandwidth h into `r` (made for x's n and d). Reference:
    /// [`crate::cpu::ksd::ksd_records`].
    pub fn record_ksd_pack(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        r: &KsdRecords,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        h: f64,
    ) -> Result<()> {
        let (n, d) = (r.texture.n, r.center.len);
        r.texture.holds("ksd_pack", n, ksd_record_floats(d))?;
        check_nd("ksd_pack", n, d, &[x, score])?;
        r.params.set(ctx, &pair_params(n, d, h));
        self.svgd_phi_center.record(
            ctx,
            enc,
            &[&r.params.buffer, &x.buffer, &r.center.buffer],
            (ctx.check_groups("svgd_phi_center", d as u64)?, 1, 1),
        )?;
        let g = self
            .ksd_pack
            .groups_for(ctx, n * ksd_record_floats(d) / 4)?;
        self.ksd_pack.record_resources(
            ctx,
            enc,
            &[
                r.params.buffer.as_entire_binding(),
                x.buffer.as_entire_binding(),
                score.buffer.as_entire_binding(),
                r.center.buffer.as_entire_binding(),
                wgpu::BindingResource::TextureView(&r.texture.view),
                r.norms.buffer.as_entire_binding(),
            ],
            g,
        )
    }

    /// Column chunks of `mmd_rows` over `total` particles in d dimensions (MMD's two samples
    /// together, or a generator batch's row sums): per column the column loop's pass, d
    /// dimension passes and the dimension loop's exit pass.
    pub fn mmd_plan(
        &self,
        ctx: &GpuContext,
        total: usize,
        d: usize,
    ) -> Result<Vec<(u32, u32, u32)>> {
        Ok(chunk_plan(
            total,
            chunk_columns(ctx, "mmd_rows", d as u64 + 2, 100, self.chunk_cap)?,
        ))
    }

    /// Column chunks of `ksd_rows` (or `ksd_shuffle`) for (n, d).
    pub fn ksd_plan(&self, ctx: &GpuContext, n: usize, d: usize) -> Result<Vec<(u32, u32, u32)>> {
        if let Some(sg) = self.ksd_shuffle(n, d) {
            // Per SG columns the group loop's pass and the lane loop's SG + 1, and per BLOCK
            // (128) columns two more: SG + 3 per SG columns bounds them all.
            return self.subgroup_plan(ctx, "ksd_shuffle", n, sg, u64::from(sg) + 3);
        }
        // Per column: the column loop's pass, d dimension passes and the dimension loop's
        // exit pass (llvmpipe counts it too).
        Ok(chunk_plan(
            n,
            chunk_columns(
                ctx,
                "ksd_rows",
                d as u64 + 2,
                d as u64 + 100,
                self.chunk_cap,
            )?,
        ))
    }

    /// Column chunks of `pair_bracket` for (n, d).
    pub fn bracket_plan(
        &self,
        ctx: &GpuContext,
        n: usize,
        d: usize,
    ) -> Result<Vec<(u32, u32, u32)>> {
        if let Some(sg) = self.bracket_shuffle(n, d) {
            // Passes through loop ends per SG columns: the group loop's one and the lane
            // loop's SG + 1 (its exit pass counts too, see PhiScratch::new), and per column
            // the list loop's at most one a row and its exit.
            let lists = u64::from(sg) * (BRACKET_SHUFFLE_ROWS as u64 + 1);
            return self.subgroup_plan(
                ctx,
                "pair_bracket_shuffle",
                n,
                sg,
                u64::from(sg) + 2 + lists,
            );
        }
        // Per column: the column loop's pass, and past d = 64 the dimension loop's d - 1
        // passes and its exit pass.
        let per = if d <= 64 { 1 } else { d as u64 + 1 };
        Ok(chunk_plan(
            n,
            chunk_columns(ctx, "pair_bracket", per, 100, self.chunk_cap)?,
        ))
    }

    /// Column chunks of a kernel that walks the columns SG at a time (`pair_bracket_shuffle`,
    /// `ksd_shuffle`), `per_group` loop passes per SG columns: whole groups per chunk, except
    /// where the tests' chunk cap cuts them (those kernels take any chunk bounds).
    fn subgroup_plan(
        &self,
        ctx: &GpuContext,
        what: &str,
        n: usize,
        sg: u32,
        per_group: u64,
    ) -> Result<Vec<(u32, u32, u32)>> {
        let cols = sg as usize * chunk_columns(ctx, what, per_group, 100, None)?;
        Ok(chunk_plan(
            n,
            self.chunk_cap.map_or(cols, |c| cols.min(c.max(1))),
        ))
    }

    /// The subgroup size `pair_bracket_shuffle` runs with, where it serves (n, d): d up to
    /// BRACKET_SHUFFLE_DMAX and the x texture it reads within the device's limit.
    fn bracket_shuffle(&self, n: usize, d: usize) -> Option<u32> {
        bracket_shuffle_size(self.phi_layout, d)
            .filter(|_| x_texture_size(n, d).1 <= self.texture_rows)
    }

    /// The subgroup size `ksd_shuffle` runs with, where it serves (n, d): d up to
    /// KSD_SHUFFLE_DMAX and the textures it reads within the device's limit.
    pub fn ksd_shuffle(&self, n: usize, d: usize) -> Option<u32> {
        ksd_shuffle_size(self.phi_layout, d)
            .filter(|_| x_texture_size(n, ksd_record_floats(d)).1 <= self.texture_rows)
    }

    /// Whether the median's passes for (n, d) read x from an [`XTexture`] (on CPU adapters
    /// with subgroups, where `pair_bracket_shuffle` serves d): the caller makes one and
    /// records [`Kernels::record_x_texture`] before them.
    pub fn median_x_texture(&self, n: usize, d: usize) -> bool {
        self.bracket_shuffle(n, d).is_some()
    }

    /// Records `x_texture_pack`: x `[n, d]` into `xt` (made for the same n and d).
    pub fn record_x_texture(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        params: &GpuUniform<SelectParams>,
        x: &GpuVec<f32>,
        xt: &XTexture,
    ) -> Result<()> {
        check_nd("x_texture_pack", xt.n, xt.d, &[x])?;
        params.set(
            ctx,
            &SelectParams {
                n: xt.n as u32,
                d: xt.d as u32,
                ..Default::default()
            },
        );
        let g = self
            .x_texture_pack
            .groups_for(ctx, xt.n * xt.d.div_ceil(4))?;
        self.x_texture_pack.record_resources(
            ctx,
            enc,
            &[
                params.buffer.as_entire_binding(),
                x.buffer.as_entire_binding(),
                wgpu::BindingResource::TextureView(&xt.view),
            ],
            g,
        )
    }

    /// Column chunks of `pair_histogram` for (n, d) (its coordinates are looped past d = 4).
    pub fn histogram_plan(
        &self,
        ctx: &GpuContext,
        n: usize,
        d: usize,
    ) -> Result<Vec<(u32, u32, u32)>> {
        // Per column: the column loop's pass, the four-row bin loop's 4 + 1 (its exit pass
        // counts too) and past d = 4 the dimension loop's d - 1 + 1.
        let per = if d <= 4 { 6 } else { d as u64 + 6 };
        Ok(chunk_plan(
            n,
            chunk_columns(ctx, "pair_histogram", per, 100, self.chunk_cap)?,
        ))
    }

    /// Records the per-workgroup histogram of the distances in `[p.lo, p.hi]` (BINS = 1024
    /// bins in f32 bit space, slot 1024 = count below lo) into `hist`
    /// (`ceil(n / 256) · 1025` values), one dispatch per chunk of
    /// [`Kernels::histogram_plan`], each with its own uniform from `params`.
    pub fn record_pair_histogram(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        params: &[GpuUniform<SelectParams>],
        p: SelectParams,
        x: &GpuVec<f32>,
        hist: &GpuVec<u32>,
    ) -> Result<()> {
        let (n, d) = (p.n as usize, p.d as usize);
        ensure!(n >= 1 && d >= 1, "pair_histogram: needs n >= 1 and d >= 1");
        let groups = n.div_ceil(4 * 64);
        ensure!(
            hist.len >= groups * (HISTOGRAM_BINS + 1),
            "pair_histogram: histogram buffer too short"
        );
        let plan = self.histogram_plan(ctx, n, d)?;
        ensure!(
            params.len() >= plan.len(),
            "pair_histogram: {} uniforms for {} chunks",
            params.len(),
            plan.len()
        );
        let kernel = self.by_dim(ctx, &shader::PAIR_HISTOGRAM, &[U, R, W], 64, d)?;
        let g = ctx.check_groups("pair_histogram", groups as u64)?;
        for (&(j_begin, j_end, flags), u) in plan.iter().zip(params) {
            u.set(
                ctx,
                &SelectParams {
                    j_begin,
                    j_end,
                    flags,
                    ..p
                },
            );
            kernel.record(ctx, enc, &[&u.buffer, &x.buffer, &hist.buffer], (g, 1, 1))?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    /// Records one elementwise update of `x` along `phi`. `state` holds the optimizer's
    /// buffers: none (SGD), `[G]` (AdaGrad) or `[m, v]` (Adam).
    pub fn record_update(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        params: &GpuUniform<UpdateParams>,
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
        params.set(ctx, &p);
        let (kernel, mut bufs) = match state.len() {
            0 => (
                &self.update_sgd,
                vec![&params.buffer, &phi.buffer, &x.buffer],
            ),
            1 => (
                &self.update_adagrad,
                vec![&params.buffer, &phi.buffer, &x.buffer],
            ),
            _ => (
                &self.update_adam,
                vec![&params.buffer, &phi.buffer, &x.buffer],
            ),
        };
        bufs.extend(state.iter().map(|b| &b.buffer));
        let g = kernel.groups_for(ctx, len)?;
        kernel.record(ctx, enc, &bufs, g)
    }

    /// Records `pair_sample`: `out[t]` = squared distance of the hashed pair `t`; with `xt`
    /// (x packed by [`Kernels::record_x_texture`]) `pair_sample_texture`, the same floats.
    #[allow(clippy::too_many_arguments)]
    pub fn record_pair_sample(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        params: &GpuUniform<SelectParams>,
        p: SelectParams,
        x: &GpuVec<f32>,
        xt: Option<&XTexture>,
        out: &GpuVec<f32>,
    ) -> Result<()> {
        ensure!(p.n >= 2, "pair_sample: needs n >= 2");
        ctx.check_loop("pair_sample (d coordinates a pair)", u64::from(p.d) + 2)?;
        ensure!(
            out.len >= p.samples as usize,
            "pair_sample: output shorter than the sample"
        );
        params.set(ctx, &p);
        let g = self.pair_sample.groups_for(ctx, p.samples as usize)?;
        match xt {
            None => self
                .pair_sample
                .record(ctx, enc, &[&params.buffer, &x.buffer, &out.buffer], g),
            Some(t) => {
                t.holds("pair_sample", p.n as usize, p.d as usize)?;
                self.pair_sample_texture.record_resources(
                    ctx,
                    enc,
                    &[
                        params.buffer.as_entire_binding(),
                        wgpu::BindingResource::TextureView(&t.view),
                        out.buffer.as_entire_binding(),
                    ],
                    g,
                )
            }
        }
    }

    /// Records `pair_bracket` in count (`p.mode = 0`) or list (`p.mode = 1`) mode, one
    /// dispatch per column chunk (`params` holds one uniform per chunk of
    /// [`Kernels::bracket_plan`]).
    #[allow(clippy::too_many_arguments)]
    pub fn record_pair_bracket(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        params: &[GpuUniform<SelectParams>],
        p: SelectParams,
        x: &GpuVec<f32>,
        xt: Option<&XTexture>,
        offsets: &GpuVec<u32>,
        counts: &GpuVec<u32>,
        out: &GpuVec<f32>,
    ) -> Result<()> {
        let (n, d) = (p.n as usize, p.d as usize);
        let blocks = n.div_ceil(self.bracket_block_rows(n, d)) as u32;
        self.record_pair_bracket_blocks(
            ctx,
            enc,
            params,
            p,
            0..blocks,
            (x, xt),
            offsets,
            counts,
            out,
        )
    }

    /// Rows per workgroup of the pair_bracket kernel for (n, d) (a row block: block b holds
    /// rows [b·rows, (b + 1)·rows)).
    pub fn bracket_block_rows(&self, n: usize, d: usize) -> usize {
        64 * if self.bracket_shuffle(n, d).is_some() {
            BRACKET_SHUFFLE_ROWS
        } else {
            4
        }
    }

    /// [`Kernels::record_pair_bracket`] over the rows of the row blocks `blocks` only (see
    /// [`Kernels::bracket_block_rows`]); the other rows' counts and list slots are left alone.
    #[allow(clippy::too_many_arguments)]
    pub fn record_pair_bracket_blocks(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        params: &[GpuUniform<SelectParams>],
        p: SelectParams,
        blocks: std::ops::Range<u32>,
        (x, xt): (&GpuVec<f32>, Option<&XTexture>),
        offsets: &GpuVec<u32>,
        counts: &GpuVec<u32>,
        out: &GpuVec<f32>,
    ) -> Result<()> {
        let (n, d) = (p.n as usize, p.d as usize);
        ensure!(n >= 1 && d >= 1, "pair_bracket: needs n >= 1 and d >= 1");
        ensure!(
            offsets.len >= n && counts.len >= 2 * n,
            "pair_bracket: row buffers shorter than n"
        );
        let plan = self.bracket_plan(ctx, n, d)?;
        ensure!(
            params.len() >= plan.len(),
            "pair_bracket: {} uniforms for {} chunks",
            params.len(),
            plan.len()
        );
        let sg = self.bracket_shuffle(n, d);
        match (sg, xt) {
            (Some(_), None) => anyhow::bail!(
                "pair_bracket_shuffle reads x from an XTexture for n = {n}, d = {d}; none was given"
            ),
            (Some(_), Some(t)) => t.holds("pair_bracket_shuffle", n, d)?,
            _ => {}
        }
        let spec = match (d, sg) {
            (_, Some(_)) => &shader::PAIR_BRACKET_SHUFFLE,
            (5..=16, _) => &shader::PAIR_BRACKET_MID,
            (17..=64, _) => &shader::PAIR_BRACKET_WIDE,
            _ => &shader::PAIR_BRACKET,
        };
        let extra: Vec<(&str, f64)> = sg.map(|sg| ("SG", f64::from(sg))).into_iter().collect();
        let bindings: &[Binding] = if sg.is_some() {
            &[U, R, R, W, W, Binding::Texture]
        } else {
            &[U, R, R, W, W]
        };
        let kernel = self.by_dim_with(ctx, spec, bindings, 64, d, &extra)?;
        let all = n.div_ceil(self.bracket_block_rows(n, d)) as u32;
        ensure!(
            blocks.start < blocks.end && blocks.end <= all,
            "pair_bracket: row blocks {blocks:?} outside 0..{all}"
        );
        let g = ctx.check_groups("pair_bracket", u64::from(blocks.end - blocks.start))?;
        for (&(j_begin, j_end, flags), u) in plan.iter().zip(params) {
            u.set(
                ctx,
                &SelectParams {
                    j_begin,
                    j_end,
                    flags,
                    block0: blocks.start,
                    ..p
                },
            );
            let mut resources = vec![
                u.buffer.as_entire_binding(),
                x.buffer.as_entire_binding(),
                offsets.buffer.as_entire_binding(),
                counts.buffer.as_entire_binding(),
                out.buffer.as_entire_binding(),
            ];
            if let (Some(_), Some(t)) = (sg, xt) {
                resources.push(wgpu::BindingResource::TextureView(&t.view));
            }
            kernel.record_resources(ctx, enc, &resources, (g, 1, 1))?;
        }
        Ok(())
    }
}

impl Kernels {
    /// Records one Langevin step x ← x + (η/2)·score + √η·ξ with ξ_e = normal(key, e)
    /// (`cpu::hash::normal`); `params` must not be rewritten before this submit.
    pub fn record_langevin(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        params: &GpuUniform<LangevinParams>,
        (eta, key): (f64, u32),
        score: &GpuVec<f32>,
        x: &GpuVec<f32>,
    ) -> Result<()> {
        ensure!(
            eta > 0.0 && eta.is_finite(),
            "Langevin step size η = {eta} must be positive and finite"
        );
        ensure!(score.len >= x.len, "langevin_step: score shorter than x");
        params.set(
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
            .record(ctx, enc, &[&params.buffer, &score.buffer, &x.buffer], g)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest d a generated kernel unrolls, from its header ("D = d (1..N)").
    fn unrolled_dmax(spec: &shader::ShaderSpec) -> Option<usize> {
        let src = spec.source();
        let at = src.find("D = d (1..")? + "D = d (1..".len();
        src[at..].split(')').next()?.parse().ok()
    }

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
        // n = 16384, d = 64: 16384 records of 33 texels, 132 rows of 4096.
        assert_eq!(shuffle_texture_size(16384, 64, 8), (4096, 132));
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

    /// The same for the KSD's `ksd_shuffle`, which also serves d = 1..4.
    #[test]
    fn the_ksd_shuffle_covers_the_dimensions_it_is_given() {
        let dmax = unrolled_dmax(&shader::KSD_SHUFFLE).expect("header");
        assert_eq!(dmax, KSD_SHUFFLE_DMAX);
        for d in 1..=300 {
            let got = ksd_shuffle_size(PhiLayout::Shuffle(8), d);
            assert_eq!(got.is_some(), d <= dmax, "d = {d}");
            for layout in [PhiLayout::Lane, PhiLayout::Tiled, PhiLayout::Gemm] {
                assert_eq!(ksd_shuffle_size(layout, d), None);
            }
        }
    }

    /// The same for the median's `pair_bracket_shuffle`.
    #[test]
    fn the_shuffle_bracket_covers_the_dimensions_it_is_given() {
        let dmax = unrolled_dmax(&shader::PAIR_BRACKET_SHUFFLE).expect("header");
        for d in 1..=300 {
            if bracket_shuffle_size(PhiLayout::Shuffle(8), d).is_some() {
                assert!(d <= dmax, "d = {d} to pair_bracket_shuffle (1..{dmax})");
            }
        }
        assert_eq!(dmax, BRACKET_SHUFFLE_DMAX);
    }
}
