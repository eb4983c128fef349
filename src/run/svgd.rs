//! An SVGD run as one call: initial particles (a file, an array, or draws from N(mean, std²)),
//! steps on the device, snapshots every K steps, a KSD² trace, and the final particles with
//! their summary (h, KSD², mean, covariance, time per step); also one Stein direction φ.
//!
//! ```no_run
//! use stein::gpu::{AdapterChoice, GpuContext};
//! use stein::io::target::{Gmm, Target};
//! use stein::run::{svgd::Init, Silent, SvgdRun};
//!
//! # fn main() -> anyhow::Result<()> {
//! let target = Target::Gmm(Gmm::new(
//!     vec![1.0, 1.0],
//!     vec![vec![-2.0, 0.0], vec![2.0, 0.0]],
//!     vec![vec![1.0, 1.0], vec![1.0, 1.0]],
//! )?);
//! let init = Init::Normal { n: 500, mean: vec![0.0], std: 1.0, seed: 0 };
//! let run = SvgdRun { ksd_every: Some(100), ..SvgdRun::new(init, 1000, 0.1) };
//! run.check(None)?; // before the device opens
//! let ctx = GpuContext::new(&AdapterChoice::default())?;
//! let result = run.run(&ctx, &target, &mut Silent)?;
//! println!("h = {}, KSD² = {}, mean = {:?}", result.h, result.ksd2_u, result.mean);
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

use super::{check_distinct, check_output, check_png, Progress};
use crate::gpu::GpuContext;
use crate::io::npy::{read_matrix_f32, write_npy_f32};
use crate::io::target::{SplitMix64, Target};
use crate::kernels::Kernels;
use crate::svgd::{target_score, Bandwidth, Optimizer, Score, Svgd};

/// The particle update, by name (the `--optimizer` of `stein svgd`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// The authors' AdaGrad with momentum.
    #[default]
    Adagrad,
    /// Plain steps x ← x + εφ.
    Sgd,
    /// Adam as an ascent step (0.9, 0.999, 1e-8).
    Adam,
}

impl OptimizerKind {
    /// The engine's optimizer.
    pub fn optimizer(self) -> Optimizer {
        match self {
            OptimizerKind::Adagrad => Optimizer::Adagrad,
            OptimizerKind::Sgd => Optimizer::Sgd,
            OptimizerKind::Adam => Optimizer::ADAM,
        }
    }
}

/// Where the initial particles come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// A `.npy` file `[n, d]` (f32 or f64); d must be the target's.
    File(PathBuf),
    /// Given particles, row-major `[n, d]`.
    Particles(Vec<f32>),
    /// `n` draws of the target's own initialisation rule ([`Target::prior_init`]: the
    /// authors' draws for the Bayesian models) with `seed`.
    Prior {
        /// Number of particles.
        n: usize,
        /// Random seed.
        seed: u64,
    },
    /// `n` draws from N(mean, std²) by [`SplitMix64`] with `seed`; `mean` holds one value (for
    /// every coordinate) or d values.
    Normal {
        /// Number of particles.
        n: usize,
        /// Mean: one value or one per dimension.
        mean: Vec<f64>,
        /// Standard deviation.
        std: f64,
        /// Random seed.
        seed: u64,
    },
}

/// Snapshots of the particles every `every` steps (and after the last) as
/// `dir/step_NNNNNN.npy`; the directory is made if missing. A directory that holds snapshots
/// already is refused unless the run may overwrite ([`SvgdRun::overwrite`]), which removes
/// them before the first step.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// Steps between snapshots.
    pub every: u64,
    /// Directory of the snapshots.
    pub dir: PathBuf,
}

/// What an SVGD run does. [`SvgdRun::new`] sets the defaults of `stein svgd`.
#[derive(Clone, Debug, PartialEq)]
pub struct SvgdRun {
    /// Initial particles.
    pub init: Init,
    /// Number of steps (at least 1).
    pub steps: u64,
    /// Step size ε.
    pub step_size: f64,
    /// Particle update.
    pub optimizer: OptimizerKind,
    /// Kernel bandwidth at each step.
    pub bandwidth: Bandwidth,
    /// Snapshots of the particles.
    pub trace: Option<Trace>,
    /// KSD² (U- and V-statistic, median bandwidth) every K steps, and before the first.
    pub ksd_every: Option<u64>,
    /// Where to write the final particles (`.npy` `[n, d]` f32), if anywhere.
    pub out: Option<PathBuf>,
    /// A PNG of the final particles over the target's density (d = 2 only).
    pub plot: Option<PathBuf>,
    /// Replace outputs that exist (`out`, `plot`, the snapshots in the trace directory);
    /// otherwise they are refused before the run starts.
    pub overwrite: bool,
}

