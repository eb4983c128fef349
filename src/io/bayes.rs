//! The built-in Bayesian models of algorithms.md §5 (the SVGD paper's benchmarks) read from
//! their JSON and CSV: the data standardised with the training rows' statistics, the fixed
//! permutation the minibatches walk through, and the authors' initial particles.
//!
//! ```json
//! {"kind": "logistic", "data": "train.csv", "label": "label"}
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
        let m = m.unwrap_or(self.rows);
        check_batch(m, self.rows)?;
        self.batch = m;
        Ok(self)
    }

    /// The minibatch of step `s` starts at position `(s·m) mod N` of the permutation.
    pub fn batch_begin(&self, step: u64) -> usize {
        batch_begin(step, self.batch, self.rows)
    }

    /// The rows of the minibatch of step `s`, in order.
    pub fn batch_rows(&self, step: u64) -> impl Iterator<Item = usize> + '_ {
        let b = self.batch_begin(step);
        (0..self.batch).map(move |j| self.perm[(b + j) % self.rows])
    }

    /// The rows in the permutation's order as the device reads them: the dw features, then
    /// the label as (y + 1)/2.
    pub fn device_rows(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.rows * (self.dw + 1));
        for &r in &self.perm {
            out.extend(
                self.x[r * self.dw..(r + 1) * self.dw]
                    .iter()
                    .map(|&v| v as f32),
            );
            out.push(((self.y[r] + 1.0) / 2.0) as f32);
        }
        out
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
