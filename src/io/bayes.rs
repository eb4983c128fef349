//! The built-in Bayesian models of algorithms.md §5 (the SVGD paper's benchmarks) read from
//! their JSON and CSV: the data standardised with the training rows' statistics, the fixed
//! permutation the minibatches walk through, and the authors' initial particles.
//!
//! ```json
//! {"kind": "logistic", "data": "train.csv", "label": "label"}
//! {"kind": "bnn", "data": "train.csv", "response": "MEDV"}
//! ```

use std::path::Path;

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde::Deserialize;

use super::target::{DeviceCheck, SplitMix64};

/// A CSV file with a header row, read as f64.
pub struct Csv {
    /// Column names.
    pub header: Vec<String>,
    /// Rows.
    pub rows: usize,
    /// Values `[rows, header.len()]`, row-major.
    pub values: Vec<f64>,
}

impl Csv {
    /// Reads `path`: a header row, then rows of numbers (`origin` starts the errors).
    pub fn read(path: &Path, origin: &str) -> Result<Csv> {
        let p = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow!("{origin}: cannot read data {p} ({e}); paths are relative to the target file")
        })?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<String> = lines
            .next()
            .with_context(|| {
                format!("{origin}: data {p} is empty; give a header row and data rows")
            })?
            .split(',')
            .map(|c| c.trim().trim_matches('"').to_string())
            .collect();
        let cols = header.len();
        let mut values = Vec::new();
        let mut rows = 0;
        for (r, line) in lines.enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            ensure!(
                cells.len() == cols,
                "{origin}: data {p} row {} has {} columns, the header has {cols}",
                r + 1,
                cells.len()
            );
            for (c, cell) in cells.iter().enumerate() {
                let cell = cell.trim().trim_matches('"');
                let v: f64 = cell.parse().map_err(|_| {
                    anyhow!(
                        "{origin}: data {p} row {}, column \"{}\" (`{cell}`) is not a number; give numeric columns only",
                        r + 1,
                        header[c]
                    )
                })?;
                values.push(v);
            }
            rows += 1;
        }
        ensure!(
            rows >= 1,
            "{origin}: data {p} has no rows; give at least one"
        );
        Ok(Csv {
            header,
            rows,
            values,
        })
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str, origin: &str, what: &str) -> Result<usize> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            anyhow!(
                "{origin}: the {what} column \"{name}\" is not in the data (columns: {}); name one of them",
                self.header.join(", ")
            )
        })
    }
}

/// Per-feature mean and standard deviation (divisor N, as NumPy's `std`; a constant
/// feature gets 1, so that it is centred and not divided by zero).
pub fn feature_stats(x: &[f64], rows: usize, cols: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; cols];
    let mut std = vec![0.0; cols];
    for c in 0..cols {
        let m = (0..rows).map(|r| x[r * cols + c]).sum::<f64>() / rows as f64;
        let v = (0..rows)
            .map(|r| (x[r * cols + c] - m).powi(2))
            .sum::<f64>()
            / rows as f64;
        mean[c] = m;
        std[c] = if v > 0.0 { v.sqrt() } else { 1.0 };
    }
    (mean, std)
}

/// A fixed random permutation of `0..n` (Fisher–Yates with [`SplitMix64`] from `seed`).
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed);
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

/// Where the minibatch of `m` rows of step `step` starts in a permutation of `n` rows:
/// `(step·m) mod n`. The rows of that step are `perm[(begin + j) mod n]`, j < m, cycling past
/// the permutation's end. Shared by every target that batches rows (the built-in models and
/// WGSL targets with `"rows"`), so that the same seed and N walk the same rows.
pub fn batch_begin(step: u64, m: usize, n: usize) -> usize {
    ((u128::from(step) * m as u128) % n as u128) as usize
}

/// The rows of step `step`'s minibatch of `m` in the permutation `perm` of N rows:
/// `perm[(begin + j) mod N]`, j < m, with `begin` from [`batch_begin`].
pub fn minibatch<T: Copy>(perm: &[T], m: usize, step: u64) -> impl Iterator<Item = T> + '_ {
    let n = perm.len();
    let b = batch_begin(step, m, n);
    (0..m).map(move |j| perm[(b + j) % n])
}