/// KSD² at one step of a run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct KsdPoint {
    /// Steps done.
    pub step: u64,
    /// V-statistic.
    pub ksd2_v: f64,
    /// U-statistic (NaN for one particle).
    pub ksd2_u: f64,
}

/// What an SVGD run produced. Serialised (as `stein svgd` prints it) without the particles.
#[derive(Clone, Debug, Serialize)]
pub struct SvgdResult {
    /// Final particles, row-major `[n, d]`.
    #[serde(skip)]
    pub particles: Vec<f32>,
    /// Number of particles.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Steps taken.
    pub steps: u64,
    /// Bandwidth of the last step.
    pub h: f64,
    /// KSD² (V-statistic) of the final particles, median bandwidth.
    pub ksd2_v: f64,
    /// KSD² (U-statistic) of the final particles, median bandwidth.
    pub ksd2_u: f64,
    /// Mean of the final particles.
    pub mean: Vec<f64>,
    /// Sample covariance (row-major `[d, d]`, divisor n − 1).
    pub cov: Vec<f64>,
    /// Seconds per step (the steps only: not the start, the readback or the final KSD²).
    pub seconds_per_step: f64,
    /// Seconds of all steps.
    #[serde(skip)]
    pub seconds: f64,
    /// The adapter, as [`GpuContext::adapter_label`] names it.
    pub adapter: String,
    /// KSD² every `ksd_every` steps (empty without it).
    pub ksd_trace: Vec<KsdPoint>,
    /// The run stopped on [`Progress::should_stop`] after `steps` steps, short of its total:
    /// the particles are those reached, the final KSD² is not computed (NaN), and neither
    /// `out` nor the plot was written.
    #[serde(skip)]
    pub interrupted: bool,
    /// Where a stopped run with an `out` path wrote its particles ([`partial_path`]).
    #[serde(skip)]
    pub partial: Option<PathBuf>,
}

/// Where a run stopped after `step` steps writes its particles instead of `out`:
/// `STEM.partial-step-N.EXT` beside it (`particles.npy` → `particles.partial-step-120.npy`),
/// with `-2`, `-3`, … added to the step while such a file exists, so that nothing is
/// overwritten.
pub fn partial_path(out: &Path, step: u64) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = out
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let mut k = 1;
    loop {
        let tag = if k == 1 {
            step.to_string()
        } else {
            format!("{step}-{k}")
        };
        let path = out.with_file_name(format!("{stem}.partial-step-{tag}{ext}"));
        if !path.exists() {
            return path;
        }
        k += 1;
    }
}

/// Runs of fewer pair interactions (n² · steps) than this are not measured before they start:
/// they take under a minute on any device that computes 1.7e7 pairs a second (llvmpipe on two
/// cores does about 3e8 a second at d = 2 and 5e7 at d = 64, a full step each).
pub const ESTIMATE_ABOVE_PAIRS: f64 = 1e9;

/// Particles of the probe that measures the pair rate of a long run (its first rows).
const PROBE_N: usize = 4096;

/// Fails for a fixed bandwidth f32 arithmetic cannot use (the kernels take h and 1/h as f32).
pub fn check_bandwidth(bw: Bandwidth) -> Result<()> {
    if let Bandwidth::Fixed(h) = bw {
        ensure!(
            h > 0.0 && h.is_finite(),
            "--bandwidth `{h}` is neither `median`, `median-sampled` nor a positive number"
        );
        let h32 = h as f32;
        ensure!(
            h32.is_normal() && (1.0 / h32).is_finite(),
            "--bandwidth {h:e} is outside what f32 arithmetic can use (1/h or h overflows); give h between about 1e-38 and 3e38, or `median`"
        );
    }
    Ok(())
}

