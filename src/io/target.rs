//! Target distributions read from JSON files.
//!
//! Two kinds: a Gaussian with a full covariance,
//!
//! ```json
//! {"kind": "gaussian", "mean": [0.0, 1.0], "cov": [[1.0, 0.8], [0.8, 1.0]]}
//! ```
//!
//! and a Gaussian mixture with diagonal covariances:
//!
//! ```json
//! {"kind": "gmm",
//!  "weights": [0.3, 0.7],
//!  "means": [[-2.0, 0.0], [2.0, 1.0]],
//!  "stds":  [[0.5, 0.5], [1.0, 0.3]]}
//! ```
//!
//! `stds` holds one standard deviation per component per dimension. Weights
//! need not sum to 1; they are normalised when loaded.
//!
//! A third kind is the user's own density written in WGSL ([`WgslTarget`], docs/targets.md):
//!
//! ```json
//! {"kind": "wgsl", "source": "banana.wgsl", "dim": 2,
//!  "data": {"X": "x.npy"}, "constants": {"b": 100.0}}
//! ```
//!
//! and the built-in Bayesian models of algorithms.md §5, `"logistic"` ([`Logistic`]) and
//! `"bnn"` ([`Bnn`]), read by [`crate::io::bayes`].

use std::f64::consts::PI;
use std::path::Path;

use anyhow::{anyhow, bail};
use serde::Deserialize;

pub use crate::io::bayes::{Bnn, Logistic};
pub use crate::kernels::wgsl_target::{DataArray, WgslTarget};

/// Target kinds this module understands, for error messages.
const SUPPORTED_KINDS: &str = "\"gmm\", \"gaussian\", \"wgsl\", \"logistic\", \"bnn\"";

/// Called with what a target's device copy needs and its size in bytes, before the host
/// does work that grows faster than the file (`GpuContext::check_binding` fits).
pub type DeviceCheck<'a> = &'a dyn Fn(&str, u64) -> anyhow::Result<()>;

/// A [`DeviceCheck`] that accepts everything (tests and host-only use).
pub fn no_device_check(_: &str, _: u64) -> anyhow::Result<()> {
    Ok(())
}

/// A target read from a file.
#[derive(Clone, Debug)]
pub enum Target {
    /// Gaussian mixture with diagonal covariances.
    Gmm(Gmm),
    /// Gaussian with a full covariance.
    Gaussian(Gaussian),
    /// The user's log-density and score written in WGSL (device only: no host form).
    Wgsl(WgslTarget),
    /// Bayesian logistic regression (algorithms.md §5.1; its host form is on the minibatch
    /// of step 0).
    Logistic(Logistic),
    /// Bayesian neural network regression (algorithms.md §5.2; its host form is on the
    /// minibatch of step 0).
    Bnn(Bnn),
}

impl Target {
    /// The kind, as the target file names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Gmm(_) => "gmm",
            Target::Gaussian(_) => "gaussian",
            Target::Wgsl(_) => "wgsl",
            Target::Logistic(_) => "logistic",
            Target::Bnn(_) => "bnn",
        }
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        match self {
            Target::Gmm(g) => g.dim(),
            Target::Gaussian(g) => g.dim(),
            Target::Wgsl(w) => w.dim,
            Target::Logistic(l) => l.dim(),
            Target::Bnn(b) => b.dim(),
        }
    }

    /// Normalised log density at `x` on the host (f64), where the target has a host form
    /// (not [`Target::Wgsl`]: its density lives on the device).
    pub fn log_density(&self, x: &[f64]) -> Option<f64> {
        match self {
            Target::Gmm(g) => Some(g.log_density(x)),
            Target::Gaussian(g) => Some(g.log_density(x)),
            Target::Wgsl(_) => None,
            Target::Logistic(l) => Some(crate::cpu::logistic::log_density(l, x, 0)),
            Target::Bnn(b) => Some(crate::cpu::bnn::log_density(b, x, 0)),
        }
    }

    /// The score ∇ log p at `x` (f64 reference), where the target has a host form.
    pub fn grad_log_density(&self, x: &[f64]) -> Option<Vec<f64>> {
        match self {
            Target::Gmm(g) => Some(g.grad_log_density(x)),
            Target::Gaussian(g) => Some(g.grad_log_density(x)),
            Target::Wgsl(_) => None,
            Target::Logistic(l) => Some(crate::cpu::logistic::grad(l, x, 0)),
            Target::Bnn(b) => Some(crate::cpu::bnn::grad(b, x, 0)),
        }
    }

    /// The same target with minibatches of `m` rows for its score (`--score-batch`; `None`:
    /// the full data). Only the Bayesian models and WGSL targets that name their rows have
    /// rows to batch.
    pub fn with_score_batch(self, m: Option<usize>) -> anyhow::Result<Target> {
        match (self, m) {
            (Target::Logistic(l), m) => Ok(Target::Logistic(l.with_batch(m)?)),
            (Target::Bnn(b), m) => Ok(Target::Bnn(b.with_batch(m)?)),
            (Target::Wgsl(w), m) => Ok(Target::Wgsl(w.with_batch(m)?)),
            (t, None) => Ok(t),
            (_, Some(_)) => bail!(
                "--score-batch applies to targets with data rows (kinds \"logistic\" and \"bnn\", or \"wgsl\" with \"rows\"); this target has none to batch, leave it out"
            ),
        }
    }

    /// `n` initial particles drawn as the authors of the model drew them (`--init prior`),
    /// for the targets that have such a rule.
    pub fn prior_init(&self, n: usize, seed: u64) -> Option<Vec<f32>> {
        match self {
            Target::Logistic(l) => Some(l.prior_init(n, seed)),
            Target::Bnn(b) => Some(b.prior_init(n, seed)),
            _ => None,
        }
    }
}