/// Checks a `--score-batch` of `m` rows against the data's `n` rows.
pub fn check_batch(m: usize, n: usize) -> Result<()> {
    ensure!(
        m >= 1 && m <= n,
        "--score-batch {m} must be between 1 and the data's {n} rows"
    );
    Ok(())
}

/// A Gamma(shape, scale) draw (Marsaglia and Tsang; shape < 1 through shape + 1).
pub fn gamma(rng: &mut SplitMix64, shape: f64, scale: f64) -> f64 {
    if shape < 1.0 {
        let u = 1.0 - rng.next_f64(); // (0, 1]
        return gamma(rng, shape + 1.0, scale) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let z = rng.next_normal();
        let v = (1.0 + c * z).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = 1.0 - rng.next_f64();
        if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v * scale;
        }
    }
}

/// The rows of a minibatch asked for by `--score-batch m` (`None`: all `rows`), checked to
/// lie in 1..=rows ([`check_batch`]).
pub fn batch_size(m: Option<usize>, rows: usize) -> Result<usize> {
    let m = m.unwrap_or(rows);
    check_batch(m, rows)?;
    Ok(m)
}

/// Rows as a score kernel reads them: for each row of `perm` in order, its `width` values of
/// `x` (`[rows, width]`), then `last(row)`; f32.
fn permuted_rows(perm: &[usize], x: &[f64], width: usize, last: impl Fn(usize) -> f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(perm.len() * (width + 1));
    for &r in perm {
        out.extend(x[r * width..(r + 1) * width].iter().map(|&v| v as f32));
        out.push(last(r) as f32);
    }
    out
}

