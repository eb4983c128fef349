//! The built-in Bayesian models (algorithms.md §5): the device score against the f64
//! reference at awkward particle counts and minibatches (cycling past the permutation's
//! end), the reference against finite differences of its own log-density, the authors'
//! initialisation, a short run that learns, and bad data refused in one line.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use stein::cpu::logistic;
use stein::gpu::{GpuContext, GpuVec, Recorder};
use stein::io::target::{load_target, no_device_check, Logistic, SplitMix64, Target};
use stein::kernels::Kernels;
use stein::svgd::{LogisticScore, Score};

use super::common::{gpu, stein, stein_gemm};

fn breast_cancer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/breast-cancer.csv")
}

/// A temporary directory with the logistic target over breast-cancer.csv as `t.json`.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        let d = Dir(tempfile::tempdir().unwrap());
        d.write(
            "t.json",
            &format!(
                r#"{{"kind": "logistic", "data": "{}", "label": "label"}}"#,
                breast_cancer().display()
            ),
        );
        d
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

fn logistic_target(dir: &Dir) -> Result<Logistic> {
    match load_target(&dir.path("t.json"), &no_device_check)? {
        Target::Logistic(l) => Ok(l),
        _ => anyhow::bail!("not a logistic target"),
    }
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

/// Particles: half the authors' prior draws (large weights, saturated sigmoids), half small
/// normals around log α = 0.
fn particles(t: &Logistic, n: usize, seed: u64) -> Vec<f32> {
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

/// The f32 score against the f64 reference at n = 1, 2, 63, 65, 257 and minibatches of N,
/// 100 and 123 (not dividing N = 569) rows, at steps whose minibatch cycles past the
/// permutation's end; error relative to each particle's largest component.
#[test]
fn logistic_score_matches_f64_reference() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let dir = Dir::new();
    let base = logistic_target(&dir)?;
    ensure!(
        base.rows == 569 && base.dim() == 32,
        "{} {}",
        base.rows,
        base.dim()
    );
    // (batch, steps): the full data; 100 rows at step 5 (rows 500..569 then 0..31) and 6;
    // 123 rows at step 4 (492..569 then 0..46).
    for (batch, steps) in [(None, 0), (Some(100), 5), (Some(100), 6), (Some(123), 4)] {
        let t = base.clone().with_batch(batch)?;
        let s = LogisticScore::new(ctx, &t)?;
        let d = t.dim();
        for n in [1, 2, 63, 65, 257] {
            let x = particles(&t, n, n as u64);
            let got = score_at(ctx, k, &s, &x, n, steps)?;
            for i in 0..n {
                let th: Vec<f64> = x[i * d..(i + 1) * d]
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect();
                let want = logistic::grad(&t, &th, steps);
                let scale = want.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
                for c in 0..d {
                    let g = f64::from(got[i * d + c]);
                    ensure!(
                        (g - want[c]).abs() <= 1e-4 * scale,
                        "batch {batch:?} step {steps} n {n}: particle {i} coordinate {c}: {g} vs {}",
                        want[c]
                    );
                }
            }
        }
    }
    Ok(())
}

/// The f32 score against the f64 reference at the dimensions where the kernel changes: the
/// smallest (one feature and the intercept, d = 3), the last d `logistic_score_d` is
/// specialised on (LOGISTIC_D_MAX = 64) and the first past it (65, `logistic_score`), on 37
/// rows of made-up data, the full data and minibatches of 10 cycling past the end, at n = 1,
/// 2, 63 and 65.
#[test]
fn logistic_score_matches_f64_reference_at_every_kernels_dims() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let dir = Dir::new();
    let max = stein::score::LOGISTIC_D_MAX;
    for d in [3, max, max + 1] {
        let features = d - 2;
        let mut rng = SplitMix64::new(d as u64);
        let mut csv: Vec<String> = vec![(0..features)
            .map(|c| format!("f{c}"))
            .chain(["label".to_string()])
            .collect::<Vec<_>>()
            .join(",")];
        for r in 0..37 {
            let mut row: Vec<String> = (0..features)
                .map(|_| format!("{:.4}", rng.next_normal()))
                .collect();
            row.push(((r % 3 == 0) as u8).to_string());
            csv.push(row.join(","));
        }
        let data = dir.write(&format!("d{d}.csv"), &(csv.join("\n") + "\n"));
        let json = dir.write(
            &format!("d{d}.json"),
            &format!(
                r#"{{"kind": "logistic", "data": "{}", "label": "label"}}"#,
                data.display()
            ),
        );
        let base = match load_target(&json, &no_device_check)? {
            Target::Logistic(l) => l,
            _ => anyhow::bail!("not a logistic target"),
        };
        ensure!(base.dim() == d && base.rows == 37, "d {}", base.dim());
        // The full data; 10 rows at step 3 (rows 30..37 then 0..3).
        for (batch, steps) in [(None, 0), (Some(10), 3)] {
            let t = base.clone().with_batch(batch)?;
            let s = LogisticScore::new(ctx, &t)?;
            for n in [1, 2, 63, 65] {
                let x = particles(&t, n, n as u64);
                let got = score_at(ctx, k, &s, &x, n, steps)?;
                for i in 0..n {
                    let th: Vec<f64> = x[i * d..(i + 1) * d]
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect();
                    let want = logistic::grad(&t, &th, steps);
                    let scale = want.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
                    for c in 0..d {
                        let g = f64::from(got[i * d + c]);
                        ensure!(
                            (g - want[c]).abs() <= 1e-4 * scale,
                            "d {d} batch {batch:?} step {steps} n {n}: particle {i} coordinate {c}: {g} vs {}",
                            want[c]
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// The reference gradient against central differences of the reference log-density, on a
/// minibatch that cycles past the permutation's end; and the minibatch is what §5.1 says.
#[test]
fn logistic_reference_gradient_matches_finite_differences() -> Result<()> {
    let dir = Dir::new();
    let t = logistic_target(&dir)?.with_batch(Some(100))?;
    let rows: Vec<usize> = t.batch_rows(5).collect();
    let want: Vec<usize> = (500..600).map(|j| t.perm[j % 569]).collect();
    ensure!(rows == want, "step 5's rows");
    let x = particles(&t, 4, 9);
    let d = t.dim();
    for i in 0..4 {
        let th: Vec<f64> = x[i * d..(i + 1) * d]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let g = logistic::grad(&t, &th, 5);
        let scale = g.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
        for c in 0..d {
            let h = 1e-5 * th[c].abs().max(1.0);
            let (mut up, mut down) = (th.clone(), th.clone());
            up[c] += h;
            down[c] -= h;
            let fd = (logistic::log_density(&t, &up, 5) - logistic::log_density(&t, &down, 5))
                / (up[c] - down[c]);
            ensure!(
                (fd - g[c]).abs() <= 1e-6 * scale.max(fd.abs()),
                "particle {i} coordinate {c}: gradient {} vs finite difference {fd}",
                g[c]
            );
        }
    }
    Ok(())
}

/// `--init prior`: α ~ Gamma(1, scale 0.01), w | α ~ N(0, α⁻¹): E log α = log 0.01 − γ_E and
/// α·w_k² has mean 1; the same seed gives the same particles.
#[test]
fn logistic_prior_init_is_the_authors() -> Result<()> {
    let dir = Dir::new();
    let t = logistic_target(&dir)?;
    let n = 4000;
    let x = t.prior_init(n, 1);
    ensure!(x == t.prior_init(n, 1) && x != t.prior_init(n, 2), "seeded");
    let d = t.dim();
    let mut la = 0.0;
    let mut aw2 = 0.0;
    for i in 0..n {
        let l = f64::from(x[i * d + d - 1]);
        la += l / n as f64;
        for k in 0..d - 1 {
            aw2 += l.exp() * f64::from(x[i * d + k]).powi(2) / (n * (d - 1)) as f64;
        }
    }
    let want = 0.01f64.ln() - 0.577_215_664_9;
    ensure!((la - want).abs() < 0.06, "mean log α {la}, want {want}");
    ensure!((aw2 - 1.0).abs() < 0.03, "mean α w² {aw2}");
    Ok(())
}

/// A short run from the prior with minibatches of 100 classifies the training rows: the
/// score points uphill (a sign or scaling mistake leaves the prior's ~50 %).
#[test]
fn svgd_on_logistic_learns_the_training_rows() -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    let dir = Dir::new();
    let out = dir.s("p.npy");
    let o = stein_gemm(&[
        "svgd",
        "--target",
        &dir.s("t.json"),
        "--init",
        "prior",
        "--n",
        "20",
        "--seed",
        "3",
        "--steps",
        "60",
        "--step-size",
        "0.05",
        "--score-batch",
        "100",
        "--out",
        &out,
    ]);
    ensure!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t = logistic_target(&dir)?;
    let (x, n, d) = stein::io::npy::read_matrix_f32(&dir.path("p.npy"), "p")?;
    ensure!(n == 20 && d == t.dim(), "{n} {d}");
    let mut right = 0.0;
    for r in 0..t.rows {
        let p: f64 = (0..n)
            .map(|i| {
                let z: f64 = (0..t.dw)
                    .map(|k| f64::from(x[i * d + k]) * t.x[r * t.dw + k])
                    .sum();
                logistic::sigmoid(t.y[r] * z)
            })
            .sum::<f64>()
            / n as f64;
        right += f64::from(u8::from(p > 0.5)) / t.rows as f64;
    }
    ensure!(right > 0.9, "training accuracy {right}");
    Ok(())
}

/// Runs `stein svgd` with `extra`; checks exit 2, one line containing every `want`, no output.
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
    ];
    if !extra.contains(&"--init") {
        args.extend(["--n", "3"]);
    }
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

/// Labels that are not two classes, a missing column, a non-finite feature, a minibatch
/// outside 1..=N, --score-batch or --init prior on a target without data: one line each.
#[test]
fn bad_logistic_input_is_refused_in_one_line() -> Result<()> {
    let dir = Dir::new();
    let t = |name: &str, csv: &str, label: &str| -> String {
        dir.write(&format!("{name}.csv"), csv);
        dir.write(
            &format!("{name}.json"),
            &format!(r#"{{"kind": "logistic", "data": "{name}.csv", "label": "{label}"}}"#),
        )
        .display()
        .to_string()
    };
    let three = t("three", "a,b,y\n1,2,0\n2,3,1\n3,1,2\n", "y");
    refused(
        &dir,
        &three,
        &[],
        &["\"y\" has 3 distinct values (0, 1, 2)", "exactly two"],
    )?;
    let one = t("one", "a,y\n1,1\n2,1\n", "y");
    refused(&dir, &one, &[], &["1 distinct value (1)"])?;
    let missing = t("missing", "a,b,y\n1,2,0\n2,3,1\n", "label");
    refused(
        &dir,
        &missing,
        &[],
        &["\"label\" is not in the data", "a, b, y"],
    )?;
    let nan = t("nan", "a,b,y\n1,2,0\n2,nan,1\n", "y");
    refused(&dir, &nan, &[], &["feature \"b\" is NaN in row 2"])?;
    let inf = t("inf", "a,b,y\n1,2,0\n2,inf,1\n", "y");
    refused(&dir, &inf, &[], &["feature \"b\" is inf in row 2"])?;
    let text = t("text", "a,b,y\n1,2,0\n2,x,1\n", "y");
    refused(&dir, &text, &[], &["column \"b\" (`x`) is not a number"])?;
    let good = t("good", "a,b,y\n1,2,0\n2,3,1\n4,1,1\n", "y");
    refused(
        &dir,
        &good,
        &["--score-batch", "4"],
        &["--score-batch 4", "3 rows"],
    )?;
    refused(&dir, &good, &["--score-batch", "0"], &["--score-batch 0"])?;
    refused(&dir, &good, &["--init", "prior"], &["--init prior", "--n"])?;
    let gmm = dir.write(
        "gmm.json",
        r#"{"kind":"gmm","weights":[1],"means":[[0,0]],"stds":[[1,1]]}"#,
    );
    let gmm = gmm.display().to_string();
    refused(
        &dir,
        &gmm,
        &["--score-batch", "2"],
        &["--score-batch applies to"],
    )?;
    refused(
        &dir,
        &gmm,
        &["--init", "prior", "--n", "3"],
        &["--init prior draws from"],
    )?;
    Ok(())
}
