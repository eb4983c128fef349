//! The particle-count benchmark behind `stein bench`: for each d and n it times a full SVGD
//! step (exact median + score + φ + update) and φ alone with a fixed h, and reports pair
//! interactions per second (n² / time of φ) and the device memory the engine holds. Each
//! configuration is checked once against the f64 reference on a subset of rows before it is
//! timed, so a fast wrong kernel cannot win.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use serde::Serialize;

use crate::gpu::GpuContext;
use crate::io::target::{Gmm, SplitMix64};
use crate::kernels::Kernels;
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
    /// Device memory held by the engine.
    pub device_bytes: u64,
    /// Largest relative error of φ against the f64 reference on the checked rows.
    pub check_max_rel_err: f64,
    /// The φ kernel that ran (`STEIN_PHI_LAYOUT` and the device choose it).
    pub phi_kernel: &'static str,
}

/// The benchmark's result, as written to JSON.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Adapter name, backend, type and driver.
    pub adapter: String,
    /// Rows in sweep order.
    pub rows: Vec<BenchRow>,
}

/// Median of repeated timings of `f`, at least 3 runs and at least `min_time` in total.
pub fn time_it(min_time: Duration, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?; // warm-up: pipeline caches, first-touch of buffers
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 3 || (start.elapsed() < min_time && times.len() < 50) {
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

/// Runs the sweep, calling `report` after each row.
pub fn run(
    ctx: &GpuContext,
    cfg: &BenchConfig,
    mut report: impl FnMut(&BenchRow),
) -> Result<BenchReport> {
    ensure!(
        cfg.n_min >= 2 && cfg.n_min <= cfg.n_max,
        "bench: need 2 <= n-min <= n-max"
    );
    let k = Kernels::new(ctx)?;
    let mut rows = Vec::new();
    for &d in &cfg.dims {
        let mut n = cfg.n_min;
        while n <= cfg.n_max {
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
            let h = crate::cpu::median::bandwidth_from_median(med, n);
            let check_max_rel_err = check_rows(&mut engine, &gmm, &x0, h)?;
            let phi_seconds = time_it(cfg.min_time, || {
                let mut enc = ctx.device.create_command_encoder(&Default::default());
                engine.record_phi_only(&mut enc, h)?;
                ctx.queue.submit([enc.finish()]);
                ctx.wait()
            })?;
            let (median_seconds, step_seconds) = if cfg.phi_only {
                (f64::NAN, f64::NAN)
            } else {
                (
                    time_it(cfg.min_time, || engine.median().map(|_| ()))?,
                    time_it(cfg.min_time, || {
                        engine.step(1e-3, Bandwidth::Median)?;
                        ctx.wait()
                    })?,
                )
            };
            let row = BenchRow {
                n,
                d,
                step_seconds,
                phi_seconds,
                pairs_per_second: (n as f64) * (n as f64) / phi_seconds,
                median_seconds,
                device_bytes: engine.device_bytes(),
                check_max_rel_err,
                phi_kernel: k.phi_variant(d, n).kernel_name(d),
            };
            report(&row);
            rows.push(row);
            if step_seconds.max(phi_seconds) > cfg.step_budget.as_secs_f64() {
                break;
            }
            n *= 2;
        }
    }
    Ok(BenchReport {
        adapter: ctx.adapter_label(),
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