/// Bayesian logistic regression (algorithms.md §5.1): θ = (w, log α), w of length dw (the
/// features and an intercept, last), w | α ~ N(0, α⁻¹ I), α ~ Gamma(a0, rate b0), labels
/// ±1. The minibatch of step s is the m rows `perm[(s·m + j) mod N]`, j < m.
#[derive(Clone, Debug)]
pub struct Logistic {
    /// The target file, as errors name it.
    pub origin: String,
    /// The feature columns, in the data's order (the intercept is not among them).
    pub features: Vec<String>,
    /// The label column.
    pub label: String,
    /// The two label values, mapped to −1 and +1 (the smaller is −1).
    pub classes: [f64; 2],
    /// Rows of the training data, N.
    pub rows: usize,
    /// Length of w: the features and the intercept.
    pub dw: usize,
    /// Features as the model sees them `[N, dw]` (standardised, the intercept 1 last), in
    /// the file's order.
    pub x: Vec<f64>,
    /// Labels ±1.
    pub y: Vec<f64>,
    /// Whether the features are standardised.
    pub standardize: bool,
    /// The training rows' feature means (0 when not standardised).
    pub mean: Vec<f64>,
    /// Their standard deviations (1 when not standardised).
    pub std: Vec<f64>,
    /// Gamma shape of α.
    pub a0: f64,
    /// Gamma rate of α.
    pub b0: f64,
    /// The fixed permutation of the rows the minibatches walk through.
    pub perm: Vec<usize>,
    /// Rows per minibatch, m (N: the full data).
    pub batch: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogistic {
    #[allow(dead_code)]
    kind: String,
    data: String,
    label: String,
    #[serde(default = "yes")]
    standardize: bool,
    #[serde(default = "one")]
    a0: f64,
    #[serde(default = "logistic_b0")]
    b0: f64,
    #[serde(default)]
    seed: u64,
}

fn yes() -> bool {
    true
}
fn one() -> f64 {
    1.0
}
fn logistic_b0() -> f64 {
    0.01
}

const LOGISTIC_EXAMPLE: &str = r#"{"kind": "logistic", "data": "train.csv", "label": "label"}"#;

/// Checks a Gamma prior's parameters.
fn check_gamma(origin: &str, a0: f64, b0: f64) -> Result<()> {
    ensure!(
        a0 > 0.0 && a0.is_finite() && b0 > 0.0 && b0.is_finite(),
        "{origin}: a0 = {a0} and b0 = {b0} must be positive and finite (the Gamma prior's shape and rate)"
    );
    Ok(())
}

impl Logistic {
    /// Parses a `"logistic"` target's JSON and reads its data (relative to `base`).
    pub fn from_json(
        s: &str,
        origin: &str,
        base: &Path,
        device_check: DeviceCheck,
    ) -> Result<Self> {
        let raw: RawLogistic = serde_json::from_str(s).map_err(|e| {
            anyhow!("{origin}: invalid logistic target ({e}); write it like {LOGISTIC_EXAMPLE}")
        })?;
        check_gamma(origin, raw.a0, raw.b0)?;
        let csv = Csv::read(&base.join(&raw.data), origin)?;
        let lc = csv.column(&raw.label, origin, "label")?;
        let cols = csv.header.len();
        let (n, dw) = (csv.rows, cols);
        device_check(
            &format!("{origin}: the data"),
            (n as u64).saturating_mul(dw as u64 + 1).saturating_mul(4),
        )?;
        let mut classes: Vec<f64> = Vec::new();
        for r in 0..n {
            let v = csv.values[r * cols + lc];
            ensure!(
                v.is_finite(),
                "{origin}: label \"{}\" is {v} in row {}; labels must be two finite values",
                raw.label,
                r + 1
            );
            if !classes.contains(&v) {
                classes.push(v);
            }
        }
        classes.sort_by(f64::total_cmp);
        if classes.len() != 2 {
            let shown: Vec<String> = classes.iter().take(8).map(|v| v.to_string()).collect();
            bail!(
                "{origin}: label column \"{}\" has {} distinct value{} ({}{}); a logistic target needs exactly two classes",
                raw.label,
                classes.len(),
                if classes.len() == 1 { "" } else { "s" },
                shown.join(", "),
                if classes.len() > 8 { ", …" } else { "" }
            );
        }
        let features: Vec<String> = (0..cols)
            .filter(|&c| c != lc)
            .map(|c| csv.header[c].clone())
            .collect();
        let raw_x = feature_matrix(&csv, lc, origin)?;
        let nf = features.len();
        let (mean, std) = if raw.standardize {
            feature_stats(&raw_x, n, nf)
        } else {
            (vec![0.0; nf], vec![1.0; nf])
        };
        let mut t = Logistic {
            origin: origin.to_string(),
            features,
            label: raw.label,
            classes: [classes[0], classes[1]],
            rows: n,
            dw,
            x: Vec::new(),
            y: (0..n)
                .map(|r| {
                    if csv.values[r * cols + lc] == classes[1] {
                        1.0
                    } else {
                        -1.0
                    }
                })
                .collect(),
            standardize: raw.standardize,
            mean,
            std,
            a0: raw.a0,
            b0: raw.b0,
            perm: permutation(n, raw.seed),
            batch: n,
        };
        t.x = t.model_features(&raw_x, n);
        Ok(t)
    }

    /// Dimension of θ: dw + 1.
    pub fn dim(&self) -> usize {
        self.dw + 1
    }

    /// Raw feature rows `[rows, features]` as the model sees them: standardised with the
    /// training statistics, the intercept 1 appended (`[rows, dw]`).
    pub fn model_features(&self, raw: &[f64], rows: usize) -> Vec<f64> {
        let nf = self.dw - 1;
        let mut x = Vec::with_capacity(rows * self.dw);
        for r in 0..rows {
            for c in 0..nf {
                x.push((raw[r * nf + c] - self.mean[c]) / self.std[c]);
            }
            x.push(1.0);
        }
        x
    }

    /// The same model with minibatches of `m` rows (`None`: the full data).
    pub fn with_batch(mut self, m: Option<usize>) -> Result<Self> {
        self.batch = batch_size(m, self.rows)?;
        Ok(self)
    }

