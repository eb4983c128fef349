//! The particle-count benchmark behind `stein bench`: for each d and n it times a full SVGD
//! step (exact median + score + φ + update) and φ alone with a fixed h, and reports pair
//! interactions per second (n² / time of φ) and the device memory the engine holds. Each
//! configuration is checked once against the f64 reference on a subset of rows before it is
//! timed, so a fast wrong kernel cannot win. It also measures the adapter's multiply-add
//! ceiling (`madd_peak.wgsl`), before the sweep and beside every row ([`MaddPeakMeter`]), and
//! reports each φ against the reading next to it: a pair needs at least 2d
//! multiply-adds (d for the distance's dot product, d for the accumulation), so
//! pairs/s · 2d / ceiling is the share of the device's arithmetic φ turns into pairs. Each
//! row also counts the queue submissions and readbacks of one step ([`crate::gpu::GpuCounts`]).

pub mod target;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde::Serialize;

use crate::gpu::params::PeakParams;
use crate::gpu::pipeline::Kernel;
use crate::gpu::{shader, GpuContext, GpuCounts, GpuVec, Recorder};
use crate::io::target::{Gmm, SplitMix64};
use crate::kernels::Kernels;
use crate::run::{Estimate, Interrupted, Progress};
use crate::svgd::{Bandwidth, GmmScore, Optimizer, Svgd};

/// What to sweep.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Smallest n (doubled until `n_max`).
    pub n_min: usize,
    /// Largest n.
    pub n_max: usize,
    /// Dimensions.
    pub dims: Vec<usize>,
    /// Stop growing n for a dimension once a full step takes longer than this.
    pub step_budget: Duration,
    /// Minimum measuring time per figure.
    pub min_time: Duration,
    /// Time φ alone (with the median's h); the step and median columns are left out (NaN,
    /// null in JSON). For quick kernel comparisons.
    pub phi_only: bool,
    /// Time each phase of a step too ([`PhaseProfile`]).
    pub profile: bool,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            n_min: 1024,
            n_max: 65536,
            dims: vec![2, 16, 64],
            step_budget: Duration::from_secs(10),
            min_time: Duration::from_millis(500),
            phi_only: false,
            profile: false,
        }
    }
}

/// One row of the benchmark table.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    /// Particles.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Seconds per full step with the exact median bandwidth.
    pub step_seconds: f64,
    /// Seconds per φ alone with a fixed h.
    pub phi_seconds: f64,
    /// n² / phi_seconds.
    pub pairs_per_second: f64,
    /// Seconds per exact median.
    pub median_seconds: f64,
    /// Queue submissions of one full step with the median bandwidth (a readback's copy
    /// counts as one); `None` with `phi_only`.
    pub step_submits: Option<u64>,
    /// Readbacks of one full step with the median bandwidth; `None` with `phi_only`.
    pub step_readbacks: Option<u64>,
    /// The same two counts for one step with a fixed bandwidth.
    pub fixed_step_counts: crate::gpu::GpuCounts,
    /// Each phase's time (`--profile`; not with `phi_only`).
    pub profile: Option<PhaseProfile>,
    /// Device memory held by the engine.
    pub device_bytes: u64,
    /// Largest relative error of φ against the f64 reference on the checked rows.
    pub check_max_rel_err: f64,
    /// The φ kernel that ran (`STEIN_PHI_LAYOUT` and the device choose it).
    pub phi_kernel: &'static str,
    /// The adapter's multiply-add ceiling ([`MaddPeakMeter`]), measured right after φ's timing.
    pub madd_peak_per_second: f64,
    /// pairs_per_second · 2d / madd_peak_per_second: the share of the device's arithmetic φ
    /// turns into pairs (2d multiply-adds a pair at the least).
    pub of_madd_peak: f64,
}

