//! The built-in Bayesian neural network regression (algorithms.md §5.2): the device score
//! against the f64 reference at awkward particle counts, input and hidden sizes and
//! minibatches (cycling past the permutation's end), the reference against §5.2's formula by
//! hand and against finite differences, the authors' initialisation, the development split,
//! the predictive metrics on a hand-computed case, `check-target` and a short run on Boston
//! housing, and bad input refused in one line.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use stein::cpu::bnn;
use stein::gpu::{GpuContext, GpuVec, Recorder};
use stein::io::npy::{read_matrix_f32, write_npy_f32};
use stein::io::target::{load_target, no_device_check, Bnn, SplitMix64, Target};
use stein::kernels::Kernels;
use stein::score::{bnn_score_d_passes, bnn_score_passes, BNN_D_MAX, BNN_H_MAX};
use stein::svgd::{BnnScore, Score};

use super::common::{gpu, stein, Dir};

fn boston() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/boston-housing.csv")
}

/// `Dir` with bnn target files.
trait BnnDir {
    fn target(&self, name: &str, data: &str, response: &str, extra: &str) -> String;
}

impl BnnDir for Dir {
    /// Writes `name.json` = `{"kind": "bnn", "data": data, "response": response, extra}`.
    fn target(&self, name: &str, data: &str, response: &str, extra: &str) -> String {
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(", {extra}")
        };
        self.write(
            &format!("{name}.json"),
            &format!(r#"{{"kind": "bnn", "data": "{data}", "response": "{response}"{extra}}}"#),
        )
        .display()
        .to_string()
    }
}

fn load_bnn(path: &str) -> Result<Bnn> {
    match load_target(Path::new(path), &no_device_check)? {
        Target::Bnn(b) => Ok(b),
        _ => anyhow::bail!("not a bnn target"),
    }
}

