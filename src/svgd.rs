//! The SVGD engine: particles, score, φ and optimizer state live on the device; one step is
//! the bandwidth's selection ([`crate::bandwidth`]) followed by one submit of score → φ →
//! update, recorded through the shared [`SteinDirection`]. Only what the caller asks for is
//! read back.

use anyhow::{bail, ensure, Result};

pub use crate::bandwidth::Bandwidth;
use crate::bandwidth::{Placement, Selected};
use crate::direction::SteinDirection;
use crate::gpu::params::UpdateParams;
use crate::gpu::{GpuContext, GpuVec, PassTime, Recorder};
use crate::io::target::{Gaussian, Gmm, Target};
use crate::kernels::{pack_gmm, Kernels, KsdBuffers};
use crate::median::MedianResult;

/// A target density known through its score ∇ log p, evaluated on the device.
pub trait Score {
    /// Dimension of the target.
    fn dim(&self) -> usize;
    /// Records `score[i] = ∇ log p(x_i)` for the first `n` rows of `x`.
    fn record(
        &self,
        ctx: &GpuContext,
        k: &Kernels,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        n: usize,
    ) -> Result<()>;
    /// Bytes of device memory held.
    fn device_bytes(&self) -> u64 {
        0
    }
    /// Says how many steps the particles of the next [`Score::record`] have taken, for the
    /// messages of [`Score::check`] (0: the initial particles).
    fn set_steps(&self, _steps: u64) {}
    /// Fails when an evaluation recorded so far went wrong (a NaN score, an index past the
    /// target's dimension), naming the first step and particle. A score that keeps such a
    /// flag on the device reads it back here: callers check where they read back anyway,
    /// never once per step.
    fn check(&self, _ctx: &GpuContext) -> Result<()> {
        Ok(())
    }
    /// Whether the score is computed on the host (x read back at every evaluation): a step
    /// then reads back anyway, and takes its median with the host's checks first.
    fn on_host(&self) -> bool {
        false
    }
}

pub use crate::score::{BnnScore, HostScore, LogisticScore, WgslScore};

/// A Gaussian mixture on the device.
pub struct GmmScore {
    mix: GpuVec<f32>,
    d: usize,
    k: usize,
}

impl GmmScore {
    /// Uploads the mixture.
    pub fn new(ctx: &GpuContext, gmm: &Gmm) -> Result<Self> {
        // Refused here, before a run starts, rather than at its first step.
        crate::kernels::check_gmm_score_loops(ctx, gmm.components(), gmm.dim())?;
        Ok(Self {
            mix: GpuVec::from_slice(ctx, "gmm mixture", &pack_gmm(gmm))?,
            d: gmm.dim(),
            k: gmm.components(),
        })
    }
}

impl Score for GmmScore {
    fn dim(&self) -> usize {
        self.d
    }
    fn record(
        &self,
        ctx: &GpuContext,
        k: &Kernels,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        n: usize,
    ) -> Result<()> {
        k.record_gmm_score(ctx, enc, x, &self.mix, score, (n, self.d, self.k))
    }
    fn device_bytes(&self) -> u64 {
        self.mix.bytes() + 16
    }
}

/// A full-covariance Gaussian on the device.
pub struct GaussianScore {
    pm: GpuVec<f32>,
    d: usize,
}

impl GaussianScore {
    /// Uploads the precision matrix and mean.
    pub fn new(ctx: &GpuContext, g: &Gaussian) -> Result<Self> {
        crate::kernels::check_gaussian_score_loops(ctx, g.dim())?;
        let pm: Vec<f32> = g
            .precision
            .iter()
            .chain(&g.mean)
            .map(|&v| v as f32)
            .collect();
        // What the target's loader checked before factorising.
        debug_assert_eq!(4 * pm.len() as u64, Gaussian::device_bytes(g.dim()));
        Ok(Self {
            pm: GpuVec::from_slice(ctx, "gaussian precision", &pm)?,
            d: g.dim(),
        })
    }
}