/// The phases of one step (`stein bench --profile`): score, median, φ and update. Where a
/// hardware adapter has timestamp queries (`clock` = "device") one whole step is recorded with every
/// compute pass timed on the device ([`crate::svgd::Svgd::profile_step`]; the median of five
/// steps per pass), each phase the sum of its passes, every pass listed in `passes`.
/// Otherwise (`clock` = "wall", and `note` says so) each phase is recorded alone, submitted
/// and waited for, and timed on the host's clock like the rest of the table (median of at
/// least three runs): it then includes one submit and one wait, which a step pays once.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseProfile {
    /// `"wall"`: the host's clock around submit and wait.
    pub clock: &'static str,
    /// Seconds of the score at the particles.
    pub score_seconds: f64,
    /// Seconds of the exact median (all its passes, with their submits and readbacks).
    pub median_seconds: f64,
    /// Seconds of φ with the median's h.
    pub phi_seconds: f64,
    /// Seconds of the optimizer's update.
    pub update_seconds: f64,
    /// Each compute pass of the step, in order, where the device timed them.
    pub passes: Vec<crate::gpu::PassTime>,
    /// What the wall clock's figures include, where it timed them.
    pub note: Option<&'static str>,
}

/// `stein bench --profile`'s phases: on the device where the adapter has timestamp queries,
/// else [`time_phases`] on the host's clock.
fn profile_phases(
    ctx: &GpuContext,
    engine: &mut Svgd,
    h: f64,
    median_seconds: f64,
    min_time: Duration,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<PhaseProfile> {
    // llvmpipe writes timestamps that do not bracket a dispatch's work (at n = 4096, d = 2 its
    // timestamps gave φ's pass 0.05 ms where the host's clock gives 21 ms): CPU adapters keep
    // the wall clock.
    if !ctx.has_timestamps() || ctx.info.device_type == wgpu::DeviceType::Cpu {
        return time_phases(ctx, engine, h, median_seconds, min_time, check);
    }
    check()?;
    engine.profile_step(1e-3, Bandwidth::Median)?; // warm-up
    let mut runs = Vec::new();
    for _ in 0..5 {
        check()?;
        runs.push(engine.profile_step(1e-3, Bandwidth::Median)?);
    }
    let first = runs[0].clone();
    anyhow::ensure!(
        runs.iter()
            .all(|r| r.len() == first.len()
                && r.iter().zip(&first).all(|(a, b)| a.kernel == b.kernel)),
        "bench --profile: the timed steps recorded different passes"
    );
    let passes: Vec<crate::gpu::PassTime> = first
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut t: Vec<f64> = runs.iter().map(|r| r[i].seconds).collect();
            t.sort_by(f64::total_cmp);
            crate::gpu::PassTime {
                seconds: t[t.len() / 2],
                ..p.clone()
            }
        })
        .collect();
    let phase = |name: &str| -> f64 {
        passes
            .iter()
            .filter(|p| p.phase == name)
            .map(|p| p.seconds)
            .sum()
    };
    Ok(PhaseProfile {
        clock: "device",
        score_seconds: phase("score"),
        median_seconds: phase("median"),
        phi_seconds: phase("phi"),
        update_seconds: phase("update"),
        note: None,
        passes,
    })
}

/// Times the score, φ at `h` and the update of `engine`, each recorded alone, submitted and
/// waited for ([`PhaseProfile`]; the median's time, taken by the caller, joins them). Shared
/// by `stein bench --profile` and `stein bench --target`.
pub(crate) fn time_phases(
    ctx: &GpuContext,
    engine: &mut Svgd,
    h: f64,
    median_seconds: f64,
    min_time: Duration,
    check: &mut dyn FnMut() -> Result<()>,
) -> Result<PhaseProfile> {
    let mut alone = |f: &mut dyn FnMut(&mut Svgd, &mut Recorder) -> Result<()>| {
        time_checked(min_time, check, || {
            let mut enc = Recorder::new(ctx);
            f(engine, &mut enc)?;
            enc.submit(ctx);
            ctx.wait()
        })
    };
    let score_seconds = alone(&mut |e, enc| e.record_score(enc))?;
    let phi_seconds = alone(&mut |e, enc| e.record_phi_only(enc, h))?;
    let update_seconds = alone(&mut |e, enc| e.record_update_only(enc, 1e-3))?;
    Ok(PhaseProfile {
        clock: "wall",
        score_seconds,
        median_seconds,
        phi_seconds,
        update_seconds,
        passes: Vec::new(),
        note: Some(
            "each phase recorded alone and timed on the host's clock from submit to wait (one \
             submit and wait each, which a step pays once): the adapter has no timestamp \
             queries, or is a CPU adapter, whose timestamps do not bracket a dispatch's work",
        ),
    })
}