/// The Boston housing target with `hidden` units.
fn boston_target(dir: &Dir, hidden: usize) -> Result<Bnn> {
    let p = dir.target(
        &format!("boston{hidden}"),
        &boston().display().to_string(),
        "MEDV",
        &format!(r#""hidden": {hidden}"#),
    );
    load_bnn(&p)
}

/// A CSV of `rows` rows of `d` inputs `a0…` (normals) and a response `y` that depends on them
/// nonlinearly, with noise.
fn synthetic_csv(rows: usize, d: usize, seed: u64) -> String {
    let mut rng = SplitMix64::new(seed);
    let mut s: String = (0..d).map(|k| format!("a{k},")).collect();
    s.push_str("y\n");
    for _ in 0..rows {
        let x: Vec<f64> = (0..d).map(|_| rng.next_normal()).collect();
        let y = 3.0 + x.iter().map(|v| v.abs()).sum::<f64>() - x[0] + 0.1 * rng.next_normal();
        for v in &x {
            s.push_str(&format!("{v},"));
        }
        s.push_str(&format!("{y}\n"));
    }
    s
}

/// The synthetic target: `rows` rows, `d` inputs, `hidden` units.
fn synthetic_target(dir: &Dir, rows: usize, d: usize, hidden: usize) -> Result<Bnn> {
    let name = format!("syn{rows}x{d}h{hidden}");
    dir.write(&format!("{name}.csv"), &synthetic_csv(rows, d, rows as u64));
    let p = dir.target(
        &name,
        &format!("{name}.csv"),
        "y",
        &format!(r#""hidden": {hidden}, "seed": 4"#),
    );
    load_bnn(&p)
}

/// `s` recorded at `x` (after `steps` steps) into a NaN-filled buffer, read back.
fn score_at(
    ctx: &GpuContext,
    k: &Kernels,
    s: &dyn Score,
    x: &[f32],
    n: usize,
    steps: u64,
) -> Result<Vec<f32>> {
    let xs = GpuVec::from_slice(ctx, "x", x)?;
    let out = GpuVec::nan_filled(ctx, "score", n * s.dim())?;
    let mut enc = Recorder::new(ctx);
    s.set_steps(steps);
    s.record(ctx, k, &mut enc, &xs, &out, n)?;
    enc.submit(ctx);
    out.read(ctx)
}

/// Particles: even rows the authors' initial draws, odd rows small normals around
/// log γ = log λ = 0 with biases away from zero.
fn particles(t: &Bnn, n: usize, seed: u64) -> Vec<f32> {
    let d = t.dim();
    let prior = t.prior_init(n, seed);
    let mut rng = SplitMix64::new(seed + 100);
    (0..n * d)
        .map(|e| {
            if (e / d).is_multiple_of(2) {
                prior[e]
            } else {
                (0.3 * rng.next_normal()) as f32
            }
        })
        .collect()
}

/// f64 copy of particle `i`.
fn theta(x: &[f32], d: usize, i: usize) -> Vec<f64> {
    x[i * d..(i + 1) * d]
        .iter()
        .map(|&v| f64::from(v))
        .collect()
}

/// How far each coordinate of the f32 score may stray from the f64 reference because a
/// pre-activation z_tj within `eps` of ReLU's kink may fall on either side in f32: the row's
/// whole contribution to W1[·, j] and b1_j.
fn kink_slack(t: &Bnn, th: &[f64], step: u64, eps: f64) -> Vec<f64> {
    let (d, h) = (t.d, t.hidden);
    let p = t.weights();
    let c = t.rows as f64 / t.batch as f64 * th[p].exp();
    let mut slack = vec![0.0; t.dim()];
    for r in t.batch_rows(step) {
        let x = &t.x[r * d..(r + 1) * d];
        for j in 0..h {
            let z: f64 = (0..d).map(|k| x[k] * th[k * h + j]).sum::<f64>() + th[t.b1_offset() + j];
            if z.abs() < eps {
                let res = (bnn::forward(t, th, x) - t.y[r]).abs() + 1.0;
                let a = 2.0 * c * res * th[t.w2_offset() + j].abs();
                slack[t.b1_offset() + j] += a;
                for k in 0..d {
                    slack[k * h + j] += a * x[k].abs();
                }
            }
        }
    }
    slack
}

/// Compares `bnn_score` with `cpu::bnn::grad` for target `t` at `steps`, n particles each:
/// error relative to each particle's largest component (1e-4), plus [`kink_slack`].
fn compare(ctx: &GpuContext, k: &Kernels, t: &Bnn, steps: u64, ns: &[usize]) -> Result<()> {
    let s = BnnScore::new(ctx, t)?;
    let d = t.dim();
    for &n in ns {
        let x = particles(t, n, n as u64 + 31 * t.hidden as u64);
        let got = score_at(ctx, k, &s, &x, n, steps)?;
        for i in 0..n {
            let th = theta(&x, d, i);
            let want = bnn::grad(t, &th, steps);
            let slack = kink_slack(t, &th, steps, 1e-4);
            let scale = want.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
            for c in 0..d {
                let g = f64::from(got[i * d + c]);
                ensure!(
                    (g - want[c]).abs() <= 1e-4 * scale + slack[c],
                    "d {} H {} batch {} step {steps} n {n}: particle {i} coordinate {c}: {g} vs {}",
                    t.d,
                    t.hidden,
                    t.batch,
                    want[c]
                );
            }
        }
    }
    Ok(())
}

/// The f32 score against the f64 reference: Boston housing (d = 13, N = 506) with H = 50 at
/// n = 1, 2, 7, 63, 64, 65, 257 on minibatches of 100 at step 5 (rows 500..506 then 0..94)
/// and n = 1, 2, 7, 65 on the full data; H = 3 and 65 (past one invocation per unit); d = 1
/// with H = 1 and 3 on 37
/// rows, minibatches of 10 at step 5 (rows 13..23 of the second pass).
#[test]
fn bnn_score_matches_f64_reference() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let dir = Dir::new();
    let b50 = boston_target(&dir, 50)?;
    ensure!(
        b50.rows == 506 && b50.d == 13 && b50.dim() == 753,
        "{} {} {}",
        b50.rows,
        b50.d,
        b50.dim()
    );
    // The full data costs lavapipe about 13 ms a particle: the awkward counts run on
    // minibatches, the full data on a few.
    compare(ctx, k, &b50, 0, &[1, 2, 7, 65])?;
    let all = [1, 2, 7, 63, 64, 65, 257];
    compare(ctx, k, &b50.clone().with_batch(Some(100))?, 5, &all)?;
    for h in [3, 65] {
        let t = boston_target(&dir, h)?;
        compare(ctx, k, &t, 0, &[1, 2])?;
        compare(ctx, k, &t.with_batch(Some(100))?, 5, &[1, 2, 65])?;
    }
    for h in [1, 3] {
        let t = synthetic_target(&dir, 37, 1, h)?;
        compare(ctx, k, &t, 0, &[1, 2, 7, 65])?;
        compare(ctx, k, &t.with_batch(Some(10))?, 5, &[1, 2, 7, 65])?;
    }
    Ok(())
}

/// `bnn_score_d` (d <= BNN_D_MAX, H <= BNN_H_MAX) and `bnn_score` past either, each taken
/// where it should be, against the f64 reference (the tolerance of [`compare`]) on 130
/// synthetic rows: the full data (two whole tiles of 63 rows and 4 more) and minibatches of 64
/// at step 2 (rows 128, 129, then 0..62: past the end); d = 1, 3, 4 and 5 (the response in the last lane of a texel, or
/// alone in a texel of its own), 13 and the largest, 64, then 65; H = 1, 63 and the largest,
/// 64, then 65; n = 1, 2, 7 and 65.
#[test]
fn bnn_score_d_matches_f64_reference_at_its_sizes() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let dir = Dir::new();
    let cases = [
        (1, 1, "bnn_score_d"),
        (3, 7, "bnn_score_d"),
        (4, 64, "bnn_score_d"),
        (5, 63, "bnn_score_d"),
        (13, 50, "bnn_score_d"),
        (BNN_D_MAX, 3, "bnn_score_d"),
        (BNN_D_MAX + 1, 3, "bnn_score"),
        (4, BNN_H_MAX + 1, "bnn_score"),
    ];
    for (d, h, kernel) in cases {
        let t = synthetic_target(&dir, 130, d, h)?;
        let s = BnnScore::new(ctx, &t)?;
        ensure!(
            s.kernel_name() == kernel,
            "d {d} H {h}: {} instead of {kernel}",
            s.kernel_name()
        );
        compare(ctx, k, &t, 0, &[1, 2, 7, 65])?;
        compare(ctx, k, &t.with_batch(Some(64))?, 2, &[1, 2, 7])?;
    }
    Ok(())
}

