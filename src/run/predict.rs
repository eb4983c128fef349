//! The posterior-predictive metrics of a Bayesian model's particles on held-out rows
//! (`stein predict`, algorithms.md §5): what the SVGD paper's authors report, averaged over
//! the particles as their code averages, in f64 on the host (particles are few, so no device).
//!
//! The test CSV has the training CSV's columns (the label or target column included, in any
//! order); it is standardised with the TRAINING rows' statistics, which the target file's data
//! gives, and its labels are mapped through the training classes.
//!
//! | kind | metrics |
//! |---|---|
//! | `logistic` | accuracy = mean_t [p̄_t > 0.5] and test log-likelihood = mean_t log p̄_t, p̄_t = mean_i σ(y_t w_iᵀx_t) ([`crate::cpu::logistic::predictive`]) |
//! | `bnn` | RMSE of the particle-mean prediction and test log-likelihood, in the data's units; `dev_rule` the authors' development-set rule for γ, `gamma_units` how γ is read ([`crate::cpu::bnn::metrics_in`]) |

use std::path::Path;

use anyhow::{anyhow, bail, ensure, Result};
use serde::Serialize;

use crate::cpu::bnn::GammaUnits;
use crate::io::bayes::{Bnn, Csv, Logistic};
use crate::io::target::Target;

/// Options of [`predict`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PredictOptions {
    /// Apply the authors' development-set rule for the noise precision γ before evaluating
    /// (algorithms.md §5.2; kind `bnn` only, refused for other kinds).
    pub dev_rule: bool,
    /// How the noise precision γ is read (kind `bnn`): as the authors' code reads it, or
    /// mapped to the data's units ([`GammaUnits`]).
    pub gamma_units: GammaUnits,
}

/// The metrics of [`predict`]: those the kind has are set, the others are `None` (and left
/// out of the JSON).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The model: `"logistic"` or `"bnn"`.
    pub kind: &'static str,
    /// Particles averaged over.
    pub n: usize,
    /// Their dimension.
    pub d: usize,
    /// Test rows.
    pub rows: usize,
    /// Logistic: the fraction of test rows whose particle-averaged probability of the true
    /// label is above 1/2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// bnn: root mean squared error of the particle-mean prediction, in the data's units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    /// Mean over test rows of the log of the particle-averaged likelihood of the row.
    pub test_log_likelihood: f64,
    /// bnn: whether the development-set rule was applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_rule: Option<bool>,
    /// bnn: how γ was read, `"authors"` or `"data"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gamma_units: Option<&'static str>,
}

/// The posterior-predictive metrics of `particles` (`[n, d]`, θ as the target's kind packs
/// it) on the rows of the CSV file `test_csv` (module docs). Errors are one line naming
/// `--target`, `--particles` or `--data`: a target that is not a Bayesian model, particles of
/// the wrong dimension or not finite, a test CSV missing a training column or holding one the
/// training data lacks, a label that is not a training class, a feature that is not finite.
pub fn predict(
    target: &Target,
    particles: &[f32],
    n: usize,
    test_csv: &Path,
    options: PredictOptions,
) -> Result<Prediction> {
    check(target, options)?;
    let d = target.dim();
    check_particles(particles, n, d)?;
    match target {
        Target::Bnn(b) => bnn_prediction(b, particles, n, test_csv, options),
        Target::Logistic(l) => {
            let (x, y) = logistic_rows(l, test_csv)?;
            let rows = y.len();
            let (accuracy, ll) = crate::cpu::logistic::predictive(l, &x, &y, particles, n);
            Ok(Prediction {
                kind: "logistic",
                n,
                d,
                rows,
                accuracy: Some(accuracy),
                rmse: None,
                test_log_likelihood: ll,
                dev_rule: None,
                gamma_units: None,
            })
        }
        _ => bail!("predict: no metrics for this target kind"), // `check` refused it already
    }
}

/// The bnn arm of [`predict`]: the test rows read by the training columns' names, the
/// metrics of [`crate::cpu::bnn::metrics_in`].
fn bnn_prediction(
    b: &Bnn,
    particles: &[f32],
    n: usize,
    test_csv: &Path,
    options: PredictOptions,
) -> Result<Prediction> {
    let csv = read_test_csv(test_csv)?;
    let p = test_csv.display();
    only_training_columns(&csv, &b.inputs, &b.response, test_csv)?;
    let (x, y) = b.data_rows(&csv, &format!("--data {p}"))?;
    let theta: Vec<f64> = particles.iter().map(|&v| f64::from(v)).collect();
    let m = crate::cpu::bnn::metrics_in(b, &theta, &x, &y, options.dev_rule, options.gamma_units)?;
    Ok(Prediction {
        kind: "bnn",
        n,
        d: b.dim(),
        rows: y.len(),
        accuracy: None,
        rmse: Some(m.rmse),
        test_log_likelihood: m.log_likelihood,
        dev_rule: Some(options.dev_rule),
        gamma_units: Some(match options.gamma_units {
            GammaUnits::Authors => "authors",
            GammaUnits::Data => "data",
        }),
    })
}