/// The benchmark's result, as written to JSON.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Adapter name, backend, type and driver.
    pub adapter: String,
    /// The adapter's multiply-add ceiling, measured before the sweep (each row has its own
    /// reading too).
    pub madd_peak: MaddPeak,
    /// Rows in sweep order.
    pub rows: Vec<BenchRow>,
}

/// Measuring time of the ceiling read beside each row.
const CEILING_TIME: Duration = Duration::from_millis(300);

/// Median of repeated timings of `f`, at least 3 runs and at least `min_time` in total.
pub fn time_it(min_time: Duration, f: impl FnMut() -> Result<()>) -> Result<f64> {
    time_checked(min_time, &mut || Ok(()), f)
}

/// Runs of [`time_it`] after its warm-up: at least 3, and more (at most 50) until `min_time`.
fn timed_runs(min_time: Duration, seconds: f64) -> f64 {
    (min_time.as_secs_f64() / seconds.max(1e-9))
        .ceil()
        .clamp(3.0, 50.0)
}

/// [`time_it`] that calls `check` before each run and fails with its error.
pub(crate) fn time_checked(
    min_time: Duration,
    check: &mut dyn FnMut() -> Result<()>,
    mut f: impl FnMut() -> Result<()>,
) -> Result<f64> {
    check()?;
    f()?; // warm-up: pipeline caches, first-touch of buffers
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 3 || (start.elapsed() < min_time && times.len() < 50) {
        check()?;
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The benchmark target: a two-component mixture in d dimensions, particles from N(0, 2²).
pub fn bench_problem(n: usize, d: usize, seed: u64) -> Result<(Gmm, Vec<f32>)> {
    let gmm = Gmm::new(
        vec![1.0, 2.0],
        vec![vec![-1.0; d], vec![1.5; d]],
        vec![vec![1.0; d], vec![0.7; d]],
    )?;
    let mut rng = SplitMix64::new(seed);
    let x = (0..n * d)
        .map(|_| (2.0 * rng.next_normal()) as f32)
        .collect();
    Ok((gmm, x))
}

/// The adapter's multiply-add ceiling as `madd_peak.wgsl` measures it.
#[derive(Clone, Debug, Serialize)]
pub struct MaddPeak {
    /// Independent multiply-adds per second, each one lane's `fma` (llvmpipe runs it as a
    /// multiply and an add; GPUs as one fused instruction).
    pub madds_per_second: f64,
    /// Invocations of the timed dispatch.
    pub invocations: usize,
    /// Loop passes of each ([`crate::cpu::peak::MADDS_PER_PASS`] multiply-adds a pass).
    pub iters: u32,
    /// Seconds per dispatch (median of the timed runs).
    pub seconds: f64,
    /// Largest relative error of the checked invocations against the f64 reference.
    pub check_max_rel_err: f64,
}

/// `madd_peak` on the device: the kernel and its buffers for one set of chains.
pub struct MaddPeakRun {
    kernel: Kernel,
    km: GpuVec<f32>,
    out: GpuVec<f32>,
    len: usize,
}

impl MaddPeakRun {
    /// Chains with `km` = (k, m) per invocation (see `madd_peak.wgsl`); the output starts NaN.
    pub fn new(ctx: &GpuContext, km: &[f32]) -> Result<Self> {
        let len = km.len() / 2;
        ensure!(
            len >= 1 && km.len() == 2 * len,
            "madd_peak: need (k, m) pairs for at least one invocation"
        );
        let kernel = Kernel::new(ctx, &shader::MADD_PEAK, 64)?;
        // The kernel indexes by gid.x alone: one row of workgroups.
        ctx.check_groups("madd_peak", len.div_ceil(64) as u64)?;
        Ok(Self {
            kernel,
            km: GpuVec::from_slice(ctx, "madd_peak k, m", km)?,
            out: GpuVec::nan_filled(ctx, "madd_peak out", len)?,
            len,
        })
    }

    /// Runs every invocation's chains for `iters` loop passes and waits.
    pub fn run(&self, ctx: &GpuContext, iters: u32) -> Result<()> {
        ctx.check_loop("madd_peak", u64::from(iters) + 1)?;
        let mut enc = Recorder::new(ctx);
        let params = enc.uniform(
            ctx,
            &PeakParams {
                iters,
                len: u32::try_from(self.len).context("madd_peak: invocations past u32")?,
                _pad: [0; 2],
            },
        );
        self.kernel.record_with(
            ctx,
            &mut enc,
            &params,
            &[&self.km.buffer, &self.out.buffer],
            (self.len.div_ceil(64) as u32, 1, 1),
        )?;
        enc.submit(ctx);
        ctx.wait()
    }

    /// Each invocation's sum of its chains, from the last run.
    pub fn output(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        self.out.read(ctx)
    }

    /// Fills the output with NaN, so that the next run must write every value.
    pub fn clear(&self, ctx: &GpuContext) -> Result<()> {
        self.out.write(ctx, &vec![f32::NAN; self.len])
    }
}

/// Chains for `len` invocations: k in [0.1, 1.1), m in [0.5, 0.9) (contracting, so the
/// chains stay near k / (1 − m), never overflow and never turn denormal).
pub fn madd_peak_chains(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..len)
        .flat_map(|_| {
            let k = 0.1 + rng.next_f64();
            let m = 0.5 + 0.4 * rng.next_f64();
            [k as f32, m as f32]
        })
        .collect()
}

/// The multiply-add ceiling, calibrated once and measured again beside every row of the
/// sweep: on a shared 2-core machine it drifts far more than φ does (llvmpipe, 2026-12-01:
/// 3.2e10–5.5e10 per second within hours while φ at d = 64 held within ±4 %), so each φ is
/// set against a reading taken next to it.
pub struct MaddPeakMeter {
    run: MaddPeakRun,
    iters: u32,
    invocations: usize,
    check_max_rel_err: f64,
}

impl MaddPeakMeter {
    /// 4096 workgroups of 64 invocations (enough to fill an H200), passes doubled until a
    /// dispatch takes 100 ms (or the loop budget ends them). 16 invocations are checked
    /// against the f64 chains at that length: theirs have m = 1 and k = 1/16, so their chains
    /// grow by k every step, exactly in f32 (multiples of 1/16 below 2^20), and a driver that
    /// ends the loop early fails the check (contracting chains would sit at k / (1 − m)
    /// either way).
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        let invocations = 64 * 4096;
        let checked = invocations / 16;
        let mut km = madd_peak_chains(invocations, 11);
        for i in (0..invocations).step_by(checked) {
            km[2 * i] = 1.0 / 16.0;
            km[2 * i + 1] = 1.0;
        }
        let run = MaddPeakRun::new(ctx, &km)?;
        let max_iters = (ctx.loop_budget() - 1).min(1 << 20) as u32;
        run.run(ctx, 1)?; // warm-up: the pipeline's first use
        let mut iters = 8u32;
        loop {
            let t = Instant::now();
            run.run(ctx, iters)?;
            if t.elapsed() >= Duration::from_millis(100) || iters > max_iters / 2 {
                break;
            }
            iters *= 2;
        }
        let out = run.output(ctx)?;
        let mut worst: f64 = 0.0;
        for i in (0..invocations).step_by(checked) {
            let (k, m) = (f64::from(km[2 * i]), f64::from(km[2 * i + 1]));
            let want = crate::cpu::peak::madd_chains(k, m, iters);
            worst = worst.max((f64::from(out[i]) - want).abs() / want.abs());
        }
        ensure!(
            worst < 1e-4,
            "bench: madd_peak disagrees with its f64 reference (relative error {worst:e}); refusing to report a ceiling"
        );
        Ok(Self {
            run,
            iters,
            invocations,
            check_max_rel_err: worst,
        })
    }

    /// Times the calibrated dispatch like the sweep (median of at least three runs).
    pub fn measure(&self, ctx: &GpuContext, min_time: Duration) -> Result<MaddPeak> {
        let seconds = time_it(min_time, || self.run.run(ctx, self.iters))?;
        let madds = self.invocations as f64
            * f64::from(self.iters)
            * crate::cpu::peak::MADDS_PER_PASS as f64;
        Ok(MaddPeak {
            madds_per_second: madds / seconds,
            invocations: self.invocations,
            iters: self.iters,
            seconds,
            check_max_rel_err: self.check_max_rel_err,
        })
    }
}

