//! examples/targets/logistic.json, the built-in logistic model written as a WGSL target: its
//! data are the built-in target's on breast-cancer.csv, its score agrees with the built-in
//! score on the full data, and `check-target` passes on it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Result};
use stein::gpu::{GpuContext, GpuVec, Recorder};
use stein::io::npy::{read_npy, write_npy_f32, NpyData};
use stein::io::target::{load_target, no_device_check, Logistic, SplitMix64, Target};
use stein::kernels::Kernels;
use stein::svgd::{LogisticScore, Score, WgslScore};

use super::common::gpu;

/// Largest difference between the two scores of a particle, relative to the largest
/// component of either there: max_k |a_k − b_k| / max_k max(|a_k|, |b_k|) (the measure of
/// `check-target`).
const REL: f64 = 1e-5;

/// `s` recorded at `x` into a NaN-filled buffer, read back, its fault flag checked.
fn score_at(ctx: &GpuContext, k: &Kernels, s: &dyn Score, x: &[f32], n: usize) -> Result<Vec<f32>> {
    let xs = GpuVec::from_slice(ctx, "x", x)?;
    let out = GpuVec::nan_filled(ctx, "score", n * s.dim())?;
    let mut enc = Recorder::new(ctx);
    s.record(ctx, k, &mut enc, &xs, &out, n)?;
    enc.submit(ctx);
    let v = out.read(ctx)?;
    s.check(ctx)?;
    Ok(v)
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/targets/logistic.json")
}

/// The built-in target on breast-cancer.csv, every row a step.
fn built_in(dir: &Path) -> Result<Logistic> {
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/breast-cancer.csv");
    let t = dir.join("t.json");
    std::fs::write(
        &t,
        format!(
            r#"{{"kind": "logistic", "data": "{}", "label": "label"}}"#,
            csv.display()
        ),
    )?;
    match load_target(&t, &no_device_check)? {
        Target::Logistic(l) => Ok(l),
        _ => bail!("not a logistic target"),
    }
}

fn floats(path: &Path) -> Result<(Vec<f32>, Vec<usize>)> {
    let a = read_npy(path)?;
    match a.data {
        NpyData::F32(v) => Ok((v, a.shape)),
        _ => bail!("{}: not float32", path.display()),
    }
}

/// The example's data arrays are the built-in target's model features (standardised, the
/// intercept last) and labels, rounded to f32, bit for bit: tools/logistic_example_data.py
/// made them from breast-cancer.csv with the same arithmetic.
#[test]
fn logistic_example_data_are_the_built_in_targets() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let l = built_in(dir.path())?;
    let base = example().parent().unwrap().to_path_buf();
    let (x, shape) = floats(&base.join("logistic-x.npy"))?;
    ensure!(shape == [l.rows, l.dw], "X shape {shape:?}");
    let want: Vec<f32> = l.x.iter().map(|&v| v as f32).collect();
    if let Some(j) = (0..x.len()).find(|&j| x[j].to_bits() != want[j].to_bits()) {
        bail!(
            "X row {} column {}: {} vs the built-in {}",
            j / l.dw,
            j % l.dw,
            x[j],
            want[j]
        );
    }
    let (y, shape) = floats(&base.join("logistic-y.npy"))?;
    ensure!(shape == [l.rows], "y shape {shape:?}");
    ensure!(
        y.iter().zip(&l.y).all(|(&a, &b)| f64::from(a) == b),
        "labels differ"
    );
    Ok(())
}

/// The example's score against the built-in score at n = 1, 2, 63, 65, 257: particles from the
/// authors' prior (large weights, saturated σ) alternating with small normals around
/// log α = 0. The two sum the rows in different orders (the file's, the permutation's); on
/// lavapipe the worst relative difference was 1.7e-6.
#[test]
fn logistic_example_score_matches_the_built_in_score() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let l = built_in(dir.path())?;
    let Target::Wgsl(w) = load_target(&example(), &no_device_check)? else {
        bail!("not a wgsl target");
    };
    let d = l.dim();
    ensure!(w.dim == d, "dim {} vs {d}", w.dim);
    let ours = WgslScore::new(ctx, &w)?;
    let theirs = LogisticScore::new(ctx, &l)?;
    for n in [1, 2, 63, 65, 257] {
        let prior = l.prior_init(n, n as u64);
        let mut rng = SplitMix64::new(n as u64 + 100);
        let x: Vec<f32> = (0..n * d)
            .map(|e| {
                if (e / d).is_multiple_of(2) {
                    prior[e]
                } else {
                    (0.3 * rng.next_normal()) as f32
                }
            })
            .collect();
        let a = score_at(ctx, k, &ours, &x, n)?;
        let b = score_at(ctx, k, &theirs, &x, n)?;
        for i in 0..n {
            let (a, b) = (&a[i * d..(i + 1) * d], &b[i * d..(i + 1) * d]);
            let scale = a.iter().chain(b).fold(0f32, |m, v| m.max(v.abs()));
            let diff = a
                .iter()
                .zip(b)
                .map(|(p, q)| (p - q).abs())
                .fold(0f32, f32::max);
            let rel = f64::from(diff) / f64::from(scale);
            ensure!(
                rel <= REL,
                "n {n}: particle {i}: relative difference {rel:.3e} (WGSL {a:?}, built-in {b:?})"
            );
        }
    }
    Ok(())
}

/// `stein check-target` passes on the example at small normals and at prior draws.
#[test]
fn check_target_passes_on_the_logistic_example() -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let l = built_in(dir.path())?;
    let d = l.dim();
    let mut rng = SplitMix64::new(5);
    let mut x: Vec<f32> = (0..3 * d)
        .map(|_| (0.3 * rng.next_normal()) as f32)
        .collect();
    x.extend(l.prior_init(2, 7));
    let p = dir.path().join("p.npy");
    write_npy_f32(&p, &x, &[5, d])?;
    let o = Command::new(env!("CARGO_BIN_EXE_stein"))
        .args([
            "check-target",
            &example().display().to_string(),
            "--particles",
        ])
        .arg(&p)
        .output()?;
    let err = String::from_utf8_lossy(&o.stderr);
    ensure!(o.status.success(), "{err}");
    let r: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    ensure!(r["passed"] == true && r["d"] == 32, "{r}");
    Ok(())
}
