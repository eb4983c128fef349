//! Targets written in WGSL by the user (docs/targets.md), the host score and
//! `stein check-target`: the user's score against f64 references, the same SVGD as a built-in
//! target, data and constants reaching the user's code, and each bad input refused in one
//! line with exit 2 and nothing written.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use stein::gpu::{GpuContext, GpuVec, Recorder};
use stein::io::npy::{write_npy_f32, write_npy_f64};
use stein::io::target::{load_target, no_device_check, Gaussian, Target};
use stein::kernels::Kernels;
use stein::run::svgd::Init;
use stein::run::{Silent, SvgdRun};
use stein::svgd::{Bandwidth, HostScore, Optimizer, Score, Svgd, WgslScore};

use super::common::{assert_close, gpu, max_abs, normals, stein, Dir, Tol};

/// The f32 score against an f64 reference: one rounding of each term, a few terms.
const TOL_USER: Tol = Tol {
    rel: 2e-5,
    abs: 1e-6,
};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/targets")
}

fn load(path: &Path) -> Result<Target> {
    load_target(path, &no_device_check)
}

fn wgsl_score(ctx: &GpuContext, t: &Target) -> Result<WgslScore> {
    match t {
        Target::Wgsl(w) => WgslScore::new(ctx, w),
        _ => anyhow::bail!("not a wgsl target"),
    }
}

/// `s` recorded at `x` into a NaN-filled buffer, read back.
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

/// ∇ log p of examples/targets/banana.json (a = 1, b = 100, s = 20) in f64.
fn banana_grad(x0: f64, x1: f64) -> [f64; 2] {
    let (a, b, s) = (1.0, 100.0, 20.0);
    let r = x1 - x0 * x0;
    [(4.0 * b * x0 * r + 2.0 * (a - x0)) / s, -2.0 * b * r / s]
}

/// The example banana's score against its f64 gradient at awkward particle counts (one
/// workgroup of 64 and a bit, one short of it, a single particle), output NaN-filled first.
#[test]
fn wgsl_banana_score_matches_f64_reference() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let t = load(&examples().join("banana.json"))?;
    let s = wgsl_score(ctx, &t)?;
    for n in [1, 2, 63, 65, 257] {
        let (x32, x64) = normals(n, 2, 1.5, n as u64);
        let got = score_at(ctx, k, &s, &x32, n)?;
        let want: Vec<f64> = x64
            .chunks(2)
            .flat_map(|p| banana_grad(p[0], p[1]))
            .collect();
        assert_close(
            &got,
            &want,
            TOL_USER,
            max_abs(&want),
            &format!("banana n={n}"),
        )?;
    }
    Ok(())
}

/// The funnel example's score against its f64 gradient, in 10 dimensions.
#[test]
fn wgsl_funnel_score_matches_f64_reference() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let t = load(&examples().join("funnel.json"))?;
    let s = wgsl_score(ctx, &t)?;
    let (n, d) = (65, 10);
    let (x32, x64) = normals(n, d, 1.0, 3);
    let got = score_at(ctx, k, &s, &x32, n)?;
    let want: Vec<f64> = x64
        .chunks(d)
        .flat_map(|p| {
            let (v, w) = (p[0], (-p[0]).exp());
            let ss: f64 = p[1..].iter().map(|x| x * x).sum();
            std::iter::once(-v / 9.0 - 0.5 * (d - 1) as f64 + 0.5 * w * ss)
                .chain(p[1..].iter().map(move |x| -w * x))
        })
        .collect();
    assert_close(&got, &want, TOL_USER, max_abs(&want), "funnel")
}

/// A Gaussian with its precision and mean as data arrays: score P(μ − x).
const GAUSSIAN_WGSL: &str = "\
fn log_p(i: u32) -> f32 {
    var q = 0.0;
    for (var a = 0u; a < DIM; a++) {
        var pa = 0.0;
        for (var b = 0u; b < DIM; b++) {
            pa += P(a, b) * (x(i, b) - mu(b));
        }
        q += (x(i, a) - mu(a)) * pa;
    }
    return -0.5 * q;
}

fn grad_log_p(i: u32) {
    for (var a = 0u; a < DIM; a++) {
        var s = 0.0;
        for (var b = 0u; b < P_cols; b++) {
            s = fma(P(a, b), mu(b) - x(i, b), s);
        }
        set_grad(i, a, s);
    }
}
";