/// A Gaussian N(mean, cov) with a full, symmetric positive-definite covariance.
#[derive(Clone, Debug)]
pub struct Gaussian {
    /// Mean, length d.
    pub mean: Vec<f64>,
    /// Covariance, d×d row-major.
    pub cov: Vec<f64>,
    /// Its inverse, d×d row-major (from the Cholesky factor).
    pub precision: Vec<f64>,
    /// log det cov.
    pub log_det: f64,
}

impl Gaussian {
    /// Validates (finite, symmetric, positive definite) and factorises.
    pub fn new(mean: Vec<f64>, cov: Vec<Vec<f64>>, origin: &str) -> anyhow::Result<Gaussian> {
        Self::new_checked(mean, cov, origin, &no_device_check)
    }

    /// Bytes of the device's copy (f32 precision matrix and mean; `GaussianScore`).
    pub fn device_bytes(d: usize) -> u64 {
        let d = d as u64;
        d.saturating_mul(d).saturating_add(d).saturating_mul(4)
    }

    /// [`Gaussian::new`], calling `device_check` with [`Gaussian::device_bytes`] after the
    /// O(d²) validation and before the O(d³) factorisation, so that a covariance the device
    /// cannot hold is refused at once (d = 6000 took over a minute on the host before
    /// the device refused it).
    pub fn new_checked(
        mean: Vec<f64>,
        cov: Vec<Vec<f64>>,
        origin: &str,
        device_check: DeviceCheck,
    ) -> anyhow::Result<Gaussian> {
        let d = mean.len();
        if d == 0 {
            bail!("{origin}: the mean is empty; give one value per dimension");
        }
        if let Some(j) = mean.iter().position(|m| !m.is_finite()) {
            bail!(
                "{origin}: mean {j} is {}; means must be finite numbers",
                mean[j]
            );
        }
        if cov.len() != d || cov.iter().any(|r| r.len() != d) {
            bail!("{origin}: cov must be a {d}x{d} matrix (one row per dimension of the mean)");
        }
        let c: Vec<f64> = cov.concat();
        for a in 0..d {
            for b in 0..d {
                let (x, y) = (c[a * d + b], c[b * d + a]);
                if !x.is_finite() || (x - y).abs() > 1e-12 * x.abs().max(y.abs()).max(1e-300) {
                    bail!("{origin}: cov[{a}][{b}] = {x} but cov[{b}][{a}] = {y}; the covariance must be finite and symmetric");
                }
            }
        }
        device_check(
            &format!("{origin}: the {d}x{d} precision matrix"),
            Self::device_bytes(d),
        )?;
        let (precision, log_det) = factorise(&c, d)
            .map_err(|(a, v)| anyhow!("{origin}: cov is not positive definite (pivot {a} is {v}); give a valid covariance"))?;
        Ok(Gaussian {
            mean,
            cov: c,
            precision,
            log_det,
        })
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Normalised log density.
    pub fn log_density(&self, x: &[f64]) -> f64 {
        let d = self.dim();
        let r: Vec<f64> = (0..d).map(|a| x[a] - self.mean[a]).collect();
        let q: f64 = (0..d)
            .map(|a| {
                r[a] * (0..d)
                    .map(|b| self.precision[a * d + b] * r[b])
                    .sum::<f64>()
            })
            .sum();
        -0.5 * (q + self.log_det + d as f64 * (2.0 * PI).ln())
    }

    /// Score −P(x − mean).
    pub fn grad_log_density(&self, x: &[f64]) -> Vec<f64> {
        let d = self.dim();
        (0..d)
            .map(|a| {
                (0..d)
                    .map(|b| self.precision[a * d + b] * (self.mean[b] - x[b]))
                    .sum()
            })
            .collect()
    }
}

/// The precision C⁻¹ and log det C of a symmetric d×d matrix `c` (row-major), or the first
/// pivot (index, value) that is not positive. About d³/2 multiply-adds, every one in a dot
/// product of two contiguous rows (the column-by-column solves this replaced walked L with
/// stride d: 15 s at d = 2000):
/// 1. Cholesky C = L Lᵀ, L[a][b] from the dot product of rows a and b of L (d³/6);
/// 2. u = L⁻ᵀ, each entry a dot product of a row of L and a row of u (d³/6);
/// 3. P = u uᵀ, the upper triangle as dot products of rows of u, mirrored (d³/6).
fn factorise(c: &[f64], d: usize) -> Result<(Vec<f64>, f64), (usize, f64)> {
    let mut l = vec![0.0; d * d];
    for a in 0..d {
        for b in 0..=a {
            let s = dot(&l[a * d..a * d + b], &l[b * d..b * d + b]);
            if a == b {
                let v = c[a * d + a] - s;
                if v.is_nan() || v <= 0.0 {
                    return Err((a, v));
                }
                l[a * d + a] = v.sqrt();
            } else {
                l[a * d + b] = (c[a * d + b] - s) / l[b * d + b];
            }
        }
    }
    let log_det = 2.0 * (0..d).map(|a| l[a * d + a].ln()).sum::<f64>();
    // u = L⁻ᵀ (upper triangular), row by row of L⁻¹ = column by column of u:
    // u[c][a] = (δ_ca − Σ_{c≤k<a} L[a][k] u[c][k]) / L[a][a].
    let mut u = vec![0.0; d * d];
    for a in 0..d {
        let la = &l[a * d..a * d + a];
        let diag = l[a * d + a];
        for c in 0..a {
            let v = -dot(&la[c..], &u[c * d + c..c * d + a]) / diag;
            u[c * d + a] = v;
        }
        u[a * d + a] = 1.0 / diag;
    }
    // P = u uᵀ: P[a][b] = Σ_{k≥b} u[a][k] u[b][k] for b ≥ a (u is upper triangular), mirrored
    // (exactly symmetric).
    let mut precision = vec![0.0; d * d];
    for a in 0..d {
        for b in a..d {
            let v = dot(&u[a * d + b..a * d + d], &u[b * d + b..b * d + d]);
            precision[a * d + b] = v;
            precision[b * d + a] = v;
        }
    }
    Ok((precision, log_det))
}

/// Σ a_k b_k over four running sums (so that the compiler can vectorise it).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for q in 0..4 {
            s[q] += x[q] * y[q];
        }
    }
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGaussian {
    #[allow(dead_code)]
    kind: String,
    mean: Vec<f64>,
    cov: Vec<Vec<f64>>,
}

