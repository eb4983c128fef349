//! Scores beyond the built-in targets: a target written in WGSL by the user ([`WgslScore`]),
//! a score computed on the host by a Rust closure ([`HostScore`]), the hook for models
//! whose gradient lives outside stein (NumPy, JAX or PyTorch through the Python package),
//! and the Bayesian models of algorithms.md §5 ([`LogisticScore`], [`BnnScore`]).

use std::cell::{Cell, RefCell};

use anyhow::{bail, ensure, Context, Result};

use crate::gpu::params::{BnnParams, LogisticParams};
use crate::gpu::pipeline::Kernel;
use crate::gpu::shader::{BNN_SCORE, BNN_SCORE_D, LOGISTIC_SCORE, LOGISTIC_SCORE_D};
use crate::gpu::{GpuContext, GpuVec, Recorder};
use crate::io::target::{Bnn, Logistic, WgslTarget};
use crate::kernels::wgsl_target::WgslKernels;
use crate::kernels::Kernels;
use crate::svgd::Score;

/// The score of a target written in WGSL: the user's `grad_log_p` run once per particle in
/// stein's kernel (docs/targets.md). Its mistakes at run time (an index past `dim` or past a
/// data array, a coordinate left unset, a NaN or infinite score) are kept in a flag on the
/// device and reported by [`Score::check`], naming the first step and particle.
pub struct WgslScore {
    kernels: WgslKernels,
    after_steps: Cell<u64>,
}

impl WgslScore {
    /// Uploads the target's data and builds its score pipeline.
    pub fn new(ctx: &GpuContext, target: &WgslTarget) -> Result<Self> {
        Ok(Self {
            kernels: WgslKernels::new(ctx, target)?,
            after_steps: Cell::new(0),
        })
    }

    /// The target.
    pub fn target(&self) -> &WgslTarget {
        self.kernels.target()
    }

    /// The user's `log_p` at each row of `x` (`[rows, d]`), read back.
    pub fn log_p(&self, ctx: &GpuContext, x: &[f32]) -> Result<Vec<f32>> {
        self.kernels.log_p(ctx, x)
    }
}

impl Score for WgslScore {
    fn dim(&self) -> usize {
        self.kernels.target().dim
    }
    fn record(
        &self,
        ctx: &GpuContext,
        _k: &Kernels,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        n: usize,
    ) -> Result<()> {
        let steps = self.after_steps.get();
        self.kernels.record_score(ctx, enc, x, score, n, steps)
    }
    fn device_bytes(&self) -> u64 {
        self.kernels.device_bytes() + 16
    }
    fn set_steps(&self, steps: u64) {
        self.after_steps.set(steps);
    }
    fn check(&self, ctx: &GpuContext) -> Result<()> {
        self.kernels.check(ctx, "grad_log_p")
    }
}

/// A score computed on the host: `f(x, score)` receives the particles `x` (`[n, d]`,
/// row-major) and fills `score` (`[n, d]`, given filled with NaN, so a coordinate the closure
/// does not write is caught) with ∇ log p, or returns an error, which the step returns.
///
/// Cost per evaluation (once per step, and once per KSD): the work recorded so far is
/// submitted, the particles are read back (one wait on the device and n·d·4 bytes down), the
/// closure runs, and the score is uploaded (n·d·4 bytes up). The rest of the step (φ, the
/// update) stays one submit on the device. A non-finite score is refused at once, naming the
/// particle, coordinate and step.
///
/// ```no_run
/// use stein::score::HostScore;
/// // N(0, I) in 3 dimensions: ∇ log p(x) = −x.
/// let score = HostScore::new(3, |x: &[f32], s: &mut [f32]| {
///     for (s, x) in s.iter_mut().zip(x) {
///         *s = -x;
///     }
///     Ok(())
/// });
/// # let _ = score;
/// ```
pub struct HostScore<F> {
    d: usize,
    f: RefCell<F>,
    after_steps: Cell<u64>,
}