/// Several steps' scores recorded into one encoder and submitted once each match the
/// reference at their own minibatch: the step's position reaches the kernel through its
/// uniform, with no readback or submit between steps.
#[test]
fn bnn_score_steps_stay_on_the_device() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let dir = Dir::new();
    let t = synthetic_target(&dir, 37, 2, 5)?.with_batch(Some(10))?;
    let s = BnnScore::new(ctx, &t)?;
    let (n, d) = (3, t.dim());
    let x = particles(&t, n, 5);
    let xs = GpuVec::from_slice(ctx, "x", &x)?;
    let outs: Vec<GpuVec<f32>> = (0..4)
        .map(|_| GpuVec::nan_filled(ctx, "score", n * d))
        .collect::<Result<_>>()?;
    let mut enc = Recorder::new(ctx);
    for (step, out) in outs.iter().enumerate() {
        s.set_steps(step as u64);
        s.record(ctx, k, &mut enc, &xs, out, n)?;
    }
    enc.submit(ctx);
    for (step, out) in outs.iter().enumerate() {
        let got = out.read(ctx)?;
        for i in 0..n {
            let th = theta(&x, d, i);
            let want = bnn::grad(&t, &th, step as u64);
            let slack = kink_slack(&t, &th, step as u64, 1e-4);
            let scale = want.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
            for c in 0..d {
                let g = f64::from(got[i * d + c]);
                ensure!(
                    (g - want[c]).abs() <= 1e-4 * scale + slack[c],
                    "step {step} particle {i} coordinate {c}: {g} vs {}",
                    want[c]
                );
            }
        }
    }
    Ok(())
}

/// §5.2's log-density by hand on two rows: x = (0, 2), y = (1, 3), unstandardised, H = 1,
/// θ = (W1 = 1, b1 = 0, w2 = 2, b2 = 0.5, log γ = 0, log λ = 0): ŷ = (0.5, 4.5), Σr² = 2.5,
/// P = 4, ‖w‖² = 5.25, a0 = 1, b0 = 0.1:
/// −(2/2)·log 2π − 2.5/2 − 0.1 − (4/2)·log 2π − 5.25/2 − 0.1 = −3 log 2π − 4.075.
#[test]
fn bnn_log_density_is_the_formula_by_hand() -> Result<()> {
    let dir = Dir::new();
    dir.write("two.csv", "x,y\n0,1\n2,3\n");
    let t = load_bnn(&dir.target(
        "two",
        "two.csv",
        "y",
        r#""hidden": 1, "standardize": false"#,
    ))?;
    ensure!(t.dim() == 6 && t.weights() == 4, "{}", t.dim());
    let th = [1.0, 0.0, 2.0, 0.5, 0.0, 0.0];
    let want = -3.0 * (2.0 * PI).ln() - 4.075;
    let got = bnn::log_density(&t, &th, 0);
    ensure!((got - want).abs() < 1e-12, "{got} vs {want}");
    ensure!(bnn::forward(&t, &th, &[2.0]) == 4.5, "forward");
    // ∂/∂b2 = −γ Σ r − λ b2 = −1 − 0.5; ∂/∂log γ = 2/2 − 2.5/2 − 0.1 + 1.
    let g = bnn::grad(&t, &th, 0);
    ensure!(
        (g[3] + 1.5).abs() < 1e-12 && (g[4] - 0.65).abs() < 1e-12,
        "{g:?}"
    );
    ensure!(bnn::log_density(&t, &th[..5], 0).is_nan(), "wrong length");
    Ok(())
}

