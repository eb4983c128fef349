//! `stein bench --target`: the SVGD step on the user's target, phase by phase. For each n it
//! times the score, the exact median, φ with a fixed h, the AdaGrad update, and the full step
//! (median + score + φ + update), each alone, and reports pair interactions per second
//! (n² / time of φ) and the score's cost against φ's. Before the timings, φ is checked against
//! the f64 reference on sampled rows with the device's score, and the score against the
//! target's f64 host form where it has one (not a WGSL target: `stein check-target` checks
//! that). A minibatched target (`--score-batch`) is timed on its minibatch.

use std::time::Duration;

use anyhow::{ensure, Result};
use serde::Serialize;

use super::{time_checked, time_phases, PhaseProfile};
use crate::gpu::GpuContext;
use crate::io::target::{SplitMix64, Target};
use crate::kernels::Kernels;
use crate::run::{Interrupted, Progress};
use crate::svgd::{target_score, Bandwidth, Optimizer, Svgd};

/// What to sweep.
#[derive(Clone, Debug)]
pub struct TargetBenchConfig {
    /// Smallest n (doubled until `n_max`).
    pub n_min: usize,
    /// Largest n.
    pub n_max: usize,
    /// Stop growing n once a full step takes longer than this.
    pub step_budget: Duration,
    /// Minimum measuring time per figure.
    pub min_time: Duration,
}

impl Default for TargetBenchConfig {
    fn default() -> Self {
        Self {
            n_min: 1024,
            n_max: 65536,
            step_budget: Duration::from_secs(10),
            min_time: Duration::from_millis(500),
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug, Serialize)]
pub struct TargetBenchRow {
    /// Particles.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Seconds per full step with the exact median (median + score + φ + update).
    pub step_seconds: f64,
    /// Seconds per exact median.
    pub median_seconds: f64,
    /// Seconds per score evaluation.
    pub score_seconds: f64,
    /// Seconds per φ with a fixed h.
    pub phi_seconds: f64,
    /// Seconds per AdaGrad update.
    pub update_seconds: f64,
    /// n² / phi_seconds.
    pub pairs_per_second: f64,
    /// score_seconds / phi_seconds.
    pub score_per_phi: f64,
    /// Device memory held by the engine, the target's data included.
    pub device_bytes: u64,
    /// Largest relative error of φ against the f64 reference on the checked rows (with the
    /// device's score).
    pub check_max_rel_err: f64,
    /// Largest relative error of the score against the target's f64 host form on the checked
    /// rows (None for a WGSL target, which has none).
    pub score_check_max_rel_err: Option<f64>,
    /// The φ kernel that ran.
    pub phi_kernel: &'static str,
}

/// The benchmark's result, as written to JSON.
#[derive(Clone, Debug, Serialize)]
pub struct TargetBenchReport {
    /// Adapter name, backend, type and driver.
    pub adapter: String,
    /// The target's kind (`gmm`, `gaussian`, `wgsl`, `logistic`).
    pub kind: &'static str,
    /// Its dimension.
    pub d: usize,
    /// Rows a minibatch of its score reads (None: the target has no rows to batch).
    pub score_batch: Option<usize>,
    /// Its rows, N (None: no rows).
    pub rows: Option<usize>,
    /// How the particles were drawn.
    pub particles: &'static str,
    /// Rows in sweep order.
    pub results: Vec<TargetBenchRow>,
}

/// (rows a minibatch reads, rows) of a target that has rows.
fn batch_of(t: &Target) -> (Option<usize>, Option<usize>) {
    match t {
        Target::Logistic(l) => (Some(l.batch), Some(l.rows)),
        Target::Bnn(b) => (Some(b.batch), Some(b.rows)),
        Target::Wgsl(w) => match &w.batches {
            Some(b) => (Some(b.batch), Some(b.rows)),
            None => (None, None),
        },
        _ => (None, None),
    }
}

/// The particles of a row: the target's own initial draws where it has them (the Bayesian
/// models' prior), else N(0, 1); seed 7.
fn particles(t: &Target, n: usize) -> (Vec<f32>, &'static str) {
    match t.prior_init(n, 7) {
        Some(x) => (x, "the target's prior (--init prior), seed 7"),
        None => {
            let mut rng = SplitMix64::new(7);
            let x = (0..n * t.dim()).map(|_| rng.next_normal() as f32).collect();
            (x, "N(0, 1), seed 7")
        }
    }
}

/// The sizes the sweep plans: n from `n_min` doubling up to `n_max`.
pub fn planned_sizes(cfg: &TargetBenchConfig) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut n = cfg.n_min;
    while n <= cfg.n_max {
        sizes.push(n);
        match n.checked_mul(2) {
            Some(next) => n = next,
            None => break,
        }
    }
    sizes
}

