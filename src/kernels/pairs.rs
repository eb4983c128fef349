//! The median's pair passes (`pair_sample`, `pair_bracket`, `pair_histogram`, `x_texture_pack`,
//! `batch_median`): one host wrapper per kernel; [`crate::median`] runs the selection
//! algorithm on them. f64 references in [`crate::cpu::median`].

use anyhow::{ensure, Context, Result};

use super::phi::PhiLayout;
use super::plan::*;
use super::texture::{x_texture_size, XTexture};
use super::{check_nd, Kernels};
use crate::gpu::params::{FinishParams, SelectParams};
use crate::gpu::shader;
use crate::gpu::{GpuContext, GpuVec, Recorder};

/// Rows per invocation of `pair_bracket_shuffle` (4 · BRACKET_SHUFFLE_GROUPS in
/// src/gpu/generate.rs).
pub(crate) const BRACKET_SHUFFLE_ROWS: usize = 8;

/// Largest d of `pair_bracket_shuffle` (BRACKET_SHUFFLE_DMAX in src/gpu/generate.rs): past
/// d = 64 the looped `pair_bracket` reads every coordinate through llvmpipe's lane loop (the
/// median took 23 s of a 27 s step at n = 16384, d = 100, before the shuffle pass served it).
pub const BRACKET_SHUFFLE_DMAX: usize = 128;

/// The subgroup size `pair_bracket_shuffle` runs with under `layout` for d, where it serves
/// d: d <= [`BRACKET_SHUFFLE_DMAX`] on the shuffle layout (CPU adapters with subgroups).
pub fn bracket_shuffle_size(layout: PhiLayout, d: usize) -> Option<u32> {
    match layout {
        PhiLayout::Shuffle(sg) if d <= BRACKET_SHUFFLE_DMAX => Some(sg),
        _ => None,
    }
}

/// Bins of `pair_histogram` (its const BINS).
pub const HISTOGRAM_BINS: usize = 2048;

/// Where a pass over the pairs finds what the device median's stages wrote
/// ([`crate::median::DeviceMedian`]): its bracket [lo, hi] as two f32 at byte `bracket` of
/// `st` (copied into each dispatch's uniform inside the encoder), and for the passes that run
/// only when needed, their workgroup counts at byte `args.1` of `args.0` (indirect).
#[derive(Clone, Copy)]
pub struct DeviceBracket<'a> {
    /// The state buffer.
    pub st: &'a wgpu::Buffer,
    /// Byte offset of (lo, hi) in it.
    pub bracket: u64,
    /// Indirect dispatch arguments (buffer, byte offset).
    pub args: Option<(&'a wgpu::Buffer, u64)>,
}

impl DeviceBracket<'_> {
    /// Copies (lo, hi) into `SelectParams::lo, hi` of the uniform slot `u` (the arena's
    /// upload lands before the encoder runs, so the pass reads the copy).
    fn copy_bracket(&self, enc: &mut Recorder, u: &crate::gpu::UniformSlot) {
        let lo = std::mem::offset_of!(SelectParams, lo) as u64;
        enc.copy_buffer_to_buffer(self.st, self.bracket, u.buffer(), u.offset() + lo, 8);
    }
}

impl Kernels {
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

