//! The kernelized Stein discrepancy's row sums: buffers, records, forms and the `ksd_rows`
//! passes. Kernels `shaders/kernels/ksd_{rows,pack,shuffle,shuffle_diff}.wgsl`; f64
//! reference [`crate::cpu::ksd`].

use anyhow::{ensure, Context, Result};

use super::phi::PhiLayout;
use super::plan::*;
use super::texture::{x_texture_size, XTexture};
use super::{check_nd, pair_params, Kernels};
use crate::gpu::params::PairParams;
use crate::gpu::shader;
use crate::gpu::{GpuContext, GpuVec, Recorder};

/// Rows per invocation of `ksd_shuffle` (4 · KSD_SHUFFLE_GROUPS in src/gpu/generate.rs).
pub(crate) const KSD_SHUFFLE_ROWS: usize = 8;

/// Largest d of `ksd_shuffle` (KSD_SHUFFLE_DMAX in src/gpu/generate.rs). The looped
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
    /// Column chunks of one pass ([`Kernels::ksd_plan`]), one uniform slot each.
    chunks: usize,
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
}

impl KsdDiffTextures {
    fn new(ctx: &GpuContext, n: usize, d: usize) -> Result<Self> {
        Ok(Self {
            x: XTexture::labelled(ctx, ("ksd", "ksd x texture"), n, d)?,
            score: XTexture::labelled(ctx, ("ksd", "ksd score texture"), n, d)?,
        })
    }
}

/// `ksd_shuffle`'s particle records and what packing them takes.
pub struct KsdRecords {
    /// The records, as an [`XTexture`] of n rows of [`ksd_record_floats`] values.
    pub texture: XTexture,
    /// The particles' mean (`svgd_phi_center`), d values.
    pub center: GpuVec<f32>,
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
            chunks: k.ksd_plan(ctx, n, d)?.len(),
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
            + 32 * self.chunks as u64
            + self.records.as_ref().map_or(0, |r| {
                // + the packing's uniform
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

impl Kernels {
    /// Runs the KSD row sums `rows[i] = Σ_j u_ij` and diagonal terms `diag[i] = u_ii` into
    /// `bufs` (made for the same n and d), one dispatch per column chunk (see
    /// [`Kernels::ksd_plan`]), after what `enc` holds (the score, say); submits. On CPU adapters
    /// it first packs `ksd_pack`'s records and reads back the particles' squared norms to
    /// choose the form ([`ksd_form`]): one more submit and a readback of n floats.
    pub fn ksd_rows(
        &self,
        ctx: &GpuContext,
        mut enc: Recorder,
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
                        std::mem::replace(&mut enc, Recorder::new(ctx)).submit(ctx);
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
                    let k = self.by_dim_with(ctx, &shader::KSD_SHUFFLE, 64, d, &sg)?;
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
                    self.record_x_texture(ctx, &mut enc, x, xt)?;
                    self.record_x_texture(ctx, &mut enc, score, st)?;
                    let k = self.by_dim_with(ctx, &shader::KSD_SHUFFLE_DIFF, 64, d, &sg)?;
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
        for &(j_begin, j_end, flags) in &plan {
            let u = enc.uniform(
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
                KsdForm::Bilinear => vec![u.binding(), view(0), rows, diag],
                KsdForm::Difference | KsdForm::Looped => {
                    let mut res = vec![
                        u.binding(),
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
        enc.submit(ctx);
        Ok(form)
    }

    /// Records `svgd_phi_center` and `ksd_pack`: the particle records of `ksd_shuffle` for x,
    /// the score and bandwidth h into `r` (made for x's n and d). Reference:
    /// [`crate::cpu::ksd::ksd_records`].
    pub fn record_ksd_pack(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        r: &KsdRecords,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        h: f64,
    ) -> Result<()> {
        let (n, d) = (r.texture.n, r.center.len);
        r.texture.holds("ksd_pack", n, ksd_record_floats(d))?;
        check_nd("ksd_pack", n, d, &[x, score])?;
        let params = enc.uniform(ctx, &pair_params(n, d, h));
        self.svgd_phi_center.record_with(
            ctx,
            enc,
            &params,
            &[&x.buffer, &r.center.buffer],
            (ctx.check_groups("svgd_phi_center", d as u64)?, 1, 1),
        )?;
        let g = self
            .ksd_pack
            .groups_for(ctx, n * ksd_record_floats(d) / 4)?;
        self.ksd_pack.record_resources(
            ctx,
            enc,
            &[
                params.binding(),
                x.buffer.as_entire_binding(),
                score.buffer.as_entire_binding(),
                r.center.buffer.as_entire_binding(),
                wgpu::BindingResource::TextureView(&r.texture.view),
                r.norms.buffer.as_entire_binding(),
            ],
            g,
        )
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

    /// The subgroup size `ksd_shuffle` runs with, where it serves (n, d): d up to
    /// KSD_SHUFFLE_DMAX and the textures it reads within the device's limit.
    pub fn ksd_shuffle(&self, n: usize, d: usize) -> Option<u32> {
        ksd_shuffle_size(self.phi_layout, d)
            .filter(|_| x_texture_size(n, ksd_record_floats(d)).1 <= self.texture_rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::unrolled_dmax;

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
}
