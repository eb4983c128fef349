//! Scores beyond the built-in targets: a target written in WGSL by the user ([`WgslScore`])
//! and a score computed on the host by a Rust closure ([`HostScore`]), the hook for models
//! whose gradient lives outside stein (NumPy, JAX or PyTorch through the Python package).

use std::cell::{Cell, RefCell};

use anyhow::{bail, Context, Result};

use crate::gpu::{GpuContext, GpuVec, Recorder};
use crate::io::target::WgslTarget;
use crate::kernels::wgsl_target::WgslKernels;
use crate::kernels::Kernels;
use crate::svgd::Score;

/// The score of a target written in WGSL: the user's `grad_log_p` run once per particle in
/// stein's kernel (docs/targets.md). Its mistakes at run time (an index past `dim` or past a
/// data array, a coordinate left unset, a NaN or infinite score) are kept in a flag on the
/// device and reported by [`Score::check`], naming the first step and particle.
pub struct WgslScore {
    kernels: WgslKernels,
    after_steps: Cell<u32>,
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
        // The flag keeps the first step as a u32; u32::MAX means "clean".
        self.after_steps
            .set(steps.min(u64::from(u32::MAX - 1)) as u32);
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
        let mut s = vec![f32::NAN; n * d];
        let steps = self.after_steps.get();
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
}