    /// The minibatch of step `s` starts at position `(s·m) mod N` of the permutation.
    pub fn batch_begin(&self, step: u64) -> usize {
        batch_begin(step, self.batch, self.rows)
    }

    /// The rows of the minibatch of step `s`, in order.
    pub fn batch_rows(&self, step: u64) -> impl Iterator<Item = usize> + '_ {
        minibatch(&self.perm, self.batch, step)
    }

    /// The rows in the permutation's order as the device reads them: the dw features, then
    /// the label as (y + 1)/2.
    pub fn device_rows(&self) -> Vec<f32> {
        permuted_rows(&self.perm, &self.x, self.dw, |r| (self.y[r] + 1.0) / 2.0)
    }

    /// The authors' initial particles (§5.1): α ~ Gamma(a0, scale b0), w ~ N(0, α⁻¹ I),
    /// θ = (w, log α); `[n, dw + 1]`.
    pub fn prior_init(&self, n: usize, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        let mut out = Vec::with_capacity(n * self.dim());
        for _ in 0..n {
            let alpha = gamma(&mut rng, self.a0, self.b0);
            let sd = 1.0 / alpha.sqrt();
            for _ in 0..self.dw {
                out.push((sd * rng.next_normal()) as f32);
            }
            out.push(alpha.ln() as f32);
        }
        out
    }
}