/// A Gaussian mixture with diagonal covariances.
///
/// Build one with [`Gmm::new`], [`from_json_str`] or [`load_target`], which
/// validate the parameters; the fields are public for reading.
#[derive(Clone, Debug)]
pub struct Gmm {
    /// Mixture weights, normalised to sum to 1, all positive.
    pub weights: Vec<f64>,
    /// Component means, `components()` vectors of length `dim()`.
    pub means: Vec<Vec<f64>>,
    /// Per-dimension standard deviations, same shape as `means`, all positive.
    pub stds: Vec<Vec<f64>>,
}

/// The JSON layout of a `"gmm"` target.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGmm {
    #[allow(dead_code)]
    kind: String,
    weights: Vec<f64>,
    means: Vec<Vec<f64>>,
    stds: Vec<Vec<f64>>,
}

/// Reads and validates a target file; `device_check` sees what the device will need
/// before any work that grows faster than the file ([`DeviceCheck`]).
///
/// Errors name the file: a missing file, invalid JSON (with serde's line and
/// column), an unknown `kind`, invalid parameters, or a size the device cannot hold.
pub fn load_target(path: &Path, device_check: DeviceCheck) -> anyhow::Result<Target> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow!(
            "{}: cannot read target file ({}); check the path",
            path.display(),
            e
        )
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    from_json_in(&text, &path.display().to_string(), base, device_check)
}

/// Parses and validates a target from JSON text; `origin` (usually the file
/// name) starts every error message.
pub fn from_json_str(s: &str, origin: &str) -> anyhow::Result<Target> {
    from_json_str_checked(s, origin, &no_device_check)
}

/// Only the kind; serde skips the rest without building it, so the text is parsed in full
/// once more, not twice more (a 90 MB covariance took a second a parse).
#[derive(Deserialize)]
struct KindOnly {
    kind: Option<serde_json::Value>,
}

/// [`from_json_str`] with a [`DeviceCheck`]; a WGSL target's files are found relative to
/// the current directory.
pub fn from_json_str_checked(
    s: &str,
    origin: &str,
    device_check: DeviceCheck,
) -> anyhow::Result<Target> {
    from_json_in(s, origin, Path::new(""), device_check)
}