/// A Gaussian written as a WGSL target moves particles as the built-in `gaussian` target does:
/// φ within f32 rounding, and 20 SVGD steps within a few roundings.
#[test]
fn wgsl_gaussian_gives_the_builtin_gaussians_svgd() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let dir = Dir::new();
    let (mean, cov) = (
        vec![0.5, -1.0, 2.0],
        vec![
            vec![1.0, 0.3, 0.1],
            vec![0.3, 2.0, -0.4],
            vec![0.1, -0.4, 0.5],
        ],
    );
    let g = Gaussian::new(mean.clone(), cov, "test")?;
    write_npy_f64(&dir.path("P.npy"), &g.precision, &[3, 3])?;
    write_npy_f64(&dir.path("mu.npy"), &mean, &[3])?;
    dir.write("gauss.wgsl", GAUSSIAN_WGSL);
    let json = dir.write(
        "gauss.json",
        r#"{"kind": "wgsl", "source": "gauss.wgsl", "dim": 3, "data": {"P": "P.npy", "mu": "mu.npy"}}"#,
    );
    let wgsl = load(&json)?;
    let builtin = Target::Gaussian(g);
    let (n, d) = (50, 3);
    let (x, _) = normals(n, d, 1.0, 11);
    let (phi_w, h_w) = stein::run::svgd::phi(ctx, &wgsl, &x, n, Bandwidth::Median)?;
    let (phi_b, h_b) = stein::run::svgd::phi(ctx, &builtin, &x, n, Bandwidth::Median)?;
    ensure!(h_w == h_b, "bandwidths {h_w} and {h_b}");
    let want: Vec<f64> = phi_b.iter().map(|&v| f64::from(v)).collect();
    assert_close(&phi_w, &want, TOL_USER, max_abs(&want), "phi")?;
    let run = SvgdRun {
        ksd_every: Some(10),
        ..SvgdRun::new(Init::Particles(x), 20, 0.05)
    };
    let rw = run.run(ctx, &wgsl, &mut Silent)?;
    let rb = run.run(ctx, &builtin, &mut Silent)?;
    let want: Vec<f64> = rb.particles.iter().map(|&v| f64::from(v)).collect();
    let tol = Tol {
        rel: 1e-4,
        abs: 1e-5,
    };
    assert_close(
        &rw.particles,
        &want,
        tol,
        max_abs(&want),
        "particles after 20 steps",
    )?;
    ensure!(
        (rw.ksd2_v - rb.ksd2_v).abs() <= 1e-4 * rb.ksd2_v.abs().max(1e-3),
        "KSD² {} against {}",
        rw.ksd2_v,
        rb.ksd2_v
    );
    Ok(())
}

/// A Bayesian linear regression: y ~ N(Xw, σ²), w ~ N(0, 1/λ); a 2-D and a 1-D data array
/// (packed one after the other), their shape constants and two constants.
const REGRESSION_WGSL: &str = "\
fn residual(i: u32, t: u32) -> f32 {
    var f = 0.0;
    for (var k = 0u; k < X_cols; k++) {
        f += X(t, k) * x(i, k);
    }
    return y(t) - f;
}

fn log_p(i: u32) -> f32 {
    var s = 0.0;
    for (var t = 0u; t < X_rows; t++) {
        let r = residual(i, t);
        s -= r * r / (2.0 * sigma * sigma);
    }
    for (var k = 0u; k < DIM; k++) {
        s -= 0.5 * lambda * x(i, k) * x(i, k);
    }
    return s;
}

fn grad_log_p(i: u32) {
    for (var k = 0u; k < DIM; k++) {
        set_grad(i, k, -lambda * x(i, k));
    }
    for (var t = 0u; t < y_rows; t++) {
        let r = residual(i, t) / (sigma * sigma);
        for (var k = 0u; k < DIM; k++) {
            add_grad(i, k, r * X(t, k));
        }
    }
}
";

/// Data arrays and constants reach the user's code: the regression's score against f64.
#[test]
fn wgsl_data_arrays_and_constants_reach_the_users_code() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let dir = Dir::new();
    let (rows, d) = (37, 4);
    let (xd, xd64) = normals(rows, d, 1.0, 5);
    let (yd, yd64) = normals(rows, 1, 2.0, 6);
    write_npy_f32(&dir.path("X.npy"), &xd, &[rows, d])?;
    write_npy_f32(&dir.path("y.npy"), &yd, &[rows])?;
    dir.write("reg.wgsl", REGRESSION_WGSL);
    let json = dir.write(
        "reg.json",
        r#"{"kind": "wgsl", "source": "reg.wgsl", "dim": 4, "data": {"X": "X.npy", "y": "y.npy"},
            "constants": {"sigma": 0.5, "lambda": 0.1}}"#,
    );
    let t = load(&json)?;
    let s = wgsl_score(ctx, &t)?;
    let n = 65;
    let (x32, x64) = normals(n, d, 1.0, 7);
    let got = score_at(ctx, k, &s, &x32, n)?;
    let (sigma, lambda) = (0.5f64, f64::from(0.1f32));
    let want: Vec<f64> = x64
        .chunks(d)
        .flat_map(|w| {
            let mut g: Vec<f64> = w.iter().map(|v| -lambda * v).collect();
            for r in 0..rows {
                let f: f64 = (0..d).map(|c| xd64[r * d + c] * w[c]).sum();
                let res = (yd64[r] - f) / (sigma * sigma);
                for c in 0..d {
                    g[c] += res * xd64[r * d + c];
                }
            }
            g
        })
        .collect();
    assert_close(&got, &want, TOL_USER, max_abs(&want), "regression score")?;
    // The log-density too, at the same particles.
    let lp = s.log_p(ctx, &x32)?;
    let want: Vec<f64> = x64
        .chunks(d)
        .map(|w| {
            let mut s: f64 = -0.5 * lambda * w.iter().map(|v| v * v).sum::<f64>();
            for r in 0..rows {
                let f: f64 = (0..d).map(|c| xd64[r * d + c] * w[c]).sum();
                s -= (yd64[r] - f).powi(2) / (2.0 * sigma * sigma);
            }
            s
        })
        .collect();
    assert_close(&lp, &want, TOL_USER, max_abs(&want), "regression log_p")
}

