//! `stein predict` (algorithms.md §5.1 "Prediction"): the logistic model's accuracy and test
//! log-likelihood on a case computed by hand, against an independent f64 computation on a
//! split of breast-cancer.csv, a confidently wrong particle giving a finite penalty, the
//! report on stdout and in `--out` under the output rule, and each bad input refused in one
//! line with exit 2 and nothing written. All on the host: no device.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use stein::io::npy::write_npy_f32;
use stein::io::target::{load_target, no_device_check, SplitMix64, Target};
use stein::run::predict::{predict, PredictOptions, Prediction};

use super::common::{stein, Dir};

fn load(path: &Path) -> Result<Target> {
    load_target(path, &no_device_check)
}

/// Training rows a = 0, 2 (mean 1, standard deviation 1, divisor N) labelled 2 and 4 (2 → −1,
/// 4 → +1); the test CSV has its columns in the other order, rows a = 3, 1, 3, 1 (a − 1 = 2,
/// 0, 2, 0) labelled 4, 2, 2, 4 (+1, −1, −1, +1).
///
/// Particles θ = (w_a, w_1, log α): θ₁ = (ln 3 / 2, 0, 0), so wᵀx = ln 3, 0, ln 3, 0; θ₂ = (0,
/// ln 3, 0), so wᵀx = ln 3 everywhere. σ(y wᵀx) with σ(ln 3) = 3/4:
///
/// | row | θ₁ | θ₂ | p̄ | right |
/// |---|---|---|---|---|
/// | 1 | 3/4 | 3/4 | 3/4 | yes |
/// | 2 | 1/2 | 1/4 | 3/8 | no |
/// | 3 | 1/4 | 1/4 | 1/4 | no |
/// | 4 | 1/2 | 3/4 | 5/8 | yes |
///
/// accuracy 1/2, test log-likelihood (ln 3/4 + ln 3/8 + ln 1/4 + ln 5/8) / 4.
fn hand_case(dir: &Dir) -> (PathBuf, PathBuf, PathBuf) {
    dir.write("train.csv", "a,y\n0,2\n2,4\n");
    let t = dir.write(
        "t.json",
        r#"{"kind": "logistic", "data": "train.csv", "label": "y"}"#,
    );
    let test = dir.write("test.csv", "y,a\n4,3\n2,1\n2,3\n4,1\n");
    let l3 = 3f64.ln();
    let p = dir.path("p.npy");
    write_npy_f32(
        &p,
        &[(l3 / 2.0) as f32, 0.0, 0.0, 0.0, l3 as f32, 0.0],
        &[2, 3],
    )
    .unwrap();
    (t, p, test)
}

#[test]
fn logistic_prediction_matches_a_case_computed_by_hand() -> Result<()> {
    let dir = Dir::new();
    let (t, p, test) = hand_case(&dir);
    let target = load(&t)?;
    let (x, n) = stein::run::svgd::load_particles(&p, target.dim())?;
    let r = predict(&target, &x, n, &test, PredictOptions::default())?;
    let want_ll = ((0.75f64).ln() + (0.375f64).ln() + (0.25f64).ln() + (0.625f64).ln()) / 4.0;
    ensure!((r.kind, r.n, r.d, r.rows) == ("logistic", 2, 3, 4), "{r:?}");
    ensure!(r.accuracy == Some(0.5), "accuracy {:?}", r.accuracy);
    // ln 3 rounded to f32 moves σ by ~1e-8.
    ensure!(
        (r.test_log_likelihood - want_ll).abs() < 1e-7,
        "test log-likelihood {} vs {want_ll}",
        r.test_log_likelihood
    );
    ensure!(r.rmse.is_none() && r.dev_rule.is_none(), "{r:?}");
    Ok(())
}

/// p̄_t exactly 1/2 is not counted right (the authors' `prob > 0.5`), and a particle that is
/// confidently wrong gives log p̄ ≈ its log σ (−1000 here), not log 0.
#[test]
fn logistic_prediction_at_one_half_and_far_from_it() -> Result<()> {
    let dir = Dir::new();
    let (t, _, test) = hand_case(&dir);
    let target = load(&t)?;
    // w = 0: σ = 1/2 on every row.
    let r = predict(&target, &[0.0; 3], 1, &test, PredictOptions::default())?;
    ensure!(r.accuracy == Some(0.0), "accuracy at 1/2: {:?}", r.accuracy);
    ensure!(
        (r.test_log_likelihood - 0.5f64.ln()).abs() < 1e-15,
        "{}",
        r.test_log_likelihood
    );
    // w_a = 500: wᵀx = 1000, 0, 1000, 0; row 3 (y = −1) gets σ(−1000).
    let r = predict(
        &target,
        &[500.0, 0.0, 0.0],
        1,
        &test,
        PredictOptions::default(),
    )?;
    let want = (0.0 + 0.5f64.ln() - 1000.0 + 0.5f64.ln()) / 4.0;
    ensure!(
        (r.test_log_likelihood - want).abs() < 1e-9,
        "{} vs {want}",
        r.test_log_likelihood
    );
    ensure!(r.accuracy == Some(0.25), "{:?}", r.accuracy);
    Ok(())
}