/// [`from_json_str_checked`] with the directory a WGSL target's `source` and `data` paths
/// are relative to (the target file's).
pub fn from_json_in(
    s: &str,
    origin: &str,
    base: &Path,
    device_check: DeviceCheck,
) -> anyhow::Result<Target> {
    let example =
        r#"{"kind": "gmm", "weights": [1.0], "means": [[0.0, 0.0]], "stds": [[1.0, 1.0]]}"#;
    // serde would also fill KindOnly from an array, so only an object's text takes this path.
    let object = s.trim_start().starts_with('{');
    let kind = match serde_json::from_str::<KindOnly>(s) {
        Ok(k) if object => k.kind,
        _ => {
            // Not an object, or not JSON: the full parse says which, with a line and column.
            let value: serde_json::Value = serde_json::from_str(s).map_err(|e| {
                anyhow!("{origin}: invalid JSON ({e}); fix the file at that line and column")
            })?;
            match value {
                serde_json::Value::Object(o) => o.get("kind").cloned(),
                _ => bail!("{origin}: the target must be a JSON object; write it like {example}"),
            }
        }
    };
    match kind {
        None => bail!("{origin}: missing \"kind\"; add \"kind\": \"gmm\" (supported kinds: {SUPPORTED_KINDS})"),
        Some(serde_json::Value::String(kind)) if kind == "gmm" => {}
        Some(serde_json::Value::String(kind)) if kind == "gaussian" => {
            let raw: RawGaussian = serde_json::from_str(s).map_err(|e| {
                anyhow!(r#"{origin}: invalid gaussian target ({e}); write it like {{"kind": "gaussian", "mean": [0, 0], "cov": [[1, 0.5], [0.5, 1]]}}"#)
            })?;
            return Ok(Target::Gaussian(Gaussian::new_checked(
                raw.mean,
                raw.cov,
                origin,
                device_check,
            )?));
        }
        Some(serde_json::Value::String(kind)) if kind == "wgsl" => {
            return Ok(Target::Wgsl(WgslTarget::from_json(s, origin, base, device_check)?));
        }
        Some(serde_json::Value::String(kind)) if kind == "logistic" => {
            return Ok(Target::Logistic(Logistic::from_json(
                s,
                origin,
                base,
                device_check,
            )?));
        }
        Some(serde_json::Value::String(kind)) if kind == "bnn" => {
            return Ok(Target::Bnn(Bnn::from_json(s, origin, base, device_check)?));
        }
        Some(serde_json::Value::String(kind)) => {
            bail!("{origin}: unknown target kind \"{kind}\"; supported kinds: {SUPPORTED_KINDS}")
        }
        Some(other) => bail!(
            "{origin}: \"kind\" must be a string but is {other}; supported kinds: {SUPPORTED_KINDS}"
        ),
    }
    let raw: RawGmm = serde_json::from_str(s)
        .map_err(|e| anyhow!("{origin}: invalid gmm target ({e}); write it like {example}"))?;
    validate(raw.weights, raw.means, raw.stds, origin).map(Target::Gmm)
}

/// Checks mixture parameters and normalises the weights.
fn validate(
    weights: Vec<f64>,
    means: Vec<Vec<f64>>,
    stds: Vec<Vec<f64>>,
    origin: &str,
) -> anyhow::Result<Gmm> {
    let k = weights.len();
    if k == 0 && means.is_empty() && stds.is_empty() {
        bail!("{origin}: the mixture has no components; give at least one weight, one mean vector and one std vector");
    }
    if means.len() != k || stds.len() != k {
        bail!(
            "{origin}: there are {} weights, {} means and {} stds; give one weight, one mean vector and one std vector per component",
            k,
            means.len(),
            stds.len()
        );
    }
    let d = means[0].len();
    if d == 0 {
        bail!("{origin}: component 0 has no means; every component needs one mean per dimension");
    }
    for (i, (mean, std)) in means.iter().zip(&stds).enumerate() {
        if mean.len() != d {
            bail!(
                "{origin}: component {i} has {} means but component 0 has {d}; every component needs one mean per dimension",
                mean.len()
            );
        }
        if std.len() != d {
            bail!(
                "{origin}: component {i} has {} stds but {d} means; give one std per dimension",
                std.len()
            );
        }
        if let Some(j) = mean.iter().position(|m| !m.is_finite()) {
            bail!(
                "{origin}: component {i} mean {j} is {}; means must be finite numbers",
                mean[j]
            );
        }
        if let Some(j) = std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            bail!(
                "{origin}: component {i} std {j} is {}; stds must be positive finite numbers",
                std[j]
            );
        }
        // The GPU kernels take the means and the precisions 1/std² as f32.
        if let Some(j) = mean.iter().position(|&m| !(m as f32).is_finite()) {
            bail!(
                "{origin}: component {i} mean {j} is {:e}, past f32's range (about ±3.4e38); rescale the problem",
                mean[j]
            );
        }
        if let Some(j) = std
            .iter()
            .position(|&s| !((1.0 / (s * s)) as f32).is_normal())
        {
            bail!(
                "{origin}: component {i} std {j} is {:e}, too {} for f32 arithmetic (1/std² must be a normal f32: std between about 1e-19 and 1e19); rescale the problem",
                std[j],
                if std[j] < 1.0 { "small" } else { "large" }
            );
        }
    }
    for (i, &w) in weights.iter().enumerate() {
        if !(w.is_finite() && w > 0.0) {
            bail!(
                "{origin}: component {i} has weight {w}; weights must be positive finite numbers (drop a component rather than give it weight 0)"
            );
        }
    }
    let total: f64 = weights.iter().sum();
    if !total.is_finite() {
        bail!("{origin}: the weights sum to {total}; use smaller weights (they are normalised anyway)");
    }
    let weights = weights.iter().map(|w| w / total).collect();
    Ok(Gmm {
        weights,
        means,
        stds,
    })
}

impl Gmm {
    /// Builds a validated mixture; `weights` are normalised to sum to 1.
    ///
    /// Fails when the mixture is empty, the counts of weights, means and stds
    /// differ, the mean vectors differ in length or are empty, `stds` is not
    /// the same shape as `means`, or any weight or std is not positive and
    /// finite.
    pub fn new(
        weights: Vec<f64>,
        means: Vec<Vec<f64>>,
        stds: Vec<Vec<f64>>,
    ) -> anyhow::Result<Gmm> {
        validate(weights, means, stds, "gmm target")
    }

    /// Dimension of the space.
    pub fn dim(&self) -> usize {
        self.means.first().map_or(0, Vec::len)
    }

    /// Number of mixture components.
    pub fn components(&self) -> usize {
        self.weights.len()
    }

    /// Log density of component `k` including its log weight.
    fn component_log_density(&self, k: usize, x: &[f64]) -> f64 {
        let half_log_2pi = 0.5 * (2.0 * PI).ln();
        let mut l = self.weights[k].ln();
        for ((&xi, &m), &s) in x.iter().zip(&self.means[k]).zip(&self.stds[k]) {
            let z = (xi - m) / s;
            l -= 0.5 * z * z + s.ln() + half_log_2pi;
        }
        l
    }

