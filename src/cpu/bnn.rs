//! Bayesian neural network regression (algorithms.md §5.2) in f64: the network's output, the
//! log-density of θ = (W1, b1, w2, b2, log γ, log λ) on the minibatch of a step with every
//! constant of §5.2, and its gradient — the oracle of `bnn_score` — and the authors'
//! posterior-predictive evaluation: predictions in the data's units, the development-set rule
//! for γ, RMSE and the test log-likelihood.
//!
//! **The γ convention.** γ is trained as the noise precision of the *standardised* response.
//! The evaluation follows the authors' code literally: γ_i is used as the precision of the
//! prediction in the *data's* units. The development-set rule replaces log γ_i by
//! −log(dev MSE in data units) where that raises the development log-likelihood, which makes
//! it a data-units precision; without the rule a γ that fits the standardised response is
//! std_y² times too large for the data's units (docs/targets.md).

use std::f64::consts::PI;

use anyhow::{ensure, Result};

use crate::io::bayes::Bnn;

/// The network's output ŷ = w2ᵀ relu(W1ᵀx + b1) + b2 at one standardised input row `x`
/// (`[d]`), in standardised units. `theta` holds at least the P weights and biases.
pub fn forward(t: &Bnn, theta: &[f64], x: &[f64]) -> f64 {
    let (d, h) = (t.d, t.hidden);
    let (b1, w2) = (t.b1_offset(), t.w2_offset());
    let mut y = theta[t.b2_offset()];
    for j in 0..h {
        let z: f64 = (0..d).map(|k| x[k] * theta[k * h + j]).sum::<f64>() + theta[b1 + j];
        y += theta[w2 + j] * z.max(0.0);
    }
    y
}

/// Σ of the squared weights and biases ‖w‖² (θ less log γ and log λ).
fn weights_sq(t: &Bnn, theta: &[f64]) -> f64 {
    theta[..t.weights()].iter().map(|v| v * v).sum()
}

/// log p(θ | minibatch of step `step`), §5.2's formula with its constants:
/// (N/m)·[−(m/2)(log 2π − log γ) − (γ/2) Σ (ŷ − y)²] + (a0 − 1) log γ − b0 γ + log γ
/// − (P/2)(log 2π − log λ) − (λ/2)‖w‖² + (a0 − 1) log λ − b0 λ + log λ. NaN for θ of the wrong
/// length.
pub fn log_density(t: &Bnn, theta: &[f64], step: u64) -> f64 {
    if theta.len() != t.dim() {
        return f64::NAN;
    }
    let p = t.weights();
    let (lg, ll) = (theta[p], theta[p + 1]);
    let (gamma, lambda) = (lg.exp(), ll.exp());
    let (m, scale) = (t.batch as f64, t.rows as f64 / t.batch as f64);
    let sse: f64 = t
        .batch_rows(step)
        .map(|r| (forward(t, theta, &t.x[r * t.d..(r + 1) * t.d]) - t.y[r]).powi(2))
        .sum();
    let ln2pi = (2.0 * PI).ln();
    scale * (-0.5 * m * (ln2pi - lg) - 0.5 * gamma * sse) + (t.a0 - 1.0) * lg - t.b0 * gamma + lg
        - 0.5 * p as f64 * (ln2pi - ll)
        - 0.5 * lambda * weights_sq(t, theta)
        + (t.a0 - 1.0) * ll
        - t.b0 * lambda
        + ll
}