/// The sizes the sweep plans, in order: for each d, n from `n_min` doubling up to `n_max`
/// (a d's larger n are skipped once a step exceeds the budget).
pub fn planned_sizes(cfg: &BenchConfig) -> Vec<(usize, usize)> {
    let mut sizes = Vec::new();
    for &d in &cfg.dims {
        let mut n = cfg.n_min;
        while n <= cfg.n_max {
            sizes.push((d, n));
            match n.checked_mul(2) {
                Some(next) => n = next,
                None => break,
            }
        }
    }
    sizes
}

/// A probe of one dimension at `n_min`: seconds of φ and of a full step there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Probe {
    /// Dimension.
    pub d: usize,
    /// Seconds of φ alone at n_min.
    pub phi_seconds: f64,
    /// Seconds of a full step at n_min (ignored with `phi_only`).
    pub step_seconds: f64,
}

/// The sweep's time from one probe per dimension: each figure grows as n² from its probe,
/// each timing takes its warm-up and [`time_it`]'s runs, the ceiling beside each row takes
/// `ceiling_seconds` a run, and a dimension stops once a step passes the budget, as
/// [`run_with`] does. Returns the estimate with the slowest step it plans.
pub fn sweep_estimate(cfg: &BenchConfig, probes: &[Probe], ceiling_seconds: f64) -> Estimate {
    let timing = |min: Duration, x: f64| x * (1.0 + timed_runs(min, x));
    let (mut total, mut slowest) = (0.0, 0.0f64);
    for p in probes {
        let mut n = cfg.n_min;
        while n <= cfg.n_max {
            let s = (n as f64 / cfg.n_min as f64).powi(2);
            let (phi, step) = (p.phi_seconds * s, p.step_seconds * s);
            let median = (step - phi).max(0.0);
            // The median for h and the checked rows come before the timings.
            total += median + timing(cfg.min_time, phi) + timing(CEILING_TIME, ceiling_seconds);
            let mut longest = phi;
            if !cfg.phi_only {
                total += timing(cfg.min_time, median) + timing(cfg.min_time, step);
                longest = longest.max(step);
            }
            slowest = slowest.max(longest);
            if longest > cfg.step_budget.as_secs_f64() {
                break;
            }
            match n.checked_mul(2) {
                Some(next) => n = next,
                None => break,
            }
        }
    }
    let first = probes.first().map_or(f64::NAN, |p| {
        (cfg.n_min as f64).powi(2) / p.phi_seconds.max(1e-9)
    });
    Estimate {
        seconds: total,
        seconds_per_step: slowest,
        pairs_per_second: first,
    }
}