/// The host score of a Rust closure moves particles as the device score of the same model:
/// the banana as a closure and as the example WGSL target give the same φ; a closure's error
/// and a NaN it returns come back from the step as errors.
#[test]
fn host_score_equals_the_device_score_of_the_same_model() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let t = load(&examples().join("banana.json"))?;
    let (n, d) = (65, 2);
    let (x, _) = normals(n, d, 1.0, 9);
    let host = HostScore::new(2, |x: &[f32], s: &mut [f32]| {
        for (p, g) in x.chunks(2).zip(s.chunks_mut(2)) {
            let [a, b] = banana_grad(f64::from(p[0]), f64::from(p[1]));
            g[0] = a as f32;
            g[1] = b as f32;
        }
        Ok(())
    });
    let mut by_host = Svgd::new(ctx, k, Box::new(host), &x, n, Optimizer::Sgd)?;
    let mut by_device = Svgd::new(
        ctx,
        k,
        Box::new(wgsl_score(ctx, &t)?),
        &x,
        n,
        Optimizer::Sgd,
    )?;
    let (phi_h, _) = by_host.phi(Bandwidth::Fixed(0.7))?;
    let (phi_d, _) = by_device.phi(Bandwidth::Fixed(0.7))?;
    let want: Vec<f64> = phi_h.iter().map(|&v| f64::from(v)).collect();
    assert_close(
        &phi_d,
        &want,
        TOL_USER,
        max_abs(&want),
        "phi host vs device",
    )?;
    for _ in 0..3 {
        by_host.step(1e-3, Bandwidth::Median)?;
        by_device.step(1e-3, Bandwidth::Median)?;
    }
    let want: Vec<f64> = by_host.particles()?.iter().map(|&v| f64::from(v)).collect();
    assert_close(
        &by_device.particles()?,
        &want,
        TOL_USER,
        max_abs(&want),
        "3 steps",
    )?;

    let failing = HostScore::new(2, |_: &[f32], _: &mut [f32]| {
        anyhow::bail!("the Python callable raised ValueError")
    });
    let mut e = Svgd::new(ctx, k, Box::new(failing), &x, n, Optimizer::Sgd)?;
    let err = format!("{:#}", e.step(0.1, Bandwidth::Median).unwrap_err());
    ensure!(
        err.contains("ValueError") && err.contains("after 0 steps"),
        "{err}"
    );
    let nan = HostScore::new(2, |_: &[f32], s: &mut [f32]| {
        s.fill(0.0);
        s[7] = f32::NAN;
        Ok(())
    });
    let mut e = Svgd::new(ctx, k, Box::new(nan), &x, n, Optimizer::Sgd)?;
    let err = format!("{:#}", e.step(0.1, Bandwidth::Median).unwrap_err());
    ensure!(err.contains("particle 3 coordinate 1"), "{err}");
    Ok(())
}

/// The banana example copied into `dir` as `name.wgsl` with `edit` applied, and its target
/// file `name.json` with `dim`.
fn banana_variant(dir: &Dir, name: &str, dim: usize, edit: impl Fn(&str) -> String) -> String {
    let src = std::fs::read_to_string(examples().join("banana.wgsl")).unwrap();
    let edited = edit(&src);
    dir.write(&format!("{name}.wgsl"), &edited);
    let json = format!(
        r#"{{"kind": "wgsl", "source": "{name}.wgsl", "dim": {dim}, "constants": {{"a": 1.0, "b": 100.0, "s": 20.0}}}}"#
    );
    dir.write(&format!("{name}.json"), &json)
        .display()
        .to_string()
}