/// ∇ log p(θ | minibatch of step `step`). With r_t = ŷ_t − y_t and c = −(N/m)γ:
/// ∂W1\[k,j\] = c Σ r_t w2_j 1\[z_tj > 0\] x_tk − λ W1\[k,j\], ∂b1_j = c Σ r_t w2_j 1\[z_tj > 0\] − λ b1_j,
/// ∂w2_j = c Σ r_t relu(z_tj) − λ w2_j, ∂b2 = c Σ r_t − λ b2,
/// ∂log γ = (N/m)(m/2 − (γ/2) Σ r_t²) + (a0 − 1) − b0 γ + 1,
/// ∂log λ = P/2 − (λ/2)‖w‖² + (a0 − 1) − b0 λ + 1.
pub fn grad(t: &Bnn, theta: &[f64], step: u64) -> Vec<f64> {
    let (d, h) = (t.d, t.hidden);
    let p = t.weights();
    let (b1, w2, b2) = (t.b1_offset(), t.w2_offset(), t.b2_offset());
    let (gamma, lambda) = (theta[p].exp(), theta[p + 1].exp());
    let (m, scale) = (t.batch as f64, t.rows as f64 / t.batch as f64);
    let c = -scale * gamma;
    let mut g: Vec<f64> = theta[..p].iter().map(|v| -lambda * v).collect();
    let mut z = vec![0.0; h];
    let mut sse = 0.0;
    for r in t.batch_rows(step) {
        let x = &t.x[r * d..(r + 1) * d];
        let mut yhat = theta[b2];
        for (j, z) in z.iter_mut().enumerate() {
            *z = (0..d).map(|k| x[k] * theta[k * h + j]).sum::<f64>() + theta[b1 + j];
            yhat += theta[w2 + j] * z.max(0.0);
        }
        let res = yhat - t.y[r];
        sse += res * res;
        g[b2] += c * res;
        for (j, &z) in z.iter().enumerate() {
            g[w2 + j] += c * res * z.max(0.0);
            if z > 0.0 {
                let delta = c * res * theta[w2 + j];
                g[b1 + j] += delta;
                for k in 0..d {
                    g[k * h + j] += delta * x[k];
                }
            }
        }
    }
    g.push(scale * (0.5 * m - 0.5 * gamma * sse) + (t.a0 - 1.0) - t.b0 * gamma + 1.0);
    g.push(
        0.5 * p as f64 - 0.5 * lambda * weights_sq(t, theta) + (t.a0 - 1.0) - t.b0 * lambda + 1.0,
    );
    g
}

/// One particle's predictions in the data's units at raw input rows `x_raw` (`[rows, d]`):
/// each row standardised with the training statistics, [`forward`], mapped back as
/// ŷ·std_y + mean_y.
pub fn predict_data_units(t: &Bnn, theta: &[f64], x_raw: &[f64]) -> Vec<f64> {
    t.standardize_inputs(x_raw)
        .chunks_exact(t.d)
        .map(|x| forward(t, theta, x) * t.std_y + t.mean_y)
        .collect()
}

/// The posterior-predictive metrics the authors report (§5.2), in the data's units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BnnMetrics {
    /// RMSE of the particle-mean prediction: sqrt(mean_t (mean_i ŷ_i(x_t) − y_t)²).
    pub rmse: f64,
    /// Mean test log-likelihood: mean_t log(mean_i N(y_t; ŷ_i(x_t), γ_i⁻¹)).
    pub log_likelihood: f64,
}

/// Σ_t log N(y_t; pred_t, e^{−lg}).
fn gauss_log_lik(lg: f64, pred: &[f64], y: &[f64]) -> f64 {
    let sse: f64 = pred.iter().zip(y).map(|(p, y)| (p - y).powi(2)).sum();
    0.5 * pred.len() as f64 * (lg - (2.0 * PI).ln()) - 0.5 * lg.exp() * sse
}

/// Checks `particles` is n ≥ 1 rows of θ and returns n.
fn particle_count(t: &Bnn, particles: &[f64]) -> Result<usize> {
    let dim = t.dim();
    ensure!(
        !particles.is_empty() && particles.len().is_multiple_of(dim),
        "{}: {} particle values are not n rows of the model's d = {dim}",
        t.origin,
        particles.len()
    );
    Ok(particles.len() / dim)
}

/// How the evaluation reads a particle's γ, trained as the precision of the *standardised*
/// response (module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum GammaUnits {
    /// As the authors' code: γ_i is the precision of the data-units prediction as it stands
    /// (algorithms.md §5.2 read literally; the published figures use it, with the
    /// development-set rule).
    #[default]
    Authors,
    /// γ_i / std_y², the same noise mapped to the data's units: the predictive density the
    /// model itself implies. The development-set rule then compares the heuristic with this.
    Data,
}

/// Particle i's log γ as the evaluation reads it in `units`.
fn evaluated_log_gamma(t: &Bnn, theta: &[f64], units: GammaUnits) -> f64 {
    let lg = theta[t.dim() - 2];
    match units {
        GammaUnits::Authors => lg,
        GammaUnits::Data => lg - 2.0 * t.std_y.ln(),
    }
}

