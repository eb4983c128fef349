//! Bayesian logistic regression (algorithms.md §5.1) in f64: the log-density of θ = (w,
//! log α) on the minibatch of a step, up to a constant, and its gradient, as the formulas
//! read. The oracle of `logistic_score`.

use crate::io::bayes::Logistic;

/// log σ(z), without overflow at either end.
fn log_sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        -(-z).exp().ln_1p()
    } else {
        z - z.exp().ln_1p()
    }
}

/// σ(z).
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// wᵀx_t for row t of the model's features.
fn dot(t: &Logistic, w: &[f64], r: usize) -> f64 {
    (0..t.dw).map(|k| w[k] * t.x[r * t.dw + k]).sum()
}

/// log p(θ | minibatch of step `step`) up to a constant:
/// (N/m) Σ_{t∈B} log σ(y_t wᵀx_t) + (dw/2) log α − (α/2)‖w‖² + (a0 − 1) log α − b0 α + log α
/// (the last term the Jacobian of log α). NaN for θ of the wrong length.
pub fn log_density(t: &Logistic, theta: &[f64], step: u64) -> f64 {
    if theta.len() != t.dim() {
        return f64::NAN;
    }
    let (w, la) = (&theta[..t.dw], theta[t.dw]);
    let alpha = la.exp();
    let scale = t.rows as f64 / t.batch as f64;
    let lik: f64 = t
        .batch_rows(step)
        .map(|r| log_sigmoid(t.y[r] * dot(t, w, r)))
        .sum();
    let w2: f64 = w.iter().map(|v| v * v).sum();
    scale * lik + 0.5 * t.dw as f64 * la - 0.5 * alpha * w2 + (t.a0 - 1.0) * la - t.b0 * alpha + la
}

/// ∇ log p(θ | minibatch of step `step`) (§5.1's formula).
pub fn grad(t: &Logistic, theta: &[f64], step: u64) -> Vec<f64> {
    let (w, la) = (&theta[..t.dw], theta[t.dw]);
    let alpha = la.exp();
    let scale = t.rows as f64 / t.batch as f64;
    let mut g: Vec<f64> = w.iter().map(|v| -alpha * v).collect();
    for r in t.batch_rows(step) {
        let c = scale * ((t.y[r] + 1.0) / 2.0 - sigmoid(dot(t, w, r)));
        for (g, x) in g.iter_mut().zip(&t.x[r * t.dw..(r + 1) * t.dw]) {
            *g += c * x;
        }
    }
    let w2: f64 = w.iter().map(|v| v * v).sum();
    g.push(0.5 * t.dw as f64 - 0.5 * alpha * w2 + (t.a0 - 1.0) - t.b0 * alpha + 1.0);
    g
}

/// The posterior-predictive metrics of §5.1 on rows `x` (`[rows, dw]`, as the model sees
/// them) with labels `y` (±1), averaged over the particles `theta` (`[n, dw + 1]`) as the
/// authors' code averages: p̄_t = (1/n) Σ_i σ(y_t w_iᵀx_t); returns (accuracy, test
/// log-likelihood) = (mean_t [p̄_t > 1/2], mean_t log p̄_t). log p̄_t is a log-sum-exp of
/// log σ, so a row every particle gets confidently wrong gives a large finite penalty, not
/// log 0.
pub fn predictive(t: &Logistic, x: &[f64], y: &[f64], theta: &[f32], n: usize) -> (f64, f64) {
    let (dw, d) = (t.dw, t.dim());
    let rows = y.len();
    let mut right = 0usize;
    let mut ll = 0.0;
    // y_t w_iᵀx_t of each particle, for the row at hand.
    let mut margins = vec![0.0; n];
    for r in 0..rows {
        let xr = &x[r * dw..(r + 1) * dw];
        for (i, m) in margins.iter_mut().enumerate() {
            let z: f64 = theta[i * d..i * d + dw]
                .iter()
                .zip(xr)
                .map(|(&w, &v)| f64::from(w) * v)
                .sum();
            *m = y[r] * z;
        }
        let top = margins
            .iter()
            .map(|&m| log_sigmoid(m))
            .fold(f64::NEG_INFINITY, f64::max);
        let log_mean = top
            + margins
                .iter()
                .map(|&m| (log_sigmoid(m) - top).exp())
                .sum::<f64>()
                .ln()
            - (n as f64).ln();
        // p̄_t itself for the comparison with 1/2, as the authors compare.
        let mean: f64 = margins.iter().map(|&m| sigmoid(m)).sum::<f64>() / n as f64;
        right += usize::from(mean > 0.5);
        ll += log_mean;
    }
    (right as f64 / rows as f64, ll / rows as f64)
}