/// Runs `stein svgd` on `target`; checks exit 2, one line containing every `want`, no output.
fn refused(dir: &Dir, target: &str, want: &[&str]) -> Result<()> {
    let out = dir.s("out.npy");
    let o = stein(&[
        "svgd",
        "--target",
        target,
        "--n",
        "70",
        "--steps",
        "3",
        "--step-size",
        "0.01",
        "--out",
        &out,
    ]);
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

/// Each bad WGSL target: one line, exit 2, nothing written. A syntax error and an unknown
/// data array name the user's line and column; a wrong dim either way and a NaN score name the
/// particle and step.
#[test]
fn bad_wgsl_targets_are_refused_in_one_line() -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    let dir = Dir::new();
    // Line 15 of banana.wgsl is `    let x1 = x(i, 1u);` in grad_log_p: the `;` removed, naga
    // finds the next line's `let` at 16:5.
    let src = std::fs::read_to_string(examples().join("banana.wgsl"))?;
    ensure!(
        src.lines().nth(14) == Some("    let x1 = x(i, 1u);"),
        "banana.wgsl changed"
    );
    let syntax = banana_variant(&dir, "syntax", 2, |s| {
        let mut lines: Vec<String> = s.lines().map(String::from).collect();
        lines[14] = "    let x1 = x(i, 1u)".into();
        lines.join("\n")
    });
    refused(&dir, &syntax, &["syntax.wgsl:16:5: expected `;`"])?;
    let unknown = banana_variant(&dir, "unknown", 2, |s| {
        s.replace("return -(b * r * r", "return Z(0u, 0u) - (b * r * r")
    });
    refused(
        &dir,
        &unknown,
        &[
            "unknown.wgsl:10:12: no definition in scope for identifier: `Z`",
            "constants: [a, b, s]",
        ],
    )?;
    let dim3 = banana_variant(&dir, "dim3", 3, |s| s.to_string());
    refused(
        &dir,
        &dim3,
        &[
            "left a coordinate unset at particle 0 after 0 steps",
            "\"dim\" is 3",
        ],
    )?;
    let dim1 = banana_variant(&dir, "dim1", 1, |s| s.to_string());
    refused(
        &dir,
        &dim1,
        &[
            "x(i, k) was read with k >= dim = 1",
            "particle 0 after 0 steps",
        ],
    )?;
    // NaN at particle 66 only (the second workgroup), from the first step.
    let nan = banana_variant(&dir, "nan", 2, |s| {
        s.replace(
            "set_grad(i, 1u, -2.0 * b * r / s);",
            "set_grad(i, 1u, select(-2.0 * b * r / s, sqrt(-1.0 - x1 * x1), i == 66u));",
        )
    });
    refused(
        &dir,
        &nan,
        &["nan.wgsl: grad_log_p returned NaN or inf at particle 66 after 0 steps"],
    )?;
    // NaN appearing only once a particle has moved: particle 5 starts alone at (3, 9), where
    // r = 0 and its score is (−0.2, 0); the first step moves x0 down by about 3e-6.
    let later = banana_variant(&dir, "later", 2, |s| {
        s.replace(
            "set_grad(i, 0u,",
            "set_grad(i, 0u, select(0.0, sqrt(-1.0 - x0 * x0), i == 5u && x0 < 2.999999) +",
        )
    });
    let init = dir.path("init.npy");
    let (mut x, _) = normals(70, 2, 0.5, 4);
    (x[10], x[11]) = (3.0, 9.0);
    write_npy_f32(&init, &x, &[70, 2])?;
    let out = dir.s("out.npy");
    let o = stein(&[
        "svgd",
        "--target",
        &later,
        "--init",
        &init.display().to_string(),
        "--steps",
        "4",
        "--step-size",
        "1e-3",
        "--optimizer",
        "sgd",
        "--out",
        &out,
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    ensure!(
        o.status.code() == Some(2) && err.contains("at particle 5 after 1 steps"),
        "{err}"
    );
    ensure!(!dir.path("out.npy").exists());
    // A coordinate past dim written at particle 3 only, inside the user's own branch.
    let past = banana_variant(&dir, "past", 2, |s| {
        s.replace(
            "set_grad(i, 1u, -2.0 * b * r / s);",
            "set_grad(i, 1u, -2.0 * b * r / s);\n    if i == 3u { add_grad(i, 2u, 1.0); }",
        )
    });
    refused(
        &dir,
        &past,
        &["set_grad/add_grad wrote coordinate k >= dim = 2 (or i past the particles) at particle 3 after 0 steps"],
    )?;
    // A data array read one row past its end, at particle 4 only.
    write_npy_f32(&dir.path("z.npy"), &[1.0, 2.0, 3.0], &[3])?;
    dir.write(
        "rows.wgsl",
        &std::fs::read_to_string(examples().join("banana.wgsl"))?.replace(
            "set_grad(i, 1u, -2.0 * b * r / s);",
            "set_grad(i, 1u, -2.0 * b * r / s + 0.0 * Z(select(2u, Z_rows, i == 4u)));",
        ),
    );
    let rows = dir.write(
        "rows.json",
        r#"{"kind": "wgsl", "source": "rows.wgsl", "dim": 2, "data": {"Z": "z.npy"}, "constants": {"a": 1.0, "b": 100.0, "s": 20.0}}"#,
    );
    refused(
        &dir,
        &rows.display().to_string(),
        &["rows.wgsl: a data array was read past its <name>_rows or <name>_cols at particle 4 after 0 steps"],
    )?;
    // A data array that is not there, and a constant named like stein's accessor.
    let json = dir.write(
        "missing.json",
        r#"{"kind": "wgsl", "source": "syntax.wgsl", "dim": 2, "data": {"X": "nope.npy"}}"#,
    );
    refused(
        &dir,
        &json.display().to_string(),
        &["data array \"X\"", "nope.npy"],
    )?;
    let json = dir.write(
        "named.json",
        r#"{"kind": "wgsl", "source": "syntax.wgsl", "dim": 2, "constants": {"x": 1.0}}"#,
    );
    refused(
        &dir,
        &json.display().to_string(),
        &["constant name \"x\" is one stein declares"],
    )?;
    Ok(())
}

/// `stein check-target` passes the example banana and funnel, and finds a gradient off by a
/// factor of two in one coordinate, naming it (exit 2).
#[test]
fn check_target_finds_a_wrong_gradient_and_passes_the_right_one() -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    let dir = Dir::new();
    let (x2, _) = normals(40, 2, 1.0, 1);
    write_npy_f32(&dir.path("p2.npy"), &x2, &[40, 2])?;
    let (x10, _) = normals(20, 10, 1.0, 2);
    write_npy_f32(&dir.path("p10.npy"), &x10, &[20, 10])?;
    for (t, p) in [("banana.json", "p2.npy"), ("funnel.json", "p10.npy")] {
        let target = examples().join(t).display().to_string();
        let o = stein(&["check-target", &target, "--particles", &dir.s(p)]);
        let err = String::from_utf8_lossy(&o.stderr);
        ensure!(o.status.success(), "{t}: {err}");
        let r: serde_json::Value = serde_json::from_slice(&o.stdout)?;
        ensure!(
            r["passed"] == true && r["worst_rel_err"].as_f64() < Some(1e-2),
            "{r}"
        );
    }
    let wrong = banana_variant(&dir, "wrong", 2, |s| {
        s.replace(
            "set_grad(i, 1u, -2.0 * b * r / s);",
            "set_grad(i, 1u, -b * r / s);",
        )
    });
    let o = stein(&["check-target", &wrong, "--particles", &dir.s("p2.npy")]);
    let err = String::from_utf8_lossy(&o.stderr);
    ensure!(o.status.code() == Some(2), "{err}");
    ensure!(
        err.trim().lines().count() == 1 && err.contains("coordinate 1"),
        "{err}"
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    ensure!(r["passed"] == false && r["coordinate"] == 1, "{r}");
    ensure!(
        (r["worst_rel_err"].as_f64().unwrap() - 0.5).abs() < 0.05,
        "{r}"
    );
    Ok(())
}

/// A Gaussian linear model whose likelihood walks the minibatch: y_t ~ N(x_tᵀw, 1), scaled by
/// N/m, no prior; log_p the same sum.
const BATCHED_WGSL: &str = "\
fn fit(i: u32, t: u32) -> f32 {
    var f = 0.0;
    for (var k = 0u; k < X_cols; k++) {
        f += X(t, k) * x(i, k);
    }
    return f;
}

fn log_p(i: u32) -> f32 {
    var s = 0.0;
    for (var j = 0u; j < batch_size(); j++) {
        let t = batch_row(j);
        let r = y(t) - fit(i, t);
        s -= 0.5 * r * r;
    }
    return batch_scale() * s;
}

fn grad_log_p(i: u32) {
    for (var k = 0u; k < DIM; k++) {
        set_grad(i, k, 0.0);
    }
    for (var j = 0u; j < batch_size(); j++) {
        let t = batch_row(j);
        let r = batch_scale() * (y(t) - fit(i, t));
        for (var k = 0u; k < DIM; k++) {
            add_grad(i, k, r * X(t, k));
        }
    }
}
";

/// The batched model's score in f64: Σ_{t ∈ rows} scale·(y_t − x_tᵀw) x_t at each particle.
fn batched_grad(xs: &[f64], ys: &[f64], w: &[f64], rows: &[usize], scale: f64) -> Vec<f64> {
    let d = w.len();
    let mut g = vec![0.0; d];
    for &t in rows {
        let f: f64 = (0..d).map(|c| xs[t * d + c] * w[c]).sum();
        let r = scale * (ys[t] - f);
        for c in 0..d {
            g[c] += r * xs[t * d + c];
        }
    }
    g
}

/// Minibatches of a WGSL target: the score at steps 0 to 7 (7 rows in batches of 3, so steps 2
/// and 4 cycle past the permutation's end) against an f64 sum over the rows
/// `perm[(s·m + j) mod N]` of the seed's permutation, at awkward particle counts; the rows
/// are those the built-in logistic model walks for the same seed and N; `log_p` and the
/// score without `--score-batch` take all rows, scaled by 1.
#[test]
fn wgsl_minibatches_walk_the_builtin_models_rows() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let dir = Dir::new();
    let (rows, d, m, seed) = (7usize, 3usize, 3usize, 5u64);
    let (xd, xd64) = normals(rows, d, 1.0, 21);
    let (yd, yd64) = normals(rows, 1, 2.0, 22);
    write_npy_f32(&dir.path("X.npy"), &xd, &[rows, d])?;
    write_npy_f32(&dir.path("y.npy"), &yd, &[rows])?;
    dir.write("batched.wgsl", BATCHED_WGSL);
    let json = dir.write(
        "batched.json",
        r#"{"kind": "wgsl", "source": "batched.wgsl", "dim": 3, "data": {"X": "X.npy", "y": "y.npy"},
            "rows": "X", "seed": 5}"#,
    );
    // The built-in logistic model on 7 rows with the same seed walks the same rows.
    let csv: String = std::iter::once("a,label\n".to_string())
        .chain((0..rows).map(|r| format!("{r},{}\n", r % 2)))
        .collect();
    dir.write("seven.csv", &csv);
    let logistic = dir.write(
        "logistic.json",
        r#"{"kind": "logistic", "data": "seven.csv", "label": "label", "seed": 5}"#,
    );
    let Target::Logistic(l) = load(&logistic)?.with_score_batch(Some(m))? else {
        anyhow::bail!("not a logistic target")
    };
    let Target::Wgsl(full) = load(&json)? else {
        anyhow::bail!("not a wgsl target")
    };
    let w = full.clone().with_batch(Some(m))?;
    let b = w.batches.as_ref().expect("rows given");
    let perm = stein::io::bayes::permutation(rows, seed);
    for step in 0..8u64 {
        let want: Vec<usize> = (0..m)
            .map(|j| perm[(step as usize * m + j) % rows])
            .collect();
        ensure!(b.batch_rows(step) == want, "step {step}: rows {want:?}");
        ensure!(
            l.batch_rows(step).collect::<Vec<_>>() == want,
            "step {step}: the logistic model walks other rows"
        );
    }
    let s = WgslScore::new(ctx, &w)?;
    let scale = rows as f64 / m as f64;
    for n in [1, 2, 63, 65] {
        let (x32, x64) = normals(n, d, 1.0, n as u64 + 30);
        for step in [0u64, 1, 2, 4, 7] {
            s.set_steps(step);
            let got = score_at(ctx, k, &s, &x32, n)?;
            let batch = b.batch_rows(step);
            let want: Vec<f64> = x64
                .chunks(d)
                .flat_map(|p| batched_grad(&xd64, &yd64, p, &batch, scale))
                .collect();
            assert_close(
                &got,
                &want,
                TOL_USER,
                max_abs(&want),
                &format!("n = {n}, step {step}"),
            )?;
        }
    }
    // Without --score-batch: every row, every step; log_p too.
    let s = WgslScore::new(ctx, &full)?;
    let (n, all) = (65, (0..rows).collect::<Vec<_>>());
    let (x32, x64) = normals(n, d, 1.0, 40);
    s.set_steps(3);
    let got = score_at(ctx, k, &s, &x32, n)?;
    let want: Vec<f64> = x64
        .chunks(d)
        .flat_map(|p| batched_grad(&xd64, &yd64, p, &all, 1.0))
        .collect();
    assert_close(&got, &want, TOL_USER, max_abs(&want), "all rows")?;
    let lp = s.log_p(ctx, &x32)?;
    let want: Vec<f64> = x64
        .chunks(d)
        .map(|p| {
            (0..rows)
                .map(|t| {
                    let f: f64 = (0..d).map(|c| xd64[t * d + c] * p[c]).sum();
                    -0.5 * (yd64[t] - f).powi(2)
                })
                .sum()
        })
        .collect();
    assert_close(&lp, &want, TOL_USER, max_abs(&want), "log_p, all rows")
}