/// Reads particles `[n, d]` from a `.npy` file; d must be `target_dim`. Returns (x, n).
pub fn load_particles(path: &Path, target_dim: usize) -> Result<(Vec<f32>, usize)> {
    let (x, n, d) = read_matrix_f32(path, "particles")?;
    ensure!(
        d == target_dim,
        "{}: particles have d = {d} but the target has d = {target_dim}; give particles of the target's dimension",
        path.display(),
    );
    Ok((x, n))
}

/// Sample mean and covariance (divisor n − 1, or 1 for n = 1) of `x` `[n, d]`, in f64.
pub fn mean_cov(x: &[f32], n: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; d];
    for i in 0..n {
        for a in 0..d {
            mean[a] += f64::from(x[i * d + a]) / n as f64;
        }
    }
    let mut cov = vec![0.0; d * d];
    for i in 0..n {
        for a in 0..d {
            for b in 0..d {
                cov[a * d + b] += (f64::from(x[i * d + a]) - mean[a])
                    * (f64::from(x[i * d + b]) - mean[b])
                    / (n.max(2) - 1) as f64;
            }
        }
    }
    (mean, cov)
}

/// One Stein direction φ at the particles `x` (`[n, d]`) under `target`, with its bandwidth.
/// Returns (φ `[n, d]`, h).
pub fn phi(
    ctx: &GpuContext,
    target: &Target,
    x: &[f32],
    n: usize,
    bandwidth: Bandwidth,
) -> Result<(Vec<f32>, f64)> {
    check_bandwidth(bandwidth)?;
    let k = Kernels::new(ctx)?;
    phi_on(ctx, &k, target_score(ctx, target)?, x, n, bandwidth)
}

/// [`phi`] under a score the caller made (a [`crate::score::HostScore`]: the Python
/// package's NumPy scores), of the score's dimension.
pub fn phi_with_score(
    ctx: &GpuContext,
    score: Box<dyn Score + '_>,
    x: &[f32],
    n: usize,
    bandwidth: Bandwidth,
) -> Result<(Vec<f32>, f64)> {
    check_bandwidth(bandwidth)?;
    let k = Kernels::new(ctx)?;
    phi_on(ctx, &k, score, x, n, bandwidth)
}

fn phi_on<'a>(
    ctx: &'a GpuContext,
    k: &'a Kernels,
    score: Box<dyn Score + 'a>,
    x: &[f32],
    n: usize,
    bandwidth: Bandwidth,
) -> Result<(Vec<f32>, f64)> {
    let mut engine = Svgd::new(ctx, k, score, x, n, Optimizer::Sgd)?;
    let (phi, h) = engine.phi(bandwidth)?;
    ensure!(
        phi.iter().all(|v| v.is_finite()),
        "φ has non-finite values (h = {h:e}); check the target, the particles and --bandwidth"
    );
    Ok((phi, h))
}

/// Where the score of a run comes from.
pub enum ScoreSource<'s> {
    /// A target: its device score, its host density (for the plot) and its prior draws.
    Target(&'s Target),
    /// A score made by the caller (a [`crate::score::HostScore`]: the Python package's NumPy
    /// scores), of the score's dimension. It has no density to plot, no prior to draw from,
    /// and no second copy for the time estimate, which is skipped.
    Score(Box<dyn Score + 's>),
}

/// Sees the particles of a run every `every` steps (and after the last): `f(step, x)` with x
/// `[n, d]` row-major, read back for it; returning `Ok(false)` stops the run there as
/// [`Progress::should_stop`] does (an error ends the run with it).
pub struct Watch<'w> {
    /// Steps between calls.
    pub every: u64,
    /// The observer.
    pub f: &'w mut dyn FnMut(u64, &[f32]) -> Result<bool>,
}

impl SvgdRun {
    /// `steps` steps of size `step_size` from `init`, with AdaGrad, the median bandwidth, and no
    /// snapshots, KSD trace, output file or plot.
    pub fn new(init: Init, steps: u64, step_size: f64) -> Self {
        Self {
            init,
            steps,
            step_size,
            optimizer: OptimizerKind::Adagrad,
            bandwidth: Bandwidth::Median,
            trace: None,
            ksd_every: None,
            out: None,
            plot: None,
            overwrite: false,
        }
    }

