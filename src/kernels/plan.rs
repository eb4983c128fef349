//! Chunk planning: column chunks that keep one invocation within the device's loop budget,
//! and the padding and pass counts of the tiled φ kernels.

use anyhow::Result;

use super::Kernels;
use crate::gpu::GpuContext;

/// Rows and columns of one `svgd_phi_gemm` tile (its workgroup owns GEMM_TILE rows; chunks
/// start at multiples of GEMM_TILE columns).
pub const GEMM_TILE: usize = 64;

/// Workgroup memory of `svgd_phi_gemm` (two arrays of 1024 vec4).
pub(crate) const GEMM_WORKGROUP_BYTES: u32 = 32 * 1024;

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
pub(crate) fn gemm_tile_passes(d: usize) -> u64 {
    d.div_ceil(32) as u64 * 46 + 20 + 71 * gemm_subpasses(d) as u64
}

/// Loop passes of `svgd_phi_gemm` outside its tiles (the kernel's header).
pub(crate) const GEMM_FIXED_PASSES: u64 = 400;

/// Loop passes of one `svgd_phi_pack` invocation: 2⌈d/4⌉ + 1 record vec4, each of the first
/// ⌈d/4⌉ from a loop of 4 coordinates (5 passes with its exit), so 6⌈d/4⌉ + 1, and one spare.
pub(crate) fn pack_passes(d: usize) -> u64 {
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
/// not fit (at d past about 30 000 to 60 000 on llvmpipe, by kernel): going ahead with one
/// column a chunk there comes back truncated.
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

impl Kernels {
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

    /// Column chunks of a kernel that walks the columns SG at a time (`pair_bracket_shuffle`,
    /// `ksd_shuffle`), `per_group` loop passes per SG columns: whole groups per chunk, except
    /// where the tests' chunk cap cuts them (those kernels take any chunk bounds).
    pub(crate) fn subgroup_plan(
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
}