/// Bayesian neural network regression (algorithms.md §5.2): one hidden layer of H ReLU units,
/// ŷ = w2ᵀ relu(W1ᵀx + b1) + b2 on standardised inputs, y | x, θ ~ N(ŷ, γ⁻¹) on the
/// standardised response, every weight and bias ~ N(0, λ⁻¹), γ, λ ~ Gamma(a0, rate b0).
/// θ = (W1 `[d, H]` row-major (W1\[k, j\] at k·H + j), b1 `[H]`, w2 `[H]`, b2, log γ, log λ),
/// packed in that order as the authors' `pack_weights` does: dimension d·H + 2H + 3. The
/// minibatch of step s is the m rows `perm[(s·m + j) mod N]`, j < m, as for [`Logistic`].
///
/// With `dev_fraction` f > 0 the last round(f·N_file) rows of the file (at most 500; NumPy's
/// rounding, half to even) are the authors' development set: kept raw in `dev_x`, `dev_y`,
/// never seen by the score, and left out of the statistics.
#[derive(Clone, Debug)]
pub struct Bnn {
    /// The target file, as errors name it.
    pub origin: String,
    /// The input columns, in the data's order: every column but the response.
    pub inputs: Vec<String>,
    /// The response column.
    pub response: String,
    /// Training rows N (the file's rows less the development rows).
    pub rows: usize,
    /// Inputs per row, d.
    pub d: usize,
    /// Hidden units, H.
    pub hidden: usize,
    /// Training inputs as the model sees them `[N, d]`: standardised, in the file's order.
    pub x: Vec<f64>,
    /// Training response as the model sees it `[N]`: standardised.
    pub y: Vec<f64>,
    /// Whether inputs and response are standardised.
    pub standardize: bool,
    /// The training rows' input means `[d]` (0 when not standardised).
    pub mean: Vec<f64>,
    /// Their standard deviations `[d]` (divisor N; 1 for a constant input, and when not
    /// standardised).
    pub std: Vec<f64>,
    /// The training rows' response mean (0 when not standardised).
    pub mean_y: f64,
    /// Its standard deviation (divisor N; 1 for a constant response, and when not
    /// standardised). Predictions map back to data units as ŷ·std_y + mean_y.
    pub std_y: f64,
    /// Development rows (0 without `dev_fraction`).
    pub dev_rows: usize,
    /// Their inputs `[dev_rows, d]`, raw (data units).
    pub dev_x: Vec<f64>,
    /// Their response `[dev_rows]`, raw (data units).
    pub dev_y: Vec<f64>,
    /// Gamma shape of γ and λ.
    pub a0: f64,
    /// Gamma rate of γ and λ.
    pub b0: f64,
    /// The fixed permutation of the training rows the minibatches walk through.
    pub perm: Vec<usize>,
    /// Rows per minibatch, m (N: the full data).
    pub batch: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBnn {
    #[allow(dead_code)]
    kind: String,
    data: String,
    response: String,
    #[serde(default = "bnn_hidden")]
    hidden: usize,
    #[serde(default = "one")]
    a0: f64,
    #[serde(default = "bnn_b0")]
    b0: f64,
    #[serde(default)]
    dev_fraction: f64,
    #[serde(default = "yes")]
    standardize: bool,
    #[serde(default)]
    seed: u64,
}

fn bnn_hidden() -> usize {
    50
}
fn bnn_b0() -> f64 {
    0.1
}

const BNN_EXAMPLE: &str = r#"{"kind": "bnn", "data": "train.csv", "response": "MEDV"}"#;

/// The authors' cap on the development rows.
pub const BNN_MAX_DEV_ROWS: usize = 500;

/// Rows the authors' γ initialisation evaluates each particle's network on, at most.
pub const BNN_INIT_ROWS: usize = 1000;

impl Bnn {
    /// Parses a `"bnn"` target's JSON and reads its data (relative to `base`).
    pub fn from_json(
        s: &str,
        origin: &str,
        base: &Path,
        device_check: DeviceCheck,
    ) -> Result<Self> {
        let raw: RawBnn = serde_json::from_str(s).map_err(|e| {
            anyhow!("{origin}: invalid bnn target ({e}); write it like {BNN_EXAMPLE}")
        })?;
        check_gamma(origin, raw.a0, raw.b0)?;
        ensure!(
            raw.hidden >= 1,
            "{origin}: \"hidden\" is 0; give at least 1 hidden unit (the authors used 50)"
        );
        let f = raw.dev_fraction;
        ensure!(
            (0.0..1.0).contains(&f),
            "{origin}: \"dev_fraction\" {f} must be in [0, 1) (the authors held out 0.1 of the training rows)"
        );
        let csv = Csv::read(&base.join(&raw.data), origin)?;
        let rc = csv.column(&raw.response, origin, "response")?;
        let cols = csv.header.len();
        ensure!(
            cols >= 2,
            "{origin}: data {} has only the response column \"{}\"; give at least one input column",
            raw.data,
            raw.response
        );
        let d = cols - 1;
        let h = raw.hidden;
        let dim = d
            .checked_mul(h)
            .and_then(|v| v.checked_add(2 * h + 3))
            .filter(|&v| u32::try_from(v).is_ok())
            .with_context(|| {
                format!("{origin}: {d} inputs and {h} hidden units give too many weights; use fewer hidden units")
            })?;
        device_check(
            &format!("{origin}: the data"),
            (csv.rows as u64)
                .saturating_mul(cols as u64)
                .saturating_mul(4),
        )?;
        device_check(
            &format!("{origin}: one particle of {dim} weights"),
            (dim as u64).saturating_mul(4),
        )?;
        let inputs: Vec<String> = (0..cols)
            .filter(|&c| c != rc)
            .map(|c| csv.header[c].clone())
            .collect();
        let mut t = Bnn {
            origin: origin.to_string(),
            inputs,
            response: raw.response,
            rows: 0,
            d,
            hidden: h,
            x: Vec::new(),
            y: Vec::new(),
            standardize: raw.standardize,
            mean: vec![0.0; d],
            std: vec![1.0; d],
            mean_y: 0.0,
            std_y: 1.0,
            dev_rows: 0,
            dev_x: Vec::new(),
            dev_y: Vec::new(),
            a0: raw.a0,
            b0: raw.b0,
            perm: Vec::new(),
            batch: 0,
        };
        let (mut x, mut y) = t.data_rows(&csv, origin)?;
        let all = csv.rows;
        let dev = ((f * all as f64).round_ties_even() as usize).min(BNN_MAX_DEV_ROWS);
        ensure!(
            f == 0.0 || dev >= 1,
            "{origin}: \"dev_fraction\" {f} of {all} rows rounds to no development rows; give a larger fraction, or 0 for none"
        );
        let n = all - dev;
        ensure!(
            n >= 1,
            "{origin}: \"dev_fraction\" {f} of {all} rows leaves no training rows; give a smaller fraction"
        );
        t.dev_x = x.split_off(n * d);
        t.dev_y = y.split_off(n);
        t.dev_rows = dev;
        ensure!(
            y.iter().any(|&v| v != y[0]),
            "{origin}: response \"{}\" is {} in every training row; a regression needs a response that varies",
            t.response,
            y[0]
        );
        if raw.standardize {
            (t.mean, t.std) = feature_stats(&x, n, d);
            let (my, sy) = feature_stats(&y, n, 1);
            (t.mean_y, t.std_y) = (my[0], sy[0]);
        }
        t.x = t.standardize_inputs(&x);
        t.y = y.iter().map(|v| (v - t.mean_y) / t.std_y).collect();
        t.rows = n;
        t.perm = permutation(n, raw.seed);
        t.batch = n;
        Ok(t)
    }