/// Runs the sweep on `target` (with its `--score-batch` applied), calling `report` after
/// each row; stops between timed runs when `progress` asks (the error [`Interrupted`]).
pub fn run(
    ctx: &GpuContext,
    target: &Target,
    cfg: &TargetBenchConfig,
    mut report: impl FnMut(&TargetBenchRow),
    progress: &mut dyn Progress,
) -> Result<TargetBenchReport> {
    ensure!(
        cfg.n_min >= 2 && cfg.n_min <= cfg.n_max,
        "bench: need 2 <= n-min <= n-max"
    );
    let d = target.dim();
    let sizes = planned_sizes(cfg);
    let total = sizes.len() as u64;
    let k = Kernels::new(ctx)?;
    let mut results = Vec::new();
    let mut drawn = "";
    progress.update(0, total);
    for (done, &n) in sizes.iter().enumerate() {
        let done = done as u64;
        let mut check = || -> Result<()> {
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
        check()?;
        let bytes = (n as u128).saturating_mul(d as u128).saturating_mul(4);
        ctx.check_binding(
            &format!("bench n = {n}, d = {d} (the particles)"),
            u64::try_from(bytes).unwrap_or(u64::MAX),
        )?;
        let (x0, how) = particles(target, n);
        drawn = how;
        let score = target_score(ctx, target)?;
        let mut engine = Svgd::new(ctx, &k, score, &x0, n, Optimizer::Adagrad)?;
        let h = crate::bandwidth::from_median(engine.median()?.med, n);
        let (check_max_rel_err, score_check_max_rel_err) = check_rows(&mut engine, target, &x0, h)?;
        let median_seconds =
            time_checked(cfg.min_time, &mut check, || engine.median().map(|_| ()))?;
        let PhaseProfile {
            score_seconds,
            phi_seconds,
            update_seconds,
            ..
        } = time_phases(
            ctx,
            &mut engine,
            h,
            median_seconds,
            cfg.min_time,
            &mut check,
        )?;
        let step_seconds = time_checked(cfg.min_time, &mut check, || {
            engine.step(1e-3, Bandwidth::Median)?;
            ctx.wait()
        })?;
        // A score that went wrong during the timings (a NaN at these particles) voids them.
        engine.check_score()?;
        let row = TargetBenchRow {
            n,
            d,
            step_seconds,
            median_seconds,
            score_seconds,
            phi_seconds,
            update_seconds,
            pairs_per_second: (n as f64) * (n as f64) / phi_seconds,
            score_per_phi: score_seconds / phi_seconds,
            device_bytes: engine.device_bytes(),
            check_max_rel_err,
            score_check_max_rel_err,
            phi_kernel: k.phi_variant(d, n).kernel_name(d),
        };
        report(&row);
        progress.status(&format!(
            "n = {n}: score {:.3e} s, phi {:.3e} s",
            score_seconds, phi_seconds
        ));
        results.push(row);
        progress.update(done + 1, total);
        if step_seconds > cfg.step_budget.as_secs_f64() {
            break;
        }
    }
    progress.finish();
    let (score_batch, rows) = batch_of(target);
    Ok(TargetBenchReport {
        adapter: ctx.adapter_label(),
        kind: target.kind(),
        d,
        score_batch,
        rows,
        particles: drawn,
        results,
    })
}

/// φ at the initial particles on up to 8 rows against the f64 reference with the device's
/// score, and that score against the target's f64 host form where it has one (the minibatch
/// of step 0). Refuses to time a target whose score is not finite there.
fn check_rows(
    engine: &mut Svgd,
    target: &Target,
    x0: &[f32],
    h: f64,
) -> Result<(f64, Option<f64>)> {
    let (n, d) = (engine.n(), engine.d());
    let (phi, _) = engine.phi(Bandwidth::Fixed(h))?;
    let score32 = engine.score_values()?;
    if let Some(j) = score32.iter().position(|v| !v.is_finite()) {
        anyhow::bail!(
            "bench: the score is {} at particle {} coordinate {} of the benchmark's particles; the benchmark cannot time a target there",
            score32[j],
            j / d,
            j % d
        );
    }
    let x: Vec<f64> = x0.iter().map(|&v| f64::from(v)).collect();
    let score: Vec<f64> = score32.iter().map(|&v| f64::from(v)).collect();
    let rows: Vec<usize> = (0..n).step_by((n / 8).max(1)).collect();
    let mut worst: f64 = 0.0;
    for &i in &rows {
        let want = crate::cpu::svgd::phi_row(&x, &score, d, h, i);
        let scale = want.iter().map(|v| v.abs()).fold(1e-3, f64::max);
        for a in 0..d {
            worst = worst.max((f64::from(phi[i * d + a]) - want[a]).abs() / scale);
        }
    }
    ensure!(worst < 1e-3, "bench: φ disagrees with the f64 reference (relative error {worst:e}); refusing to time a wrong kernel");
    let mut score_worst = None;
    for &i in &rows {
        let Some(want) = target.grad_log_density(&x[i * d..(i + 1) * d]) else {
            break;
        };
        let scale = want.iter().map(|v| v.abs()).fold(1e-3, f64::max);
        for a in 0..d {
            let e = (score[i * d + a] - want[a]).abs() / scale;
            score_worst = Some(score_worst.unwrap_or(0.0f64).max(e));
        }
    }
    if let Some(w) = score_worst {
        ensure!(w < 1e-3, "bench: the score disagrees with the target's f64 reference (relative error {w:e}); refusing to time a wrong kernel");
    }
    Ok((worst, score_worst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_doubles_n_up_to_n_max() {
        let cfg = TargetBenchConfig {
            n_min: 3,
            n_max: 24,
            ..Default::default()
        };
        assert_eq!(planned_sizes(&cfg), [3, 6, 12, 24]);
        let cfg = TargetBenchConfig {
            n_min: 5,
            n_max: 5,
            ..Default::default()
        };
        assert_eq!(planned_sizes(&cfg), [5]);
    }
}