impl<F: FnMut(&[f32], &mut [f32]) -> Result<()>> HostScore<F> {
    /// The score of a target in `d` dimensions computed by `f`.
    pub fn new(d: usize, f: F) -> Self {
        Self {
            d,
            f: RefCell::new(f),
            after_steps: Cell::new(0),
        }
    }
}

impl<F: FnMut(&[f32], &mut [f32]) -> Result<()>> Score for HostScore<F> {
    fn dim(&self) -> usize {
        self.d
    }
    fn record(
        &self,
        ctx: &GpuContext,
        _k: &Kernels,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        n: usize,
    ) -> Result<()> {
        let d = self.d;
        crate::kernels::check_nd("host score", n, d, &[x, score])?;
        // What was recorded before may write x: submit it, and record on afresh.
        std::mem::replace(enc, Recorder::new(ctx)).submit(ctx);
        let xs = x.read_prefix(ctx, n * d)?;
        let steps = self.after_steps.get();
        // Particles that left the floats are the run's divergence, not the closure's fault
        // (the median, on the device, no longer looks at them on the host).
        if let Some(j) = xs.iter().position(|v| !v.is_finite()) {
            return Err(crate::run::Diverged(format!(
                "particles diverged to {} (particle {} after {steps} steps); lower the step size",
                xs[j],
                j / d
            ))
            .into());
        }
        let mut s = vec![f32::NAN; n * d];
        let mut f = self
            .f
            .try_borrow_mut()
            .context("host score: the closure was called from inside itself")?;
        f(&xs, &mut s).with_context(|| format!("host score after {steps} steps"))?;
        if let Some(j) = s.iter().position(|v| !v.is_finite()) {
            bail!(
                "host score: {} at particle {} coordinate {} after {steps} steps (the first non-finite value); check the closure there",
                s[j],
                j / d,
                j % d
            );
        }
        // Queued: lands before the submit of `enc`, which holds what reads the score.
        score.write(ctx, &s)
    }
    fn set_steps(&self, steps: u64) {
        self.after_steps.set(steps);
    }
    fn on_host(&self) -> bool {
        true
    }
}

/// Largest d for which the logistic score takes `logistic_score_d`, the kernel specialised on
/// d with w and the gradient in registers; past it, `logistic_score` with a runtime d.
pub const LOGISTIC_D_MAX: usize = 64;

/// Checks that the logistic score's loops fit one invocation on this adapter. Per minibatch
/// row: `logistic_score_d` (d <= [`LOGISTIC_D_MAX`]) 2·d + 1 passes, counted as if the
/// compiler unrolled none; `logistic_score` 2·dw + 2, the tile loads (m·d / 64, one per tile
/// more), and the prior's dw.
pub fn check_logistic_score_loops(ctx: &GpuContext, t: &Logistic) -> Result<()> {
    let (m, d) = (t.batch as u64, t.dim() as u64);
    let passes = if t.dim() <= LOGISTIC_D_MAX {
        (2 * m + 2) * d + m + 1
    } else {
        let tiles = m.div_ceil((4096 / d).max(1));
        m * (2 * d + 2) + (m * d).div_ceil(64) + 2 * tiles + 2 * d + 4
    };
    ctx.check_loop(
        &format!("logistic_score ({m} rows a minibatch at d = {d}; --score-batch sets the rows)"),
        passes,
    )
}

/// The score of Bayesian logistic regression (algorithms.md §5.1) on the device: one
/// invocation per particle; up to d = [`LOGISTIC_D_MAX`] a kernel specialised on d keeps w
/// and the gradient in registers and reads each value of the minibatch's rows once, past it
/// the rows are shared through workgroup memory. The minibatch of each step comes from the
/// step count the engine sets ([`Score::set_steps`]), passed in the dispatch's uniform:
/// nothing is read back.
pub struct LogisticScore {
    target: Logistic,
    kernel: Kernel,
    rows: GpuVec<f32>,
    after_steps: Cell<u64>,
}