    /// The model's inputs and response in `csv` (raw, `[rows, d]` and `[rows]`), taken by
    /// column name, so a test file may order its columns differently; every value finite.
    pub fn data_rows(&self, csv: &Csv, origin: &str) -> Result<(Vec<f64>, Vec<f64>)> {
        let cols = csv.header.len();
        let ic: Vec<usize> = self
            .inputs
            .iter()
            .map(|name| csv.column(name, origin, "input"))
            .collect::<Result<_>>()?;
        let rc = csv.column(&self.response, origin, "response")?;
        let mut x = Vec::with_capacity(csv.rows * ic.len());
        let mut y = Vec::with_capacity(csv.rows);
        for r in 0..csv.rows {
            for &c in &ic {
                let v = csv.values[r * cols + c];
                ensure!(
                    v.is_finite(),
                    "{origin}: input \"{}\" is {v} in row {}; inputs must be finite, clean the data",
                    csv.header[c],
                    r + 1
                );
                x.push(v);
            }
            let v = csv.values[r * cols + rc];
            ensure!(
                v.is_finite(),
                "{origin}: response \"{}\" is {v} in row {}; the response must be finite, clean the data",
                self.response,
                r + 1
            );
            y.push(v);
        }
        Ok((x, y))
    }

    /// Dimension of θ: d·H + 2H + 3.
    pub fn dim(&self) -> usize {
        self.d * self.hidden + 2 * self.hidden + 3
    }

    /// Weights and biases P = d·H + 2H + 1 (θ less log γ and log λ).
    pub fn weights(&self) -> usize {
        self.dim() - 2
    }

    /// Offset of b1 in θ (W1 fills `0..d·H`).
    pub fn b1_offset(&self) -> usize {
        self.d * self.hidden
    }

    /// Offset of w2 in θ.
    pub fn w2_offset(&self) -> usize {
        self.b1_offset() + self.hidden
    }

    /// Offset of b2 in θ; log γ follows at +1, log λ at +2 (the last).
    pub fn b2_offset(&self) -> usize {
        self.w2_offset() + self.hidden
    }

    /// Raw input rows `[rows, d]` standardised with the training statistics.
    pub fn standardize_inputs(&self, raw: &[f64]) -> Vec<f64> {
        raw.iter()
            .enumerate()
            .map(|(e, v)| (v - self.mean[e % self.d]) / self.std[e % self.d])
            .collect()
    }

    /// The same model with minibatches of `m` rows (`None`: the full data).
    pub fn with_batch(mut self, m: Option<usize>) -> Result<Self> {
        self.batch = batch_size(m, self.rows)?;
        Ok(self)
    }

    /// The minibatch of step `s` starts at position `(s·m) mod N` of the permutation.
    pub fn batch_begin(&self, step: u64) -> usize {
        batch_begin(step, self.batch, self.rows)
    }

    /// The training rows of the minibatch of step `s`, in order.
    pub fn batch_rows(&self, step: u64) -> impl Iterator<Item = usize> + '_ {
        minibatch(&self.perm, self.batch, step)
    }