/// The reference gradient against central differences of the reference log-density on small
/// data (23 rows, d = 3, H = 4, few kinks to cross), full and on a minibatch of 7 that cycles
/// past the permutation's end; and the minibatch is what §5.2 says.
#[test]
fn bnn_reference_gradient_matches_finite_differences() -> Result<()> {
    let dir = Dir::new();
    let base = synthetic_target(&dir, 23, 3, 4)?;
    for (batch, step) in [(None, 0), (Some(7), 3)] {
        let t = base.clone().with_batch(batch)?;
        if batch.is_some() {
            let rows: Vec<usize> = t.batch_rows(3).collect();
            let want: Vec<usize> = (21..28).map(|j| t.perm[j % 23]).collect();
            ensure!(rows == want, "step 3's rows");
        }
        let x = particles(&t, 4, 9);
        let d = t.dim();
        for i in 0..4 {
            let th = theta(&x, d, i);
            let g = bnn::grad(&t, &th, step);
            let scale = g.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
            for c in 0..d {
                let h = 1e-6 * th[c].abs().max(1.0);
                let (mut up, mut down) = (th.clone(), th.clone());
                up[c] += h;
                down[c] -= h;
                let fd = (bnn::log_density(&t, &up, step) - bnn::log_density(&t, &down, step))
                    / (up[c] - down[c]);
                ensure!(
                    (fd - g[c]).abs() <= 1e-6 * scale.max(fd.abs()),
                    "batch {batch:?} particle {i} coordinate {c}: gradient {} vs finite difference {fd}",
                    g[c]
                );
            }
        }
    }
    Ok(())
}

/// `--init prior` is the authors' (§5.2): W1 ~ N(0, 1/(d+1)), b1 = 0, w2 ~ N(0, 1/(H+1)),
/// b2 = 0, λ ~ Gamma(1, scale 0.1) (E log λ = log 0.1 − γ_E), log γ = −log MSE of the
/// particle's network on the training rows (all 506 of Boston's, ≤ 1000); seeded. Past 1000
/// rows, log γ comes from 1000 of them: finite and near the all-rows value.
#[test]
fn bnn_prior_init_is_the_authors() -> Result<()> {
    let dir = Dir::new();
    let t = boston_target(&dir, 50)?;
    let (n, d, h) = (300, t.dim(), 50);
    let x = t.prior_init(n, 1);
    ensure!(x.len() == n * d, "shape");
    ensure!(x == t.prior_init(n, 1) && x != t.prior_init(n, 2), "seeded");
    let (mut v1, mut v2, mut ll) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let th = theta(&x, d, i);
        ensure!(
            th[t.b1_offset()..t.w2_offset()].iter().all(|&v| v == 0.0) && th[t.b2_offset()] == 0.0,
            "biases are 0"
        );
        v1 += th[..13 * h].iter().map(|v| v * v).sum::<f64>() / (n * 13 * h) as f64;
        v2 += th[t.w2_offset()..t.b2_offset()]
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            / (n * h) as f64;
        ll += th[d - 1] / n as f64;
        let mse = (0..t.rows)
            .map(|r| (bnn::forward(&t, &th, &t.x[r * 13..(r + 1) * 13]) - t.y[r]).powi(2))
            .sum::<f64>()
            / t.rows as f64;
        ensure!(
            (th[d - 2] + mse.ln()).abs() < 1e-5,
            "particle {i}: log γ {} vs −log MSE {}",
            th[d - 2],
            -mse.ln()
        );
    }
    ensure!(
        (v1 * 14.0 - 1.0).abs() < 0.02,
        "W1 variance {v1}, want 1/14"
    );
    ensure!(
        (v2 * 51.0 - 1.0).abs() < 0.05,
        "w2 variance {v2}, want 1/51"
    );
    let want = 0.1f64.ln() - 0.577_215_664_9;
    ensure!((ll - want).abs() < 0.25, "mean log λ {ll}, want {want}");

    let big = synthetic_target(&dir, 1200, 2, 5)?;
    let x = big.prior_init(20, 3);
    let dd = big.dim();
    for i in 0..20 {
        let th = theta(&x, dd, i);
        let mse = (0..big.rows)
            .map(|r| (bnn::forward(&big, &th, &big.x[r * 2..(r + 1) * 2]) - big.y[r]).powi(2))
            .sum::<f64>()
            / big.rows as f64;
        let lg = th[dd - 2];
        ensure!(
            lg.is_finite() && (lg + mse.ln()).abs() < 0.3,
            "particle {i}: log γ {lg} vs −log MSE over all rows {}",
            -mse.ln()
        );
    }
    Ok(())
}