    /// Checks the options and the output paths without a device, so that a run fails before
    /// it starts. `target_file` is the target's file, if it came from one: no output may
    /// overwrite it.
    pub fn check(&self, target_file: Option<&Path>) -> Result<()> {
        check_bandwidth(self.bandwidth)?;
        ensure!(self.steps >= 1, "--steps must be at least 1");
        ensure!(
            self.step_size > 0.0 && self.step_size.is_finite(),
            "--step-size {} must be positive and finite (typical: 1e-3 to 1 with adagrad)",
            self.step_size
        );
        if let Some(t) = &self.trace {
            ensure!(t.every >= 1, "--trace-every must be at least 1");
        }
        if let Some(k) = self.ksd_every {
            ensure!(k >= 1, "--ksd-every must be at least 1");
        }
        let mut outputs: Vec<(&str, &Path)> = self.out.iter().map(|p| ("--out", &**p)).collect();
        outputs.extend(self.plot.as_deref().map(|p| ("--plot", p)));
        let mut inputs: Vec<(&str, &Path)> =
            target_file.map(|p| ("--target", p)).into_iter().collect();
        if let Init::File(p) = &self.init {
            inputs.push(("--init", p));
        }
        // First: an output naming an input exists, but that is the thing to say.
        check_distinct(&outputs, &inputs)?;
        if let Some(out) = &self.out {
            check_output(out, "--out", self.overwrite)?;
        }
        if let Some(p) = &self.plot {
            check_output(p, "--plot", self.overwrite)?;
            check_png(p, "--plot")?;
        }
        if let Some(t) = &self.trace {
            if let (false, Some(first)) = (self.overwrite, snapshots(&t.dir).first()) {
                bail!(
                    "--trace-dir {} holds snapshots of another run ({}); give --overwrite to replace them, or another directory",
                    t.dir.display(),
                    first.file_name().unwrap_or_default().to_string_lossy()
                );
            }
        }
        Ok(())
    }

    /// The initial particles and their number, checked against the device.
    fn initial_particles(
        &self,
        d: usize,
        target: Option<&Target>,
        ctx: &GpuContext,
    ) -> Result<(Vec<f32>, usize)> {
        let (n, mean, std, seed) = match &self.init {
            Init::File(path) => return load_particles(path, d),
            Init::Particles(x) => {
                ensure!(
                    !x.is_empty() && x.len().is_multiple_of(d),
                    "initial particles: {} values are not n rows of the target's d = {d}",
                    x.len()
                );
                return Ok((x.clone(), x.len() / d));
            }
            Init::Normal { n, mean, std, seed } => (*n, mean, *std, *seed),
            Init::Prior { n, seed } => {
                ensure!(*n >= 1, "--n must be at least 1");
                let bytes = n
                    .checked_mul(d)
                    .and_then(|l| l.checked_mul(4))
                    .with_context(|| {
                        format!("--n {n} with d = {d} overflows; use fewer particles")
                    })?;
                ctx.check_binding("--n particles", bytes as u64)?;
                let x = target.and_then(|t| t.prior_init(*n, *seed)).context(
                    "--init prior draws from a Bayesian model's prior (kinds \"logistic\", \"bnn\"); this target has none: give --init X.npy or --n with --init-mean and --init-std",
                )?;
                return Ok((x, *n));
            }
        };
        ensure!(n >= 1, "--n must be at least 1");
        // Check the device can hold them before generating them on the host.
        let bytes = n
            .checked_mul(d)
            .and_then(|l| l.checked_mul(4))
            .with_context(|| format!("--n {n} with d = {d} overflows; use fewer particles"))?;
        ctx.check_binding("--n particles", bytes as u64)?;
        let mean = match mean.len() {
            1 => vec![mean[0]; d],
            l if l == d => mean.clone(),
            l => bail!(
                "--init-mean has {l} values but the target has d = {d}; give one value or {d}"
            ),
        };
        ensure!(
            mean.iter().all(|m| m.is_finite()),
            "--init-mean must be finite"
        );
        ensure!(
            std > 0.0 && std.is_finite(),
            "--init-std {std} must be positive and finite"
        );
        let mut rng = SplitMix64::new(seed);
        let x = (0..n * d)
            .map(|e| (mean[e % d] + std * rng.next_normal()) as f32)
            .collect();
        Ok((x, n))
    }