impl Score for GaussianScore {
    fn dim(&self) -> usize {
        self.d
    }
    fn record(
        &self,
        ctx: &GpuContext,
        k: &Kernels,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        score: &GpuVec<f32>,
        n: usize,
    ) -> Result<()> {
        k.record_gaussian_score(ctx, enc, x, &self.pm, score, (n, self.d))
    }
    fn device_bytes(&self) -> u64 {
        self.pm.bytes() + 16
    }
}

/// The device score of a target read from a file.
pub fn target_score<'a>(ctx: &GpuContext, t: &Target) -> Result<Box<dyn Score + 'a>> {
    Ok(match t {
        Target::Gmm(g) => Box::new(GmmScore::new(ctx, g)?),
        Target::Gaussian(g) => Box::new(GaussianScore::new(ctx, g)?),
        Target::Wgsl(w) => Box::new(WgslScore::new(ctx, w)?),
        Target::Logistic(l) => Box::new(LogisticScore::new(ctx, l)?),
        Target::Bnn(b) => Box::new(BnnScore::new(ctx, b)?),
    })
}

/// The particle update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// The authors' AdaGrad with momentum (α = 0.9, fudge 1e-6).
    Adagrad,
    /// x ← x + εφ.
    Sgd,
    /// Adam as an ascent step.
    Adam {
        /// β1.
        beta1: f64,
        /// β2.
        beta2: f64,
        /// ε.
        eps: f64,
    },
}

impl Optimizer {
    /// Adam with the usual constants (0.9, 0.999, 1e-8).
    pub const ADAM: Optimizer = Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
}

/// What a step did.
#[derive(Clone, Copy, Debug)]
pub struct StepInfo {
    /// The bandwidth used, where the host knows it; `None` when the median was selected on
    /// the device inside the step (read it with [`Svgd::last_bandwidth`], one readback).
    pub h: Option<f64>,
    /// The median computation, when the bandwidth was a median the host selected.
    pub median: Option<MedianResult>,
}

/// SVGD over `n` particles in `d` dimensions.
pub struct Svgd<'a> {
    ctx: &'a GpuContext,
    k: &'a Kernels,
    target: Box<dyn Score + 'a>,
    n: usize,
    d: usize,
    x: GpuVec<f32>,
    /// Score, φ and the bandwidth (the median of the current particles is kept until they
    /// change: `--ksd-every` asks for it after a step, and the next step's bandwidth again).
    dir: SteinDirection,
    state: Vec<GpuVec<f32>>,
    optimizer: Optimizer,
    t: u64,
    /// The KSD's buffers, made up front where its row sums fit the device (on llvmpipe past
    /// about d = 30 000 its loop limit refuses them; then only [`Svgd::ksd`] fails, saying so).
    ksd: Option<KsdBuffers>,
}

impl<'a> Svgd<'a> {
    /// Uploads the initial particles `x0` (`[n, d]`, row-major).
    pub fn new(
        ctx: &'a GpuContext,
        k: &'a Kernels,
        target: Box<dyn Score + 'a>,
        x0: &[f32],
        n: usize,
        optimizer: Optimizer,
    ) -> Result<Self> {
        let d = target.dim();
        ensure!(
            n >= 1 && d >= 1,
            "svgd: need at least one particle and one dimension"
        );
        ensure!(
            x0.len() == n * d,
            "svgd: {} initial values for n = {n}, d = {d}",
            x0.len()
        );
        ensure!(
            x0.iter().all(|v| v.is_finite()),
            "svgd: initial particles contain NaN or inf"
        );
        ensure!(
            n * d <= u32::MAX as usize,
            "svgd: n·d = {} exceeds 2^32",
            n * d
        );
        let nd = n * d;
        let state = match optimizer {
            Optimizer::Sgd => vec![],
            Optimizer::Adagrad => vec![GpuVec::zeros(ctx, "adagrad G", nd)?],
            Optimizer::Adam { .. } => vec![
                GpuVec::zeros(ctx, "adam m", nd)?,
                GpuVec::zeros(ctx, "adam v", nd)?,
            ],
        };
        Ok(Self {
            ctx,
            k,
            target,
            n,
            d,
            x: GpuVec::from_slice(ctx, "particles", x0)?,
            dir: SteinDirection::new(ctx, k, (n, d), Placement::Host)?,
            state,
            optimizer,
            t: 0,
            ksd: match k.ksd_plan(ctx, n, d) {
                Ok(_) => Some(KsdBuffers::new(ctx, k, n, d)?),
                Err(_) => None,
            },
        })
    }