impl LogisticScore {
    /// Uploads the rows (in the permutation's order) and builds the pipeline.
    pub fn new(ctx: &GpuContext, target: &Logistic) -> Result<Self> {
        check_logistic_score_loops(ctx, target)?;
        ensure!(
            u32::try_from(target.rows * target.dim()).is_ok(),
            "{}: the data has too many values for u32 indices; use fewer rows",
            target.origin
        );
        let d = target.dim();
        let kernel = if d <= LOGISTIC_D_MAX {
            Kernel::with_constants(ctx, &LOGISTIC_SCORE_D, 64, &[("D", d as f64)])?
        } else {
            Kernel::new(ctx, &LOGISTIC_SCORE, 64)?
        };
        Ok(Self {
            target: target.clone(),
            kernel,
            rows: GpuVec::from_slice(ctx, "logistic rows", &target.device_rows())?,
            after_steps: Cell::new(0),
        })
    }
}

impl Score for LogisticScore {
    fn dim(&self) -> usize {
        self.target.dim()
    }
    fn record(
        &self,
        ctx: &GpuContext,
        _k: &Kernels,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        n: usize,
    ) -> Result<()> {
        let t = &self.target;
        let d = t.dim();
        crate::kernels::check_nd("logistic_score", n, d, &[x, score])?;
        let params = enc.uniform(
            ctx,
            &LogisticParams {
                n: u32::try_from(n).context("logistic_score: more than 2^32 particles")?,
                d: d as u32,
                rows: t.rows as u32,
                batch: t.batch as u32,
                begin: t.batch_begin(self.after_steps.get()) as u32,
                scale: (t.rows as f64 / t.batch as f64) as f32,
                a0: t.a0 as f32,
                b0: t.b0 as f32,
            },
        );
        let g = self.kernel.groups_for(ctx, n)?;
        self.kernel.record_with(
            ctx,
            enc,
            &params,
            &[&x.buffer, &self.rows.buffer, &score.buffer],
            g,
        )
    }
    fn device_bytes(&self) -> u64 {
        self.rows.bytes() + 32
    }
    fn set_steps(&self, steps: u64) {
        self.after_steps.set(steps);
    }
}

/// Workgroup size of `bnn_score` (one workgroup per particle).
const BNN_WG: u64 = 64;

/// Floats of `bnn_score`'s row tile in workgroup memory: a row takes d + 1 + H of them.
pub const BNN_TILE: usize = 3904;

/// Loop passes of `bnn_score`'s busiest invocation (the first: it owns the most hidden units
/// and rows, and sums the partials), every loop's exit counted, for m rows a minibatch at d
/// inputs and H hidden units. Follows the kernel's loops one by one.
pub fn bnn_score_passes(m: usize, d: usize, h: usize) -> u64 {
    let (m, d, h, wg) = (m as u64, d as u64, h as u64, BNN_WG);
    let w = d + 1;
    let per_tile = (BNN_TILE as u64 / (w + h)).max(1);
    let units = h.div_ceil(wg);
    // The prior, the tile loop's exit, the final sum of the partials.
    let mut passes = units * (d + 1) + units + 1 + 1 + wg + 1;
    let mut r0 = 0;
    while r0 < m {
        let c = per_tile.min(m - r0);
        let own_rows = c.div_ceil(wg);
        passes += 1 // the tile loop
            + (c * w).div_ceil(wg) + 1 // the load
            + units + 1 + units * ((c + 1) + c * (d + 1)) // forward
            + own_rows + 1 + own_rows * (h + 1) // residuals
            + units + 1 + units * ((c + 1) + (d + 1) + d * (c + 1)); // backward
        r0 += per_tile;
    }
    passes
}

/// Checks that `bnn_score` can run the target on this adapter: a row of d inputs, the response
/// and H hidden values fits its workgroup tile, and its loops fit one invocation
/// ([`bnn_score_passes`], about 2·m·(d + 1)·ceil(H/64) passes).
pub fn check_bnn_score(ctx: &GpuContext, t: &Bnn) -> Result<()> {
    let (m, d, h) = (t.batch, t.d, t.hidden);
    ensure!(
        d + 1 + h <= BNN_TILE,
        "{}: bnn_score keeps a row's {d} inputs, response and {h} hidden values in workgroup memory, {} floats past its {BNN_TILE}; use fewer \"hidden\" units or input columns",
        t.origin,
        d + 1 + h
    );
    ctx.check_loop(
        &format!(
            "bnn_score ({m} rows a minibatch at d = {d}, {h} hidden units; --score-batch sets the rows)"
        ),
        bnn_score_passes(m, d, h),
    )
}