    /// Runs SVGD on `target` and writes the outputs asked for: the plot first, then the
    /// particles, so that a failure leaves neither (nor the snapshots this run wrote).
    pub fn run(
        &self,
        ctx: &GpuContext,
        target: &Target,
        progress: &mut dyn Progress,
    ) -> Result<SvgdResult> {
        self.run_with(ctx, ScoreSource::Target(target), progress, None)
    }

    /// [`SvgdRun::run`] with the score from `source` (a target, or a score the caller made),
    /// and `watch` shown the particles every K steps.
    pub fn run_with(
        &self,
        ctx: &GpuContext,
        source: ScoreSource<'_>,
        progress: &mut dyn Progress,
        mut watch: Option<Watch<'_>>,
    ) -> Result<SvgdResult> {
        self.check(None)?;
        let (target, given) = match source {
            ScoreSource::Target(t) => (Some(t), None),
            ScoreSource::Score(s) => (None, Some(s)),
        };
        if let Some(w) = &watch {
            ensure!(
                w.every >= 1,
                "the callback's interval must be at least 1 step"
            );
        }
        if let (None, Some(_)) = (target, &self.plot) {
            bail!("--plot draws the target's density on the host, which a score given as a function does not have; leave out --plot");
        }
        let d = match (target, &given) {
            (Some(t), _) => t.dim(),
            (None, Some(s)) => s.dim(),
            (None, None) => bail!("svgd: a run needs a target or a score"),
        };
        if let (Some(target), Some(_)) = (target, &self.plot) {
            ensure!(
                target.dim() == 2,
                "--plot draws 2-D targets only; this target has d = {}",
                target.dim()
            );
        }
        let (x0, n) = self.initial_particles(d, target, ctx)?;
        let mut trace = TraceFiles::default();
        if let Some(Trace { dir, .. }) = &self.trace {
            ensure!(
                !dir.exists() || dir.is_dir(),
                "--trace-dir {} exists and is not a directory; give a directory path",
                dir.display()
            );
            trace.created_dir = (!dir.exists()).then(|| dir.clone());
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating --trace-dir {}", dir.display()))?;
            // The inputs are checked: the old snapshots go (`check` refused them unless
            // `overwrite`).
            for old in snapshots(dir) {
                std::fs::remove_file(&old)
                    .with_context(|| format!("--overwrite: cannot remove {}", old.display()))?;
            }
        }
        let k = Kernels::new(ctx)?;
        let optimizer = self.optimizer.optimizer();
        let score = match (target, given) {
            (_, Some(s)) => s,
            (Some(t), None) => target_score(ctx, t)?,
            (None, None) => bail!("svgd: a run needs a target or a score"),
        };
        let mut engine = Svgd::new(ctx, &k, score, &x0, n, optimizer)?;
        if let Some(target) = target {
            if let Some(e) = self.estimate(ctx, &k, target, &x0, n)? {
                progress.estimate(&e);
            }
        }
        progress.update(0, self.steps);
        let mut ksd_trace = Vec::new();
        let ksd_now = |engine: &mut Svgd, step: u64| -> Result<KsdPoint> {
            let (h, _) = engine.bandwidth(Bandwidth::Median)?;
            let (ksd2_v, ksd2_u) = engine.ksd(h)?;
            Ok(KsdPoint {
                step,
                ksd2_v,
                ksd2_u,
            })
        };
        if self.ksd_every.is_some() {
            ksd_trace.push(ksd_now(&mut engine, 0)?);
        }
        let start = Instant::now();
        let mut last = None;
        let mut stopped = None;
        for step in 1..=self.steps {
            let info = engine.step(self.step_size, self.bandwidth)?;
            last = Some(info);
            if step == 1 {
                // A target's mistakes at the initial particles (a WGSL target's wrong dim, a
                // NaN score) stop the run here, not after all steps: one small readback.
                engine.check_score()?;
            }
            if let Some(Trace { every, dir }) = &self.trace {
                if step % every == 0 || step == self.steps {
                    let x = engine.particles()?;
                    engine.check_score()?;
                    let path = dir.join(format!("step_{step:06}.npy"));
                    let existed = path.exists();
                    write_npy_f32(&path, &x, &[n, d])?;
                    if !existed {
                        trace.files.push(path);
                    }
                }
            }
            if let Some(every) = self.ksd_every {
                if step % every == 0 || step == self.steps {
                    let p = ksd_now(&mut engine, step)?;
                    ksd_trace.push(p);
                    progress.status(&format!("KSD² {:.3e}", p.ksd2_u));
                }
            }
            let mut go_on = true;
            if let Some(Watch { every, f }) = &mut watch {
                if step % *every == 0 || step == self.steps {
                    let x = engine.particles()?;
                    engine.check_score()?;
                    go_on = f(step, &x)?;
                }
            }
            progress.update(step, self.steps);
            if step < self.steps && (!go_on || progress.should_stop()) {
                stopped = Some(step);
                break;
            }
        }
        ctx.wait()?;
        let seconds = start.elapsed().as_secs_f64();
        progress.finish();
        let x = engine.particles()?;
        engine.check_score()?;
        if !x.iter().all(|v| v.is_finite()) {
            return Err(super::Diverged(format!(
                "particles diverged to NaN or inf; lower --step-size (now {})",
                self.step_size
            ))
            .into());
        }
        // The last step's h, read back once where the step selected it on the device.
        let last_h = match &last {
            Some(info) => engine.last_bandwidth(info)?.0,
            None => f64::NAN,
        };
        if let Some(steps) = stopped {
            // Asked to stop: the particles reached go to a partial file, never to `out`.
            let partial = match &self.out {
                Some(out) => {
                    let path = partial_path(out, steps);
                    write_npy_f32(&path, &x, &[n, d])?;
                    Some(path)
                }
                None => None,
            };
            trace.keep();
            let (mean, cov) = mean_cov(&x, n, d);
            return Ok(SvgdResult {
                particles: x,
                n,
                d,
                steps,
                h: last_h,
                ksd2_v: f64::NAN,
                ksd2_u: f64::NAN,
                mean,
                cov,
                seconds_per_step: seconds / steps as f64,
                seconds,
                adapter: ctx.adapter_label(),
                ksd_trace,
                interrupted: true,
                partial,
            });
        }
        let last = ksd_now(&mut engine, self.steps)?;
        // The plot first: if it fails, no --out is left behind either.
        if let (Some(p), Some(target)) = (&self.plot, target) {
            let title = format!(
                "SVGD on a {} target: n = {n}, {} steps, final KSD² (U) = {:.3e}",
                target.kind(),
                self.steps,
                last.ksd2_u
            );
            plot(ctx, target, p, &x, &title)?;
        }
        if let Some(out) = &self.out {
            write_npy_f32(out, &x, &[n, d])?;
        }
        let (mean, cov) = mean_cov(&x, n, d);
        trace.keep();
        Ok(SvgdResult {
            particles: x,
            n,
            d,
            steps: self.steps,
            h: last_h,
            ksd2_v: last.ksd2_v,
            ksd2_u: last.ksd2_u,
            mean,
            cov,
            seconds_per_step: seconds / self.steps as f64,
            seconds,
            adapter: ctx.adapter_label(),
            ksd_trace,
            interrupted: false,
            partial: None,
        })
    }