fn breast_cancer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/breast-cancer.csv")
}

/// breast-cancer.csv split into its first 456 rows (training) and the other 113 (test).
fn split(dir: &Dir) -> Result<(PathBuf, PathBuf)> {
    let text = std::fs::read_to_string(breast_cancer())?;
    let lines: Vec<&str> = text.lines().collect();
    ensure!(lines.len() == 570, "{} lines", lines.len());
    dir.write("train.csv", &(lines[..457].join("\n") + "\n"));
    let test = dir.write(
        "test.csv",
        &format!("{}\n{}\n", lines[0], lines[457..].join("\n")),
    );
    let t = dir.write(
        "t.json",
        r#"{"kind": "logistic", "data": "train.csv", "label": "label"}"#,
    );
    Ok((t, test))
}

/// Parses a CSV of numbers with a header (the test's own reader).
fn numbers(path: &Path) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(|c| c.parse::<f64>().unwrap()).collect())
        .collect();
    Ok((header, rows))
}

/// The metrics on a breast-cancer split against the formulas computed here in f64, directly:
/// the training rows' mean and standard deviation, σ, the mean of σ and its log.
#[test]
fn logistic_prediction_matches_an_independent_f64_computation() -> Result<()> {
    let dir = Dir::new();
    let (t, test) = split(&dir)?;
    let target = load(&t)?;
    let d = target.dim();
    ensure!(d == 32, "d = {d}");
    let n = 7;
    let mut rng = SplitMix64::new(11);
    let theta: Vec<f32> = (0..n * d).map(|_| rng.next_normal() as f32).collect();
    let r = predict(&target, &theta, n, &test, PredictOptions::default())?;

    let (header, train) = numbers(&dir.path("train.csv"))?;
    let (_, rows) = numbers(&test)?;
    let label = header.iter().position(|h| h == "label").unwrap();
    ensure!(label == 30, "label column {label}");
    let (mut mean, mut sd) = (vec![0.0; 30], vec![0.0; 30]);
    for c in 0..30 {
        mean[c] = train.iter().map(|r| r[c]).sum::<f64>() / train.len() as f64;
        sd[c] = (train.iter().map(|r| (r[c] - mean[c]).powi(2)).sum::<f64>() / train.len() as f64)
            .sqrt();
    }
    let (mut right, mut ll) = (0.0, 0.0);
    for row in &rows {
        let y = if row[label] == 1.0 { 1.0 } else { -1.0 };
        let mut pbar = 0.0;
        for i in 0..n {
            let w = &theta[i * d..i * d + 31];
            let mut z = f64::from(w[30]);
            for c in 0..30 {
                z += f64::from(w[c]) * (row[c] - mean[c]) / sd[c];
            }
            pbar += 1.0 / (1.0 + (-y * z).exp()) / n as f64;
        }
        right += f64::from(u8::from(pbar > 0.5)) / rows.len() as f64;
        ll += pbar.ln() / rows.len() as f64;
    }
    ensure!(r.rows == 113 && rows.len() == 113, "{} rows", r.rows);
    let acc = r.accuracy.unwrap_or(f64::NAN);
    ensure!((acc - right).abs() < 1e-12, "accuracy {acc} vs {right}");
    ensure!(
        (r.test_log_likelihood - ll).abs() <= 1e-10 * ll.abs(),
        "test log-likelihood {} vs {ll}",
        r.test_log_likelihood
    );
    Ok(())
}

/// The command prints the report on stdout (the library's numbers) and one line on stderr;
/// `--out` writes it, is refused when it exists and replaced with `--overwrite`.
#[test]
fn predict_prints_the_report_and_writes_out_by_the_output_rule() -> Result<()> {
    let dir = Dir::new();
    let (t, p, test) = hand_case(&dir);
    let (t, p, test) = (
        t.display().to_string(),
        p.display().to_string(),
        test.display().to_string(),
    );
    let out = dir.s("m.json");
    let args = [
        "predict",
        "--target",
        &t,
        "--particles",
        &p,
        "--data",
        &test,
    ];
    let o = stein(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    ensure!(o.status.success(), "{err}");
    ensure!(
        err.trim().lines().count() == 1 && err.contains("accuracy 0.5000"),
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout)?;
    let target = load(Path::new(&t))?;
    let (x, n) = stein::run::svgd::load_particles(Path::new(&p), target.dim())?;
    let want: Prediction = predict(&target, &x, n, Path::new(&test), PredictOptions::default())?;
    ensure!(report == serde_json::to_value(&want)?, "{report}");
    ensure!(report.get("rmse").is_none(), "{report}");

    let mut with_out = args.to_vec();
    with_out.extend(["--out", &out]);
    let o = stein(&with_out);
    ensure!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&out)?)?;
    ensure!(written == report, "{written}");

    std::fs::write(&out, "keep")?;
    let o = stein(&with_out);
    let err = String::from_utf8_lossy(&o.stderr);
    ensure!(o.status.code() == Some(2), "{err}");
    ensure!(
        err.contains("--out") && err.contains("--overwrite") && o.stdout.is_empty(),
        "{err}"
    );
    ensure!(std::fs::read_to_string(&out)? == "keep", "replaced");
    with_out.push("--overwrite");
    let o = stein(&with_out);
    ensure!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&out)?)?;
    ensure!(written == report, "{written}");

    // --out naming an input.
    let o = stein(&[&args[..], &["--out", &test, "--overwrite"]].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    ensure!(
        o.status.code() == Some(2) && err.contains("also the --data input"),
        "{err}"
    );
    Ok(())
}