/// examples/targets/logistic.wgsl, the built-in logistic model written as a WGSL target with
/// the same data, rows and seed, moves particles as the built-in does with `--score-batch`:
/// 23 rows in batches of 5 (steps 4 and 9 cycle past the end), φ at the initial particles and
/// 10 AdaGrad steps within a few f32 roundings.
#[test]
fn wgsl_logistic_with_minibatches_gives_the_builtins_svgd() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let dir = Dir::new();
    let rows = 23;
    let (f, _) = normals(rows, 3, 2.0, 50);
    let csv: String = std::iter::once("a,b,c,label\n".to_string())
        .chain((0..rows).map(|r| {
            let label = u8::from(f[3 * r] + 0.5 * f[3 * r + 1] > 0.3);
            format!("{},{},{},{label}\n", f[3 * r], f[3 * r + 1], f[3 * r + 2])
        }))
        .collect();
    dir.write("train.csv", &csv);
    let json = dir.write(
        "builtin.json",
        r#"{"kind": "logistic", "data": "train.csv", "label": "label", "seed": 9}"#,
    );
    let builtin = load(&json)?.with_score_batch(Some(5))?;
    let Target::Logistic(l) = &builtin else {
        anyhow::bail!("not a logistic target")
    };
    write_npy_f64(&dir.path("X.npy"), &l.x, &[rows, l.dw])?;
    write_npy_f64(&dir.path("y.npy"), &l.y, &[rows])?;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/targets/logistic.wgsl");
    let wjson = dir.write(
        "wgsl.json",
        &format!(
            r#"{{"kind": "wgsl", "source": {:?}, "dim": {}, "data": {{"X": "X.npy", "y": "y.npy"}},
                "rows": "X", "seed": 9, "constants": {{"a0": 1.0, "b0": 0.01}}}}"#,
            source.display().to_string(),
            l.dim()
        ),
    );
    let wgsl = load(&wjson)?.with_score_batch(Some(5))?;
    let (n, d) = (37, l.dim());
    let x = builtin.prior_init(n, 3).expect("a prior");
    let (phi_w, h_w) = stein::run::svgd::phi(ctx, &wgsl, &x, n, Bandwidth::Median)?;
    let (phi_b, h_b) = stein::run::svgd::phi(ctx, &builtin, &x, n, Bandwidth::Median)?;
    ensure!(h_w == h_b, "bandwidths {h_w} and {h_b}");
    let want: Vec<f64> = phi_b.iter().map(|&v| f64::from(v)).collect();
    let tol = Tol {
        rel: 1e-4,
        abs: 1e-5,
    };
    assert_close(&phi_w, &want, tol, max_abs(&want), "phi")?;
    let run = SvgdRun::new(Init::Particles(x), 10, 0.05);
    let rw = run.run(ctx, &wgsl, &mut Silent)?;
    let rb = run.run(ctx, &builtin, &mut Silent)?;
    ensure!(rw.d == d);
    let want: Vec<f64> = rb.particles.iter().map(|&v| f64::from(v)).collect();
    assert_close(
        &rw.particles,
        &want,
        tol,
        max_abs(&want),
        "particles after 10 steps",
    )
}