/// The development split: the last round(f·N) rows of the file (NumPy's rounding: 2.5 → 2),
/// at most 500, kept raw and out of the training rows and their statistics.
#[test]
fn bnn_dev_rows_are_the_files_last_and_out_of_the_statistics() -> Result<()> {
    let dir = Dir::new();
    // 25 rows: x = 0..24, y = x² (the last rows are far from the others).
    let mut csv = String::from("x,y\n");
    for r in 0..25 {
        csv.push_str(&format!("{r},{}\n", r * r));
    }
    dir.write("sq.csv", &csv);
    let t = load_bnn(&dir.target("sq", "sq.csv", "y", r#""dev_fraction": 0.1"#))?;
    ensure!(t.rows == 23 && t.dev_rows == 2, "{} {}", t.rows, t.dev_rows);
    ensure!(
        t.dev_x == [23.0, 24.0] && t.dev_y == [529.0, 576.0],
        "dev rows"
    );
    let mut p = t.perm.clone();
    p.sort();
    ensure!(
        p == (0..23).collect::<Vec<_>>(),
        "the permutation is of the training rows"
    );
    let mean: f64 = (0..23).map(f64::from).sum::<f64>() / 23.0;
    let var: f64 = (0..23).map(|r| (f64::from(r) - mean).powi(2)).sum::<f64>() / 23.0;
    let my: f64 = (0..23).map(|r| f64::from(r * r)).sum::<f64>() / 23.0;
    let vy: f64 = (0..23)
        .map(|r| (f64::from(r * r) - my).powi(2))
        .sum::<f64>()
        / 23.0;
    ensure!(
        (t.mean[0] - mean).abs() < 1e-12
            && (t.std[0] - var.sqrt()).abs() < 1e-12
            && (t.mean_y - my).abs() < 1e-9
            && (t.std_y - vy.sqrt()).abs() < 1e-9,
        "statistics {:?} {:?} {} {}",
        t.mean,
        t.std,
        t.mean_y,
        t.std_y
    );
    ensure!(
        (t.x[22] - (22.0 - mean) / var.sqrt()).abs() < 1e-12,
        "x standardised"
    );
    ensure!(
        (t.y[22] - (484.0 - my) / vy.sqrt()).abs() < 1e-12,
        "y standardised"
    );
    let t = load_bnn(&dir.target("sq3", "sq.csv", "y", r#""dev_fraction": 0.3"#))?;
    ensure!(
        t.dev_rows == 8 && t.rows == 17,
        "7.5 rounds to 8: {}",
        t.dev_rows
    );
    let t = load_bnn(&dir.target("sq0", "sq.csv", "y", ""))?;
    ensure!(
        t.dev_rows == 0 && t.rows == 25 && t.dev_x.is_empty(),
        "no dev rows"
    );
    dir.write("big.csv", &synthetic_csv(6000, 1, 2));
    let t = load_bnn(&dir.target("big", "big.csv", "y", r#""dev_fraction": 0.1"#))?;
    ensure!(
        t.dev_rows == 500 && t.rows == 5500,
        "at most 500: {}",
        t.dev_rows
    );
    Ok(())
}

/// The metrics on a case computed by hand, in the data's units: two particles ŷ_a = relu(x)
/// with γ = 1 and ŷ_b = 2 relu(x) + 1 with γ = 4, test rows (x, y) = (1, 1.5), (−1, 0.5);
/// predictions mapped back through the training statistics; the development-set rule.
#[test]
fn bnn_metrics_match_a_hand_computed_case() -> Result<()> {
    let dir = Dir::new();
    dir.write("tiny.csv", "x,y\n0,1\n2,3\n");
    let t = load_bnn(&dir.target(
        "tiny",
        "tiny.csv",
        "y",
        r#""hidden": 1, "standardize": false"#,
    ))?;
    let a = [1.0, 0.0, 1.0, 0.0, 0.0, 0.3];
    let b = [1.0, 0.0, 2.0, 1.0, 4f64.ln(), -0.2];
    let parts: Vec<f64> = a.iter().chain(&b).copied().collect();
    let m = bnn::metrics(&t, &parts, &[1.0, -1.0], &[1.5, 0.5], false)?;
    // Means (2, 0.5): RMSE √((0.5² + 0)/2).
    ensure!((m.rmse - 0.125f64.sqrt()).abs() < 1e-12, "rmse {}", m.rmse);
    let row1 = ((-0.125f64).exp() + 2.0 * (-4.5f64).exp()) / 2.0;
    let row2 = ((-0.125f64).exp() + 2.0 * (-0.5f64).exp()) / 2.0;
    let want = (row1.ln() + row2.ln()) / 2.0 - 0.5 * (2.0 * PI).ln();
    ensure!(
        (m.log_likelihood - want).abs() < 1e-12,
        "log-likelihood {} vs {want}",
        m.log_likelihood
    );
    // A large γ far from the data: the log-mean-exp stays finite.
    let far = [1.0, 0.0, 1.0, 50.0, 20.0, 0.0];
    let m = bnn::metrics(&t, &far, &[1.0], &[1.5], false)?;
    let want = 10.0 - 0.5 * (2.0 * PI).ln() - 0.5 * 20f64.exp() * 49.5f64.powi(2);
    ensure!(
        (m.log_likelihood / want - 1.0).abs() < 1e-12,
        "{} vs {want}",
        m.log_likelihood
    );
    ensure!(
        bnn::metrics(&t, &parts, &[1.0], &[1.5], true)
            .unwrap_err()
            .to_string()
            .contains("\"dev_fraction\""),
        "the rule needs development rows"
    );

    // Standardised: training x = (0, 2, 4, 6), y = (1, 5, 1, 5): mean_x 3, std_x √5,
    // mean_y 3, std_y 2; x = 3 + √5 standardises to 1, ŷ_a = 1 maps back to 5.
    dir.write("std.csv", "x,y\n0,1\n2,5\n4,1\n6,5\n3,4\n5,7\n");
    let t = load_bnn(&dir.target("std", "std.csv", "y", r#""hidden": 1, "dev_fraction": 0.3"#))?;
    ensure!(t.rows == 4 && t.dev_rows == 2, "{}", t.dev_rows);
    let p = bnn::predict_data_units(&t, &a, &[3.0 + 5f64.sqrt(), 0.0]);
    ensure!(
        (p[0] - 5.0).abs() < 1e-12 && (p[1] - 3.0).abs() < 1e-12,
        "{p:?}"
    );
    // The rule: dev rows x = (3, 5) → standardised (0, 2/√5); particle a predicts (3, 3 + 4/√5)
    // in data units against y = (4, 7): log γ' = −log mean((1, 4 − 4/√5)²) beats log γ = 0.
    let mse = (1.0 + (4.0 - 4.0 / 5f64.sqrt()).powi(2)) / 2.0;
    let lg = bnn::dev_log_gamma(&t, &parts)?;
    ensure!((lg[0] + mse.ln()).abs() < 1e-12, "{lg:?} vs {}", -mse.ln());
    // A particle already at the rule's value keeps it (not strictly better).
    let mut kept = a;
    kept[4] = lg[0];
    ensure!(bnn::dev_log_gamma(&t, &kept)? == vec![kept[4]], "kept");
    let with = bnn::metrics(&t, &parts, &[1.0, 4.0], &[4.0, 5.0], true)?;
    let mut replaced = parts.clone();
    replaced[4] = lg[0];
    replaced[10] = lg[1];
    let manual = bnn::metrics(&t, &replaced, &[1.0, 4.0], &[4.0, 5.0], false)?;
    ensure!(with == manual, "{with:?} vs {manual:?}");
    ensure!(
        bnn::metrics(&t, &parts[..7], &[1.0], &[1.0], false).is_err(),
        "particles of the wrong length"
    );
    Ok(())
}

/// `stein check-target` on a bnn target passes the model's gradient at its initial particles
/// (f64 central differences of the reference log-density on the host).
#[test]
fn check_target_passes_a_bnn_target() -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    let dir = Dir::new();
    let t = synthetic_target(&dir, 40, 3, 6)?;
    let x = particles(&t, 6, 2);
    write_npy_f32(&dir.path("p.npy"), &x, &[6, t.dim()])?;
    let o = stein(&[
        "check-target",
        &dir.s("syn40x3h6.json"),
        "--particles",
        &dir.s("p.npy"),
    ]);
    ensure!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    ensure!(
        r["passed"] == true && r["precision"] == "f64 on the host" && r["d"] == t.dim(),
        "{r}"
    );
    Ok(())
}

/// A short run on Boston housing as the authors ran it (prior init, minibatches of 100,
/// AdaGrad): the particles come back finite and fit the training rows better than at the start.
#[test]
fn svgd_on_boston_bnn_runs_and_fits() -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    let dir = Dir::new();
    let target = dir.target("b", &boston().display().to_string(), "MEDV", "");
    let out = dir.s("p.npy");
    let o = stein(&[
        "svgd",
        "--target",
        &target,
        "--init",
        "prior",
        "--n",
        "20",
        "--seed",
        "3",
        "--steps",
        "30",
        "--step-size",
        "0.02",
        "--score-batch",
        "100",
        "--out",
        &out,
    ]);
    ensure!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = load_bnn(&target)?;
    let (x, n, d) = read_matrix_f32(&dir.path("p.npy"), "p")?;
    ensure!(n == 20 && d == t.dim(), "{n} {d}");
    ensure!(x.iter().all(|v| v.is_finite()), "finite");
    let rmse = |x: &[f32]| -> f64 {
        let parts: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        let mut se = 0.0;
        for r in 0..t.rows {
            let xr = &t.x[r * t.d..(r + 1) * t.d];
            let mean = (0..n)
                .map(|i| bnn::forward(&t, &parts[i * d..(i + 1) * d], xr))
                .sum::<f64>()
                / n as f64;
            se += (mean - t.y[r]).powi(2);
        }
        (se / t.rows as f64).sqrt()
    };
    let (before, after) = (rmse(&t.prior_init(20, 3)), rmse(&x));
    ensure!(
        after < 0.7 * before,
        "training RMSE (standardised) {before} at the start, {after} after"
    );
    Ok(())
}

/// Runs `stein svgd` on `target` with `extra`; checks exit 2, one line containing every
/// `want`, no output.
fn refused(dir: &Dir, target: &str, extra: &[&str], want: &[&str]) -> Result<()> {
    let out = dir.s("out.npy");
    let mut args = vec![
        "svgd",
        "--target",
        target,
        "--steps",
        "2",
        "--step-size",
        "0.01",
        "--out",
        &out,
        "--init",
        "prior",
        "--n",
        "3",
    ];
    args.extend(extra);
    let o = stein(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    ensure!(
        o.status.code() == Some(2),
        "exit {:?}: {err}",
        o.status.code()
    );
    ensure!(err.trim().lines().count() == 1, "one line: {err}");
    for w in want {
        ensure!(err.contains(w), "want {w:?} in: {err}");
    }
    ensure!(!dir.path("out.npy").exists(), "output written: {err}");
    Ok(())
}

/// A missing response column, a non-finite input or response, a constant response,
/// `dev_fraction` outside [0, 1) or rounding to no rows, no hidden units, an unknown field,
/// a row too wide for the kernel's tile, and (on llvmpipe) a minibatch past its loop limit:
/// one line each, exit 2, nothing written.
#[test]
fn bad_bnn_input_is_refused_in_one_line() -> Result<()> {
    let dir = Dir::new();
    dir.write("good.csv", "a,b,y\n1,2,0\n2,3,1\n4,1,3\n");
    let t = |name: &str, csv: &str, extra: &str| -> String {
        dir.write(&format!("{name}.csv"), csv);
        dir.target(name, &format!("{name}.csv"), "y", extra)
    };
    let missing = dir.target("missing", "good.csv", "MEDV", "");
    refused(
        &dir,
        &missing,
        &[],
        &["response column \"MEDV\" is not in the data", "a, b, y"],
    )?;
    let nan = t("nan", "a,b,y\n1,2,0\n2,nan,1\n", "");
    refused(&dir, &nan, &[], &["input \"b\" is NaN in row 2"])?;
    let inf = t("inf", "a,b,y\n1,2,0\n2,3,-inf\n", "");
    refused(&dir, &inf, &[], &["response \"y\" is -inf in row 2"])?;
    let flat = t("flat", "a,b,y\n1,2,7\n2,3,7\n", "");
    refused(
        &dir,
        &flat,
        &[],
        &["response \"y\" is 7 in every training row"],
    )?;
    for f in ["-0.1", "1", "1.5"] {
        let p = dir.target(
            &format!("f{f}"),
            "good.csv",
            "y",
            &format!(r#""dev_fraction": {f}"#),
        );
        refused(&dir, &p, &[], &["\"dev_fraction\"", "[0, 1)"])?;
    }
    let few = dir.target("few", "good.csv", "y", r#""dev_fraction": 0.1"#);
    refused(&dir, &few, &[], &["rounds to no development rows"])?;
    let h0 = dir.target("h0", "good.csv", "y", r#""hidden": 0"#);
    refused(&dir, &h0, &[], &["\"hidden\" is 0"])?;
    let hneg = dir.target("hneg", "good.csv", "y", r#""hidden": -3"#);
    refused(
        &dir,
        &hneg,
        &[],
        &["invalid bnn target", "\"kind\": \"bnn\""],
    )?;
    let typo = dir.target("typo", "good.csv", "y", r#""hiden": 5"#);
    refused(&dir, &typo, &[], &["unknown field `hiden`"])?;
    let only = t("only", "y\n1\n2\n", "");
    refused(&dir, &only, &[], &["only the response column"])?;
    let good = dir.target("good", "good.csv", "y", "");
    refused(
        &dir,
        &good,
        &["--score-batch", "4"],
        &["--score-batch 4", "3 rows"],
    )?;
    if gpu()?.is_none() {
        return Ok(());
    }
    let wide = dir.target("wide", "good.csv", "y", r#""hidden": 3902"#);
    refused(
        &dir,
        &wide,
        &[],
        &["3905 floats past its 3904", "\"hidden\""],
    )?;
    let (ctx, _) = gpu()?.unwrap();
    if ctx.loop_limit().is_some() {
        // Past the loop limit of both kernels (bnn_score_d takes up to about 3600 rows at
        // d = 13, H = 50; bnn_score about 2300).
        dir.write("many.csv", &synthetic_csv(6000, 13, 1));
        let many = dir.target("many", "many.csv", "y", "");
        refused(&dir, &many, &[], &["bnn_score (6000 rows", "--score-batch"])?;
    }
    Ok(())
}

/// The loop counts of `bnn_score` and `bnn_score_d` grow as the kernels' loops do: about
/// 2·m·(d + 1) per unit slot and m·(3·(d/4 + 1) + 6) (the authors' size is far inside
/// llvmpipe's 65 535, the full 506 Boston rows too).
#[test]
fn bnn_score_loop_passes_follow_the_sizes() {
    let paper = bnn_score_passes(100, 13, 50);
    assert!((2800..4000).contains(&paper), "{paper}");
    assert!(bnn_score_passes(506, 13, 50) < 60_000);
    assert!(bnn_score_passes(2500, 13, 50) > 65_535);
    // H = 65 takes a second unit slot: about twice the forward and backward passes.
    let two = bnn_score_passes(100, 13, 65);
    assert!(two > 2 * paper - 400, "{two} vs {paper}");
    // bnn_score_d: about m·(3·(d/4 + 1) + 6) + (m/63)·H, fewer than bnn_score at d = 13.
    let d_paper = bnn_score_d_passes(100, 13, 50);
    assert!((1700..2000).contains(&d_paper), "{d_paper}");
    assert!(bnn_score_d_passes(2500, 13, 50) < 60_000);
    assert!(bnn_score_d_passes(6000, 13, 50) > 65_535);
    assert!(bnn_score_d_passes(506, 64, 50) > 2 * bnn_score_d_passes(506, 13, 50));
}

/// `stein predict` on a bnn target: the report equals `cpu::bnn::metrics_in` on the same
/// particles (test columns reordered), `--gamma-units data` reads log γ − 2 log std_y, the
/// development-set rule needs development rows, and `--gamma-units` is refused for logistic.
#[test]
fn predict_on_a_bnn_target_reports_the_reference_metrics() -> Result<()> {
    let dir = Dir::new();
    dir.write(
        "train.csv",
        "x,z,y\n0,1,1\n2,0,5\n4,1,1\n6,0,5\n1,1,2\n5,0,4\n3,1,4\n5,1,7\n",
    );
    dir.write("test.csv", "y,z,x\n2,1,1\n6,0,4\n3,1,2.5\n");
    let target = dir.target(
        "t",
        "train.csv",
        "y",
        r#""hidden": 2, "dev_fraction": 0.25"#,
    );
    let t = load_bnn(&target)?;
    ensure!(t.std_y != 1.0, "a response to standardise");
    let parts = particles(&t, 3, 11);
    let p = dir.path("p.npy");
    write_npy_f32(&p, &parts, &[3, t.dim()])?;
    let theta: Vec<f64> = parts.iter().map(|&v| f64::from(v)).collect();
    let (x, y) = ([1.0, 1.0, 4.0, 0.0, 2.5, 1.0], [2.0, 6.0, 3.0]);
    let run = |extra: &[&str]| -> Result<serde_json::Value> {
        let mut args = vec![
            "predict",
            "--target",
            &target,
            "--particles",
            p.to_str().unwrap(),
            "--data",
        ];
        let test = dir.s("test.csv");
        args.push(&test);
        args.extend(extra);
        let o = stein(&args);
        ensure!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Ok(serde_json::from_slice(&o.stdout)?)
    };
    for (extra, dev_rule, units) in [
        (&[][..], false, bnn::GammaUnits::Authors),
        (&["--dev-rule"][..], true, bnn::GammaUnits::Authors),
        (&["--gamma-units", "data"][..], false, bnn::GammaUnits::Data),
        (
            &["--dev-rule", "--gamma-units", "data"][..],
            true,
            bnn::GammaUnits::Data,
        ),
    ] {
        let r = run(extra)?;
        let want = bnn::metrics_in(&t, &theta, &x, &y, dev_rule, units)?;
        let (rmse, ll) = (r["rmse"].as_f64(), r["test_log_likelihood"].as_f64());
        ensure!(
            rmse == Some(want.rmse) && ll == Some(want.log_likelihood),
            "{extra:?}: {r} vs {want:?}"
        );
        ensure!(r["kind"] == "bnn" && r["dev_rule"] == dev_rule, "{r}");
    }
    // Data units are the authors' reading of log γ − 2 log std_y.
    let mut shifted = theta.clone();
    for i in 0..3 {
        shifted[i * t.dim() + t.dim() - 2] -= 2.0 * t.std_y.ln();
    }
    let a = bnn::metrics_in(&t, &theta, &x, &y, false, bnn::GammaUnits::Data)?;
    let b = bnn::metrics(&t, &shifted, &x, &y, false)?;
    ensure!(
        (a.log_likelihood - b.log_likelihood).abs() < 1e-12 && a.rmse == b.rmse,
        "{a:?} vs {b:?}"
    );

    // Refusals: one line, exit 2.
    let no_dev = dir.target("nodev", "train.csv", "y", r#""hidden": 2"#);
    let logistic = dir.write(
        "l.json",
        r#"{"kind": "logistic", "data": "lt.csv", "label": "c"}"#,
    );
    dir.write("lt.csv", "a,c\n1,0\n2,1\n3,0\n");
    dir.write("lp.npy", "");
    write_npy_f32(&dir.path("lp.npy"), &[0.0; 3], &[1, 3])?;
    let test = dir.s("test.csv");
    let ltest = dir.s("lt.csv");
    let lp = dir.s("lp.npy");
    let ps = p.display().to_string();
    let logistic = logistic.display().to_string();
    for (args, want) in [
        (
            vec![
                "--target",
                &no_dev,
                "--particles",
                &ps,
                "--data",
                &test,
                "--dev-rule",
            ],
            "dev_fraction",
        ),
        (
            vec![
                "--target",
                &logistic,
                "--particles",
                &lp,
                "--data",
                &ltest,
                "--gamma-units",
                "data",
            ],
            "--gamma-units",
        ),
    ] {
        let mut all = vec!["predict"];
        all.extend(args);
        let o = stein(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        ensure!(o.status.code() == Some(2), "{:?}: {err}", o.status.code());
        ensure!(
            err.trim().lines().count() == 1 && err.contains(want),
            "{err}"
        );
        ensure!(o.stdout.is_empty(), "nothing on stdout");
    }
    Ok(())
}