/// The authors' development-set rule (§5.2), for each particle of `particles` (`[n, dim]`):
/// with its development predictions ŷ in the data's units, log γ' = −log(mean (ŷ − y)²)
/// replaces log γ where Σ_dev log N(y; ŷ, γ'⁻¹) > Σ_dev log N(y; ŷ, γ⁻¹). Returns the log γ
/// of each particle after the rule, γ read as the authors read it. Needs development rows
/// (`dev_fraction` > 0).
pub fn dev_log_gamma(t: &Bnn, particles: &[f64]) -> Result<Vec<f64>> {
    dev_log_gamma_in(t, particles, GammaUnits::Authors)
}

/// [`dev_log_gamma`] with γ read in `units`.
pub fn dev_log_gamma_in(t: &Bnn, particles: &[f64], units: GammaUnits) -> Result<Vec<f64>> {
    let n = particle_count(t, particles)?;
    ensure!(
        t.dev_rows >= 1,
        "{}: the development-set rule needs development rows; set \"dev_fraction\" (the authors used 0.1) in the target",
        t.origin
    );
    let dim = t.dim();
    Ok((0..n)
        .map(|i| {
            let theta = &particles[i * dim..(i + 1) * dim];
            let pred = predict_data_units(t, theta, &t.dev_x);
            let lg = evaluated_log_gamma(t, theta, units);
            let mse = pred
                .iter()
                .zip(&t.dev_y)
                .map(|(p, y)| (p - y).powi(2))
                .sum::<f64>()
                / t.dev_rows as f64;
            let heuristic = -mse.ln();
            if gauss_log_lik(heuristic, &pred, &t.dev_y) > gauss_log_lik(lg, &pred, &t.dev_y) {
                heuristic
            } else {
                lg
            }
        })
        .collect())
}

/// The authors' metrics (§5.2) of `particles` (`[n, dim]`) on raw test rows `x_raw`
/// (`[rows, d]`, columns in the model's input order) and `y_raw` (`[rows]`), in the data's
/// units, with the development-set rule for γ when `dev_rule` (an error without development
/// rows). The log-likelihood is a log-mean-exp over particles, stable for any γ.
pub fn metrics(
    t: &Bnn,
    particles: &[f64],
    x_raw: &[f64],
    y_raw: &[f64],
    dev_rule: bool,
) -> Result<BnnMetrics> {
    metrics_in(t, particles, x_raw, y_raw, dev_rule, GammaUnits::Authors)
}

/// [`metrics`] with γ read in `units`.
pub fn metrics_in(
    t: &Bnn,
    particles: &[f64],
    x_raw: &[f64],
    y_raw: &[f64],
    dev_rule: bool,
    units: GammaUnits,
) -> Result<BnnMetrics> {
    let n = particle_count(t, particles)?;
    let rows = y_raw.len();
    ensure!(
        rows >= 1 && x_raw.len() == rows * t.d,
        "{}: {} test input values are not {rows} rows of the model's {} inputs",
        t.origin,
        x_raw.len(),
        t.d
    );
    let dim = t.dim();
    let log_gamma = if dev_rule {
        dev_log_gamma_in(t, particles, units)?
    } else {
        (0..n)
            .map(|i| evaluated_log_gamma(t, &particles[i * dim..(i + 1) * dim], units))
            .collect()
    };
    let preds: Vec<Vec<f64>> = (0..n)
        .map(|i| predict_data_units(t, &particles[i * dim..(i + 1) * dim], x_raw))
        .collect();
    let ln2pi = (2.0 * PI).ln();
    let (mut se, mut ll) = (0.0, 0.0);
    let mut terms = vec![0.0; n];
    for (r, &y) in y_raw.iter().enumerate() {
        let mean = preds.iter().map(|p| p[r]).sum::<f64>() / n as f64;
        se += (mean - y).powi(2);
        for (i, term) in terms.iter_mut().enumerate() {
            let lg = log_gamma[i];
            *term = 0.5 * (lg - ln2pi) - 0.5 * lg.exp() * (y - preds[i][r]).powi(2);
        }
        let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = top + terms.iter().map(|v| (v - top).exp()).sum::<f64>().ln();
        ll += lse - (n as f64).ln();
    }
    Ok(BnnMetrics {
        rmse: (se / rows as f64).sqrt(),
        log_likelihood: ll / rows as f64,
    })
}