/// Runs `stein svgd` on `target` with `extra` arguments; checks exit 2, one line containing
/// every `want`, no output.
fn refused_with(dir: &Dir, target: &str, extra: &[&str], want: &[&str]) -> Result<()> {
    let out = dir.s("out.npy");
    let mut args = vec![
        "svgd",
        "--target",
        target,
        "--n",
        "70",
        "--steps",
        "3",
        "--step-size",
        "0.01",
        "--out",
        &out,
    ];
    args.extend_from_slice(extra);
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

/// Minibatches asked of a WGSL target wrongly: one line each, exit 2, nothing written; the
/// same target runs with `--score-batch`.
#[test]
fn bad_wgsl_minibatches_are_refused_in_one_line() -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    let dir = Dir::new();
    let (xd, _) = normals(7, 3, 1.0, 21);
    let (yd, _) = normals(7, 1, 1.0, 22);
    write_npy_f32(&dir.path("X.npy"), &xd, &[7, 3])?;
    write_npy_f32(&dir.path("y.npy"), &yd, &[7])?;
    dir.write("batched.wgsl", BATCHED_WGSL);
    let target = |name: &str, extra: &str| {
        dir.write(
            &format!("{name}.json"),
            &format!(
                r#"{{"kind": "wgsl", "source": "batched.wgsl", "dim": 3, "data": {{"X": "X.npy", "y": "y.npy"}}{extra}}}"#
            ),
        )
        .display()
        .to_string()
    };
    let good = target("good", r#", "rows": "X""#);
    let out = dir.s("ok.npy");
    let o = stein(&[
        "svgd",
        "--target",
        &good,
        "--n",
        "5",
        "--steps",
        "4",
        "--step-size",
        "0.01",
        "--score-batch",
        "3",
        "--out",
        &out,
    ]);
    ensure!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    refused_with(
        &dir,
        &good,
        &["--score-batch", "8"],
        &["--score-batch 8 must be between 1 and the data's 7 rows"],
    )?;
    let no_rows = target("norows", "");
    let banana = examples().join("banana.json").display().to_string();
    refused_with(
        &dir,
        &banana,
        &["--score-batch", "3"],
        &["--score-batch needs the rows to batch", "\"rows\""],
    )?;
    refused_with(
        &dir,
        &target("wrong", r#", "rows": "Z""#),
        &[],
        &["\"rows\" names \"Z\", which is not a data array (given: [X, y])"],
    )?;
    refused_with(
        &dir,
        &target("seed", r#", "seed": 3"#),
        &[],
        &["\"seed\" orders the minibatches' rows"],
    )?;
    // The code calls batch_row, and the file names no rows: naga's unknown name, with a hint.
    refused_with(
        &dir,
        &no_rows,
        &[],
        &[
            "batched.wgsl:11:26: no definition in scope for identifier: `batch_size`",
            "\"rows\": \"<data array>\"",
        ],
    )?;
    // batch_row past the minibatch.
    dir.write(
        "past.wgsl",
        &BATCHED_WGSL.replace("let t = batch_row(j);", "let t = batch_row(j + 1u);"),
    );
    let past = dir.write(
        "past.json",
        r#"{"kind": "wgsl", "source": "past.wgsl", "dim": 3, "data": {"X": "X.npy", "y": "y.npy"}, "rows": "X"}"#,
    );
    refused_with(
        &dir,
        &past.display().to_string(),
        &[],
        &["batch_row(j) was called with j >= batch_size() at particle 0 after 0 steps"],
    )
}

/// The pixels of a PNG, decoded.
fn png_pixels(path: &Path) -> Result<Vec<u8>> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path)?));
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    Ok(buf)
}