    /// Number of particles.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Dimension.
    pub fn d(&self) -> usize {
        self.d
    }

    /// Steps taken so far.
    pub fn steps_taken(&self) -> u64 {
        self.t
    }

    /// Medians [`Svgd::bandwidth`] has computed (one per position of the particles it was
    /// asked at).
    pub fn medians_computed(&self) -> u64 {
        self.dir.bandwidth.medians_computed()
    }

    /// Bytes of device memory held by the engine (particles, score, φ, optimizer state,
    /// selection buffers, target): O(n·d), never n².
    pub fn device_bytes(&self) -> u64 {
        self.x.bytes()
            + self.dir.device_bytes()
            + self.state.iter().map(|b| b.bytes()).sum::<u64>()
            + self.ksd.as_ref().map_or(0, KsdBuffers::device_bytes)
            + self.target.device_bytes()
            + 3 * 32
    }

    /// Fails when a score evaluated so far went wrong ([`Score::check`]; a small readback
    /// for scores that keep a flag on the device, nothing for the built-in targets).
    pub fn check_score(&self) -> Result<()> {
        self.target.check(self.ctx)
    }

    /// The current particles.
    pub fn particles(&self) -> Result<Vec<f32>> {
        self.x.read(self.ctx)
    }

    /// The device buffer of the particles, to read: write them with [`Svgd::set_particles`],
    /// which forgets the median kept for [`Svgd::bandwidth`].
    pub fn particles_buffer(&self) -> &GpuVec<f32> {
        &self.x
    }

    /// The exact median of the n² squared distances of the current particles, computed
    /// afresh (benchmarks time this); [`Svgd::bandwidth`] keeps it while the particles stay.
    pub fn median(&mut self) -> Result<MedianResult> {
        self.dir.bandwidth.median(self.ctx, self.k, &self.x)
    }

    /// The bandwidth for the current particles. The median is computed once per position of
    /// the particles: a KSD between steps and the next step share it.
    pub fn bandwidth(&mut self, bw: Bandwidth) -> Result<(f64, Option<MedianResult>)> {
        // The particles are on the device already: no encoder to submit first.
        let sel = match self
            .dir
            .bandwidth
            .select(self.ctx, self.k, None, &self.x, bw)
        {
            Ok(sel) => sel,
            // A median refused for NaN particles: where the score made them so, it says where.
            Err(e) => return Err(self.check_score().err().unwrap_or(e)),
        };
        let h = sel.h.ok_or_else(|| {
            anyhow::anyhow!("svgd: the engine's bandwidth is selected on the host")
        })?;
        Ok((h, sel.median))
    }

    /// Records score and φ for bandwidth h into `enc`.
    pub fn record_phi(&self, enc: &mut Recorder, h: f64) -> Result<()> {
        self.target
            .record(self.ctx, self.k, enc, &self.x, &self.dir.score, self.n)?;
        self.record_phi_only(enc, h)
    }

    /// Records φ alone (the score buffer must already hold the current particles' score).
    pub fn record_phi_only(&self, enc: &mut Recorder, h: f64) -> Result<()> {
        let sel = Selected {
            h: Some(h),
            median: None,
        };
        self.dir.record_phi(self.ctx, self.k, enc, &self.x, &sel)
    }