/// One φ and (without `phi_only`) one full step at `n_min` for each dimension, each after
/// a warm-up.
fn probe(ctx: &GpuContext, k: &Kernels, cfg: &BenchConfig) -> Result<Vec<Probe>> {
    let mut probes = Vec::new();
    for &d in &cfg.dims {
        let n = cfg.n_min;
        let (gmm, x0) = bench_problem(n, d, 7)?;
        let score = Box::new(GmmScore::new(ctx, &gmm)?);
        let mut engine = Svgd::new(ctx, k, score, &x0, n, Optimizer::Adagrad)?;
        let h = crate::bandwidth::from_median(engine.median()?.med, n);
        let once = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
            f()?;
            let t = Instant::now();
            f()?;
            Ok(t.elapsed().as_secs_f64())
        };
        let phi_seconds = once(&mut || {
            let mut enc = Recorder::new(ctx);
            engine.record_phi_only(&mut enc, h)?;
            enc.submit(ctx);
            ctx.wait()
        })?;
        let step_seconds = if cfg.phi_only {
            f64::NAN
        } else {
            once(&mut || {
                engine.step(1e-3, Bandwidth::Median)?;
                ctx.wait()
            })?
        };
        probes.push(Probe {
            d,
            phi_seconds,
            step_seconds,
        });
    }
    Ok(probes)
}

/// Runs the sweep, calling `peak` once the ceiling is first measured and `report` after each
/// row.
pub fn run(
    ctx: &GpuContext,
    cfg: &BenchConfig,
    peak: impl FnOnce(&MaddPeak),
    report: impl FnMut(&BenchRow),
) -> Result<BenchReport> {
    run_with(ctx, cfg, peak, report, &mut crate::run::Silent)
}