/// Fails unless `target` is a Bayesian model [`predict`] evaluates and `options` apply to it
/// (a caller checks this before reading particles of the target's dimension).
pub fn check(target: &Target, options: PredictOptions) -> Result<()> {
    let kind = target.kind();
    ensure!(
        kind == "logistic" || kind == "bnn",
        "--target is a {kind} target; predict needs a Bayesian model (kind \"logistic\" or \"bnn\") whose particles it averages over"
    );
    ensure!(
        kind == "bnn" || !options.dev_rule,
        "--dev-rule applies to kind \"bnn\" (the development-set rule for the noise precision γ); a logistic model has no γ, leave it out"
    );
    ensure!(
        kind == "bnn" || options.gamma_units == GammaUnits::Authors,
        "--gamma-units applies to kind \"bnn\" (how its noise precision γ is read); a logistic model has no γ, leave it out"
    );
    if let Target::Bnn(b) = target {
        ensure!(
            !options.dev_rule || b.dev_rows >= 1,
            "--dev-rule needs the target's development rows; set \"dev_fraction\" in {} (the authors used 0.1) and train on it, or leave --dev-rule out",
            b.origin
        );
    }
    Ok(())
}

/// Particles: n ≥ 1 rows of the target's d, all finite.
fn check_particles(particles: &[f32], n: usize, d: usize) -> Result<()> {
    ensure!(
        n >= 1 && particles.len() == n * d,
        "--particles: {} values are not n >= 1 rows of the target's d = {d}; give particles of the target's dimension",
        particles.len()
    );
    if let Some(j) = particles.iter().position(|v| !v.is_finite()) {
        bail!(
            "--particles: particle {} coordinate {} is {}; give finite particles",
            j / d,
            j % d,
            particles[j]
        );
    }
    Ok(())
}

/// Reads the test CSV `path` for the logistic model `l`: its features as the model sees them
/// (standardised with the training statistics, the intercept last, `[rows, dw]`) and its
/// labels as ±1 through the training classes.
fn logistic_rows(l: &Logistic, path: &Path) -> Result<(Vec<f64>, Vec<f64>)> {
    let csv = read_test_csv(path)?;
    let p = path.display();
    let cols = csv.header.len();
    let column = |name: &str| -> Result<usize> {
        csv.header.iter().position(|h| h == name).ok_or_else(|| {
            anyhow!(
                "--data {p}: column \"{name}\" of the training data is missing (test columns: {}); give the training data's columns",
                csv.header.join(", ")
            )
        })
    };
    let feature_cols = l
        .features
        .iter()
        .map(|f| column(f))
        .collect::<Result<Vec<usize>>>()?;
    let lc = column(&l.label)?;
    only_training_columns(&csv, &l.features, &l.label, path)?;
    let mut raw = Vec::with_capacity(csv.rows * feature_cols.len());
    let mut y = Vec::with_capacity(csv.rows);
    for r in 0..csv.rows {
        let row = &csv.values[r * cols..(r + 1) * cols];
        for (&c, name) in feature_cols.iter().zip(&l.features) {
            let v = row[c];
            ensure!(
                v.is_finite(),
                "--data {p}: feature \"{name}\" is {v} in row {}; features must be finite, clean the data",
                r + 1
            );
            raw.push(v);
        }
        let v = row[lc];
        y.push(if v == l.classes[1] {
            1.0
        } else if v == l.classes[0] {
            -1.0
        } else {
            bail!(
                "--data {p}: label \"{}\" is {v} in row {}, not one of the training classes ({}, {}); give test rows labelled as the training rows are",
                l.label,
                r + 1,
                l.classes[0],
                l.classes[1]
            )
        });
    }
    Ok((l.model_features(&raw, csv.rows), y))
}

/// Refuses a test CSV with a column the training data lacks (its `inputs` and `target`).
fn only_training_columns(csv: &Csv, inputs: &[String], target: &str, path: &Path) -> Result<()> {
    if let Some(extra) = csv
        .header
        .iter()
        .find(|h| *h != target && !inputs.contains(h))
    {
        bail!(
            "--data {}: column \"{extra}\" is not in the training data (training columns: {}, {target}); give the training data's columns only",
            path.display(),
            inputs.join(", ")
        );
    }
    Ok(())
}

/// The test CSV, with an error for a file that cannot be read naming `--data`.
fn read_test_csv(path: &Path) -> Result<Csv> {
    let p = path.display();
    ensure!(
        !path.is_dir(),
        "--data {p} is a directory; give the test CSV file"
    );
    std::fs::File::open(path)
        .map_err(|e| anyhow!("--data {p}: cannot read the test data ({e}); check the path"))?;
    Csv::read(path, &format!("--data {p}"))
}