    /// The score as the last φ, step or KSD left it in its buffer (read back).
    pub fn score_values(&self) -> Result<Vec<f32>> {
        self.dir.score.read(self.ctx)
    }

    /// φ at the current particles (read back).
    pub fn phi(&mut self, bw: Bandwidth) -> Result<(Vec<f32>, f64)> {
        let (h, _) = self.bandwidth(bw)?;
        let mut enc = Recorder::new(self.ctx);
        self.target.set_steps(self.t);
        self.record_phi(&mut enc, h)?;
        enc.submit(self.ctx);
        let phi = self.dir.phi.read(self.ctx)?;
        self.check_score()?;
        Ok((phi, h))
    }

    /// One SVGD step x ← x + ε·update(φ): one submit and no readback. With the exact median
    /// the selection is recorded into the step's encoder (where the device path serves n;
    /// [`crate::median::DeviceMedian`]), unless a KSD or φ call already selected it for
    /// these particles on the host.
    pub fn step(&mut self, step_size: f64, bw: Bandwidth) -> Result<StepInfo> {
        let mut enc = Recorder::new(self.ctx);
        let info = self.record_step(&mut enc, step_size, bw)?;
        enc.submit(self.ctx);
        Ok(info)
    }

    /// [`Svgd::step`] with every compute pass timed on the device, by phase (`median`,
    /// `score`, `phi`, `update`; [`GpuContext::time_passes`], where the adapter has timestamp
    /// queries): what `stein bench --profile` reports. The step is taken.
    pub fn profile_step(&mut self, step_size: f64, bw: Bandwidth) -> Result<Vec<PassTime>> {
        let ctx = self.ctx;
        let passes = ctx.time_passes(|enc| self.record_step(enc, step_size, bw).map(|_| ()));
        ctx.set_phase("");
        passes
    }

    /// Records one step into `enc` (the median's passes included where they run there).
    fn record_step(
        &mut self,
        enc: &mut Recorder,
        step_size: f64,
        bw: Bandwidth,
    ) -> Result<StepInfo> {
        if !(step_size > 0.0 && step_size.is_finite()) {
            bail!("step size {step_size} must be positive and finite");
        }
        self.ctx.set_phase("median");
        // A host score reads x back anyway: its steps take the median through the host, which
        // refuses particles that diverged (an infinite median) before the closure sees them.
        let on_device = bw == Bandwidth::Median
            && !self.target.on_host()
            && self
                .dir
                .bandwidth
                .record_median(self.ctx, self.k, enc, &self.x)?;
        let info = if on_device {
            StepInfo {
                h: None,
                median: None,
            }
        } else {
            let (h, median) = self.bandwidth(bw)?;
            StepInfo { h: Some(h), median }
        };
        // The update below moves the particles.
        self.dir.bandwidth.moved();
        self.target.set_steps(self.t);
        self.t += 1;
        self.ctx.set_phase("score");
        self.target
            .record(self.ctx, self.k, enc, &self.x, &self.dir.score, self.n)?;
        let sel = Selected {
            h: info.h,
            median: None,
        };
        self.ctx.set_phase("phi");
        self.dir.record_phi(self.ctx, self.k, enc, &self.x, &sel)?;
        self.ctx.set_phase("update");
        self.record_update(enc, step_size)?;
        Ok(info)
    }

    /// The bandwidth of the last step and its median, read back from the device where the
    /// step selected it there (one readback; `info.h` where the host knew it).
    pub fn last_bandwidth(&self, info: &StepInfo) -> Result<(f64, Option<MedianResult>)> {
        if let Some(h) = info.h {
            return Ok((h, info.median));
        }
        let m = self
            .dir
            .bandwidth
            .last_device_median(self.ctx)?
            .ok_or_else(|| anyhow::anyhow!("svgd: no median was selected on the device"))?;
        Ok((crate::bandwidth::from_median(m.med, self.n), Some(m)))
    }