    /// The training rows in the permutation's order as the device reads them: the d
    /// standardised inputs, then the standardised response.
    pub fn device_rows(&self) -> Vec<f32> {
        permuted_rows(&self.perm, &self.x, self.d, |r| self.y[r])
    }

    /// The authors' initial particles (§5.2), `[n, dim]`: W1 ~ N(0, 1/(d + 1)), b1 = 0,
    /// w2 ~ N(0, 1/(H + 1)), b2 = 0, log λ = log of a Gamma(a0, *scale* b0) draw, and
    /// log γ = −log of the mean squared error (standardised units) of the particle's network
    /// (its weights as rounded to f32) on min(N, 1000) training rows drawn without
    /// replacement (all rows when N ≤ 1000). Deterministic in `seed`.
    pub fn prior_init(&self, n: usize, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        let (d, h) = (self.d, self.hidden);
        let dim = self.dim();
        let (s1, s2) = (1.0 / ((d + 1) as f64).sqrt(), 1.0 / ((h + 1) as f64).sqrt());
        let k = self.rows.min(BNN_INIT_ROWS);
        let mut rows: Vec<usize> = (0..self.rows).collect();
        let mut out = Vec::with_capacity(n * dim);
        let mut theta = vec![0.0; dim];
        for _ in 0..n {
            theta.iter_mut().for_each(|v| *v = 0.0);
            for v in &mut theta[..d * h] {
                *v = f64::from((s1 * rng.next_normal()) as f32);
            }
            for v in &mut theta[self.w2_offset()..self.b2_offset()] {
                *v = f64::from((s2 * rng.next_normal()) as f32);
            }
            let lambda = gamma(&mut rng, self.a0, self.b0);
            // The first k of a partial Fisher–Yates shuffle: k rows without replacement.
            if k < self.rows {
                for i in 0..k {
                    let j = i + (rng.next_u64() % (self.rows - i) as u64) as usize;
                    rows.swap(i, j);
                }
            }
            let mse = rows[..k]
                .iter()
                .map(|&r| {
                    let e = crate::cpu::bnn::forward(self, &theta, &self.x[r * d..(r + 1) * d])
                        - self.y[r];
                    e * e
                })
                .sum::<f64>()
                / k as f64;
            theta[dim - 2] = -mse.ln();
            theta[dim - 1] = lambda.ln();
            out.extend(theta.iter().map(|&v| v as f32));
        }
        out
    }
}

/// The columns of `csv` but `skip`, `[rows, cols − 1]`, all finite.
pub fn feature_matrix(csv: &Csv, skip: usize, origin: &str) -> Result<Vec<f64>> {
    let cols = csv.header.len();
    let mut x = Vec::with_capacity(csv.rows * (cols - 1));
    for r in 0..csv.rows {
        for c in (0..cols).filter(|&c| c != skip) {
            let v = csv.values[r * cols + c];
            ensure!(
                v.is_finite(),
                "{origin}: feature \"{}\" is {v} in row {}; features must be finite, clean the data",
                csv.header[c],
                r + 1
            );
            x.push(v);
        }
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permutation_holds_every_row_once() {
        let mut p = permutation(257, 3);
        assert_ne!(p, (0..257).collect::<Vec<_>>());
        p.sort();
        assert_eq!(p, (0..257).collect::<Vec<_>>());
    }

    #[test]
    fn gamma_draws_have_the_gammas_mean_and_variance() {
        for (shape, scale) in [(1.0, 0.01), (0.5, 2.0), (3.0, 0.1)] {
            let mut rng = SplitMix64::new(7);
            let k = 200_000;
            let v: Vec<f64> = (0..k).map(|_| gamma(&mut rng, shape, scale)).collect();
            let m = v.iter().sum::<f64>() / k as f64;
            let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / k as f64;
            let (want_m, want_v) = (shape * scale, shape * scale * scale);
            assert!(
                (m - want_m).abs() < 0.02 * want_m,
                "{shape} {scale}: mean {m}"
            );
            assert!(
                (var - want_v).abs() < 0.05 * want_v,
                "{shape} {scale}: var {var}"
            );
        }
    }
}