/// [`run`] that reports to `progress`: an estimate of the sweep's time before it starts
/// (from a probe of φ and a step at `n_min` for each d, [`sweep_estimate`]), the rows done of
/// those planned ([`planned_sizes`]) with the size being measured, and a stop between any two
/// timed runs when [`Progress::should_stop`] asks (the error [`Interrupted`]: a sweep cut
/// short keeps nothing).
pub fn run_with(
    ctx: &GpuContext,
    cfg: &BenchConfig,
    peak: impl FnOnce(&MaddPeak),
    mut report: impl FnMut(&BenchRow),
    progress: &mut dyn Progress,
) -> Result<BenchReport> {
    ensure!(
        cfg.n_min >= 2 && cfg.n_min <= cfg.n_max,
        "bench: need 2 <= n-min <= n-max"
    );
    // The particles are drawn on the host: every size is checked against the device before
    // anything that size is made (here the smallest of each d; the sweep checks each n).
    let check_size = |n: usize, d: usize| {
        let bytes = (n as u128).saturating_mul(d as u128).saturating_mul(4);
        ctx.check_binding(
            &format!("bench n = {n}, d = {d} (the particles)"),
            u64::try_from(bytes).unwrap_or(u64::MAX),
        )
    };
    for &d in &cfg.dims {
        check_size(cfg.n_min, d)?;
    }
    let planned = planned_sizes(cfg);
    let total = planned.len() as u64;
    let mut done = 0u64;
    let stop_check = |progress: &mut dyn Progress, done: u64| -> Result<()> {
        if progress.should_stop() {
            return Err(Interrupted {
                done,
                total,
                unit: "bench configurations",
            }
            .into());
        }
        Ok(())
    };
    let meter = MaddPeakMeter::new(ctx)?;
    let madd = meter.measure(ctx, cfg.min_time)?;
    peak(&madd);
    let k = Kernels::new(ctx)?;
    stop_check(progress, 0)?;
    progress.estimate(&sweep_estimate(cfg, &probe(ctx, &k, cfg)?, madd.seconds));
    progress.update(0, total);
    let mut rows = Vec::new();
    for &d in &cfg.dims {
        let mut n = cfg.n_min;
        let first = done;
        let of_d = planned.iter().filter(|&&(pd, _)| pd == d).count() as u64;
        while n <= cfg.n_max {
            stop_check(progress, done)?;
            let mut check = || stop_check(progress, done);
            check_size(n, d)?;
            let (gmm, x0) = bench_problem(n, d, 7)?;
            let mut engine = Svgd::new(
                ctx,
                &k,
                Box::new(GmmScore::new(ctx, &gmm)?),
                &x0,
                n,
                Optimizer::Adagrad,
            )?;
            let med = engine.median()?.med;
            let h = crate::bandwidth::from_median(med, n);
            let check_max_rel_err = check_rows(&mut engine, &gmm, &x0, h)?;
            let phi_seconds = time_checked(cfg.min_time, &mut check, || {
                let mut enc = Recorder::new(ctx);
                engine.record_phi_only(&mut enc, h)?;
                enc.submit(ctx);
                ctx.wait()
            })?;
            check()?;
            let ceiling = meter.measure(ctx, CEILING_TIME)?.madds_per_second;
            // One step of each kind, counted (nothing else uses the device meanwhile).
            let counted = |engine: &mut Svgd, bw: Bandwidth| -> Result<GpuCounts> {
                ctx.wait()?;
                let before = ctx.counts();
                engine.step(1e-3, bw)?;
                let counts = ctx.counts() - before;
                ctx.wait()?;
                Ok(counts)
            };
            let fixed_step_counts = counted(&mut engine, Bandwidth::Fixed(h))?;
            let step_counts = match cfg.phi_only {
                true => None,
                false => Some(counted(&mut engine, Bandwidth::Median)?),
            };
            let (median_seconds, step_seconds) = if cfg.phi_only {
                (f64::NAN, f64::NAN)
            } else {
                (
                    time_checked(cfg.min_time, &mut check, || engine.median().map(|_| ()))?,
                    time_checked(cfg.min_time, &mut check, || {
                        engine.step(1e-3, Bandwidth::Median)?;
                        ctx.wait()
                    })?,
                )
            };
            let profile = match cfg.profile && !cfg.phi_only {
                false => None,
                true => Some(profile_phases(
                    ctx,
                    &mut engine,
                    h,
                    median_seconds,
                    cfg.min_time,
                    &mut check,
                )?),
            };
            let row = BenchRow {
                n,
                d,
                step_seconds,
                phi_seconds,
                pairs_per_second: (n as f64) * (n as f64) / phi_seconds,
                median_seconds,
                step_submits: step_counts.map(|c| c.submits),
                step_readbacks: step_counts.map(|c| c.readbacks),
                fixed_step_counts,
                profile,
                device_bytes: engine.device_bytes(),
                check_max_rel_err,
                phi_kernel: k.phi_variant(d, n).kernel_name(d),
                madd_peak_per_second: ceiling,
                of_madd_peak: (n as f64) * (n as f64) / phi_seconds * 2.0 * d as f64 / ceiling,
            };
            report(&row);
            progress.status(&format!(
                "n = {n}, d = {d}: {:.3e} pairs/s",
                row.pairs_per_second
            ));
            rows.push(row);
            done += 1;
            progress.update(done, total);
            if step_seconds.max(phi_seconds) > cfg.step_budget.as_secs_f64() {
                break;
            }
            match n.checked_mul(2) {
                Some(next) => n = next,
                None => break,
            }
        }
        // Sizes skipped over the budget count as done.
        done = first + of_d;
        progress.update(done, total);
    }
    progress.finish();
    Ok(BenchReport {
        adapter: ctx.adapter_label(),
        madd_peak: madd,
        rows,
    })
}