/// Bad input: one line naming it, exit 2, nothing on stdout and no `--out`.
#[test]
fn bad_predict_input_is_refused_in_one_line() -> Result<()> {
    let dir = Dir::new();
    let (t, p, test) = hand_case(&dir);
    let (t, p, test) = (
        t.display().to_string(),
        p.display().to_string(),
        test.display().to_string(),
    );
    let refused = |target: &str, particles: &str, data: &str, extra: &[&str], want: &[&str]| {
        let out = dir.s("m.json");
        let mut args = vec![
            "predict",
            "--target",
            target,
            "--particles",
            particles,
            "--data",
            data,
            "--out",
            &out,
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
        ensure!(o.stdout.is_empty(), "stdout: {:?}", o.stdout);
        ensure!(!dir.path("m.json").exists(), "output written: {err}");
        Ok(())
    };
    let csv = |name: &str, text: &str| dir.write(name, text).display().to_string();

    let missing = csv("missing.csv", "a\n3\n");
    refused(
        &t,
        &p,
        &missing,
        &[],
        &["column \"y\" of the training data is missing"],
    )?;
    let extra = csv("extra.csv", "a,y,b\n3,4,1\n");
    refused(
        &t,
        &p,
        &extra,
        &[],
        &["column \"b\" is not in the training data"],
    )?;
    let label = csv("label.csv", "a,y\n3,4\n1,3\n");
    refused(
        &t,
        &p,
        &label,
        &[],
        &["label \"y\" is 3 in row 2, not one of the training classes (2, 4)"],
    )?;
    let nan = csv("nan.csv", "a,y\n3,4\nnan,2\n");
    refused(&t, &p, &nan, &[], &["feature \"a\" is NaN in row 2"])?;
    let text = csv("text.csv", "a,y\n3,4\nx,2\n");
    refused(&t, &p, &text, &[], &["(`x`) is not a number"])?;
    refused(&t, &p, &dir.s("none.csv"), &[], &["--data", "cannot read"])?;

    let wide = dir.path("wide.npy");
    write_npy_f32(&wide, &[0.0; 8], &[2, 4])?;
    refused(
        &t,
        &wide.display().to_string(),
        &test,
        &[],
        &["d = 4 but the target has d = 3"],
    )?;
    let inf = dir.path("inf.npy");
    write_npy_f32(&inf, &[0.0, f32::INFINITY, 0.0], &[1, 3])?;
    refused(
        &t,
        &inf.display().to_string(),
        &test,
        &[],
        &["non-finite value (inf) at row 0, column 1"],
    )?;

    // The library checks the particles it is handed too.
    let target = load(Path::new(&t))?;
    let opts = PredictOptions::default();
    let e = predict(&target, &[0.0, f32::NAN, 0.0], 1, Path::new(&test), opts).unwrap_err();
    ensure!(
        e.to_string().contains("particle 0 coordinate 1 is NaN"),
        "{e}"
    );
    let e = predict(&target, &[0.0; 4], 1, Path::new(&test), opts).unwrap_err();
    ensure!(
        e.to_string().contains("4 values are not n >= 1 rows"),
        "{e}"
    );
    refused(
        &t,
        &p,
        &test,
        &["--dev-rule"],
        &["--dev-rule applies to kind \"bnn\""],
    )?;
    // The kind is said first, whatever the particles' dimension (2 here, 3 given).
    let gmm = dir.write(
        "gmm.json",
        r#"{"kind":"gmm","weights":[1],"means":[[0,0]],"stds":[[1,1]]}"#,
    );
    refused(
        &gmm.display().to_string(),
        &p,
        &test,
        &[],
        &["gmm target; predict needs a Bayesian model (kind \"logistic\" or \"bnn\")"],
    )?;
    let wgsl = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/targets/banana.json");
    let banana = dir.path("banana.npy");
    write_npy_f32(&banana, &[0.0; 2], &[1, 2])?;
    refused(
        &wgsl.display().to_string(),
        &banana.display().to_string(),
        &test,
        &[],
        &["wgsl target; predict needs a Bayesian model"],
    )?;
    Ok(())
}