    /// Normalised log density at `x`, computed with a stable log-sum-exp.
    ///
    /// Returns NaN if `x.len()` differs from [`Gmm::dim`].
    pub fn log_density(&self, x: &[f64]) -> f64 {
        if x.len() != self.dim() {
            return f64::NAN;
        }
        let mut max = f64::NEG_INFINITY;
        let mut acc = 0.0;
        for k in 0..self.components() {
            let l = self.component_log_density(k, x);
            if l > max {
                acc = acc * (max - l).exp() + 1.0;
                max = l;
            } else {
                acc += (l - max).exp();
            }
        }
        if max == f64::NEG_INFINITY {
            return max;
        }
        max + acc.ln()
    }

    /// Gradient of [`Gmm::log_density`] at `x` (the score), a vector of length
    /// [`Gmm::dim`].
    ///
    /// Returns a vector of NaN if `x.len()` differs from [`Gmm::dim`].
    pub fn grad_log_density(&self, x: &[f64]) -> Vec<f64> {
        let d = self.dim();
        if x.len() != d {
            return vec![f64::NAN; d];
        }
        let logs: Vec<f64> = (0..self.components())
            .map(|k| self.component_log_density(k, x))
            .collect();
        let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut grad = vec![0.0; d];
        if max == f64::NEG_INFINITY {
            // x is infinite: there is no usable gradient
            return grad;
        }
        let mut total = 0.0;
        for (k, &l) in logs.iter().enumerate() {
            let r = (l - max).exp();
            total += r;
            for j in 0..d {
                let s = self.stds[k][j];
                grad[j] -= r * (x[j] - self.means[k][j]) / (s * s);
            }
        }
        for g in &mut grad {
            *g /= total;
        }
        grad
    }

    /// Mixture mean, a vector of length [`Gmm::dim`].
    pub fn mean(&self) -> Vec<f64> {
        let mut m = vec![0.0; self.dim()];
        for (w, mu) in self.weights.iter().zip(&self.means) {
            for (mj, muj) in m.iter_mut().zip(mu) {
                *mj += w * muj;
            }
        }
        m
    }

    /// Mixture covariance, `dim × dim` row-major:
    /// `Σ_k w_k (diag(σ_k²) + μ_k μ_kᵀ) − m mᵀ`.
    pub fn covariance(&self) -> Vec<f64> {
        let d = self.dim();
        let m = self.mean();
        let mut c = vec![0.0; d * d];
        for ((w, mu), sd) in self.weights.iter().zip(&self.means).zip(&self.stds) {
            // centred second moment of this component about the mixture mean
            for a in 0..d {
                let da = mu[a] - m[a];
                for b in 0..d {
                    c[a * d + b] += w * da * (mu[b] - m[b]);
                }
                c[a * d + a] += w * sd[a] * sd[a];
            }
        }
        c
    }

    /// Draws `n` samples, row-major `[n, dim]`, deterministically from `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<f64> {
        let d = self.dim();
        if self.components() == 0 || d == 0 {
            return Vec::new();
        }
        let mut rng = SplitMix64::new(seed);
        let mut out = Vec::with_capacity(n.saturating_mul(d));
        for _ in 0..n {
            let u = rng.next_f64();
            let mut k = self.components() - 1;
            let mut cum = 0.0;
            for (i, w) in self.weights.iter().enumerate() {
                cum += w;
                if u < cum {
                    k = i;
                    break;
                }
            }
            for j in 0..d {
                out.push(self.means[k][j] + self.stds[k][j] * rng.next_normal());
            }
        }
        out
    }
}

/// A small deterministic pseudo-random generator (SplitMix64) with uniform and
/// standard-normal (Box–Muller) draws. Not for cryptography.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
    spare: Option<f64>,
}

impl SplitMix64 {
    /// The full generator state (counter and the cached second Box–Muller normal), for
    /// checkpoints.
    pub fn state(&self) -> (u64, Option<f64>) {
        (self.state, self.spare)
    }

    /// A generator continuing from a saved [`SplitMix64::state`].
    pub fn from_state(state: u64, spare: Option<f64>) -> SplitMix64 {
        SplitMix64 { state, spare }
    }