/// Largest input width d for which the bnn score takes `bnn_score_d`, the kernel specialised
/// on d (its W1 column and gradient in registers, the rows read from a texture); past it, or
/// past [`BNN_H_MAX`] hidden units, `bnn_score`.
pub const BNN_D_MAX: usize = 64;

/// Largest number of hidden units `bnn_score_d` takes: one per invocation of its workgroup.
pub const BNN_H_MAX: usize = 64;

/// Rows of a tile of `bnn_score_d` (its const TILE).
const BNN_D_TILE: u64 = 63;

/// Loop passes of `bnn_score_d`'s busiest invocation (the first: it sums the partials), every
/// loop's exit counted and none taken as unrolled, for m rows a minibatch at d inputs and H
/// hidden units. Follows the kernel's loops one by one.
pub fn bnn_score_d_passes(m: usize, d: usize, h: usize) -> u64 {
    let (m, d, h) = (m as u64, d as u64, h as u64);
    let d4 = d / 4 + 1;
    // The W1 column (d4 texels of 4), the write-out (the same), the final sum of the partials.
    let column = d4 * 5 + 1;
    let mut passes = 2 * column + 64 + 1 + 1; // and the tile loop's exit
    let mut r0 = 0;
    while r0 < m {
        let c = BNN_D_TILE.min(m - r0);
        passes += 1 // the tile loop
            + c + 1 + c * (d4 + 1) // forward
            + h + 1 // residuals
            + c + 1 + c * 2 * (d4 + 1); // backward
        r0 += BNN_D_TILE;
    }
    passes
}

/// Whether `bnn_score_d` takes the target on this adapter: d <= [`BNN_D_MAX`], H <=
/// [`BNN_H_MAX`], its loops fit one invocation and its row texture the device.
fn bnn_score_d_fits(ctx: &GpuContext, t: &Bnn) -> bool {
    let texels = t.rows * (t.d / 4 + 1);
    let (width, height) = crate::kernels::texture_shape(texels);
    let max = ctx.limits.max_texture_dimension_2d as usize;
    t.d <= BNN_D_MAX
        && t.hidden <= BNN_H_MAX
        && width <= max
        && height <= max
        && ctx.loop_fits(bnn_score_d_passes(t.batch, t.d, t.hidden))
}

/// The training rows as `bnn_score_d` reads them: an rgba32float texture, d/4 + 1 texels a
/// row (the d inputs, the response, zeros), row by row in the permutation's order.
struct BnnRowTexture {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
}

impl BnnRowTexture {
    fn new(ctx: &GpuContext, t: &Bnn) -> Result<Self> {
        let w = t.d + 1;
        let d4 = t.d / 4 + 1;
        let (width, height) = crate::kernels::texture_shape(t.rows * d4);
        let (texture, view) = crate::kernels::rgba32_texture(
            ctx,
            ("bnn_score_d", "bnn row texture"),
            (t.rows, w),
            (width, height),
            wgpu::TextureUsages::COPY_DST,
        )?;
        let mut texels = vec![0f32; 4 * width * height];
        for (r, row) in t.device_rows().chunks_exact(w).enumerate() {
            texels[4 * d4 * r..4 * d4 * r + w].copy_from_slice(row);
        }
        ctx.queue.write_texture(
            texture.as_image_copy(),
            bytemuck::cast_slice(&texels),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(16 * width as u32),
                rows_per_image: Some(height as u32),
            },
            texture.size(),
        );
        Ok(Self { texture, view })
    }
}

/// Where `bnn_score`'s rows live: a buffer for `bnn_score`, a texture for `bnn_score_d`.
enum BnnRows {
    Buffer(GpuVec<f32>),
    Texture(BnnRowTexture),
}