    /// Records the score alone at the current particles, for the minibatch of the next step
    /// (benchmarks time this: [`crate::bench::target`]).
    pub fn record_score(&self, enc: &mut Recorder) -> Result<()> {
        self.target.set_steps(self.t);
        self.target
            .record(self.ctx, self.k, enc, &self.x, &self.dir.score, self.n)
    }

    /// Records the update alone, x ← x + ε·update(φ) with the φ its buffer holds, as a step
    /// of its own (benchmarks time this: [`crate::bench::target`]).
    pub fn record_update_only(&mut self, enc: &mut Recorder, step_size: f64) -> Result<()> {
        ensure!(
            step_size > 0.0 && step_size.is_finite(),
            "step size {step_size} must be positive and finite"
        );
        self.dir.bandwidth.moved();
        self.t += 1;
        self.record_update(enc, step_size)
    }

    /// Records the update of step `self.t` (counted already) from the φ buffer.
    fn record_update(&self, enc: &mut Recorder, step_size: f64) -> Result<()> {
        let len = (self.n * self.d) as u32;
        let t = self.t.min(u64::from(u32::MAX)) as u32;
        let p = match self.optimizer {
            Optimizer::Sgd => UpdateParams {
                len,
                t,
                step_size: step_size as f32,
                ..Default::default()
            },
            Optimizer::Adagrad => UpdateParams {
                len,
                t,
                step_size: step_size as f32,
                beta1: 0.9,
                eps: 1e-6,
                ..Default::default()
            },
            Optimizer::Adam { beta1, beta2, eps } => UpdateParams {
                len,
                t,
                step_size: step_size as f32,
                beta1: beta1 as f32,
                beta2: beta2 as f32,
                eps: eps as f32,
                bc1: (1.0 / (1.0 - beta1.powf(self.t as f64))) as f32,
                bc2: (1.0 / (1.0 - beta2.powf(self.t as f64))) as f32,
                ..Default::default()
            },
        };
        let state: Vec<&GpuVec<f32>> = self.state.iter().collect();
        self.dir
            .record_update(self.ctx, self.k, enc, p, &self.x, &state)
    }

    /// KSD² (V-statistic, U-statistic) of the current particles under the target, with
    /// bandwidth h (U is NaN for n = 1).
    pub fn ksd(&mut self, h: f64) -> Result<(f64, f64)> {
        let mut enc = Recorder::new(self.ctx);
        self.target.set_steps(self.t);
        self.target
            .record(self.ctx, self.k, &mut enc, &self.x, &self.dir.score, self.n)?;
        let bufs = match &mut self.ksd {
            Some(b) => b,
            // Not made up front: making them now says why they do not fit.
            none => none.insert(KsdBuffers::new(self.ctx, self.k, self.n, self.d)?),
        };
        self.k
            .ksd_rows(self.ctx, enc, bufs, &self.x, &self.dir.score, h)?;
        let (rows, diag) = bufs.read(self.ctx)?;
        self.check_score()?;
        Ok(ksd_from_rows(&rows, &diag))
    }

    /// Overwrites the particles (same shape), resetting nothing else.
    pub fn set_particles(&mut self, x: &[f32]) -> Result<()> {
        ensure!(x.len() == self.n * self.d, "set_particles: wrong length");
        self.dir.bandwidth.moved();
        self.x.write(self.ctx, x)
    }
}

/// KSD² V- and U-statistics from per-row sums and diagonal terms, summed in f64 in row order.
pub fn ksd_from_rows(rows: &[f32], diag: &[f32]) -> (f64, f64) {
    let n = rows.len() as f64;
    let all: f64 = rows.iter().map(|&v| f64::from(v)).sum();
    let dg: f64 = diag.iter().map(|&v| f64::from(v)).sum();
    let u = if rows.len() > 1 {
        (all - dg) / (n * (n - 1.0))
    } else {
        f64::NAN
    };
    (all / (n * n), u)
}