    /// The run's time from a probe, for runs of at least [`ESTIMATE_ABOVE_PAIRS`] pair
    /// interactions: three steps of the run's settings on its first min(n, 4096) particles
    /// (one to warm up, two timed), their pair rate m² / (seconds per step) extrapolated to
    /// n² · (steps + KSD evaluations). The run itself is not touched.
    fn estimate(
        &self,
        ctx: &GpuContext,
        k: &Kernels,
        target: &Target,
        x0: &[f32],
        n: usize,
    ) -> Result<Option<super::Estimate>> {
        let n2 = (n as f64) * (n as f64);
        if n2 * (self.steps as f64) < ESTIMATE_ABOVE_PAIRS {
            return Ok(None);
        }
        let m = n.min(PROBE_N);
        let d = target.dim();
        let optimizer = self.optimizer.optimizer();
        let score = target_score(ctx, target)?;
        let mut probe = Svgd::new(ctx, k, score, &x0[..m * d], m, optimizer)?;
        probe.step(self.step_size, self.bandwidth)?;
        ctx.wait()?;
        let timed = 2;
        let start = Instant::now();
        for _ in 0..timed {
            probe.step(self.step_size, self.bandwidth)?;
        }
        ctx.wait()?;
        let per_probe_step = start.elapsed().as_secs_f64() / timed as f64;
        let pairs_per_second = (m as f64) * (m as f64) / per_probe_step.max(1e-9);
        // Each KSD² (every K steps, before the first and of the final particles) is about
        // one pass over the n² pairs, as a step is.
        let ksd = self.ksd_every.map_or(0, |e| self.steps / e + 1) + 1;
        Ok(Some(estimate_from_rate(
            n,
            self.steps + ksd,
            pairs_per_second,
        )))
    }
}