    /// Creates a generator from `seed`; equal seeds give equal streams.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 {
            state: seed,
            spare: None,
        }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform draw in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal draw (Box–Muller; the second value of each pair is
    /// kept for the next call).
    pub fn next_normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let u1 = 1.0 - self.next_f64(); // in (0, 1]: ln is finite
        let u2 = self.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (2.0 * PI * u2).sin_cos();
        self.spare = Some(r * s);
        r * c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(json: &str) -> String {
        from_json_str(json, "target.json").unwrap_err().to_string()
    }

    #[test]
    fn parses_and_normalises() {
        let Target::Gmm(g) = from_json_str(
            r#"{"kind":"gmm","weights":[1,3],"means":[[0,1],[2,3]],"stds":[[1,1],[0.5,2]]}"#,
            "target.json",
        )
        .unwrap() else {
            panic!("not a gmm")
        };
        assert_eq!(g.dim(), 2);
        assert_eq!(g.components(), 2);
        assert!((g.weights[0] - 0.25).abs() < 1e-15 && (g.weights[1] - 0.75).abs() < 1e-15);
    }

    #[test]
    fn validation_errors() {
        let e = err_of(
            r#"{"kind":"gmm","weights":[1,1,1],"means":[[0,0],[1,1],[1,2,3]],"stds":[[1,1],[1,1],[1,1]]}"#,
        );
        assert_eq!(
            e,
            "target.json: component 2 has 3 means but component 0 has 2; every component needs one mean per dimension"
        );
        let e = err_of(r#"{"kind":"banana","weights":[1]}"#);
        assert!(
            e.starts_with("target.json: unknown target kind \"banana\"") && e.contains("\"gmm\""),
            "{e}"
        );
        let e = err_of(r#"{"weights":[1],"means":[[0]],"stds":[[1]]}"#);
        assert!(e.contains("missing \"kind\""), "{e}");
        let e = err_of(r#"{"kind":"gmm","weights":[],"means":[],"stds":[]}"#);
        assert!(e.contains("no components"), "{e}");
        let e = err_of(r#"{"kind":"gmm","weights":[1,0],"means":[[0],[1]],"stds":[[1],[1]]}"#);
        assert!(e.contains("component 1 has weight 0"), "{e}");
        let e = err_of(r#"{"kind":"gmm","weights":[-1,1],"means":[[0],[1]],"stds":[[1],[1]]}"#);
        assert!(e.contains("component 0 has weight -1"), "{e}");
        let e = err_of(r#"{"kind":"gmm","weights":[1,1],"means":[[0],[1]],"stds":[[1],[0]]}"#);
        assert!(e.contains("component 1 std 0 is 0"), "{e}");
        let e =
            err_of(r#"{"kind":"gmm","weights":[1,1],"means":[[0, 1],[1, 1]],"stds":[[1, 1],[1]]}"#);
        assert!(e.contains("component 1 has 1 stds but 2 means"), "{e}");
        let e = err_of(r#"{"kind":"gmm","weights":[1,1],"means":[[0]],"stds":[[1]]}"#);
        assert!(e.contains("2 weights, 1 means and 1 stds"), "{e}");
        let e = err_of(r#"{"kind":"gmm","weights":[1],"means":[[]],"stds":[[]]}"#);
        assert!(e.contains("component 0 has no means"), "{e}");
        let e = err_of(r#"{"kind":"gmm","weights":[1],"means":[[0]],"stds":[[1]],"extra":1}"#);
        assert!(e.contains("unknown field") && e.contains("line 1"), "{e}");
        let e = err_of(r#"{"kind":"gmm","weights":[1],"means":[[0]]}"#);
        assert!(e.contains("missing field `stds`"), "{e}");
        let e = err_of("{\"kind\":\"gmm\",\n \"weights\":[1,]}");
        assert!(
            e.starts_with("target.json: invalid JSON") && e.contains("line 2"),
            "{e}"
        );
        let e = err_of("[1, 2]");
        assert!(e.contains("JSON object"), "{e}");
        let e = err_of(r#"{"kind":3}"#);
        assert!(e.contains("must be a string"), "{e}");
        assert!(Gmm::new(vec![1.0], vec![vec![f64::NAN]], vec![vec![1.0]]).is_err());
        assert!(Gmm::new(vec![f64::INFINITY], vec![vec![0.0]], vec![vec![1.0]]).is_err());
        assert!(Gmm::new(vec![1e308, 1e308], vec![vec![0.0]; 2], vec![vec![1.0]; 2]).is_err());
        // Past what the f32 kernels can hold: a mean, a precision 1/std².
        let e = err_of(r#"{"kind":"gmm","weights":[1],"means":[[1e300]],"stds":[[1]]}"#);
        assert!(
            e.contains("component 0 mean 0 is 1e300, past f32's range"),
            "{e}"
        );
        let e = err_of(r#"{"kind":"gmm","weights":[1],"means":[[0]],"stds":[[1e-45]]}"#);
        assert!(
            e.contains("std 0 is 1") && e.contains("e-45, too small for f32"),
            "{e}"
        );
        let e = err_of(r#"{"kind":"gmm","weights":[1],"means":[[0]],"stds":[[1e30]]}"#);
        assert!(e.contains("std 0 is 1e30, too large for f32"), "{e}");
        assert!(Gmm::new(vec![1.0], vec![vec![1e30]], vec![vec![1e-15]]).is_ok());
        for e in [e, err_of("{}"), err_of("")] {
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn gaussian_target_parses_and_inverts() {
        let Target::Gaussian(g) = from_json_str(
            r#"{"kind":"gaussian","mean":[1,-1],"cov":[[2,0.8],[0.8,1]]}"#,
            "t.json",
        )
        .unwrap() else {
            panic!("not a gaussian")
        };
        // P·C = I
        for a in 0..2 {
            for b in 0..2 {
                let v: f64 = (0..2)
                    .map(|k| g.precision[a * 2 + k] * g.cov[k * 2 + b])
                    .sum();
                assert!((v - if a == b { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        assert!((g.log_det - (2.0f64 * 1.0 - 0.64).ln()).abs() < 1e-12);
        let e = err_of(r#"{"kind":"gaussian","mean":[0,0],"cov":[[1,2],[2,1]]}"#);
        assert!(e.contains("not positive definite"), "{e}");
        let e = err_of(r#"{"kind":"gaussian","mean":[0,0],"cov":[[1,0.5],[0.4,1]]}"#);
        assert!(e.contains("symmetric"), "{e}");
        let e = err_of(r#"{"kind":"gaussian","mean":[0,0],"cov":[[1,0]]}"#);
        assert!(e.contains("2x2"), "{e}");
    }

    /// The factorisation at awkward sizes: C = D + v vᵀ (D diagonal, v random), whose
    /// inverse and determinant have closed forms (Sherman–Morrison and the matrix
    /// determinant lemma), so the check does not share the code it checks.
    #[test]
    fn gaussian_precision_and_log_det_match_closed_forms() {
        for d in [1usize, 2, 3, 4, 5, 17, 64, 101] {
            let mut rng = SplitMix64::new(d as u64);
            let diag: Vec<f64> = (0..d).map(|_| 0.5 + rng.next_f64()).collect();
            let v: Vec<f64> = (0..d).map(|_| 2.0 * rng.next_normal()).collect();
            let cov: Vec<Vec<f64>> = (0..d)
                .map(|a| {
                    (0..d)
                        .map(|b| v[a] * v[b] + if a == b { diag[a] } else { 0.0 })
                        .collect()
                })
                .collect();
            let g = Gaussian::new(vec![0.0; d], cov, "t").unwrap();
            // (D + vvᵀ)⁻¹ = D⁻¹ − D⁻¹v vᵀD⁻¹ / (1 + vᵀD⁻¹v); det = det D · (1 + vᵀD⁻¹v).
            let s = 1.0 + (0..d).map(|a| v[a] * v[a] / diag[a]).sum::<f64>();
            let log_det = diag.iter().map(|x| x.ln()).sum::<f64>() + s.ln();
            assert!(
                (g.log_det - log_det).abs() < 1e-10 * log_det.abs().max(1.0),
                "d = {d}"
            );
            for a in 0..d {
                for b in 0..d {
                    let want = if a == b { 1.0 / diag[a] } else { 0.0 }
                        - v[a] / diag[a] * v[b] / diag[b] / s;
                    let got = g.precision[a * d + b];
                    assert!(
                        (got - want).abs() < 1e-10 + 1e-10 * want.abs(),
                        "d = {d}, P[{a}][{b}] = {got}, want {want}"
                    );
                    assert_eq!(
                        got.to_bits(),
                        g.precision[b * d + a].to_bits(),
                        "P is symmetric"
                    );
                }
            }
        }
        // The first pivot that fails is named: rows 0–1 are fine, row 2 repeats row 1.
        let e = err_of(r#"{"kind":"gaussian","mean":[0,0,0],"cov":[[2,1,1],[1,2,2],[1,2,2]]}"#);
        assert!(e.contains("pivot 2"), "{e}");
    }

    /// The full-covariance Gaussian's score −P(x − μ) against central differences of its log
    /// density, in f64.
    #[test]
    fn gaussian_score_matches_finite_differences() {
        let t = r#"{"kind":"gaussian","mean":[1,-2,0.5],"cov":[[2,0.8,0.1],[0.8,1,-0.3],[0.1,-0.3,0.5]]}"#;
        let g = from_json_str(t, "t.json").unwrap();
        for x in [[0.0, 0.0, 0.0], [1.5, -3.0, 2.0], [-4.0, 1.0, 0.3]] {
            let s = g.grad_log_density(&x).unwrap();
            for a in 0..3 {
                let step = 1e-5;
                let (mut hi, mut lo) = (x, x);
                hi[a] += step;
                lo[a] -= step;
                let fd = (g.log_density(&hi).unwrap() - g.log_density(&lo).unwrap()) / (2.0 * step);
                assert!(
                    (fd - s[a]).abs() < 1e-6 * s[a].abs().max(1.0),
                    "x = {x:?}, a = {a}: {fd} vs {}",
                    s[a]
                );
            }
        }
    }

    /// The device check sees the precision matrix's bytes after the cheap validation and
    /// before the factorisation: a refusal wins over a matrix the factorisation would reject.
    #[test]
    fn gaussian_device_check_comes_before_the_factorisation() {
        let refuse = |what: &str, bytes: u64| -> anyhow::Result<()> {
            bail!("{what} needs {bytes} bytes, too many")
        };
        let not_pd = r#"{"kind":"gaussian","mean":[0,0],"cov":[[1,2],[2,1]]}"#;
        let e = from_json_str_checked(not_pd, "t.json", &refuse)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "t.json: the 2x2 precision matrix needs 24 bytes, too many"
        );
        assert_eq!(Gaussian::device_bytes(2), 24);
        let asym = r#"{"kind":"gaussian","mean":[0,0],"cov":[[1,0.5],[0.4,1]]}"#;
        let e = from_json_str_checked(asym, "t.json", &refuse)
            .unwrap_err()
            .to_string();
        assert!(e.contains("symmetric"), "{e}");
        let gmm = r#"{"kind":"gmm","weights":[1],"means":[[0]],"stds":[[1]]}"#;
        assert!(from_json_str_checked(gmm, "t.json", &refuse).is_ok());
        // An array is not an object, though serde would read a struct from one (`["gmm"]`
        // fills KindOnly, and went on to an "invalid gmm target" without the object guard).
        let e = err_of(r#"["gmm"]"#);
        assert!(e.contains("must be a JSON object"), "{e}");
    }

    #[test]
    fn load_target_reports_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing.json");
        let e = load_target(&p, &no_device_check).unwrap_err().to_string();
        assert!(
            e.contains("missing.json") && e.contains("cannot read"),
            "{e}"
        );
        std::fs::write(
            &p,
            r#"{"kind":"gmm","weights":[2],"means":[[1]],"stds":[[3]]}"#,
        )
        .unwrap();
        let Target::Gmm(g) = load_target(&p, &no_device_check).unwrap() else {
            panic!("not a gmm")
        };
        assert_eq!(g.weights, vec![1.0]);
    }

    #[test]
    fn log_density_integrates_to_one_in_1d() {
        let g = Gmm::new(
            vec![1.0, 3.0, 0.5],
            vec![vec![-2.0], vec![3.0], vec![0.0]],
            vec![vec![0.5], vec![1.5], vec![0.1]],
        )
        .unwrap();
        let (a, b, h) = (-20.0, 25.0, 1e-3);
        let n = ((b - a) / h) as usize;
        let mut total = 0.0;
        for i in 0..=n {
            let x = a + i as f64 * h;
            let w = if i == 0 || i == n { 0.5 } else { 1.0 };
            total += w * g.log_density(&[x]).exp();
        }
        total *= h;
        assert!((total - 1.0).abs() < 1e-6, "{total}");
    }

    #[test]
    fn log_density_matches_single_gaussian_and_is_stable() {
        let g = Gmm::new(vec![1.0], vec![vec![1.0, -1.0]], vec![vec![2.0, 0.5]]).unwrap();
        let x = [0.3, 0.2];
        let expect = -0.5 * ((0.3f64 - 1.0) / 2.0).powi(2)
            - 0.5 * ((0.2f64 + 1.0) / 0.5).powi(2)
            - (2.0f64).ln()
            - (0.5f64).ln()
            - (2.0 * PI).ln();
        assert!((g.log_density(&x) - expect).abs() < 1e-12);
        // far in the tails every component underflows in linear space
        let g2 = Gmm::new(
            vec![1.0, 1.0],
            vec![vec![0.0], vec![1.0]],
            vec![vec![0.01], vec![0.01]],
        )
        .unwrap();
        let l = g2.log_density(&[1000.0]);
        assert!(l.is_finite() && l < -1e9, "{l}");
        assert!(g2.log_density(&[1.0, 2.0]).is_nan());
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let g = Gmm::new(
            vec![0.3, 0.7],
            vec![vec![-1.0, 0.5], vec![2.0, -0.5]],
            vec![vec![0.7, 1.2], vec![1.0, 0.4]],
        )
        .unwrap();
        let x = [0.4, 0.1];
        let grad = g.grad_log_density(&x);
        let h = 1e-6;
        for j in 0..2 {
            let mut xp = x;
            let mut xm = x;
            xp[j] += h;
            xm[j] -= h;
            let fd = (g.log_density(&xp) - g.log_density(&xm)) / (2.0 * h);
            assert!((fd - grad[j]).abs() < 1e-6, "{fd} vs {}", grad[j]);
        }
    }

    #[test]
    fn mean_covariance_and_sampling() {
        let g = Gmm::new(
            vec![1.0, 3.0],
            vec![vec![-2.0, 1.0], vec![3.0, 0.0]],
            vec![vec![0.5, 1.0], vec![1.5, 0.25]],
        )
        .unwrap();
        let m = g.mean();
        assert!((m[0] - 1.75).abs() < 1e-12 && (m[1] - 0.25).abs() < 1e-12);
        let c = g.covariance();
        // E[x0^2] = 0.25*(0.25+4) + 0.75*(2.25+9) = 9.5; var = 9.5 - 1.75^2
        assert!((c[0] - (9.5 - 1.75 * 1.75)).abs() < 1e-12);
        // E[x1^2] = 0.25*(1+1) + 0.75*(0.0625) ; var = that - 0.0625
        assert!((c[3] - (0.5 + 0.75 * 0.0625 - 0.0625)).abs() < 1e-12);
        // E[x0 x1] = 0.25*(-2*1) + 0.75*0 = -0.5; cov = -0.5 - 1.75*0.25
        assert!((c[1] - (-0.5 - 1.75 * 0.25)).abs() < 1e-12);
        assert_eq!(c[1], c[2]);

        let n = 200_000;
        let s = g.sample(n, 42);
        assert_eq!(s.len(), 2 * n);
        assert_eq!(s, g.sample(n, 42));
        assert_ne!(s[..10], g.sample(5, 43)[..]);
        let mut sm = [0.0; 2];
        for row in s.chunks_exact(2) {
            sm[0] += row[0] / n as f64;
            sm[1] += row[1] / n as f64;
        }
        let mut sc = [0.0; 4];
        for row in s.chunks_exact(2) {
            for a in 0..2 {
                for b in 0..2 {
                    sc[a * 2 + b] += (row[a] - sm[a]) * (row[b] - sm[b]) / n as f64;
                }
            }
        }
        assert!(
            (sm[0] - m[0]).abs() < 0.03 && (sm[1] - m[1]).abs() < 0.02,
            "{sm:?}"
        );
        for i in 0..4 {
            assert!((sc[i] - c[i]).abs() < 0.05 * c[0], "{sc:?} vs {c:?}");
        }
    }

    #[test]
    fn splitmix_normal_moments() {
        let mut rng = SplitMix64::new(7);
        let n = 100_000;
        let (mut s1, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let z = rng.next_normal();
            assert!(z.is_finite());
            s1 += z;
            s2 += z * z;
        }
        let mean = s1 / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
        let u = SplitMix64::new(0).next_f64();
        assert!((0.0..1.0).contains(&u));
    }
}