    /// The subgroup size `pair_bracket_shuffle` runs with, where it serves (n, d): d up to
    /// BRACKET_SHUFFLE_DMAX and the x texture it reads within the device's limit.
    fn bracket_shuffle(&self, n: usize, d: usize) -> Option<u32> {
        bracket_shuffle_size(self.phi_layout, d)
            .filter(|_| x_texture_size(n, d).1 <= self.texture_rows)
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
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        xt: &XTexture,
    ) -> Result<()> {
        check_nd("x_texture_pack", xt.n, xt.d, &[x])?;
        let params = enc.uniform(
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
                params.binding(),
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

    /// Records the per-workgroup histogram of the distances in `[p.lo, p.hi]`
    /// ([`HISTOGRAM_BINS`] bins in f32 bit space, the slot after them the count below lo) into
    /// `hist`
    /// (`ceil(n / 256) · (HISTOGRAM_BINS + 1)` values), one dispatch per chunk of
    /// [`Kernels::histogram_plan`], each with its own uniform slot.
    /// `dev`: the bracket and the workgroup counts where the device left them
    /// ([`DeviceBracket`]), instead of `p.lo`, `p.hi` and the full grid.
    pub fn record_pair_histogram(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        p: SelectParams,
        x: &GpuVec<f32>,
        hist: &GpuVec<u32>,
        dev: Option<DeviceBracket>,
    ) -> Result<()> {
        let (n, d) = (p.n as usize, p.d as usize);
        ensure!(n >= 1 && d >= 1, "pair_histogram: needs n >= 1 and d >= 1");
        let groups = n.div_ceil(4 * 64);
        ensure!(
            hist.len >= groups * (HISTOGRAM_BINS + 1),
            "pair_histogram: histogram buffer too short"
        );
        let plan = self.histogram_plan(ctx, n, d)?;
        let kernel = self.by_dim(ctx, &shader::PAIR_HISTOGRAM, 64, d)?;
        let g = ctx.check_groups("pair_histogram", groups as u64)?;
        for &(j_begin, j_end, flags) in &plan {
            let u = enc.uniform(
                ctx,
                &SelectParams {
                    j_begin,
                    j_end,
                    flags,
                    ..p
                },
            );
            let resources = [
                u.binding(),
                x.buffer.as_entire_binding(),
                hist.buffer.as_entire_binding(),
            ];
            match &dev {
                None => kernel.record_resources(ctx, enc, &resources, (g, 1, 1))?,
                Some(dev) => {
                    dev.copy_bracket(enc, &u);
                    let (args, at) = dev.args.context("pair_histogram: no indirect arguments")?;
                    kernel.record_indirect(ctx, enc, &resources, args, at)?;
                }
            }
        }
        Ok(())
    }

    /// Records `pair_sample`: `out[t]` = squared distance of the hashed pair `t`; with `xt`
    /// (x packed by [`Kernels::record_x_texture`]) `pair_sample_texture`, the same floats.
    #[allow(clippy::too_many_arguments)]
    pub fn record_pair_sample(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
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
        let params = enc.uniform(ctx, &p);
        let g = self.pair_sample.groups_for(ctx, p.samples as usize)?;
        match xt {
            None => self
                .pair_sample
                .record_with(ctx, enc, &params, &[&x.buffer, &out.buffer], g),
            Some(t) => {
                t.holds("pair_sample", p.n as usize, p.d as usize)?;
                self.pair_sample_texture.record_resources(
                    ctx,
                    enc,
                    &[
                        params.binding(),
                        wgpu::BindingResource::TextureView(&t.view),
                        out.buffer.as_entire_binding(),
                    ],
                    g,
                )
            }
        }
    }

    /// Records `pair_bracket` in count (`p.mode = 0`) or list (`p.mode = 1`) mode, one
    /// dispatch per column chunk of [`Kernels::bracket_plan`], each with its own uniform slot.
    #[allow(clippy::too_many_arguments)]
    pub fn record_pair_bracket(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        p: SelectParams,
        x: &GpuVec<f32>,
        xt: Option<&XTexture>,
        offsets: &GpuVec<u32>,
        counts: &GpuVec<u32>,
        out: &GpuVec<f32>,
    ) -> Result<()> {
        let (n, d) = (p.n as usize, p.d as usize);
        let blocks = n.div_ceil(self.bracket_block_rows(n, d)) as u32;
        self.record_pair_bracket_blocks(ctx, enc, p, 0..blocks, (x, xt), offsets, counts, out, None)
    }

    /// Records `batch_median`: the exact median bandwidth of a batch of `n` rows in `d`
    /// dimensions from the `m` = n(n−1)/2 pair distances `pair_bracket` listed into `list`,
    /// (h, 1/h) into `h` (one workgroup). Kernel `batch_median.wgsl`; reference
    /// [`crate::cpu::median::bandwidth_from_median`] of [`crate::cpu::median`]'s median.
    pub fn record_batch_median(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        (n, d, m): (usize, usize, usize),
        list: &GpuVec<f32>,
        h: &GpuVec<f32>,
    ) -> Result<()> {
        ensure!(
            list.len >= m.max(1) && h.len >= 2,
            "batch_median: needs {m} listed distances and room for (h, 1/h)"
        );
        let kernel = self.cached(ctx, &shader::BATCH_MEDIAN, 256, &[])?;
        let params = enc.uniform(
            ctx,
            &SelectParams {
                n: n as u32,
                d: d as u32,
                samples: m as u32,
                ..Default::default()
            },
        );
        kernel.record_with(ctx, enc, &params, &[&list.buffer, &h.buffer], (1, 1, 1))
    }

    /// Records `median_finish`: the median bandwidth of `n` particles from the selected order
    /// statistics' bits in `sel` (v0 <= v1, the two middle values of the n² squared distances
    /// for even n; v0 alone for odd n) into `out` as (h, 1/h): exactly the f32s
    /// `from_median(med, n) as f32` and `(1.0 / h) as f32` of the host's f64 (NaN for both
    /// where an order statistic is NaN, infinite or negative). Kernel `median_finish.wgsl`;
    /// reference [`crate::bandwidth::from_median`].
    pub fn record_median_finish(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        n: usize,
        sel: &GpuVec<u32>,
        out: &GpuVec<f32>,
    ) -> Result<()> {
        let values = 2 - n % 2;
        ensure!(
            n >= 1 && n <= u32::MAX as usize && sel.len >= values && out.len >= 2,
            "median_finish: needs 1 <= n < 2^32, {values} order statistics and room for (h, 1/h)"
        );
        let ln = crate::bandwidth::log_n1(n).to_bits();
        let kernel = self.cached(ctx, &shader::MEDIAN_FINISH, 1, &[])?;
        let params = enc.uniform(
            ctx,
            &FinishParams {
                n: n as u32,
                ln_hi: (ln >> 32) as u32,
                ln_lo: ln as u32,
                _pad: 0,
            },
        );
        kernel.record_with(ctx, enc, &params, &[&sel.buffer, &out.buffer], (1, 1, 1))
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
    /// `dev`: the bracket where the device left it ([`DeviceBracket`]), instead of `p.lo` and
    /// `p.hi`; with its `args`, each chunk's dispatch is indirect (the device median's second
    /// list pass: `blocks`' workgroups where a stage asked for them, else none).
    #[allow(clippy::too_many_arguments)]
    pub fn record_pair_bracket_blocks(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        p: SelectParams,
        blocks: std::ops::Range<u32>,
        (x, xt): (&GpuVec<f32>, Option<&XTexture>),
        offsets: &GpuVec<u32>,
        counts: &GpuVec<u32>,
        out: &GpuVec<f32>,
        dev: Option<DeviceBracket>,
    ) -> Result<()> {
        let (n, d) = (p.n as usize, p.d as usize);
        ensure!(n >= 1 && d >= 1, "pair_bracket: needs n >= 1 and d >= 1");
        ensure!(
            offsets.len >= n && counts.len >= 2 * n,
            "pair_bracket: row buffers shorter than n"
        );
        let plan = self.bracket_plan(ctx, n, d)?;
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
        let kernel = self.by_dim_with(ctx, spec, 64, d, &extra)?;
        let all = n.div_ceil(self.bracket_block_rows(n, d)) as u32;
        ensure!(
            blocks.start < blocks.end && blocks.end <= all,
            "pair_bracket: row blocks {blocks:?} outside 0..{all}"
        );
        let g = ctx.check_groups("pair_bracket", u64::from(blocks.end - blocks.start))?;
        for &(j_begin, j_end, flags) in &plan {
            let u = enc.uniform(
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
                u.binding(),
                x.buffer.as_entire_binding(),
                offsets.buffer.as_entire_binding(),
                counts.buffer.as_entire_binding(),
                out.buffer.as_entire_binding(),
            ];
            if let (Some(_), Some(t)) = (sg, xt) {
                resources.push(wgpu::BindingResource::TextureView(&t.view));
            }
            if let Some(dev) = &dev {
                dev.copy_bracket(enc, &u);
            }
            match dev.and_then(|dev| dev.args) {
                Some((args, at)) => kernel.record_indirect(ctx, enc, &resources, args, at)?,
                None => kernel.record_resources(ctx, enc, &resources, (g, 1, 1))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::unrolled_dmax;

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