/// `svgd --plot` on a WGSL target draws its density from `log_p` on the device: the banana's
/// plot matches the one drawn from its f64 log-density on the host at the same particles
/// (f32 against f64 may move a contour by a pixel here and there); a WGSL target of d = 10
/// is refused in one line, exit 2, nothing written.
#[test]
fn wgsl_plot_draws_the_users_log_p() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let dir = Dir::new();
    let t = load(&examples().join("banana.json"))?;
    let (x, _) = normals(50, 2, 1.0, 60);
    let png = dir.path("banana.png");
    let run = SvgdRun {
        plot: Some(png.clone()),
        ..SvgdRun::new(Init::Particles(x), 5, 0.05)
    };
    let r = run.run(ctx, &t, &mut Silent)?;
    let host = dir.path("host.png");
    stein::io::plot::plot_particles_2d(
        &host,
        &r.particles,
        &|x0, x1| {
            let (a, b, s) = (1.0, 100.0, 20.0);
            let r = x1 - x0 * x0;
            -(b * r * r + (a - x0) * (a - x0)) / s
        },
        &format!(
            "SVGD on a wgsl target: n = 50, 5 steps, final KSD² (U) = {:.3e}",
            r.ksd2_u
        ),
        None,
    )?;
    let (got, want) = (png_pixels(&png)?, png_pixels(&host)?);
    ensure!(got.len() == want.len() && got.len() == 800 * 800 * 3);
    let differ = got
        .chunks(3)
        .zip(want.chunks(3))
        .filter(|(a, b)| a != b)
        .count();
    ensure!(
        differ < 800 * 800 / 200,
        "{differ} of 800² pixels differ from the host's plot"
    );
    // The shading is there: not one colour.
    ensure!(got.chunks(3).any(|p| p != &got[..3]));
    let funnel = examples().join("funnel.json").display().to_string();
    let plot = dir.s("funnel.png");
    refused_with(
        &dir,
        &funnel,
        &["--plot", &plot],
        &["--plot draws 2-D targets only; this target has d = 10"],
    )?;
    ensure!(!dir.path("funnel.png").exists());
    Ok(())
}