/// φ on up to 8 rows against the f64 reference (O(8·n·d) on the host).
fn check_rows(engine: &mut Svgd, gmm: &Gmm, x0: &[f32], h: f64) -> Result<f64> {
    let (n, d) = (engine.n(), engine.d());
    let (phi, _) = engine.phi(Bandwidth::Fixed(h))?;
    let x: Vec<f64> = x0.iter().map(|&v| f64::from(v)).collect();
    let score = crate::cpu::gmm::score(gmm, &x, d);
    let mut worst: f64 = 0.0;
    for i in (0..n).step_by((n / 8).max(1)) {
        let want = crate::cpu::svgd::phi_row(&x, &score, d, h, i);
        let scale = want.iter().map(|v| v.abs()).fold(1e-3, f64::max);
        for a in 0..d {
            let err = (f64::from(phi[i * d + a]) - want[a]).abs() / scale;
            worst = worst.max(err);
        }
    }
    ensure!(worst < 1e-3, "bench: φ disagrees with the f64 reference (relative error {worst:e}); refusing to time a wrong kernel");
    Ok(worst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(n_max: usize) -> BenchConfig {
        BenchConfig {
            n_min: 1024,
            n_max,
            dims: vec![2],
            step_budget: Duration::from_secs(10),
            // Three timed runs of every figure.
            min_time: Duration::from_millis(1),
            phi_only: false,
            profile: false,
        }
    }

    /// Each row: the median for h, then φ, the ceiling, the median and the step, each with a
    /// warm-up and three runs; figures grow as n² from the probe at n_min; a dimension stops
    /// after the first row whose step passes the budget.
    #[test]
    fn the_sweep_estimate_follows_the_sweep() {
        let probe = Probe {
            d: 2,
            phi_seconds: 0.5,
            step_seconds: 2.0,
        };
        // Ceiling runs of 0.1 s: 300 ms needs three, 0.4 s with the warm-up.
        let row = |s: f64| 1.5 * s + 4.0 * 0.5 * s + 0.4 + 4.0 * 1.5 * s + 4.0 * 2.0 * s;
        let one = sweep_estimate(&config(1024), &[probe], 0.1);
        assert!((one.seconds - row(1.0)).abs() < 1e-9, "{one:?}");
        assert_eq!(one.seconds_per_step, 2.0);
        // n = 1024, 2048 (step 8 s), 4096 (step 32 s: past the 10 s budget, the last row).
        let want = row(1.0) + row(4.0) + row(16.0);
        for n_max in [4096, 1 << 20] {
            let e = sweep_estimate(&config(n_max), &[probe], 0.1);
            assert!((e.seconds - want).abs() < 1e-9, "n_max {n_max}: {e:?}");
            assert_eq!(e.seconds_per_step, 32.0);
        }
        assert_eq!(
            planned_sizes(&config(4096)),
            [(2, 1024), (2, 2048), (2, 4096)]
        );
    }
}