/// The PNG of `--plot`: the particles `x` over the target's density, evaluated on the host
/// where the target has a host form, and for a WGSL target by its `log_p` on the device, the
/// plot's pixel centres as the particles of one dispatch (on the full data).
fn plot(ctx: &GpuContext, target: &Target, path: &Path, x: &[f32], title: &str) -> Result<()> {
    match target {
        Target::Wgsl(w) => {
            let kernels = crate::kernels::wgsl_target::WgslKernels::new(ctx, w)?;
            crate::io::plot::plot_particles_2d_batched(
                path,
                x,
                &mut |points| {
                    let flat: Vec<f32> = points.iter().flatten().map(|&v| v as f32).collect();
                    let lp = kernels.log_p(ctx, &flat).context(
                        "--plot evaluates log_p at the plot's pixels (the particle numbers here are pixels)",
                    )?;
                    Ok(lp.into_iter().map(f64::from).collect())
                },
                title,
                None,
            )
        }
        _ => {
            let g = target.clone();
            crate::io::plot::plot_particles_2d(
                path,
                x,
                &move |a, b| g.log_density(&[a, b]).unwrap_or(f64::NAN),
                title,
                None,
            )
        }
    }
}

/// The time of `steps` passes over the n² pairs at `pairs_per_second`.
pub fn estimate_from_rate(n: usize, steps: u64, pairs_per_second: f64) -> super::Estimate {
    let per_step = (n as f64) * (n as f64) / pairs_per_second;
    super::Estimate {
        seconds: per_step * steps as f64,
        seconds_per_step: per_step,
        pairs_per_second,
    }
}

/// The snapshots `step_NNNNNN.npy` in `dir`, sorted (none if it cannot be read).
fn snapshots(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.strip_prefix("step_")
                    .and_then(|r| r.strip_suffix(".npy"))
                    .is_some_and(|digits| {
                        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                    })
            })
        })
        .collect();
    found.sort();
    found
}

/// The snapshots a run wrote, removed again (with the directory, if the run made it and it is
/// left empty) unless the run succeeds: no partial output.
#[derive(Default)]
struct TraceFiles {
    created_dir: Option<PathBuf>,
    files: Vec<PathBuf>,
}

impl TraceFiles {
    /// The run succeeded: leave everything.
    fn keep(&mut self) {
        self.created_dir = None;
        self.files.clear();
    }
}

impl Drop for TraceFiles {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        if let Some(dir) = &self.created_dir {
            let _ = std::fs::remove_dir(dir); // only if empty
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_estimate_scales_as_n_squared_times_steps() {
        let e = estimate_from_rate(5_000_000, 1000, 1e8);
        assert_eq!(e.seconds_per_step, 2.5e5);
        assert_eq!(e.seconds, 2.5e8);
        assert_eq!(e.pairs_per_second, 1e8);
    }

    #[test]
    fn a_partial_file_is_named_by_its_step_and_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("p.npy");
        let first = partial_path(&out, 7);
        assert_eq!(first, dir.path().join("p.partial-step-7.npy"));
        std::fs::write(&first, b"kept").unwrap();
        assert_eq!(
            partial_path(&out, 7),
            dir.path().join("p.partial-step-7-2.npy")
        );
        assert_eq!(
            partial_path(&dir.path().join("p"), 3),
            dir.path().join("p.partial-step-3")
        );
    }
}