/// `stein bench --target` times every kind of target phase by phase: each row checked
/// (φ against f64 with the device's score; the score against the host form where the target
/// has one), every time positive, a minibatched target timed on its minibatch; the CLI prints
/// the table and writes the JSON.
#[test]
fn bench_target_times_every_kind_of_target() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    use stein::bench::target::{run, TargetBenchConfig};
    let dir = Dir::new();
    let (xd, _) = normals(7, 3, 1.0, 21);
    let (yd, _) = normals(7, 1, 1.0, 22);
    write_npy_f32(&dir.path("X.npy"), &xd, &[7, 3])?;
    write_npy_f32(&dir.path("y.npy"), &yd, &[7])?;
    dir.write("batched.wgsl", BATCHED_WGSL);
    let wgsl = dir.write(
        "batched.json",
        r#"{"kind": "wgsl", "source": "batched.wgsl", "dim": 3, "data": {"X": "X.npy", "y": "y.npy"}, "rows": "X"}"#,
    );
    let csv: String = std::iter::once("a,b,label\n".to_string())
        .chain((0..9).map(|r| format!("{},{},{}\n", r, (r * r) % 5, r % 2)))
        .collect();
    dir.write("nine.csv", &csv);
    let logistic = dir.write(
        "logistic.json",
        r#"{"kind": "logistic", "data": "nine.csv", "label": "label"}"#,
    );
    let gmm = dir.write(
        "gmm.json",
        r#"{"kind": "gmm", "weights": [1, 2], "means": [[0, 0], [2, 1]], "stds": [[1, 1], [0.5, 2]]}"#,
    );
    let gaussian = dir.write(
        "gaussian.json",
        r#"{"kind": "gaussian", "mean": [0, 1, 2], "cov": [[1, 0.5, 0], [0.5, 2, 0], [0, 0, 1]]}"#,
    );
    let cfg = TargetBenchConfig {
        n_min: 5,
        n_max: 10,
        min_time: std::time::Duration::from_millis(1),
        ..Default::default()
    };
    for (path, batch, kind, host) in [
        (&gmm, None, "gmm", true),
        (&gaussian, None, "gaussian", true),
        (&logistic, Some(4), "logistic", true),
        (&wgsl, Some(3), "wgsl", false),
    ] {
        let t = load(path)?.with_score_batch(batch)?;
        let mut seen = Vec::new();
        let r = run(ctx, &t, &cfg, |row| seen.push(row.n), &mut Silent)?;
        ensure!(
            r.kind == kind && r.d == t.dim() && r.score_batch == batch,
            "{kind}"
        );
        ensure!(seen == [5, 10] && r.results.len() == 2, "{kind}: {seen:?}");
        for row in &r.results {
            let times = [
                row.step_seconds,
                row.median_seconds,
                row.score_seconds,
                row.phi_seconds,
                row.update_seconds,
            ];
            ensure!(
                times.iter().all(|&s| s > 0.0 && s.is_finite()),
                "{kind}: {row:?}"
            );
            ensure!(row.check_max_rel_err < 1e-3, "{kind}: {row:?}");
            ensure!(
                row.score_check_max_rel_err.is_some() == host
                    && row.score_check_max_rel_err.unwrap_or(0.0) < 1e-3,
                "{kind}: {row:?}"
            );
        }
    }
    let json = dir.s("bench.json");
    let banana = examples().join("banana.json").display().to_string();
    let o = stein(&[
        "bench", "--target", &banana, "--n-min", "64", "--n-max", "64", "--json", &json,
    ]);
    ensure!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    ensure!(
        table.contains("score (s)") && table.contains("kind wgsl, d = 2"),
        "{table}"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json)?)?;
    ensure!(
        v["kind"] == "wgsl"
            && v["results"][0]["n"] == 64
            && v["results"][0]["score_seconds"].as_f64() > Some(0.0),
        "{v}"
    );
    // The options that do not apply: one line, exit 2.
    for args in [
        vec!["bench", "--target", &banana, "--dims", "2"],
        vec!["bench", "--target", &banana, "--phi-only"],
        vec!["bench", "--score-batch", "3"],
        vec![
            "bench",
            "--target",
            &banana,
            "--score-batch",
            "3",
            "--json",
            &json,
            "--overwrite",
        ],
    ] {
        let o = stein(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        ensure!(
            o.status.code() == Some(2) && err.trim().lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    Ok(())
}