/// The score of Bayesian neural network regression (algorithms.md §5.2) on the device: one
/// workgroup per particle. Up to d = [`BNN_D_MAX`] inputs and H = [`BNN_H_MAX`] hidden units,
/// `bnn_score_d` gives each invocation one hidden unit with its weights and their gradient in
/// registers and reads the rows from a texture; past either, `bnn_score` shares the hidden
/// units and the minibatch's rows through workgroup memory (the kernels' headers say why). The
/// minibatch of each step comes from the step count the engine sets ([`Score::set_steps`]),
/// passed in the dispatch's uniform: nothing is read back.
pub struct BnnScore {
    target: Bnn,
    kernel: Kernel,
    rows: BnnRows,
    after_steps: Cell<u64>,
}

impl BnnScore {
    /// Uploads the training rows (in the permutation's order) and builds the pipeline.
    pub fn new(ctx: &GpuContext, target: &Bnn) -> Result<Self> {
        ensure!(
            u32::try_from(target.rows * (target.d + 1)).is_ok(),
            "{}: the data has too many values for u32 indices; use fewer rows",
            target.origin
        );
        let (kernel, rows) = if bnn_score_d_fits(ctx, target) {
            (
                Kernel::with_constants(
                    ctx,
                    &BNN_SCORE_D,
                    BNN_WG as u32,
                    &[("D", target.d as f64)],
                )?,
                BnnRows::Texture(BnnRowTexture::new(ctx, target)?),
            )
        } else {
            check_bnn_score(ctx, target)?;
            (
                Kernel::new(ctx, &BNN_SCORE, BNN_WG as u32)?,
                BnnRows::Buffer(GpuVec::from_slice(ctx, "bnn rows", &target.device_rows())?),
            )
        };
        Ok(Self {
            target: target.clone(),
            kernel,
            rows,
            after_steps: Cell::new(0),
        })
    }

    /// The target.
    pub fn target(&self) -> &Bnn {
        &self.target
    }

    /// The kernel that computes the score: `bnn_score_d` or `bnn_score`.
    pub fn kernel_name(&self) -> &'static str {
        self.kernel.name
    }
}

impl Score for BnnScore {
    fn dim(&self) -> usize {
        self.target.dim()
    }
    fn record(
        &self,
        ctx: &GpuContext,
        _k: &Kernels,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        n: usize,
    ) -> Result<()> {
        let t = &self.target;
        let d = t.dim();
        crate::kernels::check_nd("bnn_score", n, d, &[x, score])?;
        ensure!(
            n.checked_mul(d).is_some_and(|v| u32::try_from(v).is_ok()),
            "bnn_score: {n} particles of {d} values pass u32 indices; use fewer particles"
        );
        let params = enc.uniform(
            ctx,
            &BnnParams {
                n: n as u32,
                d: t.d as u32,
                hidden: t.hidden as u32,
                rows: t.rows as u32,
                batch: t.batch as u32,
                begin: t.batch_begin(self.after_steps.get()) as u32,
                scale: (t.rows as f64 / t.batch as f64) as f32,
                a0: t.a0 as f32,
                b0: t.b0 as f32,
                _pad: [0; 3],
            },
        );
        let g = self.kernel.groups_for(ctx, n * BNN_WG as usize)?;
        let rows = match &self.rows {
            BnnRows::Buffer(b) => b.buffer.as_entire_binding(),
            BnnRows::Texture(t) => wgpu::BindingResource::TextureView(&t.view),
        };
        self.kernel.record_resources(
            ctx,
            enc,
            &[
                params.binding(),
                x.buffer.as_entire_binding(),
                rows,
                score.buffer.as_entire_binding(),
            ],
            g,
        )
    }
    fn device_bytes(&self) -> u64 {
        let rows = match &self.rows {
            BnnRows::Buffer(b) => b.bytes(),
            BnnRows::Texture(t) => crate::kernels::texture_bytes(&t.texture),
        };
        rows + 48
    }
    fn set_steps(&self, steps: u64) {
        self.after_steps.set(steps);
    }
}
